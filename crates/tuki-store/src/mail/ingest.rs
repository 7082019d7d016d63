//! The one door of incoming mail: a message (or a batch of them) into
//! tickets and articles, exactly once; what cannot be read is quarantined.

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use tuki_domain::directory::Role;
use tuki_domain::ticket::ArticleKind;
use tuki_domain::values::Email;
use tuki_mail::InboundMessage;

use super::*;
use crate::events::{dispatch_later, Inbound, Later};
use crate::tickets::articles::article_added;
use crate::tickets::{load, save, BODY_MAX};
use crate::time::to_db;
use crate::{Result, Store, StoreError};

impl Store {
    /// Turns one raw message into a ticket or an article (see the module
    /// documentation). `Err` only for database failures: the caller keeps
    /// its copy and tries again later (the pipe answers EX_TEMPFAIL).
    pub async fn ingest_mail(
        &self,
        raw: &[u8],
        mailbox: Option<&Mailbox>,
    ) -> Result<IngestOutcome> {
        let mut outcomes = self.ingest_mail_batch(&[raw], mailbox).await?;
        Ok(outcomes.pop().expect("one outcome per message"))
    }

    /// Imports several messages, in one transaction when it can: the result
    /// is what importing them one after another gives, one outcome per
    /// message in order. Bulk import uses it (see [`batch`]). If
    /// the batch fails as a whole, its messages are tried one by one, so one
    /// message's trouble costs only that message (see `ingest_alone`);
    /// `Err` (a database failure) means the messages from the failing one
    /// on were not imported.
    pub async fn ingest_mail_batch(
        &self,
        raws: &[&[u8]],
        mailbox: Option<&Mailbox>,
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
            let placed = match self.ingest_parsed_batch(&batch, mailbox, None).await {
                Ok(placed) => placed,
                Err(e) if batch.len() == 1 => {
                    vec![self.ingest_alone(batch[0], mailbox, Some(e)).await?]
                }
                Err(e) => {
                    tracing::warn!(error = %e, messages = batch.len(), "mail batch failed; importing one by one");
                    let mut placed = Vec::with_capacity(batch.len());
                    for &one in &batch {
                        placed.push(self.ingest_alone(one, mailbox, None).await?);
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
        mut failed: Option<StoreError>,
    ) -> Result<(usize, IngestOutcome)> {
        use sqlx::error::ErrorKind;
        let mut tries = 0;
        loop {
            tries += 1;
            let error = match failed.take() {
                Some(e) => e,
                None => match self.ingest_parsed_batch(&[one], mailbox, None).await {
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
}

/// The message parsed, or why it goes to the quarantine: it cannot be
/// parsed, or its sender address is one Tuki cannot take as a user's.
pub(super) fn readable(raw: &[u8]) -> std::result::Result<InboundMessage, String> {
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

/// Adds a mail article to a ticket. What it does to the ticket is the one
/// rule of every article ([`crate::tickets::articles::article_added`]):
/// robots' mail and bounces come as internal notes, which move nothing.
pub(crate) async fn add_mail_article(
    tx: &mut AnyConnection,
    ticket_id: i64,
    author: Option<(i64, Role)>,
    kind: ArticleKind,
    (body, body_html): (&str, Option<&str>),
    (at, inbound): (Timestamp, Option<Inbound>),
    later: &mut Later,
) -> Result<i64> {
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
    .bind(to_db(at))
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    let mut change = article_added(
        &mut t,
        id,
        author.map(|a| a.1),
        author_id,
        kind,
        internal,
        at,
    );
    change.inbound = inbound;
    save(tx, &t).await?;
    dispatch_later(tx, &mut t, change, later).await?;
    Ok(id)
}
