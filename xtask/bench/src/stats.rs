//! `bench stats`: the statistics store under an office's month — 500 PCs, 30 days of
//! per-minute traffic per PC and per (PC, host), and the DNS query log (≥ 10M rows) —
//! written through the daemon's own store (queue → writer thread → batched transactions
//! → roll-ups), then the dashboard's own queries timed (p95 over repeats).
//!
//! Peer in the same run, same data: the same dashboard questions answered the way Pi-hole
//! (FTL) and most log-based tools answer them — aggregating the raw per-minute/per-query
//! rows at read time, with no roll-ups. Pi-hole and ntopng themselves are not packaged
//! for Debian; their published figures are in ../shared/BENCHMARKS.md.
//!
//! Keys: `ingest_rows_per_s`, `query_ms_p95` (ours, every dashboard query), `rows`,
//! `raw_query_ms_p95` (the peer), `ratio` (raw / ours), `db_mb`.

use std::time::Instant;

use anyhow::Context as _;
use officegate::store::{self, Query, QueryFilter, SiteRow, SitesBatch, Store, UsageDelta, Via};

const PCS: usize = 500;
const DAYS: i64 = 30;
/// Busy minutes per PC per day: 09:00–12:00 and 13:00–16:00.
const ACTIVE: [(i64, i64); 2] = [(9 * 60, 12 * 60), (13 * 60, 16 * 60)];
/// Distinct host names in the office's month, over this many sites.
const HOSTS: usize = 4000;
const SITES: usize = 800;
/// Host rows per PC per busy minute.
const HOSTS_PER_MINUTE: usize = 2;
/// A DNS query logged every this many busy PC-minutes.
const QUERY_EVERY: usize = 5;
const REPEATS: usize = 20;

/// A small deterministic generator (no `rand` for one benchmark: xorshift is enough to
/// spread PCs over hosts, and keeps runs comparable).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Skewed towards small numbers, like real site popularity.
    fn skewed(&mut self, n: usize) -> usize {
        let a = (self.next() % n as u64) as usize;
        let b = (self.next() % n as u64) as usize;
        a.min(b).min((self.next() % n as u64) as usize)
    }
}

fn host(i: usize) -> (String, String) {
    let site = format!("site{}.example", i % SITES);
    (format!("h{}.{site}", i / SITES), site)
}

fn pc_name(i: usize) -> String {
    format!("pc{i:03}")
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let days = if quick { 3 } else { DAYS };
    // `--keep DIR`: write the database there and leave it, to look at query plans.
    let dir_after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(std::path::PathBuf::from)
    };
    let keep = dir_after("--keep");
    // `--reuse DIR`: a database kept earlier today is queried again without writing
    // (iterating on queries; no RESULT line).
    let reuse = dir_after("--reuse");
    let tmp = tempfile::tempdir()?;
    let dir_path = reuse
        .clone()
        .or(keep)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let store = Store::open(&dir_path)?;
    let now_min = store::now_ms().div_euclid(60_000);
    // The month ends at today's 16:00 UTC, so "today" has a busy day in it.
    let today = now_min.div_euclid(1440);
    let first_day = today - days + 1;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    println!("stats: writing {days} days of {PCS} PCs through the store…");
    let (mut traffic_rows, mut query_rows) = (0u64, 0u64);
    let t0 = Instant::now();
    let mut pending = None;
    let mut day_start = (Instant::now(), 0u64);
    for day in (first_day..=today).filter(|_| reuse.is_none()) {
        // `--progress`: each day's own rate (does ingest slow down as the database grows?)
        if args.iter().any(|a| a == "--progress") && day > first_day {
            let rows = traffic_rows + query_rows;
            eprintln!(
                "  day {}: {:.0} rows/s",
                day - first_day,
                (rows - day_start.1) as f64 / day_start.0.elapsed().as_secs_f64()
            );
            day_start = (Instant::now(), rows);
        }
        for &(from, to) in &ACTIVE {
            for m in from..to {
                let minute = day * 1440 + m;
                let mut rows = Vec::with_capacity(PCS * HOSTS_PER_MINUTE);
                for p in 0..PCS {
                    let (up, down) = (1_000 + rng.next() % 50_000, 10_000 + rng.next() % 500_000);
                    store.usage(UsageDelta {
                        pc: pc_name(p),
                        day: format!("d:{day}"),
                        month: "m:bench".into(),
                        minute,
                        up,
                        down,
                        marks: vec![(format!("10.0.{}.{}", p / 250, p % 250 + 2), up, down)],
                    });
                    for k in 0..HOSTS_PER_MINUTE {
                        let (h, site) = host(rng.skewed(HOSTS));
                        rows.push(SiteRow {
                            pc: pc_name(p),
                            host: h,
                            site,
                            via: if k == 0 { Via::Sni } else { Via::Dns },
                            up: up / 2,
                            down: down / 2,
                        });
                    }
                    if (p + m as usize).is_multiple_of(QUERY_EVERY) {
                        let (h, _) = host(rng.skewed(HOSTS));
                        store.query(Query {
                            at_ms: minute * 60_000 + (p as i64 % 60) * 1000,
                            client: format!("10.0.{}.{}", p / 250, p % 250 + 2),
                            pc: Some(pc_name(p)),
                            group: "staff".into(),
                            name: h,
                            qtype: "A".into(),
                            verdict: if rng.next().is_multiple_of(20) {
                                "blocked"
                            } else {
                                "allowed"
                            }
                            .into(),
                            rule: None,
                            answers: vec!["203.0.113.10".into()],
                            upstream: Some("203.0.113.53".into()),
                            latency_us: 900,
                            rcode: "NOERROR".into(),
                            count: 1,
                            intercepted: false,
                        });
                        query_rows += 1;
                    }
                }
                traffic_rows += (PCS + rows.len()) as u64;
                store.sites(SitesBatch {
                    minute,
                    at_ms: minute * 60_000,
                    day_offset_min: 0,
                    rows,
                    unexplained: Vec::new(),
                    marks: Vec::new(),
                    forgotten: vec![],
                });
                // Back-pressure: never let the queue overflow (it would drop, not block),
                // nor run dry. Every half hour of data (~18k writes) asks for a commit and
                // first waits for the one asked half an hour before: at most an hour of
                // data (~36k writes of the queue's 65k) is ever queued, and the writer
                // always has the next half hour waiting.
                if minute % 30 == 0 {
                    let next = store.sync_later();
                    if let Some(prev) = pending.replace(next) {
                        let _ = prev.recv();
                    }
                }
            }
        }
    }
    store.sync();
    let ingest_s = t0.elapsed().as_secs_f64();
    anyhow::ensure!(
        store.dropped() == 0,
        "the writer dropped {} writes",
        store.dropped()
    );
    let rows = traffic_rows + query_rows;
    let ingest = rows as f64 / ingest_s;
    let db_mb = std::fs::metadata(store.path())?.len() as f64 / 1e6
        + std::fs::metadata(store.path().with_extension("db-wal"))
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0);
    println!(
        "  {rows} rows ({traffic_rows} traffic, {query_rows} query log) in {ingest_s:.1} s: {ingest:.0} rows/s, {db_mb:.0} MB"
    );
    // `--ingest-only`: stop here (profiling the writer; no RESULT line).
    if args.iter().any(|a| a == "--ingest-only") {
        return Ok(());
    }

    let conn = store::open_read(&dir_path)?;
    let (day_lo, day_hi) = (today * 1440, today * 1440 + 1440);
    let (month_lo, month_hi) = (first_day * 1440, today * 1440 + 1440);
    let pc = pc_name(7);
    let (_, busy_site) = host(0);

    type Q<'a> = Box<dyn Fn() -> anyhow::Result<usize> + 'a>;
    let ours: Vec<(&str, Q)> = vec![
        (
            "top PCs today",
            Box::new(|| Ok(store::top_pcs(&conn, day_lo, day_hi, 10)?.len())),
        ),
        (
            "top PCs month",
            Box::new(|| Ok(store::top_pcs(&conn, month_lo, month_hi, 10)?.len())),
        ),
        (
            "top sites today",
            Box::new(|| Ok(store::top_sites(&conn, day_lo, day_hi, None, 10)?.len())),
        ),
        (
            "top sites month",
            Box::new(|| Ok(store::top_sites(&conn, month_lo, month_hi, None, 10)?.len())),
        ),
        (
            "office series day/hour",
            Box::new(|| Ok(store::traffic_series(&conn, day_lo, day_hi, 60, None)?.len())),
        ),
        (
            "office series month/day",
            Box::new(|| Ok(store::traffic_series(&conn, month_lo, month_hi, 1440, None)?.len())),
        ),
        (
            "a PC's day by minute",
            Box::new(|| Ok(store::traffic_series(&conn, day_lo, day_hi, 1, Some(&pc))?.len())),
        ),
        (
            "a PC's hosts month",
            Box::new(|| Ok(store::hosts_of_pc(&conn, month_lo, month_hi, &pc, 100)?.len())),
        ),
        (
            "a site's PCs month",
            Box::new(|| Ok(store::pcs_of_site(&conn, month_lo, month_hi, &busy_site)?.len())),
        ),
        (
            "query log newest",
            Box::new(|| Ok(store::queries(&conn, &QueryFilter::default(), 100, 0)?.len())),
        ),
        (
            "query log by PC",
            Box::new(|| {
                let f = QueryFilter {
                    client: Some("10.0.0.9".into()),
                    ..Default::default()
                };
                Ok(store::queries(&conn, &f, 100, 0)?.len())
            }),
        ),
        (
            "query log blocked",
            Box::new(|| {
                let f = QueryFilter {
                    verdict: Some("blocked".into()),
                    ..Default::default()
                };
                Ok(store::queries(&conn, &f, 100, 0)?.len())
            }),
        ),
        (
            "query log name search",
            Box::new(|| {
                let f = QueryFilter {
                    name: Some("site7.".into()),
                    ..Default::default()
                };
                Ok(store::queries(&conn, &f, 100, 0)?.len())
            }),
        ),
    ];
    let raw = |sql: &'static str, a: i64, b: i64| -> Q {
        let conn = &conn;
        Box::new(move || {
            let mut st = conn.prepare_cached(sql)?;
            let n = st.query_map([a, b], |_| Ok(()))?.count();
            Ok(n)
        })
    };
    let peer: Vec<(&str, Q)> = vec![
        (
            "top PCs today",
            raw(
                "SELECT pc, SUM(up_bytes + down_bytes) AS t FROM pc_minute WHERE minute >= ?1 AND minute < ?2 GROUP BY pc ORDER BY t DESC LIMIT 10",
                day_lo,
                day_hi,
            ),
        ),
        (
            "top PCs month",
            raw(
                "SELECT pc, SUM(up_bytes + down_bytes) AS t FROM pc_minute WHERE minute >= ?1 AND minute < ?2 GROUP BY pc ORDER BY t DESC LIMIT 10",
                month_lo,
                month_hi,
            ),
        ),
        (
            "top sites today",
            raw(
                "SELECT site, SUM(up_bytes + down_bytes) AS t FROM site_minute WHERE minute >= ?1 AND minute < ?2 GROUP BY site ORDER BY t DESC LIMIT 10",
                day_lo,
                day_hi,
            ),
        ),
        (
            "top sites month",
            raw(
                "SELECT site, SUM(up_bytes + down_bytes) AS t FROM site_minute WHERE minute >= ?1 AND minute < ?2 GROUP BY site ORDER BY t DESC LIMIT 10",
                month_lo,
                month_hi,
            ),
        ),
        (
            "office series day/hour",
            raw(
                "SELECT minute / 60, SUM(up_bytes) FROM pc_minute WHERE minute >= ?1 AND minute < ?2 GROUP BY 1",
                day_lo,
                day_hi,
            ),
        ),
        (
            "office series month/day",
            raw(
                "SELECT minute / 1440, SUM(up_bytes) FROM pc_minute WHERE minute >= ?1 AND minute < ?2 GROUP BY 1",
                month_lo,
                month_hi,
            ),
        ),
        (
            "a PC's day by minute",
            raw(
                "SELECT minute, up_bytes FROM pc_minute WHERE minute >= ?1 AND minute < ?2 AND pc = 'pc007'",
                day_lo,
                day_hi,
            ),
        ),
        (
            "a PC's hosts month",
            raw(
                "SELECT host, SUM(up_bytes + down_bytes) AS t FROM site_minute WHERE minute >= ?1 AND minute < ?2 AND pc = (SELECT id FROM names WHERE name = 'pc007') GROUP BY host ORDER BY t DESC LIMIT 100",
                month_lo,
                month_hi,
            ),
        ),
        (
            "a site's PCs month",
            raw(
                "SELECT pc, SUM(up_bytes + down_bytes) AS t FROM site_minute WHERE minute >= ?1 AND minute < ?2 AND site = (SELECT id FROM names WHERE name = 'site0.example') GROUP BY pc ORDER BY t DESC",
                month_lo,
                month_hi,
            ),
        ),
        // The query log is the same table for both: Pi-hole's own shape.
    ];

    println!(
        "\n  {:<26} {:>10} {:>10} {:>8}",
        "dashboard query", "ours p95", "raw p95", "rows"
    );
    let mut all_ours = Vec::new();
    let mut all_raw = Vec::new();
    for (name, q) in &ours {
        let (p95, n) = time(q).with_context(|| name.to_string())?;
        all_ours.push(p95);
        let raw_p95 = match peer.iter().find(|(n2, _)| n2 == name) {
            Some((_, rq)) => {
                let (r, _) = time(rq).with_context(|| format!("raw {name}"))?;
                all_raw.push(r);
                format!("{r:.1}")
            }
            None => "-".into(),
        };
        println!("  {name:<26} {p95:>10.1} {raw_p95:>10} {n:>8}");
    }
    let worst = all_ours.iter().copied().fold(0.0, f64::max);
    let worst_raw = all_raw.iter().copied().fold(0.0, f64::max);
    println!(
        "\n  goal: ingest ≥ 100,000 rows/s ({}), every dashboard query ≤ 100 ms at p95 ({})",
        if ingest >= 100_000.0 {
            "met"
        } else {
            "NOT met"
        },
        if worst <= 100.0 { "met" } else { "NOT met" }
    );
    if reuse.is_some() {
        println!("(--reuse: nothing written, no RESULT line)");
        return Ok(());
    }
    if quick {
        println!("(--quick: {days} days, no RESULT line)");
        return Ok(());
    }
    println!(
        "RESULT stats {{\"ingest_rows_per_s\": {ingest:.0}, \"query_ms_p95\": {worst:.2}, \"rows\": {rows}, \"raw_query_ms_p95\": {worst_raw:.2}, \"ratio\": {:.1}, \"db_mb\": {db_mb:.0}, \"pcs\": {PCS}, \"days\": {days}}}",
        worst_raw / worst.max(1e-3)
    );
    Ok(())
}

/// p95 in ms over `REPEATS` runs (after one warm-up), and the rows of the last. A query
/// slower than a second (the raw peer on a month) is run 3 times and its slowest kept.
fn time(q: &dyn Fn() -> anyhow::Result<usize>) -> anyhow::Result<(f64, usize)> {
    let t = Instant::now();
    let mut n = q()?;
    let repeats = if t.elapsed().as_secs_f64() > 1.0 {
        3
    } else {
        REPEATS
    };
    let mut ms: Vec<f64> = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            n = q().unwrap_or(0);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let idx = ((repeats as f64 * 0.95).ceil() as usize).min(repeats) - 1;
    Ok((ms[idx], n))
}
