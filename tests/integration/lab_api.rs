//! The admin API in the office lab: a PC's traffic, the query log, events and `/metrics`,
//! read over HTTP from the LAN with the bearer token (and refused without it).

use std::time::{Duration, Instant};

use officegate_lab::{Role, addr};
use serde_json::Value;

use crate::support::{
    dns::short,
    http::{TOKEN, add_user, call, get, login, office_with_api},
    office::Office,
};

#[test]
fn the_api_reports_traffic_queries_and_metrics_to_the_token_holder_only() {
    let o = office_with_api();
    // Some traffic and some queries from pc1.
    o.lab
        .sh(
            Role::Pc(1),
            &[
                "curl",
                "-s",
                "-o",
                "/dev/null",
                &format!("http://{}{}", addr::SITE_NEWS_V4, addr::FILE_1M),
            ],
        )
        .unwrap();
    short(&o.lab, 1, "news.example", "A");
    short(&o.lab, 1, "social.example", "A");

    assert_eq!(get(&o, "/api/v1/pcs", None).0, 401);
    assert_eq!(
        get(&o, "/api/v1/pcs", Some("wrong-token-0123456789")).0,
        401
    );
    assert_eq!(get(&o, "/metrics", None).0, 401);

    let (code, body) = get(&o, "/api/v1/pcs", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let pcs: Value = serde_json::from_str(&body).unwrap();
    let pc1 = pcs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pc1")
        .expect("pc1 listed");
    assert_eq!(pc1["group"], "staff");
    assert!(pc1["down_bytes"].as_u64().unwrap() > 1_000_000, "{pc1:#}");
    assert_eq!(pcs[0]["name"], "pc1", "busiest first");

    let (code, csv) = get(&o, "/api/v1/pcs?format=csv", Some(TOKEN));
    assert_eq!(code, 200);
    assert!(csv.starts_with("name,group,addresses"), "{csv}");

    // The query log, once the writer has committed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let blocked = loop {
        let (_, body) = get(&o, "/api/v1/queries?verdict=blocked&limit=10", Some(TOKEN));
        let v: Value = serde_json::from_str(&body).unwrap();
        if !v.as_array().unwrap().is_empty() || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(blocked[0]["name"], "social.example", "{blocked:#}");
    assert_eq!(blocked[0]["pc"], "pc1");

    let (code, metrics) = get(&o, "/metrics", Some(TOKEN));
    assert_eq!(code, 200);
    assert!(
        metrics.contains("officegate_pc_bytes_total{pc=\"pc1\",direction=\"down\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("officegate_dns_queries_total{verdict=\"blocked\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("officegate_datapath_drops_total"));

    // The OpenAPI document describes every route the API serves.
    let (code, doc) = get(&o, "/api/v1/openapi.json", Some(TOKEN));
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    for path in [
        "/api/v1/pcs",
        "/api/v1/queries",
        "/api/v1/events",
        "/api/v1/wan",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    // Bad input gets a clear error, and the daemon keeps serving.
    let (code, body) = get(&o, "/api/v1/pcs?format=xml", Some(TOKEN));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("unknown format"));
    assert_eq!(get(&o, "/api/v1/events?limit=nope", Some(TOKEN)).0, 400);
    assert_eq!(get(&o, "/api/v1/wan", Some(TOKEN)).0, 200);
}

/// pc1's traffic as the statistics counted it (per-minute rows, summed) and as the
/// datapath counts it live.
fn counted_vs_live(o: &Office) -> (u64, u64) {
    let (_, body) = get(o, "/api/v1/traffic?pc=pc1&resolution=day", Some(TOKEN));
    let series: Value = serde_json::from_str(&body).unwrap();
    let counted: u64 = series
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["up_bytes"].as_u64().unwrap() + p["down_bytes"].as_u64().unwrap())
        .sum();
    let (_, body) = get(o, "/api/v1/pcs", Some(TOKEN));
    let pcs: Value = serde_json::from_str(&body).unwrap();
    let pc1 = pcs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pc1")
        .unwrap()
        .clone();
    let live = pc1["up_bytes"].as_u64().unwrap() + pc1["down_bytes"].as_u64().unwrap();
    (counted, live)
}

#[test]
fn per_minute_statistics_survive_a_restart_without_loss_or_double_counting() {
    let mut o = office_with_api();
    let fetch = |o: &Office| {
        o.lab
            .sh(
                Role::Pc(1),
                &[
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    &format!("http://{}{}", addr::SITE_NEWS_V4, addr::FILE_1M),
                ],
            )
            .unwrap();
    };
    fetch(&o);
    // A restart in the middle: the last count at shutdown, marks picked up at start.
    o.og.stop().unwrap();
    o.og.restart().unwrap();
    fetch(&o);
    // Let the collector (every second) and the writer (a quarter second) catch up.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (counted, live) = loop {
        std::thread::sleep(Duration::from_millis(500));
        let (c, l) = counted_vs_live(&o);
        if c.abs_diff(l) < 20_000 || Instant::now() > deadline {
            break (c, l);
        }
    };
    assert!(live > 2_000_000, "two 1 MB downloads: {live}");
    assert!(
        counted.abs_diff(live) < 20_000,
        "counted {counted} vs live {live}: a restart must lose and double-count nothing"
    );
    // How traffic splits across PCs: pc1 on top.
    let (_, body) = get(&o, "/api/v1/top?limit=3", Some(TOKEN));
    let top: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(top[0]["pc"], "pc1", "{top:#}");
    assert_eq!(
        get(&o, "/api/v1/traffic?resolution=week", Some(TOKEN)).0,
        400
    );
}

/// Users, roles, sessions, CSRF, lock-out and the action history, through the API as a
/// browser would use it (cookies), for each role.
#[test]
fn users_log_in_with_roles_csrf_and_lock_out() {
    let o = office_with_api();
    add_user(&o, "boss", "admin", None, "boss password 1");
    add_user(&o, "audit", "auditor", None, "audit password 1");
    add_user(&o, "mgr", "manager", Some("staff"), "mgr password 1");

    // Not logged in: refused.
    assert_eq!(call(&o, "nobody", "GET", "/api/v1/pcs", None, None).0, 401);

    let (code, me) = login(&o, "boss", "boss password 1");
    assert_eq!(code, 200, "{me}");
    assert_eq!(me["role"], "admin");
    let csrf = me["csrf"].as_str().unwrap().to_string();
    let cookies = std::fs::read_to_string(o.lab.dir().join("boss.cookies")).unwrap();
    assert!(
        cookies.contains("#HttpOnly_") && cookies.contains("og_session"),
        "{cookies}"
    );
    let (code, who) = call(&o, "boss", "GET", "/api/v1/me", None, None);
    assert_eq!(code, 200);
    assert_eq!(serde_json::from_str::<Value>(&who).unwrap()["name"], "boss");
    assert_eq!(call(&o, "boss", "GET", "/api/v1/pcs", None, None).0, 200);

    // A change needs the CSRF token.
    let new = r#"{"name": "helper", "password": "helper password", "role": "auditor"}"#;
    assert_eq!(
        call(&o, "boss", "POST", "/api/v1/users", Some(new), None).0,
        403
    );
    assert_eq!(
        call(
            &o,
            "boss",
            "POST",
            "/api/v1/users",
            Some(new),
            Some("forged")
        )
        .0,
        403
    );
    let (code, body) = call(&o, "boss", "POST", "/api/v1/users", Some(new), Some(&csrf));
    assert_eq!(code, 200, "{body}");
    // … and is in the history with who did it (the CLI's additions too).
    let (_, hist) = call(&o, "boss", "GET", "/api/v1/actions", None, None);
    let hist: Value = serde_json::from_str(&hist).unwrap();
    assert_eq!(hist[0]["action"], "user_add", "{hist:#}");
    assert_eq!(hist[0]["actor"], "boss");
    assert_eq!(hist[0]["subject"], "helper");
    assert!(
        hist.as_array()
            .unwrap()
            .iter()
            .any(|a| a["actor"] == "cli" && a["subject"] == "mgr")
    );

    // The auditor reads everything and changes nothing.
    let (code, a) = login(&o, "audit", "audit password 1");
    assert_eq!(code, 200);
    let acsrf = a["csrf"].as_str().unwrap().to_string();
    assert_eq!(call(&o, "audit", "GET", "/api/v1/pcs", None, None).0, 200);
    assert_eq!(
        call(&o, "audit", "GET", "/api/v1/actions", None, None).0,
        200
    );
    let other = r#"{"name": "x2", "password": "x2 password!", "role": "admin"}"#;
    assert_eq!(
        call(
            &o,
            "audit",
            "POST",
            "/api/v1/users",
            Some(other),
            Some(&acsrf)
        )
        .0,
        403
    );
    // The manager of `staff` sees and manages only staff's PCs (pc1), nothing office-wide.
    let (code, m) = login(&o, "mgr", "mgr password 1");
    assert_eq!(code, 200);
    assert_eq!(m["scope"], "staff");
    let mcsrf = m["csrf"].as_str().unwrap().to_string();
    let (code, pcs) = call(&o, "mgr", "GET", "/api/v1/pcs", None, None);
    assert_eq!(code, 200, "{pcs}");
    let pcs: Value = serde_json::from_str(&pcs).unwrap();
    let names: Vec<&str> = pcs
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pc1"], "{pcs:#}");
    let (_, top) = call(&o, "mgr", "GET", "/api/v1/top?limit=10", None, None);
    let top: Value = serde_json::from_str(&top).unwrap();
    assert!(
        top.as_array().unwrap().iter().all(|r| r["pc"] == "pc1"),
        "{top:#}"
    );
    assert_eq!(
        call(&o, "mgr", "GET", "/api/v1/pcs/pc1/hosts", None, None).0,
        200
    );
    assert_eq!(
        call(&o, "mgr", "GET", "/api/v1/pcs/pc2/hosts", None, None).0,
        403
    );
    assert_eq!(
        call(&o, "mgr", "GET", "/api/v1/traffic?pc=pc1", None, None).0,
        200
    );
    assert_eq!(
        call(&o, "mgr", "GET", "/api/v1/traffic?pc=pc2", None, None).0,
        403
    );
    assert_eq!(call(&o, "mgr", "GET", "/api/v1/traffic", None, None).0, 403);
    assert_eq!(call(&o, "mgr", "GET", "/api/v1/sites", None, None).0, 403);
    assert_eq!(call(&o, "mgr", "GET", "/api/v1/queries", None, None).0, 403);
    assert_eq!(call(&o, "mgr", "GET", "/api/v1/actions", None, None).0, 403);
    assert_eq!(
        call(
            &o,
            "mgr",
            "POST",
            "/api/v1/pcs/pc2/block",
            Some("{}"),
            Some(&mcsrf)
        )
        .0,
        403
    );
    assert_eq!(call(&o, "mgr", "GET", "/api/v1/me", None, None).0, 200);

    // Five wrong passwords lock the account; then even the right one is refused.
    for i in 0..4 {
        assert_eq!(login(&o, "audit", "wrong").0, 401, "attempt {i}");
    }
    assert_eq!(login(&o, "audit", "wrong").0, 429);
    assert_eq!(login(&o, "audit", "audit password 1").0, 429);
    // Unknown users get the same answer as a wrong password.
    let (code, e) = login(&o, "ghost", "whatever!!");
    assert_eq!(code, 401);
    assert_eq!(e["error"], "wrong user name or password");

    // Logout ends the session.
    assert_eq!(
        call(&o, "boss", "POST", "/api/v1/logout", None, Some(&csrf)).0,
        200
    );
    assert_eq!(call(&o, "boss", "GET", "/api/v1/me", None, None).0, 401);
    // The bearer token still works for machines.
    assert_eq!(get(&o, "/api/v1/me", Some(TOKEN)).0, 200);
}

/// pc1 fetches a page from the news site: did it get through?
fn pc1_reaches_news(o: &Office) -> bool {
    let url = format!("http://{}{}", addr::SITE_NEWS_V4, addr::HEALTH_PATH);
    o.lab
        .sh(
            Role::Pc(1),
            &["curl", "-s", "-f", "-m", "1", "-o", "/dev/null", &url],
        )
        .is_ok()
}

fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An admin blocks a PC through the API: written into office.toml (the admin's text
/// kept), applied by the daemon, the PC's traffic stops, the history says who; unblocking
/// restores it. An auditor may not.
#[test]
fn an_admin_blocks_and_unblocks_a_pc_through_the_api() {
    let o = office_with_api();
    add_user(&o, "boss", "admin", None, "boss password 1");
    add_user(&o, "audit", "auditor", None, "audit password 1");
    assert!(pc1_reaches_news(&o), "pc1 starts allowed");
    let before = std::fs::read_to_string(o.og.policy_path()).unwrap();

    let (_, a) = login(&o, "audit", "audit password 1");
    let acsrf = a["csrf"].as_str().unwrap().to_string();
    assert_eq!(
        call(
            &o,
            "audit",
            "POST",
            "/api/v1/pcs/pc1/block",
            Some("{}"),
            Some(&acsrf)
        )
        .0,
        403
    );

    let (_, me) = login(&o, "boss", "boss password 1");
    let csrf = me["csrf"].as_str().unwrap().to_string();
    // Bad input: a clear error, nothing written.
    let (code, body) = call(
        &o,
        "boss",
        "POST",
        "/api/v1/pcs/pc1/block",
        Some(r#"{"until": "next tuesday"}"#),
        Some(&csrf),
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        call(
            &o,
            "boss",
            "POST",
            "/api/v1/pcs/nope/block",
            Some("{}"),
            Some(&csrf)
        )
        .0,
        404
    );
    assert_eq!(std::fs::read_to_string(o.og.policy_path()).unwrap(), before);

    let (code, body) = call(
        &o,
        "boss",
        "POST",
        "/api/v1/pcs/pc1/block",
        Some(r#"{"until": "2099-01-01 00:00", "reason": "exam week"}"#),
        Some(&csrf),
    );
    assert_eq!(code, 200, "{body}");
    let after = std::fs::read_to_string(o.og.policy_path()).unwrap();
    assert!(
        after.starts_with(&before),
        "office.toml keeps the admin's text:\n{after}"
    );
    assert!(after.contains("[[blocks]]\npc = \"pc1\""), "{after}");
    eventually("pc1 blocked", || !pc1_reaches_news(&o));
    let (_, hist) = call(&o, "boss", "GET", "/api/v1/actions", None, None);
    let hist: Value = serde_json::from_str(&hist).unwrap();
    assert_eq!(hist[0]["action"], "pc_block", "{hist:#}");
    assert_eq!(hist[0]["actor"], "boss");
    assert_eq!(hist[0]["details"]["reason"], "exam week");
    let (_, pcs) = call(&o, "boss", "GET", "/api/v1/pcs", None, None);
    let pcs: Value = serde_json::from_str(&pcs).unwrap();
    let pc1 = pcs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pc1")
        .unwrap();
    assert_eq!(pc1["state"], "blocked", "{pc1:#}");

    let (code, body) = call(
        &o,
        "boss",
        "DELETE",
        "/api/v1/pcs/pc1/block",
        None,
        Some(&csrf),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(std::fs::read_to_string(o.og.policy_path()).unwrap(), before);
    eventually("pc1 unblocked", || pc1_reaches_news(&o));
}

/// The role matrix: every route of the OpenAPI document, with every method it has, called
/// by each role with a session. Admins are never refused (403); auditors read everything
/// and change nothing; a manager of `staff` reaches only the routes about their own PC
/// (pc1) and is refused everywhere else — including office-wide figures.
#[test]
fn every_route_is_checked_against_every_role() {
    let o = office_with_api();
    add_user(&o, "boss", "admin", None, "boss password 1");
    add_user(&o, "audit", "auditor", None, "audit password 1");
    add_user(&o, "mgr", "manager", Some("staff"), "mgr password 1");
    let (_, doc) = get(&o, "/api/v1/openapi.json", Some(TOKEN));
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    // /metrics is for Prometheus, outside the OpenAPI document; checked all the same.
    routes.push(("GET".into(), "/metrics".into()));
    assert!(routes.len() >= 26, "{routes:?}");
    // The manager's routes: with pc1 (theirs) in the path or the query.
    let manager_may = |m: &str, p: &str| {
        matches!(
            (m, p),
            ("GET", "/api/v1/me")
                | ("GET", "/api/v1/pcs")
                | ("GET", "/api/v1/top")
                | ("GET", "/api/v1/traffic")
                | ("GET", "/api/v1/sites")
                | ("GET", "/api/v1/requests")
                | ("GET", "/api/v1/explain")
                | ("GET", "/api/v1/policy")
                | ("POST", "/api/v1/groups/{group}/rules")
                | ("DELETE", "/api/v1/groups/{group}/rules/{index}")
                | ("PUT", "/api/v1/limits")
                | ("GET", "/api/v1/pcs/{pc}/hosts")
                | ("POST", "/api/v1/pcs/{pc}/block")
                | ("DELETE", "/api/v1/pcs/{pc}/block")
                | ("POST", "/api/v1/requests/{id}/approve")
                | ("POST", "/api/v1/requests/{id}/refuse")
        )
    };
    for (user, pw, role) in [
        ("boss", "boss password 1", "admin"),
        ("audit", "audit password 1", "auditor"),
        ("mgr", "mgr password 1", "manager"),
    ] {
        let (code, me) = login(&o, user, pw);
        assert_eq!(code, 200);
        let csrf = me["csrf"].as_str().unwrap().to_string();
        // Log-out last: it ends the session the others need.
        let mut mine = routes.clone();
        mine.sort_by_key(|(_, p)| p == "/api/v1/logout");
        for (method, path) in &mine {
            if path == "/api/v1/login" {
                continue;
            }
            let concrete = path
                .replace("{pc}", "pc1")
                .replace("{site}", "news.example")
                .replace("{id}", "999")
                .replace("{group}", "staff")
                .replace("{index}", "99")
                .replace("{name}", "matrix-test");
            let query = match path.as_str() {
                "/api/v1/explain" => "?pc=pc1&domain=social.example",
                _ if method == "GET" => "?pc=pc1",
                _ => "",
            };
            let body = (method != "GET").then_some("{}");
            let (code, reply) = call(
                &o,
                user,
                method,
                &format!("{concrete}{query}"),
                body,
                Some(&csrf),
            );
            let changes = method != "GET" && path != "/api/v1/logout";
            let refused = match role {
                "admin" => false,
                "auditor" => changes,
                _ => !manager_may(method, path) && path != "/api/v1/logout",
            };
            if refused {
                assert_eq!(code, 403, "{role} {method} {path}: {reply}");
            } else {
                assert!(
                    code != 403 && code != 401 && code < 500,
                    "{role} {method} {path}: {code} {reply}"
                );
            }
        }
    }
    // And the manager is refused for a PC outside their department.
    let (_, me) = login(&o, "mgr", "mgr password 1");
    let csrf = me["csrf"].as_str().unwrap();
    for (method, path) in [
        ("GET", "/api/v1/pcs/pc2/hosts"),
        ("GET", "/api/v1/traffic?pc=pc2"),
        ("GET", "/api/v1/explain?pc=pc2&domain=x.example"),
        ("POST", "/api/v1/pcs/pc2/block"),
        ("POST", "/api/v1/groups/guests/rules"),
        ("DELETE", "/api/v1/groups/guests/rules/0"),
    ] {
        let body = match method {
            "GET" => None,
            _ if path.contains("/rules") => {
                Some(r#"{"action": "block", "domains": ["x.example"]}"#)
            }
            _ => Some("{}"),
        };
        let (code, reply) = call(&o, "mgr", method, path, body, Some(csrf));
        assert_eq!(code, 403, "manager {method} {path}: {reply}");
    }
}
