use rusqlite::{Connection, params, params_from_iter};

use super::periods::{bounds, site_pc_hours_to};
use super::*;

/// The minutes each segment's rows hold: hour and day rows end at `rolled`.
fn covered(segs: &[Segment], off: i64, rolled: i64) -> Vec<(i64, i64)> {
    segs.iter()
        .map(|s| match s.res {
            Res::Minute => (s.lo, s.hi),
            Res::Hour => (s.lo * 60, (s.hi * 60).min(rolled)),
            Res::Day => (s.lo * 1440 - off, (s.hi * 1440 - off).min(rolled)),
        })
        .collect()
}

/// A host's site: its last two labels, which is what `sites::registrable` makes of every
/// name here (kept local: the store depends on no other module of the daemon, tests
/// included).
fn site_of(host: &str) -> String {
    let labels: Vec<&str> = host.rsplitn(3, '.').collect();
    format!("{}.{}", labels[1], labels[0])
}

fn row(pc: &str, host: &str, up: u64, down: u64) -> SiteRow {
    SiteRow {
        pc: pc.into(),
        host: host.into(),
        site: site_of(host),
        via: Via::Sni,
        up,
        down,
    }
}

/// A minute's host rows in UTC, nothing else.
fn batch(minute: i64, rows: Vec<SiteRow>) -> SitesBatch {
    SitesBatch {
        minute,
        at_ms: minute * 60_000,
        day_offset_min: 0,
        rows,
        unexplained: vec![],
        marks: vec![],
        forgotten: vec![],
    }
}

/// Minutes rolled into hours and days read back the same as the minutes themselves,
/// whatever resolution a period picks.
#[test]
fn roll_ups_agree_with_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = crate::store::Store::open(dir.path()).unwrap();
    let day0 = 20_000 * 1440;
    // Three days of a minute every 7, two PCs, two hosts of one site and one other.
    // The writer restarts twice on the way (the roll-up then reads the open minutes
    // back instead of remembering them).
    let mut m = day0;
    while m < day0 + 3 * 1440 {
        if m == day0 + 7 * 100 || m == day0 + 7 * 401 {
            store.sync();
            drop(store);
            store = crate::store::Store::open(dir.path()).unwrap();
        } else if (m - day0) % (7 * 30) == 0 {
            // A commit (and roll-up) every 30 writes.
            store.sync();
        }
        store.sites(SitesBatch {
            minute: m,
            at_ms: m * 60_000,
            day_offset_min: 60,
            rows: vec![
                row("pc1", "www.news.example", 10, 100),
                row("pc1", "img.news.example", 1, 10),
                row("pc2", "shop.example", 5, 50),
            ],
            unexplained: vec![],
            marks: vec![(format!("f{m}"), 1, 1)],
            forgotten: vec![],
        });
        store.usage(crate::store::UsageDelta {
            pc: "pc1".into(),
            day: "d:x".into(),
            month: "m:x".into(),
            minute: m,
            up: 3,
            down: 30,
            marks: vec![("10.0.0.1".into(), m as u64, m as u64)],
        });
        m += 7;
    }
    store.sync();
    let conn = crate::store::open_read(dir.path()).unwrap();
    let (rolled, days_rolled, off) = bounds(&conn).unwrap();
    assert_eq!(off, 60);
    assert!(
        rolled > day0 + 3 * 1440 - 8,
        "all but the last minute rolled: {rolled}"
    );
    // Days are rolled up to the last local midnight (UTC+1) before the newest minute.
    assert_eq!(days_rolled, day0 + 3 * 1440 - 60);
    let minutes_of = |site: &str, since: i64, until: i64| -> (u64, u64) {
        conn.query_row(
            "SELECT coalesce(SUM(up_bytes),0), coalesce(SUM(down_bytes),0) FROM site_minute
             WHERE minute >= ?1 AND minute < ?2
               AND site = (SELECT id FROM names WHERE name = ?3)",
            params![since, until, site],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .unwrap()
    };
    let minutes = |since, until| minutes_of("news.example", since, until);
    // Series by minute, hour and day add up to the same, also for a period that runs
    // past the last rolled minute (its hour and day rows are partial).
    let pc_total: i64 = conn
        .query_row("SELECT SUM(up_bytes) FROM pc_minute", [], |r| r.get(0))
        .unwrap();
    for bucket in [1, 60, 1440] {
        for pc in [None, Some("pc1")] {
            let series = traffic_series(&conn, day0 - 1440, day0 + 5 * 1440, bucket, pc).unwrap();
            let up: u64 = series.iter().map(|p| p.1).sum();
            assert_eq!(up as i64, pc_total, "bucket {bucket}, {pc:?}");
        }
    }
    let top = top_pcs(&conn, day0 + 100, day0 + 5 * 1440, 5).unwrap();
    let partial: i64 = conn
        .query_row(
            "SELECT SUM(up_bytes) FROM pc_minute WHERE minute >= ?1",
            [day0 + 100],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(top[0].1 as i64, partial);
    for (since, until) in [
        (day0, day0 + 3 * 1440),
        (day0 + 13, day0 + 2 * 1440 + 301),
        (day0 + 61, day0 + 180),
        (day0 - 1440, day0 + 5 * 1440),
    ] {
        let top = top_sites(&conn, since, until, None, 10).unwrap();
        let news = top.iter().find(|t| t.site == "news.example").unwrap();
        assert_eq!(
            (news.up, news.down),
            minutes(since, until),
            "{since}..{until}"
        );
        assert_eq!(news.pcs, 1);
        let mine = top_sites(&conn, since, until, Some("pc1"), 10).unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!((mine[0].up, mine[0].down), (news.up, news.down));
        let hosts = hosts_of_pc(&conn, since, until, "pc1", 10).unwrap();
        assert_eq!(hosts[0].host, "www.news.example");
        assert_eq!(hosts[0].via, "sni");
        let shop = pcs_of_site(&conn, since, until, "shop.example").unwrap();
        assert_eq!(shop.len(), 1);
        assert_eq!(shop[0].0, "pc2");
        assert_eq!(
            (shop[0].1, shop[0].2),
            minutes_of("shop.example", since, until),
            "{since}..{until}"
        );
        let news_pcs = pcs_of_site(&conn, since, until, "news.example").unwrap();
        assert_eq!(news_pcs.len(), 1);
        assert_eq!((news_pcs[0].1, news_pcs[0].2), (news.up, news.down));
    }
    // A site's PCs by hour: every hour that has ended, summed over the site's hosts,
    // and nothing of the hour in progress (read from its minutes).
    let hours_to = site_pc_hours_to(&conn, rolled).unwrap();
    assert_eq!(hours_to, rolled.div_euclid(60));
    let by_hour = |sql: &str, args: &[i64]| -> Vec<(i64, i64, i64, i64, i64)> {
        let mut st = conn.prepare(sql).unwrap();
        st.query_map(params_from_iter(args), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let summed = by_hour(
        "SELECT hour, site, pc, SUM(up_bytes), SUM(down_bytes) FROM site_hour
         WHERE hour < ?1 GROUP BY hour, site, pc ORDER BY hour, site, pc",
        &[hours_to],
    );
    assert!(summed.len() > 3 * 24, "{} rows", summed.len());
    assert_eq!(
        by_hour("SELECT * FROM site_pc_hour ORDER BY hour, site, pc", &[]),
        summed
    );
    // Periods inside the hour in progress and across its start.
    let open = hours_to * 60;
    for (since, until) in [
        (open, open + 1440),
        (open - 90, rolled),
        (open + 1, rolled + 5),
    ] {
        let news = pcs_of_site(&conn, since, until, "news.example").unwrap();
        let want = minutes(since, until);
        if want == (0, 0) {
            assert!(news.is_empty(), "{since}..{until}: {news:?}");
        } else {
            assert_eq!((news[0].1, news[0].2), want, "{since}..{until}");
        }
    }
}

/// Each listed site counts the PCs that used it, also past 64 sites (a word of the
/// per-PC bits) and over rolled days, hours and minutes alike.
#[test]
fn top_sites_count_each_sites_pcs() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).unwrap();
    let day0 = 20_000 * 1440;
    // Site k is used by PCs 0..=(k % 4), every 50 minutes over two days.
    let mut m = day0;
    while m < day0 + 2 * 1440 + 500 {
        let rows = (0..70)
            .flat_map(|k| {
                (0..=k % 4).map(move |p| row(&format!("pc{p}"), &format!("s{k}.example"), 1, 1))
            })
            .collect();
        store.sites(batch(m, rows));
        m += 50;
    }
    store.sync();
    let conn = crate::store::open_read(dir.path()).unwrap();
    for (since, until) in [
        (day0, day0 + 3 * 1440),
        (day0 + 1440 + 7, day0 + 2 * 1440 + 600),
        (day0 + 100, day0 + 900),
    ] {
        let top = top_sites(&conn, since, until, None, 100).unwrap();
        assert_eq!(top.len(), 70, "{since}..{until}");
        for t in &top {
            let k: u64 = t.site[1..t.site.find('.').unwrap()].parse().unwrap();
            assert_eq!(t.pcs, k % 4 + 1, "{} over {since}..{until}", t.site);
        }
        let mine = top_sites(&conn, since, until, Some("pc3"), 100).unwrap();
        assert!(mine.iter().all(|t| t.pcs == 1) && mine.len() == 17);
    }
}

/// A database from before `SITE_PC_HOURS` gets its closed hours' site PCs from its
/// host rows, and the writer carries on from there.
#[test]
fn site_pc_hours_are_filled_from_an_older_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::store::DB_FILE);
    // The last version without `site_pc_hour` (later migrations may follow it).
    let before = (1..)
        .take_while(|v| {
            let mut c = Connection::open_in_memory().unwrap();
            crate::store::schema::migrations()
                .to_version(&mut c, *v)
                .is_ok()
        })
        .filter(|v| {
            let mut c = Connection::open_in_memory().unwrap();
            crate::store::schema::migrations()
                .to_version(&mut c, *v)
                .unwrap();
            c.prepare("SELECT 1 FROM site_pc_hour").is_err()
        })
        .last()
        .unwrap();
    {
        let mut c = Connection::open(&path).unwrap();
        crate::store::schema::migrations()
            .to_version(&mut c, before)
            .unwrap();
        // Hours 100 and 101 closed, 102 in progress (rolled at minute 102 * 60 + 7).
        c.execute_batch(
            "INSERT INTO names (id, name) VALUES (1, 'pc1'), (2, 'pc2'),
               (3, 'www.news.example'), (4, 'img.news.example'), (5, 'news.example');
             INSERT INTO site_hour VALUES
               (100, 1, 3, 5, 0, 10, 100), (100, 1, 4, 5, 0, 1, 10),
               (101, 2, 3, 5, 1, 5, 50), (102, 1, 3, 5, 0, 7, 70);
             INSERT INTO site_minute VALUES (6125, 1, 3, 5, 0, 7, 70);
             INSERT INTO meta VALUES ('rolled_minute', 6127),
               ('days_rolled_minute', 5760), ('day_offset_min', 0);",
        )
        .unwrap();
    }
    let store = crate::store::Store::open(dir.path()).unwrap();
    store.sync();
    let conn = crate::store::open_read(dir.path()).unwrap();
    let rows: Vec<(i64, i64, i64, i64, i64)> = conn
        .prepare("SELECT * FROM site_pc_hour")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, vec![(100, 5, 1, 11, 110), (101, 5, 2, 5, 50)]);
    assert_eq!(site_pc_hours_to(&conn, 0).unwrap(), 102);
    let pcs = pcs_of_site(&conn, 100 * 60, 103 * 60, "news.example").unwrap();
    assert_eq!(
        pcs,
        vec![("pc1".to_string(), 18, 180), ("pc2".to_string(), 5, 50)]
    );
    // The writer closes hour 102 from its minutes.
    drop(conn);
    store.sites(batch(
        103 * 60 + 1,
        vec![row("pc2", "www.news.example", 1, 1)],
    ));
    store.sync();
    let conn = crate::store::open_read(dir.path()).unwrap();
    let h102: (i64, i64) = conn
        .query_row(
            "SELECT up_bytes, down_bytes FROM site_pc_hour WHERE hour = 102",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(h102, (7, 70));
    assert_eq!(site_pc_hours_to(&conn, 0).unwrap(), 103);
}

/// Retention deletes exactly the rows before each resolution's cut, in every table,
/// for every PC and site (the host tables are deleted key range by key range).
#[test]
fn retention_deletes_old_rows_of_every_pc_and_site() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).unwrap();
    let now_min = crate::store::now_ms().div_euclid(60_000);
    // Six days of a minute every 37, three PCs over four sites.
    let mut m = now_min - 6 * 1440;
    while m < now_min {
        let rows = (0..6)
            .map(|i| {
                let host = format!("h{}.site{}.example", m % 3, (m as usize + i) % 4);
                row(&format!("pc{}", i % 3), &host, 1, 2)
            })
            .collect();
        store.sites(batch(m, rows));
        m += 37;
    }
    store.sync();
    let dir_path = dir.path().to_path_buf();
    let count = |table: &str, col: &str, cut: i64| -> (i64, i64) {
        let conn = crate::store::open_read(&dir_path).unwrap();
        conn.query_row(
            &format!(
                "SELECT coalesce(SUM({col} < ?1), 0), coalesce(SUM({col} >= ?1), 0)
                 FROM {table}"
            ),
            [cut],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let retention = Retention {
        minutes_days: 1,
        hours_days: 2,
        days_days: 4,
        queries_days: 0,
        events_days: 0,
        actions_days: 3,
        requests_days: 3,
        sessions_idle_ms: 3_600_000,
    };
    // Two of each of the admins' rows, one old and one to keep.
    {
        let conn = crate::store::open_rw_in(&dir_path).unwrap();
        let now = crate::store::now_ms();
        let (old, recent) = (now - 4 * 86_400_000, now - 86_400_000);
        conn.execute_batch(
            "INSERT INTO users (id, name, role, hash, created_ms) VALUES (1, 'a', 'admin', 'x', 0)",
        )
        .unwrap();
        for at in [old, recent] {
            conn.execute(
                "INSERT INTO actions (at_ms, actor, action, subject, details) VALUES (?1, 'a', 'x', 'y', '{}')",
                [at],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO requests (at_ms, pc, address, domain, reason, blocked_by) VALUES (?1, 'pc', '10.0.0.1', 'x.example', '', '')",
                [at],
            )
            .unwrap();
        }
        for (token, seen) in [("old", now - 2 * 3_600_000), ("new", now)] {
            conn.execute(
                "INSERT INTO sessions (token_sha256, user_id, csrf, created_ms, seen_ms) VALUES (?1, 1, '', 0, ?2)",
                params![token, seen],
            )
            .unwrap();
        }
    }
    let cut = crate::store::now_ms() - 3 * 86_400_000;
    let admin_cuts = [
        ("actions", "at_ms", cut),
        ("requests", "at_ms", cut),
        ("sessions", "seen_ms", crate::store::now_ms() - 3_600_000),
    ];
    for (t, c, cut) in admin_cuts {
        assert_eq!(count(t, c, cut), (1, 1), "{t}");
    }
    let cuts = [
        ("site_minute", "minute", now_min - 1440),
        ("site_hour", "hour", (now_min - 2 * 1440) / 60),
        ("site_total_hour", "hour", (now_min - 2 * 1440) / 60),
        ("site_day", "day", (now_min - 4 * 1440) / 1440),
        ("site_pc_hour", "hour", (now_min - 2 * 1440) / 60),
        ("site_pc_day", "day", (now_min - 4 * 1440) / 1440),
        ("site_total_day", "day", (now_min - 4 * 1440) / 1440),
    ];
    let before: Vec<_> = cuts.iter().map(|(t, c, cut)| count(t, c, *cut)).collect();
    for ((t, ..), (old, kept)) in cuts.iter().zip(&before) {
        assert!(*old > 0 && *kept > 0, "{t}: {old} old rows, {kept} to keep");
    }
    store.prune(retention);
    store.sync();
    for ((t, c, cut), (_, kept)) in cuts.iter().zip(&before) {
        assert_eq!(count(t, c, *cut), (0, *kept), "{t}");
    }
    for (t, c, cut) in admin_cuts {
        assert_eq!(count(t, c, cut), (0, 1), "{t}");
    }
}

#[test]
fn segments_tile_the_period_exactly() {
    for off in [0i64, 60, -300, 330] {
        for (since, until, rolled) in [
            (0, 1440 * 40 + 7, 1440 * 39),
            (17, 1440 * 3 + 125, 1440 * 3 + 100),
            (100, 160, 10_000),
            (1440 * 10 + 30, 1440 * 12, 1440 * 11 - 5),
            (5, 6, 0),
        ] {
            // Days rolled up to the local midnight before `rolled`, a day earlier, or
            // (a database from before days were rolled apart) up to `rolled` itself.
            let midnight = (rolled + off).div_euclid(1440) * 1440 - off;
            for days_rolled in [midnight, midnight - 1440, rolled] {
                let segs = segments(since, until, rolled, days_rolled, off);
                let mut c = covered(&segs, off, rolled);
                c.sort();
                assert_eq!(c.first().unwrap().0, since, "{segs:?}");
                assert_eq!(c.last().unwrap().1, until, "{segs:?}");
                for w in c.windows(2) {
                    assert_eq!(w[0].1, w[1].0, "contiguous: {segs:?}");
                }
                for s in &segs {
                    let nominal_end = match s.res {
                        Res::Minute => continue,
                        Res::Hour => s.hi * 60,
                        Res::Day => s.hi * 1440 - off,
                    };
                    // Day rows only of rolled days; an hour row reaching past
                    // `rolled` only when the period does.
                    if s.res == Res::Day {
                        assert!(nominal_end <= days_rolled, "{s:?} past {days_rolled}");
                    }
                    assert!(
                        nominal_end <= rolled || until >= rolled,
                        "{s:?} beyond rolled {rolled} for {since}..{until}"
                    );
                    assert!(nominal_end <= until.max(rolled) + 60, "{s:?}");
                }
            }
        }
    }
    // A month read from days: a handful of segments, not thousands.
    let segs = segments(0, 1440 * 30, 1440 * 31, 1440 * 31, 0);
    assert_eq!(
        segs,
        vec![Segment {
            res: Res::Day,
            lo: 0,
            hi: 30
        }]
    );
}
