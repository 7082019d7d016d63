//! `tuki bench-sla`: seeds open tickets with SLA clocks and measures how
//! long recomputing the SLA state of all of them takes (the sweep that
//! catches up after a calendar change or a runner outage).

use std::time::Instant;

use clap::Args;
use tuki_domain::access::Actor;
use tuki_domain::sla::{
    CalendarDefinition, HolidayRule, OpeningHours, WeeklyHours, WorkingInterval,
};
use tuki_store::sla::{CalendarInput, PolicyInput};

use crate::DbArgs;
use tuki_store::sla::{Calendars, Policies};

#[derive(Args)]
pub struct BenchSlaArgs {
    /// Open tickets with clocks to recompute.
    #[arg(long, default_value_t = 100_000)]
    open_tickets: u64,
    /// How many times to run the sweep.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
}

pub async fn run(args: BenchSlaArgs, db: DbArgs) -> anyhow::Result<()> {
    // A fresh temporary SQLite database unless a database is named.
    let temp = crate::bench::temp_dir("sla")?;
    let db = DbArgs {
        database_url: db.database_url.clone(),
        data_dir: if db.database_url.is_some() {
            db.data_dir.clone()
        } else {
            temp.clone()
        },
        ..db.clone()
    };
    let store = db.open().await?;
    let system = Actor::system();
    let start = Instant::now();
    let seeded = match store.seeded_directory().await? {
        Some(s) => s,
        None => store.seed_directory(50).await?,
    };
    // Two in three seeded tickets are active.
    let want = args.open_tickets * 3 / 2 + 6;
    let have = store.count_tickets().await? as u64;
    if have < want {
        store
            .seed_tickets(&seeded, want - have, 10_000, |_| {})
            .await?;
    }
    let cal = store
        .create::<Calendars>(
            &system,
            CalendarInput {
                name: format!("Bench calendar {}", rand::random::<u32>()),
                definition: CalendarDefinition {
                    time_zone: "Europe/Helsinki".into(),
                    hours: OpeningHours::Weekly(WeeklyHours::weekdays(&[WorkingInterval::new(
                        "08:00", "16:00",
                    )])),
                    holidays: vec![HolidayRule::FinnishPublic],
                },
            },
        )
        .await?;
    let policy = store
        .create::<Policies>(
            &system,
            PolicyInput {
                name: format!("Bench policy {}", rand::random::<u32>()),
                position: Some(1_000_000),
                priorities: vec![],
                organisation_id: None,
                category: None,
                channel: None,
                calendar_id: cal.id,
                first_response_minutes: None,
                next_response_minutes: None,
                resolution_minutes: Some(480),
                warn_percent: Some(80),
                active: Some(true),
            },
        )
        .await?;
    let clocks = store.seed_sla_clocks(policy.id).await?;
    println!(
        "seeded {clocks} open tickets with SLA clocks in {:.1} s ({})",
        start.elapsed().as_secs_f64(),
        match store.engine() {
            tuki_store::Engine::Sqlite => "SQLite",
            tuki_store::Engine::Postgres => "PostgreSQL",
        }
    );
    for round in 1..=args.rounds {
        let t = Instant::now();
        let stats = store.recompute_sla().await?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "round {round}: recomputed {} clocks in {:.3} s ({:.0} clocks/s), {} tickets changed state and got a check",
            stats.clocks,
            secs,
            stats.clocks as f64 / secs,
            stats.changed
        );
    }
    store.close().await;
    if db.database_url.is_none() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    Ok(())
}
