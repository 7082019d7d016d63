//! The caller's personal access tokens: list, create, revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tuki_store::auth::TokenInfo;
use utoipa::ToSchema;

use crate::error::{ApiResult, AppError, ErrorBody};
use crate::extract::{id, ApiJson, Auth};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// A label to recognise the token by, e.g. the machine that uses it.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    /// Shown only here, once; Tuki keeps only its hash.
    pub token: String,
}

/// The caller's tokens, newest first (never the tokens themselves).
#[utoipa::path(get, path = "/tokens", tag = "directory", security(("token" = [])),
    responses((status = 200, body = Vec<TokenInfo>), (status = 401, body = ErrorBody)))]
pub async fn list_tokens(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    Ok(Json(s.store.tokens(&actor).await?))
}

/// Creates a token for the caller.
#[utoipa::path(post, path = "/tokens", tag = "directory", security(("token" = [])), request_body = NewTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<NewTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let me = actor.user_id.ok_or(AppError::NotFound)?;
    let created = s.store.create_token(me, &body.name).await?;
    let name = tuki_domain::values::line("name", &body.name, 100)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: created.id,
            name,
            token: created.token,
        }),
    ))
}

/// Revokes one of the caller's tokens; it stops working at once.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "directory", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    s.store.revoke_token(&actor, id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
