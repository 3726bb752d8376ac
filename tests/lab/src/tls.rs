//! The lab's PKI: a throwaway CA and one server certificate whose SANs cover every lab site
//! (and its subdomains), the bypass resolver's name and every service address. Made with the
//! `openssl` CLI so the lab needs no crypto crate; EC P-256 keys keep it to a few ms.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::{addr, netns};

pub fn ca_cert(dir: &Path) -> PathBuf {
    dir.join("tls/ca.pem")
}
pub fn server_cert(dir: &Path) -> PathBuf {
    dir.join("tls/server.pem")
}
pub fn server_key(dir: &Path) -> PathBuf {
    dir.join("tls/server.key")
}

pub fn generate(dir: &Path) -> Result<()> {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls)?;
    let p = |name: &str| tls.join(name).to_string_lossy().into_owned();
    let key_opts = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];

    netns::run(
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(key_opts)
            .args(["-keyout", &p("ca.key"), "-out", &p("ca.pem"), "-days", "30"])
            .args(["-subj", "/CN=Officegate Lab CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    )?;
    netns::run(
        Command::new("openssl")
            .arg("req")
            .args(key_opts)
            .args(["-keyout", &p("server.key"), "-out", &p("server.csr")])
            .args(["-subj", "/CN=officegate-lab"]),
    )?;
    std::fs::write(tls.join("server.ext"), extensions())?;
    netns::run(
        Command::new("openssl")
            .args(["x509", "-req", "-in", &p("server.csr"), "-CA", &p("ca.pem")])
            .args(["-CAkey", &p("ca.key"), "-CAcreateserial", "-days", "30"])
            .args(["-out", &p("server.pem"), "-extfile", &p("server.ext")]),
    )?;
    Ok(())
}

fn extensions() -> String {
    let mut sans: Vec<String> = Vec::new();
    for s in addr::SITES {
        sans.push(format!("DNS:{}", s.name));
        sans.push(format!("DNS:*.{}", s.name));
    }
    sans.push(format!("DNS:{}", addr::DOH_NAME));
    let (v4, v6) = addr::service_addrs();
    sans.extend(v4.iter().map(|ip| format!("IP:{ip}")));
    sans.extend(v6.iter().map(|ip| format!("IP:{ip}")));
    format!(
        "basicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName={}\n",
        sans.join(",")
    )
}
