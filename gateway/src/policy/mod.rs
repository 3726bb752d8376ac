//! The employer's policy: who may reach which names, when. Loaded from a directory
//! (`office.toml` plus the list files it names), validated as a whole, and evaluated for a
//! (PC, name, time) by [`Policy::evaluate`] — the one engine behind DNS answers,
//! `officegate explain` and (later) the UI's "test a domain" box.
//!
//! Owns: the policy format, its validation with `file:line` errors, group inheritance,
//! schedules, rule matching and the explanation of a decision.
//! Must not: touch the network or the datapath; the daemon applies decisions.

pub mod edit;
mod engine;
mod load;
mod model;
mod schedule;

pub use engine::{
    BlockTarget, DEFAULT_GROUP, Decision, LimitTarget, Matched, PcUsage, PlanMemo, Policy, RuleRef,
    Verdict,
};
pub use load::{
    ListCache, LoadReport, PolicyError, UrlSource, load_dir, load_dir_with, load_text,
    load_text_with, render, url_copy,
};
pub use model::Period;
pub use model::{Action, BlockMode};
pub use schedule::Schedule;

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
