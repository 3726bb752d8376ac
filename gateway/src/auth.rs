//! Users of the admin UI and API: accounts with argon2id password hashes, roles, login
//! sessions, lock-out after repeated failures, and the action history (who changed what,
//! when). All of it lives in the daemon's database (tables from migration 7).
//!
//! Roles: `admin` (everything), `auditor` (reads everything, changes nothing), `manager`
//! (a department manager: `scope` names the group whose subtree they see and manage).
//!
//! Session tokens are 32 random bytes from the OS, given to the browser once and stored
//! only as their SHA-256 digest, with a separate CSRF token the UI echoes in a header on
//! every change. Calls here are synchronous and short; the API runs them on its blocking
//! pool with a connection of its own (WAL lets them run beside the store's writer).

use std::path::Path;

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Failed logins in a row that lock an account, and for how long.
pub const LOCK_AFTER: i64 = 5;
pub const LOCK_FOR_MS: i64 = 15 * 60 * 1000;
/// A session lives this long without use.
pub const SESSION_IDLE_MS: i64 = 8 * 3600 * 1000;

pub const MIGRATION: &str = "
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT,
    created_ms INTEGER NOT NULL,
    failed INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL);
CREATE TABLE actions (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL);
CREATE INDEX actions_at ON actions(at_ms);
";

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Auditor,
    Manager,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, AuthError> {
        match s {
            "admin" => Ok(Role::Admin),
            "auditor" => Ok(Role::Auditor),
            "manager" => Ok(Role::Manager),
            other => Err(AuthError::BadRole(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Manager => "manager",
        }
    }

    /// May this role change anything at all (within its scope)?
    pub fn may_change(self) -> bool {
        self != Role::Auditor
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// For managers: the group whose subtree they see and manage.
    pub scope: Option<String>,
}

/// A logged-in session: the cookie value (given out once) and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub csrf: String,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| AuthError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&raw).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random source is available");
    hex::encode(b)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn row_user(r: &rusqlite::Row) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Auditor),
        scope: r.get(3)?,
    })
}

/// Opens the database in `dir` for reading and writing (creating and migrating it).
pub fn open(dir: &Path) -> Result<Connection, crate::store::StoreError> {
    crate::store::open_rw_in(dir)
}

pub fn add_user(
    conn: &Connection,
    name: &str,
    password: &str,
    role: Role,
    scope: Option<&str>,
    now_ms: i64,
) -> Result<User, AuthError> {
    if !valid_name(name) {
        return Err(AuthError::BadName);
    }
    if password.chars().count() < 10 {
        return Err(AuthError::WeakPassword);
    }
    if role == Role::Manager && scope.is_none() {
        return Err(AuthError::NoScope);
    }
    let scope = if role == Role::Manager { scope } else { None };
    let hash = hash_password(password)?;
    let n = conn.execute(
        "INSERT OR IGNORE INTO users (name, hash, role, scope, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, hash, role.as_str(), scope, now_ms],
    )?;
    if n == 0 {
        return Err(AuthError::Exists(name.to_string()));
    }
    Ok(User {
        id: conn.last_insert_rowid(),
        name: name.to_string(),
        role,
        scope: scope.map(String::from),
    })
}

pub fn users(conn: &Connection) -> Result<Vec<User>, AuthError> {
    let mut st = conn.prepare("SELECT id, name, role, scope FROM users ORDER BY name")?;
    Ok(st
        .query_map([], row_user)?
        .collect::<rusqlite::Result<_>>()?)
}

pub fn remove_user(conn: &Connection, name: &str) -> Result<(), AuthError> {
    let id: Option<i64> = conn
        .query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
        .optional()?;
    let id = id.ok_or_else(|| AuthError::NoSuchUser(name.to_string()))?;
    conn.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
    conn.execute("DELETE FROM users WHERE id = ?1", [id])?;
    Ok(())
}

pub fn set_password(conn: &Connection, name: &str, password: &str) -> Result<(), AuthError> {
    if password.chars().count() < 10 {
        return Err(AuthError::WeakPassword);
    }
    let hash = hash_password(password)?;
    let n = conn.execute(
        "UPDATE users SET hash = ?2, failed = 0, locked_until_ms = 0 WHERE name = ?1",
        params![name, hash],
    )?;
    if n == 0 {
        return Err(AuthError::NoSuchUser(name.to_string()));
    }
    // A new password ends every session of the old one.
    conn.execute(
        "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
        [name],
    )?;
    Ok(())
}

/// Checks a login and opens a session. `LOCK_AFTER` failures in a row lock the account
/// for `LOCK_FOR_MS` (a correct password during the lock is refused too).
pub fn login(
    conn: &Connection,
    name: &str,
    password: &str,
    now_ms: i64,
) -> Result<(User, Session), AuthError> {
    let row: Option<(User, String, i64, i64)> = conn
        .query_row(
            "SELECT id, name, role, scope, hash, failed, locked_until_ms FROM users
             WHERE name = ?1",
            [name],
            |r| Ok((row_user(r)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .optional()?;
    let Some((user, hash, failed, locked_until)) = row else {
        // The same work as a real check, so timing tells nothing about which names exist.
        let _ = hash_password(password);
        return Err(AuthError::BadLogin);
    };
    if locked_until > now_ms {
        return Err(AuthError::Locked);
    }
    let ok = PasswordHash::new(&hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    if !ok {
        let failed = failed + 1;
        let until = if failed >= LOCK_AFTER {
            now_ms + LOCK_FOR_MS
        } else {
            0
        };
        let failed = if failed >= LOCK_AFTER { 0 } else { failed };
        conn.execute(
            "UPDATE users SET failed = ?2, locked_until_ms = ?3 WHERE id = ?1",
            params![user.id, failed, until],
        )?;
        return Err(if until > 0 {
            AuthError::Locked
        } else {
            AuthError::BadLogin
        });
    }
    conn.execute(
        "UPDATE users SET failed = 0, locked_until_ms = 0 WHERE id = ?1",
        [user.id],
    )?;
    let session = Session {
        token: random_token(),
        csrf: random_token(),
    };
    conn.execute(
        "INSERT INTO sessions (token_sha256, user_id, csrf, created_ms, seen_ms)
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![digest(&session.token), user.id, session.csrf, now_ms],
    )?;
    Ok((user, session))
}

/// The user and CSRF token of a live session (and marks it used), or `None`.
pub fn session(
    conn: &Connection,
    token: &str,
    now_ms: i64,
) -> Result<Option<(User, String)>, AuthError> {
    let d = digest(token);
    let found: Option<(User, String, i64)> = conn
        .query_row(
            "SELECT u.id, u.name, u.role, u.scope, s.csrf, s.seen_ms
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_sha256 = ?1",
            [&d],
            |r| Ok((row_user(r)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?;
    match found {
        Some((user, csrf, seen)) if now_ms - seen <= SESSION_IDLE_MS => {
            conn.execute(
                "UPDATE sessions SET seen_ms = ?2 WHERE token_sha256 = ?1",
                params![d, now_ms],
            )?;
            Ok(Some((user, csrf)))
        }
        Some(_) => {
            conn.execute("DELETE FROM sessions WHERE token_sha256 = ?1", [d])?;
            Ok(None)
        }
        None => Ok(None),
    }
}

pub fn logout(conn: &Connection, token: &str) -> Result<(), AuthError> {
    conn.execute(
        "DELETE FROM sessions WHERE token_sha256 = ?1",
        [digest(token)],
    )?;
    Ok(())
}

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

/// The newest `limit` actions, newest first.
pub fn history(conn: &Connection, limit: usize) -> Result<Vec<Action>, AuthError> {
    let mut st = conn.prepare(
        "SELECT at_ms, actor, action, subject, details FROM actions
         ORDER BY at_ms DESC, id DESC LIMIT ?1",
    )?;
    let rows = st
        .query_map([limit as i64], |r| {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(dir.path()).unwrap();
        (dir, conn)
    }

    #[test]
    fn users_log_in_and_sessions_end() {
        let (_d, c) = db();
        let u = add_user(&c, "alice", "correct horse battery", Role::Admin, None, 1).unwrap();
        assert_eq!(u.role, Role::Admin);
        assert!(matches!(
            add_user(&c, "alice", "another password", Role::Auditor, None, 1),
            Err(AuthError::Exists(_))
        ));
        assert!(matches!(
            add_user(&c, "bob", "short", Role::Auditor, None, 1),
            Err(AuthError::WeakPassword)
        ));
        assert!(matches!(
            add_user(&c, "carol", "long enough pw", Role::Manager, None, 1),
            Err(AuthError::NoScope)
        ));
        assert!(matches!(
            add_user(&c, "<b>", "long enough pw", Role::Admin, None, 1),
            Err(AuthError::BadName)
        ));
        let m = add_user(
            &c,
            "carol",
            "long enough pw",
            Role::Manager,
            Some("sales"),
            1,
        )
        .unwrap();
        assert_eq!(m.scope.as_deref(), Some("sales"));

        // The stored hash is argon2id, never the password.
        let hash: String = c
            .query_row("SELECT hash FROM users WHERE name = 'alice'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(hash.starts_with("$argon2id$") && !hash.contains("horse"));

        let (who, s) = login(&c, "alice", "correct horse battery", 1000).unwrap();
        assert_eq!(who.name, "alice");
        let (back, csrf) = session(&c, &s.token, 2000).unwrap().unwrap();
        assert_eq!(back, who);
        assert_eq!(csrf, s.csrf);
        // Only a digest of the token is stored.
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM sessions WHERE token_sha256 = ?1",
                [&s.token],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
        assert!(session(&c, "not-a-token", 2000).unwrap().is_none());
        // Idle too long: gone.
        assert!(
            session(&c, &s.token, 2000 + SESSION_IDLE_MS + 1)
                .unwrap()
                .is_none()
        );
        let (_, s2) = login(&c, "alice", "correct horse battery", 5000).unwrap();
        logout(&c, &s2.token).unwrap();
        assert!(session(&c, &s2.token, 5001).unwrap().is_none());
        // A new password ends the old sessions.
        let (_, s3) = login(&c, "alice", "correct horse battery", 6000).unwrap();
        set_password(&c, "alice", "a new long password").unwrap();
        assert!(session(&c, &s3.token, 6001).unwrap().is_none());
        remove_user(&c, "carol").unwrap();
        assert_eq!(users(&c).unwrap().len(), 1);
    }

    #[test]
    fn repeated_failures_lock_the_account() {
        let (_d, c) = db();
        add_user(&c, "alice", "correct horse battery", Role::Admin, None, 0).unwrap();
        assert!(matches!(
            login(&c, "nobody", "whatever pw", 0),
            Err(AuthError::BadLogin)
        ));
        for i in 1..LOCK_AFTER {
            assert!(
                matches!(login(&c, "alice", "wrong", i), Err(AuthError::BadLogin)),
                "attempt {i}"
            );
        }
        assert!(matches!(
            login(&c, "alice", "wrong", 10),
            Err(AuthError::Locked)
        ));
        // Even the right password is refused while locked …
        assert!(matches!(
            login(&c, "alice", "correct horse battery", 20),
            Err(AuthError::Locked)
        ));
        // … and accepted after.
        assert!(login(&c, "alice", "correct horse battery", 10 + LOCK_FOR_MS + 1).is_ok());
    }

    #[test]
    fn actions_are_recorded_newest_first() {
        let (_d, c) = db();
        for (i, what) in ["user_add", "pc_block"].iter().enumerate() {
            record(
                &c,
                &Action {
                    at_ms: i as i64,
                    actor: "alice".into(),
                    action: what.to_string(),
                    subject: "pc3".into(),
                    details: serde_json::json!({"until": null}),
                },
            )
            .unwrap();
        }
        let h = history(&c, 10).unwrap();
        assert_eq!(h[0].action, "pc_block");
        assert_eq!(h[1].actor, "alice");
    }
}
