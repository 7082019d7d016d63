//! Tuki's storage: one query layer over SQLite and PostgreSQL.
//!
//! Queries are written once, with `$1` placeholders that both engines accept,
//! and run through sqlx's `Any` driver. Engine-specific code is limited to the
//! migrations (one folder per engine), connection set-up, full-text search and
//! locking. Every function that reads or writes tickets takes the acting
//! user (`tuki_domain::access::Actor`) and applies the domain's access rules,
//! so no caller can forget them.

pub mod attachments;
pub mod auth;
pub mod console;
pub mod coverage;
pub mod directory;
mod error;
pub(crate) mod events;
pub mod feed;
pub mod files;
pub mod jobs;
pub mod knowledge;
pub mod mail;
pub mod oncall;
pub mod outbox;
pub mod phone;
pub mod resource;
pub mod search;
pub mod seed;
pub mod sla;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tickets;
pub mod time;
pub mod visits;

use std::path::Path;
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use error::{Result, StoreError};

/// The one administrator check: configuration, the outbox, jobs and the
/// mail channels are for administrators; anyone else is refused, told what
/// they tried to do.
pub fn require_admin(actor: &tuki_domain::access::Actor, to: &str) -> Result<()> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(StoreError::forbidden(format!(
            "only administrators may {to}"
        )))
    }
}

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A handle to Tuki's database; cheap to clone.
///
/// On SQLite, writes go through a pool of one connection: SQLite has a single
/// writer anyway, and queueing writers in the pool (instead of letting them
/// collide on the file lock) keeps latency flat under load. Reads use a
/// separate pool and, in WAL mode, never wait for the writer. On PostgreSQL
/// both handles are the same pool.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) read: AnyPool,
    pub(crate) write: AnyPool,
    engine: Engine,
    clock: time::Clock,
    /// The desk's rules for mail (subject tag, throttling), one for mail
    /// in and out so both sides always agree.
    mail_policy: std::sync::Arc<mail::MailPolicy>,
    /// Group commit of new tickets (SQLite only).
    creates: Option<tickets::batch::Creates>,
    /// Where files are kept, their limits (see [`files`]).
    files: std::sync::Arc<files::FilesConfig>,
}

static DRIVERS: Once = Once::new();

/// How a write transaction begins on SQLite: holding the write lock from the
/// start (see [`Store::begin_write`]).
pub(crate) const SQLITE_BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

impl Store {
    /// Opens the database named by `url`: `postgres://…` or `postgresql://…`
    /// for PostgreSQL, `sqlite://PATH` or a plain file path for SQLite (the
    /// file and its folder are created when missing).
    pub async fn connect(url: &str) -> Result<Store> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = AnyConnectOptions::from_str(url)?.disable_statement_logging();
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            return Ok(Store {
                read: pool.clone(),
                write: pool,
                engine: Engine::Postgres,
                clock: time::Clock::system(),
                mail_policy: Default::default(),
                creates: None,
                files: Default::default(),
            });
        }

        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Database(sqlx::Error::Configuration(
                        format!("cannot create {}: {e}", parent.display()).into(),
                    ))
                })?;
            }
        }
        let opts = AnyConnectOptions::from_str(&format!("sqlite://{path}?mode=rwc"))?
            .disable_statement_logging();
        let write = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(sqlite_pragmas)
            .connect_with(opts.clone())
            .await?;
        let read = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(sqlite_pragmas)
            .connect_with(opts)
            .await?;
        Ok(Store {
            creates: Some(tickets::batch::Creates::spawn(write.clone())),
            read,
            write,
            engine: Engine::Sqlite,
            clock: time::Clock::system(),
            mail_policy: Default::default(),
            files: Default::default(),
        })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The current instant as this store sees it; every ticket write and the
    /// SLA clocks use it.
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// The same database with another clock (tests set a manual one).
    pub fn with_clock(mut self, clock: time::Clock) -> Store {
        self.clock = clock;
        self
    }

    /// The same database with the desk's own rules for mail (the tag
    /// word, `TUKI_MAIL_TAG`, and the throttle), checked.
    pub fn with_mail_policy(mut self, policy: mail::MailPolicy) -> Result<Store> {
        self.mail_policy = std::sync::Arc::new(policy.checked()?);
        Ok(self)
    }

    pub fn mail_policy(&self) -> &mail::MailPolicy {
        &self.mail_policy
    }

    /// The word of the subject tag (see [`mail::MailPolicy::tag`]).
    pub fn mail_tag(&self) -> &str {
        &self.mail_policy.tag
    }

    /// Brings the schema up to date. Safe to run on every start and from
    /// several processes at once (the migrator takes a lock on PostgreSQL).
    pub async fn migrate(&self) -> Result<()> {
        match self.engine {
            Engine::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.write)
                    .await?
            }
            Engine::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.write)
                    .await?
            }
        }
        Ok(())
    }

    /// Starts a write transaction. On SQLite it begins as a writer (`BEGIN
    /// IMMEDIATE`): a transaction that reads and then writes would otherwise
    /// fail with SQLITE_BUSY_SNAPSHOT, which no busy timeout covers, when
    /// another process (the mail pipe, a second `tuki` command) commits in
    /// between. Every write transaction of the store starts here.
    #[allow(clippy::disallowed_methods)] // the one place that begins them
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.engine {
            Engine::Sqlite => self.write.begin_with(SQLITE_BEGIN_WRITE).await?,
            Engine::Postgres => self.write.begin().await?,
        })
    }

    /// Whether the database answers; for `/health`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// Per-connection settings for SQLite. WAL lets readers run beside the
/// writer; NORMAL sync is durable against a crash of Tuki (only an OS crash
/// or power loss can lose the last commits); foreign keys are off by default
/// in SQLite.
fn sqlite_pragmas<'c>(
    conn: &'c mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'c>> {
    Box::pin(async move {
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
             PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8000;",
        )
        .await?;
        Ok(())
    })
}
