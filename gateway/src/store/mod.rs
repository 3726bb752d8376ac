//! The daemon's SQLite database (`<storage dir>/officegate.db`): events, the DNS query
//! log, usage, and the traffic statistics.
//!
//! One writer thread owns the write connection and commits whatever has queued up in one
//! transaction, so callers never wait on the disk: `Store::event` only queues (and counts
//! what it had to drop if the queue is full). Readers open their own connections; WAL
//! lets them read while the writer writes.
//!
//! Files, by job: `conn.rs` (opening connections, pragmas), `schema.rs` (every table:
//! the migrations, in order), `writer.rs` (the batching writer thread and the
//! checkpointer), `event.rs` (events: a leaf type, so subscribers such as alerts need not
//! be known here), `log.rs` (the query log), `devices.rs` (every device ever seen), `rename.rs` (a device's history moved
//! to its new name), `stats/` (per-minute rows, roll-ups,
//! retention, reads).
//!
//! Owns: the schema, the writer, typed reads. Must not depend on the daemon's other
//! modules: they depend on it (events reach them through `Store::on_event`).

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc::{SyncSender, TrySendError},
    },
};

mod conn;
mod devices;
mod event;
mod log;
mod rename;
mod schema;
mod stats;
#[cfg(test)]
mod tests;
mod writer;

pub use conn::{DB_FILE, open_read, open_rw_in};
pub use devices::{DeviceSeen, SeenDevice, seen_devices};
pub use event::{Event, recent_events};
pub use log::{Query, QueryFilter, queries};
pub use stats::{
    HostRow, Res, Retention, Segment, SiteRow, SiteTotal, SitesBatch, Unexplained, UnexplainedRow,
    UsageDelta, Via, counter_marks, flow_marks, hosts_of_pc, pcs_of_site, segments, top_pcs,
    top_sites, traffic_series, unexplained, usage_in,
};
use writer::Write;
pub use writer::cache_bytes as writer_cache_bytes;

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

/// Called with every event as it is queued (`Store::on_event`).
type EventHook = Arc<dyn Fn(&Event) + Send + Sync>;

/// A handle on the writer's queue, cheap to clone: writes are queued, never waited for
/// (`sync` waits).
#[derive(Clone)]
pub struct Store {
    tx: SyncSender<Write>,
    path: PathBuf,
    dropped: Arc<AtomicU64>,
    /// Unparked for events, so they are committed at once rather than with the next
    /// batch of query-log records.
    writer: std::thread::Thread,
    /// Every event is offered here too (the alerts' webhook).
    on_event: Option<EventHook>,
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Store {
    /// Opens (creating and migrating) the database in `dir` and starts the writer.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        conn::create_dir(dir)?;
        let path = dir.join(DB_FILE);
        let dropped = Arc::<AtomicU64>::default();
        let (tx, writer) = writer::start(dir, &path, dropped.clone())?;
        Ok(Store {
            tx,
            path,
            dropped,
            writer,
            on_event: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every event from here on is also given to `hook` as it is queued (set before the
    /// store is cloned; a second hook runs after the first). The hook runs on the caller's
    /// thread, so it must not block: the alerts' hook only queues for its own thread.
    pub fn on_event(mut self, hook: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.on_event = Some(match self.on_event.take() {
            Some(first) => Arc::new(move |e: &Event| {
                first(e);
                hook(e);
            }),
            None => Arc::new(hook),
        });
        self
    }

    /// Queues an event; never blocks.
    pub fn event(&self, e: Event) {
        if let Some(hook) = &self.on_event {
            hook(&e);
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

    /// Queues devices seen; never blocks.
    pub fn devices_seen(&self, ds: Vec<DeviceSeen>) {
        if !ds.is_empty() && self.tx.try_send(Write::Devices(ds)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("database writer behind: a devices-seen batch was dropped");
        }
    }

    /// Queues the move of PC name `from`'s history to `to` (a device's new name).
    pub fn rename_pc(&self, from: &str, to: &str) {
        let w = Write::Rename {
            from: from.to_string(),
            to: to.to_string(),
        };
        if self.tx.try_send(w).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                from,
                to,
                "database writer behind: a device's rename was dropped"
            );
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

    /// The count behind `dropped`, for a reader elsewhere (`/metrics`).
    pub fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }
}
