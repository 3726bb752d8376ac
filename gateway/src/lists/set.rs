//! A set of domain names in ~20 bytes per name: the names are not stored, only a 64-bit
//! hash of each, in an open-addressing table. At 1,000,000 names the chance that a lookup
//! meets a false match is about 1e6 / 2^64 ≈ 5e-14. Written here rather than using a
//! `HashSet<u64>` (16+ bytes per slot plus control bytes, ~34 B/name at this size) because
//! memory per blocked name is a stated goal (≤ 40 B/name; dnsmasq 79, Unbound 437).

use xxhash_rust::xxh3::xxh3_64;

/// Slot value meaning "empty"; a name hashing to it is stored as 1 instead.
const EMPTY: u64 = 0;

pub fn name_hash(name: &[u8]) -> u64 {
    match xxh3_64(name) {
        EMPTY => 1,
        h => h,
    }
}

pub struct DomainSet {
    slots: Vec<u64>,
    len: usize,
}

impl Default for DomainSet {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl DomainSet {
    pub fn with_capacity(n: usize) -> Self {
        let slots = vec![EMPTY; Self::slots_for(n)];
        Self { slots, len: 0 }
    }

    /// Load factor ≤ 3/4, power of two.
    fn slots_for(n: usize) -> usize {
        (n.max(8) * 4 / 3 + 1).next_power_of_two()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the table (for the bytes-per-name figure).
    pub fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<u64>()
    }

    pub fn insert(&mut self, name: &[u8]) {
        self.insert_hash(name_hash(name));
    }

    pub fn insert_hash(&mut self, h: u64) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            match self.slots[i] {
                EMPTY => {
                    self.slots[i] = h;
                    self.len += 1;
                    return;
                }
                s if s == h => return,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; Self::slots_for(self.len * 2)]);
        self.len = 0;
        for h in old.into_iter().filter(|h| *h != EMPTY) {
            self.insert_hash(h);
        }
    }

    pub fn contains_hash(&self, h: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            match self.slots[i] {
                EMPTY => return false,
                s if s == h => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        self.contains_hash(name_hash(name))
    }

    /// `a.b.example.com` is in the set if it, `b.example.com`, `example.com` or `com` is.
    pub fn contains_name_or_parent(&self, name: &[u8]) -> bool {
        self.matching_suffix(name).is_some()
    }

    /// The longest listed suffix of `name` (the name itself first), if any.
    pub fn matching_suffix<'a>(&self, name: &'a [u8]) -> Option<&'a [u8]> {
        let mut rest = name;
        loop {
            if self.contains(rest) {
                return Some(rest);
            }
            let dot = rest.iter().position(|b| *b == b'.')?;
            rest = &rest[dot + 1..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parents() {
        let mut s = DomainSet::default();
        s.insert(b"example.com");
        s.insert(b"ads.other.net");
        assert!(s.contains_name_or_parent(b"example.com"));
        assert!(s.contains_name_or_parent(b"a.b.example.com"));
        assert!(!s.contains_name_or_parent(b"notexample.com"));
        assert!(!s.contains_name_or_parent(b"other.net"));
        assert_eq!(
            s.matching_suffix(b"x.ads.other.net"),
            Some(&b"ads.other.net"[..])
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn grows_and_keeps_everything() {
        let mut s = DomainSet::with_capacity(4);
        for i in 0..100_000 {
            s.insert(format!("n{i}.example").as_bytes());
        }
        s.insert(b"n5.example"); // duplicate
        assert_eq!(s.len(), 100_000);
        assert!((0..100_000).all(|i| s.contains(format!("n{i}.example").as_bytes())));
        assert!(!s.contains(b"n100000.example"));
    }

    #[test]
    fn a_million_names_fit_in_under_40_bytes_each() {
        let n = 1_000_000;
        let mut s = DomainSet::with_capacity(n);
        for i in 0..n {
            s.insert(format!("host{i}.blocked.example").as_bytes());
        }
        let per_name = s.heap_bytes() as f64 / n as f64;
        assert!(per_name <= 40.0, "{per_name} bytes per name");
    }
}
