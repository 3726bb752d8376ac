//! Every real blocklist in ../shared/data/blocklists loads, with per-file accepted and
//! rejected line counts, and a list published in several formats gives the same verdicts
//! in each.

use std::path::{Path, PathBuf};

use officegate::lists::{compile, parse_list};

/// The team's shared test data: `../shared` beside the checkout, or `$OFFICEGATE_SHARED`.
fn data() -> PathBuf {
    let shared = std::env::var_os("OFFICEGATE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let dir = shared.join("data/blocklists");
    assert!(
        dir.is_dir(),
        "{} not found: set OFFICEGATE_SHARED to the shared folder",
        dir.display()
    );
    dir
}

fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["domains", "hosts", "adblock", "wildcard", "3p"] {
        let d = data().join(dir);
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_file() && p.file_name().is_some_and(|n| n != "README.md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_shared_blocklist_loads_with_counts() {
    let files = files();
    assert!(
        files.len() >= 50,
        "expected the whole shared set, found {}",
        files.len()
    );
    let mut total = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let stats = parse_list(&text, |_, _, _| {});
        let lines = stats.accepted + stats.rejected;
        eprintln!(
            "{:<50} accepted {:>7} rejected {:>5} rules {:>7}",
            f.strip_prefix(data()).unwrap().display(),
            stats.accepted,
            stats.rejected,
            stats.rules
        );
        assert!(stats.accepted > 0, "{}: nothing accepted", f.display());
        // Real lists are almost all plain rules; a high reject rate means a parser gap.
        assert!(
            stats.rejected * 50 <= lines,
            "{}: {} of {lines} lines rejected, e.g. {:?}",
            f.display(),
            stats.rejected,
            &stats.errors[..stats.errors.len().min(5)]
        );
        total += stats.rules;
    }
    assert!(total > 1_000_000, "{total} rules in all");
}

#[test]
fn one_list_in_every_format_blocks_the_same_names() {
    let read = |dir: &str| {
        std::fs::read_to_string(data().join(dir).join("doh-vpn-proxy-bypass.txt")).unwrap()
    };
    let plain = read("domains");
    let mut names = Vec::new();
    parse_list(&plain, |_, _, r| {
        if let officegate::lists::Rule::Name(n) = r {
            names.push(n)
        }
    });
    assert!(names.len() > 500);
    for dir in ["hosts", "adblock", "wildcard"] {
        let list = compile(&read(dir));
        for n in &names {
            assert!(list.matches(n), "{dir}: {n} not blocked");
            assert!(
                list.matches(&format!("sub.{n}")),
                "{dir}: a subdomain of {n} not blocked"
            );
        }
        assert!(!list.matches("officegate-never-listed.example"), "{dir}");
    }
}

#[test]
fn adblock_exceptions_are_kept_apart() {
    let text = std::fs::read_to_string(data().join("adblock/whitelist-referral.txt")).unwrap();
    let list = compile(&text);
    assert!(list.stats.accepted > 400);
    // The file is all `@@` exceptions: they are kept apart and block nothing.
    assert!(list.allow.names.len() > 300 && list.block.names.is_empty());
    assert!(list.allow.matches("ad.doubleclick.net"));
    assert!(
        list.allow.matches("aax-eu.amazon.de"),
        "an `@@||aax-*.amazon.*^` pattern"
    );
    assert!(!list.matches("ad.doubleclick.net"));
}
