//! The house rules of the daemon's source, checked so they stay true: modules import each
//! other without a circle (a circle means two modules can only be understood, and
//! changed, together), and no source file outgrows a reader (tests aside).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Lines of code a file may hold before its tests (`#[cfg(test)]`) begin. The model
/// codebases sit at a median of 120–340 lines per file; past ~500 a file holds more
/// than one job.
const MAX_LINES: usize = 520;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs" || x == "js") {
            out.push(p);
        }
    }
}

/// The code of a file without its inline test module (`#[cfg(test)] mod tests { … }`,
/// last in the file by habit). A `#[cfg(test)] mod tests;` declaration stays: it is
/// one line.
fn code(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap();
    let inline = text.match_indices("#[cfg(test)]").find(|(i, m)| {
        text[i + m.len()..]
            .trim_start()
            .strip_prefix("mod tests")
            .is_some_and(|rest| rest.trim_start().starts_with('{'))
    });
    match inline {
        Some((i, _)) => text[..i].to_string(),
        None => text,
    }
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to (`dns/fast.rs` → `dns`).
fn top_module(root: &Path, p: &Path) -> Option<String> {
    let rel = p.strip_prefix(root).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// Names `crate::x` refers to in `code`, including `use crate::{x, y::z}` groups.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: those at brace depth 0.
            let (mut depth, mut start) = (0, 0);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(group[start..j].trim_start()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(group[start..j].trim_start()));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

#[test]
fn modules_import_each_other_without_a_circle() {
    let root = src_dir();
    let mut files = Vec::new();
    sources(&root, &mut files);
    let tops: BTreeSet<String> = files.iter().filter_map(|f| top_module(&root, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(m) = top_module(&root, f) else {
            continue;
        };
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        // Comments may name other modules; only code imports.
        let code: String = code(f)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for r in crate_refs(&code) {
            if r != m && tops.contains(&r) {
                edges.entry(m.clone()).or_default().insert(r);
            }
        }
    }
    assert!(
        edges.len() > 10,
        "the scan found too few imports: {edges:?}"
    );
    // Depth-first search for a back edge; report the circle it closes.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == m) {
            panic!("import circle: {} -> {m}", path[i..].join(" -> "));
        }
        if !done.insert(m.to_string()) {
            return;
        }
        path.push(m.to_string());
        for n in edges.get(m).into_iter().flatten() {
            visit(n, edges, path, done);
        }
        path.pop();
    }
    // `done` marks modules fully explored only after their subtree: a separate set.
    for m in edges.keys() {
        let mut done = BTreeSet::new();
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
}

#[test]
fn no_source_file_outgrows_a_reader() {
    let root = src_dir();
    let mut files = Vec::new();
    sources(&root, &mut files);
    let top = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in [
        "gateway-common/src",
        "gateway-ebpf/src",
        "xtask/src",
        "xtask/bench/src",
        "tests/lab/src",
        "web/src",
    ] {
        sources(&top.join(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter(|f| f.file_name().is_none_or(|n| n != "tests.rs"))
        .map(|f| (f, code(f).lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{} ({n} lines)", f.display()))
        .collect();
    assert!(files.len() > 50, "the scan found too few files");
    assert!(long.is_empty(), "split these by job: {long:?}");
}

#[test]
fn crate_refs_reads_groups_and_paths() {
    let refs = crate_refs("use crate::{a::{b, c}, d, e::f};\nlet x = crate::g::h();");
    assert_eq!(
        refs,
        ["a", "d", "e", "g"].map(String::from).into_iter().collect()
    );
}
