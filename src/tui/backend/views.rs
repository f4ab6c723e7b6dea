//! Saved views: save, delete, open, list (`views.json` in the case, or in its store).

use super::{Reply, Source};
use crate::error::Result;
use crate::session::View;

fn load(source: &Source) -> Result<std::collections::BTreeMap<String, View>> {
    match source {
        Source::Local { case, .. } => crate::session::load_views(&case.dir),
        Source::Store { store, .. } => crate::session::load_views_in(store),
    }
}

fn store(source: &Source, views: &std::collections::BTreeMap<String, View>) -> Result<()> {
    match source {
        Source::Local { case, .. } => crate::session::save_views(&case.dir, views),
        Source::Store { store, .. } => crate::session::save_views_in(store, views),
    }
}

pub fn save(source: &Source, name: String, view: View) -> Result<Reply> {
    let mut views = load(source)?;
    views.insert(name.clone(), view);
    store(source, &views)?;
    Ok(Reply::Message(format!("view '{name}' saved")))
}

pub fn delete(source: &Source, name: &str) -> Result<Reply> {
    let mut views = load(source)?;
    let existed = views.remove(name).is_some();
    store(source, &views)?;
    Ok(Reply::Message(if existed {
        format!("view '{name}' deleted")
    } else {
        format!("no view named '{name}'")
    }))
}

pub fn open(source: &Source, name: String) -> Result<Reply> {
    let views = load(source)?;
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
    let views = load(source)?;
    Ok(Reply::Message(if views.is_empty() {
        "no saved view (:view save NAME)".into()
    } else {
        format!(
            "views: {}",
            views.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    }))
}
