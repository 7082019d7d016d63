//! Search pages: the console's search over tickets, people and
//! organisations (the box at the top of every console page), and the
//! portal's search of a customer's own requests.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::ticket::TicketState;
use tuki_store::search::{SearchRequest, SearchResults, TicketHit};
use tuki_store::tickets::TicketFilter;
use tuki_store::StoreError;

use crate::pages::auth::Viewer;
use crate::pages::i18n::{self, Lang};
use crate::pages::render::{render, when, PageResult};
use crate::AppState;

const PER_PAGE: i64 = 20;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    q: Option<String>,
    /// `active`, `done` (resolved or closed) or empty for any.
    state: Option<String>,
    group: Option<String>,
    /// Dates (YYYY-MM-DD) in the desk's time zone, both included.
    from: Option<String>,
    to: Option<String>,
    page: Option<i64>,
}

/// The start of a day in Finland (the desk's home), from a date input.
fn day_start(
    lang: Lang,
    field: &str,
    raw: Option<&str>,
    plus_days: i64,
) -> Result<Option<jiff::Timestamp>, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let bad = || i18n::tf(lang, "search.bad_date", &[("field", &i18n::t(lang, field))]);
    let date: jiff::civil::Date = raw.parse().map_err(|_| bad())?;
    let day = date
        .checked_add(jiff::Span::new().days(plus_days))
        .map_err(|_| bad())?;
    let zoned = day
        .to_zoned(jiff::tz::TimeZone::get("Europe/Helsinki").unwrap_or(jiff::tz::TimeZone::UTC))
        .map_err(|_| bad())?;
    Ok(Some(zoned.timestamp()))
}

/// A request's results as the templates show them.
fn hits(found: &[TicketHit]) -> Vec<Value> {
    found
        .iter()
        .map(|h| {
            context! {
                number => h.ticket.number,
                subject => &h.ticket.subject,
                state => h.ticket.state.as_str(),
                requester => &h.requester_name,
                updated => when(h.ticket.updated_at),
                snippet => Value::from_serialize(&h.snippet),
            }
        })
        .collect()
}

/// What a search was asked and what it found, or why it could not run.
struct Outcome {
    results: Option<SearchResults>,
    error: Option<String>,
}

async fn run(state: &AppState, v: &Viewer, request: SearchRequest) -> Result<Outcome, StoreError> {
    match state.store.search(&v.actor, &request).await {
        Ok(r) => Ok(Outcome {
            results: Some(r),
            error: None,
        }),
        Err(StoreError::Invalid(_)) => Ok(Outcome {
            results: None,
            error: Some(i18n::t(v.lang, "search.bad_query")),
        }),
        Err(e) => Err(e),
    }
}

/// `/agent/search`: every ticket the agent may see, with people and
/// organisations.
pub async fn agent(
    State(state): State<AppState>,
    v: Viewer,
    Query(sq): Query<SearchQuery>,
) -> PageResult {
    if !v.is_staff() {
        return Ok(Redirect::to("/portal").into_response());
    }
    let groups = state.store.groups(&v.actor).await.map_err(|e| v.err(e))?;
    let q = sq.q.clone().unwrap_or_default();
    let group = sq.group.as_deref().and_then(|g| g.parse::<i64>().ok());
    let page = sq.page.unwrap_or(0).clamp(0, 500);
    let mut error = None;
    let from = day_start(v.lang, "search.from", sq.from.as_deref(), 0).unwrap_or_else(|e| {
        error = Some(e);
        None
    });
    let to = day_start(v.lang, "search.to", sq.to.as_deref(), 1).unwrap_or_else(|e| {
        error = Some(e);
        None
    });
    let states = match sq.state.as_deref() {
        Some("active") => vec![
            TicketState::New,
            TicketState::Open,
            TicketState::PendingCustomer,
            TicketState::PendingThirdParty,
        ],
        Some("done") => vec![TicketState::Resolved, TicketState::Closed],
        _ => Vec::new(),
    };
    let mut outcome = Outcome {
        results: None,
        error,
    };
    if !q.trim().is_empty() && outcome.error.is_none() {
        let request = SearchRequest {
            q: q.clone(),
            filter: TicketFilter {
                states,
                group_id: group,
                created_from: from,
                created_before: to,
                limit: PER_PAGE,
                ..Default::default()
            },
            offset: page * PER_PAGE,
            customers: true,
        };
        outcome = run(&state, &v, request).await.map_err(|e| v.err(e))?;
    }
    let side = super::console::sidebar(&state, &v, &groups)
        .await
        .map_err(|e| v.err(e))?;
    let found = outcome.results.as_ref();
    let ctx = v.ctx(context! {
        queues => side,
        queue => "",
        q => q,
        state => sq.state.unwrap_or_default(),
        group => group,
        from => sq.from.unwrap_or_default(),
        to => sq.to.unwrap_or_default(),
        groups => groups.iter().map(|g| context! { id => g.id, name => &g.name }).collect::<Vec<_>>(),
        error => outcome.error,
        searched => found.is_some(),
        hits => found.map(|r| hits(&r.tickets)).unwrap_or_default(),
        articles => found.map(|r| super::knowledge::hit_rows(v.lang, &r.articles)).unwrap_or_default(),
        customers => found.map(|r| Value::from_serialize(&r.customers)),
        more => found.is_some_and(|r| r.more),
        relaxed => found.is_some_and(|r| r.relaxed),
        page => page,
    });
    Ok(render("search.html", ctx))
}

/// The portal's search: the customer's own requests (and their
/// organisation's, where it shares them), never by internal notes.
pub(super) async fn portal(
    state: &AppState,
    v: &Viewer,
    q: &str,
) -> Result<(Vec<Value>, Option<String>), StoreError> {
    let request = SearchRequest {
        q: q.to_string(),
        filter: TicketFilter {
            limit: 50,
            ..Default::default()
        },
        offset: 0,
        customers: false,
    };
    let outcome = run(state, v, request).await?;
    Ok((
        outcome
            .results
            .as_ref()
            .map(|r| hits(&r.tickets))
            .unwrap_or_default(),
        outcome.error,
    ))
}

/// `/agent/tickets/{number}/similar`: knowledge articles about this
/// request and solved requests like it, for the ticket page's side (loaded
/// after the page, so it never slows it).
pub async fn similar(
    State(state): State<AppState>,
    v: Viewer,
    Path(number): Path<i64>,
) -> PageResult {
    if !v.is_staff() {
        return Ok(Redirect::to(&format!("/portal/tickets/{number}")).into_response());
    }
    let t = state
        .store
        .ticket_by_number(&v.actor, number)
        .await
        .map_err(|e| v.err(e))?;
    let found = state
        .store
        .similar_tickets(&v.actor, t.id, 5)
        .await
        .map_err(|e| v.err(e))?;
    let articles = state
        .store
        .suggest_articles_for_ticket(&v.actor, t.id, 3)
        .await
        .map_err(|e| v.err(e))?;
    Ok(render(
        "similar.html",
        v.ctx(context! {
            number => number,
            hits => hits(&found),
            articles => super::knowledge::hit_rows(v.lang, &articles),
        }),
    ))
}
