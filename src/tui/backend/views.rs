//! Saved views: save, delete, open, list (`views.json` in the case, or in its store).

use super::Reply;
use crate::error::Result;
use crate::session::View;
use crate::source::Source;

pub fn save(source: &Source, name: String, view: View) -> Result<Reply> {
    let mut views = source.views()?;
    views.insert(name.clone(), view);
    source.save_views(&views)?;
    Ok(Reply::Message(format!("view '{name}' saved")))
}

pub fn delete(source: &Source, name: &str) -> Result<Reply> {
    let mut views = source.views()?;
    let existed = views.remove(name).is_some();
    source.save_views(&views)?;
    Ok(Reply::Message(if existed {
        format!("view '{name}' deleted")
    } else {
        format!("no view named '{name}'")
    }))
}

pub fn open(source: &Source, name: String) -> Result<Reply> {
    let views = source.views()?;
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

pub fn list(source: &Source) -> Result<Reply> {
    let views = source.views()?;
    Ok(Reply::Message(if views.is_empty() {
        "no saved view (:view save NAME)".into()
    } else {
        format!(
            "views: {}",
            views.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    }))
}
