//! A hostile PC on the LAN: what it can send the gateway's services must not fill the
//! disk, lock the IT admin out or starve the other PCs.

use officegate_lab::Role;

use crate::support::http::{TOKEN, add_user, get, login, office_with_api};

/// `curl` from PC `pc`: the HTTP status (0 when none came).
fn status(lab: &officegate_lab::Lab, pc: usize, args: &[&str]) -> u16 {
    let mut all = vec![
        "curl",
        "-s",
        "-m",
        "10",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ];
    all.extend_from_slice(args);
    lab.sh(Role::Pc(pc), &all)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn the_block_page_form_cannot_fill_the_disk() {
    let o = office_with_api();
    // 1.5 MB of reason, twenty times, from pc1 (staff: social.example is blocked).
    let reason = o.lab.dir().join("reason.txt");
    std::fs::write(&reason, "x".repeat(1_500_000)).unwrap();
    let reason_arg = format!("reason@{}", reason.display());
    for _ in 0..20 {
        let code = status(
            &o.lab,
            1,
            &[
                "--data-urlencode",
                "site=social.example",
                "--data-urlencode",
                &reason_arg,
                "http://social.example/.officegate/request",
            ],
        );
        assert!(code == 200 || code == 413, "answered, not failed: {code}");
    }
    // A request with a normal reason still goes through.
    let code = status(
        &o.lab,
        1,
        &[
            "--data-urlencode",
            "site=social.example",
            "--data-urlencode",
            "reason=customer chat",
            "http://social.example/.officegate/request",
        ],
    );
    assert_eq!(code, 200);
    let (code, history) = get(&o, "/api/v1/actions?limit=1000", Some(TOKEN));
    assert_eq!(code, 200, "{history}");
    assert!(
        history.len() < 16 * 1024,
        "the action history grew by {} bytes",
        history.len()
    );
    let filed = history.matches("\"request_file\"").count();
    assert_eq!(filed, 1, "one request, filed once: {history}");
    let (_, list) = get(&o, "/api/v1/requests?state=pending", Some(TOKEN));
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["reason"], "customer chat");
}

/// `POST /api/v1/login` from PC `pc`: the HTTP status.
fn login_from(lab: &officegate_lab::Lab, pc: usize, name: &str, password: &str) -> u16 {
    let url = format!(
        "http://{}:8080/api/v1/login",
        officegate_lab::addr::GW_LAN_V4
    );
    let body = serde_json::json!({"name": name, "password": password}).to_string();
    status(
        lab,
        pc,
        &[
            "-H",
            "Content-Type: application/json",
            "--data",
            &body,
            &url,
        ],
    )
}

#[test]
fn a_pc_guessing_passwords_cannot_lock_the_admin_out_or_keep_the_gateway_hashing() {
    let o = office_with_api();
    add_user(&o, "boss", "admin", None, "correct horse battery");
    // pc1 guesses: refused, then locked out — for itself.
    let guesses: Vec<u16> = (0..8)
        .map(|_| login_from(&o.lab, 1, "boss", "wrong"))
        .collect();
    assert_eq!(guesses[..4], [401; 4], "{guesses:?}");
    assert!(guesses[4..].iter().all(|c| *c == 429), "{guesses:?}");
    assert_eq!(login_from(&o.lab, 1, "boss", "correct horse battery"), 429);
    // The admin at pc2 logs in all the same.
    assert_eq!(login(&o, "boss", "correct horse battery").0, 200);
    // pc1 floods with made-up names, 60 at once: beyond its burst it is refused
    // before any password is hashed, and the admin still gets in.
    let script = format!(
        "for i in $(seq 60); do curl -s -m 20 -o /dev/null -w '%{{http_code}}\\n' -H 'Content-Type: application/json' --data '{{\"name\":\"u'$i'\",\"password\":\"x\"}}' http://{}:8080/api/v1/login & done; wait",
        officegate_lab::addr::GW_LAN_V4
    );
    let codes = o.lab.sh(Role::Pc(1), &["sh", "-c", &script]).unwrap();
    let refused = codes.lines().filter(|c| c.trim() == "429").count();
    assert!(refused >= 40, "{codes}");
    assert!(
        !codes
            .lines()
            .any(|c| c.trim().starts_with('5') || c.trim() == "000"),
        "{codes}"
    );
    assert_eq!(login(&o, "boss", "correct horse battery").0, 200);
}
