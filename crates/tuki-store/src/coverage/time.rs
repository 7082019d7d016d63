//! Time booked on tickets. Work on a request a contract's hour bank pays
//! for draws the balance down in the same statement that checks it, so two
//! agents booking the last hour at the same moment cannot both take it
//! (PostgreSQL re-reads the row under its lock; SQLite has one writer); only
//! an agent's explicit `over_balance` books past zero.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::coverage::{hours_text, CoverageKind};
use tuki_domain::directory::Language;

use crate::sql::get_bool;
use crate::tickets::load_for;
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeEntry {
    pub id: i64,
    pub ticket_id: i64,
    pub user_id: i64,
    /// When the work was done.
    pub worked_at: Timestamp,
    pub minutes: i64,
    /// Billed to the customer (or drawn from their contract); internal work
    /// is not.
    pub billable: bool,
    pub note: String,
    /// The contract whose hours it drew.
    pub contract_id: Option<i64>,
    /// The contract's balance after it.
    pub balance_after: Option<i64>,
    /// Booked past the balance on purpose.
    pub over_balance: bool,
    pub created_at: Timestamp,
}

/// Time to book.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeEntryInput {
    /// 1 to 1440.
    pub minutes: i64,
    /// Defaults to true.
    #[serde(default)]
    pub billable: Option<bool>,
    #[serde(default)]
    pub note: String,
    /// When the work was done; defaults to now.
    #[serde(default)]
    pub worked_at: Option<Timestamp>,
    /// Book past the contract's balance (it goes below zero).
    #[serde(default)]
    pub over_balance: bool,
}

const ENTRY_COLUMNS: &str = "id, ticket_id, user_id, worked_at, minutes, billable, note, \
     contract_id, balance_after, over_balance, created_at";

fn entry_from_row(r: &AnyRow) -> Result<TimeEntry> {
    Ok(TimeEntry {
        id: r.try_get("id")?,
        ticket_id: r.try_get("ticket_id")?,
        user_id: r.try_get("user_id")?,
        worked_at: from_db(r.try_get("worked_at")?),
        minutes: r.try_get("minutes")?,
        billable: get_bool(r, "billable")?,
        note: r.try_get("note")?,
        contract_id: r.try_get("contract_id")?,
        balance_after: r.try_get("balance_after")?,
        over_balance: get_bool(r, "over_balance")?,
        created_at: from_db(r.try_get("created_at")?),
    })
}

impl Store {
    /// Books time on a ticket (staff who may edit it). Billable time on a
    /// request a contract's hour bank pays for is drawn from its balance.
    pub async fn log_time(
        &self,
        actor: &Actor,
        ticket_id: i64,
        input: TimeEntryInput,
        lang: Language,
    ) -> Result<TimeEntry> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff book time"));
        }
        let user_id = actor
            .user_id
            .ok_or_else(|| StoreError::forbidden("time is booked by a person"))?;
        if input.minutes <= 0 {
            return Err(StoreError::invalid(
                "minutes",
                "must be a positive number of minutes",
            ));
        }
        if input.minutes > 24 * 60 {
            return Err(StoreError::invalid(
                "minutes",
                "must be at most 1440 (a day) per entry",
            ));
        }
        let note = if input.note.trim().is_empty() {
            String::new()
        } else {
            tuki_domain::values::line("note", &input.note, 500)?
        };
        let now = self.now();
        let worked_at = input.worked_at.unwrap_or(now);
        if worked_at > now + jiff::SignedDuration::from_mins(5) {
            return Err(StoreError::invalid(
                "worked_at",
                "must not be in the future",
            ));
        }
        let billable = input.billable.unwrap_or(true);
        let mut tx = self.begin_write().await?;
        let t = load_for(&mut tx, actor, ticket_id, TicketAction::Edit).await?;
        super::statements::refuse_invoiced_day(&mut tx, t.organisation_id, worked_at, "worked_at")
            .await?;
        let cov = super::decide::read_coverage(&mut tx, actor, ticket_id, lang).await?;
        let contract = cov
            .filter(|c| c.kind == CoverageKind::Contract && billable)
            .and_then(|c| {
                // An hour bank's coverage carries its balance.
                let hour_bank = c.minutes_left.is_some();
                c.contract_id
                    .zip(c.contract_name)
                    .map(|(id, name)| (id, name, hour_bank))
            });
        let mut balance_after = None;
        let mut contract_id = None;
        if let Some((cid, name, hour_bank)) = contract {
            contract_id = Some(cid);
            if hour_bank {
                let row = sqlx::query(
                    "UPDATE contracts SET minutes_left = minutes_left - $1, updated_at = $2 \
                     WHERE id = $3 AND (minutes_left >= $1 OR $4) RETURNING minutes_left",
                )
                .bind(input.minutes)
                .bind(to_db(now))
                .bind(cid)
                .bind(input.over_balance)
                .fetch_optional(&mut *tx)
                .await?;
                match row {
                    Some(r) => balance_after = Some(r.try_get::<i64, _>("minutes_left")?),
                    None => {
                        let left: i64 =
                            sqlx::query("SELECT minutes_left FROM contracts WHERE id = $1")
                                .bind(cid)
                                .fetch_one(&mut *tx)
                                .await?
                                .try_get("minutes_left")?;
                        return Err(StoreError::conflict(
                            Some("minutes"),
                            format!(
                                "contract {name} has {} left; book the rest as billable work or confirm booking past the balance (over_balance)",
                                hours_text(left, lang)
                            ),
                        ));
                    }
                }
            }
        }
        let row = sqlx::query(&format!(
            "INSERT INTO time_entries (ticket_id, user_id, worked_at, minutes, billable, note, contract_id, \
             balance_after, over_balance, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             RETURNING {ENTRY_COLUMNS}"
        ))
        .bind(ticket_id)
        .bind(user_id)
        .bind(to_db(worked_at))
        .bind(input.minutes)
        .bind(billable)
        .bind(&note)
        .bind(contract_id)
        .bind(balance_after)
        .bind(input.over_balance && balance_after.is_some_and(|b| b < 0))
        .bind(to_db(now))
        .fetch_one(&mut *tx)
        .await?;
        let entry = entry_from_row(&row)?;
        tx.commit().await?;
        Ok(entry)
    }

    /// The time booked on a ticket (staff), oldest first.
    pub async fn time_entries(&self, actor: &Actor, ticket_id: i64) -> Result<Vec<TimeEntry>> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff read booked time"));
        }
        let mut conn = self.read.acquire().await?;
        load_for(&mut conn, actor, ticket_id, TicketAction::View).await?;
        sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM time_entries WHERE ticket_id = $1 ORDER BY worked_at, id"
        ))
        .bind(ticket_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(entry_from_row)
        .collect()
    }

    /// Removes a booking (its author or an administrator); minutes drawn
    /// from a contract go back to it.
    pub async fn delete_time_entry(
        &self,
        actor: &Actor,
        ticket_id: i64,
        entry_id: i64,
    ) -> Result<()> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff change booked time"));
        }
        let mut tx = self.begin_write().await?;
        load_for(&mut tx, actor, ticket_id, TicketAction::Edit).await?;
        let row = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS}, statement_id FROM time_entries WHERE id = $1 AND ticket_id = $2"
        ))
        .bind(entry_id)
        .bind(ticket_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let e = entry_from_row(&row)?;
        super::statements::refuse_locked(row.try_get("statement_id")?)?;
        if !actor.is_admin() && actor.user_id != Some(e.user_id) {
            return Err(StoreError::forbidden(
                "only its author or an administrator removes a booking",
            ));
        }
        if let (Some(cid), Some(_)) = (e.contract_id, e.balance_after) {
            sqlx::query("UPDATE contracts SET minutes_left = minutes_left + $1, updated_at = $2 WHERE id = $3")
                .bind(e.minutes)
                .bind(to_db(self.now()))
                .bind(cid)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM time_entries WHERE id = $1")
            .bind(entry_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
