//! Events (a channel going down, a PC over its limit, …) and the internet channels.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Query, State},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    db,
};
use crate::store;

pub fn routes() -> ApiRouter {
    gate(Access::Read, routes!(events)).merge(gate(Access::Read, routes!(wan)))
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

async fn event_rows(
    st: &ApiState,
    source: Option<String>,
    limit: usize,
) -> Result<Vec<EventRow>, ApiError> {
    Ok(db::read(st, move |c| {
        store::recent_events(c, source.as_deref(), limit)
    })
    .await?
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
    let limit = p.limit.unwrap_or(100).min(1000);
    Ok(Json(event_rows(&st, p.source, limit).await?))
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
        events: event_rows(&st, Some("wan".into()), 100).await?,
    }))
}
