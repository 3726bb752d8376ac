//! The last stage of the chain: every answered query is counted (`DnsStats`) and goes to
//! the query log (the store; queued, never waiting on the disk). The full path logs each
//! query at once (`Log::record`); the fast path's answers are counted as repeats first
//! (`Log::repeat`, `repeats`), and their record built only for the first of a window.
//! Refusals are counted, never logged (`access`).
//!
//! Owns: the query-log record's fields. Must not: decide or answer.

use std::{net::IpAddr, sync::Arc, time::Instant};

use super::{cache, decide::Ask, filter::Via, outcome::Outcome, repeats, stats::DnsStats};

/// What the log needs to know of one query, filled in as the chain runs.
pub(super) struct Entry {
    pub start: Instant,
    pub client: IpAddr,
    pub decision: Option<crate::policy::Decision>,
    pub name: String,
    pub qtype: String,
    pub via: Via,
}

/// The fast path's query as the log sees it: the name (lower case, no trailing dot), the
/// type, and when it was received.
pub(super) struct Asked<'a> {
    pub name: &'a str,
    pub qtype: u16,
    pub start: Instant,
}

pub struct Log {
    pub stats: Arc<DnsStats>,
    /// Where every query is logged. None: no log.
    pub store: Option<crate::store::Store>,
    /// The fast path's log records, repeats counted (`repeats`); set when `store` is.
    pub repeats: Option<repeats::Repeats>,
}

impl Log {
    /// A refusal (outside the LAN, over its rate limit): counted only.
    #[inline]
    pub(super) fn refused(&self) {
        self.stats.count(Outcome::Refused);
    }

    /// Queues the query-log record (never waits on the disk). `rcode`: the relayed
    /// answer's RCODE (`None` for what the filter answered itself: `Outcome::log_rcode`).
    pub(super) fn record(
        &self,
        e: Entry,
        outcome: Outcome,
        upstream: Option<String>,
        answers: &[IpAddr],
        rcode: Option<&str>,
    ) {
        self.stats.count(outcome);
        self.stats.via(e.via);
        let Some(log) = &self.store else { return };
        log.query(log_record(e, outcome, upstream, answers, rcode));
    }

    /// The fast path's record: counted as a repeat, the record built only for the first
    /// of its repeats, with the full decision on `decided` (the name itself, or the
    /// CNAME target that blocked). `answer`: the cached answer given, or whose CNAME
    /// blocked.
    #[inline]
    pub(super) fn repeat(
        &self,
        ask: &Ask<'_>,
        q: &Asked<'_>,
        decided: &str,
        outcome: Outcome,
        answer: Option<&cache::Wire>,
    ) {
        self.stats.count(outcome);
        self.stats.via(ask.via);
        let Some(repeats) = &self.repeats else { return };
        let key = repeats::Key {
            client: ask.client,
            name: q.name,
            qtype: q.qtype,
            verdict: outcome,
            policy: ask.policy.id(),
            answer: answer.map_or(0, |w| w.serial),
            via: ask.via,
        };
        repeats.add(&key, q.start, || {
            let entry = Entry {
                start: q.start,
                client: ask.client,
                decision: Some(ask.policy.evaluate(ask.client, decided, ask.now)),
                name: q.name.to_string(),
                qtype: hickory_proto::rr::RecordType::from(q.qtype).to_string(),
                via: ask.via,
            };
            let source = answer.map(|w| w.source.clone());
            match answer {
                Some(w) if outcome == Outcome::Allowed => {
                    log_record(entry, outcome, source, &w.addrs, Some(&w.rcode_text))
                }
                _ => log_record(entry, outcome, source, &[], None),
            }
        });
    }
}

/// The query-log record of one answered query.
pub(super) fn log_record(
    e: Entry,
    outcome: Outcome,
    upstream: Option<String>,
    answers: &[IpAddr],
    rcode: Option<&str>,
) -> crate::store::Query {
    let (pc, group, rule) = match e.decision {
        Some(d) => (d.pc, d.group, d.rule.map(|r| r.summary())),
        None => (None, String::new(), None),
    };
    crate::store::Query {
        at_ms: crate::store::now_ms(),
        client: e.client.to_string(),
        pc,
        group,
        name: e.name,
        qtype: e.qtype,
        verdict: outcome.as_str().to_string(),
        rule,
        answers: answers.iter().map(|a| a.to_string()).collect(),
        upstream,
        latency_us: e.start.elapsed().as_micros() as i64,
        rcode: outcome
            .log_rcode()
            .or(rcode)
            .unwrap_or_default()
            .to_string(),
        count: 1,
        intercepted: e.via == Via::Intercepted,
    }
}
