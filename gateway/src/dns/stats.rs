//! Counters of the filter since start, for `/metrics`: queries by outcome, cache hits
//! and misses. Relaxed atomics, one add per query: both paths count here.
//!
//! Owns: the counters. Must not: decide or log anything.

use std::sync::atomic::{AtomicU64, Ordering};

use super::outcome::Outcome;

/// Counters of the filter since start, for `/metrics`.
#[derive(Default)]
pub struct DnsStats {
    /// Indexed by `Outcome as usize` (the order of `Outcome::ALL`).
    verdicts: [AtomicU64; Outcome::ALL.len()],
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    /// Answered queries that were on their way to another resolver.
    intercepted: AtomicU64,
}

impl DnsStats {
    #[inline]
    pub(crate) fn count(&self, outcome: Outcome) {
        self.verdicts[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn via(&self, via: super::filter::Via) {
        if via == super::filter::Via::Intercepted {
            self.intercepted.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn cache(&self, hit: bool) {
        let c = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Every outcome's word (the query log's `verdict`, plus `refused`) and its count.
    pub fn by_verdict(&self) -> Vec<(&'static str, u64)> {
        Outcome::ALL
            .iter()
            .zip(&self.verdicts)
            .map(|(v, n)| (v.as_str(), n.load(Ordering::Relaxed)))
            .collect()
    }

    pub fn cache_hits(&self) -> u64 {
        self.cache_hits.load(Ordering::Relaxed)
    }

    /// Queries sent to another resolver and answered (or refused) by the filter.
    pub fn intercepted(&self) -> u64 {
        self.intercepted.load(Ordering::Relaxed)
    }

    pub fn cache_misses(&self) -> u64 {
        self.cache_misses.load(Ordering::Relaxed)
    }
}
