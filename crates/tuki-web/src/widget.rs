//! The help widget for the company's own website: one `<script>` tag
//! (`/widget.js`) that shows article search and a short request form on
//! the customer's site, and the small JSON API under `/widget/v1` it calls
//! across origins.
//!
//! - **Origins.** Only the websites an administrator listed
//!   (`KnowledgeSettings::widget_origins`) get an answer: CORS names the
//!   calling origin alone; any other origin, or a call without one, is a
//!   403. No cookie is read or set: the widget never acts as anyone.
//! - **Rate limits per address.** Every call counts against a per-minute
//!   limit on this server; a request (a new ticket) also against an hourly
//!   limit kept in the database, so it holds across servers.
//! - **Spam** is caught without a third-party service: a honeypot field
//!   and the time between showing the form and sending it
//!   (`tuki_domain::knowledge::widget_form_verdict`). A caught request
//!   gets the same answer as a filed one, so a robot learns nothing.
//! - Only published public articles are found or shown.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tuki_store::knowledge::{ArticleFilter, WidgetOutcome, WidgetRequest};
use tuki_store::search::ArticleSearch;

use crate::error::AppError;
use crate::pages::markdown::to_html_on;
use crate::AppState;

/// The widget's script, embedded.
const SCRIPT: &str = include_str!("../assets/widget.js");

/// Calls one address may make in a minute, on one server.
const CALLS_PER_MINUTE: u32 = 60;
/// Requests (new tickets) one address may send in an hour, on all servers.
const REQUESTS_PER_HOUR: i64 = 10;
const HOUR_MICROS: i64 = 3600 * 1_000_000;

/// The per-minute limiter: calls by address in the current minute. Kept
/// small: a sweep drops past minutes whenever it grows.
#[derive(Clone, Default)]
pub struct WidgetLimiter {
    calls: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
}

impl WidgetLimiter {
    /// Counts a call of `key`; false when the limit is reached.
    fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        if calls.len() > 10_000 {
            calls.retain(|_, (start, _)| now.duration_since(*start) < minute);
        }
        let entry = calls.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= minute {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= CALLS_PER_MINUTE
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/widget.js", get(script))
        .route("/widget/v1/articles", get(search).options(preflight))
        .route("/widget/v1/articles/{id}", get(article).options(preflight))
        .route(
            "/widget/v1/articles/{id}/solved",
            post(solved).options(preflight),
        )
        .route("/widget/v1/forms", post(form).options(preflight))
        .route("/widget/v1/requests", post(request).options(preflight))
}

/// `/widget.js`: the script a website includes.
async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            // Any site may load the script; only listed ones get answers.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// An answer to the widget on an allowed origin.
fn answer(origin: &HeaderValue, status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    r
}

/// An error as the API writes it, readable by the widget's page.
fn refusal(origin: &HeaderValue, e: AppError) -> Response {
    let mut r = e.into_response();
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    r
}

/// The calling website, if the desk lets it use the widget; otherwise the
/// 403 to give (no CORS header: the browser keeps it from the page).
async fn admitted(state: &AppState, headers: &HeaderMap) -> Result<HeaderValue, Response> {
    let refused = |why: &str| {
        AppError::Store(tuki_store::StoreError::forbidden(why.to_string())).into_response()
    };
    let Some(origin) = headers.get(header::ORIGIN).cloned() else {
        return Err(refused("the widget answers websites only (no Origin)"));
    };
    let settings = state
        .store
        .knowledge_settings()
        .await
        .map_err(|e| AppError::Store(e).into_response())?;
    let listed = origin
        .to_str()
        .is_ok_and(|o| settings.widget_origins.iter().any(|w| w == o));
    if listed {
        Ok(origin)
    } else {
        Err(refused("this website may not use the help widget"))
    }
}

/// The address the call came from (the server records it per connection).
struct Peer(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The limiter's key of a call.
fn client(peer: Peer, headers: &HeaderMap) -> String {
    crate::pages::auth::client_key_of(peer.0, headers).unwrap_or_else(|| "unknown".into())
}

/// Origin and per-minute limit, checked for every call.
async fn gate(state: &AppState, headers: &HeaderMap, key: &str) -> Result<HeaderValue, Response> {
    let origin = admitted(state, headers).await?;
    if !state.web.widget.allow(key) {
        let mut r = refusal(&origin, AppError::TooManyRequests);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return Err(r);
    }
    Ok(origin)
}

/// The browser's question before a cross-origin POST with JSON.
async fn preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match admitted(&state, &headers).await {
        Ok(origin) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Content-Type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
            r
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
}

/// Public articles matching the words, or the latest.
async fn search(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Query(p): Query<SearchParams>,
) -> Response {
    let origin = match gate(&state, &headers, &client(peer, &headers)).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let filter = ArticleFilter {
        limit: 8,
        ..Default::default()
    };
    let found = match p.q.filter(|q| !q.trim().is_empty()) {
        Some(q) => state
            .store
            .search_articles(None, &ArticleSearch { q, filter })
            .await
            .map(|hits| {
                hits.into_iter()
                    .map(|h| (h.article, Some(h.snippet)))
                    .collect::<Vec<_>>()
            }),
        None => state
            .store
            .knowledge_articles(None, &filter)
            .await
            .map(|a| a.into_iter().map(|a| (a, None)).collect()),
    };
    match found {
        Ok(found) => {
            let items: Vec<_> = found
                .iter()
                .map(|(a, snippet)| {
                    json!({
                        "id": a.id,
                        "title": a.title,
                        "language": a.language,
                        "snippet": snippet.as_ref().map(|s| s.iter().map(|p| p.text.as_str()).collect::<String>()),
                    })
                })
                .collect();
            answer(&origin, StatusCode::OK, json!({ "articles": items }))
        }
        Err(e) => refusal(&origin, AppError::Store(e)),
    }
}

/// One public article, its sections as safe HTML.
async fn article(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let origin = match gate(&state, &headers, &client(peer, &headers)).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let shown = async {
        let id = crate::extract::id(&raw)?;
        let a = state.store.knowledge_article(None, id).await?;
        state.store.record_knowledge_view(None, id).await?;
        Ok::<_, AppError>(a)
    }
    .await;
    match shown {
        Ok(a) => {
            // The article's own images and links point back at the desk.
            let base = crate::pages::console::base_url(&headers);
            answer(
                &origin,
                StatusCode::OK,
                json!({
                    "id": a.id,
                    "title": a.title,
                    "symptom_html": to_html_on(&a.symptom, &base),
                    "cause_html": to_html_on(&a.cause, &base),
                    "solution_html": to_html_on(&a.solution, &base),
                }),
            )
        }
        Err(e) => refusal(&origin, e),
    }
}

/// "This solved my problem" in the widget.
async fn solved(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let origin = match gate(&state, &headers, &client(peer, &headers)).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let done = async {
        let id = crate::extract::id(&raw)?;
        state.store.record_deflection(None, id, "widget").await?;
        Ok::<_, AppError>(())
    }
    .await;
    match done {
        Ok(()) => answer(&origin, StatusCode::OK, json!({ "counted": true })),
        Err(e) => refusal(&origin, e),
    }
}

/// A request form is shown: its token.
async fn form(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> Response {
    let origin = match gate(&state, &headers, &client(peer, &headers)).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    match state.store.widget_form().await {
        Ok(token) => answer(&origin, StatusCode::CREATED, json!({ "token": token })),
        Err(e) => refusal(&origin, AppError::Store(e)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    name: String,
    email: String,
    subject: String,
    body: String,
    token: String,
    /// The honeypot: a field people do not see.
    #[serde(default)]
    website: String,
}

/// A request from the widget: a ticket on channel `web`, acknowledged by
/// mail; spam gets the same answer and files nothing.
async fn request(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let key = client(peer, &headers);
    let origin = match gate(&state, &headers, &key).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let parsed: RequestBody = match crate::extract::parse_json(&body) {
        Ok(b) => b,
        Err(e) => return refusal(&origin, e),
    };
    let limit_key = format!("widget:{key}");
    match state.store.attempts(&limit_key, HOUR_MICROS).await {
        Ok(n) if n >= REQUESTS_PER_HOUR => {
            let mut r = refusal(&origin, AppError::TooManyRequests);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("3600"));
            return r;
        }
        Ok(_) => {}
        Err(e) => return refusal(&origin, AppError::Store(e)),
    }
    let outcome = state
        .store
        .widget_request(WidgetRequest {
            name: parsed.name,
            email: parsed.email,
            subject: parsed.subject,
            body: parsed.body,
            token: parsed.token,
            honeypot: parsed.website,
        })
        .await;
    if let Err(e) = state.store.record_attempts(&[limit_key]).await {
        return refusal(&origin, AppError::Store(e));
    }
    match outcome {
        Ok(WidgetOutcome::Filed(t)) => {
            state.web.live.publish(&t);
            answer(&origin, StatusCode::CREATED, json!({ "received": true }))
        }
        Ok(WidgetOutcome::Refused(_)) => {
            answer(&origin, StatusCode::CREATED, json!({ "received": true }))
        }
        Err(e) => refusal(&origin, AppError::Store(e)),
    }
}
