//! One probe round of one channel: every probe target at once, each sent out through the
//! channel's interface (SO_BINDTODEVICE; the channel's routing table has a rule for that
//! interface, see `route`), whatever the main default route is.
//!
//! ICMP goes through `surge-ping`; the DNS query is built and parsed by hickory-proto;
//! the TCP probe is a plain connect (a refusal counts as an answer: the path is alive).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Message, Query},
    rr::{Name, RecordType},
};
use surge_ping::{Client, Config as PingConfig, ICMP, PingIdentifier, PingSequence};
use tokio::net::{TcpSocket, UdpSocket};

use super::{config::Probe, health::Round};

/// Probes of one channel, with the ICMP sockets bound to its interface (one per family,
/// opened on first use).
pub struct Prober {
    interface: String,
    probes: Vec<Probe>,
    icmp4: Option<Client>,
    icmp6: Option<Client>,
    ident: u16,
}

impl Prober {
    pub fn new(interface: &str, probes: Vec<Probe>, ident: u16) -> std::io::Result<Self> {
        let client = |kind| {
            Client::new(
                &PingConfig::builder()
                    .kind(kind)
                    .interface(interface)
                    .build(),
            )
        };
        let wants = |v4: bool| {
            probes
                .iter()
                .any(|p| matches!(p, Probe::Icmp(a) if a.is_ipv4() == v4))
        };
        Ok(Prober {
            interface: interface.to_string(),
            icmp4: if wants(true) {
                Some(client(ICMP::V4)?)
            } else {
                None
            },
            icmp6: if wants(false) {
                Some(client(ICMP::V6)?)
            } else {
                None
            },
            probes,
            ident,
        })
    }

    /// Runs every probe concurrently; returns when all have answered or timed out.
    pub async fn round(self: Arc<Self>, seq: u16, timeout: Duration) -> Round {
        let mut tasks = tokio::task::JoinSet::new();
        for p in self.probes.clone() {
            let me = self.clone();
            tasks.spawn(async move {
                let start = Instant::now();
                let ok = tokio::time::timeout(timeout, me.one(p, seq, timeout))
                    .await
                    .unwrap_or(false);
                ok.then(|| start.elapsed())
            });
        }
        let mut round = Round::default();
        while let Some(r) = tasks.join_next().await {
            round.sent += 1;
            if let Ok(Some(rtt)) = r {
                round.answered += 1;
                round.rtt = Some(round.rtt.map_or(rtt, |m| m.min(rtt)));
            }
        }
        round
    }

    async fn one(&self, probe: Probe, seq: u16, timeout: Duration) -> bool {
        match probe {
            Probe::Icmp(ip) => self.icmp(ip, seq, timeout).await,
            Probe::Dns(addr) => self.dns(addr).await.unwrap_or(false),
            Probe::Tcp(addr) => self.tcp(addr).await,
        }
    }

    async fn icmp(&self, ip: IpAddr, seq: u16, timeout: Duration) -> bool {
        let client = match ip {
            IpAddr::V4(_) => self.icmp4.as_ref(),
            IpAddr::V6(_) => self.icmp6.as_ref(),
        };
        let Some(client) = client else {
            return false;
        };
        let mut pinger = client.pinger(ip, PingIdentifier(self.ident)).await;
        pinger.timeout(timeout);
        pinger.ping(PingSequence(seq), b"officegate").await.is_ok()
    }

    async fn dns(&self, addr: SocketAddr) -> std::io::Result<bool> {
        let bind: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let sock = UdpSocket::bind(bind).await?;
        sock.bind_device(Some(self.interface.as_bytes()))?;
        sock.connect(addr).await?;
        let mut q = Message::query();
        q.add_query(Query::query(Name::root(), RecordType::NS));
        let id = q.metadata.id;
        let bytes = q.to_vec().map_err(std::io::Error::other)?;
        sock.send(&bytes).await?;
        let mut buf = [0u8; 1500];
        loop {
            let n = sock.recv(&mut buf).await?;
            // Any well-formed answer to our id counts, whatever its code: the resolver is
            // reachable through this channel, which is all a probe asks.
            if Message::from_vec(&buf[..n]).is_ok_and(|m| m.metadata.id == id) {
                return Ok(true);
            }
        }
    }

    async fn tcp(&self, addr: SocketAddr) -> bool {
        let sock = match if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        } {
            Ok(s) => s,
            Err(_) => return false,
        };
        if sock.bind_device(Some(self.interface.as_bytes())).is_err() {
            return false;
        }
        match sock.connect(addr).await {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        }
    }
}
