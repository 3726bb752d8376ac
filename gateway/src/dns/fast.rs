//! The UDP fast path: the same chain as `handler` for the two answers a busy office gets
//! most — a blocked name and a cached answer — written straight from the query's bytes
//! (`wire`) without hickory's decode and encode. Anything else (a cache miss, safe
//! search, a rebinding refusal, an answer bigger than the client takes, any query shape
//! `wire::parse` leaves alone) returns `false` and goes through `handler` unchanged, so
//! the two paths never disagree on a decision: both ask the same policy, cache and guards.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Instant,
};

use std::sync::atomic::Ordering;

use hickory_proto::rr::RecordType;

use super::{cache, handler, handler::Filter, repeats, wire};
use crate::policy::{BlockMode, Verdict};

const RCODE_NXDOMAIN: u8 = 3;
const RCODE_REFUSED: u8 = 5;
/// A cached answer given to the same client again within this many seconds is not
/// recorded again for the datapath plan and site attribution (both keep it far longer).
const FRESH_SECS: u32 = 10;

impl Filter {
    /// Answers `pkt` from `src` into `out` if the fast path can; `false`: use `handler`.
    /// `start`: when it was received (the loop reads the clock once per datagram).
    pub(super) fn fast(
        &self,
        pkt: &[u8],
        src: SocketAddr,
        start: Instant,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(q) = wire::parse(pkt) else {
            return false;
        };
        let client = src.ip().to_canonical();
        // Refusals are not logged, as in `handler`: whoever floods could fill the log.
        let refuse = |out: &mut Vec<u8>| {
            self.stats.count("refused");
            wire::empty_answer(out, pkt, &q, RCODE_REFUSED);
            true
        };
        if !self.allowed(client) {
            return refuse(out);
        }
        // The rate limit is checked only once this path answers: a query it leaves to
        // `handler` is checked there, and must not spend two of the client's tokens.
        let name = q.name();
        let qtype = RecordType::from(q.qtype);
        let policy = self.policy.load();
        let now = self.clock.now();
        // The log record, built only for the first of its repeats (`repeats`), with the
        // full decision on `decided` (the name itself, or the CNAME target that blocked).
        let log = |decided: &str, verdict: &'static str, answer: Option<&cache::Wire>| {
            self.stats.count(verdict);
            let Some(repeats) = &self.repeats else { return };
            let key = repeats::Key {
                client,
                name,
                qtype: q.qtype,
                verdict,
                policy: policy.id(),
                answer: answer.map_or(0, |w| w.serial),
            };
            repeats.add(&key, start, || {
                let entry = handler::Entry {
                    start,
                    client,
                    decision: Some(policy.evaluate(client, decided, now)),
                    name: name.to_string(),
                    qtype: qtype.to_string(),
                };
                let source = answer.map(|w| w.source.clone());
                match answer {
                    Some(w) if verdict == "allowed" => {
                        handler::log_record(entry, verdict, source, &w.addrs, &w.rcode_text)
                    }
                    _ => handler::log_record(entry, verdict, source, &[], "BLOCKED"),
                }
            });
        };
        let dnssec_ok = q.edns.is_some_and(|e| e.dnssec_ok);
        // A recent answer may say its names are allowed to this client's class: then no
        // rule needs asking (the policy's id is part of the class, so a reload forgets).
        let probe = self.cache.probe(name, qtype, dnssec_ok, q.cd, start);
        let class = policy.rules_class(client);
        let known = match (&probe, class) {
            (cache::Probe::Hit(hit, _), Some(c)) => hit.allowed_for.load(Ordering::Relaxed) == c,
            _ => false,
        };
        let mut timeless = true;
        if !known {
            let (verdict, memo) = policy.verdict_memo(client, name, now);
            if let Verdict::Blocked(mode) = verdict {
                if !self.rate.check(client) {
                    return refuse(out);
                }
                self.block_wire(out, pkt, &q, mode);
                log(name, "blocked", None);
                return true;
            }
            timeless = memo;
        }
        if super::safe_search::target(name).is_some() {
            return false;
        }
        let found = match probe {
            cache::Probe::Hit(hit, age) => Some((hit, age)),
            cache::Probe::Expired => None,
            cache::Probe::Miss(h) => self.cache.fill(h, name, qtype, dnssec_ok, q.cd, start),
        };
        let Some((hit, age)) = found else {
            return false;
        };
        if !known {
            // A hit is counted where this path answers from it (a CNAME block included,
            // as in `lookup`); what it declines below, the full path counts.
            for target in &hit.cnames {
                let (verdict, memo) = policy.verdict_memo(client, target, now);
                if let Verdict::Blocked(mode) = verdict {
                    if !self.rate.check(client) {
                        return refuse(out);
                    }
                    self.stats.cache(true);
                    self.block_wire(out, pkt, &q, mode);
                    log(target, "blocked_cname", Some(&hit));
                    return true;
                }
                timeless &= memo;
            }
            if timeless && let Some(c) = class {
                hit.allowed_for.store(c, Ordering::Relaxed);
            }
        }
        let rebinding = match hit.rebinding.load(Ordering::Relaxed) {
            0 => {
                let bad = self.rebinding.violation(name, &hit.addrs).is_some();
                hit.rebinding.store(1 + u8::from(bad), Ordering::Relaxed);
                bad
            }
            v => v == 2,
        };
        if rebinding {
            return false;
        }
        let opt = if q.edns.is_some() { 11 } else { 0 };
        if q.question_end + hit.body.bytes.len() + opt > q.max_udp() {
            // Truncation (TC) is the full path's job.
            return false;
        }
        if !self.rate.check(client) {
            return refuse(out);
        }
        self.stats.cache(true);
        wire::start_answer(out, pkt, &q, hit.flags, hit.rcode, hit.body.counts);
        wire::append_body(out, &hit.body, age);
        wire::finish_answer(out, &q);
        self.remember(&hit, client, name, start);
        log(name, "allowed", Some(&hit));
        true
    }

    /// Records a cached answer for the datapath plan and site attribution, unless this
    /// client had it moments ago.
    fn remember(&self, hit: &cache::Wire, client: IpAddr, name: &str, at: Instant) {
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

    /// A blocked answer per `mode`, as `handler::send_block` gives it.
    fn block_wire(&self, out: &mut Vec<u8>, pkt: &[u8], q: &wire::Query, mode: BlockMode) {
        let addr: Option<IpAddr> = match mode {
            BlockMode::Nxdomain => return wire::empty_answer(out, pkt, q, RCODE_NXDOMAIN),
            BlockMode::Page if q.qtype == u16::from(RecordType::A) => self.page_v4.map(IpAddr::V4),
            BlockMode::Page => self.page_v6.map(IpAddr::V6),
            BlockMode::Null if q.qtype == u16::from(RecordType::A) => {
                Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
            }
            BlockMode::Null => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        };
        wire::address_answer(out, pkt, q, addr, super::handler::BLOCK_TTL);
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
