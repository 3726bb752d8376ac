//! The DNS wire format of the UDP fast path (`fast`): a plain one-question query parsed
//! in place, and answers written straight into the send buffer.
//!
//! Why by hand and not hickory-proto: this is the hot path of every UDP query. Decoding
//! into hickory's `Message` and encoding the answer back cost about half of the filter's
//! CPU in a profile at 34k qps (name labels, record vectors, the answer's copy out of the
//! cache: allocations and memmove). Only the simplest, commonest shape is handled here —
//! one question of class IN, no compression, at most an OPT record — and everything else
//! (and every query this module declines) goes through hickory unchanged, so nothing
//! the full parser accepts is refused. The parser is fuzzed (`tests/fuzz`, `dns_query`).
//!
//! Owns: the bytes of the fast path's queries and answers. Must not: decide anything (a
//! shape it doesn't handle is `None`, never an error).

/// Largest DNS name in presentation form (RFC 1035: 255 octets on the wire).
const MAX_NAME: usize = 253;
/// QCLASS IN.
const CLASS_IN: u16 = 1;
/// The OPT pseudo-record (EDNS, RFC 6891).
const TYPE_OPT: u16 = 41;
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

/// A query as the fast path sees it; `name` is lower case without the trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    pub rd: bool,
    pub cd: bool,
    pub qtype: u16,
    name: [u8; MAX_NAME],
    name_len: u8,
    /// Where the question section ends (the answer starts here).
    pub question_end: usize,
    /// EDNS: the client's UDP payload size and DO bit.
    pub edns: Option<Edns>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub payload: u16,
    pub dnssec_ok: bool,
}

impl Query {
    pub fn name(&self) -> &str {
        // Only [a-z0-9_-] and dots are ever written (see `parse`).
        std::str::from_utf8(&self.name[..self.name_len as usize]).unwrap_or("")
    }

    /// Largest answer the client gets over UDP: what it offers (RFC 6891 §6.2.5: 512 at
    /// least), never more than `MAX_UDP_ANSWER`.
    pub fn max_udp(&self) -> usize {
        self.edns.map_or(512, |e| {
            usize::from(e.payload.clamp(512, super::MAX_UDP_ANSWER))
        })
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Parses `pkt` if it is a standard query with exactly one IN question whose name is
/// plain ASCII host-name characters, and nothing else but an optional OPT record. `None`
/// means "not for the fast path", never "invalid": the full parser decides that.
pub fn parse(pkt: &[u8]) -> Option<Query> {
    if pkt.len() < 12 {
        return None;
    }
    let flags = u16_at(pkt, 2)?;
    // QR must be 0 (a query) and the opcode QUERY; TC set on a query is odd: leave it.
    if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 || flags & 0x0200 != 0 {
        return None;
    }
    let (qd, an, ns, ar) = (
        u16_at(pkt, 4)?,
        u16_at(pkt, 6)?,
        u16_at(pkt, 8)?,
        u16_at(pkt, 10)?,
    );
    if qd != 1 || an != 0 || ns != 0 || ar > 1 {
        return None;
    }
    let mut name = [0u8; MAX_NAME];
    let mut len = 0usize;
    let mut at = 12;
    loop {
        let l = usize::from(*pkt.get(at)?);
        at += 1;
        if l == 0 {
            break;
        }
        // A compression pointer or an extended label type: not in a plain query.
        if l > 63 {
            return None;
        }
        if len > 0 {
            if len >= MAX_NAME {
                return None;
            }
            name[len] = b'.';
            len += 1;
        }
        if len + l > MAX_NAME {
            return None;
        }
        for &c in pkt.get(at..at + l)? {
            let c = c.to_ascii_lowercase();
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_') {
                return None;
            }
            name[len] = c;
            len += 1;
        }
        at += l;
    }
    // The root itself is left to the full path.
    if len == 0 {
        return None;
    }
    let qtype = u16_at(pkt, at)?;
    if u16_at(pkt, at + 2)? != CLASS_IN || qtype == TYPE_OPT {
        return None;
    }
    at += 4;
    let question_end = at;
    let mut edns = None;
    if ar == 1 {
        // The OPT record: root name, TYPE 41, CLASS = payload size, TTL = extended
        // RCODE, version, DO and Z flags; RDATA = options (skipped, none is echoed).
        if *pkt.get(at)? != 0 || u16_at(pkt, at + 1)? != TYPE_OPT {
            return None;
        }
        let payload = u16_at(pkt, at + 3)?;
        let (ext_rcode, version) = (*pkt.get(at + 5)?, *pkt.get(at + 6)?);
        if ext_rcode != 0 || version != 0 {
            return None;
        }
        let dnssec_ok = pkt.get(at + 7)? & 0x80 != 0;
        let rdlen = usize::from(u16_at(pkt, at + 9)?);
        at += 11;
        // Options must tile RDATA exactly (hickory answers FORMERR otherwise).
        let end = at + rdlen;
        while at < end {
            at += 4 + usize::from(u16_at(pkt, at + 2)?);
        }
        if at != end {
            return None;
        }
        edns = Some(Edns { dnssec_ok, payload });
    }
    if at != pkt.len() {
        return None;
    }
    Some(Query {
        id: u16_at(pkt, 0)?,
        rd: flags & 0x0100 != 0,
        cd: flags & 0x0010 != 0,
        qtype,
        name,
        name_len: len as u8,
        question_end,
        edns,
    })
}

/// Header flags of an answer: QR, RA (not on REFUSED, as hickory's error answers of the
/// full path), the query's RD and CD, and `extra` (AA, AD) and the RCODE.
fn flags(q: &Query, extra: u16, rcode: u8) -> u16 {
    let ra = if rcode == 5 { 0 } else { 0x0080 };
    0x8000 | ra | (u16::from(q.rd) << 8) | (u16::from(q.cd) << 4) | extra | u16::from(rcode & 0xf)
}

/// Writes the answer's header and the query's own question (its case kept, as resolvers
/// do for clients that check it) into `out`.
pub fn start_answer(
    out: &mut Vec<u8>,
    pkt: &[u8],
    q: &Query,
    extra_flags: u16,
    rcode: u8,
    counts: [u16; 3],
) {
    out.clear();
    out.extend_from_slice(&q.id.to_be_bytes());
    out.extend_from_slice(&flags(q, extra_flags, rcode).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    let ar = counts[2].saturating_add(u16::from(q.edns.is_some()));
    for c in [counts[0], counts[1], ar] {
        out.extend_from_slice(&c.to_be_bytes());
    }
    out.extend_from_slice(&pkt[12..q.question_end]);
}

/// Appends our OPT record if the query had one (payload size as the client offered,
/// DO echoed).
pub fn finish_answer(out: &mut Vec<u8>, q: &Query) {
    if let Some(e) = q.edns {
        out.push(0);
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&e.payload.max(512).to_be_bytes());
        out.extend_from_slice(&[0, 0, if e.dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    }
}

/// A complete answer with no records (REFUSED, NXDOMAIN, or NODATA with NOERROR).
pub fn empty_answer(out: &mut Vec<u8>, pkt: &[u8], q: &Query, rcode: u8) {
    start_answer(out, pkt, q, 0, rcode, [0, 0, 0]);
    finish_answer(out, q);
}

/// A complete answer of one address record for the question's name, or NODATA when the
/// address's family is not the type asked.
pub fn address_answer(
    out: &mut Vec<u8>,
    pkt: &[u8],
    q: &Query,
    addr: Option<std::net::IpAddr>,
    ttl: u32,
) {
    let rdata: Option<Vec<u8>> = match (addr, q.qtype) {
        (Some(std::net::IpAddr::V4(a)), TYPE_A) => Some(a.octets().to_vec()),
        (Some(std::net::IpAddr::V6(a)), TYPE_AAAA) => Some(a.octets().to_vec()),
        _ => None,
    };
    let Some(rdata) = rdata else {
        return empty_answer(out, pkt, q, 0);
    };
    start_answer(out, pkt, q, 0, 0, [1, 0, 0]);
    // The owner name: a pointer to the question's name at offset 12.
    out.extend_from_slice(&[0xc0, 12]);
    out.extend_from_slice(&q.qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
    finish_answer(out, q);
}

/// Skips a (possibly compressed) name starting at `at`; returns where it ends.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let l = *msg.get(at)?;
        match l {
            0 => return Some(at + 1),
            1..=63 => at += 1 + usize::from(l),
            // A pointer ends the name here.
            0xc0..=0xff => return (at + 2 <= msg.len()).then_some(at + 2),
            _ => return None,
        }
    }
}

/// The cacheable body of an encoded answer: the bytes after its question section (the
/// answer, authority and additional records, without any OPT record) and where each
/// record's TTL sits in them. `msg` must have been encoded with one question whose
/// name is in the same place as a client's will be (offset 12), so the compression
/// pointers inside stay right when the body follows another copy of that question.
pub struct Body {
    pub bytes: Vec<u8>,
    pub ttl_at: Vec<usize>,
    pub counts: [u16; 3],
}

/// Splits `msg` (an encoded answer with one question and no OPT record) into its body;
/// `None` if it is not in that shape.
pub fn body(msg: &[u8]) -> Option<Body> {
    if u16_at(msg, 4)? != 1 {
        return None;
    }
    let counts = [u16_at(msg, 6)?, u16_at(msg, 8)?, u16_at(msg, 10)?];
    let start = skip_name(msg, 12)? + 4;
    let mut at = start;
    let mut ttl_at = Vec::new();
    for _ in 0..counts.iter().map(|c| usize::from(*c)).sum::<usize>() {
        at = skip_name(msg, at)?;
        if u16_at(msg, at)? == TYPE_OPT {
            return None;
        }
        ttl_at.push(at + 4 - start);
        let rdlen = usize::from(u16_at(msg, at + 8)?);
        at += 10 + rdlen;
        if at > msg.len() {
            return None;
        }
    }
    (at == msg.len()).then(|| Body {
        bytes: msg[start..].to_vec(),
        ttl_at,
        counts,
    })
}

/// Appends `body` with every TTL lowered by `age` seconds.
pub fn append_body(out: &mut Vec<u8>, body: &Body, age: u32) {
    let base = out.len();
    out.extend_from_slice(&body.bytes);
    if age == 0 {
        return;
    }
    for &t in &body.ttl_at {
        let at = base + t;
        let ttl = u32::from_be_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]]);
        out[at..at + 4].copy_from_slice(&ttl.saturating_sub(age).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::{
        op::{Edns as HEdns, Message, Query as HQuery},
        rr::{Name, RData, Record, RecordType, rdata::A},
    };

    fn query(name: &str, qtype: RecordType, edns: bool) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 0x1234;
        m.metadata.recursion_desired = true;
        m.add_query(HQuery::query(Name::from_ascii(name).unwrap(), qtype));
        if edns {
            let mut e = HEdns::new();
            e.set_max_payload(1232).set_dnssec_ok(true);
            m.set_edns(e);
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn plain_queries_parse_and_odd_ones_are_left_to_hickory() {
        let q = parse(&query("WWW.News.Example.", RecordType::AAAA, true)).unwrap();
        assert_eq!(q.name(), "www.news.example");
        assert_eq!((q.id, q.qtype, q.rd, q.cd), (0x1234, 28, true, false));
        assert_eq!(
            q.edns,
            Some(Edns {
                payload: 1232,
                dnssec_ok: true
            })
        );
        assert_eq!(q.max_udp(), 1232);
        assert_eq!(
            parse(&query("a.example.", RecordType::A, false))
                .unwrap()
                .max_udp(),
            512
        );
        // Escaped characters, the root, trailing garbage and truncation go the slow way.
        assert!(parse(&query("a\\.b.example.", RecordType::A, false)).is_none());
        assert!(parse(&query(".", RecordType::NS, false)).is_none());
        let mut p = query("a.example.", RecordType::A, false);
        p.push(0);
        assert!(parse(&p).is_none());
        let p = query("a.example.", RecordType::A, true);
        for cut in 0..p.len() {
            assert!(parse(&p[..cut]).is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn answers_decode_with_hickory() {
        let pkt = query("Blocked.Example.", RecordType::A, true);
        let q = parse(&pkt).unwrap();
        let mut out = Vec::new();
        address_answer(&mut out, &pkt, &q, Some("192.168.1.1".parse().unwrap()), 10);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.id, 0x1234);
        assert!(m.metadata.recursion_available && m.metadata.recursion_desired);
        assert_eq!(m.queries[0].name().to_ascii(), "Blocked.Example.");
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].ttl, 10);
        assert_eq!(m.answers[0].data, RData::A(A::new(192, 168, 1, 1)));
        assert!(m.edns.as_ref().unwrap().flags().dnssec_ok);
        empty_answer(&mut out, &pkt, &q, 3);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(
            m.metadata.response_code,
            hickory_proto::op::ResponseCode::NXDomain
        );
        assert!(m.answers.is_empty());
    }

    #[test]
    fn a_cached_body_follows_another_question_with_ttls_counted_down() {
        let mut m = Message::query();
        m.metadata.message_type = hickory_proto::op::MessageType::Response;
        let name = Name::from_ascii("news.example.").unwrap();
        m.add_query(HQuery::query(name.clone(), RecordType::A));
        m.answers.push(Record::from_rdata(
            name.clone(),
            300,
            RData::A(A::new(203, 0, 113, 1)),
        ));
        m.answers.push(Record::from_rdata(
            name,
            60,
            RData::A(A::new(203, 0, 113, 2)),
        ));
        let b = body(&m.to_vec().unwrap()).unwrap();
        assert_eq!(b.counts, [2, 0, 0]);
        let pkt = query("NEWS.example.", RecordType::A, false);
        let q = parse(&pkt).unwrap();
        let mut out = Vec::new();
        start_answer(&mut out, &pkt, &q, 0, 0, b.counts);
        append_body(&mut out, &b, 30);
        finish_answer(&mut out, &q);
        let got = Message::from_vec(&out).unwrap();
        assert_eq!(got.answers.len(), 2);
        assert_eq!(got.answers[0].name.to_ascii(), "NEWS.example.");
        assert_eq!((got.answers[0].ttl, got.answers[1].ttl), (270, 30));
    }
}
