//! The services started beside the datapath, each a named field of `Services`, and how
//! each is started: the DNS filter (and the resolver of `resolve` lists), the block page.
//! `Services::stop` states the order they stop in.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio_util::sync::CancellationToken;
use tracing::info;

use anyhow::Context;

use crate::{
    config::{Config, Intercept},
    datapath::interface_nets,
    policy::Policy,
    store::Store,
};

/// How often names of `resolve` lists are resolved again (also after every reload).
const RESOLVE_EVERY: Duration = Duration::from_secs(600);

/// The DNS filter's handle.
pub struct DnsService {
    pub stop: CancellationToken,
    /// Wakes the resolver of `resolve` lists (after a reload).
    pub resolve_now: Arc<tokio::sync::Notify>,
    /// Resolves when the filter has queued its last query-log records.
    pub done: tokio::task::JoinHandle<()>,
}

pub struct WanService {
    pub stop: CancellationToken,
    pub monitor: tokio::task::JoinHandle<()>,
    /// Manual failback requests (SIGUSR1).
    pub failback: tokio::sync::mpsc::Sender<()>,
}

/// Everything started beside the datapath, each `None` when its section is off.
pub struct Services {
    /// Reads the opening packets of web connections (site names).
    pub sniffer: CancellationToken,
    pub dns: Option<DnsService>,
    pub wan: Option<WanService>,
    pub block_page: Option<CancellationToken>,
    pub api: Option<CancellationToken>,
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
    pub async fn stop(self) {
        self.sniffer.cancel();
        if let Some(d) = self.dns {
            d.stop.cancel();
            let _ = d.done.await;
            // The bypass rules stay: while the daemon is down (an upgrade, a restart) the
            // programs stay attached and DNS fails closed — queries to other resolvers
            // are still led to the gateway, where nothing answers them. `officegate
            // detach` removes them with the programs.
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

/// What the services share with the rest of the daemon, cloned into each (re)start: a
/// settings change restarts a service with the same shared state.
#[derive(Clone)]
pub struct Shared {
    pub policy: Arc<ArcSwap<Policy>>,
    pub store: Store,
    pub answered: crate::dns::Answered,
    pub lookups: crate::sites::Lookups,
    pub clock: crate::clock::Clock,
    pub names: crate::pcnames::PcNames,
    /// The policy directory, where the API writes changes (`office.toml`).
    pub policy_dir: PathBuf,
    /// PCs over a limit, for the block page.
    pub over_page: crate::blockpage::Over,
    /// The running DNS filter's counters, for the API's `/metrics`.
    pub dns_stats: Arc<ArcSwapOption<crate::dns::DnsStats>>,
    /// Which device sent from which address, as the datapath met them (the tick
    /// publishes it): the DNS rate limit counts per device.
    pub devices: crate::dns::DeviceMap,
}

/// Starts a service again and again for a few seconds while it fails: a restarted
/// service binds the addresses its predecessor, just stopped, may still hold for a
/// moment (axum lets go of its listener once its task sees the cancellation).
pub async fn again<T, F, Fut>(start: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    use backon::Retryable as _;
    start
        .retry(
            backon::ConstantBuilder::default()
                .with_delay(Duration::from_millis(100))
                .with_max_times(30),
        )
        .await
}

/// Starts the DNS filter and the resolver of `resolve` lists, which stops with it.
pub async fn start_dns_service(
    cfg: &crate::config::DnsConfig,
    lan: &str,
    shared: &Shared,
) -> anyhow::Result<DnsService> {
    let h = start_dns(cfg, lan, shared).await?;
    let resolve_now = Arc::new(tokio::sync::Notify::new());
    let (resolver, policy, now, stop) = (
        h.resolver.clone(),
        shared.policy.clone(),
        resolve_now.clone(),
        h.token.clone(),
    );
    tokio::spawn(async move {
        tokio::select! {
            _ = resolve_lists(resolver, policy, now) => {}
            _ = stop.cancelled() => {}
        }
    });
    shared.dns_stats.store(Some(h.stats));
    Ok(DnsService {
        stop: h.token,
        resolve_now,
        done: h.done,
    })
}

/// The admin API.
pub async fn start_api(
    a: &crate::api::ApiConfig,
    pin_dir: &Path,
    storage_dir: &Path,
    shared: &Shared,
) -> anyhow::Result<CancellationToken> {
    let state = crate::api::ApiState {
        token: a.token.clone(),
        pin_dir: pin_dir.to_path_buf(),
        storage_dir: storage_dir.to_path_buf(),
        policy: shared.policy.clone(),
        dns: shared.dns_stats.clone(),
        names: shared.names.clone(),
        policy_dir: shared.policy_dir.clone(),
        clock: shared.clock,
        tls: false,
        logins: Default::default(),
        store_dropped: shared.store.dropped_counter(),
    };
    let t = crate::api::serve(a, state).await?;
    info!(listen = ?a.listen, "API listening");
    Ok(t)
}

/// Starts the DNS filter: by default on the LAN interface's addresses, for its networks,
/// with the block page at its first IPv4 and first non-link-local IPv6 address.
async fn start_dns(
    cfg: &crate::config::DnsConfig,
    lan: &str,
    shared: &Shared,
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
    let allow: Vec<(IpAddr, u8)> = if cfg.allow.is_empty() {
        nets.iter().map(|(a, p)| (*a, *p)).collect()
    } else {
        cfg.allow
            .iter()
            .filter_map(|n| crate::parse::parse_net(n).ok())
            .collect()
    };
    // The LAN's networks and those allowed to ask: the office's own.
    let own_networks: Vec<(IpAddr, u8)> = nets
        .iter()
        .map(|(a, p)| (*a, *p))
        .chain(allow.iter().copied())
        .collect();
    let page_v4 = nets.iter().find_map(|(a, _)| match a {
        IpAddr::V4(v4) => Some(*v4),
        _ => None,
    });
    let page_v6 = nets.iter().find_map(|(a, _)| match a {
        IpAddr::V6(v6) if !v6.is_unicast_link_local() => Some(*v6),
        _ => None,
    });
    // The intercept listeners: the filter's own addresses, another port.
    let intercept_on: Vec<SocketAddr> = listen
        .iter()
        .map(|a| SocketAddr::new(a.ip(), cfg.intercept_port))
        .collect();
    let upstreams = cfg.upstream_specs().map_err(anyhow::Error::msg)?;
    let tls = crate::dns::tls_config(cfg.ca_file.as_deref()).map_err(anyhow::Error::msg)?;
    let settings = crate::dns::DnsSettings {
        listen: listen.clone(),
        upstreams,
        tls,
        allow,
        page_v4,
        page_v6,
        log: Some(shared.store.clone()),
        answered: shared.answered.clone(),
        lookups: Some(shared.lookups.clone()),
        clock: shared.clock,
        cache_entries: cfg.cache_entries,
        rate_limit_qps: cfg.rate_limit_qps,
        rate_limit_burst: cfg.rate_limit_burst,
        devices: Some(shared.devices.clone()),
        rebinding_protection: cfg.rebinding_protection,
        rebinding_allow: cfg.rebinding_allow.clone(),
        own_networks,
        intercept: (cfg.intercept != Intercept::Off).then(|| crate::dns::InterceptSettings {
            listen: intercept_on.clone(),
            refuse: cfg.intercept == Intercept::Refuse,
        }),
    };
    let handle = crate::dns::serve(settings, shared.policy.clone()).await?;
    info!(listen = ?listen, upstreams = ?cfg.upstreams, "DNS filter listening");
    // Only once the intercept listeners are up: a redirect to nothing would be refused.
    let rules = crate::bypass::Rules {
        lan: lan.to_string(),
        intercept: cfg.intercept,
        to: intercept_on,
        encrypted_dns: cfg.encrypted_dns,
    };
    crate::bypass::install(&rules)
        .await
        .context("writing the rules that keep PCs from going around the filter (nft)")?;
    info!(intercept = ?cfg.intercept, encrypted_dns = ?cfg.encrypted_dns, "bypass rules in place");
    Ok(handle)
}

/// The networks the LAN services are for: `[dns] allow`, else the LAN interface's.
fn served_nets(config: &Config) -> Vec<(IpAddr, u8)> {
    let allow = config
        .dns
        .as_ref()
        .map(|d| d.allow.as_slice())
        .unwrap_or(&[]);
    if allow.is_empty() {
        interface_nets(&config.datapath.lan_interface)
    } else {
        allow
            .iter()
            .filter_map(|n| crate::parse::parse_net(n).ok())
            .collect()
    }
}

/// An address services listen on by default: IPv4, or IPv6 that is not link-local.
fn usable(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => !v6.is_unicast_link_local(),
    }
}

/// The block page, where blocked names and held devices' HTTP lead (only useful with the
/// DNS filter). Also returns where it listens on port 80 (empty: it does not run).
pub async fn start_block_page(
    config: &Config,
    shared: &Shared,
) -> anyhow::Result<(Option<CancellationToken>, Vec<SocketAddr>)> {
    let bp = &config.block_page;
    if config.dns.is_none() || !bp.enabled {
        return Ok((None, Vec::new()));
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
        policy: shared.policy.clone(),
        store: shared.store.clone(),
        storage_dir: config.storage.dir.clone(),
        clock: shared.clock,
        contact: bp.contact.clone(),
        db: Default::default(),
        over: shared.over_page.clone(),
        allow: served_nets(config),
    };
    let minter = match (&bp.ca_cert, &bp.ca_key) {
        (Some(c), Some(k)) => Some(crate::blockpage::tls::Minter::load(c, k)?),
        (None, None) => None,
        _ => anyhow::bail!("[block_page] needs both ca_cert and ca_key, or neither"),
    };
    let t = crate::blockpage::serve(&listen, minter, state).await?;
    info!(listen = ?listen, "block page listening");
    let http = listen.into_iter().filter(|a| a.port() == 80).collect();
    Ok((Some(t), http))
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
