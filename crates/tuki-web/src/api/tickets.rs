//! Tickets and their articles.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tuki_domain::sla::SlaState;
use tuki_domain::ticket::{Priority, TicketState};
use tuki_store::tickets::articles::{Article, NewArticle};
use tuki_store::tickets::{NewTicket, Ticket, TicketFilter, TicketPage, TicketPatch, TicketSort};
use utoipa::IntoParams;

use super::limit;
use crate::error::{ApiResult, AppError, ErrorBody};
use crate::extract::{id, ApiJson, ApiQuery, Auth};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// Comma-separated states, e.g. `new,open`.
    #[param(
        pattern = r"^(|(new|open|pending_customer|pending_third_party|resolved|closed)(,(new|open|pending_customer|pending_third_party|resolved|closed))*)$"
    )]
    pub state: Option<String>,
    /// `true`: only tickets not yet resolved or closed.
    pub active: Option<bool>,
    pub group_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// `true`: only tickets without an owner.
    pub unassigned: Option<bool>,
    pub requester_id: Option<i64>,
    pub organisation_id: Option<i64>,
    /// Comma-separated priorities, e.g. `high,urgent`.
    #[param(pattern = r"^(|(low|normal|high|urgent)(,(low|normal|high|urgent))*)$")]
    pub priority: Option<String>,
    pub tag: Option<String>,
    /// Words to find (full text: subject, number, tags, the articles the
    /// caller may read, the requester's name and email; see `/search`), or
    /// a part of the subject.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only tickets created at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    pub created_from: Option<String>,
    /// Only tickets created before this instant (RFC 3339).
    #[param(format = DateTime)]
    pub created_before: Option<String>,
    /// `true`: only active tickets with an SLA clock running towards a due
    /// time; combine with `sort=due` for the at-risk queue.
    pub at_risk: Option<bool>,
    /// Comma-separated overall SLA states, e.g. `warned,breached`.
    #[param(
        pattern = r"^(|(running|paused|warned|breached|met)(,(running|paused|warned|breached|met))*)$"
    )]
    pub sla_state: Option<String>,
    /// `-created` (default), `created`, `-priority`, `priority`, `-updated`,
    /// `updated`, `due` (earliest SLA due time first).
    #[param(pattern = r"^(|(-created|created|-priority|priority|-updated|updated|due))$")]
    pub sort: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// An instant from a query parameter (RFC 3339), naming the field when it
/// is not one.
pub(crate) fn instant(field: &str, raw: Option<&str>) -> ApiResult<Option<jiff::Timestamp>> {
    raw.map(|r| {
        r.parse::<jiff::Timestamp>().map_err(|_| {
            AppError::invalid(
                field,
                "must be an instant like 2026-12-01T08:00:00Z (RFC 3339)",
            )
        })
    })
    .transpose()
}

pub(crate) fn list_of<T>(
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str, &str) -> Result<T, tuki_domain::ValidationError>,
) -> ApiResult<Vec<T>> {
    raw.map(|r| {
        r.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse(field, s).map_err(AppError::from))
            .collect()
    })
    .unwrap_or_else(|| Ok(Vec::new()))
}

#[utoipa::path(get, path = "/tickets", tag = "tickets", security(("token" = [])), params(TicketQuery),
    responses((status = 200, body = TicketPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_tickets(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<TicketQuery>,
) -> ApiResult<Json<TicketPage>> {
    let filter = TicketFilter {
        states: list_of("state", q.state.as_deref(), TicketState::parse)?,
        active: q.active,
        group_id: q.group_id,
        owner_id: q.owner_id,
        unassigned: q.unassigned.unwrap_or(false),
        requester_id: q.requester_id,
        organisation_id: q.organisation_id,
        priorities: list_of("priority", q.priority.as_deref(), Priority::parse)?,
        tag: q.tag,
        text: q.q,
        created_from: instant("created_from", q.created_from.as_deref())?,
        created_before: instant("created_before", q.created_before.as_deref())?,
        at_risk: q.at_risk.unwrap_or(false),
        sla_states: list_of("sla_state", q.sla_state.as_deref(), SlaState::parse)?,
        sort: q
            .sort
            .as_deref()
            .map(|s| TicketSort::parse("sort", s))
            .transpose()?
            .unwrap_or_default(),
        cursor: q.cursor,
        limit: limit(q.limit)?,
    };
    Ok(Json(s.store.tickets(&actor, &filter).await?))
}

/// Registers a request with its first article.
#[utoipa::path(post, path = "/tickets", tag = "tickets", security(("token" = [])), request_body = NewTicket,
    responses((status = 201, body = Ticket), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_ticket(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(new): ApiJson<NewTicket>,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    let t = s.store.create_ticket(&actor, new).await?;
    s.web.live.publish(&t);
    Ok((StatusCode::CREATED, Json(t)))
}

#[utoipa::path(get, path = "/tickets/{id}", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Ticket), (status = 404, body = ErrorBody)))]
pub async fn get_ticket(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(s.store.ticket(&actor, id(&raw)?).await?))
}

#[utoipa::path(get, path = "/tickets/by-number/{number}", tag = "tickets", security(("token" = [])),
    params(("number" = i64, Path)), responses((status = 200, body = Ticket), (status = 404, body = ErrorBody)))]
pub async fn get_ticket_by_number(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Ticket>> {
    let number = raw.trim_start_matches('#');
    Ok(Json(s.store.ticket_by_number(&actor, id(number)?).await?))
}

/// Changes subject, state, priority, category, owner or tags.
#[utoipa::path(patch, path = "/tickets/{id}", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), request_body = TicketPatch,
    responses((status = 200, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the state machine forbids this transition"),
        (status = 422, body = ErrorBody)))]
pub async fn update_ticket(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(patch): ApiJson<TicketPatch>,
) -> ApiResult<Json<Ticket>> {
    let t = s.store.update_ticket(&actor, id(&raw)?, patch).await?;
    s.web.live.publish(&t);
    Ok(Json(t))
}

/// The ticket's articles, oldest first; customers see only public ones.
#[utoipa::path(get, path = "/tickets/{id}/articles", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Vec<Article>), (status = 404, body = ErrorBody)))]
pub async fn list_articles(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<Article>>> {
    Ok(Json(s.store.articles(&actor, id(&raw)?).await?))
}

/// Adds a public reply, an internal note or a phone note.
#[utoipa::path(post, path = "/tickets/{id}/articles", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), request_body = NewArticle,
    responses((status = 201, body = Article), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_article(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(new): ApiJson<NewArticle>,
) -> ApiResult<(StatusCode, Json<Article>)> {
    let a = s.store.add_article(&actor, id(&raw)?, new).await?;
    crate::pages::live::changed(&s, a.ticket_id).await;
    Ok((StatusCode::CREATED, Json(a)))
}
