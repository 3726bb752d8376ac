//! Traffic over time and how it splits across PCs (the statistics store).

use std::sync::Arc;

use axum::{
    Extension,
    extract::{Query, State},
    response::Response,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    db,
    format::{Format, PeriodParams, respond},
    principal::Principal,
};
use crate::store;

pub fn routes() -> ApiRouter {
    gate(Access::ScopedRead, routes!(traffic)).merge(gate(Access::ScopedRead, routes!(top)))
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
    let pc = p.pc.clone();
    let rows = db::read(&st, move |c| {
        store::traffic_series(c, since, until, bucket, pc.as_deref())
    })
    .await?
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
    let limit = p.limit.unwrap_or(10).min(1000);
    // A manager's top list is of their PCs: filtered before the limit.
    let visible = who.visible_pcs(&st.policy.load());
    let fetch = if visible.is_some() {
        usize::MAX >> 1
    } else {
        limit
    };
    let rows = db::read(&st, move |c| store::top_pcs(c, since, until, fetch))
        .await?
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
