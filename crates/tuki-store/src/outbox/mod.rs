//! Email out: the outbox.
//!
//! Every message Tuki sends is first a row of `outbox`, written by
//! [`enqueue_mail`] inside the transaction of the change that caused it,
//! together with the `send_mail` job that delivers it: a ticket that is
//! rolled back sends nothing, and a committed one cannot lose its mail.
//!
//! Mail follows ticket events: the outbox hears every change of a ticket
//! through [`crate::events`] and records a `mail_events` row per event that
//! mails someone, with a `ticket_mail` job ([`events`]). The job expands it
//! into each recipient's mail in their language ([`expand`]): the
//! acknowledgement of a new request, a public reply, a resolution to the
//! requester; a new request, a customer reply, an assignment to agents.
//! Escalations leave `notifications` rows with a `notification_mail` job
//! each. Jobs run on the one job queue ([`crate::jobs`]), so each expansion
//! happens once across servers, in the transaction that finishes its job.
//!
//! Sending is the `send_mail` job, run by a server that has an SMTP server
//! configured (the worker crate): it claims the job, sends the message and
//! marks it sent ([`delivery`]); a failure is retried with the queue's
//! backoff (10 s doubling, at most an hour), so a mail server that is down
//! delays mail but loses none. Without SMTP the jobs wait, and the outbox
//! shows the mail waiting.
//!
//! Each message carries a Message-ID (recorded in `mail_messages`, so a
//! reply to it threads into its ticket), In-Reply-To and References built
//! from the ticket's mail, and the `[Tuki #N]` tag in its subject. Mail to
//! customers is never sent in answer to a robot (the inbound message's
//! `auto_answer_allowed`) nor to an address that bounced permanently.
//! Texts come from `tuki_mail::texts`, in the recipient's language.

mod admin;
mod delivery;
mod events;
mod expand;
mod people;
mod prefs;

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;

use crate::jobs::{enqueue_with_attempts, NewJob};
use crate::mail::MailPolicy;
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store};

pub use admin::{OutboxEntry, OutboxOverview, OutboxState};
pub(crate) use events::{notify, on_created, on_ticket_change};
pub use prefs::NotificationPref;

/// The job kind that sends one outbox row (payload `{"outbox_id": N}`).
pub const SEND_MAIL_JOB: &str = "send_mail";
/// The job kind that expands one recorded ticket event into mail (payload
/// `{"mail_event_id": N}`).
pub const TICKET_MAIL_JOB: &str = "ticket_mail";
/// The job kind that mails one notification (payload
/// `{"notification_id": N}`).
pub const NOTIFICATION_MAIL_JOB: &str = "notification_mail";

/// How often a message is tried before it waits for an administrator.
const MAX_SEND_ATTEMPTS: i64 = 25;

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
    /// The public article whose files go with the mail (read when it is
    /// sent); never an internal note.
    pub article_id: Option<i64>,
}

/// A message of the outbox with where its delivery stands (from its
/// `send_mail` job).
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
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The article whose files are attached when the mail is sent.
    pub article_id: Option<i64>,
    /// The `send_mail` job that delivers it.
    #[serde(skip)]
    pub job_id: Option<i64>,
}

/// The outbox row with its job (`o`, `j`).
pub(crate) const OUT_COLUMNS: &str =
    "o.id, o.kind, o.ticket_id, o.user_id, o.recipient, o.sender, \
     o.subject, o.body, o.message_id, o.in_reply_to, o.refs, o.headers, o.sent_at, o.created_at, \
     o.article_id, o.job_id, j.attempts, j.max_attempts, j.run_at, j.last_error, j.failed_at";

pub(crate) const OUT_FROM: &str = "outbox o LEFT JOIN jobs j ON j.id = o.job_id";

pub(crate) fn out_from_row(r: &AnyRow) -> Result<OutMail> {
    let refs: String = r.try_get("refs")?;
    let headers: String = r.try_get("headers")?;
    let created_at = from_db(r.try_get("created_at")?);
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
        attempts: r.try_get::<Option<i64>, _>("attempts")?.unwrap_or(0),
        max_attempts: r
            .try_get::<Option<i64>, _>("max_attempts")?
            .unwrap_or(MAX_SEND_ATTEMPTS),
        next_attempt_at: opt_from_db(r.try_get("run_at")?).unwrap_or(created_at),
        last_error: r.try_get("last_error")?,
        sent_at: opt_from_db(r.try_get("sent_at")?),
        failed_at: opt_from_db(r.try_get("failed_at")?),
        created_at,
        article_id: r.try_get("article_id")?,
        job_id: r.try_get("job_id")?,
    })
}

/// A fresh Message-ID (bare, without angle brackets, as `mail_messages`
/// keeps them), on the domain of `from`, else of the desk's default From
/// address, else `tuki.invalid`.
pub fn new_message_id(ticket_id: Option<i64>, from: Option<&str>, policy: &MailPolicy) -> String {
    let domain = from
        .or(policy.from.as_deref())
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

/// Writes one message into the outbox, and the job that sends it, inside
/// the caller's transaction; for a ticket's mail the Message-ID is recorded
/// too, so that an answer to it threads into the ticket. Returns the
/// outbox id.
pub(crate) async fn enqueue_mail(
    conn: &mut AnyConnection,
    mail: NewMail,
    policy: &MailPolicy,
    at: Timestamp,
) -> Result<i64> {
    let message_id = mail
        .message_id
        .clone()
        .unwrap_or_else(|| new_message_id(mail.ticket_id, mail.sender.as_deref(), policy));
    let headers = serde_json::to_string(&mail.headers).unwrap_or_else(|_| "[]".into());
    let id: i64 = sqlx::query(
        "INSERT INTO outbox (kind, ticket_id, user_id, recipient, sender, subject, body, message_id, \
         in_reply_to, refs, headers, created_at, article_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
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
    let job = enqueue_with_attempts(
        conn,
        NewJob {
            kind: SEND_MAIL_JOB,
            payload: serde_json::json!({ "outbox_id": id }),
            run_at: at,
            dedupe_key: None,
        },
        MAX_SEND_ATTEMPTS,
        at,
    )
    .await?;
    sqlx::query("UPDATE outbox SET job_id = $1 WHERE id = $2")
        .bind(job)
        .bind(id)
        .execute(&mut *conn)
        .await?;
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
        let id = enqueue_mail(&mut tx, mail, self.mail_policy(), at).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The outbox, newest first; administrators only.
    pub async fn outbox(&self, actor: &Actor, limit: i64) -> Result<Vec<OutMail>> {
        crate::require_admin(actor, "see the outbox")?;
        self.outbox_rows(limit).await
    }

    /// The outbox, newest first, without an access check (CLI, tests).
    pub async fn outbox_rows(&self, limit: i64) -> Result<Vec<OutMail>> {
        sqlx::query(&format!(
            "SELECT {OUT_COLUMNS} FROM {OUT_FROM} ORDER BY o.id DESC LIMIT $1"
        ))
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(out_from_row)
        .collect()
    }
}
