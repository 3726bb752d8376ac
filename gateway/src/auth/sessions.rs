//! Log-in and sessions: the password check with lock-out after repeated failures, and
//! session tokens (random, given to the browser once, stored only as their SHA-256 digest)
//! with their CSRF token and idle expiry.

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordVerifier},
};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{
    AuthError, User,
    users::{hash_password, row_user},
};

/// Failed logins in a row, of one name from one source, that lock that name for that
/// source, and for how long.
pub const LOCK_AFTER: i64 = 5;
pub const LOCK_FOR_MS: i64 = 15 * 60 * 1000;
/// A session lives this long without use.
pub const SESSION_IDLE_MS: i64 = 8 * 3600 * 1000;

/// A logged-in session: the cookie value (given out once) and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub csrf: String,
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

/// Checks a login from `source` (the caller's address, or its /64) and opens a session.
/// `LOCK_AFTER` failures in a row for one name from one source lock that name for that
/// source for `LOCK_FOR_MS` (a correct password from there is refused too); the same
/// name from any other source is not affected, so a PC guessing the admin's password
/// cannot lock the admin out. Unknown names count like known ones.
pub fn login(
    conn: &Connection,
    name: &str,
    password: &str,
    source: &str,
    now_ms: i64,
) -> Result<(User, Session), AuthError> {
    let locked_until: i64 = conn
        .query_row(
            "SELECT locked_until_ms FROM login_failures WHERE name = ?1 AND source = ?2",
            params![name, source],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    if locked_until > now_ms {
        return Err(AuthError::Locked);
    }
    let row: Option<(User, String)> = conn
        .query_row(
            "SELECT id, name, role, scope, hash FROM users WHERE name = ?1",
            [name],
            |r| Ok((row_user(r)?, r.get(4)?)),
        )
        .optional()?;
    let user = match row {
        Some((user, hash)) => {
            let ok = PasswordHash::new(&hash)
                .map(|h| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false);
            ok.then_some(user)
        }
        None => {
            // The same work as a real check, so timing tells nothing about which names
            // exist.
            let _ = hash_password(password);
            None
        }
    };
    let Some(user) = user else {
        return Err(failed(conn, name, source, now_ms)?);
    };
    conn.execute(
        "DELETE FROM login_failures WHERE name = ?1 AND source = ?2",
        params![name, source],
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

/// Counts a failed login of `name` from `source`; the error to answer with.
fn failed(
    conn: &Connection,
    name: &str,
    source: &str,
    now_ms: i64,
) -> Result<AuthError, AuthError> {
    let failed: i64 = conn.query_row(
        "INSERT INTO login_failures (name, source, failed, locked_until_ms, last_ms)
         VALUES (?1, ?2, 1, 0, ?3)
         ON CONFLICT (name, source) DO UPDATE SET failed = failed + 1, last_ms = ?3
         RETURNING failed",
        params![name, source, now_ms],
        |r| r.get(0),
    )?;
    if failed < LOCK_AFTER {
        return Ok(AuthError::BadLogin);
    }
    conn.execute(
        "UPDATE login_failures SET failed = 0, locked_until_ms = ?3
         WHERE name = ?1 AND source = ?2",
        params![name, source, now_ms + LOCK_FOR_MS],
    )?;
    Ok(AuthError::Locked)
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
