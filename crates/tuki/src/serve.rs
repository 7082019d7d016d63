//! `tuki serve`: the pages and the API, the job runner (SLA checks, mail to
//! expand and, with an SMTP server, to send) and the IMAP pollers, in one
//! process. Its settings are read here, once, from flags and `TUKI_*`
//! variables, and handed to each part as typed values.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use jiff::SignedDuration;
use tuki_worker::imap::PollerConfig;
use tuki_worker::{Runner, Sender, SmtpConfig, ATTACH_MAX_BYTES};

use crate::{mail_ca, redact, DbArgs};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TUKI_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PEM file of certificate authorities to trust for the IMAP and SMTP
    /// servers' certificates, in addition to the built-in web PKI roots
    /// (e.g. an organisation's private CA).
    #[arg(long, env = "TUKI_MAIL_CA_FILE", value_name = "FILE")]
    mail_ca_file: Option<PathBuf>,
    /// Where mail is sent: smtp://host:port, smtp://host?tls=required
    /// (STARTTLS) or smtps://host; unset keeps mail waiting in the outbox.
    #[arg(long, env = "TUKI_SMTP_URL", value_name = "URL")]
    smtp_url: Option<String>,
    /// The most bytes of files one mail carries; the rest are listed.
    #[arg(long, env = "TUKI_MAIL_ATTACH_MAX_BYTES", default_value_t = ATTACH_MAX_BYTES)]
    mail_attach_max_bytes: u64,
    /// Seconds an IMAP poller waits before reconnecting after a failure.
    #[arg(long, env = "TUKI_IMAP_RETRY_AFTER", default_value_t = 60)]
    imap_retry_after: u64,
    /// Seconds a mailbox may fail before administrators are told.
    #[arg(long, env = "TUKI_IMAP_ALERT_AFTER", default_value_t = 1800)]
    imap_alert_after: u64,
    /// Seconds a client may take to send a request's headers (also how long
    /// an idle keep-alive connection stays open).
    #[arg(long, env = "TUKI_HEADER_TIMEOUT", default_value_t = 15)]
    header_timeout: u64,
    /// Seconds a client may pause while sending a request's body.
    #[arg(long, env = "TUKI_BODY_TIMEOUT", default_value_t = 60)]
    body_timeout: u64,
    /// Connections open at once; more wait in the listen queue.
    #[arg(long, env = "TUKI_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,
    /// Seconds of an IMAP poller's lease on its mailbox.
    #[arg(long, env = "TUKI_IMAP_LEASE", default_value_t = 60)]
    imap_lease: u64,
    /// Tests only: seconds a poller pauses between fetching a message and
    /// committing it.
    #[arg(long, env = "TUKI_IMAP_TEST_PAUSE_AFTER_FETCH", hide = true)]
    imap_test_pause_after_fetch: Option<u64>,
    /// Tests only: seconds a poller pauses between the commit and removing
    /// the message from the server.
    #[arg(long, env = "TUKI_IMAP_TEST_PAUSE_AFTER_COMMIT", hide = true)]
    imap_test_pause_after_commit: Option<u64>,
}

/// A name for this `tuki serve` process in leases and job claims: the
/// machine's host name (for the administrator reading the pages), the
/// process id and a random part (so that a restarted process never renews
/// its predecessor's lease).
fn node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tuki".into());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

impl ServeArgs {
    /// The IMAP pollers' settings.
    fn pollers(&self, node: String) -> PollerConfig {
        let mut p = PollerConfig::new(node);
        p.alert_after = SignedDuration::from_secs(self.imap_alert_after as i64);
        p.retry_after = Duration::from_secs(self.imap_retry_after.max(1));
        p.lease = Duration::from_secs(self.imap_lease.max(1));
        p.test_pause_after_fetch = self.imap_test_pause_after_fetch.map(Duration::from_secs);
        p.test_pause_after_commit = self.imap_test_pause_after_commit.map(Duration::from_secs);
        p
    }
}

pub async fn run(args: ServeArgs, db: DbArgs) -> anyhow::Result<()> {
    // First, so that a stop during start-up is graceful.
    let shutdown = crate::shutdown_signal();
    // Read before anything starts: a bad file stops the start-up.
    let mail_ca = match args
        .mail_ca_file
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        Some(path) => {
            let ca = mail_ca::load(path)?;
            tracing::info!(file = %path.display(), certificates = ca.certs.len(),
                "mail servers: trusting the CA file besides the built-in roots");
            Some(ca)
        }
        None => None,
    };
    let store = db.open().await?;
    let node = node_id();
    let smtp = args
        .smtp_url
        .clone()
        .filter(|u| !u.is_empty())
        .map(|url| SmtpConfig {
            url,
            default_from: db
                .mail_from
                .clone()
                .unwrap_or_else(|| "tuki@localhost".into()),
            extra_ca_pem: mail_ca.as_ref().map(|ca| ca.pem.clone()),
            attach_max_bytes: args.mail_attach_max_bytes,
        });
    let admins = store.count_admins().await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = %redact(&db.url()), node = %node, "Tuki is listening");
    // Printed on stdout so scripts (and the benchmark) can find the port.
    println!("listening on http://{addr}");
    if admins == 0 {
        // First start: a one-time link to create the first administrator in
        // the browser, on stdout and in the log.
        tuki_web::pages::setup::announce_first_start(&store, addr).await?;
    }

    let files = store.files_config();
    tracing::info!(write_to = files.write_to.as_str(), file_max = files.file_max,
        quota = ?files.quota, "files");
    // The hourly sweep of unreferenced files: one pending at a time however
    // many servers start.
    store.schedule_files_sweep(store.now()).await?;
    store.schedule_knowledge_review(store.now()).await?;
    store.schedule_contract_reminders(store.now()).await?;
    // A database from before search (or restored without its index) is
    // indexed in the background; search finds more as it goes.
    if store.search_index_missing().await? {
        let store = store.clone();
        tokio::spawn(async move {
            tracing::info!("building the search index");
            match store.reindex_search(|_| {}).await {
                Ok(p) => tracing::info!(documents = p.done, "search index built"),
                Err(e) => {
                    tracing::error!(error = %e, "search index not built: run tuki search reindex")
                }
            }
        });
    }
    // Background work runs beside the server; several processes on one
    // database share the job queue and each job runs once.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut runner = Runner::new(store.clone()).named(node.clone());
    match &smtp {
        Some(config) => {
            let sender = Sender::new(store.clone(), config).map_err(|e| anyhow::anyhow!(e))?;
            runner = runner.sending(sender);
        }
        None => tracing::warn!("TUKI_SMTP_URL is not set: outgoing mail stays in the outbox"),
    }
    let mut until = stopped.clone();
    let jobs = tokio::spawn(runner.run(async move {
        let _ = until.wait_for(|stop| *stop).await;
    }));
    // Incoming mail: one IMAP poller per mailbox with IMAP settings.
    let mut pollers = args.pollers(node);
    pollers.extra_roots = mail_ca.map(|ca| ca.certs).unwrap_or_default();
    let imap = tokio::spawn(tuki_worker::imap::run(store.clone(), pollers, stopped));

    // Cookies are `Secure` unless Tuki listens on loopback (local development
    // over plain HTTP); behind a TLS proxy that sends X-Forwarded-Proto:
    // https they are `Secure` regardless.
    let web = tuki_web::pages::Web::new(!addr.ip().is_loopback()).sending_mail(smtp.is_some());
    let limits = tuki_web::ServeLimits {
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        body_idle_timeout: Duration::from_secs(args.body_timeout.max(1)),
        max_connections: args.max_connections.max(1),
        ..tuki_web::ServeLimits::default()
    };
    tuki_web::serve_with(
        listener,
        tuki_web::AppState::new(store.clone()).with_web(web),
        limits,
        shutdown,
    )
    .await?;
    let _ = stop.send(true);
    let _ = jobs.await;
    let _ = imap.await;
    store.close().await;
    Ok(())
}
