//! The gateway's DNS as a PC asks it: `dig` from a PC's namespace; the query log.

use officegate_lab::{Role, addr, officegate::Officegate};

/// `dig +short` from a PC to the gateway; the answer lines.
pub fn dig(lab: &officegate_lab::Lab, pc: usize, args: &[&str]) -> String {
    let gw = format!("@{}", addr::GW_LAN_V4);
    let mut all = vec!["dig", "+time=2", "+tries=1", gw.as_str()];
    all.extend_from_slice(args);
    lab.sh(Role::Pc(pc), &all)
        .unwrap_or_else(|e| panic!("pc{pc} dig {args:?}: {e:#}"))
}

/// `dig +short name qtype` from PC `pc`: the answers, trimmed.
pub fn short(lab: &officegate_lab::Lab, pc: usize, name: &str, qtype: &str) -> String {
    dig(lab, pc, &["+short", name, qtype]).trim().to_string()
}

/// `officegate queries --json` for the daemon `og`, filtered by `args`.
pub fn logged(og: &Officegate, args: &[&str]) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_officegate"))
        .args(["queries", "--json", "--config"])
        .arg(og.config_path())
        .args(args)
        .output()
        .expect("officegate queries");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}
