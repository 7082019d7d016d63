//! Mailboxes: where mail arrives and which group it goes to, their health,
//! and the administrators' overview.

use jiff::SignedDuration;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::values::{self, Email};

use super::imap::{ImapSecurity, IMAP_COLUMNS};
use super::*;
use crate::time::to_db;
use crate::{Result, Store, StoreError};

// ------------------------------------------------------------------ mailboxes

/// Where a mailbox's mail comes from, without the login details.
#[derive(Debug, Clone, Serialize)]
pub struct ImapSummary {
    pub host: String,
    pub port: u16,
    pub security: ImapSecurity,
    pub folder: String,
}

/// A mailbox as the administrators' list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxOverview {
    #[serde(flatten)]
    pub mailbox: Mailbox,
    /// The name of the group its tickets go to; `None` for the intake group.
    pub group_name: Option<String>,
    /// `None` when the mailbox is fed by `tuki mail ingest` only.
    pub imap: Option<ImapSummary>,
}

/// A mailbox to add, as typed into the form.
#[derive(Debug, Clone, Default)]
pub struct NewMailbox {
    pub name: String,
    pub address: String,
    /// The group its tickets go to; the intake group when `None`.
    pub group_id: Option<i64>,
}

/// What the overview shows of a mailbox's IMAP settings: the settings as
/// the poller reads them, without the login.
fn imap_summary(r: &AnyRow) -> Result<Option<ImapSummary>> {
    Ok(super::imap::imap_from_row(r)?.map(|s| ImapSummary {
        host: s.host,
        port: s.port,
        security: s.security,
        folder: s.folder,
    }))
}

impl Store {
    // ------------------------------------------------------------ mailboxes

    /// Adds a mailbox whose mail becomes tickets of `group_id` (the intake
    /// group when `None`). Configuration, not a user action: the CLI and
    /// admin pages call it after their own checks.
    pub async fn create_mailbox(
        &self,
        name: &str,
        address: &str,
        group_id: Option<i64>,
    ) -> Result<Mailbox> {
        let name = values::line("name", name, 100)?;
        let address = Email::parse("address", address)?;
        let at = to_db(self.now());
        sqlx::query(
            "INSERT INTO mailboxes (name, address, group_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&name)
        .bind(address.as_str())
        .bind(group_id)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(|e| {
            if crate::error::is_unique_violation(&e) {
                StoreError::conflict(Some("name"), "a mailbox with this name or address exists")
            } else {
                e.into()
            }
        })?;
        self.mailbox(&name).await?.ok_or(StoreError::NotFound)
    }

    pub async fn mailbox(&self, name: &str) -> Result<Option<Mailbox>> {
        let row = sqlx::query(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(mailbox_from_row).transpose()
    }

    pub async fn mailboxes(&self) -> Result<Vec<Mailbox>> {
        let rows = sqlx::query(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes ORDER BY name"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(mailbox_from_row).collect()
    }

    /// Notes a successful fetch: the mailbox is healthy again.
    pub async fn mailbox_fetched(&self, mailbox_id: i64) -> Result<()> {
        sqlx::query("UPDATE mailboxes SET last_fetch_at = $1, failing_since = NULL WHERE id = $2")
            .bind(to_db(self.now()))
            .bind(mailbox_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Notes a failed fetch; `failing_since` keeps the first failure of a run.
    pub async fn mailbox_failed(&self, mailbox_id: i64, error: &str) -> Result<()> {
        let at = to_db(self.now());
        sqlx::query(
            "UPDATE mailboxes SET last_error = $1, last_error_at = $2, \
             failing_since = COALESCE(failing_since, $2) WHERE id = $3",
        )
        .bind(truncate_chars(error, 2000))
        .bind(at)
        .bind(mailbox_id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Mailboxes that have failed without a success for longer than `limit`:
    /// admins are told about these.
    pub async fn mailboxes_failing_longer_than(
        &self,
        limit: SignedDuration,
    ) -> Result<Vec<Mailbox>> {
        let before = to_db(self.now() - limit);
        let rows = sqlx::query(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE failing_since IS NOT NULL AND failing_since <= $1 ORDER BY name"
        ))
        .bind(before)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(mailbox_from_row).collect()
    }

    // ------------------------------------------------------------ ingestion

    /// Every mailbox by name, with its group's name and IMAP server.
    pub async fn mailbox_overview(&self, actor: &Actor) -> Result<Vec<MailboxOverview>> {
        crate::require_admin(actor, "manage mailboxes")?;
        let rows = sqlx::query(&format!(
            "SELECT {MAILBOX_COLUMNS}, {IMAP_COLUMNS}, \
             (SELECT g.name FROM support_groups g WHERE g.id = mailboxes.group_id) AS group_name \
             FROM mailboxes ORDER BY name"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MailboxOverview {
                    mailbox: mailbox_from_row(r)?,
                    group_name: r.try_get("group_name")?,
                    imap: imap_summary(r)?,
                })
            })
            .collect()
    }

    /// Adds a mailbox for an administrator. Mistakes name the field of the
    /// form: `name`, `address` (also when another mailbox has it) or
    /// `group_id` (no such group).
    pub async fn add_mailbox(&self, actor: &Actor, new: NewMailbox) -> Result<Mailbox> {
        crate::require_admin(actor, "manage mailboxes")?;
        let name = values::line("name", &new.name, 100)?;
        let address = Email::parse("address", &new.address)?;
        if let Some(g) = new.group_id {
            let found = sqlx::query("SELECT id FROM support_groups WHERE id = $1")
                .bind(g)
                .fetch_optional(&self.read)
                .await?;
            if found.is_none() {
                return Err(StoreError::invalid("group_id", "no such group"));
            }
        }
        let clash =
            sqlx::query("SELECT name, address FROM mailboxes WHERE name = $1 OR address = $2")
                .bind(&name)
                .bind(address.as_str())
                .fetch_optional(&self.read)
                .await?;
        if let Some(r) = clash {
            let other: String = r.try_get("name")?;
            return Err(if other == name {
                StoreError::conflict(Some("name"), "another mailbox has this name")
            } else {
                StoreError::conflict(Some("address"), format!("mailbox {other} has this address"))
            });
        }
        self.create_mailbox(&name, address.as_str(), new.group_id)
            .await
    }

    // -------------------------------------------------------------- quarantine
}
