//! Background jobs, for administrators: what is waiting, running, done or
//! failed, with attempts and the last error.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use tuki_store::jobs::{Job, JobFilter, JobStatus};
use utoipa::IntoParams;

use crate::error::{ApiResult, AppError, ErrorBody};
use crate::extract::{ApiQuery, Auth};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// `pending`, `running`, `done` or `failed`.
    #[param(pattern = r"^(|(pending|running|done|failed))$")]
    pub status: Option<String>,
    /// Only jobs of this kind, e.g. `sla_check`.
    pub kind: Option<String>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Jobs, newest first. Administrators only.
#[utoipa::path(get, path = "/jobs", tag = "system", security(("token" = [])), params(JobQuery),
    responses((status = 200, body = Vec<Job>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list_jobs(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> ApiResult<Json<Vec<Job>>> {
    let status = match q.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("pending") => Some(JobStatus::Pending),
        Some("running") => Some(JobStatus::Running),
        Some("done") => Some(JobStatus::Done),
        Some("failed") => Some(JobStatus::Failed),
        Some(_) => {
            return Err(AppError::invalid(
                "status",
                "must be one of: pending, running, done, failed",
            ))
        }
    };
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=500).contains(&n) => n,
        Some(_) => return Err(AppError::invalid("limit", "must be between 1 and 500")),
    };
    Ok(Json(
        s.store
            .jobs(
                &actor,
                &JobFilter {
                    status,
                    kind: q.kind,
                    limit,
                },
            )
            .await?,
    ))
}
