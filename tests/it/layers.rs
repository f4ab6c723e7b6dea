//! The source's layers point only down (ARCHITECTURE.md): each top-level module may use only
//! modules of a lower layer. An upward `use crate::…`, and so any cycle, fails here; a new
//! module fails until it is given its place.

use std::path::Path;

/// Every top-level module of `src/`, by layer: model, input and formats, index, query,
/// detections, case work, front ends. Within a layer, a module may use those listed before it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "model",
        &[
            "error",
            "sanitize",
            "sink",
            "progress",
            "event",
            "attribution",
        ],
    ),
    ("input and formats", &["formats", "input"]),
    (
        "index",
        &[
            "schema",
            "case",
            "sets",
            "view",
            "selection",
            "ingest",
            "live",
        ],
    ),
    ("query", &["query"]),
    ("store", &["store"]),
    ("detections", &["rules", "hunt"]),
    (
        "case work",
        &["marks", "session", "source", "export", "report"],
    ),
    ("front ends", &["tui", "cli"]),
];

fn rank(module: &str) -> Option<(usize, usize)> {
    LAYERS.iter().enumerate().find_map(|(layer, (_, modules))| {
        modules
            .iter()
            .position(|m| *m == module)
            .map(|pos| (layer, pos))
    })
}

/// The code of a file without comments and without its `#[cfg(test)]` module (tests may use
/// anything).
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The top-level modules a file names through `crate::`.
fn uses(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_only_use_lower_layers() {
    let src = crate::common::repo().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut problems = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = rank(&module) else {
            problems.push(format!(
                "src/{rel}: module `{module}` has no layer in tests/it/layers.rs"
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for used in uses(&code(&text)) {
            // The crate root re-exports the error types.
            let used = match used.as_str() {
                "Error" | "Result" => "error".to_string(),
                _ => used,
            };
            if used == module || used == "self" || used == "super" {
                continue;
            }
            match rank(&used) {
                Some(theirs) if theirs < own => {}
                Some(_) => problems.push(format!(
                    "src/{rel}: `{module}` ({}) uses `{used}` ({}), which is not below it",
                    LAYERS[own.0].0,
                    LAYERS[rank(&used).unwrap().0].0
                )),
                None => problems.push(format!("src/{rel}: uses unknown module `{used}`")),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_imports() {
    let sample = "use crate::{event::EventKey, query};\n// crate::cli in a comment\nfn f() { crate::hunt::x(); }\n#[cfg(test)]\nmod tests { use crate::tui; }\n";
    assert_eq!(uses(&code(sample)), ["event", "query", "hunt"]);
}
