//! Any sequence of policy edits as the API makes them (rules added and removed, limits,
//! schedules, blocks, exceptions), with any strings in them, on a valid `office.toml`:
//! each is made or refused with an error — never a panic — and the file always loads
//! afterwards. The input is JSON (what the API's bodies are); what does not parse as a
//! list of edits is skipped.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use officegate::policy::{self, edit};
use serde::Deserialize;

const BASE: &str = "version = 1\ntime_zone = \"UTC\"\n\n[schedules.work]\ndays = [\"mon\"]\nfrom = \"09:00\"\nuntil = \"17:00\"\n\n[[groups]]\nname = \"staff\"\n\n[[groups.rules]]\naction = \"block\"\ndomains = [\"a.example\"]\n\n[[pcs]]\nname = \"pc1\"\naddresses = [\"10.10.0.11\"]\ngroup = \"staff\"\n";

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    AddRule {
        group: String,
        action: String,
        #[serde(default)]
        domains: Vec<String>,
        #[serde(default)]
        categories: Vec<String>,
        #[serde(default)]
        lists: Vec<String>,
        schedule: Option<String>,
    },
    RemoveRule {
        group: String,
        index: usize,
        id: Option<String>,
    },
    Limit {
        pc: Option<String>,
        group: Option<String>,
        per: String,
        bytes: Option<String>,
    },
    Schedule {
        name: String,
        days: Vec<String>,
        from: String,
        until: String,
    },
    Block {
        pc: String,
        until: Option<String>,
        reason: String,
    },
    Unblock {
        pc: String,
    },
    Grant {
        pc: String,
        domains: Vec<String>,
        hours: i64,
        reason: String,
    },
}

fn apply(dir: &Path, cache: &Path, op: &Op) -> Result<(), edit::EditError> {
    let now = jiff::Timestamp::from_second(1_764_150_000).expect("a valid moment");
    let current = || policy::load_dir(dir).expect("the file loads before each edit").0;
    match op {
        Op::AddRule { group, action, domains, categories, lists, schedule } => edit::add_rule(
            dir,
            cache,
            group,
            &edit::NewRule {
                action: action.clone(),
                domains: domains.clone(),
                categories: categories.clone(),
                lists: lists.clone(),
                schedule: schedule.clone(),
            },
        ),
        Op::RemoveRule { group, index, id } => {
            edit::remove_rule(dir, cache, group, *index, id.as_deref())
        }
        Op::Limit { pc, group, per, bytes } => {
            let target = match (pc, group) {
                (Some(pc), _) => edit::LimitFor::Pc(pc),
                (None, Some(g)) => edit::LimitFor::Group(g),
                (None, None) => edit::LimitFor::Company,
            };
            edit::set_limit(dir, cache, target, per, bytes.as_deref())
        }
        Op::Schedule { name, days, from, until } => {
            edit::set_schedule(dir, cache, name, days, from, until)
        }
        Op::Block { pc, until, reason } => {
            edit::block_pc(dir, cache, &current(), pc, until.as_deref(), reason)
        }
        Op::Unblock { pc } => edit::unblock_pc(dir, cache, pc).map(|_| ()),
        Op::Grant { pc, domains, hours, reason } => {
            let Some(until) = now.checked_add(jiff::SignedDuration::from_hours((*hours).clamp(-1000, 1000))).ok() else {
                return Ok(());
            };
            edit::grant(
                dir,
                cache,
                &current(),
                &edit::Grant {
                    to: edit::Grantee::Pc(pc),
                    domains,
                    until,
                    reason,
                    granted_by: "fuzz",
                    now,
                },
            )
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(ops) = serde_json::from_slice::<Vec<Op>>(data) else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cache = dir.path().join("cache");
    std::fs::write(dir.path().join("office.toml"), BASE).expect("write office.toml");
    for op in ops.iter().take(16) {
        let _ = apply(dir.path(), &cache, op);
        if let Err(e) = policy::load_dir(dir.path()) {
            panic!(
                "an edit left a policy that does not load: {e:?}\n{}",
                std::fs::read_to_string(dir.path().join("office.toml")).unwrap_or_default()
            );
        }
    }
});
