//! Starting and stopping: the datapath (reusing pinned maps, so counters continue), the
//! policy and its plan, the store, then the services — the WAN monitor, the DNS filter,
//! the block page, the API — each a named field of `Services`, stopped in the order
//! `Services::stop` states.

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::{
    source::{Source, policy_dir_of},
    tick::{Every, PRUNE_EVERY, Tick, apply},
};
use crate::{
    config::Config,
    datapath::{Datapath, LoadOptions, interface_nets},
    policy::Policy,
    store::Store,
};

/// How often names of `resolve` lists are resolved again (also after every reload).
const RESOLVE_EVERY: Duration = Duration::from_secs(600);
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
    /// Dropping it detaches the programs (pinned maps and their counters stay).
    datapath: Datapath,
    tick: Tick,
    pub services: Services,
}

/// The DNS filter's handle.
pub struct DnsService {
    stop: CancellationToken,
    /// Wakes the resolver of `resolve` lists (after a reload).
    resolve_now: Arc<tokio::sync::Notify>,
    /// Resolves when the filter has queued its last query-log records.
    done: tokio::task::JoinHandle<()>,
}

pub struct WanService {
    stop: CancellationToken,
    monitor: tokio::task::JoinHandle<()>,
    /// Manual failback requests (SIGUSR1).
    failback: tokio::sync::mpsc::Sender<()>,
}

/// Everything started beside the datapath, each `None` when its section is off.
pub struct Services {
    /// Reads the opening packets of web connections (site names).
    sniffer: CancellationToken,
    dns: Option<DnsService>,
    wan: Option<WanService>,
    block_page: Option<CancellationToken>,
    api: Option<CancellationToken>,
}

impl Services {
    pub fn failback(&self) {
        if let Some(w) = &self.wan {
            let _ = w.failback.try_send(());
        }
    }

    /// Stops in an order that loses nothing: the sniffer; the DNS filter, awaited, so its
    /// last query-log records (repeats still counting) are queued before the store's
    /// final sync; the block page and the API; the WAN monitor, awaited.
    async fn stop(self) {
        self.sniffer.cancel();
        if let Some(d) = self.dns {
            d.stop.cancel();
            let _ = d.done.await;
        }
        for t in [&self.api, &self.block_page].into_iter().flatten() {
            t.cancel();
        }
        if let Some(w) = self.wan {
            w.stop.cancel();
            let _ = w.monitor.await;
        }
    }
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
        let (sniff_tx, sniff_rx) = tokio::sync::mpsc::channel(4096);
        let sniffer = CancellationToken::new();
        {
            let (pin, token) = (dp_cfg.pin_dir.clone(), sniffer.clone());
            tokio::spawn(async move {
                if let Err(e) = crate::sites::sniffer(pin, sniff_tx, token).await {
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
        datapath.attach_lan(&dp_cfg.lan_interface, dp_cfg.xdp_mode)?;
        let wan = match &config.wan {
            Some(w) => {
                for c in &w.channels {
                    datapath.attach_wan(&c.interface)?;
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
        let (dns, dns_stats) = match &config.dns {
            Some(d) => {
                let extras = Extras {
                    store: store.clone(),
                    answered: answered.clone(),
                    lookups: lookups.clone(),
                    clock,
                };
                let h = start_dns(d, &dp_cfg.lan_interface, policy.clone(), extras).await?;
                let resolve_now = Arc::new(tokio::sync::Notify::new());
                tokio::spawn(resolve_lists(
                    h.resolver.clone(),
                    policy.clone(),
                    resolve_now.clone(),
                ));
                let service = DnsService {
                    stop: h.token,
                    resolve_now,
                    done: h.done,
                };
                (Some(service), Some(h.stats))
            }
            None => (None, None),
        };
        info!(
            interface = %dp_cfg.lan_interface,
            pin_dir = %dp_cfg.pin_dir.display(),
            policy = %source.dir().display(),
            pcs = applied.pcs.len(),
            blocked = applied.blocked.len(),
            "datapath attached"
        );
        let block_page = start_block_page(&config, &policy, &store, clock).await?;
        let api = match &config.api {
            Some(a) => {
                let state = crate::api::ApiState {
                    token: a.token.clone(),
                    pin_dir: dp_cfg.pin_dir.clone(),
                    storage_dir: config.storage.dir.clone(),
                    policy: policy.clone(),
                    dns: dns_stats,
                    names: names.clone(),
                    policy_dir: source.dir().to_path_buf(),
                    clock,
                    tls: false,
                };
                let t = crate::api::serve(a, state).await?;
                info!(listen = ?a.listen, "API listening");
                Some(t)
            }
            None => None,
        };
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
        };
        Ok(Daemon {
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

    pub fn tick(&mut self) {
        let p = self.policy.load_full();
        self.tick.run(&p, self.clock.now());
    }

    pub async fn stop(mut self) {
        // The last count before the programs detach: nothing counted since the last tick
        // is lost (the marks make the next start continue from exactly here).
        let p = self.policy.load_full();
        self.tick.count(&p, self.clock.now(), true);
        self.services.stop().await;
        self.store.sync();
        info!("shutting down: detaching the datapath (pinned maps and their counters stay)");
        drop(self.datapath);
    }
}

/// What the DNS filter shares with the rest of the daemon.
struct Extras {
    store: Store,
    answered: crate::dns::Answered,
    lookups: crate::sites::Lookups,
    clock: crate::clock::Clock,
}

/// Starts the DNS filter: by default on the LAN interface's addresses, for its networks,
/// with the block page at its first IPv4 and first non-link-local IPv6 address.
async fn start_dns(
    cfg: &crate::config::DnsConfig,
    lan: &str,
    policy: Arc<ArcSwap<Policy>>,
    extras: Extras,
) -> anyhow::Result<crate::dns::DnsHandle> {
    let nets = interface_nets(lan);
    let listen = if cfg.listen.is_empty() {
        nets.iter()
            .filter(|(a, _)| usable(a))
            .map(|(a, _)| SocketAddr::new(*a, 53))
            .collect()
    } else {
        cfg.listen.clone()
    };
    let allow = if cfg.allow.is_empty() {
        nets.iter().map(|(a, p)| (*a, *p)).collect()
    } else {
        cfg.allow
            .iter()
            .filter_map(|n| crate::parse::parse_net(n).ok())
            .collect()
    };
    let page_v4 = nets.iter().find_map(|(a, _)| match a {
        IpAddr::V4(v4) => Some(*v4),
        _ => None,
    });
    let page_v6 = nets.iter().find_map(|(a, _)| match a {
        IpAddr::V6(v6) if !v6.is_unicast_link_local() => Some(*v6),
        _ => None,
    });
    let upstreams = cfg.upstream_specs().map_err(anyhow::Error::msg)?;
    let tls = crate::dns::tls_config(cfg.ca_file.as_deref()).map_err(anyhow::Error::msg)?;
    let settings = crate::dns::DnsSettings {
        listen: listen.clone(),
        upstreams,
        tls,
        allow,
        page_v4,
        page_v6,
        log: Some(extras.store),
        answered: extras.answered,
        lookups: Some(extras.lookups),
        clock: extras.clock,
        cache_entries: cfg.cache_entries,
        rate_limit_qps: cfg.rate_limit_qps,
        rate_limit_burst: cfg.rate_limit_burst,
        rebinding_protection: cfg.rebinding_protection,
        rebinding_allow: cfg.rebinding_allow.clone(),
    };
    let handle = crate::dns::serve(settings, policy).await?;
    info!(listen = ?listen, upstreams = ?cfg.upstreams, "DNS filter listening");
    Ok(handle)
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

/// An address services listen on by default: IPv4, or IPv6 that is not link-local.
fn usable(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => !v6.is_unicast_link_local(),
    }
}

/// The block page, where blocked names lead (only useful with the DNS filter).
async fn start_block_page(
    config: &Config,
    policy: &Arc<ArcSwap<Policy>>,
    store: &Store,
    clock: crate::clock::Clock,
) -> anyhow::Result<Option<CancellationToken>> {
    let bp = &config.block_page;
    if config.dns.is_none() || !bp.enabled {
        return Ok(None);
    }
    let listen = if bp.listen.is_empty() {
        interface_nets(&config.datapath.lan_interface)
            .into_iter()
            .filter(|(a, _)| usable(a))
            .map(|(a, _)| SocketAddr::new(a, 80))
            .collect()
    } else {
        bp.listen.clone()
    };
    let state = crate::blockpage::PageState {
        policy: policy.clone(),
        store: store.clone(),
        storage_dir: config.storage.dir.clone(),
        clock,
        contact: bp.contact.clone(),
        db: Default::default(),
    };
    let minter = match (&bp.ca_cert, &bp.ca_key) {
        (Some(c), Some(k)) => Some(crate::blockpage::tls::Minter::load(c, k)?),
        (None, None) => None,
        _ => anyhow::bail!("[block_page] needs both ca_cert and ca_key, or neither"),
    };
    let t = crate::blockpage::serve(&listen, minter, state).await?;
    info!(listen = ?listen, "block page listening");
    Ok(Some(t))
}

/// Resolves the names of `resolve` lists now, every `RESOLVE_EVERY`, and when `now` is
/// notified (a reload); the answers land in the answered set, hence in the next plan.
async fn resolve_lists(
    resolver: crate::dns::Resolver,
    policy: Arc<ArcSwap<Policy>>,
    now: Arc<tokio::sync::Notify>,
) {
    use futures_util::StreamExt;
    loop {
        let names = policy.load().names_to_resolve();
        if !names.is_empty() {
            let started = std::time::Instant::now();
            let found: usize = futures_util::stream::iter(names.clone())
                .map(|n| {
                    let r = resolver.clone();
                    async move { r.resolve(&n).await.len() }
                })
                .buffer_unordered(16)
                .collect::<Vec<usize>>()
                .await
                .into_iter()
                .sum();
            info!(
                names = names.len(),
                addresses = found,
                ms = started.elapsed().as_millis() as u64,
                "resolved the names of `resolve` lists"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(RESOLVE_EVERY) => {}
            _ = now.notified() => {}
        }
    }
}
