//! Officegate: an office internet gateway.
//!
//! # Layout
//! Each module opens with a `//!` header saying what it owns and what it must not touch.
//! Imports between modules form no circle: `store`, `clock`, `parse` and `datapath` are
//! leaves the others build on; `daemon` is the one module that wires them all.
//!
//! - [`datapath`]: the kernel side seen from here — load and attach the eBPF programs
//!   (`gateway-ebpf`), typed handles on their pinned maps (per-PC and per-flow counters,
//!   per-group blocked sets, PC states, drop reasons).
//! - [`lists`]: blocklist files in every common format, parsed line by line, matched
//!   through a compact hashed name set (~17 B/name) and regexes; URL lists downloaded
//!   and kept fresh.
//! - [`policy`]: the employer's policy directory (`office.toml` + lists): groups as a
//!   tree, rules, categories, schedules; evaluated per (PC, name, time) with the rule
//!   that decided (`officegate check`, `officegate explain`); changes written back
//!   (`policy::edit`).
//! - [`dns`]: the DNS filter on the LAN (hickory-server): a chain of stages (access,
//!   decide, block answer, cache or upstream, rebinding guard, remember, record) walked by
//!   a UDP fast path and by the hickory path alike.
//! - [`bypass`]: no way around the filter — DNS to other resolvers redirected to the
//!   filter (or refused), DNS over TLS/QUIC refused at once (an nftables table).
//! - [`guard`]: how many connections one PC may hold to the gateway (nftables).
//! - [`nft`]: the daemon's nftables tables, each written whole in one batch.
//! - [`wan`]: internet channels and failover — probes through each channel, health with
//!   hysteresis, route switching over rtnetlink, conntrack flush, events.
//! - [`store`]: the SQLite database — connections, the schema (every migration), one
//!   batching writer thread, events, the query log, statistics (ingest, roll-up,
//!   retention, periods, reads).
//! - [`usage`]: traffic per PC per day and month from the datapath's counters, for
//!   traffic limits; survives restarts without double counting.
//! - [`sites`]: sites per PC — server names from opening packets (SNI, Host), flows named
//!   and counted per (PC, host), unexplained flows.
//! - [`pcnames`]: what a PC is called (policy name, DHCP lease name, address).
//! - [`auth`]: users, roles, sessions, lock-out, the action history.
//! - [`requests`]: access requests filed on the block page, and their decisions.
//! - [`alerts`]: chosen events POSTed to a webhook (subscribed through `Store::on_event`).
//! - [`blockpage`]: the page blocked names lead to, and the access-request form.
//! - [`httpd`]: the HTTP/1 server both the page and the API run on, with its timeouts.
//! - [`api`]: the admin API (axum) and the embedded UI: one module per resource, each
//!   route stated once with the roles that may call it; the OpenAPI document; `/metrics`.
//! - [`config`]: the daemon's TOML configuration, validated into a plan for the datapath.
//! - [`parse`]: small parsers `config` and `policy` share (lines, networks).
//! - [`clock`]: the policy clock (real, or started elsewhere for tests and demos).
//! - [`daemon`]: `officegate run` — start, a tick every second, reloads, stop, in order.
//! - [`cli`]: `officegate check`, `explain`, `user`, `queries`, `wan status`, ….
//! - [`report`]: human and JSON views of the datapath's counters for the CLI.
//!
//! Types shared with the kernel programs live in the `gateway-common` crate.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod blockpage;
pub mod bypass;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod datapath;
pub mod dns;
pub mod guard;
pub mod held;
pub mod httpd;
pub mod init;
pub mod lists;
pub mod manual;
pub mod nft;
pub mod parse;
pub mod pcnames;
pub mod policy;
pub mod report;
pub mod requests;
pub mod sites;
pub mod store;
pub mod usage;
pub mod wan;
