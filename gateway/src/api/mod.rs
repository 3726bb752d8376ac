//! The admin API (axum): JSON under `/api/v1`, CSV on request, Prometheus `/metrics`, and
//! the OpenAPI document (utoipa) describing it. Every route but the login needs a user's
//! session or the bearer token from `[api] token` (`session.rs`: roles, CSRF); it listens
//! only where `[api] listen` says (the LAN/admin address), never on a WAN.
//!
//! Owns: HTTP, authentication, turning the store, the pinned maps and the WAN status into
//! responses. Changes so far: users (recorded in the action history).

mod changes;
mod metrics;
mod policy;
mod requests;
mod routes;
mod session;
mod sites;
mod ui;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use arc_swap::ArcSwap;
use axum::{
    Router,
    http::StatusCode,
    middleware,
    response::{IntoResponse, Response},
    routing::{delete, get, post, put},
};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::policy::Policy;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Addresses to serve on, e.g. `["10.10.0.1:8080"]`: the LAN or an admin network,
    /// never a WAN. Required.
    pub listen: Vec<SocketAddr>,
    /// The bearer token every request must carry (`Authorization: Bearer <token>`), at
    /// least 16 characters. Required.
    pub token: String,
    /// Serve over HTTPS with this certificate chain and key (PEM): the UI's session cookie
    /// is then marked Secure. Default: plain HTTP (a LAN-only admin address).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

impl ApiConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.listen.is_empty() {
            return Err("[api] listen needs at least one address".into());
        }
        if self.token.len() < 16 {
            return Err("[api] token must be at least 16 characters".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("[api] needs both tls_cert and tls_key, or neither".into());
        }
        Ok(())
    }
}

/// What the handlers read.
pub struct ApiState {
    pub token: String,
    pub pin_dir: PathBuf,
    pub storage_dir: PathBuf,
    pub policy: Arc<ArcSwap<Policy>>,
    pub dns: Option<Arc<crate::dns::DnsStats>>,
    pub names: crate::pcnames::PcNames,
    /// The policy directory, where changes are written (`office.toml`).
    pub policy_dir: PathBuf,
    /// The policy's clock (real, or set by `--clock-start` in tests and demos): timed
    /// exceptions are measured on it.
    pub clock: crate::clock::Clock,
    /// Served over HTTPS (cookies are marked Secure).
    pub tls: bool,
}

/// Binds every listen address and serves until the returned token is cancelled.
pub async fn serve(cfg: &ApiConfig, state: ApiState) -> anyhow::Result<CancellationToken> {
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some(tls_acceptor(c, k)?),
        _ => None,
    };
    let state = Arc::new(ApiState {
        tls: tls.is_some(),
        ..state
    });
    let app = router(state.clone());
    let token = CancellationToken::new();
    for &addr in &cfg.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("[api] cannot listen on {addr}: {e}"))?;
        let (app, stop) = (app.clone(), token.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            let stopped = async move { stop.cancelled().await };
            let r = match tls {
                Some(acceptor) => {
                    let listener = crate::blockpage::tls::TlsListener::new(listener, acceptor);
                    match listener {
                        Ok(l) => axum::serve(l, app).with_graceful_shutdown(stopped).await,
                        Err(e) => Err(e),
                    }
                }
                None => {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await
                }
            };
            if let Err(e) = r {
                tracing::error!("API server on {addr} stopped: {e}");
            }
        });
    }
    Ok(token)
}

/// rustls with the admin's certificate chain and key.
fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use tokio_rustls::rustls::{
        self,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("[api] tls_cert {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("[api] tls_key {}: {e}", key.display()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| anyhow::anyhow!("[api] tls_cert/tls_key: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/", get(ui::index))
        .route("/assets/app.js", get(ui::app_js))
        .route("/assets/app.css", get(ui::app_css))
        .route("/api/v1/pcs", get(routes::pcs))
        .route("/api/v1/queries", get(routes::queries))
        .route("/api/v1/traffic", get(routes::traffic))
        .route("/api/v1/top", get(routes::top))
        .route("/api/v1/sites", get(sites::sites))
        .route("/api/v1/sites/{site}/pcs", get(sites::site_pcs))
        .route("/api/v1/pcs/{pc}/hosts", get(sites::pc_hosts))
        .route(
            "/api/v1/pcs/{pc}/block",
            post(changes::block).delete(changes::unblock),
        )
        .route("/api/v1/unexplained", get(sites::unexplained))
        .route("/api/v1/report", get(sites::report))
        .route("/api/v1/events", get(routes::events))
        .route("/api/v1/wan", get(routes::wan))
        .route("/api/v1/openapi.json", get(routes::openapi))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/login", post(session::login))
        .route("/api/v1/logout", post(session::logout))
        .route("/api/v1/me", get(session::me))
        .route("/api/v1/actions", get(session::actions))
        .route("/api/v1/users", get(session::users).post(session::add_user))
        .route("/api/v1/policy", get(policy::policy))
        .route("/api/v1/groups/{group}/rules", post(changes::add_rule))
        .route(
            "/api/v1/groups/{group}/rules/{index}",
            delete(changes::remove_rule),
        )
        .route("/api/v1/limits", put(changes::set_limit))
        .route("/api/v1/schedules/{name}", put(changes::set_schedule))
        .route("/api/v1/explain", get(policy::explain))
        .route("/api/v1/requests", get(requests::list))
        .route("/api/v1/requests/{id}/approve", post(requests::approve))
        .route("/api/v1/requests/{id}/refuse", post(requests::refuse))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::authenticate,
        ))
        .with_state(state)
}

/// Compares in time independent of where the first difference is, so the token can't be
/// guessed byte by byte from response times (a dozen lines; not worth a dependency).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error as the API answers it: a status and a one-line reason.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl ApiError {
    fn internal(e: impl std::fmt::Display) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
    fn bad(e: impl std::fmt::Display) -> Self {
        ApiError(StatusCode::BAD_REQUEST, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(same(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same(b"0123456789abcdef", b"0123456789abcdeg"));
        assert!(!same(b"short", b"0123456789abcdef"));
    }
}
