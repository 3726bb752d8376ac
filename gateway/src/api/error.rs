//! The API's one error type. A handler returns `ApiError`, usually through `?` on a
//! module's own error (`From` below says which status each variant means). What the
//! client reads is one line meant for it; an internal failure is logged here with its
//! whole cause and answered with a fixed sentence, so database paths, SQL or kernel
//! messages never leave the gateway (realworld-axum-sqlx's `http/error.rs` is the model).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    auth::AuthError, datapath::DatapathError, policy::edit::EditError, requests::RequestError,
    store::StoreError,
};

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error as the API answers it: `{"error": "<one line>"}` with its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// Busy: try again shortly.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of the gateway, not of the request: logged, never sent.
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
}

impl ApiError {
    pub fn bad(why: impl std::fmt::Display) -> Self {
        ApiError::BadRequest(why.to_string())
    }

    pub fn forbidden(why: impl std::fmt::Display) -> Self {
        ApiError::Forbidden(why.to_string())
    }

    pub fn internal(e: impl Into<Cause>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let text = match &self {
            ApiError::Internal(cause) => {
                // The whole chain, for the admin reading the log.
                let mut line = cause.to_string();
                let mut at = cause.source();
                while let Some(e) = at {
                    line.push_str(": ");
                    line.push_str(&e.to_string());
                    at = e.source();
                }
                tracing::error!("API: {line}");
                "internal error; the gateway's log has the details".to_string()
            }
            other => other.to_string(),
        };
        let mut r = (status, Json(serde_json::json!({ "error": text }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// Whether SQLite gave up waiting for the database (another writer held it past the
/// wait): the request may succeed if tried again, so it is no fault of the gateway's.
fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// The answer to a database that stayed busy past the wait (logged: it says the box is
/// overloaded).
fn unavailable(e: &rusqlite::Error) -> ApiError {
    tracing::warn!("API: the database stayed busy: {e}");
    ApiError::Unavailable("the database is busy; try again in a moment".into())
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Sqlite { source, .. } if busy(source) => unavailable(source),
            _ => ApiError::internal(e),
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        if busy(&e) {
            return unavailable(&e);
        }
        ApiError::internal(e)
    }
}

impl From<DatapathError> for ApiError {
    fn from(e: DatapathError) -> Self {
        ApiError::internal(e)
    }
}

/// A handler's blocking part panicked or was cancelled.
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::BadLogin => ApiError::Unauthorized(e.to_string()),
            AuthError::Locked => ApiError::TooManyRequests(e.to_string()),
            AuthError::Db(db) if busy(&db) => unavailable(&db),
            AuthError::Db(_) | AuthError::Hash(_) => ApiError::internal(e),
            AuthError::Exists(_) => ApiError::Conflict(e.to_string()),
            AuthError::NoSuchUser(_) => ApiError::NotFound(e.to_string()),
            _ => ApiError::bad(e),
        }
    }
}

impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::NoSuchPc(_) | EditError::NoSuchGroup(_) | EditError::NoSuchRule(..) => {
                ApiError::NotFound(e.to_string())
            }
            EditError::Changed | EditError::RuleGone(_) => ApiError::Conflict(e.to_string()),
            EditError::BadTime(_) | EditError::Invalid(_) | EditError::Refused(_) => {
                ApiError::bad(e)
            }
            _ => ApiError::internal(e),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::NotFound(_) => ApiError::NotFound(e.to_string()),
            RequestError::Decided(_) => ApiError::Conflict(e.to_string()),
            RequestError::TooMany | RequestError::QueueFull => {
                ApiError::TooManyRequests(e.to_string())
            }
            RequestError::Db(_) => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_details_stay_in_the_log() {
        let e = ApiError::from(StoreError::Dir {
            path: "/var/lib/officegate/secret".into(),
            source: std::io::Error::other("disk on fire"),
        });
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("secret") && !body.contains("fire"), "{body}");
    }

    #[tokio::test]
    async fn client_errors_say_why() {
        let r = ApiError::from(RequestError::Decided(7)).into_response();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("#7"));
    }
}
