//! The `check` and `explain` commands: the policy engine for people at a terminal.

use std::path::Path;

use anyhow::bail;

use crate::{
    config::Config,
    policy::{self, Action, Matched, Verdict},
};

pub fn check(path: &Path) -> anyhow::Result<()> {
    if path.is_file() {
        Config::load(path)?;
        println!("{}: ok", path.display());
        return Ok(());
    }
    let mut failed = false;
    let daemon = path.join("officegate.toml");
    if daemon.exists()
        && let Err(e) = Config::load(&daemon)
    {
        println!("{e}");
        failed = true;
    }
    match policy::load_dir(path) {
        Ok((_, report)) => {
            for (file, stats) in &report.files {
                println!(
                    "{}: {} rules from {} lines, {} lines rejected",
                    file.display(),
                    stats.rules,
                    stats.accepted,
                    stats.rejected
                );
                for (line, msg) in &stats.errors {
                    println!("{}:{line}: {msg} (line skipped)", file.display());
                }
            }
        }
        Err(errors) => {
            for e in errors {
                println!("{e}");
            }
            failed = true;
        }
    }
    if failed {
        bail!("{} has errors", path.display());
    }
    println!("{}: ok", path.display());
    Ok(())
}

pub fn explain(dir: &Path, who: &str, domain: &str, at: Option<&str>) -> anyhow::Result<()> {
    let (policy, _) =
        policy::load_dir(dir).map_err(|errors| anyhow::anyhow!(policy::render(&errors)))?;
    let at = match at {
        Some(s) => policy::parse_time(s, policy.time_zone()).map_err(anyhow::Error::msg)?,
        None => jiff::Timestamp::now(),
    };
    let pc = policy.find_pc(who);
    if pc.is_none() && who.parse::<std::net::IpAddr>().is_err() {
        bail!("no PC named `{who}` in {}", dir.display());
    }
    let d = policy.explain(pc, domain, at);
    let when = at.to_zoned_datetime(policy.time_zone().clone());
    let verdict = match d.verdict {
        Verdict::Allowed => "ALLOWED".to_string(),
        Verdict::Blocked(mode) => {
            format!("BLOCKED (answer: {})", format!("{mode:?}").to_lowercase())
        }
    };
    println!(
        "{} (group {}) → {domain} at {when}: {verdict}",
        d.pc.as_deref().unwrap_or(who),
        d.group
    );
    if let Some(b) = pc
        .and_then(|p| policy.pc_index(p))
        .and_then(|i| policy.manual_block(i, at))
    {
        let reason = if b.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", b.reason)
        };
        println!("  the PC is blocked by hand{reason} (all traffic but to the gateway is dropped)");
    }
    match d.rule {
        None => println!("  no rule matches"),
        Some(r) => {
            let action = match r.action {
                Action::Allow => "allow",
                Action::Block => "block",
            };
            let when = r
                .schedule
                .map(|s| format!(" during `{s}`"))
                .unwrap_or_default();
            let what = match r.matched {
                Matched::Domain(n) => format!("domain `{n}`"),
                Matched::List {
                    category,
                    name,
                    description,
                    file,
                    line,
                } => format!(
                    "{} `{name}`{}, {}{}",
                    if category { "category" } else { "list" },
                    if description.is_empty() {
                        String::new()
                    } else {
                        format!(" ({description})")
                    },
                    file.display(),
                    line.map(|l| format!(":{l}")).unwrap_or_default()
                ),
                Matched::Exception {
                    domain,
                    until,
                    granted_by,
                } => format!("exception for `{domain}` until {until}, granted by {granted_by:?}"),
            };
            println!(
                "  rule: {action}{when} in group `{}` ({}:{}) by {what}",
                r.group,
                dir.join(policy::POLICY_FILE).display(),
                r.line
            );
        }
    }
    Ok(())
}

/// `officegate wan status`: the status file the daemon keeps, and the newest events.
pub fn wan_status(config: &Path, json: bool, events: usize) -> anyhow::Result<()> {
    let cfg = crate::config::Config::load(config)?;
    let dir = &cfg.storage.dir;
    let status = crate::wan::status::read(dir).map_err(anyhow::Error::msg)?;
    let evs = crate::store::open_read(dir)
        .ok()
        .and_then(|c| crate::store::recent_events(&c, Some("wan"), events).ok())
        .unwrap_or_default();
    if json {
        println!("{}", serde_json::json!({ "status": status, "events": evs }));
        return Ok(());
    }
    print!(
        "{}",
        crate::wan::status::render(&status, crate::store::now_ms())
    );
    if !evs.is_empty() {
        println!("\nrecent events:");
        for e in evs {
            let at = jiff::Timestamp::from_millisecond(e.at_ms)
                .map(|t| t.to_string())
                .unwrap_or_default();
            println!("  {at}  {:<17} {}", e.kind, e.message);
        }
    }
    Ok(())
}

/// `officegate queries`: the DNS query log.
pub fn queries(
    config: &Path,
    filter: &crate::store::QueryFilter,
    limit: usize,
    offset: usize,
    json: bool,
) -> anyhow::Result<()> {
    let cfg = crate::config::Config::load(config)?;
    let conn = crate::store::open_read(&cfg.storage.dir)?;
    let rows = crate::store::queries(&conn, filter, limit, offset)?;
    for q in rows {
        if json {
            println!("{}", serde_json::to_string(&q)?);
            continue;
        }
        let at = jiff::Timestamp::from_millisecond(q.at_ms)
            .map(|t| t.to_string())
            .unwrap_or_default();
        println!(
            "{at}  {:<15} {:<10} {:<5} {:<14} {:<40} {:>5} {:>7.1} ms  {}{}{}",
            q.client,
            q.pc.as_deref().unwrap_or("-"),
            q.qtype,
            q.verdict,
            q.name,
            format!("×{}", q.count),
            q.latency_us as f64 / 1000.0,
            q.answers.join(" "),
            q.rule.map(|r| format!("  [{r}]")).unwrap_or_default(),
            if q.intercepted { "  (intercepted)" } else { "" }
        );
    }
    Ok(())
}

/// The password for `user add` / `user passwd`: the first line of stdin, or a generated
/// one (printed once: it is stored only as a hash).
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok((line.trim_end_matches(['\r', '\n']).to_string(), false))
    } else {
        Ok((crate::auth::random_token()[..20].to_string(), true))
    }
}

fn cli_action(
    conn: &rusqlite::Connection,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) {
    let a = crate::auth::Action {
        at_ms: crate::store::now_ms(),
        actor: "cli".into(),
        action: action.into(),
        subject: subject.into(),
        details,
    };
    if let Err(e) = crate::auth::record(conn, &a) {
        eprintln!("officegate: the action history could not be written: {e}");
    }
}

pub fn user_add(
    dir: &Path,
    name: &str,
    role: &str,
    scope: Option<&str>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let conn = crate::auth::open(dir)?;
    let role = crate::auth::Role::parse(role)?;
    let (pw, generated) = password(password_stdin)?;
    let u = crate::auth::add_user(&conn, name, &pw, role, scope, crate::store::now_ms())?;
    cli_action(
        &conn,
        "user_add",
        name,
        serde_json::json!({"role": u.role, "scope": u.scope}),
    );
    println!("user {} added ({})", u.name, u.role.as_str());
    if generated {
        println!("password: {pw}");
    }
    Ok(())
}

pub fn user_list(dir: &Path) -> anyhow::Result<()> {
    let conn = crate::auth::open(dir)?;
    for u in crate::auth::users(&conn)? {
        println!(
            "{:<24} {:<8} {}",
            u.name,
            u.role.as_str(),
            u.scope.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

pub fn user_del(dir: &Path, name: &str) -> anyhow::Result<()> {
    let conn = crate::auth::open(dir)?;
    crate::auth::remove_user(&conn, name)?;
    cli_action(&conn, "user_del", name, serde_json::Value::Null);
    println!("user {name} removed");
    Ok(())
}

pub fn user_passwd(dir: &Path, name: &str, password_stdin: bool) -> anyhow::Result<()> {
    let conn = crate::auth::open(dir)?;
    let (pw, generated) = password(password_stdin)?;
    crate::auth::set_password(&conn, name, &pw)?;
    cli_action(&conn, "user_passwd", name, serde_json::Value::Null);
    println!("password of {name} set");
    if generated {
        println!("password: {pw}");
    }
    Ok(())
}
