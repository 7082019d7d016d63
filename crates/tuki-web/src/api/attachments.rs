//! Files of tickets: listed with their ticket (or one article) and
//! downloaded, under the same rules as the pages: the ticket must be
//! visible, and customers never get the files of internal notes.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use tuki_store::attachments::Attachment;

use crate::error::{ApiResult, AppError, ErrorBody};
use crate::extract::{id, ApiQuery, Auth};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttachmentQuery {
    /// Only the files of this article.
    pub article_id: Option<i64>,
}

#[utoipa::path(get, path = "/tickets/{id}/attachments", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path), AttachmentQuery),
    responses((status = 200, body = Vec<Attachment>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_attachments(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<AttachmentQuery>,
) -> ApiResult<Json<Vec<Attachment>>> {
    let mut files = s.store.ticket_attachments(&actor, id(&raw)?).await?;
    if let Some(article) = q.article_id {
        files.retain(|f| f.article_id == article);
    }
    Ok(Json(files))
}

#[utoipa::path(get, path = "/attachments/{id}", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Attachment), (status = 404, body = ErrorBody)))]
pub async fn get_attachment(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Attachment>> {
    Ok(Json(s.store.attachment(&actor, id(&raw)?).await?))
}

/// The file itself, always as a download (`Content-Disposition: attachment`).
#[utoipa::path(get, path = "/attachments/{id}/content", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "the file, with its own content type", content_type = "application/octet-stream"),
        (status = 404, body = ErrorBody),
        (status = 500, description = "the stored file is missing or damaged (code `file_unavailable`); the administrators have been told", body = ErrorBody)))]
pub async fn download_attachment(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let a = s.store.attachment(&actor, id(&raw)?).await?;
    let body = crate::pages::files::file_body(&s, &a).await?;
    Ok(crate::pages::files::file_response(&a, body, false))
}
