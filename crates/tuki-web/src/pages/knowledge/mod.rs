//! The knowledge base in the console (`/agent/knowledge`): the list with
//! search and filters (overdue reviews among them), an article's page with
//! its rendered Markdown, translations, counts and feedback, its revisions
//! with a readable diff. Writing is `edit.rs`; the use of articles on the
//! ticket page is `at_work.rs`; what customers and the public read is
//! `help.rs`.

pub mod at_work;
pub mod edit;
pub mod help;
pub mod settings;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::directory::Language;
use tuki_domain::knowledge::ArticleState;
use tuki_store::knowledge::{ArticleFilter, Feedback, KnowledgeArticle};
use tuki_store::search::{ArticleHit, ArticleSearch};
use tuki_store::StoreError;

use super::auth::{Posted, Viewer};
use super::console::staff_only;
use super::i18n::{self, Lang};
use super::markdown::to_html;
use super::render::{render, when, PageResult};
use crate::AppState;

const PER_PAGE: i64 = 30;

/// An article as lists show it.
pub(crate) fn row(lang: Lang, a: &KnowledgeArticle, snippet: Option<Value>) -> Value {
    context! {
        id => a.id,
        title => &a.title,
        state => a.state.as_str(),
        visibility => a.visibility.as_str(),
        language => a.language.as_str(),
        owner => &a.owner_name,
        updated => when(a.updated_at),
        review_by => a.review_by.map(|r| day(lang, r)),
        overdue => a.review_overdue,
        views => a.views,
        uses => a.uses,
        helpful => a.helpful,
        not_helpful => a.not_helpful,
        deflections => a.deflections,
        products => &a.products,
        snippet => snippet,
    }
}

/// Hits as lists show them.
pub(crate) fn hit_rows(lang: Lang, hits: &[ArticleHit]) -> Vec<Value> {
    hits.iter()
        .map(|h| row(lang, &h.article, Some(Value::from_serialize(&h.snippet))))
        .collect()
}

/// A day in Finland (the desk's home), for review dates.
pub(crate) fn day(_lang: Lang, t: jiff::Timestamp) -> String {
    let tz = jiff::tz::TimeZone::get("Europe/Helsinki").unwrap_or(jiff::tz::TimeZone::UTC);
    t.to_zoned(tz).date().to_string()
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    state: Option<String>,
    language: Option<String>,
    /// `1`: published articles past their review date.
    overdue: Option<String>,
    page: Option<i64>,
}

/// `/agent/knowledge`: every article, or those matching the words typed.
pub async fn list(
    State(state): State<AppState>,
    v: Viewer,
    Query(lq): Query<ListQuery>,
) -> PageResult {
    if !v.is_staff() {
        return Ok(Redirect::to("/help").into_response());
    }
    let page = lq.page.unwrap_or(0).clamp(0, 500);
    let filter = ArticleFilter {
        state: lq
            .state
            .as_deref()
            .and_then(|s| ArticleState::parse("state", s).ok()),
        language: lq
            .language
            .as_deref()
            .and_then(|l| Language::parse("language", l).ok()),
        review_overdue: lq.overdue.as_deref() == Some("1"),
        limit: PER_PAGE + 1,
        offset: page * PER_PAGE,
        ..Default::default()
    };
    let q = lq.q.clone().unwrap_or_default();
    let mut error = None;
    let mut rows = if q.trim().is_empty() {
        let found = state
            .store
            .knowledge_articles(Some(&v.actor), &filter)
            .await
            .map_err(|e| v.err(e))?;
        found.iter().map(|a| row(v.lang, a, None)).collect()
    } else {
        let search = ArticleSearch {
            q: q.clone(),
            filter: filter.clone(),
        };
        match state.store.search_articles(Some(&v.actor), &search).await {
            Ok(hits) => hit_rows(v.lang, &hits),
            Err(StoreError::Invalid(_)) => {
                error = Some(i18n::t(v.lang, "search.bad_query"));
                Vec::new()
            }
            Err(e) => return Err(v.err(e)),
        }
    };
    let more = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    let groups = state.store.groups(&v.actor).await.map_err(|e| v.err(e))?;
    let side = super::console::sidebar(&state, &v, &groups)
        .await
        .map_err(|e| v.err(e))?;
    Ok(render(
        "knowledge.html",
        v.ctx(context! {
            queues => side,
            queue => "",
            q => q,
            state => lq.state.unwrap_or_default(),
            language => lq.language.unwrap_or_default(),
            overdue => filter.review_overdue,
            rows => rows,
            error => error,
            more => more,
            page => page,
            states => ArticleState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        }),
    ))
}

/// The article's text as the pages show it: each section as safe HTML.
pub(crate) fn sections(a: &KnowledgeArticle) -> Value {
    context! {
        symptom => Value::from_safe_string(to_html(&a.symptom)),
        cause => (!a.cause.is_empty()).then(|| Value::from_safe_string(to_html(&a.cause))),
        solution => Value::from_safe_string(to_html(&a.solution)),
    }
}

/// An article's files as the pages list them, with the address to show
/// an image in the article's Markdown.
pub(crate) fn file_rows(files: &[tuki_store::knowledge::KnowledgeFile]) -> Vec<Value> {
    files
        .iter()
        .map(|f| {
            let url = format!(
                "/knowledge/files/{}/{}",
                f.id,
                form_urlencoded::byte_serialize(f.file_name.as_bytes()).collect::<String>()
            );
            context! {
                id => f.id,
                name => &f.file_name,
                size => super::console::size(f.size),
                image => f.content_type.starts_with("image/") && super::files::inline_safe(&f.content_type),
                url => url,
            }
        })
        .collect()
}

/// `/knowledge/files/{id}/{name}`: a file of an article the reader may
/// read (the public too, for a published public article: its images show
/// on the help pages and in the website widget).
pub async fn file(
    State(state): State<AppState>,
    super::auth::MaybeViewer(v): super::auth::MaybeViewer,
    Path((id, _name)): Path<(i64, String)>,
) -> PageResult {
    let lang = v.as_ref().map(|v| v.lang).unwrap_or_default();
    let reader = v.as_ref().map(|v| &v.actor);
    let f = state
        .store
        .knowledge_file(reader, id)
        .await
        .map_err(|e| super::render::PageError::store(lang, e))?;
    let (size, stream) = state
        .store
        .open_blob(&f.sha256)
        .await
        .map_err(|e| super::render::PageError::store(lang, e))?;
    Ok(super::files::named_file_response(
        &f.file_name,
        &f.content_type,
        (size, axum::body::Body::from_stream(stream)),
        super::files::inline_safe(&f.content_type),
    ))
}

/// `/agent/knowledge/{id}`: the article, its state actions, counts,
/// translations and feedback.
pub async fn view(State(state): State<AppState>, v: Viewer, Path(id): Path<i64>) -> PageResult {
    if !v.is_staff() {
        return Ok(Redirect::to(&format!("/help/{id}")).into_response());
    }
    article_page(&state, &v, id, None).await
}

pub(crate) async fn article_page(
    state: &AppState,
    v: &Viewer,
    id: i64,
    error: Option<super::render::Mistake>,
) -> PageResult {
    let a = state
        .store
        .knowledge_article(Some(&v.actor), id)
        .await
        .map_err(|e| v.err(e))?;
    state
        .store
        .record_knowledge_view(Some(&v.actor), id)
        .await
        .map_err(|e| v.err(e))?;
    let moves: Vec<&str> = ArticleState::ALL
        .iter()
        .filter(|s| tuki_domain::knowledge::can_become(a.state, **s))
        .map(|s| s.as_str())
        .collect();
    let missing: Vec<&str> = [Language::Fi, Language::En]
        .into_iter()
        .filter(|l| *l != a.language && !a.translations.iter().any(|t| t.language == *l))
        .map(|l| l.as_str())
        .collect();
    let files = state
        .store
        .knowledge_files(Some(&v.actor), id)
        .await
        .map_err(|e| v.err(e))?;
    let ctx = v.ctx(context! {
        a => row(v.lang, &a, None),
        text => sections(&a),
        files => file_rows(&files),
        category => &a.category,
        revision => a.revision,
        source_ticket => a.source_ticket_id,
        published => a.published_at.map(when),
        translations => a.translations.iter().map(|t| context! {
            id => t.id, language => t.language.as_str(), title => &t.title,
        }).collect::<Vec<_>>(),
        missing => missing,
        moves => moves,
        error => &error,
    });
    Ok(super::render::with_status(
        render("knowledge_article.html", ctx),
        &error,
    ))
}

/// Helpful or not, from staff.
pub async fn feedback(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    staff_only(&v)?;
    let helpful = form.get("helpful") == Some("yes");
    state
        .store
        .knowledge_feedback(Some(&v.actor), id, Feedback { helpful })
        .await
        .map_err(|e| v.err(e))?;
    Ok(Redirect::to(&format!("/agent/knowledge/{id}")).into_response())
}

#[derive(Deserialize, Default)]
pub struct RevisionQuery {
    rev: Option<i64>,
}

/// `/agent/knowledge/{id}/revisions`: who changed what and when; a
/// revision's changes against the one before it.
pub async fn revisions(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Query(rq): Query<RevisionQuery>,
) -> PageResult {
    staff_only(&v)?;
    let store = &state.store;
    let a = store
        .knowledge_article(Some(&v.actor), id)
        .await
        .map_err(|e| v.err(e))?;
    let list = store
        .knowledge_revisions(&v.actor, id)
        .await
        .map_err(|e| v.err(e))?;
    let shown = rq.rev.unwrap_or(a.revision);
    // The list already holds every revision: the diff needs no second read.
    let diff = tuki_store::knowledge::revision_diff(&list, shown)
        .ok_or_else(|| super::render::PageError::not_found(v.lang))?;
    Ok(render(
        "knowledge_revisions.html",
        v.ctx(context! {
            a => row(v.lang, &a, None),
            revisions => list.iter().map(|r| context! {
                revision => r.revision,
                author => &r.author_name,
                at => when(r.at),
                note => &r.note,
                state => r.state.as_str(),
            }).collect::<Vec<_>>(),
            shown => shown,
            previous => diff.previous,
            lines => Value::from_serialize(&diff.lines),
        }),
    ))
}
