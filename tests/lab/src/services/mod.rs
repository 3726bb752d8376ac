//! The internet's services, all run in the `inet` namespace as children of the lab's owner:
//! unbound as the upstream resolver, a second unbound as the DoT/DoH "bypass" resolver, nginx
//! for the web sites, one iperf3 server per PC. Owns their configs, spawning, readiness checks
//! and killing; nothing ever runs on the gateway.

mod nginx;
mod unbound;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{Lab, Role, addr};

/// How long services get to answer. They are normally ready in well under a second; the
/// margin is for a loaded 2-core CI machine.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A process the lab spawned, with the file its stdout/stderr go to.
pub struct Service {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

/// The lab's children. Killed by [`Procs::kill_all`] (from `Lab`'s `Drop`).
#[derive(Default)]
pub struct Procs {
    list: Vec<Service>,
}

impl Procs {
    fn spawn(&mut self, name: &str, mut cmd: Command, log: PathBuf) -> Result<()> {
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawn {name} ({})", crate::netns::describe(&cmd)))?;
        self.list.push(Service {
            name: name.to_string(),
            child,
            log,
        });
        Ok(())
    }

    /// (name, pid) of every child, for the persisted state.
    pub fn records(&self) -> Vec<(String, u32)> {
        self.list
            .iter()
            .map(|s| (s.name.clone(), s.child.id()))
            .collect()
    }

    /// SIGKILL and reap. None of these services keeps state worth a graceful stop, and
    /// SIGKILL makes teardown fast and certain.
    pub fn kill_all(&mut self) {
        for s in &mut self.list {
            let _ = s.child.kill();
        }
        for mut s in self.list.drain(..) {
            let _ = s.child.wait();
        }
    }

    /// Lets the children outlive this process (persisted lab).
    pub fn forget(&mut self) {
        self.list.clear();
    }
}

/// Writes configs, starts every service, and waits until each answers.
pub fn start(lab: &mut Lab) -> Result<()> {
    let dir = lab.dir.clone();
    let inet = |program: &str| lab.command(Role::Internet, program);

    let mut spawns: Vec<(&str, Command, PathBuf)> = Vec::new();
    for kind in [unbound::Kind::Resolver, unbound::Kind::Bypass] {
        let conf = unbound::write_config(&dir, kind)?;
        let mut cmd = inet("unbound");
        cmd.arg("-d").arg("-c").arg(&conf);
        spawns.push((kind.name(), cmd, dir.join(format!("{}.log", kind.name()))));
    }
    let conf = nginx::write_config(&dir)?;
    let mut cmd = inet("nginx");
    // -e: the built-in error log path is opened before the config is read.
    cmd.arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .args(["-e", "stderr"]);
    spawns.push(("nginx", cmd, dir.join("nginx.log")));
    let mut iperf_names = Vec::new();
    for i in 1..=lab.pcs {
        let port = addr::iperf_port(i);
        let mut cmd = inet("iperf3");
        // No -B: one dual-stack listener serves both 203.0.113.5 and 2001:db8:113::5.
        cmd.args(["-s", "-p", &port.to_string(), "--forceflush"]);
        iperf_names.push((
            format!("iperf3-{port}"),
            cmd,
            dir.join(format!("iperf3-{port}.log")),
        ));
    }
    for (name, cmd, log) in spawns {
        lab.procs.spawn(name, cmd, log)?;
    }
    for (name, cmd, log) in iperf_names {
        lab.procs.spawn(&name, cmd, log)?;
    }
    wait_ready(lab)
}

/// Polls every service's probe until all pass; fails fast if one exits, naming it and its log.
fn wait_ready(lab: &mut Lab) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut pending: Vec<usize> = (0..lab.procs.list.len()).collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for idx in pending {
            let svc = &mut lab.procs.list[idx];
            if let Some(status) = svc.child.try_wait()? {
                bail!(
                    "{} exited ({status}) during start-up; log {}:\n{}",
                    svc.name,
                    svc.log.display(),
                    log_tail(&svc.log)
                );
            }
            let (name, pid) = (svc.name.clone(), svc.child.id());
            if !probe(lab, &name, pid) {
                still.push(idx);
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let svc = &lab.procs.list[pending[0]];
            bail!(
                "{} did not answer within {READY_TIMEOUT:?}; log {}:\n{}",
                svc.name,
                svc.log.display(),
                log_tail(&svc.log)
            );
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    Ok(())
}

/// One readiness check: a real query/request where cheap, a listening socket otherwise.
fn probe(lab: &Lab, name: &str, pid: u32) -> bool {
    match name {
        // The bypass instance opens its 853/443 listeners before it serves port 53, so an
        // answer on 53 means DoT and DoH are up too.
        n if n == unbound::Kind::Resolver.name() => dig_ok(lab, addr::RESOLVER_V4),
        n if n == unbound::Kind::Bypass.name() => dig_ok(lab, addr::DOH_V4),
        "nginx" => {
            let url = format!("http://{}{}", addr::SITE_NEWS_V4, addr::HEALTH_PATH);
            output_of(lab.command(Role::Internet, "curl").args([
                "-s",
                "-m",
                "1",
                "--noproxy",
                "*",
                &url,
            ]))
            .is_some_and(|o| o == "ok")
        }
        n => n
            .strip_prefix("iperf3-")
            .and_then(|p| p.parse::<u16>().ok())
            .is_some_and(|port| listening(pid, port)),
    }
}

fn dig_ok(lab: &Lab, server: std::net::Ipv4Addr) -> bool {
    output_of(lab.command(Role::Internet, "dig").args([
        "+short",
        "+time=1",
        "+tries=1",
        &format!("@{server}"),
        "lab-probe.example",
        "A",
    ]))
    .is_some_and(|o| o.trim() == addr::CATCH_ALL_V4.to_string())
}

fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether any TCP socket in `pid`'s network namespace listens on `port`
/// (/proc/<pid>/net shows the namespace of that process, no spawn needed).
fn listening(pid: u32, port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["tcp", "tcp6"].iter().any(|t| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).is_ok_and(|s| {
            s.lines().skip(1).any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[1].ends_with(&want) && f[3] == "0A"
            })
        })
    })
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
