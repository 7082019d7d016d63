//! The append-only history of every ticket: who changed what, when. Rows are
//! only ever inserted (the schema refuses updates and deletes).

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use tuki_domain::access::{Actor, TicketAction};

use crate::time::from_db;
use crate::{Result, Store};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEvent {
    pub id: i64,
    pub ticket_id: i64,
    /// `None` when Tuki itself made the change.
    pub actor_id: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
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
pub(crate) struct Change<'a> {
    pub field: &'a str,
    pub old: Option<String>,
    pub new: Option<String>,
    pub reason: Option<&'a str>,
}

impl<'a> Change<'a> {
    pub fn new(field: &'a str, old: Option<String>, new: Option<String>) -> Self {
        Change {
            field,
            old,
            new,
            reason: None,
        }
    }
}

pub(crate) async fn record(
    conn: &mut sqlx::AnyConnection,
    ticket_id: i64,
    actor_id: Option<i64>,
    at: i64,
    change: Change<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_history (ticket_id, actor_id, at, field, old_value, new_value, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ticket_id)
    .bind(actor_id)
    .bind(at)
    .bind(change.field)
    .bind(change.old)
    .bind(change.new)
    .bind(change.reason)
    .execute(conn)
    .await?;
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
