//! Edits for one PC: manual blocks (`[[blocks]]`) and granted exceptions
//! (`[[exceptions]]`, an approved access request).

use std::path::Path;

use toml_edit::{ArrayOfTables, Item, Table, value};

use super::{EditError, read};
use crate::policy::{Policy, parse_time};

/// Blocks PC `pc` from now until `until` (RFC 3339 or local `YYYY-MM-DD HH:MM`; `None`:
/// until unblocked), with a reason for the block page: appends a `[[blocks]]` entry.
pub fn block_pc(
    dir: &Path,
    list_cache: &Path,
    policy: &Policy,
    pc: &str,
    until: Option<&str>,
    reason: &str,
) -> Result<(), EditError> {
    if !policy.pcs().iter().any(|p| p.name == pc) {
        return Err(EditError::NoSuchPc(pc.to_string()));
    }
    if let Some(u) = until {
        parse_time(u, policy.time_zone()).map_err(EditError::BadTime)?;
    }
    let (editing, mut doc) = read(dir)?;
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
    editing.commit(dir, list_cache, &doc)
}

/// Who an exception is for.
#[derive(Debug, Clone, Copy)]
pub enum Grantee<'a> {
    Pc(&'a str),
    /// A group, with its subgroups.
    Group(&'a str),
}

/// An exception to grant.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    pub to: Grantee<'a>,
    pub domains: &'a [String],
    pub until: jiff::Timestamp,
    /// The employee's reason.
    pub reason: &'a str,
    pub granted_by: &'a str,
    /// The policy's now (entries that ended before it are dropped).
    pub now: jiff::Timestamp,
}

/// Grants a PC (or a group) the names `domains` until `until` (an approved access request): appends
/// an `[[exceptions]]` entry, and drops entries that have ended, so the file does not grow
/// with every request ever approved.
pub fn grant(
    dir: &Path,
    list_cache: &Path,
    policy: &Policy,
    g: &Grant<'_>,
) -> Result<(), EditError> {
    let Grant {
        to,
        domains,
        until,
        reason,
        granted_by,
        now,
    } = *g;
    let (key, name) = match to {
        Grantee::Pc(pc) if policy.pcs().iter().any(|p| p.name == pc) => ("pc", pc),
        Grantee::Group(g) if policy.groups().iter().any(|x| x.name == g) => ("group", g),
        Grantee::Pc(n) | Grantee::Group(n) => return Err(EditError::NoSuchPc(n.to_string())),
    };
    let (editing, mut doc) = read(dir)?;
    let mut t = Table::new();
    t.insert(key, value(name));
    t.insert(
        "domains",
        value(
            domains
                .iter()
                .map(String::as_str)
                .collect::<toml_edit::Array>(),
        ),
    );
    // Written in the policy's zone, as a person would write it.
    let local = until.to_zoned_datetime(policy.time_zone().clone());
    t.insert("until", value(local.strftime("%Y-%m-%d %H:%M").to_string()));
    if !reason.is_empty() {
        t.insert("reason", value(reason));
    }
    t.insert("granted_by", value(granted_by));
    match doc.get_mut("exceptions") {
        Some(Item::ArrayOfTables(a)) => {
            a.retain(|e| {
                e.get("until")
                    .and_then(|v| v.as_str())
                    .and_then(|u| parse_time(u, policy.time_zone()).ok())
                    .is_none_or(|u| u > now)
            });
            a.push(t);
        }
        Some(_) => {
            return Err(EditError::Toml(
                "`exceptions` is not an array of tables".into(),
            ));
        }
        None => {
            let mut a = ArrayOfTables::new();
            a.push(t);
            doc.insert("exceptions", Item::ArrayOfTables(a));
        }
    }
    editing.commit(dir, list_cache, &doc)
}

/// Removes every `[[blocks]]` entry of PC `pc`. Returns how many there were.
pub fn unblock_pc(dir: &Path, list_cache: &Path, pc: &str) -> Result<usize, EditError> {
    let (editing, mut doc) = read(dir)?;
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
        editing.commit(dir, list_cache, &doc)?;
    }
    Ok(removed)
}
