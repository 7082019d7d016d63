//! `tuki`: the service desk in one binary.

mod bench;
mod bench_connections;
mod bench_coverage;
mod bench_files;
mod bench_quality;
mod bench_search;
mod bench_sla;
mod files;
mod import;
mod mail;
mod mail_ca;
mod search;
mod serve;

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use tuki_domain::access::Actor;
use tuki_domain::directory::{Language, Role};
use tuki_store::directory::NewUser;
use tuki_store::Store;

#[derive(Parser)]
#[command(name = "tuki", version, about = "Tuki service desk")]
struct Cli {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the data lives; every subcommand takes these.
#[derive(Args, Clone)]
pub(crate) struct DbArgs {
    /// Database URL: postgres://… for PostgreSQL, sqlite://PATH for SQLite.
    /// Default: SQLite in DATA_DIR/tuki.db.
    #[arg(long, env = "TUKI_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Folder for Tuki's files: the SQLite database and, unless they are
    /// kept in the database, attachments (under `attachments/`).
    #[arg(
        long,
        env = "TUKI_DATA_DIR",
        default_value = "./tuki-data",
        global = true
    )]
    pub(crate) data_dir: PathBuf,
    /// The word of the subject tag of mail, `[Tuki #1234]`: written on
    /// outgoing mail and looked for in incoming mail.
    #[arg(long, env = "TUKI_MAIL_TAG", default_value = "Tuki", global = true)]
    mail_tag: String,
    /// Messages one sender may have made into tickets or articles within
    /// the throttle window; more are recorded, not ticketed.
    #[arg(long, env = "TUKI_MAIL_THROTTLE", default_value_t = 20, global = true)]
    mail_throttle: i64,
    /// The throttle window, in minutes.
    #[arg(
        long,
        env = "TUKI_MAIL_THROTTLE_MINUTES",
        default_value_t = 10,
        global = true
    )]
    mail_throttle_minutes: i64,
    /// The From address of mail whose ticket's group has no mailbox of its
    /// own; its domain also names Tuki's Message-IDs.
    #[arg(long, env = "TUKI_MAIL_FROM", global = true)]
    pub(crate) mail_from: Option<String>,
    /// Where new attachments are kept: `folder` (DATA_DIR/attachments) or
    /// `database`. Default: the folder on SQLite, the database on
    /// PostgreSQL (shared by every node, inside a database backup). Files
    /// already stored stay readable; `tuki files migrate` moves them.
    #[arg(long, env = "TUKI_FILES", value_parser = ["folder", "database"], global = true)]
    files: Option<String>,
    /// The largest attachment, in bytes (default 50 MiB).
    #[arg(long, env = "TUKI_FILE_MAX_BYTES", default_value_t = tuki_store::files::FILE_MAX_DEFAULT, global = true)]
    file_max_bytes: u64,
    /// The most bytes all attachments of the desk may take together
    /// (uploads beyond it are refused; mail is still taken in). Unset: no quota.
    #[arg(long, env = "TUKI_FILES_QUOTA_BYTES", global = true)]
    files_quota_bytes: Option<u64>,
    /// Hours an unreferenced file is kept before the sweep removes it.
    #[arg(
        long,
        env = "TUKI_FILES_GRACE_HOURS",
        default_value_t = 24,
        global = true
    )]
    files_grace_hours: i64,
}

impl DbArgs {
    pub(crate) fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("tuki.db").display()))
    }

    /// How files are kept: as set, else the engine's default.
    fn files_config(&self, engine: tuki_store::Engine) -> tuki_store::files::FilesConfig {
        use tuki_store::files::{FilesConfig, Location};
        FilesConfig {
            folder: Some(self.data_dir.join("attachments")),
            write_to: match self.files.as_deref().and_then(Location::parse) {
                Some(location) => location,
                None if engine == tuki_store::Engine::Postgres => Location::Database,
                None => Location::Folder,
            },
            file_max: self.file_max_bytes,
            quota: self.files_quota_bytes,
            grace: jiff::SignedDuration::from_hours(self.files_grace_hours.clamp(1, 24 * 365)),
        }
    }

    pub(crate) async fn open(&self) -> anyhow::Result<Store> {
        let url = self.url();
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("cannot open the database at {}", redact(&url)))?;
        store
            .migrate()
            .await
            .context("cannot migrate the database")?;
        let files = self.files_config(store.engine());
        store
            .with_files(files)
            .context("the file settings (--files, --file-max-bytes)")?
            .with_mail_policy(tuki_store::mail::MailPolicy {
                tag: self.mail_tag.clone(),
                throttle_max: self.mail_throttle,
                throttle_window: jiff::SignedDuration::from_mins(
                    self.mail_throttle_minutes.clamp(0, 525_600),
                ),
                from: self.mail_from.clone().filter(|f| !f.is_empty()),
            })
            .context("the mail settings (--mail-tag, --mail-throttle, --mail-throttle-minutes)")
    }
}

/// Hides the password of a database URL in messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the pages and the API over HTTP, with the background work.
    Serve(serve::ServeArgs),
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage personal access tokens for the REST API.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Seed a database and measure the API over HTTP.
    Bench(bench::BenchArgs),
    /// Seed open tickets with SLA clocks and time recomputing their state.
    BenchSla(bench_sla::BenchSlaArgs),
    /// Measure a year's statement with many time entries and a large CSV
    /// import of devices.
    BenchCoverage(bench_coverage::BenchCoverageArgs),
    /// Import products, assets (devices) or contracts from a CSV file.
    Import(import::ImportArgs),
    /// Measure attachment upload and download, and memory under large uploads.
    BenchFiles(bench_files::BenchFilesArgs),
    /// Measure how the server holds up against clients that never finish.
    BenchConnections(bench_connections::BenchConnectionsArgs),
    /// Measure full-text search: index build time and memory, search
    /// latency as staff and as a customer, at one and several searchers.
    BenchSearch(bench_search::BenchSearchArgs),
    /// Measure search quality on the judged query set: nDCG@10 and MRR@10
    /// of Tuki's search next to a plain substring baseline.
    BenchSearchQuality(bench_quality::BenchQualityArgs),
    /// The mail channel: import mail (pipe or Maildir), mailboxes, quarantine.
    Mail {
        #[command(subcommand)]
        command: mail::MailCommand,
    },
    /// Attachments: where they are kept, moving them, sweeping unused ones.
    Files {
        #[command(subcommand)]
        command: files::FilesCommand,
    },
    /// The full-text search index: rebuild it.
    Search {
        #[command(subcommand)]
        command: search::SearchCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["admin", "agent", "customer"])]
        role: String,
        #[arg(long, value_parser = ["fi", "en"], default_value = "en")]
        language: String,
        /// Read a password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password from the first line of standard input.
    SetPassword {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token for a user and print it (alone) on standard output.
    Create {
        #[arg(long)]
        email: String,
        /// A label to recognise the token by.
        #[arg(long)]
        name: String,
    },
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        bail!("no password on standard input");
    }
    Ok(pw)
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TUKI_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The signals that stop `tuki serve` gracefully. SIGTERM's handler is
/// installed when this is called, not when the future is first polled: a
/// stop that comes while the server is still starting (its pollers and
/// jobs already running) is then a graceful stop, not a kill.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! { _ = ctrl_c => {}, _ = term => {} }
        tracing::info!("shutting down");
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    // The server and the benchmark serve many requests at once: a worker
    // thread per core (TOKIO_WORKER_THREADS overrides). The other commands do
    // one thing after another, where a single thread is faster: with more,
    // every database round trip also wakes an idle worker (measured: mail
    // import 697 → 1,163 messages/s).
    let rt = match cli.command {
        Command::Serve(_) | Command::Bench(_) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    };
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args, cli.db).await?,
        Command::Migrate => {
            let store = cli.db.open().await?;
            store.close().await;
            eprintln!("database is up to date: {}", redact(&cli.db.url()));
        }
        Command::User { command } => match command {
            UserCommand::Create {
                email,
                name,
                role,
                language,
                password_stdin,
            } => {
                let password = if password_stdin {
                    Some(read_password()?)
                } else {
                    None
                };
                let store = cli.db.open().await?;
                let user = store
                    .create_user(
                        &Actor::system(),
                        NewUser {
                            email,
                            name,
                            phone: None,
                            role: Some(Role::parse("role", &role)?),
                            language: Some(Language::parse("language", &language)?),
                            organisation_id: None,
                            password,
                        },
                    )
                    .await?;
                store.close().await;
                eprintln!(
                    "created {} {} ({}), id {}",
                    user.role, user.email, user.name, user.id
                );
            }
            UserCommand::SetPassword { email } => {
                let password = read_password()?;
                let store = cli.db.open().await?;
                let user = store.user_by_email(&Actor::system(), &email).await?;
                store.set_password(user.id, &password).await?;
                store.close().await;
                eprintln!("password set for {}", user.email);
            }
        },
        Command::Token { command } => match command {
            TokenCommand::Create { email, name } => {
                let store = cli.db.open().await?;
                let user = match store.user_by_email(&Actor::system(), &email).await {
                    Err(tuki_store::StoreError::NotFound) => bail!("no user {email}"),
                    other => other?,
                };
                let token = store.create_token(user.id, &name).await?;
                store.close().await;
                println!("{}", token.token);
            }
        },
        Command::Bench(args) => bench::run(args, cli.db).await?,
        Command::BenchSla(args) => bench_sla::run(args, cli.db).await?,
        Command::BenchCoverage(args) => bench_coverage::run(args, cli.db).await?,
        Command::Import(args) => import::run(args, cli.db).await?,
        Command::BenchFiles(args) => bench_files::run(args, cli.db).await?,
        Command::BenchConnections(args) => bench_connections::run(args, cli.db).await?,
        Command::BenchSearch(args) => bench_search::run(args, cli.db).await?,
        Command::BenchSearchQuality(args) => bench_quality::run(args, cli.db).await?,
        Command::Mail { command } => mail::run(command, cli.db).await?,
        Command::Files { command } => files::run(command, cli.db).await?,
        Command::Search { command } => search::run(command, cli.db).await?,
    }
    Ok(())
}
