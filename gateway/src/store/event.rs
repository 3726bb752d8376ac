//! Events: something that happened (a failover, a PC over its limit, a policy reload), for
//! the log, the UI, reports and alerts.
//!
//! Owns: the `Event` type and the `events` table's insert and read. A leaf: it depends on
//! nothing else of the daemon, so anything may subscribe to events (`Store::on_event`)
//! without the store depending on it.

use rusqlite::{Connection, Statement, params};
use serde::Serialize;

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

/// The writer's statement for `insert`, prepared once per batch.
pub(super) const INSERT: &str =
    "INSERT INTO events (at_ms, source, kind, subject, message, details)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

pub(super) fn insert(stmt: &mut Statement, e: &Event) -> rusqlite::Result<()> {
    stmt.execute(params![
        e.at_ms,
        e.source,
        e.kind,
        e.subject,
        e.message,
        e.details.to_string()
    ])?;
    Ok(())
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
