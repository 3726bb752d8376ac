//! Opening connections to the database, with the settings each kind needs: the writer's
//! (WAL, a large page cache, a rare autocheckpoint; the schema migrated on open), a
//! read-write one for callers that need their writes' outcome at once, and read-only
//! ones for readers.
//!
//! Owns: file location and pragmas. Never reads or writes a table itself (the schema is
//! `schema.rs`'s).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{StoreError, schema::migrations};

pub const DB_FILE: &str = "officegate.db";

/// Creates `dir` if needed.
pub(super) fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
        path: dir.to_path_buf(),
        source,
    })
}

pub(super) fn open_rw(path: &Path) -> Result<Connection, StoreError> {
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
    create_dir(dir)?;
    open_rw(&dir.join(DB_FILE))
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

/// A plain connection to the database at `path` (already created by `open_rw`): the
/// checkpointer's, which only ever runs `wal_checkpoint`.
pub(super) fn open_plain(path: &Path) -> Result<Connection, StoreError> {
    Connection::open(path).map_err(|source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    })
}
