//! After an allowed answer: which names were answered with which addresses, for the
//! datapath plan (`Answered`: a name blocked later is blocked by address too) and for
//! site attribution (`Lookups`: which PC was told which address for which name). The
//! names of an answer are the question and the CNAMEs it went through.
//!
//! Owns: when an answer is recorded. Must not: change the answer.

use std::{net::IpAddr, sync::atomic::Ordering, time::Instant};

use super::{answered::Answered, cache};

/// A cached answer given to the same client again within this many seconds is not
/// recorded again for the datapath plan and site attribution (both keep it far longer).
const FRESH_SECS: u32 = 10;

pub struct Remember {
    /// Where allowed answers are recorded for the datapath plan.
    pub answered: Answered,
    /// Which PC was answered which name with which address (site attribution).
    pub lookups: Option<crate::sites::Lookups>,
}

impl Remember {
    /// The full path's forwarded answer: `name` (lower case) and its CNAME `targets`
    /// answered `addrs` to `client`.
    pub(super) fn forwarded(
        &self,
        client: IpAddr,
        name: &str,
        targets: &[String],
        addrs: &[IpAddr],
    ) {
        self.answered.record(name, addrs);
        if let Some(l) = &self.lookups {
            l.record(client, name, addrs);
        }
        for t in targets {
            self.answered.record(t, addrs);
        }
    }

    /// The fast path's cached answer: recorded unless this client had it moments ago.
    pub(super) fn cached(&self, hit: &cache::Wire, client: IpAddr, name: &str, at: Instant) {
        static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);
        // Seconds from 1: 0 in a memo means "never".
        let now = at.saturating_duration_since(*EPOCH).as_secs() as u32 + 1;
        let fresh = |at: u32| at != 0 && now.wrapping_sub(at) < FRESH_SECS;
        if !fresh(hit.answered_at.load(Ordering::Relaxed)) {
            hit.answered_at.store(now, Ordering::Relaxed);
            self.answered.record(name, &hit.addrs);
            for t in &hit.cnames {
                self.answered.record(t, &hit.addrs);
            }
        }
        let Some(lookups) = &self.lookups else { return };
        // Which client: its address's hash in the high half, the second in the low one.
        let who = u64::from(client_hash(client)) << 32;
        let slots = &hit.looked_up_by;
        if slots.iter().any(|s| {
            let v = s.load(Ordering::Relaxed);
            v & !0xffff_ffff == who && fresh(v as u32)
        }) {
            return;
        }
        slots[(who >> 32) as usize % slots.len()].store(who | u64::from(now), Ordering::Relaxed);
        lookups.record(client, name, &hit.addrs);
    }
}

/// A cheap 32-bit digest of an address (FNV-1a): which slot of `looked_up_by` it takes.
fn client_hash(ip: IpAddr) -> u32 {
    let bytes = match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    };
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}
