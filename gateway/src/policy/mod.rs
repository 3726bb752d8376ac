//! The employer's policy: who may reach which names, when. Loaded from a directory
//! (`office.toml` plus the list files it names), validated as a whole, and evaluated for a
//! (PC, name, time) by [`Policy::evaluate`] — the one engine behind DNS answers,
//! `officegate explain` and (later) the UI's "test a domain" box.
//!
//! Owns: the policy format, its validation with `file:line` errors, group inheritance,
//! schedules, rule matching and the explanation of a decision.
//! Must not: touch the network or the datapath; the daemon applies decisions. List files
//! are read through `crate::lists` (its cache); downloading them is `lists/`'s job too.
//!
//! Layout: `model.rs` (the file format), `load/` (reading and checking it, all errors
//! collected), `compiled.rs` (the policy as loaded: indices, accessors), `schedule.rs`
//! (weekly windows), `engine.rs` (`evaluate`/`verdict`/`explain`), `plan.rs` (the
//! kernel's sets at a moment), `limits.rs` (who is over a traffic limit), `edit/`
//! (changes written back into `office.toml`).

pub mod bindings;
mod compiled;
pub mod edit;
mod engine;
mod limits;
mod load;
mod model;
mod plan;
mod schedule;

pub use compiled::{BlockTarget, DEFAULT_GROUP, LimitTarget, PcUsage, Policy};
pub use engine::{Decision, Matched, RuleRef, Verdict};
pub use load::{
    LoadReport, PolicyError, load_dir, load_dir_with, load_text, load_text_with, render,
};
pub use model::Period;
pub use model::{Action, BlockMode};
pub use plan::PlanMemo;
pub use schedule::Schedule;
// The list life cycle is `lists/`'s; kept here too, where the daemon first found them.
pub use crate::lists::{ListCache, UrlSource, url_copy};

/// The policy file inside a policy directory.
pub const POLICY_FILE: &str = "office.toml";

/// A moment written by a person: RFC 3339 (`2026-11-26T10:00:00Z`) or a local
/// `2026-11-26 10:00` / `2026-11-26T10:00` in `tz`.
pub fn parse_time(s: &str, tz: &jiff::tz::TimeZone) -> Result<jiff::Timestamp, String> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let civil: jiff::civil::DateTime = s
        .parse()
        .map_err(|_| format!("`{s}` is neither RFC 3339 nor `YYYY-MM-DD HH:MM`"))?;
    civil
        .to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| format!("`{s}`: {e}"))
}

#[cfg(test)]
mod tests;
