//! Background jobs: work that happens later (SLA checks now; the outbox, mail
//! polling and scheduled services later), stored in the database so that it
//! survives restarts and so that several `tuki serve` processes share it.
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

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;

use crate::time::{from_db, opt_from_db, to_db};
use crate::{Engine, Result, Store};

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
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub run_at: Timestamp,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    /// The runner holding the job.
    pub locked_by: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub locked_until: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub done_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub failed_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
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

    /// Claims up to `limit` due jobs for `worker`, holding each for `lease`.
    pub async fn claim_jobs(
        &self,
        worker: &str,
        limit: i64,
        lease: SignedDuration,
    ) -> Result<Vec<Job>> {
        let now = self.now();
        let pick = match self.engine() {
            Engine::Postgres => "FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1 WHERE id IN \
             (SELECT id FROM jobs WHERE done_at IS NULL AND failed_at IS NULL AND run_at <= $3 \
              AND (locked_until IS NULL OR locked_until < $3) ORDER BY run_at, id LIMIT $4 {pick}) \
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(worker)
        .bind(to_db(now + lease))
        .bind(to_db(now))
        .bind(limit.max(1))
        .fetch_all(&self.write)
        .await?;
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

    /// Jobs for administrators, newest first.
    pub async fn jobs(&self, actor: &Actor, filter: &JobFilter) -> Result<Vec<Job>> {
        crate::require_admin(actor, "see jobs")?;
        let now = self.now();
        let mut sql = crate::sql::Sql::new(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1=1"));
        if let Some(kind) = &filter.kind {
            sql.push(" AND kind = ")
                .bind(crate::sql::Value::Text(kind.clone()));
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
                    .bind(crate::sql::Value::Int(to_db(now)));
            }
            Some(JobStatus::Pending) => {
                sql.push(" AND done_at IS NULL AND failed_at IS NULL AND (locked_until IS NULL OR locked_until < ")
                    .bind(crate::sql::Value::Int(to_db(now)))
                    .push(")");
            }
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(crate::sql::Value::Int(filter.limit.clamp(1, 500)));
        sql.query()
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| job_from_row(r, now))
            .collect()
    }
}

/// What a handler returns: an error message is kept on the job and the job
/// is retried.
pub type JobFuture = Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send>>;
pub type JobHandler = Arc<dyn Fn(Store, Job) -> JobFuture + Send + Sync>;

/// Claims and runs jobs. Knows Tuki's own job kinds; more can be added with
/// [`Runner::handle`].
#[derive(Clone)]
pub struct Runner {
    store: Store,
    worker: String,
    handlers: HashMap<String, JobHandler>,
    batch: i64,
    lease: SignedDuration,
    poll: Duration,
}

impl Runner {
    /// A runner named after this process, with the SLA check and ping
    /// handlers.
    pub fn new(store: Store) -> Runner {
        let worker = format!(
            "{}-{}-{:08x}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "tuki".into()),
            std::process::id(),
            rand::random::<u32>()
        );
        let runner = Runner {
            store,
            worker,
            handlers: HashMap::new(),
            batch: 20,
            lease: SignedDuration::from_secs(300),
            poll: Duration::from_secs(1),
        };
        let me = runner.worker.clone();
        runner
            .handle(
                PING_JOB,
                Arc::new(move |store: Store, job: Job| {
                    let worker = me.clone();
                    Box::pin(async move {
                        store
                            .record_ping(job.id, &worker)
                            .await
                            .map_err(|e| e.to_string())
                    }) as JobFuture
                }),
            )
            .handle(
                crate::sla::SLA_CHECK_JOB,
                Arc::new(|store: Store, job: Job| {
                    Box::pin(async move {
                        let ticket = job
                            .payload
                            .get("ticket_id")
                            .and_then(|v| v.as_i64())
                            .ok_or_else(|| "payload has no ticket_id".to_string())?;
                        store.sla_check(ticket).await.map_err(|e| e.to_string())
                    }) as JobFuture
                }),
            )
    }

    pub fn handle(mut self, kind: &str, handler: JobHandler) -> Runner {
        self.handlers.insert(kind.to_string(), handler);
        self
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// How often an idle runner looks for due jobs.
    pub fn poll_every(mut self, poll: Duration) -> Runner {
        self.poll = poll;
        self
    }

    pub fn batch_size(mut self, batch: i64) -> Runner {
        self.batch = batch.max(1);
        self
    }

    /// One tick: claims a batch of due jobs and runs them. Returns how many
    /// it claimed.
    pub async fn tick(&self) -> Result<usize> {
        let jobs = self
            .store
            .claim_jobs(&self.worker, self.batch, self.lease)
            .await?;
        let n = jobs.len();
        for job in jobs {
            let outcome = match self.handlers.get(&job.kind) {
                Some(h) => h(self.store.clone(), job.clone()).await,
                None => Err(format!("no handler for job kind {:?}", job.kind)),
            };
            match outcome {
                Ok(()) => {
                    if !self.store.complete_job(job.id, &self.worker).await? {
                        tracing::warn!(job = job.id, kind = %job.kind, worker = %self.worker,
                            "job finished after its lease ran out");
                    }
                }
                Err(error) => {
                    tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, %error, "job failed");
                    self.store.fail_job(&job, &self.worker, &error).await?;
                }
            }
        }
        Ok(n)
    }

    /// Runs ticks until `shutdown` completes: straight on while there is
    /// work, one poll interval apart when idle. A database error is logged
    /// and retried after the poll interval, so a restart of the database
    /// does not stop background work for good.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tracing::info!(worker = %self.worker, "job runner started");
        tokio::pin!(shutdown);
        loop {
            let idle = match self.tick().await {
                Ok(n) => n == 0,
                Err(e) => {
                    tracing::error!(error = %e, worker = %self.worker, "job runner tick failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(self.poll) => {}
                }
            } else if futures_ready(&mut shutdown).await {
                break;
            }
        }
        tracing::info!(worker = %self.worker, "job runner stopped");
    }
}

/// Whether `f` is already complete, without waiting for it.
async fn futures_ready(f: &mut Pin<&mut impl Future<Output = ()>>) -> bool {
    tokio::select! {
        biased;
        _ = f.as_mut() => true,
        _ = std::future::ready(()) => false,
    }
}
