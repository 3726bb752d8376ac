//! Periods: a period of minutes covered by the coarsest rows that fit it (`segments`:
//! rolled whole days, whole hours, minute edges), and segments turned into SQL over the
//! matching tables (`union`, `site_pc_union`). Pure arithmetic and strings, apart from
//! reading the writer's bookmarks (`bounds`).

use rusqlite::Connection;

use super::sql::meta;

/// One resolution's rows, and their bucket column with its width in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Res {
    Minute,
    Hour,
    Day,
}

/// A piece of a period read from one resolution: buckets [lo, hi).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub res: Res,
    pub lo: i64,
    pub hi: i64,
}

impl Segment {
    /// The bucket column of this segment's tables.
    pub fn column(self) -> &'static str {
        match self.res {
            Res::Minute => "minute",
            Res::Hour => "hour",
            Res::Day => "day",
        }
    }

    /// SQL for the start minute of a row's bucket (for series).
    pub(super) fn start_minute(self, off: i64) -> String {
        match self.res {
            Res::Minute => "minute".into(),
            Res::Hour => "hour * 60".into(),
            Res::Day => format!("day * 1440 - {off}"),
        }
    }
}

/// Covers [since, until) (Unix minutes) with the coarsest rows that fit: whole local
/// days from the day rows, whole hours from the hour rows, the edges and everything not
/// yet rolled up (`rolled` onwards) from the minute rows.
///
/// Minutes are rolled up into hours one by one as they end, so the hour that holds
/// `rolled` contains exactly its minutes before it. A period that runs into the minutes
/// not yet rolled up ("today", "this month", "the last hour" up to now) therefore reads
/// that hour whole, and only the unrolled tail (a minute or so) from minute rows. Days
/// are rolled when they end (`days_rolled`, a local midnight): the day in progress is
/// read from its hours.
pub fn segments(since: i64, until: i64, rolled: i64, days_rolled: i64, off: i64) -> Vec<Segment> {
    let mut out = Vec::new();
    if since >= until {
        return out;
    }
    let cut = until.min(rolled).max(since);
    let open = until >= rolled;
    // Whole days only, and only days already rolled (before `days_rolled`).
    let day_lo = ceil_div(since + off, 1440);
    let day_hi = (cut.min(days_rolled) + off).div_euclid(1440);
    if day_lo < day_hi {
        hours(&mut out, since, day_lo * 1440 - off, false);
        out.push(Segment {
            res: Res::Day,
            lo: day_lo,
            hi: day_hi,
        });
        hours(&mut out, day_hi * 1440 - off, cut, open);
    } else {
        hours(&mut out, since, cut, open);
    }
    push(&mut out, Res::Minute, cut, until);
    out
}

/// [lo, hi) as whole hours and minute edges; `open_end`: the hour holding `hi` is read
/// whole (it ends at `hi`, see `segments`).
fn hours(out: &mut Vec<Segment>, lo: i64, hi: i64, open_end: bool) {
    if lo >= hi {
        return;
    }
    let h_lo = ceil_div(lo, 60);
    let h_hi = if open_end {
        ceil_div(hi, 60)
    } else {
        hi.div_euclid(60)
    };
    if h_lo < h_hi {
        push(out, Res::Minute, lo, h_lo * 60);
        out.push(Segment {
            res: Res::Hour,
            lo: h_lo,
            hi: h_hi,
        });
        if !open_end {
            push(out, Res::Minute, h_hi * 60, hi);
        }
    } else {
        push(out, Res::Minute, lo, hi);
    }
}

fn push(out: &mut Vec<Segment>, res: Res, lo: i64, hi: i64) {
    if lo < hi {
        out.push(Segment { res, lo, hi });
    }
}

fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

/// The rolled-up boundaries (hours, days) and the day offset, as the writer last stored
/// them.
pub fn bounds(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    let rolled = meta(conn, "rolled_minute")?.unwrap_or(i64::MIN);
    Ok((
        rolled,
        meta(conn, "days_rolled_minute")?.unwrap_or(rolled),
        meta(conn, "day_offset_min")?.unwrap_or(0),
    ))
}

/// The first hour not yet in `site_pc_hour` (see `SITE_PC_HOURS`); before the writer
/// stored it, the hour holding `rolled`.
pub(super) fn site_pc_hours_to(conn: &Connection, rolled: i64) -> rusqlite::Result<i64> {
    Ok(meta(conn, "site_pc_hours_to")?.unwrap_or(rolled.div_euclid(60)))
}

pub(super) fn union(
    segs: &[Segment],
    table: &str,
    select: impl Fn(Segment) -> String,
    filter: &str,
) -> String {
    union_seek(segs, table, select, filter, |_| false)
}

/// `union`, with the segments `seek` picks read bucket by bucket (`rows_of`).
pub(super) fn union_seek(
    segs: &[Segment],
    table: &str,
    select: impl Fn(Segment) -> String,
    filter: &str,
    seek: impl Fn(Segment) -> bool,
) -> String {
    segs.iter()
        .map(|s| {
            let t = format!("{table}_{}", s.column());
            rows_of(&select(*s), &t, s.column(), (s.lo, s.hi), seek(*s), filter)
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// `SELECT {select} FROM {table}` for buckets [lo, hi) of `col`, and `filter`.
///
/// `seek`: the buckets one by one (`col IN (lo, lo + 1, …)`) rather than as a range, for a
/// table keyed by its bucket first whose `filter` pins the next key column (one PC's
/// minutes, a few sites' hours): a seek per bucket instead of a scan of every row of the
/// period, and no second index for every insert to pay for (`SITE_PC_HOURS`).
fn rows_of(
    select: &str,
    table: &str,
    col: &str,
    (lo, hi): (i64, i64),
    seek: bool,
    filter: &str,
) -> String {
    let range = if seek {
        format!(
            "{col} IN (WITH RECURSIVE b(v) AS (SELECT {lo} UNION ALL \
             SELECT v + 1 FROM b WHERE v + 1 < {hi}) SELECT v FROM b)"
        )
    } else {
        format!("{col} >= {lo} AND {col} < {hi}")
    };
    format!("SELECT {select} FROM {table} WHERE {range} {filter}")
}

/// One site's (or a few sites') rows per PC over `segs`: (site, pc, up_bytes,
/// down_bytes) are in every table read. Days from `site_pc_day` and hours from
/// `site_pc_hour`, both already summed over the site's hosts (`site_day` and `site_hour`
/// have no site index; see `HOST_KEYS` and `SITE_PC_HOURS`); the hours not yet in
/// `site_pc_hour` (the one in progress) and the edges from minute rows.
pub(super) fn site_pc_union(
    segs: &[Segment],
    (rolled, hours_to): (i64, i64),
    select: &str,
    filter: &str,
) -> String {
    let mut parts = Vec::new();
    for s in segs {
        let mut add = |table: &str, col: &str, lo: i64, hi: i64, seek: bool| {
            if lo < hi {
                parts.push(rows_of(select, table, col, (lo, hi), seek, filter));
            }
        };
        match s.res {
            Res::Day => add("site_pc_day", "day", s.lo, s.hi, false),
            Res::Minute => add("site_minute", "minute", s.lo, s.hi, false),
            Res::Hour => {
                // Hour rows hold nothing from `rolled` on (`segments`).
                let mid = s.hi.min(hours_to).max(s.lo);
                add("site_pc_hour", "hour", s.lo, mid, true);
                add(
                    "site_minute",
                    "minute",
                    mid * 60,
                    (s.hi * 60).min(rolled),
                    false,
                );
            }
        }
    }
    if parts.is_empty() {
        return format!("SELECT {select} FROM site_pc_day WHERE 0");
    }
    parts.join(" UNION ALL ")
}

/// A segment whose rows are coarser than the series' buckets, split into finer ones. An
/// hour or day row holds nothing from `rolled` on, and neither do its pieces.
pub(super) fn refine(s: Segment, bucket: i64, off: i64, rolled: i64) -> Vec<Segment> {
    let (lo_min, hi_min) = match s.res {
        Res::Minute => return vec![s],
        Res::Hour if bucket % 60 == 0 => return vec![s],
        Res::Day if bucket % 1440 == 0 => return vec![s],
        Res::Hour => (s.lo * 60, (s.hi * 60).min(rolled)),
        Res::Day => (s.lo * 1440 - off, (s.hi * 1440 - off).min(rolled)),
    };
    if bucket % 60 == 0 {
        // Days into hours (a local day is whole UTC hours for whole-hour offsets).
        let (h_lo, h_hi) = (ceil_div(lo_min, 60), hi_min.div_euclid(60));
        let mut out = Vec::new();
        push(&mut out, Res::Minute, lo_min, h_lo * 60);
        push(&mut out, Res::Hour, h_lo, h_hi);
        push(&mut out, Res::Minute, h_hi * 60, hi_min);
        out
    } else {
        vec![Segment {
            res: Res::Minute,
            lo: lo_min,
            hi: hi_min,
        }]
    }
}
