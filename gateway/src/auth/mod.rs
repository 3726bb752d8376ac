//! Users of the admin UI and API: accounts with argon2id password hashes, roles, login
//! sessions, lock-out after repeated failures, and the action history (who changed what,
//! when). All of it lives in the daemon's database (tables `users`, `sessions`, `actions`:
//! migration 7 in `store/schema.rs`).
//!
//! Roles: `admin` (everything), `auditor` (reads everything, changes nothing), `manager`
//! (a department manager: `scope` names the group whose subtree they see and manage).
//!
//! Session tokens are 32 random bytes from the OS, given to the browser once and stored
//! only as their SHA-256 digest, with a separate CSRF token the UI echoes in a header on
//! every change. Calls here are synchronous and short; the API runs them on its blocking
//! pool with a connection of its own (WAL lets them run beside the store's writer).
//!
//! Files, by job: `users.rs` (accounts, roles, passwords), `sessions.rs` (log-in, lock-out,
//! sessions), `actions.rs` (the action history). Must not: hold state between calls
//! (every answer comes from the database the caller passes, which the CLI writes too).

use std::path::Path;

use rusqlite::Connection;

mod actions;
mod sessions;
#[cfg(test)]
mod tests;
mod users;

pub use actions::{Action, history, record};
pub use sessions::{
    LOCK_AFTER, LOCK_FOR_MS, SESSION_IDLE_MS, Session, login, logout, random_token, session,
};
pub use users::{Role, User, add_user, remove_user, set_password, users};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("user name must be 1-64 letters, digits, `.`, `-` or `_`")]
    BadName,
    #[error("password must be at least 10 characters")]
    WeakPassword,
    #[error("unknown role `{0}` (admin, auditor, manager)")]
    BadRole(String),
    #[error("a manager needs a scope (the group whose subtree they manage)")]
    NoScope,
    #[error("user `{0}` already exists")]
    Exists(String),
    #[error("no user `{0}`")]
    NoSuchUser(String),
    /// Wrong name or password: one message for both, so names can't be probed.
    #[error("wrong user name or password")]
    BadLogin,
    #[error("account locked after repeated failed logins; try again later")]
    Locked,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// How long a write of the API (a log-in, a session, an admin's action) waits for the
/// database: the daemon's own writer, starved of CPU on a saturated box, can hold it for
/// seconds, and an admin's click must not fail for that. Under the API's 30 s request
/// limit.
pub const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Opens the database in `dir` for reading and writing (creating and migrating it).
pub fn open(dir: &Path) -> Result<Connection, crate::store::StoreError> {
    let conn = crate::store::open_rw_in(dir)?;
    conn.busy_timeout(WRITE_WAIT)
        .map_err(|source| crate::store::StoreError::Sqlite {
            path: dir.to_path_buf(),
            source,
        })?;
    Ok(conn)
}
