//! The datapath in the office lab: the real daemon attached to the gateway's LAN
//! interface, real traffic (ping, iperf3, curl) from the lab's PCs.

use std::{collections::HashMap, path::Path};

use officegate_lab::{
    Lab, LabConfig, Role, addr, link_stats,
    officegate::{
        EXAMPLE_GROUPS, EXAMPLE_PC_GROUPS, Officegate, lab_config, lab_policy, pin_dir_for,
    },
};
use serde_json::Value;

use crate::support::{
    office::{BIN, COUNTERS, Office, office},
    pins::PinDir,
};

/// Per-PC counters summed over all of a PC's addresses (v4, v6, link-local), keyed by MAC,
/// from `officegate pcs --json` — the CLI is part of what is tested.
fn per_mac(og: &Officegate) -> HashMap<String, [u64; 6]> {
    let mut out: HashMap<String, [u64; 6]> = HashMap::new();
    for line in og.tool(&["pcs", "--json"]).expect("officegate pcs").lines() {
        let v: Value = serde_json::from_str(line).expect("json line");
        let e = out
            .entry(v["mac"].as_str().unwrap().to_string())
            .or_default();
        for (i, k) in COUNTERS.iter().enumerate() {
            e[i] += v[k].as_u64().unwrap();
        }
    }
    out
}

fn drops(og: &Officegate) -> Value {
    serde_json::from_str(&og.tool(&["drops", "--json"]).unwrap()).unwrap()
}

fn ok(lab: &Lab, role: Role, args: &[&str]) -> String {
    lab.sh(role, args)
        .unwrap_or_else(|e| panic!("{args:?} in {role:?}: {e:#}"))
}

/// true: the page loaded; false: the connection was refused at once (curl exit 7: the
/// datapath answers a dropped SYN with a reset) or reset while it ran (56: the block
/// came between the handshake and the answer, and the datapath reset the connection), or
/// answered by the gateway's block page (22, a 403: a held PC's plain HTTP is led there).
/// Anything else — a time-out (28) above all: a block must fail fast — is a failure of
/// the test. A page that connects gets time.
fn reaches(lab: &Lab, pc: usize, url: &str) -> bool {
    let out = lab
        .exec(
            Role::Pc(pc),
            &[
                "curl",
                "-sS",
                "-f",
                "--connect-timeout",
                "3",
                "--max-time",
                "15",
                "-o",
                "/dev/null",
                url,
            ],
        )
        .expect("spawn curl");
    match out.status.code() {
        Some(0) => true,
        Some(7) | Some(56) => false,
        Some(22) if String::from_utf8_lossy(&out.stderr).contains("error: 403") => false,
        other => panic!(
            "pc{pc} curl {url}: {other:?} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn mac(i: usize) -> String {
    addr::mac_string(addr::pc_mac(i))
}

/// The hooks the run asked for (`XDP_MODE_ENV`, `TC_HOOK_ENV`) are the ones in use.
fn hooks_as_forced(lab: &officegate_lab::Lab) {
    use officegate_lab::officegate::{TC_HOOK_ENV, XDP_MODE_ENV};
    let link = lab
        .sh(Role::Gateway, &["ip", "link", "show", addr::LAN_IF])
        .unwrap();
    let generic = std::env::var(XDP_MODE_ENV).as_deref() == Ok("generic");
    assert_eq!(link.contains("xdpgeneric"), generic, "{link}");
    let filters = lab
        .sh(
            Role::Gateway,
            &["tc", "filter", "show", "dev", addr::LAN_IF, "egress"],
        )
        .unwrap_or_default();
    let netlink = std::env::var(TC_HOOK_ENV).as_deref() == Ok("netlink");
    assert_eq!(
        filters.contains(gateway_common::programs::LAN_EGRESS),
        netlink,
        "{filters}"
    );
}

#[test]
fn per_pc_counts_equal_kernel_interface_counters() {
    let Office {
        lab,
        og,
        _pins: _guard,
    } = office();
    hooks_as_forced(&lab);
    let pc_if = addr::PC_IF;
    // Warm up: neighbours resolved both ways, so the measured window has no ARP/ND
    // multicast the gateway would send to nobody in particular.
    for i in 1..=3 {
        let pc = Role::Pc(i);
        ok(
            &lab,
            pc,
            &["ping", "-c", "1", "-W", "2", &addr::IPERF_V4.to_string()],
        );
        ok(
            &lab,
            pc,
            &[
                "ping",
                "-6",
                "-c",
                "1",
                "-W",
                "2",
                &addr::IPERF_V6.to_string(),
            ],
        );
    }
    let (gw_before, ours_before) = gateway_and_ours(&lab, &og);
    for i in 1..=3 {
        let pc = Role::Pc(i);
        let before_pc = link_stats(&lab, pc, pc_if).unwrap();
        let before_gw = link_stats(&lab, Role::Gateway, addr::LAN_IF).unwrap();
        let before = per_mac(&og)[&mac(i)];
        let port = addr::iperf_port(i).to_string();
        let server = addr::IPERF_V4.to_string();
        ok(
            &lab,
            pc,
            &["ping", "-c", "20", "-i", "0.01", "-W", "2", &server],
        );
        ok(
            &lab,
            pc,
            &[
                "ping",
                "-6",
                "-c",
                "20",
                "-i",
                "0.01",
                "-W",
                "2",
                &addr::IPERF_V6.to_string(),
            ],
        );
        ok(
            &lab,
            pc,
            &["iperf3", "-c", &server, "-p", &port, "-n", "4M"],
        );
        ok(
            &lab,
            pc,
            &["iperf3", "-c", &server, "-p", &port, "-R", "-n", "4M"],
        );
        ok(
            &lab,
            pc,
            &[
                "iperf3", "-c", &server, "-p", &port, "-u", "-b", "20M", "-n", "2M",
            ],
        );
        ok(
            &lab,
            pc,
            &[
                "iperf3", "-c", &server, "-p", &port, "-u", "-R", "-b", "20M", "-n", "2M",
            ],
        );
        let pc_d = link_stats(&lab, pc, pc_if).unwrap().since(&before_pc);
        let gw_d = link_stats(&lab, Role::Gateway, addr::LAN_IF)
            .unwrap()
            .since(&before_gw);
        let after = per_mac(&og)[&mac(i)];
        let d: Vec<u64> = (0..6).map(|k| after[k] - before[k]).collect();
        eprintln!(
            "pc{i}: ours {d:?}; pc tx {}/{} rx {}/{}; gw rx {}/{} tx {}/{}",
            pc_d.tx_packets,
            pc_d.tx_bytes,
            pc_d.rx_packets,
            pc_d.rx_bytes,
            gw_d.rx_packets,
            gw_d.rx_bytes,
            gw_d.tx_packets,
            gw_d.tx_bytes
        );
        assert!(
            d[0] > 1000 && d[2] > 1000,
            "pc{i}: real traffic was counted: {d:?}"
        );
        assert_eq!(d[4], 0, "pc{i}: nothing dropped");
        // What the PC sent is what we counted as its upload; what it received, download.
        assert_eq!(d[0], pc_d.tx_packets, "pc{i} upload packets vs its eth0 tx");
        assert_eq!(d[1], pc_d.tx_bytes, "pc{i} upload bytes vs its eth0 tx");
        assert_eq!(
            d[2], pc_d.rx_packets,
            "pc{i} download packets vs its eth0 rx"
        );
        assert_eq!(d[3], pc_d.rx_bytes, "pc{i} download bytes vs its eth0 rx");
    }
    // The gateway's own LAN counters against the sum over every PC. Native XDP on veth
    // sees the 14-byte Ethernet header that the kernel's rx byte count leaves out;
    // generic XDP runs after that count took the whole frame.
    let header = match std::env::var(officegate_lab::officegate::XDP_MODE_ENV).as_deref() {
        Ok("generic") => 0,
        _ => 14,
    };
    let (gw_after, ours_after) = gateway_and_ours(&lab, &og);
    let gw = gw_after.since(&gw_before);
    let ours: Vec<u64> = (0..6).map(|k| ours_after[k] - ours_before[k]).collect();
    assert_eq!(
        ours[0] + ours[4],
        gw.rx_packets,
        "all uploads vs gateway lan0 rx packets"
    );
    assert_eq!(
        ours[1] + ours[5],
        gw.rx_bytes + header * gw.rx_packets,
        "upload bytes vs lan0 rx + {header}/frame"
    );
    assert_eq!(
        ours[2], gw.tx_packets,
        "all downloads vs gateway lan0 tx packets"
    );
    // The switch's port runs NAPI (GRO on, so the datapath's resets reach the PCs), and a
    // veth whose peer does counts what it sends as the peer receives it: without the
    // 14-byte Ethernet header, like rx.
    assert_eq!(
        ours[3],
        gw.tx_bytes + 14 * gw.tx_packets,
        "download bytes vs gateway lan0 tx bytes + 14/frame"
    );
}

/// The gateway's lan0 counters and the sum of every PC's counters, read with no frame in
/// between: retried until the interface counters are the same before and after our read.
fn gateway_and_ours(lab: &Lab, og: &Officegate) -> (officegate_lab::LinkStats, [u64; 6]) {
    for _ in 0..20 {
        let a = link_stats(lab, Role::Gateway, addr::LAN_IF).unwrap();
        let mut sum = [0u64; 6];
        for v in per_mac(og).values() {
            for k in 0..6 {
                sum[k] += v[k];
            }
        }
        let b = link_stats(lab, Role::Gateway, addr::LAN_IF).unwrap();
        if a == b {
            return (a, sum);
        }
    }
    panic!("the gateway's LAN never went quiet for a read");
}

#[test]
fn blocked_addresses_depend_on_the_pcs_group() {
    let Office {
        lab,
        og,
        _pins: _guard,
    } = office();
    let social = format!("http://{}/health", addr::SITE_SOCIAL_V4);
    let social6 = format!("http://[{}]/health", addr::SITE_SOCIAL_V6);
    let video = format!("http://{}/health", addr::SITE_VIDEO_V4);
    let video6 = format!("http://[{}]/health", addr::SITE_VIDEO_V6);
    let news = format!("http://{}/health", addr::SITE_NEWS_V4);
    // staff (pc1): social blocked (v4 and v6), the rest open.
    assert!(
        !reaches(&lab, 1, &social),
        "staff must not reach social.example"
    );
    assert!(
        !reaches(&lab, 1, &social6),
        "staff must not reach social.example over IPv6"
    );
    assert!(reaches(&lab, 1, &video) && reaches(&lab, 1, &news));
    // default group (pc2): everything open.
    assert!(reaches(&lab, 2, &social) && reaches(&lab, 2, &social6) && reaches(&lab, 2, &video));
    // guests (pc3): video blocked exactly (v4 written as a /32, v6 as an address), the
    // shared site's v6 address by a /127 range (the LPM path); social open.
    assert!(
        !reaches(&lab, 3, &video),
        "guests must not reach video.example"
    );
    assert!(
        !reaches(&lab, 3, &video6),
        "guests must not reach video.example over IPv6"
    );
    let shared6 = format!("http://[{}]/health", addr::SITE_SHARED_V6);
    assert!(
        !reaches(&lab, 3, &shared6),
        "guests must not reach the shared site (v6 range)"
    );
    assert!(
        reaches(&lab, 2, &shared6),
        "the default group reaches the shared site"
    );
    assert!(reaches(&lab, 3, &social) && reaches(&lab, 3, &news));
    // The gateway itself stays reachable from a restricted PC.
    ok(
        &lab,
        Role::Pc(3),
        &["ping", "-c", "1", "-W", "2", &addr::GW_LAN_V4.to_string()],
    );
    let d = drops(&og);
    assert!(d["drops"]["blocked_address"].as_u64().unwrap() >= 1, "{d}");
    assert!(
        d["drops"]["blocked_range"].as_u64().unwrap() >= 1,
        "{d}\n{}\n{}",
        og.tool(&["pcs"]).unwrap(),
        std::fs::read_to_string(og.config_path()).unwrap()
    );
    // Per-PC: the drops are on the PCs that were refused, not on pc2.
    let m = per_mac(&og);
    assert!(m[&mac(1)][4] > 0 && m[&mac(3)][4] > 0);
    assert_eq!(m[&mac(2)][4], 0);
}

/// An upgrade: the daemon stopped, the PCs go on sending, a daemon started again. The
/// programs stay attached through the gap (pinned links): pc2's counts stay exact against
/// its interface across it, an address pc1's group blocks stays blocked (refused at once)
/// during it, DNS fails closed (no answer, the gateway's or another resolver's); the new
/// daemon takes the same links over, and `officegate detach` takes them off.
#[test]
fn the_datapath_keeps_counting_and_blocking_while_the_daemon_is_down() {
    let Office {
        lab,
        mut og,
        _pins: _guard,
    } = office();
    let server = addr::IPERF_V4.to_string();
    let social = format!("http://{}/health", addr::SITE_SOCIAL_V4);
    let xdp_on_lan = || {
        ok(
            &lab,
            Role::Gateway,
            &["ip", "-j", "link", "show", addr::LAN_IF],
        )
        .contains("\"xdp\"")
    };
    // Warm up: neighbours resolved both ways, so the window has no stray ARP/ND.
    ok(&lab, Role::Pc(2), &["ping", "-c", "2", "-W", "2", &server]);
    assert!(!reaches(&lab, 1, &social), "staff may not reach it");
    let before_pc = link_stats(&lab, Role::Pc(2), addr::PC_IF).unwrap();
    let before = per_mac(&og)[&mac(2)];
    og.stop().expect("clean stop on SIGTERM");
    assert!(
        xdp_on_lan(),
        "the programs stay attached while the daemon is down"
    );
    // The gap: pc2 keeps sending, pc1 keeps trying the blocked address.
    let port = addr::iperf_port(2).to_string();
    ok(
        &lab,
        Role::Pc(2),
        &["ping", "-c", "30", "-i", "0.01", "-W", "2", &server],
    );
    ok(
        &lab,
        Role::Pc(2),
        &["iperf3", "-c", &server, "-p", &port, "-n", "2M"],
    );
    assert!(
        !reaches(&lab, 1, &social),
        "still blocked, still refused at once"
    );
    // DNS fails closed: nothing answers (a timeout or a port unreachable), neither the
    // gateway nor another resolver (its queries are still led to the gateway) — no
    // unfiltered answer in the gap.
    for server in [addr::GW_LAN_V4.to_string(), addr::RESOLVER_V4.to_string()] {
        let out = lab
            .command(Role::Pc(1), "dig")
            .args([
                "+time=1",
                "+tries=1",
                &format!("@{server}"),
                "news.example",
                "A",
            ])
            .output()
            .expect("dig");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.status.success() && said.contains("no servers could be reached"),
            "DNS @{server} while the daemon is down: {said}"
        );
    }
    // Counted while nobody was there to read (the pinned maps are read without a daemon).
    let pc_d = link_stats(&lab, Role::Pc(2), addr::PC_IF)
        .unwrap()
        .since(&before_pc);
    let gap = per_mac(&og)[&mac(2)];
    let d: Vec<u64> = (0..4).map(|k| gap[k] - before[k]).collect();
    assert!(d[0] > 1000, "the gap's traffic was counted: {d:?}");
    assert_eq!(
        d,
        [
            pc_d.tx_packets,
            pc_d.tx_bytes,
            pc_d.rx_packets,
            pc_d.rx_bytes
        ],
        "pc2's counts vs its eth0 across the gap"
    );
    // The new daemon takes the links over: counts go on from there, nothing reset or
    // counted twice, the group's block still holds.
    og.restart().expect("restart");
    assert!(xdp_on_lan());
    assert!(
        og.log_text().contains("taken_over=true"),
        "{}",
        og.log_text()
    );
    ok(
        &lab,
        Role::Pc(2),
        &["ping", "-c", "10", "-i", "0.01", "-W", "2", &server],
    );
    let after = per_mac(&og)[&mac(2)];
    assert!(
        after[0] >= gap[0] + 10 && after[0] < gap[0] + 40,
        "totals continue: {gap:?} -> {after:?}"
    );
    assert!(!reaches(&lab, 1, &social));
    // Taken off on purpose: stopped, then detached.
    og.stop().expect("stop");
    og.detach().expect("officegate detach");
    assert!(!xdp_on_lan(), "detached");
    let filters = lab
        .sh(
            Role::Gateway,
            &["tc", "filter", "show", "dev", addr::LAN_IF, "egress"],
        )
        .unwrap_or_default();
    assert!(
        !filters.contains(gateway_common::programs::LAN_EGRESS),
        "{filters}"
    );
    assert!(reaches(&lab, 1, &social), "nothing blocks once detached");
}

#[test]
fn a_pc_blocked_by_hand_is_cut_off_at_once_but_keeps_the_gateway() {
    let Office {
        lab,
        og,
        _pins: _guard,
    } = office();
    let news = format!("http://{}/health", addr::SITE_NEWS_V4);
    assert!(reaches(&lab, 2, &news));
    og.tool(&["pc-state", &addr::pc_v4(2).to_string(), "blocked"])
        .unwrap();
    assert!(!reaches(&lab, 2, &news), "blocked by hand");
    ok(
        &lab,
        Role::Pc(2),
        &["ping", "-c", "1", "-W", "2", &addr::GW_LAN_V4.to_string()],
    );
    // Other PCs are unaffected.
    assert!(reaches(&lab, 1, &news));
    og.tool(&["pc-state", &addr::pc_v4(2).to_string(), "allowed"])
        .unwrap();
    assert!(reaches(&lab, 2, &news), "unblocked");
    assert!(drops(&og)["drops"]["pc_blocked"].as_u64().unwrap() >= 1);
}

#[test]
fn a_missing_interface_or_a_broken_config_is_a_clear_error() {
    let lab = Lab::up(LabConfig { pcs: 1 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let policy = lab_policy(&lab, "", &[]);
    let config = lab_config(&pins.0).replace("\"lan0\"", "\"nope0\"");
    let err = Officegate::start(&lab, Path::new(BIN), &config, &policy)
        .err()
        .expect("must fail");
    assert!(
        format!("{err:#}").contains("interface `nope0` does not exist"),
        "{err:#}"
    );
    // A broken daemon configuration, then a broken policy: each names its file and line.
    let config = lab_config(&pins.0);
    let broken = config.replace("[datapath]", "[datapath]\nbogus = 1");
    let err = Officegate::start(&lab, Path::new(BIN), &broken, &policy)
        .err()
        .expect("must fail");
    let text = format!("{err:#}");
    assert!(
        text.contains("officegate.toml:4:") && text.contains("bogus"),
        "{text}"
    );
    let broken = lab_policy(&lab, "[[groups]]\nname = \"x\"\nblok = []\n", &[]);
    let err = Officegate::start(&lab, Path::new(BIN), &config, &broken)
        .err()
        .expect("must fail");
    let text = format!("{err:#}");
    assert!(
        text.contains("office.toml:5:") && text.contains("blok"),
        "{text}"
    );
}

/// Polls `check` for up to `secs` seconds.
fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn policy_reload_applies_and_a_broken_policy_keeps_the_old_one() {
    let Office {
        lab,
        og,
        _pins: _guard,
    } = office();
    let news = format!("http://{}/health", addr::SITE_NEWS_V4);
    assert!(reaches(&lab, 2, &news));
    let policy = lab_policy(&lab, EXAMPLE_GROUPS, EXAMPLE_PC_GROUPS);
    // A manual block of pc2, by policy file + SIGHUP.
    let blocked = format!("{policy}\n[[blocks]]\npc = \"pc2\"\nreason = \"test\"\n");
    std::fs::write(og.policy_path(), &blocked).unwrap();
    og.reload().unwrap();
    assert!(
        eventually(10, || !reaches(&lab, 2, &news)),
        "pc2 blocked after reload"
    );
    assert!(reaches(&lab, 1, &news), "pc1 untouched");
    // A broken policy: logged with its line, and the block stays in force.
    std::fs::write(og.policy_path(), format!("{blocked}\n[[pcs]]\nname = 7\n")).unwrap();
    og.reload().unwrap();
    assert!(
        eventually(10, || og.log_text().contains("policy reload failed")),
        "{}",
        og.log_text()
    );
    assert!(og.log_text().contains("office.toml:"), "{}", og.log_text());
    assert!(
        !reaches(&lab, 2, &news),
        "the previous policy (with the block) still applies"
    );
    // The block lifted by a valid policy.
    std::fs::write(og.policy_path(), &policy).unwrap();
    og.reload().unwrap();
    assert!(eventually(10, || reaches(&lab, 2, &news)), "pc2 unblocked");
}
