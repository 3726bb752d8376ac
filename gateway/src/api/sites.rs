//! Sites, hosts, unexplained traffic and reports: where each PC's bytes went.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Extension,
    extract::{Path, Query, State},
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    db,
    format::{Format, PeriodParams, respond},
    principal::Principal,
    traffic::TopRow,
};

pub fn routes() -> ApiRouter {
    ApiRouter::new()
        .merge(gate(Access::ScopedRead, routes!(sites)))
        .merge(gate(Access::Read, routes!(site_pcs)))
        .merge(gate(Access::ScopedRead, routes!(pc_hosts)))
        .merge(gate(Access::Read, routes!(unexplained)))
        .merge(gate(Access::Read, routes!(report)))
}
use crate::store;

/// A site (registrable domain) over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteRow {
    pub site: String,
    pub up_bytes: u64,
    pub down_bytes: u64,
    /// PCs that used it: exactly over the period when it is under a day; over the days
    /// the period touches when it is a day or more.
    pub pcs: u64,
}

/// The sites with the most traffic over a period, for the office or one PC (`pc`).
#[utoipa::path(get, path = "/api/v1/sites", params(PeriodParams),
    responses((status = 200, description = "Busiest first", body = [SiteRow])))]
pub async fn sites(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Query(p): Query<PeriodParams>,
) -> Result<Response, ApiError> {
    who.check_pc_param(&st.policy.load(), p.pc.as_deref())?;
    let (since, until) = p.minutes()?;
    let limit = p.limit.unwrap_or(20).min(1000);
    let pc = p.pc.clone();
    let rows = db::read(&st, move |c| {
        store::top_sites(c, since, until, pc.as_deref(), limit)
    })
    .await?
    .into_iter()
    .map(|t| SiteRow {
        site: t.site,
        up_bytes: t.up,
        down_bytes: t.down,
        pcs: t.pcs,
    })
    .collect();
    respond(rows, &Format { format: p.format })
}

/// The PCs that used a site over a period, busiest first.
#[utoipa::path(get, path = "/api/v1/sites/{site}/pcs", params(PeriodParams,
    ("site" = String, Path, description = "A registrable domain, e.g. `news.example`")),
    responses((status = 200, description = "Busiest first", body = [TopRow])))]
pub async fn site_pcs(
    State(st): State<Arc<ApiState>>,
    Path(site): Path<String>,
    Query(p): Query<PeriodParams>,
) -> Result<Response, ApiError> {
    let (since, until) = p.minutes()?;
    let rows = db::read(&st, move |c| store::pcs_of_site(c, since, until, &site))
        .await?
        .into_iter()
        .map(|(pc, up, down)| TopRow {
            pc,
            up_bytes: up,
            down_bytes: down,
        })
        .collect();
    respond(rows, &Format { format: p.format })
}

/// A host name a PC used over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostView {
    pub host: String,
    /// Its registrable domain.
    pub site: String,
    /// How the flow was named: `sni`, `host`, `dns` or `address`.
    pub via: String,
    pub up_bytes: u64,
    pub down_bytes: u64,
}

/// The host names one PC used, with bytes and how each was named.
#[utoipa::path(get, path = "/api/v1/pcs/{pc}/hosts", params(PeriodParams,
    ("pc" = String, Path, description = "The PC's name (or address, if the policy lists none)")),
    responses((status = 200, description = "Busiest first", body = [HostView])))]
pub async fn pc_hosts(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Path(pc): Path<String>,
    Query(p): Query<PeriodParams>,
) -> Result<Response, ApiError> {
    who.check_pc(&st.policy.load(), &pc)?;
    let (since, until) = p.minutes()?;
    let limit = p.limit.unwrap_or(100).min(10_000);
    let rows = db::read(&st, move |c| {
        store::hosts_of_pc(c, since, until, &pc, limit)
    })
    .await?
    .into_iter()
    .map(|h| HostView {
        host: h.host,
        site: h.site,
        via: h.via,
        up_bytes: h.up,
        down_bytes: h.down,
    })
    .collect();
    respond(rows, &Format { format: p.format })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UnexplainedParams {
    /// One PC by name; default: all.
    pub pc: Option<String>,
    /// Flows seen since (Unix ms). Default: 24 hours ago.
    pub since_ms: Option<i64>,
    /// Default 100, at most 10000.
    pub limit: Option<usize>,
    pub format: Option<String>,
}

/// A flow nobody can explain: likely a bypass of the gateway's DNS.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnexplainedView {
    pub pc: String,
    pub remote: String,
    pub port: u16,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP).
    pub proto: u8,
    /// `no_lookup`: the PC never looked this address up through the gateway;
    /// `sni_mismatch`: its TLS name matches no name the gateway answered with it.
    pub reason: String,
    /// The name the flow claimed (TLS SNI or HTTP Host), if any.
    pub name: Option<String>,
    pub first_ms: i64,
    pub last_ms: i64,
    pub up_bytes: u64,
    pub down_bytes: u64,
}

/// Unexplained flows, newest first.
#[utoipa::path(get, path = "/api/v1/unexplained", params(UnexplainedParams),
    responses((status = 200, description = "Newest first", body = [UnexplainedView])))]
pub async fn unexplained(
    State(st): State<Arc<ApiState>>,
    Query(p): Query<UnexplainedParams>,
) -> Result<Response, ApiError> {
    let since = p
        .since_ms
        .unwrap_or_else(|| store::now_ms() - 24 * 3_600_000);
    let limit = p.limit.unwrap_or(100).min(10_000);
    let pc = p.pc.clone();
    let rows = db::read(&st, move |c| {
        store::unexplained(c, pc.as_deref(), since, limit)
    })
    .await?
    .into_iter()
    .map(|u| UnexplainedView {
        pc: u.pc,
        remote: u.remote,
        port: u.port,
        proto: u.proto,
        reason: u.reason,
        name: u.name,
        first_ms: u.first_ms,
        last_ms: u.last_ms,
        up_bytes: u.up,
        down_bytes: u.down,
    })
    .collect();
    respond(rows, &Format { format: p.format })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportParams {
    /// `pc` (default), `group` or `company`.
    pub by: Option<String>,
    /// From (Unix ms), inclusive. Default: 24 hours before `until_ms`.
    pub since_ms: Option<i64>,
    /// Until (Unix ms), exclusive. Default: now.
    pub until_ms: Option<i64>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One line of a traffic report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportRow {
    /// A PC, a group, or `company`.
    pub name: String,
    pub up_bytes: u64,
    pub down_bytes: u64,
    pub total_bytes: u64,
    /// Share of the company's traffic, percent.
    pub share_pct: f64,
}

/// Traffic per PC, per group (a group counts its subgroups' PCs too) or for the whole
/// company over a period: the table behind reports and their CSV download.
#[utoipa::path(get, path = "/api/v1/report", params(ReportParams),
    responses((status = 200, description = "Busiest first", body = [ReportRow])))]
pub async fn report(
    State(st): State<Arc<ApiState>>,
    Query(p): Query<ReportParams>,
) -> Result<Response, ApiError> {
    let period = PeriodParams {
        since_ms: p.since_ms,
        until_ms: p.until_ms,
        resolution: None,
        pc: None,
        limit: None,
        format: None,
    };
    let (since, until) = period.minutes()?;
    let per_pc = db::read(&st, move |c| {
        store::top_pcs(c, since, until, usize::MAX >> 1)
    })
    .await?;
    let total: u64 = per_pc.iter().map(|(_, u, d)| u + d).sum();
    let mut sums: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let policy = st.policy.load();
    match p.by.as_deref() {
        None | Some("pc") => {
            for (pc, u, d) in per_pc {
                sums.insert(pc, (u, d));
            }
        }
        Some("group") => {
            let groups = policy.groups();
            for (pc, u, d) in per_pc {
                let mut g = policy
                    .pcs()
                    .iter()
                    .find(|x| x.name == pc)
                    .and_then(|x| x.group);
                if g.is_none() {
                    let s = sums.entry("(no group)".into()).or_default();
                    s.0 += u;
                    s.1 += d;
                }
                // A PC's bytes count for its group and every group above it.
                while let Some(gi) = g {
                    let s = sums.entry(groups[gi].name.clone()).or_default();
                    s.0 += u;
                    s.1 += d;
                    g = groups[gi].parent;
                }
            }
        }
        Some("company") => {
            let s = sums.entry("company".into()).or_default();
            for (_, u, d) in per_pc {
                s.0 += u;
                s.1 += d;
            }
        }
        Some(other) => {
            return Err(ApiError::bad(format!(
                "unknown report `{other}` (pc, group, company)"
            )));
        }
    }
    let mut rows: Vec<ReportRow> = sums
        .into_iter()
        .map(|(name, (u, d))| ReportRow {
            name,
            up_bytes: u,
            down_bytes: d,
            total_bytes: u + d,
            share_pct: if total == 0 {
                0.0
            } else {
                ((u + d) as f64 * 1000.0 / total as f64).round() / 10.0
            },
        })
        .collect();
    rows.sort_by(|a, b| b.total_bytes.cmp(&a.total_bytes).then(a.name.cmp(&b.name)));
    respond(rows, &Format { format: p.format })
}
