//! The admin API (axum): JSON under `/api/v1`, CSV on request, Prometheus `/metrics`, and
//! the OpenAPI document (utoipa) describing it. Every route but the login needs a user's
//! session or the bearer token from `[api] token` (`session.rs`: roles, CSRF); it listens
//! only where `[api] listen` says (the LAN/admin address), never on a WAN.
//!
//! Owns: HTTP, authentication, turning the store, the pinned maps and the WAN status into
//! responses. Changes so far: users (recorded in the action history).

mod access;
mod changes;
mod db;
mod devices;
mod error;
mod events;
mod format;
mod logins;
mod metrics;
mod openapi;
mod pcs;
mod policy;
mod principal;
mod queries;
mod requests;
mod session;
mod sites;
mod traffic;
mod ui;
mod users;

pub use logins::Logins;

pub use error::ApiError;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use arc_swap::ArcSwap;
use axum::{Router, middleware};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

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
    /// The DNS filter's counters; swapped when a settings change restarts the filter.
    pub dns: Arc<arc_swap::ArcSwapOption<crate::dns::DnsStats>>,
    pub names: crate::pcnames::PcNames,
    /// The policy directory, where changes are written (`office.toml`).
    pub policy_dir: PathBuf,
    /// The policy's clock (real, or set by `--clock-start` in tests and demos): timed
    /// exceptions are measured on it.
    pub clock: crate::clock::Clock,
    /// Served over HTTPS (cookies are marked Secure).
    pub tls: bool,
    /// Log-ins per source and hashing at once.
    pub logins: Arc<Logins>,
    /// Records the store's writer dropped since start (`Store::dropped`).
    pub store_dropped: Arc<std::sync::atomic::AtomicU64>,
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
            match tls {
                Some(acceptor) => match crate::blockpage::tls::TlsListener::new(listener, acceptor)
                {
                    Ok(l) => crate::httpd::serve(l, app, stop).await,
                    Err(e) => tracing::error!("API server on {addr}: {e}"),
                },
                None => crate::httpd::serve(listener, app, stop).await,
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

/// The whole application: the UI's page and assets, and every API route. Each resource
/// module states its routes and who may call them (`routes()` with `access::gate`).
pub fn router(state: Arc<ApiState>) -> Router {
    let (api, doc) = api_routes().split_for_parts();
    Router::new()
        .merge(ui::routes())
        .merge(api)
        // Layers run from the last added inwards: `authenticate` first (it puts the
        // caller in the request, or refuses), then the document `/me` reads, then each
        // route's own role check (`route_layer` in `access::gate`), then the handler.
        .layer(access::doc_extension(doc))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::authenticate,
        ))
        .with_state(state)
}

/// Every API route with its document. A new resource is one line here.
fn api_routes() -> access::ApiRouter {
    access::ApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(session::routes())
        .merge(users::routes())
        .merge(pcs::routes())
        .merge(devices::routes())
        .merge(traffic::routes())
        .merge(queries::routes())
        .merge(events::routes())
        .merge(sites::routes())
        .merge(policy::routes())
        .merge(changes::routes())
        .merge(requests::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
}

/// Compares in time independent of where the first difference is, so the token can't be
/// guessed byte by byte from response times (a dozen lines; not worth a dependency).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    /// The role matrix over every route the router serves, read back from the document
    /// as `/me` reads it (the lab test `lab_api` checks the answers themselves).
    #[test]
    fn roles_against_routes() {
        use crate::auth::Role;
        let (_, doc) = api_routes().split_for_parts();
        let may = |role| access::may(&doc, role);
        let (admin, auditor, manager) = (may(Role::Admin), may(Role::Auditor), may(Role::Manager));
        let has = |list: &[String], route: &str| list.iter().any(|r| r == route);
        // Every route is documented with its roles; the admin reaches all of them.
        let documented: usize = doc
            .paths
            .paths
            .values()
            .map(|i| {
                [&i.get, &i.put, &i.post, &i.delete, &i.patch]
                    .iter()
                    .filter(|o| o.is_some())
                    .count()
            })
            .sum();
        assert_eq!(admin.len() + 1, documented, "all but the log-in: {admin:?}");
        assert!(
            !has(&admin, "POST /api/v1/login"),
            "the log-in needs no role"
        );
        // Managers: only routes whose handlers check the PC or group.
        let mut expected_manager = vec![
            "DELETE /api/v1/groups/{group}/rules/{index}",
            "DELETE /api/v1/pcs/{pc}/block",
            "GET /api/v1/explain",
            "GET /api/v1/me",
            "GET /api/v1/pcs",
            "GET /api/v1/pcs/{pc}/hosts",
            "GET /api/v1/policy",
            "GET /api/v1/requests",
            "GET /api/v1/sites",
            "GET /api/v1/top",
            "GET /api/v1/traffic",
            "POST /api/v1/groups/{group}/rules",
            "POST /api/v1/logout",
            "POST /api/v1/pcs/{pc}/block",
            "POST /api/v1/requests/{id}/approve",
            "POST /api/v1/requests/{id}/refuse",
            "PUT /api/v1/limits",
        ];
        expected_manager.sort();
        assert_eq!(manager, expected_manager);
        // Auditors: every read, no change but logging out.
        for r in &admin {
            let read = r.starts_with("GET ");
            assert_eq!(has(&auditor, r), read || r == "POST /api/v1/logout", "{r}");
        }
        for r in [
            "GET /api/v1/queries",
            "GET /api/v1/users",
            "GET /metrics",
            "GET /api/v1/actions",
        ] {
            assert!(
                has(&admin, r) && has(&auditor, r) && !has(&manager, r),
                "{r}"
            );
        }
        for r in ["POST /api/v1/users", "PUT /api/v1/schedules/{name}"] {
            assert!(
                has(&admin, r) && !has(&auditor, r) && !has(&manager, r),
                "{r}"
            );
        }
    }
}
