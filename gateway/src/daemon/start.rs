//! Starting and stopping: the datapath (reusing pinned maps, so counters continue), the
//! policy and its plan, the store, then the services — the WAN monitor, the DNS filter,
//! the block page, the API — each a named field of `Services`, stopped in the order
//! `Services::stop` states.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::{
    services::{
        Services, Shared, WanService, again, start_api, start_block_page, start_dns_service,
    },
    settings::Settings,
    source::{Source, policy_dir_of},
    tick::{Every, PRUNE_EVERY, Tick, apply},
};
use crate::{
    config::Config,
    datapath::{Datapath, LoadOptions},
    policy::Policy,
    store::Store,
};

/// Answered names remembered for the plan, and for how long.
const ANSWERED_NAMES: u64 = 65_536;
const ANSWERED_KEEP: Duration = Duration::from_secs(3600);
/// Names per (PC, address) remembered for site attribution, and for how long unused.
const LOOKUPS: u64 = 1_000_000;
const LOOKUPS_KEEP: Duration = Duration::from_secs(6 * 3600);

/// The running daemon.
pub struct Daemon {
    clock: crate::clock::Clock,
    /// Shared with the DNS filter, the block page and the API: a reload swaps it whole,
    /// queries in flight keep the one they started with.
    policy: Arc<ArcSwap<Policy>>,
    source: Source,
    store: Store,
    /// Dropping it leaves the programs attached where links are pinned (`links`), else
    /// detaches them; pinned maps and their counters stay either way.
    datapath: Datapath,
    tick: Tick,
    pub services: Services,
    /// `officegate.toml` as in force, and what was last seen of the file.
    pub(super) settings: Settings,
    pub(super) shared: Shared,
}

impl Daemon {
    pub async fn start(config_path: &Path, clock: crate::clock::Clock) -> anyhow::Result<Self> {
        let answered = crate::dns::Answered::new(ANSWERED_NAMES, ANSWERED_KEEP);
        let config = Config::load(config_path)?;
        let (source, policy) =
            Source::open(policy_dir_of(config_path), config.storage.dir.join("lists"))?;
        let policy = Arc::new(ArcSwap::from_pointee(policy));
        let dp_cfg = &config.datapath;
        let mut datapath = Datapath::load(&LoadOptions {
            pin_dir: dp_cfg.pin_dir.clone(),
            flow_cache: true,
        })
        .context("loading the datapath")?;
        let mut maps = datapath.maps()?;
        let gw_addrs = crate::datapath::interface_addrs(&dp_cfg.lan_interface);
        let store = Store::open(&config.storage.dir)?;
        let store = match &config.alerts {
            Some(a) => {
                let alerts = crate::alerts::Alerts::start(a);
                store.on_event(move |e| alerts.offer(e))
            }
            None => store,
        };
        if config.api.is_some() {
            first_admin(&config.storage.dir);
        }
        let p = policy.load_full();
        let usage = crate::usage::Usage::load(
            store.clone(),
            &clock.now().to_zoned_datetime(p.time_zone().clone()),
        );
        let names = crate::pcnames::PcNames::new(&config.names);
        // Sites: names for flows from DNS answers (rebuilt from the log's last hours after
        // a restart) and from the opening packets the datapath hands over.
        let lookups = crate::sites::Lookups::new(LOOKUPS, LOOKUPS_KEEP);
        if let Ok(conn) = crate::store::open_read(&config.storage.dir) {
            let since = crate::store::now_ms() - LOOKUPS_KEEP.as_millis() as i64;
            let n = lookups.load_from_log(&conn, since);
            tracing::debug!(answers = n, "names per PC reloaded from the query log");
        }
        // Every device this gateway ever met: a device is new once.
        let seen = crate::store::open_read(&config.storage.dir)
            .map_err(|e| e.to_string())
            .and_then(|c| crate::store::seen_devices(&c).map_err(|e| e.to_string()))
            .unwrap_or_else(|e| {
                error!("devices seen before: {e}");
                Vec::new()
            });
        let (sniff_tx, sniff_rx) = tokio::sync::mpsc::channel(4096);
        let sniffer = CancellationToken::new();
        {
            let (pin, token) = (dp_cfg.pin_dir.clone(), sniffer.clone());
            let answered = answered.clone();
            let seen = move |name: &str, addr| answered.record(name, &[addr]);
            tokio::spawn(async move {
                if let Err(e) = crate::sites::sniffer(pin, sniff_tx, seen, token).await {
                    error!("site names from opening packets unavailable: {e:#}");
                }
            });
        }
        let flows = crate::sites::Collector::load(store.clone(), lookups.clone(), sniff_rx);
        let flow_every = Duration::from_secs(config.storage.flow_interval_s.max(1));
        let view = Tick::first_view(&answered, p.clone());
        let mut memo = crate::policy::PlanMemo::default();
        let applied = p.datapath_plan(clock.now(), &answered.snapshot(), &mut memo, &|_| false);
        apply(&mut maps, &applied, &gw_addrs)?;
        // Links a previous run left attached (pinned) are taken over: the programs are
        // swapped in place, nothing went unseen in between.
        let taken_over =
            datapath.attach_lan(&dp_cfg.lan_interface, dp_cfg.xdp_mode, dp_cfg.tc_hook)?;
        crate::guard::install(&dp_cfg.lan_interface)
            .await
            .context("writing the per-PC connection cap (nft)")?;
        let wan = match &config.wan {
            Some(w) => {
                for c in &w.channels {
                    datapath.attach_wan(&c.interface, dp_cfg.tc_hook)?;
                }
                let monitor = crate::wan::Monitor::new(
                    w.clone(),
                    store.clone(),
                    config.storage.dir.clone(),
                    datapath.maps().ok(),
                )
                .await
                .context("starting the WAN monitor")?;
                let (failback, failback_rx) = tokio::sync::mpsc::channel(4);
                let stop = CancellationToken::new();
                let monitor = tokio::spawn(monitor.run(stop.clone(), failback_rx));
                info!(channels = w.channels.len(), "WAN monitor started");
                Some(WanService {
                    stop,
                    monitor,
                    failback,
                })
            }
            None => None,
        };
        let shared = Shared {
            policy: policy.clone(),
            store: store.clone(),
            answered: answered.clone(),
            lookups: lookups.clone(),
            clock,
            names: names.clone(),
            policy_dir: source.dir().to_path_buf(),
            over_page: crate::blockpage::Over::default(),
            dns_stats: Default::default(),
            devices: Default::default(),
        };
        let dns = match &config.dns {
            Some(d) => Some(start_dns_service(d, &dp_cfg.lan_interface, &shared).await?),
            None => None,
        };
        info!(
            interface = %dp_cfg.lan_interface,
            taken_over,
            pin_dir = %dp_cfg.pin_dir.display(),
            policy = %source.dir().display(),
            pcs = applied.pcs.len(),
            blocked = applied.blocked.len(),
            "datapath attached"
        );
        let (block_page, page_on) = start_block_page(&config, &shared).await?;
        let held = super::devices::HeldPage::new(held_rules(&dp_cfg.lan_interface, page_on));
        let api = match &config.api {
            Some(a) => Some(start_api(a, &dp_cfg.pin_dir, &config.storage.dir, &shared).await?),
            None => None,
        };
        let met = maps.devices();
        let tick = Tick {
            maps,
            gw_addrs,
            store: store.clone(),
            usage,
            names,
            flows,
            flows_every: Every::after(flow_every, std::time::Instant::now()),
            prune_every: Every::now_then(PRUNE_EVERY),
            retention: config.storage.retention(),
            answered,
            view,
            memo,
            applied,
            over: Default::default(),
            devices: super::devices::DeviceWatch::new(config.devices.forget_after_s, seen, &met),
            held,
            over_page: shared.over_page.clone(),
            device_map: shared.devices.clone(),
        };
        Ok(Daemon {
            settings: Settings::new(config_path, config),
            shared,
            clock,
            policy,
            source,
            store,
            datapath,
            tick,
            services: Services {
                sniffer,
                dns,
                wan,
                block_page,
                api,
            },
        })
    }

    /// Loads the policy again (a broken one keeps the old in force); a new one makes the
    /// `resolve` lists be resolved again.
    pub fn reload(&mut self, why: &str) {
        if self.source.reload(&self.policy, &self.store, why)
            && let Some(d) = &self.services.dns
        {
            d.resolve_now.notify_one();
        }
    }

    pub fn reload_if_changed(&mut self) {
        if self.source.changed() {
            self.reload("files changed");
        }
    }

    /// Reads `officegate.toml` again when it changed (or on SIGHUP, `force`) and applies
    /// what can apply live (`settings.rs`). A broken file keeps the settings in force.
    pub async fn reload_settings(&mut self, why: &str, force: bool) {
        if !force && !self.settings.changed() {
            return;
        }
        let subject = self.settings.path().display().to_string();
        let event = |kind: &str, message: String| crate::store::Event {
            at_ms: crate::store::now_ms(),
            source: "settings".into(),
            kind: kind.into(),
            subject: subject.clone(),
            message,
            details: serde_json::json!({ "why": why }),
        };
        let change = match self.settings.read() {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                error!(why, "settings not reloaded, those in force stay: {e}");
                self.store.event(event("reload_failed", e.to_string()));
                return;
            }
        };
        if !change.needs_restart.is_empty() {
            let which = change.needs_restart.join(", ");
            tracing::warn!(sections = %which, "settings changed that apply only at the next restart (`systemctl restart officegate`)");
            self.store.event(event(
                "needs_restart",
                format!("changed settings that apply at the next restart: {which}"),
            ));
        }
        if change.live.is_empty() {
            return;
        }
        let live: Vec<&str> = change.live.iter().copied().collect();
        let failed = self.apply_live(&change).await;
        self.settings.config = change.config;
        match failed {
            None => {
                info!(why, sections = ?live, "settings applied");
                self.store.event(event(
                    "reloaded",
                    format!("settings applied: {}", live.join(", ")),
                ));
            }
            Some(e) => {
                error!(why, "settings applied with an error: {e:#}");
                self.store.event(event("reload_failed", format!("{e:#}")));
            }
        }
    }

    /// Restarts the services whose sections changed (the DNS filter first: the block
    /// page runs only beside it) and hands the tick its new limits. The first error is
    /// returned; a service that cannot start with its new settings is started with the
    /// old ones again.
    async fn apply_live(&mut self, change: &super::settings::Change) -> Option<anyhow::Error> {
        let (old, new) = (&self.settings.config, &change.config);
        let lan = old.datapath.lan_interface.clone();
        let mut failed = None;
        let dns = change.live.contains("dns");
        if dns {
            if let Some(d) = self.services.dns.take() {
                d.stop.cancel();
                let _ = d.done.await;
            }
            self.shared.dns_stats.store(None);
            if new.dns.is_none()
                && let Err(e) = crate::bypass::remove().await
            {
                tracing::warn!("removing the bypass rules: {e}");
            }
            let (new_dns, lan, shared) = (&new.dns, &lan, &self.shared);
            let started = again(|| async move {
                match new_dns {
                    Some(d) => start_dns_service(d, lan, shared).await.map(Some),
                    None => Ok(None),
                }
            })
            .await;
            self.services.dns = match started {
                Ok(s) => s,
                Err(e) => {
                    failed = Some(e.context("[dns]"));
                    match &old.dns {
                        Some(d) => start_dns_service(d, lan, shared)
                            .await
                            .inspect_err(|e| error!("the DNS filter could not start again: {e:#}"))
                            .ok(),
                        None => None,
                    }
                }
            };
        }
        if dns || change.live.contains("block_page") {
            if let Some(t) = self.services.block_page.take() {
                t.cancel();
            }
            let shared = &self.shared;
            let (token, page_on) = match again(|| start_block_page(new, shared)).await {
                Ok(s) => s,
                Err(e) => {
                    failed.get_or_insert(e.context("[block_page]"));
                    start_block_page(old, shared).await.unwrap_or_default()
                }
            };
            self.services.block_page = token;
            self.tick.release_held();
            self.tick.held = super::devices::HeldPage::new(held_rules(&lan, page_on));
        }
        if change.live.contains("api") {
            if let Some(t) = self.services.api.take() {
                t.cancel();
            }
            let (pin, dir, shared) = (&old.datapath.pin_dir, &old.storage.dir, &self.shared);
            let start = async |a: Option<&crate::api::ApiConfig>| match a {
                Some(a) => start_api(a, pin, dir, shared).await.map(Some),
                None => Ok(None),
            };
            self.services.api = match again(|| start(new.api.as_ref())).await {
                Ok(t) => t,
                Err(e) => {
                    failed.get_or_insert(e.context("[api]"));
                    start(old.api.as_ref()).await.ok().flatten()
                }
            };
        }
        self.tick.retention = new.storage.retention();
        if new.storage.flow_interval_s != old.storage.flow_interval_s {
            self.tick.flows_every = Every::after(
                Duration::from_secs(new.storage.flow_interval_s.max(1)),
                std::time::Instant::now(),
            );
        }
        self.tick
            .devices
            .set_forget_after(new.devices.forget_after_s);
        failed
    }

    pub fn tick(&mut self) {
        let p = self.policy.load_full();
        self.tick.run(&p, self.clock.now());
    }

    pub async fn stop(mut self) {
        // The last count before the programs detach: nothing counted since the last tick
        // is lost (the marks make the next start continue from exactly here).
        let p = self.policy.load_full();
        self.tick.count(&p, self.clock.now(), true);
        self.tick.release_held();
        self.services.stop().await;
        self.store.sync();
        if crate::datapath::links::pinnable() {
            info!(
                "shutting down: the datapath stays attached (pinned links) and keeps counting and blocking; `officegate detach` takes it off"
            );
        } else {
            info!("shutting down: detaching the datapath (pinned maps and their counters stay)");
        }
        drop(self.datapath);
    }
}

/// Where held devices' HTTP is led: the block page's port-80 addresses (none: held
/// devices are only refused).
pub(super) fn held_rules(
    lan: &str,
    page_on: Vec<std::net::SocketAddr>,
) -> Option<crate::held::Rules> {
    (!page_on.is_empty()).then(|| crate::held::Rules {
        lan: lan.to_string(),
        page: page_on,
    })
}

/// With the API on and no user yet, creates `admin` with a random password and prints it
/// once, so a fresh install can be logged into without a shell (`officegate user passwd`
/// changes it). Failing here is logged, never fatal: the bearer token still works.
fn first_admin(dir: &Path) {
    let made = (|| -> anyhow::Result<Option<String>> {
        let conn = crate::auth::open(dir)?;
        if !crate::auth::users(&conn)?.is_empty() {
            return Ok(None);
        }
        let password: String = crate::auth::random_token().chars().take(20).collect();
        let now = crate::store::now_ms();
        crate::auth::add_user(
            &conn,
            "admin",
            &password,
            crate::auth::Role::Admin,
            None,
            now,
        )?;
        crate::auth::record(
            &conn,
            &crate::auth::Action {
                at_ms: now,
                actor: "first-start".into(),
                action: "user_add".into(),
                subject: "admin".into(),
                details: serde_json::json!({"role": "admin"}),
            },
        )?;
        Ok(Some(password))
    })();
    match made {
        Ok(Some(password)) => tracing::warn!(
            "no users yet: created user `admin` with password `{password}` (shown once; change it with `officegate user passwd admin`)"
        ),
        Ok(None) => {}
        Err(e) => error!("could not create the first admin: {e:#}"),
    }
}
