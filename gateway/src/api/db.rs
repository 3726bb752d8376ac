//! Database calls from handlers. SQLite blocks, and the runtime that serves the API also
//! answers DNS: every call runs on tokio's blocking pool, never in an `async fn` itself.

use std::path::Path;

use rusqlite::Connection;

use super::{ApiError, ApiState};
use crate::store::StoreError;

/// Runs `f` with a read-only connection (`store::open_read`: no mutex, the file mapped)
/// on the blocking pool.
pub async fn read<T, E>(
    st: &ApiState,
    f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    blocking(st, crate::store::open_read, f).await
}

/// Runs `f` with a read-write connection of its own (users, sessions, the action
/// history, requests; argon2 too) on the blocking pool.
pub async fn write<T, E>(
    st: &ApiState,
    f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    blocking(st, crate::auth::open, f).await
}

async fn blocking<T, E>(
    st: &ApiState,
    open: fn(&Path) -> Result<Connection, StoreError>,
    f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    let dir = st.storage_dir.clone();
    tokio::task::spawn_blocking(move || f(&open(&dir)?).map_err(Into::into)).await?
}
