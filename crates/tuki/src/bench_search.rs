//! `tuki bench-search`: seeds tickets (each with three articles, in Finnish
//! and English), builds the search index, and measures search latency at
//! one and at several concurrent searchers, as staff and as a customer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use tuki_domain::access::Actor;
use tuki_store::search::SearchRequest;
use tuki_store::tickets::TicketFilter;

use crate::DbArgs;

#[derive(Args)]
pub struct BenchSearchArgs {
    /// The database already holds the tickets and their index: skip
    /// seeding and indexing (with --database-url).
    #[arg(long)]
    keep_index: bool,
    /// Tickets to search (seeded when the database has fewer).
    #[arg(long, default_value_t = 100_000)]
    tickets: u64,
    /// Knowledge articles to search (seeded when the database has fewer).
    #[arg(long, default_value_t = 10_000)]
    articles: u64,
    /// Searches per round.
    #[arg(long, default_value_t = 400)]
    searches: usize,
    /// Concurrent searchers of the second round.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// Queries as agents and customers type them: common and rare words, word
/// forms, a prefix being typed, a serial number, folded diacritics.
const QUERIES: &[&str] = &[
    "tulostin ",
    "printer error",
    "pesukone vuotaa",
    "leaks water",
    "reitittimen yhteys",
    "router connection",
    "jaakaappi ",
    "näyttö välkkyy",
    "laptop battery",
    "kannettava akku",
    "heat pump noise",
    "kaiutin",
    "videotykk",
    "E123 ",
    "SN0004242 ",
    "sign in update",
    "kirjautuminen päivityksen",
    "charger overheats",
    "puhelimen ",
    "projector flickers",
];

pub async fn run(args: BenchSearchArgs, db: DbArgs) -> anyhow::Result<()> {
    let temp = crate::bench::temp_dir("search")?;
    let db = DbArgs {
        data_dir: if db.database_url.is_some() {
            db.data_dir.clone()
        } else {
            temp.clone()
        },
        ..db.clone()
    };
    let store = db.open().await?;
    let engine = match store.engine() {
        tuki_store::Engine::Sqlite => "SQLite",
        tuki_store::Engine::Postgres => "PostgreSQL",
    };
    let seeded = match store.seeded_directory().await? {
        Some(s) => s,
        None => store.seed_directory(50).await?,
    };
    let have = store.count_tickets().await? as u64;
    if have < args.tickets {
        let t = Instant::now();
        store
            .seed_tickets(&seeded, args.tickets - have, 10_000, |_| {})
            .await?;
        println!(
            "seeded {} tickets (3 articles each) in {:.1} s",
            args.tickets - have,
            t.elapsed().as_secs_f64()
        );
    }
    let have = store.count_articles().await? as u64;
    if have < args.articles {
        let t = Instant::now();
        store
            .seed_articles(seeded.admin_id, args.articles - have)
            .await?;
        println!(
            "seeded {} knowledge articles in {:.1} s",
            args.articles - have,
            t.elapsed().as_secs_f64()
        );
    }
    let articles = store.count_articles().await?;
    let tickets = store.count_tickets().await?;
    let t = Instant::now();
    let done = if args.keep_index {
        tuki_store::search::ReindexProgress { done: 0, total: 0 }
    } else {
        store.reindex_search(|_| {}).await?
    };
    println!(
        "{engine}: indexed {} tickets, people and organisations in {:.1} s ({:.0}/s); peak memory {} MB",
        done.done,
        t.elapsed().as_secs_f64(),
        done.done as f64 / t.elapsed().as_secs_f64(),
        peak_rss_mb().map_or("?".into(), |m| m.to_string())
    );

    let staff = store
        .actor_for_user(seeded.admin_id)
        .await?
        .context("the seeded administrator")?;
    let customer = store
        .actor_for_user(seeded.customer_ids[0])
        .await?
        .context("a seeded customer")?;
    // Each query once, slowest first: where the time goes.
    let mut each = Vec::new();
    for q in QUERIES {
        let t = Instant::now();
        let r = store.search(&staff, &request(q)).await?;
        each.push((t.elapsed(), q, r.tickets.len()));
    }
    each.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (d, q, n) in each.iter().take(5) {
        println!("  {:>7.1} ms  {q:?} ({n} results)", ms(*d));
    }
    let store = Arc::new(store);
    let staff_again = staff.clone();
    for (who, actor) in [("staff", staff), ("customer", customer)] {
        let actor = Arc::new(actor);
        for c in [1, args.concurrency] {
            let (lat, found) = round(args.searches, c, tickets_by(&store, &actor)).await?;
            println!(
                "{engine}, {tickets} tickets, as {who}, c={c}: {} searches, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.0} searches/s, {:.1} results per search (page of 20)",
                lat.len(),
                ms(percentile(&lat, 0.50)),
                ms(percentile(&lat, 0.99)),
                ms(*lat.last().unwrap_or(&Duration::ZERO)),
                lat.len() as f64 / lat.iter().sum::<Duration>().as_secs_f64() * c as f64,
                found as f64 / lat.len() as f64,
            );
        }
    }
    // Knowledge articles, as staff (every state) and as the public (the
    // widget, the help pages: published public ones).
    for (who, actor) in [("staff", Some(staff_again)), ("the public", None)] {
        let actor = Arc::new(actor);
        for c in [1, args.concurrency] {
            let (lat, found) = round(args.searches, c, articles_by(&store, &actor)).await?;
            println!(
                "{engine}, {articles} articles ({tickets} tickets), as {who}, c={c}: {} searches, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.1} results per search (page of 10)",
                lat.len(),
                ms(percentile(&lat, 0.50)),
                ms(percentile(&lat, 0.99)),
                ms(*lat.last().unwrap_or(&Duration::ZERO)),
                found as f64 / lat.len() as f64,
            );
        }
    }
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close().await;
    }
    if db.database_url.is_none() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    Ok(())
}

/// `n` searches over the query list by `c` concurrent searchers, each
/// by `search` (query → results found): each search's latency, sorted,
/// and the results found in all.
async fn round<F, Fut>(n: usize, c: usize, search: F) -> anyhow::Result<(Vec<Duration>, usize)>
where
    F: Fn(&'static str) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<usize>> + Send,
{
    let mut tasks = Vec::new();
    for worker in 0..c {
        let search = search.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut found = 0;
            for i in (worker..n).step_by(c) {
                let t = Instant::now();
                found += search(QUERIES[i % QUERIES.len()]).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok((lat, found))
        }));
    }
    let mut all = Vec::new();
    let mut found = 0;
    for t in tasks {
        let (lat, f) = t.await??;
        all.extend(lat);
        found += f;
    }
    all.sort();
    Ok((all, found))
}

/// Searching tickets as `actor`, for [`round`].
fn tickets_by(
    store: &Arc<tuki_store::Store>,
    actor: &Arc<Actor>,
) -> impl Fn(
    &'static str,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<usize>> + Send>>
       + Clone
       + Send
       + 'static {
    let (store, actor) = (store.clone(), actor.clone());
    move |q| {
        let (store, actor) = (store.clone(), actor.clone());
        Box::pin(async move { Ok(store.search(&actor, &request(q)).await?.tickets.len()) })
    }
}

/// Searching knowledge articles as `reader` (`None`: the public), a page
/// of 10, for [`round`].
fn articles_by(
    store: &Arc<tuki_store::Store>,
    reader: &Arc<Option<Actor>>,
) -> impl Fn(
    &'static str,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<usize>> + Send>>
       + Clone
       + Send
       + 'static {
    let (store, reader) = (store.clone(), reader.clone());
    move |q| {
        let (store, reader) = (store.clone(), reader.clone());
        Box::pin(async move {
            let search = tuki_store::search::ArticleSearch {
                q: q.to_string(),
                filter: tuki_store::knowledge::ArticleFilter {
                    limit: 10,
                    ..Default::default()
                },
            };
            Ok(store
                .search_articles(reader.as_ref().as_ref(), &search)
                .await?
                .len())
        })
    }
}

/// A first page of 20, with people and organisations, as the console asks.
fn request(q: &str) -> SearchRequest {
    SearchRequest {
        q: q.to_string(),
        filter: TicketFilter {
            limit: 20,
            ..Default::default()
        },
        offset: 0,
        customers: true,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The process's peak resident memory (Linux), in MB.
fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
