//! Failover in the office lab: the daemon probing both channels, real faults on the
//! primary ISP (link down, 100% loss, upstream black hole), a PC opening connections every
//! 10 ms throughout, and the event log and `officegate wan status` checked against what the
//! PC saw.

use std::time::{Duration, Instant};

use officegate_lab::{
    Lab, Role, addr,
    wan::{Fault, Prober, Via, lab_wan_section},
};
use serde_json::Value;

use crate::support::{
    dns::short,
    office::{Office, office_with},
};

/// Generous deadlines: these are waits, not measurements (`cargo xtask bench failover`
/// measures).
const FAILOVER_WITHIN: Duration = Duration::from_secs(10);

fn office_with_wan(extra: &str) -> Office {
    let extra = extra.to_string();
    office_with(move |_, config| format!("{config}{}", lab_wan_section(&extra)))
}

fn prober(lab: &Lab) -> Prober {
    Prober::start(
        lab,
        2,
        Duration::from_millis(10),
        Duration::from_millis(500),
    )
    .expect("prober")
}

/// The `wan` events of the daemon, oldest first, as (kind, subject).
fn events(o: &Office) -> Vec<(String, String)> {
    let v = o.og.wan_status(1000).expect("wan status");
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn switches(o: &Office) -> Vec<(String, String)> {
    events(o)
        .into_iter()
        .filter(|(k, _)| k == "failover" || k == "failback")
        .collect()
}

/// The switches once there are `n` of them (events reach the database a moment after the
/// status file shows the switch), or whatever there is after a few seconds.
fn switches_when(o: &Office, n: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let sw = switches(o);
        if sw.len() >= n || Instant::now() > deadline {
            return sw;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether an event of `kind` (about `subject`, if given) arrives within a few seconds.
fn event_arrives(o: &Office, kind: &str, subject: Option<&str>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if events(o)
            .iter()
            .any(|(k, s)| k == kind && subject.is_none_or(|x| x == s))
        {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn status(o: &Office) -> Value {
    o.og.wan_status(0).expect("wan status")["status"].clone()
}

fn wait_status(o: &Office, what: &str, limit: Duration, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let s = status(o);
        if f(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {limit:?}; status {s:#}\nevents {:?}\nlog:\n{}",
            events(o),
            o.og.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn active_is(name: &'static str) -> impl Fn(&Value) -> bool {
    move |s| s["active"].as_str() == Some(name)
}

/// Successful attempts' channels in order of start, with repeats collapsed: the story of
/// where the PC's new connections went.
fn story(attempts: &[officegate_lab::wan::Attempt]) -> Vec<Via> {
    let mut out: Vec<Via> = Vec::new();
    for v in attempts.iter().filter_map(|a| a.via) {
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    out
}

#[test]
fn each_fault_on_the_primary_moves_the_office_to_the_backup_and_back_once() {
    // Three faults within seconds would rightly count as flapping; this test is about each
    // fault on its own.
    let o = office_with_wan("hold_down_s = 2\nup_after = 10\nflap_count = 10");
    wait_status(
        &o,
        "primary active at start",
        FAILOVER_WITHIN,
        active_is("primary"),
    );
    let p = prober(&o.lab);
    assert!(
        p.wait_for(Via::Primary, Instant::now(), FAILOVER_WITHIN)
            .is_some(),
        "no connection over the primary at start"
    );
    for (n, fault) in Fault::ALL.into_iter().enumerate() {
        let t0 = Instant::now();
        o.lab.inject(Role::IspPrimary, fault).expect("inject");
        assert!(
            p.wait_for(Via::Backup, t0, FAILOVER_WITHIN).is_some(),
            "{fault:?}: no new connection over the backup\n{}",
            o.og.log_text()
        );
        // DNS keeps answering: the daemon's upstream is reached over the backup now.
        assert_eq!(
            short(&o.lab, 1, "news.example", "A"),
            addr::SITE_NEWS_V4.to_string(),
            "{fault:?}: DNS after failover"
        );
        let s = status(&o);
        assert_eq!(s["active"], "backup", "{fault:?}: {s:#}");
        assert_eq!(s["channels"][0]["state"], "down", "{fault:?}: {s:#}");
        let t1 = Instant::now();
        o.lab.heal(Role::IspPrimary, fault).expect("heal");
        assert!(
            p.wait_for(Via::Primary, t1, FAILOVER_WITHIN).is_some(),
            "{fault:?}: traffic did not come back to the primary\n{}",
            o.og.log_text()
        );
        wait_status(
            &o,
            "primary active again",
            FAILOVER_WITHIN,
            active_is("primary"),
        );
        let sw = switches_when(&o, 2 * (n + 1));
        assert_eq!(
            sw.len(),
            2 * (n + 1),
            "{fault:?}: exactly one failover and one failback per fault: {sw:?}"
        );
        assert_eq!(sw[2 * n], ("failover".to_string(), "backup".to_string()));
        assert_eq!(
            sw[2 * n + 1],
            ("failback".to_string(), "primary".to_string())
        );
    }
    let attempts = p.stop();
    let story = story(&attempts);
    let mut expected = vec![Via::Primary];
    for _ in Fault::ALL {
        expected.extend([Via::Backup, Via::Primary]);
    }
    assert_eq!(story, expected, "where new connections went");
    // The channel-down events carry their reason: the carrier loss seen at once, the
    // silent faults from unanswered probes.
    let v = o.og.wan_status(1000).unwrap();
    let downs: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "channel_down")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(downs.len(), 3, "{downs:#?}");
    assert!(downs[0].contains("no carrier"), "{downs:#?}");
    assert!(downs[1].contains("unanswered"), "{downs:#?}");
    assert!(downs[2].contains("unanswered"), "{downs:#?}");
    // The datapath counted both channels' traffic and handshakes.
    let s = status(&o);
    for ch in s["channels"].as_array().unwrap() {
        for k in ["bytes_in", "bytes_out", "syn_out", "synack_in"] {
            assert!(ch[k].as_u64().unwrap() > 0, "{k} of {}: {ch:#}", ch["name"]);
        }
    }
}

#[test]
fn a_flapping_primary_does_not_make_the_office_flap() {
    let o = office_with_wan("hold_down_s = 4\nup_after = 10\nflap_count = 3\nflap_hold_s = 6");
    wait_status(
        &o,
        "primary active at start",
        FAILOVER_WITHIN,
        active_is("primary"),
    );
    let p = prober(&o.lab);
    assert!(
        p.wait_for(Via::Primary, Instant::now(), FAILOVER_WITHIN)
            .is_some()
    );
    // Down 1 s, up 2 s, four times.
    for _ in 0..4 {
        o.lab.inject(Role::IspPrimary, Fault::LinkDown).unwrap();
        std::thread::sleep(Duration::from_secs(1));
        o.lab.heal(Role::IspPrimary, Fault::LinkDown).unwrap();
        std::thread::sleep(Duration::from_secs(2));
    }
    let sw = switches_when(&o, 1);
    assert_eq!(
        sw,
        [("failover".to_string(), "backup".to_string())],
        "one failover while the primary flaps"
    );
    assert!(
        event_arrives(&o, "channel_flapping", Some("primary")),
        "the flapping is reported: {:?}",
        events(&o)
    );
    // Once it stays up, it is held for the flap hold, then traffic returns once.
    wait_status(
        &o,
        "failback after the flap hold",
        Duration::from_secs(20),
        active_is("primary"),
    );
    assert_eq!(switches_when(&o, 2).len(), 2);
    let story = story(&p.stop());
    assert_eq!(story, [Via::Primary, Via::Backup, Via::Primary]);
}

#[test]
fn with_both_channels_dead_the_state_says_so_and_either_brings_traffic_back() {
    let o = office_with_wan("hold_down_s = 30\nup_after = 5");
    wait_status(
        &o,
        "primary active at start",
        FAILOVER_WITHIN,
        active_is("primary"),
    );
    o.lab.inject(Role::IspPrimary, Fault::Loss).unwrap();
    o.lab
        .inject(Role::IspBackup, Fault::UpstreamBlackhole)
        .unwrap();
    wait_status(&o, "all down", FAILOVER_WITHIN, |s| s["all_down"] == true);
    assert!(event_arrives(&o, "all_down", None), "{:?}", events(&o));
    // The backup recovers first: traffic goes there at once (no hold-down with nothing
    // else up), even though its priority is worse.
    let p = prober(&o.lab);
    let t = Instant::now();
    o.lab
        .heal(Role::IspBackup, Fault::UpstreamBlackhole)
        .unwrap();
    assert!(
        p.wait_for(Via::Backup, t, FAILOVER_WITHIN).is_some(),
        "traffic back over the backup\n{}",
        o.og.log_text()
    );
    let s = wait_status(&o, "not all down", FAILOVER_WITHIN, |s| {
        s["all_down"] == false
    });
    assert_eq!(s["active"], "backup");
}

#[test]
fn manual_failback_waits_for_the_admin() {
    let o = office_with_wan("hold_down_s = 1\nup_after = 3\nfailback = \"manual\"");
    wait_status(
        &o,
        "primary active at start",
        FAILOVER_WITHIN,
        active_is("primary"),
    );
    o.lab.inject(Role::IspPrimary, Fault::LinkDown).unwrap();
    wait_status(&o, "failover", FAILOVER_WITHIN, active_is("backup"));
    o.lab.heal(Role::IspPrimary, Fault::LinkDown).unwrap();
    wait_status(&o, "primary up again", FAILOVER_WITHIN, |s| {
        s["channels"][0]["state"] == "up"
    });
    // Up, yet the office stays on the backup until asked.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(status(&o)["active"], "backup");
    o.og.failback().unwrap();
    wait_status(&o, "manual failback", FAILOVER_WITHIN, active_is("primary"));
}

/// The gateway's own end of a channel set down and up (a cable replugged, a PPPoE or LTE
/// interface recreated): the kernel drops the routes through it; they are put back and
/// the channel comes back — the active one carrying the office again.
#[test]
fn a_channel_whose_link_goes_down_and_up_on_the_gateway_comes_back() {
    let o = office_with_wan("hold_down_s = 2\nup_after = 10\nflap_count = 10");
    let both_up =
        |s: &Value| s["channels"][0]["state"] == "up" && s["channels"][1]["state"] == "up";
    wait_status(&o, "both channels up at start", FAILOVER_WITHIN, both_up);
    let bounce = |interface: &str| {
        for state in ["down", "up"] {
            o.lab
                .sh(Role::Gateway, &["ip", "link", "set", interface, state])
                .unwrap();
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let table_has_default = |table: &str| {
        o.lab
            .sh(Role::Gateway, &["ip", "route", "show", "table", table])
            .unwrap_or_default()
            .contains("default")
    };
    // The backup, idle.
    bounce(addr::WAN_BACKUP_IF);
    wait_status(&o, "the backup up again", Duration::from_secs(20), both_up);
    assert!(table_has_default("102"), "the backup's table");
    // The primary, carrying the office: it fails over, then takes the office back.
    let p = prober(&o.lab);
    let t0 = Instant::now();
    bounce(addr::WAN_PRIMARY_IF);
    wait_status(&o, "the primary up again", Duration::from_secs(20), both_up);
    wait_status(
        &o,
        "the primary active again",
        FAILOVER_WITHIN,
        active_is("primary"),
    );
    assert!(table_has_default("101"), "the primary's table");
    let main = o
        .lab
        .sh(Role::Gateway, &["ip", "route", "show", "default"])
        .unwrap();
    assert!(main.contains(addr::WAN_PRIMARY_IF), "{main}");
    assert!(
        p.wait_for(Via::Primary, t0 + Duration::from_secs(1), FAILOVER_WITHIN)
            .is_some(),
        "new connections over the primary again\n{}",
        o.og.log_text()
    );
    p.stop();
}

/// A gateway (re)started while its primary ISP's link is down — a power cut, an upgrade
/// during an outage — starts on the backup, and takes the primary once it comes back.
#[test]
fn a_gateway_started_while_its_primary_link_is_down_runs_on_the_backup() {
    let o = office_with(|lab, config| {
        lab.inject(Role::IspPrimary, Fault::LinkDown)
            .expect("primary down");
        format!(
            "{config}{}",
            lab_wan_section("hold_down_s = 2\nup_after = 5\nflap_count = 10")
        )
    });
    wait_status(
        &o,
        "the backup active",
        FAILOVER_WITHIN,
        active_is("backup"),
    );
    let p = prober(&o.lab);
    let t0 = Instant::now();
    assert!(
        p.wait_for(Via::Backup, t0, FAILOVER_WITHIN).is_some(),
        "new connections over the backup\n{}",
        o.og.log_text()
    );
    o.lab
        .heal(Role::IspPrimary, Fault::LinkDown)
        .expect("primary up");
    wait_status(
        &o,
        "the primary active once back",
        Duration::from_secs(30),
        active_is("primary"),
    );
    p.stop();
}
