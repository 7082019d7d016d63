//! What a batch writes besides tickets and articles: the release of a
//! quarantined message, the claims of Message-IDs, the raw sources, the
//! outcomes of the mail records and the files, each in one multi-row
//! statement per chunk.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};
use tuki_mail::ThreadBy;

use super::{Incoming, MailFile, NewTickets, Placed, ROWS_PER_STATEMENT};
use crate::mail::{thread_by_str, IngestOutcome, Mailbox};
use crate::sql::{Sql, Value};
use crate::time::to_db;
use crate::{Result, StoreError};

/// Releases a quarantined message the batch imports; a conflict when
/// someone released it meanwhile (the caller's transaction then rolls
/// back, and nothing is imported).
pub(super) async fn release(tx: &mut AnyConnection, quarantined: i64, at: Timestamp) -> Result<()> {
    let released = sqlx::query(
        "UPDATE mail_quarantine SET released_at = $1, last_attempt_at = $1, attempts = attempts + 1 \
         WHERE id = $2 AND released_at IS NULL",
    )
    .bind(to_db(at))
    .bind(quarantined)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if released == 0 {
        return Err(StoreError::conflict(
            None,
            "this message has left the quarantine meanwhile",
        ));
    }
    Ok(())
}

/// Claims the messages' Message-IDs; gives those claimed now. On
/// PostgreSQL a concurrent claim of the same id waits for the other
/// transaction and then finds it taken.
pub(super) async fn claim(
    tx: &mut AnyConnection,
    incoming: &[Incoming<'_>],
    mailbox: Option<&Mailbox>,
    at: Timestamp,
) -> Result<HashSet<String>> {
    let mut claimed = HashSet::new();
    for chunk in incoming.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "INSERT INTO mail_messages (message_id, direction, mailbox_id, sender, classification, \
             auto_answer_allowed, reasons, outcome, received_at) VALUES ",
        );
        for (i, m) in chunk.iter().enumerate() {
            let class = &m.msg.classification;
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(Value::Text(m.msg.message_id.clone()))
                .push(", 'in', ")
                .bind_opt(mailbox.map(|m| m.id))
                .push(", ")
                .bind(Value::Text(m.sender.as_str().into()))
                .push(", ")
                .bind(Value::Text(class.kind.as_str().into()))
                .push(", ")
                .bind(Value::Bool(class.auto_answer_allowed))
                .push(", ")
                .bind(Value::Text(class.reasons.join("; ")))
                .push(", 'pending', ")
                .bind(Value::Int(to_db(at)))
                .push(")");
        }
        sql.push(" ON CONFLICT (message_id) DO NOTHING RETURNING message_id");
        for r in sql.query().fetch_all(&mut *tx).await? {
            claimed.insert(r.try_get::<String, _>("message_id")?);
        }
    }
    Ok(claimed)
}

/// The raw sources, matched back to their messages by digest (two claimed
/// messages with one digest are the same bytes).
pub(super) async fn raw_sources(
    tx: &mut AnyConnection,
    incoming: &[Incoming<'_>],
    at: Timestamp,
) -> Result<HashMap<String, i64>> {
    let mut raw_ids = HashMap::new();
    for chunk in incoming.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("INSERT INTO mail_raw (sha256, size, raw, created_at) VALUES ");
        for (i, m) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(Value::Text(m.sha256.clone()))
                .push(", ")
                .bind(Value::Int(m.raw.len() as i64))
                .push(", ")
                .bind(Value::Blob(m.raw.to_vec()))
                .push(", ")
                .bind(Value::Int(to_db(at)))
                .push(")");
        }
        sql.push(" RETURNING id, sha256");
        for r in sql.query().fetch_all(&mut *tx).await? {
            raw_ids.insert(r.try_get("sha256")?, r.try_get("id")?);
        }
    }
    Ok(raw_ids)
}

/// The outcomes on the mail records, in one statement per chunk. The
/// VALUES columns are named column1… on both engines; CAST gives a column
/// of NULLs a type PostgreSQL can assign.
pub(super) async fn outcomes(
    tx: &mut AnyConnection,
    incoming: &[Incoming<'_>],
    raw_ids: &HashMap<String, i64>,
    new_tickets: &NewTickets,
) -> Result<()> {
    for chunk in incoming.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "UPDATE mail_messages SET raw_id = CAST(v.column2 AS BIGINT), outcome = v.column3, \
             ticket_id = CAST(v.column4 AS BIGINT), article_id = CAST(v.column5 AS BIGINT), \
             threaded_by = CAST(v.column6 AS TEXT) FROM (VALUES ",
        );
        for (i, m) in chunk.iter().enumerate() {
            let (outcome, ticket_id, article_id, by) = match m.placed.as_ref() {
                Some(Placed::Done(outcome)) => record_of(outcome),
                Some(Placed::NewTicket(k)) => {
                    let (t, _, a) = new_tickets.written[*k];
                    ("ticket", Some(t), Some(a), None)
                }
                None => unreachable!("every claimed message is placed"),
            };
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(Value::Text(m.msg.message_id.clone()))
                .push(", ")
                .bind(Value::Int(raw_ids[&m.sha256]))
                .push(", ")
                .bind(Value::Text(outcome.into()))
                .push(", ")
                .bind_opt(ticket_id)
                .push(", ")
                .bind_opt(article_id)
                .push(", ")
                .bind_opt_text(by.map(thread_by_str))
                .push(")");
        }
        sql.push(") AS v WHERE mail_messages.message_id = v.column1");
        sql.query().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Files, listed on their articles like files agents attach.
pub(super) async fn files(
    tx: &mut AnyConnection,
    files: &[MailFile],
    new_tickets: &NewTickets,
    at: Timestamp,
) -> Result<()> {
    for chunk in files.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "INSERT INTO attachments (ticket_id, article_id, sha256, size, content_type, file_name, \
             content_id, uploaded_by, created_at) VALUES ",
        );
        for (i, f) in chunk.iter().enumerate() {
            let (ticket_id, article_id) = match NewTickets::draft_of(f.ticket_id) {
                Some(k) => {
                    let (t, _, a) = new_tickets.written[k];
                    (t, a)
                }
                None => (
                    f.ticket_id,
                    f.article_id.expect("an existing ticket's article"),
                ),
            };
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(Value::Int(ticket_id))
                .push(", ")
                .bind(Value::Int(article_id))
                .push(", ")
                .bind(Value::Text(f.sha256.clone()))
                .push(", ")
                .bind(Value::Int(f.size))
                .push(", ")
                .bind(Value::Text(f.content_type.clone()))
                .push(", ")
                .bind(Value::Text(f.file_name.clone()))
                .push(", ")
                .bind_opt_text(f.content_id.as_deref())
                .push(", ")
                .bind(Value::Int(f.uploaded_by))
                .push(", ")
                .bind(Value::Int(to_db(at)))
                .push(")");
        }
        sql.query().execute(&mut *tx).await?;
    }
    Ok(())
}

/// What a message's mail record says of a placed message: its outcome,
/// ticket, article and how it was threaded.
fn record_of(
    outcome: &IngestOutcome,
) -> (&'static str, Option<i64>, Option<i64>, Option<ThreadBy>) {
    match outcome {
        IngestOutcome::Ticket {
            ticket_id,
            article_id,
            ..
        } => ("ticket", Some(*ticket_id), Some(*article_id), None),
        IngestOutcome::Article {
            ticket_id,
            article_id,
            by,
        } => ("article", Some(*ticket_id), Some(*article_id), Some(*by)),
        IngestOutcome::Bounce {
            ticket_id,
            article_id,
            ..
        } => ("bounce", *ticket_id, *article_id, None),
        IngestOutcome::Throttled => ("throttled", None, None, None),
        IngestOutcome::Loop => ("loop", None, None, None),
        IngestOutcome::Duplicate | IngestOutcome::Quarantined { .. } => {
            ("pending", None, None, None)
        }
    }
}
