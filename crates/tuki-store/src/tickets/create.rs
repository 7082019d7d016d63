//! New tickets: checked without the database first ([`Draft`]), then
//! written in as few statements as possible, one or many at a time.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Deserialize;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::directory::Role;
use tuki_domain::ticket::{ArticleKind, Channel, Priority, TicketState};
use tuki_domain::values;

use super::{check_owner, clean_category, clean_tags, Ticket, BODY_MAX, SUBJECT_MAX};
use crate::events::{dispatch_created, Created, Inbound};
use crate::sql::{Sql, Value};
use crate::time::to_db;
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTicket {
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub subject: String,
    /// The first article: the customer's description, or the agent's note of the call.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub body: String,
    /// Defaults to the caller. Staff register requests for customers here.
    #[serde(default)]
    pub requester_id: Option<i64>,
    /// Defaults to `api`; customers may only use `web` or `api`.
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub category: Option<String>,
    /// Defaults to `normal`. Staff only.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Defaults to the intake group. Staff only.
    #[serde(default)]
    pub group_id: Option<i64>,
    /// Staff only; must be a member of the group.
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// Staff only.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Kind of the first article; defaults to `phone` for phone requests, else `reply`.
    #[serde(default)]
    pub article_kind: Option<ArticleKind>,
    /// The device the request is about: one of the requester's (their own
    /// or their organisation's). Without it, a serial number of one of
    /// theirs in the subject or text names it.
    #[serde(default)]
    pub asset_id: Option<i64>,
}

/// A ticket about to be written, with every check that needs no database
/// done. The API, the pages and mail all write tickets through
/// [`insert_ticket`].
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub actor: Actor,
    pub subject: String,
    pub body: String,
    /// The sanitised HTML of an email (see `Article::body_html`).
    pub body_html: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub channel: Channel,
    pub requester_id: i64,
    pub kind: ArticleKind,
    pub internal: bool,
    pub priority: Priority,
    /// `None`: the intake group.
    pub group_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub at: Timestamp,
    /// The message it came in by, when it came by mail.
    pub inbound: Option<Inbound>,
    pub asset_id: Option<i64>,
}

impl Draft {
    pub(crate) fn new(actor: &Actor, new: NewTicket, at: Timestamp) -> Result<Draft> {
        let subject = values::line("subject", &new.subject, SUBJECT_MAX)?;
        let body = values::body("body", &new.body, BODY_MAX)?;
        let category = clean_category(new.category.as_deref())?;
        let tags = clean_tags(&new.tags)?;
        let channel;
        let requester_id;
        if actor.role == Role::Customer {
            for (field, given) in [
                ("priority", new.priority.is_some()),
                ("group_id", new.group_id.is_some()),
                ("owner_id", new.owner_id.is_some()),
                ("tags", !new.tags.is_empty()),
                (
                    "article_kind",
                    new.article_kind.is_some_and(|k| k != ArticleKind::Reply),
                ),
            ] {
                if given {
                    return Err(StoreError::forbidden(format!(
                        "customers cannot set {field}"
                    )));
                }
            }
            channel = match new.channel.unwrap_or(Channel::Api) {
                c @ (Channel::Web | Channel::Api) => c,
                _ => {
                    return Err(StoreError::invalid(
                        "channel",
                        "customers submit requests through web or api",
                    ))
                }
            };
            let me = actor.user_id.ok_or(StoreError::NotFound)?;
            if new.requester_id.is_some_and(|r| r != me) {
                return Err(StoreError::forbidden(
                    "customers submit requests for themselves",
                ));
            }
            requester_id = me;
        } else {
            channel = new.channel.unwrap_or(Channel::Api);
            requester_id = match new.requester_id.or(actor.user_id) {
                Some(r) => r,
                None => return Err(StoreError::invalid("requester_id", "is required")),
            };
        }
        let kind = new.article_kind.unwrap_or(if channel == Channel::Phone {
            ArticleKind::Phone
        } else {
            ArticleKind::Reply
        });
        let internal = kind.internal(None)?;
        let priority = new.priority.unwrap_or(Priority::Normal);
        Ok(Draft {
            actor: actor.clone(),
            subject,
            body,
            body_html: None,
            category,
            tags,
            channel,
            requester_id,
            kind,
            internal,
            priority,
            group_id: new.group_id,
            owner_id: new.owner_id,
            at,
            inbound: None,
            asset_id: new.asset_id,
        })
    }
}

/// Writes a drafted ticket, its first article, tags, follower and history
/// inside the caller's transaction, and starts its SLA clocks. Returns the
/// ticket and the id of its first article.
pub(crate) async fn insert_ticket(tx: &mut AnyConnection, d: &Draft) -> Result<(Ticket, i64)> {
    let mut written = insert_tickets(tx, &[d]).await?;
    Ok(written.remove(0))
}

/// Writes drafted tickets in the caller's transaction with a fixed number of
/// statements whatever their count (multi-row inserts): the one write path of
/// new tickets, used one at a time by the API on PostgreSQL and by mail, and
/// for whole batches by the group commit on SQLite, where each statement is a
/// round trip to the database thread. Fails as a whole if any draft is
/// invalid (the group commit then writes them one by one for precise
/// answers). Returns each ticket with the id of its first article.
pub(crate) async fn insert_tickets(
    tx: &mut AnyConnection,
    drafts: &[&Draft],
) -> Result<Vec<(Ticket, i64)>> {
    let places = place(tx, drafts).await?;
    let mut tickets = insert_rows(tx, drafts, &places).await?;
    let article_of = insert_first_articles(tx, drafts, &tickets).await?;
    insert_tags_and_followers(tx, drafts, &mut tickets).await?;
    let mut created: Vec<Created<'_>> = drafts
        .iter()
        .zip(tickets.iter_mut())
        .map(|(d, t)| Created {
            article_id: article_of[&t.id],
            body: &d.body,
            internal: d.internal,
            actor_id: d.actor.user_id,
            at: d.at,
            inbound: d.inbound.clone(),
            asset_id: d.asset_id,
            contract_policy: None,
            ticket: t,
        })
        .collect();
    dispatch_created(tx, &mut created).await?;
    Ok(tickets
        .into_iter()
        .map(|t| {
            let article = article_of[&t.id];
            (t, article)
        })
        .collect())
}

/// Where new tickets go: each requester's organisation and the intake group
/// for drafts that name none, after checking that requesters, groups and
/// owners exist and fit.
struct Places {
    orgs: HashMap<i64, Option<i64>>,
    intake: Option<i64>,
}

async fn place(tx: &mut AnyConnection, drafts: &[&Draft]) -> Result<Places> {
    // People open tickets for active users only; Tuki itself (mail from
    // someone whose account was switched off) still takes the request,
    // since refusing it would lose it or hold up the mailbox.
    let mut requester_ids: Vec<i64> = drafts.iter().map(|d| d.requester_id).collect();
    requester_ids.sort_unstable();
    requester_ids.dedup();
    let mut sql = Sql::new("SELECT id, organisation_id, active FROM users WHERE id IN ");
    sql.bind_list(&requester_ids);
    let mut orgs: HashMap<i64, Option<i64>> = HashMap::new();
    let mut inactive = Vec::new();
    for r in sql.query().fetch_all(&mut *tx).await? {
        let id: i64 = r.try_get("id")?;
        if !crate::sql::get_bool(&r, "active")? {
            inactive.push(id);
        }
        orgs.insert(id, r.try_get("organisation_id")?);
    }
    let refused = drafts
        .iter()
        .any(|d| d.actor.user_id.is_some() && inactive.contains(&d.requester_id));
    if orgs.len() != requester_ids.len() || refused {
        return Err(StoreError::invalid("requester_id", "no such user"));
    }
    let mut named: Vec<i64> = drafts.iter().filter_map(|d| d.group_id).collect();
    named.sort_unstable();
    named.dedup();
    let mut sql = Sql::new("SELECT id, is_intake FROM support_groups WHERE is_intake OR id IN ");
    sql.bind_list(if named.is_empty() { &[0] } else { &named });
    sql.push(" ORDER BY id");
    let mut found = Vec::new();
    let mut intake = None;
    for r in sql.query().fetch_all(&mut *tx).await? {
        let id: i64 = r.try_get("id")?;
        if crate::sql::get_bool(&r, "is_intake")? && intake.is_none() {
            intake = Some(id);
        }
        found.push(id);
    }
    if named.iter().any(|g| !found.contains(g)) {
        return Err(StoreError::invalid("group_id", "no such group"));
    }
    for d in drafts {
        if let Some(owner) = d.owner_id {
            check_owner(tx, owner, d.group_id.or(intake)).await?;
        }
    }
    Ok(Places { orgs, intake })
}

/// The ticket rows, numbered from the counter in one statement.
async fn insert_rows(
    tx: &mut AnyConnection,
    drafts: &[&Draft],
    places: &Places,
) -> Result<Vec<Ticket>> {
    let n = drafts.len() as i64;
    let last: i64 = sqlx::query(
        "UPDATE counters SET value = value + $1 WHERE name = 'ticket_number' RETURNING value",
    )
    .bind(n)
    .fetch_one(&mut *tx)
    .await?
    .try_get("value")?;
    let first_number = last - n + 1;

    let mut tickets = Vec::with_capacity(drafts.len());
    let mut sql = Sql::new(
        "INSERT INTO tickets (number, subject, subject_folded, requester_id, organisation_id, channel, category, \
         priority, state, active, group_id, owner_id, created_by, created_at, updated_at) VALUES ",
    );
    for (i, d) in drafts.iter().enumerate() {
        let t = Ticket {
            id: 0,
            number: first_number + i as i64,
            subject: d.subject.clone(),
            requester_id: d.requester_id,
            organisation_id: places.orgs[&d.requester_id],
            channel: d.channel,
            category: d.category.clone(),
            priority: d.priority,
            state: TicketState::New,
            group_id: d.group_id.or(places.intake),
            owner_id: d.owner_id,
            merged_into_id: None,
            created_by: d.actor.user_id,
            created_at: d.at,
            updated_at: d.at,
            resolved_at: None,
            closed_at: None,
            tags: d.tags.clone(),
            followers: Vec::new(),
            sla_policy_id: None,
            sla_state: None,
            first_response_due_at: None,
            next_response_due_at: None,
            resolution_due_at: None,
        };
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(Value::Int(t.number)).push(", ");
        sql.bind(Value::Text(t.subject.clone())).push(", ");
        sql.bind(Value::Text(values::fold(&t.subject))).push(", ");
        sql.bind(Value::Int(t.requester_id)).push(", ");
        sql.bind_opt(t.organisation_id);
        sql.push(", ")
            .bind(Value::Text(t.channel.as_str().into()))
            .push(", ");
        sql.bind_opt_text(t.category.as_deref());
        sql.push(", ")
            .bind(Value::Int(t.priority.rank()))
            .push(", ");
        sql.bind(Value::Text(t.state.as_str().into())).push(", ");
        sql.bind(Value::Bool(true)).push(", ");
        sql.bind_opt(t.group_id);
        sql.push(", ");
        sql.bind_opt(t.owner_id);
        sql.push(", ");
        sql.bind_opt(t.created_by);
        sql.push(", ")
            .bind(Value::Int(to_db(t.created_at)))
            .push(", ")
            .bind(Value::Int(to_db(t.updated_at)))
            .push(")");
        tickets.push(t);
    }
    // Rows come back in no promised order: match them by their number.
    sql.push(" RETURNING id, number");
    for r in sql.query().fetch_all(&mut *tx).await? {
        let number: i64 = r.try_get("number")?;
        tickets[(number - first_number) as usize].id = r.try_get("id")?;
    }
    Ok(tickets)
}

/// The first article of each ticket; by ticket id.
async fn insert_first_articles(
    tx: &mut AnyConnection,
    drafts: &[&Draft],
    tickets: &[Ticket],
) -> Result<HashMap<i64, i64>> {
    let mut sql = Sql::new(
        "INSERT INTO articles (ticket_id, kind, internal, author_id, body, body_html, created_at) VALUES ",
    );
    for (i, (d, t)) in drafts.iter().zip(tickets).enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(Value::Int(t.id)).push(", ");
        sql.bind(Value::Text(d.kind.as_str().into())).push(", ");
        sql.bind(Value::Bool(d.internal)).push(", ");
        sql.bind(Value::Int(d.actor.user_id.unwrap_or(d.requester_id)))
            .push(", ");
        sql.bind(Value::Text(d.body.clone())).push(", ");
        sql.bind_opt_text(d.body_html.as_deref());
        sql.push(", ").bind(Value::Int(to_db(d.at))).push(")");
    }
    sql.push(" RETURNING id, ticket_id");
    let mut article_of: HashMap<i64, i64> = HashMap::new();
    for r in sql.query().fetch_all(&mut *tx).await? {
        article_of.insert(r.try_get("ticket_id")?, r.try_get("id")?);
    }
    Ok(article_of)
}

/// Tags, and staff registering for a group they are not in as followers,
/// each as one statement.
async fn insert_tags_and_followers(
    tx: &mut AnyConnection,
    drafts: &[&Draft],
    tickets: &mut [Ticket],
) -> Result<()> {
    let mut tags = Sql::new("INSERT INTO ticket_tags (ticket_id, tag) VALUES ");
    let mut follows =
        Sql::new("INSERT INTO ticket_followers (ticket_id, user_id, created_at) VALUES ");
    let (mut n_tags, mut n_follows) = (0, 0);
    for (d, t) in drafts.iter().zip(tickets.iter_mut()) {
        for tag in &d.tags {
            tags.push(if n_tags == 0 { "(" } else { ", (" });
            tags.bind(Value::Int(t.id))
                .push(", ")
                .bind(Value::Text(tag.clone()))
                .push(")");
            n_tags += 1;
        }
        if let Some(me) = d.actor.user_id {
            if d.actor.role == Role::Agent
                && !t.group_id.is_some_and(|g| d.actor.in_group(g))
                && d.owner_id != Some(me)
            {
                follows.push(if n_follows == 0 { "(" } else { ", (" });
                follows
                    .bind(Value::Int(t.id))
                    .push(", ")
                    .bind(Value::Int(me))
                    .push(", ");
                follows.bind(Value::Int(to_db(d.at))).push(")");
                n_follows += 1;
                t.followers.push(me);
            }
        }
    }
    if n_tags > 0 {
        tags.query().execute(&mut *tx).await?;
    }
    if n_follows > 0 {
        follows.query().execute(&mut *tx).await?;
    }
    Ok(())
}

impl Store {
    /// Registers a new request with its first article. Everything is
    /// committed before this returns; on SQLite concurrent requests share one
    /// transaction (see [`super::batch`]).
    pub async fn create_ticket(&self, actor: &Actor, new: NewTicket) -> Result<Ticket> {
        let draft = Draft::new(actor, new, self.now())?;
        match &self.creates {
            Some(creates) => creates.submit(draft).await,
            None => {
                let mut tx = self.begin_write().await?;
                let (t, _) = insert_ticket(&mut tx, &draft).await?;
                tx.commit().await?;
                Ok(t)
            }
        }
    }
}

impl Store {
    /// Checks a new ticket's own fields as creating it would, without
    /// writing anything: the intake page answers a mistake before it looks
    /// anything else up.
    pub fn check_new_ticket(&self, actor: &Actor, new: &NewTicket) -> Result<()> {
        Draft::new(actor, new.clone(), self.now()).map(|_| ())
    }
}
