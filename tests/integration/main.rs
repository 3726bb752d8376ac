//! Officegate's integration tests: one binary for the whole project (every extra test
//! binary costs link time on 2 cores). Run as root through `cargo xtask test`.
//!
//! - `test_run`: the kernel programs on crafted frames through BPF_PROG_TEST_RUN.
//! - `lab_*`: the daemon in the office lab, real packets through real namespaces
//!   (`lab_wan`: failover between the two ISPs; `lab_service`: the systemd unit, readiness
//!   and watchdog notifications, JSON logs).
//! - `lists`: the shared blocklists parse and compile.
//! - `layout`: the source's house rules (no import circle between modules, no file too
//!   long to read).
//! - `support`: the fixtures the files above share (the office lab, DNS and HTTP from a
//!   PC, bpffs pins); test files import from `support` only, never from each other.

mod lab_api;
mod lab_bypass;
mod lab_datapath;
mod lab_devices;
mod lab_dns;
mod lab_enforce;
mod lab_hostile;
mod lab_service;
mod lab_settings;
mod lab_sites;
mod lab_slow_clients;
mod lab_tables;
mod lab_ui;
mod lab_wan;
mod layout;
mod lists;
mod support;
mod test_run;
