//! The action history: who changed what, when (`actions`), written by the API and the
//! CLI after each change.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::AuthError;

/// One entry of the action history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub at_ms: i64,
    /// Who: a user name, `cli`, or `api-token`.
    pub actor: String,
    /// What: `user_add`, `pc_block`, `request_approve`, …
    pub action: String,
    /// On what: a user, a PC, a site.
    pub subject: String,
    pub details: serde_json::Value,
}

pub fn record(conn: &Connection, a: &Action) -> Result<(), AuthError> {
    conn.execute(
        "INSERT INTO actions (at_ms, actor, action, subject, details)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![a.at_ms, a.actor, a.action, a.subject, a.details.to_string()],
    )?;
    Ok(())
}

/// `limit` actions after skipping the newest `offset`, newest first.
pub fn history(conn: &Connection, limit: usize, offset: usize) -> Result<Vec<Action>, AuthError> {
    let mut st = conn.prepare(
        "SELECT at_ms, actor, action, subject, details FROM actions
         ORDER BY at_ms DESC, id DESC LIMIT ?1 OFFSET ?2",
    )?;
    let rows = st
        .query_map([limit as i64, offset as i64], |r| {
            let d: String = r.get(4)?;
            Ok(Action {
                at_ms: r.get(0)?,
                actor: r.get(1)?,
                action: r.get(2)?,
                subject: r.get(3)?,
                details: serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}
