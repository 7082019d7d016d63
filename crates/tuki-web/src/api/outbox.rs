//! Mail: the mailboxes mail arrives at (an administered resource), a user's
//! switches for the kinds of mail Tuki sends them, and the outbox for
//! administrators (what is waiting, sent or given up, with attempts and the
//! last error).

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use tuki_store::outbox::{NotificationPref, OutMail};
use utoipa::{IntoParams, ToSchema};

use super::resource::ApiResource;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::AppState;

impl ApiResource for tuki_store::mail::Mailboxes {
    const PATH: &'static str = "/mailboxes";
    const TAG: &'static str = "mail";
    const ONE: &'static str = "mailbox";
    const MANY: &'static str = "mailboxes";
    const ABOUT: &'static str = "Mailboxes: where mail arrives, the group it goes to, where it is \
        fetched from (IMAP, or a mail server's pipe) and how fetching goes.";
}

/// The caller's mail switches: one per kind (`ack`, `reply`, `resolved`,
/// `new_ticket`, `customer_reply`, `assigned`, `sla`), on unless turned off.
#[utoipa::path(get, path = "/me/notification-preferences", tag = "mail", security(("token" = [])),
    responses((status = 200, body = Vec<NotificationPref>), (status = 401, body = ErrorBody)))]
pub async fn list_prefs(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<NotificationPref>>> {
    Ok(Json(s.store.notification_prefs(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefInput {
    pub enabled: bool,
}

/// Turns one kind of mail on or off for the caller.
#[utoipa::path(put, path = "/me/notification-preferences/{kind}", tag = "mail", security(("token" = [])),
    params(("kind" = String, Path)), request_body = PrefInput,
    responses((status = 200, body = Vec<NotificationPref>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_pref(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(kind): Path<String>,
    ApiJson(body): ApiJson<PrefInput>,
) -> ApiResult<Json<Vec<NotificationPref>>> {
    Ok(Json(
        s.store
            .set_notification_pref(&actor, &kind, body.enabled)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Outgoing mail, newest first. Administrators only.
#[utoipa::path(get, path = "/outbox", tag = "mail", security(("token" = [])), params(OutboxQuery),
    responses((status = 200, body = Vec<OutMail>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_outbox(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<Json<Vec<OutMail>>> {
    let limit = super::limit(q.limit)?;
    Ok(Json(s.store.outbox(&actor, limit).await?))
}
