//! Failover in the lab: faults on an ISP (link down, 100% loss, its upstream black-holed),
//! a prober that opens a connection from a PC every few milliseconds and records which WAN
//! each one left by, and the daemon's `[wan]` section for the lab's two channels.

use std::{
    fs::File,
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    os::fd::AsRawFd,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{Lab, Role, addr};

/// What goes wrong with a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The ISP's side of the link goes down: the gateway's WAN loses carrier.
    LinkDown,
    /// The link stays up but every packet from the gateway is lost at the ISP.
    Loss,
    /// The ISP's own upstream is black-holed; its router still answers the gateway.
    UpstreamBlackhole,
}

impl Fault {
    pub const ALL: [Fault; 3] = [Fault::LinkDown, Fault::Loss, Fault::UpstreamBlackhole];

    pub fn name(self) -> &'static str {
        match self {
            Fault::LinkDown => "link_down",
            Fault::Loss => "loss",
            Fault::UpstreamBlackhole => "upstream_blackhole",
        }
    }
}

/// The ISP namespace's nftables table that drops everything (`Fault::Loss`).
const LOSS_TABLE: &str = "og_fault_loss";
/// The ISP namespace's nftables table that drops a share of the frames at random.
const RANDOM_LOSS_TABLE: &str = "og_fault_random_loss";

fn isp_uplink(isp: Role) -> (std::net::Ipv4Addr, std::net::Ipv6Addr) {
    if isp == Role::IspPrimary {
        (addr::INET_ISP1_V4, addr::INET_ISP1_V6)
    } else {
        (addr::INET_ISP2_V4, addr::INET_ISP2_V6)
    }
}

impl Lab {
    /// Breaks `isp` (IspPrimary or IspBackup) the way `fault` says.
    pub fn inject(&self, isp: Role, fault: Fault) -> Result<()> {
        let script = match fault {
            Fault::LinkDown => format!("link set {} down\n", addr::ISP_DOWN_IF),
            Fault::Loss => {
                // This kernel has no netem (CONFIG_NET_SCH_NETEM is off): every frame from
                // the gateway is dropped at the ISP's ingress instead, which is the same
                // 100% loss with the link and its carrier up.
                let rules = format!(
                    "table netdev {LOSS_TABLE} {{\n\tchain loss {{\n\t\ttype filter hook ingress device \"{}\" priority 0; policy drop;\n\t}}\n}}\n",
                    addr::ISP_DOWN_IF
                );
                let mut cmd = self.command(isp, "nft");
                cmd.args(["-f", "-"]);
                crate::netns::run_with_input(&mut cmd, &rules).context("nft loss")?;
                return Ok(());
            }
            Fault::UpstreamBlackhole => {
                "route replace blackhole default\nroute replace blackhole ::/0\n".to_string()
            }
        };
        self.ip_batch(isp, &script)
    }

    /// Drops `pct` percent of the frames from the gateway at `isp`'s ingress, at random
    /// (nftables `numgen random`: this kernel has no netem). `pct` 0 takes it away.
    pub fn random_loss(&self, isp: Role, pct: u32) -> Result<()> {
        let mut del = self.command(isp, "nft");
        del.args(["delete", "table", "netdev", RANDOM_LOSS_TABLE]);
        let _ = crate::netns::run(&mut del);
        if pct == 0 {
            return Ok(());
        }
        let rules = format!(
            "table netdev {RANDOM_LOSS_TABLE} {{\n\tchain loss {{\n\t\ttype filter hook ingress device \"{}\" priority 0; policy accept;\n\t\tnumgen random mod 100 < {pct} drop\n\t}}\n}}\n",
            addr::ISP_DOWN_IF
        );
        let mut cmd = self.command(isp, "nft");
        cmd.args(["-f", "-"]);
        crate::netns::run_with_input(&mut cmd, &rules)
            .context("nft random loss")
            .map(drop)
    }

    /// Undoes `fault` on `isp`.
    pub fn heal(&self, isp: Role, fault: Fault) -> Result<()> {
        match fault {
            Fault::LinkDown => self.ip_batch(isp, &format!("link set {} up\n", addr::ISP_DOWN_IF)),
            Fault::Loss => {
                let mut cmd = self.command(isp, "nft");
                cmd.args(["delete", "table", "netdev", LOSS_TABLE]);
                crate::netns::run(&mut cmd)
                    .context("nft loss off")
                    .map(drop)
            }
            Fault::UpstreamBlackhole => {
                let (v4, v6) = isp_uplink(isp);
                self.ip_batch(
                    isp,
                    &format!("route replace default via {v4}\nroute replace default via {v6}\n"),
                )
            }
        }
    }

    fn ip_batch(&self, role: Role, script: &str) -> Result<()> {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["-n", &self.ns(role), "-batch", "-"]);
        crate::netns::run_with_input(&mut cmd, script).map(drop)
    }
}

/// The daemon's `[wan]` section for the lab: primary over isp1, backup over isp2, probes to
/// the lab internet's resolver and web server (beyond the ISPs). `extra` goes in the
/// `[wan]` table (e.g. `hold_down_s = 2`).
pub fn lab_wan_section(extra: &str) -> String {
    let probes = format!(
        "[\"icmp:{}\", \"dns:{}\", \"tcp:{}:80\"]",
        addr::RESOLVER_V4,
        addr::RESOLVER_V4,
        addr::CATCH_ALL_V4
    );
    format!(
        "\n[wan]\n{extra}\n\n[[wan.channels]]\nname = \"primary\"\ninterface = \"{}\"\ngateway = \"{}\"\ngateway6 = \"{}\"\npriority = 1\nprobes = {probes}\n\n[[wan.channels]]\nname = \"backup\"\ninterface = \"{}\"\ngateway = \"{}\"\ngateway6 = \"{}\"\npriority = 2\nprobes = {probes}\n",
        addr::WAN_PRIMARY_IF,
        addr::ISP1_DOWN_V4,
        addr::ISP1_DOWN_V6,
        addr::WAN_BACKUP_IF,
        addr::ISP2_DOWN_V4,
        addr::ISP2_DOWN_V6,
    )
}

/// Which channel a connection left by, from the address the server saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Primary,
    Backup,
    Other,
}

/// One connection attempt of the prober.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub started: Instant,
    pub finished: Instant,
    /// `None`: failed (timeout, refused, reset, short answer).
    pub via: Option<Via>,
}

/// Opens an HTTP connection from a PC to the lab internet every `every`, each with its own
/// `timeout`, and asks `/whoami`: the answer says which WAN address it came from.
pub struct Prober {
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    thread: Option<JoinHandle<()>>,
}

impl Prober {
    pub fn start(lab: &Lab, pc: usize, every: Duration, timeout: Duration) -> Result<Self> {
        let ns = File::open(lab.netns_path(Role::Pc(pc))).context("open PC netns")?;
        let stop = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let (s, a) = (stop.clone(), attempts.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            // The namespace is per thread: this thread and the threads it spawns live in
            // the PC's network, the test's other threads don't.
            // SAFETY: setns on a valid namespace fd; affects only this thread.
            let ok = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } == 0;
            let _ = ready_tx.send(ok);
            if !ok {
                return;
            }
            let target = SocketAddr::new(IpAddr::V4(addr::CATCH_ALL_V4), 80);
            let mut next = Instant::now();
            let mut workers = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let a = a.clone();
                workers.push(std::thread::spawn(move || {
                    let started = Instant::now();
                    let via = attempt(target, timeout);
                    let finished = Instant::now();
                    a.lock().expect("attempts lock").push(Attempt {
                        started,
                        finished,
                        via,
                    });
                }));
                workers.retain(|w| !w.is_finished());
                next += every;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        if !ready_rx.recv().unwrap_or(false) {
            bail!("prober could not enter pc{pc}'s namespace");
        }
        Ok(Prober {
            stop,
            attempts,
            thread: Some(thread),
        })
    }

    /// Attempts so far, in order of start.
    pub fn attempts(&self) -> Vec<Attempt> {
        let mut v = self.attempts.lock().expect("attempts lock").clone();
        v.sort_by_key(|a| a.started);
        v
    }

    /// Stops and returns every attempt.
    pub fn stop(mut self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.attempts()
    }

    /// Waits up to `limit` for an attempt started at or after `since` to succeed over `via`;
    /// returns when it finished.
    pub fn wait_for(&self, via: Via, since: Instant, limit: Duration) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(a) = self
                .attempts()
                .into_iter()
                .filter(|a| a.started >= since && a.via == Some(via))
                .min_by_key(|a| a.finished)
            {
                return Some(a.finished);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn attempt(target: SocketAddr, timeout: Duration) -> Option<Via> {
    let deadline = Instant::now() + timeout;
    let mut s = TcpStream::connect_timeout(&target, timeout).ok()?;
    let left = deadline.checked_duration_since(Instant::now())?;
    s.set_read_timeout(Some(left)).ok()?;
    s.set_write_timeout(Some(left)).ok()?;
    s.write_all(
        format!(
            "GET {} HTTP/1.0\r\nHost: probe.example\r\n\r\n",
            addr::WHOAMI_PATH
        )
        .as_bytes(),
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let seen = body.rsplit("\r\n\r\n").next()?.trim();
    Some(if seen == addr::GW_WAN_PRIMARY_V4.to_string() {
        Via::Primary
    } else if seen == addr::GW_WAN_BACKUP_V4.to_string() {
        Via::Backup
    } else {
        Via::Other
    })
}
