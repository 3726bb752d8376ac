//! The answer cache: upstream answers kept for their TTL (capped), served with the TTLs
//! counted down. Positive answers live as long as their smallest TTL; NXDOMAIN and empty
//! answers as long as the SOA's negative TTL (RFC 2308), capped.
//!
//! Policy is never cached: every query is evaluated for its PC first, and CNAME targets
//! in a cached answer are checked again for each PC (the handler does both).
//!
//! moka does the storage, eviction (TinyLFU, bounded entry count) and per-entry expiry.
//!
//! Each entry is kept twice: as hickory's `Message` for the full path, and encoded
//! (`Wire`) for the UDP fast path, which copies it behind the client's own question with
//! the TTLs patched instead of decoding and re-encoding a `Message` per hit.
//!
//! Owns: the cached answers (both forms) and the front map. Must not: decide (the
//! verdict memo a `Wire` carries, `allowed_for`, is written and read by `decide`).

use std::time::{Duration, Instant};

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{RData, RecordType},
};
use moka::{Expiry, sync::Cache as Moka};

/// Longest any answer is kept, whatever its TTL says.
const MAX_TTL: u32 = 86_400;
/// Longest a negative answer is kept.
const MAX_NEGATIVE_TTL: u32 = 900;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Key {
    /// Lower case, no trailing dot.
    pub name: String,
    pub qtype: RecordType,
    /// DNSSEC records asked for: a different answer.
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
}

#[derive(Clone)]
struct Entry {
    msg: std::sync::Arc<Message>,
    upstream: std::sync::Arc<str>,
    wire: Option<std::sync::Arc<Wire>>,
    stored: Instant,
    ttl: u32,
    /// The answer's size in the cache's units (`UNIT` bytes each).
    weight: u32,
}

/// Cache capacity is counted in units of this many bytes of answer: a typical answer is
/// one, and a name answering 64 KiB of records counts as 128 — so `cache_entries` bounds
/// the bytes held too, whatever the answers' sizes.
const UNIT: usize = 512;

/// A cached answer in wire form, with what the fast path checks on each hit.
pub struct Wire {
    pub body: super::wire::Body,
    /// The answer's AA and AD header bits.
    pub flags: u16,
    pub rcode: u8,
    /// For the query log.
    pub rcode_text: String,
    /// The key it answers (the front's hash is checked against it).
    pub key: Key,
    /// Unique per encoded answer (the query log's repeats tell answers apart by it).
    pub serial: u64,
    /// `cache (<upstream>)`, as the query log names a cached answer.
    pub source: String,
    /// A and AAAA addresses of the answer section.
    pub addrs: Vec<std::net::IpAddr>,
    /// CNAME targets (lower case, no trailing dot): each PC's policy is asked again.
    pub cnames: Vec<String>,
    /// When (`Memo::now`) this answer was last given to `Answered`, and to which
    /// clients recently for `Lookups`: both keep it for minutes, so a repeat within
    /// `Memo::FRESH` need not be recorded again (three cache look-ups per query saved).
    pub answered_at: std::sync::atomic::AtomicU32,
    pub looked_up_by: [std::sync::atomic::AtomicU64; 4],
    /// Rebinding protection's verdict on this answer, once asked: 0 not yet, 1 fine,
    /// 2 refused (it depends on the name and addresses only).
    pub rebinding: std::sync::atomic::AtomicU8,
    /// The policy's rules allow this name and its CNAME targets, whatever the time, to
    /// PCs of this class (`Policy::rules_class`; 0: not known). Saves the list look-ups
    /// of every label of every name for the allowed answers a busy office repeats most.
    pub allowed_for: std::sync::atomic::AtomicU64,
}

/// What the front map holds for a key (`Cache::probe`).
pub enum Probe {
    /// The answer and its age in seconds.
    Hit(std::sync::Arc<Wire>, u32),
    /// Found, too old (and removed): the full cache has it no younger.
    Expired,
    /// Not in the front map; the key's hash.
    Miss(u64),
}

struct ByTtl;

impl Expiry<Key, Entry> for ByTtl {
    fn expire_after_create(&self, _: &Key, v: &Entry, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(v.ttl)))
    }
}

pub struct Cache {
    inner: Moka<Key, Entry>,
    /// The fast path's front: the answers it gave lately, by a hash of their key. A moka
    /// look-up (its concurrent map, access-order bookkeeping, clock) was a tenth of
    /// the filter's CPU at 70k qps, for a filter that answers from one thread; a plain
    /// map under a lock that is never contended is a few times cheaper. Bounded by
    /// clearing it when full (it refills from moka); entries still expire by their TTL.
    front: std::sync::Mutex<std::collections::HashMap<u64, Front, foldhash::fast::RandomState>>,
    hasher: foldhash::fast::RandomState,
}

/// Entries the front holds at most.
const FRONT_MAX: usize = 65_536;

#[derive(Clone)]
struct Front {
    wire: std::sync::Arc<Wire>,
    stored: Instant,
    ttl: u32,
}

/// A hit: the answer with its TTLs counted down, and which upstream gave it.
pub struct Hit {
    pub msg: Message,
    pub upstream: std::sync::Arc<str>,
}

impl Cache {
    pub fn new(entries: u64) -> Self {
        Cache {
            inner: Moka::builder()
                .max_capacity(entries)
                .weigher(|_, e: &Entry| e.weight)
                .expire_after(ByTtl)
                .build(),
            front: Default::default(),
            hasher: Default::default(),
        }
    }

    pub fn get(&self, key: &Key) -> Option<Hit> {
        let e = self.inner.get(key)?;
        let age = e.stored.elapsed().as_secs() as u32;
        if age >= e.ttl {
            return None;
        }
        let mut msg = (*e.msg).clone();
        for rec in msg
            .answers
            .iter_mut()
            .chain(msg.authorities.iter_mut())
            .chain(msg.additionals.iter_mut())
        {
            rec.ttl = rec.ttl.saturating_sub(age);
        }
        Some(Hit {
            msg,
            upstream: e.upstream,
        })
    }

    /// The wire form of a live entry for (`name`, `qtype`, `dnssec_ok`,
    /// `checking_disabled`) and its age in seconds at `now`, from the front map alone: a
    /// hash and a plain map look-up, no allocation. The fast path asks it before the
    /// policy, since a hit may carry the answer's verdict (`Wire`'s `allowed_for`); on a
    /// `Probe::Miss`, `fill` goes on to the full cache.
    pub fn probe(
        &self,
        name: &str,
        qtype: RecordType,
        dnssec_ok: bool,
        checking_disabled: bool,
        now: Instant,
    ) -> Probe {
        use std::hash::BuildHasher;
        let h = self
            .hasher
            .hash_one((name, u16::from(qtype), dnssec_ok, checking_disabled));
        let mut front = self.front.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = front.get(&h) {
            let k = &f.wire.key;
            if k.name == name
                && k.qtype == qtype
                && k.dnssec_ok == dnssec_ok
                && k.checking_disabled == checking_disabled
            {
                let age = now.saturating_duration_since(f.stored).as_secs() as u32;
                if age < f.ttl {
                    return Probe::Hit(f.wire.clone(), age);
                }
                front.remove(&h);
                return Probe::Expired;
            }
        }
        Probe::Miss(h)
    }

    /// After a `Probe::Miss` (`h`): the full cache, and the front map filled from it.
    pub fn fill(
        &self,
        h: u64,
        name: &str,
        qtype: RecordType,
        dnssec_ok: bool,
        checking_disabled: bool,
        now: Instant,
    ) -> Option<(std::sync::Arc<Wire>, u32)> {
        // Locked before the full cache is read, as `put` clears the front entry only after
        // the full cache has the new answer: an old answer read here can't then be put back.
        let mut front = self.front.lock().unwrap_or_else(|p| p.into_inner());
        let key = Key {
            name: name.to_string(),
            qtype,
            dnssec_ok,
            checking_disabled,
        };
        let e = self.inner.get(&key)?;
        let age = now.saturating_duration_since(e.stored).as_secs() as u32;
        if age >= e.ttl {
            return None;
        }
        let wire = e.wire?;
        if front.len() >= FRONT_MAX {
            front.clear();
        }
        front.insert(
            h,
            Front {
                wire: wire.clone(),
                stored: e.stored,
                ttl: e.ttl,
            },
        );
        Some((wire, age))
    }

    /// Keeps `msg` if it is cacheable (NOERROR or NXDOMAIN, not truncated, TTL > 0).
    pub fn put(&self, key: Key, msg: &Message, upstream: &str) {
        use std::hash::BuildHasher;
        let Some(ttl) = cache_ttl(msg) else { return };
        let wire = encode(&key, msg, upstream).map(std::sync::Arc::new);
        let bytes = match &wire {
            Some(w) => w.body.bytes.len(),
            None => msg.to_vec().map_or(UNIT, |v| v.len()),
        };
        let weight = u32::try_from(bytes / UNIT + 1).unwrap_or(u32::MAX);
        let h = self.hasher.hash_one((
            key.name.as_str(),
            u16::from(key.qtype),
            key.dnssec_ok,
            key.checking_disabled,
        ));
        self.inner.insert(
            key,
            Entry {
                msg: std::sync::Arc::new(msg.clone()),
                upstream: upstream.into(),
                wire,
                stored: Instant::now(),
                ttl,
                weight,
            },
        );
        // A newer answer replaces the front's copy at once (after moka has it, so a look-up
        // in between can't bring the old one back).
        self.front
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&h);
    }
}

/// `msg` encoded behind one question for `key` (the name in lower case), split into the
/// body the fast path copies. `None` if it can't be (then only the full path serves it).
fn encode(key: &Key, msg: &Message, upstream: &str) -> Option<Wire> {
    let name = hickory_proto::rr::Name::from_ascii(format!("{}.", key.name)).ok()?;
    let mut m = Message::query();
    m.metadata.message_type = hickory_proto::op::MessageType::Response;
    m.metadata.response_code = msg.metadata.response_code;
    m.add_query(hickory_proto::op::Query::query(name, key.qtype));
    m.answers = msg.answers.clone();
    m.authorities = msg.authorities.clone();
    m.additionals = msg.additionals.clone();
    let body = super::wire::body(&m.to_vec().ok()?)?;
    let md = &msg.metadata;
    // Extended RCODEs live in the OPT record, which the body leaves out.
    let rcode = u8::try_from(u16::from(md.response_code))
        .ok()
        .filter(|r| *r < 16)?;
    let mut cnames = Vec::new();
    let mut addrs = Vec::new();
    for rec in &msg.answers {
        match &rec.data {
            RData::CNAME(t) => {
                let t = t.0.to_lowercase().to_string();
                cnames.push(t.trim_end_matches('.').to_string());
            }
            RData::A(a) => addrs.push(std::net::IpAddr::V4(a.0)),
            RData::AAAA(a) => addrs.push(std::net::IpAddr::V6(a.0)),
            _ => {}
        }
    }
    Some(Wire {
        body,
        flags: (u16::from(md.authoritative) << 10) | (u16::from(md.authentic_data) << 5),
        rcode,
        rcode_text: md.response_code.to_string(),
        source: format!("cache ({upstream})"),
        key: key.clone(),
        serial: {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        },
        addrs,
        cnames,
        answered_at: Default::default(),
        looked_up_by: Default::default(),
        rebinding: Default::default(),
        allowed_for: Default::default(),
    })
}

/// How long `msg` may be cached, or `None` if it may not.
fn cache_ttl(msg: &Message) -> Option<u32> {
    if msg.metadata.truncation {
        return None;
    }
    let rcode = msg.metadata.response_code;
    let negative = || {
        msg.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(r.ttl.min(soa.minimum).min(MAX_NEGATIVE_TTL)),
            _ => None,
        })
    };
    let ttl = match rcode {
        ResponseCode::NXDomain => negative()?,
        ResponseCode::NoError if msg.answers.is_empty() => negative()?,
        ResponseCode::NoError => msg.answers.iter().map(|r| r.ttl).min()?.min(MAX_TTL),
        _ => return None,
    };
    (ttl > 0).then_some(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{Name, Record, rdata::A};

    fn answer(ttl: u32) -> Message {
        let mut m = Message::query();
        m.metadata.response_code = ResponseCode::NoError;
        m.answers.push(Record::from_rdata(
            Name::from_ascii("news.example.").unwrap(),
            ttl,
            RData::A(A::new(203, 0, 113, 10)),
        ));
        m
    }

    fn key() -> Key {
        Key {
            name: "news.example".into(),
            qtype: RecordType::A,
            dnssec_ok: false,
            checking_disabled: false,
        }
    }

    #[test]
    fn answers_are_served_until_their_ttl() {
        let c = Cache::new(100);
        c.put(key(), &answer(60), "up");
        let hit = c.get(&key()).expect("hit");
        assert_eq!(hit.msg.answers[0].ttl, 60);
        assert_eq!(&*hit.upstream, "up");
        let other = Key {
            qtype: RecordType::AAAA,
            ..key()
        };
        assert!(c.get(&other).is_none());
    }

    #[test]
    fn zero_ttl_servfail_and_truncated_answers_are_not_kept() {
        let c = Cache::new(100);
        c.put(key(), &answer(0), "up");
        assert!(c.get(&key()).is_none());
        let mut fail = answer(60);
        fail.metadata.response_code = ResponseCode::ServFail;
        c.put(key(), &fail, "up");
        assert!(c.get(&key()).is_none());
        let mut tc = answer(60);
        tc.metadata.truncation = true;
        c.put(key(), &tc, "up");
        assert!(c.get(&key()).is_none());
    }

    #[test]
    fn big_answers_count_by_their_bytes() {
        let c = Cache::new(100);
        // 200 addresses: about 3 KB, so about 7 units.
        let mut big = answer(60);
        for i in 0..200u8 {
            big.answers.push(Record::from_rdata(
                Name::from_ascii("news.example.").unwrap(),
                60,
                RData::A(A::new(203, 0, 113, i)),
            ));
        }
        for i in 0..40 {
            let k = Key {
                name: format!("n{i}.example"),
                ..key()
            };
            c.put(k, &big, "up");
        }
        c.inner.run_pending_tasks();
        assert!(
            c.inner.weighted_size() <= 100,
            "{}",
            c.inner.weighted_size()
        );
        assert!(c.inner.entry_count() < 40 / 2, "{}", c.inner.entry_count());
    }

    #[test]
    fn nxdomain_without_soa_is_not_kept() {
        let mut m = Message::query();
        m.metadata.response_code = ResponseCode::NXDomain;
        assert_eq!(cache_ttl(&m), None);
    }
}
