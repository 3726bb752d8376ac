//! Database calls from handlers. SQLite blocks, and the runtime that serves the API also
//! answers DNS: every call runs on tokio's blocking pool, never in an `async fn` itself.

use rusqlite::Connection;

use super::{ApiError, ApiState};

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
    let dir = st.storage_dir.clone();
    tokio::task::spawn_blocking(move || {
        let conn = crate::store::open_read(&dir)?;
        f(&conn).map_err(Into::into)
    })
    .await?
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
    let dir = st.storage_dir.clone();
    tokio::task::spawn_blocking(move || {
        let conn = crate::auth::open(&dir)?;
        f(&conn).map_err(Into::into)
    })
    .await?
}
