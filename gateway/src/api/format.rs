//! What several resources share: the `format` switch (JSON or CSV) and the period of a
//! statistics query.

use axum::{
    Json,
    http::header,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::ApiError;
use crate::store;

#[derive(Debug, Deserialize, IntoParams)]
pub struct Format {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

pub fn csv_response<T: Serialize>(rows: &[T]) -> Result<Response, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(ApiError::internal)?;
    }
    let body = w.into_inner().map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
}

pub fn respond<T: Serialize>(rows: Vec<T>, format: &Format) -> Result<Response, ApiError> {
    match format.format.as_deref() {
        None | Some("json") => Ok(Json(rows).into_response()),
        Some("csv") => csv_response(&rows),
        Some(other) => Err(ApiError::bad(format!(
            "unknown format `{other}` (json, csv)"
        ))),
    }
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
