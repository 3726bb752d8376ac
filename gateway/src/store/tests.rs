use super::*;

#[test]
fn events_round_trip_through_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for i in 0..3 {
        store.event(Event {
            at_ms: 1000 + i,
            source: "wan".into(),
            kind: "switch".into(),
            subject: "backup".into(),
            message: format!("event {i}"),
            details: serde_json::json!({"i": i}),
        });
    }
    store.sync();
    let conn = open_read(dir.path()).unwrap();
    let evs = recent_events(&conn, Some("wan"), 2).unwrap();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].message, "event 1");
    assert_eq!(evs[1].details["i"], 2);
    assert!(recent_events(&conn, Some("dns"), 10).unwrap().is_empty());
}

#[test]
fn queries_are_logged_and_searched() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (i, (name, verdict)) in [
        ("news.example", "allowed"),
        ("ads.tracker.example", "blocked"),
        ("img.news.example", "allowed"),
    ]
    .into_iter()
    .enumerate()
    {
        store.query(Query {
            at_ms: 1000 + i as i64,
            client: "10.10.0.11".into(),
            pc: Some("pc1".into()),
            group: "staff".into(),
            name: name.into(),
            qtype: "A".into(),
            verdict: verdict.into(),
            rule: None,
            answers: vec!["203.0.113.10".into()],
            upstream: Some("203.0.113.53".into()),
            latency_us: 900,
            rcode: "NOERROR".into(),
            count: 1 + i as u32,
            intercepted: false,
        });
    }
    store.sync();
    let conn = open_read(dir.path()).unwrap();
    let news = QueryFilter {
        name: Some("news".into()),
        ..Default::default()
    };
    let got = queries(&conn, &news, 10, 0).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].name, "img.news.example", "newest first");
    assert_eq!(got[0].answers, ["203.0.113.10"]);
    assert_eq!(got[0].count, 3);
    let blocked = QueryFilter {
        verdict: Some("blocked".into()),
        ..Default::default()
    };
    assert_eq!(queries(&conn, &blocked, 10, 0).unwrap().len(), 1);
    assert_eq!(
        queries(&conn, &QueryFilter::default(), 1, 1).unwrap()[0].name,
        "ads.tracker.example"
    );
}

#[test]
fn a_device_keeps_its_first_sighting_and_moves_its_last() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let seen = |at_ms, addr: &str, name: &str| DeviceSeen {
        mac: "02:00:00:00:00:01".into(),
        at_ms,
        addresses: vec![addr.into(), "fe80::1".into()],
        name: name.into(),
    };
    store.devices_seen(vec![seen(1000, "10.0.0.5", "02:00:00:00:00:01")]);
    store.devices_seen(vec![seen(5000, "10.0.0.9", "laptop")]);
    // A late batch never moves last-seen back.
    store.devices_seen(vec![seen(3000, "10.0.0.9", "laptop")]);
    store.sync();
    let conn = open_read(dir.path()).unwrap();
    let all = seen_devices(&conn).unwrap();
    assert_eq!(
        all,
        vec![SeenDevice {
            mac: "02:00:00:00:00:01".into(),
            first_seen_ms: 1000,
            last_seen_ms: 5000,
            addresses: vec!["10.0.0.9".into(), "fe80::1".into()],
            name: "laptop".into(),
        }]
    );
}

#[test]
fn a_renamed_device_takes_its_history_along_summed_into_the_new_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let usage = |pc: &str, minute: i64, up: u64| UsageDelta {
        pc: pc.into(),
        day: "d:2026-12-05".into(),
        month: "m:2026-12".into(),
        minute,
        up,
        down: 1,
        marks: Vec::new(),
    };
    store.usage(usage("02:00:00:00:00:01", 100, 10));
    store.usage(usage("laptop", 100, 5));
    store.sync();
    // Site rows of both names, for the same minute and host: summed.
    {
        let c = open_rw_in(dir.path()).unwrap();
        c.execute_batch(
            "INSERT INTO names (id, name) VALUES (901, '02:00:00:00:00:01'), (902, 'laptop'), (903, 'news.example');
             INSERT INTO site_minute VALUES (100, 901, 903, 903, 0, 7, 70), (100, 902, 903, 903, 0, 1, 10);
             INSERT INTO queries (at_ms, client, pc, grp, name, qtype, verdict, answers, latency_us, rcode)
                 VALUES (1, '10.0.0.5', '02:00:00:00:00:01', 'staff', 'news.example', 'A', 'allowed', '', 1, 'NOERROR');",
        )
        .unwrap();
    }
    store.rename_pc("02:00:00:00:00:01", "laptop");
    // A minute counted after the move lands under the new name only.
    store.usage(usage("laptop", 101, 3));
    store.sync();
    let conn = open_read(dir.path()).unwrap();
    assert_eq!(
        usage_in(&conn, "d:2026-12-05").unwrap(),
        vec![("laptop".to_string(), 10 + 1 + 5 + 1 + 3 + 1)]
    );
    let minutes: Vec<(String, i64, i64)> = conn
        .prepare("SELECT pc, minute, up_bytes FROM pc_minute ORDER BY minute")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        minutes,
        vec![("laptop".into(), 100, 15), ("laptop".into(), 101, 3)]
    );
    let sites: (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(up_bytes), sum(down_bytes) FROM site_minute WHERE pc = 902",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(sites, (1, 8, 80));
    let pc: String = conn
        .query_row("SELECT pc FROM queries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(pc, "laptop");
}
