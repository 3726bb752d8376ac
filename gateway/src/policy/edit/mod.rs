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
    #[error("no PC or group `{0}` in the policy")]
    NoSuchPc(String),
    #[error("no group `{0}` in the policy")]
    NoSuchGroup(String),
    #[error("group `{0}` has no rule number {1}")]
    NoSuchRule(String, usize),
    #[error("`until`: {0}")]
    BadTime(String),
    #[error("the change would make the policy invalid: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<PolicyError>),
}

/// One edit at a time: each reads, changes and replaces the whole file, so two at once
/// would lose one. Held from `read` to the end of the edit (the returned guard).
static EDITING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn read(dir: &Path) -> Result<(std::sync::MutexGuard<'static, ()>, DocumentMut), EditError> {
    let guard = EDITING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let doc = read_doc(dir)?;
    Ok((guard, doc))
}

fn read_doc(dir: &Path) -> Result<DocumentMut, EditError> {
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
    let (_editing, mut doc) = read(dir)?;
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
    policy: &super::Policy,
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
    let (_editing, mut doc) = read(dir)?;
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
                    .and_then(|u| super::parse_time(u, policy.time_zone()).ok())
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
    commit(dir, list_cache, &doc)
}

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
    let (_editing, mut doc) = read(dir)?;
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
    commit(dir, list_cache, &doc)
}

/// Removes rule number `index` (0-based, in file order) of group `group`.
pub fn remove_rule(
    dir: &Path,
    list_cache: &Path,
    group: &str,
    index: usize,
) -> Result<(), EditError> {
    let (_editing, mut doc) = read(dir)?;
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
    commit(dir, list_cache, &doc)
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
    let (_editing, mut doc) = read(dir)?;
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
    commit(dir, list_cache, &doc)
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
    let (_editing, mut doc) = read(dir)?;
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
    commit(dir, list_cache, &doc)
}

/// Removes every `[[blocks]]` entry of PC `pc`. Returns how many there were.
pub fn unblock_pc(dir: &Path, list_cache: &Path, pc: &str) -> Result<usize, EditError> {
    let (_editing, mut doc) = read(dir)?;
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
    fn granted_exceptions_allow_until_they_end_and_ended_ones_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let text = "version = 1\ntime_zone = \"UTC\"\n\n[[groups]]\nname = \"staff\"\n\n[[groups.rules]]\naction = \"block\"\ndomains = [\"facebook.com\"]\n\n[[pcs]]\nname = \"pc1\"\naddresses = [\"10.10.0.11\"]\ngroup = \"staff\"\n\n[[exceptions]]\npc = \"pc1\"\ndomains = [\"old.example\"]\nuntil = \"2020-01-01 00:00\"\n";
        std::fs::write(dir.path().join(POLICY_FILE), text).unwrap();
        let (policy, _) = super::super::load_dir(dir.path()).unwrap();
        let addr: std::net::IpAddr = "10.10.0.11".parse().unwrap();
        let now = jiff::Timestamp::now();
        assert!(matches!(
            policy.evaluate(addr, "www.facebook.com", now).verdict,
            super::super::Verdict::Blocked(_)
        ));
        let until = now + jiff::SignedDuration::from_hours(2);
        let domains = ["facebook.com".to_string()];
        grant(
            dir.path(),
            &cache,
            &policy,
            &Grant {
                to: Grantee::Pc("pc1"),
                domains: &domains,
                until,
                reason: "customer chat <b>",
                granted_by: "boss",
                now,
            },
        )
        .unwrap();
        let written = std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap();
        assert!(
            !written.contains("old.example"),
            "ended entries go:\n{written}"
        );
        assert!(written.contains("granted_by = \"boss\""), "{written}");
        let (p2, _) = super::super::load_dir(dir.path()).unwrap();
        let d = p2.evaluate(addr, "www.facebook.com", now);
        assert_eq!(d.verdict, super::super::Verdict::Allowed);
        assert!(
            matches!(&d.rule, Some(r) if matches!(&r.matched, super::super::Matched::Exception { domain, .. } if domain == "facebook.com")),
            "{d:?}"
        );
        // The datapath keeps the addresses the PC got for the name open (and drops them
        // again once the exception ended).
        let answered: Vec<(std::sync::Arc<str>, std::sync::Arc<[std::net::IpAddr]>)> = vec![(
            "www.facebook.com".into(),
            vec!["198.51.100.7".parse().unwrap()].into(),
        )];
        let bad: std::net::IpAddr = "198.51.100.7".parse().unwrap();
        let blocked_at = |p: &super::super::Policy, t| {
            let mut memo = super::super::PlanMemo::default();
            p.datapath_plan(t, &answered, &mut memo, &|_| false)
                .blocked
                .keys()
                .any(|(a, _)| *a == bad)
        };
        assert!(blocked_at(&policy, now), "blocked before the grant");
        assert!(!blocked_at(&p2, now), "open while the exception lasts");
        let later = until + jiff::SignedDuration::from_mins(1);
        assert!(blocked_at(&p2, later), "blocked again after it");
        assert!(
            matches!(
                p2.evaluate(addr, "www.facebook.com", later).verdict,
                super::super::Verdict::Blocked(_)
            ),
            "the exception ends by itself"
        );
        // Another PC's name is refused and changes nothing.
        assert!(matches!(
            grant(
                dir.path(),
                &cache,
                &p2,
                &Grant {
                    to: Grantee::Pc("pc9"),
                    domains: &domains,
                    until,
                    reason: "",
                    granted_by: "boss",
                    now,
                },
            ),
            Err(EditError::NoSuchPc(_))
        ));
    }

    #[test]
    fn rules_limits_and_schedules_are_edited_in_place_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let text = "version = 1\ntime_zone = \"UTC\"\n\n# Departments.\n[[groups]]\nname = \"staff\" # everyone\n\n[[groups]]\nname = \"sales\"\nparent = \"staff\"\n\n[[pcs]]\nname = \"pc1\"\naddresses = [\"10.10.0.11\"]\ngroup = \"sales\"\n";
        std::fs::write(dir.path().join(POLICY_FILE), text).unwrap();
        let load = || super::super::load_dir(dir.path()).unwrap().0;
        let addr: std::net::IpAddr = "10.10.0.11".parse().unwrap();
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap(); // a Friday, 08:00 UTC
        set_schedule(
            dir.path(),
            &cache,
            "all-week",
            &["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from),
            "00:00",
            "23:59",
        )
        .unwrap();
        let rule = NewRule {
            action: "block".into(),
            domains: vec!["games.example".into()],
            schedule: Some("all-week".into()),
            ..Default::default()
        };
        add_rule(dir.path(), &cache, "staff", &rule).unwrap();
        let written = std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap();
        assert!(written.contains("name = \"staff\" # everyone"), "{written}");
        assert!(
            matches!(
                load().evaluate(addr, "www.games.example", now).verdict,
                super::super::Verdict::Blocked(_)
            ),
            "the new rule of the parent group applies to sales' pc1:\n{written}"
        );
        // The rule sits under its group, before the next `[[groups]]`.
        let staff_at = written.find("name = \"staff\"").unwrap();
        let rule_at = written.find("games.example").unwrap();
        let sales_at = written.find("name = \"sales\"").unwrap();
        assert!(staff_at < rule_at && rule_at < sales_at, "{written}");
        // Bad edits change nothing: an unknown category, group or schedule.
        let before = std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap();
        let bad = NewRule {
            action: "block".into(),
            categories: vec!["nope".into()],
            ..Default::default()
        };
        assert!(matches!(
            add_rule(dir.path(), &cache, "staff", &bad),
            Err(EditError::Invalid(_))
        ));
        assert!(matches!(
            add_rule(dir.path(), &cache, "ghosts", &rule),
            Err(EditError::NoSuchGroup(_))
        ));
        assert!(
            set_schedule(
                dir.path(),
                &cache,
                "x",
                &["funday".into()],
                "09:00",
                "10:00"
            )
            .is_err()
        );
        assert_eq!(
            before,
            std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap()
        );
        // Limits: set, replace, remove.
        set_limit(
            dir.path(),
            &cache,
            LimitFor::Group("sales"),
            "day",
            Some("2 GB"),
        )
        .unwrap();
        set_limit(
            dir.path(),
            &cache,
            LimitFor::Group("sales"),
            "day",
            Some("3 GB"),
        )
        .unwrap();
        assert_eq!(load().limits().len(), 1);
        assert_eq!(load().limits()[0].bytes, 3_000_000_000);
        assert!(matches!(
            set_limit(dir.path(), &cache, LimitFor::Pc("pc1"), "day", Some("lots")),
            Err(EditError::Invalid(_))
        ));
        set_limit(dir.path(), &cache, LimitFor::Group("sales"), "day", None).unwrap();
        assert!(load().limits().is_empty());
        // Rules go by number.
        remove_rule(dir.path(), &cache, "staff", 0).unwrap();
        assert_eq!(
            load().evaluate(addr, "games.example", now).verdict,
            super::super::Verdict::Allowed
        );
        assert!(matches!(
            remove_rule(dir.path(), &cache, "staff", 0),
            Err(EditError::NoSuchRule(..))
        ));
    }

    #[test]
    fn edits_at_the_same_moment_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let text = "version = 1\ntime_zone = \"UTC\"\n\n[[groups]]\nname = \"staff\"\n";
        std::fs::write(dir.path().join(POLICY_FILE), text).unwrap();
        std::thread::scope(|s| {
            for i in 0..8 {
                let (d, c) = (dir.path(), &cache);
                s.spawn(move || {
                    let rule = NewRule {
                        action: "block".into(),
                        domains: vec![format!("site{i}.example")],
                        ..Default::default()
                    };
                    add_rule(d, c, "staff", &rule).unwrap();
                });
            }
        });
        let (p, _) = super::super::load_dir(dir.path()).unwrap();
        assert_eq!(p.groups()[0].rules.len(), 8, "no edit overwrote another");
    }

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
