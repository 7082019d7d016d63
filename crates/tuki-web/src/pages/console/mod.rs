//! The agent console: the queues with their sidebar counts (here), the
//! ticket page ([`ticket`]) and its actions ([`actions`]), and phone or
//! desk intake with customer look-up ([`intake`]).

pub(crate) mod actions;
mod intake;
mod ticket;

pub use actions::{add_article, base_url, follow, invite, link, merge, transfer, update};
pub use intake::{customer_search, intake, intake_page, IntakeQuery};
pub use ticket::{ticket_page, FileView, MAIL_FRAME_STYLE};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};
use tuki_domain::directory::Role;
use tuki_domain::ticket::Priority;
use tuki_store::console::{ActiveCounts, Queue, QueueSort};
use tuki_store::directory::Group;
use tuki_store::tickets::Ticket;
use tuki_store::StoreError;

use crate::pages::auth::Viewer;
use crate::pages::i18n;
use crate::pages::render::{render, when, PageError, PageResult};
use crate::AppState;

const PER_PAGE: i64 = 50;

pub(crate) fn staff_only(v: &Viewer) -> Result<(), PageError> {
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

pub(super) async fn names_for(
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

pub fn size(n: i64) -> String {
    tuki_store::attachments::human_size(n)
}
