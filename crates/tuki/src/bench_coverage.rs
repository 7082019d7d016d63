//! `tuki bench-coverage`: what who-pays costs at a large customer's scale:
//! the statement of a year with N time entries (every line read, sorted
//! into contract and billable parts and priced), and the CSV import of N
//! devices.

use std::time::Instant;

use clap::Args;
use tuki_domain::access::Actor;
use tuki_domain::coverage::{ContractKind, Covers};
use tuki_domain::directory::{Language, Role};
use tuki_store::coverage::{
    ContractInput, Contracts, ImportKind, ProductInput, Products, RateCardInput, RateCards,
    StatementQuery,
};
use tuki_store::directory::{NewOrganisation, NewUser};
use tuki_store::tickets::NewTicket;
use tuki_store::Store;

use crate::DbArgs;

#[derive(Args)]
pub struct BenchCoverageArgs {
    /// Time entries of the customer whose statement is measured.
    #[arg(long, default_value_t = 100_000)]
    entries: usize,
    /// Devices in the imported CSV file.
    #[arg(long, default_value_t = 100_000)]
    assets: usize,
    /// Statements read (the median and the slowest are printed).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

pub async fn run(args: BenchCoverageArgs, db: DbArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("tuki-bench-coverage-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = db
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("tuki.db").display()));
    let result = measure(&url, &args).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(url: &str, args: &BenchCoverageArgs) -> anyhow::Result<()> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let desk = setup(&store).await?;
    statements(&store, &desk, args).await?;
    import(&store, &desk, args).await
}

/// The measured customer: an organisation with a contract covering its
/// network requests, 100 requests (half about the network) and an agent.
struct Desk {
    stamp: i64,
    org_id: i64,
    org_name: String,
    agent_id: i64,
    tickets: Vec<(i64, Option<i64>)>,
}

async fn setup(store: &Store) -> anyhow::Result<Desk> {
    let system = Actor::system();
    let stamp = jiff::Timestamp::now().as_millisecond();
    let org = store
        .create_organisation(
            &system,
            NewOrganisation {
                name: format!("Bench Oy {stamp}"),
                kind: None,
                shares_tickets: true,
                domains: vec![],
            },
        )
        .await?;
    let user = |email: String, role: Role, org: Option<i64>| NewUser {
        email,
        name: "Bench".into(),
        phone: None,
        role: Some(role),
        language: Some(Language::Fi),
        organisation_id: org,
        password: None,
    };
    let customer = store
        .create_user(
            &system,
            user(format!("c{stamp}@bench.test"), Role::Customer, Some(org.id)),
        )
        .await?;
    let agent = store
        .create_user(
            &system,
            user(format!("a{stamp}@bench.test"), Role::Agent, None),
        )
        .await?;
    store
        .create::<RateCards>(
            &system,
            RateCardInput {
                name: format!("Bench {stamp}"),
                hourly_cents: 9000,
                on_call_surcharge_percent: 50,
                call_out_fee_cents: 4500,
                minimum_unit_minutes: Some(15),
                vat_basis_points: None,
                calendar_id: None,
                is_default: true,
            },
        )
        .await?;
    let contract = store
        .create::<Contracts>(
            &system,
            ContractInput {
                name: format!("Bench bank {stamp}"),
                organisation_id: org.id,
                kind: ContractKind::HourBank,
                starts_on: "2025-01-01".into(),
                ends_on: "2027-12-31".into(),
                included_minutes: 1_000_000,
                covers: Covers {
                    categories: vec!["Verkko".into()],
                    ..Covers::default()
                },
                response: None,
                sla_policy_id: None,
                rate_card_id: None,
                low_balance_minutes: None,
            },
        )
        .await?;
    // 100 requests, half of them about the network the contract covers.
    let mut tickets = Vec::new();
    for i in 0..100 {
        let t = store
            .create_ticket(
                &customer_actor(store, customer.id).await?,
                NewTicket {
                    subject: format!("Bench request {i}"),
                    body: "Measured.".into(),
                    requester_id: None,
                    channel: None,
                    category: (i % 2 == 0).then(|| "Verkko".to_string()),
                    priority: None,
                    group_id: None,
                    owner_id: None,
                    tags: vec![],
                    article_kind: None,
                    asset_id: None,
                },
            )
            .await?;
        tickets.push((t.id, (i % 2 == 0).then_some(contract.id)));
    }
    Ok(Desk {
        stamp,
        org_id: org.id,
        org_name: org.name,
        agent_id: agent.id,
        tickets,
    })
}

/// A year's statement of `args.entries` bookings, read `args.rounds` times.
async fn statements(store: &Store, desk: &Desk, args: &BenchCoverageArgs) -> anyhow::Result<()> {
    let system = Actor::system();
    let seeding = Instant::now();
    store
        .seed_time_entries(&desk.tickets, desk.agent_id, 2026, args.entries)
        .await?;
    println!(
        "seeded {} time entries in {:.1} s",
        args.entries,
        seeding.elapsed().as_secs_f64()
    );
    let q = StatementQuery {
        organisation_id: desk.org_id,
        from: "1.1.2026".into(),
        to: "31.12.2026".into(),
    };
    let mut times = Vec::new();
    let mut lines = 0;
    for _ in 0..args.rounds {
        let t = Instant::now();
        let s = store.statement_draft(&system, &q, Language::Fi).await?;
        times.push(t.elapsed());
        lines = s.statement.billable.len()
            + s.statement
                .contracts
                .iter()
                .map(|c| c.lines.len())
                .sum::<usize>();
    }
    times.sort();
    println!(
        "statement of a year, {} time entries ({lines} lines), engine {:?}: median {:.0} ms, slowest {:.0} ms",
        args.entries,
        store.engine(),
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0
    );
    Ok(())
}

/// A CSV file of `args.assets` devices, imported.
async fn import(store: &Store, desk: &Desk, args: &BenchCoverageArgs) -> anyhow::Result<()> {
    let system = Actor::system();
    let stamp = desk.stamp;
    store
        .create::<Products>(
            &system,
            ProductInput {
                name: format!("Bench washer {stamp}"),
                manufacturer: "Bench".into(),
                category: "Washing machines".into(),
                warranty_months: 24,
            },
        )
        .await?;
    let mut csv = String::from("Sarjanumero;Tuote;Ostopäivä;Myyjä;Organisaatio\r\n");
    for i in 0..args.assets {
        csv.push_str(&format!(
            "BENCH-{stamp}-{i:07};Bench washer {stamp};{}.{}.2026;Kodinkone Oy;{}\r\n",
            1 + i % 28,
            1 + i % 12,
            desk.org_name
        ));
    }
    let t = Instant::now();
    let report = store
        .import_csv(
            &system,
            ImportKind::Assets,
            csv.as_bytes(),
            false,
            |_, _| {},
        )
        .await?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.errors.is_empty(),
        "import refused rows: {:?}",
        &report.errors[..report.errors.len().min(3)]
    );
    println!(
        "CSV import of {} devices ({} bytes): {:.2} s, {:.0} rows/s",
        report.imported,
        csv.len(),
        secs,
        report.imported as f64 / secs
    );
    Ok(())
}

async fn customer_actor(store: &Store, id: i64) -> anyhow::Result<Actor> {
    store
        .actor_for_user(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no such user"))
}
