//! The writer: one thread (`og-store`) that owns the write connection and commits
//! whatever has queued up in one transaction, and the checkpointer (`og-checkpoint`) that
//! copies the WAL back into the database beside it.
//!
//! Owns: batching, thread priorities, the transaction. What a record becomes in SQL is the
//! tables' own modules' (`event.rs`, `log.rs`, `devices.rs`, `stats/ingest.rs`); callers only ever see
//! `Store`'s queue.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, sync_channel},
    },
    time::Duration,
};

use rusqlite::Connection;

use super::{
    DeviceSeen, Event, Query, Retention, SitesBatch, StoreError, UsageDelta, conn, devices, event,
    log, now_ms, rename,
    stats::{self, Ingest, Memo},
};

/// Bytes the writer's page cache holds after its last commit (`/metrics`): it grows to
/// its `cache_size` (`conn.rs`) as the database does, then stays.
static CACHE_BYTES: AtomicU64 = AtomicU64::new(0);

/// Bytes the writer's page cache holds now.
pub fn cache_bytes() -> u64 {
    CACHE_BYTES.load(Ordering::Relaxed)
}

/// Tries of one batch before its records are dropped (and counted).
const COMMIT_TRIES: u32 = 4;

/// Writes queued beyond this are dropped (and counted) rather than blocking a caller.
const QUEUE: usize = 65_536;

/// What `Store` queues for the writer.
pub(super) enum Write {
    Event(Event),
    Query(Query),
    Usage(UsageDelta),
    Sites(SitesBatch),
    Devices(Vec<DeviceSeen>),
    /// A device's history moved from its old name to its new one (`rename.rs`).
    Rename {
        from: String,
        to: String,
    },
    /// Delete what is past its retention.
    Prune(Retention),
    /// Answered once everything queued before it is committed.
    Sync(std::sync::mpsc::Sender<()>),
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

/// Opens the writer's and the checkpointer's connections to the database at `path` (in
/// `dir`, which exists; the schema is migrated here) and starts both threads. Returns the
/// queue's sender and the writer's thread (unparked for events and syncs).
pub(super) fn start(
    dir: &Path,
    path: &Path,
    dropped: Arc<AtomicU64>,
) -> Result<(SyncSender<Write>, std::thread::Thread), StoreError> {
    let conn = conn::open_rw(path)?;
    let ckpt_conn = conn::open_plain(path)?;
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
    let p = path.to_path_buf();
    let ckpt = ckpt.thread().clone();
    let thread = std::thread::Builder::new()
        .name("og-store".into())
        .spawn(move || writer(conn, rx, p, ckpt, alive, dropped))
        .map_err(spawn_err)?;
    Ok((tx, thread.thread().clone()))
}

fn writer(
    mut conn: Connection,
    rx: Receiver<Write>,
    path: PathBuf,
    checkpointer: std::thread::Thread,
    alive: Arc<()>,
    dropped: Arc<AtomicU64>,
) {
    // Below the answering threads: a batch commit takes milliseconds of CPU, and at the
    // same priority it delays DNS answers queued behind it on a small box's busy core
    // (p99 14 ms at 20k qps in `bench dns`). Nice 5: about a quarter of a contended core,
    // still enough to keep up (records are dropped, and counted, only if it can't).
    // SAFETY: setpriority on this thread's own id; no memory is touched.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 5);
    }
    let mut memo = Memo::default();
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
        // Another connection (the API, the CLI) may hold the database for a moment past
        // the busy timeout: the batch is tried again before it is given up on — and
        // then counted, never lost silently.
        let mut tries = 0;
        while let Err(e) = commit(&mut conn, &mut memo, &batch) {
            memo.clear();
            tries += 1;
            if tries == COMMIT_TRIES {
                let n = batch
                    .iter()
                    .filter(|w| !matches!(w, Write::Sync(_)))
                    .count();
                dropped.fetch_add(n as u64, Ordering::Relaxed);
                tracing::error!(db = %path.display(), "writing {n} records failed, dropped: {e}");
                break;
            }
            tracing::warn!(db = %path.display(), tries, "writing {} records failed, trying again: {e}", batch.len());
            std::thread::sleep(Duration::from_millis(100 << tries));
        }
        checkpointer.unpark();
        let (mut used, mut highest) = (0, 0);
        // SAFETY: the handle is this thread's open connection; sqlite3_db_status only
        // reads its counters into the two integers.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_db_status(
                conn.handle(),
                rusqlite::ffi::SQLITE_DBSTATUS_CACHE_USED,
                &mut used,
                &mut highest,
                0,
            )
        };
        if rc == rusqlite::ffi::SQLITE_OK {
            CACHE_BYTES.store(u64::try_from(used).unwrap_or(0), Ordering::Relaxed);
        }
        for w in batch {
            if let Write::Sync(done) = w {
                let _ = done.send(());
            }
        }
    }
    drop(alive);
    checkpointer.unpark();
}

fn commit(conn: &mut Connection, memo: &mut Memo, batch: &[Write]) -> rusqlite::Result<()> {
    // Immediate: the write lock is taken (waiting out the busy timeout) before anything
    // is read. A deferred transaction that reads first and then writes fails at once,
    // without waiting, when another connection committed in between (SQLITE_BUSY).
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Usage and site traffic: minute rows, then the roll-up of the minutes that are over
    // (`stats::Ingest`).
    let mut minutes = Ingest::begin(&tx)?;
    {
        let mut ev = tx.prepare_cached(event::INSERT)?;
        let mut qs = tx.prepare_cached(log::INSERT)?;
        let mut seen = tx.prepare_cached(devices::UPSERT)?;
        for w in batch {
            match w {
                Write::Event(e) => event::insert(&mut ev, e)?,
                Write::Query(q) => log::insert(&mut qs, q)?,
                Write::Usage(u) => minutes.usage(u),
                Write::Sites(b) => minutes.sites(&tx, memo, b)?,
                Write::Devices(ds) => {
                    for d in ds {
                        devices::upsert(&mut seen, d)?;
                    }
                }
                Write::Prune(r) => {
                    let n = stats::prune(&tx, now_ms(), r)?;
                    tracing::debug!(rows = n, "retention: old rows deleted");
                }
                Write::Sync(_) | Write::Rename { .. } => {}
            }
        }
    }
    minutes.finish(&tx, memo)?;
    // After this batch's minutes are written, so none lands under the old name after the
    // move; the memo's open minutes are keyed by name: read again.
    let mut renamed = false;
    for w in batch {
        if let Write::Rename { from, to } = w {
            rename::rename_pc(&tx, from, to)?;
            renamed = true;
        }
    }
    if renamed {
        memo.clear();
    }
    tx.commit()
}
