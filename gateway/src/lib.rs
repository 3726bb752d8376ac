//! Officegate: an office internet gateway.
//!
//! # Layout
//! - [`datapath`]: the kernel side seen from here — load and attach the eBPF programs
//!   (`gateway-ebpf`), typed handles on their pinned maps (per-PC and per-flow counters,
//!   per-group blocked sets, PC states, drop reasons).
//! - [`lists`]: blocklist files in every common format, parsed line by line, matched
//!   through a compact hashed name set (~17 B/name) and regexes.
//! - [`policy`]: the employer's policy directory (`office.toml` + lists): groups as a
//!   tree, rules, categories, schedules; evaluated per (PC, name, time) with the rule
//!   that decided (`officegate check`, `officegate explain`).
//! - [`dns`]: the DNS filter on the LAN (hickory-server): refuse non-LAN clients, answer
//!   blocked names per the policy, forward the rest, block CNAME targets.
//! - [`wan`]: internet channels and failover — probes through each channel, health with
//!   hysteresis, route switching over rtnetlink, conntrack flush, events.
//! - [`store`]: the SQLite database (events, query log, usage; one batching writer
//!   thread).
//! - [`usage`]: traffic per PC per day and month from the datapath's counters, for
//!   traffic limits; survives restarts without double counting.
//! - [`api`]: the admin API (axum): PCs with traffic, the query log, events, channels,
//!   CSV, Prometheus `/metrics`, the OpenAPI document; bearer token.
//! - [`config`]: the daemon's TOML configuration, validated into a plan for the datapath.
//! - [`daemon`]: `officegate run` — load, apply the plan, attach, wait for a signal,
//!   detach.
//! - [`cli`]: `officegate check` and `explain`.
//! - [`report`]: human and JSON views of the datapath's counters for the CLI.
//!
//! Types shared with the kernel programs live in the `gateway-common` crate.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod blockpage;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod datapath;
pub mod dns;
pub mod lists;
pub mod parse;
pub mod pcnames;
pub mod policy;
pub mod report;
pub mod requests;
pub mod sites;
pub mod store;
pub mod usage;
pub mod wan;
