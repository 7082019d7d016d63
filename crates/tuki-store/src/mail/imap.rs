//! IMAP settings of mailboxes and the health bookkeeping of their poller.
//!
//! The poller itself (network, IDLE, deleting after commit) lives in the
//! worker crate (`crates/tuki-worker/src/imap.rs`); this module stores what it
//! needs: where to log in, where to put imported mail, and when the
//! administrators were told that a mailbox keeps failing.
//!
//! It also keeps the poller's lease, so that of several `tuki serve`
//! processes on one database only one polls a mailbox at a time: a poller
//! logs in only while [`Store::take_mailbox_lease`] says it holds the
//! mailbox, renews the lease well before it runs out, and gives it up with
//! [`Store::release_mailbox_lease`] when it stops. A lease that ran out (its
//! server crashed or hung) is taken by the next server that asks. The lease
//! saves connections and downloads; that each message is imported once
//! does not depend on it (the Message-ID's primary key decides that).
//! Lease times are compared with the asking server's clock, so the
//! servers' clocks must agree to well within the lease's length.

use jiff::SignedDuration;
use serde::Serialize;
use sqlx::Row;

use crate::mail::{mailbox_from_row, truncate_chars, Mailbox, MAILBOX_COLUMNS};
use crate::time::to_db;
use crate::{Result, Store, StoreError};

/// How the poller talks to the IMAP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ImapSecurity {
    /// TLS from the first byte (IMAPS, port 993).
    Tls,
    /// Plain connection upgraded with STARTTLS (port 143).
    Starttls,
    /// No encryption: for a server on the same machine only.
    Plain,
}

impl ImapSecurity {
    pub const ALL: [ImapSecurity; 3] = [
        ImapSecurity::Tls,
        ImapSecurity::Starttls,
        ImapSecurity::Plain,
    ];

    pub fn parse(field: &str, s: &str) -> Result<ImapSecurity> {
        match s {
            "tls" => Ok(ImapSecurity::Tls),
            "starttls" => Ok(ImapSecurity::Starttls),
            "plain" => Ok(ImapSecurity::Plain),
            _ => Err(StoreError::invalid(
                field,
                "must be one of: tls, starttls, plain",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImapSecurity::Tls => "tls",
            ImapSecurity::Starttls => "starttls",
            ImapSecurity::Plain => "plain",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            ImapSecurity::Tls => 993,
            ImapSecurity::Starttls | ImapSecurity::Plain => 143,
        }
    }
}

/// Where a mailbox's mail is fetched from.
#[derive(Clone, Serialize)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: ImapSecurity,
    pub user: String,
    /// Stored as given (the poller must present it at every login); never
    /// serialised, logged or shown.
    #[serde(skip)]
    pub password: String,
    /// The folder to read, `INBOX` by default.
    pub folder: String,
    /// Imported mail is moved here; deleted (\Deleted + EXPUNGE) when `None`.
    pub move_to: Option<String>,
    /// Seconds between polls when the server offers no IDLE.
    pub poll_seconds: u64,
}

impl std::fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &"***")
            .field("folder", &self.folder)
            .field("move_to", &self.move_to)
            .field("poll_seconds", &self.poll_seconds)
            .finish()
    }
}

/// A mailbox the poller reads.
#[derive(Debug, Clone, Serialize)]
pub struct ImapMailbox {
    pub mailbox: Mailbox,
    pub imap: ImapSettings,
}

pub(crate) const IMAP_COLUMNS: &str =
    "imap_host, imap_port, imap_security, imap_user, imap_password, \
     imap_folder, imap_move_to, imap_poll_seconds";

pub(crate) fn imap_from_row(r: &sqlx::any::AnyRow) -> Result<Option<ImapSettings>> {
    let Some(host) = r.try_get::<Option<String>, _>("imap_host")? else {
        return Ok(None);
    };
    let security = ImapSecurity::parse(
        "imap_security",
        &r.try_get::<Option<String>, _>("imap_security")?
            .unwrap_or_else(|| "tls".into()),
    )?;
    Ok(Some(ImapSettings {
        host,
        port: r
            .try_get::<Option<i64>, _>("imap_port")?
            .map_or(security.default_port(), |p| p as u16),
        security,
        user: r
            .try_get::<Option<String>, _>("imap_user")?
            .unwrap_or_default(),
        password: r
            .try_get::<Option<String>, _>("imap_password")?
            .unwrap_or_default(),
        folder: r
            .try_get::<Option<String>, _>("imap_folder")?
            .unwrap_or_else(|| "INBOX".into()),
        move_to: r.try_get("imap_move_to")?,
        poll_seconds: r
            .try_get::<Option<i64>, _>("imap_poll_seconds")?
            .map_or(60, |s| s.max(1) as u64),
    }))
}

impl Store {
    /// Sets (or, with `None`, removes) the IMAP settings of a mailbox,
    /// checked as the administrators' form and API check them.
    /// Configuration: the CLI and tests call it after their own checks.
    pub async fn set_mailbox_imap(
        &self,
        mailbox_id: i64,
        imap: Option<&ImapSettings>,
    ) -> Result<()> {
        let input = imap.map(|s| super::mailboxes::ImapInput {
            host: s.host.clone(),
            port: Some(s.port),
            security: Some(s.security),
            user: s.user.clone(),
            password: Some(s.password.clone()),
            folder: Some(s.folder.clone()),
            move_to: s.move_to.clone(),
            poll_seconds: Some(s.poll_seconds),
        });
        let fields = super::mailboxes::imap_fields(input.as_ref(), None)?;
        let mut sql = crate::sql::Sql::new("UPDATE mailboxes SET ");
        for (i, (name, value)) in fields.into_iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push(name).push(" = ").bind(value);
        }
        sql.push(" WHERE id = ")
            .bind(crate::sql::Value::Int(mailbox_id));
        let done = sql.query().execute(&self.write).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Every mailbox that has IMAP settings, by name.
    pub async fn imap_mailboxes(&self) -> Result<Vec<ImapMailbox>> {
        let rows = sqlx::query(&format!(
            "SELECT {MAILBOX_COLUMNS}, {IMAP_COLUMNS} FROM mailboxes WHERE imap_host IS NOT NULL ORDER BY name"
        ))
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            if let Some(imap) = imap_from_row(r)? {
                out.push(ImapMailbox {
                    mailbox: mailbox_from_row(r)?,
                    imap,
                });
            }
        }
        Ok(out)
    }

    /// One mailbox's IMAP settings, re-read by the poller before each
    /// connection so that changed settings apply without a restart.
    pub async fn imap_mailbox(&self, mailbox_id: i64) -> Result<Option<ImapMailbox>> {
        let row = sqlx::query(&format!(
            "SELECT {MAILBOX_COLUMNS}, {IMAP_COLUMNS} FROM mailboxes WHERE id = $1"
        ))
        .bind(mailbox_id)
        .fetch_optional(&self.read)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let Some(imap) = imap_from_row(&r)? else {
            return Ok(None);
        };
        Ok(Some(ImapMailbox {
            mailbox: mailbox_from_row(&r)?,
            imap,
        }))
    }

    /// Takes or renews the poller's lease on a mailbox for `node` (one
    /// `tuki serve` process) until now + `lease`: one conditional UPDATE
    /// that succeeds when no one holds the mailbox, when the holder's lease
    /// has run out, or when `node` holds it already (a renewal, also just
    /// after it ran out if no one else took it meanwhile). `false` when
    /// another node holds a lease that has not run out, or there is no such
    /// mailbox. Atomic on both engines: PostgreSQL re-checks the condition
    /// on the row it locks, SQLite has one writer.
    pub async fn take_mailbox_lease(
        &self,
        mailbox_id: i64,
        node: &str,
        lease: SignedDuration,
    ) -> Result<bool> {
        let now = self.now();
        let done = sqlx::query(
            "UPDATE mailboxes SET poller_node = $1, poller_lease_until = $2 WHERE id = $3 \
             AND (poller_node IS NULL OR poller_node = $1 \
                  OR poller_lease_until IS NULL OR poller_lease_until < $4)",
        )
        .bind(node)
        .bind(to_db(now + lease))
        .bind(mailbox_id)
        .bind(to_db(now))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives up `node`'s lease on a mailbox (its poller stops), so another
    /// server may take it at once. `false` when `node` did not hold it
    /// (another node's lease is never touched).
    pub async fn release_mailbox_lease(&self, mailbox_id: i64, node: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE mailboxes SET poller_node = NULL, poller_lease_until = NULL \
             WHERE id = $1 AND poller_node = $2",
        )
        .bind(mailbox_id)
        .bind(node)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Tells every active administrator, with a `notifications` row of kind
    /// `mailbox_failing`, that this mailbox has failed without a success
    /// for longer than `limit`, once per failure period: the claim on
    /// `failure_notified_at` is a conditional UPDATE, so two pollers (or
    /// two nodes) cannot both send it. Returns how many were told.
    pub async fn notify_mailbox_failing(
        &self,
        mailbox_id: i64,
        limit: SignedDuration,
    ) -> Result<usize> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE mailboxes SET failure_notified_at = $1 WHERE id = $2 AND failing_since IS NOT NULL \
             AND failing_since <= $3 AND (failure_notified_at IS NULL OR failure_notified_at < failing_since)",
        )
        .bind(to_db(now))
        .bind(mailbox_id)
        .bind(to_db(now - limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        let m = sqlx::query(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1"
        ))
        .bind(mailbox_id)
        .fetch_one(&mut *tx)
        .await?;
        let m = mailbox_from_row(&m)?;
        let message = truncate_chars(
            &format!(
                "Mailbox {} <{}>: fetching mail has failed since {} (last success: {}). Last error: {}",
                m.name,
                m.address,
                m.failing_since.map_or("?".into(), |t| t.to_string()),
                m.last_fetch_at.map_or("never".into(), |t| t.to_string()),
                m.last_error.as_deref().unwrap_or("unknown"),
            ),
            4000,
        );
        let admins = sqlx::query("SELECT id FROM users WHERE role = 'admin' AND active")
            .fetch_all(&mut *tx)
            .await?;
        for a in &admins {
            let admin: i64 = a.try_get("id")?;
            crate::outbox::notify(&mut tx, admin, None, "mailbox_failing", None, &message, now)
                .await?;
        }
        tx.commit().await?;
        Ok(admins.len())
    }
}
