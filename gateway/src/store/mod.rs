//! The daemon's SQLite database (`<storage dir>/officegate.db`): events now; the query log
//! and statistics build on it.
//!
//! One writer thread owns the write connection and commits whatever has queued up in one
//! transaction, so callers never wait on the disk: `Store::event` only queues (and counts
//! what it had to drop if the queue is full). Readers open their own connections; WAL
//! lets them read while the writer writes.
//!
//! Owns: the schema (migrations through `rusqlite_migration`), the writer, typed reads.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use serde::Serialize;

mod stats;

pub use stats::{
    HostRow, Res, Retention, Segment, SiteRow, SiteTotal, SitesBatch, Unexplained, UnexplainedRow,
    Via, flow_marks, hosts_of_pc, pcs_of_site, segments, top_pcs, top_sites, traffic_series,
    unexplained,
};

pub const DB_FILE: &str = "officegate.db";
/// Writes queued beyond this are dropped (and counted) rather than blocking a caller.
const QUEUE: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database {path}: migrating the schema: {source}")]
    Migrate {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at_ms INTEGER NOT NULL,
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            message TEXT NOT NULL,
            details TEXT NOT NULL
        );
        CREATE INDEX events_at ON events(at_ms);
        CREATE INDEX events_source_at ON events(source, at_ms);",
        ),
        // The DNS query log. `answers`: the A/AAAA addresses answered, space-separated.
        M::up(
            "CREATE TABLE queries (
            id INTEGER PRIMARY KEY,
            at_ms INTEGER NOT NULL,
            client TEXT NOT NULL,
            pc TEXT,
            grp TEXT NOT NULL,
            name TEXT NOT NULL,
            qtype TEXT NOT NULL,
            verdict TEXT NOT NULL,
            rule TEXT,
            answers TEXT NOT NULL,
            upstream TEXT,
            latency_us INTEGER NOT NULL,
            rcode TEXT NOT NULL
        );
        CREATE INDEX queries_at ON queries(at_ms);
        CREATE INDEX queries_client_at ON queries(client, at_ms);
        CREATE INDEX queries_name_at ON queries(name, at_ms);",
        ),
        // Traffic per PC per period (`d:2026-11-26`, `m:2026-11`, in the policy's zone),
        // and the datapath counter totals last counted per address: together they make
        // usage survive restarts without counting anything twice.
        M::up(
            "CREATE TABLE usage (
            pc TEXT NOT NULL,
            period TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            PRIMARY KEY (pc, period)
        );
        CREATE TABLE counter_marks (
            addr TEXT PRIMARY KEY,
            total INTEGER NOT NULL
        );",
        ),
        // Name search is by substring (`instr`), which no index serves: the name index
        // only cost every insert.
        M::up("DROP INDEX queries_name_at;"),
        // Per-minute traffic per PC (Unix minutes), and the marks split by direction.
        M::up(
            "CREATE TABLE pc_minute (
            pc TEXT NOT NULL,
            minute INTEGER NOT NULL,
            up_bytes INTEGER NOT NULL,
            down_bytes INTEGER NOT NULL,
            PRIMARY KEY (pc, minute)
        );
        CREATE INDEX pc_minute_minute ON pc_minute(minute);
        ALTER TABLE counter_marks ADD COLUMN up INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE counter_marks ADD COLUMN down INTEGER NOT NULL DEFAULT 0;",
        ),
        // Hourly and daily roll-ups, sites per PC, unexplained flows: see `stats`.
        M::up(stats::MIGRATION),
        // Users, sessions and the action history: see `crate::auth`.
        M::up(crate::auth::MIGRATION),
        // Access requests from the block page: see `crate::requests`.
        M::up(crate::requests::MIGRATION),
        // Identical queries of one client within a second are one row (`dns::repeats`).
        M::up("ALTER TABLE queries ADD COLUMN count INTEGER NOT NULL DEFAULT 1;"),
        // Host rows keyed by PC first: see `stats::HOST_KEYS`.
        M::up(stats::HOST_KEYS),
        // A site's PCs by hour in a table of their own: see `stats::SITE_PC_HOURS`.
        M::up(stats::SITE_PC_HOURS),
    ])
}

/// Something that happened, for the log, the UI and reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// Unix time, milliseconds.
    pub at_ms: i64,
    /// Which part of the daemon: `wan`, `policy`, …
    pub source: String,
    /// What: `channel_down`, `switch`, …
    pub kind: String,
    /// About what: a channel's name, a PC, …
    pub subject: String,
    pub message: String,
    /// Measured figures, as JSON.
    pub details: serde_json::Value,
}

/// One DNS query as the filter answered it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Query {
    pub at_ms: i64,
    pub client: String,
    /// The PC's name in the policy, if listed.
    pub pc: Option<String>,
    pub group: String,
    pub name: String,
    pub qtype: String,
    /// `allowed`, `blocked`, `blocked_cname`, `refused`, `failed`.
    pub verdict: String,
    /// The rule that decided, for people (`block in staff (office.toml:12) by list ads`).
    pub rule: Option<String>,
    pub answers: Vec<String>,
    pub upstream: Option<String>,
    pub latency_us: i64,
    pub rcode: String,
    /// How many identical queries this record stands for: the same client, name, type
    /// and answer within about a second are logged once (`dns::repeats`). `at_ms` and
    /// `latency_us` are the first one's.
    pub count: u32,
}

/// Traffic counted since the last record: added to the PC's day and month, with the
/// counter totals that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageDelta {
    pub pc: String,
    pub day: String,
    pub month: String,
    /// Unix minute the traffic is counted in.
    pub minute: i64,
    pub up: u64,
    pub down: u64,
    /// (address, up total, down total) as counted.
    pub marks: Vec<(String, u64, u64)>,
}

enum Write {
    Event(Event),
    Query(Query),
    Usage(UsageDelta),
    Sites(SitesBatch),
    /// Delete what is past its retention.
    Prune(Retention),
    /// Answered once everything queued before it is committed.
    Sync(std::sync::mpsc::Sender<()>),
}

#[derive(Clone)]
pub struct Store {
    tx: SyncSender<Write>,
    path: PathBuf,
    dropped: Arc<AtomicU64>,
    /// Unparked for events, so they are committed at once rather than with the next
    /// batch of query-log records.
    writer: std::thread::Thread,
    /// Events chosen for the webhook are offered here too.
    alerts: Option<crate::alerts::Alerts>,
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn open_rw(path: &Path) -> Result<Connection, StoreError> {
    let err = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open(path).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(err)?;
    // The writer's working set (the newest minute rows, the open hours' and days' rows
    // and the indexes' insertion points, one per PC and per site) stays in its own cache
    // instead of being read back from the OS page by page (measured in `bench stats`:
    // page reads were a third of the writer's time with SQLite's 2 MB default, and 64 MB
    // still left ~10% of it in reads and copies).
    conn.pragma_update(None, "cache_size", -256 * 1024)
        .map_err(err)?;
    // The WAL is copied back into the database by the `checkpointer` thread, on the other
    // core; the writer's own checkpoint (SQLite's autocheckpoint, in the commit that
    // crosses it) only finishes what is left every 256 MB, and lets the WAL start over
    // from its beginning. At SQLite's 4 MB, and still at 64 MB, checkpoints were half
    // the writer's commit time in `bench stats`: the roll-ups' pages are scattered over
    // every PC's and site's key range.
    let page: i64 = conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .map_err(err)?;
    conn.pragma_update(None, "wal_autocheckpoint", (256 << 20) / page.max(512))
        .map_err(err)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(err)?;
    migrations()
        .to_latest(&mut conn)
        .map_err(|source| StoreError::Migrate {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(conn)
}

/// A read-write connection to the database in `dir` (created and migrated), for callers
/// that need their writes' outcome at once (users, sessions): the writer's queue answers
/// nobody.
pub fn open_rw_in(dir: &Path) -> Result<Connection, StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    open_rw(&dir.join(DB_FILE))
}

impl Store {
    /// Opens (creating and migrating) the database in `dir` and starts the writer.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let conn = open_rw(&path)?;
        let ckpt_conn = Connection::open(&path).map_err(|source| StoreError::Sqlite {
            path: path.clone(),
            source,
        })?;
        let spawn_err = |source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        };
        let alive = Arc::new(());
        let weak = Arc::downgrade(&alive);
        let ckpt = std::thread::Builder::new()
            .name("og-checkpoint".into())
            .spawn(move || checkpointer(ckpt_conn, weak))
            .map_err(spawn_err)?;
        let (tx, rx) = sync_channel(QUEUE);
        let p = path.clone();
        let ckpt = ckpt.thread().clone();
        let thread = std::thread::Builder::new()
            .name("og-store".into())
            .spawn(move || writer(conn, rx, p, ckpt, alive))
            .map_err(spawn_err)?;
        Ok(Store {
            tx,
            path,
            dropped: Arc::default(),
            writer: thread.thread().clone(),
            alerts: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every event from here on is also offered to `alerts` (before the store is cloned).
    pub fn with_alerts(mut self, alerts: crate::alerts::Alerts) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// Queues an event; never blocks.
    pub fn event(&self, e: Event) {
        if let Some(a) = &self.alerts {
            a.offer(&e);
        }
        match self.tx.try_send(Write::Event(e)) {
            Ok(()) => self.writer.unpark(),
            Err(TrySendError::Full(_)) => {
                if self
                    .dropped
                    .fetch_add(1, Ordering::Relaxed)
                    .is_multiple_of(1000)
                {
                    tracing::warn!("database writer behind: dropping writes");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Queues a query-log record; never blocks (a full queue drops and counts it).
    pub fn query(&self, q: Query) {
        if self.tx.try_send(Write::Query(q)).is_err()
            && self
                .dropped
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(1000)
        {
            tracing::warn!("database writer behind: dropping query-log records");
        }
    }

    /// Queues a usage delta; never blocks.
    pub fn usage(&self, u: UsageDelta) {
        if self.tx.try_send(Write::Usage(u)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("database writer behind: a usage update was dropped");
        }
    }

    /// Queues what the flow collector counted; never blocks.
    pub fn sites(&self, b: SitesBatch) {
        if self.tx.try_send(Write::Sites(b)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("database writer behind: a site-traffic batch was dropped");
        }
    }

    /// Queues a pass over the retention limits.
    pub fn prune(&self, r: Retention) {
        if self.tx.try_send(Write::Prune(r)).is_ok() {
            self.writer.unpark();
        }
    }

    /// Waits until everything queued so far is committed (shutdown, tests).
    pub fn sync(&self) {
        let _ = self
            .sync_later()
            .recv_timeout(std::time::Duration::from_secs(10));
    }

    /// Asks for everything queued so far to be committed now, without waiting: the
    /// receiver hears when it is. A producer that waits on the previous one before asking
    /// again keeps the queue bounded while the writer never runs dry (`bench stats`).
    pub fn sync_later(&self) -> std::sync::mpsc::Receiver<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.tx.send(Write::Sync(tx)).is_ok() {
            self.writer.unpark();
        }
        rx
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A batch is committed this long after its first record (at once when that is a `sync`):
/// one transaction per quarter second instead of one per query keeps the writer's share
/// of a busy gateway's CPU small.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(250);
const BATCH_MAX: usize = 20_000;

/// How often the checkpointer copies the WAL back into the database while commits come.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Copies committed pages from the WAL into the database file, on its own connection and
/// thread, so the writer doesn't (a commit that had to checkpoint took twice as long).
/// PASSIVE: it never waits for, or blocks, the writer or a reader; what it can't copy
/// yet, a later round (or the writer's own autocheckpoint) does. Woken by the writer
/// after its commits; ends when the writer has ended (`alive` gone).
fn checkpointer(conn: Connection, alive: std::sync::Weak<()>) {
    // Deferrable work: below the writer (nice 5), which is below the DNS threads.
    // SAFETY: setpriority on this thread's own id; no memory is touched.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
    }
    let mut last = std::time::Instant::now();
    loop {
        std::thread::park();
        if alive.upgrade().is_none() {
            return;
        }
        if last.elapsed() < CHECKPOINT_EVERY {
            continue;
        }
        last = std::time::Instant::now();
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!("background checkpoint: {e}");
        }
    }
}

fn writer(
    mut conn: Connection,
    rx: Receiver<Write>,
    path: PathBuf,
    checkpointer: std::thread::Thread,
    alive: Arc<()>,
) {
    // Below the answering threads: a batch commit takes milliseconds of CPU, and at the
    // same priority it delays DNS answers queued behind it on a small box's busy core
    // (p99 14 ms at 20k qps in `bench dns`). Nice 5: about a quarter of a contended core,
    // still enough to keep up (records are dropped, and counted, only if it can't).
    // SAFETY: setpriority on this thread's own id; no memory is touched.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 5);
    }
    let mut memo = stats::Memo::default();
    let mut behind = false;
    while let Ok(first) = rx.recv() {
        // Sleep instead of waiting on the channel: a sender only wakes a receiver that is
        // waiting, so records queued while the writer sleeps cost their senders no wake-up
        // (one futex call and a context switch per query otherwise).
        // `park_timeout`: an event or a `sync` unparks the writer early.
        // Not when the last batch was cut short at BATCH_MAX: the writer is behind and the
        // next batch is already queued (a catch-up would otherwise sleep between batches).
        if !behind && matches!(first, Write::Query(_) | Write::Usage(_) | Write::Sites(_)) {
            std::thread::park_timeout(BATCH_WINDOW);
        }
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        behind = batch.len() == BATCH_MAX;
        if let Err(e) = commit(&mut conn, &mut memo, &batch) {
            memo.clear();
            tracing::error!(db = %path.display(), "writing {} records failed: {e}", batch.len());
        }
        checkpointer.unpark();
        for w in batch {
            if let Write::Sync(done) = w {
                let _ = done.send(());
            }
        }
    }
    drop(alive);
    checkpointer.unpark();
}

fn commit(conn: &mut Connection, memo: &mut stats::Memo, batch: &[Write]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    // Minutes before this are rolled up and closed (see `stats::roll_up`).
    let rolled = meta(&tx, "rolled_minute")?.unwrap_or(i64::MIN);
    let mut usage = UsageSums::default();
    // The newest minute counted in this batch: every minute before it is over and is
    // rolled up into hours and days.
    let mut newest_minute = None::<i64>;
    {
        let mut ev = tx.prepare_cached(
            "INSERT INTO events (at_ms, source, kind, subject, message, details)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut qs = tx.prepare_cached(
            "INSERT INTO queries (at_ms, client, pc, grp, name, qtype, verdict, rule, answers,
             upstream, latency_us, rcode, count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?;
        for w in batch {
            match w {
                Write::Event(e) => {
                    ev.execute(params![
                        e.at_ms,
                        e.source,
                        e.kind,
                        e.subject,
                        e.message,
                        e.details.to_string()
                    ])?;
                }
                Write::Query(q) => {
                    qs.execute(params![
                        q.at_ms,
                        q.client,
                        q.pc,
                        q.group,
                        q.name,
                        q.qtype,
                        q.verdict,
                        q.rule,
                        q.answers.join(" "),
                        q.upstream,
                        q.latency_us,
                        q.rcode,
                        q.count
                    ])?;
                }
                Write::Usage(u) => {
                    // Summed over the batch first: a writer that fell behind catches up
                    // with one write per PC and period instead of one per delta.
                    let m = u.minute.max(rolled);
                    newest_minute = newest_minute.max(Some(m));
                    let bytes = u.up + u.down;
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
                Write::Sites(b) => {
                    stats::write_sites(&tx, memo, rolled, b)?;
                    newest_minute = newest_minute.max(Some(b.minute));
                }
                Write::Prune(r) => {
                    let n = stats::prune(&tx, now_ms(), r)?;
                    tracing::debug!(rows = n, "retention: old rows deleted");
                }
                Write::Sync(_) => {}
            }
        }
    }
    usage.write(&tx, memo)?;
    if let Some(m) = newest_minute {
        stats::roll_up(&tx, memo, m)?;
    }
    tx.commit()
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
    fn write(&self, tx: &rusqlite::Transaction, memo: &mut stats::Memo) -> rusqlite::Result<()> {
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
        stats::upsert_rows(
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

/// A value of the `meta` table.
fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

/// A read-only connection to the database in `dir`.
pub fn open_read(dir: &Path) -> Result<Connection, StoreError> {
    let path = dir.join(DB_FILE);
    // No mutex of SQLite's own: a rusqlite `Connection` is never shared between threads
    // (not `Sync`), and in SQLite's default serialized mode every step and every column
    // read takes and releases the connection's mutex (~14% of "top sites month").
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&path, flags).map_err(|source| StoreError::Sqlite {
        path: path.clone(),
        source,
    })?;
    // Dashboard reads scan index ranges: map the file rather than copy it page by page
    // (pages past the mapping are read with a copy each; SQLite caps this at 2 GB).
    conn.pragma_update(None, "mmap_size", 2i64 << 30)
        .map_err(|source| StoreError::Sqlite { path, source })?;
    Ok(conn)
}

/// The newest `limit` events (of `source` if given), oldest first.
pub fn recent_events(
    conn: &Connection,
    source: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<Event>> {
    let mut stmt = conn.prepare(
        "SELECT at_ms, source, kind, subject, message, details FROM events
         WHERE (?1 IS NULL OR source = ?1) ORDER BY id DESC LIMIT ?2",
    )?;
    let mut rows: Vec<Event> = stmt
        .query_map(params![source, limit as i64], |r| {
            let details: String = r.get(5)?;
            Ok(Event {
                at_ms: r.get(0)?,
                source: r.get(1)?,
                kind: r.get(2)?,
                subject: r.get(3)?,
                message: r.get(4)?,
                details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.reverse();
    Ok(rows)
}

/// Every PC's bytes in `period` (`d:…` or `m:…`).
pub fn usage_in(conn: &Connection, period: &str) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare_cached("SELECT pc, bytes FROM usage WHERE period = ?1")?;
    stmt.query_map(params![period], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?
    .collect()
}

/// The counter totals last counted, per address: (address, up, down).
pub fn counter_marks(conn: &Connection) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    let mut stmt = conn.prepare_cached("SELECT addr, up, down FROM counter_marks")?;
    stmt.query_map([], stats::read3)?.collect()
}

/// Filters for [`queries`]; every field optional.
#[derive(Debug, Default, Clone)]
pub struct QueryFilter {
    pub client: Option<String>,
    /// Substring of the name.
    pub name: Option<String>,
    pub verdict: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// Query-log records matching `f`, newest first, `limit` from `offset`.
pub fn queries(
    conn: &Connection,
    f: &QueryFilter,
    limit: usize,
    offset: usize,
) -> rusqlite::Result<Vec<Query>> {
    // Only the filters given are written: `(?1 IS NULL OR client = ?1)` would keep SQLite
    // from using the (client, at_ms) index, and a search by PC would scan the log.
    let mut conds: Vec<&str> = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut add = |cond: &'static str, v: rusqlite::types::Value| {
        conds.push(cond);
        args.push(v);
    };
    use rusqlite::types::Value as V;
    if let Some(c) = &f.client {
        add("client = ?", V::Text(c.clone()));
    }
    if let Some(n) = &f.name {
        add("instr(name, ?) > 0", V::Text(n.clone()));
    }
    if let Some(v) = &f.verdict {
        add("verdict = ?", V::Text(v.clone()));
    }
    if let Some(t) = f.since_ms {
        add("at_ms >= ?", V::Integer(t));
    }
    if let Some(t) = f.until_ms {
        add("at_ms < ?", V::Integer(t));
    }
    args.push(V::Integer(limit as i64));
    args.push(V::Integer(offset as i64));
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT at_ms, client, pc, grp, name, qtype, verdict, rule, answers, upstream,
                latency_us, rcode, count
         FROM queries {filter}
         ORDER BY at_ms DESC, id DESC LIMIT ? OFFSET ?"
    ))?;
    stmt.query_map(rusqlite::params_from_iter(args), |r| {
        let answers: String = r.get(8)?;
        Ok(Query {
            at_ms: r.get(0)?,
            client: r.get(1)?,
            pc: r.get(2)?,
            group: r.get(3)?,
            name: r.get(4)?,
            qtype: r.get(5)?,
            verdict: r.get(6)?,
            rule: r.get(7)?,
            answers: answers.split_whitespace().map(String::from).collect(),
            upstream: r.get(9)?,
            latency_us: r.get(10)?,
            rcode: r.get(11)?,
            count: r.get(12)?,
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().expect("valid migrations");
    }

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
}
