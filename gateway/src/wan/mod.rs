//! Internet channels and failover: probe every channel through itself, judge its health
//! with hysteresis (`health`), move the office to the best usable one (`route`), and tell
//! the story (log, SQLite events, the status file `officegate wan status` reads).
//!
//! Owns: probing, health, the main table's default route, per-channel tables and rules,
//! conntrack flushes on a switch. Must not: touch the LAN side or the policy.
//!
//! Timing (defaults): a round every 100 ms, probes time out at 300 ms, down after 3
//! unanswered rounds → a dead channel is noticed 0.5–0.6 s after it dies (sooner when the
//! datapath's passive signal already saw SYNs go unanswered). A link that loses carrier
//! is known from the kernel's rtnetlink link event as it happens (the carrier is also
//! polled each round, in case an event was missed), and the switch itself is a route
//! replace plus a conntrack flush (a few ms).

pub mod config;
pub mod health;
pub mod probe;
pub mod route;
pub mod status;

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::{
    datapath::Maps,
    store::{Event, Store, now_ms},
};
pub use config::{ChannelConfig, Failback, Probe, WanConfig};
use health::{Health, State, Thresholds};
use route::{ChannelRoute, Router};
use status::{ChannelStatus, WanStatus};

/// How often the status file is rewritten when nothing changes.
const STATUS_EVERY: Duration = Duration::from_secs(1);

struct Channel {
    cfg: ChannelConfig,
    route: ChannelRoute,
    prober: Arc<probe::Prober>,
    /// Its probe identifier (the prober is made again when its interface is).
    ident: u16,
    health: Health,
    ifindex: u32,
    /// Carrier as last read (`None`: not yet, or unreadable).
    carrier: Option<bool>,
    since_ms: i64,
}

/// How often every channel with carrier gets its routes and rules put back where they
/// are missing (the kernel drops a link's routes when it goes down; a PPPoE or LTE
/// interface comes back as a new one).
const RESTORE_EVERY: Duration = Duration::from_secs(5);

/// The kernel's link events, or none (polling only) when they cannot be had.
fn open_link_events() -> Option<route::LinkEvents> {
    route::LinkEvents::open()
        .map_err(|e| warn!("link events: {e}: carrier polled each round instead"))
        .ok()
}

/// The next link event; pending for ever without events (the select's other arms go on).
async fn next_link_event(links: &mut Option<route::LinkEvents>) -> Option<(u32, bool)> {
    match links {
        Some(l) => l.next().await,
        None => std::future::pending().await,
    }
}

pub struct Monitor {
    cfg: WanConfig,
    thresholds: Thresholds,
    channels: Vec<Channel>,
    router: Router,
    store: Store,
    status_dir: PathBuf,
    maps: Option<Maps>,
    active: Option<usize>,
    /// The last switch failed (its route could not be written): tried again each tick.
    switch_failed: bool,
    switches: u64,
    all_down_reported: bool,
    started: Instant,
}

impl Monitor {
    /// Prepares every channel's table and rules and opens its probe sockets. Must run
    /// inside the tokio runtime.
    pub async fn new(
        cfg: WanConfig,
        store: Store,
        status_dir: PathBuf,
        maps: Option<Maps>,
    ) -> anyhow::Result<Self> {
        let router = Router::new()?;
        let now = Instant::now();
        let mut channels = Vec::new();
        for (i, c) in cfg.channels.iter().enumerate() {
            let route = ChannelRoute {
                index: i,
                interface: c.interface.clone(),
                gateway: c.gateway,
                gateway6: c.gateway6,
                table: cfg.table_of(i),
            };
            // A channel whose routes cannot be written now (its link down, its next hop
            // not reachable yet) must not keep the daemon from starting: the office
            // runs on the others, and the restore round puts them back once it can.
            if let Err(e) = router.prepare(&route).await {
                warn!(channel = %c.name, "its routes cannot be set up now ({e}); tried again while the daemon runs");
            }
            let probes = c.probe_list().map_err(anyhow::Error::msg)?;
            // Identifiers differ per channel and per daemon, so replies are never confused.
            let ident = (std::process::id() as u16)
                .wrapping_mul(31)
                .wrapping_add(i as u16);
            let prober = probe::Prober::new(&c.interface, probes, ident)
                .map_err(|e| anyhow::anyhow!("channel `{}`: probe sockets: {e}", c.name))?;
            channels.push(Channel {
                ifindex: nix::net::if_::if_nametoindex(c.interface.as_str()).unwrap_or(0),
                cfg: c.clone(),
                route,
                prober: Arc::new(prober),
                ident,
                health: Health::new(now),
                carrier: None,
                since_ms: now_ms(),
            });
        }
        if cfg.nat {
            let ifs: Vec<String> = cfg.channels.iter().map(|c| c.interface.clone()).collect();
            route::ensure_nat(&ifs)
                .await
                .map_err(|e| anyhow::anyhow!("installing NAT on the channels: {e}"))?;
        }
        Ok(Monitor {
            thresholds: Thresholds::from(&cfg),
            cfg,
            channels,
            router,
            store,
            status_dir,
            maps,
            active: None,
            switch_failed: false,
            switches: 0,
            all_down_reported: false,
            started: now,
        })
    }

    /// Runs until `cancel`. A message on `failback` moves traffic to the best usable
    /// channel now (manual failback).
    pub async fn run(mut self, cancel: CancellationToken, mut failback: mpsc::Receiver<()>) {
        let (tx, mut rx) = mpsc::channel::<(usize, health::Round)>(1024);
        let mut tick = tokio::time::interval(self.cfg.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut status_tick = tokio::time::interval(STATUS_EVERY);
        let mut restore_tick = tokio::time::interval(RESTORE_EVERY);
        restore_tick.reset();
        let mut seq: u16 = 0;
        let mut links = open_link_events();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                ev = next_link_event(&mut links) => match ev {
                    Some((index, up)) => {
                        if let Some(i) = self.channels.iter().position(|c| c.ifindex == index) {
                            self.carrier_is(i, Some(up)).await;
                        }
                    }
                    None => {
                        warn!("link events ended: carrier polled each round until they are back");
                        links = None;
                    }
                },
                _ = tick.tick() => {
                    seq = seq.wrapping_add(1);
                    let timeout = self.cfg.timeout();
                    for (i, ch) in self.channels.iter().enumerate() {
                        let (p, tx) = (ch.prober.clone(), tx.clone());
                        tokio::spawn(async move {
                            let round = p.round(seq, timeout).await;
                            let _ = tx.send((i, round)).await;
                        });
                    }
                    self.sample_passive();
                    self.check_carriers().await;
                    if self.switch_failed {
                        self.decide(false, "trying the failed switch again").await;
                    }
                }
                _ = restore_tick.tick() => {
                    if links.is_none() {
                        links = open_link_events();
                    }
                    for i in 0..self.channels.len() {
                        if self.channels[i].carrier == Some(true) {
                            self.restore(i).await;
                        }
                    }
                }
                Some((i, round)) = rx.recv() => {
                    self.take_round(i, round).await;
                }
                Some(()) = failback.recv() => {
                    info!("manual failback requested");
                    self.decide(true, "manual failback requested").await;
                    self.publish();
                }
                _ = status_tick.tick() => self.publish(),
            }
        }
        self.publish();
    }

    /// One netlink request per channel per tick: the link events say a lost carrier at
    /// once; this catches what they missed (an overflowed socket, an interface made
    /// again under the same name) within a round.
    async fn check_carriers(&mut self) {
        for i in 0..self.channels.len() {
            // The interface may have been made again under the same name (PPPoE, LTE).
            let ifindex =
                nix::net::if_::if_nametoindex(self.channels[i].cfg.interface.as_str()).unwrap_or(0);
            if ifindex != self.channels[i].ifindex {
                self.renew(i, ifindex);
            }
            let up = self.router.carrier(ifindex).await;
            self.carrier_is(i, up).await;
        }
    }

    /// A channel's carrier as just read or told: a lost carrier takes its channel down
    /// without waiting for probes to time out; a carrier back restores its routes.
    async fn carrier_is(&mut self, i: usize, up: Option<bool>) {
        let was = std::mem::replace(&mut self.channels[i].carrier, up);
        let Some(up) = up else {
            return;
        };
        if up && was != Some(true) && was.is_some() {
            // Back from down: what the kernel dropped meanwhile goes back first, so
            // the probes find their way out.
            self.restore(i).await;
        }
        let now = Instant::now();
        if let Some(tr) = self.channels[i].health.carrier(up, now, &self.thresholds) {
            self.transition(i, tr).await;
        }
    }

    /// A channel's interface under a new index: probes bound to the old one would never
    /// leave, so they are opened again.
    fn renew(&mut self, i: usize, ifindex: u32) {
        let ch = &mut self.channels[i];
        info!(channel = %ch.cfg.name, interface = %ch.cfg.interface, ifindex, "the channel's interface is a new one");
        ch.ifindex = ifindex;
        if ifindex == 0 {
            return;
        }
        let probes = match ch.cfg.probe_list() {
            Ok(p) => p,
            Err(e) => return error!("channel {}: {e}", ch.cfg.name),
        };
        match probe::Prober::new(&ch.cfg.interface, probes, ch.ident) {
            Ok(p) => ch.prober = Arc::new(p),
            Err(e) => error!("channel {}: probe sockets: {e}", ch.cfg.name),
        }
    }

    /// Puts a channel's table, rules and — when it carries the office — the main table's
    /// default route back where the kernel dropped them. Idempotent.
    async fn restore(&mut self, i: usize) {
        let ch = &self.channels[i];
        if let Err(e) = self.router.prepare(&ch.route).await {
            warn!(channel = %ch.cfg.name, "restoring its routes: {e}");
            return;
        }
        if self.active == Some(i)
            && let Err(e) = self.router.use_channel(&ch.route).await
        {
            warn!(channel = %ch.cfg.name, "restoring the office's default route: {e}");
        }
    }

    fn sample_passive(&mut self) {
        let Some(maps) = &self.maps else { return };
        let now = Instant::now();
        for ch in &mut self.channels {
            let c = maps.wan_counters(ch.ifindex);
            ch.health
                .passive_sample(now, c.syn_out, c.synack_in, &self.thresholds);
        }
    }

    async fn take_round(&mut self, i: usize, round: health::Round) {
        let now = Instant::now();
        let others = self
            .channels
            .iter()
            .enumerate()
            .any(|(j, c)| j != i && c.health.state.usable());
        let Some(tr) = self.channels[i]
            .health
            .record(round, now, &self.thresholds, others)
        else {
            return;
        };
        self.transition(i, tr).await;
    }

    /// Reports a channel's change of state and re-decides where traffic goes.
    async fn transition(&mut self, i: usize, tr: health::Transition) {
        let ch = &mut self.channels[i];
        ch.since_ms = now_ms();
        let f = ch.health.figures();
        let kind = match tr.to {
            State::Up => "channel_up",
            State::Degraded => "channel_degraded",
            State::Down => "channel_down",
            State::Flapping => "channel_flapping",
            State::Unknown => "channel_unknown",
        };
        let msg = format!(
            "channel {} ({}) {:?} → {:?}: {}",
            ch.cfg.name, ch.cfg.interface, tr.from, tr.to, tr.reason
        );
        match tr.to {
            State::Down | State::Flapping => warn!("{msg}"),
            _ => info!("{msg}"),
        }
        let event = Event {
            at_ms: now_ms(),
            source: "wan".into(),
            kind: kind.into(),
            subject: ch.cfg.name.clone(),
            message: msg,
            details: serde_json::json!({
                "from": tr.from, "to": tr.to, "reason": tr.reason,
                "loss_pct": f.loss_pct, "latency_ms": f.latency_ms,
                "suspect": ch.health.suspect(),
            }),
        };
        let why = format!("{} is {:?}: {}", ch.cfg.name, tr.to, tr.reason);
        // The switch first: an event wakes the database writer, which would share the
        // CPU with it.
        self.decide(false, &why).await;
        self.store.event(event);
        self.publish();
    }

    /// Picks the channel for the traffic and moves it there if that changed.
    async fn decide(&mut self, force_best: bool, why: &str) {
        let states: Vec<(u32, State)> = self
            .channels
            .iter()
            .map(|c| (c.cfg.priority, c.health.state))
            .collect();
        // At start, wait until every channel has been judged (or long enough that an
        // unanswered one is surely down), so the first choice is not just the fastest.
        let grace = self.cfg.interval() * (self.cfg.down_after + 1) + self.cfg.timeout();
        if self.active.is_none()
            && states.iter().any(|(_, s)| *s == State::Unknown)
            && self.started.elapsed() < grace
        {
            return;
        }
        let all_down = !states.iter().any(|(_, s)| s.usable());
        if all_down && !self.all_down_reported && self.active.is_some() {
            self.all_down_reported = true;
            let msg = "every channel is down: keeping the last route until one recovers";
            error!("{msg}");
            self.store.event(Event {
                at_ms: now_ms(),
                source: "wan".into(),
                kind: "all_down".into(),
                subject: String::new(),
                message: msg.into(),
                details: serde_json::json!({}),
            });
        }
        if !all_down {
            self.all_down_reported = false;
        }
        let Some(next) = health::select(&states, self.active, self.cfg.failback, force_best) else {
            return;
        };
        if Some(next) == self.active {
            self.switch_failed = false;
            return;
        }
        let started = Instant::now();
        let to = &self.channels[next];
        if let Err(e) = self.router.use_channel(&to.route).await {
            if !self.switch_failed {
                error!(
                    "switching to channel {}: {e} (trying again each round)",
                    to.cfg.name
                );
            }
            self.switch_failed = true;
            return;
        }
        self.switch_failed = false;
        let routed = started.elapsed();
        let mut flushed = 0;
        if let Some(prev) = self.active
            && self.cfg.flush_conntrack
        {
            match route::flush_conntrack(&self.channels[prev].cfg.interface).await {
                Ok(n) => flushed = n,
                Err(e) => warn!("conntrack flush failed (is conntrack installed?): {e}"),
            }
        }
        let (kind, from) = match self.active {
            None => ("select", None),
            Some(p) if self.channels[p].cfg.priority > to.cfg.priority => {
                ("failback", Some(self.channels[p].cfg.name.clone()))
            }
            Some(p) => ("failover", Some(self.channels[p].cfg.name.clone())),
        };
        let msg = match &from {
            None => format!("traffic on channel {} ({why})", to.cfg.name),
            Some(f) => format!(
                "{kind}: traffic moved from {f} to {} ({why}); route in {:.1} ms, {flushed} tracked connections cleared",
                to.cfg.name,
                routed.as_secs_f64() * 1000.0
            ),
        };
        info!("{msg}");
        self.store.event(Event {
            at_ms: now_ms(),
            source: "wan".into(),
            kind: kind.into(),
            subject: to.cfg.name.clone(),
            message: msg,
            details: serde_json::json!({
                "from": from, "to": to.cfg.name, "why": why,
                "route_ms": routed.as_secs_f64() * 1000.0,
                "conntrack_cleared": flushed,
            }),
        });
        if self.active.is_some() {
            self.switches += 1;
        }
        self.active = Some(next);
    }

    fn publish(&self) {
        let channels = self
            .channels
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let f = c.health.figures();
                let counters = self
                    .maps
                    .as_ref()
                    .map(|m| m.wan_counters(c.ifindex))
                    .unwrap_or_default();
                ChannelStatus {
                    name: c.cfg.name.clone(),
                    interface: c.cfg.interface.clone(),
                    priority: c.cfg.priority,
                    state: serde_json::to_value(c.health.state)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    since_ms: c.since_ms,
                    reason: c.health.reason.clone(),
                    active: self.active == Some(i),
                    loss_pct: f.loss_pct,
                    latency_ms: f.latency_ms,
                    suspect: c.health.suspect().map(String::from),
                    bytes_in: counters.bytes_in,
                    bytes_out: counters.bytes_out,
                    syn_out: counters.syn_out,
                    synack_in: counters.synack_in,
                }
            })
            .collect();
        let s = WanStatus {
            updated_ms: now_ms(),
            active: self.active.map(|i| self.channels[i].cfg.name.clone()),
            all_down: !self.channels.iter().any(|c| c.health.state.usable()),
            switches: self.switches,
            channels,
        };
        if let Err(e) = status::write(&self.status_dir, &s) {
            warn!("writing the WAN status: {e}");
        }
    }
}
