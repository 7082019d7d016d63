//! `tuki bench-connections`: how a `tuki serve` child holds up against
//! clients that open connections and never finish their headers
//! (slowloris): how long `/health` takes to answer while they hold on, how
//! many file handles the server has open, and how soon the stalled
//! connections are dropped. Run once with the connection cap above the
//! number of slow clients and once below it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::DbArgs;

#[derive(Args)]
pub struct BenchConnectionsArgs {
    /// Clients that stall in the middle of their headers.
    #[arg(long, default_value_t = 1_000)]
    slow: usize,
    /// The server's header timeout for this run, in seconds.
    #[arg(long, default_value_t = 2)]
    header_timeout: u64,
    /// Connection caps to run with (comma-separated).
    #[arg(long, default_value = "2000,100")]
    caps: String,
}

/// One `/health` request on a new connection; the time to its answer.
async fn health(addr: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await?;
    if !answer.starts_with(b"HTTP/1.1 200") {
        bail!("/health answered {}", String::from_utf8_lossy(&answer));
    }
    Ok(started.elapsed())
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

pub async fn run(args: BenchConnectionsArgs, db: DbArgs) -> anyhow::Result<()> {
    let data = std::env::temp_dir().join(format!("tuki-bench-conn-{}", std::process::id()));
    let url = db
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", data.join("tuki.db").display()));
    println!(
        "{} clients stall in their headers; header timeout {} s",
        args.slow, args.header_timeout
    );
    for cap in args.caps.split(',').map(|c| c.trim().parse::<usize>()) {
        let cap = cap.context("--caps are numbers")?;
        let (mut child, pid, base) = crate::bench::start_server(
            &url,
            &[
                ("TUKI_DATA_DIR", data.display().to_string()),
                ("TUKI_HEADER_TIMEOUT", args.header_timeout.to_string()),
                ("TUKI_MAX_CONNECTIONS", cap.to_string()),
                ("TUKI_LOG", "error".to_string()),
                // No mail is sent.
                ("TUKI_SMTP_URL", String::new()),
            ],
        )
        .await?;
        let addr = base.trim_start_matches("http://").to_string();
        let before = health(&addr).await?;
        let mut stalled = Vec::with_capacity(args.slow);
        for _ in 0..args.slow {
            let mut s = TcpStream::connect(&addr).await?;
            s.write_all(b"GET /health HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
                .await?;
            stalled.push(s);
        }
        let opened = Instant::now();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let files = open_files(pid);
        let during = health(&addr).await?;
        // How long until every stalled connection is closed by the server.
        let mut dropped = 0;
        for s in &mut stalled {
            let mut buf = [0u8; 64];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_secs(120), s.read(&mut buf)).await
            {
                dropped += 1;
            }
        }
        let all_dropped = opened.elapsed();
        println!(
            "cap {cap:>5}: /health {:>7.1} ms before, {:>8.1} ms with them waiting; server open files {files}; \
             {dropped}/{} dropped within {:.1} s",
            before.as_secs_f64() * 1000.0,
            during.as_secs_f64() * 1000.0,
            args.slow,
            all_dropped.as_secs_f64()
        );
        child.start_kill()?;
        let _ = child.wait().await;
    }
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
