//! The job runner: claimed once, retried with backoff, visible to admins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use tuki_store::jobs::{JobFilter, JobStatus, NewJob};
use tuki_store::testing::TestDb;
use tuki_store::time::Clock;
use tuki_store::{Store, StoreError};
use tuki_worker::{JobFuture, Runner};

use tuki_store::testing::Desk;

fn job(i: usize, run_at: Timestamp) -> NewJob<'static> {
    NewJob {
        kind: "count",
        payload: serde_json::json!({ "n": i }),
        run_at,
        dedupe_key: None,
    }
}

/// A runner whose `count` jobs note each run of each job id.
fn counting_runner(store: Store, seen: Arc<Mutex<HashMap<i64, u32>>>) -> Runner {
    Runner::new(store).batch_size(25).handle(
        "count",
        Arc::new(move |_store, job| {
            let seen = seen.clone();
            Box::pin(async move {
                *seen.lock().unwrap().entry(job.id).or_default() += 1;
                // Yield so that the two runners interleave.
                tokio::task::yield_now().await;
                Ok(())
            }) as JobFuture
        }),
    )
}

async fn two_runners_run_each_of_1000_jobs_once(db: TestDb) {
    // Two stores with their own pools on one database, as two `tuki serve`
    // processes would have.
    let a = db.store.clone();
    let b = Store::connect(&db.url).await.unwrap();
    let now = a.now();
    let ids = a
        .enqueue_many((0..1000).map(|i| job(i, now)).collect())
        .await
        .unwrap();
    assert_eq!(ids.len(), 1000);

    let seen = Arc::new(Mutex::new(HashMap::new()));
    let runners = [
        counting_runner(a.clone(), seen.clone()),
        counting_runner(b.clone(), seen.clone()),
    ];
    assert_ne!(runners[0].worker(), runners[1].worker());
    let mut tasks = Vec::new();
    for r in runners {
        tasks.push(tokio::spawn(async move {
            let mut ran = 0;
            loop {
                let n = r.tick().await.unwrap();
                if n == 0 {
                    break ran;
                }
                ran += n;
            }
        }));
    }
    let mut per_runner = Vec::new();
    for t in tasks {
        per_runner.push(t.await.unwrap());
    }
    assert_eq!(per_runner.iter().sum::<usize>(), 1000, "{per_runner:?}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1000);
        assert!(seen.values().all(|n| *n == 1), "a job ran twice");
    }
    let done = a
        .jobs(
            &tuki_domain::access::Actor::system(),
            &JobFilter {
                status: Some(JobStatus::Done),
                kind: Some("count".into()),
                limit: 500,
            },
        )
        .await
        .unwrap();
    assert_eq!(done.len(), 500, "the list is capped at 500");
    b.close().await;
}

async fn failed_jobs_are_retried_with_backoff(db: TestDb) {
    let clock = Clock::manual("2026-03-02T10:00:00Z".parse().unwrap());
    let store = db.store.clone().with_clock(clock.clone());
    let desk = Desk::new(store.clone()).await;
    let id = store.enqueue(job(1, store.now())).await.unwrap();
    let failures = Arc::new(Mutex::new(0u32));
    let f = failures.clone();
    let runner = Runner::new(store.clone()).handle(
        "count",
        Arc::new(move |_store, _job| {
            let f = f.clone();
            Box::pin(async move {
                let mut n = f.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    Err("the mail server said no".to_string())
                } else {
                    Ok(())
                }
            }) as JobFuture
        }),
    );
    assert_eq!(runner.tick().await.unwrap(), 1);
    let list = store
        .jobs(
            &desk.admin,
            &JobFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let j = list.iter().find(|j| j.id == id).unwrap();
    assert_eq!(j.status, JobStatus::Pending);
    assert_eq!(j.attempts, 1);
    assert_eq!(j.last_error.as_deref(), Some("the mail server said no"));
    assert_eq!(j.run_at, store.now() + SignedDuration::from_secs(10));
    // Not before its backoff runs out.
    assert_eq!(runner.tick().await.unwrap(), 0);
    clock.advance(SignedDuration::from_secs(10));
    assert_eq!(runner.tick().await.unwrap(), 1);
    let list = store
        .jobs(
            &desk.admin,
            &JobFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let j = list.iter().find(|j| j.id == id).unwrap();
    assert_eq!(j.status, JobStatus::Done);
    assert_eq!(j.attempts, 2);
    assert_eq!(*failures.lock().unwrap(), 2);

    // A kind this runner does not handle is left alone: another server may
    // (only one with an SMTP server sends mail), so it is neither claimed
    // nor failed here; it waits, visible to administrators.
    let orphan = store
        .enqueue(NewJob {
            kind: "nobody",
            payload: serde_json::json!({}),
            run_at: store.now(),
            dedupe_key: None,
        })
        .await
        .unwrap();
    for _ in 0..10 {
        assert_eq!(runner.tick().await.unwrap(), 0);
        clock.advance(SignedDuration::from_hours(2));
    }
    let waiting = store
        .jobs(
            &desk.admin,
            &JobFilter {
                status: Some(JobStatus::Pending),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].id, orphan);
    assert_eq!(waiting[0].attempts, 0);

    // Only administrators see jobs.
    assert!(matches!(
        store
            .jobs(
                &desk.tier1,
                &JobFilter {
                    limit: 10,
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::Forbidden(_))
    ));
}

tuki_store::on_both_engines!(
    two_runners_run_each_of_1000_jobs_once,
    failed_jobs_are_retried_with_backoff,
);
