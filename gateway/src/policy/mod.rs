//! The employer's policy: who may reach which names, when. Loaded from a directory
//! (`office.toml` plus the list files it names), validated as a whole, and evaluated for a
//! (PC, name, time) by [`Policy::evaluate`] — the one engine behind DNS answers,
//! `officegate explain` and (later) the UI's "test a domain" box.
//!
//! Owns: the policy format, its validation with `file:line` errors, group inheritance,
//! schedules, rule matching and the explanation of a decision.
//! Must not: touch the network or the datapath; the daemon applies decisions.

mod engine;
mod load;
mod model;
mod schedule;

pub use engine::{Decision, Matched, Policy, Verdict};
pub use load::{LoadReport, PolicyError, load_dir};
pub use model::{Action, BlockMode};

/// The policy file inside a policy directory.
pub const POLICY_FILE: &str = "office.toml";

#[cfg(test)]
mod tests;
