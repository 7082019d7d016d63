//! Knowledge articles: list and search, write, move between states, their
//! revisions and diffs, feedback, use in a reply, suggestions for a ticket,
//! and the desk's knowledge settings. Customers read published public
//! articles only; staff write.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tuki_domain::directory::Language;
use tuki_domain::knowledge::{ArticleState, ArticleVisibility};
use tuki_store::knowledge::{
    ArticleFilter, ArticleInput, Feedback, KnowledgeArticle, KnowledgeSettings, Revision,
    RevisionDiff, StateInput, UsedArticle,
};
use tuki_store::search::{ArticleHit, ArticleSearch};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{id, ApiJson, ApiQuery, Auth};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ArticleParams {
    /// Words to find (every word, any form of it, the last also as a
    /// prefix); without them, the latest changed first.
    #[param(max_length = 200)]
    pub q: Option<String>,
    pub state: Option<ArticleState>,
    pub language: Option<Language>,
    pub visibility: Option<ArticleVisibility>,
    /// Articles naming this product.
    pub product: Option<String>,
    pub owner_id: Option<i64>,
    /// Only published articles past their review date.
    pub review_overdue: Option<bool>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0–10,000.
    #[param(minimum = 0, maximum = 10000)]
    pub offset: Option<i64>,
}

/// Lists or searches the articles the caller may read (customers:
/// published public ones), with snippets around the words found.
#[utoipa::path(get, path = "/knowledge", tag = "knowledge", security(("token" = [])), params(ArticleParams),
    responses((status = 200, body = Vec<ArticleHit>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_knowledge(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(p): ApiQuery<ArticleParams>,
) -> ApiResult<Json<Vec<ArticleHit>>> {
    let (limit, offset) = super::ranked_page(p.limit, p.offset)?;
    let filter = ArticleFilter {
        state: p.state,
        language: p.language,
        visibility: p.visibility,
        product: p.product,
        owner_id: p.owner_id,
        review_overdue: p.review_overdue.unwrap_or(false),
        limit,
        offset,
    };
    let hits = match p.q.filter(|q| !q.trim().is_empty()) {
        Some(q) => {
            s.store
                .search_articles(Some(&actor), &ArticleSearch { q, filter })
                .await?
        }
        None => s
            .store
            .knowledge_articles(Some(&actor), &filter)
            .await?
            .into_iter()
            .map(|article| ArticleHit {
                article,
                snippet: Vec::new(),
            })
            .collect(),
    };
    Ok(Json(hits))
}

/// Writes a new article as a draft (staff); with `translation_of`, as the
/// translation of another article.
#[utoipa::path(post, path = "/knowledge", tag = "knowledge", security(("token" = [])), request_body = ArticleInput,
    responses((status = 201, body = KnowledgeArticle), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_knowledge(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<ArticleInput>,
) -> ApiResult<(StatusCode, Json<KnowledgeArticle>)> {
    let a = s.store.create_knowledge_article(&actor, body).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

#[utoipa::path(get, path = "/knowledge/{id}", tag = "knowledge", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = KnowledgeArticle), (status = 404, body = ErrorBody)))]
pub async fn get_knowledge(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<KnowledgeArticle>> {
    Ok(Json(
        s.store.knowledge_article(Some(&actor), id(&raw)?).await?,
    ))
}

/// Replaces an article's text, visibility, owner and review date (staff):
/// a new revision when anything changed. Send `base_revision` to be told
/// (409) when someone else changed it meanwhile.
#[utoipa::path(put, path = "/knowledge/{id}", tag = "knowledge", security(("token" = [])),
    params(("id" = i64, Path)), request_body = ArticleInput,
    responses((status = 200, body = KnowledgeArticle), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_knowledge(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<ArticleInput>,
) -> ApiResult<Json<KnowledgeArticle>> {
    Ok(Json(
        s.store
            .update_knowledge_article(&actor, id(&raw)?, body)
            .await?,
    ))
}

/// Publishes, archives or takes back to draft (staff).
#[utoipa::path(post, path = "/knowledge/{id}/state", tag = "knowledge", security(("token" = [])),
    params(("id" = i64, Path)), request_body = StateInput,
    responses((status = 200, body = KnowledgeArticle), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set_knowledge_state(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<StateInput>,
) -> ApiResult<Json<KnowledgeArticle>> {
    Ok(Json(
        s.store.set_knowledge_state(&actor, id(&raw)?, body).await?,
    ))
}

/// An article's revisions, latest first (staff).
#[utoipa::path(get, path = "/knowledge/{id}/revisions", tag = "knowledge", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Vec<Revision>), (status = 404, body = ErrorBody)))]
pub async fn list_revisions(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<Revision>>> {
    Ok(Json(s.store.knowledge_revisions(&actor, id(&raw)?).await?))
}

/// What a revision changed against the one before it, line by line.
#[utoipa::path(get, path = "/knowledge/{id}/revisions/{revision}", tag = "knowledge", security(("token" = [])),
    params(("id" = i64, Path), ("revision" = i64, Path)),
    responses((status = 200, body = RevisionDiff), (status = 404, body = ErrorBody)))]
pub async fn revision_diff(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((raw, rev)): Path<(String, String)>,
) -> ApiResult<Json<RevisionDiff>> {
    Ok(Json(
        s.store
            .knowledge_revision_diff(&actor, id(&raw)?, id(&rev)?)
            .await?,
    ))
}

/// Helpful or not: one vote per person (voting again changes it).
#[utoipa::path(post, path = "/knowledge/{id}/feedback", tag = "knowledge", security(("token" = [])),
    params(("id" = i64, Path)), request_body = Feedback,
    responses((status = 200, body = KnowledgeArticle), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn feedback(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<Feedback>,
) -> ApiResult<Json<KnowledgeArticle>> {
    Ok(Json(
        s.store
            .knowledge_feedback(Some(&actor), id(&raw)?, body)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UseInput {
    /// The ticket whose reply takes the solution.
    pub ticket_id: i64,
}

/// Takes a published article's solution for a reply to a ticket the caller
/// may answer, and counts the use.
#[utoipa::path(post, path = "/knowledge/{id}/use", tag = "knowledge", security(("token" = [])),
    params(("id" = i64, Path)), request_body = UseInput,
    responses((status = 200, body = UsedArticle), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn use_article(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<UseInput>,
) -> ApiResult<Json<UsedArticle>> {
    Ok(Json(
        s.store
            .use_knowledge_article(&actor, id(&raw)?, body.ticket_id)
            .await?,
    ))
}

/// Published articles about a ticket, from its own subject and first
/// message (staff).
#[utoipa::path(get, path = "/tickets/{id}/suggestions", tag = "knowledge", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ArticleHit>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn suggestions(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<ArticleHit>>> {
    Ok(Json(
        s.store
            .suggest_articles_for_ticket(&actor, id(&raw)?, 5)
            .await?,
    ))
}

/// Whether public articles are read without signing in, and the websites
/// that may embed the help widget.
#[utoipa::path(get, path = "/knowledge-settings", tag = "knowledge", security(("token" = [])),
    responses((status = 200, body = KnowledgeSettings), (status = 403, body = ErrorBody)))]
pub async fn get_settings(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<Json<KnowledgeSettings>> {
    tuki_store::require_admin(&actor, "manage the knowledge base")?;
    Ok(Json(s.store.knowledge_settings().await?))
}

/// Replaces the knowledge settings (administrators).
#[utoipa::path(put, path = "/knowledge-settings", tag = "knowledge", security(("token" = [])),
    request_body = KnowledgeSettings,
    responses((status = 200, body = KnowledgeSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<KnowledgeSettings>,
) -> ApiResult<Json<KnowledgeSettings>> {
    Ok(Json(s.store.set_knowledge_settings(&actor, body).await?))
}
