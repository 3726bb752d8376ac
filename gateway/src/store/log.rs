//! The DNS query log: one row per query the filter answered (identical queries within a
//! second are one row with a `count`, see `dns::repeats`).
//!
//! Owns: the `Query` record, the `queries` table's insert (run by the writer) and its
//! search. Knows nothing of the DNS filter itself.

use rusqlite::{Connection, Statement, params};
use serde::Serialize;

/// One DNS query as the filter answered it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Query {
    pub at_ms: i64,
    pub client: String,
    /// The PC's name in the policy, if listed.
    pub pc: Option<String>,
    pub group: String,
    pub name: String,
    pub qtype: String,
    /// `allowed`, `blocked`, `blocked_cname`, `refused`, `failed`.
    pub verdict: String,
    /// The rule that decided, for people (`block in staff (office.toml:12) by list ads`).
    pub rule: Option<String>,
    pub answers: Vec<String>,
    pub upstream: Option<String>,
    pub latency_us: i64,
    pub rcode: String,
    /// How many identical queries this record stands for: the same client, name, type
    /// and answer within about a second are logged once (`dns::repeats`). `at_ms` and
    /// `latency_us` are the first one's.
    pub count: u32,
    /// Sent by the PC to another resolver and answered (or refused) by the gateway's
    /// filter instead (`[dns] intercept`).
    pub intercepted: bool,
}

/// The writer's statement for `insert`, prepared once per batch.
pub(super) const INSERT: &str =
    "INSERT INTO queries (at_ms, client, pc, grp, name, qtype, verdict, rule, answers,
             upstream, latency_us, rcode, count, intercepted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

pub(super) fn insert(stmt: &mut Statement, q: &Query) -> rusqlite::Result<()> {
    stmt.execute(params![
        q.at_ms,
        q.client,
        q.pc,
        q.group,
        q.name,
        q.qtype,
        q.verdict,
        q.rule,
        q.answers.join(" "),
        q.upstream,
        q.latency_us,
        q.rcode,
        q.count,
        q.intercepted
    ])?;
    Ok(())
}

/// Filters for [`queries`]; every field optional.
#[derive(Debug, Default, Clone)]
pub struct QueryFilter {
    pub client: Option<String>,
    /// Substring of the name.
    pub name: Option<String>,
    pub verdict: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only intercepted queries (true) or only those asked of the gateway (false).
    pub intercepted: Option<bool>,
}

/// Query-log records matching `f`, newest first, `limit` from `offset`.
pub fn queries(
    conn: &Connection,
    f: &QueryFilter,
    limit: usize,
    offset: usize,
) -> rusqlite::Result<Vec<Query>> {
    // Only the filters given are written: `(?1 IS NULL OR client = ?1)` would keep SQLite
    // from using the (client, at_ms) index, and a search by PC would scan the log.
    let mut conds: Vec<&str> = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut add = |cond: &'static str, v: rusqlite::types::Value| {
        conds.push(cond);
        args.push(v);
    };
    use rusqlite::types::Value as V;
    if let Some(c) = &f.client {
        add("client = ?", V::Text(c.clone()));
    }
    if let Some(n) = &f.name {
        add("instr(name, ?) > 0", V::Text(n.clone()));
    }
    if let Some(v) = &f.verdict {
        add("verdict = ?", V::Text(v.clone()));
    }
    if let Some(t) = f.since_ms {
        add("at_ms >= ?", V::Integer(t));
    }
    if let Some(t) = f.until_ms {
        add("at_ms < ?", V::Integer(t));
    }
    if let Some(i) = f.intercepted {
        add("intercepted = ?", V::Integer(i as i64));
    }
    args.push(V::Integer(limit as i64));
    args.push(V::Integer(offset as i64));
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT at_ms, client, pc, grp, name, qtype, verdict, rule, answers, upstream,
                latency_us, rcode, count, intercepted
         FROM queries {filter}
         ORDER BY at_ms DESC, id DESC LIMIT ? OFFSET ?"
    ))?;
    stmt.query_map(rusqlite::params_from_iter(args), |r| {
        let answers: String = r.get(8)?;
        Ok(Query {
            at_ms: r.get(0)?,
            client: r.get(1)?,
            pc: r.get(2)?,
            group: r.get(3)?,
            name: r.get(4)?,
            qtype: r.get(5)?,
            verdict: r.get(6)?,
            rule: r.get(7)?,
            answers: answers.split_whitespace().map(String::from).collect(),
            upstream: r.get(9)?,
            latency_us: r.get(10)?,
            rcode: r.get(11)?,
            count: r.get(12)?,
            intercepted: r.get(13)?,
        })
    })?
    .collect()
}
