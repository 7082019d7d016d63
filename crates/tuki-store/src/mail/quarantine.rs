//! Quarantined mail: messages Tuki could not read, kept whole for an
//! administrator, who retries (after a fix) or discards them. A discard
//! deletes nothing: the raw source stays with who discarded it, when and why.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::values::{self};

use super::ingest::readable;
use super::*;
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store, StoreError};

// ------------------------------------------------------------------ quarantine

/// A quarantined message without its raw source.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineEntry {
    pub id: i64,
    pub mailbox_id: Option<i64>,
    pub mailbox_name: Option<String>,
    pub error: String,
    pub attempts: i64,
    /// Bytes of the raw source.
    pub size: i64,
    pub created_at: Timestamp,
    pub last_attempt_at: Timestamp,
    /// Set once the message was imported by a retry or discarded.
    pub released_at: Option<Timestamp>,
    /// The administrator who retried it successfully or discarded it.
    pub released_by: Option<i64>,
    pub released_by_name: Option<String>,
    /// Set when it was discarded without being imported.
    pub discarded_at: Option<Timestamp>,
    pub release_note: Option<String>,
}

/// One quarantined message with its raw source, as it arrived.
#[derive(Debug, Clone)]
pub struct QuarantineMessage {
    pub entry: QuarantineEntry,
    pub raw: Vec<u8>,
}

/// What a retry did, with the number of the ticket it reached (if any).
#[derive(Debug, Clone, Serialize)]
pub struct RetryResult {
    pub outcome: IngestOutcome,
    pub ticket_number: Option<i64>,
}

const QUARANTINE_COLUMNS: &str =
    "q.id, q.mailbox_id, m.name AS mailbox_name, q.error, q.attempts, \
     CAST(LENGTH(q.raw) AS BIGINT) AS size, q.created_at, q.last_attempt_at, q.released_at, \
     q.released_by, u.name AS released_by_name, q.discarded_at, q.release_note";

const QUARANTINE_FROM: &str = "mail_quarantine q LEFT JOIN mailboxes m ON m.id = q.mailbox_id \
     LEFT JOIN users u ON u.id = q.released_by";

fn quarantine_from_row(r: &AnyRow) -> Result<QuarantineEntry> {
    Ok(QuarantineEntry {
        id: r.try_get("id")?,
        mailbox_id: r.try_get("mailbox_id")?,
        mailbox_name: r.try_get("mailbox_name")?,
        error: r.try_get("error")?,
        attempts: r.try_get("attempts")?,
        size: r.try_get("size")?,
        created_at: from_db(r.try_get("created_at")?),
        last_attempt_at: from_db(r.try_get("last_attempt_at")?),
        released_at: opt_from_db(r.try_get("released_at")?),
        released_by: r.try_get("released_by")?,
        released_by_name: r.try_get("released_by_name")?,
        discarded_at: opt_from_db(r.try_get("discarded_at")?),
        release_note: r.try_get("release_note")?,
    })
}

impl Store {
    /// The quarantined messages not yet released, oldest first.
    pub async fn quarantined_mail(&self) -> Result<Vec<QuarantinedMail>> {
        let rows = sqlx::query(
            "SELECT id, mailbox_id, error, attempts, raw, created_at, last_attempt_at, released_at \
             FROM mail_quarantine WHERE released_at IS NULL ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(QuarantinedMail {
                    id: r.try_get("id")?,
                    mailbox_id: r.try_get("mailbox_id")?,
                    error: r.try_get("error")?,
                    attempts: r.try_get("attempts")?,
                    size: r.try_get::<Vec<u8>, _>("raw")?.len(),
                    created_at: from_db(r.try_get("created_at")?),
                    last_attempt_at: from_db(r.try_get("last_attempt_at")?),
                    released_at: opt_from_db(r.try_get("released_at")?),
                })
            })
            .collect()
    }

    /// Tries a quarantined message again (after a parser fix, say). On
    /// success it is released; on failure its attempt count goes up and it
    /// stays.
    pub async fn retry_quarantined(&self, id: i64) -> Result<IngestOutcome> {
        let row = sqlx::query(
            "SELECT raw, mailbox_id FROM mail_quarantine WHERE id = $1 AND released_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let raw: Vec<u8> = row.try_get("raw")?;
        let mailbox_id: Option<i64> = row.try_get("mailbox_id")?;
        let mailbox = match mailbox_id {
            Some(mid) => {
                let r = sqlx::query(&format!(
                    "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1"
                ))
                .bind(mid)
                .fetch_optional(&self.read)
                .await?;
                r.as_ref().map(mailbox_from_row).transpose()?
            }
            None => None,
        };
        let at = to_db(self.now());
        match readable(&raw) {
            Ok(msg) => {
                // Imported and released in one transaction: a message
                // discarded meanwhile is not imported after all.
                let outcome = self
                    .ingest_parsed_batch(&[(0, raw.as_slice(), &msg)], mailbox.as_ref(), Some(id))
                    .await?
                    .pop()
                    .expect("one outcome per message")
                    .1;
                Ok(outcome)
            }
            Err(error) => {
                sqlx::query(
                    "UPDATE mail_quarantine SET error = $1, last_attempt_at = $2, attempts = attempts + 1 WHERE id = $3",
                )
                .bind(&error)
                .bind(at)
                .bind(id)
                .execute(&self.write)
                .await?;
                Ok(IngestOutcome::Quarantined {
                    quarantine_id: id,
                    error,
                })
            }
        }
    }

    /// Quarantined messages not yet released, oldest first (at most
    /// [`LIST_MAX`]), and how many there are in all.
    pub async fn quarantine_entries(&self, actor: &Actor) -> Result<(Vec<QuarantineEntry>, i64)> {
        crate::require_admin(actor, "handle quarantined mail")?;
        let rows = sqlx::query(&format!(
            "SELECT {QUARANTINE_COLUMNS} FROM {QUARANTINE_FROM} WHERE q.released_at IS NULL \
             ORDER BY q.id LIMIT $1"
        ))
        .bind(LIST_MAX)
        .fetch_all(&self.read)
        .await?;
        let entries = rows
            .iter()
            .map(quarantine_from_row)
            .collect::<Result<Vec<_>>>()?;
        let total = if (entries.len() as i64) < LIST_MAX {
            entries.len() as i64
        } else {
            sqlx::query("SELECT COUNT(*) AS n FROM mail_quarantine WHERE released_at IS NULL")
                .fetch_one(&self.read)
                .await?
                .try_get("n")?
        };
        Ok((entries, total))
    }

    /// One quarantined message with its raw source, released or not.
    pub async fn quarantine_message(&self, actor: &Actor, id: i64) -> Result<QuarantineMessage> {
        crate::require_admin(actor, "handle quarantined mail")?;
        let row = sqlx::query(&format!(
            "SELECT {QUARANTINE_COLUMNS}, q.raw FROM {QUARANTINE_FROM} WHERE q.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(QuarantineMessage {
            entry: quarantine_from_row(&row)?,
            raw: row.try_get("raw")?,
        })
    }

    /// Tries a quarantined message again for an administrator
    /// ([`Store::retry_quarantined`]); when it is imported (or found to be
    /// a duplicate, a loop…) the release records who asked.
    pub async fn retry_quarantined_by(&self, actor: &Actor, id: i64) -> Result<RetryResult> {
        crate::require_admin(actor, "handle quarantined mail")?;
        let outcome = self.retry_quarantined(id).await?;
        if !matches!(outcome, IngestOutcome::Quarantined { .. }) {
            sqlx::query(
                "UPDATE mail_quarantine SET released_by = $1, release_note = $2 \
                 WHERE id = $3 AND released_by IS NULL",
            )
            .bind(actor.user_id)
            .bind(format!("retried: {}", outcome_name(&outcome)))
            .bind(id)
            .execute(&self.write)
            .await?;
        }
        let ticket_id = match &outcome {
            IngestOutcome::Ticket { number, .. } => {
                return Ok(RetryResult {
                    ticket_number: Some(*number),
                    outcome,
                })
            }
            IngestOutcome::Article { ticket_id, .. } => Some(*ticket_id),
            IngestOutcome::Bounce { ticket_id, .. } => *ticket_id,
            _ => None,
        };
        let ticket_number = match ticket_id {
            Some(t) => sqlx::query("SELECT number FROM tickets WHERE id = $1")
                .bind(t)
                .fetch_optional(&self.read)
                .await?
                .map(|r| r.try_get("number"))
                .transpose()?,
            None => None,
        };
        Ok(RetryResult {
            outcome,
            ticket_number,
        })
    }

    /// Releases a quarantined message without importing it. Its raw source
    /// stays; the row records who discarded it, when, and the note (at most
    /// 1,000 characters). A message released already is a conflict.
    pub async fn discard_quarantined(
        &self,
        actor: &Actor,
        id: i64,
        note: Option<&str>,
    ) -> Result<QuarantineEntry> {
        crate::require_admin(actor, "handle quarantined mail")?;
        let note = note
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| values::body("note", n, 1000))
            .transpose()?;
        let at = to_db(self.now());
        let done = sqlx::query(
            "UPDATE mail_quarantine SET released_at = $1, discarded_at = $1, released_by = $2, \
             release_note = $3 WHERE id = $4 AND released_at IS NULL",
        )
        .bind(at)
        .bind(actor.user_id)
        .bind(note.unwrap_or_else(|| "discarded".into()))
        .bind(id)
        .execute(&self.write)
        .await?;
        let message = self.quarantine_message(actor, id).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::conflict(
                None,
                format!("quarantined message {id} was released already"),
            ));
        }
        Ok(message.entry)
    }

    // -------------------------------------------------------------- outbox
}

/// The outcome's name as `IngestOutcome` serialises it.
fn outcome_name(o: &IngestOutcome) -> &'static str {
    match o {
        IngestOutcome::Ticket { .. } => "ticket",
        IngestOutcome::Article { .. } => "article",
        IngestOutcome::Bounce { .. } => "bounce",
        IngestOutcome::Throttled => "throttled",
        IngestOutcome::Loop => "loop",
        IngestOutcome::Duplicate => "duplicate",
        IngestOutcome::Quarantined { .. } => "quarantined",
    }
}
