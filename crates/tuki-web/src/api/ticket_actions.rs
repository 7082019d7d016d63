//! What one does to a ticket besides editing it: transfer between tiers,
//! merge, link, follow, and read its history.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tuki_store::tickets::history::HistoryEvent;
use tuki_store::tickets::links::{Link, Merge, NewLink};
use tuki_store::tickets::transfer::Transfer;
use tuki_store::tickets::Ticket;

use crate::error::{ApiResult, AppError, ErrorBody};
use crate::extract::{id, ApiJson, Auth};
use crate::AppState;

/// Moves the ticket to another group (and tier) with a reason; the caller
/// keeps following it.
#[utoipa::path(post, path = "/tickets/{id}/transfer", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), request_body = Transfer,
    responses((status = 200, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn transfer(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<Transfer>,
) -> ApiResult<Json<Ticket>> {
    let t = s.store.transfer(&actor, id(&raw)?, body).await?;
    s.web.live.publish(&t);
    Ok(Json(t))
}

/// Merges this ticket into another; answers with the surviving ticket.
#[utoipa::path(post, path = "/tickets/{id}/merge", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), request_body = Merge,
    responses((status = 200, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn merge(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<Merge>,
) -> ApiResult<Json<Ticket>> {
    let merged = id(&raw)?;
    let t = s.store.merge(&actor, merged, body).await?;
    crate::pages::live::changed(&s, merged).await;
    s.web.live.publish(&t);
    Ok(Json(t))
}

#[utoipa::path(get, path = "/tickets/{id}/links", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Vec<Link>), (status = 404, body = ErrorBody)))]
pub async fn list_links(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<Link>>> {
    Ok(Json(s.store.links(&actor, id(&raw)?).await?))
}

/// Links this ticket to another; answers with all its links.
#[utoipa::path(post, path = "/tickets/{id}/links", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), request_body = NewLink,
    responses((status = 201, body = Vec<Link>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_link(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<NewLink>,
) -> ApiResult<(StatusCode, Json<Vec<Link>>)> {
    let ticket = id(&raw)?;
    let links = s.store.add_link(&actor, ticket, body).await?;
    crate::pages::live::changed(&s, ticket).await;
    Ok((StatusCode::CREATED, Json(links)))
}

#[utoipa::path(delete, path = "/tickets/{id}/links/{link_id}", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path), ("link_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_link(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((t, l)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.store.remove_link(&actor, id(&t)?, id(&l)?).await?;
    crate::pages::live::changed(&s, id(&t)?).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/tickets/{id}/followers/{user_id}", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 200, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn follow(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((t, u)): Path<(String, String)>,
) -> ApiResult<Json<Ticket>> {
    let user = id(&u).map_err(|_| AppError::invalid("user_id", "no such user"))?;
    let t = s.store.follow(&actor, id(&t)?, user).await?;
    s.web.live.publish(&t);
    Ok(Json(t))
}

#[utoipa::path(delete, path = "/tickets/{id}/followers/{user_id}", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 200, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unfollow(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((t, u)): Path<(String, String)>,
) -> ApiResult<Json<Ticket>> {
    let t = s.store.unfollow(&actor, id(&t)?, id(&u)?).await?;
    s.web.live.publish(&t);
    Ok(Json(t))
}

/// Every change of the ticket, oldest first. Staff only.
#[utoipa::path(get, path = "/tickets/{id}/history", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<HistoryEvent>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<HistoryEvent>>> {
    Ok(Json(s.store.history(&actor, id(&raw)?).await?))
}
