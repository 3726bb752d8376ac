//! The UDP fast path: the same chain as `handler`, stage by stage (`access`, `decide`,
//! `block`, `cache`, `guard`, `remember`, `record`), for the two answers a busy office
//! gets most — a blocked name and a cached answer — written straight from the query's
//! bytes (`wire`) without hickory's decode and encode. Anything else (a cache miss, safe
//! search, a rebinding refusal, an answer bigger than the client takes, any query shape
//! `wire::parse` leaves alone) returns `false` and goes through `handler` unchanged, so
//! the two paths never disagree on a decision: both ask the same stages.
//!
//! Hot code: every UDP query runs through here, and `bench dns` holds it against Unbound
//! and dnsmasq. Add no allocation, lock or dynamic dispatch to it: the stages it calls
//! are plain structs and small `#[inline]` functions (the locks it takes, the cache's
//! front map and the repeats, are uncontended by design: see `cache`, `repeats`).
//!
//! Owns: the fast path's order of the stages and its decline rules. Must not: answer
//! anything the full path would answer differently.

use std::{net::SocketAddr, ops::ControlFlow, time::Instant};

use hickory_proto::rr::RecordType;

use super::{
    cache,
    decide::{self, Ask},
    filter::{Filter, Via},
    outcome::Outcome,
    record::Asked,
    wire,
};

const RCODE_REFUSED: u8 = 5;

impl Filter {
    /// Answers `pkt` from `src` into `out` if the fast path can; `false`: use `handler`.
    /// `start`: when it was received (the loop reads the clock once per datagram).
    pub(super) fn fast(
        &self,
        pkt: &[u8],
        src: SocketAddr,
        via: Via,
        start: Instant,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(q) = wire::parse(pkt) else {
            return false;
        };
        let client = src.ip().to_canonical();
        // Refusals are not logged, as in `handler`: whoever floods could fill the log.
        let refuse = |out: &mut Vec<u8>| {
            self.log.refused();
            // Over the error allowance: handled, with nothing to send.
            out.clear();
            if self.access.may_answer_error(client) {
                wire::empty_answer(out, pkt, &q, RCODE_REFUSED);
            }
            true
        };
        // 1. Who asks. The rate limit is checked only once this path answers: a query it
        // leaves to `handler` is checked there, and must not spend two of the client's
        // tokens.
        if !self.access.on_lan(client) {
            return refuse(out);
        }
        // An intercepted query to be refused is the full path's: it is logged.
        if via == Via::Intercepted && self.access.refuse_intercepted {
            return false;
        }
        let name = q.name();
        let qtype = RecordType::from(q.qtype);
        let policy = self.policy.load();
        let ask = Ask {
            policy: &policy,
            client,
            now: self.clock.now(),
            via,
        };
        let asked = Asked {
            name,
            qtype: q.qtype,
            start,
        };
        let dnssec_ok = q.edns.is_some_and(|e| e.dnssec_ok);
        // 2. The policy on the name. A recent answer may say its names are allowed to
        // this client's class: then no rule needs asking (the policy's id is part of the
        // class, so a reload forgets).
        let probe = self.cache.probe(name, qtype, dnssec_ok, q.cd, start);
        let class = policy.rules_class(client);
        let known = match &probe {
            cache::Probe::Hit(hit, _) => decide::known(hit, class),
            _ => false,
        };
        let mut timeless = true;
        if !known {
            match ask.verdict(name) {
                // 3. A blocked name's answer.
                ControlFlow::Break(mode) => {
                    if !self.access.within_rate(client) {
                        return refuse(out);
                    }
                    self.block.write(out, pkt, &q, mode);
                    self.log.repeat(&ask, &asked, name, Outcome::Blocked, None);
                    return true;
                }
                ControlFlow::Continue(memo) => timeless = memo,
            }
        }
        if super::safe_search::target(name).is_some() {
            return false;
        }
        // 4. The cache (a miss goes to the full path, which forwards).
        let found = match probe {
            cache::Probe::Hit(hit, age) => Some((hit, age)),
            cache::Probe::Expired => None,
            cache::Probe::Miss(h) => self.cache.fill(h, name, qtype, dnssec_ok, q.cd, start),
        };
        let Some((hit, age)) = found else {
            return false;
        };
        // 5. The policy on the answer's CNAME targets, then rebinding protection.
        if !known {
            // A hit is counted where this path answers from it (a CNAME block included,
            // as in `lookup`); what it declines below, the full path counts.
            match ask.verdict_cnames(&hit.cnames) {
                ControlFlow::Break((mode, target)) => {
                    if !self.access.within_rate(client) {
                        return refuse(out);
                    }
                    self.log.stats.cache(true);
                    self.block.write(out, pkt, &q, mode);
                    self.log
                        .repeat(&ask, &asked, target, Outcome::BlockedCname, Some(&hit));
                    return true;
                }
                ControlFlow::Continue(memo) => timeless &= memo,
            }
            if timeless {
                decide::learn(&hit, class);
            }
        }
        if self.rebinding.refuses_cached(name, &hit) {
            return false;
        }
        let opt = if q.edns.is_some() { 11 } else { 0 };
        if q.question_end + hit.body.bytes.len() + opt > q.max_udp() {
            // Truncation (TC) is the full path's job.
            return false;
        }
        if !self.access.within_rate(client) {
            return refuse(out);
        }
        // The cached answer, behind the client's own question, TTLs counted down.
        self.log.stats.cache(true);
        wire::start_answer(out, pkt, &q, hit.flags, hit.rcode, hit.body.counts);
        wire::append_body(out, &hit.body, age);
        wire::finish_answer(out, &q);
        // 6. Remembered, 7. recorded.
        self.remember.cached(&hit, client, name, start);
        self.log
            .repeat(&ask, &asked, name, Outcome::Allowed, Some(&hit));
        true
    }
}
