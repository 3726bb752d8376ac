//! `officegate run`: the daemon's life. Load the datapath (reusing pinned maps, so
//! counters continue), load the policy from the configuration's directory, apply its plan,
//! attach to the LAN interface (and the WAN interfaces, whose channels the `wan` monitor
//! then watches and switches between); then keep the plan current — every second
//! (schedules and timed blocks move with the clock, newly answered addresses of blocked
//! names must reach the datapath) and at once on SIGHUP (policy files changed) — until
//! SIGINT/SIGTERM, and detach.
//!
//! A policy that fails to load is logged with every error and the previous one stays in
//! force: a typo never opens or closes the office's internet.
//!
//! File changes are noticed by comparing modification times on the same one-second tick
//! rather than through inotify (the `notify` crate): the tick exists anyway for the clock,
//! it sees editors' write-and-rename the same as in-place writes, and it needs no thread.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use arc_swap::ArcSwap;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};

use crate::{
    config::Config,
    datapath::{Datapath, LoadOptions, Maps, Plan, interface_addrs},
    policy::{self, Policy},
};

/// How often the plan is recomputed: schedules and timed blocks move with the clock, and
/// newly answered addresses of blocked names must reach the datapath within a second.
/// Cheap when nothing changed: name verdicts are memoised (`PlanMemo`) and only a changed
/// plan is written.
const REPLAN_EVERY: Duration = Duration::from_secs(1);
/// How often names of `resolve` lists are resolved again (also after every reload).
const RESOLVE_EVERY: Duration = Duration::from_secs(600);
/// Answered names remembered for the plan, and for how long.
const ANSWERED_NAMES: u64 = 65_536;
const ANSWERED_KEEP: Duration = Duration::from_secs(3600);
/// How often the plan reads newly answered names (a policy change reads them at once).
const ANSWERED_REREAD: Duration = Duration::from_secs(5);

/// Names per (PC, address) remembered for site attribution, and for how long unused.
const LOOKUPS: u64 = 1_000_000;
const LOOKUPS_KEEP: Duration = Duration::from_secs(6 * 3600);
/// How often rows past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The policy zone's offset from UTC at `now`, in minutes (daily statistics rows).
fn zone_offset_min(p: &Policy, now: jiff::Timestamp) -> i64 {
    now.to_zoned_datetime(p.time_zone().clone())
        .offset()
        .seconds() as i64
        / 60
}

pub async fn run(config_path: &Path, clock: crate::clock::Clock) -> anyhow::Result<()> {
    if !clock.is_real() {
        tracing::warn!(now = %clock.now(), "policy clock set by --clock-start (tests and demos only)");
    }
    let answered = crate::dns::Answered::new(ANSWERED_NAMES, ANSWERED_KEEP);
    let mut memo = crate::policy::PlanMemo::default();
    let config = Config::load(config_path)?;
    let policy_dir = policy_dir_of(config_path);
    let list_cache = config.storage.dir.join("lists");
    let compiled = policy::ListCache::default();
    let (policy, watched, urls) = load_policy(&policy_dir, &list_cache, &compiled)
        .context("the policy must be valid at start")?;
    let (urls_tx, urls_rx) = tokio::sync::watch::channel(urls);
    tokio::spawn(crate::lists::keep_fresh(urls_rx));
    let mut source = Source {
        dir: policy_dir.clone(),
        cache: list_cache,
        compiled,
        watched,
        urls: urls_tx,
    };
    // Shared with the DNS filter: a reload swaps it whole, queries in flight keep the one
    // they started with.
    let policy = Arc::new(ArcSwap::from_pointee(policy));
    let dp_cfg = &config.datapath;
    let mut dp = Datapath::load(&LoadOptions {
        pin_dir: dp_cfg.pin_dir.clone(),
        flow_cache: true,
    })
    .context("loading the datapath")?;
    let mut maps = dp.maps()?;
    let gw_addrs = interface_addrs(&dp_cfg.lan_interface);
    let store = crate::store::Store::open(&config.storage.dir)?;
    let store = match &config.alerts {
        Some(a) => store.with_alerts(crate::alerts::Alerts::start(a)),
        None => store,
    };
    if config.api.is_some() {
        first_admin(&config.storage.dir);
    }
    let mut usage = crate::usage::Usage::load(
        store.clone(),
        &clock
            .now()
            .to_zoned_datetime(policy.load().time_zone().clone()),
    );
    let mut over = std::collections::HashMap::new();
    let names = crate::pcnames::PcNames::new(&config.names);
    // Sites: names for flows from DNS answers (rebuilt from the log's last hours after a
    // restart) and from the opening packets the datapath hands over.
    let lookups = crate::sites::Lookups::new(LOOKUPS, LOOKUPS_KEEP);
    if let Ok(conn) = crate::store::open_read(&config.storage.dir) {
        let since = crate::store::now_ms() - LOOKUPS_KEEP.as_millis() as i64;
        let n = lookups.load_from_log(&conn, since);
        tracing::debug!(answers = n, "names per PC reloaded from the query log");
    }
    let (sniff_tx, sniff_rx) = tokio::sync::mpsc::channel(4096);
    let sniffer_token = tokio_util::sync::CancellationToken::new();
    {
        let (pin, token) = (dp_cfg.pin_dir.clone(), sniffer_token.clone());
        tokio::spawn(async move {
            if let Err(e) = crate::sites::sniffer(pin, sniff_tx, token).await {
                error!("site names from opening packets unavailable: {e:#}");
            }
        });
    }
    let mut flows = crate::sites::Collector::load(store.clone(), lookups.clone(), sniff_rx);
    let flow_every = Duration::from_secs(config.storage.flow_interval_s.max(1));
    let mut flows_at = std::time::Instant::now();
    let mut pruned_at = None::<std::time::Instant>;
    // (names answered, their generation, when read, the policy they were read for)
    let mut snapshot = (
        answered.snapshot(),
        answered.generation(),
        std::time::Instant::now(),
        policy.load_full(),
    );
    let mut applied =
        policy
            .load()
            .datapath_plan(clock.now(), &answered.snapshot(), &mut memo, &|_| false);
    apply(&mut maps, &applied, &gw_addrs)?;
    dp.attach_lan(&dp_cfg.lan_interface, dp_cfg.xdp_mode)?;
    let (failback_tx, failback_rx) = tokio::sync::mpsc::channel(4);
    let wan = match &config.wan {
        Some(w) => {
            for c in &w.channels {
                dp.attach_wan(&c.interface)?;
            }
            let monitor = crate::wan::Monitor::new(
                w.clone(),
                store.clone(),
                config.storage.dir.clone(),
                dp.maps().ok(),
            )
            .await
            .context("starting the WAN monitor")?;
            let token = tokio_util::sync::CancellationToken::new();
            let handle = tokio::spawn(monitor.run(token.clone(), failback_rx));
            info!(channels = w.channels.len(), "WAN monitor started");
            Some((token, handle))
        }
        None => None,
    };
    let dns = match &config.dns {
        Some(d) => {
            let settings = Extras {
                store: store.clone(),
                answered: answered.clone(),
                lookups: lookups.clone(),
                clock,
            };
            let h = start_dns(d, &dp_cfg.lan_interface, policy.clone(), settings).await?;
            let resolve_now = Arc::new(tokio::sync::Notify::new());
            tokio::spawn(resolve_lists(
                h.resolver.clone(),
                policy.clone(),
                resolve_now.clone(),
            ));
            Some((h.token, resolve_now, h.stats, h.done))
        }
        None => None,
    };
    info!(
        interface = %dp_cfg.lan_interface,
        pin_dir = %dp_cfg.pin_dir.display(),
        policy = %policy_dir.display(),
        pcs = applied.pcs.len(),
        blocked = applied.blocked.len(),
        "datapath attached"
    );
    // The block page, where blocked names lead (only useful with the DNS filter).
    let page = match (&config.dns, &config.block_page) {
        (Some(_), bp) if bp.enabled => {
            let listen = if bp.listen.is_empty() {
                crate::datapath::interface_nets(&dp_cfg.lan_interface)
                    .into_iter()
                    .filter(|(a, _)| match a {
                        IpAddr::V4(_) => true,
                        IpAddr::V6(v6) => !v6.is_unicast_link_local(),
                    })
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
            Some(t)
        }
        _ => None,
    };
    let api = match &config.api {
        Some(a) => {
            let state = crate::api::ApiState {
                token: a.token.clone(),
                pin_dir: dp_cfg.pin_dir.clone(),
                storage_dir: config.storage.dir.clone(),
                policy: policy.clone(),
                dns: dns.as_ref().map(|(_, _, s, _)| s.clone()),
                names: names.clone(),
                policy_dir: policy_dir.clone(),
                clock,
                tls: false,
            };
            let t = crate::api::serve(a, state).await?;
            info!(listen = ?a.listen, "API listening");
            Some(t)
        }
        None => None,
    };
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut tick = tokio::time::interval(REPLAN_EVERY);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                if source.reload(&policy, &store, "SIGHUP")
                    && let Some((_, r, _, _)) = &dns
                {
                    r.notify_one();
                }
            }
            // Manual failback (`failback = "manual"`): back to the best channel now.
            _ = usr1.recv() => { let _ = failback_tx.try_send(()); }
            _ = tick.tick() => {
                if source.watched.changed()
                    && source.reload(&policy, &store, "files changed")
                    && let Some((_, r, _, _)) = &dns
                {
                    r.notify_one();
                }
            }
        }
        let p = policy.load();
        let now = clock.now();
        names.refresh();
        usage.update(
            &maps.pcs(),
            &p,
            &names,
            &now.to_zoned_datetime(p.time_zone().clone()),
        );
        if flows_at.elapsed() >= flow_every {
            flows_at = std::time::Instant::now();
            flows.collect(
                &maps.flows(),
                &p,
                &names,
                &gw_addrs,
                zone_offset_min(&p, now),
            );
        }
        if pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            pruned_at = Some(std::time::Instant::now());
            store.prune(config.storage.retention());
        }
        let now_over = p.over_limits(&|i| usage.of(&p.pcs()[i].name));
        report_limits(&store, &p, &over, &now_over);
        over = now_over;
        // The answered set changes with nearly every new name on a busy gateway; it is
        // read again every few seconds, or at once when the policy changed.
        if snapshot.1 != answered.generation()
            && (snapshot.2.elapsed() >= ANSWERED_REREAD || !Arc::ptr_eq(&p, &snapshot.3))
        {
            snapshot = (
                answered.snapshot(),
                answered.generation(),
                std::time::Instant::now(),
                p.clone(),
            );
        }
        let plan = p.datapath_plan(now, &snapshot.0, &mut memo, &|i| over.contains_key(&i));
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
    // The last count before the programs detach: nothing counted since the last tick is
    // lost (the marks make the next start continue from exactly here).
    {
        let p = policy.load();
        usage.update(
            &maps.pcs(),
            &p,
            &names,
            &clock.now().to_zoned_datetime(p.time_zone().clone()),
        );
        flows.collect(
            &maps.flows(),
            &p,
            &names,
            &gw_addrs,
            zone_offset_min(&p, clock.now()),
        );
    }
    sniffer_token.cancel();
    // The filter's last query-log records (repeats still counting) are queued before
    // the store's final sync below.
    if let Some((token, _, _, done)) = dns {
        token.cancel();
        let _ = done.await;
    }
    for t in [&api, &page].into_iter().flatten() {
        t.cancel();
    }
    if let Some((token, handle)) = wan {
        token.cancel();
        let _ = handle.await;
    }
    store.sync();
    info!("shutting down: detaching the datapath (pinned maps and their counters stay)");
    drop(dp);
    Ok(())
}

/// Starts the DNS filter: by default on the LAN interface's addresses, for its networks,
/// with the block page at its first IPv4 and first non-link-local IPv6 address.
async fn start_dns(
    cfg: &crate::config::DnsConfig,
    lan: &str,
    policy: Arc<ArcSwap<Policy>>,
    extras: Extras,
) -> anyhow::Result<crate::dns::DnsHandle> {
    let nets = crate::datapath::interface_nets(lan);
    let usable = |a: &IpAddr| match a {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => !v6.is_unicast_link_local(),
    };
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
            .filter_map(|n| crate::config::parse_net(n).ok())
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

/// The policy lives beside the daemon's configuration file.
fn policy_dir_of(config_path: &Path) -> PathBuf {
    match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn load_policy(
    dir: &Path,
    cache: &Path,
    compiled: &policy::ListCache,
) -> anyhow::Result<(Policy, Watched, Vec<policy::UrlSource>)> {
    let started = std::time::Instant::now();
    let (policy, report) = policy::load_dir_with(dir, Some(cache), Some(compiled))
        .map_err(|errors| anyhow::anyhow!(policy::render(&errors)))?;
    compiled.retain(
        &report
            .files
            .iter()
            .map(|(f, _)| f.clone())
            .collect::<Vec<_>>(),
    );
    info!(
        ms = started.elapsed().as_millis() as u64,
        rules = report.files.iter().map(|(_, s)| s.accepted).sum::<usize>(),
        "policy loaded"
    );
    // The downloaded copies of URL lists are among the files: a fresh download is noticed
    // like an edit and reloads the policy.
    let mut files = vec![dir.join(policy::POLICY_FILE)];
    files.extend(report.files.into_iter().map(|(f, _)| f));
    files.extend(report.urls.iter().map(|u| u.copy.clone()));
    Ok((policy, Watched::new(files), report.urls))
}

/// Where the policy comes from, and what was last seen of it.
struct Source {
    dir: PathBuf,
    /// Downloaded copies of URL lists.
    cache: PathBuf,
    /// List files compiled by the last load, reused while unchanged.
    compiled: policy::ListCache,
    watched: Watched,
    /// The URL lists of the policy in force, for the downloader.
    urls: tokio::sync::watch::Sender<Vec<policy::UrlSource>>,
}

impl Source {
    /// Loads the policy again; whether a new one is in force.
    /// Loads the policy again; a broken one leaves the old in force. Either way an event
    /// says so (the UI shows the last reload's errors).
    fn reload(&mut self, policy: &ArcSwap<Policy>, store: &crate::store::Store, why: &str) -> bool {
        let event = |kind: &str, message: String| crate::store::Event {
            at_ms: crate::store::now_ms(),
            source: "policy".into(),
            kind: kind.into(),
            subject: self.dir.display().to_string(),
            message,
            details: serde_json::json!({ "why": why }),
        };
        match load_policy(&self.dir, &self.cache, &self.compiled) {
            Ok((p, w, urls)) => {
                info!(policy = %self.dir.display(), why, "policy reloaded");
                store.event(event("reloaded", format!("policy reloaded ({why})")));
                policy.store(Arc::new(p));
                self.watched = w;
                self.urls.send_if_modified(|u| {
                    let changed = *u != urls;
                    *u = urls;
                    changed
                });
                true
            }
            Err(e) => {
                // Remember what the broken files look like, so they are not reloaded (and
                // logged) again every tick; the next edit is noticed.
                self.watched.refresh();
                error!(
                    why,
                    "policy reload failed, the previous policy stays in force:\n{e:#}"
                );
                store.event(event("reload_failed", format!("{e:#}")));
                false
            }
        }
    }
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

/// Logs and records PCs going over a traffic limit, and coming back under it (a new day
/// or month, or a raised limit).
fn report_limits(
    store: &crate::store::Store,
    policy: &Policy,
    before: &std::collections::HashMap<usize, String>,
    now: &std::collections::HashMap<usize, String>,
) {
    let event = |kind: &str, pc: usize, message: String| {
        store.event(crate::store::Event {
            at_ms: crate::store::now_ms(),
            source: "limits".into(),
            kind: kind.into(),
            subject: policy.pcs()[pc].name.clone(),
            message,
            details: serde_json::json!({}),
        });
    };
    for (pc, why) in now {
        if !before.contains_key(pc) {
            let msg = format!(
                "{} is over its traffic limit: {why}",
                policy.pcs()[*pc].name
            );
            tracing::warn!("{msg}");
            event("over_limit", *pc, msg);
        }
    }
    for pc in before.keys() {
        if !now.contains_key(pc) && *pc < policy.pcs().len() {
            let msg = format!(
                "{} is back under its traffic limits",
                policy.pcs()[*pc].name
            );
            info!("{msg}");
            event("under_limit", *pc, msg);
        }
    }
}

/// What the DNS filter shares with the rest of the daemon.
struct Extras {
    store: crate::store::Store,
    answered: crate::dns::Answered,
    lookups: crate::sites::Lookups,
    clock: crate::clock::Clock,
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
