//! Two `tuki serve` processes on one database share the jobs table: 1,000
//! `ping` jobs enqueued before they start are each run exactly once, and
//! both processes take part. On PostgreSQL the runners claim with
//! `FOR UPDATE SKIP LOCKED`; on SQLite the two processes share one file and
//! its single writer lock makes each claiming UPDATE atomic.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use sqlx::any::AnyPoolOptions;
use sqlx::Row;
use tuki_store::jobs::{NewJob, PING_JOB};
use tuki_store::testing::TestDb;

const JOBS: i64 = 1000;

/// A `tuki serve` child process, stopped (by its PID) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Server {
    pub(crate) fn start(db_url: &str, data_dir: &std::path::Path) -> Server {
        Self::start_with(db_url, data_dir, &[])
    }

    /// A server with more `TUKI_*` settings (e.g. an SMTP server).
    pub(crate) fn start_with(
        db_url: &str,
        data_dir: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tuki"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("TUKI_DATABASE_URL", db_url)
            .env("TUKI_DATA_DIR", data_dir)
            .env("TUKI_LOG", "error")
            .env_remove("TUKI_SMTP_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tuki serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the listening line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from tuki serve: {line:?}"))
            .to_string();
        Server { child, base }
    }

    /// Asks the server to shut down (SIGTERM) and waits up to 20 s.
    pub(crate) fn stop(mut self) {
        terminate(&mut self.child);
    }
}

fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "tuki serve exited with {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("tuki serve did not stop within 20 s of SIGTERM");
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn each_job_runs_once(db: TestDb) {
    let engine = db.store.engine();
    let data = tempfile::tempdir().unwrap();
    let a = Server::start(&db.url, &data.path().join("a"));
    let b = Server::start(&db.url, &data.path().join("b"));
    assert_ne!(a.base, b.base);

    // Enqueued in one transaction once both runners are polling, so that
    // neither has a head start.
    let now = Timestamp::now();
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|i| NewJob {
            kind: PING_JOB,
            payload: serde_json::json!({ "n": i }),
            run_at: now,
            dedupe_key: None,
        })
        .collect();
    let ids = db.store.enqueue_many(jobs).await.unwrap();
    assert_eq!(ids.len() as i64, JOBS);

    // Read the outcome with a connection of the test's own.
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let open: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM jobs WHERE kind = 'ping' AND done_at IS NULL AND failed_at IS NULL",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} of {JOBS} jobs still not done after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.stop();
    b.stop();

    // Every job done, claimed once, never failed.
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, SUM(CASE WHEN done_at IS NOT NULL THEN 1 ELSE 0 END) AS done, \
         MAX(attempts) AS most, MIN(attempts) AS least FROM jobs WHERE kind = 'ping'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.try_get::<i64, _>("n").unwrap(), JOBS);
    assert_eq!(row.try_get::<i64, _>("done").unwrap(), JOBS);
    assert_eq!(row.try_get::<i64, _>("most").unwrap(), 1);
    assert_eq!(row.try_get::<i64, _>("least").unwrap(), 1);

    // Every job's handler ran exactly once, as its own records show.
    let runs = sqlx::query("SELECT job_id, worker FROM job_runs")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut per_job: HashMap<i64, usize> = HashMap::new();
    let mut per_worker: HashMap<String, usize> = HashMap::new();
    for r in &runs {
        *per_job.entry(r.try_get("job_id").unwrap()).or_default() += 1;
        *per_worker.entry(r.try_get("worker").unwrap()).or_default() += 1;
    }
    assert_eq!(runs.len() as i64, JOBS, "runs recorded: {}", runs.len());
    for id in &ids {
        assert_eq!(
            per_job.get(id),
            Some(&1),
            "job {id} ran {:?} times",
            per_job.get(id)
        );
    }
    // Both processes did work. On PostgreSQL they claim side by side, so one
    // process taking everything would mean the other never claimed. On one
    // SQLite file the writers take turns, and a runner may drain all 1,000
    // quick jobs before the other's next poll; there the exactly-once checks
    // above are the test.
    if engine == tuki_store::Engine::Postgres {
        assert_eq!(per_worker.len(), 2, "runs per worker: {per_worker:?}");
    } else {
        assert!(!per_worker.is_empty());
        eprintln!("runs per worker on SQLite: {per_worker:?}");
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_servers_run_each_job_once() {
    each_job_runs_once(TestDb::postgres().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_servers_run_each_job_once() {
    each_job_runs_once(TestDb::sqlite().await).await
}
