//! Packet-level enforcement of DNS decisions in the office lab: addresses the gateway
//! answered for a name that becomes blocked (a schedule starting, with the policy clock
//! injected so the boundary comes in seconds) are dropped for that group, except those
//! also serving a name it may still reach; and bypass endpoints of a `resolve` list are
//! dropped for the groups that block the list.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use officegate_lab::{
    Lab, LabConfig, Role, addr,
    officegate::{Officegate, lab_config, lab_policy, pin_dir_for},
};

use crate::support::{
    dns::short,
    http::reaches,
    office::{BIN, start},
    pins::PinDir,
};

#[test]
fn a_schedule_starting_blocks_the_addresses_already_answered_but_not_shared_ones() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let groups = r#"
[schedules.work]
days = ["mon", "tue", "wed", "thu", "fri"]
from = "09:00"
until = "18:00"

[[groups]]
name = "staff"

[[groups.rules]]
action = "block"
domains = ["social.example", "cdn.example"]
schedule = "work"
"#;
    // Monday, four seconds before the schedule starts (the lab policy's zone is UTC).
    let og = start(
        &lab,
        &pins,
        groups,
        &["--clock-start", "2026-11-30T08:59:56Z"],
    );
    let started = Instant::now();
    // Before 09:00: allowed, answered, reachable. shop.example and cdn.example share an
    // address.
    assert_eq!(
        short(&lab, 1, "social.example", "A"),
        addr::SITE_SOCIAL_V4.to_string()
    );
    assert_eq!(
        short(&lab, 1, "cdn.example", "A"),
        addr::SITE_CDN.v4.to_string()
    );
    assert_eq!(
        short(&lab, 1, "shop.example", "A"),
        addr::SITE_SHOP.v4.to_string()
    );
    let social = format!("http://{}{}", addr::SITE_SOCIAL_V4, addr::HEALTH_PATH);
    let shared = format!("http://{}{}", addr::SITE_SHARED_V4, addr::HEALTH_PATH);
    assert!(reaches(&lab, 1, &social), "before the boundary");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the checks before 09:00 took too long to mean anything"
    );
    // Past 09:00 plus a replan (1 s).
    std::thread::sleep(Duration::from_secs(6).saturating_sub(started.elapsed()));
    assert_eq!(
        short(&lab, 1, "social.example", "A"),
        addr::GW_LAN_V4.to_string(),
        "the name is blocked now"
    );
    // The PC kept the old answer: its new connections to that address are dropped.
    assert!(
        !reaches(&lab, 1, &social),
        "the answered address is blocked for staff"
    );
    // The shared address also serves shop.example, which staff may reach.
    assert!(
        reaches(&lab, 1, &shared),
        "a shared address stays reachable"
    );
    // Another group is not affected.
    assert!(reaches(&lab, 2, &social), "pc2 is not staff");
    let drops: serde_json::Value =
        serde_json::from_str(&og.tool(&["drops", "--json"]).unwrap()).unwrap();
    assert!(
        drops["drops"]["blocked_address"].as_u64().unwrap() > 0,
        "{drops}"
    );
}

#[test]
fn bypass_endpoints_of_a_resolve_list_are_dropped_for_groups_that_block_it() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    std::fs::write(
        lab.dir().join("bypass.txt"),
        format!("# DoH endpoints\n{}\n", addr::DOH_NAME),
    )
    .unwrap();
    let groups = r#"
[lists.bypass]
files = ["bypass.txt"]
resolve = true

[[groups]]
name = "staff"

[[groups.rules]]
action = "block"
lists = ["bypass"]
"#;
    let og = start(&lab, &pins, groups, &[]);
    // The daemon resolves the list at start; the next plan blocks the addresses. Nobody
    // has asked for the name: a browser with its own DoH never would.
    let doh = format!("https://{}{}", addr::DOH_V4, addr::DOH_PATH);
    let deadline = Instant::now() + Duration::from_secs(15);
    while reaches(&lab, 1, &doh) {
        assert!(
            Instant::now() < deadline,
            "staff still reaches the DoH endpoint\n{}",
            og.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        reaches(&lab, 2, &doh),
        "pc2's group does not block the list"
    );
    assert!(
        og.log_text()
            .contains("resolved the names of `resolve` lists")
    );
}

#[test]
fn a_pc_over_its_daily_limit_is_cut_off_and_stays_so_across_a_restart() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let policy = format!(
        "{}\n[[limits]]\npc = \"pc1\"\nper = \"day\"\nbytes = \"1500 kB\"\n",
        lab_policy(&lab, "", &[])
    );
    // A webhook receiver on the gateway: the alert of the limit must reach it.
    let hook = Webhook::start(&lab);
    let config = format!(
        "{}\n[alerts]\nwebhook = \"{}\"\n",
        lab_config(&pins.0),
        hook.url()
    );
    let mut og =
        Officegate::start(&lab, Path::new(BIN), &config, &policy).expect("officegate start");
    let file = format!("http://{}{}", addr::SITE_NEWS_V4, addr::FILE_1M);
    let health = format!("http://{}{}", addr::SITE_NEWS_V4, addr::HEALTH_PATH);
    // 1 MB: under the limit. A second one takes pc1 over it.
    assert!(reaches(&lab, 1, &file));
    assert!(reaches(&lab, 1, &file));
    let state = |og: &Officegate| -> String {
        og.tool(&["pcs", "--json"])
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["address"] == addr::pc_v4(1).to_string())
            .map(|v| v["state"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(&og) != "over-quota" {
        assert!(
            Instant::now() < deadline,
            "pc1 not over quota\n{}",
            og.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!reaches(&lab, 1, &health), "pc1 is cut off");
    // Its HTTP shows why: the block page, with the figures.
    let deadline = Instant::now() + Duration::from_secs(5);
    let page = loop {
        let page = lab
            .sh(Role::Pc(1), &["curl", "-s", "-m", "4", &health])
            .unwrap_or_default();
        if page.contains("internet allowance") || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        page.contains("used its internet allowance")
            && page.contains("of its 1500000 bytes this day"),
        "{page}"
    );
    assert!(reaches(&lab, 2, &health), "pc2 is not");
    assert!(og.log_text().contains("over its traffic limit"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let alert = loop {
        let got = hook.received();
        if let Some(a) = got.iter().find(|a| a["kind"] == "over_limit") {
            break a.clone();
        }
        assert!(Instant::now() < deadline, "no alert; received {got:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alert["source"], "limits");
    assert_eq!(alert["subject"], "pc1");
    // A restart remembers the day's usage: still cut off.
    og.stop().unwrap();
    og.restart().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(state(&og), "over-quota", "{}", og.log_text());
    assert!(!reaches(&lab, 1, &health));
}

/// A webhook receiver in the lab's gateway namespace (python3's http.server): each POST
/// body is appended as a line to a file. Killed when dropped, even on a panic.
struct Webhook {
    child: std::process::Child,
    out: std::path::PathBuf,
}

const WEBHOOK_PORT: u16 = 9099;

impl Webhook {
    fn start(lab: &Lab) -> Webhook {
        let out = lab.dir().join("webhook.jsonl");
        let script = lab.dir().join("webhook.py");
        std::fs::write(
            &script,
            format!(
                r#"import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("content-length", 0))
        b = self.rfile.read(n)
        with open({out:?}, "ab") as f:
            f.write(b + b"\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
import socketserver
# HTTPServer.server_bind asks DNS for the host's name: unanswerable in the lab, and slow.
class S(http.server.HTTPServer):
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
S(("{}", {WEBHOOK_PORT}), H).serve_forever()
"#,
                addr::GW_LAN_V4
            ),
        )
        .unwrap();
        let log = std::fs::File::create(lab.dir().join("webhook.log")).unwrap();
        let child = lab
            .command(Role::Gateway, "/usr/bin/python3")
            .arg(&script)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("python3 webhook receiver");
        // Ready when it accepts connections (from the gateway, where the daemon runs).
        let deadline = Instant::now() + Duration::from_secs(5);
        let probe = format!("http://{}:{WEBHOOK_PORT}/", addr::GW_LAN_V4);
        while lab
            .sh(
                Role::Gateway,
                &["curl", "-s", "-m", "1", "-o", "/dev/null", &probe],
            )
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "webhook receiver not up: {}",
                std::fs::read_to_string(lab.dir().join("webhook.log")).unwrap_or_default(),
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Webhook { child, out }
    }

    fn url(&self) -> String {
        format!("http://{}:{WEBHOOK_PORT}/hook", addr::GW_LAN_V4)
    }

    fn received(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PC reaching a blocked site by its address, never asking the gateway's DNS (a
/// hard-coded address, another resolver over HTTPS): once the gateway has seen the name
/// in the PC's own request (HTTP Host, TLS SNI), the address is blocked for its group.
#[test]
fn a_blocked_site_reached_by_its_address_is_blocked_once_its_name_is_seen() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let groups = r#"
[[groups]]
name = "staff"

[[groups.rules]]
action = "block"
domains = ["social.example"]
"#;
    let og = start(&lab, &pins, groups, &[]);
    let social = format!("http://{}{}", addr::SITE_SOCIAL_V4, addr::HEALTH_PATH);
    // The first connection goes through: nothing tied the address to the name yet.
    lab.sh(
        Role::Pc(1),
        &[
            "curl",
            "-sf",
            "-o",
            "/dev/null",
            "-m",
            "4",
            "-H",
            "Host: social.example",
            &social,
        ],
    )
    .expect("the first direct connection");
    let deadline = Instant::now() + Duration::from_secs(15);
    while reaches(&lab, 1, &social) {
        assert!(
            Instant::now() < deadline,
            "the address stays open for staff: {}",
            og.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(reaches(&lab, 2, &social), "pc2 is not staff");
}
