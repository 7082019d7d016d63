//! Email in: raw messages into tickets and articles, exactly once.
//!
//! [`Store::ingest_mail`] is the one door every source uses (the
//! `tuki mail ingest` pipe, Maildir import, the IMAP poller). In one
//! transaction it claims the message's Message-ID (the primary key of
//! `mail_messages` refuses a second claim, on every node and after any
//! restart), keeps the raw source, finds or creates the sender, and adds a
//! ticket or an article. A source may delete its copy once this returns
//! `Ok`: the ticket is committed. A message that cannot be parsed is
//! quarantined with its raw bytes, and does not stop the others.
//!
//! Mail acts as Tuki itself, not as the sender: threading (by Message-ID
//! references or the subject tag) is what decides where a message belongs,
//! so the sender's own permissions are not asked. A colleague on Cc who
//! answers is added to the ticket like the requester would be.

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use tuki_domain::directory::Role;
use tuki_domain::ticket::{self as rules, ArticleKind};
use tuki_domain::values::{self, Email};
use tuki_mail::{InboundMessage, ThreadBy};

use crate::history::{record, Change};
use crate::sla::{on_ticket_event, TicketEvent};
use crate::sql::{get_bool, Sql};
use crate::tickets::{load, save, set_state, BODY_MAX};
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store, StoreError};

/// The most messages [`Store::ingest_mail_batch`] should be given at once.
/// Big enough that the fixed statements of a batch are spread thin, small
/// enough that a batch holds SQLite's single writer for well under a second
/// and its memory stays small.
pub const MAX_BATCH: usize = 200;

/// The desk's rules for mail, the same for every way mail comes in and
/// goes out (see [`Store::with_mail_policy`]); the defaults suit a small
/// service desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPolicy {
    /// The word of the subject tag, `[Tuki #1234]`: written on outgoing
    /// mail and looked for in incoming mail. Letters, digits, spaces, `-`,
    /// `_` and `.`, at most 30 characters.
    pub tag: String,
    /// A sender with this many messages inside `throttle_window` has the
    /// next ones recorded but not ticketed: a runaway script or a loop that
    /// slipped past the robot headers must not bury the queue.
    pub throttle_max: i64,
    pub throttle_window: SignedDuration,
}

impl Default for MailPolicy {
    fn default() -> Self {
        MailPolicy {
            tag: "Tuki".into(),
            throttle_max: 20,
            throttle_window: SignedDuration::from_mins(10),
        }
    }
}

impl MailPolicy {
    /// Checks the rules, naming the setting at fault.
    pub fn checked(mut self) -> Result<MailPolicy> {
        self.tag = self.tag.trim().to_string();
        let fits = !self.tag.is_empty()
            && self.tag.chars().count() <= 30
            && self
                .tag
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'));
        if !fits {
            return Err(StoreError::invalid(
                "mail_tag",
                "must be 1 to 30 letters, digits, spaces, '-', '_' or '.'",
            ));
        }
        if self.throttle_max < 1 {
            return Err(StoreError::invalid("mail_throttle", "must be at least 1"));
        }
        if self.throttle_window < SignedDuration::from_secs(1) {
            return Err(StoreError::invalid(
                "mail_throttle_minutes",
                "must be at least 1",
            ));
        }
        Ok(self)
    }
}

/// Where one import keeps the files of its messages.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Tuki's data folder: the files of incoming mail are stored under it
    /// and listed on their articles, like files agents attach. `None`
    /// keeps them only in the raw source.
    pub data_dir: Option<PathBuf>,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum IngestOutcome {
    /// A new ticket.
    Ticket {
        ticket_id: i64,
        number: i64,
        article_id: i64,
    },
    /// An article on an existing ticket.
    Article {
        ticket_id: i64,
        article_id: i64,
        by: ThreadBy,
    },
    /// A delivery report: attached to its ticket when one was found, and the
    /// failed addresses flagged.
    Bounce {
        ticket_id: Option<i64>,
        article_id: Option<i64>,
        flagged: Vec<String>,
    },
    /// The sender went over the limit; recorded, not ticketed.
    Throttled,
    /// Sent from one of Tuki's own mailboxes; recorded, not ticketed.
    Loop,
    /// This Message-ID was imported before; nothing changed.
    Duplicate,
    /// Could not be parsed; kept for an administrator.
    Quarantined { quarantine_id: i64, error: String },
}

impl IngestOutcome {
    /// Whether the source may now delete its copy: everything but a
    /// database failure (which is an `Err`) leaves the message safe in Tuki.
    pub fn is_safe_to_delete(&self) -> bool {
        true
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Mailbox {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub group_id: Option<i64>,
    pub last_fetch_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    pub failing_since: Option<Timestamp>,
    /// The `tuki serve` process (node id) whose IMAP poller holds the
    /// mailbox's lease, and until when; see `imap.rs`.
    pub poller_node: Option<String>,
    pub poller_lease_until: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedMail {
    pub id: i64,
    pub mailbox_id: Option<i64>,
    pub error: String,
    pub attempts: i64,
    pub size: usize,
    pub created_at: Timestamp,
    pub last_attempt_at: Timestamp,
    pub released_at: Option<Timestamp>,
}

/// A record of one received message, for admins and for the notifier, which
/// must not answer when `auto_answer_allowed` is false.
#[derive(Debug, Clone, Serialize)]
pub struct MailRecord {
    pub message_id: String,
    pub sender: Option<String>,
    pub ticket_id: Option<i64>,
    pub article_id: Option<i64>,
    pub classification: String,
    pub auto_answer_allowed: bool,
    pub reasons: String,
    pub outcome: String,
    pub threaded_by: Option<String>,
    pub received_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddressFlag {
    pub address: String,
    /// The delivery status of the last report (`5.1.1`: a permanent
    /// failure, so Tuki sends the address no more mail).
    pub status: Option<String>,
    pub bounces: i64,
    pub last_ticket_id: Option<i64>,
    pub last_ticket_number: Option<i64>,
    pub last_at: Timestamp,
    /// When an administrator cleared the flag: mail goes to the address
    /// again until it bounces anew.
    pub cleared_at: Option<Timestamp>,
}

pub(crate) const ADDRESS_FLAG_COLUMNS: &str =
    "address, status, bounces, last_ticket_id, last_at, cleared_at, \
     (SELECT t.number FROM tickets t WHERE t.id = mail_address_flags.last_ticket_id) AS last_ticket_number";

pub(crate) fn address_flag_from_row(r: &sqlx::any::AnyRow) -> Result<AddressFlag> {
    Ok(AddressFlag {
        address: r.try_get("address")?,
        status: r.try_get("status")?,
        bounces: r.try_get("bounces")?,
        last_ticket_id: r.try_get("last_ticket_id")?,
        last_ticket_number: r.try_get("last_ticket_number")?,
        last_at: from_db(r.try_get("last_at")?),
        cleared_at: opt_from_db(r.try_get("cleared_at")?),
    })
}

pub(crate) const MAILBOX_COLUMNS: &str =
    "id, name, address, group_id, last_fetch_at, last_error, last_error_at, failing_since, \
     poller_node, poller_lease_until";

pub(crate) fn mailbox_from_row(r: &sqlx::any::AnyRow) -> Result<Mailbox> {
    Ok(Mailbox {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        address: r.try_get("address")?,
        group_id: r.try_get("group_id")?,
        last_fetch_at: opt_from_db(r.try_get("last_fetch_at")?),
        last_error: r.try_get("last_error")?,
        last_error_at: opt_from_db(r.try_get("last_error_at")?),
        failing_since: opt_from_db(r.try_get("failing_since")?),
        poller_node: r.try_get("poller_node")?,
        poller_lease_until: opt_from_db(r.try_get("poller_lease_until")?),
    })
}

pub(crate) fn thread_by_str(by: ThreadBy) -> &'static str {
    match by {
        ThreadBy::References => "references",
        ThreadBy::SubjectTag => "subject_tag",
        ThreadBy::ReplySubject => "reply_subject",
    }
}

/// Cuts text to at most `max` characters on a character boundary.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
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

    /// Turns one raw message into a ticket or an article (see the module
    /// documentation). `Err` only for database failures: the caller keeps
    /// its copy and tries again later (the pipe answers EX_TEMPFAIL).
    pub async fn ingest_mail(
        &self,
        raw: &[u8],
        mailbox: Option<&Mailbox>,
        opts: &IngestOptions,
    ) -> Result<IngestOutcome> {
        let mut outcomes = self.ingest_mail_batch(&[raw], mailbox, opts).await?;
        Ok(outcomes.pop().expect("one outcome per message"))
    }

    /// Imports several messages, in one transaction when it can: the result
    /// is what importing them one after another gives, one outcome per
    /// message in order. Bulk import uses it (see [`crate::ingest`]). If
    /// the batch fails as a whole, its messages are tried one by one, so one
    /// message's trouble costs only that message (see `ingest_alone`);
    /// `Err` (a database failure) means the messages from the failing one
    /// on were not imported.
    pub async fn ingest_mail_batch(
        &self,
        raws: &[&[u8]],
        mailbox: Option<&Mailbox>,
        opts: &IngestOptions,
    ) -> Result<Vec<IngestOutcome>> {
        let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; raws.len()];
        let mut parsed = Vec::with_capacity(raws.len());
        for (i, raw) in raws.iter().enumerate() {
            match readable(raw) {
                Ok(m) => parsed.push((i, m)),
                Err(error) => {
                    let id = self.quarantine(raw, mailbox.map(|m| m.id), &error).await?;
                    outcomes[i] = Some(IngestOutcome::Quarantined {
                        quarantine_id: id,
                        error,
                    });
                }
            }
        }
        let batch: Vec<(usize, &[u8], &InboundMessage)> =
            parsed.iter().map(|(i, m)| (*i, raws[*i], m)).collect();
        if !batch.is_empty() {
            let placed = match self.ingest_parsed_batch(&batch, mailbox, opts, None).await {
                Ok(placed) => placed,
                Err(e) if batch.len() == 1 => {
                    vec![self.ingest_alone(batch[0], mailbox, opts, Some(e)).await?]
                }
                Err(e) => {
                    tracing::warn!(error = %e, messages = batch.len(), "mail batch failed; importing one by one");
                    let mut placed = Vec::with_capacity(batch.len());
                    for &one in &batch {
                        placed.push(self.ingest_alone(one, mailbox, opts, None).await?);
                    }
                    placed
                }
            };
            for (i, outcome) in placed {
                outcomes[i] = Some(outcome);
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every message has an outcome"))
            .collect())
    }

    /// One message on its own, after its batch failed. A failure that
    /// trying again can cure (the database or the data folder is away)
    /// is returned, and the source keeps its copy. A failure of this
    /// message itself (data no rule foresaw) would fail every retry and
    /// hold up the mailbox behind it: such a message is quarantined with
    /// the error for an administrator, like one that cannot be parsed. A
    /// constraint violation gets one more try first, since on PostgreSQL
    /// it can also mean another server just created the same sender.
    ///
    /// `failed` is the error of a first try already made (the batch was this
    /// one message).
    async fn ingest_alone(
        &self,
        one: (usize, &[u8], &InboundMessage),
        mailbox: Option<&Mailbox>,
        opts: &IngestOptions,
        mut failed: Option<StoreError>,
    ) -> Result<(usize, IngestOutcome)> {
        use sqlx::error::ErrorKind;
        let mut tries = 0;
        loop {
            tries += 1;
            let error = match failed.take() {
                Some(e) => e,
                None => match self.ingest_parsed_batch(&[one], mailbox, opts, None).await {
                    Ok(mut placed) => return Ok(placed.pop().expect("one outcome per message")),
                    Err(e) => e,
                },
            };
            let violation = matches!(&error,
                StoreError::Database(sqlx::Error::Database(db)) if db.kind() != ErrorKind::Other);
            match &error {
                _ if violation && tries < 2 => continue,
                _ if violation => {}
                StoreError::Database(_) | StoreError::Files(_) | StoreError::Migrate(_) => {
                    return Err(error)
                }
                _ => {}
            }
            let message = format!("cannot be imported: {error}");
            tracing::warn!(message_id = %one.2.message_id, error = %error, "mail quarantined");
            let quarantine_id = self
                .quarantine(one.1, mailbox.map(|m| m.id), &message)
                .await?;
            return Ok((
                one.0,
                IngestOutcome::Quarantined {
                    quarantine_id,
                    error: message,
                },
            ));
        }
    }

    /// Keeps a message an administrator has to look at. The same bytes
    /// arriving again at the same mailbox while they wait (a mail server's
    /// retry, a Maildir imported twice) count as another attempt of that
    /// entry, not a new one.
    async fn quarantine(&self, raw: &[u8], mailbox_id: Option<i64>, error: &str) -> Result<i64> {
        let at = to_db(self.now());
        let sha = hex::encode(Sha256::digest(raw));
        let mut tx = self.begin_write().await?;
        let waiting = sqlx::query(
            "SELECT id FROM mail_quarantine WHERE sha256 = $1 AND released_at IS NULL \
             AND (mailbox_id = $2 OR (mailbox_id IS NULL AND $2 IS NULL)) ORDER BY id LIMIT 1",
        )
        .bind(&sha)
        .bind(mailbox_id)
        .fetch_optional(&mut *tx)
        .await?;
        let id: i64 = match waiting {
            Some(r) => {
                let id: i64 = r.try_get("id")?;
                sqlx::query(
                    "UPDATE mail_quarantine SET attempts = attempts + 1, last_attempt_at = $1, error = $2 \
                     WHERE id = $3",
                )
                .bind(at)
                .bind(error)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                id
            }
            None => sqlx::query(
                "INSERT INTO mail_quarantine (mailbox_id, raw, sha256, error, created_at, last_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(mailbox_id)
            .bind(raw.to_vec())
            .bind(&sha)
            .bind(error)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?,
        };
        tx.commit().await?;
        Ok(id)
    }

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
    pub async fn retry_quarantined(&self, id: i64, opts: &IngestOptions) -> Result<IngestOutcome> {
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
                    .ingest_parsed_batch(
                        &[(0, raw.as_slice(), &msg)],
                        mailbox.as_ref(),
                        opts,
                        Some(id),
                    )
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

    /// The received-mail record of a Message-ID, if Tuki has one.
    pub async fn mail_record(&self, message_id: &str) -> Result<Option<MailRecord>> {
        let row = sqlx::query(
            "SELECT message_id, sender, ticket_id, article_id, classification, auto_answer_allowed, reasons, \
             outcome, threaded_by, received_at FROM mail_messages WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(MailRecord {
                message_id: r.try_get("message_id")?,
                sender: r.try_get("sender")?,
                ticket_id: r.try_get("ticket_id")?,
                article_id: r.try_get("article_id")?,
                classification: r.try_get("classification")?,
                auto_answer_allowed: get_bool(&r, "auto_answer_allowed")?,
                reasons: r.try_get("reasons")?,
                outcome: r.try_get("outcome")?,
                threaded_by: r.try_get("threaded_by")?,
                received_at: from_db(r.try_get("received_at")?),
            })
        })
        .transpose()
    }

    /// The raw source of a received message, as it arrived.
    pub async fn mail_raw(&self, message_id: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT r.raw FROM mail_messages m JOIN mail_raw r ON r.id = m.raw_id WHERE m.message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| r.try_get("raw")).transpose()?)
    }

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

    /// Records that Tuki sent a message with this Message-ID on a ticket, so
    /// that replies to it thread by reference. The outbox calls this in the
    /// transaction of the change that caused the mail.
    pub async fn record_sent_message_id(&self, message_id: &str, ticket_id: i64) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        record_sent(&mut conn, message_id, ticket_id, to_db(self.now())).await
    }
}

/// The message parsed, or why it goes to the quarantine: it cannot be
/// parsed, or its sender address is one Tuki cannot take as a user's.
fn readable(raw: &[u8]) -> std::result::Result<InboundMessage, String> {
    let msg = tuki_mail::parse(raw).map_err(|e| e.to_string())?;
    Email::parse("from", &msg.from.address).map_err(|e| e.to_string())?;
    Ok(msg)
}

/// The article text: the message without quoted history, plus a line per
/// attachment and forward so an agent sees they exist (the raw source
/// keeps them whole).
pub(crate) fn mail_body(msg: &InboundMessage) -> String {
    let mut body = msg.display_text.trim().to_string();
    for f in &msg.forwarded {
        body.push_str(&format!(
            "\n\n--- Forwarded message from {}: {}\n{}",
            f.from
                .as_ref()
                .map(|m| m.address.as_str())
                .unwrap_or("unknown sender"),
            f.subject,
            f.text
        ));
    }
    let files: Vec<String> = msg
        .attachments
        .iter()
        .filter(|a| !a.inline)
        .map(|a| format!("{} ({}, {} bytes)", a.filename, a.content_type, a.size))
        .collect();
    if !files.is_empty() {
        body.push_str("\n\nAttachments: ");
        body.push_str(&files.join(", "));
    }
    if body.trim().is_empty() {
        body = "(empty message)".into();
    }
    truncate_chars(&body, BODY_MAX)
}

pub(crate) async fn record_sent(
    conn: &mut AnyConnection,
    message_id: &str,
    ticket_id: i64,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO mail_messages (message_id, direction, ticket_id, classification, auto_answer_allowed, \
         outcome, received_at) VALUES ($1, 'out', $2, 'human', $3, 'sent', $4) ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(message_id)
    .bind(ticket_id)
    .bind(false)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn tickets_by_message_ids<S: AsRef<str>>(
    tx: &mut AnyConnection,
    ids: &[S],
) -> Result<Vec<(String, i64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT m.message_id, COALESCE(t.merged_into_id, t.id) AS ticket_id FROM mail_messages m \
         JOIN tickets t ON t.id = m.ticket_id WHERE m.message_id IN ",
    );
    sql.bind_texts(ids);
    let rows = sql.query().fetch_all(&mut *tx).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("message_id")?, r.try_get("ticket_id")?)))
        .collect()
}

pub(crate) async fn ticket_by_number(tx: &mut AnyConnection, number: i64) -> Result<Option<i64>> {
    let row =
        sqlx::query("SELECT COALESCE(merged_into_id, id) AS id FROM tickets WHERE number = $1")
            .bind(number)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
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

/// Adds a mail article to a ticket, moving its state as a reply by this
/// author would (`counts` false keeps state and SLA clocks untouched, for
/// robots' mail and bounces).
pub(crate) async fn add_mail_article(
    tx: &mut AnyConnection,
    ticket_id: i64,
    author: Option<(i64, Role)>,
    kind: ArticleKind,
    (body, body_html): (&str, Option<&str>),
    counts: bool,
    at: Timestamp,
) -> Result<i64> {
    let at_db = to_db(at);
    let mut t = load(tx, ticket_id).await?;
    let internal = kind.internal(None)?;
    let author_id = author.map(|a| a.0);
    let id: i64 = sqlx::query(
        "INSERT INTO articles (ticket_id, kind, internal, author_id, body, body_html, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(ticket_id)
    .bind(kind.as_str())
    .bind(internal)
    .bind(author_id)
    .bind(body)
    .bind(body_html)
    .bind(at_db)
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    record(
        tx,
        ticket_id,
        author_id,
        at_db,
        Change::new("article", None, Some(format!("{kind} {id}"))),
    )
    .await?;
    let mut events = Vec::new();
    if counts && t.merged_into_id.is_none() {
        if let Some((_, role)) = author {
            if let Some(next) = rules::state_after_article(t.state, role, kind) {
                record(
                    tx,
                    ticket_id,
                    author_id,
                    at_db,
                    Change::new("state", Some(t.state.to_string()), Some(next.to_string())),
                )
                .await?;
                events.push(TicketEvent::StateChanged {
                    from: t.state,
                    to: next,
                });
                set_state(&mut t, next, at);
            }
            events.push(if role.is_staff() {
                TicketEvent::StaffResponse
            } else {
                TicketEvent::CustomerReply
            });
        }
    }
    t.updated_at = at;
    save(tx, &t).await?;
    for event in events {
        on_ticket_event(tx, &mut t, author_id, event, at).await?;
    }
    Ok(id)
}
