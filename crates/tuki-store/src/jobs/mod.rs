//! The one job queue: work that happens later (SLA checks, mail to expand
//! and to send; scheduled services later), stored in the database so that it
//! survives restarts and so that several `tuki serve` processes share it.
//! The loop that runs it lives in the worker crate; the queue's rules
//! (claim, lease, backoff, exactly once) and the store's own kinds of job
//! live here.
//!
//! A runner claims due jobs by setting `locked_by` and a lease
//! (`locked_until`) in one statement. On PostgreSQL the candidates are
//! picked `FOR UPDATE SKIP LOCKED`, so concurrent runners never wait for or
//! take each other's rows; on SQLite every write goes through the store's
//! single writer connection, so the claiming UPDATE is atomic by itself. A
//! job finished by its runner is marked done; a failed one is retried with
//! exponential backoff until `max_attempts`, then marked failed; a runner
//! that dies leaves its lease to run out, after which another runner takes
//! the job again.

use std::future::Future;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;

use crate::coverage::CONTRACT_REMINDERS_JOB;
use crate::files::sweep::FILES_SWEEP_JOB;
use crate::knowledge::KNOWLEDGE_REVIEW_JOB;
use crate::outbox::{NOTIFICATION_MAIL_JOB, TICKET_MAIL_JOB};
use crate::sla::SLA_CHECK_JOB;
use crate::sql::{Sql, Value};
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Engine, Result, Store, StoreError};

/// The kinds of job the store runs itself ([`Store::run_store_job`]);
/// others (sending mail) belong to whoever registers a handler for them.
pub const STORE_KINDS: &[&str] = &[
    PING_JOB,
    SLA_CHECK_JOB,
    TICKET_MAIL_JOB,
    NOTIFICATION_MAIL_JOB,
    FILES_SWEEP_JOB,
    KNOWLEDGE_REVIEW_JOB,
    CONTRACT_REMINDERS_JOB,
];

/// How a job's handler ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the runner marks it so.
    Done,
    /// Done, and already marked done in the handler's own transaction
    /// (with what it wrote), so it cannot run twice.
    Finished,
    /// Failed; retried after the backoff, or given up once its attempts
    /// are used up. The message is kept on the job.
    Failed(String),
}

/// The job kind that does nothing but record its run in `job_runs` (job,
/// runner, time): enqueue one to check from outside that the runners are
/// alive, and how many times (and where) each job ran.
pub const PING_JOB: &str = "ping";

/// A job to add.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: serde_json::Value,
    pub run_at: Timestamp,
    /// Jobs with the same key keep one pending row: enqueueing again moves
    /// that row's run time instead of adding another (an SLA check of one
    /// ticket only needs to run at the latest computed instant).
    pub dedupe_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for its run time (or for a retry).
    Pending,
    /// Claimed by a runner whose lease has not run out.
    Running,
    Done,
    /// Gave up after `max_attempts`.
    Failed,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    pub id: i64,
    pub kind: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
    pub status: JobStatus,
    pub run_at: Timestamp,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    /// The runner holding the job.
    pub locked_by: Option<String>,
    pub locked_until: Option<Timestamp>,
    pub done_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

const JOB_COLUMNS: &str =
    "id, kind, payload, run_at, attempts, max_attempts, last_error, locked_by, locked_until, \
     done_at, failed_at, created_at";

fn job_from_row(r: &AnyRow, now: Timestamp) -> Result<Job> {
    let payload: String = r.try_get("payload")?;
    let locked_until = opt_from_db(r.try_get("locked_until")?);
    let done_at = opt_from_db(r.try_get("done_at")?);
    let failed_at = opt_from_db(r.try_get("failed_at")?);
    let status = if done_at.is_some() {
        JobStatus::Done
    } else if failed_at.is_some() {
        JobStatus::Failed
    } else if locked_until.is_some_and(|l| l >= now) {
        JobStatus::Running
    } else {
        JobStatus::Pending
    };
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        // Payloads are written by Tuki as JSON; keep a damaged one readable.
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
        status,
        run_at: from_db(r.try_get("run_at")?),
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        last_error: r.try_get("last_error")?,
        locked_by: r.try_get("locked_by")?,
        locked_until,
        done_at,
        failed_at,
        created_at: from_db(r.try_get("created_at")?),
    })
}

/// Adds jobs without dedupe keys inside the caller's transaction, in one
/// statement.
pub(crate) async fn enqueue_all(
    conn: &mut AnyConnection,
    jobs: &[NewJob<'_>],
    now: Timestamp,
) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new("INSERT INTO jobs (kind, payload, run_at, created_at) VALUES ");
    for (i, j) in jobs.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(Value::Text(j.kind.into()))
            .push(", ")
            .bind(Value::Text(j.payload.to_string()))
            .push(", ")
            .bind(Value::Int(to_db(j.run_at)))
            .push(", ")
            .bind(Value::Int(to_db(now)))
            .push(")");
    }
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// [`enqueue_on`] for a job that may be tried `max_attempts` times.
pub(crate) async fn enqueue_with_attempts(
    conn: &mut AnyConnection,
    job: NewJob<'_>,
    max_attempts: i64,
    now: Timestamp,
) -> Result<i64> {
    let id = enqueue_on(conn, job, now).await?;
    sqlx::query("UPDATE jobs SET max_attempts = $1 WHERE id = $2")
        .bind(max_attempts)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// Marks a job `worker` holds done inside the caller's transaction, for a
/// handler whose work and completion must commit together.
pub(crate) async fn finish_on(
    conn: &mut AnyConnection,
    job_id: i64,
    worker: &str,
    at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET done_at = $1, locked_by = NULL, locked_until = NULL, last_error = NULL \
         WHERE id = $2 AND locked_by = $3 AND done_at IS NULL",
    )
    .bind(to_db(at))
    .bind(job_id)
    .bind(worker)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Puts a periodic job's next run in the queue at `at`, at most one
    /// pending however many servers ask (its kind is its dedupe key).
    pub(crate) async fn schedule_periodic(&self, kind: &'static str, at: Timestamp) -> Result<()> {
        let mut tx = self.begin_write().await?;
        enqueue_on(
            &mut tx,
            NewJob {
                kind,
                payload: serde_json::json!({}),
                run_at: at,
                dedupe_key: Some(kind.into()),
            },
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Adds a job inside the caller's transaction.
pub(crate) async fn enqueue_on(
    conn: &mut AnyConnection,
    job: NewJob<'_>,
    now: Timestamp,
) -> Result<i64> {
    let payload = job.payload.to_string();
    if let Some(key) = &job.dedupe_key {
        let moved = sqlx::query(
            "UPDATE jobs SET run_at = $1, payload = $2 WHERE dedupe_key = $3 AND kind = $4 \
             AND done_at IS NULL AND failed_at IS NULL AND locked_by IS NULL RETURNING id",
        )
        .bind(to_db(job.run_at))
        .bind(&payload)
        .bind(key)
        .bind(job.kind)
        .fetch_all(&mut *conn)
        .await?;
        if let Some(r) = moved.first() {
            return Ok(r.try_get("id")?);
        }
    }
    Ok(sqlx::query(
        "INSERT INTO jobs (kind, payload, dedupe_key, run_at, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(job.kind)
    .bind(&payload)
    .bind(job.dedupe_key.as_deref())
    .bind(to_db(job.run_at))
    .bind(to_db(now))
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?)
}

/// How long a failed job waits before its next attempt: 10 s, doubling per
/// attempt, at most an hour.
pub fn backoff(attempts: i64) -> SignedDuration {
    let exp = attempts.clamp(1, 20) - 1;
    SignedDuration::from_secs((10i64 << exp).min(3600))
}

/// Which jobs an administrator lists.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub kind: Option<String>,
    pub limit: i64,
}

impl Store {
    /// Adds a job.
    pub async fn enqueue(&self, job: NewJob<'_>) -> Result<i64> {
        let now = self.now();
        let mut conn = self.write.acquire().await?;
        enqueue_on(&mut conn, job, now).await
    }

    /// Adds many jobs at once (one transaction).
    pub async fn enqueue_many(&self, jobs: Vec<NewJob<'_>>) -> Result<Vec<i64>> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::with_capacity(jobs.len());
        for job in jobs {
            ids.push(enqueue_on(&mut tx, job, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Claims up to `limit` due jobs of `kinds` for `worker`, holding each
    /// for `lease`.
    pub async fn claim_jobs(
        &self,
        worker: &str,
        kinds: &[&str],
        limit: i64,
        lease: SignedDuration,
    ) -> Result<Vec<Job>> {
        let now = self.now();
        let pick = match self.engine() {
            Engine::Postgres => " FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let mut sql = Sql::new("UPDATE jobs SET locked_by = ");
        sql.bind(Value::Text(worker.into()))
            .push(", locked_until = ")
            .bind(Value::Int(to_db(now + lease)))
            .push(
                ", attempts = attempts + 1 WHERE id IN (SELECT id FROM jobs WHERE done_at IS NULL \
                 AND failed_at IS NULL AND run_at <= ",
            )
            .bind(Value::Int(to_db(now)))
            .push(" AND (locked_until IS NULL OR locked_until < ")
            .bind(Value::Int(to_db(now)))
            .push(") AND kind IN ")
            .bind_texts(kinds)
            .push(" ORDER BY run_at, id LIMIT ")
            .bind(Value::Int(limit.max(1)))
            .push(pick)
            .push(&format!(") RETURNING {JOB_COLUMNS}"));
        let rows = sql.query().fetch_all(&self.write).await?;
        let mut jobs = rows
            .iter()
            .map(|r| job_from_row(r, now))
            .collect::<Result<Vec<_>>>()?;
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    /// Marks a job done; `false` when `worker` no longer holds it (its lease
    /// ran out and another runner took it).
    pub async fn complete_job(&self, id: i64, worker: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET done_at = $1, locked_by = NULL, locked_until = NULL, last_error = NULL \
             WHERE id = $2 AND locked_by = $3 AND done_at IS NULL",
        )
        .bind(to_db(self.now()))
        .bind(id)
        .bind(worker)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed attempt: retried after [`backoff`], or marked
    /// failed once its attempts are used up.
    pub async fn fail_job(&self, job: &Job, worker: &str, error: &str) -> Result<()> {
        let now = self.now();
        let error: String = error.chars().take(2000).collect();
        if job.attempts >= job.max_attempts {
            sqlx::query(
                "UPDATE jobs SET failed_at = $1, locked_by = NULL, locked_until = NULL, last_error = $2 \
                 WHERE id = $3 AND locked_by = $4",
            )
            .bind(to_db(now))
            .bind(&error)
            .bind(job.id)
            .bind(worker)
            .execute(&self.write)
            .await?;
        } else {
            sqlx::query(
                "UPDATE jobs SET run_at = $1, locked_by = NULL, locked_until = NULL, last_error = $2 \
                 WHERE id = $3 AND locked_by = $4",
            )
            .bind(to_db(now + backoff(job.attempts)))
            .bind(&error)
            .bind(job.id)
            .bind(worker)
            .execute(&self.write)
            .await?;
        }
        Ok(())
    }

    /// Records one run of a [`PING_JOB`].
    async fn record_ping(&self, job_id: i64, worker: &str) -> Result<()> {
        sqlx::query("INSERT INTO job_runs (job_id, worker, ran_at) VALUES ($1, $2, $3)")
            .bind(job_id)
            .bind(worker)
            .bind(to_db(self.now()))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// One job by id.
    pub async fn job(&self, id: i64) -> Result<Job> {
        let now = self.now();
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        job_from_row(&row, now)
    }

    /// Jobs for administrators, newest first.
    pub async fn jobs(&self, actor: &Actor, filter: &JobFilter) -> Result<Vec<Job>> {
        crate::require_admin(actor, "see jobs")?;
        let now = self.now();
        let mut sql = Sql::new(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1=1"));
        if let Some(kind) = &filter.kind {
            sql.push(" AND kind = ").bind(Value::Text(kind.clone()));
        }
        match filter.status {
            None => {}
            Some(JobStatus::Done) => {
                sql.push(" AND done_at IS NOT NULL");
            }
            Some(JobStatus::Failed) => {
                sql.push(" AND failed_at IS NOT NULL");
            }
            Some(JobStatus::Running) => {
                sql.push(" AND done_at IS NULL AND failed_at IS NULL AND locked_until >= ")
                    .bind(Value::Int(to_db(now)));
            }
            Some(JobStatus::Pending) => {
                sql.push(" AND done_at IS NULL AND failed_at IS NULL AND (locked_until IS NULL OR locked_until < ")
                    .bind(Value::Int(to_db(now)))
                    .push(")");
            }
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(Value::Int(filter.limit.clamp(1, 500)));
        sql.query()
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| job_from_row(r, now))
            .collect()
    }
}

impl Store {
    /// Runs one claimed job of a kind in [`STORE_KINDS`].
    pub async fn run_store_job(&self, job: &Job, worker: &str) -> Outcome {
        let ran = match job.kind.as_str() {
            PING_JOB => self
                .record_ping(job.id, worker)
                .await
                .map(|()| Outcome::Done),
            SLA_CHECK_JOB => match job.payload.get("ticket_id").and_then(|v| v.as_i64()) {
                Some(ticket) => self.sla_check(ticket).await.map(|()| Outcome::Done),
                None => return Outcome::Failed("payload has no ticket_id".into()),
            },
            TICKET_MAIL_JOB => self
                .run_ticket_mail(job, worker)
                .await
                .map(|()| Outcome::Finished),
            NOTIFICATION_MAIL_JOB => self
                .run_notification_mail(job, worker)
                .await
                .map(|()| Outcome::Finished),
            FILES_SWEEP_JOB => self.run_files_sweep().await.map(|()| Outcome::Done),
            KNOWLEDGE_REVIEW_JOB => self.run_knowledge_review().await.map(|()| Outcome::Done),
            CONTRACT_REMINDERS_JOB => self.run_contract_reminders().await.map(|()| Outcome::Done),
            other => return Outcome::Failed(format!("no handler for job kind {other:?}")),
        };
        ran.unwrap_or_else(|e| Outcome::Failed(e.to_string()))
    }

    /// One round of work: claims up to `limit` due jobs of `kinds` for
    /// `worker` under `lease`, runs each through `handle` and records how it
    /// ended. Returns how many it claimed. The worker's runner calls this in
    /// its loop; tests and commands call it to run what is due now.
    pub async fn work_jobs<F, Fut>(
        &self,
        worker: &str,
        kinds: &[&str],
        limit: i64,
        lease: SignedDuration,
        handle: F,
    ) -> Result<usize>
    where
        F: Fn(Job) -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let jobs = self.claim_jobs(worker, kinds, limit, lease).await?;
        let n = jobs.len();
        for job in jobs {
            match handle(job.clone()).await {
                Outcome::Done => {
                    if !self.complete_job(job.id, worker).await? {
                        tracing::warn!(job = job.id, kind = %job.kind, worker,
                            "job finished after its lease ran out");
                    }
                }
                Outcome::Finished => {}
                Outcome::Failed(error) => {
                    tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, %error, "job failed");
                    self.fail_job(&job, worker, &error).await?;
                }
            }
        }
        Ok(n)
    }

    /// Runs the store's own due jobs as `worker`, at most `rounds` rounds
    /// (stopping when none is left); returns how many ran.
    pub async fn run_due_jobs(&self, worker: &str, rounds: usize) -> Result<usize> {
        let mut total = 0;
        for _ in 0..rounds.max(1) {
            let n = self
                .work_jobs(
                    worker,
                    STORE_KINDS,
                    50,
                    SignedDuration::from_secs(300),
                    |job| async move { self.run_store_job(&job, worker).await },
                )
                .await?;
            total += n;
            if n == 0 {
                break;
            }
        }
        Ok(total)
    }
}
