//! The customer portal: own (and, where the organisation shares, colleagues')
//! requests, submitting a new one, replying, closing or reopening, and
//! rating the help after resolution.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::ticket::{Channel, TicketState};
use tuki_store::tickets::articles::NewArticle;
use tuki_store::tickets::{NewTicket, TicketFilter};
use tuki_store::StoreError;

use super::auth::{Posted, Viewer};
use super::console::{size, FileView};
use super::i18n;
use super::render::{render, when, with_status, Mistake, PageError, PageResult};
use crate::AppState;

/// Categories a customer can choose from (labels in the catalogues).
pub const CATEGORIES: &[&str] = &["hardware", "software", "account", "network", "other"];

fn customers_only(v: &Viewer) -> Option<axum::response::Response> {
    v.is_staff().then(|| Redirect::to("/agent").into_response())
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    /// Back from "This solved my problem".
    solved: Option<String>,
}

/// The customer's requests, or those matching their search.
pub async fn list(
    State(state): State<AppState>,
    v: Viewer,
    Query(lq): Query<ListQuery>,
) -> PageResult {
    if let Some(r) = customers_only(&v) {
        return Ok(r);
    }
    if let Some(q) = lq.q.as_deref().filter(|q| !q.trim().is_empty()) {
        let (hits, error) = super::search::portal(&state, &v, q)
            .await
            .map_err(|e| v.err(e))?;
        return Ok(render(
            "portal_list.html",
            v.ctx(context! { q => q, searched => true, hits => hits, error => error }),
        ));
    }
    let page = state
        .store
        .tickets(
            &v.actor,
            &TicketFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| v.err(e))?;
    let me = v.id();
    let rows: Vec<Value> = page
        .items
        .iter()
        .map(|t| {
            context! {
                number => t.number, subject => &t.subject, state => t.state.as_str(),
                updated => when(t.updated_at), mine => t.requester_id == me,
            }
        })
        .collect();
    Ok(render(
        "portal_list.html",
        v.ctx(context! { rows => rows, solved => lq.solved.is_some() }),
    ))
}

async fn new_form(
    state: &AppState,
    v: &Viewer,
    values: Value,
    error: Option<Mistake>,
) -> PageResult {
    let devices = super::coverage::devices::mine(state, v).await?;
    let r = render(
        "portal_new.html",
        v.ctx(
            context! { categories => CATEGORIES, devices => devices, f => values, error => &error },
        ),
    );
    Ok(with_status(r, &error))
}

pub async fn new_page(State(state): State<AppState>, v: Viewer) -> PageResult {
    if let Some(r) = customers_only(&v) {
        return Ok(r);
    }
    new_form(&state, &v, context! {}, None).await
}

pub async fn create(
    State(state): State<AppState>,
    Posted {
        viewer: v,
        mut form,
    }: Posted<true>,
) -> PageResult {
    if let Some(r) = customers_only(&v) {
        return Ok(r);
    }
    let category = form
        .opt("category")
        .filter(|c| CATEGORIES.contains(c))
        .map(str::to_string);
    let new = NewTicket {
        subject: form.text("subject"),
        body: form.text("body"),
        requester_id: None,
        channel: Some(Channel::Web),
        category: category.clone(),
        priority: None,
        group_id: None,
        owner_id: None,
        tags: Vec::new(),
        article_kind: None,
        asset_id: form.int("asset_id"),
    };
    let uploads = std::mem::take(&mut form.files);
    let res = super::files::create_ticket(&state, &v, new, uploads).await;
    match res {
        Ok(t) => {
            state.web.live.publish(&t);
            Ok(Redirect::to(&format!("/portal/tickets/{}", t.number)).into_response())
        }
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => {
                let sent = context! {
                    subject => form.text("subject"), body => form.text("body"),
                    category => category, asset_id => form.int("asset_id"),
                };
                new_form(&state, &v, sent, Some(m)).await
            }
            None => Err(v.err(e)),
        },
    }
}

async fn ticket_view(
    state: &AppState,
    v: &Viewer,
    number: i64,
    error: Option<Mistake>,
) -> PageResult {
    if let Some(r) = customers_only(v) {
        return Ok(r);
    }
    let store = &state.store;
    let a = &v.actor;
    let super::Thread {
        ticket: t,
        articles,
        files,
    } = super::Thread::load(state, v, number).await?;
    let rating = store.rating(a, t.id).await.map_err(|e| v.err(e))?;
    // Requests from before who pays was decided have no coverage.
    let coverage = store.ticket_coverage(a, t.id, v.lang.language()).await.ok();
    let ids: Vec<i64> = articles.iter().filter_map(|x| x.author_id).collect();
    let names = store.user_names(&ids).await.map_err(|e| v.err(e))?;
    let entries: Vec<Value> = articles
        .iter()
        .map(|art| {
            let (name, role) = art
                .author_id
                .and_then(|i| names.get(&i).cloned())
                .unwrap_or_else(|| {
                    (
                        i18n::t(v.lang, "portal.support"),
                        tuki_domain::directory::Role::Agent,
                    )
                });
            context! {
                author => name,
                staff => role.is_staff(),
                mine => art.author_id == Some(v.id()),
                at => when(art.created_at),
                body => &art.body,
                files => files.iter().filter(|f| f.article_id == art.id).map(|f| FileView {
                    id: f.id, name: f.file_name.clone(), size: size(f.size),
                }).collect::<Vec<_>>(),
            }
        })
        .collect();
    let r = render(
        "portal_ticket.html",
        v.ctx(context! {
            tk => context! {
                number => t.number, subject => &t.subject, state => t.state.as_str(),
                created => when(t.created_at), active => t.state.is_active(),
                closed => t.state == TicketState::Closed, merged => t.merged_into_id.is_some(),
            },
            entries => entries,
            rating => rating.map(|r| context! { score => r.score, comment => r.comment }),
            coverage => coverage.map(|c| super::coverage::coverage_view(v.lang, &c)),
            error => &error,
        }),
    );
    Ok(with_status(r, &error))
}

pub async fn ticket(
    State(state): State<AppState>,
    v: Viewer,
    Path(number): Path<i64>,
) -> PageResult {
    ticket_view(&state, &v, number, None).await
}

async fn after(
    state: &AppState,
    v: &Viewer,
    number: i64,
    ticket_id: Option<i64>,
    res: Result<(), StoreError>,
) -> PageResult {
    match res {
        Ok(()) => {
            if let Some(id) = ticket_id {
                super::live::changed(state, id).await;
            }
            Ok(Redirect::to(&format!("/portal/tickets/{number}")).into_response())
        }
        Err(StoreError::NotFound) => Err(PageError::not_found(v.lang)),
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => ticket_view(state, v, number, Some(m)).await,
            None => Err(v.err(e)),
        },
    }
}

pub async fn reply(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted {
        viewer: v,
        mut form,
    }: Posted<true>,
) -> PageResult {
    let t = state
        .store
        .ticket_by_number(&v.actor, number)
        .await
        .map_err(|e| v.err(e))?;
    let body = form.text("body");
    // The files, stored as the form arrived, are listed on the reply in its
    // transaction; a refused reply leaves them to the sweep.
    let files = super::files::attachments(std::mem::take(&mut form.files));
    let res = state
        .store
        .add_article_with_files(
            &v.actor,
            t.id,
            NewArticle {
                kind: None,
                body,
                internal: None,
            },
            files,
        )
        .await
        .map(|_| ());
    after(&state, &v, number, Some(t.id), res).await
}

pub async fn state(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let to = if form.get("to") == Some("open") {
        TicketState::Open
    } else {
        TicketState::Closed
    };
    let patch = tuki_store::tickets::TicketPatch {
        state: Some(to),
        ..Default::default()
    };
    on_ticket(&state, &v, number, |st, vv, id| async move {
        st.store
            .update_ticket(&vv.actor, id, patch)
            .await
            .map(|_| ())
    })
    .await
}

pub async fn rate(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let score = form.int("score").unwrap_or(0);
    let comment = form.text("comment");
    on_ticket(&state, &v, number, |st, vv, id| async move {
        st.store
            .rate_ticket(&vv.actor, id, score, &comment)
            .await
            .map(|_| ())
    })
    .await
}

/// A change to one of the customer's tickets: the ticket found first (a 404
/// page when it is not theirs to see), then changed, then [`after`].
async fn on_ticket<F, Fut>(state: &AppState, v: &Viewer, number: i64, change: F) -> PageResult
where
    F: FnOnce(AppState, Viewer, i64) -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let t = state
        .store
        .ticket_by_number(&v.actor, number)
        .await
        .map_err(|e| v.err(e))?;
    let res = change(state.clone(), v.clone(), t.id).await;
    after(state, v, number, Some(t.id), res).await
}
