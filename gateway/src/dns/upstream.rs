//! Upstream resolvers, tried in order. Each is a hickory-net `DnsExchange` kept open;
//! a truncated UDP answer is asked again over TCP. Not hickory-resolver: it turns
//! NXDOMAIN/SERVFAIL into errors, caches and rewrites answers, while a filter must relay
//! the upstream's answer as it is (see gateway/docs/hickory-0.26.md).
//!
//! Owns: the upstream connections and their order. Must not: change an upstream's answer.

use std::sync::atomic::Ordering;
use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use hickory_net::{
    NetError,
    h2::HttpsClientStream,
    runtime::TokioRuntimeProvider,
    tcp::TcpClientStream,
    tls::tls_exchange,
    udp::UdpClientStream,
    xfer::{DnsExchange, DnsHandle, FirstAnswer},
};
use hickory_proto::op::{DnsRequest, DnsResponse, ResponseCode};
use rustls::{ClientConfig, pki_types::ServerName};
use tokio::sync::Mutex;
use tracing::warn;

/// Requests in flight on one TCP connection (hickory's default of 32 answers "busy" under load).
const MAX_IN_FLIGHT: usize = 1024;

/// How an upstream is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Plain DNS: UDP, and TCP when an answer is truncated.
    Plain,
    /// DNS over TLS; the certificate must name `server_name`.
    Tls { server_name: String },
    /// DNS over HTTPS (HTTP/2) at `path`; the certificate must name `server_name`.
    Https { server_name: String, path: String },
}

/// One upstream as configured: `203.0.113.53[:53]`, `tls://IP[:853]#name`,
/// `https://IP[:443][/path]#name` (path default `/dns-query`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    pub addr: SocketAddr,
    pub transport: Transport,
}

impl std::str::FromStr for UpstreamSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not an upstream (IP[:port], tls://IP[:port]#name, https://IP[:port][/path]#name)"
            )
        };
        let addr = |a: &str, port: u16| -> Result<SocketAddr, String> {
            a.parse::<SocketAddr>()
                .or_else(|_| {
                    a.trim_matches(|c| c == '[' || c == ']')
                        .parse()
                        .map(|ip| SocketAddr::new(ip, port))
                })
                .map_err(|_| bad())
        };
        if let Some(rest) = s.strip_prefix("tls://") {
            let (a, name) = rest.split_once('#').ok_or_else(bad)?;
            return Ok(UpstreamSpec {
                addr: addr(a, 853)?,
                transport: Transport::Tls {
                    server_name: name.to_string(),
                },
            });
        }
        if let Some(rest) = s.strip_prefix("https://") {
            let (a, name) = rest.split_once('#').ok_or_else(bad)?;
            let (a, path) = match a.find('/') {
                Some(i) => (&a[..i], a[i..].to_string()),
                None => (a, "/dns-query".to_string()),
            };
            let transport = Transport::Https {
                server_name: name.to_string(),
                path,
            };
            return Ok(UpstreamSpec {
                addr: addr(a, 443)?,
                transport,
            });
        }
        Ok(UpstreamSpec {
            addr: addr(s, 53)?,
            transport: Transport::Plain,
        })
    }
}

struct Upstream {
    addr: SocketAddr,
    transport: Transport,
    /// UDP for plain DNS; the TLS or HTTPS connection otherwise.
    main: Mutex<Option<DnsExchange<TokioRuntimeProvider>>>,
    /// TCP, for a truncated plain answer.
    tcp: Mutex<Option<DnsExchange<TokioRuntimeProvider>>>,
    /// Set when it last failed: asked after the others until then.
    resting_until: std::sync::Mutex<Option<Instant>>,
    /// When it last answered anything, in ms since `Upstreams::epoch`: a query that times
    /// out on a connection that answered others meanwhile was slow by itself (one slow
    /// domain), and the connection stays.
    answered_ms: std::sync::atomic::AtomicU64,
}

impl Upstream {
    fn rest(&self, until: Option<Instant>) {
        if let Ok(mut t) = self.resting_until.lock() {
            *t = until;
        }
    }
}

/// How long a failed upstream is asked only after the others.
const RESTING: Duration = Duration::from_secs(10);

pub struct Upstreams {
    list: Vec<Upstream>,
    /// Owns the tasks behind every exchange: dropping the last clone would abort them.
    provider: TokioRuntimeProvider,
    tls: Arc<ClientConfig>,
    timeout: Duration,
    epoch: Instant,
}

impl Upstreams {
    pub fn new(specs: &[UpstreamSpec], tls: Arc<ClientConfig>, timeout: Duration) -> Self {
        let list = specs
            .iter()
            .map(|u| Upstream {
                addr: u.addr,
                transport: u.transport.clone(),
                main: Mutex::new(None),
                tcp: Mutex::new(None),
                resting_until: std::sync::Mutex::new(None),
                answered_ms: Default::default(),
            })
            .collect();
        Upstreams {
            list,
            provider: TokioRuntimeProvider::new(),
            tls,
            timeout,
            epoch: Instant::now(),
        }
    }

    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// The first usable answer, in order. SERVFAIL/REFUSED and failures fall through to
    /// the next upstream; if all fail, the last answer (if any) goes back as it was.
    pub async fn forward(
        &self,
        request: &DnsRequest,
    ) -> Result<(DnsResponse, SocketAddr), NetError> {
        let mut last: Option<(DnsResponse, SocketAddr)> = None;
        let mut last_err = NetError::NoConnections;
        // Upstreams that failed recently go last, so a dead first upstream costs its
        // timeout once per `RESTING` rather than on every query; they are still tried
        // when nothing else answers.
        let now = Instant::now();
        let resting = |u: &Upstream| {
            u.resting_until
                .lock()
                .is_ok_and(|t| t.is_some_and(|t| t > now))
        };
        let order = self
            .list
            .iter()
            .filter(|u| !resting(u))
            .chain(self.list.iter().filter(|u| resting(u)));
        for up in order {
            let sent = self.ms(Instant::now());
            match tokio::time::timeout(self.timeout, self.ask(up, request)).await {
                Ok(Ok(r))
                    if matches!(
                        r.response_code,
                        ResponseCode::ServFail | ResponseCode::Refused
                    ) =>
                {
                    last = Some((r, up.addr));
                }
                Ok(Ok(r)) => {
                    up.rest(None);
                    return Ok((r, up.addr));
                }
                Ok(Err(e)) => {
                    warn!(upstream = %up.addr, error = %e, "upstream failed");
                    up.rest(Some(Instant::now() + RESTING));
                    last_err = e;
                }
                Err(_) if up.answered_ms.load(Ordering::Relaxed) > sent => {
                    // It answered other queries meanwhile: this name is slow (its own
                    // servers are), the upstream and its connection are fine.
                    tracing::debug!(upstream = %up.addr, "one query timed out; the upstream answers others");
                    last_err = NetError::Timeout;
                }
                Err(_) => {
                    warn!(upstream = %up.addr, "upstream timed out");
                    up.rest(Some(Instant::now() + RESTING));
                    *up.tcp.lock().await = None;
                    if up.transport != Transport::Plain {
                        *up.main.lock().await = None;
                    }
                    last_err = NetError::Timeout;
                }
            }
        }
        last.ok_or(last_err)
    }

    async fn ask(&self, up: &Upstream, request: &DnsRequest) -> Result<DnsResponse, NetError> {
        let r = self.ask_once(up, request).await;
        if r.is_ok() {
            up.answered_ms
                .fetch_max(self.ms(Instant::now()), Ordering::Relaxed);
        }
        r
    }

    async fn ask_once(&self, up: &Upstream, request: &DnsRequest) -> Result<DnsResponse, NetError> {
        if up.transport != Transport::Plain {
            // A TLS/HTTPS connection the upstream closed shows up as an error: reconnect once.
            for attempt in 0..2 {
                let x = self.exchange(up, false).await?;
                match x.send(request.clone()).first_answer().await {
                    Ok(r) => return Ok(r),
                    // A query that timed out says nothing of the connection (one slow
                    // name): it stays, and the query is not sent again.
                    Err(e) if attempt == 1 || matches!(e, NetError::Timeout) => return Err(e),
                    Err(_) => *up.main.lock().await = None,
                }
            }
        }
        let udp = self.exchange(up, false).await?;
        let r = udp.send(request.clone()).first_answer().await?;
        if !r.truncation {
            return Ok(r);
        }
        for attempt in 0..2 {
            let tcp = self.exchange(up, true).await?;
            match tcp.send(request.clone()).first_answer().await {
                Ok(r) => return Ok(r),
                Err(e) if attempt == 1 => return Err(e),
                Err(_) => *up.tcp.lock().await = None,
            }
        }
        Err(NetError::NoConnections)
    }

    async fn exchange(
        &self,
        up: &Upstream,
        tcp: bool,
    ) -> Result<DnsExchange<TokioRuntimeProvider>, NetError> {
        let slot = if tcp { &up.tcp } else { &up.main };
        // Holding the lock while connecting makes concurrent queries share one reconnect.
        let mut slot = slot.lock().await;
        if let Some(x) = slot.as_ref() {
            return Ok(x.clone());
        }
        let p = self.provider.clone();
        // hickory's own per-request timer, a little after ours (`forward`): when both fell
        // due at once, its timeout came first and was taken for a broken connection.
        let t = self.timeout + Duration::from_millis(500);
        let x = match (&up.transport, tcp) {
            (_, true) => {
                TcpClientStream::exchange(up.addr, None, t, Some(MAX_IN_FLIGHT), p).await?
            }
            (Transport::Plain, false) => UdpClientStream::builder(up.addr, p)
                .with_timeout(Some(t))
                .exchange(),
            (Transport::Tls { server_name }, false) => {
                let name = ServerName::try_from(server_name.clone())
                    .map_err(|e| NetError::from(format!("TLS name `{server_name}`: {e}")))?;
                tls_exchange(
                    up.addr,
                    name,
                    (*self.tls).clone(),
                    t,
                    Some(MAX_IN_FLIGHT),
                    p,
                )
                .await?
            }
            (Transport::Https { server_name, path }, false) => {
                let mut b = HttpsClientStream::builder(self.tls.clone(), p);
                b.request_timeout(t);
                b.exchange(
                    up.addr,
                    Arc::from(server_name.as_str()),
                    Arc::from(path.as_str()),
                )
                .await?
            }
        };
        *slot = Some(x.clone());
        Ok(x)
    }
}

/// The TLS client configuration for DoT/DoH upstreams: Mozilla's roots (webpki-roots),
/// plus the certificates of `ca_pem` (a company or lab CA). ALPN stays empty: the DoH
/// client adds `h2` only when it is.
pub fn tls_config(ca_pem: Option<&std::path::Path>) -> Result<ClientConfig, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_pem {
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    // With the provider given explicitly: `ClientConfig::builder()` wants a process-wide
    // default provider to have been installed.
    ClientConfig::builder_with_provider(Arc::new(hickory_net::tls::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_specs() {
        let p = |s: &str| s.parse::<UpstreamSpec>();
        assert_eq!(
            p("203.0.113.53").unwrap().addr,
            "203.0.113.53:53".parse().unwrap()
        );
        assert_eq!(p("[2001:db8::53]:5353").unwrap().addr.port(), 5353);
        let tls = p("tls://203.0.113.254#dns.bypass.example").unwrap();
        assert_eq!(
            (tls.addr.port(), tls.transport),
            (
                853,
                Transport::Tls {
                    server_name: "dns.bypass.example".into()
                }
            )
        );
        let doh = p("https://203.0.113.254#dns.example").unwrap();
        assert_eq!(
            doh.transport,
            Transport::Https {
                server_name: "dns.example".into(),
                path: "/dns-query".into()
            }
        );
        assert_eq!(
            p("https://203.0.113.254:8443/q#n").unwrap().addr.port(),
            8443
        );
        for bad in ["nope", "tls://203.0.113.254", "https://x#y", ""] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
