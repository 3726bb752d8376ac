//! The per-minute writes, all in the writer's transaction: usage deltas (day and month
//! totals, `pc_minute`, counter marks) and the flow collector's batches (`site_minute`,
//! unexplained flows, flow marks), then the roll-up of the minutes that are over.
//!
//! Owns: turning one batch of records into rows. Must not: commit (the writer does, with
//! the batch's events and queries), or read what it can remember (`Memo`).

use rusqlite::{Transaction, params};

/// Rows the unexplained-flow list keeps at most (the newest).
const UNEXPLAINED_ROWS: i64 = 100_000;

use super::{
    SitesBatch, UsageDelta,
    memo::{HostSum, Memo},
    rollup::roll_up,
    sql::{meta, set_meta, upsert_rows},
};

/// One batch's statistics, in the writer's transaction: usage deltas summed over the
/// batch, the flow collector's rows written as they come, and at the end (`finish`) the
/// usage sums written and every minute that is over rolled up into hours and days.
pub(in crate::store) struct Ingest<'a> {
    /// Minutes before this are rolled up and closed (see `roll_up`).
    rolled: i64,
    usage: UsageSums<'a>,
    /// The newest minute counted in this batch: every minute before it is over and is
    /// rolled up into hours and days.
    newest_minute: Option<i64>,
}

impl<'a> Ingest<'a> {
    pub(in crate::store) fn begin(tx: &Transaction) -> rusqlite::Result<Self> {
        Ok(Ingest {
            rolled: meta(tx, "rolled_minute")?.unwrap_or(i64::MIN),
            usage: UsageSums::default(),
            newest_minute: None,
        })
    }

    pub(in crate::store) fn usage(&mut self, u: &'a UsageDelta) {
        // Summed over the batch first: a writer that fell behind catches up
        // with one write per PC and period instead of one per delta.
        let m = u.minute.max(self.rolled);
        self.newest_minute = self.newest_minute.max(Some(m));
        let bytes = u.up + u.down;
        let usage = &mut self.usage;
        *usage.periods.entry((&u.pc, &u.day)).or_default() += bytes;
        *usage.periods.entry((&u.pc, &u.month)).or_default() += bytes;
        let e = usage.minutes.entry((&u.pc, m)).or_default();
        e.0 += u.up;
        e.1 += u.down;
        for (addr, up, down) in &u.marks {
            // In queue order: the last total counted wins.
            usage.marks.insert(addr, (*up, *down));
        }
    }

    pub(in crate::store) fn sites(
        &mut self,
        tx: &Transaction,
        memo: &mut Memo,
        b: &SitesBatch,
    ) -> rusqlite::Result<()> {
        write_sites(tx, memo, self.rolled, b)?;
        self.newest_minute = self.newest_minute.max(Some(b.minute));
        Ok(())
    }

    pub(in crate::store) fn finish(
        self,
        tx: &Transaction,
        memo: &mut Memo,
    ) -> rusqlite::Result<()> {
        self.usage.write(tx, memo)?;
        if let Some(m) = self.newest_minute {
            roll_up(tx, memo, m)?;
        }
        Ok(())
    }
}

/// The usage deltas of one batch, summed.
#[derive(Default)]
struct UsageSums<'a> {
    /// (pc, period) → bytes.
    periods: std::collections::HashMap<(&'a str, &'a str), u64>,
    /// (pc, minute) → (up, down).
    minutes: std::collections::HashMap<(&'a str, i64), (u64, u64)>,
    /// address → (up total, down total).
    marks: std::collections::HashMap<&'a str, (u64, u64)>,
}

impl UsageSums<'_> {
    fn write(&self, tx: &Transaction, memo: &mut Memo) -> rusqlite::Result<()> {
        let mut add = tx.prepare_cached(
            "INSERT INTO usage (pc, period, bytes) VALUES (?1, ?2, ?3)
             ON CONFLICT (pc, period) DO UPDATE SET bytes = bytes + excluded.bytes",
        )?;
        for ((pc, period), bytes) in &self.periods {
            add.execute(params![pc, period, *bytes as i64])?;
        }
        // In the table's key order (minute, pc): each is then an append (`upsert_rows`).
        let mut minutes: Vec<_> = self.minutes.iter().collect();
        minutes.sort_unstable_by_key(|((pc, m), _)| (*m, *pc));
        let mut rows = Vec::with_capacity(minutes.len());
        for ((pc, m), (up, down)) in minutes {
            use rusqlite::types::Value;
            rows.push([
                Value::Text(pc.to_string()),
                Value::Integer(*m),
                Value::Integer(*up as i64),
                Value::Integer(*down as i64),
            ]);
            memo.pc_minute(*m, pc, *up as i64, *down as i64);
        }
        upsert_rows(
            tx,
            "INSERT INTO pc_minute (pc, minute, up_bytes, down_bytes)",
            "ON CONFLICT DO UPDATE SET
               up_bytes = up_bytes + excluded.up_bytes,
               down_bytes = down_bytes + excluded.down_bytes",
            &rows,
        )?;
        let mut mark = tx.prepare_cached(
            "INSERT INTO counter_marks (addr, total, up, down) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (addr) DO UPDATE SET total = excluded.total,
               up = excluded.up, down = excluded.down",
        )?;
        for (addr, (up, down)) in &self.marks {
            mark.execute(params![addr, (up + down) as i64, *up as i64, *down as i64])?;
        }
        Ok(())
    }
}

/// `rolled`: the first minute not yet rolled up (everything before it is closed).
fn write_sites(
    tx: &Transaction,
    memo: &mut Memo,
    rolled: i64,
    b: &SitesBatch,
) -> rusqlite::Result<()> {
    // A minute already rolled up is closed: late counts go to the first open minute.
    let minute = b.minute.max(rolled);
    let mut rows = Vec::with_capacity(b.rows.len());
    for r in &b.rows {
        let (pc, host, site) = (
            memo.id(tx, &r.pc)?,
            memo.id(tx, &r.host)?,
            memo.id(tx, &r.site)?,
        );
        let (via, up, down) = (r.via.code(), r.up as i64, r.down as i64);
        rows.push([minute, pc, host, site, via, up, down]);
        if let Some(open) = &mut memo.open {
            // As the upsert above: the first site a row was written with stays (a host's
            // site never changes), the most trusted naming wins.
            let sum = open.hosts.entry((minute, pc, host)).or_insert(HostSum {
                site,
                ..HostSum::default()
            });
            sum.via = sum.via.min(via);
            sum.up += up;
            sum.down += down;
        }
    }
    // In key order (the minute is the same): appends at the end of the table.
    rows.sort_unstable_by_key(|r| (r[1], r[2]));
    upsert_rows(
        tx,
        "INSERT INTO site_minute (minute, pc, host, site, via, up_bytes, down_bytes)",
        "ON CONFLICT (minute, pc, host) DO UPDATE SET
           up_bytes = up_bytes + excluded.up_bytes,
           down_bytes = down_bytes + excluded.down_bytes,
           via = min(via, excluded.via)",
        &rows,
    )?;
    let mut un = tx.prepare_cached(
        "INSERT INTO unexplained (pc, remote, port, proto, reason, name, first_ms, last_ms,
           up_bytes, down_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)
         ON CONFLICT (pc, remote, port, proto) DO UPDATE SET
           reason = excluded.reason, name = coalesce(excluded.name, name),
           last_ms = excluded.last_ms,
           up_bytes = up_bytes + excluded.up_bytes,
           down_bytes = down_bytes + excluded.down_bytes",
    )?;
    for u in &b.unexplained {
        un.execute(params![
            u.pc,
            u.remote,
            u.port,
            u.proto,
            u.reason,
            u.name,
            b.at_ms,
            u.up as i64,
            u.down as i64
        ])?;
    }
    let mut mark = tx.prepare_cached(
        "INSERT INTO flow_marks (flow, up, down, seen_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (flow) DO UPDATE SET up = excluded.up, down = excluded.down,
           seen_ms = excluded.seen_ms",
    )?;
    for (k, up, down) in &b.marks {
        mark.execute(params![k, *up as i64, *down as i64, b.at_ms])?;
    }
    let mut forget = tx.prepare_cached("DELETE FROM flow_marks WHERE flow = ?1")?;
    for k in &b.forgotten {
        forget.execute([k])?;
    }
    if !b.unexplained.is_empty() {
        // The newest `UNEXPLAINED_ROWS` only: a PC scanning ports or addresses makes a row
        // per flow, and the list is for looking at, not for keeping everything.
        tx.execute(
            "DELETE FROM unexplained WHERE rowid IN (SELECT rowid FROM unexplained
               ORDER BY last_ms DESC LIMIT -1 OFFSET ?1)",
            [UNEXPLAINED_ROWS],
        )?;
    }
    set_meta(tx, "day_offset_min", b.day_offset_min)?;
    Ok(())
}
