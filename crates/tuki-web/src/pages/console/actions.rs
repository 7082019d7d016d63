//! What agents do on the ticket page: answer, change, transfer, merge,
//! link, follow and invite the requester to the portal.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use tuki_domain::ticket::{ArticleKind, LinkKind, Priority, TicketState};
use tuki_store::tickets::articles::NewArticle;
use tuki_store::tickets::links::{Merge, NewLink};
use tuki_store::tickets::transfer::Transfer;
use tuki_store::tickets::{Ticket, TicketPatch};
use tuki_store::StoreError;

use super::staff_only;
use super::ticket::ticket_view;
use crate::pages::auth::{Posted, Viewer};
use crate::pages::i18n;
use crate::pages::render::{Mistake, PageError, PageResult};
use crate::AppState;

/// Runs a change on a ticket (given the state, the viewer and the ticket):
/// on success back to the ticket page (and a live event), on a mistake the
/// page again with the message.
pub(crate) async fn act<F, Fut>(state: &AppState, v: &Viewer, number: i64, f: F) -> PageResult
where
    F: FnOnce(AppState, Viewer, Ticket) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, StoreError>>,
{
    staff_only(v)?;
    let t = state
        .store
        .ticket_by_number(&v.actor, number)
        .await
        .map_err(|e| v.err(e))?;
    let id = t.id;
    match f(state.clone(), v.clone(), t).await {
        Ok(None) => {
            crate::pages::live::changed(state, id).await;
            Ok(Redirect::to(&format!("/agent/tickets/{number}")).into_response())
        }
        Ok(Some(link)) => ticket_view(state, v, number, None, Some(link)).await,
        Err(StoreError::NotFound) => Err(PageError::not_found(v.lang)),
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => ticket_view(state, v, number, Some(m), None).await,
            None => Err(v.err(e)),
        },
    }
}

pub async fn add_article(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted<true>,
) -> PageResult {
    let kind = form
        .opt("kind")
        .and_then(|k| ArticleKind::parse("kind", k).ok())
        .unwrap_or(ArticleKind::Note);
    let body = form.text("body");
    staff_only(&v)?;
    // The files, stored as the form arrived, are listed on the article in
    // its transaction; a refused article leaves them to the sweep.
    let files = crate::pages::files::attachments(form.files);
    act(&state, &v, number, |st, vv, t| async move {
        st.store
            .add_article_with_files(
                &vv.actor,
                t.id,
                NewArticle {
                    kind: Some(kind),
                    body,
                    internal: None,
                },
                files,
            )
            .await?;
        Ok(None)
    })
    .await
}

pub async fn update(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let lang = v.lang;
    let bad = |f: &str| StoreError::invalid(f, i18n::t(lang, "error.choose"));
    act(&state, &v, number, |st, vv, t| async move {
        let mut patch = TicketPatch::default();
        if let Some(s) = form.opt("state") {
            patch.state = Some(TicketState::parse("state", s).map_err(|_| bad("state"))?);
        }
        if let Some(p) = form.opt("priority") {
            patch.priority = Some(Priority::parse("priority", p).map_err(|_| bad("priority"))?);
        }
        if let Some(o) = form.get("owner_id") {
            let o = o.trim();
            let owner = if o.is_empty() {
                None
            } else {
                Some(o.parse().map_err(|_| bad("owner_id"))?)
            };
            if owner != t.owner_id {
                patch.owner_id = Some(owner);
            }
        }
        if let Some(tags) = form.get("tags") {
            let tags: Vec<String> = tags
                .split([',', ' '])
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect();
            if tags != t.tags {
                patch.tags = Some(tags);
            }
        }
        st.store.update_ticket(&vv.actor, t.id, patch).await?;
        Ok(None)
    })
    .await
}

pub async fn transfer(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    act(&state, &v, number, |st, vv, t| async move {
        let group_id = form
            .int("group_id")
            .ok_or_else(|| StoreError::invalid("group_id", i18n::t(vv.lang, "error.choose")))?;
        st.store
            .transfer(
                &vv.actor,
                t.id,
                Transfer {
                    group_id,
                    reason: form.text("reason"),
                    owner_id: None,
                },
            )
            .await?;
        Ok(None)
    })
    .await
}

/// Finds a ticket by the number typed into a form.
async fn other_ticket(
    state: &AppState,
    v: &Viewer,
    raw: Option<i64>,
) -> Result<Ticket, StoreError> {
    let n = raw.ok_or_else(|| StoreError::invalid("number", i18n::t(v.lang, "error.number")))?;
    match state.store.ticket_by_number(&v.actor, n).await {
        Err(StoreError::NotFound) => Err(StoreError::invalid(
            "number",
            i18n::t(v.lang, "error.no_ticket"),
        )),
        other => other,
    }
}

pub async fn merge(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    act(&state, &v, number, |st, vv, t| async move {
        let into = other_ticket(&st, &vv, form.int("into")).await?;
        st.store
            .merge(
                &vv.actor,
                t.id,
                Merge {
                    into_ticket_id: into.id,
                },
            )
            .await?;
        st.web.live.publish(&into);
        Ok(None)
    })
    .await
}

pub async fn link(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    act(&state, &v, number, |st, vv, t| async move {
        let target = other_ticket(&st, &vv, form.int("target")).await?;
        let kind = LinkKind::parse("kind", form.opt("kind").unwrap_or("related"))?;
        st.store
            .add_link(
                &vv.actor,
                t.id,
                NewLink {
                    target_id: target.id,
                    kind,
                },
            )
            .await?;
        Ok(None)
    })
    .await
}

pub async fn follow(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    act(&state, &v, number, |st, vv, t| async move {
        if form.get("follow") == Some("0") {
            st.store.unfollow(&vv.actor, t.id, vv.id()).await?;
        } else {
            st.store.follow(&vv.actor, t.id, vv.id()).await?;
        }
        Ok(None)
    })
    .await
}

/// The base URL people reach Tuki at, for links to copy.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(axum::http::header::HOST))
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}")
}

/// Invites the requester to the portal; the page shows the link to copy.
pub async fn invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(number): Path<i64>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    act(&state, &v, number, |st, vv, t| async move {
        let token = st
            .store
            .create_invitation(&vv.actor, t.requester_id)
            .await?;
        Ok(Some(format!("{}/invite/{token}", base_url(&headers))))
    })
    .await
}
