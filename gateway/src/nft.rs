//! nftables tables of the daemon's own, through the `nft` tool: each table is written
//! whole in one atomic batch (created, emptied and filled in one transaction), so a
//! restart with other settings leaves nothing stale and a failed batch changes nothing.
//!
//! Why the tool and not netlink: the rules are written once at start, and the nftables
//! crates wrap the same tool (its JSON form) anyway.
//!
//! Owns: running `nft`. Must not: know what the tables are for (`wan::route`, `bypass`,
//! `held`).

use tokio::io::AsyncWriteExt;

/// Replaces the table `inet <name>` with `body` (the table's chains, as nft syntax).
pub async fn replace_table(name: &str, body: &str) -> std::io::Result<()> {
    run(&replace_script(name, body)).await
}

/// Removes the table `inet <name>` if it exists.
pub async fn remove_table(name: &str) -> std::io::Result<()> {
    run(&remove_script(name)).await
}

/// `replace_table` for callers off the runtime (the tick), waiting for nft.
pub fn replace_table_blocking(name: &str, body: &str) -> std::io::Result<()> {
    run_blocking(&replace_script(name, body))
}

/// `remove_table`, waiting for nft.
pub fn remove_table_blocking(name: &str) -> std::io::Result<()> {
    run_blocking(&remove_script(name))
}

/// Runs an nft script as it is, waiting for nft (a change within a table of ours).
pub fn run_script_blocking(script: &str) -> std::io::Result<()> {
    run_blocking(script)
}

fn replace_script(name: &str, body: &str) -> String {
    // `table …` first so `delete` never fails on a first start.
    format!("table inet {name}\ndelete table inet {name}\ntable inet {name} {{\n{body}}}\n")
}

fn remove_script(name: &str) -> String {
    format!("table inet {name}\ndelete table inet {name}\n")
}

async fn run(script: &str) -> std::io::Result<()> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).await?;
    }
    checked(child.wait_with_output().await?)
}

fn run_blocking(script: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    checked(child.wait_with_output()?)
}

fn checked(out: std::process::Output) -> std::io::Result<()> {
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
