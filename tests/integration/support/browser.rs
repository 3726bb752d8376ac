//! Headless Chromium in the lab: one step of `web/tests/browser.mjs` run with `node` in a
//! PC's namespace, so the browser's packets go through the lab like any PC's. Screenshots
//! go to `artifacts/browser/`.

use std::path::{Path, PathBuf};

use officegate_lab::{Lab, Role, addr};
use serde_json::Value;

/// Where the browser tests leave their screenshots.
pub fn shots_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts/browser");
    std::fs::create_dir_all(&d).expect("artifacts dir");
    d
}

/// Runs one step of `web/tests/browser.mjs` in a PC's namespace; its JSON answer.
pub fn browser(lab: &Lab, pc: usize, step: &str, params: Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/tests/browser.mjs");
    let mut params = params;
    params["shots"] = Value::String(shots_dir().display().to_string());
    params["ui"] = Value::String(format!("http://{}:8080", addr::GW_LAN_V4));
    let arg = params.to_string();
    let out = lab
        .exec(
            Role::Pc(pc),
            &["node", &script.display().to_string(), step, &arg],
        )
        .expect("spawn node");
    assert!(
        out.status.success(),
        "browser step {step}: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).expect("step answer")
}
