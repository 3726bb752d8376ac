//! The OpenAPI document. Its paths and schemas are not listed here: each resource adds
//! its routes with `routes!(handler)` (utoipa-axum), which routes the handler and adds its
//! `#[utoipa::path]` to the document in the same step, and `access::gate` marks who may
//! call it (`x-roles`). A route is added in one place.

use axum::{Extension, Json};
use utoipa::OpenApi;
use utoipa_axum::routes;

use super::access::{Access, ApiRouter, Doc, gate};

#[derive(OpenApi)]
#[openapi(info(
    title = "Officegate API",
    description = "Traffic per PC, sites, the DNS query log, events, channel state, users and the action history. Every route but /api/v1/login needs a login session (cookie `og_session`; changes also need `X-CSRF-Token`) or `Authorization: Bearer <token>`. `x-roles` on each operation names the roles that may call it."
))]
pub struct ApiDoc;

pub fn routes() -> ApiRouter {
    gate(Access::Read, routes!(openapi))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn openapi(Extension(doc): Extension<Doc>) -> Json<utoipa::openapi::OpenApi> {
    Json((*doc.0).clone())
}
