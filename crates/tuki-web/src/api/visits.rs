//! Site visits: planned from a ticket, moved, done or cancelled; a
//! technician's schedule; the secret address of their calendar feed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tuki_store::visits::{SiteVisit, SiteVisitInput};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{id, ApiJson, ApiQuery, Auth};
use crate::AppState;

/// A ticket's visits (staff).
#[utoipa::path(get, path = "/tickets/{id}/visits", tag = "visits", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Vec<SiteVisit>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn ticket_visits(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<SiteVisit>>> {
    Ok(Json(s.store.ticket_visits(&actor, id(&raw)?).await?))
}

/// Plans a site visit for the ticket: technician, time window, address,
/// what to bring.
#[utoipa::path(post, path = "/tickets/{id}/visits", tag = "visits", security(("token" = [])),
    params(("id" = i64, Path)), request_body = SiteVisitInput,
    responses((status = 201, body = SiteVisit), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn plan_visit(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<SiteVisitInput>,
) -> ApiResult<(StatusCode, Json<SiteVisit>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.store.plan_visit(&actor, id(&raw)?, body).await?),
    ))
}

/// One visit.
#[utoipa::path(get, path = "/visits/{id}", tag = "visits", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = SiteVisit), (status = 404, body = ErrorBody)))]
pub async fn get_visit(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<SiteVisit>> {
    Ok(Json(s.store.visit(&actor, id(&raw)?).await?))
}

/// Moves, reassigns, completes or cancels a visit; the technician's
/// calendar follows.
#[utoipa::path(put, path = "/visits/{id}", tag = "visits", security(("token" = [])),
    params(("id" = i64, Path)), request_body = SiteVisitInput,
    responses((status = 200, body = SiteVisit), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_visit(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<SiteVisitInput>,
) -> ApiResult<Json<SiteVisit>> {
    Ok(Json(s.store.update_visit(&actor, id(&raw)?, body).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScheduleParams {
    /// Whose schedule; defaults to the caller's (others': administrators).
    pub technician_id: Option<i64>,
}

/// A technician's visits from yesterday on.
#[utoipa::path(get, path = "/visits", tag = "visits", security(("token" = [])), params(ScheduleParams),
    responses((status = 200, body = Vec<SiteVisit>), (status = 403, body = ErrorBody)))]
pub async fn schedule(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(p): ApiQuery<ScheduleParams>,
) -> ApiResult<Json<Vec<SiteVisit>>> {
    let who = p.technician_id.or(actor.user_id).unwrap_or(0);
    let since = s.store.now() - jiff::SignedDuration::from_hours(24);
    Ok(Json(s.store.technician_visits(&actor, who, since).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeed {
    /// The secret address of the caller's visit calendar, to subscribe to in
    /// a calendar program. Shown once; a new one replaces it.
    pub url: String,
}

/// A new secret address for the caller's visit calendar (iCalendar).
#[utoipa::path(post, path = "/calendar-feed", tag = "visits", security(("token" = [])),
    responses((status = 201, body = CalendarFeed), (status = 403, body = ErrorBody)))]
pub async fn new_calendar_feed(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<(StatusCode, Json<CalendarFeed>)> {
    let token = s.store.new_calendar_feed(&actor).await?;
    Ok((
        StatusCode::CREATED,
        Json(CalendarFeed {
            url: format!("/calendar/{token}.ics"),
        }),
    ))
}
