//! Any bytes as a UDP datagram on port 53 (the fast path's parser) and as an upstream's
//! answer (the cache's body splitter): never a panic; a parsed query yields a clean
//! lower-case name, and every answer written for it decodes with hickory-proto.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officegate::dns::wire;

fuzz_target!(|data: &[u8]| {
    if let Some(q) = wire::parse(data) {
        let name = q.name();
        assert!(!name.is_empty() && name.len() <= 253, "{name:?}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)),
            "{name:?}"
        );
        let mut out = Vec::new();
        for rcode in [0, 3, 5] {
            wire::empty_answer(&mut out, data, &q, rcode);
            let m = hickory_proto::op::Message::from_vec(&out).expect("our answer decodes");
            assert_eq!(m.metadata.id, q.id);
        }
        wire::address_answer(&mut out, data, &q, Some("192.0.2.1".parse().unwrap()), 10);
        hickory_proto::op::Message::from_vec(&out).expect("our answer decodes");
        if let Some(b) = wire::body(data) {
            wire::start_answer(&mut out, data, &q, 0, 0, b.counts);
            wire::append_body(&mut out, &b, 7);
            wire::finish_answer(&mut out, &q);
        }
    }
    if let Some(b) = wire::body(data) {
        let mut out = Vec::new();
        wire::append_body(&mut out, &b, 1);
        assert_eq!(out.len(), b.bytes.len());
    }
});
