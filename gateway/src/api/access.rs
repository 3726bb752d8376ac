//! Who may call a route, stated where the route is added. Each resource module builds its
//! routes with `gate(Access::…, routes!(…))`: the role check becomes a `route_layer` on
//! those routes, and the same level is written into the OpenAPI document (`x-roles` on
//! each operation). `GET /api/v1/me` reads that document back to tell the UI what the
//! user may do, so neither the UI nor a path-matching table keeps a second copy of the
//! rules.
//!
//! A manager passes the gate only on routes whose handlers then check the PC or group
//! (`Principal::check_pc`, `check_group`) or filter their rows (`visible_pcs`): the gate
//! says which routes, the handler says which rows.

use axum::{
    Extension,
    extract::Request,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use super::{ApiError, ApiState, principal::Principal};
use crate::auth::Role;

pub type ApiRouter = OpenApiRouter<std::sync::Arc<ApiState>>;

/// The roles a route admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone logged in (who am I, log out).
    Anyone,
    /// Office-wide reads: admins and auditors.
    Read,
    /// Reads a manager may make too: the handler limits them to their department.
    ScopedRead,
    /// Changes a manager may make too, inside their department (checked by the handler).
    ScopedChange,
    /// Admins only.
    Admin,
}

impl Access {
    pub fn admits(self, role: Role) -> bool {
        match self {
            Access::Anyone | Access::ScopedRead => true,
            Access::Read => role != Role::Manager,
            Access::ScopedChange => role != Role::Auditor,
            Access::Admin => role == Role::Admin,
        }
    }

    fn roles(self) -> Vec<&'static str> {
        [Role::Admin, Role::Auditor, Role::Manager]
            .into_iter()
            .filter(|r| self.admits(*r))
            .map(Role::as_str)
            .collect()
    }
}

/// The OpenAPI extension carrying a route's roles.
const ROLES: &str = "x-roles";

/// Routes admitting `access`: a router of their own with the role check as its
/// `route_layer` (it runs after `session::authenticate` put the caller in the request),
/// and their operations marked with the roles.
pub fn gate(access: Access, routes: UtoipaMethodRouter<std::sync::Arc<ApiState>>) -> ApiRouter {
    let mut r = OpenApiRouter::new()
        .routes(routes)
        .route_layer(middleware::from_fn(move |req: Request, next: Next| {
            check(access, req, next)
        }));
    for item in r.get_openapi_mut().paths.paths.values_mut() {
        for op in operations_mut(item) {
            let ext = op.extensions.get_or_insert_with(Default::default);
            ext.insert(ROLES.into(), serde_json::json!(access.roles()));
        }
    }
    r
}

async fn check(access: Access, req: Request, next: Next) -> Response {
    let role = req.extensions().get::<Principal>().map(|p| p.role);
    match role {
        Some(role) if access.admits(role) => next.run(req).await,
        Some(role) => {
            ApiError::forbidden(format!("a {} may not do this", role.as_str())).into_response()
        }
        // `authenticate` runs before every gated route; reaching here without a caller
        // means the layers were put together wrongly: refuse rather than serve.
        None => ApiError::Unauthorized("log in first".into()).into_response(),
    }
}

fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Every `METHOD /path/template` of the document a role may call, sorted: what `/me`
/// sends as `may`.
pub fn may(doc: &OpenApi, role: Role) -> Vec<String> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            let admits = op
                .extensions
                .as_ref()
                .and_then(|e| e.get(ROLES))
                .and_then(|v| v.as_array())
                .is_some_and(|roles| roles.iter().any(|r| r == role.as_str()));
            if admits {
                out.push(format!("{method} {path}"));
            }
        }
    }
    out.sort();
    out
}

/// What `/me` needs from the assembled router: the document with its roles.
#[derive(Clone)]
pub struct Doc(pub std::sync::Arc<OpenApi>);

/// The document as a layer's extension, for `/me` and `/openapi.json`.
pub fn doc_extension(doc: OpenApi) -> Extension<Doc> {
    Extension(Doc(std::sync::Arc::new(doc)))
}
