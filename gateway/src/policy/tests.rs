//! The policy engine on small policies written into temporary directories, and on the
//! shipped example (`policies/`).

use std::{net::IpAddr, path::Path};

use jiff::Timestamp;

use super::{BlockMode, Matched, PlanMemo, Verdict, load_dir};

fn at(local: &str) -> Timestamp {
    format!("{local}[Europe/Berlin]")
        .parse::<jiff::ZonedDateTime>()
        .unwrap()
        .timestamp()
}

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = d.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    d
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");

#[test]
fn the_shipped_example_loads_and_decides() {
    let (p, report) = load_dir(Path::new(EXAMPLE)).expect("example policy is valid");
    assert!(
        report
            .files
            .iter()
            .all(|(_, s)| s.rejected == 0 && s.accepted > 0)
    );
    let pc1 = p.find_pc("pc1").unwrap();
    // Thursday 10:00: social blocked for sales; 19:00 allowed; LinkedIn always.
    assert!(matches!(
        p.evaluate_for(Some(pc1), "www.facebook.com", at("2026-11-26T10:00"))
            .verdict,
        Verdict::Blocked(_)
    ));
    assert_eq!(
        p.evaluate_for(Some(pc1), "www.facebook.com", at("2026-11-26T19:00"))
            .verdict,
        Verdict::Allowed
    );
    assert_eq!(
        p.evaluate_for(Some(pc1), "linkedin.com", at("2026-11-26T10:00"))
            .verdict,
        Verdict::Allowed
    );
    // Inherited from the company: ads blocked for sales (LinkedIn's own ad host is allowed
    // there, as `linkedin.com` covers its subdomains), relaxed for marketing.
    assert!(matches!(
        p.evaluate_for(Some(pc1), "x.doubleclick.net", at("2026-11-26T10:00"))
            .verdict,
        Verdict::Blocked(_)
    ));
    let pc3 = p.find_pc("pc3").unwrap();
    assert!(matches!(
        p.evaluate_for(Some(pc3), "ads.linkedin.com", at("2026-11-26T10:00"))
            .verdict,
        Verdict::Blocked(_)
    ));
    let pc2 = p.find_pc("10.10.0.12").unwrap();
    assert_eq!(
        p.evaluate_for(Some(pc2), "ads.linkedin.com", at("2026-11-26T10:00"))
            .verdict,
        Verdict::Allowed
    );
    // Devices the example does not list get the company's rules (`unknown_devices`).
    let d = p.evaluate(
        "10.10.0.99".parse().unwrap(),
        "doubleclick.net",
        at("2026-11-26T10:00"),
    );
    assert!(matches!(d.verdict, Verdict::Blocked(_)), "{d:?}");
    assert_eq!(d.group, "company");
    assert!(p.safe_search("10.10.0.99".parse().unwrap()));
}

#[test]
fn unlisted_devices_follow_unknown_devices_and_an_unknown_name_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ads.txt"), "ads.example\n").unwrap();
    let text = "version = 1\ntime_zone = \"UTC\"\nunknown_devices = \"staff\"\n[lists.ads]\nfiles = [\"ads.txt\"]\n[[groups]]\nname = \"staff\"\nblock_quic = true\n[[groups.rules]]\naction = \"block\"\nlists = [\"ads\"]\n[[pcs]]\nname = \"boss\"\naddresses = [\"10.0.0.1\"]\n";
    let (p, _) = crate::policy::load_text(dir.path(), text).unwrap();
    let now = at("2026-11-26T10:00");
    let guest = "10.0.0.77".parse().unwrap();
    assert!(matches!(
        p.verdict(guest, "ads.example", now),
        Verdict::Blocked(_)
    ));
    assert_eq!(p.evaluate(guest, "ads.example", now).group, "staff");
    // A listed PC without a group stays in `default`.
    let boss = "10.0.0.1".parse().unwrap();
    assert_eq!(p.verdict(boss, "ads.example", now), Verdict::Allowed);
    assert_ne!(p.rules_class(guest), p.rules_class(boss));
    // The datapath gives new addresses the group (datapath id 1 + index) and its QUIC flag.
    let plan = p.datapath_plan(now, &[], &mut Default::default(), &|_| false);
    assert_eq!(plan.unknown_group, 1);
    assert_eq!(plan.quic_blocked, gateway_common::group_bit(1));
    let bad = text.replace(
        "unknown_devices = \"staff\"",
        "unknown_devices = \"nobody\"",
    );
    let err = crate::policy::load_text(dir.path(), &bad)
        .err()
        .expect("an error");
    assert!(
        format!("{err:?}").contains("unknown_devices: unknown group `nobody`"),
        "{err:?}"
    );
}

#[test]
fn unlisted_devices_in_a_groups_network_get_that_group_the_most_specific_first() {
    let dir = tempfile::tempdir().unwrap();
    let text = "version = 1\ntime_zone = \"UTC\"\nunknown_devices = \"staff\"\n\
        [[groups]]\nname = \"staff\"\n[[groups.rules]]\naction = \"block\"\ndomains = [\"social.example\"]\n\
        [[groups]]\nname = \"guests\"\nnetworks = [\"10.0.5.0/24\", \"fd00:5::/64\"]\n\
        [[groups.rules]]\naction = \"block\"\ndomains = [\"news.example\"]\n\
        [[groups]]\nname = \"kiosk\"\nnetworks = [\"10.0.5.128/25\"]\n\
        [[pcs]]\nname = \"printer\"\naddresses = [\"10.0.5.9\"]\n";
    let (p, _) = crate::policy::load_text(dir.path(), text).unwrap();
    let now = at("2026-11-26T10:00");
    let group = |a: &str| p.evaluate(a.parse().unwrap(), "x.example", now).group;
    assert_eq!(group("10.0.5.7"), "guests");
    assert_eq!(group("fd00:5::7"), "guests");
    assert_eq!(group("10.0.5.200"), "kiosk", "the most specific range");
    assert_eq!(group("10.0.0.7"), "staff", "in no network: unknown_devices");
    assert_eq!(group("10.0.5.9"), "default", "a listed PC is the policy's");
    assert!(matches!(
        p.verdict("10.0.5.7".parse().unwrap(), "news.example", now),
        Verdict::Blocked(_)
    ));
    assert_eq!(
        p.verdict("10.0.5.7".parse().unwrap(), "social.example", now),
        Verdict::Allowed
    );
    // The datapath's side: the plan carries the ranges with their group ids.
    let plan = p.datapath_plan(now, &[], &mut Default::default(), &|_| false);
    let ids = |a: &str| plan.unlisted_group(&[a.parse().unwrap()]);
    assert_eq!(
        (ids("10.0.5.7"), ids("10.0.5.200"), ids("10.0.0.7")),
        (2, 3, 1)
    );
    let bad = text.replace("10.0.5.128/25", "10.0.5.300/25");
    let err = crate::policy::load_text(dir.path(), &bad)
        .err()
        .expect("an error");
    assert!(
        format!("{err:?}").contains("network `10.0.5.300/25`"),
        "{err:?}"
    );
}

#[test]
fn a_pc_may_be_listed_by_its_dhcp_host_name_alone() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        "version = 1\ntime_zone = \"UTC\"\n[[pcs]]\nname = \"desk\"\nhostname = \"Reception-1\"\n";
    let (p, _) = crate::policy::load_text(dir.path(), text).unwrap();
    assert_eq!(p.pcs()[0].hostname.as_deref(), Some("reception-1"));
    for (bad, why) in [
        (
            text.replace("Reception-1", "rec eption"),
            "is not a DHCP host name",
        ),
        (
            format!("{text}[[pcs]]\nname = \"desk2\"\nhostname = \"reception-1\"\n"),
            "host name reception-1 is also PC `desk`'s",
        ),
        (
            text.replace("hostname = \"Reception-1\"\n", ""),
            "neither a MAC, an address nor a host name",
        ),
    ] {
        let err = crate::policy::load_text(dir.path(), &bad)
            .err()
            .expect("an error");
        assert!(format!("{err:?}").contains(why), "{why}: {err:?}");
    }
}

const BASE: &str = r#"
version = 1
time_zone = "Europe/Berlin"

[lists.ads]
files = ["ads.txt"]

[schedules.night]
days = ["fri"]
from = "22:00"
until = "06:00"

[[groups]]
name = "root"

[[groups.rules]]
action = "block"
lists = ["ads"]

[[groups.rules]]
action = "allow"
domains = ["ok.ads.example"]

[[groups]]
name = "child"
parent = "root"

[[groups.rules]]
action = "block"
domains = ["ok.ads.example"]
mode = "nxdomain"

[[groups.rules]]
action = "block"
domains = ["late.example"]
schedule = "night"

[[pcs]]
name = "a"
addresses = ["10.0.0.1"]
group = "root"

[[pcs]]
name = "b"
addresses = ["10.0.0.2", "fd00::2"]
group = "child"
"#;

const ADS: &str =
    "# ads\nads.example\n||tracker.example^\n@@||fine.ads.example^\n/^ad[0-9]+\\.example$/\n";

#[test]
fn inheritance_exceptions_modes_and_explanations() {
    let d = dir_with(&[("office.toml", BASE), ("ads.txt", ADS)]);
    let (p, _) = load_dir(d.path()).unwrap();
    let t = at("2026-11-26T12:00");
    let a = p.find_pc("a");
    let b = p.find_pc("fd00::2");
    // Subdomains of a listed name, patterns, and the list's own @@ exception.
    let x = p.explain(a, "x.ads.example.", t);
    assert_eq!(x.verdict, Verdict::Blocked(BlockMode::Page));
    let Some(rule) = x.rule else { panic!() };
    assert_eq!(
        (rule.group.as_str(), rule.line),
        ("root", 16),
        "the rule's [[groups.rules]] line"
    );
    assert!(
        matches!(rule.matched, Matched::List { line: Some(2), .. }),
        "{:?}",
        rule.matched
    );
    assert!(matches!(
        p.explain(a, "AD42.example", t).rule.unwrap().matched,
        Matched::List { line: Some(5), .. }
    ));
    assert_eq!(
        p.evaluate_for(a, "fine.ads.example", t).verdict,
        Verdict::Allowed
    );
    // Within a group the exception wins; a child's block tightens the parent's allow.
    assert_eq!(
        p.evaluate_for(a, "ok.ads.example", t).verdict,
        Verdict::Allowed
    );
    assert_eq!(
        p.evaluate_for(b, "ok.ads.example", t).verdict,
        Verdict::Blocked(BlockMode::Nxdomain)
    );
    // The child inherits the parent's list.
    assert!(matches!(
        p.evaluate_for(b, "tracker.example", t).verdict,
        Verdict::Blocked(_)
    ));
    // An overnight schedule: Friday 23:00 and Saturday 05:00 on, Saturday 23:00 off.
    assert!(matches!(
        p.evaluate_for(b, "late.example", at("2026-11-27T23:00"))
            .verdict,
        Verdict::Blocked(_)
    ));
    assert!(matches!(
        p.evaluate_for(b, "late.example", at("2026-11-28T05:00"))
            .verdict,
        Verdict::Blocked(_)
    ));
    assert_eq!(
        p.evaluate_for(b, "late.example", at("2026-11-28T23:00"))
            .verdict,
        Verdict::Allowed
    );
    assert_eq!(
        p.evaluate_for(a, "late.example", at("2026-11-27T23:00"))
            .verdict,
        Verdict::Allowed
    );
}

#[test]
fn the_fast_verdict_agrees_with_the_full_decision() {
    let d = dir_with(&[("office.toml", BASE), ("ads.txt", ADS)]);
    let (p, _) = load_dir(d.path()).unwrap();
    let names = [
        "x.ads.example",
        "ad42.example",
        "fine.ads.example",
        "ok.ads.example",
        "tracker.example",
        "late.example",
        "news.example",
    ];
    let mut blocked = 0;
    for who in ["10.0.0.1", "10.0.0.2", "fd00::2", "10.0.0.99"] {
        let addr: IpAddr = who.parse().unwrap();
        for t in ["2026-11-26T12:00", "2026-11-27T23:00", "2026-11-28T23:00"] {
            for n in names {
                let full = p.evaluate(addr, n, at(t)).verdict;
                assert_eq!(p.verdict(addr, n, at(t)), full, "{who} {n} {t}");
                blocked += usize::from(full != Verdict::Allowed);
            }
        }
    }
    assert!(blocked > 10, "the table covers blocks too");
}

#[test]
fn a_remembered_verdict_holds_for_its_whole_class_at_any_time() {
    let d = dir_with(&[("office.toml", BASE), ("ads.txt", ADS)]);
    let (p, _) = load_dir(d.path()).unwrap();
    let (p2, _) = load_dir(d.path()).unwrap();
    let names = [
        "x.ads.example",
        "fine.ads.example",
        "ok.ads.example",
        "tracker.example",
        "late.example",
        "news.example",
    ];
    let who: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2", "fd00::2", "10.0.0.99"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let times = ["2026-11-26T12:00", "2026-11-27T23:00", "2026-11-28T23:00"];
    let (mut kept, mut not_kept) = (0, 0);
    for &a in &who {
        assert_ne!(p.rules_class(a), p2.rules_class(a), "a reload forgets");
        for t in times {
            for n in names {
                let (v, memo) = p.verdict_memo(a, n, at(t));
                if v == Verdict::Allowed && !memo {
                    not_kept += 1;
                }
                if !memo {
                    continue;
                }
                kept += 1;
                assert_eq!(v, Verdict::Allowed);
                for &b in who
                    .iter()
                    .filter(|&&b| p.rules_class(b) == p.rules_class(a))
                {
                    for t2 in times {
                        assert_eq!(
                            p.verdict(b, n, at(t2)),
                            Verdict::Allowed,
                            "{a} {b} {n} {t2}"
                        );
                    }
                }
            }
        }
    }
    assert!(kept > 5 && not_kept > 0, "kept {kept}, not kept {not_kept}");
}

#[test]
fn errors_name_file_and_line_and_all_are_reported() {
    let broken = BASE
        .replace("lists = [\"ads\"]", "lists = [\"nope\"]")
        .replace("parent = \"root\"", "parent = \"ghost\"")
        .replace(
            "time_zone = \"Europe/Berlin\"",
            "time_zone = \"Mars/Olympus\"",
        )
        .replace("until = \"06:00\"", "until = \"6\"");
    let d = dir_with(&[("office.toml", &broken), ("ads.txt", ADS)]);
    let errors = load_dir(d.path()).err().expect("must fail");
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let has = |needle: &str, line: usize| {
        errors
            .iter()
            .any(|e| e.line == line && e.message.contains(needle))
    };
    assert!(has("unknown list `nope`", 18), "{text:#?}");
    assert!(has("unknown parent `ghost`", 26), "{text:#?}");
    assert!(has("unknown time zone", 3), "{text:#?}");
    assert!(has("`until` must be HH:MM", 11), "{text:#?}");
    assert!(text.iter().all(|t| t.contains("office.toml:")), "{text:#?}");
}

#[test]
fn unknown_fields_are_rejected_in_every_table() {
    for table in [
        "",
        "[lists.ads]",
        "[schedules.night]",
        "[[groups]]",
        "[[groups.rules]]",
        "[[pcs]]",
    ] {
        let text = if table.is_empty() {
            format!("bogus = 1\n{BASE}")
        } else {
            BASE.replacen(table, &format!("{table}\nbogus = 1"), 1)
        };
        let d = dir_with(&[("office.toml", &text), ("ads.txt", ADS)]);
        let errors = load_dir(d.path())
            .err()
            .unwrap_or_else(|| panic!("{table}: accepted"));
        assert!(
            errors[0].message.contains("bogus") && errors[0].line > 0,
            "{table}: {errors:?}"
        );
    }
}

#[test]
fn structural_mistakes_are_caught() {
    let cycle = BASE.replace("name = \"root\"", "name = \"root\"\nparent = \"child\"");
    let dup = format!("{BASE}\n[[pcs]]\nname = \"c\"\naddresses = [\"10.0.0.1\"]\n");
    let missing = BASE.replace("files = [\"ads.txt\"]", "files = [\"gone.txt\"]");
    let empty_rule =
        format!("{BASE}\n[[groups]]\nname = \"x\"\n[[groups.rules]]\naction = \"block\"\n");
    for (what, text, needle) in [
        ("cycle", cycle, "its own ancestor"),
        ("duplicate address", dup, "also PC `a`"),
        ("missing list file", missing, "cannot read"),
        (
            "empty rule",
            empty_rule,
            "needs lists, categories, domains or addresses",
        ),
    ] {
        let d = dir_with(&[("office.toml", &text), ("ads.txt", ADS)]);
        let errors = load_dir(d.path())
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(
            errors.iter().any(|e| e.message.contains(needle)),
            "{what}: {errors:?}"
        );
    }
}

#[test]
fn datapath_plan_follows_groups_schedules_and_manual_blocks() {
    use gateway_common::{PcState, group_bit};
    let text = r#"
version = 1
time_zone = "Europe/Berlin"

[schedules.day]
days = ["thu"]
from = "09:00"
until = "17:00"

[[groups]]
name = "root"
[[groups.rules]]
action = "block"
addresses = ["203.0.113.7", "198.51.100.0/24"]

[[groups]]
name = "child"
parent = "root"
[[groups.rules]]
action = "allow"
addresses = ["203.0.113.7"]
[[groups.rules]]
action = "block"
addresses = ["192.0.2.1"]
schedule = "day"

[[pcs]]
name = "a"
addresses = ["10.0.0.1"]
group = "root"

[[pcs]]
name = "b"
addresses = ["10.0.0.2"]
group = "child"

[[blocks]]
group = "root"
from = "2026-11-26 12:00"
until = "2026-11-26 13:00"
reason = "all-hands"
"#;
    let d = dir_with(&[("office.toml", text)]);
    let (p, _) = load_dir(d.path()).unwrap();
    let net = |s: &str| crate::parse::parse_net(s).unwrap();
    let (root, child) = (group_bit(1), group_bit(2));
    let plan = p.datapath_plan(
        at("2026-11-26T10:00"),
        &[],
        &mut PlanMemo::default(),
        &|_| false,
    );
    assert_eq!(
        plan.blocked[&net("203.0.113.7")],
        root,
        "the child's allow lifts it"
    );
    assert_eq!(
        plan.blocked[&net("198.51.100.0/24")],
        root | child,
        "inherited"
    );
    assert_eq!(plan.blocked[&net("192.0.2.1")], child, "scheduled, on");
    assert_eq!(
        plan.pcs[&"10.0.0.2".parse().unwrap()],
        (2, PcState::Allowed)
    );
    let evening = p.datapath_plan(
        at("2026-11-26T18:00"),
        &[],
        &mut PlanMemo::default(),
        &|_| false,
    );
    assert!(
        !evening.blocked.contains_key(&net("192.0.2.1")),
        "scheduled, off"
    );
    // The group block covers the subgroup's PC too, only within its window.
    let noon = p.datapath_plan(
        at("2026-11-26T12:30"),
        &[],
        &mut PlanMemo::default(),
        &|_| false,
    );
    assert_eq!(noon.pcs[&"10.0.0.1".parse().unwrap()].1, PcState::Blocked);
    assert_eq!(noon.pcs[&"10.0.0.2".parse().unwrap()].1, PcState::Blocked);
    assert_eq!(
        p.manual_block(1, at("2026-11-26T12:30")).unwrap().reason,
        "all-hands"
    );
    assert_eq!(
        p.datapath_plan(
            at("2026-11-26T13:00"),
            &[],
            &mut PlanMemo::default(),
            &|_| false
        )
        .pcs[&"10.0.0.1".parse().unwrap()]
            .1,
        PcState::Allowed
    );
}

#[test]
fn traffic_limits_cut_off_a_pc_its_group_or_everyone() {
    let text = r#"
version = 1
time_zone = "Europe/Berlin"

[[groups]]
name = "sales"

[[groups]]
name = "north"
parent = "sales"

[[pcs]]
name = "a"
addresses = ["10.0.0.1"]
group = "north"

[[pcs]]
name = "b"
addresses = ["10.0.0.2"]
group = "sales"

[[pcs]]
name = "c"
addresses = ["10.0.0.3"]

[[limits]]
pc = "a"
per = "day"
bytes = "1 MB"

[[limits]]
group = "sales"
per = "month"
bytes = "10 MiB"

[[limits]]
company = true
per = "month"
bytes = "1 GB"
"#;
    let d = dir_with(&[("office.toml", text)]);
    let (p, _) = load_dir(d.path()).unwrap();
    use super::PcUsage;
    let usage = |day: u64, month: u64| move |_i: usize| PcUsage { day, month };
    assert!(p.over_limits(&usage(999_999, 999_999)).is_empty());
    // a's own daily limit (decimal megabyte).
    let over = p.over_limits(&usage(1_000_000, 1_000_000));
    assert_eq!(over.keys().copied().collect::<Vec<_>>(), [0], "{over:?}");
    assert!(over[&0].contains("PC a"), "{}", over[&0]);
    // sales (a in its subgroup, and b) together over 10 MiB this month: both, not c.
    let mut over: Vec<usize> = p
        .over_limits(&usage(0, 6 * 1024 * 1024))
        .into_keys()
        .collect();
    over.sort();
    assert_eq!(over, [0, 1]);
    // The company over 1 GB: everyone.
    assert_eq!(p.over_limits(&usage(0, 400_000_000)).len(), 3);
    // The plan turns it into the datapath state.
    let plan = p.datapath_plan(
        at("2026-11-26T10:00"),
        &[],
        &mut PlanMemo::default(),
        &|i| i == 2,
    );
    assert_eq!(
        plan.pcs[&"10.0.0.3".parse().unwrap()].1,
        gateway_common::PcState::OverQuota
    );
}

#[test]
fn a_bad_limit_is_reported_with_its_line() {
    let text = "version = 1\ntime_zone = \"UTC\"\n\n[[limits]]\npc = \"ghost\"\nper = \"day\"\nbytes = \"lots\"\n";
    let d = dir_with(&[("office.toml", text)]);
    let errs = load_dir(d.path()).err().expect("invalid");
    let text = super::render(&errs);
    assert!(
        text.contains("office.toml:5: limit: unknown PC `ghost`"),
        "{text}"
    );
    assert!(
        text.contains("office.toml:7: limit: `lots` is not an amount"),
        "{text}"
    );
}

#[test]
fn more_groups_than_the_datapath_has_bits_for_are_an_error_at_their_line() {
    let policy = |n: usize| {
        let mut t = "version = 1\ntime_zone = \"UTC\"\n".to_string();
        for i in 0..n {
            t.push_str(&format!("\n[[groups]]\nname = \"g{i}\"\n"));
        }
        t
    };
    let max = gateway_common::MAX_GROUPS;
    let d = dir_with(&[("office.toml", &policy(max))]);
    assert!(load_dir(d.path()).is_ok(), "{max} groups fit");
    let d = dir_with(&[("office.toml", &policy(max + 1))]);
    let errs = load_dir(d.path()).err().expect("one too many");
    let text = super::render(&errs);
    // The 64th group's name is on line 3 + 3 * 63 + 2.
    let line = 3 + 3 * max + 2;
    assert!(
        text.contains(&format!(
            "office.toml:{line}: group `g{max}` is one too many"
        )),
        "{text}"
    );
}

#[test]
fn the_list_cache_reuses_unchanged_files_and_notices_edited_ones() {
    let text = "version = 1\ntime_zone = \"UTC\"\n\n[lists.l]\nfiles = [\"l.txt\"]\n\n[[groups]]\nname = \"g\"\n\n[[groups.rules]]\naction = \"block\"\nlists = [\"l\"]\n\n[[pcs]]\nname = \"pc\"\naddresses = [\"10.0.0.1\"]\ngroup = \"g\"\n";
    let d = dir_with(&[("office.toml", text), ("l.txt", "a.example\n")]);
    let cache = super::ListCache::default();
    let pc: std::net::IpAddr = "10.0.0.1".parse().unwrap();
    let now = Timestamp::now();
    let (p, _) = super::load_dir_with(d.path(), None, Some(&cache)).unwrap();
    assert!(matches!(
        p.evaluate(pc, "a.example", now).verdict,
        Verdict::Blocked(_)
    ));
    // Same size, new content: recompiled, not served stale from the cache.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(d.path().join("l.txt"), "b.example\n").unwrap();
    let (p, _) = super::load_dir_with(d.path(), None, Some(&cache)).unwrap();
    assert!(matches!(
        p.evaluate(pc, "b.example", now).verdict,
        Verdict::Blocked(_)
    ));
    assert_eq!(p.evaluate(pc, "a.example", now).verdict, Verdict::Allowed);
}
