//! `soak`: the office lab under everything at once for `--minutes N` (default 10), every
//! packet between the lab's own namespaces, every loop bounded by the deadline:
//!
//! - DNS from pc1 and pc2 at `--qps` (default 50,000) in all: allowed, blocked and
//!   unique names (each unique name a cache miss, asked of the lab resolver);
//! - iperf3 from pc3 through the gateway, and new UDP flows from pc3 at 5,000 a second;
//! - pc4 hostile: random IPv6 sources, 1,100 half-open connections, the block page's form
//!   and the login flooded;
//! - the primary WAN failing every 2 minutes and healing a minute later;
//! - the policy edited through the API every 10 s, broken by hand and fixed every minute;
//! - the daemon killed with SIGKILL and started again at a third and two thirds.
//!
//! One `RESULT soak` line: queries sent / answered / SERVFAIL, query-log rows (their
//! counts) against answered queries, per-PC bytes in the store against the datapath's
//! counters, RSS and open descriptors at start / middle / end, the database's growth per
//! hour, admin logins tried and answered 200, WAN cycles, kills, policy edits.
//! There is no peer: the goals are the (all legitimate queries answered, bytes
//! and log rows lost only in the second before a kill, RSS flat, logins working).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use officegate_lab::{
    Lab, LabConfig, Role, addr,
    officegate::{
        EXAMPLE_GROUPS, EXAMPLE_PC_GROUPS, Officegate, lab_config, lab_policy, pin_dir_for,
    },
    wan::{Fault, lab_wan_section},
};

use crate::dns::{blast::blast, names::wire};

mod load;
mod memory;

use load::{FLOWS, FORMS, HOSTILE, Kids, python};
use memory::{Memory, footprint, memory_by_run};

const TOKEN: &str = "soak-token-0123456789abcdef0123";
const ADMIN: (&str, &str) = ("soaker", "a soak admin password 42");

/// The pin directory, removed when the soak ends.
struct Pins(PathBuf);
impl Drop for Pins {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `curl` from pc2 to the API; the HTTP status (0: none).
fn api(lab: &Lab, method: &str, path: &str, body: Option<&str>, auth: bool) -> u16 {
    let url = format!("http://{}:8080{path}", addr::GW_LAN_V4);
    let header = format!("Authorization: Bearer {TOKEN}");
    let mut args = vec![
        "curl",
        "-s",
        "-m",
        "10",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        method,
    ];
    if auth {
        args.extend(["-H", &header]);
    }
    if let Some(b) = body {
        args.extend(["-H", "Content-Type: application/json", "--data", b]);
    }
    args.push(&url);
    lab.sh(Role::Pc(2), &args)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// `officegate user add` with the password on stdin.
fn add_admin(bin: &Path, config: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut c = Command::new(bin)
        .args([
            "user",
            "add",
            ADMIN.0,
            "--role",
            "admin",
            "--password-stdin",
            "--config",
        ])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    c.stdin
        .take()
        .context("stdin")?
        .write_all(ADMIN.1.as_bytes())?;
    anyhow::ensure!(c.wait()?.success(), "officegate user add failed");
    Ok(())
}

/// Bytes per PC: from the store (`pc_minute`, up + down) and from the datapath.
fn bytes_per_pc(
    og: &Officegate,
    db: &Path,
    policy_dir: &Path,
) -> anyhow::Result<Vec<(String, u64, u64)>> {
    let conn = rusqlite::Connection::open(db)?;
    let mut stmt =
        conn.prepare("SELECT pc, sum(up_bytes + down_bytes) FROM pc_minute GROUP BY pc")?;
    let stored: std::collections::HashMap<String, u64> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .filter_map(Result::ok)
        .collect();
    let mut out = Vec::new();
    let policy_dir = policy_dir.display().to_string();
    for line in og
        .tool(&["pcs", "--json", "--policy", &policy_dir])?
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let Some(pc) = v["pc"].as_str().filter(|p| *p != "-") else {
            continue;
        };
        let live = v["up_bytes"].as_u64().unwrap_or(0) + v["down_bytes"].as_u64().unwrap_or(0);
        out.push((pc.to_string(), stored.get(pc).copied().unwrap_or(0), live));
    }
    Ok(out)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let minutes: f64 = crate::flag(args, "--minutes", 10.0)?;
    let qps: f64 = crate::flag(args, "--qps", 50_000.0)?;
    let bin = PathBuf::from(
        std::env::var("OFFICEGATE_BIN").context("OFFICEGATE_BIN (set by cargo xtask soak)")?,
    );
    let total = Duration::from_secs_f64(minutes * 60.0);
    let lab = Lab::up(LabConfig { pcs: 4 })?;
    let pins = Pins(pin_dir_for(&lab));
    let config = format!(
        "{}rate_limit_qps = 0\n{}\n[api]\nlisten = [\"{}:8080\"]\ntoken = \"{TOKEN}\"\n",
        lab_config(&pins.0),
        lab_wan_section("hold_down_s = 3\nup_after = 10"),
        addr::GW_LAN_V4
    );
    let policy = lab_policy(&lab, EXAMPLE_GROUPS, EXAMPLE_PC_GROUPS);
    let mut og = Officegate::start(&lab, &bin, &config, &policy)?;
    add_admin(&bin, og.config_path())?;
    let db = lab.dir().join("state/officegate.db");
    let db_size = || std::fs::metadata(&db).map_or(0, |m| m.len());
    let (rss0, fds0) = footprint(og.pid());
    let db0 = db_size();
    let start = Instant::now();
    let left = || total.saturating_sub(start.elapsed()).as_secs_f64();
    let secs = format!("{}", total.as_secs_f64());

    // Background load: iperf3, new flows, the hostile PC, the form and login flood.
    let mut kids = Kids(Vec::new());
    kids.0.push(
        lab.command(Role::Pc(3), "iperf3")
            .args([
                "-c",
                &addr::IPERF_V4.to_string(),
                "-p",
                &addr::iperf_port(3).to_string(),
            ])
            .args(["-t", &format!("{}", total.as_secs()), "-b", "200M"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    kids.0.push(python(
        &lab,
        Role::Pc(3),
        FLOWS,
        &["5000".into(), secs.clone()],
    )?);
    kids.0.push(python(
        &lab,
        Role::Pc(4),
        HOSTILE,
        &[
            addr::PC_IF.into(),
            addr::mac_string(addr::pc_mac(4)),
            addr::mac_string(addr::GW_LAN_MAC),
            addr::SITE_NEWS_V6.to_string(),
            "2000".into(),
            secs.clone(),
            addr::GW_LAN_V4.to_string(),
        ],
    )?);
    kids.0.push(python(
        &lab,
        Role::Pc(4),
        FORMS,
        &[addr::GW_LAN_V4.to_string(), "20".into(), secs.clone()],
    )?);

    // DNS from pc1 and pc2, in rounds of 10 s (a round over a kill loses its in-flight).
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, answered, servfail) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    // Every round: (from, to seconds into the soak, sent, answered).
    let rounds: Arc<std::sync::Mutex<Vec<(f64, f64, u64, u64)>>> = Arc::default();
    let mut loaders = Vec::new();
    for pc in [1usize, 2] {
        let (stop, sent, answered, servfail, rounds) = (
            stop.clone(),
            sent.clone(),
            answered.clone(),
            servfail.clone(),
            rounds.clone(),
        );
        let ns = lab.netns_path(Role::Pc(pc));
        let target = std::net::SocketAddr::new(addr::GW_LAN_V4.into(), 53);
        let begun = start;
        loaders.push(std::thread::spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Allowed names (cached after the first), a blocked one, and unique ones.
                let queries: Vec<Vec<u8>> = (0..1000u64)
                    .map(|i| match i % 10 {
                        0 => wire(&format!("u{round}-{i}.pc{pc}.news.example")),
                        1 => wire(&format!("w{i}.social.example")),
                        _ => wire(&format!("www{}.news.example", i % 50)),
                    })
                    .collect();
                round += 1;
                let at = begun.elapsed().as_secs_f64();
                if let Ok(b) = blast(&ns, target, &queries, 10.0, Some(qps / 2.0)) {
                    if b.answered * 100 < b.sent * 97 {
                        eprintln!(
                            "soak: pc{pc} round at {at:.0} s: {} of {} answered",
                            b.answered, b.sent
                        );
                    }
                    rounds.lock().expect("rounds").push((
                        at,
                        begun.elapsed().as_secs_f64(),
                        b.sent,
                        b.answered,
                    ));
                    sent.fetch_add(b.sent, Ordering::Relaxed);
                    answered.fetch_add(b.answered, Ordering::Relaxed);
                    servfail.fetch_add(b.servfail, Ordering::Relaxed);
                }
            }
        }));
    }

    // The scripted faults, in order, until the deadline.
    let (mut wan_cycles, mut kills, mut edits_ok, mut edits) = (0u32, 0u32, 0u32, 0u32);
    let (mut logins, mut logins_ok) = (0u32, 0u32);
    let mut mid = (0, 0);
    let mut memory: Vec<(f64, Memory)> = Vec::new();
    let mut t_memory = 0.0;
    // From SIGKILL to the new daemon saying it is ready: DNS goes unanswered meanwhile.
    let mut restarts: Vec<(f64, f64)> = Vec::new();
    // (seconds into the soak, HTTP status; 0: no answer) of each failed admin login.
    let mut login_failures: Vec<String> = Vec::new();
    let next = |every: f64, last: &mut f64| {
        let t = start.elapsed().as_secs_f64();
        let due = t - *last >= every;
        if due {
            *last = t;
        }
        due
    };
    let (mut t_edit, mut t_break, mut t_login, mut t_wan) = (0.0, 0.0, 0.0, 0.0);
    let (mut wan_down, mut broken): (Option<Instant>, Option<(Instant, String)>) = (None, None);
    let kill_at = [total / 3, total * 2 / 3];
    let policy_path = og.policy_path();
    while left() > 0.0 {
        std::thread::sleep(Duration::from_millis(500));
        let t = start.elapsed();
        if next(30.0, &mut t_memory)
            && let Some(m) = Memory::read(&lab, og.pid())
        {
            memory.push((t.as_secs_f64(), m));
        }
        if kills < 2 && t >= kill_at[kills as usize] {
            if let Some(m) = Memory::read(&lab, og.pid()) {
                memory.push((t.as_secs_f64(), m));
            }
            if kills == 0 {
                mid = footprint(og.pid());
            }
            og.kill()?;
            // A broken file at a restart must not stop it either: fixed first, though, so
            // the restart loads the policy the office wants.
            if let Some((_, good)) = broken.take() {
                std::fs::write(&policy_path, good)?;
            }
            let down = Instant::now();
            og.restart()?;
            restarts.push((
                down.duration_since(start).as_secs_f64(),
                start.elapsed().as_secs_f64(),
            ));
            kills += 1;
        }
        if next(120.0, &mut t_wan) && t.as_secs() > 0 {
            lab.inject(Role::IspPrimary, Fault::LinkDown)?;
            wan_down = Some(Instant::now());
        }
        if wan_down.is_some_and(|d| d.elapsed() >= Duration::from_secs(60)) {
            lab.heal(Role::IspPrimary, Fault::LinkDown)?;
            wan_down = None;
            wan_cycles += 1;
        }
        if next(10.0, &mut t_edit) {
            edits += 1;
            let body = format!("{{\"action\":\"block\",\"domains\":[\"soak{edits}.example\"]}}");
            if api(
                &lab,
                "POST",
                "/api/v1/groups/staff/rules",
                Some(&body),
                true,
            ) == 200
            {
                edits_ok += 1;
            }
        }
        if next(60.0, &mut t_break) && broken.is_none() {
            let good = std::fs::read_to_string(&policy_path)?;
            std::fs::write(&policy_path, format!("{good}\n[[pcs]]\nname = \n"))?;
            broken = Some((Instant::now(), good));
        }
        if broken
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() >= Duration::from_secs(5))
        {
            // Fixed by hand: what the API wrote meanwhile was refused (the file changed).
            let (_, good) = broken.take().expect("checked");
            std::fs::write(&policy_path, good)?;
        }
        if next(30.0, &mut t_login) {
            logins += 1;
            let body = format!("{{\"name\":\"{}\",\"password\":\"{}\"}}", ADMIN.0, ADMIN.1);
            match api(&lab, "POST", "/api/v1/login", Some(&body), false) {
                200 => logins_ok += 1,
                code => {
                    eprintln!("soak: admin login at {:.0} s: HTTP {code}", t.as_secs_f64());
                    login_failures.push(format!("[{:.0}, {code}]", t.as_secs_f64()));
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        let _ = l.join();
    }
    if let Some((_, good)) = broken.take() {
        std::fs::write(&policy_path, good)?;
    }
    if wan_down.is_some() {
        lab.heal(Role::IspPrimary, Fault::LinkDown)?;
    }
    drop(kids);
    // The last counters reach the store within a flush.
    std::thread::sleep(Duration::from_secs(5));
    let (rss1, fds1) = footprint(og.pid());
    if let Some(m) = Memory::read(&lab, og.pid()) {
        memory.push((start.elapsed().as_secs_f64(), m));
    }
    let hours = start.elapsed().as_secs_f64() / 3600.0;
    let db_mb_per_hour = (db_size() as f64 - db0 as f64) / 1e6 / hours;
    let bytes = bytes_per_pc(&og, &db, lab.dir())?;
    let conn = rusqlite::Connection::open(&db)?;
    let logged: i64 = conn.query_row(
        "SELECT coalesce(sum(count), 0) FROM queries WHERE client IN (?1, ?2)",
        [addr::pc_v4(1).to_string(), addr::pc_v4(2).to_string()],
        |r| r.get(0),
    )?;
    og.stop()?;
    let (sent, answered, servfail) = (
        sent.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
        servfail.load(Ordering::Relaxed),
    );
    let (bytes_store, bytes_live) = bytes
        .iter()
        .fold((0u64, 0u64), |(s, l), (_, stored, live)| {
            (s + stored, l + live)
        });
    let fds_max = fds0.max(mid.1).max(fds1);
    let restarts_s: Vec<f64> = restarts.iter().map(|(a, b)| b - a).collect();
    // The rounds no restart overlapped: what the gateway answered while it was up.
    let (up_sent, up_answered) = rounds
        .lock()
        .expect("rounds")
        .iter()
        .filter(|(from, to, _, _)| !restarts.iter().any(|(a, b)| from < b && to > a))
        .fold((0u64, 0u64), |(s, a), r| (s + r.2, a + r.3));
    let per_pc: Vec<String> = bytes
        .iter()
        .map(|(pc, stored, live)| format!("\"{pc}\": [{stored}, {live}]"))
        .collect();
    println!(
        "RESULT soak {{\"minutes\": {minutes}, \"qps_target\": {qps}, \"queries_sent\": {sent}, \"queries_answered\": {answered}, \"answered_ratio\": {:.5}, \"answered_ratio_outside_restarts\": {:.5}, \"servfail\": {servfail}, \"querylog_rows\": {logged}, \"querylog_vs_answered\": {:.5}, \"bytes_store_vs_datapath\": {{{}}}, \"rss_kb\": [{rss0}, {}, {rss1}], \"fds\": [{fds0}, {}, {fds1}], \"memory_by_run\": {}, \"queries_sent_legit\": {sent}, \"servfail_own\": {servfail}, \"bytes_store\": {bytes_store}, \"bytes_interfaces\": {bytes_live}, \"rss_start_mb\": {:.1}, \"rss_mid_mb\": {:.1}, \"rss_end_mb\": {:.1}, \"db_growth_mb_per_h\": {db_mb_per_hour:.1}, \"fds_max\": {fds_max}, \"admin_login_ok\": {}, \"db_mb_per_hour\": {db_mb_per_hour:.1}, \"logins\": {logins}, \"logins_ok\": {logins_ok}, \"login_failures\": [{}], \"wan_cycles\": {wan_cycles}, \"kills\": {kills}, \"restart_s\": {restarts_s:.1?}, \"policy_edits\": {edits}, \"policy_edits_ok\": {edits_ok}}}",
        answered as f64 / sent.max(1) as f64,
        up_answered as f64 / up_sent.max(1) as f64,
        logged as f64 / answered.max(1) as f64,
        per_pc.join(", "),
        mid.0,
        mid.1,
        memory_by_run(&memory),
        rss0 as f64 / 1024.0,
        mid.0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        logins > 0 && logins_ok == logins,
        login_failures.join(", "),
    );
    drop(pins);
    drop(lab);
    Ok(())
}
