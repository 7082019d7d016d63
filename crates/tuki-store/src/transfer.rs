//! Transfer between groups and tiers: the request moves, the reason is kept,
//! and the agent who moved it keeps following it.

use serde::Deserialize;
use sqlx::Row;
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::values;

use crate::history::{record, Change};
use crate::tickets::{add_follower, check_owner, load_for, save, Ticket};
use crate::time::{now, to_db};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transfer {
    /// The group that takes the ticket over.
    pub group_id: i64,
    /// Why it moves; required, kept in the history.
    pub reason: String,
    /// Optionally hand it straight to a member of the new group.
    #[serde(default)]
    pub owner_id: Option<i64>,
}

impl Store {
    pub async fn transfer(&self, actor: &Actor, id: i64, transfer: Transfer) -> Result<Ticket> {
        let reason = values::line("reason", &transfer.reason, 1000)?;
        let at = now();
        let at_db = to_db(at);
        let mut tx = self.write.begin().await?;
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
        let to_tier: i64 = sqlx::query("SELECT tier FROM support_groups WHERE id = $1")
            .bind(transfer.group_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::invalid("group_id", "no such group"))?
            .try_get("tier")?;
        let from_tier: Option<i64> = match t.group_id {
            Some(g) => Some(
                sqlx::query("SELECT tier FROM support_groups WHERE id = $1")
                    .bind(g)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("tier")?,
            ),
            None => None,
        };
        if let Some(owner) = transfer.owner_id {
            check_owner(&mut tx, owner, Some(transfer.group_id)).await?;
        }
        let from_group = t.group_id;
        record(
            &mut tx,
            id,
            actor.user_id,
            at_db,
            Change {
                field: "group",
                old: from_group.map(|g| g.to_string()),
                new: Some(transfer.group_id.to_string()),
                reason: Some(&reason),
            },
        )
        .await?;
        if t.owner_id != transfer.owner_id {
            record(
                &mut tx,
                id,
                actor.user_id,
                at_db,
                Change::new(
                    "owner",
                    t.owner_id.map(|o| o.to_string()),
                    transfer.owner_id.map(|o| o.to_string()),
                ),
            )
            .await?;
        }
        sqlx::query(
            "INSERT INTO ticket_transfers (ticket_id, from_group_id, to_group_id, from_tier, to_tier, reason, actor_id, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(from_group)
        .bind(transfer.group_id)
        .bind(from_tier)
        .bind(to_tier)
        .bind(&reason)
        .bind(actor.user_id)
        .bind(at_db)
        .execute(&mut *tx)
        .await?;
        if let Some(me) = actor.user_id {
            if add_follower(&mut tx, id, me, at_db).await? {
                record(
                    &mut tx,
                    id,
                    actor.user_id,
                    at_db,
                    Change::new("follower", None, Some(me.to_string())),
                )
                .await?;
                t.followers.push(me);
                t.followers.sort();
            }
        }
        t.group_id = Some(transfer.group_id);
        t.owner_id = transfer.owner_id;
        t.updated_at = at;
        save(&mut tx, &t).await?;
        tx.commit().await?;
        Ok(t)
    }
}
