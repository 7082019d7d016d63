//! The phone channel: the CTI webhook a telephone system posts call events
//! to, the call log, caller look-up by number, and a request registered from
//! a call. The telephone system authenticates with the API token of a staff
//! user, like any other client.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tuki_store::phone::{Call, CallTicket, CallerLookup, CtiEvent};
use tuki_store::tickets::Ticket;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiResult, AppError, ErrorBody};
use crate::extract::{id, ApiJson, ApiQuery, Auth};
use crate::pages::live::CallSignal;
use crate::AppState;
use tuki_domain::access::Actor;

/// A call event from the telephone system (the shape of Zammad's generic
/// CTI API): `newCall` starts a call in the log, `answer` records who took
/// it, `hangup` ends it with its cause. Returns the call as logged.
#[utoipa::path(post, path = "/cti/events", tag = "phone", security(("token" = [])), request_body = CtiEvent,
    responses((status = 200, body = Call), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn cti_event(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<CtiEvent>,
) -> ApiResult<Json<Call>> {
    let event = body.event.clone();
    let group = body.group.clone();
    let call = s.store.cti_event(&actor, body).await?;
    announce(&s, &actor, &event, group.as_deref(), &call).await;
    Ok(Json(call))
}

/// Tells the consoles about a call that rings (`newCall`, incoming, not yet
/// ended) or ended (`hangup`), so that the pop-up shows or goes.
async fn announce(s: &AppState, actor: &Actor, event: &str, group: Option<&str>, call: &Call) {
    let ended = match event {
        "newCall" if call.direction == "in" && call.ended_at.is_none() => false,
        "hangup" => true,
        _ => return,
    };
    let group_id = match group.map(str::trim).filter(|g| !g.is_empty()) {
        Some(g) if !ended => match s.store.groups(actor).await {
            Ok(groups) => groups
                .iter()
                .find(|x| x.name.eq_ignore_ascii_case(g) || x.id.to_string() == g)
                .map(|x| x.id),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up the group of a call");
                None
            }
        },
        _ => None,
    };
    s.web
        .live
        .publish_call(
            &s.store,
            CallSignal {
                call_id: call.id,
                agent_id: call.agent_id,
                group_id,
                ended,
            },
        )
        .await;
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// The number, international form (`+358401234567` or `00358…`).
    #[param(min_length = 1, pattern = r"\S")]
    pub number: String,
}

/// Who is calling: the customer with this number and their open requests.
#[utoipa::path(get, path = "/calls/lookup", tag = "phone", security(("token" = [])), params(LookupQuery),
    responses((status = 200, body = CallerLookup), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn lookup(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> ApiResult<Json<CallerLookup>> {
    if q.number.trim().is_empty() {
        return Err(AppError::invalid("number", "is required"));
    }
    Ok(Json(s.store.lookup_caller(&actor, &q.number).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallsQuery {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The call log, newest first. Staff only.
#[utoipa::path(get, path = "/calls", tag = "phone", security(("token" = [])), params(CallsQuery),
    responses((status = 200, body = Vec<Call>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_calls(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<CallsQuery>,
) -> ApiResult<Json<Vec<Call>>> {
    let limit = super::limit(q.limit)?;
    Ok(Json(s.store.calls(&actor, limit).await?))
}

#[utoipa::path(get, path = "/calls/{id}", tag = "phone", security(("token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Call), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_call(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Call>> {
    Ok(Json(s.store.call(&actor, id(&raw)?).await?))
}

/// A request registered from a call, and the call now linked to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallTicketResult {
    pub ticket: Ticket,
    pub call: Call,
}

/// Registers a request from this call: the caller (or `requester_id`) is
/// the requester, the channel is phone, and the call is linked to it. The
/// body may be `{}`.
#[utoipa::path(post, path = "/calls/{id}/ticket", tag = "phone", security(("token" = [])), params(("id" = i64, Path)),
    request_body = CallTicket,
    responses((status = 201, body = CallTicketResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn call_ticket(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<CallTicket>,
) -> ApiResult<(StatusCode, Json<CallTicketResult>)> {
    let (ticket, call) = s.store.ticket_from_call(&actor, id(&raw)?, input).await?;
    Ok((StatusCode::CREATED, Json(CallTicketResult { ticket, call })))
}
