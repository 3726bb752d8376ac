//! Which addresses the gateway recently answered for which names. The policy turns this
//! into per-group blocked addresses (`Policy::datapath_plan`), so a name blocked now —
//! by a new rule or a schedule that just started — is blocked in the datapath too, even
//! for PCs that kept the old answer in their cache or never ask the gateway again.
//!
//! Bounded (moka: entry count, time to live): an office asks for tens of thousands of
//! names a day; the newest are the ones PCs may still hold.
//!
//! Owns: the recent names and their addresses. Must not: know the policy.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Addresses kept per name (CDNs rotate; the newest win).
const PER_NAME: usize = 16;
/// The same answer again within this is not written again (the hot path of a busy
/// gateway: cached answers repeat all day); the entry's hour counts from its last write.
const REWRITE_AFTER: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct Entry {
    pub addrs: Arc<[IpAddr]>,
    written: Instant,
}

#[derive(Clone)]
pub struct Answered {
    inner: moka::sync::Cache<Arc<str>, Entry>,
    /// Bumped when a name or an address is new: the plan need not look again otherwise.
    generation: Arc<AtomicU64>,
}

impl Answered {
    pub fn new(names: u64, keep: Duration) -> Self {
        Answered {
            inner: moka::sync::Cache::builder()
                .max_capacity(names)
                .time_to_live(keep)
                .build(),
            generation: Arc::default(),
        }
    }

    /// Changes whenever something new was recorded.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Records that `name` (lower case, no trailing dot) was answered with `addrs`.
    pub fn record(&self, name: &str, addrs: &[IpAddr]) {
        if addrs.is_empty() {
            return;
        }
        let old = self.inner.get(name);
        if let Some(e) = &old
            && addrs.iter().all(|a| e.addrs.contains(a))
            && e.written.elapsed() < REWRITE_AFTER
        {
            return;
        }
        let mut all: Vec<IpAddr> = addrs.to_vec();
        let mut new = true;
        if let Some(e) = &old {
            new = addrs.iter().any(|a| !e.addrs.contains(a));
            for a in e.addrs.iter() {
                if !all.contains(a) && all.len() < PER_NAME {
                    all.push(*a);
                }
            }
        }
        all.truncate(PER_NAME);
        self.inner.insert(
            name.into(),
            Entry {
                addrs: all.into(),
                written: Instant::now(),
            },
        );
        if new {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every (name, addresses) still kept.
    pub fn snapshot(&self) -> Vec<(Arc<str>, Arc<[IpAddr]>)> {
        self.inner
            .iter()
            .map(|(k, v)| ((*k).clone(), v.addrs))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_accumulate_per_name() {
        let a = Answered::new(100, Duration::from_secs(60));
        let x: IpAddr = "203.0.113.10".parse().unwrap();
        let y: IpAddr = "203.0.113.11".parse().unwrap();
        a.record("news.example", &[x]);
        a.record("news.example", &[y]);
        a.record("empty.example", &[]);
        let s = a.snapshot();
        assert_eq!(s.len(), 1);
        assert_eq!(&*s[0].1, &[y, x]);
        let g = a.generation();
        a.record("news.example", &[x]);
        assert_eq!(a.generation(), g, "nothing new");
    }
}
