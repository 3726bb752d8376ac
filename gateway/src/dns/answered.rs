//! Which addresses the gateway recently answered for which names. The policy turns this
//! into per-group blocked addresses (`Policy::datapath_plan`), so a name blocked now —
//! by a new rule or a schedule that just started — is blocked in the datapath too, even
//! for PCs that kept the old answer in their cache or never ask the gateway again.
//!
//! Bounded (moka: entry count, time to live): an office asks for tens of thousands of
//! names a day; the newest are the ones PCs may still hold.

use std::{net::IpAddr, sync::Arc, time::Duration};

/// Addresses kept per name (CDNs rotate; the newest win).
const PER_NAME: usize = 16;

#[derive(Clone)]
pub struct Answered {
    inner: moka::sync::Cache<String, Arc<[IpAddr]>>,
}

impl Answered {
    pub fn new(names: u64, keep: Duration) -> Self {
        Answered {
            inner: moka::sync::Cache::builder()
                .max_capacity(names)
                .time_to_live(keep)
                .build(),
        }
    }

    /// Records that `name` (lower case, no trailing dot) was answered with `addrs`.
    pub fn record(&self, name: &str, addrs: &[IpAddr]) {
        if addrs.is_empty() {
            return;
        }
        let mut all: Vec<IpAddr> = addrs.to_vec();
        if let Some(old) = self.inner.get(name) {
            for a in old.iter() {
                if !all.contains(a) && all.len() < PER_NAME {
                    all.push(*a);
                }
            }
        }
        all.truncate(PER_NAME);
        self.inner.insert(name.to_string(), all.into());
    }

    /// Every (name, addresses) still kept.
    pub fn snapshot(&self) -> Vec<(String, Arc<[IpAddr]>)> {
        self.inner.iter().map(|(k, v)| ((*k).clone(), v)).collect()
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
    }
}
