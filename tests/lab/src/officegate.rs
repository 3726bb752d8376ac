//! Running the Officegate daemon in the lab's gateway namespace: the one way tests, the
//! demo and the benchmarks start it. The lab crate does not depend on the daemon's
//! crate; callers pass the path of the `officegate` binary they built.

use std::{
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{Lab, Role, addr};

/// The office the tests and the demo share (policy groups, `office.toml` format): pc1 is
/// staff (social.example blocked: its addresses in the datapath, its name at DNS with the
/// block page's address), pc2 in the default group (nothing blocked), pc3 a guest
/// (video.example's addresses exactly, v4 and v6, the shared site's v6 address by a /127;
/// the name video.example answered NXDOMAIN).
pub const EXAMPLE_GROUPS: &str = r#"
[[groups]]
name = "staff"

[[groups.rules]]
action = "block"
addresses = ["203.0.113.12", "2001:db8:113::12"]

[[groups.rules]]
action = "block"
domains = ["social.example"]

[[groups]]
name = "guests"

[[groups.rules]]
action = "block"
addresses = ["203.0.113.11/32", "198.51.100.0/24", "2001:db8:113::11", "2001:db8:113::20/127"]

[[groups.rules]]
action = "block"
domains = ["video.example"]
mode = "nxdomain"
"#;

/// Which PC is in which of `EXAMPLE_GROUPS`.
pub const EXAMPLE_PC_GROUPS: &[(usize, &str)] = &[(1, "staff"), (3, "guests")];

/// The log line the daemon prints once its programs are attached and its services and
/// signal handlers are in place.
const READY: &str = "officegate ready";

pub struct Officegate {
    child: Option<Child>,
    bin: PathBuf,
    config: PathBuf,
    log: PathBuf,
    gateway_ns: PathBuf,
    pin_dir: PathBuf,
    args: Vec<String>,
}

/// The daemon's settings for the lab: the LAN interface, a pin directory of this lab's
/// own (so two labs never share counters), and the DNS filter forwarding to the lab
/// internet's resolver.
pub fn lab_config(pin_dir: &Path) -> String {
    // The hooks a gateway without native XDP or without TCX uses, forced for a whole test
    // run (`cargo xtask test` runs the datapath tests once more this way).
    let xdp_mode = std::env::var(XDP_MODE_ENV).unwrap_or_else(|_| "native".into());
    let tc_hook = std::env::var(TC_HOOK_ENV).unwrap_or_else(|_| "auto".into());
    format!(
        "version = 1\n\n[datapath]\nlan_interface = \"{}\"\nxdp_mode = \"{xdp_mode}\"\ntc_hook = \"{tc_hook}\"\npin_dir = \"{}\"\n\n[dns]\nupstreams = [\"{}\"]\n",
        addr::LAN_IF,
        pin_dir.display(),
        addr::RESOLVER_V4
    )
}

/// Environment variables that force `[datapath] xdp_mode` and `tc_hook` in `lab_config`.
pub const XDP_MODE_ENV: &str = "OG_LAB_XDP_MODE";
pub const TC_HOOK_ENV: &str = "OG_LAB_TC_HOOK";

/// A policy (`office.toml`) for the lab: the `groups` TOML as given, and PCs 1..=n named
/// pcN with both their addresses, placed in groups by `pc_groups` (PC number, group name).
pub fn lab_policy(lab: &Lab, groups: &str, pc_groups: &[(usize, &str)]) -> String {
    let mut s = format!("version = 1\ntime_zone = \"UTC\"\n{groups}\n");
    for i in 1..=lab.pcs() {
        s.push_str(&format!(
            "[[pcs]]\nname = \"pc{i}\"\naddresses = [\"{}\", \"{}\"]\n",
            addr::pc_v4(i),
            addr::pc_v6(i)
        ));
        if let Some((_, g)) = pc_groups.iter().find(|(n, _)| *n == i) {
            s.push_str(&format!("group = \"{g}\"\n"));
        }
        s.push('\n');
    }
    s
}

pub const BPFFS: &str = "/sys/fs/bpf";
/// A lab's daemon pins its maps in `<BPFFS>/<PIN_DIR_PREFIX><lab prefix>`.
pub const PIN_DIR_PREFIX: &str = "officegate-";

/// The pin directory a lab's daemon uses.
pub fn pin_dir_for(lab: &Lab) -> PathBuf {
    pin_dir_for_prefix(lab.prefix())
}

pub fn pin_dir_for_prefix(prefix: &str) -> PathBuf {
    Path::new(BPFFS).join(format!("{PIN_DIR_PREFIX}{prefix}"))
}

impl Officegate {
    /// Writes `config` (officegate.toml) and `policy` (office.toml) into the lab directory
    /// and starts `bin run` in the gateway namespace; returns once the datapath is
    /// attached (or fails with the daemon's log).
    pub fn start(lab: &Lab, bin: &Path, config: &str, policy: &str) -> Result<Self> {
        Self::start_with(lab, bin, config, policy, &[])
    }

    /// `start`, with extra arguments for `officegate run` (e.g. `--clock-start`).
    pub fn start_with(
        lab: &Lab,
        bin: &Path,
        config: &str,
        policy: &str,
        args: &[&str],
    ) -> Result<Self> {
        let path = lab.dir().join("officegate.toml");
        // Each lab's daemon keeps its database in the lab's directory, never the host's
        // /var/lib/officegate.
        let config = if config.contains("[storage]") {
            config.to_string()
        } else {
            format!(
                "{config}\n[storage]\ndir = \"{}\"\n",
                lab.dir().join("state").display()
            )
        };
        let config = config.as_str();
        std::fs::write(&path, config).with_context(|| format!("write {}", path.display()))?;
        let policy_path = lab.dir().join("office.toml");
        std::fs::write(&policy_path, policy)
            .with_context(|| format!("write {}", policy_path.display()))?;
        let pin_dir = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("pin_dir = "))
            .map(|v| PathBuf::from(v.trim_matches('"')))
            .unwrap_or_else(|| PathBuf::from("/sys/fs/bpf/officegate"));
        let mut og = Officegate {
            child: None,
            bin: bin.to_path_buf(),
            config: path,
            log: lab.dir().join("officegate.log"),
            gateway_ns: lab.netns_path(Role::Gateway),
            pin_dir,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        og.restart()?;
        Ok(og)
    }

    /// Starts the daemon again (after `stop`), with the same configuration.
    pub fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("officegate is already running");
        }
        let log = std::fs::File::create(&self.log)?;
        let child = crate::netns::command(&self.gateway_ns, &self.bin)
            .args(["run", "--config"])
            .arg(&self.config)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", self.bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains(READY) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                bail!("officegate exited ({status}) before attaching:\n{text}");
            }
            if Instant::now() > deadline {
                bail!("officegate did not attach within 20 s:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL and wait: a crash, for tests of what survives one (`restart` after).
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait; fails if the daemon does not exit cleanly.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let status = child.wait()?;
        if !status.success() {
            bail!("officegate exited with {status}:\n{}", self.log_text());
        }
        Ok(())
    }

    /// `officegate detach` in the gateway's namespace (its nftables tables are there): the
    /// programs a stopped daemon leaves attached come off.
    pub fn detach(&self) -> Result<String> {
        let out = crate::netns::command(&self.gateway_ns, &self.bin)
            .arg("detach")
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .output()?;
        if !out.status.success() {
            bail!(
                "officegate detach: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The daemon's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The policy file beside the configuration.
    pub fn policy_path(&self) -> PathBuf {
        self.config.with_file_name("office.toml")
    }

    /// Tells the daemon to reload its policy (SIGHUP).
    pub fn reload(&self) -> Result<()> {
        let Some(child) = &self.child else {
            bail!("officegate is not running")
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP)?;
        Ok(())
    }

    /// Asks for manual failback (SIGUSR1).
    pub fn failback(&self) -> Result<()> {
        let Some(child) = &self.child else {
            bail!("officegate is not running")
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1)?;
        Ok(())
    }

    /// `officegate wan status --json` for this daemon: its status and recent events.
    pub fn wan_status(&self, events: usize) -> Result<serde_json::Value> {
        let out = std::process::Command::new(&self.bin)
            .args([
                "wan",
                "status",
                "--json",
                "--events",
                &events.to_string(),
                "--config",
            ])
            .arg(&self.config)
            .output()?;
        if !out.status.success() {
            bail!(
                "officegate wan status: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// Runs an `officegate` tool command (pcs, drops, pc-state) against this daemon's
    /// pinned maps; returns stdout.
    pub fn tool(&self, args: &[&str]) -> Result<String> {
        let out = std::process::Command::new(&self.bin)
            .args(args)
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .output()?;
        if !out.status.success() {
            bail!(
                "officegate {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Officegate {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
