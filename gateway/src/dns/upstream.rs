//! Upstream resolvers, tried in order. Each is a hickory-net `DnsExchange` kept open;
//! a truncated UDP answer is asked again over TCP. Not hickory-resolver: it turns
//! NXDOMAIN/SERVFAIL into errors, caches and rewrites answers, while a filter must relay
//! the upstream's answer as it is (see gateway/docs/hickory-0.26.md).

use std::{net::SocketAddr, time::Duration};

use hickory_net::{
    NetError,
    runtime::TokioRuntimeProvider,
    tcp::TcpClientStream,
    udp::UdpClientStream,
    xfer::{DnsExchange, DnsHandle, FirstAnswer},
};
use hickory_proto::op::{DnsRequest, DnsResponse, ResponseCode};
use tokio::sync::Mutex;
use tracing::warn;

/// Requests in flight on one TCP connection (hickory's default of 32 answers "busy" under load).
const MAX_IN_FLIGHT: usize = 1024;

struct Upstream {
    addr: SocketAddr,
    udp: Mutex<Option<DnsExchange<TokioRuntimeProvider>>>,
    tcp: Mutex<Option<DnsExchange<TokioRuntimeProvider>>>,
}

pub struct Upstreams {
    list: Vec<Upstream>,
    /// Owns the tasks behind every exchange: dropping the last clone would abort them.
    provider: TokioRuntimeProvider,
    timeout: Duration,
}

impl Upstreams {
    pub fn new(addrs: &[SocketAddr], timeout: Duration) -> Self {
        let list = addrs
            .iter()
            .map(|a| Upstream {
                addr: *a,
                udp: Mutex::new(None),
                tcp: Mutex::new(None),
            })
            .collect();
        Upstreams {
            list,
            provider: TokioRuntimeProvider::new(),
            timeout,
        }
    }

    /// The first usable answer, in order. SERVFAIL/REFUSED and failures fall through to
    /// the next upstream; if all fail, the last answer (if any) goes back as it was.
    pub async fn forward(
        &self,
        request: &DnsRequest,
    ) -> Result<(DnsResponse, SocketAddr), NetError> {
        let mut last: Option<(DnsResponse, SocketAddr)> = None;
        let mut last_err = NetError::NoConnections;
        for up in &self.list {
            match tokio::time::timeout(self.timeout, self.ask(up, request)).await {
                Ok(Ok(r))
                    if matches!(
                        r.response_code,
                        ResponseCode::ServFail | ResponseCode::Refused
                    ) =>
                {
                    last = Some((r, up.addr));
                }
                Ok(Ok(r)) => return Ok((r, up.addr)),
                Ok(Err(e)) => {
                    warn!(upstream = %up.addr, error = %e, "upstream failed");
                    last_err = e;
                }
                Err(_) => {
                    warn!(upstream = %up.addr, "upstream timed out");
                    *up.tcp.lock().await = None;
                    last_err = NetError::Timeout;
                }
            }
        }
        last.ok_or(last_err)
    }

    async fn ask(&self, up: &Upstream, request: &DnsRequest) -> Result<DnsResponse, NetError> {
        let udp = self.exchange(up, false).await?;
        let r = udp.send(request.clone()).first_answer().await?;
        if !r.truncation {
            return Ok(r);
        }
        // A TCP connection the upstream closed shows up as an error: reconnect once.
        for attempt in 0..2 {
            let tcp = self.exchange(up, true).await?;
            match tcp.send(request.clone()).first_answer().await {
                Ok(r) => return Ok(r),
                Err(e) => {
                    *up.tcp.lock().await = None;
                    if attempt == 1 {
                        return Err(e);
                    }
                }
            }
        }
        Err(NetError::NoConnections)
    }

    async fn exchange(
        &self,
        up: &Upstream,
        tcp: bool,
    ) -> Result<DnsExchange<TokioRuntimeProvider>, NetError> {
        let slot = if tcp { &up.tcp } else { &up.udp };
        let mut slot = slot.lock().await;
        if let Some(x) = slot.as_ref() {
            return Ok(x.clone());
        }
        let p = self.provider.clone();
        let x = if tcp {
            TcpClientStream::exchange(up.addr, None, self.timeout, Some(MAX_IN_FLIGHT), p).await?
        } else {
            UdpClientStream::builder(up.addr, p)
                .with_timeout(Some(self.timeout))
                .exchange()
        };
        *slot = Some(x.clone());
        Ok(x)
    }
}
