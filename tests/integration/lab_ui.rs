//! The employee's side and the admin UI in the office lab: the block page a blocked name
//! leads to (and its refusal of HTTPS), access requests approved into timed exceptions,
//! and the whole story in headless Chromium (`web/tests/browser.mjs`): log in, dashboard
//! charts drawn from real traffic, block a PC and see its traffic stop, the block page,
//! a request, its approval, the site loading. Screenshots go to `artifacts/browser/`.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use officegate_lab::{
    Lab, LabConfig, Role, addr,
    officegate::{Officegate, lab_config, lab_policy, pin_dir_for},
};
use serde_json::Value;

use crate::support::{
    browser::browser,
    http::{TOKEN, add_user, call, login},
    office::{BIN, Office},
    pins::PinDir,
};

/// pc1 (sales) may not reach social.example, by a category with a description; pc2 is the
/// admin's laptop (default group).
const GROUPS: &str = r#"
[categories.social]
description = "Social networks"
files = ["social.txt"]

[[groups]]
name = "sales"

[[groups.rules]]
action = "block"
categories = ["social"]
"#;

fn office() -> Office {
    office_with(|_| String::new())
}

/// The office, with more `[block_page]` settings from `extra` (given the lab's directory).
fn office_with(extra: impl Fn(&Path) -> String) -> Office {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let config = format!(
        "{}\n[api]\nlisten = [\"{}:8080\"]\ntoken = \"{TOKEN}\"\n\n[block_page]\ncontact = \"the IT desk, ext. 100\"\n{}",
        lab_config(&pins.0),
        addr::GW_LAN_V4,
        extra(lab.dir())
    );
    std::fs::write(
        lab.dir().join("social.txt"),
        "# social networks\nsocial.example\n",
    )
    .expect("category file");
    let policy = lab_policy(&lab, GROUPS, &[(1, "sales")]);
    let og = Officegate::start(&lab, Path::new(BIN), &config, &policy).expect("officegate start");
    Office {
        lab,
        og,
        _pins: pins,
    }
}

/// curl from a PC: (exit code, HTTP status, body).
fn curl(lab: &Lab, pc: usize, args: &[&str]) -> (i32, u16, String) {
    let mut all = vec!["curl", "-sS", "-m", "10", "-w", "\n%{http_code}"];
    all.extend_from_slice(args);
    let out = lab.exec(Role::Pc(pc), &all).expect("spawn curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        out.status.code().unwrap_or(-1),
        code.trim().parse().unwrap_or(0),
        body.to_string(),
    )
}

fn api(o: &Office, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let url = format!("http://{}:8080{path}", addr::GW_LAN_V4);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let mut args = vec!["-X", method, "-H", &auth];
    if let Some(b) = body {
        args.extend(["-H", "Content-Type: application/json", "--data", b]);
    }
    args.push(&url);
    let (_, code, text) = curl(&o.lab, 2, &args);
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `f` for up to `secs` seconds until it gives `Some`.
fn within<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_block_page_explains_takes_requests_and_approval_opens_the_site() {
    let o = office();
    let lab = &o.lab;
    // pc1 asks the gateway for social.example and is sent to the block page.
    let (rc, code, page) = curl(lab, 1, &["http://social.example/some/path?q=1"]);
    assert_eq!((rc, code), (0, 403), "{page}");
    for needle in [
        "Access to social.example is blocked",
        "category “social” (Social networks)",
        "a rule of group “sales”",
        "pc1 (group “sales”)",
        "the IT desk, ext. 100",
        "action=\"/.officegate/request\"",
    ] {
        assert!(page.contains(needle), "`{needle}` missing:\n{page}");
    }
    // The Host header is untrusted: markup in it never reaches the page.
    let (_, _, page) = curl(
        lab,
        1,
        &[
            "-H",
            "Host: <script>alert(1)</script>",
            &format!("http://{}/", addr::GW_LAN_V4),
        ],
    );
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(page.contains("office's internet gateway"), "{page}");
    // HTTPS to the blocked name is refused at once (curl 7), not left to time out (28).
    let (rc, _, _) = curl(
        lab,
        1,
        &["--connect-timeout", "5", "https://social.example/"],
    );
    assert_eq!(rc, 7, "HTTPS to the block page address is refused");

    // Asking for a site that is not blocked is refused; asking for the blocked one works.
    let (_, code, _) = curl(
        lab,
        1,
        &[
            "--data",
            "site=news.example&reason=x",
            "http://social.example/.officegate/request",
        ],
    );
    assert_eq!(code, 400);
    let (_, code, sent) = curl(
        lab,
        1,
        &[
            "--data-urlencode",
            "site=social.example",
            "--data-urlencode",
            "reason=customer chat <b>now</b>",
            "http://social.example/.officegate/request",
        ],
    );
    assert_eq!(code, 200, "{sent}");
    assert!(sent.contains("Request sent"), "{sent}");

    // The admin sees it, with the reason and the rule, and an alert-worthy event.
    let (code, list) = api(&o, "GET", "/api/v1/requests?state=pending", None);
    assert_eq!(code, 200, "{list}");
    let r = &list[0];
    assert_eq!(
        (r["pc"].as_str(), r["domain"].as_str(), r["state"].as_str()),
        (Some("pc1"), Some("social.example"), Some("pending")),
        "{list:#}"
    );
    assert_eq!(r["reason"], "customer chat <b>now</b>");
    assert!(
        r["blocked_by"]
            .as_str()
            .unwrap()
            .contains("category “social”")
    );
    let id = r["id"].as_i64().unwrap();
    let (_, events) = api(&o, "GET", "/api/v1/events?source=requests", None);
    assert_eq!(events[0]["kind"], "new", "{events:#}");
    // The page now says the request is waiting.
    let (_, _, page) = curl(lab, 1, &["http://social.example/"]);
    assert!(page.contains("is waiting for a decision"), "{page}");

    // Roles: an auditor and a manager of another department may not decide it.
    add_user(&o, "audit", "auditor", None, "audit password 1");
    add_user(&o, "mgr", "manager", Some("nobody-here"), "mgr password 1");
    for (user, pw) in [("audit", "audit password 1"), ("mgr", "mgr password 1")] {
        let (code, me) = login(&o, user, pw);
        assert_eq!(code, 200);
        let csrf = me["csrf"].as_str().unwrap();
        let path = format!("/api/v1/requests/{id}/approve");
        let (code, body) = call(&o, user, "POST", &path, Some("{}"), Some(csrf));
        assert_eq!(code, 403, "{user} may not approve: {body}");
    }

    // Approve for an hour: written into office.toml, live within a second or two.
    let (code, done) = api(
        &o,
        "POST",
        &format!("/api/v1/requests/{id}/approve"),
        Some("{\"hours\": 1}"),
    );
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["state"], "approved");
    let (code, again) = api(&o, "POST", &format!("/api/v1/requests/{id}/refuse"), None);
    assert_eq!(code, 409, "decided once: {again}");
    let toml = std::fs::read_to_string(lab.dir().join("office.toml")).unwrap();
    assert!(
        toml.contains("[[exceptions]]\npc = \"pc1\"\ndomains = [\"social.example\"]"),
        "{toml}"
    );
    let site = within(10, || {
        let (_, code, body) = curl(lab, 1, &["http://social.example/"]);
        (code == 200 && body.contains("<title>social.example</title>")).then_some(body)
    });
    assert!(
        site.is_some(),
        "pc1 reaches social.example after the approval"
    );
    // … and keeps reaching it: the datapath's next plans (the answered names are re-read
    // every 5 s) leave the address it was answered open.
    std::thread::sleep(Duration::from_secs(7));
    let (rc, code, body) = curl(
        lab,
        1,
        &["--connect-timeout", "3", "http://social.example/"],
    );
    assert_eq!(
        (rc, code),
        (0, 200),
        "still open a few seconds later: {body}"
    );
    // The explain engine names the exception.
    let (_, why) = api(
        &o,
        "GET",
        "/api/v1/explain?pc=pc1&domain=www.social.example",
        None,
    );
    assert_eq!(why["verdict"], "allowed", "{why:#}");
    assert!(
        why["matched"]
            .as_str()
            .unwrap()
            .contains("exception for social.example")
    );
    // Both ends are in the action history.
    let (_, history) = api(&o, "GET", "/api/v1/actions", None);
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"request_file"), "{actions:?}");
    assert!(actions.contains(&"request_approve"), "{actions:?}");
    // The policy view shows the exception in force.
    let (_, pol) = api(&o, "GET", "/api/v1/policy", None);
    assert_eq!(pol["exceptions"][0]["active"], true, "{pol:#}");
    assert_eq!(pol["lists"][0]["files"][0]["rules"], 1, "{pol:#}");
}

#[test]
fn with_the_office_ca_the_block_page_is_served_over_https_too() {
    let o = office_with(|dir| {
        format!(
            "ca_cert = \"{}\"\nca_key = \"{}\"\n",
            dir.join("tls/ca.pem").display(),
            dir.join("tls/ca.key").display()
        )
    });
    let ca = o.lab.dir().join("tls/ca.pem").display().to_string();
    // curl trusts the lab CA (as an office's PCs trust its own): no warning, the page.
    let (rc, code, page) = curl(
        &o.lab,
        1,
        &["--cacert", &ca, "https://www.social.example/x"],
    );
    assert_eq!((rc, code), (0, 403), "{page}");
    assert!(
        page.contains("Access to www.social.example is blocked"),
        "{page}"
    );
    // The certificate names the blocked site and is signed by the CA.
    let cert = o
        .lab
        .sh(
            Role::Pc(1),
            &[
                "sh",
                "-c",
                "echo | openssl s_client -connect social.example:443 -servername social.example 2>/dev/null | openssl x509 -noout -subject -issuer",
            ],
        )
        .unwrap();
    assert!(
        cert.contains("CN=social.example") || cert.contains("CN = social.example"),
        "{cert}"
    );
    assert!(cert.contains("Officegate Lab CA"), "{cert}");
    // No name (an address): no certificate, the handshake fails rather than lie.
    let (rc, _, _) = curl(
        &o.lab,
        1,
        &["--cacert", &ca, &format!("https://{}/", addr::GW_LAN_V4)],
    );
    assert_ne!(rc, 0, "no certificate for a bare address");
    // Requests work over HTTPS as well.
    let (_, code, sent) = curl(
        &o.lab,
        1,
        &[
            "--cacert",
            &ca,
            "--data",
            "site=social.example&reason=over+https",
            "https://social.example/.officegate/request",
        ],
    );
    assert_eq!(code, 200, "{sent}");
}

/// A certificate for the gateway's LAN address, signed by the lab CA (the office's own
/// PKI), for the admin API over HTTPS.
fn gateway_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let tls = dir.join("tls");
    let (key, csr, cert, ext) = (
        tls.join("api.key"),
        tls.join("api.csr"),
        tls.join("api.pem"),
        tls.join("api.ext"),
    );
    std::fs::write(&ext, format!("subjectAltName=IP:{}\n", addr::GW_LAN_V4)).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let p = |x: &PathBuf| x.display().to_string();
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p(&key),
        "-out",
        &p(&csr),
        "-subj",
        "/CN=officegate",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&tls.join("ca.pem")),
        "-CAkey",
        &p(&tls.join("ca.key")),
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        &p(&cert),
        "-extfile",
        &p(&ext),
    ]);
    (cert, key)
}

#[test]
fn the_admin_ui_over_https_marks_its_session_cookie_secure() {
    let lab = Lab::up(LabConfig { pcs: 2 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let (cert, key) = gateway_cert(lab.dir());
    let config = format!(
        "{}\n[api]\nlisten = [\"{}:8443\"]\ntoken = \"{TOKEN}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        lab_config(&pins.0),
        addr::GW_LAN_V4,
        cert.display(),
        key.display()
    );
    let policy = lab_policy(&lab, GROUPS, &[(1, "sales")]);
    std::fs::write(lab.dir().join("social.txt"), "social.example\n").unwrap();
    let og = Officegate::start(&lab, Path::new(BIN), &config, &policy).expect("officegate start");
    let o = Office {
        lab,
        og,
        _pins: pins,
    };
    add_user(&o, "boss", "admin", None, "boss password 1");
    let ca = o.lab.dir().join("tls/ca.pem").display().to_string();
    let base = format!("https://{}:8443", addr::GW_LAN_V4);
    let (rc, code, page) = curl(&o.lab, 2, &["--cacert", &ca, &format!("{base}/")]);
    assert_eq!((rc, code), (0, 200), "{page}");
    assert!(page.contains("/assets/app.js"), "{page}");
    let (rc, code, reply) = curl(
        &o.lab,
        2,
        &[
            "--cacert",
            &ca,
            "-D",
            "-",
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"name": "boss", "password": "boss password 1"}"#,
            &format!("{base}/api/v1/login"),
        ],
    );
    assert_eq!((rc, code), (0, 200), "{reply}");
    let cookie = reply
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    // Plain HTTP on the same port gets no answer worth the name.
    let (_, code, _) = curl(&o.lab, 2, &[&format!("http://{}:8443/", addr::GW_LAN_V4)]);
    assert_ne!(code, 200);
}

/// What pc1 gets for `name` from the gateway's DNS (first A record).
fn resolve(lab: &Lab, name: &str) -> String {
    let out = lab
        .sh(
            Role::Pc(1),
            &["dig", "+short", "+time=2", "+tries=1", name, "A"],
        )
        .unwrap_or_default();
    out.lines().next().unwrap_or("").trim().to_string()
}

#[test]
fn an_employer_changes_restrictions_through_the_api_and_they_apply_at_once() {
    let o = office();
    let lab = &o.lab;
    let page = addr::GW_LAN_V4.to_string();
    assert_ne!(resolve(lab, "news.example"), page, "news is open at first");
    // Block a site for the sales group: office.toml gets the rule under [[groups]] sales.
    let (code, body) = api(
        &o,
        "POST",
        "/api/v1/groups/sales/rules",
        Some(r#"{"action": "block", "domains": ["news.example"]}"#),
    );
    assert_eq!(code, 200, "{body}");
    let blocked = within(5, || {
        (resolve(lab, "www.news.example") == page).then_some(())
    });
    assert!(blocked.is_some(), "the new rule applies within seconds");
    let toml = std::fs::read_to_string(lab.dir().join("office.toml")).unwrap();
    assert!(toml.contains("domains = [\"news.example\"]"), "{toml}");
    // Broken edits are refused with a reason and change nothing.
    for (path, body) in [
        (
            "/api/v1/groups/sales/rules",
            r#"{"action": "block", "categories": ["nope"]}"#,
        ),
        (
            "/api/v1/groups/sales/rules",
            r#"{"action": "block", "domains": ["not a name"]}"#,
        ),
        (
            "/api/v1/groups/ghosts/rules",
            r#"{"action": "block", "domains": ["x.example"]}"#,
        ),
    ] {
        let (code, reply) = api(&o, "POST", path, Some(body));
        assert!(code == 400 || code == 404, "{path} {body}: {code} {reply}");
    }
    assert_eq!(
        toml,
        std::fs::read_to_string(lab.dir().join("office.toml")).unwrap()
    );
    // A schedule, a limit; both in the policy view.
    let (code, reply) = api(
        &o,
        "PUT",
        "/api/v1/schedules/lunch",
        Some(r#"{"days": ["mon", "tue"], "from": "12:00", "until": "13:00"}"#),
    );
    assert_eq!(code, 200, "{reply}");
    let (code, reply) = api(
        &o,
        "PUT",
        "/api/v1/limits",
        Some(r#"{"group": "sales", "per": "day", "bytes": "2 GB"}"#),
    );
    assert_eq!(code, 200, "{reply}");
    let view = within(5, || {
        let (_, v) = api(&o, "GET", "/api/v1/policy", None);
        (v["limits"].as_array().is_some_and(|l| !l.is_empty())
            && v["schedules"].as_array().is_some_and(|s| !s.is_empty()))
        .then_some(v)
    })
    .expect("the policy view shows the new limit and schedule");
    assert_eq!(view["limits"][0]["target"], "group sales", "{view:#}");
    assert!(
        view["schedules"][0]
            .as_str()
            .unwrap()
            .starts_with("lunch: mon,tue 12:00")
    );
    // Remove the rule again (its number from the view): the site opens.
    let sales = view["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "sales")
        .unwrap();
    let index = sales["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["domains"][0] == "news.example")
        .unwrap()["index"]
        .as_u64()
        .unwrap();
    let (code, reply) = api(
        &o,
        "DELETE",
        &format!("/api/v1/groups/sales/rules/{index}"),
        None,
    );
    assert_eq!(code, 200, "{reply}");
    let open = within(5, || (resolve(lab, "news.example") != page).then_some(()));
    assert!(open.is_some(), "removing the rule opens the site again");
    let (_, history) = api(&o, "GET", "/api/v1/actions", None);
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in ["rule_add", "schedule_set", "limit_set", "rule_remove"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

/// true: pc reaches the lab's news site; false: the connection is refused at once (the
/// datapath's reset for a dropped TCP segment: curl 7, never a 28 time-out) or a held
/// PC's HTTP gets the block page (403).
fn reaches_news(lab: &Lab, pc: usize) -> bool {
    let url = format!("http://{}/", addr::SITE_NEWS_V4);
    let (rc, code, _) = curl(lab, pc, &["--connect-timeout", "3", &url]);
    match rc {
        0 => code == 200,
        7 => false,
        other => panic!("curl {url} from pc{pc}: exit {other}"),
    }
}

#[test]
fn in_the_browser_an_admin_blocks_a_pc_and_approves_an_employees_request() {
    let o = office();
    let lab = &o.lab;
    add_user(&o, "boss", "admin", None, "boss password 1");
    let admin = |step: &str, extra: Value| {
        let mut p =
            serde_json::json!({"user": "boss", "password": "boss password 1", "prefix": step});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        browser(lab, 2, step, p)
    };
    // Traffic for the charts: pc1 downloads a megabyte, pc2 a little.
    for (pc, path) in [(1, addr::FILE_1M), (2, "/")] {
        let url = format!("http://{}{path}", addr::SITE_NEWS_V4);
        let (rc, code, _) = curl(lab, pc, &["-o", "/dev/null", &url]);
        assert_eq!((rc, code), (0, 200));
    }
    // The dashboard's figures come from the per-minute statistics: wait for them.
    let counted = within(90, || {
        let (_, top) = api(&o, "GET", "/api/v1/top", None);
        top.as_array()
            .filter(|rows| {
                rows.iter()
                    .any(|r| r["down_bytes"].as_u64() > Some(1_000_000))
            })
            .map(|_| ())
    });
    assert!(counted.is_some(), "pc1's traffic is in the statistics");

    let dash = admin("dashboard", serde_json::json!({}));
    // Both charts drew something in their colours, and say what: pc1's megabyte.
    assert!(dash["traffic_ink"].as_f64().unwrap() > 0.001, "{dash:#}");
    assert!(dash["pie_ink"].as_f64().unwrap() > 0.01, "{dash:#}");
    let traffic = dash["traffic_label"].as_str().unwrap();
    assert!(
        !traffic.contains(" 0 B down") && !traffic.contains(" 0 of "),
        "{dash:#}"
    );
    assert!(
        dash["pie_label"].as_str().unwrap().contains("pc1: 1."),
        "{dash:#}"
    );
    assert!(
        dash["top_pcs"][0].as_str().unwrap().starts_with("pc1"),
        "{dash:#}"
    );

    // Block pc1 from its page: its traffic stops; unblock: it flows again.
    assert!(reaches_news(lab, 1));
    let b = admin(
        "block_pc",
        serde_json::json!({"pc": "pc1", "reason": "browser test"}),
    );
    assert!(b["message"].as_str().unwrap().contains("blocked"), "{b:#}");
    assert!(
        within(5, || (!reaches_news(lab, 1)).then_some(())).is_some(),
        "pc1 is cut off once blocked in the UI"
    );
    // Its employee, opening any plain-HTTP site, reads why and until when; HTTPS fails
    // at once (a reset: curl 7, never a time-out).
    let shown = within(5, || {
        let v = browser(
            lab,
            1,
            "open",
            serde_json::json!({"url": "http://news.example/"}),
        );
        (v["status"] == 403).then_some(v)
    })
    .expect("pc1's browser gets the block page");
    let text = shown["text"].as_str().unwrap();
    assert!(text.contains("This computer is blocked"), "{text}");
    assert!(text.contains("browser test"), "the reason: {text}");
    assert!(text.contains("lifted by IT"), "until when: {text}");
    let https = format!("https://{}/", addr::SITE_NEWS_V4);
    let (rc, _, _) = curl(lab, 1, &["-k", "--connect-timeout", "3", &https]);
    assert_eq!(rc, 7, "HTTPS of a blocked PC is refused at once");
    admin(
        "block_pc",
        serde_json::json!({"pc": "pc1", "unblock": true}),
    );
    assert!(
        within(5, || reaches_news(lab, 1).then_some(())).is_some(),
        "pc1 is back once unblocked"
    );

    // The employee on pc1 hits the blocked site, reads why, and asks for it.
    let asked = browser(
        lab,
        1,
        "request_access",
        serde_json::json!({"url": "http://social.example/", "reason": "customer asked us to reply there"}),
    );
    assert_eq!(asked["status"], 403);
    let text = asked["text"].as_str().unwrap();
    assert!(
        text.contains("Access to social.example is blocked"),
        "{text}"
    );
    assert!(text.contains("Social networks"), "{text}");
    let (_, list) = api(&o, "GET", "/api/v1/requests?state=pending", None);
    let id = list[0]["id"].as_i64().expect("the request is queued");

    // The employer blocks another site for sales from the policy page.
    let added = admin(
        "add_rule",
        serde_json::json!({"group": "sales", "site": "news.example"}),
    );
    assert!(
        added["message"].as_str().unwrap().contains("saved"),
        "{added:#}"
    );
    let page = addr::GW_LAN_V4.to_string();
    assert!(
        within(5, || (resolve(lab, "news.example") == page).then_some(())).is_some(),
        "the rule added in the UI applies"
    );

    // The admin approves it in the UI; the site then loads in pc1's browser.
    admin("approve", serde_json::json!({"id": id}));
    let loaded = within(15, || {
        let v = browser(
            lab,
            1,
            "open",
            serde_json::json!({"url": "http://social.example/"}),
        );
        (v["title"] == "social.example").then_some(v)
    });
    assert!(
        loaded.is_some(),
        "social.example loads in pc1's browser after the approval"
    );
}

/// The nav of every role that reads the whole office (admin, auditor), in order.
const NAV_ALL: [&str; 11] = [
    "Dashboard",
    "PCs",
    "Devices",
    "Sites",
    "Query log",
    "Requests",
    "Policy",
    "Channels",
    "Reports",
    "History",
    "Users",
];

/// Every page of the UI as each role, in headless Chromium, as a user who never logged in
/// there before: `browser.mjs` fails the step on any console error, uncaught exception or
/// failed request of the UI (a missing asset, a refused API call). The nav offers exactly
/// the pages open to the role; the others, opened all the same, say so without asking the
/// API; and each role gets the forms and buttons its routes allow — which the UI learns
/// from `may` in GET /api/v1/me, not from a copy of the role rules.
#[test]
fn in_the_browser_every_page_opens_for_every_role_without_an_error() {
    let o = office();
    let lab = &o.lab;
    add_user(&o, "boss", "admin", None, "boss password 1");
    add_user(&o, "audit", "auditor", None, "audit password 1");
    add_user(&o, "mgr", "manager", Some("sales"), "mgr password 1");
    // Something on the pages: pc1 (sales, the manager's) browses and asks for a site.
    let news = format!("http://{}/", addr::SITE_NEWS_V4);
    assert_eq!(curl(lab, 1, &["-o", "/dev/null", &news]).1, 200);
    let (_, code, sent) = curl(
        lab,
        1,
        &[
            "--data-urlencode",
            "site=social.example",
            "--data-urlencode",
            "reason=for the tour",
            "http://social.example/.officegate/request",
        ],
    );
    assert_eq!(code, 200, "{sent}");
    let (_, list) = api(&o, "GET", "/api/v1/requests?state=pending", None);
    let id = list[0]["id"].as_i64().expect("the request is queued");

    let pages = [
        "dashboard",
        "pcs",
        "devices",
        "pc",
        "sites",
        "site",
        "queries",
        "requests",
        "policy",
        "channels",
        "reports",
        "history",
        "users",
    ];
    let manager_pages = ["dashboard", "pcs", "pc", "requests", "policy"];
    let approve = format!("approve-{id}");
    let approve_group = format!("approve-group-{id}");
    let refuse = format!("refuse-{id}");
    for (user, password, role) in [
        ("boss", "boss password 1", "admin"),
        ("audit", "audit password 1", "auditor"),
        ("mgr", "mgr password 1", "manager"),
    ] {
        let tour = browser(
            lab,
            2,
            "tour",
            serde_json::json!({
                "user": user, "password": password, "prefix": format!("tour-{role}"),
                "pc": "pc1", "site": "news.example",
            }),
        );
        let nav: Vec<&str> = tour["nav"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let want: Vec<&str> = match role {
            "manager" => NAV_ALL
                .into_iter()
                .filter(|l| ["Dashboard", "PCs", "Requests", "Policy"].contains(l))
                .collect(),
            _ => NAV_ALL.to_vec(),
        };
        assert_eq!(nav, want, "{role}'s nav: {tour:#}");
        for name in pages {
            let page = &tour["pages"][name];
            let open = role != "manager" || manager_pages.contains(&name);
            assert_eq!(page["open"], open, "{role} {name}: {page:#}");
        }
        // What each role may do, as forms and buttons (by data-testid).
        let shows = |page: &str, testid: &str| {
            tour["pages"][page]["testids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == testid)
        };
        let (admin, manager) = (role == "admin", role == "manager");
        let place_pc1 = format!("place-{}", addr::mac_string(addr::pc_mac(1)));
        for (page, testid, expected) in [
            ("dashboard", "traffic-chart", !manager),
            ("dashboard", "pcs-pie", true),
            ("devices", "devices-table", !manager),
            ("devices", place_pc1.as_str(), admin),
            ("pc", "block-pc", admin || manager),
            ("pc", "unblock-pc", admin || manager),
            ("policy", "explain-pc", true),
            ("policy", "add-rule-sales", admin || manager),
            ("policy", "limit-form", admin || manager),
            ("policy", "schedule-form", admin),
            ("requests", approve.as_str(), admin || manager),
            ("requests", refuse.as_str(), admin || manager),
            ("requests", approve_group.as_str(), admin),
            ("users", "add-user", admin),
        ] {
            assert_eq!(
                shows(page, testid),
                expected,
                "{role} on {page}: {testid}: {:#}",
                tour["pages"][page]
            );
        }
    }
}
