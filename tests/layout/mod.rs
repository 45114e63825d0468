//! The module layers of `src/lib.rs` hold: each top-level module uses only those
//! below it (tests aside), so nothing flows back up and there are no circles.

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom to top, as `src/lib.rs` lists them.
const LAYERS: &[&str] = &[
    "untrusted",
    "time",
    "columns",
    "decode",
    "grants",
    "activity",
    "alerts",
    "suppressions",
    "state",
    "rules",
    "archive",
    "telemetry",
    "config",
    "kafka",
    "detect",
    "query",
    "console",
    "http",
    "reload",
    "pipeline",
    "replay",
    "fixtures",
    "decide",
    "service",
    "demo",
];

/// The `crate::NAME` modules a file's non-test code names.
fn used(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

fn files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            files(&entry.unwrap().path(), out);
        }
    } else if path.is_file()
        && path.extension().is_some_and(|e| e == "rs")
        && !path.ends_with("tests.rs")
    {
        out.push(path.to_owned());
    }
}

#[test]
fn each_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert_eq!(
        declared,
        LAYERS.iter().copied().collect::<BTreeSet<_>>(),
        "every module of lib.rs has its layer here"
    );
    let mut broken = Vec::new();
    for (level, module) in LAYERS.iter().enumerate() {
        let mut paths = Vec::new();
        files(&src.join(module), &mut paths);
        files(&src.join(format!("{module}.rs")), &mut paths);
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap();
            for name in used(&text) {
                let Some(at) = LAYERS.iter().position(|l| *l == name) else {
                    continue;
                };
                if at > level {
                    broken.push(format!("{} uses crate::{name}", path.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "upward uses:\n{}", broken.join("\n"));
}
