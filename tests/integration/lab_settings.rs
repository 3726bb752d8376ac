//! `officegate.toml` edited while the daemon runs: the DNS filter's upstreams and the
//! API's listeners change without a restart, a broken file keeps the settings in force,
//! and a change that needs a restart says so and changes nothing yet.

use std::time::{Duration, Instant};

use officegate_lab::{Role, addr};

use crate::support::{http::TOKEN, office::office_with};

/// Waits up to 15 s for `cond`, asking it with a fresh number each time.
fn until(what: &str, log: impl Fn() -> String, mut cond: impl FnMut(usize) -> bool) {
    let started = Instant::now();
    for n in 0.. {
        if cond(n) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{what}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn settings_apply_without_a_restart_and_what_needs_one_says_so() {
    let o = office_with(|_, config| {
        format!(
            "{config}\n[api]\nlisten = [\"{}:8080\"]\ntoken = \"{TOKEN}\"\n",
            addr::GW_LAN_V4
        )
    });
    let pid = o.og.pid();
    let log = || o.og.log_text();
    let path = o.og.config_path().to_path_buf();
    let original = std::fs::read_to_string(&path).unwrap();
    let write = |text: &str| std::fs::write(&path, text).unwrap();
    let catch_all = addr::CATCH_ALL_V4.to_string();
    // A name never asked before (no cache answers it); a query that gets no answer in
    // time counts as not resolved.
    let gw = format!("@{}", addr::GW_LAN_V4);
    let fresh = |tag: &str, n: usize| {
        let name = format!("{tag}{n}.example");
        o.lab
            .sh(
                Role::Pc(1),
                &["dig", "+time=5", "+tries=1", &gw, "+short", &name, "A"],
            )
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let ui = |port: u16| {
        let url = format!("http://{}:{port}/", addr::GW_LAN_V4);
        o.lab
            .sh(
                Role::Pc(2),
                &[
                    "curl",
                    "-s",
                    "-m",
                    "3",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    &url,
                ],
            )
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(fresh("before", 0), catch_all);
    assert_eq!(ui(8080), "200");

    // The upstream now points where nothing answers: new names stop resolving.
    let upstream = format!("\"{}\"", addr::RESOLVER_V4);
    assert!(original.contains(&upstream), "{original}");
    let nowhere = format!("\"{}:5399\"", addr::GW_LAN_V4);
    write(&original.replace(&upstream, &nowhere));
    until("the new upstream was not used", log, |n| {
        fresh("nowhere", n).is_empty()
    });
    // Back to the real one: they resolve again.
    write(&original);
    until("the old upstream did not come back", log, |n| {
        fresh("back", n) == catch_all
    });

    // The API moves to another port.
    let moved = original.replace(":8080\"", ":8081\"");
    write(&moved);
    until("the API did not move", log, |_| ui(8081) == "200");
    assert_ne!(ui(8080), "200", "the old listener is closed");

    // A broken file: said, and the settings in force stay.
    write(&format!("{moved}\n[dns]\nbogus = 1\n"));
    until("the broken file was not reported", log, |_| {
        log().contains("settings not reloaded")
    });
    assert_eq!(fresh("broken", 0), catch_all);
    assert_eq!(ui(8081), "200");

    // The datapath's mode needs a restart: said, the programs stay as they are.
    write(&moved.replace("xdp_mode = \"native\"", "xdp_mode = \"generic\""));
    until("the needed restart was not said", log, |_| {
        log().contains("apply only at the next restart")
    });
    let link = o
        .lab
        .sh(Role::Gateway, &["ip", "link", "show", addr::LAN_IF])
        .unwrap();
    assert!(
        link.contains("prog/xdp") && !link.contains("xdpgeneric"),
        "{link}"
    );
    assert!(log().contains("sections=datapath"), "{}", log());
    // Nothing of this restarted the daemon.
    assert_eq!(o.og.pid(), pid);
    assert!(
        o.lab
            .sh(Role::Gateway, &["kill", "-0", &pid.unwrap().to_string()])
            .is_ok(),
        "{}",
        log()
    );
}
