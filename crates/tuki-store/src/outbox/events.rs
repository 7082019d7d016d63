//! Mail that follows ticket events: recorded in the event's transaction,
//! expanded later into each recipient's mail in their language.

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};
use tuki_domain::ticket::TicketState;

use super::*;
use crate::events::{Created, TicketChange};
use crate::sql::{get_bool, Sql, Value};
use crate::tickets::Ticket;
use crate::time::to_db;
use crate::{Engine, Result, Store};
use tuki_domain::ticket::TicketEvent;
use tuki_mail::texts::{render, tag, Ctx, Lang};

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

/// The outbox's part of a ticket change: records, in the change's
/// transaction, that mail follows each of its events. The sender turns the
/// records into outbox mail later ([`Store::mail_events_to_outbox`]).
/// Writing one row here instead of every recipient's mail keeps the request
/// that caused the event fast, whatever the size of the group.
pub(crate) async fn on_ticket_change(
    conn: &mut AnyConnection,
    t: &Ticket,
    change: &TicketChange,
) -> Result<()> {
    if t.merged_into_id.is_some() {
        return Ok(());
    }
    for event in &change.events {
        let (kind, user) = match *event {
            TicketEvent::StaffResponse => ("staff_response", None),
            TicketEvent::CustomerReply => ("customer_reply", None),
            TicketEvent::StateChanged { to, .. } if to == TicketState::Resolved => {
                ("resolved", None)
            }
            // The new owner hears of it, unless they took the ticket
            // themselves.
            TicketEvent::Assigned { owner } if change.actor_id != Some(owner) => {
                ("assigned", Some(owner))
            }
            _ => continue,
        };
        let inbound = match kind {
            "assigned" => None,
            _ => pending_inbound(conn).await?,
        };
        // Never answer a robot: mail caused by an automatic message sends
        // nothing to its sender.
        let may_answer = inbound.as_ref().is_none_or(|(_, ok)| *ok);
        sqlx::query(
            "INSERT INTO mail_events (ticket_id, kind, actor_id, user_id, article_id, inbound_message_id, \
             may_answer, at) VALUES ($1, $2, $3, $4, (SELECT MAX(id) FROM articles WHERE ticket_id = $1), $5, $6, $7)",
        )
        .bind(t.id)
        .bind(kind)
        .bind(change.actor_id)
        .bind(user)
        .bind(inbound.map(|(id, _)| id))
        .bind(may_answer)
        .bind(to_db(change.at))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records the `created` mail events of new tickets in one statement. When
/// mail is being ingested in this transaction, its message is what the
/// acknowledgement answers (or, from a robot, what it must not answer).
pub(crate) async fn on_created(conn: &mut AnyConnection, created: &[Created<'_>]) -> Result<()> {
    let inbound = pending_inbound(conn).await?;
    let may_answer = inbound.as_ref().is_none_or(|(_, ok)| *ok);
    let mut sql = Sql::new(
        "INSERT INTO mail_events (ticket_id, kind, actor_id, article_id, inbound_message_id, may_answer, at) VALUES ",
    );
    for (i, c) in created.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(Value::Int(c.ticket.id)).push(", 'created', ");
        sql.bind_opt(c.actor_id)
            .push(", ")
            .bind(Value::Int(c.article_id))
            .push(", ")
            .bind_opt_text(inbound.as_ref().map(|(id, _)| id.as_str()));
        sql.push(", ");
        sql.bind(Value::Bool(may_answer))
            .push(", ")
            .bind(Value::Int(to_db(created[0].at)))
            .push(")");
    }
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// Leaves a notification for a person (an SLA warning or breach about a
/// target, a failing mailbox), mailed to them later. `message` is the
/// English text kept for the API; mail is written in the recipient's
/// language from `kind` and `sla_kind`.
pub(crate) async fn notify(
    conn: &mut AnyConnection,
    user_id: i64,
    ticket_id: Option<i64>,
    kind: &str,
    sla_kind: Option<&str>,
    message: &str,
    at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (user_id, ticket_id, kind, sla_kind, message, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user_id)
    .bind(ticket_id)
    .bind(kind)
    .bind(sla_kind)
    .bind(message)
    .bind(to_db(at))
    .execute(&mut *conn)
    .await?;
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
                    let (subject, body) = render(kind, Lang::from_code(&p.language), &ctx);
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
        let (subject, body) = render(kind, Lang::from_code(&p.language), &ctx);
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

impl Store {
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
            "SELECT id, user_id, ticket_id, kind, sla_kind, message FROM notifications \
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
            let sla_kind: Option<String> = r.try_get("sla_kind")?;
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
                text: sla_kind.as_deref().unwrap_or(&message),
                group: "",
            };
            // A notice from before notifications named their target says
            // what its message says.
            let template = match &sla_kind {
                None if kind.starts_with("sla_") => "notice",
                _ => kind.as_str(),
            };
            let (subject, body) = render(template, Lang::from_code(&p.language), &ctx);
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
}
