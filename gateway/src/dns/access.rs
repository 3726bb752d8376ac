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
//! Owns: the allowed networks and the per-client limiter. Must not: look at the query.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicU64, Ordering},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct Access {
    /// Networks allowed to ask (address, prefix length).
    pub allow: Vec<(IpAddr, u8)>,
    pub rate: RateLimit,
    /// `[dns] intercept = "refuse"`: a query sent to another resolver and intercepted
    /// (`Via::Intercepted`) is answered REFUSED — and logged, unlike the refusals above:
    /// the admin wants to see who tried (the rate limit still comes first).
    pub refuse_intercepted: bool,
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
}

pub struct RateLimit {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: AtomicU64,
}

impl RateLimit {
    /// `qps` queries per second per client with bursts of `burst`; 0 turns it off.
    pub fn new(qps: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(qps).map(|q| {
            let burst = NonZeroU32::new(burst.max(qps)).unwrap_or(q);
            RateLimiter::keyed(Quota::per_second(q).allow_burst(burst))
        });
        RateLimit {
            limiter,
            checks: AtomicU64::new(0),
        }
    }

    /// Whether `client` may ask now.
    pub fn check(&self, client: IpAddr) -> bool {
        let Some(l) = &self.limiter else { return true };
        // Forget idle clients now and then, so the table holds only the active ones.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 65_536 == 65_535 {
            l.retain_recent();
        }
        l.check_key(&client).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_is_per_client() {
        let rl = RateLimit::new(5, 5);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let passed = (0..20).filter(|_| rl.check(a)).count();
        assert!((5..=6).contains(&passed), "{passed}");
        assert!(rl.check(b));
        let off = RateLimit::new(0, 0);
        assert!((0..1000).all(|_| off.check(a)));
    }

    #[test]
    fn only_the_allowed_networks_may_ask() {
        let a = Access {
            allow: vec![("10.10.0.0".parse().unwrap(), 24)],
            rate: RateLimit::new(0, 0),
            refuse_intercepted: false,
        };
        assert!(a.on_lan("10.10.0.11".parse().unwrap()));
        assert!(!a.on_lan("10.10.1.11".parse().unwrap()));
        assert!(!a.on_lan("203.0.113.1".parse().unwrap()));
    }
}
