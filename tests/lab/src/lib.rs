//! The office lab: PCs on a switch, the gateway, two ISPs and a small internet with DNS, web,
//! DoT/DoH and iperf3 servers, each in its own network namespace. Tests, benchmarks and the
//! demo all use this one implementation.
//!
//! ```text
//!  pc1..pcN ─ switch(br0) ─ lan0 [gw] wan0 ─ isp1 ─┐
//!                                      wan1 ─ isp2 ─┴─ inet (lo: 203.0.113.0/24 services)
//! ```
//!
//! Every run gets a unique prefix `og-<pid>-<counter>`, so labs in parallel tests or two
//! processes never collide. [`Lab`] is an RAII guard: dropping it (also while unwinding from a
//! panic) kills its processes and deletes its namespaces, /etc/netns files and temp dir.
//! Leftovers of a SIGKILLed owner are swept by the next [`Lab::up`]. The gateway namespace is
//! left bare except for forwarding and NAT: the Officegate daemon is started there by callers,
//! through [`Lab::command`].
//!
//! Layout:
//! - [`addr`]: every address, name and interface of the plan.
//! - `netns`: namespace create/delete/enter, process lookup, command running.
//! - `names`: prefixes, role names, sweeping dead owners' leftovers.
//! - `topology`: links, addresses, routes, sysctls, NAT, resolv.conf.
//! - `tls`: the lab CA and server certificate (openssl CLI).
//! - `services`: unbound, nginx, iperf3 — configs, spawning, readiness.
//! - `persist`: `cargo xtask lab up/down/status`.
//! - `stats`: interface counters.
//! - [`officegate`]: starting the Officegate daemon in the gateway namespace.
//! - [`wan`]: failover faults on the ISPs, the connection prober, the lab's `[wan]` section.
//!
//! Needs root and the Debian packages iproute2, procps (sysctl), ethtool, nftables, unbound,
//! nginx-light (any nginx with ssl), iperf3, openssl, dnsutils (dig) and curl; the smoke example
//! also uses iputils-ping and knot-dnsutils (kdig).

pub mod addr;
mod names;
pub mod netns;
pub mod officegate;
mod persist;
mod services;
mod stats;
mod tls;
mod topology;
pub mod wan;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

pub use stats::{LinkStats, link_stats};

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabConfig {
    /// Number of PCs on the switch (1..=200). Default 3.
    pub pcs: usize,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig { pcs: 3 }
    }
}

/// A machine of the lab; each is one network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Switch,
    Gateway,
    /// 1-based PC index.
    Pc(usize),
    IspPrimary,
    IspBackup,
    Internet,
}

impl Role {
    /// Short name used as the namespace suffix (`sw`, `gw`, `pc1`, `isp1`, `isp2`, `inet`).
    pub fn short(self) -> String {
        match self {
            Role::Switch => "sw".into(),
            Role::Gateway => "gw".into(),
            Role::Pc(i) => format!("pc{i}"),
            Role::IspPrimary => "isp1".into(),
            Role::IspBackup => "isp2".into(),
            Role::Internet => "inet".into(),
        }
    }
}

/// A running lab. Dropping it tears everything down unless [`Lab::persist`] was called.
pub struct Lab {
    prefix: String,
    pcs: usize,
    /// `None` once persisted (the directory is then kept).
    tempdir: Option<tempfile::TempDir>,
    dir: PathBuf,
    /// Namespaces created so far, so a half-built lab is cleaned up too.
    namespaces: Vec<String>,
    /// `/etc/netns/<ns>` directories created so far.
    etc_dirs: Vec<PathBuf>,
    procs: services::Procs,
    persisted: bool,
}

impl Lab {
    /// Builds the lab and returns once every service answers. Sweeps leftovers of dead owners
    /// first. Needs root.
    pub fn up(cfg: LabConfig) -> Result<Lab> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            bail!("the office lab needs root (network namespaces, veths, nftables)");
        }
        if !(1..=addr::MAX_PCS).contains(&cfg.pcs) {
            bail!("LabConfig.pcs = {} out of 1..={}", cfg.pcs, addr::MAX_PCS);
        }
        names::sweep_dead_owners();
        let prefix = names::allocate_prefix();
        let tempdir = tempfile::Builder::new()
            .prefix(&format!("{}{prefix}-", names::TEMP_DIR_PREFIX))
            .tempdir()
            .context("create the lab temp dir")?;
        let mut lab = Lab {
            dir: tempdir.path().to_path_buf(),
            tempdir: Some(tempdir),
            prefix,
            pcs: cfg.pcs,
            namespaces: Vec::new(),
            etc_dirs: Vec::new(),
            procs: services::Procs::default(),
            persisted: false,
        };
        // On any error below, dropping `lab` removes whatever was built.
        topology::build(&mut lab).with_context(|| format!("lab {}: topology", lab.prefix))?;
        tls::generate(&lab.dir).with_context(|| format!("lab {}: TLS", lab.prefix))?;
        if let Err(e) = services::start(&mut lab) {
            // Keep the configs and logs the error points at. The next `Lab::up` after this
            // process has exited sweeps the directory.
            if let Some(t) = lab.tempdir.take() {
                let _ = t.keep();
            }
            return Err(e.context(format!(
                "lab {}: services (lab dir kept for inspection: {})",
                lab.prefix,
                lab.dir.display()
            )));
        }
        Ok(lab)
    }

    /// The unique prefix of this lab's namespaces, `og-<pid>-<counter>`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Number of PCs.
    pub fn pcs(&self) -> usize {
        self.pcs
    }

    /// Every role of this lab, switch first, PCs in order.
    pub fn roles(&self) -> Vec<Role> {
        let mut roles = vec![Role::Switch, Role::Gateway];
        roles.extend((1..=self.pcs).map(Role::Pc));
        roles.extend([Role::IspPrimary, Role::IspBackup, Role::Internet]);
        roles
    }

    /// Namespace name of `role`, e.g. `og-4242-0-pc1`.
    pub fn ns(&self, role: Role) -> String {
        if let Role::Pc(i) = role {
            let prefix = &self.prefix;
            assert!((1..=self.pcs).contains(&i), "lab {prefix} has no PC {i}");
        }
        names::ns_name(&self.prefix, role)
    }

    /// `/run/netns/<name>` of `role`'s namespace (for setns or aya's netns helpers).
    pub fn netns_path(&self, role: Role) -> PathBuf {
        netns::path(&self.ns(role))
    }

    /// Runs `args` to completion via `ip netns exec` (so `/etc/netns/<ns>/resolv.conf` applies)
    /// and returns its output whatever the exit status; errors only if it cannot be spawned.
    pub fn exec(&self, role: Role, args: &[&str]) -> Result<Output> {
        let mut cmd = netns::exec_command(&self.ns(role), args)?;
        cmd.stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("spawn {}", netns::describe(&cmd)))
    }

    /// Like [`Lab::exec`] but an error (with stdout and stderr) unless it exits 0; returns stdout.
    pub fn sh(&self, role: Role, args: &[&str]) -> Result<String> {
        let mut cmd = netns::exec_command(&self.ns(role), args)?;
        netns::run(&mut cmd).with_context(|| format!("in {}", self.ns(role)))
    }

    /// A `Command` entering only `role`'s network namespace (setns in `pre_exec`) and keeping
    /// the caller's mount namespace: the Officegate daemon needs it, because `ip netns exec`
    /// remounts /sys and hides the host's /sys/fs/bpf where its maps are pinned. It sees the
    /// host's /etc/resolv.conf, not the lab's.
    pub fn command(&self, role: Role, program: impl AsRef<OsStr>) -> Command {
        netns::command(&self.netns_path(role), program)
    }

    /// MAC of PC `i` (1-based); same as [`addr::pc_mac`].
    pub fn pc_mac(&self, i: usize) -> [u8; 6] {
        addr::pc_mac(i)
    }

    /// PEM of the lab CA that signed every lab server certificate (`curl --cacert`).
    pub fn ca_cert(&self) -> PathBuf {
        tls::ca_cert(&self.dir)
    }

    /// The lab's directory: configs, logs (`<service>.log`), certificates, web files.
    /// nginx's document root: files put here are served by every lab site.
    pub fn web_root(&self) -> PathBuf {
        self.dir.join("www")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Leaves namespaces and services running after this value is gone (for
    /// `cargo xtask lab up`); records them in `/run/officegate-lab/<prefix>.json` for
    /// [`Lab::down`]. Returns that file's path.
    pub fn persist(mut self) -> Result<PathBuf> {
        let path = persist::save(&self)?;
        self.persisted = true;
        if let Some(t) = self.tempdir.take() {
            let _ = t.keep();
        }
        self.procs.forget();
        Ok(path)
    }

    /// Tears down a persisted lab (or any leftover namespaces) by prefix.
    pub fn down(prefix: &str) -> Result<()> {
        persist::down(prefix)
    }

    /// Prefixes of the persisted labs.
    pub fn persisted() -> Result<Vec<String>> {
        persist::list()
    }

    /// Human-readable list of persisted labs and live `og-` namespaces.
    pub fn status() -> Result<String> {
        persist::status()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.persisted {
            return;
        }
        // Services first (gracefully), then anything else a test left in our namespaces
        // (a daemon, a stray ping), so deleting the namespaces really frees them.
        self.procs.kill_all();
        names::remove_lab(&self.namespaces, &self.etc_dirs);
        // `tempdir` removes itself when the fields drop.
    }
}

#[cfg(test)]
mod tests {
    /// Tests share a lab across threads (e.g. in a `OnceLock`) or move it into one.
    #[test]
    fn lab_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Lab>();
    }
}
