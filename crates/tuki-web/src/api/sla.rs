//! Service levels: business calendars, SLA policies and escalation rules
//! (administrators only), and a ticket's clocks, events and tier metrics.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tuki_store::sla::{
    Calendar, CalendarInput, EscalationRule, EscalationRuleInput, PolicyInput, SlaPolicy,
    TicketMetrics, TicketSla,
};

use crate::error::{ApiResult, AppError, ErrorBody};
use crate::extract::{id, ApiJson, Auth};
use crate::AppState;
use tuki_store::sla::{Calendars, EscalationRules, Policies};

/// Business calendars: time zone, weekly working hours and holidays.
#[utoipa::path(get, path = "/api/v1/sla/calendars", tag = "service levels", security(("token" = [])),
    responses((status = 200, body = Vec<Calendar>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_calendars(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<Calendar>>> {
    Ok(Json(s.store.list::<Calendars>(&actor).await?))
}

#[utoipa::path(post, path = "/api/v1/sla/calendars", tag = "service levels", security(("token" = [])), request_body = CalendarInput,
    responses((status = 201, body = Calendar), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_calendar(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<CalendarInput>,
) -> ApiResult<(StatusCode, Json<Calendar>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.store.create::<Calendars>(&actor, body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/sla/calendars/{id}", tag = "service levels", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Calendar), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_calendar(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Calendar>> {
    Ok(Json(s.store.get::<Calendars>(&actor, id(&raw)?).await?))
}

/// Replaces the whole calendar.
#[utoipa::path(put, path = "/api/v1/sla/calendars/{id}", tag = "service levels", security(("token" = [])),
    params(("id" = i64, Path)), request_body = CalendarInput,
    responses((status = 200, body = Calendar), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_calendar(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<CalendarInput>,
) -> ApiResult<Json<Calendar>> {
    Ok(Json(
        s.store
            .replace::<Calendars>(&actor, id(&raw)?, body)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/sla/calendars/{id}", tag = "service levels", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "still in use")))]
pub async fn delete_calendar(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    s.store.delete::<Calendars>(&actor, id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// SLA policies, asked in position order; the first whose conditions hold is a new ticket's.
#[utoipa::path(get, path = "/api/v1/sla/policies", tag = "service levels", security(("token" = [])),
    responses((status = 200, body = Vec<SlaPolicy>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_policies(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<SlaPolicy>>> {
    Ok(Json(s.store.list::<Policies>(&actor).await?))
}

#[utoipa::path(post, path = "/api/v1/sla/policies", tag = "service levels", security(("token" = [])), request_body = PolicyInput,
    responses((status = 201, body = SlaPolicy), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_policy(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<PolicyInput>,
) -> ApiResult<(StatusCode, Json<SlaPolicy>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.store.create::<Policies>(&actor, body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/sla/policies/{id}", tag = "service levels", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = SlaPolicy), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_policy(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<SlaPolicy>> {
    Ok(Json(s.store.get::<Policies>(&actor, id(&raw)?).await?))
}

/// Replaces the whole policy.
#[utoipa::path(put, path = "/api/v1/sla/policies/{id}", tag = "service levels", security(("token" = [])),
    params(("id" = i64, Path)), request_body = PolicyInput,
    responses((status = 200, body = SlaPolicy), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_policy(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<PolicyInput>,
) -> ApiResult<Json<SlaPolicy>> {
    Ok(Json(
        s.store.replace::<Policies>(&actor, id(&raw)?, body).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/sla/policies/{id}", tag = "service levels", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "still in use")))]
pub async fn delete_policy(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    s.store.delete::<Policies>(&actor, id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Escalation rules: what happens when a target is close to or past its due time.
#[utoipa::path(get, path = "/api/v1/sla/escalation-rules", tag = "service levels", security(("token" = [])),
    responses((status = 200, body = Vec<EscalationRule>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_escalation_rules(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<EscalationRule>>> {
    Ok(Json(s.store.list::<EscalationRules>(&actor).await?))
}

#[utoipa::path(post, path = "/api/v1/sla/escalation-rules", tag = "service levels", security(("token" = [])), request_body = EscalationRuleInput,
    responses((status = 201, body = EscalationRule), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_escalation_rule(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<EscalationRuleInput>,
) -> ApiResult<(StatusCode, Json<EscalationRule>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.store.create::<EscalationRules>(&actor, body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/sla/escalation-rules/{id}", tag = "service levels", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = EscalationRule), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_escalation_rule(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<EscalationRule>> {
    Ok(Json(
        s.store.get::<EscalationRules>(&actor, id(&raw)?).await?,
    ))
}

/// Replaces the whole escalation rule.
#[utoipa::path(put, path = "/api/v1/sla/escalation-rules/{id}", tag = "service levels", security(("token" = [])),
    params(("id" = i64, Path)), request_body = EscalationRuleInput,
    responses((status = 200, body = EscalationRule), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_escalation_rule(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<EscalationRuleInput>,
) -> ApiResult<Json<EscalationRule>> {
    Ok(Json(
        s.store
            .replace::<EscalationRules>(&actor, id(&raw)?, body)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/sla/escalation-rules/{id}", tag = "service levels", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "still in use")))]
pub async fn delete_escalation_rule(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    s.store.delete::<EscalationRules>(&actor, id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The ticket's SLA: its policy, each clock as of now and every start,
/// pause, resume, warning, breach and fulfilment.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/sla", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = TicketSla), (status = 404, body = ErrorBody)))]
pub async fn ticket_sla(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<TicketSla>> {
    Ok(Json(s.store.ticket_sla(&actor, id(&raw)?).await?))
}

/// Tier metrics recorded when the ticket was resolved: first-contact
/// resolution, transfers, time in each tier. 404 until it is resolved.
/// Staff only.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/metrics", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = TicketMetrics), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn ticket_metrics(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<TicketMetrics>> {
    s.store
        .ticket_metrics(&actor, id(&raw)?)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}
