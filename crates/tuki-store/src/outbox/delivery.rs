//! Delivery of the outbox through `send_mail` jobs: the mail a job sends,
//! marking it sent (with the job, in one transaction) or recording a failed
//! attempt (the queue's backoff decides the next one).

use jiff::SignedDuration;
use sqlx::Row;

use super::{out_from_row, OutMail, OUT_COLUMNS, OUT_FROM, SEND_MAIL_JOB};
use crate::jobs::{finish_on, Job};
use crate::sql::Sql;
use crate::time::to_db;
use crate::{Result, Store, StoreError};

impl Store {
    /// The message a `send_mail` job sends; `None` when it was sent already
    /// (a job taken over after a lost lease).
    pub async fn mail_of_job(&self, job: &Job) -> Result<Option<OutMail>> {
        let id = job
            .payload
            .get("outbox_id")
            .and_then(|v| v.as_i64())
            .ok_or_else(|| {
                StoreError::Database(sqlx::Error::Decode(
                    format!("job {} has no outbox_id", job.id).into(),
                ))
            })?;
        let row = sqlx::query(&format!(
            "SELECT {OUT_COLUMNS} FROM {OUT_FROM} WHERE o.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let mail = out_from_row(&row)?;
        Ok(mail.sent_at.is_none().then_some(mail))
    }

    /// Claims up to `limit` due `send_mail` jobs for `worker`, holding each
    /// for `lease`; their messages, due first.
    pub async fn claim_mail(
        &self,
        worker: &str,
        limit: i64,
        lease: SignedDuration,
    ) -> Result<Vec<OutMail>> {
        let jobs = self
            .claim_jobs(worker, &[SEND_MAIL_JOB], limit, lease)
            .await?;
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(&format!(
            "SELECT {OUT_COLUMNS} FROM {OUT_FROM} WHERE o.sent_at IS NULL AND o.job_id IN "
        ));
        sql.bind_list(&ids).push(" ORDER BY j.run_at, o.id");
        sql.query()
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(out_from_row)
            .collect()
    }

    /// Marks a message sent, and its job done, if `worker` holds the job;
    /// `false` when it does not (its lease ran out and another took it).
    pub async fn mail_sent(&self, id: i64, worker: &str) -> Result<bool> {
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let held = sqlx::query(
            "SELECT j.id FROM outbox o JOIN jobs j ON j.id = o.job_id \
             WHERE o.id = $1 AND o.sent_at IS NULL AND j.locked_by = $2 AND j.done_at IS NULL",
        )
        .bind(id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(job) = held else {
            return Ok(false);
        };
        sqlx::query("UPDATE outbox SET sent_at = $1 WHERE id = $2")
            .bind(to_db(at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        finish_on(&mut tx, job.try_get("id")?, worker, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt of a message `worker` holds: tried again
    /// after [`crate::jobs::backoff`], or given up (kept, with its error,
    /// for an administrator) once its attempts are used up.
    pub async fn mail_failed(&self, mail: &OutMail, worker: &str, error: &str) -> Result<()> {
        let Some(job_id) = mail.job_id else {
            return Err(StoreError::NotFound);
        };
        let job = self.job(job_id).await?;
        self.fail_job(&job, worker, error).await
    }
}
