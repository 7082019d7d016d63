//! The agent's ticket page: the ticket, its timeline of articles and
//! changes, and the forms of its actions.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use serde::Serialize;
use tuki_domain::directory::Role;
use tuki_domain::ticket::{Priority, TicketState};
use tuki_store::attachments::Attachment;
use tuki_store::directory::Group;
use tuki_store::tickets::articles::Article;
use tuki_store::tickets::history::HistoryEvent;
use tuki_store::tickets::{Ticket, TicketFilter, TicketPage};

use super::{sidebar, size, staff_only};
use crate::pages::auth::Viewer;
use crate::pages::i18n::{self, Lang};
use crate::pages::render::{render, when, with_status, Mistake, PageError, PageResult};
use crate::AppState;

/// An email's sanitised HTML as the document of a sandboxed frame: its
/// inline images (`cid:`) point at the article's files, links open in a new
/// tab, and the frame's own policy allows nothing but Tuki's images and the
/// mail's inline styles. The HTML was cleaned at import (no scripts, no
/// remote images); the sandbox (no scripts) and the policy are a second
/// line of defence.
fn mail_document(html: &str, files: &[&tuki_store::attachments::Attachment]) -> String {
    let mut html = html.to_string();
    for f in files {
        if let Some(cid) = &f.content_id {
            let url = format!(
                "/files/{}/{}",
                f.id,
                form_urlencoded::byte_serialize(f.file_name.as_bytes())
                    .collect::<String>()
                    .replace('+', "%20")
            );
            html = html.replace(&format!("\"cid:{cid}\""), &format!("\"{url}\""));
        }
    }
    format!(
        "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" \
         content=\"default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'\">\
         <base target=\"_blank\"><style>{MAIL_FRAME_STYLE}</style>{html}"
    )
}

/// The style of the frame an email's formatting is shown in: the one inline
/// style of Tuki's pages, which their Content-Security-Policy allows by its
/// hash (`crate::security`).
pub const MAIL_FRAME_STYLE: &str = "body{font-family:sans-serif;margin:.5rem}img{max-width:100%}";

/// One entry of the ticket page's timeline.
#[derive(Serialize)]
struct Entry {
    kind: String,
    internal: bool,
    author: String,
    at: String,
    body: Option<String>,
    /// An email's own formatting, as a whole document for a sandboxed frame.
    html: Option<String>,
    files: Vec<FileView>,
    field: Option<String>,
    old: Option<String>,
    new: Option<String>,
    reason: Option<String>,
    sort: (i64, i64),
}

#[derive(Serialize, Clone)]
pub struct FileView {
    pub id: i64,
    pub name: String,
    pub size: String,
}

/// Everything the agent's ticket page shows.
pub(super) async fn ticket_view(
    state: &AppState,
    v: &Viewer,
    number: i64,
    error: Option<Mistake>,
    invite_link: Option<String>,
) -> PageResult {
    ticket_view_with(state, v, number, error, invite_link, None).await
}

/// The ticket page, with the reply box holding `composer` if given.
async fn ticket_view_with(
    state: &AppState,
    v: &Viewer,
    number: i64,
    error: Option<Mistake>,
    invite_link: Option<String>,
    composer: Option<String>,
) -> PageResult {
    staff_only(v)?;
    let store = &state.store;
    let a = &v.actor;
    let crate::pages::Thread {
        ticket: t,
        articles,
        files,
    } = crate::pages::Thread::load(state, v, number).await?;
    let history = store.history(a, t.id).await.map_err(|e| v.err(e))?;
    let links = store.links(a, t.id).await.map_err(|e| v.err(e))?;
    let groups = store.groups(a).await.map_err(|e| v.err(e))?;
    let requester = store.user(a, t.requester_id).await.map_err(|e| v.err(e))?;
    let (others, org) = requester_context(state, v, &t).await?;
    let names = store
        .user_names(&people(&t, &articles, &history))
        .await
        .map_err(|e| v.err(e))?;
    let uname = |id: Option<i64>| {
        id.and_then(|i| names.get(&i))
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| i18n::t(v.lang, "ticket.system"))
    };
    let timeline = timeline(v.lang, &articles, &history, &files, &uname, &groups);
    let group = t.group_id.and_then(|g| groups.iter().find(|x| x.id == g));
    let others: Vec<Value> = others
        .items
        .iter()
        .filter(|o| o.id != t.id)
        .map(|o| context! { number => o.number, subject => &o.subject, state => o.state.as_str() })
        .collect();
    let side = sidebar(state, v, &groups).await.map_err(|e| v.err(e))?;
    let ctx = v.ctx(context! {
        queues => side,
        queue => "",
        tk => context! {
            // The ticket as the page shows it.
            id => t.id,
            number => t.number,
            subject => &t.subject,
            state => t.state.as_str(),
            priority => t.priority.as_str(),
            channel => t.channel.as_str(),
            category => &t.category,
            tags => &t.tags,
            group => group.map(|g| context! { id => g.id, name => &g.name, tier => g.tier }),
            owner_id => t.owner_id,
            owner => t.owner_id.map(|o| uname(Some(o))),
            followers => t.followers.iter().map(|f| uname(Some(*f))).collect::<Vec<_>>(),
            followed => t.followers.contains(&v.id()),
            merged_into => t.merged_into_id,
            created => when(t.created_at),
            active => t.state.is_active(),
            solved => matches!(t.state, TicketState::Resolved | TicketState::Closed),
            due => crate::pages::due::badge(v.lang, &t, state.store.now()),
        },
        requester => context! {
            id => requester.id,
            name => &requester.name,
            email => &requester.email,
            phone => &requester.phone,
        },
        organisation => org,
        timeline => timeline,
        links => links.iter().map(|l| context! {
            relation => format!("{:?}", l.relation).to_lowercase(),
            number => l.ticket_number,
            subject => &l.ticket_subject,
            state => l.ticket_state.as_str(),
        }).collect::<Vec<_>>(),
        others => others,
        // Who the ticket can be given to: its group's staff.
        owners => group.map(|g| g.members.iter().filter(|m| m.role != Role::Customer)
            .map(|m| context! { id => m.id, name => &m.name }).collect::<Vec<_>>()),
        states => TicketState::ALL.iter().filter(|s| t.state.can_become(**s))
            .map(|s| s.as_str()).collect::<Vec<_>>(),
        priorities => Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        groups => groups.iter().filter(|g| Some(g.id) != t.group_id)
            .map(|g| context! { id => g.id, name => &g.name, tier => g.tier }).collect::<Vec<_>>(),
        error => &error,
        invite_link => invite_link,
        composer => composer,
    });
    Ok(with_status(render("ticket.html", ctx), &error))
}

/// The requester's other active tickets and their organisation's name.
async fn requester_context(
    state: &AppState,
    v: &Viewer,
    t: &Ticket,
) -> Result<(TicketPage, Option<String>), PageError> {
    let (store, a) = (&state.store, &v.actor);
    let others = store
        .tickets(
            a,
            &TicketFilter {
                requester_id: Some(t.requester_id),
                active: Some(true),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| v.err(e))?;
    let org = match t.organisation_id {
        Some(o) => store
            .organisation_names(&[o])
            .await
            .map_err(|e| v.err(e))?
            .remove(&o),
        None => None,
    };
    Ok((others, org))
}

/// Everyone the ticket page names: authors, those who changed it, its
/// followers and owner, and owners and followers its history mentions.
fn people(t: &Ticket, articles: &[Article], history: &[HistoryEvent]) -> Vec<i64> {
    let mut ids: Vec<i64> = articles.iter().filter_map(|x| x.author_id).collect();
    ids.extend(history.iter().filter_map(|h| h.actor_id));
    ids.extend(t.followers.iter().copied());
    ids.extend(t.owner_id);
    for h in history {
        if matches!(h.field.as_str(), "owner" | "follower") {
            ids.extend(h.old_value.as_deref().and_then(|x| x.parse::<i64>().ok()));
            ids.extend(h.new_value.as_deref().and_then(|x| x.parse::<i64>().ok()));
        }
    }
    ids
}

/// The ticket's articles and changes in the order they happened, changes
/// shown with names and the page's language.
fn timeline(
    lang: Lang,
    articles: &[Article],
    history: &[HistoryEvent],
    files: &[Attachment],
    uname: &dyn Fn(Option<i64>) -> String,
    groups: &[Group],
) -> Vec<Entry> {
    let group_names: HashMap<i64, String> = groups.iter().map(|g| (g.id, g.name.clone())).collect();
    let mut timeline: Vec<Entry> = Vec::new();
    for art in articles {
        timeline.push(Entry {
            kind: art.kind.as_str().into(),
            internal: art.internal,
            author: uname(art.author_id),
            at: when(art.created_at),
            body: Some(art.body.clone()),
            html: art.body_html.as_deref().map(|h| {
                let own: Vec<_> = files.iter().filter(|f| f.article_id == art.id).collect();
                mail_document(h, &own)
            }),
            files: files
                .iter()
                .filter(|f| f.article_id == art.id)
                .map(|f| FileView {
                    id: f.id,
                    name: f.file_name.clone(),
                    size: size(f.size),
                })
                .collect(),
            field: None,
            old: None,
            new: None,
            reason: None,
            sort: (tuki_store::time::to_db(art.created_at), 0),
        });
    }
    let show = |field: &str, raw: Option<&String>| -> Option<String> {
        let raw = raw?;
        Some(match field {
            "owner" | "follower" => uname(raw.parse().ok()),
            "group" => raw
                .parse()
                .ok()
                .and_then(|g| group_names.get(&g).cloned())
                .unwrap_or_else(|| raw.clone()),
            "state" => i18n::t(lang, &format!("state.{raw}")),
            "priority" => i18n::t(lang, &format!("priority.{raw}")),
            _ => raw.clone(),
        })
    };
    for h in history {
        if matches!(h.field.as_str(), "article" | "created") {
            continue;
        }
        timeline.push(Entry {
            kind: "event".into(),
            internal: true,
            author: uname(h.actor_id),
            at: when(h.at),
            body: None,
            html: None,
            files: Vec::new(),
            field: Some(h.field.clone()),
            old: show(&h.field, h.old_value.as_ref()),
            new: show(&h.field, h.new_value.as_ref()),
            reason: h.reason.clone(),
            sort: (tuki_store::time::to_db(h.at), 1),
        });
    }
    timeline.sort_by_key(|e| e.sort);
    timeline
}

#[derive(serde::Deserialize, Default)]
pub struct TicketPageQuery {
    /// A knowledge article whose solution fills the reply box.
    insert: Option<i64>,
}

pub async fn ticket_page(
    State(state): State<AppState>,
    v: Viewer,
    headers: axum::http::HeaderMap,
    Path(number): Path<i64>,
    axum::extract::Query(tq): axum::extract::Query<TicketPageQuery>,
) -> PageResult {
    if !v.is_staff() {
        return Ok(Redirect::to(&format!("/portal/tickets/{number}")).into_response());
    }
    let composer = match tq.insert {
        Some(id) => crate::pages::knowledge::at_work::prefill(&state, &v, &headers, id).await,
        None => None,
    };
    ticket_view_with(&state, &v, number, None, None, composer).await
}
