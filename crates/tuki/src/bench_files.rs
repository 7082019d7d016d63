//! `tuki bench-files`: upload and download throughput of attachments through
//! the pages of a real `tuki serve` child process, for each place files are
//! kept (the data folder, the database), and the server's peak memory while
//! several clients upload large files at once: first small ones, then ten
//! times larger, so that memory growing with file size would show.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use tuki_domain::access::Actor;
use tuki_domain::directory::Role;
use tuki_store::directory::{NewGroup, NewUser};
use tuki_store::Store;

use crate::DbArgs;

#[derive(Args)]
pub struct BenchFilesArgs {
    /// Size of each file of the throughput runs, in MB.
    #[arg(long, default_value_t = 10)]
    size_mb: usize,
    /// Files uploaded (and downloaded) per throughput run.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Clients uploading at once in the memory run.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Size of each file of the memory run, in MB.
    #[arg(long, default_value_t = 50)]
    big_mb: usize,
}

const MB: usize = 1_000_000;

/// Bytes that do not compress and differ by `seed`.
fn content(len: usize, seed: u64) -> Arc<Vec<u8>> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Arc::new(out)
}

fn peak_and_now_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// A desk with one agent, one customer and one ticket, and the agent's
/// session cookie and CSRF token.
struct Desk {
    number: i64,
    cookie: String,
    csrf: String,
}

async fn prepare(url: &str) -> anyhow::Result<Desk> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let system = Actor::system();
    let user = |email: &str, role| NewUser {
        email: email.into(),
        name: email.into(),
        phone: None,
        role: Some(role),
        language: None,
        organisation_id: None,
        password: None,
    };
    let suffix = std::process::id();
    let agent = store
        .create_user(
            &system,
            user(&format!("agent{suffix}@bench.test"), Role::Agent),
        )
        .await?;
    let customer = store
        .create_user(
            &system,
            user(&format!("cust{suffix}@bench.test"), Role::Customer),
        )
        .await?;
    let group = store
        .create_group(
            &system,
            NewGroup {
                name: format!("Bench {suffix}"),
                tier: 1,
                form: None,
                description: None,
                is_intake: false,
                members: vec![agent.id],
            },
        )
        .await?;
    let actor = store.actor_for_user(agent.id).await?.context("the agent")?;
    let ticket = store
        .create_ticket(
            &actor,
            tuki_store::tickets::NewTicket {
                subject: "Files".into(),
                body: "Benchmark".into(),
                requester_id: Some(customer.id),
                channel: None,
                category: None,
                priority: None,
                group_id: Some(group.id),
                owner_id: None,
                tags: Vec::new(),
                article_kind: None,
                asset_id: None,
            },
        )
        .await?;
    let session = store.create_session(agent.id).await?;
    store.close().await;
    Ok(Desk {
        number: ticket.number,
        cookie: format!("tuki_session={}", session.token),
        csrf: session.csrf,
    })
}

struct Client {
    http: reqwest::Client,
    base: String,
    desk: Arc<Desk>,
}

impl Client {
    /// Posts a note with one file; returns when the server has answered.
    async fn upload(&self, bytes: Arc<Vec<u8>>) -> anyhow::Result<()> {
        let mut head = Vec::new();
        for (k, v) in [
            ("csrf", self.desk.csrf.as_str()),
            ("kind", "note"),
            ("body", "A file."),
        ] {
            head.extend_from_slice(
                format!("--XB\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                    .as_bytes(),
            );
        }
        head.extend_from_slice(
            b"--XB\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f.bin\"\r\n\
              Content-Type: application/octet-stream\r\n\r\n",
        );
        let mut body = Vec::with_capacity(head.len() + bytes.len() + 16);
        body.extend_from_slice(&head);
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n--XB--\r\n");
        let res = self
            .http
            .post(format!(
                "{}/agent/tickets/{}/article",
                self.base, self.desk.number
            ))
            .header("cookie", &self.desk.cookie)
            .header("content-type", "multipart/form-data; boundary=XB")
            .body(body)
            .send()
            .await?;
        if res.status() != 303 {
            bail!("upload answered {}: {}", res.status(), res.text().await?);
        }
        Ok(())
    }

    async fn download(&self, id: i64) -> anyhow::Result<usize> {
        let res = self
            .http
            .get(format!("{}/files/{id}/f.bin", self.base))
            .header("cookie", &self.desk.cookie)
            .send()
            .await?;
        if res.status() != 200 {
            bail!("download answered {}", res.status());
        }
        Ok(res.bytes().await?.len())
    }
}

pub async fn run(args: BenchFilesArgs, db: DbArgs) -> anyhow::Result<()> {
    let temp = std::env::temp_dir().join(format!("tuki-bench-files-{}", std::process::id()));
    let url = db
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", temp.join("tuki.db").display()));
    let desk = Arc::new(prepare(&url).await?);
    let store = Store::connect(&url).await?;
    println!(
        "engine {:?}; throughput: {} files of {} MB each way; memory: {} clients at once",
        store.engine(),
        args.rounds,
        args.size_mb,
        args.clients
    );
    let file_max = args.big_mb.max(args.size_mb) * MB + MB;
    let mut seed = 0u64;
    for files in ["folder", "database"] {
        let (mut child, pid, base) = crate::bench::start_server(
            &url,
            &[
                ("TUKI_DATA_DIR", temp.display().to_string()),
                ("TUKI_FILES", files.to_string()),
                ("TUKI_FILE_MAX_BYTES", file_max.to_string()),
                ("TUKI_LOG", "error".to_string()),
                // No mail is sent.
                ("TUKI_SMTP_URL", String::new()),
            ],
        )
        .await?;
        let client = Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base: base.clone(),
            desk: desk.clone(),
        };
        let size = args.size_mb * MB;
        let bodies: Vec<_> = (0..args.rounds)
            .map(|_| {
                seed += 1;
                content(size, seed)
            })
            .collect();
        let started = Instant::now();
        for b in &bodies {
            client.upload(b.clone()).await?;
        }
        let up = started.elapsed();
        let ids: Vec<i64> = store
            .ticket_attachments(&Actor::system(), ticket_id(&store, desk.number).await?)
            .await?
            .iter()
            .rev()
            .take(args.rounds)
            .map(|a| a.id)
            .collect();
        let started = Instant::now();
        let mut total = 0;
        for id in &ids {
            total += client.download(*id).await?;
        }
        let down = started.elapsed();
        if total != size * args.rounds {
            bail!("downloaded {total} bytes, expected {}", size * args.rounds);
        }
        let mbps = |d: Duration| (size * args.rounds) as f64 / MB as f64 / d.as_secs_f64();
        println!(
            "{files:<8} upload {:>7.1} MB/s   download {:>7.1} MB/s",
            mbps(up),
            mbps(down)
        );

        // Memory: clients at once, small files, then files ten times larger.
        for mb in [args.big_mb / 10, args.big_mb] {
            let bodies: Vec<_> = (0..args.clients)
                .map(|_| {
                    seed += 1;
                    content(mb * MB, seed)
                })
                .collect();
            let started = Instant::now();
            let mut tasks = Vec::new();
            for b in bodies {
                let c = Client {
                    http: client.http.clone(),
                    base: base.clone(),
                    desk: desk.clone(),
                };
                tasks.push(tokio::spawn(async move { c.upload(b).await }));
            }
            for t in tasks {
                t.await??;
            }
            let (peak, now) = peak_and_now_kib(pid);
            println!(
                "{files:<8} {} x {mb:>3} MB at once in {:>5.1} s: server peak RSS {:>6.1} MiB (now {:.1} MiB)",
                args.clients,
                started.elapsed().as_secs_f64(),
                peak as f64 / 1024.0,
                now as f64 / 1024.0
            );
        }
        child.start_kill()?;
        let _ = child.wait().await;
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&temp);
    Ok(())
}

async fn ticket_id(store: &Store, number: i64) -> anyhow::Result<i64> {
    Ok(store.ticket_by_number(&Actor::system(), number).await?.id)
}
