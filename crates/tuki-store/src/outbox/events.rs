//! The outbox's part of ticket events: in the change's transaction, a
//! `mail_events` row for each event that mails someone, with the
//! `ticket_mail` job that expands it ([`super::expand`]); and
//! notifications for people, each with its `notification_mail` job.

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};
use tuki_domain::ticket::{TicketEvent, TicketState};

use super::{NOTIFICATION_MAIL_JOB, TICKET_MAIL_JOB};
use crate::events::{Created, Later, TicketChange};
use crate::jobs::{enqueue_all, enqueue_on, NewJob};
use crate::sql::{Sql, Value};
use crate::tickets::Ticket;
use crate::time::to_db;
use crate::Result;

fn expand_job(mail_event_id: i64, at: Timestamp) -> NewJob<'static> {
    NewJob {
        kind: TICKET_MAIL_JOB,
        payload: serde_json::json!({ "mail_event_id": mail_event_id }),
        run_at: at,
        dedupe_key: None,
    }
}

/// The outbox's part of a ticket change: records, in the change's
/// transaction, that mail follows each of its events, and the job that
/// expands it. Writing one row here instead of every recipient's mail
/// keeps the request that caused the event fast, whatever the size of the
/// group.
pub(crate) async fn on_ticket_change(
    conn: &mut AnyConnection,
    t: &Ticket,
    change: &TicketChange,
    later: &mut Later,
) -> Result<()> {
    if t.merged_into_id.is_some() {
        return Ok(());
    }
    for event in &change.events {
        let (kind, user) = match *event {
            TicketEvent::StaffResponse => ("staff_response", None),
            TicketEvent::CustomerReply => ("customer_reply", None),
            TicketEvent::StateChanged {
                to: TicketState::Resolved,
                ..
            } => ("resolved", None),
            // The new owner hears of it, unless they took the ticket
            // themselves.
            TicketEvent::Assigned { owner } if change.actor_id != Some(owner) => {
                ("assigned", Some(owner))
            }
            _ => continue,
        };
        let inbound = match kind {
            "assigned" => None,
            _ => change.inbound.as_ref(),
        };
        // Never answer a robot: mail caused by an automatic message sends
        // nothing to its sender.
        let may_answer = inbound.is_none_or(|i| i.may_answer);
        let id: i64 = sqlx::query(
            "INSERT INTO mail_events (ticket_id, kind, actor_id, user_id, article_id, inbound_message_id, \
             may_answer, at) VALUES ($1, $2, $3, $4, (SELECT MAX(id) FROM articles WHERE ticket_id = $1), \
             $5, $6, $7) RETURNING id",
        )
        .bind(t.id)
        .bind(kind)
        .bind(change.actor_id)
        .bind(user)
        .bind(inbound.map(|i| i.message_id.as_str()))
        .bind(may_answer)
        .bind(to_db(change.at))
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
        later.job(expand_job(id, change.at));
    }
    Ok(())
}

/// Records the `created` mail events of new tickets and their jobs, one
/// statement each for all of them. When mail is being ingested in this
/// transaction, its message is what the acknowledgement answers (or, from a
/// robot, what it must not answer).
pub(crate) async fn on_created(conn: &mut AnyConnection, created: &[Created<'_>]) -> Result<()> {
    let at = created[0].at;
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
            .bind_opt_text(c.inbound.as_ref().map(|i| i.message_id.as_str()));
        sql.push(", ");
        sql.bind(Value::Bool(c.inbound.as_ref().is_none_or(|i| i.may_answer)))
            .push(", ")
            .bind(Value::Int(to_db(at)))
            .push(")");
    }
    sql.push(" RETURNING id");
    let mut jobs = Vec::with_capacity(created.len());
    for r in sql.query().fetch_all(&mut *conn).await? {
        jobs.push(expand_job(r.try_get("id")?, at));
    }
    enqueue_all(conn, &jobs, at).await
}

/// Leaves a notification for a person (an SLA warning or breach about a
/// target, a failing mailbox), mailed to them by its own job. `message` is
/// the English text kept for the API; mail is written in the recipient's
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
    let id: i64 = sqlx::query(
        "INSERT INTO notifications (user_id, ticket_id, kind, sla_kind, message, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(ticket_id)
    .bind(kind)
    .bind(sla_kind)
    .bind(message)
    .bind(to_db(at))
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?;
    let job = NewJob {
        kind: NOTIFICATION_MAIL_JOB,
        payload: serde_json::json!({ "notification_id": id }),
        run_at: at,
        dedupe_key: None,
    };
    enqueue_on(conn, job, at).await?;
    Ok(())
}
