//! Prometheus `/metrics`, encoded by prometheus-client. The values are read at scrape time
//! from where they already live (the pinned maps, the DNS filter's counters, the channel
//! status), into a registry built for that scrape: nothing is kept twice.

use std::sync::Arc;

use axum::{extract::State, http::header, response::IntoResponse};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
};

pub fn routes() -> ApiRouter {
    gate(Access::Read, routes!(metrics))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PcDir {
    pc: String,
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Pc {
    pc: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Verdict {
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Channel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelDir {
    channel: String,
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

/// This process's resident memory in bytes: (anonymous, file-backed), from
/// `/proc/self/status` (0 where the kernel does not say).
fn own_rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("RssAnon:"), field("RssFile:"))
}

type Gaugef = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Prometheus metrics (OpenMetrics text): per-PC bytes, DNS queries by verdict, cache
/// hits, channel health and traffic, drops by reason.
#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(st): State<Arc<ApiState>>) -> Result<impl IntoResponse, ApiError> {
    let mut reg = Registry::with_prefix("officegate");

    let bytes = Family::<PcDir, Counter>::default();
    let packets = Family::<PcDir, Counter>::default();
    let dropped = Family::<Pc, Counter>::default();
    let drops = Family::<Reason, Counter>::default();
    let events = Family::<Reason, Counter>::default();
    let spoofed = Family::<Pc, Counter>::default();
    reg.register(
        "pc_bytes",
        "Bytes passed per PC and direction",
        bytes.clone(),
    );
    reg.register(
        "pc_packets",
        "Packets passed per PC and direction",
        packets.clone(),
    );
    reg.register("pc_dropped_bytes", "Bytes dropped per PC", dropped.clone());
    reg.register("datapath_drops", "Packets dropped by reason", drops.clone());
    reg.register(
        "datapath_events",
        "Datapath events (new flows, resets, spoofed addresses, ...), by reason",
        events.clone(),
    );
    reg.register(
        "pc_spoofed",
        "New connections a device sent with another device's address",
        spoofed.clone(),
    );
    if let Ok(maps) = crate::datapath::Maps::open(&st.pin_dir) {
        let policy = st.policy.load();
        for d in maps.devices() {
            let pc = st.names.device_label(&policy, &d);
            let c = &d.counters;
            for (dir, b, p) in [
                ("up", c.up_bytes, c.up_packets),
                ("down", c.down_bytes, c.down_packets),
            ] {
                let l = PcDir {
                    pc: pc.clone(),
                    direction: dir.into(),
                };
                bytes.get_or_create(&l).inc_by(b);
                packets.get_or_create(&l).inc_by(p);
            }
            dropped
                .get_or_create(&Pc { pc: pc.clone() })
                .inc_by(c.dropped_bytes);
            if d.spoofed > 0 {
                spoofed
                    .get_or_create(&Pc { pc: pc.clone() })
                    .inc_by(d.spoofed.into());
            }
        }
        for (stat, n) in maps.stats() {
            events
                .get_or_create(&Reason {
                    reason: stat.name().to_string(),
                })
                .inc_by(n);
        }
        for (reason, n) in maps.drops() {
            drops
                .get_or_create(&Reason {
                    reason: reason.name().to_string(),
                })
                .inc_by(n);
        }
    }

    if let Some(dns) = st.dns.load_full() {
        let queries = Family::<Verdict, Counter>::default();
        reg.register(
            "dns_queries",
            "DNS queries answered, by verdict",
            queries.clone(),
        );
        for (verdict, n) in dns.by_verdict() {
            queries
                .get_or_create(&Verdict {
                    verdict: verdict.into(),
                })
                .inc_by(n);
        }
        let hits: Counter = Counter::default();
        let misses: Counter = Counter::default();
        hits.inc_by(dns.cache_hits());
        misses.inc_by(dns.cache_misses());
        reg.register("dns_cache_hits", "Answers served from the cache", hits);
        reg.register("dns_cache_misses", "Answers asked of an upstream", misses);
        let intercepted: Counter = Counter::default();
        intercepted.inc_by(dns.intercepted());
        reg.register(
            "dns_intercepted",
            "Queries PCs sent to another resolver, answered or refused by the filter",
            intercepted,
        );
    }

    let lost: Counter = Counter::default();
    lost.inc_by(st.store_dropped.load(std::sync::atomic::Ordering::Relaxed));
    reg.register(
        "store_dropped_records",
        "Records (queries, events, traffic) the database writer could not keep: queue full or writes failing",
        lost,
    );

    // The daemon's own memory: what the kernel holds for it (anonymous = heap, stacks;
    // file = mapped pages of the binary and the database, which the kernel may drop), and
    // the writer's page cache's share of the heap (bounded by its cache_size): what is
    // left is what the daemon's own tables hold, and must stay flat.
    let (anon, file) = own_rss();
    let rss = Family::<Kind, Gauge>::default();
    reg.register(
        "process_resident_memory_bytes",
        "Resident memory of the daemon, by kind (anonymous: heap and stacks; file: mapped files)",
        rss.clone(),
    );
    for (kind, v) in [("anonymous", anon), ("file", file)] {
        rss.get_or_create(&Kind { kind: kind.into() })
            .set(i64::try_from(v).unwrap_or(i64::MAX));
    }
    let cache: Gauge = Gauge::default();
    cache.set(i64::try_from(crate::store::writer_cache_bytes()).unwrap_or(i64::MAX));
    reg.register(
        "store_writer_cache_bytes",
        "Heap held by the database writer's page cache (grows to its 256 MiB bound with the database, then stays)",
        cache,
    );

    if let Ok(s) = crate::wan::status::read(&st.storage_dir) {
        let up = Family::<Channel, Gauge>::default();
        let active = Family::<Channel, Gauge>::default();
        let latency = Family::<Channel, Gaugef>::default();
        let loss = Family::<Channel, Gaugef>::default();
        let wan_bytes = Family::<ChannelDir, Counter>::default();
        reg.register("wan_up", "1 if the channel may carry traffic", up.clone());
        reg.register(
            "wan_active",
            "1 for the channel carrying the traffic",
            active.clone(),
        );
        reg.register(
            "wan_latency_seconds",
            "Median probe latency",
            latency.clone(),
        );
        reg.register(
            "wan_loss_ratio",
            "Probes lost over the window",
            loss.clone(),
        );
        reg.register(
            "wan_bytes",
            "Bytes per channel and direction",
            wan_bytes.clone(),
        );
        for c in &s.channels {
            let l = Channel {
                channel: c.name.clone(),
            };
            let usable = matches!(c.state.as_str(), "up" | "degraded");
            up.get_or_create(&l).set(i64::from(usable));
            active.get_or_create(&l).set(i64::from(c.active));
            if let Some(ms) = c.latency_ms {
                latency.get_or_create(&l).set(ms / 1000.0);
            }
            loss.get_or_create(&l).set(c.loss_pct / 100.0);
            for (dir, b) in [("in", c.bytes_in), ("out", c.bytes_out)] {
                wan_bytes
                    .get_or_create(&ChannelDir {
                        channel: c.name.clone(),
                        direction: dir.into(),
                    })
                    .inc_by(b);
            }
        }
    }

    let mut body = String::new();
    encode(&mut body, &reg).map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    ))
}
