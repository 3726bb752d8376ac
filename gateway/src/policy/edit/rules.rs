//! Edits for groups and the whole office: a group's rules, traffic limits, schedules.

use std::path::Path;

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use super::{EditError, read};

/// A rule as the UI adds it to a group.
#[derive(Debug, Clone, Default)]
pub struct NewRule {
    /// `block` or `allow`.
    pub action: String,
    pub domains: Vec<String>,
    pub categories: Vec<String>,
    pub lists: Vec<String>,
    pub schedule: Option<String>,
}

fn strings(v: &[String]) -> toml_edit::Array {
    v.iter().map(String::as_str).collect()
}

/// The `[[groups]]` table named `group`.
fn group_mut<'d>(doc: &'d mut DocumentMut, group: &str) -> Result<&'d mut Table, EditError> {
    let no = || EditError::NoSuchGroup(group.to_string());
    let Some(Item::ArrayOfTables(groups)) = doc.get_mut("groups") else {
        return Err(no());
    };
    groups
        .iter_mut()
        .find(|g| g.get("name").and_then(|n| n.as_str()) == Some(group))
        .ok_or_else(no)
}

/// Appends a rule to group `group` (after its other rules; a group's allow rules come
/// before its block rules whatever their order). Names, lists, categories and the
/// schedule are checked by loading the result.
pub fn add_rule(
    dir: &Path,
    list_cache: &Path,
    group: &str,
    rule: &NewRule,
) -> Result<(), EditError> {
    let (editing, mut doc) = read(dir)?;
    let g = group_mut(&mut doc, group)?;
    let mut t = Table::new();
    t.insert("action", value(rule.action.as_str()));
    for (key, v) in [
        ("lists", &rule.lists),
        ("categories", &rule.categories),
        ("domains", &rule.domains),
    ] {
        if !v.is_empty() {
            t.insert(key, value(strings(v)));
        }
    }
    if let Some(s) = &rule.schedule {
        t.insert("schedule", value(s.as_str()));
    }
    match g.get_mut("rules") {
        Some(Item::ArrayOfTables(a)) => a.push(t),
        Some(_) => return Err(EditError::Toml("`rules` is not an array of tables".into())),
        None => {
            let mut a = ArrayOfTables::new();
            a.push(t);
            g.insert("rules", Item::ArrayOfTables(a));
        }
    }
    editing.commit(dir, list_cache, &doc)
}

/// Removes rule number `index` (0-based, in file order) of group `group`.
pub fn remove_rule(
    dir: &Path,
    list_cache: &Path,
    group: &str,
    index: usize,
    id: Option<&str>,
) -> Result<(), EditError> {
    let (editing, mut doc) = read(dir)?;
    // By identity when given: the rule's number as the file stands now. (Read after the
    // text the edit is made on: had the file changed in between, the edit fails on it.)
    let index = match id {
        None => index,
        Some(id) => {
            let (p, _) = crate::policy::load_dir_with(dir, Some(list_cache), None)
                .map_err(EditError::Invalid)?;
            p.groups()
                .iter()
                .find(|g| g.name == group)
                .ok_or_else(|| EditError::NoSuchGroup(group.to_string()))?
                .rules
                .iter()
                .position(|r| p.rule_id(r) == id)
                .ok_or_else(|| EditError::RuleGone(group.to_string()))?
        }
    };
    let g = group_mut(&mut doc, group)?;
    let missing = || EditError::NoSuchRule(group.to_string(), index);
    let Some(Item::ArrayOfTables(rules)) = g.get_mut("rules") else {
        return Err(missing());
    };
    if index >= rules.len() {
        return Err(missing());
    }
    rules.remove(index);
    if rules.is_empty() {
        g.remove("rules");
    }
    editing.commit(dir, list_cache, &doc)
}

/// What a limit is for.
#[derive(Debug, Clone, Copy)]
pub enum LimitFor<'a> {
    Pc(&'a str),
    Group(&'a str),
    Company,
}

/// Sets (or with `bytes: None`, removes) the limit of `target` per `per` (`day`, `month`):
/// replaces any `[[limits]]` entry for the same target and period.
pub fn set_limit(
    dir: &Path,
    list_cache: &Path,
    target: LimitFor<'_>,
    per: &str,
    bytes: Option<&str>,
) -> Result<(), EditError> {
    let (editing, mut doc) = read(dir)?;
    let same = |t: &Table| {
        let s = |k: &str| t.get(k).and_then(|v| v.as_str());
        s("per") == Some(per)
            && match target {
                LimitFor::Pc(p) => s("pc") == Some(p),
                LimitFor::Group(g) => s("group") == Some(g),
                LimitFor::Company => t.get("company").and_then(|v| v.as_bool()) == Some(true),
            }
    };
    let mut entry = Table::new();
    match target {
        LimitFor::Pc(p) => entry.insert("pc", value(p)),
        LimitFor::Group(g) => entry.insert("group", value(g)),
        LimitFor::Company => entry.insert("company", value(true)),
    };
    entry.insert("per", value(per));
    if let Some(b) = bytes {
        entry.insert("bytes", value(b));
    }
    match doc.get_mut("limits") {
        Some(Item::ArrayOfTables(a)) => {
            a.retain(|t| !same(t));
            if bytes.is_some() {
                a.push(entry);
            }
            if a.is_empty() {
                doc.remove("limits");
            }
        }
        Some(_) => return Err(EditError::Toml("`limits` is not an array of tables".into())),
        None if bytes.is_some() => {
            let mut a = ArrayOfTables::new();
            a.push(entry);
            doc.insert("limits", Item::ArrayOfTables(a));
        }
        None => {}
    }
    editing.commit(dir, list_cache, &doc)
}

/// Defines (or redefines) the weekly schedule `name`.
pub fn set_schedule(
    dir: &Path,
    list_cache: &Path,
    name: &str,
    days: &[String],
    from: &str,
    until: &str,
) -> Result<(), EditError> {
    let (editing, mut doc) = read(dir)?;
    let schedules = doc
        .entry("schedules")
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| EditError::Toml("`schedules` is not a table".into()))?;
    let mut t = Table::new();
    t.insert("days", value(strings(days)));
    t.insert("from", value(from));
    t.insert("until", value(until));
    schedules.insert(name, Item::Table(t));
    editing.commit(dir, list_cache, &doc)
}
