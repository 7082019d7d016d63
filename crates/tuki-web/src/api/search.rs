//! Full-text search: tickets by relevance with snippets, and for staff the
//! people and organisations that match.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use tuki_domain::ticket::{Priority, TicketState};
use tuki_store::search::{SearchRequest, SearchResults};
use tuki_store::tickets::TicketFilter;
use utoipa::IntoParams;

use super::tickets::{instant, list_of};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Auth};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The words to find, in Finnish or English: every word must match
    /// (any form of it: "tulostin" finds "tulostimen"); the last also as
    /// the start of a word unless the query ends in a space. When no
    /// ticket holds every word, those holding some are given (`relaxed`).
    #[param(min_length = 1, max_length = 200)]
    pub q: String,
    /// Comma-separated states, e.g. `resolved,closed`.
    #[param(
        pattern = r"^(|(new|open|pending_customer|pending_third_party|resolved|closed)(,(new|open|pending_customer|pending_third_party|resolved|closed))*)$"
    )]
    pub state: Option<String>,
    pub group_id: Option<i64>,
    pub organisation_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub requester_id: Option<i64>,
    /// Comma-separated priorities.
    #[param(pattern = r"^(|(low|normal|high|urgent)(,(low|normal|high|urgent))*)$")]
    pub priority: Option<String>,
    pub tag: Option<String>,
    /// Only tickets created at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    pub created_from: Option<String>,
    /// Only tickets created before this instant (RFC 3339).
    #[param(format = DateTime)]
    pub created_before: Option<String>,
    /// Also people and organisations (staff; default `true`).
    pub customers: Option<bool>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Results to skip, 0–10,000.
    #[param(minimum = 0, maximum = 10000)]
    pub offset: Option<i64>,
}

/// Searches tickets (subject, number, tags, the articles the caller may
/// read, the requester's name and email) and, for staff, people and
/// organisations. Customers find only their own (or their organisation's)
/// tickets, never by an internal note.
#[utoipa::path(get, path = "/search", tag = "search", security(("token" = [])), params(SearchParams),
    responses((status = 200, body = SearchResults), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn search(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    let (limit, offset) = super::ranked_page(p.limit, p.offset)?;
    let request = SearchRequest {
        q: p.q,
        filter: TicketFilter {
            states: list_of("state", p.state.as_deref(), TicketState::parse)?,
            group_id: p.group_id,
            organisation_id: p.organisation_id,
            owner_id: p.owner_id,
            requester_id: p.requester_id,
            priorities: list_of("priority", p.priority.as_deref(), Priority::parse)?,
            tag: p.tag,
            created_from: instant("created_from", p.created_from.as_deref())?,
            created_before: instant("created_before", p.created_before.as_deref())?,
            limit,
            ..Default::default()
        },
        offset,
        customers: p.customers.unwrap_or(true),
    };
    Ok(Json(s.store.search(&actor, &request).await?))
}
