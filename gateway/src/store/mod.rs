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

use rusqlite::{Connection, OpenFlags, params};
use rusqlite_migration::{M, Migrations};
use serde::Serialize;

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
    Migrations::new(vec![M::up(
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
    )])
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

enum Write {
    Event(Event),
    /// Answered once everything queued before it is committed.
    Sync(std::sync::mpsc::Sender<()>),
}

#[derive(Clone)]
pub struct Store {
    tx: SyncSender<Write>,
    path: PathBuf,
    dropped: Arc<AtomicU64>,
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
    migrations()
        .to_latest(&mut conn)
        .map_err(|source| StoreError::Migrate {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(conn)
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
        let (tx, rx) = sync_channel(QUEUE);
        let p = path.clone();
        std::thread::Builder::new()
            .name("og-store".into())
            .spawn(move || writer(conn, rx, p))
            .map_err(|source| StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        Ok(Store {
            tx,
            path,
            dropped: Arc::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues an event; never blocks.
    pub fn event(&self, e: Event) {
        match self.tx.try_send(Write::Event(e)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if self.dropped.fetch_add(1, Ordering::Relaxed) % 1000 == 0 {
                    tracing::warn!("database writer behind: dropping writes");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits until everything queued so far is committed (shutdown, tests).
    pub fn sync(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.tx.send(Write::Sync(tx)).is_ok() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(10));
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn writer(mut conn: Connection, rx: Receiver<Write>, path: PathBuf) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 10_000 {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        if let Err(e) = commit(&mut conn, &batch) {
            tracing::error!(db = %path.display(), "writing {} records failed: {e}", batch.len());
        }
        for w in batch {
            if let Write::Sync(done) = w {
                let _ = done.send(());
            }
        }
    }
}

fn commit(conn: &mut Connection, batch: &[Write]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut ev = tx.prepare_cached(
            "INSERT INTO events (at_ms, source, kind, subject, message, details)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for w in batch {
            if let Write::Event(e) = w {
                ev.execute(params![
                    e.at_ms,
                    e.source,
                    e.kind,
                    e.subject,
                    e.message,
                    e.details.to_string()
                ])?;
            }
        }
    }
    tx.commit()
}

/// A read-only connection to the database in `dir`.
pub fn open_read(dir: &Path) -> Result<Connection, StoreError> {
    let path = dir.join(DB_FILE);
    Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|source| StoreError::Sqlite { path, source })
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
}
