//! Service levels: business calendars, SLA policies and escalation rules
//! (administrators only), and a ticket's clocks, events and tier metrics.

use axum::extract::{Path, State};
use axum::Json;
use tuki_store::sla::{Calendars, EscalationRules, Policies, TicketMetrics, TicketSla};

use super::resource::ApiResource;
use crate::error::{ApiResult, AppError, ErrorBody};
use crate::extract::{id, Auth};
use crate::AppState;

impl ApiResource for Calendars {
    const PATH: &'static str = "/sla/calendars";
    const TAG: &'static str = "service levels";
    const ONE: &'static str = "calendar";
    const MANY: &'static str = "calendars";
    const ABOUT: &'static str = "Business calendars: time zone, weekly working hours and holidays.";
}

impl ApiResource for Policies {
    const PATH: &'static str = "/sla/policies";
    const TAG: &'static str = "service levels";
    const ONE: &'static str = "policy";
    const MANY: &'static str = "policies";
    const ABOUT: &'static str =
        "SLA policies, asked in position order; the first whose conditions hold is a new ticket's.";
}

impl ApiResource for EscalationRules {
    const PATH: &'static str = "/sla/escalation-rules";
    const TAG: &'static str = "service levels";
    const ONE: &'static str = "escalation_rule";
    const MANY: &'static str = "escalation_rules";
    const ABOUT: &'static str =
        "Escalation rules: what happens when a target is close to or past its due time.";
}

/// The ticket's SLA: its policy, each clock as of now and every start,
/// pause, resume, warning, breach and fulfilment.
#[utoipa::path(get, path = "/tickets/{id}/sla", tag = "tickets", security(("token" = [])),
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
#[utoipa::path(get, path = "/tickets/{id}/metrics", tag = "tickets", security(("token" = [])),
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
