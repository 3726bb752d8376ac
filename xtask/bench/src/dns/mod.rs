//! `bench dns`: queries per second of the gateway's DNS filter with 1,000,000 blocked names,
//! against Unbound (1 thread, the names as `local-zone: … always_nxdomain`, as pfBlockerNG
//! does), dnsmasq (Pi-hole's engine, `address=/name/`) and dnsdist (the specialist: its
//! packet cache, the names as a suffix-match rule) in the same run: same lab, same
//! core (every server pinned to CPU 1, the load generator to CPU 0), same upstream (the lab
//! internet's resolver), same query files: allowed names (cached answers after a warm-up
//! pass before each run), blocked names (30% of them subdomains of listed names), an 80/20
//! mix, and the mix once more sent to the lab's resolver instead, which the gateway
//! intercepts (Officegate's `[dns] intercept`; the others are asked directly). The
//! servers run side by side (different ports) and are queried in turns, so each ratio
//! against Unbound is taken per run, the two measured moments apart (see `rounds::measure`).
//!
//! The load generator is our own (`blast`): one UDP socket keeping a fixed number of
//! queries in flight, so every server is driven by the same sender (dnsperf tops out near
//! 140k qps on one core here, below what the servers can do).
//!
//! Also measured: RSS added by the list (bytes per blocked name), the time to load the
//! list, the time to apply a one-line policy change (officegate), and p50/p99/p99.9 latency
//! at a fixed 20k and 50k qps for every server.
//!
//! The phases, one file each: `names` (the list and the query files), `peers` (each
//! server's configuration and start), `startup` (RSS, load and apply times as each comes
//! up), `blast` (the load generator), `rounds` (the paired measurement), `report` (the
//! table and the RESULT line).

pub(crate) mod blast;
pub(crate) mod names;
mod peers;
mod report;
mod rounds;
mod startup;

use std::path::PathBuf;

use anyhow::Context as _;
use officegate_lab::{Lab, LabConfig, officegate::pin_dir_for};

use rounds::Figures;

const NAMES: usize = 1_000_000;
const QUERIES_PER_FILE: usize = 20_000;
const IN_FLIGHT: usize = 256;
const SERVER_CPU: &str = "1";
const SENDER_CPU: usize = 0;
const UNBOUND_PORT: u16 = 5301;
const DNSMASQ_PORT: u16 = 5302;
const DNSDIST_PORT: u16 = 5303;
/// The fixed rates latency is measured at.
const FIXED_QPS: [f64; 2] = [20_000.0, 50_000.0];

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let arg = |k: &str| args.windows(2).find(|w| w[0] == k).map(|w| w[1].clone());
    let secs: f64 = crate::flag(args, "--seconds", 10.0)?;
    let runs: usize = crate::flag(args, "--runs", 3)?;
    let bin = PathBuf::from(
        std::env::var("OFFICEGATE_BIN").context("OFFICEGATE_BIN (set by cargo xtask bench)")?,
    );
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let names = names::blocked_names()?;
    peers::write_lists(dir, &names)?;
    let files = names::query_files(&names);
    let lab = Lab::up(LabConfig { pcs: 1 })?;

    let only = arg("--only");
    let startup::Started {
        mut running,
        apply_ms,
        og_load_ms,
    } = startup::start_all(&lab, dir, &bin, only.as_deref())?;
    rounds::measure(&lab, &mut running, &files, secs, runs)?;
    let results: Vec<(&'static str, Figures)> = running
        .into_iter()
        .map(|(which, server, f)| {
            drop(server);
            (which, f)
        })
        .collect();
    let _ = std::fs::remove_dir_all(pin_dir_for(&lab));
    if only.is_some() {
        // `--only`: one server, no comparison, no RESULT line.
        return Ok(());
    }
    report::print(&results, og_load_ms, apply_ms);
    drop(lab);
    Ok(())
}
