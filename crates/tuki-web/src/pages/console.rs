//! The agent console: queues, the ticket page and its actions, and phone or
//! desk intake with customer look-up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};
use tuki_domain::directory::Role;
use tuki_domain::ticket::{ArticleKind, Channel, LinkKind, Priority, TicketState};
use tuki_store::console::{ActiveCounts, Queue, QueueSort};
use tuki_store::directory::{Group, NewUser, UserFilter};
use tuki_store::tickets::articles::NewArticle;
use tuki_store::tickets::links::{Merge, NewLink};
use tuki_store::tickets::transfer::Transfer;
use tuki_store::tickets::{NewTicket, Ticket, TicketFilter, TicketPatch};
use tuki_store::StoreError;

use super::auth::{Posted, Viewer};
use super::i18n;
use super::render::{render, user_message, when, PageError, PageResult};
use crate::AppState;

const PER_PAGE: i64 = 50;

fn staff_only(v: &Viewer) -> Result<(), PageError> {
    if v.is_staff() {
        Ok(())
    } else {
        Err(PageError::not_found(v.lang))
    }
}

/// A ticket as a list row.
#[derive(Serialize)]
struct Row {
    number: i64,
    subject: String,
    state: &'static str,
    priority: &'static str,
    group: String,
    owner: String,
    requester: String,
    updated: String,
}

fn rows(
    tickets: &[Ticket],
    names: &HashMap<i64, (String, Role)>,
    groups: &HashMap<i64, String>,
) -> Vec<Row> {
    let name = |id: Option<i64>| {
        id.and_then(|i| names.get(&i))
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    };
    tickets
        .iter()
        .map(|t| Row {
            number: t.number,
            subject: t.subject.clone(),
            state: t.state.as_str(),
            priority: t.priority.as_str(),
            group: t
                .group_id
                .and_then(|g| groups.get(&g).cloned())
                .unwrap_or_default(),
            owner: name(t.owner_id),
            requester: name(Some(t.requester_id)),
            updated: when(t.updated_at),
        })
        .collect()
}

async fn names_for(
    state: &AppState,
    tickets: &[Ticket],
) -> Result<HashMap<i64, (String, Role)>, StoreError> {
    let ids: Vec<i64> = tickets
        .iter()
        .flat_map(|t| [Some(t.requester_id), t.owner_id])
        .flatten()
        .collect();
    state.store.user_names(&ids).await
}

/// How long the shared table of sidebar counts is kept. A change made
/// through this process (pages or API) drops it at once; changes made
/// elsewhere (another node, mail, background jobs) show within this time.
pub const COUNTS_TTL: Duration = Duration::from_secs(3);

/// The table every viewer's sidebar counts are summed from
/// ([`tuki_store::console::ActiveCounts`]), shared by all viewers and
/// computed by one request at a time.
#[derive(Clone, Default)]
pub struct CountsCache {
    slot: Arc<tokio::sync::Mutex<Option<CountsTaken>>>,
}

/// When the counts were taken, the ticket-change generation they saw, and
/// the counts.
type CountsTaken = (Instant, u64, Arc<ActiveCounts>);

impl CountsCache {
    pub async fn get(&self, state: &AppState) -> Result<Arc<ActiveCounts>, StoreError> {
        let mut slot = self.slot.lock().await;
        // Read before counting: a change published meanwhile makes the next
        // request count again.
        let generation = state.web.live.generation();
        if let Some((at, g, counts)) = slot.as_ref() {
            if *g == generation && at.elapsed() < COUNTS_TTL {
                return Ok(counts.clone());
            }
        }
        let counts = Arc::new(state.store.active_counts().await?);
        *slot = Some((Instant::now(), generation, counts.clone()));
        Ok(counts)
    }
}

/// The sidebar: every queue of the viewer with its count.
pub(crate) async fn sidebar(
    state: &AppState,
    v: &Viewer,
    groups: &[Group],
) -> Result<Value, StoreError> {
    let all = state.web.counts.get(state).await?;
    let counts = state.store.queue_counts(&v.actor, &all).await?;
    let mut queues = Vec::new();
    let mut add = |q: Queue, label: String| {
        queues.push(context! { key => q.key(), label => label, count => counts.get(q) });
    };
    add(Queue::Mine, i18n::t(v.lang, "queue.mine"));
    add(Queue::Following, i18n::t(v.lang, "queue.following"));
    for g in groups
        .iter()
        .filter(|g| v.actor.is_admin() || v.actor.in_group(g.id))
    {
        let label = i18n::tf(
            v.lang,
            "queue.group",
            &[("name", &g.name), ("tier", &g.tier.to_string())],
        );
        add(Queue::Group(g.id), label);
    }
    add(Queue::Unassigned, i18n::t(v.lang, "queue.unassigned"));
    add(Queue::Pending, i18n::t(v.lang, "queue.pending"));
    add(Queue::AllOpen, i18n::t(v.lang, "queue.open"));
    queues.push(super::due::sidebar_entry(v.lang));
    Ok(Value::from_serialize(&queues))
}

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    queue: Option<String>,
    sort: Option<String>,
    q: Option<String>,
    priority: Option<String>,
    page: Option<i64>,
}

pub async fn queue_page(
    State(state): State<AppState>,
    v: Viewer,
    headers: HeaderMap,
    Query(qq): Query<QueueQuery>,
) -> PageResult {
    if !v.is_staff() {
        return Ok(Redirect::to("/portal").into_response());
    }
    let store = &state.store;
    let queue =
        qq.queue
            .as_deref()
            .and_then(Queue::parse)
            .unwrap_or(if v.actor.group_ids.is_empty() {
                Queue::AllOpen
            } else {
                Queue::Group(v.actor.group_ids[0])
            });
    let sort = QueueSort::parse(qq.sort.as_deref().unwrap_or(""));
    let priority = qq
        .priority
        .as_deref()
        .filter(|p| !p.is_empty())
        .and_then(|p| Priority::parse("priority", p).ok());
    let page = qq.page.unwrap_or(0).max(0);
    let groups = store.groups(&v.actor).await.map_err(|e| v.err(e))?;
    let group_names: HashMap<i64, String> = groups.iter().map(|g| (g.id, g.name.clone())).collect();
    // "At risk" is not a store queue: running SLA clocks, soonest due first.
    let at_risk = qq.queue.as_deref() == Some(super::due::AT_RISK);
    let tickets = if at_risk {
        super::due::at_risk(store, &v.actor, qq.q.as_deref(), priority, PER_PAGE)
            .await
            .map_err(|e| v.err(e))?
    } else {
        store
            .queue(
                &v.actor,
                queue,
                sort,
                qq.q.as_deref(),
                priority.map(|p| p.rank()),
                page,
                PER_PAGE + 1,
            )
            .await
            .map_err(|e| v.err(e))?
    };
    let now = store.now();
    let more = tickets.len() as i64 > PER_PAGE;
    let tickets = &tickets[..tickets.len().min(PER_PAGE as usize)];
    let names = names_for(&state, tickets).await.map_err(|e| v.err(e))?;
    let side = sidebar(&state, &v, &groups).await.map_err(|e| v.err(e))?;
    let ctx = v.ctx(context! {
        queues => side,
        queue => if at_risk { super::due::AT_RISK.to_string() } else { queue.key() },
        sort => sort.key(),
        q => qq.q.unwrap_or_default(),
        priority => priority.map(|p| p.as_str()).unwrap_or(""),
        priorities => Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        page => page,
        more => more,
        rows => rows(tickets, &names, &group_names),
        dues => tickets.iter().map(|t| super::due::badge(v.lang, t, now)).collect::<Vec<_>>(),
    });
    let _ = headers;
    Ok(render("queue.html", ctx))
}

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
         <base target=\"_blank\"><style>body{{font-family:sans-serif;margin:.5rem}}img{{max-width:100%}}</style>{html}"
    )
}

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

pub fn size(n: i64) -> String {
    tuki_store::attachments::human_size(n)
}

/// Everything the agent's ticket page shows.
async fn ticket_view(
    state: &AppState,
    v: &Viewer,
    number: i64,
    error: Option<String>,
    invite_link: Option<String>,
) -> PageResult {
    staff_only(v)?;
    let store = &state.store;
    let a = &v.actor;
    let t = store
        .ticket_by_number(a, number)
        .await
        .map_err(|e| v.err(e))?;
    let articles = store.articles(a, t.id).await.map_err(|e| v.err(e))?;
    let history = store.history(a, t.id).await.map_err(|e| v.err(e))?;
    let files = store
        .ticket_attachments(a, t.id)
        .await
        .map_err(|e| v.err(e))?;
    let links = store.links(a, t.id).await.map_err(|e| v.err(e))?;
    let groups = store.groups(a).await.map_err(|e| v.err(e))?;
    let requester = store.user(a, t.requester_id).await.map_err(|e| v.err(e))?;
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
    let mut ids: Vec<i64> = articles.iter().filter_map(|x| x.author_id).collect();
    ids.extend(history.iter().filter_map(|h| h.actor_id));
    ids.extend(t.followers.iter().copied());
    ids.extend(t.owner_id);
    for h in &history {
        if matches!(h.field.as_str(), "owner" | "follower") {
            ids.extend(h.old_value.as_deref().and_then(|x| x.parse::<i64>().ok()));
            ids.extend(h.new_value.as_deref().and_then(|x| x.parse::<i64>().ok()));
        }
    }
    let names = store.user_names(&ids).await.map_err(|e| v.err(e))?;
    let group_names: HashMap<i64, String> = groups.iter().map(|g| (g.id, g.name.clone())).collect();
    let uname = |id: Option<i64>| {
        id.and_then(|i| names.get(&i))
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| i18n::t(v.lang, "ticket.system"))
    };
    let mut timeline: Vec<Entry> = Vec::new();
    for art in &articles {
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
            "state" => i18n::t(v.lang, &format!("state.{raw}")),
            "priority" => i18n::t(v.lang, &format!("priority.{raw}")),
            _ => raw.clone(),
        })
    };
    for h in &history {
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
    let group = t.group_id.and_then(|g| groups.iter().find(|x| x.id == g));
    let owners: Vec<Value> = group
        .map(|g| {
            g.members
                .iter()
                .filter(|m| m.role != Role::Customer)
                .map(|m| context! { id => m.id, name => &m.name })
                .collect()
        })
        .unwrap_or_default();
    let states: Vec<&str> = TicketState::ALL
        .iter()
        .filter(|s| t.state.can_become(**s))
        .map(|s| s.as_str())
        .collect();
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
            due => super::due::badge(v.lang, &t, state.store.now()),
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
        owners => owners,
        states => states,
        priorities => Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        groups => groups.iter().filter(|g| Some(g.id) != t.group_id)
            .map(|g| context! { id => g.id, name => &g.name, tier => g.tier }).collect::<Vec<_>>(),
        error => error,
        invite_link => invite_link,
    });
    Ok(render("ticket.html", ctx))
}

pub async fn ticket_page(
    State(state): State<AppState>,
    v: Viewer,
    Path(number): Path<i64>,
) -> PageResult {
    if !v.is_staff() {
        return Ok(Redirect::to(&format!("/portal/tickets/{number}")).into_response());
    }
    ticket_view(&state, &v, number, None, None).await
}

/// Runs a change on a ticket: on success back to the ticket page (and a
/// live event), on a mistake the page again with the message.
async fn act<F, Fut>(state: &AppState, v: &Viewer, number: i64, f: F) -> PageResult
where
    F: FnOnce(Ticket) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, StoreError>>,
{
    staff_only(v)?;
    let t = state
        .store
        .ticket_by_number(&v.actor, number)
        .await
        .map_err(|e| v.err(e))?;
    let id = t.id;
    match f(t).await {
        Ok(None) => {
            state.web.live.publish(id, number);
            Ok(Redirect::to(&format!("/agent/tickets/{number}")).into_response())
        }
        Ok(Some(link)) => ticket_view(state, v, number, None, Some(link)).await,
        Err(StoreError::NotFound) => Err(PageError::not_found(v.lang)),
        Err(e) => match user_message(v.lang, &e) {
            Some(m) => {
                let mut r = ticket_view(state, v, number, Some(m), None).await?;
                *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                Ok(r)
            }
            None => Err(v.err(e)),
        },
    }
}

pub async fn add_article(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let kind = form
        .opt("kind")
        .and_then(|k| ArticleKind::parse("kind", k).ok())
        .unwrap_or(ArticleKind::Note);
    let body = form.text("body");
    staff_only(&v)?;
    // Written first, listed on the article in its transaction.
    let files = super::files::save_uploads(&state, &v, form.files).await?;
    let st = state.clone();
    let vv = v.clone();
    act(&state, &v, number, |t| async move {
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
    let st = state.clone();
    let vv = v.clone();
    act(&state, &v, number, |t| async move {
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
    let st = state.clone();
    let vv = v.clone();
    act(&state, &v, number, |t| async move {
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
    let st = state.clone();
    let vv = v.clone();
    act(&state, &v, number, |t| async move {
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
        st.web.live.publish(into.id, into.number);
        Ok(None)
    })
    .await
}

pub async fn link(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let st = state.clone();
    let vv = v.clone();
    act(&state, &v, number, |t| async move {
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
    let st = state.clone();
    let vv = v.clone();
    act(&state, &v, number, |t| async move {
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
    let st = state.clone();
    let vv = v.clone();
    act(&state, &v, number, |t| async move {
        let token = st
            .store
            .create_invitation(&vv.actor, t.requester_id)
            .await?;
        Ok(Some(format!("{}/invite/{token}", base_url(&headers))))
    })
    .await
}

#[derive(Deserialize, Default)]
pub struct IntakeQuery {
    q: Option<String>,
    customer: Option<i64>,
}

async fn customers(state: &AppState, v: &Viewer, q: &str) -> Result<Vec<Value>, StoreError> {
    if q.trim().chars().count() < 2 {
        return Ok(Vec::new());
    }
    let users = state
        .store
        .users(
            &v.actor,
            &UserFilter {
                q: Some(q.to_string()),
                role: Some(Role::Customer),
                limit: 10,
                ..Default::default()
            },
        )
        .await?;
    let orgs: Vec<i64> = users.iter().filter_map(|u| u.organisation_id).collect();
    let org_names = state.store.organisation_names(&orgs).await?;
    Ok(users
        .iter()
        .map(|u| {
            context! {
                id => u.id, name => &u.name, email => &u.email, phone => &u.phone,
                organisation => u.organisation_id.and_then(|o| org_names.get(&o).cloned()),
            }
        })
        .collect())
}

async fn intake_view(
    state: &AppState,
    v: &Viewer,
    q: &str,
    chosen: Option<i64>,
    values: Value,
    error: Option<String>,
) -> PageResult {
    staff_only(v)?;
    let store = &state.store;
    let found = customers(state, v, q).await.map_err(|e| v.err(e))?;
    let chosen = match chosen {
        Some(id) => store.user(&v.actor, id).await.ok().map(|u| {
            context! { id => u.id, name => u.name, email => u.email, phone => u.phone }
        }),
        None => None,
    };
    let groups = store.groups(&v.actor).await.map_err(|e| v.err(e))?;
    let orgs = store
        .organisations(&v.actor, None, None, 200)
        .await
        .map_err(|e| v.err(e))?;
    let side = sidebar(state, v, &groups).await.map_err(|e| v.err(e))?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut res = render(
        "intake.html",
        v.ctx(context! {
            queues => side,
            queue => "",
            q => q,
            customers => found,
            chosen => chosen,
            groups => groups.iter().map(|g| context! { id => g.id, name => &g.name, tier => g.tier, intake => g.is_intake }).collect::<Vec<_>>(),
            organisations => orgs.iter().map(|o| context! { id => o.id, name => &o.name }).collect::<Vec<_>>(),
            priorities => Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            channels => [Channel::Phone, Channel::WalkIn, Channel::Email].iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            f => values,
            error => error,
        }),
    );
    *res.status_mut() = status;
    Ok(res)
}

pub async fn intake_page(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<IntakeQuery>,
) -> PageResult {
    intake_view(
        &state,
        &v,
        q.q.as_deref().unwrap_or(""),
        q.customer,
        context! { channel => "phone", priority => "normal" },
        None,
    )
    .await
}

/// `/agent/customers?q=`: the look-up results alone, for htmx.
pub async fn customer_search(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<IntakeQuery>,
) -> PageResult {
    staff_only(&v)?;
    let found = customers(&state, &v, q.q.as_deref().unwrap_or(""))
        .await
        .map_err(|e| v.err(e))?;
    Ok(render(
        "customers.html",
        v.ctx(context! { customers => found, q => q.q.unwrap_or_default() }),
    ))
}

pub async fn intake(
    State(state): State<AppState>,
    Posted {
        viewer: v,
        mut form,
    }: Posted,
) -> PageResult {
    staff_only(&v)?;
    // Written first, listed on the first article in the ticket's transaction.
    let files = super::files::save_uploads(&state, &v, std::mem::take(&mut form.files)).await?;
    let values = context! {
        subject => form.text("subject"), body => form.text("body"),
        priority => form.text("priority"), channel => form.text("channel"),
        group_id => form.int("group_id"), category => form.text("category"),
        new_name => form.text("new_name"), new_email => form.text("new_email"),
        new_phone => form.text("new_phone"), organisation_id => form.int("organisation_id"),
    };
    let chosen = form.int("requester_id");
    let result: Result<Ticket, StoreError> = async {
        let requester = match chosen {
            Some(id) => id,
            None => {
                if form.opt("new_name").is_none() && form.opt("new_email").is_none() {
                    return Err(StoreError::invalid(
                        "requester_id",
                        i18n::t(v.lang, "intake.choose_customer"),
                    ));
                }
                state
                    .store
                    .create_user(
                        &v.actor,
                        NewUser {
                            email: form.text("new_email"),
                            name: form.text("new_name"),
                            phone: form.opt("new_phone").map(str::to_string),
                            role: Some(Role::Customer),
                            language: form
                                .opt("new_language")
                                .and_then(|l| {
                                    tuki_domain::directory::Language::parse("language", l).ok()
                                })
                                .or(Some(v.user.language)),
                            organisation_id: form.int("organisation_id"),
                            password: None,
                        },
                    )
                    .await?
                    .id
            }
        };
        let priority = form
            .opt("priority")
            .map(|p| Priority::parse("priority", p))
            .transpose()?;
        let channel = Channel::parse("channel", form.opt("channel").unwrap_or("phone"))?;
        state
            .store
            .create_ticket_with_files(
                &v.actor,
                NewTicket {
                    subject: form.text("subject"),
                    body: form.text("body"),
                    requester_id: Some(requester),
                    channel: Some(channel),
                    category: form.opt("category").map(str::to_string),
                    priority,
                    group_id: form.int("group_id"),
                    owner_id: None,
                    tags: Vec::new(),
                    article_kind: None,
                },
                files,
            )
            .await
    }
    .await;
    match result {
        Ok(t) => {
            state.web.live.publish(t.id, t.number);
            Ok(Redirect::to(&format!("/agent/tickets/{}", t.number)).into_response())
        }
        Err(e) => match user_message(v.lang, &e) {
            Some(m) => intake_view(&state, &v, "", chosen, values, Some(m)).await,
            None => Err(v.err(e)),
        },
    }
}
