//! Changes made from the API (and later the UI) written back into `office.toml`, the one
//! source of truth: `toml_edit` keeps the admin's layout and comments, the edited text is
//! loaded and validated as a whole before anything is written, and the file is replaced
//! atomically (write beside, rename), so the daemon's file watch applies it within a
//! second and a failed edit changes nothing.
//!
//! Here the error, the one-edit-at-a-time lock, reading and the validated atomic commit;
//! `pcs.rs` edits what applies to one PC (blocks, granted exceptions), `rules.rs` what
//! applies to groups (rules, limits, schedules), `devices.rs` names a device and places it
//! in a group.

use std::path::Path;

use toml_edit::DocumentMut;

use super::{POLICY_FILE, PolicyError, load_text_with};

mod devices;
mod pcs;
mod rules;

pub use devices::{Placement, place_device};
pub use pcs::{Grant, Grantee, block_pc, grant, unblock_pc};
pub use rules::{LimitFor, NewRule, add_rule, remove_rule, set_limit, set_schedule};

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("office.toml does not parse as TOML: {0}")]
    Toml(String),
    #[error("no PC or group `{0}` in the policy")]
    NoSuchPc(String),
    #[error("no group `{0}` in the policy")]
    NoSuchGroup(String),
    #[error("group `{0}` has no rule number {1}")]
    NoSuchRule(String, usize),
    /// No rule with that identity (`Policy::rule_id`): removed or changed since listed.
    #[error(
        "group `{0}` has no such rule any more (changed since it was listed); nothing was written — reload and try again"
    )]
    RuleGone(String),
    #[error("`until`: {0}")]
    BadTime(String),
    /// A value no policy could take (an empty name).
    #[error("{0}")]
    Refused(String),
    #[error("the change would make the policy invalid: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<PolicyError>),
    /// The file changed between reading and writing: nothing was written.
    #[error(
        "office.toml changed while this change was being made (edited by hand?); nothing was written — reload and try again"
    )]
    Changed,
}

/// One edit at a time: each reads, changes and replaces the whole file, so two at once
/// would lose one. Held from `read` to the end of the edit (the returned guard).
static EDITING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn read(dir: &Path) -> Result<(Editing, DocumentMut), EditError> {
    let guard = EDITING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let original = read_text(dir)?;
    let doc = original
        .parse::<DocumentMut>()
        .map_err(|e| EditError::Toml(e.to_string()))?;
    Ok((
        Editing {
            _guard: guard,
            original,
        },
        doc,
    ))
}

fn read_text(dir: &Path) -> Result<String, EditError> {
    let path = dir.join(POLICY_FILE);
    std::fs::read_to_string(&path).map_err(|source| EditError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// An edit in progress: the lock, and the file as it was read.
struct Editing {
    _guard: std::sync::MutexGuard<'static, ()>,
    original: String,
}

impl Editing {
    /// Validates `doc` as a whole policy, then puts it in place atomically — unless the
    /// file changed since it was read (the admin editing it by hand, another tool): then
    /// nothing is written, and the change is refused to be made again on the new text.
    fn commit(self, dir: &Path, list_cache: &Path, doc: &DocumentMut) -> Result<(), EditError> {
        let text = doc.to_string();
        load_text_with(dir, &text, Some(list_cache), None).map_err(EditError::Invalid)?;
        if read_text(dir)? != self.original {
            return Err(EditError::Changed);
        }
        let path = dir.join(POLICY_FILE);
        let tmp = dir.join(format!(".{POLICY_FILE}.edit"));
        let io = |source| EditError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::write(&tmp, &text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

#[cfg(test)]
mod tests;
