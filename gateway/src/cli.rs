//! The `check` and `explain` commands: the policy engine for people at a terminal.

use std::path::Path;

use anyhow::{Context as _, bail};

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
    if daemon.exists() {
        if let Err(e) = Config::load(&daemon) {
            println!("{e}");
            failed = true;
        }
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
    let (policy, _) = policy::load_dir(dir).map_err(|errors| {
        anyhow::anyhow!(
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let at = parse_time(at, policy.time_zone())?;
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

fn parse_time(at: Option<&str>, tz: &jiff::tz::TimeZone) -> anyhow::Result<jiff::Timestamp> {
    let Some(s) = at else {
        return Ok(jiff::Timestamp::now());
    };
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let civil: jiff::civil::DateTime = s
        .parse()
        .with_context(|| format!("`{s}` is neither RFC 3339 nor `YYYY-MM-DD HH:MM`"))?;
    Ok(civil.to_zoned_datetime(tz.clone())?.timestamp())
}
