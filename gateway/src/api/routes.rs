//! The JSON (and CSV) routes. Each reads what it needs when asked: the pinned maps for
//! live counters, the database for history, the status file for the channels.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Extension, Json,
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{ApiError, ApiState, session::Principal};
use crate::store;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Officegate API",
        description = "Traffic per PC, sites, the DNS query log, events, channel state, users and the action history. Every route but /api/v1/login needs a login session (cookie `og_session`; changes also need `X-CSRF-Token`) or `Authorization: Bearer <token>`."
    ),
    paths(
        pcs,
        queries,
        traffic,
        top,
        events,
        wan,
        openapi,
        super::sites::sites,
        super::sites::site_pcs,
        super::sites::pc_hosts,
        super::sites::unexplained,
        super::sites::report,
        super::session::login,
        super::session::logout,
        super::session::me,
        super::session::actions,
        super::session::users,
        super::session::add_user,
        super::changes::block,
        super::changes::unblock,
        super::changes::add_rule,
        super::changes::remove_rule,
        super::changes::set_limit,
        super::changes::set_schedule,
        super::policy::policy,
        super::policy::explain,
        super::requests::list,
        super::requests::approve,
        super::requests::refuse
    ),
    components(schemas(
        PcRow,
        QueryRow,
        EventRow,
        WanView,
        TrafficPoint,
        TopRow,
        super::sites::SiteRow,
        super::sites::HostView,
        super::sites::UnexplainedView,
        super::sites::ReportRow,
        super::session::Principal,
        super::session::LoginBody,
        super::session::LoginReply,
        super::session::NewUser,
        super::changes::BlockBody,
        super::changes::RuleBody,
        super::changes::LimitBody,
        super::changes::ScheduleBody,
        super::policy::PolicyView,
        super::policy::GroupView,
        super::policy::RuleView,
        super::policy::ListView,
        super::policy::ListFileView,
        super::policy::TimedView,
        super::policy::ExplainView,
        super::requests::Decision,
        crate::requests::Request
    ))
)]
pub struct ApiDoc;

#[derive(Debug, Deserialize, IntoParams)]
pub struct Format {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One PC: the policy's name and group, its datapath state, live counters summed over its
/// addresses, and its traffic today and this month (the policy's time zone).
#[derive(Debug, Serialize, ToSchema)]
pub struct PcRow {
    pub name: String,
    pub group: String,
    pub addresses: Vec<String>,
    /// allowed, blocked, over-quota
    pub state: String,
    pub up_bytes: u64,
    pub down_bytes: u64,
    pub up_packets: u64,
    pub down_packets: u64,
    pub dropped_bytes: u64,
    pub today_bytes: u64,
    pub month_bytes: u64,
}

impl PcRow {
    /// A PC with no traffic counted yet.
    fn empty(name: String, group: String, addresses: Vec<String>) -> Self {
        PcRow {
            name,
            group,
            addresses,
            state: "allowed".into(),
            up_bytes: 0,
            down_bytes: 0,
            up_packets: 0,
            down_packets: 0,
            dropped_bytes: 0,
            today_bytes: 0,
            month_bytes: 0,
        }
    }
}

fn csv_response<T: Serialize>(rows: &[T]) -> Result<Response, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(ApiError::internal)?;
    }
    let body = w.into_inner().map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
}

pub(super) fn respond<T: Serialize>(rows: Vec<T>, format: &Format) -> Result<Response, ApiError> {
    match format.format.as_deref() {
        None | Some("json") => Ok(Json(rows).into_response()),
        Some("csv") => csv_response(&rows),
        Some(other) => Err(ApiError::bad(format!(
            "unknown format `{other}` (json, csv)"
        ))),
    }
}

fn state_name(code: u8) -> &'static str {
    match gateway_common::PcState::from_code(code) {
        Some(gateway_common::PcState::Allowed) => "allowed",
        Some(gateway_common::PcState::Blocked) => "blocked",
        Some(gateway_common::PcState::OverQuota) => "over-quota",
        None => "unknown",
    }
}

/// Every PC, with its traffic.
#[utoipa::path(get, path = "/api/v1/pcs", params(Format),
    responses((status = 200, description = "PCs, busiest first", body = [PcRow])))]
pub async fn pcs(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Query(format): Query<Format>,
) -> Result<Response, ApiError> {
    let maps = crate::datapath::Maps::open(&st.pin_dir).map_err(ApiError::internal)?;
    let policy = st.policy.load();
    let now = jiff::Timestamp::now().to_zoned_datetime(policy.time_zone().clone());
    let (day, month) = crate::usage::periods(&now);
    let usage = |period: &str| -> BTreeMap<String, u64> {
        store::open_read(&st.storage_dir)
            .ok()
            .and_then(|c| store::usage_in(&c, period).ok())
            .unwrap_or_default()
            .into_iter()
            .collect()
    };
    let (today, this_month) = (usage(&day), usage(&month));
    let mut rows: BTreeMap<String, PcRow> = BTreeMap::new();
    for pc in policy.pcs() {
        let group = pc
            .group
            .map(|g| policy.groups()[g].name.clone())
            .unwrap_or_else(|| crate::policy::DEFAULT_GROUP.to_string());
        let addresses = pc.addresses.iter().map(|a| a.to_string()).collect();
        rows.insert(
            pc.name.clone(),
            PcRow::empty(pc.name.clone(), group, addresses),
        );
    }
    for e in maps.pcs() {
        let name = st.names.label(&policy, e.addr);
        let row = rows.entry(name.clone()).or_insert_with(|| {
            let group = crate::policy::DEFAULT_GROUP.to_string();
            PcRow::empty(name, group, vec![e.addr.to_string()])
        });
        let c = &e.counters;
        row.up_bytes += c.up_bytes;
        row.down_bytes += c.down_bytes;
        row.up_packets += c.up_packets;
        row.down_packets += c.down_packets;
        row.dropped_bytes += c.dropped_bytes;
        if !row.addresses.contains(&e.addr.to_string()) {
            row.addresses.push(e.addr.to_string());
        }
        // The strictest state of any of its addresses.
        if e.info.state != gateway_common::PcState::Allowed as u8 {
            row.state = state_name(e.info.state).to_string();
        }
    }
    for row in rows.values_mut() {
        row.today_bytes = today.get(&row.name).copied().unwrap_or(0);
        row.month_bytes = this_month.get(&row.name).copied().unwrap_or(0);
    }
    let visible = who.visible_pcs(&policy);
    let mut rows: Vec<PcRow> = rows
        .into_values()
        .filter(|r| visible.as_ref().is_none_or(|v| v.contains(&r.name)))
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.up_bytes + r.down_bytes));
    if format.format.as_deref() == Some("csv") {
        // CSV cells hold no lists: addresses are space-separated there.
        let rows: Vec<PcCsv> = rows.into_iter().map(PcCsv::from).collect();
        return csv_response(&rows);
    }
    respond(rows, &format)
}

/// `PcRow` as a CSV line.
#[derive(Serialize)]
struct PcCsv {
    name: String,
    group: String,
    addresses: String,
    state: String,
    up_bytes: u64,
    down_bytes: u64,
    up_packets: u64,
    down_packets: u64,
    dropped_bytes: u64,
    today_bytes: u64,
    month_bytes: u64,
}

impl From<PcRow> for PcCsv {
    fn from(r: PcRow) -> Self {
        PcCsv {
            name: r.name,
            group: r.group,
            addresses: r.addresses.join(" "),
            state: r.state,
            up_bytes: r.up_bytes,
            down_bytes: r.down_bytes,
            up_packets: r.up_packets,
            down_packets: r.down_packets,
            dropped_bytes: r.dropped_bytes,
            today_bytes: r.today_bytes,
            month_bytes: r.month_bytes,
        }
    }
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
    };
    let limit = q.limit.unwrap_or(100).min(1000);
    let conn = store::open_read(&st.storage_dir).map_err(ApiError::internal)?;
    let rows = store::queries(&conn, &filter, limit, q.offset.unwrap_or(0))
        .map_err(ApiError::internal)?
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
        })
        .collect();
    respond(rows, &Format { format: q.format })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PeriodParams {
    /// From (Unix ms), inclusive. Default: 24 hours before `until_ms`.
    pub since_ms: Option<i64>,
    /// Until (Unix ms), exclusive. Default: now.
    pub until_ms: Option<i64>,
    /// `minute`, `hour` (default) or `day` (local days, in the policy's time zone).
    pub resolution: Option<String>,
    /// One PC by name; default: all together.
    pub pc: Option<String>,
    /// Rows for `/top`. Default 10, at most 1000.
    pub limit: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

impl PeriodParams {
    /// [since, until) in Unix minutes.
    pub(super) fn minutes(&self) -> Result<(i64, i64), ApiError> {
        let until = self.until_ms.unwrap_or_else(store::now_ms);
        let since = self.since_ms.unwrap_or(until - 24 * 3_600_000);
        if since >= until {
            return Err(ApiError::bad("since_ms must be before until_ms"));
        }
        Ok((since.div_euclid(60_000), until.div_euclid(60_000) + 1))
    }
}

/// Traffic in one bucket of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrafficPoint {
    /// Start of the bucket (Unix ms).
    pub t_ms: i64,
    pub up_bytes: u64,
    pub down_bytes: u64,
}

/// Traffic over time, for one PC or the whole office.
#[utoipa::path(get, path = "/api/v1/traffic", params(PeriodParams),
    responses((status = 200, description = "A series, oldest first", body = [TrafficPoint])))]
pub async fn traffic(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Query(p): Query<PeriodParams>,
) -> Result<Response, ApiError> {
    who.check_pc_param(&st.policy.load(), p.pc.as_deref())?;
    let (since, until) = p.minutes()?;
    let bucket = match p.resolution.as_deref() {
        Some("minute") => 1,
        None | Some("hour") => 60,
        Some("day") => 1440,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "unknown resolution `{other}` (minute, hour, day)"
            )));
        }
    };
    let conn = store::open_read(&st.storage_dir).map_err(ApiError::internal)?;
    let rows = store::traffic_series(&conn, since, until, bucket, p.pc.as_deref())
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|(m, up, down)| TrafficPoint {
            t_ms: m * 60_000,
            up_bytes: up,
            down_bytes: down,
        })
        .collect();
    respond(rows, &Format { format: p.format })
}

/// A PC's traffic over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopRow {
    pub pc: String,
    pub up_bytes: u64,
    pub down_bytes: u64,
}

/// The PCs with the most traffic over a period (how traffic splits across PCs).
#[utoipa::path(get, path = "/api/v1/top", params(PeriodParams),
    responses((status = 200, description = "Busiest first", body = [TopRow])))]
pub async fn top(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Query(p): Query<PeriodParams>,
) -> Result<Response, ApiError> {
    let (since, until) = p.minutes()?;
    let conn = store::open_read(&st.storage_dir).map_err(ApiError::internal)?;
    let limit = p.limit.unwrap_or(10).min(1000);
    // A manager's top list is of their PCs: filtered before the limit.
    let visible = who.visible_pcs(&st.policy.load());
    let fetch = if visible.is_some() {
        usize::MAX >> 1
    } else {
        limit
    };
    let rows = store::top_pcs(&conn, since, until, fetch)
        .map_err(ApiError::internal)?
        .into_iter()
        .filter(|(pc, _, _)| visible.as_ref().is_none_or(|v| v.contains(pc)))
        .take(limit)
        .map(|(pc, up, down)| TopRow {
            pc,
            up_bytes: up,
            down_bytes: down,
        })
        .collect();
    respond(rows, &Format { format: p.format })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventParams {
    /// Only events of this part of the daemon: `wan`, `limits`, …
    pub source: Option<String>,
    /// How many, newest. Default 100, at most 1000.
    pub limit: Option<usize>,
}

/// An event: a channel going down, a switch, a PC over its limit…
#[derive(Debug, Serialize, ToSchema)]
pub struct EventRow {
    pub at_ms: i64,
    pub source: String,
    pub kind: String,
    pub subject: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

fn event_rows(
    st: &ApiState,
    source: Option<&str>,
    limit: usize,
) -> Result<Vec<EventRow>, ApiError> {
    let conn = store::open_read(&st.storage_dir).map_err(ApiError::internal)?;
    Ok(store::recent_events(&conn, source, limit)
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|e| EventRow {
            at_ms: e.at_ms,
            source: e.source,
            kind: e.kind,
            subject: e.subject,
            message: e.message,
            details: e.details,
        })
        .collect())
}

/// Recent events, oldest first.
#[utoipa::path(get, path = "/api/v1/events", params(EventParams),
    responses((status = 200, description = "Events", body = [EventRow])))]
pub async fn events(
    State(st): State<Arc<ApiState>>,
    Query(p): Query<EventParams>,
) -> Result<Json<Vec<EventRow>>, ApiError> {
    Ok(Json(event_rows(
        &st,
        p.source.as_deref(),
        p.limit.unwrap_or(100).min(1000),
    )?))
}

/// The internet channels as the failover monitor last published them, and their events.
#[derive(Debug, Serialize, ToSchema)]
pub struct WanView {
    /// The status (see `officegate wan status --json`); null when failover is off.
    #[schema(value_type = Object)]
    pub status: serde_json::Value,
    pub events: Vec<EventRow>,
}

/// Channel state and failover events.
#[utoipa::path(get, path = "/api/v1/wan",
    responses((status = 200, description = "Channels", body = WanView)))]
pub async fn wan(State(st): State<Arc<ApiState>>) -> Result<Json<WanView>, ApiError> {
    let status = crate::wan::status::read(&st.storage_dir)
        .ok()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok(Json(WanView {
        status,
        events: event_rows(&st, Some("wan"), 100)?,
    }))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
