//! What customers read (`/help`): published public articles, searchable,
//! also without signing in where the desk allows it; helpful/not helpful;
//! and, while a customer writes a new request in the portal, the articles
//! that match it, with "This solved my problem", which ends the request
//! before it is filed and is counted.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use tuki_domain::access::Actor;
use tuki_store::knowledge::{ArticleFilter, Feedback};
use tuki_store::search::ArticleSearch;
use tuki_store::StoreError;

use super::super::auth::{csrf_matches, MaybeViewer, Posted, Viewer};
use super::super::i18n::{self, Lang};
use super::super::render::{render, PageError, PageResult};
use super::{hit_rows, row, sections};
use crate::AppState;

/// Articles a suggestion shows.
const SUGGESTED: i64 = 3;

/// Who reads: a customer as themselves; staff and people not signed in as
/// the public (staff see here what customers see).
fn reader(v: &Option<Viewer>) -> Option<&Actor> {
    v.as_ref().map(|v| &v.actor).filter(|a| !a.is_staff())
}

fn lang_of(v: &Option<Viewer>, headers: &HeaderMap) -> Lang {
    v.as_ref()
        .map(|v| v.lang)
        .unwrap_or_else(|| Lang::from_headers(headers))
}

/// Whether this reader may open the help pages: signed in, or the desk
/// lets anyone read its public articles. Otherwise, the sign-in page.
async fn admitted(
    state: &AppState,
    v: &Option<Viewer>,
    lang: Lang,
    back: &str,
) -> Result<Option<Response>, PageError> {
    if v.is_some() {
        return Ok(None);
    }
    let settings = state
        .store
        .knowledge_settings()
        .await
        .map_err(|e| PageError::store(lang, e))?;
    if settings.public_without_sign_in {
        return Ok(None);
    }
    let next = form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>();
    Ok(Some(
        Redirect::to(&format!("/login?next={next}")).into_response(),
    ))
}

/// The context every help page has: the reader (if signed in) and the
/// page's language.
fn page_ctx(v: &Option<Viewer>, lang: Lang, extra: minijinja::Value) -> minijinja::Value {
    match v {
        Some(v) => v.ctx(context! { signed_in => true, ..extra }),
        None => context! { lang => lang.code(), signed_in => false, ..extra },
    }
}

#[derive(Deserialize, Default)]
pub struct HelpQuery {
    q: Option<String>,
}

/// `/help`: public articles, the latest or those matching the words.
pub async fn list(
    State(state): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    headers: HeaderMap,
    Query(hq): Query<HelpQuery>,
) -> PageResult {
    let lang = lang_of(&v, &headers);
    if let Some(r) = admitted(&state, &v, lang, "/help").await? {
        return Ok(r);
    }
    let q = hq.q.unwrap_or_default();
    let filter = ArticleFilter {
        limit: 30,
        ..Default::default()
    };
    let mut error = None;
    let rows = if q.trim().is_empty() {
        state
            .store
            .knowledge_articles(reader(&v), &filter)
            .await
            .map_err(|e| PageError::store(lang, e))?
            .iter()
            .map(|a| row(lang, a, None))
            .collect()
    } else {
        let search = ArticleSearch {
            q: q.clone(),
            filter,
        };
        match state.store.search_articles(reader(&v), &search).await {
            Ok(hits) => hit_rows(lang, &hits),
            Err(StoreError::Invalid(_)) => {
                error = Some(i18n::t(lang, "search.bad_query"));
                Vec::new()
            }
            Err(e) => return Err(PageError::store(lang, e)),
        }
    };
    Ok(render(
        "help.html",
        page_ctx(
            &v,
            lang,
            context! { q => q, rows => rows, error => error, searched => true },
        ),
    ))
}

/// `/help/{id}`: a public article, with helpful / not helpful.
pub async fn article(
    State(state): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> PageResult {
    let lang = lang_of(&v, &headers);
    if let Some(r) = admitted(&state, &v, lang, &format!("/help/{id}")).await? {
        return Ok(r);
    }
    let a = state
        .store
        .knowledge_article(reader(&v), id)
        .await
        .map_err(|e| PageError::store(lang, e))?;
    state
        .store
        .record_knowledge_view(reader(&v), id)
        .await
        .map_err(|e| PageError::store(lang, e))?;
    let files = state
        .store
        .knowledge_files(reader(&v), id)
        .await
        .map_err(|e| PageError::store(lang, e))?;
    Ok(render(
        "help_article.html",
        page_ctx(
            &v,
            lang,
            context! {
                files => super::file_rows(&files),
                a => row(lang, &a, None),
                text => sections(&a),
                translations => a.translations.iter().map(|t| context! {
                    id => t.id, language => t.language.as_str(), title => &t.title,
                }).collect::<Vec<_>>(),
            },
        ),
    ))
}

/// Whether a form without a session came from Tuki's own pages: browsers
/// say so (`Sec-Fetch-Site`, or an `Origin` naming this host). A session's
/// forms carry their CSRF token instead.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|h| h.to_str().ok()) {
        return site == "same-origin";
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    match (headers.get(axum::http::header::ORIGIN), host) {
        (Some(origin), Some(host)) => origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(_, h)| h == host),
        _ => false,
    }
}

#[derive(Deserialize)]
pub struct FeedbackForm {
    helpful: String,
    csrf: Option<String>,
}

/// Helpful or not, from a reader of `/help/{id}` (signed in or not).
pub async fn feedback(
    State(state): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<FeedbackForm>,
) -> PageResult {
    let lang = lang_of(&v, &headers);
    let genuine = match &v {
        Some(v) => csrf_matches(v, f.csrf.as_deref()),
        None => same_origin(&headers),
    };
    if !genuine {
        return Ok(super::super::auth::csrf_refused(lang));
    }
    if let Some(r) = admitted(&state, &v, lang, &format!("/help/{id}")).await? {
        return Ok(r);
    }
    let helpful = f.helpful == "yes";
    // Staff vote as themselves, also here.
    let voter = v.as_ref().map(|v| &v.actor);
    state
        .store
        .knowledge_feedback(voter, id, Feedback { helpful })
        .await
        .map_err(|e| PageError::store(lang, e))?;
    Ok(Redirect::to(&format!("/help/{id}?thanks=1")).into_response())
}

#[derive(Deserialize, Default)]
pub struct SuggestQuery {
    subject: Option<String>,
    body: Option<String>,
}

/// `/portal/new/suggest`: articles matching what the customer is writing
/// (loaded by the new-request form as they type).
pub async fn suggest(
    State(state): State<AppState>,
    v: Viewer,
    Query(sq): Query<SuggestQuery>,
) -> PageResult {
    let text = format!(
        "{} {}",
        sq.subject.unwrap_or_default(),
        sq.body.unwrap_or_default()
    );
    let reader = Some(&v.actor).filter(|a| !a.is_staff());
    let hits = state
        .store
        .suggest_articles(reader, &text, SUGGESTED)
        .await
        .map_err(|e| v.err(e))?;
    Ok(render(
        "help_suggest.html",
        v.ctx(context! { rows => hit_rows(v.lang, &hits) }),
    ))
}

/// "This solved my problem": the request is not filed; counted.
pub async fn solved(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    let reader = Some(&v.actor).filter(|a| !a.is_staff());
    state
        .store
        .record_deflection(reader, id, "portal")
        .await
        .map_err(|e| v.err(e))?;
    Ok(Redirect::to("/portal?solved=1").into_response())
}
