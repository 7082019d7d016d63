//! `tuki bench`: seeds a database with a realistic dataset and measures the
//! API over HTTP against a real `tuki serve` child process, printing
//! throughput, p50/p99 latency, the dataset size and the server's peak RSS.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tuki_store::seed::Seeded;
use tuki_store::Store;

use crate::DbArgs;

#[derive(Args)]
pub struct BenchArgs {
    /// Tickets to seed (each with 3 articles and 3 history events).
    #[arg(long, default_value_t = 100_000)]
    tickets: u64,
    /// Organisations to seed (20 customers each).
    #[arg(long, default_value_t = 200)]
    organisations: usize,
    /// Requests per measured scenario.
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// Keep the benchmark database in this folder (and reuse it if already
    /// seeded) instead of a temporary one.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Only these scenarios (comma-separated names); default all.
    #[arg(long)]
    only: Option<String>,
    /// Who pays: `on` seeds a rate card on office hours, a contract for every
    /// organisation and a device for every customer (once), and has Tuki
    /// decide each new request's coverage; `off` turns the decisions off.
    #[arg(long, default_value = "on")]
    coverage: String,
}

struct Stats {
    name: String,
    concurrency: usize,
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn percentile(&self, p: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort();
        let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
        v.get(idx).copied().unwrap_or_default()
    }

    fn print(&self) {
        println!(
            "{:<34} c={:<2} n={:<6} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
            self.name,
            self.concurrency,
            self.requests,
            self.requests as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50).as_secs_f64() * 1000.0,
            self.percentile(0.99).as_secs_f64() * 1000.0,
        );
    }
}

/// Runs `requests` calls of `call(i)` spread over `concurrency` tasks.
async fn measure<F, Fut>(
    name: &str,
    concurrency: usize,
    requests: usize,
    call: F,
) -> anyhow::Result<Stats>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = worker;
            while i < requests {
                let t = Instant::now();
                call(i).await?;
                lat.push(t.elapsed());
                i += concurrency;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Stats {
        name: name.to_string(),
        concurrency,
        requests,
        elapsed: start.elapsed(),
        latencies,
    })
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

pub async fn run(args: BenchArgs, db: DbArgs) -> anyhow::Result<()> {
    let temp;
    let data_dir = match &args.keep {
        Some(dir) => dir.clone(),
        None => {
            temp = std::env::temp_dir().join(format!("tuki-bench-{}", std::process::id()));
            temp.clone()
        }
    };
    let url = db
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("tuki.db").display()));
    let store = Store::connect(&url).await?;
    store.migrate().await?;

    let seeded = prepare(&store, &args).await?;
    let decide = match args.coverage.as_str() {
        "on" => true,
        "off" => false,
        other => bail!("--coverage must be on or off, not {other}"),
    };
    prepare_coverage(&store, &seeded, decide).await?;
    let existing = store.count_tickets().await?;
    println!(
        "dataset: {existing} tickets ({} articles, {} history events), {} customers, {} agents, engine {:?}",
        existing * 3,
        existing * 3,
        seeded.customer_ids.len(),
        seeded.agent_ids.len(),
        store.engine()
    );
    let target = Target {
        admin_token: store.create_token(seeded.admin_id, "bench").await?.token,
        // An agent of the first group, for queue lists as an agent sees them.
        agent_token: store
            .create_token(seeded.agent_ids[0], "bench")
            .await?
            .token,
        group: seeded.group_ids[0],
        customers: seeded.customer_ids.clone(),
        max_id: existing.max(1),
        n: args.requests,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?,
        base: String::new(),
    };
    store.close().await;

    let (mut child, pid, base) = start_server(&url, &[]).await?;
    let target = Target {
        base: format!("{base}/api/v1"),
        ..target
    };
    let only: Option<Vec<String>> = args
        .only
        .as_ref()
        .map(|o| o.split(',').map(|s| s.trim().to_string()).collect());
    let wanted = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == name));
    let mut results = Vec::new();
    if wanted("create") {
        results.extend(target.create().await?);
    }
    if wanted("fetch") {
        results.extend(target.fetch().await?);
    }
    for (name, label, sort) in [
        ("queue", "queue: 50 active, newest first", "-created"),
        (
            "queue-priority",
            "queue: 50 active, by priority",
            "-priority",
        ),
    ] {
        if wanted(name) {
            results.extend(target.queue(label, sort).await?);
        }
    }

    println!("\nscenario                           conc   requests   throughput        latency");
    for r in &results {
        r.print();
    }
    let rss = peak_rss_kib(pid);
    child.start_kill()?;
    let _ = child.wait().await;
    match rss {
        Some(kib) => println!("server peak RSS: {:.1} MiB", kib as f64 / 1024.0),
        None => println!("server peak RSS: unknown (no /proc)"),
    }
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    Ok(())
}

/// Seeds what the coverage decision reads (once: a rate card "Bench" on
/// office hours, a 600-hour bank for every organisation, a device under
/// warranty for every customer) and turns the decisions on or off.
async fn prepare_coverage(store: &Store, seeded: &Seeded, decide: bool) -> anyhow::Result<()> {
    use tuki_domain::access::Actor;
    use tuki_domain::coverage::{ContractKind, Covers};
    use tuki_domain::sla::{
        CalendarDefinition, HolidayRule, OpeningHours, WeeklyHours, WorkingInterval,
    };
    use tuki_store::coverage::{
        AssetInput, ContractInput, Contracts, CoverageSettings, ProductInput, Products,
        RateCardInput, RateCards,
    };
    use tuki_store::sla::{CalendarInput, Calendars};
    let system = Actor::system();
    if decide && store.list::<RateCards>(&system).await?.is_empty() {
        let started = Instant::now();
        let cal = store
            .create::<Calendars>(
                &system,
                CalendarInput {
                    name: "Bench office hours".into(),
                    definition: CalendarDefinition {
                        time_zone: "Europe/Helsinki".into(),
                        hours: OpeningHours::Weekly(WeeklyHours::weekdays(&[
                            WorkingInterval::new("08:00", "16:00"),
                        ])),
                        holidays: vec![HolidayRule::FinnishPublic],
                    },
                },
            )
            .await?;
        store
            .create::<RateCards>(
                &system,
                RateCardInput {
                    name: "Bench".into(),
                    hourly_cents: 9000,
                    on_call_surcharge_percent: 50,
                    call_out_fee_cents: 4500,
                    minimum_unit_minutes: Some(15),
                    vat_basis_points: None,
                    calendar_id: Some(cal.id),
                    is_default: true,
                },
            )
            .await?;
        let product = store
            .create::<Products>(
                &system,
                ProductInput {
                    name: "Bench washer".into(),
                    manufacturer: "Bench".into(),
                    category: "Washing machines".into(),
                    warranty_months: 24,
                },
            )
            .await?;
        let mut orgs = seeded.customer_orgs.clone();
        orgs.sort_unstable();
        orgs.dedup();
        let year = jiff::Zoned::now().date().year();
        for org in &orgs {
            store
                .create::<Contracts>(
                    &system,
                    ContractInput {
                        name: format!("Bench contract {org}"),
                        organisation_id: *org,
                        kind: ContractKind::HourBank,
                        starts_on: format!("{}-01-01", year - 1),
                        ends_on: format!("{}-12-31", year + 1),
                        included_minutes: 36_000,
                        covers: Covers {
                            everything: true,
                            ..Covers::default()
                        },
                        response: None,
                        sla_policy_id: None,
                        rate_card_id: None,
                        low_balance_minutes: None,
                    },
                )
                .await?;
        }
        let bought = jiff::Zoned::now().date().to_string();
        for (customer, org) in seeded.customer_ids.iter().zip(&seeded.customer_orgs) {
            store
                .register_asset(
                    &system,
                    AssetInput {
                        serial: format!("BENCH-{customer}"),
                        product_id: Some(product.id),
                        purchased_on: Some(bought.clone()),
                        organisation_id: Some(*org),
                        owner_id: Some(*customer),
                        ..AssetInput::default()
                    },
                )
                .await?;
        }
        println!(
            "coverage seeded: {} contracts, {} devices in {:.1} s",
            orgs.len(),
            seeded.customer_ids.len(),
            started.elapsed().as_secs_f64()
        );
    }
    store
        .set_coverage_settings(&system, CoverageSettings { decide })
        .await?;
    println!("coverage decisions: {}", if decide { "on" } else { "off" });
    Ok(())
}

/// The server under test: a child process, so its memory is its own. Gives
/// the child, its process id and its address (`http://127.0.0.1:PORT`) once
/// it listens. `env` adds `TUKI_*` settings; the log shows warnings only.
pub(crate) async fn start_server(
    url: &str,
    env: &[(&str, String)],
) -> anyhow::Result<(tokio::process::Child, u32, String)> {
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TUKI_DATABASE_URL", url)
        .env("TUKI_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start tuki serve")?;
    let pid = child.id().context("server exited at once")?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(base) = line.strip_prefix("listening on ") {
                return anyhow::Ok(base.to_string());
            }
        }
        bail!("server stopped before listening")
    })
    .await
    .context("server did not start in 60 s")??;
    Ok((child, pid, base))
}

/// The running server and what the scenarios ask it for.
struct Target {
    client: reqwest::Client,
    base: String,
    admin_token: String,
    agent_token: String,
    group: i64,
    customers: Vec<i64>,
    /// The highest ticket id of the dataset, for reads spread over it.
    max_id: i64,
    /// Requests per scenario.
    n: usize,
}

impl Target {
    /// Creation: each request commits a ticket, its first article and its
    /// history before it answers.
    async fn create(&self) -> anyhow::Result<Vec<Stats>> {
        let mut results = Vec::new();
        for conc in [1usize, 8] {
            let (c, b, t, cs) = (
                self.client.clone(),
                self.base.clone(),
                self.admin_token.clone(),
                self.customers.clone(),
            );
            let count = if conc == 1 { self.n / 4 } else { self.n };
            results.push(
                measure("create ticket", conc, count, move |i| {
                    let (c, b, t) = (c.clone(), b.clone(), t.clone());
                    let requester = cs[i % cs.len()];
                    // Half the requests name the customer's device by its
                    // serial number in the text, as mail and phone notes do.
                    let body = if i % 2 == 0 {
                        format!("Water on the floor after every programme. Serial number BENCH-{requester}.")
                    } else {
                        "Water on the floor after every programme.".to_string()
                    };
                    async move {
                        let res = c
                            .post(format!("{b}/tickets"))
                            .bearer_auth(&t)
                            .json(&json!({
                                "subject": format!("Benchmark request {i}: washing machine leaks"),
                                "body": body,
                                "requester_id": requester,
                                "channel": "phone",
                                "priority": "high",
                            }))
                            .send()
                            .await?;
                        if res.status() != 201 {
                            bail!("create answered {}", res.status());
                        }
                        Ok(())
                    }
                })
                .await?,
            );
        }
        Ok(results)
    }

    async fn fetch(&self) -> anyhow::Result<Vec<Stats>> {
        let mut results = Vec::new();
        let max_id = self.max_id;
        for conc in [1usize, 8] {
            let (c, b, t) = (
                self.client.clone(),
                self.base.clone(),
                self.admin_token.clone(),
            );
            results.push(
                measure("fetch ticket by id", conc, self.n, move |i| {
                    let (c, b, t) = (c.clone(), b.clone(), t.clone());
                    // Spread over the whole table, not just the hot end.
                    let id = 1 + (i as i64 * 7_919) % max_id;
                    async move {
                        let res = c
                            .get(format!("{b}/tickets/{id}"))
                            .bearer_auth(&t)
                            .send()
                            .await?;
                        if res.status() != 200 {
                            bail!("fetch answered {}", res.status());
                        }
                        res.bytes().await?;
                        Ok(())
                    }
                })
                .await?,
            );
        }
        Ok(results)
    }

    /// A group's queue as its agent reads it.
    async fn queue(&self, label: &'static str, sort: &str) -> anyhow::Result<Vec<Stats>> {
        let mut results = Vec::new();
        for conc in [1usize, 8] {
            let (c, t) = (self.client.clone(), self.agent_token.clone());
            let url = format!(
                "{}/tickets?group_id={}&active=true&sort={sort}&limit=50",
                self.base, self.group
            );
            results.push(
                measure(label, conc, self.n, move |_| {
                    let (c, t, url) = (c.clone(), t.clone(), url.clone());
                    async move {
                        let res = c.get(&url).bearer_auth(&t).send().await?;
                        if res.status() != 200 {
                            bail!("queue answered {}", res.status());
                        }
                        let body: serde_json::Value = res.json().await?;
                        if body["items"].as_array().map(|a| a.len()) != Some(50) {
                            bail!("queue returned fewer than 50 tickets");
                        }
                        Ok(())
                    }
                })
                .await?,
            );
        }
        Ok(results)
    }
}

/// Seeds the directory and tickets unless the database already holds them.
async fn prepare(store: &Store, args: &BenchArgs) -> anyhow::Result<Seeded> {
    if let Some(seeded) = store.seeded_directory().await? {
        let have = store.count_tickets().await? as u64;
        if have < args.tickets {
            seed_with_progress(store, &seeded, args.tickets - have).await?;
        }
        return Ok(seeded);
    }
    let seeded = store.seed_directory(args.organisations).await?;
    seed_with_progress(store, &seeded, args.tickets).await?;
    Ok(seeded)
}

async fn seed_with_progress(store: &Store, seeded: &Seeded, count: u64) -> anyhow::Result<()> {
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("seeding {bar:40} {pos}/{len} tickets ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let start = Instant::now();
    store
        .seed_tickets(seeded, count, 10_000, |done| bar.set_position(done))
        .await?;
    bar.finish();
    println!(
        "seeded {count} tickets in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A fresh folder for a benchmark's own SQLite database and files.
pub(crate) fn temp_dir(bench: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("tuki-bench-{bench}-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
