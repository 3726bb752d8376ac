//! Repeated queries become one query-log row with a count. Browsers and operating
//! systems ask the same name again and again (every tab, every retry, both A and AAAA
//! per connection); logging each one costs the gateway more than answering it — a
//! record built, queued and inserted into SQLite per query was a third of the CPU of a
//! busy filter in a profile. So the fast path's answers (blocked names and cached
//! answers) are counted here first: the same client, name, type, verdict and answer
//! within `WINDOW` add one to the first record's `count`, and the record is written when
//! its window is over. Forwarded queries (the cache misses) are logged at once, as are
//! all records when the filter stops.
//!
//! Owns: the fast path's records waiting for their repeats. Must not: lose a count (all
//! are written when the filter stops).

use std::{
    collections::{HashMap, VecDeque},
    hash::BuildHasher,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::store::{Query, Store};

/// How long a record takes repeats before it is written.
const WINDOW: Duration = Duration::from_secs(1);
/// Records waiting at most; beyond this a query is written on its own (a flood of
/// distinct names must not grow memory).
const MAX_PENDING: usize = 100_000;
/// Records the UDP loop writes per call at most: a whole second's records at once
/// would hold the loop for milliseconds (tens of thousands of distinct names a second
/// under load), and every query waiting behind it would see that delay.
const FLUSH_STEP: usize = 256;

struct Pending {
    query: Query,
    first: Instant,
}

pub struct Repeats {
    log: Store,
    pending: Mutex<Pendings>,
    hasher: foldhash::fast::RandomState,
}

#[derive(Default)]
struct Pendings {
    /// Keyed by the `Key`'s hash already: foldhash's fast hasher, not SipHash, on this
    /// hot path (HashDoS needs the random seed, which both keep).
    by_key: HashMap<u64, Pending, foldhash::fast::RandomState>,
    /// Keys in the order their windows started, so finished ones are found at the
    /// front without scanning the map (a key whose record was replaced stays here until
    /// it reaches the front, and is skipped then).
    order: VecDeque<(u64, Instant)>,
}

impl Pendings {
    /// Removes and returns up to `limit` records whose window ended by `now` (all, if
    /// `now` is None).
    fn take_due(&mut self, now: Option<Instant>, limit: usize) -> Vec<Query> {
        let mut out = Vec::new();
        while out.len() < limit
            && let Some(&(h, first)) = self.order.front()
        {
            if now.is_some_and(|n| n.saturating_duration_since(first) < WINDOW) {
                break;
            }
            self.order.pop_front();
            if self.by_key.get(&h).is_some_and(|p| p.first == first)
                && let Some(p) = self.by_key.remove(&h)
            {
                out.push(p.query);
            }
        }
        out
    }
}

/// What makes two queries the same record. `policy` and `answer` are identities (the
/// policy's id, the cached answer's serial; never reused): a reload or a new answer
/// starts a new record.
#[derive(Hash)]
pub struct Key<'a> {
    pub client: IpAddr,
    pub name: &'a str,
    pub qtype: u16,
    pub verdict: super::outcome::Outcome,
    pub policy: u64,
    pub answer: u64,
    /// An intercepted query is never merged with one asked of the gateway.
    pub via: super::filter::Via,
}

impl Repeats {
    pub fn new(log: Store) -> Self {
        Repeats {
            log,
            pending: Mutex::default(),
            hasher: Default::default(),
        }
    }

    /// Counts one query received at `now`; `make` builds its record when it is the
    /// first of its window.
    pub fn add(&self, key: &Key<'_>, now: Instant, make: impl FnOnce() -> Query) {
        let h = self.hasher.hash_one(key);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pending.by_key.get_mut(&h) {
            if p.query.name == key.name && now.saturating_duration_since(p.first) < WINDOW {
                p.query.count += 1;
                return;
            }
            if let Some(old) = pending.by_key.remove(&h) {
                self.log.query(old.query);
            }
        }
        let query = make();
        if pending.by_key.len() >= MAX_PENDING {
            drop(pending);
            self.log.query(query);
            return;
        }
        pending.by_key.insert(h, Pending { query, first: now });
        pending.order.push_back((h, now));
    }

    /// Writes a few of the records whose window is over (cheap enough to call after
    /// every batch of datagrams).
    pub fn flush_due(&self) {
        self.flush_some(Some(Instant::now()), FLUSH_STEP);
    }

    /// Writes the records whose window is over, or all of them.
    pub fn flush(&self, all: bool) {
        self.flush_some((!all).then(Instant::now), usize::MAX);
    }

    fn flush_some(&self, now: Option<Instant>, limit: usize) {
        let done = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_due(now, limit);
        for q in done {
            self.log.query(q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> Query {
        Query {
            at_ms: 1,
            client: "10.10.0.11".into(),
            pc: None,
            group: "default".into(),
            name: name.into(),
            qtype: "A".into(),
            verdict: "blocked".into(),
            rule: None,
            answers: Vec::new(),
            upstream: None,
            latency_us: 5,
            rcode: "BLOCKED".into(),
            count: 1,
            intercepted: false,
        }
    }

    #[test]
    fn repeats_in_a_window_are_one_row_with_their_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let r = Repeats::new(store.clone());
        let key = |name| Key {
            client: "10.10.0.11".parse().unwrap(),
            name,
            qtype: 1,
            verdict: super::super::outcome::Outcome::Blocked,
            policy: 1,
            answer: 0,
            via: super::super::filter::Via::Asked,
        };
        for _ in 0..5 {
            r.add(&key("ads.example"), Instant::now(), || {
                record("ads.example")
            });
        }
        r.add(&key("other.example"), Instant::now(), || {
            record("other.example")
        });
        // Nothing is written before the window is over.
        store.sync();
        let conn = crate::store::open_read(dir.path()).unwrap();
        let all = crate::store::QueryFilter::default();
        assert!(
            crate::store::queries(&conn, &all, 10, 0)
                .unwrap()
                .is_empty()
        );
        r.flush(true);
        store.sync();
        let mut got = crate::store::queries(&conn, &all, 10, 0).unwrap();
        got.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].name.as_str(), got[0].count), ("ads.example", 5));
        assert_eq!((got[1].name.as_str(), got[1].count), ("other.example", 1));
    }
}
