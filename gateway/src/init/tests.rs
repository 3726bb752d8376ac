use super::*;
use detect::{DefaultRoute, Interface, Kernel};

fn iface(name: &str, addrs: &[&str]) -> Interface {
    Interface {
        name: name.into(),
        addrs: addrs
            .iter()
            .map(|a| {
                let (a, p) = a.split_once('/').unwrap();
                (a.parse().unwrap(), p.parse().unwrap())
            })
            .collect(),
        carrier: true,
        driver: Some("veth".into()),
    }
}

/// A gateway like the lab's: the office on lan0, the primary ISP on wan0 (the default
/// route), the backup on wan1 (an address, no route yet).
fn machine() -> (Vec<Interface>, Vec<DefaultRoute>, Kernel) {
    (
        vec![
            iface("lan0", &["10.10.0.1/24", "fd0a:10::1/64"]),
            iface("wan0", &["100.64.1.2/24"]),
            iface("wan1", &["100.64.2.2/24"]),
        ],
        vec![DefaultRoute {
            interface: "wan0".into(),
            gateway: "100.64.1.1".parse().unwrap(),
            metric: 0,
        }],
        Kernel {
            release: "6.18.0".into(),
            btf: true,
            links: true,
        },
    )
}

fn opts() -> Options {
    Options {
        dir: "/etc/officegate".into(),
        state_dir: "/var/lib/officegate".into(),
        pin_dir: "/sys/fs/bpf/officegate".into(),
        ..Default::default()
    }
}

fn files(s: &Settings) -> Vec<(PathBuf, String)> {
    let dir = Path::new("/etc/officegate");
    [
        ("officegate.toml", render::officegate_toml(s)),
        ("office.toml", render::office_toml("Europe/Berlin")),
    ]
    .into_iter()
    .chain(render::LISTS.map(|(p, t)| (p, t.to_string())))
    .map(|(p, t)| (dir.join(p), t))
    .collect()
}

#[test]
fn the_lan_and_the_channels_are_proposed_and_the_files_load() {
    let (ifs, routes, kernel) = machine();
    let (s, said) = propose(&opts(), &ifs, &routes, &kernel).unwrap();
    assert_eq!(s.lan, "lan0");
    assert_eq!(s.lan_v4, Some("10.10.0.1".parse().unwrap()));
    assert_eq!(s.wans.len(), 1);
    assert_eq!(s.wans[0].gateway, Some("100.64.1.1".parse().unwrap()));
    let text = said.join("\n");
    assert!(text.contains("lan0") && text.contains("LAN"), "{text}");
    assert!(text.contains("internet channel 1 via 100.64.1.1"), "{text}");
    assert!(text.contains("wan1") && text.contains("not used"), "{text}");
    // One channel: no failover section. The files load with the daemon's loaders.
    let written = files(&s);
    assert!(!written[0].1.contains("[wan]"), "{}", written[0].1);
    check(Path::new("/etc/officegate"), &written).unwrap();
    assert_eq!(s.token.len(), 48);
}

#[test]
fn channels_named_on_the_command_line_get_failover() {
    let (ifs, routes, kernel) = machine();
    let o = Options {
        wans: vec!["wan0=100.64.1.1".into(), "wan1=100.64.2.1".into()],
        ..opts()
    };
    let (s, _) = propose(&o, &ifs, &routes, &kernel).unwrap();
    let written = files(&s);
    let conf = &written[0].1;
    assert!(
        conf.contains("[wan]") && conf.contains("name = \"backup\""),
        "{conf}"
    );
    assert!(conf.contains("gateway = \"100.64.2.1\""), "{conf}");
    check(Path::new("/etc/officegate"), &written).unwrap();
    // A channel named without its next hop takes its default route's; one with none
    // known is an error that says how to name it.
    let o = Options {
        wans: vec!["wan0".into(), "wan1=100.64.2.1".into()],
        ..opts()
    };
    let (s, _) = propose(&o, &ifs, &routes, &kernel).unwrap();
    assert_eq!(s.wans[0].gateway, Some("100.64.1.1".parse().unwrap()));
    check(Path::new("/etc/officegate"), &files(&s)).unwrap();
    let o = Options {
        wans: vec!["wan0".into(), "wan1".into()],
        ..opts()
    };
    let e = propose(&o, &ifs, &routes, &kernel).unwrap_err().to_string();
    assert!(e.contains("wan1=ADDRESS"), "{e}");
}

#[test]
fn what_cannot_be_is_a_clear_error() {
    let (ifs, routes, kernel) = machine();
    let err = |o: Options, ifs: &[Interface]| {
        propose(&o, ifs, &routes, &kernel)
            .expect_err("an error")
            .to_string()
    };
    assert!(
        err(
            Options {
                lan: Some("nope0".into()),
                ..opts()
            },
            &ifs
        )
        .contains("no such interface")
    );
    assert!(
        err(
            Options {
                lan: Some("wan0".into()),
                ..opts()
            },
            &ifs
        )
        .contains("both the LAN")
    );
    let public_only = [
        iface("wan0", &["100.64.1.2/24"]),
        iface("eth1", &["198.51.100.2/24"]),
    ];
    assert!(err(opts(), &public_only).contains("--lan"));
}
