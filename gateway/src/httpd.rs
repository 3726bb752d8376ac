//! Serving an axum router over HTTP/1.1 — the admin API and the block page — with the
//! limits `axum::serve` does not set. A client must send a request's head within
//! `HEAD_TIMEOUT` (also the most a kept-alive connection waits for the next request) and
//! be answered within `REQUEST_TIMEOUT`, its body read included; otherwise its connection
//! closes. A PC that opens connections and sends nothing, or a byte a minute, holds a
//! descriptor for seconds, not forever (the per-source connection cap, `guard`, bounds how
//! many it holds meanwhile).
//!
//! hyper's own HTTP/1 server does the protocol (its `header_read_timeout` needs a timer,
//! which axum's serve never gives it); this module only accepts, hands the peer's address
//! to handlers as `ConnectInfo<Peer>` (as axum's serve does) and stops on the token.

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, StatusCode},
    response::IntoResponse,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Time for a request's head (and the idle wait between requests of one connection).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time from a request's head to its response: reading the body (the block page's form,
/// a policy edit) and the handler. Nothing the UI asks takes near this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The remote address of a connection, for handlers (`ConnectInfo<Peer>`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Serves `app` on `listener` until `stop` is cancelled; then stops accepting (the port is
/// free again once this returns) and lets each open connection finish its request.
pub async fn serve<L>(mut listener: L, app: Router, stop: CancellationToken)
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    loop {
        let (io, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            c = listener.accept() => c,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(Peer(peer)));
            let app = app.clone();
            async move {
                let answer = tokio::time::timeout(REQUEST_TIMEOUT, app.oneshot(req.map(Body::new)));
                Ok::<_, std::convert::Infallible>(match answer.await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
                })
            }
        });
        let stop = stop.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::trace!(%peer, "connection: {e}");
                    }
                }
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, conn).await;
                }
            }
        });
    }
}
