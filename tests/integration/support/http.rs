//! The admin API as a PC on the LAN sees it: `curl` from pc2 to the gateway's port 8080,
//! with the bearer token or with a user's cookie session (a cookie jar per user).

use officegate_lab::{Lab, Role, addr};
use serde_json::Value;

use super::office::{Office, office_with};

/// The bearer token of every lab configuration with the API on.
pub const TOKEN: &str = "lab-token-0123456789";

/// The standard office with the API on the gateway's LAN address, port 8080.
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

/// `officegate user add` with the password on stdin.
pub fn add_user(o: &Office, name: &str, role: &str, scope: Option<&str>, password: &str) {
    add_user_to(&o.og, name, role, scope, password)
}

/// `add_user` for a daemon started without the `Office` wrapper.
pub fn add_user_to(
    og: &officegate_lab::officegate::Officegate,
    name: &str,
    role: &str,
    scope: Option<&str>,
    password: &str,
) {
    use std::io::Write;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_officegate"));
    cmd.args([
        "user",
        "add",
        name,
        "--role",
        role,
        "--password-stdin",
        "--config",
    ])
    .arg(og.config_path());
    if let Some(s) = scope {
        cmd.args(["--scope", s]);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("officegate user add");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `curl` from pc2 with a cookie jar per user: (status, body).
pub fn call(
    o: &Office,
    jar: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    csrf: Option<&str>,
) -> (u16, String) {
    let url = format!("http://{}:8080{path}", addr::GW_LAN_V4);
    let jar = o.lab.dir().join(format!("{jar}.cookies"));
    let jar = jar.display().to_string();
    let mut args = vec![
        "curl",
        "-s",
        "-m",
        "10",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
        "-b",
        &jar,
        "-c",
        &jar,
    ];
    let csrf_header = csrf.map(|c| format!("X-CSRF-Token: {c}"));
    if let Some(h) = &csrf_header {
        args.extend(["-H", h.as_str()]);
    }
    if let Some(b) = body {
        args.extend(["-H", "Content-Type: application/json", "--data", b]);
    }
    args.push(&url);
    let out = o.lab.sh(Role::Pc(2), &args).expect("curl");
    let (body, code) = out.rsplit_once('\n').expect("status line");
    (code.trim().parse().unwrap_or(0), body.to_string())
}

pub fn login(o: &Office, name: &str, password: &str) -> (u16, Value) {
    let body = serde_json::json!({"name": name, "password": password}).to_string();
    let (code, reply) = call(o, name, "POST", "/api/v1/login", Some(&body), None);
    (code, serde_json::from_str(&reply).unwrap_or(Value::Null))
}

/// `curl` from PC `pc` with a short connect timeout: whether the site's HTTP answer came
/// back (a blocked connection is reset at once, a dead one times out, a held PC's HTTP
/// gets the gateway's block page: all `false`).
pub fn reaches(lab: &Lab, pc: usize, url: &str) -> bool {
    let out = lab
        .exec(
            Role::Pc(pc),
            &[
                "curl",
                "-sk",
                "-o",
                "/dev/null",
                "-w",
                "%header{x-officegate}",
                "--connect-timeout",
                "2",
                "-m",
                "4",
                url,
            ],
        )
        .expect("run curl");
    out.status.success() && String::from_utf8_lossy(&out.stdout).trim() != "block-page"
}
