//! Articles where the work is: the ticket page's suggestions (with similar
//! solved requests, from the ticket's own words), and an article's solution
//! put into the reply with one action. With JavaScript the text goes into
//! the reply box where the cursor is; without, the ticket page opens with
//! the reply box filled.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use tuki_store::knowledge::UsedArticle;

use super::super::auth::{Posted, Viewer};
use super::super::console::base_url;
use super::super::console::staff_only;
use super::super::render::PageError;
use crate::AppState;

/// The text an article puts into a reply: its solution, and its address
/// when customers may open it.
pub(crate) fn reply_text(used: &UsedArticle, base: &str) -> String {
    if used.public {
        format!(
            "{}\n\n{}: {base}/help/{}",
            used.solution.trim_end(),
            used.title,
            used.article_id
        )
    } else {
        used.solution.trim_end().to_string()
    }
}

/// `POST /agent/tickets/{number}/knowledge/{id}`: counts the use and gives
/// the text (to the page's script), or opens the ticket with it.
pub async fn insert(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((number, id)): Path<(i64, i64)>,
    Posted { viewer: v, .. }: Posted,
) -> Result<Response, PageError> {
    staff_only(&v)?;
    let t = state
        .store
        .ticket_by_number(&v.actor, number)
        .await
        .map_err(|e| v.err(e))?;
    let used = state
        .store
        .use_knowledge_article(&v.actor, id, t.id)
        .await
        .map_err(|e| v.err(e))?;
    if headers.contains_key("x-tuki-insert") {
        let text = reply_text(&used, &base_url(&headers));
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response());
    }
    Ok(Redirect::to(&format!("/agent/tickets/{number}?insert={id}#composer")).into_response())
}

/// The reply text of an article for a ticket page opened with `?insert=`
/// (the use was counted when it was asked for).
pub(crate) async fn prefill(
    state: &AppState,
    v: &Viewer,
    headers: &HeaderMap,
    id: i64,
) -> Option<String> {
    let a = state
        .store
        .knowledge_article(Some(&v.actor), id)
        .await
        .ok()?;
    let used = UsedArticle {
        article_id: a.id,
        title: a.title,
        solution: a.solution,
        public: a.visibility == tuki_domain::knowledge::ArticleVisibility::Public
            && a.state == tuki_domain::knowledge::ArticleState::Published,
    };
    Some(reply_text(&used, &base_url(headers)))
}
