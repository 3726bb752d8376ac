//! Officegate's benchmarks, each against a named peer in the same run, each ending with one
//! `RESULT <name> {json}` line (../shared/BENCHMARKS.md). Run through `cargo xtask bench`.

mod datapath;
mod dns;
mod failover;
mod soak;
mod stats;
mod throughput;

/// The daemon's allocator (see `officegate`'s `main.rs`): `bench stats` runs its store here.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("datapath") => datapath::run(&args[1..]),
        Some("throughput") => throughput::run(&args[1..]),
        Some("failover") => failover::run(&args[1..]),
        Some("dns") => dns::run(&args[1..]),
        Some("stats") => stats::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        other => {
            anyhow::bail!(
                "unknown benchmark {other:?}; known: datapath, throughput, failover, dns, stats, soak"
            )
        }
    }
}

/// The value after `--name` among a benchmark's arguments, parsed; `default` without it.
pub fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match args.windows(2).find(|w| w[0] == name) {
        Some(w) => w[1]
            .parse()
            .map_err(|e| anyhow::anyhow!("{name} {}: {e}", w[1])),
        None => Ok(default),
    }
}

/// Median of a non-empty sample.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
