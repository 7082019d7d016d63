//! Addresses whose mail bounced: flagged by delivery reports, listed for
//! administrators, and cleared so mail goes to them again.

use sqlx::AnyConnection;
use tuki_domain::access::Actor;

use super::*;
use crate::time::to_db;
use crate::{Result, Store, StoreError};

impl Store {
    /// The bounce flag of an address, if mail to it has bounced.
    pub async fn address_flag(&self, address: &str) -> Result<Option<AddressFlag>> {
        let row = sqlx::query(&format!(
            "SELECT {ADDRESS_FLAG_COLUMNS} FROM mail_address_flags WHERE address = $1"
        ))
        .bind(address.trim().to_lowercase())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(address_flag_from_row).transpose()
    }

    /// Addresses Tuki sends no more mail to because it bounced for good,
    /// most recent first (at most 200).
    pub async fn bounced_addresses(&self, actor: &Actor) -> Result<Vec<AddressFlag>> {
        crate::require_admin(actor, "manage bounced addresses")?;
        let rows = sqlx::query(&format!(
            "SELECT {ADDRESS_FLAG_COLUMNS} FROM mail_address_flags \
             WHERE cleared_at IS NULL AND status LIKE '5%' ORDER BY last_at DESC, address LIMIT 200"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(address_flag_from_row).collect()
    }

    /// Lets mail go to an address again (its owner fixed their mailbox).
    /// The flag is kept with who cleared it; a new permanent bounce flags
    /// the address again.
    pub async fn clear_address_flag(&self, actor: &Actor, address: &str) -> Result<AddressFlag> {
        crate::require_admin(actor, "manage bounced addresses")?;
        let address = address.trim().to_lowercase();
        let cleared = sqlx::query(
            "UPDATE mail_address_flags SET cleared_at = $1, cleared_by = $2 \
             WHERE address = $3 AND cleared_at IS NULL",
        )
        .bind(to_db(self.now()))
        .bind(actor.user_id)
        .bind(&address)
        .execute(&self.write)
        .await?
        .rows_affected();
        if cleared == 0 {
            return Err(StoreError::NotFound);
        }
        self.address_flag(&address)
            .await?
            .ok_or(StoreError::NotFound)
    }

    // -------------------------------------------------------------- mailboxes
}

pub(crate) async fn flag_address(
    tx: &mut AnyConnection,
    address: &str,
    status: Option<&str>,
    ticket_id: Option<i64>,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO mail_address_flags (address, status, bounces, last_ticket_id, first_at, last_at) \
         VALUES ($1, $2, 1, $3, $4, $4) ON CONFLICT (address) DO UPDATE SET status = excluded.status, \
         bounces = mail_address_flags.bounces + 1, last_ticket_id = COALESCE(excluded.last_ticket_id, \
         mail_address_flags.last_ticket_id), last_at = excluded.last_at, cleared_at = NULL, cleared_by = NULL",
    )
    .bind(address)
    .bind(status)
    .bind(ticket_id)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
