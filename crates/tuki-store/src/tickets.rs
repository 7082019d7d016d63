//! Tickets: creating, reading, listing and changing requests.

use std::collections::HashMap;

use base64::Engine as _;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::{decide, Actor, Decision, TicketAction, TicketFacts};
use tuki_domain::directory::Role;
use tuki_domain::sla::SlaState;
use tuki_domain::ticket::{self as rules, ArticleKind, Channel, Priority, TicketState};
use tuki_domain::values;

use crate::directory::double_option;
use crate::history::{record, Change};
use crate::sla::{on_ticket_event, TicketEvent};
use crate::sql::{Sql, Value};
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store, StoreError};

pub const SUBJECT_MAX: usize = 250;
pub const BODY_MAX: usize = 100_000;
pub const MAX_TAGS: usize = 30;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    pub id: i64,
    /// Human-friendly number, sequential, shown as `#1234`.
    pub number: i64,
    pub subject: String,
    pub requester_id: i64,
    pub organisation_id: Option<i64>,
    pub channel: Channel,
    pub category: Option<String>,
    pub priority: Priority,
    pub state: TicketState,
    pub group_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// Set when this ticket was merged into another; it is then closed.
    pub merged_into_id: Option<i64>,
    pub created_by: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub resolved_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub closed_at: Option<Timestamp>,
    pub tags: Vec<String>,
    /// Users who follow the ticket and are told when it moves.
    pub followers: Vec<i64>,
    /// The SLA policy chosen when the ticket was created; `None` when no
    /// policy matched.
    pub sla_policy_id: Option<i64>,
    /// The most urgent state of the ticket's SLA clocks (breached, warned,
    /// running, paused, met); `None` without a policy.
    pub sla_state: Option<SlaState>,
    /// When the first public answer is due; absent while paused or without
    /// that target.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub first_response_due_at: Option<Timestamp>,
    /// When the answer to the customer's latest reply is due.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub next_response_due_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub resolution_due_at: Option<Timestamp>,
}

impl Ticket {
    pub fn facts(&self, actor: &Actor) -> TicketFacts {
        TicketFacts {
            requester_id: self.requester_id,
            organisation_id: self.organisation_id,
            group_id: self.group_id,
            owner_id: self.owner_id,
            followed_by_actor: actor.user_id.is_some_and(|u| self.followers.contains(&u)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTicket {
    pub subject: String,
    /// The first article: the customer's description, or the agent's note of the call.
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
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketPatch {
    pub subject: Option<String>,
    pub state: Option<TicketState>,
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub category: Option<Option<String>>,
    /// `null` unassigns. To move the ticket to another group, use transfer.
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub owner_id: Option<Option<i64>>,
    /// Replaces the whole set.
    pub tags: Option<Vec<String>>,
}

/// How a ticket list is ordered. Each sorts by its key, then by id, in the
/// same direction, so that cursors are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TicketSort {
    #[default]
    NewestFirst,
    OldestFirst,
    PriorityDesc,
    PriorityAsc,
    UpdatedDesc,
    UpdatedAsc,
    /// The earliest open SLA due time first (tickets without one last).
    DueSoonest,
}

impl TicketSort {
    pub const NAMES: &'static [&'static str] = &[
        "-created",
        "created",
        "-priority",
        "priority",
        "-updated",
        "updated",
        "due",
    ];

    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        Ok(match raw {
            "-created" => TicketSort::NewestFirst,
            "created" => TicketSort::OldestFirst,
            "-priority" => TicketSort::PriorityDesc,
            "priority" => TicketSort::PriorityAsc,
            "-updated" => TicketSort::UpdatedDesc,
            "updated" => TicketSort::UpdatedAsc,
            "due" => TicketSort::DueSoonest,
            _ => {
                return Err(StoreError::invalid(
                    field,
                    format!("must be one of: {}", Self::NAMES.join(", ")),
                ))
            }
        })
    }

    /// (key column, descending)
    fn key(self) -> (Option<&'static str>, bool) {
        match self {
            TicketSort::NewestFirst => (None, true),
            TicketSort::OldestFirst => (None, false),
            TicketSort::PriorityDesc => (Some("priority"), true),
            TicketSort::PriorityAsc => (Some("priority"), false),
            TicketSort::UpdatedDesc => (Some("updated_at"), true),
            TicketSort::UpdatedAsc => (Some("updated_at"), false),
            TicketSort::DueSoonest => (Some("sla_due_at"), false),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub states: Vec<TicketState>,
    /// `Some(true)`: only tickets not yet resolved or closed.
    pub active: Option<bool>,
    pub group_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// Only tickets without an owner.
    pub unassigned: bool,
    pub requester_id: Option<i64>,
    pub organisation_id: Option<i64>,
    pub priorities: Vec<Priority>,
    pub tag: Option<String>,
    /// Part of the subject, case-insensitive.
    pub text: Option<String>,
    /// Only active tickets with an SLA clock running towards a due time.
    pub at_risk: bool,
    /// Only tickets whose overall SLA state is one of these.
    pub sla_states: Vec<SlaState>,
    pub sort: TicketSort,
    pub cursor: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketPage {
    pub items: Vec<Ticket>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub(crate) const TICKET_COLUMNS: &str = "t.id, t.number, t.subject, t.requester_id, t.organisation_id, t.channel, \
     t.category, t.priority, t.state, t.group_id, t.owner_id, t.merged_into_id, t.created_by, t.created_at, \
     t.updated_at, t.resolved_at, t.closed_at, t.sla_policy_id, t.sla_state, t.first_response_due_at, \
     t.next_response_due_at, t.resolution_due_at, t.sla_due_at";

pub(crate) fn ticket_from_row(row: &AnyRow) -> Result<Ticket> {
    Ok(Ticket {
        id: row.try_get("id")?,
        number: row.try_get("number")?,
        subject: row.try_get("subject")?,
        requester_id: row.try_get("requester_id")?,
        organisation_id: row.try_get("organisation_id")?,
        channel: Channel::parse("channel", &row.try_get::<String, _>("channel")?)?,
        category: row.try_get("category")?,
        priority: Priority::from_rank(row.try_get("priority")?)
            .ok_or_else(|| StoreError::invalid("priority", "stored priority out of range"))?,
        state: TicketState::parse("state", &row.try_get::<String, _>("state")?)?,
        group_id: row.try_get("group_id")?,
        owner_id: row.try_get("owner_id")?,
        merged_into_id: row.try_get("merged_into_id")?,
        created_by: row.try_get("created_by")?,
        created_at: from_db(row.try_get("created_at")?),
        updated_at: from_db(row.try_get("updated_at")?),
        resolved_at: opt_from_db(row.try_get("resolved_at")?),
        closed_at: opt_from_db(row.try_get("closed_at")?),
        tags: Vec::new(),
        followers: Vec::new(),
        sla_policy_id: row.try_get("sla_policy_id")?,
        sla_state: row
            .try_get::<Option<String>, _>("sla_state")?
            .map(|s| SlaState::parse("sla_state", &s))
            .transpose()?,
        first_response_due_at: opt_from_db(row.try_get("first_response_due_at")?),
        next_response_due_at: opt_from_db(row.try_get("next_response_due_at")?),
        resolution_due_at: opt_from_db(row.try_get("resolution_due_at")?),
    })
}

fn clean_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = values::tag("tags", t)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(StoreError::invalid(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    out.sort();
    Ok(out)
}

fn clean_category(raw: Option<&str>) -> Result<Option<String>> {
    raw.map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| values::line("category", c, 100))
        .transpose()
        .map_err(Into::into)
}

/// Answers the access question, turning "no" into the right error.
pub(crate) fn check(actor: &Actor, facts: &TicketFacts, action: TicketAction) -> Result<()> {
    match decide(actor, facts, action) {
        Decision::Allow => Ok(()),
        Decision::Forbidden => Err(StoreError::forbidden(
            "your role may not do this to a ticket",
        )),
        Decision::Hidden => Err(StoreError::NotFound),
    }
}

/// Loads a ticket (with tags and followers) on the given connection.
pub(crate) async fn load(conn: &mut AnyConnection, id: i64) -> Result<Ticket> {
    let row = sqlx::query(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let mut t = ticket_from_row(&row)?;
    let mut extras = load_extras(conn, &[t.id]).await?;
    if let Some((tags, followers)) = extras.remove(&t.id) {
        t.tags = tags;
        t.followers = followers;
    }
    Ok(t)
}

/// Loads a ticket for a change and checks that the actor may make it.
pub(crate) async fn load_for(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    action: TicketAction,
) -> Result<Ticket> {
    let t = load(conn, id).await?;
    check(actor, &t.facts(actor), action)?;
    Ok(t)
}

type Extras = HashMap<i64, (Vec<String>, Vec<i64>)>;

async fn load_extras(conn: &mut AnyConnection, ids: &[i64]) -> Result<Extras> {
    let mut out: Extras = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut sql = Sql::new("SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN ");
    sql.bind_list(ids).push(" ORDER BY ticket_id, tag");
    for r in sql.query().fetch_all(&mut *conn).await? {
        out.entry(r.try_get("ticket_id")?)
            .or_default()
            .0
            .push(r.try_get("tag")?);
    }
    let mut sql = Sql::new("SELECT ticket_id, user_id FROM ticket_followers WHERE ticket_id IN ");
    sql.bind_list(ids).push(" ORDER BY ticket_id, user_id");
    for r in sql.query().fetch_all(&mut *conn).await? {
        out.entry(r.try_get("ticket_id")?)
            .or_default()
            .1
            .push(r.try_get("user_id")?);
    }
    Ok(out)
}

/// Checks that a user can own tickets of a group: staff, active, and a
/// member of the group (administrators may own any ticket).
pub(crate) async fn check_owner(
    conn: &mut AnyConnection,
    owner: i64,
    group: Option<i64>,
) -> Result<()> {
    let row = sqlx::query("SELECT role FROM users WHERE id = $1 AND active")
        .bind(owner)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::invalid("owner_id", "no such user"))?;
    let role = Role::parse("role", &row.try_get::<String, _>("role")?)?;
    match role {
        Role::Customer => Err(StoreError::invalid(
            "owner_id",
            "a customer cannot own a ticket",
        )),
        Role::Admin => Ok(()),
        Role::Agent => {
            let Some(group) = group else {
                return Err(StoreError::invalid(
                    "owner_id",
                    "the ticket has no group; only an administrator can own it",
                ));
            };
            let member = sqlx::query(
                "SELECT user_id FROM group_members WHERE group_id = $1 AND user_id = $2",
            )
            .bind(group)
            .bind(owner)
            .fetch_optional(&mut *conn)
            .await?;
            if member.is_some() {
                Ok(())
            } else {
                Err(StoreError::invalid(
                    "owner_id",
                    "the owner must be a member of the ticket's group",
                ))
            }
        }
    }
}

pub(crate) async fn add_follower(
    conn: &mut AnyConnection,
    ticket: i64,
    user: i64,
    at: i64,
) -> Result<bool> {
    let present =
        sqlx::query("SELECT user_id FROM ticket_followers WHERE ticket_id = $1 AND user_id = $2")
            .bind(ticket)
            .bind(user)
            .fetch_optional(&mut *conn)
            .await?;
    if present.is_some() {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO ticket_followers (ticket_id, user_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(ticket)
    .bind(user)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Writes the mutable columns of a ticket as they are in `t`.
pub(crate) async fn save(conn: &mut AnyConnection, t: &Ticket) -> Result<()> {
    sqlx::query(
        "UPDATE tickets SET subject = $1, subject_folded = $2, category = $3, priority = $4, state = $5, \
         active = $6, group_id = $7, owner_id = $8, merged_into_id = $9, updated_at = $10, resolved_at = $11, \
         closed_at = $12 WHERE id = $13",
    )
    .bind(&t.subject)
    .bind(values::fold(&t.subject))
    .bind(t.category.as_deref())
    .bind(t.priority.rank())
    .bind(t.state.as_str())
    .bind(t.state.is_active())
    .bind(t.group_id)
    .bind(t.owner_id)
    .bind(t.merged_into_id)
    .bind(to_db(t.updated_at))
    .bind(t.resolved_at.map(to_db))
    .bind(t.closed_at.map(to_db))
    .bind(t.id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a ticket to a new state, keeping the resolved/closed stamps true.
pub(crate) fn set_state(t: &mut Ticket, to: TicketState, at: Timestamp) {
    t.state = to;
    t.resolved_at = match to {
        TicketState::Resolved => Some(at),
        TicketState::Closed => t.resolved_at,
        _ => None,
    };
    t.closed_at = if to == TicketState::Closed {
        Some(at)
    } else {
        None
    };
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
    // Requesters with their organisations, and the intake group. People
    // open tickets for active users only; Tuki itself (mail from someone
    // whose account was switched off) still takes the request, since
    // refusing it would lose it or hold up the mailbox.
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
        let number = first_number + i as i64;
        let group_id = d.group_id.or(intake);
        let organisation_id = orgs[&d.requester_id];
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(Value::Int(number)).push(", ");
        sql.bind(Value::Text(d.subject.clone())).push(", ");
        sql.bind(Value::Text(values::fold(&d.subject))).push(", ");
        sql.bind(Value::Int(d.requester_id)).push(", ");
        sql.bind_opt(organisation_id);
        sql.push(", ")
            .bind(Value::Text(d.channel.as_str().into()))
            .push(", ");
        sql.bind_opt_text(d.category.as_deref());
        sql.push(", ")
            .bind(Value::Int(d.priority.rank()))
            .push(", ");
        sql.bind(Value::Text(TicketState::New.as_str().into()))
            .push(", ");
        sql.bind(Value::Bool(true)).push(", ");
        sql.bind_opt(group_id);
        sql.push(", ");
        sql.bind_opt(d.owner_id);
        sql.push(", ");
        sql.bind_opt(d.actor.user_id);
        sql.push(", ")
            .bind(Value::Int(to_db(d.at)))
            .push(", ")
            .bind(Value::Int(to_db(d.at)))
            .push(")");
        tickets.push(Ticket {
            id: 0,
            number,
            subject: d.subject.clone(),
            requester_id: d.requester_id,
            organisation_id,
            channel: d.channel,
            category: d.category.clone(),
            priority: d.priority,
            state: TicketState::New,
            group_id,
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
        });
    }
    // Rows come back in no promised order: match them by their number.
    sql.push(" RETURNING id, number");
    for r in sql.query().fetch_all(&mut *tx).await? {
        let number: i64 = r.try_get("number")?;
        tickets[(number - first_number) as usize].id = r.try_get("id")?;
    }

    let mut sql = Sql::new(
        "INSERT INTO articles (ticket_id, kind, internal, author_id, body, body_html, created_at) VALUES ",
    );
    for (i, (d, t)) in drafts.iter().zip(&tickets).enumerate() {
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

    // Tags, followers (staff registering for a group they are not in) and
    // the "created" history, each as one statement.
    let mut tags = Sql::new("INSERT INTO ticket_tags (ticket_id, tag) VALUES ");
    let mut follows =
        Sql::new("INSERT INTO ticket_followers (ticket_id, user_id, created_at) VALUES ");
    let mut history = Sql::new(
        "INSERT INTO ticket_history (ticket_id, actor_id, at, field, old_value, new_value) VALUES ",
    );
    let (mut n_tags, mut n_follows) = (0, 0);
    for (i, (d, t)) in drafts.iter().zip(tickets.iter_mut()).enumerate() {
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
        history.push(if i == 0 { "(" } else { ", (" });
        history.bind(Value::Int(t.id)).push(", ");
        history.bind_opt(d.actor.user_id);
        history
            .push(", ")
            .bind(Value::Int(to_db(d.at)))
            .push(", 'created', NULL, ");
        history
            .bind(Value::Text(format!("#{}", t.number)))
            .push(")");
    }
    if n_tags > 0 {
        tags.query().execute(&mut *tx).await?;
    }
    if n_follows > 0 {
        follows.query().execute(&mut *tx).await?;
    }
    history.query().execute(&mut *tx).await?;

    let events: Vec<(i64, Option<i64>, i64)> = drafts
        .iter()
        .zip(&tickets)
        .map(|(d, t)| (t.id, d.actor.user_id, article_of[&t.id]))
        .collect();
    crate::outbox::record_created(tx, &events, drafts[0].at).await?;
    if crate::sla::any_active_policy(tx).await? {
        for (d, t) in drafts.iter().zip(tickets.iter_mut()) {
            crate::sla::clocks_on_event(tx, t, d.actor.user_id, TicketEvent::Created, d.at).await?;
        }
    }
    Ok(tickets
        .into_iter()
        .map(|t| {
            let article = article_of[&t.id];
            (t, article)
        })
        .collect())
}

fn opt_str(v: Option<i64>) -> Option<String> {
    v.map(|v| v.to_string())
}

impl Store {
    /// Registers a new request with its first article. Everything is
    /// committed before this returns; on SQLite concurrent requests share one
    /// transaction (see [`crate::batch`]).
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

    /// Checks an action on a ticket without changing anything.
    pub async fn authorize(&self, actor: &Actor, id: i64, action: TicketAction) -> Result<Ticket> {
        let mut conn = self.read.acquire().await?;
        load_for(&mut conn, actor, id, action).await
    }

    pub async fn ticket(&self, actor: &Actor, id: i64) -> Result<Ticket> {
        self.authorize(actor, id, TicketAction::View).await
    }

    pub async fn ticket_by_number(&self, actor: &Actor, number: i64) -> Result<Ticket> {
        let row = sqlx::query("SELECT id FROM tickets WHERE number = $1")
            .bind(number)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.ticket(actor, row.try_get("id")?).await
    }

    /// Lists the tickets the actor may see that match the filter.
    pub async fn tickets(&self, actor: &Actor, f: &TicketFilter) -> Result<TicketPage> {
        let limit = f.limit.clamp(1, 200);
        let mut sql = Sql::new(&format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE 1=1"));
        visibility(actor, f.group_id, &mut sql);
        if !f.states.is_empty() {
            sql.push(" AND t.state IN (");
            for (i, s) in f.states.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(Value::Text(s.as_str().into()));
            }
            sql.push(")");
        }
        if let Some(a) = f.active {
            sql.push(" AND t.active = ").bind(Value::Bool(a));
        }
        if let Some(g) = f.group_id {
            sql.push(" AND t.group_id = ").bind(Value::Int(g));
        }
        if let Some(o) = f.owner_id {
            sql.push(" AND t.owner_id = ").bind(Value::Int(o));
        }
        if f.unassigned {
            sql.push(" AND t.owner_id IS NULL");
        }
        if let Some(r) = f.requester_id {
            sql.push(" AND t.requester_id = ").bind(Value::Int(r));
        }
        if let Some(o) = f.organisation_id {
            sql.push(" AND t.organisation_id = ").bind(Value::Int(o));
        }
        if !f.priorities.is_empty() {
            let ranks: Vec<i64> = f.priorities.iter().map(|p| p.rank()).collect();
            sql.push(" AND t.priority IN ").bind_list(&ranks);
        }
        if let Some(tag) = &f.tag {
            let tag = values::tag("tag", tag)?;
            sql.push(
                " AND EXISTS (SELECT 1 FROM ticket_tags tt WHERE tt.ticket_id = t.id AND tt.tag = ",
            )
            .bind(Value::Text(tag))
            .push(")");
        }
        if let Some(text) = f.text.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            values::clean_text("q", text, 200)?;
            sql.push(" AND t.subject_folded LIKE ")
                .bind(Value::Text(format!(
                    "%{}%",
                    crate::directory::like_escape(&values::fold(text))
                )))
                .push(" ESCAPE '\\'");
        }
        if f.at_risk {
            sql.push(" AND t.active = ")
                .bind(Value::Bool(true))
                .push(" AND t.sla_due_at < ")
                .bind(Value::Int(i64::MAX));
        }
        if !f.sla_states.is_empty() {
            sql.push(" AND t.sla_state IN (");
            for (i, s) in f.sla_states.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(Value::Text(s.as_str().into()));
            }
            sql.push(")");
        }
        let (key, desc) = f.sort.key();
        let cmp = if desc { "<" } else { ">" };
        if let Some(cursor) = &f.cursor {
            let (k, id) = decode_cursor(cursor)?;
            match key {
                Some(col) => {
                    sql.push(&format!(" AND (t.{col}, t.id) {cmp} ("))
                        .bind(Value::Int(k.ok_or_else(|| {
                            StoreError::invalid("cursor", "does not fit this sort")
                        })?))
                        .push(", ")
                        .bind(Value::Int(id))
                        .push(")");
                }
                None => {
                    sql.push(&format!(" AND t.id {cmp} ")).bind(Value::Int(id));
                }
            }
        }
        let dir = if desc { "DESC" } else { "ASC" };
        match key {
            Some(col) => sql.push(&format!(" ORDER BY t.{col} {dir}, t.id {dir}")),
            None => sql.push(&format!(" ORDER BY t.id {dir}")),
        };
        sql.push(" LIMIT ").bind(Value::Int(limit + 1));

        let mut conn = self.read.acquire().await?;
        let rows = sql.query().fetch_all(&mut *conn).await?;
        let mut items = rows
            .iter()
            .map(ticket_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            let last_due: i64 = rows[limit as usize - 1].try_get("sla_due_at")?;
            items.last().map(|t| {
                encode_cursor(
                    match key {
                        Some("priority") => Some(t.priority.rank()),
                        Some("sla_due_at") => Some(last_due),
                        Some(_) => Some(to_db(t.updated_at)),
                        None => None,
                    },
                    t.id,
                )
            })
        } else {
            None
        };
        let ids: Vec<i64> = items.iter().map(|t| t.id).collect();
        let mut extras = load_extras(&mut conn, &ids).await?;
        for t in &mut items {
            if let Some((tags, followers)) = extras.remove(&t.id) {
                t.tags = tags;
                t.followers = followers;
            }
        }
        Ok(TicketPage { items, next_cursor })
    }

    /// Changes a ticket's fields; each change goes to the history.
    pub async fn update_ticket(
        &self,
        actor: &Actor,
        id: i64,
        patch: TicketPatch,
    ) -> Result<Ticket> {
        let subject = patch
            .subject
            .as_deref()
            .map(|s| values::line("subject", s, SUBJECT_MAX))
            .transpose()?;
        let category = patch
            .category
            .as_ref()
            .map(|c| clean_category(c.as_deref()))
            .transpose()?;
        let tags = patch.tags.as_deref().map(clean_tags).transpose()?;
        let edits = subject.is_some()
            || category.is_some()
            || tags.is_some()
            || patch.priority.is_some()
            || patch.owner_id.is_some();
        let at = self.now();
        let at_db = to_db(at);

        let mut tx = self.begin_write().await?;
        let mut t = load_for(
            &mut tx,
            actor,
            id,
            if edits {
                TicketAction::Edit
            } else {
                TicketAction::ChangeState
            },
        )
        .await?;
        let before = t.clone();
        let mut changes: Vec<Change> = Vec::new();
        let mut state_change = None;

        if let Some(s) = subject.filter(|s| *s != t.subject) {
            changes.push(Change::new(
                "subject",
                Some(t.subject.clone()),
                Some(s.clone()),
            ));
            t.subject = s;
        }
        if let Some(c) = category.filter(|c| *c != t.category) {
            changes.push(Change::new("category", t.category.clone(), c.clone()));
            t.category = c;
        }
        if let Some(p) = patch.priority.filter(|p| *p != t.priority) {
            changes.push(Change::new(
                "priority",
                Some(t.priority.to_string()),
                Some(p.to_string()),
            ));
            t.priority = p;
        }
        if let Some(owner) = patch.owner_id.filter(|o| *o != t.owner_id) {
            if let Some(o) = owner {
                check_owner(&mut tx, o, t.group_id).await?;
            }
            changes.push(Change::new("owner", opt_str(t.owner_id), opt_str(owner)));
            t.owner_id = owner;
        }
        if let Some(to) = patch.state.filter(|s| *s != t.state) {
            if t.merged_into_id.is_some() {
                return Err(StoreError::conflict(
                    Some("state"),
                    "a merged ticket stays closed",
                ));
            }
            rules::transition(t.state, to, actor.role)?;
            changes.push(Change::new(
                "state",
                Some(t.state.to_string()),
                Some(to.to_string()),
            ));
            state_change = Some(TicketEvent::StateChanged { from: t.state, to });
            set_state(&mut t, to, at);
        }
        if let Some(tags) = tags {
            for gone in before.tags.iter().filter(|x| !tags.contains(x)) {
                sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = $1 AND tag = $2")
                    .bind(id)
                    .bind(gone)
                    .execute(&mut *tx)
                    .await?;
                changes.push(Change::new("tag", Some(gone.clone()), None));
            }
            for added in tags.iter().filter(|x| !before.tags.contains(x)) {
                sqlx::query("INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)")
                    .bind(id)
                    .bind(added)
                    .execute(&mut *tx)
                    .await?;
                changes.push(Change::new("tag", None, Some(added.clone())));
            }
            t.tags = tags;
        }
        if changes.is_empty() {
            tx.rollback().await?;
            return Ok(t);
        }
        t.updated_at = at;
        save(&mut tx, &t).await?;
        for c in changes {
            record(&mut tx, id, actor.user_id, at_db, c).await?;
        }
        if let Some(event) = state_change {
            on_ticket_event(&mut tx, &mut t, actor.user_id, event, at).await?;
        }
        if let Some(o) = t.owner_id.filter(|o| before.owner_id != Some(*o)) {
            crate::outbox::on_assigned(&mut tx, &t, actor.user_id, o, at).await?;
        }
        tx.commit().await?;
        Ok(t)
    }

    /// Adds a follower. Agents may add themselves or colleagues; followers
    /// are staff.
    pub async fn follow(&self, actor: &Actor, id: i64, user_id: i64) -> Result<Ticket> {
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let mut t = load_for(&mut tx, actor, id, TicketAction::Follow).await?;
        let role = sqlx::query("SELECT role FROM users WHERE id = $1 AND active")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::invalid("user_id", "no such user"))?
            .try_get::<String, _>("role")?;
        if role == Role::Customer.as_str() {
            return Err(StoreError::invalid("user_id", "followers are staff"));
        }
        if add_follower(&mut tx, id, user_id, at).await? {
            record(
                &mut tx,
                id,
                actor.user_id,
                at,
                Change::new("follower", None, Some(user_id.to_string())),
            )
            .await?;
            t.followers.push(user_id);
            t.followers.sort();
        }
        tx.commit().await?;
        Ok(t)
    }

    pub async fn unfollow(&self, actor: &Actor, id: i64, user_id: i64) -> Result<Ticket> {
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let mut t = load_for(&mut tx, actor, id, TicketAction::Follow).await?;
        let done =
            sqlx::query("DELETE FROM ticket_followers WHERE ticket_id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() > 0 {
            record(
                &mut tx,
                id,
                actor.user_id,
                at,
                Change::new("follower", Some(user_id.to_string()), None),
            )
            .await?;
            t.followers.retain(|f| *f != user_id);
        }
        tx.commit().await?;
        Ok(t)
    }
}

/// Restricts a ticket query to what the actor may see: the SQL form of
/// `tuki_domain::access::can_view_ticket` (a test checks they agree).
pub(crate) fn visibility(actor: &Actor, group_filter: Option<i64>, sql: &mut Sql) {
    match actor.role {
        Role::Admin => {}
        Role::Agent => {
            // Filtering on one of the agent's own groups already implies
            // visibility; leaving the OR out lets the queue index work alone.
            if group_filter.is_some_and(|g| actor.in_group(g)) {
                return;
            }
            let me = actor.user_id.unwrap_or(-1);
            sql.push(" AND (");
            if !actor.group_ids.is_empty() {
                sql.push("t.group_id IN ")
                    .bind_list(&actor.group_ids)
                    .push(" OR ");
            }
            sql.push("t.owner_id = ").bind(Value::Int(me));
            sql.push(" OR EXISTS (SELECT 1 FROM ticket_followers f WHERE f.ticket_id = t.id AND f.user_id = ")
                .bind(Value::Int(me))
                .push("))");
        }
        Role::Customer => {
            let me = actor.user_id.unwrap_or(-1);
            sql.push(" AND (t.requester_id = ").bind(Value::Int(me));
            if let (true, Some(org)) = (actor.organisation_shares, actor.organisation_id) {
                sql.push(" OR t.organisation_id = ").bind(Value::Int(org));
            }
            sql.push(")");
        }
    }
}

fn encode_cursor(key: Option<i64>, id: i64) -> String {
    let raw = match key {
        Some(k) => format!("{k}:{id}"),
        None => format!("{id}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str) -> Result<(Option<i64>, i64)> {
    let bad = || StoreError::invalid("cursor", "is not a cursor from this list");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    match raw.split_once(':') {
        Some((k, id)) => Ok((
            Some(k.parse().map_err(|_| bad())?),
            id.parse().map_err(|_| bad())?,
        )),
        None => Ok((None, raw.parse().map_err(|_| bad())?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        assert_eq!(
            decode_cursor(&encode_cursor(Some(3), 42)).unwrap(),
            (Some(3), 42)
        );
        assert_eq!(decode_cursor(&encode_cursor(None, 42)).unwrap(), (None, 42));
        assert!(decode_cursor("!!").is_err());
        assert!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x:y")).is_err()
        );
    }
}
