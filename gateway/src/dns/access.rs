//! Stage 1 of the chain: who may ask. A client outside the allowed networks gets REFUSED
//! (the gateway is never an open resolver), and so does one over its rate limit
//! (governor's keyed GCRA limiter). Refusals are counted, never logged one by one:
//! whoever is outside the LAN, or floods it, could fill the log at will.
//!
//! The two checks sit at different places of the chain. The LAN check comes first on
//! both paths. The rate limit comes first on the full path (`handler`), but on the fast
//! path (`fast`) only once it is about to answer: a query it leaves to `handler` is
//! checked there, and must not spend two of the client's tokens.
//!
//! An intercepted query (`Via::Intercepted`) may be refused as a matter of policy
//! (`refuse_intercepted`); that refusal is the full path's and is logged.
//!
//! A client is a device, not an address: a PC may send from any address of its IPv6
//! network, and a fresh allowance per address would let it rotate past any limit. The
//! datapath knows which device sent from which address (`DeviceMap`, published by the
//! daemon's tick); an address it has not placed yet counts against its /64's newcomers,
//! a bucket four times as large, until it is placed (within a second or two).
//!
//! Owns: the allowed networks and the per-client limiter. Must not: look at the query.

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Address → the datapath's device slot, for every address it has met.
pub type DeviceMap = Arc<arc_swap::ArcSwap<HashMap<IpAddr, u32>>>;

/// Who a query's allowance is counted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Client {
    Device(u32),
    Address(IpAddr),
}

/// How many times a client's allowance the newcomers of one /64 share.
const NEWCOMERS: u32 = 4;

pub struct Access {
    /// Networks allowed to ask (address, prefix length).
    pub allow: Vec<(IpAddr, u8)>,
    pub rate: RateLimit,
    /// `[dns] intercept = "refuse"`: a query sent to another resolver and intercepted
    /// (`Via::Intercepted`) is answered REFUSED — and logged, unlike the refusals above:
    /// the admin wants to see who tried (the rate limit still comes first).
    pub refuse_intercepted: bool,
    /// Error answers (REFUSED, FORMERR, NOTIMP) per source network.
    pub errors: ErrorLimit,
}

impl Access {
    /// Whether `client` is inside the allowed networks.
    #[inline]
    pub fn on_lan(&self, client: IpAddr) -> bool {
        self.allow
            .iter()
            .any(|(net, len)| crate::datapath::net_contains(*net, *len, client))
    }

    /// Whether `client` may have one more answer now (spends one of its tokens).
    #[inline]
    pub fn within_rate(&self, client: IpAddr) -> bool {
        self.rate.check(client)
    }

    /// Whether an error answer (REFUSED, FORMERR, NOTIMP) may go to `client` now; if not,
    /// the query is dropped without one.
    #[inline]
    pub fn may_answer_error(&self, client: IpAddr) -> bool {
        self.errors.check(client)
    }
}

/// Error answers per source network: beyond `ERRORS_PER_SECOND` (bursts of twice that)
/// a /24 or a /56 gets silence. A source address is easily forged: without this, whoever
/// floods the gateway with queries that are refused (off the LAN, over a rate limit) or
/// garbage makes it send as many answers to the forged address — a reflector. Keyed by
/// network, not address, so rotating addresses within one buys nothing.
pub struct ErrorLimit {
    limiter: DefaultKeyedRateLimiter<u64>,
    checks: AtomicU64,
}

const ERRORS_PER_SECOND: u32 = 20;

impl Default for ErrorLimit {
    fn default() -> Self {
        let q = NonZeroU32::new(ERRORS_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        ErrorLimit {
            limiter: RateLimiter::keyed(
                Quota::per_second(q)
                    .allow_burst(q.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN))),
            ),
            checks: AtomicU64::new(0),
        }
    }
}

impl ErrorLimit {
    pub fn check(&self, client: IpAddr) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 65_536 == 65_535 {
            self.limiter.retain_recent();
        }
        let net = match client.to_canonical() {
            IpAddr::V4(a) => u64::from(u32::from(a) >> 8),
            // The top bit tells the families apart.
            IpAddr::V6(a) => {
                (u64::from_be_bytes(a.octets()[..8].try_into().unwrap_or_default()) >> 8) | 1 << 63
            }
        };
        self.limiter.check_key(&net).is_ok()
    }
}

pub struct RateLimit {
    limiters: Option<Limiters>,
    /// None: every address is a client of its own (tests, benchmarks without a datapath).
    devices: Option<DeviceMap>,
    checks: AtomicU64,
}

struct Limiters {
    clients: DefaultKeyedRateLimiter<Client>,
    /// Per /64: IPv6 addresses the datapath has not placed on a device yet.
    newcomers: DefaultKeyedRateLimiter<u64>,
}

impl RateLimit {
    /// `qps` queries per second per client with bursts of `burst`; 0 turns it off.
    pub fn new(qps: u32, burst: u32, devices: Option<DeviceMap>) -> Self {
        let limiters = NonZeroU32::new(qps).map(|q| {
            let burst = NonZeroU32::new(burst.max(qps)).unwrap_or(q);
            let times = |n: NonZeroU32| n.saturating_mul(NonZeroU32::new(NEWCOMERS).unwrap_or(n));
            Limiters {
                clients: RateLimiter::keyed(Quota::per_second(q).allow_burst(burst)),
                newcomers: RateLimiter::keyed(
                    Quota::per_second(times(q)).allow_burst(times(burst)),
                ),
            }
        });
        RateLimit {
            limiters,
            devices,
            checks: AtomicU64::new(0),
        }
    }

    /// Whether `client` may ask now.
    pub fn check(&self, client: IpAddr) -> bool {
        let Some(l) = &self.limiters else { return true };
        // Forget idle clients now and then, so the tables hold only the active ones.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 65_536 == 65_535 {
            l.clients.retain_recent();
            l.newcomers.retain_recent();
        }
        let client = client.to_canonical();
        let Some(devices) = &self.devices else {
            return l.clients.check_key(&Client::Address(client)).is_ok();
        };
        if let Some(slot) = devices.load().get(&client) {
            return l.clients.check_key(&Client::Device(*slot)).is_ok();
        }
        match client {
            IpAddr::V6(a) => {
                let prefix = u64::from_be_bytes(a.octets()[..8].try_into().unwrap_or_default());
                l.newcomers.check_key(&prefix).is_ok()
            }
            // An IPv4 network holds few addresses: each its own client until placed.
            IpAddr::V4(_) => l.clients.check_key(&Client::Address(client)).is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_is_per_client() {
        let rl = RateLimit::new(5, 5, None);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let passed = (0..20).filter(|_| rl.check(a)).count();
        assert!((5..=6).contains(&passed), "{passed}");
        assert!(rl.check(b));
        let off = RateLimit::new(0, 0, None);
        assert!((0..1000).all(|_| off.check(a)));
    }

    #[test]
    fn a_device_is_one_client_whatever_its_addresses_and_newcomers_share_their_64() {
        let pc1: IpAddr = "fd0a:10::11".parse().unwrap();
        let pc1_other: IpAddr = "fd0a:10::1:11".parse().unwrap();
        let pc2: IpAddr = "10.10.0.12".parse().unwrap();
        let devices: DeviceMap = Arc::new(arc_swap::ArcSwap::from_pointee(HashMap::from([
            (pc1, 7),
            (pc1_other, 7),
            (pc2, 8),
        ])));
        let rl = RateLimit::new(5, 5, Some(devices));
        let passed = (0..20)
            .filter(|i| rl.check(if i % 2 == 0 { pc1 } else { pc1_other }))
            .count();
        assert!((5..=6).contains(&passed), "{passed}");
        assert!(rl.check(pc2));
        // Addresses not placed yet: 4 times the allowance, for the whole /64.
        let passed = (0..200u16)
            .filter(|i| {
                rl.check(IpAddr::V6(std::net::Ipv6Addr::new(
                    0xfd0a, 0x10, 0, 0, 9, 9, 9, *i,
                )))
            })
            .count();
        assert!((20..=24).contains(&passed), "{passed}");
        let elsewhere: IpAddr = "fd0a:11::5".parse().unwrap();
        assert!(rl.check(elsewhere));
    }

    #[test]
    fn error_answers_are_limited_per_network() {
        let e = ErrorLimit::default();
        let passed = (0..200u8)
            .filter(|i| e.check(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, *i))))
            .count();
        assert!((40..=42).contains(&passed), "{passed}");
        assert!(e.check("198.51.101.1".parse().unwrap()));
        let passed = (0..200u16)
            .filter(|i| {
                e.check(IpAddr::V6(std::net::Ipv6Addr::new(
                    0x2001, 0xdb8, 0, 0x12, 0, 0, 0, *i,
                )))
            })
            .count();
        assert!((40..=42).contains(&passed), "{passed}");
    }

    #[test]
    fn only_the_allowed_networks_may_ask() {
        let a = Access {
            allow: vec![("10.10.0.0".parse().unwrap(), 24)],
            rate: RateLimit::new(0, 0, None),
            refuse_intercepted: false,
            errors: ErrorLimit::default(),
        };
        assert!(a.on_lan("10.10.0.11".parse().unwrap()));
        assert!(!a.on_lan("10.10.1.11".parse().unwrap()));
        assert!(!a.on_lan("203.0.113.1".parse().unwrap()));
    }
}
