//! Email channels for administrators: what the admin pages show and change.
//!
//! - mailboxes with their group, IMAP server and health, and adding one with
//!   errors that name the form field;
//! - quarantined mail: the list, one message with its raw source, a retry
//!   (the import of [`Store::retry_quarantined`], remembering who asked) and
//!   a discard, which releases the message without importing it. A discard
//!   deletes nothing: the raw source stays with who discarded it, when and
//!   why;
//! - the outbox split into what waits, what keeps failing and what was sent
//!   lately, and "send now", which makes a waiting or given-up message due
//!   at once (the sender of `tuki serve` picks it up within a second).
//!
//! Every function takes the caller and refuses anyone but an administrator,
//! so a page cannot forget to.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::values::{self, Email};

use crate::imap::{ImapSecurity, IMAP_COLUMNS};
use crate::mail::{
    address_flag_from_row, mailbox_from_row, AddressFlag, IngestOptions, IngestOutcome, Mailbox,
    ADDRESS_FLAG_COLUMNS, MAILBOX_COLUMNS,
};
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store, StoreError};

/// How many rows a list shows at most; the totals say how many there are.
pub const LIST_MAX: i64 = 500;

fn admin(actor: &Actor, what: &str) -> Result<()> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(StoreError::forbidden(format!(
            "only administrators manage {what}"
        )))
    }
}

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
    Ok(crate::imap::imap_from_row(r)?.map(|s| ImapSummary {
        host: s.host,
        port: s.port,
        security: s.security,
        folder: s.folder,
    }))
}

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

// ------------------------------------------------------------------ outbox

/// Where an outgoing message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its first attempt.
    Queued,
    /// A sender holds it right now.
    Sending,
    /// Failed at least once; tried again at `next_attempt_at`.
    Retrying,
    /// Its attempts are used up; it waits for an administrator.
    GivenUp,
    Sent,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Sending => "sending",
            OutboxState::Retrying => "retrying",
            OutboxState::GivenUp => "given_up",
            OutboxState::Sent => "sent",
        }
    }
}

/// An outgoing message as the administrators' list shows it (no body).
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub kind: String,
    pub ticket_id: Option<i64>,
    pub ticket_number: Option<i64>,
    pub recipient: String,
    pub subject: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub state: OutboxState,
}

impl OutboxEntry {
    /// Whether "send now" applies: not sent and not being sent.
    pub fn can_send_now(&self) -> bool {
        matches!(
            self.state,
            OutboxState::Queued | OutboxState::Retrying | OutboxState::GivenUp
        )
    }
}

/// The outbox in three parts.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxOverview {
    /// Not yet tried, oldest due first.
    pub queued: Vec<OutboxEntry>,
    /// Tried and failed (retrying or given up), oldest first.
    pub failing: Vec<OutboxEntry>,
    /// Sent, newest first.
    pub sent: Vec<OutboxEntry>,
    pub queued_total: i64,
    pub failing_total: i64,
}

const OUTBOX_COLUMNS: &str = "o.id, o.kind, o.ticket_id, t.number AS ticket_number, o.recipient, \
     o.subject, o.attempts, o.max_attempts, o.next_attempt_at, o.last_error, o.sent_at, o.failed_at, \
     o.created_at, o.locked_until";

const OUTBOX_FROM: &str = "outbox o LEFT JOIN tickets t ON t.id = o.ticket_id";

fn outbox_from_row(r: &AnyRow, now: i64) -> Result<OutboxEntry> {
    let sent_at = opt_from_db(r.try_get("sent_at")?);
    let failed_at = opt_from_db(r.try_get("failed_at")?);
    let last_error: Option<String> = r.try_get("last_error")?;
    let locked_until: Option<i64> = r.try_get("locked_until")?;
    let state = if sent_at.is_some() {
        OutboxState::Sent
    } else if failed_at.is_some() {
        OutboxState::GivenUp
    } else if locked_until.is_some_and(|l| l >= now) {
        OutboxState::Sending
    } else if last_error.is_some() {
        OutboxState::Retrying
    } else {
        OutboxState::Queued
    };
    Ok(OutboxEntry {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        ticket_id: r.try_get("ticket_id")?,
        ticket_number: r.try_get("ticket_number")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        next_attempt_at: from_db(r.try_get("next_attempt_at")?),
        last_error,
        sent_at,
        failed_at,
        created_at: from_db(r.try_get("created_at")?),
        state,
    })
}

impl Store {
    // ------------------------------------------------------ bounced addresses

    /// Addresses Tuki sends no more mail to because it bounced for good,
    /// most recent first (at most 200).
    pub async fn bounced_addresses(&self, actor: &Actor) -> Result<Vec<AddressFlag>> {
        admin(actor, "bounced addresses")?;
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
        admin(actor, "bounced addresses")?;
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

    /// Every mailbox by name, with its group's name and IMAP server.
    pub async fn mailbox_overview(&self, actor: &Actor) -> Result<Vec<MailboxOverview>> {
        admin(actor, "mailboxes")?;
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
        admin(actor, "mailboxes")?;
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

    /// Quarantined messages not yet released, oldest first (at most
    /// [`LIST_MAX`]), and how many there are in all.
    pub async fn quarantine_entries(&self, actor: &Actor) -> Result<(Vec<QuarantineEntry>, i64)> {
        admin(actor, "quarantined mail")?;
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
        admin(actor, "quarantined mail")?;
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
    pub async fn retry_quarantined_by(
        &self,
        actor: &Actor,
        id: i64,
        opts: &IngestOptions,
    ) -> Result<RetryResult> {
        admin(actor, "quarantined mail")?;
        let outcome = self.retry_quarantined(id, opts).await?;
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
        admin(actor, "quarantined mail")?;
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

    /// The outbox: waiting mail, failing mail (each at most [`LIST_MAX`],
    /// oldest first) and the `sent_limit` most recently sent.
    pub async fn outbox_overview(&self, actor: &Actor, sent_limit: i64) -> Result<OutboxOverview> {
        admin(actor, "the outbox")?;
        let now = to_db(self.now());
        let list = |filter: &str, order: &str, limit: i64| {
            let sql = format!(
                "SELECT {OUTBOX_COLUMNS} FROM {OUTBOX_FROM} WHERE {filter} ORDER BY {order} LIMIT $1"
            );
            async move {
                sqlx::query(&sql)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|r| outbox_from_row(r, now))
                    .collect::<Result<Vec<_>>>()
            }
        };
        const WAITING: &str = "o.sent_at IS NULL AND o.failed_at IS NULL AND o.last_error IS NULL";
        const FAILING: &str =
            "o.sent_at IS NULL AND (o.failed_at IS NOT NULL OR o.last_error IS NOT NULL)";
        let queued = list(WAITING, "o.next_attempt_at, o.id", LIST_MAX).await?;
        let failing = list(FAILING, "o.id", LIST_MAX).await?;
        let sent = list(
            "o.sent_at IS NOT NULL",
            "o.sent_at DESC, o.id DESC",
            sent_limit.clamp(1, LIST_MAX),
        )
        .await?;
        let count = |filter: &str| {
            let sql = format!("SELECT COUNT(*) AS n FROM outbox o WHERE {filter}");
            async move {
                Ok::<i64, StoreError>(
                    sqlx::query(&sql)
                        .fetch_one(&self.read)
                        .await?
                        .try_get("n")?,
                )
            }
        };
        let queued_total = if (queued.len() as i64) < LIST_MAX {
            queued.len() as i64
        } else {
            count(WAITING).await?
        };
        let failing_total = if (failing.len() as i64) < LIST_MAX {
            failing.len() as i64
        } else {
            count(FAILING).await?
        };
        Ok(OutboxOverview {
            queued,
            failing,
            sent,
            queued_total,
            failing_total,
        })
    }

    /// One outgoing message as the list shows it.
    pub async fn outbox_entry(&self, actor: &Actor, id: i64) -> Result<OutboxEntry> {
        admin(actor, "the outbox")?;
        let now = to_db(self.now());
        let row = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM {OUTBOX_FROM} WHERE o.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        outbox_from_row(&row, now)
    }

    /// Makes an unsent message due now: a waiting or retrying one skips
    /// the rest of its backoff, a given-up one gets one more attempt. Sent
    /// mail, or mail a sender holds right now, is a conflict.
    pub async fn send_outbox_now(&self, actor: &Actor, id: i64) -> Result<OutboxEntry> {
        admin(actor, "the outbox")?;
        let now = to_db(self.now());
        let done = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1, failed_at = NULL, \
             max_attempts = CASE WHEN max_attempts <= attempts THEN attempts + 1 ELSE max_attempts END \
             WHERE id = $2 AND sent_at IS NULL AND (locked_until IS NULL OR locked_until < $1)",
        )
        .bind(now)
        .bind(id)
        .execute(&self.write)
        .await?;
        let entry = self.outbox_entry(actor, id).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::conflict(
                None,
                if entry.sent_at.is_some() {
                    format!("mail {id} was sent already")
                } else {
                    format!("mail {id} is being sent right now")
                },
            ));
        }
        Ok(entry)
    }
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
