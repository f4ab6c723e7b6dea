//! Saved views: save, delete, open, list (`views.json` in the case).

use super::Reply;
use crate::case::Case;
use crate::error::Result;
use crate::session::View;

pub fn save(case: &Case, name: String, view: View) -> Result<Reply> {
    let mut views = crate::session::load_views(&case.dir)?;
    views.insert(name.clone(), view);
    crate::session::save_views(&case.dir, &views)?;
    Ok(Reply::Message(format!("view '{name}' saved")))
}

pub fn delete(case: &Case, name: &str) -> Result<Reply> {
    let mut views = crate::session::load_views(&case.dir)?;
    let existed = views.remove(name).is_some();
    crate::session::save_views(&case.dir, &views)?;
    Ok(Reply::Message(if existed {
        format!("view '{name}' deleted")
    } else {
        format!("no view named '{name}'")
    }))
}

pub fn open(case: &Case, name: String) -> Result<Reply> {
    let views = crate::session::load_views(&case.dir)?;
    Ok(match views.get(&name) {
        Some(view) => Reply::View {
            name,
            view: view.clone(),
        },
        None => Reply::Message(format!(
            "no view named '{name}' (saved: {})",
            views.keys().cloned().collect::<Vec<_>>().join(", ")
        )),
    })
}

pub fn list(case: &Case) -> Result<Reply> {
    let views = crate::session::load_views(&case.dir)?;
    Ok(Reply::Message(if views.is_empty() {
        "no saved view (:view save NAME)".into()
    } else {
        format!(
            "views: {}",
            views.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    }))
}
