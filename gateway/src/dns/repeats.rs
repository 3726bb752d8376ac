//! Repeated queries become one query-log row with a count. Browsers and operating
//! systems ask the same name again and again (every tab, every retry, both A and AAAA
//! per connection); logging each one costs the gateway more than answering it — a
//! record built, queued and inserted into SQLite per query was a third of the CPU of a
//! busy filter in a profile. So the fast path's answers (blocked names and cached
//! answers) are counted here first: the same client, name, type, verdict and answer
//! within `WINDOW` add one to the first record's `count`, and the record is written when
//! its window is over. Forwarded queries (the cache misses) are logged at once, as are
//! all records when the filter stops.

use std::{
    collections::HashMap,
    hash::BuildHasher,
    net::IpAddr,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::store::{Query, Store};

/// How long a record takes repeats before it is written.
const WINDOW: Duration = Duration::from_secs(1);
/// Records waiting at most; beyond this a query is written on its own (a flood of
/// distinct names must not grow memory).
const MAX_PENDING: usize = 100_000;
/// The UDP loop looks for finished windows at most this often.
const FLUSH_EVERY_MS: u64 = 200;

struct Pending {
    query: Query,
    first: Instant,
}

pub struct Repeats {
    log: Store,
    /// Keyed by the `Key`'s hash already: foldhash's fast hasher, not SipHash, on this
    /// hot path (HashDoS needs the random seed, which both keep).
    pending: Mutex<HashMap<u64, Pending, foldhash::fast::RandomState>>,
    hasher: foldhash::fast::RandomState,
    started: Instant,
    last_flush_ms: AtomicU64,
}

/// What makes two queries the same record. `policy` and `answer` are identities (the
/// policy in force, the cache entry answered from): a reload or a new answer starts a
/// new record.
#[derive(Hash)]
pub struct Key<'a> {
    pub client: IpAddr,
    pub name: &'a str,
    pub qtype: u16,
    pub verdict: &'a str,
    pub policy: usize,
    pub answer: usize,
}

impl Repeats {
    pub fn new(log: Store) -> Self {
        Repeats {
            log,
            pending: Mutex::new(HashMap::default()),
            hasher: Default::default(),
            started: Instant::now(),
            last_flush_ms: AtomicU64::new(0),
        }
    }

    /// Counts one query received at `now`; `make` builds its record when it is the
    /// first of its window.
    pub fn add(&self, key: &Key<'_>, now: Instant, make: impl FnOnce() -> Query) {
        let h = self.hasher.hash_one(key);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pending.get_mut(&h) {
            if p.query.name == key.name && now.saturating_duration_since(p.first) < WINDOW {
                p.query.count += 1;
                return;
            }
            if let Some(old) = pending.remove(&h) {
                self.log.query(old.query);
            }
        }
        let query = make();
        if pending.len() >= MAX_PENDING {
            drop(pending);
            self.log.query(query);
            return;
        }
        pending.insert(h, Pending { query, first: now });
    }

    /// Writes the records whose window is over, if not done in the last moment (cheap
    /// enough to call after every batch of datagrams).
    pub fn flush_due(&self) {
        let now_ms = self.started.elapsed().as_millis() as u64;
        if now_ms.saturating_sub(self.last_flush_ms.load(Ordering::Relaxed)) < FLUSH_EVERY_MS {
            return;
        }
        self.last_flush_ms.store(now_ms, Ordering::Relaxed);
        self.flush(false);
    }

    /// Writes the records whose window is over, or all of them.
    pub fn flush(&self, all: bool) {
        let done: Vec<Pending> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending
                .extract_if(|_, p| all || p.first.elapsed() >= WINDOW)
                .map(|(_, p)| p)
                .collect()
        };
        for p in done {
            self.log.query(p.query);
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
            verdict: "blocked",
            policy: 1,
            answer: 0,
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
