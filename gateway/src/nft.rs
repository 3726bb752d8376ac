//! nftables tables of the daemon's own, through the `nft` tool: each table is written
//! whole in one atomic batch (created, emptied and filled in one transaction), so a
//! restart with other settings leaves nothing stale and a failed batch changes nothing.
//!
//! Why the tool and not netlink: the rules are written once at start, and the nftables
//! crates wrap the same tool (its JSON form) anyway.
//!
//! Owns: running `nft`. Must not: know what the tables are for (`wan::route`, `bypass`).

use tokio::io::AsyncWriteExt;

/// Replaces the table `inet <name>` with `body` (the table's chains, as nft syntax).
pub async fn replace_table(name: &str, body: &str) -> std::io::Result<()> {
    // `table …` first so `delete` never fails on a first start.
    run(&format!(
        "table inet {name}\ndelete table inet {name}\ntable inet {name} {{\n{body}}}\n"
    ))
    .await
}

/// Removes the table `inet <name>` if it exists.
pub async fn remove_table(name: &str) -> std::io::Result<()> {
    run(&format!("table inet {name}\ndelete table inet {name}\n")).await
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
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
