//! The desk's files for administrators: what they take, where new ones go,
//! and which were found missing or damaged.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use tuki_store::files::{DamagedFile, Usage};
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Auth;
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct FilesOverview {
    pub usage: Usage,
    /// Newest finding first, at most 200.
    pub damaged: Vec<DamagedFile>,
}

/// What the desk's files take and which are damaged. Administrators only.
#[utoipa::path(get, path = "/files", tag = "system", security(("token" = [])),
    responses((status = 200, body = FilesOverview), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn files_overview(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<Json<FilesOverview>> {
    let (usage, damaged) = s.store.files_overview(&actor).await?;
    Ok(Json(FilesOverview { usage, damaged }))
}
