//! The loop that runs the one job queue in `tuki serve`: it claims due jobs
//! of the kinds it can run, runs them and records how each ended (the
//! queue's rules, claim, lease and backoff, are the store's:
//! [`tuki_store::jobs`]). Several servers on one database each run one;
//! claims are atomic, so each job runs once.
//!
//! A runner runs the store's own kinds (SLA checks, expanding mail, pings),
//! `send_mail` when it was given a [`Sender`], and any kind registered with
//! [`Runner::handle`]. It claims only kinds it can run: a server without an
//! SMTP server leaves mail to one that has one, or waiting in the outbox.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use tuki_store::jobs::{Job, Outcome, STORE_KINDS};
use tuki_store::outbox::SEND_MAIL_JOB;
use tuki_store::Store;

use crate::smtp::Sender;

/// What a registered handler returns: an error message is kept on the job
/// and the job is retried.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
pub type JobHandler = Arc<dyn Fn(Store, Job) -> JobFuture + Send + Sync>;

#[derive(Clone)]
enum Handler {
    /// A kind the store runs itself.
    Store,
    Send(Arc<Sender>),
    Custom(JobHandler),
}

/// Claims and runs jobs.
#[derive(Clone)]
pub struct Runner {
    store: Store,
    worker: String,
    handlers: HashMap<String, Handler>,
    batch: i64,
    lease: SignedDuration,
    poll: Duration,
}

impl Runner {
    /// A runner of the store's own kinds, named after this process.
    pub fn new(store: Store) -> Runner {
        let worker = format!("tuki-{}-{:08x}", std::process::id(), rand::random::<u32>());
        Runner {
            store,
            worker,
            handlers: STORE_KINDS
                .iter()
                .map(|k| (k.to_string(), Handler::Store))
                .collect(),
            batch: 20,
            lease: SignedDuration::from_secs(300),
            poll: Duration::from_secs(1),
        }
    }

    /// Names the runner (the server's node id, as its leases say).
    pub fn named(mut self, worker: impl Into<String>) -> Runner {
        self.worker = worker.into();
        self
    }

    /// Sends mail: runs `send_mail` jobs with `sender`.
    pub fn sending(mut self, sender: Sender) -> Runner {
        self.handlers
            .insert(SEND_MAIL_JOB.into(), Handler::Send(Arc::new(sender)));
        self
    }

    pub fn handle(mut self, kind: &str, handler: JobHandler) -> Runner {
        self.handlers
            .insert(kind.to_string(), Handler::Custom(handler));
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
    pub async fn tick(&self) -> tuki_store::Result<usize> {
        let kinds: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        self.store
            .work_jobs(&self.worker, &kinds, self.batch, self.lease, |job| {
                self.run_job(job)
            })
            .await
    }

    async fn run_job(&self, job: Job) -> Outcome {
        match self.handlers.get(&job.kind) {
            Some(Handler::Store) => self.store.run_store_job(&job, &self.worker).await,
            Some(Handler::Send(sender)) => sender.send(&job, &self.worker).await,
            Some(Handler::Custom(h)) => match h(self.store.clone(), job).await {
                Ok(()) => Outcome::Done,
                Err(e) => Outcome::Failed(e),
            },
            None => Outcome::Failed(format!("no handler for job kind {:?}", job.kind)),
        }
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
            let wait = if idle { self.poll } else { Duration::ZERO };
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!(worker = %self.worker, "job runner stopped");
    }
}
