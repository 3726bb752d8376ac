//! What stands before a password check. A PC on the LAN may guess passwords, or keep the
//! gateway hashing: argon2 costs 19 MiB and tens of milliseconds per try, on purpose. So,
//! per source — an IPv4 address, or an IPv6 /64, since a PC picks addresses inside its
//! prefix at will — at most `PER_MINUTE` tries a minute after a burst of `BURST` (429
//! beyond, before any hashing); and at most `HASHING` checks run at once, the others wait
//! up to `WAIT` and are then refused (503). A name is locked after repeated failures per
//! (name, source) (`auth::login`), so nobody locks the admin out from another PC.
//!
//! Owns: the per-source limiter and the hashing permits. Must not: check a password.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::ApiError;

const PER_MINUTE: u32 = 30;
const BURST: u32 = 10;
/// Checks at once: the gateway's other work keeps a core.
const HASHING: usize = 2;
const WAIT: Duration = Duration::from_secs(10);

pub struct Logins {
    per_source: DefaultKeyedRateLimiter<IpAddr>,
    hashing: Semaphore,
}

impl Default for Logins {
    fn default() -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(PER_MINUTE).expect("not zero"))
            .allow_burst(NonZeroU32::new(BURST).expect("not zero"));
        Logins {
            per_source: RateLimiter::keyed(quota),
            hashing: Semaphore::new(HASHING),
        }
    }
}

/// The source a login is counted against: an IPv4 address, or an IPv6 address's /64.
pub fn source(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

impl Logins {
    /// One more try from `source` now, or 429; then a hashing permit, or 503.
    pub async fn admit(&self, source: IpAddr) -> Result<SemaphorePermit<'_>, ApiError> {
        // The map of sources would otherwise only grow (a PC can send from many).
        if self.per_source.len() > 10_000 {
            self.per_source.retain_recent();
        }
        if self.per_source.check_key(&source).is_err() {
            return Err(ApiError::TooManyRequests(
                "too many log-ins from this address; wait a minute".into(),
            ));
        }
        match tokio::time::timeout(WAIT, self.hashing.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::Unavailable(
                "too many log-ins at once; try again".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_source_is_its_prefix() {
        let a: IpAddr = "fd0a:10::1234:5678:9abc:def0".parse().unwrap();
        assert_eq!(source(a), "fd0a:10::".parse::<IpAddr>().unwrap());
        let v4: IpAddr = "10.10.0.7".parse().unwrap();
        assert_eq!(source(v4), v4);
        let mapped: IpAddr = "::ffff:10.10.0.7".parse().unwrap();
        assert_eq!(source(mapped), v4);
    }

    #[tokio::test]
    async fn a_source_gets_its_burst_then_429_and_others_are_not_affected() {
        let l = Logins::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..BURST {
            drop(l.admit(a).await.expect("within the burst"));
        }
        assert!(matches!(
            l.admit(a).await,
            Err(ApiError::TooManyRequests(_))
        ));
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.admit(b).await.is_ok());
    }
}
