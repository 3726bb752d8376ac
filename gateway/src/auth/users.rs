//! Accounts: names, argon2id password hashes, roles and a manager's scope.

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, SaltString},
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::AuthError;

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

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

pub(super) fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| AuthError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&raw).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

pub(super) fn row_user(r: &rusqlite::Row) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Auditor),
        scope: r.get(3)?,
    })
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
