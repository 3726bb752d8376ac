//! nginx config and web files. One process (`master_process off`: a single pid to kill, no
//! orphaned workers), every path inside the lab dir, each site on its own address(es) with
//! HTTP and HTTPS (SNI picks the site on the shared address), plus a catch-all.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::{addr, tls};

pub fn write_config(dir: &Path) -> Result<PathBuf> {
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    // Sparse files: exact sizes, no 11 MB written per lab.
    for (path, size) in [(addr::FILE_1M, 1_000_000u64), (addr::FILE_10M, 10_000_000)] {
        let f = std::fs::File::create(www.join(path.trim_start_matches('/')))?;
        f.set_len(size)?;
    }
    for sub in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join("nginx-tmp").join(sub))?;
    }
    let path = dir.join("nginx.conf");
    std::fs::write(&path, config(dir)).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    let tmp = |sub: &str| format!("{d}/nginx-tmp/{sub}");
    let mut c = format!(
        "daemon off;
master_process off;
pid {d}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
  access_log {d}/nginx-access.log;
  client_body_temp_path {};
  proxy_temp_path {};
  fastcgi_temp_path {};
  uwsgi_temp_path {};
  scgi_temp_path {};
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30;
  ssl_certificate {};
  ssl_certificate_key {};
  ssl_protocols TLSv1.2 TLSv1.3;
",
        tmp("body"),
        tmp("proxy"),
        tmp("fastcgi"),
        tmp("uwsgi"),
        tmp("scgi"),
        tls::server_cert(dir).display(),
        tls::server_key(dir).display(),
    );
    for s in addr::SITES {
        server(
            &mut c,
            dir,
            s.v4,
            s.v6,
            &format!("{0} *.{0}", s.name),
            "",
            s.name,
        );
    }
    server(
        &mut c,
        dir,
        addr::CATCH_ALL_V4,
        addr::CATCH_ALL_V6,
        "_",
        " default_server",
        "catch-all ($host)",
    );
    c.push_str("}\n");
    c
}

fn server(
    c: &mut String,
    dir: &Path,
    v4: std::net::Ipv4Addr,
    v6: std::net::Ipv6Addr,
    names: &str,
    default: &str,
    title: &str,
) {
    let _ = write!(
        c,
        "  server {{
    listen {v4}:80{default};
    listen [{v6}]:80{default};
    listen {v4}:443 ssl http2{default};
    listen [{v6}]:443 ssl http2{default};
    server_name {names};
    root {www};
    location = / {{
      default_type text/html;
      return 200 \"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1><p>Officegate lab site.</p></body></html>\\n\";
    }}
    location = {health} {{
      default_type text/plain;
      return 200 \"ok\";
    }}
    location = {whoami} {{
      default_type text/plain;
      return 200 \"$remote_addr\";
    }}
  }}
",
        www = dir.join("www").display(),
        health = addr::HEALTH_PATH,
        whoami = addr::WHOAMI_PATH,
    );
}
