//! Mailboxes: where mail arrives and which group it goes to, their health,
//! and the administrators' overview.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::values::{self, Email};

use super::imap::ImapSecurity;
use super::*;
use crate::resource::{refers_to, Fields, Resource, Value};
use crate::time::to_db;
use crate::{Result, Store, StoreError};

// ------------------------------------------------------------------ mailboxes

/// Where a mailbox's mail comes from, without the password.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImapSummary {
    pub host: String,
    pub port: u16,
    pub security: ImapSecurity,
    pub user: String,
    pub folder: String,
    /// Imported mail is moved here; deleted when absent.
    pub move_to: Option<String>,
    /// Seconds between polls when the server offers no IDLE.
    pub poll_seconds: u64,
}

/// A mailbox as administrators see it: where its mail goes and comes from,
/// and how its polling goes.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailboxOverview {
    #[serde(flatten)]
    pub mailbox: Mailbox,
    /// The name of the group its tickets go to; `None` for the intake group.
    pub group_name: Option<String>,
    /// `None` when the mailbox is fed by `tuki mail ingest` only.
    pub imap: Option<ImapSummary>,
}

/// A mailbox to add, as typed into the form.
#[derive(Debug, Clone, Default)]
pub struct NewMailbox {
    pub name: String,
    pub address: String,
    /// The group its tickets go to; the intake group when `None`.
    pub group_id: Option<i64>,
}

/// A mailbox to create, or the whole new content of one (PUT).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailboxInput {
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub name: String,
    /// Tuki's own address for this mailbox; mail from it is a loop.
    pub address: String,
    /// The group its tickets go to; the intake group when absent.
    #[serde(default)]
    pub group_id: Option<i64>,
    /// Where `tuki serve` fetches its mail; absent for a mailbox a mail
    /// server pipes into `tuki mail ingest`.
    #[serde(default)]
    pub imap: Option<ImapInput>,
}

/// IMAP settings as an administrator gives them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImapInput {
    pub host: String,
    /// Defaults to 993 for TLS, else 143.
    #[serde(default)]
    pub port: Option<u16>,
    /// Defaults to `tls`.
    #[serde(default)]
    pub security: Option<ImapSecurity>,
    pub user: String,
    /// Required when the mailbox has none yet; left out of a replace, the
    /// stored one stays. Never shown.
    #[serde(default)]
    pub password: Option<String>,
    /// Defaults to `INBOX`.
    #[serde(default)]
    pub folder: Option<String>,
    /// Imported mail is moved here; deleted when absent.
    #[serde(default)]
    pub move_to: Option<String>,
    /// Seconds between polls when the server offers no IDLE; 60 by default.
    #[serde(default)]
    pub poll_seconds: Option<u64>,
}

/// The IMAP columns of a mailbox for `imap` (all NULL without it): the one
/// check of IMAP settings, for the resource and `set_mailbox_imap`.
/// `stored_password` is the mailbox's current password, kept when `imap`
/// leaves it out.
pub(crate) fn imap_fields(
    imap: Option<&ImapInput>,
    stored_password: Option<String>,
) -> Result<Fields> {
    let Some(s) = imap else {
        return Ok(IMAP_FIELDS
            .iter()
            .map(|f| {
                let null = match *f {
                    "imap_port" | "imap_poll_seconds" => Value::NullInt,
                    _ => Value::NullText,
                };
                (*f, null)
            })
            .collect());
    };
    let security = s.security.unwrap_or(ImapSecurity::Tls);
    let port = s.port.unwrap_or(security.default_port());
    if port == 0 {
        return Err(StoreError::invalid("imap_port", "must be 1 to 65535"));
    }
    let poll = s.poll_seconds.unwrap_or(60);
    if !(1..=86_400).contains(&poll) {
        return Err(StoreError::invalid(
            "imap_poll_seconds",
            "must be 1 to 86400",
        ));
    }
    let password = s
        .password
        .clone()
        .filter(|p| !p.is_empty())
        .or(stored_password)
        .ok_or_else(|| StoreError::invalid("imap_password", "is required"))?;
    let move_to = s
        .move_to
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| values::line("imap_move_to", m, 200))
        .transpose()?;
    Ok(vec![
        (
            "imap_host",
            Value::Text(values::line("imap_host", &s.host, 253)?),
        ),
        ("imap_port", Value::Int(i64::from(port))),
        ("imap_security", Value::Text(security.as_str().into())),
        (
            "imap_user",
            Value::Text(values::line("imap_user", &s.user, 200)?),
        ),
        ("imap_password", Value::Text(password)),
        (
            "imap_folder",
            Value::Text(values::line(
                "imap_folder",
                s.folder.as_deref().unwrap_or("INBOX"),
                200,
            )?),
        ),
        ("imap_move_to", Value::opt_text(move_to)),
        ("imap_poll_seconds", Value::Int(poll as i64)),
    ])
}

const IMAP_FIELDS: [&str; 8] = [
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_user",
    "imap_password",
    "imap_folder",
    "imap_move_to",
    "imap_poll_seconds",
];

/// Mailboxes as an administered resource.
pub struct Mailboxes;

impl Resource for Mailboxes {
    type Record = MailboxOverview;
    type Input = MailboxInput;
    const NOUN: &'static str = "mailbox";
    const MANAGED_AS: &'static str = "manage mailboxes";
    const TABLE: &'static str = "mailboxes";
    const COLUMNS: &'static str = OVERVIEW_COLUMNS;
    const ORDER: &'static str = "name";
    const IN_USE: &'static str = "has mail on record: it cannot be deleted";

    fn from_row(r: &AnyRow) -> Result<MailboxOverview> {
        Ok(MailboxOverview {
            mailbox: mailbox_from_row(r)?,
            group_name: r.try_get("group_name")?,
            imap: imap_summary(r)?,
        })
    }

    async fn check(
        conn: &mut AnyConnection,
        input: &MailboxInput,
        replacing: Option<i64>,
    ) -> Result<Fields> {
        let name = values::line("name", &input.name, 100)?;
        let address = Email::parse("address", &input.address)?;
        if let Some(g) = input.group_id {
            refers_to(conn, "support_groups", g, "group_id", "group").await?;
        }
        let clash = sqlx::query(
            "SELECT name FROM mailboxes WHERE (name = $1 OR address = $2) AND id <> $3",
        )
        .bind(&name)
        .bind(address.as_str())
        .bind(replacing.unwrap_or(-1))
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = clash {
            let other: String = r.try_get("name")?;
            return Err(if other == name {
                StoreError::conflict(Some("name"), "another mailbox has this name")
            } else {
                StoreError::conflict(Some("address"), format!("mailbox {other} has this address"))
            });
        }
        let stored_password = match replacing {
            Some(id) => sqlx::query("SELECT imap_password FROM mailboxes WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get::<Option<String>, _>("imap_password"))
                .transpose()?
                .flatten(),
            None => None,
        };
        let mut fields = vec![
            ("name", Value::Text(name)),
            ("address", Value::Text(address.as_str().to_string())),
            ("group_id", Value::opt_int(input.group_id)),
        ];
        fields.extend(imap_fields(input.imap.as_ref(), stored_password)?);
        Ok(fields)
    }
}

const OVERVIEW_COLUMNS: &str = "id, name, address, group_id, last_fetch_at, last_error, \
     last_error_at, failing_since, poller_node, poller_lease_until, imap_host, imap_port, \
     imap_security, imap_user, imap_password, imap_folder, imap_move_to, imap_poll_seconds, \
     (SELECT g.name FROM support_groups g WHERE g.id = mailboxes.group_id) AS group_name";

/// What the overview shows of a mailbox's IMAP settings: the settings as
/// the poller reads them, without the password.
fn imap_summary(r: &AnyRow) -> Result<Option<ImapSummary>> {
    Ok(super::imap::imap_from_row(r)?.map(|s| ImapSummary {
        host: s.host,
        port: s.port,
        security: s.security,
        user: s.user,
        folder: s.folder,
        move_to: s.move_to,
        poll_seconds: s.poll_seconds,
    }))
}

impl Store {
    // ------------------------------------------------------------ mailboxes

    /// Adds a mailbox whose mail becomes tickets of `group_id` (the intake
    /// group when `None`), fed by a mail server's pipe until it is given
    /// IMAP settings. Configuration, not a user action: the CLI calls it.
    pub async fn create_mailbox(
        &self,
        name: &str,
        address: &str,
        group_id: Option<i64>,
    ) -> Result<Mailbox> {
        let input = MailboxInput {
            name: name.into(),
            address: address.into(),
            group_id,
            imap: None,
        };
        Ok(self
            .create::<Mailboxes>(&Actor::system(), input)
            .await?
            .mailbox)
    }

    pub async fn mailbox(&self, name: &str) -> Result<Option<Mailbox>> {
        let row = sqlx::query(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(mailbox_from_row).transpose()
    }

    pub async fn mailboxes(&self) -> Result<Vec<Mailbox>> {
        let rows = sqlx::query(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes ORDER BY name"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(mailbox_from_row).collect()
    }

    /// Notes a successful fetch: the mailbox is healthy again.
    pub async fn mailbox_fetched(&self, mailbox_id: i64) -> Result<()> {
        sqlx::query("UPDATE mailboxes SET last_fetch_at = $1, failing_since = NULL WHERE id = $2")
            .bind(to_db(self.now()))
            .bind(mailbox_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Notes a failed fetch; `failing_since` keeps the first failure of a run.
    pub async fn mailbox_failed(&self, mailbox_id: i64, error: &str) -> Result<()> {
        let at = to_db(self.now());
        sqlx::query(
            "UPDATE mailboxes SET last_error = $1, last_error_at = $2, \
             failing_since = COALESCE(failing_since, $2) WHERE id = $3",
        )
        .bind(truncate_chars(error, 2000))
        .bind(at)
        .bind(mailbox_id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Mailboxes that have failed without a success for longer than `limit`:
    /// admins are told about these.
    pub async fn mailboxes_failing_longer_than(
        &self,
        limit: SignedDuration,
    ) -> Result<Vec<Mailbox>> {
        let before = to_db(self.now() - limit);
        let rows = sqlx::query(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE failing_since IS NOT NULL AND failing_since <= $1 ORDER BY name"
        ))
        .bind(before)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(mailbox_from_row).collect()
    }

    // ------------------------------------------------------------ ingestion

    /// Adds a mailbox for an administrator. Mistakes name the field of the
    /// form: `name`, `address` (also when another mailbox has it) or
    /// `group_id` (no such group).
    pub async fn add_mailbox(&self, actor: &Actor, new: NewMailbox) -> Result<Mailbox> {
        let input = MailboxInput {
            name: new.name,
            address: new.address,
            group_id: new.group_id,
            imap: None,
        };
        Ok(self.create::<Mailboxes>(actor, input).await?.mailbox)
    }

    // -------------------------------------------------------------- quarantine
}
