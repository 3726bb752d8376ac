//! `officegate run`: the daemon's life. Load the datapath (reusing pinned maps, so
//! counters continue), load the policy from the configuration's directory, apply its plan,
//! attach to the LAN interface; then keep the plan current — every few seconds (schedules
//! and timed blocks move with the clock) and at once on SIGHUP (policy files changed) —
//! until SIGINT/SIGTERM, and detach.
//!
//! A policy that fails to load is logged with every error and the previous one stays in
//! force: a typo never opens or closes the office's internet.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};

use crate::{
    config::Config,
    datapath::{Datapath, LoadOptions, Maps, Plan, interface_addrs},
    policy::{self, Policy},
};

/// How often the plan is recomputed for the clock's sake.
const REPLAN_EVERY: Duration = Duration::from_secs(5);

pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let policy_dir = policy_dir_of(config_path);
    let mut policy = load_policy(&policy_dir).context("the policy must be valid at start")?;
    let dp_cfg = &config.datapath;
    let mut dp = Datapath::load(&LoadOptions {
        pin_dir: dp_cfg.pin_dir.clone(),
        flow_cache: true,
    })
    .context("loading the datapath")?;
    let mut maps = dp.maps()?;
    let gw_addrs = interface_addrs(&dp_cfg.lan_interface);
    let mut applied = policy.datapath_plan(jiff::Timestamp::now());
    apply(&mut maps, &applied, &gw_addrs)?;
    dp.attach_lan(&dp_cfg.lan_interface, dp_cfg.xdp_mode)?;
    info!(
        interface = %dp_cfg.lan_interface,
        pin_dir = %dp_cfg.pin_dir.display(),
        policy = %policy_dir.display(),
        pcs = applied.pcs.len(),
        blocked = applied.blocked.len(),
        "datapath attached"
    );
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut tick = tokio::time::interval(REPLAN_EVERY);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                match load_policy(&policy_dir) {
                    Ok(p) => {
                        info!(policy = %policy_dir.display(), "policy reloaded");
                        policy = p;
                    }
                    Err(e) => error!("policy reload failed, the previous policy stays in force:\n{e:#}"),
                }
            }
            _ = tick.tick() => {}
        }
        let plan = policy.datapath_plan(jiff::Timestamp::now());
        // Only a changed plan is written: a PC blocked by hand (`officegate pc-state`)
        // stays so until the policy itself says something new about it.
        if plan != applied {
            match apply(&mut maps, &plan, &gw_addrs) {
                Ok(()) => {
                    info!(
                        pcs = plan.pcs.len(),
                        blocked = plan.blocked.len(),
                        "datapath plan applied"
                    );
                    applied = plan;
                }
                Err(e) => error!("applying the plan failed: {e:#}"),
            }
        }
    }
    info!("shutting down: detaching the datapath (pinned maps and their counters stay)");
    drop(dp);
    Ok(())
}

/// The policy lives beside the daemon's configuration file.
fn policy_dir_of(config_path: &Path) -> PathBuf {
    match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn load_policy(dir: &Path) -> anyhow::Result<Policy> {
    policy::load_dir(dir)
        .map(|(p, _)| p)
        .map_err(|errors| anyhow::anyhow!(policy::render(&errors)))
}

/// Writes the plan into the maps, then bumps the generation once so every flow's cached
/// verdict is re-evaluated against the new sets.
pub fn apply(maps: &mut Maps, plan: &Plan, gateway: &[IpAddr]) -> anyhow::Result<()> {
    maps.set_gateway_addrs(gateway)?;
    maps.sync_blocked(&plan.blocked)?;
    for (addr, (group, state)) in &plan.pcs {
        maps.set_pc(*addr, *group, *state)?;
    }
    // A PC taken out of the policy must not keep its old group or block; its counters stay.
    maps.reset_unlisted(&|a| plan.pcs.contains_key(a))?;
    maps.bump_generation()?;
    Ok(())
}
