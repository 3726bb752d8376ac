//! Access requests filed on the block page, and their decision: approving writes a timed
//! exception into `office.toml` (`policy::edit::grant`, live within a second, ending by
//! itself); refusing keeps the block. Both are in the action history. A department
//! manager sees and decides only the requests of their PCs; only an admin grants a whole
//! group.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiError, ApiState,
    changes::{edit_error, history},
    session::Principal,
};
use crate::{
    auth::Role,
    policy::edit,
    requests::{self, Request, RequestError, State as RState},
};

/// Longest exception one approval grants.
const MAX_HOURS: u32 = 24 * 31;

fn request_error(e: RequestError) -> ApiError {
    match e {
        RequestError::NotFound(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
        RequestError::Decided(_) => ApiError(StatusCode::CONFLICT, e.to_string()),
        _ => ApiError::internal(e),
    }
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
    let (dir, limit) = (st.storage_dir.clone(), q.limit.unwrap_or(200).min(1000));
    let rows = tokio::task::spawn_blocking(move || {
        let conn = crate::auth::open(&dir).map_err(ApiError::internal)?;
        requests::list(&conn, state, limit).map_err(request_error)
    })
    .await
    .map_err(ApiError::internal)??;
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
    let dir = st.storage_dir.clone();
    tokio::task::spawn_blocking(move || {
        let conn = crate::auth::open(&dir).map_err(ApiError::internal)?;
        requests::get(&conn, id).map_err(request_error)
    })
    .await
    .map_err(ApiError::internal)?
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
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "only an admin grants a whole group".into(),
        ));
    }
    let r = load_request(&st, id).await?;
    let policy = st.policy.load_full();
    who.check_pc(&policy, &r.pc)?;
    if r.state != RState::Pending {
        return Err(request_error(RequestError::Decided(id)));
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
        edit::grant(
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
        )
        .map_err(edit_error)?;
        let until_text = until
            .to_zoned_datetime(policy.time_zone().clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string();
        let conn = crate::auth::open(&st2.storage_dir).map_err(ApiError::internal)?;
        let done = requests::decide(
            &conn,
            id,
            RState::Approved,
            &who.name,
            Some(&until_text),
            d.note.as_deref(),
            crate::store::now_ms(),
        )
        .map_err(request_error)?;
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
    .await
    .map_err(ApiError::internal)?
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
        let conn = crate::auth::open(&st2.storage_dir).map_err(ApiError::internal)?;
        let done = requests::decide(
            &conn,
            id,
            RState::Refused,
            &who.name,
            None,
            d.note.as_deref(),
            crate::store::now_ms(),
        )
        .map_err(request_error)?;
        history(
            &st2,
            &who.name,
            "request_refuse",
            &r.domain,
            serde_json::json!({"request": id, "pc": r.pc, "note": d.note}),
        );
        Ok(Json(done))
    })
    .await
    .map_err(ApiError::internal)?
}
