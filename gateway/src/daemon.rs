//! `officegate run`: the daemon's life. Load the datapath (reusing pinned maps, so
//! counters continue), load the policy from the configuration's directory, apply its plan,
//! attach to the LAN interface; then keep the plan current — every few seconds (schedules
//! and timed blocks move with the clock) and at once on SIGHUP (policy files changed) —
//! until SIGINT/SIGTERM, and detach.
//!
//! A policy that fails to load is logged with every error and the previous one stays in
//! force: a typo never opens or closes the office's internet.
//!
//! File changes are noticed by comparing modification times on the same 5-second tick
//! rather than through inotify (the `notify` crate): the tick exists anyway for the clock,
//! it sees editors' write-and-rename the same as in-place writes, and it needs no thread.

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
    let (mut policy, mut watched) =
        load_policy(&policy_dir).context("the policy must be valid at start")?;
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
            _ = hup.recv() => reload(&policy_dir, &mut policy, &mut watched, "SIGHUP"),
            _ = tick.tick() => {
                if watched.changed() {
                    reload(&policy_dir, &mut policy, &mut watched, "files changed");
                }
            }
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

fn load_policy(dir: &Path) -> anyhow::Result<(Policy, Watched)> {
    let (policy, report) =
        policy::load_dir(dir).map_err(|errors| anyhow::anyhow!(policy::render(&errors)))?;
    let mut files = vec![dir.join(policy::POLICY_FILE)];
    files.extend(report.files.into_iter().map(|(f, _)| f));
    Ok((policy, Watched::new(files)))
}

fn reload(dir: &Path, policy: &mut Policy, watched: &mut Watched, why: &str) {
    match load_policy(dir) {
        Ok((p, w)) => {
            info!(policy = %dir.display(), why, "policy reloaded");
            *policy = p;
            *watched = w;
        }
        Err(e) => {
            // Remember what the broken files look like, so they are not reloaded (and
            // logged) again every tick; the next edit is noticed.
            watched.refresh();
            error!(
                why,
                "policy reload failed, the previous policy stays in force:\n{e:#}"
            );
        }
    }
}

/// The policy's files with the modification times they had when last read.
struct Watched {
    files: Vec<(PathBuf, Option<std::time::SystemTime>)>,
}

impl Watched {
    fn new(files: Vec<PathBuf>) -> Self {
        let mut w = Watched {
            files: files.into_iter().map(|f| (f, None)).collect(),
        };
        w.refresh();
        w
    }

    fn mtime(f: &Path) -> Option<std::time::SystemTime> {
        std::fs::metadata(f).and_then(|m| m.modified()).ok()
    }

    fn refresh(&mut self) {
        for (f, t) in &mut self.files {
            *t = Self::mtime(f);
        }
    }

    fn changed(&self) -> bool {
        self.files.iter().any(|(f, t)| Self::mtime(f) != *t)
    }
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
