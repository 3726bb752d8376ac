//! The DNS filter in the office lab: real clients (dig, curl) on the PCs, the daemon on the
//! gateway, unbound in the lab internet as the upstream.

use officegate_lab::{Role, addr};

use crate::support::{
    dns::{dig, logged, short},
    office::{Office, office, office_with, start},
    pins::PinDir,
};

#[test]
fn names_are_filtered_per_group_and_the_rest_forwarded() {
    let o = office();
    let lab = &o.lab;
    // Forwarded: the lab resolver's answers, for a lab site and for a real list's name.
    assert_eq!(
        short(lab, 2, "news.example", "A"),
        addr::SITE_NEWS_V4.to_string()
    );
    assert_eq!(
        short(lab, 2, "news.example", "AAAA"),
        addr::SITE_NEWS_V6.to_string()
    );
    assert_eq!(
        short(lab, 2, "ads.doubleclick.net", "A"),
        addr::CATCH_ALL_V4.to_string()
    );
    // staff (pc1): social.example and its subdomains answered with the block page.
    assert_eq!(
        short(lab, 1, "social.example", "A"),
        addr::GW_LAN_V4.to_string()
    );
    assert_eq!(
        short(lab, 1, "www.social.example", "AAAA"),
        addr::GW_LAN_V6.to_string()
    );
    assert_eq!(
        short(lab, 1, "news.example", "A"),
        addr::SITE_NEWS_V4.to_string()
    );
    // The same name for a PC of another group is not blocked.
    assert_eq!(
        short(lab, 2, "social.example", "A"),
        addr::SITE_SOCIAL_V4.to_string()
    );
    // guests (pc3): video.example is NXDOMAIN.
    let full = dig(lab, 3, &["video.example", "A"]);
    assert!(full.contains("status: NXDOMAIN"), "{full}");
    // A blocked answer is short-lived.
    let full = dig(lab, 1, &["+noall", "+answer", "social.example", "A"]);
    assert!(
        full.split_whitespace().nth(1) == Some("10"),
        "TTL 10: {full}"
    );
    // Over TCP too.
    assert_eq!(
        dig(lab, 1, &["+tcp", "+short", "social.example", "A"]).trim(),
        addr::GW_LAN_V4.to_string()
    );
    // The PCs' resolver is the gateway: curl by name works through it.
    let out = lab
        .sh(
            Role::Pc(2),
            &[
                "curl",
                "-sf",
                "--max-time",
                "10",
                "http://news.example/health",
            ],
        )
        .expect("curl by name");
    assert_eq!(out.trim(), "ok");
}

#[test]
fn the_gateway_is_not_an_open_resolver() {
    let o = office();
    let lab = &o.lab;
    // Let the ISP reach the office LAN's addresses (as a neighbour on the WAN could), then
    // ask the gateway's DNS from there: a client outside the LAN is refused.
    let lan = format!("{}/24", addr::GW_LAN_V4);
    let lan_net = lan.replace(".1/24", ".0/24");
    lab.sh(
        Role::IspPrimary,
        &[
            "ip",
            "route",
            "add",
            &lan_net,
            "via",
            &addr::GW_WAN_PRIMARY_V4.to_string(),
        ],
    )
    .expect("route to the LAN");
    let out = lab
        .exec(
            Role::IspPrimary,
            &[
                "dig",
                "+time=2",
                "+tries=1",
                &format!("@{}", addr::GW_LAN_V4),
                "news.example",
            ],
        )
        .expect("dig");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("status: REFUSED"), "{text}");
    // And nothing answers on the WAN address.
    let out = lab
        .exec(
            Role::IspPrimary,
            &[
                "dig",
                "+time=1",
                "+tries=1",
                &format!("@{}", addr::GW_WAN_PRIMARY_V4),
                "news.example",
            ],
        )
        .expect("dig");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(&addr::SITE_NEWS_V4.to_string()), "{text}");
}

#[test]
fn a_policy_reload_changes_answers_without_a_restart() {
    let o = office();
    let lab = &o.lab;
    assert_eq!(
        short(lab, 2, "news.example", "A"),
        addr::SITE_NEWS_V4.to_string()
    );
    let policy = officegate_lab::officegate::lab_policy(
        lab,
        &format!(
            "{}\n[[groups]]\nname = \"all\"\n[[groups.rules]]\naction = \"block\"\ndomains = [\"news.example\"]\nmode = \"null\"\n",
            officegate_lab::officegate::EXAMPLE_GROUPS
        ),
        &[(1, "staff"), (2, "all"), (3, "guests")],
    );
    std::fs::write(o.og.policy_path(), policy).unwrap();
    o.og.reload().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while short(lab, 2, "news.example", "A") != "0.0.0.0" {
        assert!(
            std::time::Instant::now() < deadline,
            "reload not applied: {}",
            o.og.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A SIGHUP (a policy tool, logrotate, an impatient admin) that reaches the daemon while
/// it starts must not kill it: the handlers are in place before anything else.
#[test]
fn a_sighup_while_the_daemon_starts_does_not_kill_it() {
    let mut o = office();
    o.og.stop().unwrap();
    let pattern = format!("run --config {}", o.og.config_path().display());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let log = o.lab.dir().join("officegate.log");
    std::fs::write(&log, "").unwrap();
    let hupper = {
        let done = done.clone();
        std::thread::spawn(move || {
            // From the daemon's first log line on (before it, the process may not even
            // have reached main).
            while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::process::Command::new("pkill")
                    .args(["-HUP", "-f", &pattern])
                    .status();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let started = o.og.restart();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    hupper.join().unwrap();
    started.unwrap();
    assert_eq!(
        short(&o.lab, 2, "news.example", "A"),
        addr::SITE_NEWS_V4.to_string()
    );
    o.og.stop().unwrap();
}

/// The office with its `[dns]` table replaced.
fn office_with_dns(dns: impl Fn(&officegate_lab::Lab) -> String) -> Office {
    office_with(|lab, config| {
        let at = config.find("[dns]").expect("lab config has [dns]");
        format!("{}{}", &config[..at], dns(lab))
    })
}

#[test]
fn upstreams_over_tls_and_https_with_the_company_ca() {
    for scheme in ["tls", "https"] {
        let o = office_with_dns(|lab| {
            format!(
                "[dns]\nupstreams = [\"{scheme}://{}#{}\"]\nca_file = \"{}\"\n",
                addr::DOH_V4,
                addr::DOH_NAME,
                lab.ca_cert().display()
            )
        });
        assert_eq!(
            short(&o.lab, 2, "news.example", "A"),
            addr::SITE_NEWS_V4.to_string(),
            "{scheme}"
        );
        assert_eq!(
            short(&o.lab, 1, "social.example", "A"),
            addr::GW_LAN_V4.to_string(),
            "{scheme}"
        );
    }
}

/// Reads DNS queries on (address, port) and never answers them.
const SILENT_SERVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    s.recv(4096)
"#;

/// The gateway's established TCP connections to the lab's DoT port: their local ports.
fn dot_connections(lab: &officegate_lab::Lab) -> std::collections::BTreeSet<String> {
    let out = lab
        .sh(
            Role::Gateway,
            &["ss", "-Htn", "state", "established", "( dport = :853 )"],
        )
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter_map(|local| local.rsplit_once(':').map(|(_, p)| p.to_string()))
        .collect()
}

/// One name whose answer never comes (its zone's server is silent) costs the PC that asked
/// it a SERVFAIL, not every PC its upstream: the TLS connection that goes on answering the
/// others is kept, not dropped and made again.
#[test]
fn a_slow_name_does_not_reset_the_tls_upstream_for_everyone() {
    let o = office_with_dns(|lab| {
        format!(
            "[dns]\nupstreams = [\"tls://{}#{}\"]\nca_file = \"{}\"\n",
            addr::DOH_V4,
            addr::DOH_NAME,
            lab.ca_cert().display()
        )
    });
    let lab = &o.lab;
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _silent = Kill(
        lab.command(Role::Internet, "python3")
            .args([
                "-c",
                SILENT_SERVER,
                &addr::DOH_V4.to_string(),
                &addr::SLOW_PORT.to_string(),
            ])
            .spawn()
            .expect("python3"),
    );
    let news = addr::SITE_NEWS_V4.to_string();
    assert_eq!(short(lab, 2, "news.example", "A"), news);
    let before = dot_connections(lab);
    assert_eq!(before.len(), 1, "{before:?}");
    // pc1 asks a slow name; pc2's names (new ones: no cache) are answered meanwhile.
    let mut slow = lab.command(Role::Pc(1), "dig");
    slow.args([
        "+time=6",
        "+tries=1",
        &format!("@{}", addr::GW_LAN_V4),
        &format!("www.{}", addr::SLOW_NAME),
        "A",
    ]);
    let mut i = 0;
    let slow = std::thread::scope(|s| {
        let slow = s.spawn(move || slow.output());
        while !slow.is_finished() {
            i += 1;
            assert_eq!(short(lab, 2, &format!("n{i}.news.example"), "A"), news);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        slow.join().unwrap().expect("dig")
    });
    let text = String::from_utf8_lossy(&slow.stdout);
    assert!(text.contains("SERVFAIL"), "{text}");
    assert_eq!(short(lab, 2, "after.news.example", "A"), news);
    assert_eq!(
        dot_connections(lab),
        before,
        "the upstream connection was dropped:\n{}",
        o.og.log_text()
    );
}

#[test]
fn a_dead_upstream_falls_through_to_the_next() {
    // Nothing listens on the first address: its timeout passes, the second answers.
    let o = office_with_dns(|_| {
        format!(
            "[dns]\nupstreams = [\"203.0.113.9\", \"{}\"]\n",
            addr::RESOLVER_V4
        )
    });
    let out = dig(&o.lab, 2, &["+time=5", "+short", "news.example", "A"]);
    assert_eq!(out.trim(), addr::SITE_NEWS_V4.to_string());
}

#[test]
fn every_query_is_logged_with_its_pc_verdict_rule_and_answers() {
    let o = office();
    let lab = &o.lab;
    assert_eq!(
        short(lab, 1, "news.example", "A"),
        addr::SITE_NEWS_V4.to_string()
    );
    short(lab, 1, "www.social.example", "A");
    short(lab, 3, "video.example", "AAAA");
    // The writer commits in batches: wait for the three records.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let all = loop {
        let all = logged(&o.og, &[]);
        if all.len() >= 3 || std::time::Instant::now() > deadline {
            break all;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(all.len(), 3, "{all:#?}");
    // Newest first.
    let (video, social, news) = (&all[0], &all[1], &all[2]);
    assert_eq!(news["name"], "news.example");
    assert_eq!(news["pc"], "pc1");
    assert_eq!(news["group"], "staff");
    assert_eq!(news["verdict"], "allowed");
    assert_eq!(news["answers"][0], addr::SITE_NEWS_V4.to_string());
    assert_eq!(news["upstream"], format!("{}:53", addr::RESOLVER_V4));
    assert_eq!(social["verdict"], "blocked");
    assert!(
        social["rule"]
            .as_str()
            .unwrap()
            .contains("domain social.example"),
        "{social:#}"
    );
    assert_eq!(video["client"], addr::pc_v4(3).to_string());
    assert_eq!(video["qtype"], "AAAA");
    assert_eq!(video["group"], "guests");
    // Search: by client, by verdict, by part of the name.
    let by_pc3 = logged(&o.og, &["--client", &addr::pc_v4(3).to_string()]);
    assert_eq!(by_pc3.len(), 1);
    assert_eq!(logged(&o.og, &["--verdict", "blocked"]).len(), 2);
    assert_eq!(logged(&o.og, &["--name", "social"]).len(), 1);
}

/// An office with a global IPv6 prefix on its LAN: a public name answered with an address
/// of that prefix, or with an office address behind NAT64, is a rebinding attempt too.
#[test]
fn rebinding_covers_the_offices_own_ipv6_prefix_and_nat64() {
    let o = office_with(|lab, config| {
        lab.sh(
            Role::Gateway,
            &[
                "ip",
                "-6",
                "addr",
                "add",
                addr::OFFICE_GLOBAL_V6_NET,
                "dev",
                addr::LAN_IF,
                "nodad",
            ],
        )
        .expect("global prefix on the LAN");
        config
    });
    for name in [addr::REBIND_NAT64_NAME, addr::REBIND_OWN_V6_NAME] {
        let out = dig(&o.lab, 2, &[name, "AAAA"]);
        assert!(out.contains("status: REFUSED"), "{name}: {out}");
    }
    // A public IPv6 answer still comes through.
    assert_eq!(
        short(&o.lab, 2, "news.example", "AAAA"),
        addr::SITE_NEWS_V6.to_string()
    );
}

#[test]
fn rebinding_is_refused_answers_are_cached_and_each_client_is_rate_limited() {
    let o = office_with(|_, config| {
        format!(
            "{config}rate_limit_qps = 20\nrate_limit_burst = 20\nrebinding_allow = [\"corp.example\"]\n"
        )
    });
    let lab = &o.lab;
    // A public name pointing at a private address: refused. The company's own: answered.
    let out = dig(lab, 2, &[addr::REBIND_NAME, "A"]);
    assert!(out.contains("status: REFUSED"), "{out}");
    assert_eq!(
        short(lab, 2, addr::INTRANET_NAME, "A"),
        addr::INTRANET_V4.to_string()
    );
    // Asked twice: the second answer comes from the cache, its TTL counted down from 60.
    assert_eq!(
        short(lab, 2, "news.example", "A"),
        addr::SITE_NEWS_V4.to_string()
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = dig(lab, 2, &["+noall", "+answer", "news.example", "A"]);
    let ttl: u32 = second
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no TTL in {second:?}"));
    assert!(ttl < 60, "TTL counted down: {second}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let news = loop {
        let rows = logged(&o.og, &["--name", "news.example"]);
        if rows.len() >= 2 || std::time::Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        news[0]["upstream"].as_str().unwrap().starts_with("cache"),
        "{news:#?}"
    );
    let rebind = logged(&o.og, &["--verdict", "rebinding"]);
    assert_eq!(rebind.len(), 1, "{rebind:#?}");
    // 100 queries at once from pc1: some are refused; pc3 is not affected.
    let names: Vec<String> = (0..100).map(|i| format!("n{i}.flood.example")).collect();
    let mut args: Vec<&str> = vec!["+tries=1", "+time=1"];
    args.extend(names.iter().map(String::as_str));
    let flood = dig(lab, 1, &args);
    let refused = flood.matches("status: REFUSED").count();
    let answered = flood.matches("status: NOERROR").count();
    assert!(
        refused > 0 && answered >= 20,
        "refused {refused}, answered {answered}"
    );
    assert_eq!(
        short(lab, 3, "news.example", "A"),
        addr::SITE_NEWS_V4.to_string()
    );
}

#[test]
fn safe_search_is_enforced_for_groups_that_want_it() {
    let lab = officegate_lab::Lab::up(officegate_lab::LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(officegate_lab::officegate::pin_dir_for(&lab));
    let groups = "[[groups]]\nname = \"company\"\nsafe_search = true\n\n[[groups]]\nname = \"staff\"\nparent = \"company\"\n";
    let _og = start(&lab, &pins, groups, &[]);
    // staff inherits safe search from company: the engines' safe names, then their records.
    let google = dig(&lab, 1, &["+noall", "+answer", "www.google.com", "A"]);
    assert!(
        google.contains("CNAME\tforcesafesearch.google.com."),
        "{google}"
    );
    assert!(google.contains(&addr::CATCH_ALL_V4.to_string()), "{google}");
    let youtube = dig(&lab, 1, &["+noall", "+answer", "www.youtube.com", "AAAA"]);
    assert!(youtube.contains("restrict.youtube.com."), "{youtube}");
    let bing = dig(&lab, 1, &["+noall", "+answer", "www.bing.com", "A"]);
    assert!(bing.contains("strict.bing.com."), "{bing}");
    // Other names, and PCs outside the group, are answered as they are.
    assert!(!dig(&lab, 1, &["+noall", "+answer", "mail.google.com", "A"]).contains("CNAME"));
    let plain = dig(&lab, 2, &["+noall", "+answer", "www.google.com", "A"]);
    assert!(!plain.contains("CNAME"), "{plain}");
}

#[test]
fn url_lists_are_downloaded_and_applied_and_a_failed_download_is_reported() {
    let lab = officegate_lab::Lab::up(officegate_lab::LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(officegate_lab::officegate::pin_dir_for(&lab));
    let lists = lab.web_root().join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(
        lists.join("remote.txt"),
        "# served by the lab\n||tracker.remote.example^\n",
    )
    .unwrap();
    let groups = format!(
        "[lists.remote]\nurls = [\"http://{ip}/lists/remote.txt\", \"http://{ip}/lists/missing.txt\"]\nrefresh_hours = 1\n\n[[groups]]\nname = \"staff\"\n\n[[groups.rules]]\naction = \"block\"\nlists = [\"remote\"]\n",
        ip = addr::SITE_NEWS_V4
    );
    let og = start(&lab, &pins, &groups, &[]);
    // Downloaded in the background, then picked up by the file watch.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if short(&lab, 1, "img.tracker.remote.example", "A") == addr::GW_LAN_V4.to_string() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the URL list was not applied\n{}",
            og.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        short(&lab, 2, "img.tracker.remote.example", "A"),
        addr::CATCH_ALL_V4.to_string()
    );
    let log = og.log_text();
    assert!(log.contains("list downloaded"), "{log}");
    assert!(
        log.contains("list download failed and there is no previous copy"),
        "{log}"
    );
}

#[test]
fn a_real_list_blocks_its_names_and_subdomains_per_group_and_a_broken_edit_changes_nothing() {
    let lab = officegate_lab::Lab::up(officegate_lab::LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(officegate_lab::officegate::pin_dir_for(&lab));
    let shared = std::env::var_os("OFFICEGATE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let list = std::fs::read_to_string(shared.join("data/blocklists/3p/stevenblack.adblock.txt"))
        .expect("the shared StevenBlack list");
    std::fs::write(lab.dir().join("stevenblack.txt"), &list).unwrap();
    let names: Vec<&str> = list
        .lines()
        .filter_map(|l| l.strip_prefix("||")?.strip_suffix('^'))
        .filter(|n| n.matches('.').count() >= 1)
        .take(200)
        .collect();
    let (listed, excepted) = (names[100], names[150]);
    let groups = format!(
        "[lists.stevenblack]\nfiles = [\"stevenblack.txt\"]\n\n[[groups]]\nname = \"staff\"\n\n[[groups.rules]]\naction = \"block\"\nlists = [\"stevenblack\"]\n\n[[groups.rules]]\naction = \"allow\"\ndomains = [\"{excepted}\"]\n"
    );
    let og = start(&lab, &pins, &groups, &[]);
    let page = addr::GW_LAN_V4.to_string();
    assert_eq!(short(&lab, 1, listed, "A"), page, "{listed}");
    assert_eq!(short(&lab, 1, &format!("deep.sub.{listed}"), "A"), page);
    assert_ne!(short(&lab, 1, excepted, "A"), page, "the exception wins");
    assert_ne!(short(&lab, 2, listed, "A"), page, "pc2 is not staff");
    // A broken edit: the daemon says so and keeps answering with the policy in force.
    std::fs::write(
        og.policy_path(),
        "version = 1\n[[groups]\nname = \"oops\"\n",
    )
    .unwrap();
    og.reload().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !og.log_text().contains("previous policy stays in force") {
        assert!(std::time::Instant::now() < deadline, "{}", og.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(short(&lab, 1, listed, "A"), page, "still blocked");
    assert_ne!(short(&lab, 2, listed, "A"), page);
}
