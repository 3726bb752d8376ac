//! Traffic statistics at three resolutions: per-minute rows (written by the collectors),
//! rolled up into hourly rows once a minute is over and into daily rows once a day is
//! over (`roll_up`), each kept for its own retention. Reads cover a period with the coarsest rows that fit it (`segments`), so a
//! month's top list reads ~30 daily rows per PC instead of ~43,000 minute rows.
//!
//! Tables (all bytes are whole frames as the datapath counts them, all WITHOUT ROWID).
//! PC and site-total tables are keyed by their time bucket first, so a period is one range
//! scan of the table itself; per-PC reads of hours and days go through a (pc, bucket)
//! index, of minutes by seeking (minute, pc) minute by minute (`rows_of`). Hour and day
//! host rows are only ever read per PC or per site: they are keyed (pc, bucket, host),
//! and read per site through `site_pc_hour` and `site_pc_day` (`HOST_KEYS`,
//! `SITE_PC_HOURS`). Minute rows carry no secondary index at all: each insert then
//! touches one b-tree, and reads only ever scan minutes for a period's ragged edges
//! (under an hour each), the hour in progress and the minutes not yet rolled up.
//!
//! - `pc_minute` / `pc_hour` / `pc_day`: bytes per PC.
//! - `site_minute` / `site_hour` / `site_day`: bytes per (PC, host name), with the host's
//!   registrable domain (`site`) and how it was named (`via`: a `Via` code). PCs, hosts
//!   and sites are ids into `names`: rows of integers are a third the size of rows of
//!   text, and so are their indexes (the month of a 500-PC office is ~10M rows).
//! - `site_total_hour` / `site_total_day`: bytes per site over all PCs (the top-sites list
//!   without a GROUP BY over every PC's rows).
//! - `site_pc_hour` / `site_pc_day`: bytes per site, bucket and PC (a site's PCs, and how
//!   many PCs used a site, without reading every host row). Hours are written once each
//!   hour is over.
//! - `unexplained`: flows to addresses a PC never looked up through the gateway, or whose
//!   TLS name no answer of the gateway matches — likely bypass.
//! - `flow_marks`: the per-flow counter totals already counted (restart-safe deltas).
//!
//! Hours are UTC hours (Unix minute / 60); days are calendar days in the policy's time
//! zone (Unix minute plus the zone's offset, / 1440), the offset stored with each batch.

use std::collections::HashMap;

use rusqlite::{Connection, Transaction, params, params_from_iter, types::Value};

use super::meta;

/// Rows per execution of `upsert_rows`' statement.
const CHUNK: usize = 64;

/// Inserts (or upserts) `rows` with `head` (`INSERT INTO t (cols)`) and `tail` (its
/// `ON CONFLICT` clause, or empty), `CHUNK` rows per execution of one multi-row statement.
///
/// One statement per row descended each b-tree from its root for every row and paid the
/// execution's set-up (binding, opening cursors, reset) each time. Within one execution
/// SQLite keeps its cursors, and a key past the end of the current leaf (rows written in
/// key order, or the newest minute) is appended without a descent.
///
/// Rows of integers are bound as they are (`[i64; N]`): converting every row to
/// `Value`s first cost the roll-ups an allocation of megabytes per minute, freshly
/// faulted in (~5% of the writer in `bench stats`).
pub(super) fn upsert_rows<T: rusqlite::ToSql, const N: usize>(
    tx: &Transaction,
    head: &str,
    tail: &str,
    rows: &[[T; N]],
) -> rusqlite::Result<()> {
    let values = |n: usize| {
        let one = format!("({})", ["?"; N].join(","));
        vec![one; n].join(",")
    };
    let mut chunks = rows.chunks_exact(CHUNK);
    if rows.len() >= CHUNK {
        let mut stmt = tx.prepare_cached(&format!("{head} VALUES {} {tail}", values(CHUNK)))?;
        for chunk in &mut chunks {
            stmt.execute(params_from_iter(chunk.iter().flatten()))?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut stmt = tx.prepare_cached(&format!("{head} VALUES {} {tail}", values(1)))?;
        for row in rest {
            stmt.execute(params_from_iter(row.iter()))?;
        }
    }
    Ok(())
}

/// The schema of this module (one migration, appended to the store's list).
pub const MIGRATION: &str = "
CREATE TABLE pc_minute_new (
    minute INTEGER NOT NULL, pc TEXT NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (minute, pc)) WITHOUT ROWID;
INSERT INTO pc_minute_new SELECT minute, pc, up_bytes, down_bytes FROM pc_minute;
DROP TABLE pc_minute;
ALTER TABLE pc_minute_new RENAME TO pc_minute;
CREATE INDEX pc_minute_pc ON pc_minute(pc, minute);
CREATE TABLE pc_hour (
    hour INTEGER NOT NULL, pc TEXT NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (hour, pc)) WITHOUT ROWID;
CREATE INDEX pc_hour_pc ON pc_hour(pc, hour);
CREATE TABLE pc_day (
    day INTEGER NOT NULL, pc TEXT NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (day, pc)) WITHOUT ROWID;
CREATE INDEX pc_day_pc ON pc_day(pc, day);
CREATE TABLE site_pc_day (
    site INTEGER NOT NULL, day INTEGER NOT NULL, pc INTEGER NOT NULL,
    PRIMARY KEY (site, day, pc)) WITHOUT ROWID;
CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE site_minute (
    minute INTEGER NOT NULL, pc INTEGER NOT NULL, host INTEGER NOT NULL,
    site INTEGER NOT NULL, via INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (minute, pc, host)) WITHOUT ROWID;
CREATE TABLE site_hour (
    hour INTEGER NOT NULL, pc INTEGER NOT NULL, host INTEGER NOT NULL,
    site INTEGER NOT NULL, via INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (hour, pc, host)) WITHOUT ROWID;
CREATE INDEX site_hour_pc ON site_hour(pc, hour);
CREATE INDEX site_hour_site ON site_hour(site, hour);
CREATE TABLE site_day (
    day INTEGER NOT NULL, pc INTEGER NOT NULL, host INTEGER NOT NULL,
    site INTEGER NOT NULL, via INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (day, pc, host)) WITHOUT ROWID;
CREATE INDEX site_day_pc ON site_day(pc, day);
CREATE INDEX site_day_site ON site_day(site, day);
CREATE TABLE site_total_hour (
    hour INTEGER NOT NULL, site INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (hour, site)) WITHOUT ROWID;
CREATE TABLE site_total_day (
    day INTEGER NOT NULL, site INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (day, site)) WITHOUT ROWID;
CREATE TABLE unexplained (
    pc TEXT NOT NULL, remote TEXT NOT NULL, port INTEGER NOT NULL, proto INTEGER NOT NULL,
    reason TEXT NOT NULL, name TEXT,
    first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (pc, remote, port, proto));
CREATE INDEX unexplained_last ON unexplained(last_ms);
CREATE TABLE flow_marks (
    flow TEXT PRIMARY KEY, up INTEGER NOT NULL, down INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// Fewer b-trees per rolled-up host row (each one cost the roll-up a seek and an insert
/// per row; `bench stats`):
/// - hour and day host rows keyed by (PC, bucket, host) instead of (bucket, PC, host) with
///   a (PC, bucket) index: they are only ever read per PC or per site, never a whole
///   period of every PC, so the bucket-first key served nothing. Deleting by age walks
///   the key PC by PC (see `prune`).
/// - day host rows lose their (site, day) index: `site_pc_day` gains bytes and answers a
///   site's PCs over days itself, from rows already summed over the site's hosts.
pub const HOST_KEYS: &str = "
CREATE TABLE site_hour_new (
    hour INTEGER NOT NULL, pc INTEGER NOT NULL, host INTEGER NOT NULL,
    site INTEGER NOT NULL, via INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (pc, hour, host)) WITHOUT ROWID;
INSERT INTO site_hour_new SELECT hour, pc, host, site, via, up_bytes, down_bytes
    FROM site_hour;
DROP TABLE site_hour;
ALTER TABLE site_hour_new RENAME TO site_hour;
CREATE INDEX site_hour_site ON site_hour(site, hour);
CREATE TABLE site_day_new (
    day INTEGER NOT NULL, pc INTEGER NOT NULL, host INTEGER NOT NULL,
    site INTEGER NOT NULL, via INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (pc, day, host)) WITHOUT ROWID;
INSERT INTO site_day_new SELECT day, pc, host, site, via, up_bytes, down_bytes
    FROM site_day;
DROP TABLE site_day;
ALTER TABLE site_day_new RENAME TO site_day;
CREATE TABLE site_pc_day_new (
    site INTEGER NOT NULL, day INTEGER NOT NULL, pc INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (site, day, pc)) WITHOUT ROWID;
INSERT INTO site_pc_day_new SELECT site, day, pc, SUM(up_bytes), SUM(down_bytes)
    FROM site_day GROUP BY site, day, pc;
DROP TABLE site_pc_day;
ALTER TABLE site_pc_day_new RENAME TO site_pc_day;
";

/// Two secondary indexes fewer: each cost every minute's inserts a second, scattered
/// b-tree insert (`bench stats`: ingest +31% without the first, +49% without the second).
/// - `pc_minute_pc`: one PC's minutes are read by seeking each minute of the key
///   (minute, pc) instead (`rows_of`): a day by minute is 1,440 seeks.
/// - `site_hour_site`: a site's PCs over hours come from `site_pc_hour`, summed over the
///   site's hosts and written once per hour when the hour is over, keyed hour first, so
///   each hour's rows are appended at the end of the table (`roll_up`). The hour in
///   progress is read from its minutes (`site_pc_union`). `site_pc_hours_to` is the first
///   hour not yet in it.
pub const SITE_PC_HOURS: &str = "
DROP INDEX pc_minute_pc;
DROP INDEX site_hour_site;
CREATE TABLE site_pc_hour (
    hour INTEGER NOT NULL, site INTEGER NOT NULL, pc INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (hour, site, pc)) WITHOUT ROWID;
INSERT INTO meta (key, value)
    SELECT 'site_pc_hours_to', value / 60 FROM meta WHERE key = 'rolled_minute';
INSERT INTO site_pc_hour SELECT hour, site, pc, SUM(up_bytes), SUM(down_bytes)
    FROM site_hour WHERE hour < (SELECT value FROM meta WHERE key = 'site_pc_hours_to')
    GROUP BY hour, site, pc;
";

/// How a flow's site was named, most trusted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The server name of the TLS ClientHello.
    Sni,
    /// The `Host` header of an HTTP request.
    Host,
    /// The name the gateway's DNS answered this PC with this address.
    Dns,
    /// Nothing named it: the site is the remote address.
    Address,
}

impl Via {
    pub const ALL: [Via; 4] = [Via::Sni, Via::Host, Via::Dns, Via::Address];

    /// Its code in the tables. Never renumbered.
    pub fn code(self) -> i64 {
        match self {
            Via::Sni => 0,
            Via::Host => 1,
            Via::Dns => 2,
            Via::Address => 3,
        }
    }

    pub fn from_code(c: i64) -> Via {
        Via::ALL
            .into_iter()
            .find(|v| v.code() == c)
            .unwrap_or(Via::Address)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Via::Sni => "sni",
            Via::Host => "host",
            Via::Dns => "dns",
            Via::Address => "address",
        }
    }
}

/// Bytes of one PC with one host in one minute.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRow {
    pub pc: String,
    pub host: String,
    pub site: String,
    pub via: Via,
    pub up: u64,
    pub down: u64,
}

/// Bytes of a flow nobody can explain.
#[derive(Debug, Clone, PartialEq)]
pub struct UnexplainedRow {
    pub pc: String,
    pub remote: String,
    pub port: u16,
    pub proto: u8,
    /// `no_lookup` or `sni_mismatch`.
    pub reason: &'static str,
    /// The name the flow claimed (SNI, Host), if any.
    pub name: Option<String>,
    pub up: u64,
    pub down: u64,
}

/// What the flow collector counted since its last batch, with the flow totals that
/// produced it: committed together, so a restart continues exactly from here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SitesBatch {
    pub minute: i64,
    pub at_ms: i64,
    /// The policy zone's offset from UTC, in minutes, for day rows.
    pub day_offset_min: i64,
    pub rows: Vec<SiteRow>,
    pub unexplained: Vec<UnexplainedRow>,
    /// (flow key, up total, down total).
    pub marks: Vec<(String, u64, u64)>,
}

/// Fast hashing for the writer's own maps (keys are ids and names the writer made, not
/// input an attacker picks per entry; SipHash was ~5% of the writer's time).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What the writer remembers between transactions (`clear` when one fails: it may hold
/// ids and rows that were never committed).
#[derive(Default)]
pub(super) struct Memo {
    /// Names to ids.
    names: Map<String, i64>,
    /// The minute rows not yet rolled up, as they are in the database, so the roll-up
    /// needn't read them back (~10% of the writer's time in `bench stats`). `None`
    /// until the first roll-up loads them (a new writer, or after a failure).
    open: Option<OpenMinutes>,
}

#[derive(Default)]
struct OpenMinutes {
    /// (minute, pc) → (up, down).
    pcs: Map<(i64, String), (i64, i64)>,
    /// (minute, pc, host) → sums.
    hosts: Map<(i64, i64, i64), HostSum>,
}

impl Memo {
    pub(super) fn clear(&mut self) {
        self.names.clear();
        self.open = None;
    }

    fn id(&mut self, tx: &Transaction, name: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.names.get(name) {
            return Ok(*id);
        }
        tx.prepare_cached("INSERT OR IGNORE INTO names (name) VALUES (?1)")?
            .execute([name])?;
        let id: i64 = tx
            .prepare_cached("SELECT id FROM names WHERE name = ?1")?
            .query_row([name], |r| r.get(0))?;
        // Bounded: an office's month has some thousands of names; a flood of random
        // names only costs lookups again.
        if self.names.len() > 200_000 {
            self.names.clear();
        }
        self.names.insert(name.to_string(), id);
        Ok(id)
    }

    /// A PC's minute row was added to (`UsageSums::write`).
    pub(super) fn pc_minute(&mut self, minute: i64, pc: &str, up: i64, down: i64) {
        if let Some(open) = &mut self.open {
            add2(
                open.pcs.entry((minute, pc.to_string())).or_default(),
                up,
                down,
            );
        }
    }
}

/// `rolled`: the first minute not yet rolled up (everything before it is closed).
pub(super) fn write_sites(
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
    set_meta(tx, "day_offset_min", b.day_offset_min)?;
    Ok(())
}

fn set_meta(tx: &Transaction, key: &str, value: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

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

/// The upsert tail that adds a row's bytes to the row already there.
const ADD: &str = "ON CONFLICT DO UPDATE SET up_bytes = up_bytes + excluded.up_bytes,
                   down_bytes = down_bytes + excluded.down_bytes";

/// A host row's sums over minutes: the most specific site seen, the most trusted naming.
struct HostSum {
    site: i64,
    via: i64,
    up: i64,
    down: i64,
}

impl Default for HostSum {
    fn default() -> Self {
        HostSum {
            site: i64::MIN,
            via: i64::MAX,
            up: 0,
            down: 0,
        }
    }
}

impl HostSum {
    fn merge(&mut self, o: &HostSum) {
        self.site = self.site.max(o.site);
        self.via = self.via.min(o.via);
        self.up += o.up;
        self.down += o.down;
    }
}

fn add2(sum: &mut (i64, i64), up: i64, down: i64) {
    sum.0 += up;
    sum.1 += down;
}

/// A map's entries in key order (the target table's key order).
fn sorted<K: Ord, V>(map: Map<K, V>) -> Vec<(K, V)> {
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}

/// How long each resolution is kept, in days (0: forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub minutes_days: u32,
    pub hours_days: u32,
    pub days_days: u32,
    pub queries_days: u32,
    pub events_days: u32,
}

/// Deletes what is past its retention. Returns the rows deleted.
pub(super) fn prune(tx: &Transaction, now_ms: i64, r: &Retention) -> rusqlite::Result<usize> {
    let now_min = now_ms.div_euclid(60_000);
    let mut n = 0;
    let rolled = meta(tx, "rolled_minute")?.unwrap_or(i64::MIN);
    if r.minutes_days > 0 {
        // Never a minute not yet rolled up into hours and days: its bytes exist nowhere
        // else.
        let days_rolled = meta(tx, "days_rolled_minute")?.unwrap_or(rolled);
        let cut = (now_min - r.minutes_days as i64 * 1440)
            .min(rolled)
            .min(days_rolled);
        n += tx.execute("DELETE FROM pc_minute WHERE minute < ?1", [cut])?;
        n += tx.execute("DELETE FROM site_minute WHERE minute < ?1", [cut])?;
    }
    if r.hours_days > 0 {
        let cut = (now_min - r.hours_days as i64 * 1440) / 60;
        for t in ["pc_hour", "site_total_hour", "site_pc_hour"] {
            n += tx.execute(&format!("DELETE FROM {t} WHERE hour < ?1"), [cut])?;
        }
        n += delete_by_age(tx, "site_hour", "pc", "hour", cut)?;
    }
    if r.days_days > 0 {
        let cut = (now_min - r.days_days as i64 * 1440) / 1440;
        for t in ["pc_day", "site_total_day"] {
            n += tx.execute(&format!("DELETE FROM {t} WHERE day < ?1"), [cut])?;
        }
        n += delete_by_age(tx, "site_day", "pc", "day", cut)?;
        n += delete_by_age(tx, "site_pc_day", "site", "day", cut)?;
        n += tx.execute(
            "DELETE FROM unexplained WHERE last_ms < ?1",
            [now_ms - r.days_days as i64 * 86_400_000],
        )?;
    }
    if r.queries_days > 0 {
        n += tx.execute(
            "DELETE FROM queries WHERE at_ms < ?1",
            [now_ms - r.queries_days as i64 * 86_400_000],
        )?;
    }
    if r.events_days > 0 {
        n += tx.execute(
            "DELETE FROM events WHERE at_ms < ?1",
            [now_ms - r.events_days as i64 * 86_400_000],
        )?;
    }
    // Marks of flows the datapath forgot (replaced in a full set) a day ago will never be
    // needed again.
    n += tx.execute(
        "DELETE FROM flow_marks WHERE seen_ms < ?1",
        [now_ms - 86_400_000],
    )?;
    Ok(n)
}

/// Deletes a table's rows before `cut` when it is keyed by `key` (PC or site) before its
/// time column `col`: one key range per PC or site, since a plain `WHERE {col} < cut`
/// would read all of it. The keys are found by hopping along the primary key
/// (`min(key) WHERE key > previous`), one seek each.
fn delete_by_age(
    tx: &Transaction,
    table: &str,
    key: &str,
    col: &str,
    cut: i64,
) -> rusqlite::Result<usize> {
    tx.execute(
        &format!(
            "WITH RECURSIVE keys(id) AS (
               SELECT min({key}) FROM {table}
               UNION ALL SELECT (SELECT min({key}) FROM {table} WHERE {key} > keys.id)
               FROM keys WHERE keys.id IS NOT NULL)
             DELETE FROM {table} WHERE {key} IN (SELECT id FROM keys WHERE id IS NOT NULL)
               AND {col} < ?1"
        ),
        [cut],
    )
}

/// Flow marks stored by an earlier run: (flow key, up, down).
pub fn flow_marks(conn: &Connection) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    let mut stmt = conn.prepare("SELECT flow, up, down FROM flow_marks")?;
    stmt.query_map([], read3)?.collect()
}

/// One resolution's rows, and their bucket column with its width in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Res {
    Minute,
    Hour,
    Day,
}

/// A piece of a period read from one resolution: buckets [lo, hi).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub res: Res,
    pub lo: i64,
    pub hi: i64,
}

impl Segment {
    /// The bucket column of this segment's tables.
    pub fn column(self) -> &'static str {
        match self.res {
            Res::Minute => "minute",
            Res::Hour => "hour",
            Res::Day => "day",
        }
    }

    /// SQL for the start minute of a row's bucket (for series).
    fn start_minute(self, off: i64) -> String {
        match self.res {
            Res::Minute => "minute".into(),
            Res::Hour => "hour * 60".into(),
            Res::Day => format!("day * 1440 - {off}"),
        }
    }
}

/// Covers [since, until) (Unix minutes) with the coarsest rows that fit: whole local
/// days from the day rows, whole hours from the hour rows, the edges and everything not
/// yet rolled up (`rolled` onwards) from the minute rows.
///
/// Minutes are rolled up into hours one by one as they end, so the hour that holds
/// `rolled` contains exactly its minutes before it. A period that runs into the minutes
/// not yet rolled up ("today", "this month", "the last hour" up to now) therefore reads
/// that hour whole, and only the unrolled tail (a minute or so) from minute rows. Days
/// are rolled when they end (`days_rolled`, a local midnight): the day in progress is
/// read from its hours.
pub fn segments(since: i64, until: i64, rolled: i64, days_rolled: i64, off: i64) -> Vec<Segment> {
    let mut out = Vec::new();
    if since >= until {
        return out;
    }
    let cut = until.min(rolled).max(since);
    let open = until >= rolled;
    // Whole days only, and only days already rolled (before `days_rolled`).
    let day_lo = ceil_div(since + off, 1440);
    let day_hi = (cut.min(days_rolled) + off).div_euclid(1440);
    if day_lo < day_hi {
        hours(&mut out, since, day_lo * 1440 - off, false);
        out.push(Segment {
            res: Res::Day,
            lo: day_lo,
            hi: day_hi,
        });
        hours(&mut out, day_hi * 1440 - off, cut, open);
    } else {
        hours(&mut out, since, cut, open);
    }
    push(&mut out, Res::Minute, cut, until);
    out
}

/// [lo, hi) as whole hours and minute edges; `open_end`: the hour holding `hi` is read
/// whole (it ends at `hi`, see `segments`).
fn hours(out: &mut Vec<Segment>, lo: i64, hi: i64, open_end: bool) {
    if lo >= hi {
        return;
    }
    let h_lo = ceil_div(lo, 60);
    let h_hi = if open_end {
        ceil_div(hi, 60)
    } else {
        hi.div_euclid(60)
    };
    if h_lo < h_hi {
        push(out, Res::Minute, lo, h_lo * 60);
        out.push(Segment {
            res: Res::Hour,
            lo: h_lo,
            hi: h_hi,
        });
        if !open_end {
            push(out, Res::Minute, h_hi * 60, hi);
        }
    } else {
        push(out, Res::Minute, lo, hi);
    }
}

fn push(out: &mut Vec<Segment>, res: Res, lo: i64, hi: i64) {
    if lo < hi {
        out.push(Segment { res, lo, hi });
    }
}

fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

/// The rolled-up boundaries (hours, days) and the day offset, as the writer last stored
/// them.
pub fn bounds(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    let rolled = meta(conn, "rolled_minute")?.unwrap_or(i64::MIN);
    Ok((
        rolled,
        meta(conn, "days_rolled_minute")?.unwrap_or(rolled),
        meta(conn, "day_offset_min")?.unwrap_or(0),
    ))
}

/// The first hour not yet in `site_pc_hour` (see `SITE_PC_HOURS`); before the writer
/// stored it, the hour holding `rolled`.
fn site_pc_hours_to(conn: &Connection, rolled: i64) -> rusqlite::Result<i64> {
    Ok(meta(conn, "site_pc_hours_to")?.unwrap_or(rolled.div_euclid(60)))
}

fn union(
    segs: &[Segment],
    table: &str,
    select: impl Fn(Segment) -> String,
    filter: &str,
) -> String {
    union_seek(segs, table, select, filter, |_| false)
}

/// `union`, with the segments `seek` picks read bucket by bucket (`rows_of`).
fn union_seek(
    segs: &[Segment],
    table: &str,
    select: impl Fn(Segment) -> String,
    filter: &str,
    seek: impl Fn(Segment) -> bool,
) -> String {
    segs.iter()
        .map(|s| {
            let t = format!("{table}_{}", s.column());
            rows_of(&select(*s), &t, s.column(), (s.lo, s.hi), seek(*s), filter)
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// `SELECT {select} FROM {table}` for buckets [lo, hi) of `col`, and `filter`.
///
/// `seek`: the buckets one by one (`col IN (lo, lo + 1, …)`) rather than as a range, for a
/// table keyed by its bucket first whose `filter` pins the next key column (one PC's
/// minutes, a few sites' hours): a seek per bucket instead of a scan of every row of the
/// period, and no second index for every insert to pay for (`SITE_PC_HOURS`).
fn rows_of(
    select: &str,
    table: &str,
    col: &str,
    (lo, hi): (i64, i64),
    seek: bool,
    filter: &str,
) -> String {
    let range = if seek {
        format!(
            "{col} IN (WITH RECURSIVE b(v) AS (SELECT {lo} UNION ALL \
             SELECT v + 1 FROM b WHERE v + 1 < {hi}) SELECT v FROM b)"
        )
    } else {
        format!("{col} >= {lo} AND {col} < {hi}")
    };
    format!("SELECT {select} FROM {table} WHERE {range} {filter}")
}

/// One site's (or a few sites') rows per PC over `segs`: (site, pc, up_bytes,
/// down_bytes) are in every table read. Days from `site_pc_day` and hours from
/// `site_pc_hour`, both already summed over the site's hosts (`site_day` and `site_hour`
/// have no site index; see `HOST_KEYS` and `SITE_PC_HOURS`); the hours not yet in
/// `site_pc_hour` (the one in progress) and the edges from minute rows.
fn site_pc_union(
    segs: &[Segment],
    (rolled, hours_to): (i64, i64),
    select: &str,
    filter: &str,
) -> String {
    let mut parts = Vec::new();
    for s in segs {
        let mut add = |table: &str, col: &str, lo: i64, hi: i64, seek: bool| {
            if lo < hi {
                parts.push(rows_of(select, table, col, (lo, hi), seek, filter));
            }
        };
        match s.res {
            Res::Day => add("site_pc_day", "day", s.lo, s.hi, false),
            Res::Minute => add("site_minute", "minute", s.lo, s.hi, false),
            Res::Hour => {
                // Hour rows hold nothing from `rolled` on (`segments`).
                let mid = s.hi.min(hours_to).max(s.lo);
                add("site_pc_hour", "hour", s.lo, mid, true);
                add(
                    "site_minute",
                    "minute",
                    mid * 60,
                    (s.hi * 60).min(rolled),
                    false,
                );
            }
        }
    }
    if parts.is_empty() {
        return format!("SELECT {select} FROM site_pc_day WHERE 0");
    }
    parts.join(" UNION ALL ")
}

/// A row of (text, integer, integer) — a name or key with two byte counts.
pub(super) fn read3(r: &rusqlite::Row) -> rusqlite::Result<(String, u64, u64)> {
    Ok((
        r.get::<_, String>(0)?,
        r.get::<_, i64>(1)? as u64,
        r.get::<_, i64>(2)? as u64,
    ))
}

/// The id of a name, if it was ever stored.
fn name_id(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached("SELECT id FROM names WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()
}

/// Traffic summed per bucket of `bucket_min` minutes over [since, until), for one PC or
/// all: (bucket start minute, up, down), oldest first. Buckets of a day or more start at
/// local midnight.
pub fn traffic_series(
    conn: &Connection,
    since: i64,
    until: i64,
    bucket_min: i64,
    pc: Option<&str>,
) -> rusqlite::Result<Vec<(i64, u64, u64)>> {
    let (rolled, days_rolled, off) = bounds(conn)?;
    let bucket = bucket_min.max(1);
    // Buckets finer than a resolution must not read it: a series by minute reads minutes.
    let segs: Vec<Segment> = segments(since, until, rolled, days_rolled, off)
        .into_iter()
        .flat_map(|s| refine(s, bucket, off, rolled))
        .collect();
    if segs.is_empty() {
        return Ok(Vec::new());
    }
    let align = if bucket >= 1440 { off } else { 0 };
    // The PC filter is only written when there is one: `(?1 IS NULL OR pc = ?1)` would
    // keep SQLite from using the (pc, bucket) key.
    let filter = if pc.is_some() { "AND pc = ?1" } else { "" };
    // One PC's minutes are sought minute by minute: `pc_minute` is keyed (minute, pc).
    let inner = union_seek(
        &segs,
        "pc",
        |s| format!("{} AS m, up_bytes, down_bytes", s.start_minute(off)),
        filter,
        |s| pc.is_some() && s.res == Res::Minute,
    );
    let sql = format!(
        "SELECT ((m + {align}) / {bucket}) * {bucket} - {align} AS b, SUM(up_bytes),
           SUM(down_bytes) FROM ({inner}) GROUP BY b ORDER BY b"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)? as u64,
            r.get::<_, i64>(2)? as u64,
        ))
    };
    match pc {
        Some(pc) => stmt.query_map([pc], map)?.collect(),
        None => stmt.query_map([], map)?.collect(),
    }
}

/// A segment whose rows are coarser than the series' buckets, split into finer ones. An
/// hour or day row holds nothing from `rolled` on, and neither do its pieces.
fn refine(s: Segment, bucket: i64, off: i64, rolled: i64) -> Vec<Segment> {
    let (lo_min, hi_min) = match s.res {
        Res::Minute => return vec![s],
        Res::Hour if bucket % 60 == 0 => return vec![s],
        Res::Day if bucket % 1440 == 0 => return vec![s],
        Res::Hour => (s.lo * 60, (s.hi * 60).min(rolled)),
        Res::Day => (s.lo * 1440 - off, (s.hi * 1440 - off).min(rolled)),
    };
    if bucket % 60 == 0 {
        // Days into hours (a local day is whole UTC hours for whole-hour offsets).
        let (h_lo, h_hi) = (ceil_div(lo_min, 60), hi_min.div_euclid(60));
        let mut out = Vec::new();
        push(&mut out, Res::Minute, lo_min, h_lo * 60);
        push(&mut out, Res::Hour, h_lo, h_hi);
        push(&mut out, Res::Minute, h_hi * 60, hi_min);
        out
    } else {
        vec![Segment {
            res: Res::Minute,
            lo: lo_min,
            hi: hi_min,
        }]
    }
}

/// PCs by traffic over [since, until): (pc, up, down), busiest first.
pub fn top_pcs(
    conn: &Connection,
    since: i64,
    until: i64,
    limit: usize,
) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    let (rolled, days_rolled, off) = bounds(conn)?;
    let segs = segments(since, until, rolled, days_rolled, off);
    if segs.is_empty() {
        return Ok(Vec::new());
    }
    let inner = union(&segs, "pc", |_| "pc, up_bytes, down_bytes".into(), "");
    let sql = format!(
        "SELECT pc, SUM(up_bytes) AS u, SUM(down_bytes) AS d FROM ({inner})
         GROUP BY pc ORDER BY u + d DESC LIMIT ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map(params![limit as i64], read3)?.collect()
}

/// Sites by traffic over [since, until), for one PC or all: (site, up, down, PCs).
pub fn top_sites(
    conn: &Connection,
    since: i64,
    until: i64,
    pc: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<SiteTotal>> {
    let (rolled, days_rolled, off) = bounds(conn)?;
    let segs = segments(since, until, rolled, days_rolled, off);
    if segs.is_empty() {
        return Ok(Vec::new());
    }
    let pc_id = match pc {
        Some(name) => match name_id(conn, name)? {
            Some(id) => Some(id),
            None => return Ok(Vec::new()),
        },
        None => None,
    };
    let inner = match pc_id {
        // All PCs: the per-site totals for hours and days; minute rows are few.
        None => segs
            .iter()
            .map(|s| {
                let t = match s.res {
                    Res::Minute => "site_minute",
                    Res::Hour => "site_total_hour",
                    Res::Day => "site_total_day",
                };
                format!(
                    "SELECT site, up_bytes, down_bytes FROM {t} WHERE {c} >= {} AND {c} < {}",
                    s.lo,
                    s.hi,
                    c = s.column()
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL "),
        Some(id) => union(
            &segs,
            "site",
            |_| "site, up_bytes, down_bytes".into(),
            &format!("AND pc = {id}"),
        ),
    };
    let sql = format!(
        "SELECT n.name, t.u, t.d, t.site FROM
           (SELECT site, SUM(up_bytes) AS u, SUM(down_bytes) AS d FROM ({inner})
            GROUP BY site ORDER BY u + d DESC LIMIT ?1) AS t
         JOIN names AS n ON n.id = t.site ORDER BY t.u + t.d DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows: Vec<(SiteTotal, i64)> = stmt
        .query_map(params![limit as i64], |r| {
            Ok((
                SiteTotal {
                    site: r.get(0)?,
                    up: r.get::<_, i64>(1)? as u64,
                    down: r.get::<_, i64>(2)? as u64,
                    pcs: u64::from(pc_id.is_some()),
                },
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if pc_id.is_none() && !rows.is_empty() {
        let ids = rows
            .iter()
            .map(|(_, id)| id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let filter = format!("AND site IN ({ids})");
        let hours = (rolled, site_pc_hours_to(conn, rolled)?);
        let inner = if until - since >= 1440 {
            // A day or more: PCs that used the site on the period's rolled days (one
            // compact row per site, day and PC; the edge days whole), and exactly in the
            // rest (the day in progress, from its hours and minutes).
            let first_open_day = (days_rolled + off).div_euclid(1440);
            let (d_lo, d_hi) = (
                (since + off).div_euclid(1440),
                (until - 1 + off).div_euclid(1440).min(first_open_day - 1),
            );
            let rest_from = since.max(first_open_day * 1440 - off);
            let rest = segments(rest_from, until, rolled, days_rolled, off);
            let mut sql = format!(
                "SELECT site, pc FROM site_pc_day WHERE day >= {d_lo} AND day <= {d_hi} {filter}"
            );
            if !rest.is_empty() {
                sql += " UNION ALL ";
                sql += &site_pc_union(&rest, hours, "site, pc", &filter);
            }
            sql
        } else {
            // Under a day: exactly the PCs of the period.
            site_pc_union(&segs, hours, "site, pc", &filter)
        };
        // Distinct (site, PC) pairs counted here: a month of the top ten sites is ~100k
        // rows, and SQLite's COUNT(DISTINCT) sorts them all into a temporary b-tree
        // first (~90 ms of the 100 ms budget in `bench stats`). Per PC, a bit per listed
        // site: a map of the office's PCs updated in place, where a set of every pair
        // took an insert per row (~10% of the query).
        let index: Map<i64, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, (_, id))| (*id, i))
            .collect();
        let mut sites_of = Map::<(i64, usize), u64>::default();
        let mut stmt = conn.prepare_cached(&inner)?;
        let mut it = stmt.query([])?;
        while let Some(r) = it.next()? {
            if let Some(&i) = index.get(&r.get::<_, i64>(0)?) {
                *sites_of.entry((r.get(1)?, i / 64)).or_default() |= 1 << (i % 64);
            }
        }
        for ((_, word), bits) in sites_of {
            for (i, (row, _)) in rows.iter_mut().enumerate().skip(word * 64).take(64) {
                row.pcs += (bits >> (i % 64)) & 1;
            }
        }
    }
    Ok(rows.into_iter().map(|(r, _)| r).collect())
}

/// A site's bytes over a period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SiteTotal {
    pub site: String,
    pub up: u64,
    pub down: u64,
    pub pcs: u64,
}

/// The segments of [since, until), the id of `name` and the first minute not rolled up;
/// `None` when there is nothing to read (an empty period, or a name never stored).
fn named_period(
    conn: &Connection,
    since: i64,
    until: i64,
    name: &str,
) -> rusqlite::Result<Option<(Vec<Segment>, i64, i64)>> {
    let (rolled, days_rolled, off) = bounds(conn)?;
    let segs = segments(since, until, rolled, days_rolled, off);
    if segs.is_empty() {
        return Ok(None);
    }
    Ok(name_id(conn, name)?.map(|id| (segs, id, rolled)))
}

/// The PCs that used `site` over [since, until): (pc, up, down), busiest first.
pub fn pcs_of_site(
    conn: &Connection,
    since: i64,
    until: i64,
    site: &str,
) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    let Some((segs, site_id, rolled)) = named_period(conn, since, until, site)? else {
        return Ok(Vec::new());
    };
    let inner = site_pc_union(
        &segs,
        (rolled, site_pc_hours_to(conn, rolled)?),
        "pc, up_bytes, down_bytes",
        &format!("AND site = {site_id}"),
    );
    let sql = format!(
        "SELECT n.name, t.u, t.d FROM
           (SELECT pc, SUM(up_bytes) AS u, SUM(down_bytes) AS d FROM ({inner}) GROUP BY pc) AS t
         JOIN names AS n ON n.id = t.pc ORDER BY t.u + t.d DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map([], read3)?.collect()
}

/// A PC's host names over [since, until) with how each was named, busiest first.
pub fn hosts_of_pc(
    conn: &Connection,
    since: i64,
    until: i64,
    pc: &str,
    limit: usize,
) -> rusqlite::Result<Vec<HostRow>> {
    let Some((segs, pc_id, _)) = named_period(conn, since, until, pc)? else {
        return Ok(Vec::new());
    };
    let inner = union(
        &segs,
        "site",
        |_| "host, site, via, up_bytes, down_bytes".into(),
        &format!("AND pc = {pc_id}"),
    );
    let sql = format!(
        "SELECT h.name, s.name, t.via, t.u, t.d FROM
           (SELECT host, max(site) AS site, min(via) AS via, SUM(up_bytes) AS u,
              SUM(down_bytes) AS d
            FROM ({inner}) GROUP BY host ORDER BY u + d DESC LIMIT ?1) AS t
         JOIN names AS h ON h.id = t.host JOIN names AS s ON s.id = t.site
         ORDER BY t.u + t.d DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map(params![limit as i64], |r| {
        Ok(HostRow {
            host: r.get(0)?,
            site: r.get(1)?,
            via: Via::from_code(r.get(2)?).as_str().to_string(),
            up: r.get::<_, i64>(3)? as u64,
            down: r.get::<_, i64>(4)? as u64,
        })
    })?
    .collect()
}

/// A host name a PC used.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HostRow {
    pub host: String,
    pub site: String,
    /// How it was named (the most trusted way seen over the period).
    pub via: String,
    pub up: u64,
    pub down: u64,
}

/// Unexplained flows, newest first, of one PC or all.
pub fn unexplained(
    conn: &Connection,
    pc: Option<&str>,
    since_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<Unexplained>> {
    let mut stmt = conn.prepare_cached(
        "SELECT pc, remote, port, proto, reason, name, first_ms, last_ms, up_bytes, down_bytes
         FROM unexplained WHERE (?1 IS NULL OR pc = ?1) AND last_ms >= ?2
         ORDER BY last_ms DESC LIMIT ?3",
    )?;
    stmt.query_map(params![pc, since_ms, limit as i64], |r| {
        Ok(Unexplained {
            pc: r.get(0)?,
            remote: r.get(1)?,
            port: r.get(2)?,
            proto: r.get(3)?,
            reason: r.get(4)?,
            name: r.get(5)?,
            first_ms: r.get(6)?,
            last_ms: r.get(7)?,
            up: r.get::<_, i64>(8)? as u64,
            down: r.get::<_, i64>(9)? as u64,
        })
    })?
    .collect()
}

/// A flow nobody can explain, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Unexplained {
    pub pc: String,
    pub remote: String,
    pub port: u16,
    pub proto: u8,
    pub reason: String,
    pub name: Option<String>,
    pub first_ms: i64,
    pub last_ms: i64,
    pub up: u64,
    pub down: u64,
}

#[cfg(test)]
mod tests {
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

    fn row(pc: &str, host: &str, up: u64, down: u64) -> SiteRow {
        SiteRow {
            pc: pc.into(),
            host: host.into(),
            site: crate::sites::registrable(host),
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
                let series =
                    traffic_series(&conn, day0 - 1440, day0 + 5 * 1440, bucket, pc).unwrap();
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
        let latest = {
            let mut c = Connection::open_in_memory().unwrap();
            crate::store::migrations().to_latest(&mut c).unwrap();
            c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
                .unwrap()
        };
        {
            let mut c = Connection::open(&path).unwrap();
            crate::store::migrations()
                .to_version(&mut c, latest as usize - 1)
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
        };
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
}
