//! Tickets: the request as a record, and every way it is written and read.
//!
//! One folder for the request: its record, creating, reading, listing and
//! changing it, its articles, links, transfers, ratings and history.

pub mod articles;
pub(crate) mod batch;
mod create;
pub mod history;
pub mod links;
pub(crate) mod list;
pub mod ratings;
pub mod transfer;
mod update;
pub(crate) mod visibility;

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::{decide, Actor, Decision, TicketAction, TicketFacts};
use tuki_domain::directory::Role;
use tuki_domain::sla::SlaState;
use tuki_domain::ticket::{Channel, Priority, TicketState};
use tuki_domain::values;

use crate::sql::Sql;
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, StoreError};

pub use create::NewTicket;
pub(crate) use create::{insert_ticket, insert_tickets, Draft};
pub use list::{TicketFilter, TicketPage, TicketSort};
pub use update::TicketPatch;

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
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
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
    pub first_response_due_at: Option<Timestamp>,
    /// When the answer to the customer's latest reply is due.
    pub next_response_due_at: Option<Timestamp>,
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

/// Fills in the tags and followers of tickets read as rows.
pub(crate) async fn load_extras_into(
    conn: &mut AnyConnection,
    tickets: &mut [Ticket],
) -> Result<()> {
    let ids: Vec<i64> = tickets.iter().map(|t| t.id).collect();
    let mut extras = load_extras(conn, &ids).await?;
    for t in tickets {
        if let Some((tags, followers)) = extras.remove(&t.id) {
            t.tags = tags;
            t.followers = followers;
        }
    }
    Ok(())
}

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

fn opt_str(v: Option<i64>) -> Option<String> {
    v.map(|v| v.to_string())
}
