//! Devices the policy does not list: they get the group the policy names for them, in
//! the DNS filter and in the datapath, and move when the admin places them.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use officegate_lab::{
    Lab, LabConfig, Role, addr, link_stats,
    officegate::{Officegate, lab_config, pin_dir_for},
};

use crate::support::{
    browser::browser,
    dns::{dig, short},
    http::{TOKEN, add_user_to, reaches},
    office::{BIN, COUNTERS},
    pins::PinDir,
};

/// Devices the policy does not list are staff's, which blocks social.example by name and
/// the video site by address; `open` has no rule. `rest` follows.
fn staff_and_open(rest: &str) -> String {
    format!(
        "version = 1\ntime_zone = \"UTC\"\nunknown_devices = \"staff\"\n\n\
         [[groups]]\nname = \"staff\"\n\n\
         [[groups.rules]]\naction = \"block\"\ndomains = [\"social.example\"]\n\n\
         [[groups.rules]]\naction = \"block\"\naddresses = [\"{}\"]\n\n\
         [[groups]]\nname = \"open\"\n\n\
         {rest}",
        addr::SITE_VIDEO_V4,
    )
}

/// `staff_and_open` with pc1 listed without a group (`default`), and pc2 listed only in
/// `pc2`.
fn policy(pc2: &str) -> String {
    staff_and_open(&format!(
        "[[pcs]]\nname = \"pc1\"\naddresses = [\"{}\"]\n\n{pc2}",
        addr::pc_v4(1)
    ))
}

/// Waits (5 s at most) until PC `pc` gets social.example's real address from the DNS
/// filter: it is out of staff (`what` says where the test is).
fn wait_social_open(lab: &Lab, og: &Officegate, pc: usize, what: &str) {
    let page = addr::GW_LAN_V4.to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    while short(lab, pc, "social.example", "A") == page {
        assert!(
            Instant::now() < deadline,
            "{what}: pc{pc} still in staff\n{}",
            og.log_text()
        );
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// The rows of an API list whose `key` is `value`.
fn rows_with<'a>(
    list: &'a serde_json::Value,
    key: &str,
    value: &str,
) -> Vec<&'a serde_json::Value> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|r| r[key] == value)
        .collect()
}

/// The lab's daemon configuration with the API on the gateway's LAN address.
fn with_api(pins: &PinDir) -> String {
    format!(
        "{}\n[api]\nlisten = [\"{}:8080\"]\ntoken = \"{TOKEN}\"\n",
        lab_config(&pins.0),
        addr::GW_LAN_V4
    )
}

#[test]
fn an_unlisted_device_gets_the_named_group_and_moves_when_the_admin_places_it() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let config = with_api(&pins);
    let og =
        Officegate::start(&lab, Path::new(BIN), &config, &policy("")).expect("officegate start");
    let video = format!("http://{}/health", addr::SITE_VIDEO_V4);
    let page = addr::GW_LAN_V4.to_string();
    // pc2 is nowhere in the policy: staff's rules, by name and by address.
    assert_eq!(short(&lab, 2, "social.example", "A"), page);
    assert!(!reaches(&lab, 2, &video), "the datapath drops it for pc2");
    // pc1 is listed, in no group: `default`, no rules.
    assert_ne!(short(&lab, 1, "social.example", "A"), page);
    assert!(reaches(&lab, 1, &video));
    // `officegate pcs` names them: pc1 by the policy, both groups by name.
    let dir = og.policy_path().parent().unwrap().display().to_string();
    let table = og.tool(&["pcs", "--policy", &dir]).unwrap();
    let row = |addr: String| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{addr} ")))
            .unwrap_or_else(|| panic!("{addr} in\n{table}"))
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let (pc1, pc2) = (
        row(addr::pc_v4(1).to_string()),
        row(addr::pc_v4(2).to_string()),
    );
    assert_eq!(
        (pc1[1].as_str(), pc1[3].as_str()),
        ("pc1", "default"),
        "{table}"
    );
    assert_eq!(
        (pc2[1].as_str(), pc2[3].as_str()),
        ("-", "staff"),
        "{table}"
    );
    // The devices API lists it by its MAC, in staff, not named by the policy.
    let devices = get_json(&lab, 1, "/api/v1/devices");
    let device = |mac: String| match rows_with(&devices, "mac", &mac)[..] {
        [d] => d.clone(),
        _ => panic!("{mac} in {devices:#}"),
    };
    let d2 = device(addr::mac_string(addr::pc_mac(2)));
    assert_eq!(d2["group"], "staff", "{d2:#}");
    assert!(d2["pc"].is_null(), "{d2:#}");
    let v4 = addr::pc_v4(2).to_string();
    let addrs = d2["addresses"].as_array().unwrap();
    assert!(addrs.iter().any(|a| a == v4.as_str()), "{d2:#}");
    let d1 = device(addr::mac_string(addr::pc_mac(1)));
    assert_eq!(
        (&d1["pc"], &d1["group"]),
        (&"pc1".into(), &"default".into())
    );
    // A megabyte counted under the name it has now (its MAC): its history, which must
    // follow it to the name the admin gives it.
    let file = format!("http://{}{}", addr::SITE_NEWS_V4, addr::FILE_1M);
    assert!(reaches(&lab, 2, &file));
    // Seen: first and last seen from the store (written by the next tick for a new
    // device), and reported as new.
    let mac2 = addr::mac_string(addr::pc_mac(2));
    let deadline = Instant::now() + Duration::from_secs(5);
    let d2 = loop {
        let all = get_json(&lab, 1, "/api/v1/devices");
        let d2 = rows_with(&all, "mac", &mac2)
            .first()
            .map(|d| (*d).clone())
            .unwrap_or_default();
        if d2["first_seen_ms"].is_i64() || Instant::now() > deadline {
            break d2;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(d2["first_seen_ms"].as_i64().is_some(), "{d2:#}");
    assert!(
        d2["last_seen_ms"].as_i64() >= d2["first_seen_ms"].as_i64(),
        "{d2:#}"
    );
    let events = get_json(&lab, 1, "/api/v1/events?source=devices");
    let new = rows_with(&events, "kind", "new");
    assert!(
        new.iter().any(|e| e["details"]["mac"] == mac2.as_str()),
        "{events:#}"
    );
    // The admin names pc2 on the Devices page and places it in `open`: written into
    // office.toml as a PC known by its MAC, its rules apply at once.
    add_user_to(&og, "boss", "admin", None, "boss password 1");
    let placed = browser(
        &lab,
        1,
        "place_device",
        serde_json::json!({"user": "boss", "password": "boss password 1",
            "mac": mac2, "name": "guest-laptop", "group": "open"}),
    );
    assert!(
        placed["message"]
            .as_str()
            .unwrap()
            .contains("placed in open"),
        "{placed:#}"
    );
    assert!(
        placed["row"].as_str().unwrap().contains("open"),
        "{placed:#}"
    );
    let written = std::fs::read_to_string(og.policy_path()).unwrap();
    assert!(
        written.contains(&format!(
            "name = \"guest-laptop\"\nmac = \"{mac2}\"\ngroup = \"open\""
        )),
        "{written}"
    );
    wait_social_open(&lab, &og, 2, "placed in open");
    assert!(reaches(&lab, 2, &video), "open for pc2 now");
    // Its history came along: today's megabyte is guest-laptop's, no row is left under
    // its MAC, and the move is an event.
    let deadline = Instant::now() + Duration::from_secs(10);
    let today = loop {
        let rows = get_json(&lab, 1, "/api/v1/pcs");
        let rows = rows.as_array().unwrap();
        assert!(
            !rows.iter().any(|r| r["name"] == mac2.as_str()),
            "{rows:#?}"
        );
        let today = rows
            .iter()
            .find(|r| r["name"] == "guest-laptop")
            .and_then(|r| r["today_bytes"].as_u64())
            .unwrap_or(0);
        if today > 1_000_000 || Instant::now() > deadline {
            break today;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(today > 1_000_000, "guest-laptop today: {today}");
    let events = get_json(&lab, 1, "/api/v1/events?source=devices");
    let renamed = rows_with(&events, "kind", "renamed");
    assert!(
        renamed.iter().any(|e| e["subject"] == "guest-laptop"),
        "{events:#}"
    );
    // Taken out of the policy again: back to the group for unlisted devices.
    std::fs::write(og.policy_path(), policy("")).unwrap();
    og.reload().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while reaches(&lab, 2, &video) {
        assert!(Instant::now() < deadline, "pc2 not back in staff");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(short(&lab, 2, "social.example", "A"), page);
}

/// `officegate pcs --json`, one line per device, by MAC.
fn devices_by_mac(og: &Officegate) -> std::collections::HashMap<String, serde_json::Value> {
    og.tool(&["pcs", "--json"])
        .expect("officegate pcs")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .map(|v| (v["mac"].as_str().unwrap().to_string(), v))
        .collect()
}

fn counts(v: &serde_json::Value) -> [u64; 6] {
    COUNTERS.map(|k| v[k].as_u64().unwrap())
}

/// `count` pings from PC `pc` with source address `from` to `to`; whether answers come
/// back is not the point (the gateway's neighbour entry may name another device).
fn ping_from(lab: &Lab, pc: usize, from: &str, to: &str, count: u32) {
    let count = count.to_string();
    let _ = lab.exec(
        Role::Pc(pc),
        &[
            "ping", "-c", &count, "-i", "0.05", "-W", "1", "-I", from, to,
        ],
    );
}

/// An API answer with the bearer token, asked from `pc`.
fn get_json(lab: &Lab, pc: usize, path: &str) -> serde_json::Value {
    let auth = format!("Authorization: Bearer {TOKEN}");
    let url = format!("http://{}:8080{path}", addr::GW_LAN_V4);
    let body = lab
        .sh(Role::Pc(pc), &["curl", "-sf", "-m", "5", "-H", &auth, &url])
        .unwrap_or_else(|e| panic!("GET {path}: {e:#}"));
    serde_json::from_str(&body).expect("json")
}

/// pc1 is listed by MAC only, in `open`; everything else falls into `staff`, which
/// blocks the video site by address and social.example by name. pc1 takes a new DHCP
/// lease and a new IPv6 privacy address: it stays pc1 — one device, one row, its rules,
/// counts exact against its interface, its limit enforced. pc2 then forges pc1's
/// address: it gets its own rights, is charged for it, and is reported.
#[test]
fn a_pc_known_by_mac_stays_itself_across_new_addresses_and_a_forger_gets_nothing() {
    let lab = Lab::up(LabConfig { pcs: 3 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let config = with_api(&pins);
    let mac1 = addr::mac_string(addr::pc_mac(1));
    let policy = staff_and_open(&format!(
        "[[pcs]]\nname = \"pc1\"\nmac = \"{mac1}\"\ngroup = \"open\"\n\n\
         [[limits]]\npc = \"pc1\"\nper = \"day\"\nbytes = \"3 MB\"\n"
    ));
    let og = Officegate::start(&lab, Path::new(BIN), &config, &policy).expect("officegate start");
    let pc1 = Role::Pc(1);
    let sh = |role: Role, cmd: &str| {
        lab.sh(role, &["sh", "-c", cmd])
            .unwrap_or_else(|e| panic!("{cmd}: {e:#}"))
    };
    let video = format!("http://{}/health", addr::SITE_VIDEO_V4);
    // Its first addresses: open's rules, by MAC alone.
    let wait_open = |what: &str| wait_social_open(&lab, &og, 1, what);
    wait_open("first address");
    assert!(reaches(&lab, 1, &video));

    // The new lease and privacy address exist beside the old ones for a moment (as a
    // renewing client has them); each is warmed up so the gateway knows its neighbour
    // before the counted window (its multicast solicitations belong to no PC).
    let (new4, new6) = ("10.10.0.111", "fd0a:10::ab:cd:11");
    let (old4, old6) = (addr::pc_v4(1).to_string(), addr::pc_v6(1).to_string());
    sh(
        pc1,
        &format!(
            "sysctl -qw net.ipv4.conf.eth0.promote_secondaries=1 && \
             ip addr add {new4}/24 dev eth0 && ip -6 addr add {new6}/64 dev eth0 nodad"
        ),
    );
    for (src, dst) in [
        (old4.as_str(), addr::GW_LAN_V4.to_string()),
        (new4, addr::GW_LAN_V4.to_string()),
        (old6.as_str(), addr::GW_LAN_V6.to_string()),
        (new6, addr::GW_LAN_V6.to_string()),
    ] {
        sh(pc1, &format!("ping -c 1 -W 2 -I {src} {dst}"));
    }
    std::thread::sleep(Duration::from_millis(300));
    let before_if = link_stats(&lab, pc1, addr::PC_IF).unwrap();
    let before = counts(&devices_by_mac(&og)[&mac1]);
    // Traffic from the old addresses, the old ones dropped (the lease moved on), traffic
    // from the new ones only.
    sh(
        pc1,
        &format!("ping -c 5 -i 0.05 -W 2 -I {old4} {}", addr::SITE_VIDEO_V4),
    );
    sh(
        pc1,
        &format!(
            "ip addr del {old4}/24 dev eth0 && ip -6 addr del {old6}/64 dev eth0 && \
             ip route replace default via {} && ip -6 route replace default via {}",
            addr::GW_LAN_V4,
            addr::GW_LAN_V6
        ),
    );
    sh(
        pc1,
        &format!("ping -c 5 -i 0.05 -W 2 {}", addr::SITE_VIDEO_V4),
    );
    sh(
        pc1,
        &format!("ping -6 -c 5 -i 0.05 -W 2 {}", addr::SITE_VIDEO_V6),
    );
    assert!(reaches(&lab, 1, &video), "open's rules on the new lease");
    std::thread::sleep(Duration::from_millis(300));
    let after_if = link_stats(&lab, pc1, addr::PC_IF)
        .unwrap()
        .since(&before_if);
    let d1 = devices_by_mac(&og)[&mac1].clone();
    let after = counts(&d1);
    let ours: Vec<u64> = (0..6).map(|k| after[k] - before[k]).collect();
    assert_eq!(
        [ours[0], ours[1], ours[2], ours[3]],
        [
            after_if.tx_packets,
            after_if.tx_bytes,
            after_if.rx_packets,
            after_if.rx_bytes
        ],
        "one device's counts, exact across the change: {d1}"
    );
    let addrs: Vec<&str> = d1["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(addrs.contains(&new4) && addrs.contains(&new6), "{d1}");
    // The DNS filter knows the new address as pc1 too (open: not the block page).
    wait_open("new lease");
    // One row: in the PCs view and on the Devices page.
    let rows = get_json(&lab, 3, "/api/v1/pcs");
    let pc1_rows = rows_with(&rows, "name", "pc1");
    assert_eq!(pc1_rows.len(), 1, "{rows:#}");
    assert!(
        pc1_rows[0]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == new4),
        "{rows:#}"
    );
    let devices = get_json(&lab, 3, "/api/v1/devices");
    let mine = rows_with(&devices, "pc", "pc1");
    assert_eq!(mine.len(), 1, "{devices:#}");
    assert_eq!(mine[0]["group"], "open");

    // Its limit holds on the new address: 3 MB, then cut off.
    let file = format!("http://{}{}", addr::SITE_NEWS_V4, addr::FILE_1M);
    for _ in 0..4 {
        let _ = reaches(&lab, 1, &file);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while devices_by_mac(&og)[&mac1]["state"] != "over-quota" {
        assert!(
            Instant::now() < deadline,
            "pc1 not over quota: {}",
            og.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!reaches(&lab, 1, &video), "over its limit on the new lease");

    // pc2 (staff) forges pc1's new address to reach what only open may.
    let mac2 = addr::mac_string(addr::pc_mac(2));
    sh(Role::Pc(2), &format!("ping -c 1 -W 2 {}", addr::GW_LAN_V4));
    let (p1, p2) = (
        counts(&devices_by_mac(&og)[&mac1]),
        counts(&devices_by_mac(&og)[&mac2]),
    );
    sh(Role::Pc(2), &format!("ip addr add {new4}/32 dev eth0"));
    ping_from(&lab, 2, new4, &addr::SITE_VIDEO_V4.to_string(), 5);
    let now = devices_by_mac(&og);
    let (q1, q2) = (counts(&now[&mac1]), counts(&now[&mac2]));
    assert!(
        q2[4] >= p2[4] + 5,
        "pc2's own rights: its pings dropped, on it: {}",
        now[&mac2]
    );
    assert_eq!(q1[0], p1[0], "nothing charged to pc1: {}", now[&mac1]);
    assert!(
        now[&mac2]["spoofed"].as_u64().unwrap() >= 1,
        "{}",
        now[&mac2]
    );
    // Reported: the event and the Devices page.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let events = get_json(&lab, 3, "/api/v1/events?source=devices");
        let text = events.to_string();
        if text.contains("spoofing") {
            break;
        }
        assert!(Instant::now() < deadline, "no spoofing event: {events:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let devices = get_json(&lab, 3, "/api/v1/devices");
    let d2 = rows_with(&devices, "mac", &mac2)[0];
    assert!(d2["spoofed"].as_u64().unwrap() >= 1, "{d2:#}");
}

/// The office's DHCP server leased 10.10.0.77 to pc1 (`[names] dhcp_leases`). pc2 taking
/// it first, before pc1 ever used it, does not make it pc2's: the lease decides. pc2 is
/// judged as itself and reported as spoofing; pc1, once it takes its lease, is the
/// address's device.
#[test]
fn a_leased_address_is_its_lease_holders_whoever_sends_with_it_first() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let leased = "10.10.0.77";
    let (mac1, mac2) = (
        addr::mac_string(addr::pc_mac(1)),
        addr::mac_string(addr::pc_mac(2)),
    );
    let leases = lab.dir().join("dnsmasq.leases");
    std::fs::write(
        &leases,
        format!("4102444800 {mac1} {leased} pc1-laptop *\n"),
    )
    .unwrap();
    let config = format!(
        "{}\n[names]\ndhcp_leases = \"{}\"\n",
        lab_config(&pins.0),
        leases.display()
    );
    let policy = "version = 1\ntime_zone = \"UTC\"\n";
    let og = Officegate::start(&lab, Path::new(BIN), &config, policy).expect("officegate start");
    let sh = |role: Role, cmd: &str| {
        lab.sh(role, &["sh", "-c", cmd])
            .unwrap_or_else(|e| panic!("{cmd}: {e:#}"))
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !og.log_text().contains("bound leased addresses") {
        assert!(Instant::now() < deadline, "no binding: {}", og.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Both met under their own addresses first.
    for pc in [1, 2] {
        sh(Role::Pc(pc), &format!("ping -c 1 -W 2 {}", addr::GW_LAN_V4));
    }
    sh(Role::Pc(2), &format!("ip addr add {leased}/32 dev eth0"));
    ping_from(&lab, 2, leased, &addr::SITE_NEWS_V4.to_string(), 3);
    let now = devices_by_mac(&og);
    let addresses = |d: &serde_json::Value| d["addresses"].to_string();
    assert!(
        now[&mac2]["spoofed"].as_u64().unwrap() >= 1,
        "{}",
        now[&mac2]
    );
    assert!(!addresses(&now[&mac2]).contains(leased), "{}", now[&mac2]);
    // pc2 lets it go, pc1 takes its lease: the address is pc1's. (To another site: the
    // flow pc2 opened is not judged again per packet.)
    sh(Role::Pc(2), &format!("ip addr del {leased}/32 dev eth0"));
    sh(Role::Pc(1), &format!("ip addr add {leased}/32 dev eth0"));
    // The replies may still go to pc2's MAC (the gateway's neighbour entry for the
    // address is older): what is judged here is what pc1 sends.
    ping_from(&lab, 1, leased, &addr::SITE_VIDEO_V4.to_string(), 2);
    let now = devices_by_mac(&og);
    assert!(addresses(&now[&mac1]).contains(leased), "{}", now[&mac1]);
    assert!(!addresses(&now[&mac2]).contains(leased), "{}", now[&mac2]);
}

/// Devices the policy does not list follow their network: `guests` names pc2's IPv4
/// range, so pc2 gets guests' rules — by name in DNS, asked over IPv4 and over IPv6 (its
/// device's addresses are one), and by address in the datapath — while pc1, in no
/// network, gets `unknown_devices`' (staff).
#[test]
fn an_unlisted_device_in_a_groups_network_gets_that_group() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let policy = format!(
        "version = 1\ntime_zone = \"UTC\"\nunknown_devices = \"staff\"\n\n\
         [[groups]]\nname = \"staff\"\n\n\
         [[groups.rules]]\naction = \"block\"\ndomains = [\"social.example\"]\n\n\
         [[groups]]\nname = \"guests\"\nnetworks = [\"{}/31\"]\n\n\
         [[groups.rules]]\naction = \"block\"\ndomains = [\"news.example\"]\n\n\
         [[groups.rules]]\naction = \"block\"\naddresses = [\"{}\"]\n",
        addr::pc_v4(2),
        addr::SITE_VIDEO_V4,
    );
    let og = Officegate::start(&lab, Path::new(BIN), &lab_config(&pins.0), &policy)
        .expect("officegate start");
    let page = addr::GW_LAN_V4.to_string();
    let video = format!("http://{}/health", addr::SITE_VIDEO_V4);
    // Both met (and the tick's address table read) before the checks.
    for pc in [1, 2] {
        let _ = short(&lab, pc, "example.org", "A");
        let _ = lab.exec(
            Role::Pc(pc),
            &["ping6", "-c", "1", "-W", "2", &addr::GW_LAN_V6.to_string()],
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while reaches(&lab, 2, &video) {
        assert!(
            Instant::now() < deadline,
            "pc2 not in guests: {}",
            og.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(short(&lab, 2, "news.example", "A"), page);
    assert_ne!(short(&lab, 2, "social.example", "A"), page);
    let v6 = format!("@{}", addr::GW_LAN_V6);
    let over_v6 = dig(&lab, 2, &[&v6, "+short", "news.example", "A"]);
    assert!(over_v6.contains(&page), "asked over IPv6: {over_v6}");
    // pc1: staff.
    assert!(reaches(&lab, 1, &video));
    assert_eq!(short(&lab, 1, "social.example", "A"), page);
    assert_ne!(short(&lab, 1, "news.example", "A"), page);
    let devices = devices_by_mac(&og);
    // The datapath's group id of `guests` (1 + its place in the policy).
    assert_eq!(
        devices[&addr::mac_string(addr::pc_mac(2))]["group"],
        2,
        "{devices:#?}"
    );
}

/// A PC listed by its DHCP host name: the device the lease file names `reception` (pc2,
/// by its MAC) is PC `front-desk`, in `open`, whatever its address; pc1, unlisted, gets
/// `unknown_devices`' staff.
#[test]
fn a_pc_listed_by_its_dhcp_host_name_is_the_device_leased_under_it() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let leases = lab.dir().join("dnsmasq.leases");
    std::fs::write(
        &leases,
        format!(
            "4102444800 {} {} reception *\n",
            addr::mac_string(addr::pc_mac(2)),
            addr::pc_v4(2)
        ),
    )
    .unwrap();
    let config = format!(
        "{}\n[names]\ndhcp_leases = \"{}\"\n",
        lab_config(&pins.0),
        leases.display()
    );
    let policy = staff_and_open(
        "[[pcs]]\nname = \"front-desk\"\nhostname = \"Reception\"\ngroup = \"open\"\n",
    );
    let og = Officegate::start(&lab, Path::new(BIN), &config, &policy).expect("officegate start");
    let page = addr::GW_LAN_V4.to_string();
    let video = format!("http://{}/health", addr::SITE_VIDEO_V4);
    // Front-desk's rules in the DNS filter within a second of pc2's first packet (its
    // address is learned with its MAC), and in the datapath.
    wait_social_open(&lab, &og, 2, "front-desk by host name");
    assert!(reaches(&lab, 2, &video));
    assert!(!reaches(&lab, 1, &video));
    assert_eq!(short(&lab, 1, "social.example", "A"), page);
    let dir = og.policy_path().parent().unwrap().display().to_string();
    let leases = leases.display().to_string();
    let table = og
        .tool(&["pcs", "--policy", &dir, "--leases", &leases])
        .unwrap();
    assert!(
        table
            .lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>())
            .any(|l| l == [addr::pc_v4(2).to_string().as_str(), "front-desk"]),
        "{table}"
    );
}
