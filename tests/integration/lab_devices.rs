//! Devices the policy does not list: they get the group the policy names for them, in
//! the DNS filter and in the datapath, and move when the admin places them.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use officegate_lab::{
    Lab, LabConfig, Role, addr,
    officegate::{Officegate, lab_config, pin_dir_for},
};

use crate::support::{
    dns::short,
    http::{TOKEN, reaches},
    office::BIN,
    pins::PinDir,
};

/// staff blocks social.example by name and the video site by address; `open` has no
/// rule. pc1 is listed without a group (`default`); pc2 is listed only in `pc2`.
fn policy(pc2: &str) -> String {
    format!(
        "version = 1\ntime_zone = \"UTC\"\nunknown_devices = \"staff\"\n\n\
         [[groups]]\nname = \"staff\"\n\n\
         [[groups.rules]]\naction = \"block\"\ndomains = [\"social.example\"]\n\n\
         [[groups.rules]]\naction = \"block\"\naddresses = [\"{}\"]\n\n\
         [[groups]]\nname = \"open\"\n\n\
         [[pcs]]\nname = \"pc1\"\naddresses = [\"{}\"]\n\n{pc2}",
        addr::SITE_VIDEO_V4,
        addr::pc_v4(1),
    )
}

#[test]
fn an_unlisted_device_gets_the_named_group_and_moves_when_the_admin_places_it() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let config = format!(
        "{}\n[api]\nlisten = [\"{}:8080\"]\ntoken = \"{TOKEN}\"\n",
        lab_config(&pins.0),
        addr::GW_LAN_V4
    );
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
    let auth = format!("Authorization: Bearer {TOKEN}");
    let url = format!("http://{}:8080/api/v1/devices", addr::GW_LAN_V4);
    let body = lab
        .sh(Role::Pc(1), &["curl", "-sf", "-m", "5", "-H", &auth, &url])
        .expect("GET /api/v1/devices");
    let devices: serde_json::Value = serde_json::from_str(&body).expect("json");
    let device = |mac: String| {
        devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["mac"] == mac.as_str())
            .unwrap_or_else(|| panic!("{mac} in {devices:#}"))
            .clone()
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
    // The admin places pc2 in `open`: its rules apply within a second of the reload.
    let placed = format!(
        "[[pcs]]\nname = \"pc2\"\naddresses = [\"{}\"]\ngroup = \"open\"\n",
        addr::pc_v4(2)
    );
    std::fs::write(og.policy_path(), policy(&placed)).unwrap();
    og.reload().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while short(&lab, 2, "social.example", "A") == page {
        assert!(
            Instant::now() < deadline,
            "pc2 still in staff: {}",
            og.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(reaches(&lab, 2, &video), "open for pc2 now");
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
