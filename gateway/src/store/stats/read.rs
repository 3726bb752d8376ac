//! Reads for the dashboard, the API and the CLI: traffic series, top PCs and sites, a
//! site's PCs, a PC's hosts, unexplained flows; and what the collectors read back at
//! start (usage totals, counter and flow marks). Each opens no connection of its own:
//! callers pass one from `store::open_read`.

use rusqlite::{Connection, params};

use super::{
    Map, Via,
    periods::{
        Res, Segment, bounds, refine, segments, site_pc_hours_to, site_pc_union, union, union_seek,
    },
    sql::{name_id, read3},
};

/// Traffic summed per bucket of `bucket_min` minutes over [since, until), for one PC or
/// all: (bucket start minute, up, down), oldest first. Buckets of a day or more start at
/// local midnight.
pub fn traffic_series(
    conn: &Connection,
    since: i64,
    until: i64,
    bucket_min: i64,
    pc: Option<&str>,
) -> rusqlite::Result<Vec<(i64, u64, u64)>> {
    let (rolled, days_rolled, off) = bounds(conn)?;
    let bucket = bucket_min.max(1);
    // Buckets finer than a resolution must not read it: a series by minute reads minutes.
    let segs: Vec<Segment> = segments(since, until, rolled, days_rolled, off)
        .into_iter()
        .flat_map(|s| refine(s, bucket, off, rolled))
        .collect();
    if segs.is_empty() {
        return Ok(Vec::new());
    }
    let align = if bucket >= 1440 { off } else { 0 };
    // The PC filter is only written when there is one: `(?1 IS NULL OR pc = ?1)` would
    // keep SQLite from using the (pc, bucket) key.
    let filter = if pc.is_some() { "AND pc = ?1" } else { "" };
    // One PC's minutes are sought minute by minute: `pc_minute` is keyed (minute, pc).
    let inner = union_seek(
        &segs,
        "pc",
        |s| format!("{} AS m, up_bytes, down_bytes", s.start_minute(off)),
        filter,
        |s| pc.is_some() && s.res == Res::Minute,
    );
    let sql = format!(
        "SELECT ((m + {align}) / {bucket}) * {bucket} - {align} AS b, SUM(up_bytes),
           SUM(down_bytes) FROM ({inner}) GROUP BY b ORDER BY b"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)? as u64,
            r.get::<_, i64>(2)? as u64,
        ))
    };
    match pc {
        Some(pc) => stmt.query_map([pc], map)?.collect(),
        None => stmt.query_map([], map)?.collect(),
    }
}

/// PCs by traffic over [since, until): (pc, up, down), busiest first.
pub fn top_pcs(
    conn: &Connection,
    since: i64,
    until: i64,
    limit: usize,
) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    let (rolled, days_rolled, off) = bounds(conn)?;
    let segs = segments(since, until, rolled, days_rolled, off);
    if segs.is_empty() {
        return Ok(Vec::new());
    }
    let inner = union(&segs, "pc", |_| "pc, up_bytes, down_bytes".into(), "");
    let sql = format!(
        "SELECT pc, SUM(up_bytes) AS u, SUM(down_bytes) AS d FROM ({inner})
         GROUP BY pc ORDER BY u + d DESC LIMIT ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map(params![limit as i64], read3)?.collect()
}

/// Sites by traffic over [since, until), for one PC or all: (site, up, down, PCs).
pub fn top_sites(
    conn: &Connection,
    since: i64,
    until: i64,
    pc: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<SiteTotal>> {
    let (rolled, days_rolled, off) = bounds(conn)?;
    let segs = segments(since, until, rolled, days_rolled, off);
    if segs.is_empty() {
        return Ok(Vec::new());
    }
    let pc_id = match pc {
        Some(name) => match name_id(conn, name)? {
            Some(id) => Some(id),
            None => return Ok(Vec::new()),
        },
        None => None,
    };
    let inner = match pc_id {
        // All PCs: the per-site totals for hours and days; minute rows are few.
        None => segs
            .iter()
            .map(|s| {
                let t = match s.res {
                    Res::Minute => "site_minute",
                    Res::Hour => "site_total_hour",
                    Res::Day => "site_total_day",
                };
                format!(
                    "SELECT site, up_bytes, down_bytes FROM {t} WHERE {c} >= {} AND {c} < {}",
                    s.lo,
                    s.hi,
                    c = s.column()
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL "),
        Some(id) => union(
            &segs,
            "site",
            |_| "site, up_bytes, down_bytes".into(),
            &format!("AND pc = {id}"),
        ),
    };
    let sql = format!(
        "SELECT n.name, t.u, t.d, t.site FROM
           (SELECT site, SUM(up_bytes) AS u, SUM(down_bytes) AS d FROM ({inner})
            GROUP BY site ORDER BY u + d DESC LIMIT ?1) AS t
         JOIN names AS n ON n.id = t.site ORDER BY t.u + t.d DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows: Vec<(SiteTotal, i64)> = stmt
        .query_map(params![limit as i64], |r| {
            Ok((
                SiteTotal {
                    site: r.get(0)?,
                    up: r.get::<_, i64>(1)? as u64,
                    down: r.get::<_, i64>(2)? as u64,
                    pcs: u64::from(pc_id.is_some()),
                },
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if pc_id.is_none() && !rows.is_empty() {
        let ids = rows
            .iter()
            .map(|(_, id)| id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let filter = format!("AND site IN ({ids})");
        let hours = (rolled, site_pc_hours_to(conn, rolled)?);
        let inner = if until - since >= 1440 {
            // A day or more: PCs that used the site on the period's rolled days (one
            // compact row per site, day and PC; the edge days whole), and exactly in the
            // rest (the day in progress, from its hours and minutes).
            let first_open_day = (days_rolled + off).div_euclid(1440);
            let (d_lo, d_hi) = (
                (since + off).div_euclid(1440),
                (until - 1 + off).div_euclid(1440).min(first_open_day - 1),
            );
            let rest_from = since.max(first_open_day * 1440 - off);
            let rest = segments(rest_from, until, rolled, days_rolled, off);
            let mut sql = format!(
                "SELECT site, pc FROM site_pc_day WHERE day >= {d_lo} AND day <= {d_hi} {filter}"
            );
            if !rest.is_empty() {
                sql += " UNION ALL ";
                sql += &site_pc_union(&rest, hours, "site, pc", &filter);
            }
            sql
        } else {
            // Under a day: exactly the PCs of the period.
            site_pc_union(&segs, hours, "site, pc", &filter)
        };
        // Distinct (site, PC) pairs counted here: a month of the top ten sites is ~100k
        // rows, and SQLite's COUNT(DISTINCT) sorts them all into a temporary b-tree
        // first (~90 ms of the 100 ms budget in `bench stats`). Per PC, a bit per listed
        // site: a map of the office's PCs updated in place, where a set of every pair
        // took an insert per row (~10% of the query).
        let index: Map<i64, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, (_, id))| (*id, i))
            .collect();
        let mut sites_of = Map::<(i64, usize), u64>::default();
        let mut stmt = conn.prepare_cached(&inner)?;
        let mut it = stmt.query([])?;
        while let Some(r) = it.next()? {
            if let Some(&i) = index.get(&r.get::<_, i64>(0)?) {
                *sites_of.entry((r.get(1)?, i / 64)).or_default() |= 1 << (i % 64);
            }
        }
        for ((_, word), bits) in sites_of {
            for (i, (row, _)) in rows.iter_mut().enumerate().skip(word * 64).take(64) {
                row.pcs += (bits >> (i % 64)) & 1;
            }
        }
    }
    Ok(rows.into_iter().map(|(r, _)| r).collect())
}

/// A site's bytes over a period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SiteTotal {
    pub site: String,
    pub up: u64,
    pub down: u64,
    pub pcs: u64,
}

/// The segments of [since, until), the id of `name` and the first minute not rolled up;
/// `None` when there is nothing to read (an empty period, or a name never stored).
fn named_period(
    conn: &Connection,
    since: i64,
    until: i64,
    name: &str,
) -> rusqlite::Result<Option<(Vec<Segment>, i64, i64)>> {
    let (rolled, days_rolled, off) = bounds(conn)?;
    let segs = segments(since, until, rolled, days_rolled, off);
    if segs.is_empty() {
        return Ok(None);
    }
    Ok(name_id(conn, name)?.map(|id| (segs, id, rolled)))
}

/// The PCs that used `site` over [since, until): (pc, up, down), busiest first.
pub fn pcs_of_site(
    conn: &Connection,
    since: i64,
    until: i64,
    site: &str,
) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    let Some((segs, site_id, rolled)) = named_period(conn, since, until, site)? else {
        return Ok(Vec::new());
    };
    let inner = site_pc_union(
        &segs,
        (rolled, site_pc_hours_to(conn, rolled)?),
        "pc, up_bytes, down_bytes",
        &format!("AND site = {site_id}"),
    );
    let sql = format!(
        "SELECT n.name, t.u, t.d FROM
           (SELECT pc, SUM(up_bytes) AS u, SUM(down_bytes) AS d FROM ({inner}) GROUP BY pc) AS t
         JOIN names AS n ON n.id = t.pc ORDER BY t.u + t.d DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map([], read3)?.collect()
}

/// A PC's host names over [since, until) with how each was named, busiest first.
pub fn hosts_of_pc(
    conn: &Connection,
    since: i64,
    until: i64,
    pc: &str,
    limit: usize,
) -> rusqlite::Result<Vec<HostRow>> {
    let Some((segs, pc_id, _)) = named_period(conn, since, until, pc)? else {
        return Ok(Vec::new());
    };
    let inner = union(
        &segs,
        "site",
        |_| "host, site, via, up_bytes, down_bytes".into(),
        &format!("AND pc = {pc_id}"),
    );
    let sql = format!(
        "SELECT h.name, s.name, t.via, t.u, t.d FROM
           (SELECT host, max(site) AS site, min(via) AS via, SUM(up_bytes) AS u,
              SUM(down_bytes) AS d
            FROM ({inner}) GROUP BY host ORDER BY u + d DESC LIMIT ?1) AS t
         JOIN names AS h ON h.id = t.host JOIN names AS s ON s.id = t.site
         ORDER BY t.u + t.d DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map(params![limit as i64], |r| {
        Ok(HostRow {
            host: r.get(0)?,
            site: r.get(1)?,
            via: Via::from_code(r.get(2)?).as_str().to_string(),
            up: r.get::<_, i64>(3)? as u64,
            down: r.get::<_, i64>(4)? as u64,
        })
    })?
    .collect()
}

/// A host name a PC used.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HostRow {
    pub host: String,
    pub site: String,
    /// How it was named (the most trusted way seen over the period).
    pub via: String,
    pub up: u64,
    pub down: u64,
}

/// Unexplained flows, newest first, of one PC or all.
pub fn unexplained(
    conn: &Connection,
    pc: Option<&str>,
    since_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<Unexplained>> {
    let mut stmt = conn.prepare_cached(
        "SELECT pc, remote, port, proto, reason, name, first_ms, last_ms, up_bytes, down_bytes
         FROM unexplained WHERE (?1 IS NULL OR pc = ?1) AND last_ms >= ?2
         ORDER BY last_ms DESC LIMIT ?3",
    )?;
    stmt.query_map(params![pc, since_ms, limit as i64], |r| {
        Ok(Unexplained {
            pc: r.get(0)?,
            remote: r.get(1)?,
            port: r.get(2)?,
            proto: r.get(3)?,
            reason: r.get(4)?,
            name: r.get(5)?,
            first_ms: r.get(6)?,
            last_ms: r.get(7)?,
            up: r.get::<_, i64>(8)? as u64,
            down: r.get::<_, i64>(9)? as u64,
        })
    })?
    .collect()
}

/// A flow nobody can explain, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Unexplained {
    pub pc: String,
    pub remote: String,
    pub port: u16,
    pub proto: u8,
    pub reason: String,
    pub name: Option<String>,
    pub first_ms: i64,
    pub last_ms: i64,
    pub up: u64,
    pub down: u64,
}

/// Flow marks stored by an earlier run: (flow key, up, down).
pub fn flow_marks(conn: &Connection) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    let mut stmt = conn.prepare("SELECT flow, up, down FROM flow_marks")?;
    stmt.query_map([], read3)?.collect()
}

/// Every PC's bytes in `period` (`d:…` or `m:…`).
pub fn usage_in(conn: &Connection, period: &str) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare_cached("SELECT pc, bytes FROM usage WHERE period = ?1")?;
    stmt.query_map(params![period], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?
    .collect()
}

/// The counter totals last counted, per address: (address, up, down).
pub fn counter_marks(conn: &Connection) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    let mut stmt = conn.prepare_cached("SELECT addr, up, down FROM counter_marks")?;
    stmt.query_map([], read3)?.collect()
}
