//! The outbox for administrators: what waits, what keeps failing, what
//! was sent lately, and "send now".

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::Actor;

use crate::mail::LIST_MAX;
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store, StoreError};

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

/// A message with its `send_mail` job (`j`), which holds where delivery
/// stands.
const OUTBOX_COLUMNS: &str = "o.id, o.kind, o.ticket_id, t.number AS ticket_number, o.recipient, \
     o.subject, j.attempts, j.max_attempts, j.run_at, j.last_error, o.sent_at, j.failed_at, \
     o.created_at, j.locked_until";

const OUTBOX_FROM: &str =
    "outbox o LEFT JOIN jobs j ON j.id = o.job_id LEFT JOIN tickets t ON t.id = o.ticket_id";

fn outbox_from_row(r: &AnyRow, now: i64) -> Result<OutboxEntry> {
    let sent_at = opt_from_db(r.try_get("sent_at")?);
    let failed_at = opt_from_db(r.try_get("failed_at")?);
    let last_error: Option<String> = r.try_get("last_error")?;
    let locked_until: Option<i64> = r.try_get("locked_until")?;
    let created_at = from_db(r.try_get("created_at")?);
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
        attempts: r.try_get::<Option<i64>, _>("attempts")?.unwrap_or(0),
        max_attempts: r.try_get::<Option<i64>, _>("max_attempts")?.unwrap_or(0),
        next_attempt_at: opt_from_db(r.try_get("run_at")?).unwrap_or(created_at),
        last_error,
        sent_at,
        failed_at,
        created_at,
        state,
    })
}

impl Store {
    /// The outbox: waiting mail, failing mail (each at most [`LIST_MAX`],
    /// oldest first) and the `sent_limit` most recently sent.
    pub async fn outbox_overview(&self, actor: &Actor, sent_limit: i64) -> Result<OutboxOverview> {
        crate::require_admin(actor, "see the outbox")?;
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
        const WAITING: &str = "o.sent_at IS NULL AND j.failed_at IS NULL AND j.last_error IS NULL";
        const FAILING: &str =
            "o.sent_at IS NULL AND (j.failed_at IS NOT NULL OR j.last_error IS NOT NULL)";
        let queued = list(WAITING, "j.run_at, o.id", LIST_MAX).await?;
        let failing = list(FAILING, "o.id", LIST_MAX).await?;
        let sent = list(
            "o.sent_at IS NOT NULL",
            "o.sent_at DESC, o.id DESC",
            sent_limit.clamp(1, LIST_MAX),
        )
        .await?;
        let count = |filter: &str| {
            let sql = format!("SELECT COUNT(*) AS n FROM {OUTBOX_FROM} WHERE {filter}");
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
        crate::require_admin(actor, "see the outbox")?;
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
        crate::require_admin(actor, "send mail")?;
        let now = to_db(self.now());
        let done = sqlx::query(
            "UPDATE jobs SET run_at = $1, failed_at = NULL, \
             max_attempts = CASE WHEN max_attempts <= attempts THEN attempts + 1 ELSE max_attempts END \
             WHERE id = (SELECT job_id FROM outbox WHERE id = $2 AND sent_at IS NULL) \
             AND done_at IS NULL AND (locked_until IS NULL OR locked_until < $1)",
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
