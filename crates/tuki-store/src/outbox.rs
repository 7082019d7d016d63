//! Email out: the outbox and the task that sends it.
//!
//! Every message Tuki sends is first a row of `outbox`, written by
//! [`enqueue_mail`] inside the transaction of the change that caused it: a
//! ticket that is rolled back sends nothing, and a committed one cannot lose
//! its mail. [`on_ticket_event`] is called by the store after each ticket
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

use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox as LMailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::ticket::TicketState;

use crate::attachments::human_size as file_size;
use crate::sla::TicketEvent;
use crate::sql::{get_bool, Sql, Value};
use crate::tickets::Ticket;
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Engine, Result, Store, StoreError};

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

// ------------------------------------------------------------------ texts

/// A language Tuki writes in; anything else reads as English.
fn lang(code: &str) -> &'static str {
    if code == "fi" {
        "fi"
    } else {
        "en"
    }
}

/// The values a template may use.
struct Ctx<'a> {
    tag: String,
    subject: &'a str,
    name: &'a str,
    text: &'a str,
    group: &'a str,
}

/// Subject and body of a mail of `kind` in `lang`. Subjects carry the
/// ticket tag so that answers thread even without headers.
fn render(kind: &str, lang: &str, c: &Ctx<'_>) -> (String, String) {
    let Ctx {
        tag,
        subject,
        name,
        text,
        group,
    } = c;
    match (kind, lang) {
        ("ack", "fi") => (
            format!("{tag} Pyyntösi on vastaanotettu: {subject}"),
            format!(
                "Hei {name},\n\nolemme vastaanottaneet pyyntösi \"{subject}\" ja palaamme asiaan pian.\n\
                 Vastaa tähän viestiin, jos haluat lisätä tietoja; säilytä otsikon tunniste {tag}.\n\n\
                 Ystävällisin terveisin\nTuki\n"
            ),
        ),
        ("ack", _) => (
            format!("{tag} Your request was received: {subject}"),
            format!(
                "Hello {name},\n\nwe have received your request \"{subject}\" and will get back to you soon.\n\
                 Reply to this message to add information; please keep {tag} in the subject.\n\n\
                 Kind regards\nTuki\n"
            ),
        ),
        ("reply", _) => (format!("Re: {tag} {subject}"), format!("{text}\n")),
        ("resolved", "fi") => (
            format!("{tag} Pyyntösi on ratkaistu: {subject}"),
            format!(
                "Hei {name},\n\npyyntösi \"{subject}\" on merkitty ratkaistuksi.\n\
                 Jos asia ei ratkennut, vastaa tähän viestiin, niin pyyntö avataan uudelleen.\n\n\
                 Ystävällisin terveisin\nTuki\n"
            ),
        ),
        ("resolved", _) => (
            format!("{tag} Your request was resolved: {subject}"),
            format!(
                "Hello {name},\n\nyour request \"{subject}\" has been marked as resolved.\n\
                 If the problem remains, reply to this message and the request is reopened.\n\n\
                 Kind regards\nTuki\n"
            ),
        ),
        ("new_ticket", "fi") => (
            format!("{tag} Uusi pyyntö ryhmässä {group}: {subject}"),
            format!("Ryhmään {group} tuli uusi pyyntö {tag}: {subject}\n\n{text}\n"),
        ),
        ("new_ticket", _) => (
            format!("{tag} New request in {group}: {subject}"),
            format!("A new request {tag} reached {group}: {subject}\n\n{text}\n"),
        ),
        ("customer_reply", "fi") => (
            format!("{tag} Asiakas vastasi: {subject}"),
            format!("Asiakas vastasi pyyntöön {tag} \"{subject}\":\n\n{text}\n"),
        ),
        ("customer_reply", _) => (
            format!("{tag} The customer replied: {subject}"),
            format!("The customer replied to {tag} \"{subject}\":\n\n{text}\n"),
        ),
        ("assigned", "fi") => (
            format!("{tag} Sinulle osoitettiin pyyntö: {subject}"),
            format!(
                "Hei {name},\n\npyyntö {tag} \"{subject}\" on nyt sinun hoidettavanasi.\n\n{text}\n"
            ),
        ),
        ("assigned", _) => (
            format!("{tag} Assigned to you: {subject}"),
            format!("Hello {name},\n\nrequest {tag} \"{subject}\" is now yours to handle.\n\n{text}\n"),
        ),
        (_, "fi") => (
            format!("{tag} Ilmoitus: {subject}"),
            format!("Pyyntö {tag} \"{subject}\":\n\n{text}\n"),
        ),
        (_, _) => (
            format!("{tag} Notice: {subject}"),
            format!("Request {tag} \"{subject}\":\n\n{text}\n"),
        ),
    }
}

/// The lines added at the end of a mail's text for the files of its
/// article that did not go with it: `too_large` (over the size cap, still
/// on the request's page) and `unreadable` (missing from the data folder),
/// each as (file name, size). Empty when every file went.
fn files_note(lang: &str, too_large: &[(String, i64)], unreadable: &[(String, i64)]) -> String {
    let list = |files: &[(String, i64)]| {
        files
            .iter()
            .map(|(name, size)| format!("- {name} ({})\n", file_size(*size)))
            .collect::<String>()
    };
    let mut out = String::new();
    if !too_large.is_empty() {
        out.push_str(match lang {
            "fi" => "\nLiian suuret tiedostot sähköpostiin, saatavilla pyynnön sivulla:\n",
            _ => "\nFiles too large to send by mail, available on the request's page:\n",
        });
        out.push_str(&list(too_large));
    }
    if !unreadable.is_empty() {
        out.push_str(match lang {
            "fi" => "\nTiedostot, joita ei voitu liittää tähän viestiin:\n",
            _ => "\nFiles that could not be attached to this mail:\n",
        });
        out.push_str(&list(unreadable));
    }
    out
}

/// The subject tag of a ticket's mail, `[Tuki #1234]`, with the store's
/// word (`Store::mail_tag`).
fn tag(word: &str, number: i64) -> String {
    format!("[{word} #{number}]")
}

// ------------------------------------------------------ mails from events

struct Person {
    id: i64,
    email: String,
    name: String,
    language: String,
    staff: bool,
}

async fn person(conn: &mut AnyConnection, id: i64) -> Result<Option<Person>> {
    let row =
        sqlx::query("SELECT id, email, name, language, role, active FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(r) = row else { return Ok(None) };
    if !get_bool(&r, "active")? {
        return Ok(None);
    }
    let role: String = r.try_get("role")?;
    Ok(Some(Person {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        language: r.try_get("language")?,
        staff: role != "customer",
    }))
}

/// Whether `user_id` wants mail of `kind` (on unless turned off). An SLA
/// kind (`sla_warning`, ...) follows the user's `sla` switch.
pub(crate) async fn wants(conn: &mut AnyConnection, user_id: i64, kind: &str) -> Result<bool> {
    let general = if kind.starts_with("sla_") {
        "sla"
    } else {
        kind
    };
    let row = sqlx::query(
        "SELECT enabled FROM notification_prefs WHERE user_id = $1 AND (kind = $2 OR kind = $3) \
         ORDER BY CASE WHEN kind = $2 THEN 0 ELSE 1 END LIMIT 1",
    )
    .bind(user_id)
    .bind(kind)
    .bind(general)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(get_bool(&r, "enabled")?),
        None => Ok(true),
    }
}

/// Whether mail to `address` bounced permanently (a 5.x.x report).
async fn bounced(conn: &mut AnyConnection, address: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT status FROM mail_address_flags WHERE address = $1 AND cleared_at IS NULL",
    )
    .bind(address.to_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => r
            .try_get::<Option<String>, _>("status")?
            .is_some_and(|s| s.starts_with('5')),
        None => false,
    })
}

/// The From address of a ticket's mail: the mailbox of its group, if the
/// group has one.
async fn group_address(conn: &mut AnyConnection, group_id: Option<i64>) -> Result<Option<String>> {
    let Some(g) = group_id else { return Ok(None) };
    Ok(
        sqlx::query("SELECT address FROM mailboxes WHERE group_id = $1 ORDER BY id LIMIT 1")
            .bind(g)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("address"))
            .transpose()?,
    )
}

/// In-Reply-To and References for a new message of a ticket: the ticket's
/// last message (received ones preferred) and its first plus the last few,
/// of the thread the customer sees (agents' notices left out).
async fn thread_of(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<(Option<String>, Vec<String>)> {
    let rows = sqlx::query(
        "SELECT m.message_id, m.direction FROM mail_messages m \
         LEFT JOIN outbox o ON o.message_id = m.message_id \
         WHERE m.ticket_id = $1 AND (o.id IS NULL OR o.kind IN ('ack', 'reply', 'resolved')) \
         ORDER BY m.received_at, m.message_id",
    )
    .bind(ticket_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut last_in = None;
    for r in &rows {
        let id: String = r.try_get("message_id")?;
        if r.try_get::<String, _>("direction")? == "in" {
            last_in = Some(id.clone());
        }
        ids.push(id);
    }
    let in_reply_to = last_in.or_else(|| ids.last().cloned());
    let refs = if ids.len() > 10 {
        let mut r = vec![ids[0].clone()];
        r.extend_from_slice(&ids[ids.len() - 9..]);
        r
    } else {
        ids
    };
    Ok((in_reply_to, refs))
}

/// The inbound message being ingested in this transaction, if the event
/// comes from mail: its Message-ID and whether it may be answered
/// automatically. Its row is `pending` only inside the ingesting
/// transaction, so no other message can be seen here.
async fn pending_inbound(conn: &mut AnyConnection) -> Result<Option<(String, bool)>> {
    let row = sqlx::query(
        "SELECT message_id, auto_answer_allowed FROM mail_messages \
         WHERE direction = 'in' AND outcome = 'pending' LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("message_id")?,
            get_bool(&r, "auto_answer_allowed")?,
        ))
    })
    .transpose()
}

/// Records, in the event's transaction, that mail follows a ticket event.
/// Called by the store after every ticket event; the [`Sender`] turns the
/// record into outbox mail ([`Store::mail_events_to_outbox`]). Writing one
/// row here instead of every recipient's mail keeps the request that caused
/// the event fast, whatever the size of the group.
pub(crate) async fn on_ticket_event(
    conn: &mut AnyConnection,
    t: &Ticket,
    actor_id: Option<i64>,
    event: &TicketEvent,
    at: Timestamp,
) -> Result<()> {
    if t.merged_into_id.is_some() {
        return Ok(());
    }
    let kind = match event {
        TicketEvent::Created => "created",
        TicketEvent::StaffResponse => "staff_response",
        TicketEvent::CustomerReply => "customer_reply",
        TicketEvent::StateChanged { to, .. } if *to == TicketState::Resolved => "resolved",
        _ => return Ok(()),
    };
    let inbound = pending_inbound(conn).await?;
    // Never answer a robot: mail caused by an automatic message sends
    // nothing to its sender.
    let may_answer = inbound.as_ref().is_none_or(|(_, ok)| *ok);
    sqlx::query(
        "INSERT INTO mail_events (ticket_id, kind, actor_id, article_id, inbound_message_id, may_answer, at) \
         VALUES ($1, $2, $3, (SELECT MAX(id) FROM articles WHERE ticket_id = $1), $4, $5, $6)",
    )
    .bind(t.id)
    .bind(kind)
    .bind(actor_id)
    .bind(inbound.map(|(id, _)| id))
    .bind(may_answer)
    .bind(to_db(at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records, in the change's transaction, that `owner_id` was made the owner
/// of `t` by `actor_id`: the new owner gets an `assigned` mail, unless they
/// took the ticket themselves.
pub(crate) async fn on_assigned(
    conn: &mut AnyConnection,
    t: &Ticket,
    actor_id: Option<i64>,
    owner_id: i64,
    at: Timestamp,
) -> Result<()> {
    if t.merged_into_id.is_some() || actor_id == Some(owner_id) {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO mail_events (ticket_id, kind, actor_id, user_id, article_id, may_answer, at) \
         VALUES ($1, 'assigned', $2, $3, (SELECT MAX(id) FROM articles WHERE ticket_id = $1), $4, $5)",
    )
    .bind(t.id)
    .bind(actor_id)
    .bind(owner_id)
    .bind(true)
    .bind(to_db(at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the `created` mail events of new tickets in one statement: the
/// [`on_ticket_event`] of ticket creation, for any number of tickets. When
/// mail is being ingested in this transaction, its message is what the
/// acknowledgement answers (or, from a robot, what it must not answer).
/// `rows` are (ticket id, actor id, first article id).
pub(crate) async fn record_created(
    conn: &mut AnyConnection,
    rows: &[(i64, Option<i64>, i64)],
    at: Timestamp,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let inbound = pending_inbound(conn).await?;
    let may_answer = inbound.as_ref().is_none_or(|(_, ok)| *ok);
    let mut sql = Sql::new(
        "INSERT INTO mail_events (ticket_id, kind, actor_id, article_id, inbound_message_id, may_answer, at) VALUES ",
    );
    for (i, (ticket, actor, article)) in rows.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(Value::Int(*ticket)).push(", 'created', ");
        sql.bind_opt(*actor)
            .push(", ")
            .bind(Value::Int(*article))
            .push(", ")
            .bind_opt_text(inbound.as_ref().map(|(id, _)| id.as_str()));
        sql.push(", ");
        sql.bind(Value::Bool(may_answer))
            .push(", ")
            .bind(Value::Int(to_db(at)))
            .push(")");
    }
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// One recorded ticket event, as the sender expands it.
struct MailEvent {
    id: i64,
    ticket_id: i64,
    kind: String,
    actor_id: Option<i64>,
    /// Whom the event is about (the new owner of `assigned`).
    user_id: Option<i64>,
    article_id: Option<i64>,
    inbound_message_id: Option<String>,
    may_answer: bool,
}

/// Writes the mails that follow a recorded event: acknowledgement, public
/// reply and resolution to the requester; new request and customer reply to
/// agents.
async fn expand_event(
    conn: &mut AnyConnection,
    e: &MailEvent,
    tag_word: &str,
    at: Timestamp,
) -> Result<()> {
    let t = crate::tickets::load(conn, e.ticket_id).await?;
    if t.merged_into_id.is_some() {
        return Ok(());
    }
    let actor_id = e.actor_id;
    let may_answer = e.may_answer;
    let from = group_address(conn, t.group_id).await?;
    let (mut in_reply_to, mut refs) = thread_of(conn, t.id).await?;
    if let Some(mid) = &e.inbound_message_id {
        in_reply_to = Some(mid.clone());
        if !refs.contains(mid) {
            refs.push(mid.clone());
        }
    }
    let latest = match e.article_id {
        Some(a) => {
            sqlx::query("SELECT kind, internal, body FROM articles WHERE id = $1")
                .bind(a)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => None,
    };
    let (last_kind, last_internal, last_body) = match &latest {
        Some(r) => (
            r.try_get::<String, _>("kind")?,
            get_bool(r, "internal")?,
            r.try_get::<String, _>("body")?,
        ),
        None => (String::new(), true, String::new()),
    };
    // The files of the article a mail quotes go with it; those of an
    // internal note never leave Tuki by mail.
    let files_of = e.article_id.filter(|_| latest.is_some() && !last_internal);

    // (kind, recipients)
    let mut to_customer: Option<&str> = None;
    let mut to_agents: Vec<(i64, &str)> = Vec::new();
    match e.kind.as_str() {
        "created" => {
            to_customer = Some("ack");
            if let Some(g) = t.group_id {
                let members = sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1")
                    .bind(g)
                    .fetch_all(&mut *conn)
                    .await?;
                for m in members {
                    to_agents.push((m.try_get("user_id")?, "new_ticket"));
                }
            }
        }
        "staff_response" if last_kind == "reply" && !last_internal => {
            to_customer = Some("reply");
        }
        "resolved" => {
            to_customer = Some("resolved");
        }
        "assigned" => {
            // Only if they still own it: a quick reassignment mails nobody
            // about a ticket that is no longer theirs.
            if let Some(u) = e.user_id.filter(|u| t.owner_id == Some(*u)) {
                to_agents.push((u, "assigned"));
            }
        }
        "customer_reply" => {
            let mut ids: Vec<i64> = t.owner_id.into_iter().collect();
            ids.extend(t.followers.iter().copied());
            for id in ids {
                to_agents.push((id, "customer_reply"));
            }
        }
        _ => {}
    }

    let group_name: String = match t.group_id {
        Some(g) => sqlx::query("SELECT name FROM support_groups WHERE id = $1")
            .bind(g)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("name"))
            .transpose()?
            .unwrap_or_default(),
        None => String::new(),
    };

    let mut sent_to = Vec::new();
    if let Some(kind) = to_customer.filter(|_| may_answer) {
        if let Some(p) = person(conn, t.requester_id).await? {
            if Some(p.id) != actor_id || kind != "reply" {
                sent_to.push(p.id);
                if !bounced(conn, &p.email).await? && wants(conn, p.id, kind).await? {
                    let ctx = Ctx {
                        tag: tag(tag_word, t.number),
                        subject: &t.subject,
                        name: &p.name,
                        text: &last_body,
                        group: &group_name,
                    };
                    let (subject, body) = render(kind, lang(&p.language), &ctx);
                    let auto = match kind {
                        "reply" => None,
                        "ack" => Some("auto-replied"),
                        _ => Some("auto-generated"),
                    };
                    enqueue_mail(
                        conn,
                        NewMail {
                            kind: kind.into(),
                            ticket_id: Some(t.id),
                            user_id: Some(p.id),
                            recipient: p.email,
                            sender: from.clone(),
                            subject,
                            body,
                            in_reply_to: in_reply_to.clone(),
                            references: refs.clone(),
                            headers: auto
                                .map(|a| vec![("Auto-Submitted".to_string(), a.to_string())])
                                .unwrap_or_default(),
                            article_id: files_of.filter(|_| kind == "reply"),
                            ..NewMail::default()
                        },
                        at,
                    )
                    .await?;
                }
            }
        }
    }
    for (user_id, kind) in to_agents {
        if Some(user_id) == actor_id || sent_to.contains(&user_id) {
            continue;
        }
        sent_to.push(user_id);
        let Some(p) = person(conn, user_id).await? else {
            continue;
        };
        if !p.staff || !wants(conn, p.id, kind).await? {
            continue;
        }
        let ctx = Ctx {
            tag: tag(tag_word, t.number),
            subject: &t.subject,
            name: &p.name,
            text: &last_body,
            group: &group_name,
        };
        let (subject, body) = render(kind, lang(&p.language), &ctx);
        enqueue_mail(
            conn,
            NewMail {
                kind: kind.into(),
                ticket_id: Some(t.id),
                user_id: Some(p.id),
                recipient: p.email,
                sender: from.clone(),
                subject,
                body,
                in_reply_to: in_reply_to.clone(),
                references: refs.clone(),
                headers: vec![
                    ("Auto-Submitted".into(), "auto-generated".into()),
                    ("X-Auto-Response-Suppress".into(), "All".into()),
                ],
                // The customer's message (a new request or a reply) with
                // its files; an `assigned` notice carries none.
                article_id: files_of.filter(|_| matches!(kind, "new_ticket" | "customer_reply")),
                ..NewMail::default()
            },
            at,
        )
        .await?;
    }
    Ok(())
}

// --------------------------------------------------------- store methods

/// A user's switch for one kind of mail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPref {
    pub kind: String,
    pub enabled: bool,
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

    /// The caller's switches, one per kind (on unless turned off).
    pub async fn notification_prefs(&self, actor: &Actor) -> Result<Vec<NotificationPref>> {
        let user = actor
            .user_id
            .ok_or_else(|| StoreError::forbidden("only users have preferences"))?;
        let rows = sqlx::query("SELECT kind, enabled FROM notification_prefs WHERE user_id = $1")
            .bind(user)
            .fetch_all(&self.read)
            .await?;
        let mut set = std::collections::HashMap::new();
        for r in &rows {
            set.insert(r.try_get::<String, _>("kind")?, get_bool(r, "enabled")?);
        }
        Ok(KINDS
            .iter()
            .map(|k| NotificationPref {
                kind: k.to_string(),
                enabled: set.get(*k).copied().unwrap_or(true),
            })
            .collect())
    }

    /// Turns one kind of mail on or off for the caller.
    pub async fn set_notification_pref(
        &self,
        actor: &Actor,
        kind: &str,
        enabled: bool,
    ) -> Result<Vec<NotificationPref>> {
        let user = actor
            .user_id
            .ok_or_else(|| StoreError::forbidden("only users have preferences"))?;
        if !KINDS.contains(&kind) {
            return Err(tuki_domain::ValidationError::new(
                "kind",
                format!("must be one of: {}", KINDS.join(", ")),
            )
            .into());
        }
        sqlx::query(
            "INSERT INTO notification_prefs (user_id, kind, enabled) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, kind) DO UPDATE SET enabled = excluded.enabled",
        )
        .bind(user)
        .bind(kind)
        .bind(enabled)
        .execute(&self.write)
        .await?;
        self.notification_prefs(actor).await
    }

    /// The outbox, newest first; administrators only.
    pub async fn outbox(&self, actor: &Actor, limit: i64) -> Result<Vec<OutMail>> {
        if !actor.is_admin() {
            return Err(StoreError::forbidden("only administrators see the outbox"));
        }
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
            Some(r) => lang(&r.try_get::<String, _>("language")?),
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

    /// Turns recorded ticket events into outbox mail: each event in its own
    /// transaction with its mails, marked done there, so an event is
    /// expanded exactly once (claimed with `FOR UPDATE SKIP LOCKED` on
    /// PostgreSQL; SQLite has one writer). Returns how many it expanded.
    pub async fn mail_events_to_outbox(&self, limit: i64) -> Result<usize> {
        let pick = match self.engine() {
            Engine::Postgres => "FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let mut done = 0;
        while (done as i64) < limit.max(1) {
            let at = self.now();
            let mut tx = self.begin_write().await?;
            let row = sqlx::query(&format!(
                "SELECT id, ticket_id, kind, actor_id, user_id, article_id, inbound_message_id, may_answer \
                 FROM mail_events WHERE done_at IS NULL ORDER BY id LIMIT 1 {pick}"
            ))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(r) = row else { break };
            let event = MailEvent {
                id: r.try_get("id")?,
                ticket_id: r.try_get("ticket_id")?,
                kind: r.try_get("kind")?,
                actor_id: r.try_get("actor_id")?,
                user_id: r.try_get("user_id")?,
                article_id: r.try_get("article_id")?,
                inbound_message_id: r.try_get("inbound_message_id")?,
                may_answer: get_bool(&r, "may_answer")?,
            };
            expand_event(&mut tx, &event, self.mail_tag(), at).await?;
            sqlx::query("UPDATE mail_events SET done_at = $1 WHERE id = $2")
                .bind(to_db(at))
                .bind(event.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            done += 1;
        }
        Ok(done)
    }

    /// Turns undelivered rows of `notifications` (SLA warnings, breaches,
    /// escalations) into outbox mail, in one transaction, and marks them
    /// delivered. Returns how many notifications it took.
    pub async fn notifications_to_outbox(&self, limit: i64) -> Result<usize> {
        let at = self.now();
        let pick = match self.engine() {
            Engine::Postgres => "FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&format!(
            "SELECT id, user_id, ticket_id, kind, message FROM notifications \
             WHERE delivered_at IS NULL ORDER BY id LIMIT $1 {pick}"
        ))
        .bind(limit.max(1))
        .fetch_all(&mut *tx)
        .await?;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let user_id: i64 = r.try_get("user_id")?;
            let ticket_id: Option<i64> = r.try_get("ticket_id")?;
            let kind: String = r.try_get("kind")?;
            let message: String = r.try_get("message")?;
            sqlx::query("UPDATE notifications SET delivered_at = $1 WHERE id = $2")
                .bind(to_db(at))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let Some(p) = person(&mut tx, user_id).await? else {
                continue;
            };
            if !wants(&mut tx, p.id, &kind).await? {
                continue;
            }
            let (number, subject, group_id) = match ticket_id {
                Some(t) => {
                    let row =
                        sqlx::query("SELECT number, subject, group_id FROM tickets WHERE id = $1")
                            .bind(t)
                            .fetch_one(&mut *tx)
                            .await?;
                    (
                        Some(row.try_get::<i64, _>("number")?),
                        row.try_get::<String, _>("subject")?,
                        row.try_get::<Option<i64>, _>("group_id")?,
                    )
                }
                None => (None, String::new(), None),
            };
            let from = group_address(&mut tx, group_id).await?;
            let (in_reply_to, refs) = match ticket_id {
                Some(t) => thread_of(&mut tx, t).await?,
                None => (None, Vec::new()),
            };
            let ctx = Ctx {
                tag: number
                    .map(|n| tag(self.mail_tag(), n))
                    .unwrap_or_else(|| format!("[{}]", self.mail_tag())),
                subject: &subject,
                name: &p.name,
                text: &message,
                group: "",
            };
            let (subject, body) = render(&kind, lang(&p.language), &ctx);
            enqueue_mail(
                &mut tx,
                NewMail {
                    kind,
                    ticket_id,
                    user_id: Some(p.id),
                    recipient: p.email,
                    sender: from,
                    subject,
                    body,
                    in_reply_to,
                    references: refs,
                    headers: vec![
                        ("Auto-Submitted".into(), "auto-generated".into()),
                        ("X-Auto-Response-Suppress".into(), "All".into()),
                    ],
                    ..NewMail::default()
                },
                at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Claims up to `limit` due messages for `worker`, holding each for
    /// `lease`.
    pub async fn claim_mail(
        &self,
        worker: &str,
        limit: i64,
        lease: SignedDuration,
    ) -> Result<Vec<OutMail>> {
        let now = self.now();
        let pick = match self.engine() {
            Engine::Postgres => "FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let rows = sqlx::query(&format!(
            "UPDATE outbox SET locked_by = $1, locked_until = $2, attempts = attempts + 1 WHERE id IN \
             (SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $3 \
              AND (locked_until IS NULL OR locked_until < $3) ORDER BY next_attempt_at, id LIMIT $4 {pick}) \
             RETURNING {OUT_COLUMNS}"
        ))
        .bind(worker)
        .bind(to_db(now + lease))
        .bind(to_db(now))
        .bind(limit.max(1))
        .fetch_all(&self.write)
        .await?;
        let mut mails = rows.iter().map(out_from_row).collect::<Result<Vec<_>>>()?;
        mails.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(mails)
    }

    /// Marks a message sent.
    pub async fn mail_sent(&self, id: i64, worker: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET sent_at = $1, locked_by = NULL, locked_until = NULL, last_error = NULL \
             WHERE id = $2 AND locked_by = $3 AND sent_at IS NULL",
        )
        .bind(to_db(self.now()))
        .bind(id)
        .bind(worker)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed attempt: tried again after [`crate::jobs::backoff`],
    /// or given up (kept, with its error, for an administrator) once its
    /// attempts are used up.
    pub async fn mail_failed(&self, mail: &OutMail, worker: &str, error: &str) -> Result<()> {
        let now = self.now();
        let error: String = error.chars().take(2000).collect();
        let (failed_at, next) = if mail.attempts >= mail.max_attempts {
            (Some(to_db(now)), to_db(now))
        } else {
            (None, to_db(now + crate::jobs::backoff(mail.attempts)))
        };
        sqlx::query(
            "UPDATE outbox SET failed_at = $1, next_attempt_at = $2, locked_by = NULL, locked_until = NULL, \
             last_error = $3 WHERE id = $4 AND locked_by = $5",
        )
        .bind(failed_at)
        .bind(next)
        .bind(&error)
        .bind(mail.id)
        .bind(worker)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

// ------------------------------------------------------------------ sending

/// Where and how mail leaves Tuki.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// `smtp://host:port` (plain, for local servers), `smtp://host?tls=required`
    /// (STARTTLS), `smtps://host` (TLS); user and password in the URL.
    pub url: String,
    /// From address when the ticket's group has no mailbox.
    pub default_from: String,
    /// Certificate authorities (a PEM bundle) trusted for the SMTP server's
    /// certificate in addition to the built-in web PKI roots, e.g. an
    /// organisation's private CA (`tuki serve --mail-ca-file`).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// The data folder, where the files of articles live (`tuki serve
    /// --data-dir`). Without one, mail goes without files and lists them as
    /// not attached.
    pub data_dir: Option<PathBuf>,
    /// The most bytes of files one mail carries
    /// (`TUKI_MAIL_ATTACH_MAX_BYTES`); files beyond it are listed at the
    /// end of the text instead.
    pub attach_max_bytes: u64,
}

/// The default of [`SmtpConfig::attach_max_bytes`]: 7 MiB of files, about
/// 9.5 MiB of mail once encoded, which fits the 10,240,000-byte message
/// limit Postfix ships with (and most other servers' larger ones).
pub const ATTACH_MAX_BYTES: u64 = 7 * 1024 * 1024;

impl SmtpConfig {
    /// From `TUKI_SMTP_URL` and `TUKI_MAIL_FROM`; `None` when no SMTP URL is
    /// set (mail then waits in the outbox).
    pub fn from_env() -> Option<SmtpConfig> {
        let url = std::env::var("TUKI_SMTP_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let default_from =
            std::env::var("TUKI_MAIL_FROM").unwrap_or_else(|_| "tuki@localhost".into());
        let attach_max_bytes = match std::env::var("TUKI_MAIL_ATTACH_MAX_BYTES") {
            Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| {
                tracing::warn!(value = %v, default = ATTACH_MAX_BYTES,
                    "TUKI_MAIL_ATTACH_MAX_BYTES is not a number of bytes; using the default");
                ATTACH_MAX_BYTES
            }),
            _ => ATTACH_MAX_BYTES,
        };
        Some(SmtpConfig {
            url,
            default_from,
            extra_ca_pem: None,
            data_dir: None,
            attach_max_bytes,
        })
    }
}

/// The TLS settings of an SMTP URL (as lettre reads it) with the extra
/// certificate authorities trusted besides the web PKI roots; `None` for a
/// plain `smtp://` URL, which uses no TLS.
fn tls_with_extra_roots(url: &str, pem: &[u8]) -> std::result::Result<Option<Tls>, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("TUKI_SMTP_URL: {e}"))?;
    let Some(host) = parsed.host_str() else {
        return Ok(None);
    };
    let mode = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let params = || {
        let ca = Certificate::from_pem(pem).map_err(|e| format!("mail CA certificates: {e}"))?;
        TlsParameters::builder(host.to_string())
            .add_root_certificate(ca)
            .build_rustls()
            .map_err(|e| format!("mail CA certificates: {e}"))
    };
    Ok(match (parsed.scheme(), mode.as_deref()) {
        ("smtps", _) => Some(Tls::Wrapper(params()?)),
        ("smtp", Some("required")) => Some(Tls::Required(params()?)),
        ("smtp", Some("opportunistic")) => Some(Tls::Opportunistic(params()?)),
        _ => None,
    })
}

/// A Message-ID as written in headers: `<id>`.
fn angle(id: &str) -> String {
    format!(
        "<{}>",
        id.trim().trim_start_matches('<').trim_end_matches('>')
    )
}

/// A file that goes with a mail, read from the data folder.
#[derive(Debug, Clone)]
pub struct MailFile {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What a mail carries besides its text: the files of its article that go
/// with it, and the lines listing those that do not (added to the text).
#[derive(Debug, Clone, Default)]
pub struct MailExtras {
    pub files: Vec<MailFile>,
    pub note: String,
}

/// Builds the RFC 5322 message of an outbox row: its text alone
/// (text/plain), or with files a multipart/mixed message of the text and
/// each file (base64, with its name, RFC 2231-encoded when not ASCII, and
/// content type).
pub fn build_message(
    mail: &OutMail,
    default_from: &str,
    extras: &MailExtras,
) -> std::result::Result<Message, String> {
    let from: LMailbox = mail
        .sender
        .as_deref()
        .unwrap_or(default_from)
        .parse()
        .map_err(|e| format!("bad From address: {e}"))?;
    let to: LMailbox = mail
        .recipient
        .parse()
        .map_err(|e| format!("bad recipient {:?}: {e}", mail.recipient))?;
    let mut b = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(angle(&mail.message_id)))
        .date(std::time::SystemTime::from(mail.created_at));
    if let Some(irt) = &mail.in_reply_to {
        b = b.in_reply_to(angle(irt));
    }
    if !mail.references.is_empty() {
        b = b.references(
            mail.references
                .iter()
                .map(|r| angle(r))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    for (k, v) in &mail.headers {
        let name = HeaderName::new_from_ascii(k.clone()).map_err(|e| format!("header {k}: {e}"))?;
        b = b.raw_header(HeaderValue::new(name, v.clone()));
    }
    if let Some(t) = mail.ticket_id {
        let name = HeaderName::new_from_ascii_str("X-Tuki-Ticket");
        b = b.raw_header(HeaderValue::new(name, t.to_string()));
    }
    let text = format!("{}{}", mail.body, extras.note);
    if extras.files.is_empty() {
        return b
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| e.to_string());
    }
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(text));
    for f in &extras.files {
        let content_type = ContentType::parse(&f.content_type)
            .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid"));
        // Always base64: a file goes byte for byte, whatever its line ends
        // (a 7bit part with bare LFs would be refused or rewritten by mail
        // servers).
        let body = Body::new_with_encoding(f.bytes.clone(), ContentTransferEncoding::Base64)
            .map_err(|_| format!("cannot encode file {:?}", f.file_name))?;
        parts = parts.singlepart(Attachment::new(f.file_name.clone()).body(body, content_type));
    }
    b.multipart(parts).map_err(|e| e.to_string())
}

/// The task that sends the outbox: started by `tuki serve`.
pub struct Sender {
    store: Store,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    default_from: String,
    data_dir: Option<PathBuf>,
    attach_max_bytes: u64,
    worker: String,
    batch: i64,
    lease: SignedDuration,
    poll: Duration,
}

impl Sender {
    pub fn new(store: Store, config: &SmtpConfig) -> std::result::Result<Sender, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|e| format!("TUKI_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(30)));
        if let Some(pem) = &config.extra_ca_pem {
            if let Some(tls) = tls_with_extra_roots(&config.url, pem)? {
                builder = builder.tls(tls);
            }
        }
        let transport = builder.build();
        Ok(Sender {
            store,
            transport,
            default_from: config.default_from.clone(),
            data_dir: config.data_dir.clone(),
            attach_max_bytes: config.attach_max_bytes,
            worker: format!(
                "outbox-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            batch: 20,
            lease: SignedDuration::from_secs(300),
            poll: Duration::from_secs(1),
        })
    }

    pub fn poll_every(mut self, poll: Duration) -> Sender {
        self.poll = poll;
        self
    }

    /// One round: notifications into mail, then a batch of due mail sent.
    /// Returns how many messages it tried.
    pub async fn tick(&self) -> Result<usize> {
        self.store.mail_events_to_outbox(100).await?;
        self.store.notifications_to_outbox(100).await?;
        let mails = self
            .store
            .claim_mail(&self.worker, self.batch, self.lease)
            .await?;
        let n = mails.len();
        for mail in mails {
            let built = match self.extras(&mail).await {
                Ok(extras) => build_message(&mail, &self.default_from, &extras),
                Err(e) => Err(e),
            };
            let outcome = match built {
                Ok(msg) => self
                    .transport
                    .send(msg)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => {
                    self.store.mail_sent(mail.id, &self.worker).await?;
                    tracing::debug!(id = mail.id, kind = %mail.kind, to = %mail.recipient, "mail sent");
                }
                Err(error) => {
                    tracing::warn!(id = mail.id, attempts = mail.attempts, %error, "mail not sent");
                    self.store.mail_failed(&mail, &self.worker, &error).await?;
                }
            }
        }
        Ok(n)
    }

    /// The files of the mail's article, read from the data folder, as many
    /// as fit under the size cap (in the order they were added); the rest
    /// are listed at the end of the text in the recipient's language. A
    /// file missing from the data folder is listed too, with a warning in
    /// the log, and the mail goes without it. Another read error fails the
    /// attempt (tried again later) for the first few attempts, then the file
    /// is listed like a missing one, so that one bad file cannot hold a
    /// reply back for good.
    async fn extras(&self, mail: &OutMail) -> std::result::Result<MailExtras, String> {
        const READ_RETRIES: i64 = 3;
        let Some(article_id) = mail.article_id else {
            return Ok(MailExtras::default());
        };
        let files = self
            .store
            .mail_files(article_id)
            .await
            .map_err(|e| format!("files of article {article_id}: {e}"))?;
        if files.is_empty() {
            return Ok(MailExtras::default());
        }
        let mut extras = MailExtras::default();
        let mut total: u64 = 0;
        let mut too_large = Vec::new();
        let mut unreadable = Vec::new();
        for f in files {
            let size = u64::try_from(f.size).unwrap_or(0);
            if total.saturating_add(size) > self.attach_max_bytes {
                too_large.push((f.file_name, f.size));
                continue;
            }
            let Some(dir) = &self.data_dir else {
                tracing::warn!(outbox_id = mail.id, article_id, attachment_id = f.id,
                    file = %f.file_name, "no data folder configured: file not attached to mail");
                unreadable.push((f.file_name, f.size));
                continue;
            };
            let path = crate::attachments::blob_path(dir, &f.sha256);
            let read = {
                let path = path.clone();
                tokio::task::spawn_blocking(move || std::fs::read(path))
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
            };
            match read {
                Ok(bytes) => {
                    let len = bytes.len() as u64;
                    if total.saturating_add(len) > self.attach_max_bytes {
                        too_large.push((f.file_name, len as i64));
                        continue;
                    }
                    total += len;
                    extras.files.push(MailFile {
                        file_name: f.file_name,
                        content_type: f.content_type,
                        bytes,
                    });
                }
                Err(error)
                    if error.kind() != std::io::ErrorKind::NotFound
                        && mail.attempts < READ_RETRIES =>
                {
                    return Err(format!(
                        "cannot read file {:?} of article {article_id} ({}): {error}",
                        f.file_name,
                        path.display()
                    ));
                }
                Err(error) => {
                    tracing::warn!(outbox_id = mail.id, article_id, attachment_id = f.id,
                        file = %f.file_name, sha256 = %f.sha256, path = %path.display(), %error,
                        "file of a mail cannot be read: sent without it, listed in the text");
                    unreadable.push((f.file_name, f.size));
                }
            }
        }
        if !too_large.is_empty() || !unreadable.is_empty() {
            let language = self
                .store
                .mail_language(mail.user_id)
                .await
                .map_err(|e| format!("language of the recipient: {e}"))?;
            extras.note = files_note(language, &too_large, &unreadable);
        }
        Ok(extras)
    }

    /// Sends until `shutdown` completes; database errors are logged and
    /// retried after the poll interval.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tracing::info!(worker = %self.worker, "mail sender started");
        tokio::pin!(shutdown);
        loop {
            let idle = match self.tick().await {
                Ok(n) => n == 0,
                Err(e) => {
                    tracing::error!(error = %e, "mail sender tick failed");
                    true
                }
            };
            let wait = if idle { self.poll } else { Duration::ZERO };
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!(worker = %self.worker, "mail sender stopped");
    }
}
