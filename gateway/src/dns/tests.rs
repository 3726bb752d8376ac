//! The fast path over the chain's stages, checked by decoding its answers with hickory:
//! a blocked name per its mode, a CNAME target blocked, a cached answer (twice: the
//! second time on the verdict memo), a refusal, and what is left to the full path (a
//! rebinding refusal, a miss).

use std::{net::SocketAddr, sync::Arc, time::Instant};

use arc_swap::ArcSwap;
use hickory_proto::{
    op::{Message, Query, ResponseCode},
    rr::{Name, RData, Record, RecordType, rdata::A},
};

use super::{
    Answered, DnsStats, access, block, cache, filter::Filter, guard, outcome::Outcome, record,
    remember, upstream,
};

const POLICY: &str = r#"version = 1
time_zone = "UTC"

[[groups]]
name = "office"

[[groups.rules]]
action = "block"
domains = ["ads.example"]
mode = "nxdomain"

[[groups.rules]]
action = "block"
domains = ["page.example"]

[[pcs]]
name = "pc1"
addresses = ["10.10.0.11"]
group = "office"
"#;

fn filter() -> (Filter, Arc<DnsStats>) {
    let dir = tempfile::tempdir().unwrap();
    let (policy, _) = crate::policy::load_text(dir.path(), POLICY).unwrap();
    let stats = Arc::new(DnsStats::default());
    let tls = Arc::new(super::tls_config(None).unwrap());
    let f = Filter {
        policy: Arc::new(ArcSwap::from_pointee(policy)),
        clock: crate::clock::Clock::real(),
        access: access::Access {
            allow: vec![("10.10.0.0".parse().unwrap(), 24)],
            rate: access::RateLimit::new(0, 0, None),
            errors: Default::default(),
            refuse_intercepted: false,
        },
        block: block::Block {
            page_v4: Some("10.10.0.1".parse().unwrap()),
            page_v6: None,
        },
        cache: cache::Cache::new(100),
        upstreams: Arc::new(upstream::Upstreams::new(
            &[],
            tls,
            std::time::Duration::from_secs(1),
        )),
        rebinding: guard::Rebinding {
            enabled: true,
            allow: vec![],
            own: vec![],
        },
        remember: remember::Remember {
            answered: Answered::new(100, std::time::Duration::from_secs(60)),
            lookups: None,
        },
        log: record::Log {
            stats: stats.clone(),
            store: None,
            repeats: None,
        },
    };
    (f, stats)
}

fn query(name: &str) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 7;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    m.to_vec().unwrap()
}

/// The fast path's answer to `name` from `client`, decoded; `None`: left to `handler`.
fn ask(f: &Filter, client: &str, name: &str) -> Option<Message> {
    let src = SocketAddr::new(client.parse().unwrap(), 40000);
    let mut out = Vec::new();
    f.fast(
        &query(name),
        src,
        super::filter::Via::Asked,
        Instant::now(),
        &mut out,
    )
    .then(|| Message::from_vec(&out).unwrap())
}

fn count(stats: &DnsStats, o: Outcome) -> u64 {
    stats
        .by_verdict()
        .into_iter()
        .find(|(v, _)| *v == o.as_str())
        .map_or(0, |(_, n)| n)
}

fn put(f: &Filter, name: &str, records: Vec<Record>) {
    let mut m = Message::query();
    m.metadata.response_code = ResponseCode::NoError;
    m.answers = records;
    let key = cache::Key {
        name: name.into(),
        qtype: RecordType::A,
        dnssec_ok: false,
        checking_disabled: false,
    };
    f.cache.put(key, &m, "up");
}

#[test]
fn the_fast_path_walks_the_same_stages() {
    let (f, stats) = filter();
    let pc = "10.10.0.11";

    let m = ask(&f, pc, "Ads.Example.").expect("answered");
    assert_eq!(m.metadata.id, 7);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    let m = ask(&f, pc, "page.example.").expect("answered");
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].ttl, block::BLOCK_TTL);
    assert_eq!(m.answers[0].data, RData::A(A::new(10, 10, 0, 1)));
    assert_eq!(count(&stats, Outcome::Blocked), 2);

    let news = Name::from_ascii("news.example.").unwrap();
    put(
        &f,
        "news.example",
        vec![Record::from_rdata(
            news,
            60,
            RData::A(A::new(203, 0, 113, 10)),
        )],
    );
    for _ in 0..2 {
        let m = ask(&f, pc, "news.example.").expect("from the cache");
        assert_eq!(m.answers[0].data, RData::A(A::new(203, 0, 113, 10)));
    }
    assert_eq!(count(&stats, Outcome::Allowed), 2);
    assert_eq!(stats.cache_hits(), 2);

    let shop = Name::from_ascii("shop.example.").unwrap();
    let ads = Name::from_ascii("t.ads.example.").unwrap();
    put(
        &f,
        "shop.example",
        vec![
            Record::from_rdata(
                shop,
                60,
                RData::CNAME(hickory_proto::rr::rdata::CNAME(ads.clone())),
            ),
            Record::from_rdata(ads, 60, RData::A(A::new(203, 0, 113, 11))),
        ],
    );
    let m = ask(&f, pc, "shop.example.").expect("answered");
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(count(&stats, Outcome::BlockedCname), 1);

    let m = ask(&f, "192.0.2.1", "news.example.").expect("answered");
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert_eq!(count(&stats, Outcome::Refused), 1);

    assert!(
        ask(&f, pc, "other.example.").is_none(),
        "a miss is the full path's"
    );
}
