//! Access requests: an employee on the block page asks for a blocked site with a reason;
//! an admin (or the PC's department manager) approves or refuses it. Approving writes a
//! timed `[[exceptions]]` entry into `office.toml` (`policy::edit::grant`), so the policy
//! file stays the one source of truth and the exception ends by itself.
//!
//! Lives in the daemon's database (table `requests`: migration 8 in `store/schema.rs`).
//! Calls are synchronous and short, run on a blocking pool with a connection of their own,
//! like `crate::auth`.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// Pending requests one PC may have open at once: the block page is reachable by anyone on
/// the LAN, and must not be a way to fill the admin's queue.
pub const MAX_PENDING_PER_PC: i64 = 20;
/// Pending requests in all: a device the policy does not list is named by its address,
/// and a PC sending from many addresses (IPv6) would otherwise be many PCs.
pub const MAX_PENDING: i64 = 500;
/// Longest reason kept, in characters.
pub const MAX_REASON: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("no request #{0}")]
    NotFound(i64),
    #[error("request #{0} was already decided")]
    Decided(i64),
    #[error("this PC already has {MAX_PENDING_PER_PC} requests waiting; ask IT directly")]
    TooMany,
    #[error("IT has {MAX_PENDING} requests waiting already; ask IT directly")]
    QueueFull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Approved,
    Refused,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Refused => "refused",
        }
    }
    fn parse(s: &str) -> State {
        match s {
            "approved" => State::Approved,
            "refused" => State::Refused,
            _ => State::Pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Request {
    pub id: i64,
    pub at_ms: i64,
    /// The PC's name in the policy (or its address when it is not listed).
    pub pc: String,
    pub address: String,
    pub domain: String,
    pub reason: String,
    /// The rule that blocked it when it was asked for, for the person deciding.
    pub blocked_by: String,
    #[schema(value_type = String)]
    pub state: State,
    pub decided_by: Option<String>,
    pub decided_ms: Option<i64>,
    /// Approved: when the exception ends (as written into office.toml).
    pub until: Option<String>,
    pub note: Option<String>,
}

/// What the block page files.
pub struct NewRequest<'a> {
    pub pc: &'a str,
    pub address: &'a str,
    pub domain: &'a str,
    pub reason: &'a str,
    pub blocked_by: &'a str,
}

/// Files a request; asking again for the same site while one waits returns that one
/// (with the new reason) rather than a second entry.
/// A reason as it is kept: trimmed, at most `MAX_REASON` characters.
pub fn clip_reason(reason: &str) -> String {
    reason.trim().chars().take(MAX_REASON).collect()
}

pub fn file(conn: &Connection, r: &NewRequest, now_ms: i64) -> Result<(i64, bool), RequestError> {
    let reason = clip_reason(r.reason);
    let open: Option<i64> = conn
        .query_row(
            "SELECT id FROM requests WHERE state = 'pending' AND pc = ?1 AND domain = ?2",
            params![r.pc, r.domain],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(id) = open {
        conn.execute(
            "UPDATE requests SET reason = ?2, at_ms = ?3 WHERE id = ?1",
            params![id, reason, now_ms],
        )?;
        return Ok((id, false));
    }
    let pending: i64 = conn.query_row(
        "SELECT count(*) FROM requests WHERE state = 'pending' AND pc = ?1",
        [r.pc],
        |row| row.get(0),
    )?;
    if pending >= MAX_PENDING_PER_PC {
        return Err(RequestError::TooMany);
    }
    let all: i64 = conn.query_row(
        "SELECT count(*) FROM requests WHERE state = 'pending'",
        [],
        |row| row.get(0),
    )?;
    if all >= MAX_PENDING {
        return Err(RequestError::QueueFull);
    }
    conn.execute(
        "INSERT INTO requests (at_ms, pc, address, domain, reason, blocked_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![now_ms, r.pc, r.address, r.domain, reason, r.blocked_by],
    )?;
    Ok((conn.last_insert_rowid(), true))
}

const COLUMNS: &str = "id, at_ms, pc, address, domain, reason, blocked_by, state, decided_by, \
                       decided_ms, until, note";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Request> {
    let state: String = r.get(7)?;
    Ok(Request {
        id: r.get(0)?,
        at_ms: r.get(1)?,
        pc: r.get(2)?,
        address: r.get(3)?,
        domain: r.get(4)?,
        reason: r.get(5)?,
        blocked_by: r.get(6)?,
        state: State::parse(&state),
        decided_by: r.get(8)?,
        decided_ms: r.get(9)?,
        until: r.get(10)?,
        note: r.get(11)?,
    })
}

pub fn get(conn: &Connection, id: i64) -> Result<Request, RequestError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM requests WHERE id = ?1"),
        [id],
        row,
    )
    .optional()?
    .ok_or(RequestError::NotFound(id))
}

/// The newest request of PC `pc` for `domain`, if any.
pub fn latest(conn: &Connection, pc: &str, domain: &str) -> Result<Option<Request>, RequestError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM requests WHERE pc = ?1 AND domain = ?2
                 ORDER BY at_ms DESC, id DESC LIMIT 1"
            ),
            params![pc, domain],
            row,
        )
        .optional()?)
}

/// The newest `limit` requests, pending ones first; `state` filters.
pub fn list(
    conn: &Connection,
    state: Option<State>,
    limit: usize,
) -> Result<Vec<Request>, RequestError> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM requests WHERE ?1 IS NULL OR state = ?1
         ORDER BY state = 'pending' DESC, at_ms DESC, id DESC LIMIT ?2"
    ))?;
    let rows = st
        .query_map(params![state.map(State::as_str), limit as i64], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Marks a pending request decided. The caller has already written the exception (when
/// approving), so a failed write leaves the request pending to be tried again.
pub fn decide(
    conn: &Connection,
    id: i64,
    state: State,
    by: &str,
    until: Option<&str>,
    note: Option<&str>,
    now_ms: i64,
) -> Result<Request, RequestError> {
    let changed = conn.execute(
        "UPDATE requests SET state = ?2, decided_by = ?3, decided_ms = ?4, until = ?5, note = ?6
         WHERE id = ?1 AND state = 'pending'",
        params![id, state.as_str(), by, now_ms, until, note],
    )?;
    if changed == 0 {
        get(conn, id)?;
        return Err(RequestError::Decided(id));
    }
    get(conn, id)
}

/// Puts a decided request back to pending (its approval could not be carried out).
pub fn reopen(conn: &Connection, id: i64) -> Result<(), RequestError> {
    conn.execute(
        "UPDATE requests SET state = 'pending', decided_by = NULL, decided_ms = NULL,
         until = NULL, note = NULL WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask<'a>(pc: &'a str, domain: &'a str, reason: &'a str) -> NewRequest<'a> {
        NewRequest {
            pc,
            address: "10.10.0.11",
            domain,
            reason,
            blocked_by: "category social",
        }
    }

    #[test]
    fn requests_are_filed_once_decided_once_and_capped_per_pc() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_rw_in(dir.path()).unwrap();
        let (a, new) = file(&conn, &ask("pc1", "facebook.com", "customer chat"), 1000).unwrap();
        assert!(new);
        let (again, new) = file(&conn, &ask("pc1", "facebook.com", "urgent"), 2000).unwrap();
        assert_eq!(
            (again, new),
            (a, false),
            "one pending request per PC and site"
        );
        assert_eq!(get(&conn, a).unwrap().reason, "urgent");
        let long = "x".repeat(2000);
        let (b, _) = file(&conn, &ask("pc1", "youtube.com", &long), 3000).unwrap();
        assert_eq!(get(&conn, b).unwrap().reason.len(), MAX_REASON);

        let done = decide(
            &conn,
            a,
            State::Approved,
            "boss",
            Some("2030-01-01 18:00"),
            None,
            4000,
        )
        .unwrap();
        assert_eq!(done.state, State::Approved);
        assert_eq!(done.decided_by.as_deref(), Some("boss"));
        assert!(matches!(
            decide(&conn, a, State::Refused, "boss", None, None, 5000),
            Err(RequestError::Decided(_))
        ));
        assert!(matches!(
            decide(&conn, 99, State::Refused, "boss", None, None, 5000),
            Err(RequestError::NotFound(99))
        ));
        // Reopened (its approval failed), it can be decided again.
        reopen(&conn, a).unwrap();
        assert_eq!(get(&conn, a).unwrap().state, State::Pending);
        decide(&conn, a, State::Approved, "boss", None, None, 5500).unwrap();
        let all = list(&conn, None, 10).unwrap();
        assert_eq!(
            all.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![b, a],
            "pending first"
        );
        assert_eq!(list(&conn, Some(State::Approved), 10).unwrap().len(), 1);

        for i in 0..MAX_PENDING_PER_PC - 1 {
            file(&conn, &ask("pc2", &format!("s{i}.example"), ""), 6000).unwrap();
        }
        file(&conn, &ask("pc2", "last.example", ""), 7000).unwrap();
        assert!(matches!(
            file(&conn, &ask("pc2", "one-more.example", ""), 8000),
            Err(RequestError::TooMany)
        ));
        // Many "PCs" (addresses) cannot get past the queue's own cap.
        let mut n = 0;
        let full = loop {
            match file(&conn, &ask(&format!("fd00::{n:x}"), "x.example", ""), 9000) {
                Ok(_) => n += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(full, RequestError::QueueFull), "{full}");
        assert_eq!(
            list(&conn, Some(State::Pending), 10_000).unwrap().len() as i64,
            MAX_PENDING
        );
    }
}
