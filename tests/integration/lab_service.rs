//! The daemon as a systemd service (`gateway/dist/officegate.service`): the unit passes
//! `systemd-analyze verify`; started with `$NOTIFY_SOCKET` (as `Type=notify` starts it) it
//! says `READY=1` only once the datapath is attached and its DNS answers, feeds the
//! watchdog every second, and says `STOPPING=1` on SIGTERM; `--log-format json` logs one
//! JSON object per line (journald, log shippers); `officegate init` writes settings the
//! daemon runs with as they are.

use std::{
    os::unix::net::UnixDatagram,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use officegate_lab::{
    Lab, LabConfig, Role, addr,
    officegate::{lab_config, pin_dir_for},
};

use crate::support::{dns::short, office::BIN, pins::PinDir};

const UNIT: &str = include_str!("../../gateway/dist/officegate.service");

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    // `verify` checks that ExecStart's program exists: this build's.
    let unit = dir.path().join("officegate.service");
    std::fs::write(&unit, UNIT.replace("/usr/bin/officegate", BIN)).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    for needed in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=always",
        "ExecReload=",
    ] {
        assert!(UNIT.contains(needed), "{needed}");
    }
}

/// Kills the daemon on drop, even on a panic.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn started_as_a_service_it_says_ready_only_when_filtering_and_feeds_the_watchdog() {
    let lab = Lab::up(LabConfig { pcs: 1 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let config = lab.dir().join("officegate.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[storage]\ndir = \"{}\"\n",
            lab_config(&pins.0),
            lab.dir().join("state").display()
        ),
    )
    .unwrap();
    std::fs::write(
        lab.dir().join("office.toml"),
        "version = 1\ntime_zone = \"UTC\"\n",
    )
    .unwrap();
    let socket_path = lab.dir().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let log_path = lab.dir().join("service.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut daemon = Daemon(
        lab.command(Role::Gateway, BIN)
            .args(["--log-format", "json", "run", "--config"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &socket_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn officegate"),
    );
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let next = || {
        let mut buf = [0u8; 4096];
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification: {e}\n{}", log_text()));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    assert!(ready.contains("READY=1"), "{ready}\n{}", log_text());
    // Ready means working: the programs are attached and the DNS filter answers.
    let link = lab
        .sh(Role::Gateway, &["ip", "-j", "link", "show", addr::LAN_IF])
        .unwrap();
    assert!(link.contains("\"xdp\""), "{link}");
    assert_eq!(
        short(&lab, 1, "news.example", "A"),
        addr::SITE_NEWS_V4.to_string()
    );
    // The watchdog is fed from the loop, every second.
    let started = Instant::now();
    let mut fed = 0;
    while fed < 2 {
        if next().contains("WATCHDOG=1") {
            fed += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "watchdog not fed"
        );
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut stopping = false;
    while !stopping {
        stopping = next().contains("STOPPING=1");
    }
    assert!(daemon.0.wait().unwrap().success(), "{}", log_text());
    // Every log line is one JSON object with a level and a message.
    let text = log_text();
    assert!(text.lines().count() > 3, "{text}");
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
}

/// `dpkg` on the fresh root `root` (its own database; maintainer scripts run outside a
/// chroot with `DPKG_ROOT` set, so they touch only that root).
fn dpkg(root: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("dpkg")
        .arg(format!("--instdir={}", root.display()))
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["--force-script-chrootless", "--force-depends"])
        .args(args)
        .output()
        .expect("dpkg")
}

/// The package (`cargo xtask package`, built by `cargo xtask test`) installed into a fresh
/// root, as on a new box: its binary's `officegate init`, run on the lab's gateway,
/// proposes lan0 as the LAN and wan0 (the default route) as the internet channel and
/// writes settings the daemon — the packaged binary — runs with as they are; its starter
/// policy filters (an ad domain gets the block page), the PC is counted, the admin UI
/// answers. A second `init` keeps the files it finds. Removing the package takes its
/// files and keeps the data; purging takes the data too.
#[test]
fn the_package_installs_into_a_fresh_root_and_its_binary_runs_the_office() {
    let deb = std::env::var("OG_DEB")
        .expect("OG_DEB: the package to install (`cargo xtask test` builds it and sets this)");
    let root = tempfile::tempdir().unwrap();
    let admin = root.path().join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    std::fs::create_dir_all(admin.join("updates")).unwrap();
    std::fs::write(admin.join("status"), "").unwrap();
    let out = dpkg(root.path(), &["-i", &deb]);
    assert!(
        out.status.success(),
        "dpkg -i: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = root.path().join("usr/bin/officegate");
    for installed in [
        "usr/bin/officegate",
        "lib/systemd/system/officegate.service",
        "usr/lib/sysctl.d/99-officegate.conf",
        "usr/share/doc/officegate/examples/office.toml",
        "usr/share/man/man8/officegate.8.gz",
        "usr/share/man/man8/officegate-run.8.gz",
        "usr/share/man/man8/officegate-init.8.gz",
        "var/lib/officegate",
        "etc/officegate",
    ] {
        assert!(root.path().join(installed).exists(), "{installed}");
    }
    // The manual page has the sections of one, not only the options.
    let page = std::process::Command::new("zcat")
        .arg(root.path().join("usr/share/man/man8/officegate.8.gz"))
        .output()
        .expect("zcat");
    let page = String::from_utf8_lossy(&page.stdout);
    for section in ["FILES", "SIGNALS", "EXIT STATUS", "EXAMPLES", "SUBCOMMANDS"] {
        assert!(
            page.contains(&format!(".SH {section}"))
                || page.contains(&format!(".SH \"{section}\"")),
            "{section}: {page}"
        );
    }

    let lab = Lab::up(LabConfig { pcs: 1 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let dir = root.path().join("etc/officegate");
    let state = lab.dir().join("state");
    let resolver = addr::RESOLVER_V4.to_string();
    let init = || {
        lab.command(Role::Gateway, &bin)
            .args([
                "init",
                "--yes",
                "--time-zone",
                "UTC",
                "--upstream",
                &resolver,
            ])
            .arg("--dir")
            .arg(&dir)
            .arg("--state-dir")
            .arg(&state)
            .arg("--pin-dir")
            .arg(&pins.0)
            .output()
            .expect("officegate init")
    };
    let out = init();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |name: &str| {
        said.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} in\n{said}"))
            .to_string()
    };
    assert!(line("lan0").contains("LAN"), "{said}");
    assert!(
        line("wan0").contains(&format!("internet channel 1 via {}", addr::ISP1_DOWN_V4)),
        "{said}"
    );
    assert!(line("wan1").contains("not used"), "{said}");
    let again = init();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    // On a terminal (a pty, from `script`), init asks: the LAN kept with Enter, both
    // channels named (failover; wan0's next hop from its route), a time zone it does not
    // know asked again, then "y".
    let asked_dir = root.path().join("etc/asked");
    let cmd = format!(
        "{} init --upstream {resolver} --dir {} --state-dir {} --pin-dir {}",
        bin.display(),
        asked_dir.display(),
        state.display(),
        pins.0.display()
    );
    let mut asked = lab
        .command(Role::Gateway, "script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    let answers = format!(
        "\nwan0 wan1={}\nNowhere/Atlantis\nUTC\ny\n",
        addr::ISP2_DOWN_V4
    );
    std::io::Write::write_all(&mut asked.stdin.take().unwrap(), answers.as_bytes()).unwrap();
    let asked = asked.wait_with_output().expect("init on a terminal");
    let said = String::from_utf8_lossy(&asked.stdout).into_owned();
    assert!(asked.status.success(), "{said}");
    for question in [
        "LAN interface",
        "Internet channels",
        "Time zone",
        "Write them?",
    ] {
        assert!(said.contains(question), "{question} in\n{said}");
    }
    assert!(
        said.contains("`Nowhere/Atlantis` is not a time zone"),
        "{said}"
    );
    let settings = std::fs::read_to_string(asked_dir.join("officegate.toml")).unwrap();
    assert!(settings.contains("lan_interface = \"lan0\""), "{settings}");
    assert!(settings.contains("interface = \"wan1\""), "{settings}");
    assert!(
        settings.contains(&format!("gateway = \"{}\"", addr::ISP1_DOWN_V4)),
        "{settings}"
    );
    assert!(
        settings.contains(&addr::ISP2_DOWN_V4.to_string()),
        "{settings}"
    );
    let starter = std::fs::read_to_string(asked_dir.join("office.toml")).unwrap();
    assert!(starter.contains("time_zone = \"UTC\""), "{starter}");
    // The packaged daemon on exactly these files (the lists beside the policy).
    let config = std::fs::read_to_string(dir.join("officegate.toml")).unwrap();
    let policy = std::fs::read_to_string(dir.join("office.toml")).unwrap();
    std::fs::create_dir_all(lab.dir().join("lists")).unwrap();
    for list in ["ads.txt", "bypass.txt"] {
        std::fs::copy(
            dir.join("lists").join(list),
            lab.dir().join("lists").join(list),
        )
        .unwrap();
    }
    let og = officegate_lab::officegate::Officegate::start(&lab, &bin, &config, &policy)
        .expect("the packaged officegate starts");
    assert_eq!(
        short(&lab, 1, "doubleclick.net", "A"),
        addr::GW_LAN_V4.to_string(),
        "the starter policy blocks ads: {}",
        og.log_text()
    );
    assert_eq!(
        short(&lab, 1, "news.example", "A"),
        addr::SITE_NEWS_V4.to_string()
    );
    let ui = format!("http://{}:8080/", addr::GW_LAN_V4);
    let code = lab
        .sh(
            Role::Pc(1),
            &[
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-m",
                "5",
                &ui,
            ],
        )
        .unwrap();
    assert_eq!(code.trim(), "200", "the admin UI answers");
    let pcs = og.tool(&["pcs", "--json"]).unwrap();
    let mac = addr::mac_string(addr::pc_mac(1));
    let pc1 = pcs
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["mac"] == mac.as_str())
        .unwrap_or_else(|| panic!("{mac} in {pcs}"));
    assert!(pc1["up_packets"].as_u64().unwrap() > 0, "{pc1}");
    drop(og);

    // Removed: the files go, the data stays; purged: the data goes too.
    let out = dpkg(root.path(), &["-r", "officegate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!bin.exists());
    assert!(dir.join("office.toml").exists(), "kept on remove");
    let out = dpkg(root.path(), &["-P", "officegate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.exists() && !root.path().join("var/lib/officegate").exists());
}
