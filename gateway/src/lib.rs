//! Officegate: an office internet gateway.
//!
//! # Layout
//! - [`datapath`]: the kernel side seen from here — load and attach the eBPF programs
//!   (`gateway-ebpf`), typed handles on their pinned maps (per-PC and per-flow counters,
//!   per-group blocked sets, PC states, drop reasons).
//! - [`lists`]: blocklist files in every common format, parsed line by line, matched
//!   through a compact hashed name set (~17 B/name) and regexes.
//! - [`config`]: the daemon's TOML configuration, validated into a plan for the datapath.
//! - [`daemon`]: `officegate run` — load, apply the plan, attach, wait for a signal,
//!   detach.
//! - [`report`]: human and JSON views of the datapath's counters for the CLI.
//!
//! Types shared with the kernel programs live in the `gateway-common` crate.

pub mod config;
pub mod daemon;
pub mod datapath;
pub mod lists;
pub mod report;
