//! The answer cache: upstream answers kept for their TTL (capped), served with the TTLs
//! counted down. Positive answers live as long as their smallest TTL; NXDOMAIN and empty
//! answers as long as the SOA's negative TTL (RFC 2308), capped.
//!
//! Policy is never cached: every query is evaluated for its PC first, and CNAME targets
//! in a cached answer are checked again for each PC (the handler does both).
//!
//! moka does the storage, eviction (TinyLFU, bounded entry count) and per-entry expiry.

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
    stored: Instant,
    ttl: u32,
}

struct ByTtl;

impl Expiry<Key, Entry> for ByTtl {
    fn expire_after_create(&self, _: &Key, v: &Entry, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(v.ttl)))
    }
}

pub struct Cache {
    inner: Moka<Key, Entry>,
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
                .expire_after(ByTtl)
                .build(),
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

    /// Keeps `msg` if it is cacheable (NOERROR or NXDOMAIN, not truncated, TTL > 0).
    pub fn put(&self, key: Key, msg: &Message, upstream: &str) {
        let Some(ttl) = cache_ttl(msg) else { return };
        self.inner.insert(
            key,
            Entry {
                msg: std::sync::Arc::new(msg.clone()),
                upstream: upstream.into(),
                stored: Instant::now(),
                ttl,
            },
        );
    }
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
    fn nxdomain_without_soa_is_not_kept() {
        let mut m = Message::query();
        m.metadata.response_code = ResponseCode::NXDomain;
        assert_eq!(cache_ttl(&m), None);
    }
}
