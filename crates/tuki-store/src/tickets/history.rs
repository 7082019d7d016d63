//! The append-only history of every ticket: who changed what, when. Rows are
//! only ever inserted (the schema refuses updates and deletes).

use jiff::Timestamp;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::{Actor, TicketAction};

use crate::events::Created;
use crate::sql::{Sql, Value};
use crate::time::{from_db, to_db};
use crate::{Result, Store};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEvent {
    pub id: i64,
    pub ticket_id: i64,
    /// `None` when Tuki itself made the change.
    pub actor_id: Option<i64>,
    pub at: Timestamp,
    /// What changed: `created`, `subject`, `state`, `priority`, `category`,
    /// `owner`, `group`, `tag`, `follower`, `article`, `link`, `merged_into`,
    /// `merged_from`.
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// Why, where the change needs one (a transfer between tiers).
    pub reason: Option<String>,
}

/// One history row to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
    /// Why, where the change needs one (a transfer, an escalation).
    pub reason: Option<String>,
    /// When, if not at the change's own instant (an SLA warning found late
    /// is recorded at the moment it was due).
    pub at: Option<Timestamp>,
    /// Made by Tuki itself, not by the person who changed the ticket (a
    /// warning or an escalation found on their reply).
    pub by_tuki: bool,
}

impl Change {
    pub fn new(field: &'static str, old: Option<String>, new: Option<String>) -> Self {
        Change {
            field,
            old,
            new,
            reason: None,
            at: None,
            by_tuki: false,
        }
    }

    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Made by Tuki at `at`.
    pub fn by_tuki_at(mut self, at: Timestamp) -> Self {
        self.by_tuki = true;
        self.at = Some(at);
        self
    }

    pub fn at(mut self, at: Timestamp) -> Self {
        self.at = Some(at);
        self
    }
}

/// Appends the rows of one change (one statement for all of them).
pub(crate) async fn record_all(
    conn: &mut AnyConnection,
    ticket_id: i64,
    actor_id: Option<i64>,
    at: Timestamp,
    changes: &[Change],
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new(
        "INSERT INTO ticket_history (ticket_id, actor_id, at, field, old_value, new_value, reason) VALUES ",
    );
    for (i, c) in changes.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(Value::Int(ticket_id)).push(", ");
        sql.bind_opt(if c.by_tuki { None } else { actor_id });
        sql.push(", ")
            .bind(Value::Int(to_db(c.at.unwrap_or(at))))
            .push(", ")
            .bind(Value::Text(c.field.to_string()))
            .push(", ");
        sql.bind_opt_text(c.old.as_deref()).push(", ");
        sql.bind_opt_text(c.new.as_deref()).push(", ");
        sql.bind_opt_text(c.reason.as_deref()).push(")");
    }
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// The `created` rows of new tickets, one statement for all of them.
pub(crate) async fn record_created(
    conn: &mut AnyConnection,
    created: &[Created<'_>],
) -> Result<()> {
    let mut sql = Sql::new(
        "INSERT INTO ticket_history (ticket_id, actor_id, at, field, old_value, new_value) VALUES ",
    );
    for (i, c) in created.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(Value::Int(c.ticket.id)).push(", ");
        sql.bind_opt(c.actor_id);
        sql.push(", ")
            .bind(Value::Int(to_db(c.at)))
            .push(", 'created', NULL, ")
            .bind(Value::Text(format!("#{}", c.ticket.number)))
            .push(")");
    }
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

impl Store {
    /// A ticket's history, oldest first.
    pub async fn history(&self, actor: &Actor, ticket_id: i64) -> Result<Vec<HistoryEvent>> {
        self.authorize(actor, ticket_id, TicketAction::ReadHistory)
            .await?;
        let rows = sqlx::query(
            "SELECT id, ticket_id, actor_id, at, field, old_value, new_value, reason FROM ticket_history \
             WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryEvent {
                    id: r.try_get("id")?,
                    ticket_id: r.try_get("ticket_id")?,
                    actor_id: r.try_get("actor_id")?,
                    at: from_db(r.try_get("at")?),
                    field: r.try_get("field")?,
                    old_value: r.try_get("old_value")?,
                    new_value: r.try_get("new_value")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }
}
