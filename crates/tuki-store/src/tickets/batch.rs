//! Group commit of new tickets on SQLite.
//!
//! SQLite has one writer, and most of a small write's cost is its commit
//! (writing the changed pages to the WAL). When requests to create tickets
//! arrive together, one task writes all that are waiting in one transaction
//! and answers each caller after the commit. A caller still gets its answer
//! only once its ticket is committed, so nothing acknowledged is lost.
//!
//! If any ticket of a batch fails (say, an unknown requester), the batch is
//! rolled back and each ticket is written again in a transaction of its own,
//! so every caller gets exactly its own answer. PostgreSQL has concurrent
//! writers and does not use this.

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::tickets::{insert_tickets, Draft, Ticket};
use crate::{Result, StoreError};

/// The most tickets one transaction takes; bounds a batch's latency.
const MAX_BATCH: usize = 64;

struct Job {
    draft: Draft,
    reply: oneshot::Sender<Result<Ticket>>,
}

/// The handle through which `create_ticket` hands tickets to the writer task.
#[derive(Clone, Debug)]
pub(crate) struct Creates(mpsc::Sender<Job>);

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("subject", &self.draft.subject)
            .finish()
    }
}

impl Creates {
    /// Starts the writer task. It ends when every handle is dropped.
    pub(crate) fn spawn(write: AnyPool) -> Creates {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(write, rx));
        Creates(tx)
    }

    pub(crate) async fn submit(&self, draft: Draft) -> Result<Ticket> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Job { draft, reply })
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn closed() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

async fn run(write: AnyPool, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        tracing::trace!(tickets = jobs.len(), "writing a batch of new tickets");
        match write_batch(&write, &jobs).await {
            Ok(tickets) => {
                for (job, ticket) in jobs.into_iter().zip(tickets) {
                    let _ = job.reply.send(Ok(ticket));
                }
            }
            Err(_) if jobs.len() > 1 => {
                for job in jobs {
                    let result = write_batch(&write, std::slice::from_ref(&job)).await;
                    let _ = job.reply.send(result.map(|mut t| t.remove(0)));
                }
            }
            Err(e) => {
                let job = jobs.pop().expect("one job");
                let _ = job.reply.send(Err(e));
            }
        }
    }
}

async fn write_batch(write: &AnyPool, jobs: &[Job]) -> Result<Vec<Ticket>> {
    let mut tx = write.begin_with(crate::SQLITE_BEGIN_WRITE).await?;
    let drafts: Vec<&Draft> = jobs.iter().map(|j| &j.draft).collect();
    let out = insert_tickets(&mut tx, &drafts)
        .await?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    tx.commit().await?;
    Ok(out)
}
