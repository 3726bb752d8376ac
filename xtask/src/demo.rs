//! `cargo xtask demo`: the office lab with Officegate running in it on the documented
//! example policy of `policies/` as it is (its PCs are the lab's), some traffic from every
//! PC, and the per-PC table printed every few seconds until Ctrl-C.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use officegate_lab::{
    Lab, LabConfig, Role, addr,
    officegate::{Officegate, lab_config, pin_dir_for},
};

use crate::sh;

pub fn run(seconds: Option<u64>) -> anyhow::Result<()> {
    sh::run(sh::cargo().args(["build", "--release", "-p", "officegate", "--bins"]))?;
    let bin = std::env::current_dir()?.join("target/release/officegate");
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C ends the loop below; the lab and the daemon are then torn down by Drop.
        ctrlc_flag(stop);
    }
    let lab = Lab::up(LabConfig { pcs: 3 })?;
    let pin_dir = pin_dir_for(&lab);
    // Failover between the lab's two ISPs, and the admin API on the LAN address.
    const TOKEN: &str = "demo-token-0123456789";
    let config = format!(
        "{}{}\n[api]\nlisten = [\"{}:8080\"]\ntoken = \"{TOKEN}\"\n",
        lab_config(&pin_dir),
        officegate_lab::wan::lab_wan_section(""),
        addr::GW_LAN_V4
    );
    // What a newcomer sees is what an office gets: the example policy with its lists and
    // categories, beside it in the lab's directory.
    let example = std::env::current_dir()?.join("policies");
    let policy = std::fs::read_to_string(example.join("office.toml"))?;
    for sub in ["lists", "categories"] {
        std::fs::create_dir_all(lab.dir().join(sub))?;
        for f in std::fs::read_dir(example.join(sub))? {
            let f = f?;
            std::fs::copy(f.path(), lab.dir().join(sub).join(f.file_name()))?;
        }
    }
    let og = Officegate::start(&lab, Path::new(&bin), &config, &policy)?;
    // A user for the admin UI, and the UI reachable from this machine's browser.
    officegate_lab::netns::run_with_input(
        std::process::Command::new(&bin)
            .args([
                "user",
                "add",
                DEMO_USER,
                "--role",
                "admin",
                "--password-stdin",
                "--config",
            ])
            .arg(og.config_path()),
        &format!("{DEMO_PASSWORD}\n"),
    )?;
    let ui = forward_ui(&officegate_lab::netns::path(&lab.ns(Role::Pc(2))))?;
    println!("\nOfficegate runs in the lab `{}`.", lab.prefix());
    println!(
        "  admin UI: http://{ui}/   user `{DEMO_USER}`, password `{DEMO_PASSWORD}` \
         (forwarded to {}:8080 on the lab's LAN, as from pc2)",
        addr::GW_LAN_V4
    );
    println!(
        "  gateway namespace: {}   (LAN {} / {})",
        lab.ns(Role::Gateway),
        addr::GW_LAN_V4,
        addr::GW_LAN_V6
    );
    for i in 1..=3 {
        println!(
            "  pc{i}: {}  {} / {}",
            lab.ns(Role::Pc(i)),
            addr::pc_v4(i),
            addr::pc_v6(i)
        );
    }
    println!(
        "  config: {}   policy: {}   log: {}/officegate.log",
        og.config_path().display(),
        og.policy_path().display(),
        lab.dir().display()
    );
    println!(
        "  the policy is policies/office.toml: everyone in `company` (ads, trackers, DoH/VPN \
         bypass endpoints and games blocked, safe search); pc1 is sales (social networks and \
         video blocked during work hours, LinkedIn allowed), pc2 marketing, pc3 company"
    );
    let pc1 = lab.ns(Role::Pc(1));
    println!("Try:  ip netns exec {pc1} curl http://news.example/");
    println!("      ip netns exec {pc1} dig doubleclick.net     (the block page's address)");
    println!(
        "      {} explain 10.10.0.11 facebook.com --policy {}",
        bin.display(),
        lab.dir().display()
    );
    println!(
        "      {} pcs --pin-dir {}",
        bin.display(),
        pin_dir.display()
    );
    println!(
        "      {} drops --pin-dir {}",
        bin.display(),
        pin_dir.display()
    );
    println!(
        "      {} wan status --config {}     (channels; try: ip -n {} link set down0 down)",
        bin.display(),
        og.config_path().display(),
        lab.ns(Role::IspPrimary)
    );
    println!(
        "      {} queries --config {}        (the DNS query log)",
        bin.display(),
        og.config_path().display()
    );
    println!(
        "      ip netns exec {pc1} curl -H 'Authorization: Bearer {TOKEN}' http://{}:8080/api/v1/pcs\n",
        addr::GW_LAN_V4
    );
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut round = 0u32;
    while !stop.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        traffic(&lab, round);
        let policy_dir = lab.dir().display().to_string();
        println!("{}", og.tool(&["pcs", "--policy", &policy_dir])?);
        print!("{}", og.tool(&["drops"])?);
        round += 1;
        for _ in 0..50 {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    println!("stopping: daemon and lab are removed");
    drop(og);
    drop(lab);
    let _ = std::fs::remove_dir_all(&pin_dir);
    Ok(())
}

const DEMO_USER: &str = "it";
const DEMO_PASSWORD: &str = "officegate-demo";

/// Serves the lab's admin UI on this machine's loopback (the first free port from 8080):
/// each connection is accepted here and relayed from a thread that entered the lab
/// namespace `ns` (setns moves only the calling thread) to the gateway's API address.
/// Loopback and the lab only: nothing leaves the machine.
fn forward_ui(ns: &Path) -> anyhow::Result<std::net::SocketAddr> {
    use std::net::{TcpListener, TcpStream};
    let listener = (8080..8100)
        .find_map(|port| TcpListener::bind(("127.0.0.1", port)).ok())
        .ok_or_else(|| anyhow::anyhow!("no free port on 127.0.0.1 between 8080 and 8099"))?;
    let local = listener.local_addr()?;
    let ns = ns.to_path_buf();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let ns = ns.clone();
            std::thread::spawn(move || {
                let upstream = (|| -> anyhow::Result<TcpStream> {
                    let f = std::fs::File::open(&ns)?;
                    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)?;
                    Ok(TcpStream::connect((addr::GW_LAN_V4, 8080))?)
                })();
                let Ok(upstream) = upstream else { return };
                let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else {
                    return;
                };
                let (mut client, mut upstream) = (client, upstream);
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut upstream, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    Ok(local)
}

/// Every PC fetches a page from each site over IPv4 and IPv6, now and then a bigger file;
/// the blocked ones time out. By name too (through the DNS filter: the blocked names get
/// the block page), and pc1 asks for access to social.example once.
fn traffic(lab: &Lab, round: u32) {
    for i in 1..=3 {
        for name in ["news.example", "social.example", "shop.example"] {
            let _ = lab.exec(
                Role::Pc(i),
                &[
                    "curl",
                    "-s",
                    "--max-time",
                    "1",
                    "-o",
                    "/dev/null",
                    &format!("http://{name}/"),
                ],
            );
        }
    }
    if round == 0 {
        let _ = lab.exec(
            Role::Pc(1),
            &[
                "curl",
                "-s",
                "--max-time",
                "2",
                "-o",
                "/dev/null",
                "--data",
                "site=social.example&reason=our+customers+write+to+us+there",
                "http://social.example/.officegate/request",
            ],
        );
    }
    for i in 1..=3 {
        let sites = [addr::SITE_NEWS, addr::SITE_VIDEO, addr::SITE_SOCIAL];
        for site in sites {
            let file = if (round + i as u32).is_multiple_of(3) {
                addr::FILE_1M
            } else {
                "/"
            };
            for url in [
                format!("http://{}{file}", site.v4),
                format!("http://[{}]{file}", site.v6),
            ] {
                let _ = lab.exec(
                    Role::Pc(i),
                    &["curl", "-s", "--max-time", "1", "-o", "/dev/null", &url],
                );
            }
        }
    }
}

fn ctrlc_flag(stop: Arc<AtomicBool>) {
    // A plain signal handler thread: sigwait on SIGINT/SIGTERM (blocked in all threads).
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    if set.thread_block().is_ok() {
        std::thread::spawn(move || {
            if set.wait().is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
}
