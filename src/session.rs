//! What the responder is looking at, as data: a query plus pivot filters (a [`View`]), the views
//! saved under a name (`views.json`) and the last session (`session.json`), restored when the
//! case is opened again. Both files are written atomically.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::case::write_atomic;
use crate::error::{Error, Result};
use crate::formats::time::format_ms;
use crate::query::{quote_value, quoted_value};

/// One pivot filter: a field equal (or not) to a value, or a time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Filter {
    Value {
        field: String,
        value: String,
        exclude: bool,
    },
    Time {
        from_ms: i64,
        to_ms: i64,
    },
}

impl Filter {
    /// The query clause this filter adds.
    pub fn clause(&self) -> String {
        match self {
            Filter::Value {
                field,
                value,
                exclude,
            } => {
                // A pivot is on the value seen: quoted, an account is that value alone, not the
                // same name in every domain as a bare name typed is.
                let value = if field.eq_ignore_ascii_case(crate::event::names::USER) {
                    quoted_value(value)
                } else {
                    quote_value(value)
                };
                let term = format!("{field}:{value}");
                if *exclude {
                    format!("NOT {term}")
                } else {
                    term
                }
            }
            Filter::Time { from_ms, to_ms } => {
                format!("ts:[{} TO {}}}", format_ms(*from_ms), format_ms(*to_ms))
            }
        }
    }

    /// The chip shown in the query bar.
    pub fn label(&self) -> String {
        self.clause()
    }
}

/// What defines the events shown: the query and the pivots on top of it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct View {
    pub query: String,
    pub filters: Vec<Filter>,
    /// Pivots can be switched off and on as a whole.
    pub filters_on: bool,
    /// The histogram's zoomed time windows, innermost last.
    #[serde(default)]
    pub zoom: Vec<(i64, i64)>,
}

impl View {
    /// Every event.
    pub fn all() -> View {
        View {
            filters_on: true,
            ..View::default()
        }
    }

    /// The full query text sent to the index.
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        let q = self.query.trim();
        if !q.is_empty() && q != "*" {
            parts.push(format!("({q})"));
        }
        if self.filters_on {
            parts.extend(self.filters.iter().map(Filter::clause));
        }
        if parts.is_empty() {
            "*".into()
        } else {
            parts.join(" AND ")
        }
    }
}

/// The place a session was left at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub view: View,
    /// The selected event: time, file id and line.
    #[serde(default)]
    pub selected: Option<(i64, u64, u64)>,
    #[serde(default)]
    pub history: Vec<String>,
}

fn load<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| Error::Case {
            path: path.to_path_buf(),
            message: format!("unreadable: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn save<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Usage(e.to_string()))?;
    write_atomic(path, text.as_bytes())
}

/// The last session of a case (or a fresh one).
pub fn load_session(case_dir: &Path) -> Result<Session> {
    load(&case_dir.join("session.json"))
}

pub fn save_session(case_dir: &Path, session: &Session) -> Result<()> {
    save(&case_dir.join("session.json"), session)
}

/// Views saved under a name.
pub fn load_views(case_dir: &Path) -> Result<BTreeMap<String, View>> {
    load(&case_dir.join("views.json"))
}

pub fn save_views(case_dir: &Path, views: &BTreeMap<String, View>) -> Result<()> {
    save(&case_dir.join("views.json"), views)
}

/// The last session, and the saved views, of a case kept in a shared store.
pub fn load_session_in(store: &dyn crate::store::Store) -> Result<Session> {
    load_doc(store, "session.json")
}

pub fn save_session_in(store: &dyn crate::store::Store, session: &Session) -> Result<()> {
    save_doc(store, "session.json", session)
}

pub fn load_views_in(store: &dyn crate::store::Store) -> Result<BTreeMap<String, View>> {
    load_doc(store, "views.json")
}

pub fn save_views_in(
    store: &dyn crate::store::Store,
    views: &BTreeMap<String, View>,
) -> Result<()> {
    save_doc(store, "views.json", views)
}

fn load_doc<T: for<'de> Deserialize<'de> + Default>(
    store: &dyn crate::store::Store,
    name: &str,
) -> Result<T> {
    match store.load_doc(name)? {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| Error::Usage(format!("{name} in {}: unreadable: {e}", store.name()))),
        None => Ok(T::default()),
    }
}

fn save_doc<T: Serialize>(store: &dyn crate::store::Store, name: &str, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Usage(e.to_string()))?;
    store.save_doc(name, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_text_and_round_trip() {
        let view = View {
            query: "path:/ecp/*".into(),
            filters: vec![
                Filter::Value {
                    field: "ip".into(),
                    value: "198.51.100.144".into(),
                    exclude: false,
                },
                Filter::Value {
                    field: "ua".into(),
                    value: "a \"b\"".into(),
                    exclude: true,
                },
            ],
            filters_on: true,
            zoom: vec![(1, 2)],
        };
        assert_eq!(
            view.text(),
            "(path:/ecp/*) AND ip:198.51.100.144 AND NOT ua:\"a \\\"b\\\"\""
        );
        crate::query::check_syntax(&view.text()).expect("valid query");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut views = BTreeMap::new();
        views.insert("ssrf".to_string(), view.clone());
        save_views(dir.path(), &views).expect("save");
        assert_eq!(load_views(dir.path()).expect("load")["ssrf"], view);
        let session = Session {
            view,
            selected: Some((5, 1, 7)),
            history: vec!["a".into()],
        };
        save_session(dir.path(), &session).expect("save");
        assert_eq!(load_session(dir.path()).expect("load"), session);
        assert_eq!(View::all().text(), "*");
    }
}
