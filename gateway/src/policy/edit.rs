//! Changes made from the API (and later the UI) written back into `office.toml`, the one
//! source of truth: `toml_edit` keeps the admin's layout and comments, the edited text is
//! loaded and validated as a whole before anything is written, and the file is replaced
//! atomically (write beside, rename), so the daemon's file watch applies it within a
//! second and a failed edit changes nothing.

use std::path::Path;

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use super::{POLICY_FILE, PolicyError, load_text_with};

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("office.toml does not parse as TOML: {0}")]
    Toml(String),
    #[error("no PC `{0}` in the policy")]
    NoSuchPc(String),
    #[error("`until`: {0}")]
    BadTime(String),
    #[error("the change would make the policy invalid: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<PolicyError>),
}

fn read(dir: &Path) -> Result<DocumentMut, EditError> {
    let path = dir.join(POLICY_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| EditError::Io {
        path: path.display().to_string(),
        source,
    })?;
    text.parse::<DocumentMut>()
        .map_err(|e| EditError::Toml(e.to_string()))
}

/// Validates `doc` as a whole policy, then puts it in place atomically.
fn commit(dir: &Path, list_cache: &Path, doc: &DocumentMut) -> Result<(), EditError> {
    let text = doc.to_string();
    load_text_with(dir, &text, Some(list_cache), None).map_err(EditError::Invalid)?;
    let path = dir.join(POLICY_FILE);
    let tmp = dir.join(format!(".{POLICY_FILE}.edit"));
    let io = |source| EditError::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::write(&tmp, &text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// Blocks PC `pc` from now until `until` (RFC 3339 or local `YYYY-MM-DD HH:MM`; `None`:
/// until unblocked), with a reason for the block page: appends a `[[blocks]]` entry.
pub fn block_pc(
    dir: &Path,
    list_cache: &Path,
    policy: &super::Policy,
    pc: &str,
    until: Option<&str>,
    reason: &str,
) -> Result<(), EditError> {
    if !policy.pcs().iter().any(|p| p.name == pc) {
        return Err(EditError::NoSuchPc(pc.to_string()));
    }
    if let Some(u) = until {
        super::parse_time(u, policy.time_zone()).map_err(EditError::BadTime)?;
    }
    let mut doc = read(dir)?;
    let mut t = Table::new();
    t.insert("pc", value(pc));
    if let Some(u) = until {
        t.insert("until", value(u));
    }
    if !reason.is_empty() {
        t.insert("reason", value(reason));
    }
    match doc.get_mut("blocks") {
        Some(Item::ArrayOfTables(a)) => a.push(t),
        Some(_) => return Err(EditError::Toml("`blocks` is not an array of tables".into())),
        None => {
            let mut a = ArrayOfTables::new();
            a.push(t);
            doc.insert("blocks", Item::ArrayOfTables(a));
        }
    }
    commit(dir, list_cache, &doc)
}

/// Removes every `[[blocks]]` entry of PC `pc`. Returns how many there were.
pub fn unblock_pc(dir: &Path, list_cache: &Path, pc: &str) -> Result<usize, EditError> {
    let mut doc = read(dir)?;
    let Some(Item::ArrayOfTables(a)) = doc.get_mut("blocks") else {
        return Ok(0);
    };
    let before = a.len();
    a.retain(|t| t.get("pc").and_then(|v| v.as_str()) != Some(pc));
    let removed = before - a.len();
    if a.is_empty() {
        doc.remove("blocks");
    }
    if removed > 0 {
        commit(dir, list_cache, &doc)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# The office policy.\nversion = 1\ntime_zone = \"UTC\"\n\n# Staff PCs.\n[[pcs]]\nname = \"pc1\" # the boss\naddresses = [\"10.10.0.11\"]\n";

    #[test]
    fn blocks_are_written_back_keeping_comments_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::write(dir.path().join(POLICY_FILE), TEXT).unwrap();
        let (policy, _) = super::super::load_dir(dir.path()).unwrap();
        block_pc(
            dir.path(),
            &cache,
            &policy,
            "pc1",
            Some("2030-01-01 18:00"),
            "exam week",
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap();
        assert!(
            text.starts_with(TEXT),
            "the admin's text is kept as it was:\n{text}"
        );
        assert!(
            text.contains("[[blocks]]\npc = \"pc1\"\nuntil = \"2030-01-01 18:00\""),
            "{text}"
        );
        let (p2, _) = super::super::load_dir(dir.path()).unwrap();
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        assert!(p2.manual_block(0, now).is_some(), "blocked now");
        // Refused without touching the file: an unknown PC, a bad time.
        assert!(matches!(
            block_pc(dir.path(), &cache, &policy, "pc9", None, ""),
            Err(EditError::NoSuchPc(_))
        ));
        assert!(matches!(
            block_pc(dir.path(), &cache, &policy, "pc1", Some("tomorrow"), ""),
            Err(EditError::BadTime(_))
        ));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap(),
            text
        );
        assert_eq!(unblock_pc(dir.path(), &cache, "pc1").unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap(),
            TEXT,
            "unblocking restores the file"
        );
        assert_eq!(unblock_pc(dir.path(), &cache, "pc1").unwrap(), 0);
    }
}
