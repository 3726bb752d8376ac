//! The servers under test, each started in the lab's gateway pinned to `SERVER_CPU`:
//! Officegate (the daemon, one tokio worker), Unbound (1 thread, the names as
//! `local-zone: … always_nxdomain`, as pfBlockerNG does), dnsmasq (Pi-hole's engine,
//! `address=/name/`) and dnsdist (packet cache, suffix-match rule), each with or without
//! the list; their configuration and list files.

use std::{
    fs::File,
    net::{IpAddr, SocketAddr},
    path::Path,
    process::{Child, Stdio},
};

use anyhow::Context as _;
use officegate_lab::{
    Lab, Role, addr,
    officegate::{Officegate, lab_config, pin_dir_for},
};

use super::{DNSDIST_PORT, DNSMASQ_PORT, SERVER_CPU, UNBOUND_PORT};

/// Writes the list in each server's own form into `dir`: `big.txt` (Officegate's list
/// file), `unbound-list.conf`, `dnsmasq-list.conf`.
pub(super) fn write_lists(dir: &Path, names: &[String]) -> anyhow::Result<()> {
    std::fs::write(dir.join("big.txt"), names.join("\n") + "\n")?;
    let mut unbound = String::with_capacity(names.len() * 48);
    let mut dnsmasq = String::with_capacity(names.len() * 32);
    for n in names {
        unbound.push_str(&format!("  local-zone: \"{n}.\" always_nxdomain\n"));
        dnsmasq.push_str(&format!("address=/{n}/\n"));
    }
    std::fs::write(dir.join("unbound-list.conf"), unbound)?;
    std::fs::write(dir.join("dnsmasq-list.conf"), dnsmasq)?;
    Ok(())
}

pub(super) struct Server {
    pub name: &'static str,
    pub target: SocketAddr,
    child: Option<Child>,
    pub og: Option<Officegate>,
}

impl Server {
    pub(super) fn pid(&self) -> u32 {
        self.og
            .as_ref()
            .and_then(|o| o.pid())
            .or(self.child.as_ref().map(|c| c.id()))
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn gw_ip() -> IpAddr {
    IpAddr::V4(addr::GW_LAN_V4)
}

pub(super) fn start_unbound(lab: &Lab, dir: &Path, with_list: bool) -> anyhow::Result<Server> {
    let conf = dir.join(if with_list {
        "unbound.conf"
    } else {
        "unbound-empty.conf"
    });
    let include = if with_list {
        format!(
            "  include: \"{}\"\n",
            dir.join("unbound-list.conf").display()
        )
    } else {
        String::new()
    };
    std::fs::write(
        &conf,
        format!(
            "server:\n  interface: {gw}@{UNBOUND_PORT}\n  port: {UNBOUND_PORT}\n  num-threads: 1\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound-bench.pid\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 0\n  access-control: 10.10.0.0/24 allow\n  module-config: \"iterator\"\n  msg-cache-size: 64m\n  rrset-cache-size: 128m\n  so-rcvbuf: 8m\n  do-not-query-localhost: no\n{include}forward-zone:\n  name: \".\"\n  forward-addr: {up}\nremote-control:\n  control-enable: no\n",
            gw = addr::GW_LAN_V4,
            d = dir.display(),
            up = addr::RESOLVER_V4,
        ),
    )?;
    let log = File::create(dir.join("unbound-bench.log"))?;
    let child = lab
        .command(Role::Gateway, "taskset")
        .args(["-c", SERVER_CPU, "unbound", "-d", "-c"])
        .arg(&conf)
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("spawn unbound")?;
    Ok(Server {
        name: "unbound",
        target: SocketAddr::new(gw_ip(), UNBOUND_PORT),
        child: Some(child),
        og: None,
    })
}

pub(super) fn start_dnsmasq(lab: &Lab, dir: &Path, with_list: bool) -> anyhow::Result<Server> {
    let mut cmd = lab.command(Role::Gateway, "taskset");
    cmd.args([
        "-c",
        SERVER_CPU,
        "dnsmasq",
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
    ])
    .arg(format!("--port={DNSMASQ_PORT}"))
    .arg(format!("--listen-address={}", addr::GW_LAN_V4))
    .args(["--bind-interfaces", "--cache-size=10000", "--user=root"])
    .arg(format!("--server={}", addr::RESOLVER_V4))
    .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()));
    if with_list {
        cmd.arg(format!(
            "--conf-file={}",
            dir.join("dnsmasq-list.conf").display()
        ));
    } else {
        cmd.arg("--conf-file=/dev/null");
    }
    let log = File::create(dir.join("dnsmasq.log"))?;
    let child = cmd
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("spawn dnsmasq")?;
    Ok(Server {
        name: "dnsmasq",
        target: SocketAddr::new(gw_ip(), DNSMASQ_PORT),
        child: Some(child),
        og: None,
    })
}

/// dnsdist, the way an operator puts it in front of PCs: its packet cache before the same
/// upstream, and the list as a suffix-match rule answering NXDOMAIN (`big.txt`, one name
/// a line, read by its Lua configuration). Health checks off (the backend is set up), and
/// no security poll (it would ask a resolver outside the lab).
pub(super) fn start_dnsdist(lab: &Lab, dir: &Path, with_list: bool) -> anyhow::Result<Server> {
    let conf = dir.join(if with_list {
        "dnsdist.conf"
    } else {
        "dnsdist-empty.conf"
    });
    let list = if with_list {
        format!(
            "smn = newSuffixMatchNode()
for line in io.lines(\"{}\") do smn:add(line) end
addAction(SuffixMatchNodeRule(smn, true), RCodeAction(DNSRCode.NXDOMAIN))
",
            dir.join("big.txt").display()
        )
    } else {
        String::new()
    };
    std::fs::write(
        &conf,
        format!(
            "setSecurityPollSuffix(\"\")
setLocal(\"{gw}:{DNSDIST_PORT}\")
setACL({{\"10.0.0.0/8\"}})
newServer({{address=\"{up}:53\", name=\"up\"}})
getServer(0):setUp()
getPool(\"\"):setCache(newPacketCache(200000, {{maxTTL=86400, minTTL=0}}))
{list}",
            gw = addr::GW_LAN_V4,
            up = addr::RESOLVER_V4,
        ),
    )?;
    let log = File::create(dir.join("dnsdist.log"))?;
    let child = lab
        .command(Role::Gateway, "taskset")
        .args([
            "-c",
            SERVER_CPU,
            "dnsdist",
            "--supervised",
            "--disable-syslog",
            "-C",
        ])
        .arg(&conf)
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("spawn dnsdist")?;
    Ok(Server {
        name: "dnsdist",
        target: SocketAddr::new(gw_ip(), DNSDIST_PORT),
        child: Some(child),
        og: None,
    })
}

fn og_policy(with_list: bool) -> String {
    let lists = if with_list {
        "[lists.big]\nfiles = [\"big.txt\"]\n\n[lists.extra]\nfiles = [\"extra.txt\"]\n\n"
    } else {
        "[lists.extra]\nfiles = [\"extra.txt\"]\n\n"
    };
    let refs = if with_list {
        "[\"big\", \"extra\"]"
    } else {
        "[\"extra\"]"
    };
    format!(
        "version = 1\ntime_zone = \"UTC\"\n\n{lists}[[groups]]\nname = \"all\"\n\n[[groups.rules]]\naction = \"block\"\nlists = {refs}\nmode = \"nxdomain\"\n\n[[pcs]]\nname = \"pc1\"\naddresses = [\"{}\", \"{}\"]\ngroup = \"all\"\n",
        addr::pc_v4(1),
        addr::pc_v6(1)
    )
}

pub(super) fn start_officegate(
    lab: &Lab,
    dir: &Path,
    bin: &Path,
    with_list: bool,
) -> anyhow::Result<Server> {
    // The daemon's files live in the lab dir; the list files beside its office.toml.
    std::fs::write(lab.dir().join("extra.txt"), "# one-line changes go here\n")?;
    if with_list {
        std::fs::copy(dir.join("big.txt"), lab.dir().join("big.txt"))?;
    }
    let wrapper = dir.join("officegate-pinned.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nTOKIO_WORKER_THREADS=1 exec taskset -c {SERVER_CPU} {} \"$@\"\n",
            bin.display()
        ),
    )?;
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&wrapper)
        .status()?;
    let config = format!(
        "{}rate_limit_qps = 0\ncache_entries = 200000\n",
        lab_config(&pin_dir_for(lab))
    );
    let og = Officegate::start(lab, &wrapper, &config, &og_policy(with_list))?;
    Ok(Server {
        name: "officegate",
        target: SocketAddr::new(gw_ip(), 53),
        child: None,
        og: Some(og),
    })
}
