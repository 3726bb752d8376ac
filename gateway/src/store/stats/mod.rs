//! Traffic statistics at three resolutions: per-minute rows (written by the collectors),
//! rolled up into hourly rows once a minute is over and into daily rows once a day is
//! over (`roll_up`), each kept for its own retention. Reads cover a period with the
//! coarsest rows that fit it (`segments`), so a month's top list reads ~30 daily rows per
//! PC instead of ~43,000 minute rows.
//!
//! Tables (all bytes are whole frames as the datapath counts them, all WITHOUT ROWID).
//! PC and site-total tables are keyed by their time bucket first, so a period is one range
//! scan of the table itself; per-PC reads of hours and days go through a (pc, bucket)
//! index, of minutes by seeking (minute, pc) minute by minute (`rows_of`). Hour and day
//! host rows are only ever read per PC or per site: they are keyed (pc, bucket, host),
//! and read per site through `site_pc_hour` and `site_pc_day` (`HOST_KEYS`,
//! `SITE_PC_HOURS` in `store/schema.rs`). Minute rows carry no secondary index at all:
//! each insert then touches one b-tree, and reads only ever scan minutes for a period's
//! ragged edges (under an hour each), the hour in progress and the minutes not yet rolled
//! up.
//!
//! - `pc_minute` / `pc_hour` / `pc_day`: bytes per PC.
//! - `site_minute` / `site_hour` / `site_day`: bytes per (PC, host name), with the host's
//!   registrable domain (`site`) and how it was named (`via`: a `Via` code). PCs, hosts
//!   and sites are ids into `names`: rows of integers are a third the size of rows of
//!   text, and so are their indexes (the month of a 500-PC office is ~10M rows).
//! - `site_total_hour` / `site_total_day`: bytes per site over all PCs (the top-sites list
//!   without a GROUP BY over every PC's rows).
//! - `site_pc_hour` / `site_pc_day`: bytes per site, bucket and PC (a site's PCs, and how
//!   many PCs used a site, without reading every host row). Hours are written once each
//!   hour is over.
//! - `unexplained`: flows to addresses a PC never looked up through the gateway, or whose
//!   TLS name no answer of the gateway matches — likely bypass.
//! - `flow_marks`: the per-flow counter totals already counted (restart-safe deltas).
//!
//! Hours are UTC hours (Unix minute / 60); days are calendar days in the policy's time
//! zone (Unix minute plus the zone's offset, / 1440), the offset stored with each batch.
//!
//! Files, by job: `rows.rs` (what the collectors hand in), `ingest.rs` (a batch's minute
//! rows, in the writer's transaction), `memo.rs` (what the writer remembers between
//! transactions), `rollup.rs` (minutes into hours and days), `retention.rs`, `periods.rs`
//! (a period as segments of each resolution, and segments as SQL), `read.rs` (every read),
//! `sql.rs` (upserts and the `meta` table). The tables themselves are created in
//! `store/schema.rs`.
//!
//! Must not: commit or open connections (the writer and `store::open_read` do), or know
//! who produced a row.

use std::collections::HashMap;

mod ingest;
mod memo;
mod periods;
mod read;
mod retention;
mod rollup;
mod rows;
mod sql;
#[cfg(test)]
mod tests;

pub(super) use ingest::Ingest;
pub(super) use memo::Memo;
pub use periods::{Res, Segment, segments};
pub use read::{
    HostRow, SiteTotal, Unexplained, counter_marks, flow_marks, hosts_of_pc, pcs_of_site, top_pcs,
    top_sites, traffic_series, unexplained, usage_in,
};
pub use retention::Retention;
pub(super) use retention::prune;
pub use rows::{SiteRow, SitesBatch, UnexplainedRow, UsageDelta, Via};

/// Fast hashing for the writer's own maps (keys are ids and names the writer made, not
/// input an attacker picks per entry; SipHash was ~5% of the writer's time).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
