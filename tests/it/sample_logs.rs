//! The committed sample case is exactly what the generator writes: it can be regenerated
//! (`cargo run -p trawl-gen -- sample-logs`), and nobody edited it by hand.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn sample_logs_are_the_generators_output() {
    let dir = std::env::temp_dir().join(format!("trawl-gen-sample-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    trawl_gen::write_sample_case(&dir, &trawl_gen::SampleOptions::default()).unwrap();
    let generated = files(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let committed_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let mut committed = files(&committed_dir);
    committed.remove("README.md");
    assert_eq!(
        generated.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &generated {
        assert!(
            committed[name] == *bytes,
            "{name} differs from the generator's output"
        );
    }
}
