//! The DNS filter: answers the office's queries on the gateway's LAN addresses, blocks per
//! the policy, forwards the rest to the upstream resolvers.
//!
//! Owns: sockets on port 53 (UDP and TCP), the request chain — its stages one per file
//! (`access`, `decide`, `block`, `cache`/`upstream`, `guard`, `remember`, `record`;
//! assembled in `filter`) — and the two paths through it: the UDP fast path for blocked
//! names and cached answers (`fast`, `wire`, `udp`), and hickory's decode for the rest
//! and for TCP (`handler`). Must not: change the policy or the datapath.
//!
//! Upstreams: plain DNS, DNS over TLS, DNS over HTTPS (rustls with ring). Every answered
//! query goes to the query log (the store), its verdict one `Outcome`.

// The chain's stages, one per file (the order a query meets them: see `filter`).
mod access;
mod block;
mod cache;
mod decide;
mod guard;
mod record;
mod remember;
mod upstream;
// What the stages share.
mod filter;
mod outcome;
mod stats;
// The two paths through them, and the UDP loop that picks one per datagram.
mod fast;
mod handler;
mod udp;
// Helpers of the stages.
mod answered;
mod repeats;
mod safe_search;
pub mod wire;

#[cfg(test)]
mod tests;

pub use access::DeviceMap;
pub use answered::Answered;
pub use filter::Via;
pub use outcome::Outcome;
pub use stats::DnsStats;
pub use upstream::{Transport, UpstreamSpec, tls_config};

/// The largest answer sent over UDP, whatever the client offers: bigger datagrams
/// fragment (and fragments get lost), and a forged query for a big name would make the
/// gateway an amplifier. 1,232 bytes is DNS Flag Day 2020's figure; the client retries a
/// truncated answer over TCP.
pub const MAX_UDP_ANSWER: u16 = 1232;
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use arc_swap::ArcSwap;
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::policy::Policy;

/// How long one upstream may take before the next is asked.
const UPSTREAM_TIMEOUT: Duration = Duration::from_millis(1500);
/// Idle TCP clients are dropped after this.
const TCP_IDLE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no address to listen on (the LAN interface has none, and [dns] listen is empty)")]
    NoListenAddress,
}

pub struct DnsSettings {
    pub listen: Vec<SocketAddr>,
    pub upstreams: Vec<UpstreamSpec>,
    /// TLS client configuration for DoT/DoH upstreams (see `tls_config`).
    pub tls: rustls::ClientConfig,
    pub allow: Vec<(IpAddr, u8)>,
    pub page_v4: Option<Ipv4Addr>,
    pub page_v6: Option<Ipv6Addr>,
    /// Where every query is logged (batched by the store's writer). None: no log.
    pub log: Option<crate::store::Store>,
    /// Answers kept in the cache (entries).
    pub cache_entries: u64,
    /// Per-client queries per second and burst (0: no limit).
    pub rate_limit_qps: u32,
    pub rate_limit_burst: u32,
    /// The datapath's address → device map: the rate limit counts per device.
    pub devices: Option<access::DeviceMap>,
    pub rebinding_protection: bool,
    pub rebinding_allow: Vec<String>,
    /// The office's own networks, private to rebinding protection whatever their range.
    pub own_networks: Vec<(IpAddr, u8)>,
    /// Where allowed answers are recorded for the datapath plan.
    pub answered: Answered,
    /// Which PC was answered which name with which address (site attribution).
    pub lookups: Option<crate::sites::Lookups>,
    /// "Now" for policy decisions.
    pub clock: crate::clock::Clock,
    /// Listeners for queries the gateway intercepts on their way to other resolvers.
    pub intercept: Option<InterceptSettings>,
}

/// Where intercepted queries land (`crate::bypass` redirects them to these addresses)
/// and what they get.
pub struct InterceptSettings {
    pub listen: Vec<SocketAddr>,
    /// REFUSED instead of the filter's answer (`[dns] intercept = "refuse"`).
    pub refuse: bool,
}

/// The running filter: cancel `token` to stop it; `resolver` asks the same upstreams;
/// `stats` counts what it answered.
pub struct DnsHandle {
    pub token: CancellationToken,
    /// Ends once the UDP loops stopped and every counted repeat was queued to the log.
    pub done: tokio::task::JoinHandle<()>,
    pub resolver: Resolver,
    pub stats: Arc<DnsStats>,
}

/// Resolves names through the filter's upstreams, outside any client's query (the
/// daemon resolving `resolve` lists), recording the answers like the filter does.
#[derive(Clone)]
pub struct Resolver {
    upstreams: Arc<upstream::Upstreams>,
    answered: Answered,
}

impl Resolver {
    /// A and AAAA of `name`; the addresses found (empty if none or on failure).
    pub async fn resolve(&self, name: &str) -> Vec<IpAddr> {
        use hickory_proto::{
            op::{DnsRequest, DnsRequestOptions, Message, Query},
            rr::{Name, RData, RecordType},
        };
        let Ok(qname) = Name::from_ascii(format!("{name}.")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for qtype in [RecordType::A, RecordType::AAAA] {
            let mut msg = Message::query();
            msg.metadata.recursion_desired = true;
            msg.add_query(Query::query(qname.clone(), qtype));
            let req = DnsRequest::new(msg, DnsRequestOptions::default());
            if let Ok((resp, _)) = self.upstreams.forward(&req).await {
                out.extend(resp.answers.iter().filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                }));
            }
        }
        self.answered.record(name, &out);
        out
    }
}

/// A UDP socket and a TCP listener on `addr`.
async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let err = |source| DnsError::Bind { addr, source };
    let udp = UdpSocket::bind(addr).await.map_err(err)?;
    let tcp = TcpListener::bind(addr).await.map_err(err)?;
    // Room for bursts while the one core is busy elsewhere (the defaults drop a few
    // hundred queued queries); as Unbound's so-rcvbuf.
    let sock = socket2::SockRef::from(&udp);
    let _ = sock.set_recv_buffer_size(4 << 20);
    let _ = sock.set_send_buffer_size(4 << 20);
    Ok((udp, tcp))
}

/// Binds every listen address (UDP and TCP) and serves until the returned token is
/// cancelled. The policy is read through `policy` at each query, so a reload is seen by
/// the next query and none is dropped during the swap.
pub async fn serve(
    settings: DnsSettings,
    policy: Arc<ArcSwap<Policy>>,
) -> Result<DnsHandle, DnsError> {
    if settings.listen.is_empty() {
        return Err(DnsError::NoListenAddress);
    }
    let upstreams = Arc::new(upstream::Upstreams::new(
        &settings.upstreams,
        Arc::new(settings.tls),
        UPSTREAM_TIMEOUT,
    ));
    let resolver = Resolver {
        upstreams: upstreams.clone(),
        answered: settings.answered.clone(),
    };
    let stats = Arc::new(DnsStats::default());
    let filter = Arc::new(filter::Filter {
        policy,
        clock: settings.clock,
        access: access::Access {
            allow: settings.allow,
            rate: access::RateLimit::new(
                settings.rate_limit_qps,
                settings.rate_limit_burst,
                settings.devices,
            ),
            refuse_intercepted: settings.intercept.as_ref().is_some_and(|i| i.refuse),
            errors: Default::default(),
        },
        block: block::Block {
            page_v4: settings.page_v4,
            page_v6: settings.page_v6,
        },
        cache: cache::Cache::new(settings.cache_entries),
        upstreams,
        rebinding: guard::Rebinding {
            enabled: settings.rebinding_protection,
            allow: settings
                .rebinding_allow
                .iter()
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            own: settings.own_networks,
        },
        remember: remember::Remember {
            answered: settings.answered,
            lookups: settings.lookups,
        },
        log: record::Log {
            stats: stats.clone(),
            repeats: settings.log.clone().map(repeats::Repeats::new),
            store: settings.log,
        },
    });
    // One hickory server per kind of listener (its handler says which kind); the UDP
    // loops are ours. One token stops them all.
    let mut server = Server::new(handler::Shared(filter.clone(), Via::Asked));
    let mut intercepted = Server::new(handler::Shared(filter.clone(), Via::Intercepted));
    let mut udp_loops = Vec::new();
    let token = server.shutdown_token().clone();
    let intercept_on = settings.intercept.iter().flat_map(|i| &i.listen);
    let listeners = (settings.listen.iter().map(|a| (a, Via::Asked)))
        .chain(intercept_on.map(|a| (a, Via::Intercepted)));
    for (addr, via) in listeners {
        let (udp, tcp) = bind(*addr).await?;
        let (f, t) = (filter.clone(), token.clone());
        udp_loops.push(tokio::spawn(udp::serve(udp, f, via, t)));
        match via {
            Via::Asked => server.register_listener(tcp, TCP_IDLE, 32),
            Via::Intercepted => intercepted.register_listener(tcp, TCP_IDLE, 32),
        }
    }
    let (t, it) = (token.clone(), intercepted.shutdown_token().clone());
    tokio::spawn(async move {
        t.cancelled().await;
        it.cancel();
    });
    // Repeats counted on an idle filter are written too; all of them when it stops.
    let (f, t) = (filter.clone(), token.clone());
    let done = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = t.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Some(r) = &f.log.repeats {
                r.flush(false);
            }
        }
        // Nothing more is counted once the loops are gone.
        for l in udp_loops {
            let _ = l.await;
        }
        if let Some(r) = &f.log.repeats {
            r.flush(true);
        }
    });
    for mut server in [server, intercepted] {
        tokio::spawn(async move {
            if let Err(e) = server.block_until_done().await {
                tracing::error!(error = %e, "DNS server stopped");
            }
        });
    }
    Ok(DnsHandle {
        token,
        done,
        resolver,
        stats,
    })
}
