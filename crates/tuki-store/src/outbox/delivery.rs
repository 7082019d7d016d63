//! Delivery of the outbox: claiming due mail, marking it sent or failed.

use jiff::SignedDuration;

use super::*;
use crate::time::to_db;
use crate::{Engine, Result, Store};

impl Store {
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
