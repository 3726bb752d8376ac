use super::*;

const TEXT: &str = "# The office policy.\nversion = 1\ntime_zone = \"UTC\"\n\n# Staff PCs.\n[[pcs]]\nname = \"pc1\" # the boss\naddresses = [\"10.10.0.11\"]\n";

#[test]
fn granted_exceptions_allow_until_they_end_and_ended_ones_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let text = "version = 1\ntime_zone = \"UTC\"\n\n[[groups]]\nname = \"staff\"\n\n[[groups.rules]]\naction = \"block\"\ndomains = [\"facebook.com\"]\n\n[[pcs]]\nname = \"pc1\"\naddresses = [\"10.10.0.11\"]\ngroup = \"staff\"\n\n[[exceptions]]\npc = \"pc1\"\ndomains = [\"old.example\"]\nuntil = \"2020-01-01 00:00\"\n";
    std::fs::write(dir.path().join(POLICY_FILE), text).unwrap();
    let (policy, _) = super::super::load_dir(dir.path()).unwrap();
    let addr: std::net::IpAddr = "10.10.0.11".parse().unwrap();
    let now = jiff::Timestamp::now();
    assert!(matches!(
        policy.evaluate(addr, "www.facebook.com", now).verdict,
        super::super::Verdict::Blocked(_)
    ));
    let until = now + jiff::SignedDuration::from_hours(2);
    let domains = ["facebook.com".to_string()];
    grant(
        dir.path(),
        &cache,
        &policy,
        &Grant {
            to: Grantee::Pc("pc1"),
            domains: &domains,
            until,
            reason: "customer chat <b>",
            granted_by: "boss",
            now,
        },
    )
    .unwrap();
    let written = std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap();
    assert!(
        !written.contains("old.example"),
        "ended entries go:\n{written}"
    );
    assert!(written.contains("granted_by = \"boss\""), "{written}");
    let (p2, _) = super::super::load_dir(dir.path()).unwrap();
    let d = p2.evaluate(addr, "www.facebook.com", now);
    assert_eq!(d.verdict, super::super::Verdict::Allowed);
    assert!(
        matches!(&d.rule, Some(r) if matches!(&r.matched, super::super::Matched::Exception { domain, .. } if domain == "facebook.com")),
        "{d:?}"
    );
    // The datapath keeps the addresses the PC got for the name open (and drops them
    // again once the exception ended).
    let answered: Vec<(std::sync::Arc<str>, std::sync::Arc<[std::net::IpAddr]>)> = vec![(
        "www.facebook.com".into(),
        vec!["198.51.100.7".parse().unwrap()].into(),
    )];
    let bad: std::net::IpAddr = "198.51.100.7".parse().unwrap();
    let blocked_at = |p: &super::super::Policy, t| {
        let mut memo = super::super::PlanMemo::default();
        p.datapath_plan(t, &answered, &mut memo, &|_| false)
            .blocked
            .keys()
            .any(|(a, _)| *a == bad)
    };
    assert!(blocked_at(&policy, now), "blocked before the grant");
    assert!(!blocked_at(&p2, now), "open while the exception lasts");
    let later = until + jiff::SignedDuration::from_mins(1);
    assert!(blocked_at(&p2, later), "blocked again after it");
    assert!(
        matches!(
            p2.evaluate(addr, "www.facebook.com", later).verdict,
            super::super::Verdict::Blocked(_)
        ),
        "the exception ends by itself"
    );
    // Another PC's name is refused and changes nothing.
    assert!(matches!(
        grant(
            dir.path(),
            &cache,
            &p2,
            &Grant {
                to: Grantee::Pc("pc9"),
                domains: &domains,
                until,
                reason: "",
                granted_by: "boss",
                now,
            },
        ),
        Err(EditError::NoSuchPc(_))
    ));
}

#[test]
fn rules_limits_and_schedules_are_edited_in_place_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let text = "version = 1\ntime_zone = \"UTC\"\n\n# Departments.\n[[groups]]\nname = \"staff\" # everyone\n\n[[groups]]\nname = \"sales\"\nparent = \"staff\"\n\n[[pcs]]\nname = \"pc1\"\naddresses = [\"10.10.0.11\"]\ngroup = \"sales\"\n";
    std::fs::write(dir.path().join(POLICY_FILE), text).unwrap();
    let load = || super::super::load_dir(dir.path()).unwrap().0;
    let addr: std::net::IpAddr = "10.10.0.11".parse().unwrap();
    let now = jiff::Timestamp::from_second(1_800_000_000).unwrap(); // a Friday, 08:00 UTC
    set_schedule(
        dir.path(),
        &cache,
        "all-week",
        &["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from),
        "00:00",
        "23:59",
    )
    .unwrap();
    let rule = NewRule {
        action: "block".into(),
        domains: vec!["games.example".into()],
        schedule: Some("all-week".into()),
        ..Default::default()
    };
    add_rule(dir.path(), &cache, "staff", &rule).unwrap();
    let written = std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap();
    assert!(written.contains("name = \"staff\" # everyone"), "{written}");
    assert!(
        matches!(
            load().evaluate(addr, "www.games.example", now).verdict,
            super::super::Verdict::Blocked(_)
        ),
        "the new rule of the parent group applies to sales' pc1:\n{written}"
    );
    // The rule sits under its group, before the next `[[groups]]`.
    let staff_at = written.find("name = \"staff\"").unwrap();
    let rule_at = written.find("games.example").unwrap();
    let sales_at = written.find("name = \"sales\"").unwrap();
    assert!(staff_at < rule_at && rule_at < sales_at, "{written}");
    // Bad edits change nothing: an unknown category, group or schedule.
    let before = std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap();
    let bad = NewRule {
        action: "block".into(),
        categories: vec!["nope".into()],
        ..Default::default()
    };
    assert!(matches!(
        add_rule(dir.path(), &cache, "staff", &bad),
        Err(EditError::Invalid(_))
    ));
    assert!(matches!(
        add_rule(dir.path(), &cache, "ghosts", &rule),
        Err(EditError::NoSuchGroup(_))
    ));
    assert!(
        set_schedule(
            dir.path(),
            &cache,
            "x",
            &["funday".into()],
            "09:00",
            "10:00"
        )
        .is_err()
    );
    assert_eq!(
        before,
        std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap()
    );
    // Limits: set, replace, remove.
    set_limit(
        dir.path(),
        &cache,
        LimitFor::Group("sales"),
        "day",
        Some("2 GB"),
    )
    .unwrap();
    set_limit(
        dir.path(),
        &cache,
        LimitFor::Group("sales"),
        "day",
        Some("3 GB"),
    )
    .unwrap();
    assert_eq!(load().limits().len(), 1);
    assert_eq!(load().limits()[0].bytes, 3_000_000_000);
    assert!(matches!(
        set_limit(dir.path(), &cache, LimitFor::Pc("pc1"), "day", Some("lots")),
        Err(EditError::Invalid(_))
    ));
    set_limit(dir.path(), &cache, LimitFor::Group("sales"), "day", None).unwrap();
    assert!(load().limits().is_empty());
    // Rules go by number.
    remove_rule(dir.path(), &cache, "staff", 0, None).unwrap();
    assert_eq!(
        load().evaluate(addr, "games.example", now).verdict,
        super::super::Verdict::Allowed
    );
    assert!(matches!(
        remove_rule(dir.path(), &cache, "staff", 0, None),
        Err(EditError::NoSuchRule(..))
    ));
}

#[test]
fn edits_at_the_same_moment_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let text = "version = 1\ntime_zone = \"UTC\"\n\n[[groups]]\nname = \"staff\"\n";
    std::fs::write(dir.path().join(POLICY_FILE), text).unwrap();
    std::thread::scope(|s| {
        for i in 0..8 {
            let (d, c) = (dir.path(), &cache);
            s.spawn(move || {
                let rule = NewRule {
                    action: "block".into(),
                    domains: vec![format!("site{i}.example")],
                    ..Default::default()
                };
                add_rule(d, c, "staff", &rule).unwrap();
            });
        }
    });
    let (p, _) = super::super::load_dir(dir.path()).unwrap();
    assert_eq!(p.groups()[0].rules.len(), 8, "no edit overwrote another");
}

#[test]
fn a_file_changed_by_hand_during_an_edit_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let path = dir.path().join(POLICY_FILE);
    std::fs::write(&path, TEXT).unwrap();
    let (editing, mut doc) = read(dir.path()).unwrap();
    doc["time_zone"] = toml_edit::value("Europe/Berlin");
    // The admin saves the file meanwhile.
    let by_hand = format!("{TEXT}\n[[groups]]\nname = \"staff\"\n");
    std::fs::write(&path, &by_hand).unwrap();
    let r = editing.commit(dir.path(), &cache, &doc);
    assert!(matches!(r, Err(EditError::Changed)), "{r:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), by_hand);
    // Made again on the new text, it lands.
    let (editing, mut doc) = read(dir.path()).unwrap();
    doc["time_zone"] = toml_edit::value("Europe/Berlin");
    editing.commit(dir.path(), &cache, &doc).unwrap();
    let now = std::fs::read_to_string(&path).unwrap();
    assert!(
        now.contains("Europe/Berlin") && now.contains("staff"),
        "{now}"
    );
}

#[test]
fn blocks_are_written_back_keeping_comments_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::write(dir.path().join(POLICY_FILE), TEXT).unwrap();
    let (policy, _) = super::super::load_dir(dir.path()).unwrap();
    block_pc(
        dir.path(),
        &cache,
        &policy,
        "pc1",
        Some("2030-01-01 18:00"),
        "exam week",
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap();
    assert!(
        text.starts_with(TEXT),
        "the admin's text is kept as it was:\n{text}"
    );
    assert!(
        text.contains("[[blocks]]\npc = \"pc1\"\nuntil = \"2030-01-01 18:00\""),
        "{text}"
    );
    let (p2, _) = super::super::load_dir(dir.path()).unwrap();
    let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
    assert!(p2.manual_block(0, now).is_some(), "blocked now");
    // Refused without touching the file: an unknown PC, a bad time.
    assert!(matches!(
        block_pc(dir.path(), &cache, &policy, "pc9", None, ""),
        Err(EditError::NoSuchPc(_))
    ));
    assert!(matches!(
        block_pc(dir.path(), &cache, &policy, "pc1", Some("tomorrow"), ""),
        Err(EditError::BadTime(_))
    ));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap(),
        text
    );
    assert_eq!(unblock_pc(dir.path(), &cache, "pc1").unwrap(), 1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap(),
        TEXT,
        "unblocking restores the file"
    );
    assert_eq!(unblock_pc(dir.path(), &cache, "pc1").unwrap(), 0);
}

#[test]
fn placing_a_device_adds_it_by_mac_or_names_the_pc_it_is_with_its_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let text = "version = 1\ntime_zone = \"UTC\"\n\n[[groups]]\nname = \"staff\"\n\n[[pcs]]\nname = \"pc1\" # the boss\naddresses = [\"10.10.0.11\"]\n\n[[blocks]]\npc = \"pc1\"\nreason = \"audit\"\n";
    std::fs::write(dir.path().join(POLICY_FILE), text).unwrap();
    let load = || super::super::load_dir(dir.path()).unwrap().0;
    let mac = [0x02, 0, 0, 0, 0, 0x22];
    let place = |p: &Placement<'_>| place_device(dir.path(), &cache, &load(), p);
    // An unlisted device: a new PC known by its MAC, in staff.
    place(&Placement {
        mac,
        listed_as: None,
        name: " guest-phone ",
        group: Some("staff"),
    })
    .unwrap();
    let p = load();
    let i = p.pc_with_mac(&mac).expect("listed by MAC");
    assert_eq!(p.pcs()[i].name, "guest-phone");
    assert_eq!(p.groups()[p.pcs()[i].group.unwrap()].name, "staff");
    // pc1, listed by address, renamed and moved: its entry gains the MAC (no twin), its
    // block follows the new name, the admin's comment stays.
    let boss = [0x02, 0, 0, 0, 0, 0x11];
    place(&Placement {
        mac: boss,
        listed_as: Some("pc1"),
        name: "boss-laptop",
        group: Some("staff"),
    })
    .unwrap();
    let written = std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap();
    assert!(written.contains("# the boss"), "{written}");
    assert!(written.contains("pc = \"boss-laptop\""), "{written}");
    let p = load();
    assert_eq!(p.pcs().len(), 2);
    let i = p.pc_with_mac(&boss).expect("pc1's entry has its MAC");
    assert_eq!(p.pcs()[i].name, "boss-laptop");
    assert_eq!(
        p.pcs()[i].addresses,
        vec!["10.10.0.11".parse::<std::net::IpAddr>().unwrap()]
    );
    // Back to no group.
    place(&Placement {
        mac,
        listed_as: Some("guest-phone"),
        name: "guest-phone",
        group: Some("default"),
    })
    .unwrap();
    let p = load();
    assert_eq!(p.pcs()[p.pc_with_mac(&mac).unwrap()].group, None);
    // Refused, the file untouched: an unknown group, an empty name, a name taken.
    let before = std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap();
    let other = [0x02, 0, 0, 0, 0, 0x33];
    for (name, group) in [("x", Some("nope")), ("  ", None), ("boss-laptop", None)] {
        let r = place(&Placement {
            mac: other,
            listed_as: None,
            name,
            group,
        });
        assert!(r.is_err(), "{name:?} {group:?}");
    }
    assert_eq!(
        before,
        std::fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap()
    );
}

#[test]
fn a_rule_removed_by_its_identity_is_the_one_listed_wherever_it_moved() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let text = "version = 1\ntime_zone = \"UTC\"\n\n[[groups]]\nname = \"staff\"\n\n[[groups.rules]]\naction = \"block\"\ndomains = [\"a.example\"]\n\n[[groups.rules]]\naction = \"block\"\ndomains = [\"b.example\"]\n\n[[groups.rules]]\naction = \"block\"\ndomains = [\"c.example\"]\n";
    std::fs::write(dir.path().join(POLICY_FILE), text).unwrap();
    let domains = || {
        let (p, _) = super::super::load_dir(dir.path()).unwrap();
        p.groups()[0]
            .rules
            .iter()
            .map(|r| r.domain_names[0].clone())
            .collect::<Vec<_>>()
    };
    // An admin lists the rules and means to remove c.example (number 2)...
    let (listed, _) = super::super::load_dir(dir.path()).unwrap();
    let c = listed.rule_id(&listed.groups()[0].rules[2]);
    let b = listed.rule_id(&listed.groups()[0].rules[1]);
    assert_ne!(b, c);
    // ...while another removes a.example: c.example is number 1 now.
    remove_rule(dir.path(), &cache, "staff", 0, None).unwrap();
    remove_rule(dir.path(), &cache, "staff", 2, Some(&c)).unwrap();
    assert_eq!(domains(), ["b.example"]);
    // Gone already: nothing else is taken in its place.
    assert!(matches!(
        remove_rule(dir.path(), &cache, "staff", 0, Some(&c)),
        Err(EditError::RuleGone(_))
    ));
    assert_eq!(domains(), ["b.example"]);
    remove_rule(dir.path(), &cache, "staff", 7, Some(&b)).unwrap();
    assert!(domains().is_empty());
}
