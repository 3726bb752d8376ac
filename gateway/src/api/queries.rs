//! The DNS query log.

use std::sync::Arc;

use axum::{
    extract::{Query, State},
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    db,
    format::{Format, respond},
};
use crate::store;

pub fn routes() -> ApiRouter {
    gate(Access::Read, routes!(queries))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct QueryParams {
    /// Only this client address.
    pub client: Option<String>,
    /// Names containing this.
    pub name: Option<String>,
    /// allowed, blocked, blocked_cname, rebinding, failed
    pub verdict: Option<String>,
    /// From this time (Unix ms), inclusive.
    pub since_ms: Option<i64>,
    /// Until this time (Unix ms), exclusive.
    pub until_ms: Option<i64>,
    /// `true`: only queries sent to another resolver and intercepted; `false`: only
    /// those asked of the gateway.
    pub intercepted: Option<bool>,
    /// Page size, at most 1000. Default 100.
    pub limit: Option<usize>,
    /// Rows to skip (paging). Default 0.
    pub offset: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One DNS query of the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryRow {
    pub at_ms: i64,
    pub client: String,
    pub pc: Option<String>,
    pub group: String,
    pub name: String,
    pub qtype: String,
    pub verdict: String,
    pub rule: Option<String>,
    /// Space-separated addresses answered.
    pub answers: String,
    pub upstream: Option<String>,
    pub latency_us: i64,
    pub rcode: String,
    /// Identical queries of this client within about a second, logged as this one row.
    pub count: u32,
    /// Sent to another resolver and answered (or refused) by the gateway instead.
    pub intercepted: bool,
}

/// The DNS query log, newest first.
#[utoipa::path(get, path = "/api/v1/queries", params(QueryParams),
    responses((status = 200, description = "Matching queries, newest first", body = [QueryRow])))]
pub async fn queries(
    State(st): State<Arc<ApiState>>,
    Query(q): Query<QueryParams>,
) -> Result<Response, ApiError> {
    let filter = store::QueryFilter {
        client: q.client,
        name: q.name,
        verdict: q.verdict,
        since_ms: q.since_ms,
        until_ms: q.until_ms,
        intercepted: q.intercepted,
    };
    let limit = q.limit.unwrap_or(100).min(1000);
    let offset = q.offset.unwrap_or(0);
    let rows = db::read(&st, move |c| store::queries(c, &filter, limit, offset))
        .await?
        .into_iter()
        .map(|r| QueryRow {
            at_ms: r.at_ms,
            client: r.client,
            pc: r.pc,
            group: r.group,
            name: r.name,
            qtype: r.qtype,
            verdict: r.verdict,
            rule: r.rule,
            answers: r.answers.join(" "),
            upstream: r.upstream,
            latency_us: r.latency_us,
            rcode: r.rcode,
            count: r.count,
            intercepted: r.intercepted,
        })
        .collect();
    respond(rows, &Format { format: q.format })
}
