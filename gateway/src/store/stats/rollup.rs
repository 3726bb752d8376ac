//! Roll-ups: the minutes that are over summed into hour rows (and, once an hour is over,
//! into `site_pc_hour`), the local days that are over into day rows, each target written
//! in its own key order. Runs at the end of the writer's transaction (`Ingest::finish`).
//!
//! Owns: the `rolled_minute`, `site_pc_hours_to` and `days_rolled_minute` bookmarks in
//! `meta`. Every byte reaches each resolution exactly once: a minute once rolled is closed
//! (late counts go to the first open minute, `ingest.rs`).

use rusqlite::{Transaction, types::Value};

use super::{
    Map,
    memo::{HostSum, Memo, OpenMinutes, add2},
    sql::{ADD, meta, set_meta, upsert_rows},
};

/// Rolls every minute before `now_minute` not yet rolled up into the hour rows, and every
/// local day that has ended since the last roll-up into the day rows. Minutes are closed
/// once rolled (see `write_sites`), so each is added exactly once at each resolution.
///
/// Day rows are written once, when their day is over, not with every roll-up: a day's
/// host rows are spread over every PC's key range and were rewritten by each batch all
/// day long (two thirds of the pages each commit wrote in `bench stats`). Until then the
/// day is read from its hours (`segments`).
pub(super) fn roll_up(tx: &Transaction, memo: &mut Memo, now_minute: i64) -> rusqlite::Result<()> {
    let from = match meta(tx, "rolled_minute")? {
        Some(m) => m,
        None => {
            // First run: everything written so far.
            let first: Option<i64> = tx.query_row(
                "SELECT min(m) FROM (SELECT min(minute) AS m FROM pc_minute
                 UNION ALL SELECT min(minute) FROM site_minute)",
                [],
                |r| r.get(0),
            )?;
            first.unwrap_or(now_minute)
        }
    };
    if from >= now_minute {
        if meta(tx, "rolled_minute")?.is_none() {
            set_meta(tx, "rolled_minute", from)?;
            set_meta(tx, "days_rolled_minute", from)?;
            set_meta(tx, "site_pc_hours_to", from.div_euclid(60))?;
        }
        return Ok(());
    }
    let off = meta(tx, "day_offset_min")?.unwrap_or(0);
    let hour = |minute: i64| minute.div_euclid(60);

    // One pass over the closed minutes' rows, summed here. Five `INSERT … SELECT … GROUP
    // BY`s did the same by sorting every minute row again for each target table: 60% of
    // the writer's time in `bench stats`, most of it SQLite's sorter. Every target is
    // written in its own key order, so each b-tree is walked forwards.
    let mut hours = Sums::default();
    match &mut memo.open {
        Some(open) => {
            for ((m, pc), (up, down)) in open.pcs.extract_if(|k, _| k.0 < now_minute) {
                hours.pc(hour(m), pc, up, down);
            }
            for ((m, pc, host), v) in open.hosts.extract_if(|k, _| k.0 < now_minute) {
                hours.host(hour(m), pc, host, &v);
            }
        }
        None => {
            // Read back from the database; the minutes still open from here on are
            // remembered for the next roll-ups.
            let mut open = OpenMinutes::default();
            each_pc_minute(tx, from, i64::MAX, |m, pc, up, down| {
                if m < now_minute {
                    hours.pc(hour(m), pc, up, down);
                } else {
                    open.pcs.insert((m, pc), (up, down));
                }
            })?;
            each_host_minute(tx, from, i64::MAX, |m, pc, host, v| {
                if m < now_minute {
                    hours.host(hour(m), pc, host, &v);
                } else {
                    open.hosts.insert((m, pc, host), v);
                }
            })?;
            memo.open = Some(open);
        }
    }

    hours.write(tx, "hour")?;
    set_meta(tx, "rolled_minute", now_minute)?;

    // The hours that have ended into `site_pc_hour` (see `SITE_PC_HOURS`), from their
    // minute rows: one range scan, appended in key order at the end of the table.
    let hours_from = meta(tx, "site_pc_hours_to")?.unwrap_or(from.div_euclid(60));
    let hours_to = now_minute.div_euclid(60);
    if hours_to > hours_from {
        let mut site_pcs = Map::<(i64, i64, i64), (i64, i64)>::default();
        each_host_minute(tx, hours_from * 60, hours_to * 60, |m, pc, _, v| {
            add2(
                site_pcs.entry((hour(m), v.site, pc)).or_default(),
                v.up,
                v.down,
            )
        })?;
        let rows: Vec<[i64; 5]> = sorted(site_pcs)
            .into_iter()
            .map(|((h, site, pc), (up, down))| [h, site, pc, up, down])
            .collect();
        upsert_rows(
            tx,
            "INSERT INTO site_pc_hour (hour, site, pc, up_bytes, down_bytes)",
            ADD,
            &rows,
        )?;
        set_meta(tx, "site_pc_hours_to", hours_to)?;
    } else if meta(tx, "site_pc_hours_to")?.is_none() {
        set_meta(tx, "site_pc_hours_to", hours_from)?;
    }

    // The days that have ended, from their minute rows (exact for any zone offset; an
    // hour of a half-hour zone belongs to two days). Minutes are kept until their day
    // is rolled (`prune`).
    let days_from = meta(tx, "days_rolled_minute")?.unwrap_or(from);
    let days_to = (now_minute + off).div_euclid(1440) * 1440 - off;
    if days_to > days_from {
        let day = |minute: i64| (minute + off).div_euclid(1440);
        let mut days = Sums {
            by_site_pc: true,
            ..Sums::default()
        };
        each_pc_minute(tx, days_from, days_to, |m, pc, up, down| {
            days.pc(day(m), pc, up, down)
        })?;
        each_host_minute(tx, days_from, days_to, |m, pc, host, v| {
            days.host(day(m), pc, host, &v)
        })?;
        days.write(tx, "day")?;
        set_meta(tx, "days_rolled_minute", days_to)?;
    } else if meta(tx, "days_rolled_minute")?.is_none() {
        set_meta(tx, "days_rolled_minute", days_from)?;
    }
    Ok(())
}

/// Every PC minute row in [lo, hi): (minute, pc, up, down).
fn each_pc_minute(
    tx: &Transaction,
    lo: i64,
    hi: i64,
    mut f: impl FnMut(i64, String, i64, i64),
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "SELECT minute, pc, up_bytes, down_bytes FROM pc_minute
         WHERE minute >= ?1 AND minute < ?2",
    )?;
    let mut rows = stmt.query([lo, hi])?;
    while let Some(r) = rows.next()? {
        f(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    }
    Ok(())
}

/// Every host minute row in [lo, hi): (minute, pc, host, sums).
fn each_host_minute(
    tx: &Transaction,
    lo: i64,
    hi: i64,
    mut f: impl FnMut(i64, i64, i64, HostSum),
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "SELECT minute, pc, host, site, via, up_bytes, down_bytes FROM site_minute
         WHERE minute >= ?1 AND minute < ?2",
    )?;
    let mut rows = stmt.query([lo, hi])?;
    while let Some(r) = rows.next()? {
        let v = HostSum {
            site: r.get(3)?,
            via: r.get(4)?,
            up: r.get(5)?,
            down: r.get(6)?,
        };
        f(r.get(0)?, r.get(1)?, r.get(2)?, v);
    }
    Ok(())
}

/// Minute rows summed into one resolution's buckets (hours or days), each target written
/// in its own key order so each b-tree is walked forwards.
#[derive(Default)]
struct Sums {
    /// (pc, bucket) → (up, down).
    pcs: Map<(String, i64), (i64, i64)>,
    /// (pc, bucket, host) → sums.
    hosts: Map<(i64, i64, i64), HostSum>,
    /// (bucket, site) → (up, down).
    totals: Map<(i64, i64), (i64, i64)>,
    /// (site, bucket, pc) → (up, down), when `by_site_pc` (days: `site_pc_day`).
    site_pcs: Map<(i64, i64, i64), (i64, i64)>,
    by_site_pc: bool,
}

impl Sums {
    fn pc(&mut self, bucket: i64, pc: String, up: i64, down: i64) {
        add2(self.pcs.entry((pc, bucket)).or_default(), up, down);
    }

    fn host(&mut self, bucket: i64, pc: i64, host: i64, v: &HostSum) {
        self.hosts.entry((pc, bucket, host)).or_default().merge(v);
        add2(
            self.totals.entry((bucket, v.site)).or_default(),
            v.up,
            v.down,
        );
        if self.by_site_pc {
            add2(
                self.site_pcs.entry((v.site, bucket, pc)).or_default(),
                v.up,
                v.down,
            );
        }
    }

    /// Into `pc_{col}`, `site_{col}`, `site_total_{col}` (and `site_pc_day`), adding to
    /// rows already there.
    fn write(self, tx: &Transaction, col: &str) -> rusqlite::Result<()> {
        let int = Value::Integer;
        let rows: Vec<[Value; 4]> = sorted(self.pcs)
            .into_iter()
            .map(|((pc, t), (up, down))| [Value::Text(pc), int(t), int(up), int(down)])
            .collect();
        upsert_rows(
            tx,
            &format!("INSERT INTO pc_{col} (pc, {col}, up_bytes, down_bytes)"),
            ADD,
            &rows,
        )?;
        let rows: Vec<[i64; 7]> = sorted(self.hosts)
            .into_iter()
            .map(|((pc, t, host), v)| [pc, t, host, v.site, v.via, v.up, v.down])
            .collect();
        upsert_rows(
            tx,
            &format!("INSERT INTO site_{col} (pc, {col}, host, site, via, up_bytes, down_bytes)"),
            &format!("{ADD}, via = min(via, excluded.via)"),
            &rows,
        )?;
        let rows: Vec<[i64; 4]> = sorted(self.totals)
            .into_iter()
            .map(|((t, site), (up, down))| [t, site, up, down])
            .collect();
        upsert_rows(
            tx,
            &format!("INSERT INTO site_total_{col} ({col}, site, up_bytes, down_bytes)"),
            ADD,
            &rows,
        )?;
        if self.by_site_pc {
            let rows: Vec<[i64; 5]> = sorted(self.site_pcs)
                .into_iter()
                .map(|((site, d, pc), (up, down))| [site, d, pc, up, down])
                .collect();
            upsert_rows(
                tx,
                "INSERT INTO site_pc_day (site, day, pc, up_bytes, down_bytes)",
                ADD,
                &rows,
            )?;
        }
        Ok(())
    }
}

/// A map's entries in key order (the target table's key order).
fn sorted<K: Ord, V>(map: Map<K, V>) -> Vec<(K, V)> {
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}
