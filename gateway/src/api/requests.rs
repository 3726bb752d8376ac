//! Access requests filed on the block page, and their decision: approving writes a timed
//! exception into `office.toml` (`policy::edit::grant`, live within a second, ending by
//! itself); refusing keeps the block. Both are in the action history. A department
//! manager sees and decides only the requests of their PCs; only an admin grants a whole
//! group.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{Path, Query, State},
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    changes::history,
    db,
    principal::Principal,
};
use crate::{
    auth::Role,
    policy::edit,
    requests::{self, Request, RequestError, State as RState},
};

/// Longest exception one approval grants.
const MAX_HOURS: u32 = 24 * 31;

pub fn routes() -> ApiRouter {
    // Managers see and decide their PCs' requests (checked by each handler).
    ApiRouter::new()
        .merge(gate(Access::ScopedRead, routes!(list)))
        .merge(gate(Access::ScopedChange, routes!(approve)))
        .merge(gate(Access::ScopedChange, routes!(refuse)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// `pending`, `approved` or `refused`; default: all, pending first.
    pub state: Option<String>,
    /// Default 200, at most 1000.
    pub limit: Option<usize>,
}

/// Access requests, pending first.
#[utoipa::path(get, path = "/api/v1/requests", params(ListParams),
    responses((status = 200, description = "Requests", body = [Request])))]
pub async fn list(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListParams>,
) -> Result<Json<Vec<Request>>, ApiError> {
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some("pending") => Some(RState::Pending),
        Some("approved") => Some(RState::Approved),
        Some("refused") => Some(RState::Refused),
        Some(s) => return Err(ApiError::bad(format!("unknown state `{s}`"))),
    };
    let visible = who.visible_pcs(&st.policy.load());
    let limit = q.limit.unwrap_or(200).min(1000);
    let rows = db::write(&st, move |c| requests::list(c, state, limit)).await?;
    Ok(Json(
        rows.into_iter()
            .filter(|r| visible.as_ref().is_none_or(|v| v.contains(&r.pc)))
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Approve: hours the exception lasts. Default 8, at most 744.
    pub hours: Option<u32>,
    /// Approve for the PC's whole group (admins only). Default: the PC alone.
    #[serde(default)]
    pub whole_group: bool,
    /// A note for the employee (shown on the block page when refused).
    pub note: Option<String>,
}

async fn load_request(st: &ApiState, id: i64) -> Result<Request, ApiError> {
    db::write(st, move |c| requests::get(c, id)).await
}

/// Approve a request: a timed exception for the PC (or its group) in office.toml.
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", request_body = Decision,
    params(("id" = i64, Path, description = "The request")),
    responses((status = 200, description = "Approved; the site opens within a second", body = Request)))]
pub async fn approve(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    body: Option<Json<Decision>>,
) -> Result<Json<Request>, ApiError> {
    let d = body.map(|Json(d)| d).unwrap_or_default();
    let hours = d.hours.unwrap_or(8);
    if hours == 0 || hours > MAX_HOURS {
        return Err(ApiError::bad(format!("hours must be 1..={MAX_HOURS}")));
    }
    if d.whole_group && who.role != Role::Admin {
        return Err(ApiError::forbidden("only an admin grants a whole group"));
    }
    let r = load_request(&st, id).await?;
    let policy = st.policy.load_full();
    who.check_pc(&policy, &r.pc)?;
    if r.state != RState::Pending {
        return Err(RequestError::Decided(id).into());
    }
    let group = policy
        .find_pc(&r.pc)
        .and_then(|p| p.group)
        .map(|g| policy.groups()[g].name.clone());
    let now = st.clock.now();
    let until = now + jiff::SignedDuration::from_hours(hours.into());
    let st2 = st.clone();
    tokio::task::spawn_blocking(move || {
        let to = match (&group, d.whole_group) {
            (Some(g), true) => edit::Grantee::Group(g),
            (None, true) => {
                return Err(ApiError::bad(format!("{} is in no group", r.pc)));
            }
            _ => edit::Grantee::Pc(&r.pc),
        };
        let until_text = until
            .to_zoned_datetime(policy.time_zone().clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string();
        // The decision first, as one update that only a pending request takes: of an
        // approve and a refuse at once, one wins whole. The exception follows; if it
        // cannot be written, the request is pending again.
        let conn = crate::auth::open(&st2.storage_dir)?;
        let done = requests::decide(
            &conn,
            id,
            RState::Approved,
            &who.name,
            Some(&until_text),
            d.note.as_deref(),
            crate::store::now_ms(),
        )?;
        let granted = edit::grant(
            &st2.policy_dir,
            &st2.storage_dir.join("lists"),
            &policy,
            &edit::Grant {
                to,
                domains: std::slice::from_ref(&r.domain),
                until,
                reason: &r.reason,
                granted_by: &who.name,
                now,
            },
        );
        if let Err(e) = granted {
            if let Err(undo) = requests::reopen(&conn, id) {
                tracing::error!("request #{id}: approved but its exception failed ({e}), and it could not be reopened: {undo}");
            }
            return Err(e.into());
        }
        let target = match to {
            edit::Grantee::Group(g) => format!("group {g}"),
            edit::Grantee::Pc(p) => p.to_string(),
        };
        history(
            &st2,
            &who.name,
            "request_approve",
            &r.domain,
            serde_json::json!({"request": id, "for": target, "until": until_text}),
        );
        Ok(Json(done))
    })
    .await?
}

/// Refuse a request; the block stays.
#[utoipa::path(post, path = "/api/v1/requests/{id}/refuse", request_body = Decision,
    params(("id" = i64, Path, description = "The request")),
    responses((status = 200, description = "Refused", body = Request)))]
pub async fn refuse(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    body: Option<Json<Decision>>,
) -> Result<Json<Request>, ApiError> {
    let d = body.map(|Json(d)| d).unwrap_or_default();
    let r = load_request(&st, id).await?;
    who.check_pc(&st.policy.load(), &r.pc)?;
    let st2 = st.clone();
    tokio::task::spawn_blocking(move || {
        let conn = crate::auth::open(&st2.storage_dir)?;
        let done = requests::decide(
            &conn,
            id,
            RState::Refused,
            &who.name,
            None,
            d.note.as_deref(),
            crate::store::now_ms(),
        )?;
        history(
            &st2,
            &who.name,
            "request_refuse",
            &r.domain,
            serde_json::json!({"request": id, "pc": r.pc, "note": d.note}),
        );
        Ok(Json(done))
    })
    .await?
}
