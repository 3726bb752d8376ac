//! The benchmark's inputs: 1,000,000 blocked names (the shared lists, then synthetic
//! ones) and the query files every server gets — allowed names, blocked names (30% of
//! them subdomains of listed names) and an 80/20 mix — each query in wire form.

use std::path::{Path, PathBuf};

use hickory_proto::{
    op::{Message, Query},
    rr::{Name, RecordType},
};

use super::{NAMES, QUERIES_PER_FILE};

/// The shared blocklists (`../shared` beside the checkout, or `$OFFICEGATE_SHARED`).
fn shared_lists() -> PathBuf {
    std::env::var_os("OFFICEGATE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("data/blocklists")
}

/// 1,000,000 distinct names: every name of the real lists, then synthetic ones.
pub(super) fn blocked_names() -> anyhow::Result<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in ["3p", "domains", "hosts", "adblock", "wildcard"] {
        if let Ok(rd) = std::fs::read_dir(shared_lists().join(sub)) {
            files.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    files.sort();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        officegate::lists::parse_list(&text, |_, allow, rule| {
            if let (false, officegate::lists::Rule::Name(n)) = (allow, rule)
                && names.len() < NAMES
                && seen.insert(n.clone())
            {
                names.push(n);
            }
        });
    }
    let real = names.len();
    let mut i = 0;
    while names.len() < NAMES {
        let n = format!("t{i}.synthetic-{}.example", i % 9973);
        if seen.insert(n.clone()) {
            names.push(n);
        }
        i += 1;
    }
    eprintln!(
        "blocked names: {real} from the shared lists, {} synthetic",
        NAMES - real
    );
    Ok(names)
}

/// A query's wire form; the id (first two bytes) is set by the sender.
pub(crate) fn wire(name: &str) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(
        Name::from_ascii(format!("{name}.")).expect("valid name"),
        RecordType::A,
    ));
    m.to_vec().expect("encodable")
}

pub(super) struct QueryFiles {
    pub allowed: Vec<Vec<u8>>,
    pub blocked: Vec<Vec<u8>>,
    pub mix: Vec<Vec<u8>>,
}

pub(super) fn query_files(names: &[String]) -> QueryFiles {
    // A fixed stride instead of a random generator: the same files every run.
    let allowed: Vec<Vec<u8>> = (0..QUERIES_PER_FILE)
        .map(|i| wire(&format!("www{i}.allowed-site.example")))
        .collect();
    let step = names.len() / QUERIES_PER_FILE;
    let blocked: Vec<Vec<u8>> = (0..QUERIES_PER_FILE)
        .map(|i| {
            let n = &names[i * step];
            if i % 10 < 3 {
                wire(&format!("sub{i}.{n}"))
            } else {
                wire(n)
            }
        })
        .collect();
    let mix = (0..QUERIES_PER_FILE)
        .map(|i| {
            if i % 5 == 4 {
                blocked[i].clone()
            } else {
                allowed[i].clone()
            }
        })
        .collect();
    QueryFiles {
        allowed,
        blocked,
        mix,
    }
}
