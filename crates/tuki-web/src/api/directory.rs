//! Organisations, users and groups.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tuki_domain::directory::Role;
use tuki_store::directory::{
    Group, GroupPatch, NewGroup, NewOrganisation, NewUser, Organisation, OrganisationPatch, User,
    UserFilter, UserPatch,
};
use utoipa::{IntoParams, ToSchema};

use super::limit;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{id, ApiJson, ApiQuery, Auth};
use crate::AppState;

/// The signed-in user.
#[utoipa::path(get, path = "/me", tag = "directory", security(("token" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(State(s): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<User>> {
    let me = actor.user_id.ok_or(crate::error::AppError::NotFound)?;
    Ok(Json(s.store.user(&actor, me).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrganisationQuery {
    /// Part of the name.
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationList {
    pub items: Vec<Organisation>,
    pub next_cursor: Option<i64>,
}

#[utoipa::path(get, path = "/organisations", tag = "directory", security(("token" = [])), params(OrganisationQuery),
    responses((status = 200, body = OrganisationList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_organisations(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<OrganisationQuery>,
) -> ApiResult<Json<OrganisationList>> {
    let limit = limit(q.limit)?;
    let items = s
        .store
        .organisations(&actor, q.q.as_deref(), q.cursor, limit)
        .await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|o| o.id))
        .flatten();
    Ok(Json(OrganisationList { items, next_cursor }))
}

#[utoipa::path(post, path = "/organisations", tag = "directory", security(("token" = [])), request_body = NewOrganisation,
    responses((status = 201, body = Organisation), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_organisation(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(new): ApiJson<NewOrganisation>,
) -> ApiResult<(StatusCode, Json<Organisation>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_organisation(&actor, new).await?),
    ))
}

#[utoipa::path(get, path = "/organisations/{id}", tag = "directory", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Organisation), (status = 404, body = ErrorBody)))]
pub async fn get_organisation(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Organisation>> {
    Ok(Json(s.store.organisation(&actor, id(&raw)?).await?))
}

#[utoipa::path(patch, path = "/organisations/{id}", tag = "directory", security(("token" = [])),
    params(("id" = i64, Path)), request_body = OrganisationPatch,
    responses((status = 200, body = Organisation), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_organisation(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(patch): ApiJson<OrganisationPatch>,
) -> ApiResult<Json<Organisation>> {
    Ok(Json(
        s.store
            .update_organisation(&actor, id(&raw)?, patch)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Part of the name, email or phone number.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub organisation_id: Option<i64>,
    /// Exact phone number in any common notation, for caller look-up.
    pub phone: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<User>,
    pub next_cursor: Option<i64>,
}

#[utoipa::path(get, path = "/users", tag = "directory", security(("token" = [])), params(UserQuery),
    responses((status = 200, body = UserList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_users(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<UserList>> {
    let limit = limit(q.limit)?;
    if let Some(phone) = q.phone.as_deref() {
        let items = s.store.users_by_phone(&actor, phone).await?;
        return Ok(Json(UserList {
            items,
            next_cursor: None,
        }));
    }
    let filter = UserFilter {
        q: q.q,
        role: q.role,
        organisation_id: q.organisation_id,
        after_id: q.cursor,
        limit,
    };
    let items = s.store.users(&actor, &filter).await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|u| u.id))
        .flatten();
    Ok(Json(UserList { items, next_cursor }))
}

#[utoipa::path(post, path = "/users", tag = "directory", security(("token" = [])), request_body = NewUser,
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_user(&actor, new).await?),
    ))
}

#[utoipa::path(get, path = "/users/{id}", tag = "directory", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(s.store.user(&actor, id(&raw)?).await?))
}

#[utoipa::path(patch, path = "/users/{id}", tag = "directory", security(("token" = [])),
    params(("id" = i64, Path)), request_body = UserPatch,
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "an email another user has, or an administrator taking away their own rights", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<User>> {
    Ok(Json(s.store.update_user(&actor, id(&raw)?, patch).await?))
}

#[utoipa::path(get, path = "/groups", tag = "directory", security(("token" = [])),
    responses((status = 200, body = Vec<Group>), (status = 403, body = ErrorBody)))]
pub async fn list_groups(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<Group>>> {
    Ok(Json(s.store.groups(&actor).await?))
}

#[utoipa::path(post, path = "/groups", tag = "directory", security(("token" = [])), request_body = NewGroup,
    responses((status = 201, body = Group), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_group(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(new): ApiJson<NewGroup>,
) -> ApiResult<(StatusCode, Json<Group>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_group(&actor, new).await?),
    ))
}

#[utoipa::path(get, path = "/groups/{id}", tag = "directory", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Group), (status = 404, body = ErrorBody)))]
pub async fn get_group(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Group>> {
    Ok(Json(s.store.group(&actor, id(&raw)?).await?))
}

#[utoipa::path(patch, path = "/groups/{id}", tag = "directory", security(("token" = [])),
    params(("id" = i64, Path)), request_body = GroupPatch,
    responses((status = 200, body = Group), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_group(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(patch): ApiJson<GroupPatch>,
) -> ApiResult<Json<Group>> {
    Ok(Json(s.store.update_group(&actor, id(&raw)?, patch).await?))
}

/// Adds a staff user to a group.
#[utoipa::path(put, path = "/groups/{id}/members/{user_id}", tag = "directory", security(("token" = [])),
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 200, body = Group), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_member(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((g, u)): Path<(String, String)>,
) -> ApiResult<Json<Group>> {
    let user = id(&u).map_err(|_| crate::error::AppError::invalid("user_id", "no such user"))?;
    Ok(Json(s.store.add_group_member(&actor, id(&g)?, user).await?))
}

#[utoipa::path(delete, path = "/groups/{id}/members/{user_id}", tag = "directory", security(("token" = [])),
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 200, body = Group), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((g, u)): Path<(String, String)>,
) -> ApiResult<Json<Group>> {
    Ok(Json(
        s.store
            .remove_group_member(&actor, id(&g)?, id(&u)?)
            .await?,
    ))
}
