//! Email out: the outbox and the task that sends it.
//!
//! Every message Tuki sends is first a row of `outbox`, written by
//! [`enqueue_mail`] inside the transaction of the change that caused it: a
//! ticket that is rolled back sends nothing, and a committed one cannot lose
//! its mail. [`on_ticket_change`] hears every change of a ticket
//! event and records it in `mail_events` in the same transaction; the
//! [`Sender`] expands each record into the mails that follow
//! (acknowledgement of a new request, a public reply, a resolution to the
//! requester; a new request, a customer reply to agents), and also turns rows
//! of `notifications` (SLA warnings and escalations) into mail.
//!
//! The [`Sender`] claims due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
//! the single writer on SQLite), sends them over SMTP with `lettre` and marks
//! them sent (over STARTTLS or TLS as the SMTP URL says, the server's
//! certificate checked against the web PKI roots plus any private CA of
//! [`SmtpConfig::extra_ca_pem`]; a certificate that fails the check fails
//! the attempt like any other error); a failure moves the row's next attempt back exponentially
//! (10 s doubling, at most an hour), so a mail server that is down delays
//! mail but loses none. A sender that dies mid-send leaves its lease to run
//! out and another takes the row again (at-least-once: the Message-ID lets
//! the receiving side see a repeat).
//!
//! A public reply to the requester, and agents' notices of a new request
//! or a customer's reply, name their article (`outbox.article_id`, never an
//! internal note): when the mail is sent, the article's files are read from
//! the data folder and go with the text as a multipart/mixed message, up to
//! [`SmtpConfig::attach_max_bytes`] in all; files beyond it, or missing from
//! the data folder, are listed at the end of the text instead.
//!
//! Each message carries a Message-ID (recorded in `mail_messages`, so a
//! reply to it threads into its ticket), In-Reply-To and References built
//! from the ticket's mail, and the `[Tuki #N]` tag in its subject. Mail to
//! customers is never sent in answer to a robot (the inbound message's
//! `auto_answer_allowed`) nor to an address that bounced permanently.
//! Texts come from the templates below, in the recipient's language.

mod admin;
mod delivery;
mod events;
mod prefs;
mod smtp;

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;

use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store};

pub use admin::{OutboxEntry, OutboxOverview, OutboxState};
pub(crate) use events::{notify, on_created, on_ticket_change};
pub use prefs::NotificationPref;
pub use smtp::{build_message, MailExtras, MailFile, Sender, SmtpConfig, ATTACH_MAX_BYTES};

/// The kinds of mail Tuki sends from ticket events. SLA notifications use
/// the kind of their `notifications` row (`sla_warning`, `sla_breach`, ...).
pub const KINDS: &[&str] = &[
    "ack",
    "reply",
    "resolved",
    "new_ticket",
    "customer_reply",
    "assigned",
    "sla",
];

/// One message to send.
#[derive(Debug, Clone, Default)]
pub struct NewMail {
    pub kind: String,
    pub ticket_id: Option<i64>,
    pub user_id: Option<i64>,
    pub recipient: String,
    /// The From address; `None` for the configured default.
    pub sender: Option<String>,
    pub subject: String,
    pub body: String,
    /// Generated when `None`.
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Extra headers (e.g. `Auto-Submitted`).
    pub headers: Vec<(String, String)>,
    /// The public article whose files go with the mail (read from the data
    /// folder when it is sent); never an internal note.
    pub article_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutMail {
    pub id: i64,
    pub kind: String,
    pub ticket_id: Option<i64>,
    pub user_id: Option<i64>,
    pub recipient: String,
    pub sender: Option<String>,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Extra headers as `[name, value]` pairs.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub headers: Vec<(String, String)>,
    pub attempts: i64,
    pub max_attempts: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub sent_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub failed_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// The article whose files are attached when the mail is sent.
    pub article_id: Option<i64>,
}

const OUT_COLUMNS: &str = "id, kind, ticket_id, user_id, recipient, sender, subject, body, message_id, \
     in_reply_to, refs, headers, attempts, max_attempts, next_attempt_at, last_error, sent_at, failed_at, created_at, \
     article_id";

fn out_from_row(r: &AnyRow) -> Result<OutMail> {
    let refs: String = r.try_get("refs")?;
    let headers: String = r.try_get("headers")?;
    Ok(OutMail {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        ticket_id: r.try_get("ticket_id")?,
        user_id: r.try_get("user_id")?,
        recipient: r.try_get("recipient")?,
        sender: r.try_get("sender")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        message_id: r.try_get("message_id")?,
        in_reply_to: r.try_get("in_reply_to")?,
        references: refs.split_whitespace().map(str::to_string).collect(),
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        next_attempt_at: from_db(r.try_get("next_attempt_at")?),
        last_error: r.try_get("last_error")?,
        sent_at: opt_from_db(r.try_get("sent_at")?),
        failed_at: opt_from_db(r.try_get("failed_at")?),
        created_at: from_db(r.try_get("created_at")?),
        article_id: r.try_get("article_id")?,
    })
}

/// A fresh Message-ID (bare, without angle brackets, as `mail_messages`
/// keeps them), on the domain of `from` (or the
/// configured default sender, or `tuki.invalid`).
pub fn new_message_id(ticket_id: Option<i64>, from: Option<&str>) -> String {
    let default_from = std::env::var("TUKI_MAIL_FROM").ok();
    let domain = from
        .or(default_from.as_deref())
        .and_then(|a| a.rsplit_once('@').map(|(_, d)| d.trim_end_matches('>')))
        .filter(|d| !d.is_empty())
        .unwrap_or("tuki.invalid")
        .to_string();
    let ticket = ticket_id.map(|t| format!("t{t}.")).unwrap_or_default();
    format!(
        "tuki.{ticket}{}.{:016x}@{domain}",
        crate::time::now().as_millisecond(),
        rand::random::<u64>()
    )
}

/// Writes one message into the outbox inside the caller's transaction; for
/// a ticket's mail the Message-ID is recorded too, so that an answer to it
/// threads into the ticket. Returns the outbox id.
pub async fn enqueue_mail(conn: &mut AnyConnection, mail: NewMail, at: Timestamp) -> Result<i64> {
    let message_id = mail
        .message_id
        .clone()
        .unwrap_or_else(|| new_message_id(mail.ticket_id, mail.sender.as_deref()));
    let headers = serde_json::to_string(
        &mail
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_else(|_| "[]".into());
    let id: i64 = sqlx::query(
        "INSERT INTO outbox (kind, ticket_id, user_id, recipient, sender, subject, body, message_id, \
         in_reply_to, refs, headers, next_attempt_at, created_at, article_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) RETURNING id",
    )
    .bind(&mail.kind)
    .bind(mail.ticket_id)
    .bind(mail.user_id)
    .bind(&mail.recipient)
    .bind(mail.sender.as_deref())
    .bind(&mail.subject)
    .bind(&mail.body)
    .bind(&message_id)
    .bind(mail.in_reply_to.as_deref())
    .bind(mail.references.join(" "))
    .bind(headers)
    .bind(to_db(at))
    .bind(mail.article_id)
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?;
    if let Some(ticket_id) = mail.ticket_id {
        crate::mail::record_sent(conn, &message_id, ticket_id, to_db(at)).await?;
    }
    Ok(id)
}

impl Store {
    /// Writes one message into the outbox in its own transaction (for
    /// callers without one, like the CLI).
    pub async fn enqueue_mail(&self, mail: NewMail) -> Result<i64> {
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let id = enqueue_mail(&mut tx, mail, at).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The outbox, newest first; administrators only.
    pub async fn outbox(&self, actor: &Actor, limit: i64) -> Result<Vec<OutMail>> {
        crate::require_admin(actor, "see the outbox")?;
        self.outbox_rows(limit).await
    }

    /// The language of mail to `user_id` (English when unknown).
    pub(crate) async fn mail_language(&self, user_id: Option<i64>) -> Result<&'static str> {
        let Some(id) = user_id else { return Ok("en") };
        let row = sqlx::query("SELECT language FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(match row {
            Some(r) => {
                tuki_mail::texts::Lang::from_code(&r.try_get::<String, _>("language")?).code()
            }
            None => "en",
        })
    }

    /// The outbox, newest first, without an access check (CLI, tests).
    pub async fn outbox_rows(&self, limit: i64) -> Result<Vec<OutMail>> {
        sqlx::query(&format!(
            "SELECT {OUT_COLUMNS} FROM outbox ORDER BY id DESC LIMIT $1"
        ))
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(out_from_row)
        .collect()
    }
}
