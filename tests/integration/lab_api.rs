//! The admin API in the office lab: a PC's traffic, the query log, events and `/metrics`,
//! read over HTTP from the LAN with the bearer token (and refused without it).

use std::time::{Duration, Instant};

use officegate_lab::{Role, addr};
use serde_json::Value;

use crate::lab_datapath::{Office, office_with};

pub const TOKEN: &str = "lab-token-0123456789";

pub fn office_with_api() -> Office {
    office_with(|_, config| {
        format!(
            "{config}\n[api]\nlisten = [\"{}:8080\"]\ntoken = \"{TOKEN}\"\n",
            addr::GW_LAN_V4
        )
    })
}

/// `curl` from pc2 to the API; (HTTP status, body).
pub fn get(o: &Office, path: &str, token: Option<&str>) -> (u16, String) {
    let url = format!("http://{}:8080{path}", addr::GW_LAN_V4);
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec!["curl", "-s", "-m", "5", "-w", "\n%{http_code}"];
    if let Some(a) = &auth {
        args.extend(["-H", a.as_str()]);
    }
    args.push(&url);
    let out = o.lab.sh(Role::Pc(2), &args).expect("curl");
    let (body, code) = out.rsplit_once('\n').expect("status line");
    (code.trim().parse().unwrap_or(0), body.to_string())
}

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
    crate::lab_dns::short(&o.lab, 1, "news.example", "A");
    crate::lab_dns::short(&o.lab, 1, "social.example", "A");

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
