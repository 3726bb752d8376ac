//! `officegate run`: the daemon's life. Load the datapath (reusing pinned maps, so
//! counters continue), apply the configuration's plan, attach to the LAN interface, then
//! wait for SIGINT/SIGTERM and detach.

use std::{net::IpAddr, path::Path};

use anyhow::Context as _;
use tracing::info;

use crate::{
    config::{Config, DatapathPlan},
    datapath::{Datapath, LoadOptions, Maps, interface_addrs},
};

pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let plan = config.plan().map_err(anyhow::Error::msg)?;
    let dp_cfg = &config.datapath;
    let mut dp = Datapath::load(&LoadOptions {
        pin_dir: dp_cfg.pin_dir.clone(),
        flow_cache: true,
    })
    .context("loading the datapath")?;
    let mut maps = dp.maps()?;
    let gw_addrs = interface_addrs(&dp_cfg.lan_interface);
    apply(&mut maps, &plan, &gw_addrs)?;
    dp.attach_lan(&dp_cfg.lan_interface, dp_cfg.xdp_mode)?;
    info!(
        interface = %dp_cfg.lan_interface,
        pin_dir = %dp_cfg.pin_dir.display(),
        pcs = plan.pcs.len(),
        blocked = plan.blocked.len(),
        "datapath attached"
    );
    wait_for_shutdown().await?;
    info!("shutting down: detaching the datapath (pinned maps and their counters stay)");
    drop(dp);
    Ok(())
}

/// Writes the plan into the maps, then bumps the generation once so every flow's cached
/// verdict is re-evaluated against the new sets.
pub fn apply(maps: &mut Maps, plan: &DatapathPlan, gateway: &[IpAddr]) -> anyhow::Result<()> {
    maps.set_gateway_addrs(gateway)?;
    maps.sync_blocked(&plan.blocked)?;
    for (addr, (group, state)) in &plan.pcs {
        maps.set_pc(*addr, *group, *state)?;
    }
    // A PC taken out of the configuration must not keep its old group or block; its
    // counters stay.
    maps.reset_unlisted(&|a| plan.pcs.contains_key(a))?;
    maps.bump_generation()?;
    Ok(())
}

async fn wait_for_shutdown() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}
