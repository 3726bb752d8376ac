//! No way around the filter, tried from the PCs as an employee would: another resolver
//! over UDP and TCP, DNS over TLS and over QUIC, a DNS-over-HTTPS endpoint of the real
//! public bypass list, by name and by address.

use std::time::{Duration, Instant};

use officegate_lab::{Lab, LabConfig, Role, addr, officegate::pin_dir_for};

use crate::support::{
    dns::{dig, logged},
    office::{office, office_with, start},
    pins::PinDir,
};

/// Runs `cmd` in PC `pc`'s namespace (with the lab's resolv.conf) and returns its exit
/// code and output: the code says how a client failed (curl: 7 refused, 28 timed out).
fn exit_code(lab: &Lab, pc: usize, cmd: &str) -> (i32, String) {
    let out = lab
        .sh(
            Role::Pc(pc),
            &["sh", "-c", &format!("{cmd} 2>&1; echo \"exit=$?\"")],
        )
        .unwrap_or_else(|e| panic!("pc{pc} {cmd}: {e:#}"));
    let code = out
        .rsplit_once("exit=")
        .and_then(|(_, c)| c.trim().parse().ok())
        .unwrap_or(-1);
    (code, out)
}

#[test]
fn another_resolver_gets_the_filtered_answer_and_encrypted_dns_is_refused_at_once() {
    let o = office();
    let lab = &o.lab;
    let page4 = addr::GW_LAN_V4.to_string();
    // pc1 is staff (social.example blocked): asking the lab's resolver, or the bypass
    // resolver, directly — UDP and TCP, IPv4 and IPv6 — gives the gateway's answer.
    for server in [
        addr::RESOLVER_V4.to_string(),
        addr::DOH_V4.to_string(),
        addr::RESOLVER_V6.to_string(),
    ] {
        for tcp in ["+notcp", "+tcp"] {
            let at = format!("@{server}");
            let a = lab
                .sh(
                    Role::Pc(1),
                    &[
                        "dig",
                        "+time=2",
                        "+tries=1",
                        "+short",
                        tcp,
                        &at,
                        "social.example",
                        "A",
                    ],
                )
                .unwrap_or_else(|e| panic!("dig {at} {tcp}: {e:#}"));
            assert_eq!(a.trim(), page4, "pc1 asking {at} {tcp}");
        }
    }
    // The answer seems to come from the server asked (dig checks the source; a
    // mismatch would be "reply from unexpected source").
    let full = lab
        .sh(
            Role::Pc(1),
            &[
                "dig",
                "+time=2",
                "+tries=1",
                &format!("@{}", addr::RESOLVER_V4),
                "social.example",
            ],
        )
        .unwrap();
    assert!(
        full.contains(&format!("SERVER: {}#53", addr::RESOLVER_V4)),
        "{full}"
    );
    // pc2 (no rule on it) gets the real answer the same way, through the filter.
    let a = lab
        .sh(
            Role::Pc(2),
            &[
                "dig",
                "+time=2",
                "+tries=1",
                "+short",
                &format!("@{}", addr::RESOLVER_V4),
                "social.example",
                "A",
            ],
        )
        .unwrap();
    assert_eq!(a.trim(), addr::SITE_SOCIAL_V4.to_string());
    // Asked of the gateway itself: not intercepted.
    assert_eq!(
        dig(lab, 1, &["+short", "news.example", "A"]).trim(),
        addr::SITE_NEWS_V4.to_string()
    );
    // The query log says which were intercepted, per PC (identical queries within a
    // second are one row with a count).
    let pc1_count = |rows: &[serde_json::Value]| -> u64 {
        rows.iter()
            .filter(|r| r["pc"] == "pc1")
            .map(|r| r["count"].as_u64().unwrap_or(0))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let intercepted = loop {
        let rows = logged(&o.og, &["--intercepted"]);
        if pc1_count(&rows) >= 7 || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(pc1_count(&intercepted), 7, "{intercepted:#?}");
    assert!(
        intercepted
            .iter()
            .filter(|r| r["pc"] == "pc1")
            .all(|r| r["verdict"] == "blocked" && r["intercepted"] == true),
        "{intercepted:#?}"
    );
    assert!(
        intercepted
            .iter()
            .any(|r| r["client"] == addr::pc_v4(2).to_string() && r["verdict"] == "allowed"),
        "{intercepted:#?}"
    );
    assert!(
        logged(&o.og, &["--name", "news.example"])
            .iter()
            .all(|r| r["intercepted"] == false),
        "asked of the gateway"
    );

    // DNS over TLS: the connection is reset at once (curl 7), never left to time out (28).
    let (code, out) = exit_code(
        lab,
        1,
        &format!(
            "curl -s -o /dev/null --max-time 5 https://{}:{}/",
            addr::DOT_V4,
            addr::DOT_PORT
        ),
    );
    assert_eq!(code, 7, "DoT refused at once: {out}");
    let (code, out) = exit_code(
        lab,
        1,
        &format!(
            "curl -s -o /dev/null --max-time 5 https://[{}]:{}/",
            addr::DOT_V6,
            addr::DOT_PORT
        ),
    );
    assert_eq!(code, 7, "DoT over IPv6 refused at once: {out}");
    // DNS over QUIC (UDP 853): refused by the gateway (administratively prohibited: a
    // host-unreachable to the client), not by the server (which would be a port
    // unreachable, "connection refused").
    let (_, out) = exit_code(
        lab,
        1,
        &format!(
            "dig +time=3 +tries=1 -p {} @{} news.example",
            addr::DOT_PORT,
            addr::DOT_V4
        ),
    );
    assert!(
        out.contains("host unreachable"),
        "DoQ refused by the gateway: {out}"
    );
    // Plain DNS to the gateway still works afterwards (no rule caught it).
    assert_eq!(
        dig(lab, 1, &["+short", "social.example", "A"]).trim(),
        page4
    );
}

#[test]
fn doh_endpoints_of_the_real_bypass_list_and_quic_are_blocked_for_the_group() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let shared = std::env::var_os("OFFICEGATE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let list =
        std::fs::read_to_string(shared.join("data/blocklists/domains/doh-vpn-proxy-bypass.txt"))
            .expect("the shared doh-vpn-proxy-bypass list");
    assert!(list.lines().any(|l| l.trim() == addr::DOH_LISTED_NAME));
    std::fs::write(lab.dir().join("bypass.txt"), &list).unwrap();
    let groups = "[lists.bypass]\nfiles = [\"bypass.txt\"]\n\n[[groups]]\nname = \"staff\"\nblock_quic = true\n\n[[groups.rules]]\naction = \"block\"\nlists = [\"bypass\"]\n";
    let _og = start(&lab, &pins, groups, &[]);
    let doh = |pc: usize, endpoint: &str| {
        exit_code(
            &lab,
            pc,
            &format!(
                "curl -sf --max-time 5 --doh-insecure --doh-url https://{endpoint}{} http://news.example/health",
                addr::DOH_PATH
            ),
        )
    };
    // pc2 (no rule): the endpoint works — DoH really resolves through it.
    let (code, out) = doh(2, addr::DOH_LISTED_NAME);
    assert_eq!(code, 0, "pc2 through DoH: {out}");
    assert!(out.starts_with("ok"), "{out}");
    // pc1 (staff, the list blocks it): the endpoint's name is blocked…
    let (code, out) = doh(1, addr::DOH_LISTED_NAME);
    assert_ne!(code, 0, "pc1 through DoH by name: {out}");
    // …and so is its address, answered to pc2 for the blocked name (the datapath plan
    // takes new answers within seconds).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, out) = doh(1, &addr::DOH_V4.to_string());
        if code != 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pc1 through DoH by address: {out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // pc2 still gets through.
    assert_eq!(doh(2, &addr::DOH_V4.to_string()).0, 0);

    // QUIC (UDP 443): dropped for staff, so browsers use TCP; nothing listens on UDP 443
    // in the lab, so a PC that gets through hears "port unreachable" from the site.
    let quic = |pc: usize| {
        exit_code(
            &lab,
            pc,
            &format!(
                "dig +time=2 +tries=1 -p 443 @{} news.example",
                addr::SITE_NEWS_V4
            ),
        )
        .1
    };
    let maps = officegate::datapath::Maps::open(&pins.0).unwrap();
    let quic_drops = || {
        maps.drops()
            .into_iter()
            .find(|(r, _)| *r == gateway_common::DropReason::Quic)
            .map_or(0, |(_, n)| n)
    };
    assert!(
        quic(2).contains("connection refused"),
        "pc2 reaches the site"
    );
    assert_eq!(quic_drops(), 0);
    let out = quic(1);
    assert!(
        out.contains("timed out") && !out.contains("refused"),
        "{out}"
    );
    assert_eq!(quic_drops(), 1);
}

#[test]
fn with_intercept_refuse_another_resolver_is_refused_and_the_attempt_logged() {
    let o = office_with(|_, config| config.replace("[dns]\n", "[dns]\nintercept = \"refuse\"\n"));
    let lab = &o.lab;
    let out = lab
        .sh(
            Role::Pc(2),
            &[
                "dig",
                "+time=2",
                "+tries=1",
                &format!("@{}", addr::RESOLVER_V4),
                "news.example",
                "A",
            ],
        )
        .unwrap();
    assert!(out.contains("status: REFUSED"), "{out}");
    // The gateway's own answers are unchanged.
    assert_eq!(
        dig(lab, 2, &["+short", "news.example", "A"]).trim(),
        addr::SITE_NEWS_V4.to_string()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = logged(&o.og, &["--intercepted"]);
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["verdict"], "refused");
    assert_eq!(rows[0]["client"], addr::pc_v4(2).to_string());
}
