//! The HTTPS block page, for offices that install their own root CA on their PCs
//! (`[block_page] ca_cert`, `ca_key`): the gateway mints a certificate for each blocked
//! name a browser asks for (SNI), signed by that CA, and shows the same page as over HTTP
//! — no certificate warning. Without a CA nothing listens on 443 and the kernel refuses the
//! connection at once.
//!
//! Minted certificates (ECDSA P-256, valid a day back and 30 days ahead) are cached per
//! name. Handshakes run in tasks of their own with a timeout, so a client that stalls never
//! holds up the others.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use rcgen::{CertificateParams, DistinguishedName, DnType, Issuer, KeyPair};
use tokio::net::TcpListener;
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject},
        server::{ClientHello, ResolvesServerCert},
        sign::CertifiedKey,
    },
};

/// Names with a certificate kept ready.
const CACHE: u64 = 10_000;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the block page CA: {0}")]
    Ca(String),
}

/// Mints certificates signed by the office CA.
pub struct Minter {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    cache: moka::sync::Cache<String, Arc<CertifiedKey>>,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Minter")
    }
}

impl Minter {
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| TlsError::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        let key = KeyPair::from_pem(&key_pem).map_err(|e| TlsError::Ca(format!("key: {e}")))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)
            .map_err(|e| TlsError::Ca(format!("certificate: {e}")))?;
        let ca_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| TlsError::Ca(format!("certificate: {e}")))?;
        Ok(Minter {
            issuer,
            ca_der,
            cache: moka::sync::Cache::new(CACHE),
        })
    }

    /// The certificate for `name` (a valid DNS name), minted on first use.
    pub fn certified(&self, name: &str) -> Result<Arc<CertifiedKey>, String> {
        if let Some(c) = self.cache.get(name) {
            return Ok(c);
        }
        let c = Arc::new(self.mint(name)?);
        self.cache.insert(name.to_string(), c.clone());
        Ok(c)
    }

    fn mint(&self, name: &str) -> Result<CertifiedKey, String> {
        let mut params =
            CertificateParams::new(vec![name.to_string()]).map_err(|e| e.to_string())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        let day = |d: jiff::civil::Date| {
            rcgen::date_time_ymd(d.year().into(), d.month() as u8, d.day() as u8)
        };
        let today = jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date();
        params.not_before = day(today.yesterday().map_err(|e| e.to_string())?);
        params.not_after = day(today
            .checked_add(jiff::Span::new().days(30))
            .map_err(|e| e.to_string())?);
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| e.to_string())?;
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer =
            rustls::crypto::ring::sign::any_supported_type(&private).map_err(|e| e.to_string())?;
        Ok(CertifiedKey::new(
            vec![cert.der().clone(), self.ca_der.clone()],
            signer,
        ))
    }
}

impl ResolvesServerCert for Minter {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // Only names: an address or no SNI gets no certificate (the handshake fails).
        let name = crate::lists::normalize(hello.server_name()?).ok()?;
        match self.certified(&name) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(name, "block page: cannot mint a certificate: {e}");
                None
            }
        }
    }
}

pub fn acceptor(minter: Arc<Minter>) -> TlsAcceptor {
    let mut cfg =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(minter);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(cfg))
}

/// A TLS listener for `axum::serve`: accepts in a task of its own and hands over
/// connections whose handshake finished.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors and the like: pause rather than spin.
                        tracing::warn!("block page (https): accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    break;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "block page (https): handshake: {e}"),
                        Err(_) => tracing::debug!(%peer, "block page (https): handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task ended (it never does while the receiver lives): wait forever
            // rather than return a connection that does not exist.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
