//! Transfer between groups and tiers: the request moves, the reason is kept,
//! and the agent who moved it keeps following it.

use jiff::Timestamp;
use serde::Deserialize;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::ticket::TicketEvent;
use tuki_domain::values;

use super::history::Change;
use super::{add_follower, check_owner, load_for, save, Ticket};
use crate::events::{dispatch, TicketChange};
use crate::time::to_db;
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transfer {
    /// The group that takes the ticket over.
    pub group_id: i64,
    /// Why it moves; required, kept in the history.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub reason: String,
    /// Optionally hand it straight to a member of the new group.
    #[serde(default)]
    pub owner_id: Option<i64>,
}

/// Moves `t` to `to_group` (and `owner`), recording the move in
/// `ticket_transfers` for the tier metrics; returns the change (history rows
/// with the reason, and the new owner's assignment) for the caller to
/// dispatch. A person who moves it keeps following it; Tuki itself
/// (`actor_id` `None`, an escalation rule) follows nothing. The caller
/// checks access and saves `t`.
pub(crate) async fn move_to_group(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    actor_id: Option<i64>,
    to_group: i64,
    owner: Option<i64>,
    reason: &str,
    at: Timestamp,
) -> Result<TicketChange> {
    let at_db = to_db(at);
    let to_tier: i64 = sqlx::query("SELECT tier FROM support_groups WHERE id = $1")
        .bind(to_group)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::invalid("group_id", "no such group"))?
        .try_get("tier")?;
    let from_tier: Option<i64> = match t.group_id {
        Some(g) => Some(
            sqlx::query("SELECT tier FROM support_groups WHERE id = $1")
                .bind(g)
                .fetch_one(&mut *conn)
                .await?
                .try_get("tier")?,
        ),
        None => None,
    };
    if let Some(owner) = owner {
        check_owner(conn, owner, Some(to_group)).await?;
    }
    let from_group = t.group_id;
    let mut change = TicketChange::new(actor_id, at);
    change.change(
        Change::new(
            "group",
            from_group.map(|g| g.to_string()),
            Some(to_group.to_string()),
        )
        .because(reason),
    );
    if t.owner_id != owner {
        change.change(Change::new(
            "owner",
            t.owner_id.map(|o| o.to_string()),
            owner.map(|o| o.to_string()),
        ));
    }
    sqlx::query(
        "INSERT INTO ticket_transfers (ticket_id, from_group_id, to_group_id, from_tier, to_tier, reason, actor_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(t.id)
    .bind(from_group)
    .bind(to_group)
    .bind(from_tier)
    .bind(to_tier)
    .bind(reason)
    .bind(actor_id)
    .bind(at_db)
    .execute(&mut *conn)
    .await?;
    if let Some(me) = actor_id {
        if add_follower(conn, t.id, me, at_db).await? {
            change.change(Change::new("follower", None, Some(me.to_string())));
            t.followers.push(me);
            t.followers.sort();
        }
    }
    if let Some(o) = owner.filter(|o| t.owner_id != Some(*o)) {
        change.event(TicketEvent::Assigned { owner: o });
    }
    t.group_id = Some(to_group);
    t.owner_id = owner;
    t.updated_at = at;
    Ok(change)
}

impl Store {
    pub async fn transfer(&self, actor: &Actor, id: i64, transfer: Transfer) -> Result<Ticket> {
        let reason = values::line("reason", &transfer.reason, 1000)?;
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let mut t = load_for(&mut tx, actor, id, TicketAction::Transfer).await?;
        if !t.state.is_active() {
            return Err(StoreError::conflict(
                Some("state"),
                format!(
                    "a {} ticket cannot be transferred; reopen it first",
                    t.state
                ),
            ));
        }
        if t.group_id == Some(transfer.group_id) {
            return Err(StoreError::invalid(
                "group_id",
                "the ticket is already in this group",
            ));
        }
        let change = move_to_group(
            &mut tx,
            &mut t,
            actor.user_id,
            transfer.group_id,
            transfer.owner_id,
            &reason,
            at,
        )
        .await?;
        save(&mut tx, &t).await?;
        dispatch(&mut tx, &mut t, change).await?;
        tx.commit().await?;
        Ok(t)
    }
}
