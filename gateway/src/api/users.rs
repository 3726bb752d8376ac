//! Users with their roles, and the action history: every change made through the API or
//! the CLI, with who made it.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{Query, State},
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    db,
    principal::Principal,
};
use crate::auth::{self, Role};

pub fn routes() -> ApiRouter {
    ApiRouter::new()
        .merge(gate(Access::Read, routes!(actions)))
        .merge(gate(Access::Read, routes!(users)))
        .merge(gate(Access::Admin, routes!(add_user)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HistoryParams {
    /// Default 100, at most 10000.
    pub limit: Option<usize>,
    /// Skip this many of the newest first (paging). Default 0.
    pub offset: Option<usize>,
}

/// The action history: every change made through the API or the CLI, newest first.
#[utoipa::path(get, path = "/api/v1/actions", params(HistoryParams),
    responses((status = 200, description = "Newest first", body = [Object])))]
pub async fn actions(
    State(st): State<Arc<ApiState>>,
    Query(p): Query<HistoryParams>,
) -> Result<Json<Vec<auth::Action>>, ApiError> {
    let limit = p.limit.unwrap_or(100).min(10_000);
    let offset = p.offset.unwrap_or(0);
    Ok(Json(
        db::write(&st, move |c| auth::history(c, limit, offset)).await?,
    ))
}

/// Users with their roles.
#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, description = "Users", body = [Object])))]
pub async fn users(State(st): State<Arc<ApiState>>) -> Result<Json<Vec<auth::User>>, ApiError> {
    Ok(Json(db::write(&st, auth::users).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    pub name: String,
    pub password: String,
    /// admin, auditor or manager.
    pub role: String,
    /// For managers: the group whose subtree they manage.
    pub scope: Option<String>,
}

/// Add a user (admins only); recorded in the action history.
#[utoipa::path(post, path = "/api/v1/users", request_body = NewUser,
    responses((status = 200, description = "Added", body = Object)))]
pub async fn add_user(
    State(st): State<Arc<ApiState>>,
    Extension(p): Extension<Principal>,
    Json(u): Json<NewUser>,
) -> Result<Json<auth::User>, ApiError> {
    let user = db::write(&st, move |c| {
        let role = Role::parse(&u.role)?;
        let now = crate::store::now_ms();
        let user = auth::add_user(c, &u.name, &u.password, role, u.scope.as_deref(), now)?;
        auth::record(
            c,
            &auth::Action {
                at_ms: now,
                actor: p.name,
                action: "user_add".into(),
                subject: user.name.clone(),
                details: serde_json::json!({"role": user.role, "scope": user.scope}),
            },
        )?;
        Ok::<_, auth::AuthError>(user)
    })
    .await?;
    Ok(Json(user))
}
