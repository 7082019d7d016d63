//! Files: the bytes of attachments, content-addressed by SHA-256, in one of
//! two places behind one interface.
//!
//! - **folder**: under the node's data folder (`DATA_DIR/attachments/ab/cdef…`),
//!   the default on SQLite, where the desk is one machine.
//! - **database**: in `blob_chunks`, 1 MiB a row, the default on PostgreSQL:
//!   every node serves and mails every file, and a dump of the database is a
//!   backup of the desk.
//!
//! Every blob has a row in `blobs` naming where its bytes are, so a reader
//! never guesses, `tuki files migrate` can move blobs one at a time while
//! the desk serves, and the quota is a sum over one table. Bytes stream in
//! ([`BlobUpload`]) and out ([`Store::open_blob`]) a chunk at a time; no
//! file is ever held whole in memory except for mail, which is built whole.
//!
//! Invariants:
//! - A blob row is written (or touched) *before* its bytes are put in
//!   place, and the sweep deletes a row and its bytes in one transaction
//!   (see [`sweep`]); so a blob that a row names as fresh is never removed.
//! - An attachment row may only name a blob that has a row
//!   ([`crate::attachments`] checks), so the sweep's "no attachment names
//!   it" is the whole test of being unreferenced.
//! - Bytes are served only after they were read once and matched their
//!   SHA-256 and size; a mismatch or a missing file is reported to the
//!   administrators and answered as [`StoreError::FileUnavailable`], never
//!   as other bytes.

mod migrate;
mod read;
pub mod sweep;
mod write;

use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use sqlx::{AnyConnection, Row};

use crate::time::to_db;
use crate::{Result, Store, StoreError};

pub use migrate::MoveProgress;
pub use read::BlobStream;
pub use write::BlobUpload;

/// Bytes per chunk row in the database, and per read from the folder.
pub const CHUNK: usize = 1024 * 1024;

/// The default largest file: 50 MiB.
pub const FILE_MAX_DEFAULT: u64 = 50 * 1024 * 1024;

/// Where the bytes of a blob are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Folder,
    Database,
}

impl Location {
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Folder => "folder",
            Location::Database => "database",
        }
    }

    pub fn parse(s: &str) -> Option<Location> {
        match s {
            "folder" => Some(Location::Folder),
            "database" => Some(Location::Database),
            _ => None,
        }
    }
}

/// How a desk keeps its files; read once in the binary.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// The folder of content-addressed files (`DATA_DIR/attachments`):
    /// where new files go with [`Location::Folder`], and where files written
    /// there earlier are read from whatever the setting is now.
    pub folder: Option<PathBuf>,
    /// Where new files are written.
    pub write_to: Location,
    /// The largest file, in bytes.
    pub file_max: u64,
    /// The most bytes all files of the desk may take together.
    pub quota: Option<u64>,
    /// How long an unreferenced blob is kept before the sweep removes it:
    /// long enough for any upload to be attached to its article.
    pub grace: SignedDuration,
}

impl Default for FilesConfig {
    /// Files in the database, 50 MiB each, no quota, a day's grace: works on
    /// both engines with no folder (tests, tools).
    fn default() -> Self {
        FilesConfig {
            folder: None,
            write_to: Location::Database,
            file_max: FILE_MAX_DEFAULT,
            quota: None,
            grace: SignedDuration::from_hours(24),
        }
    }
}

impl FilesConfig {
    /// Refuses a setting that cannot work: files to a folder with none.
    pub fn checked(self) -> Result<Self> {
        if self.write_to == Location::Folder && self.folder.is_none() {
            return Err(StoreError::invalid(
                "files",
                "files go to the data folder, but none is set",
            ));
        }
        if self.file_max == 0 {
            return Err(StoreError::invalid("file_max", "must be at least 1 byte"));
        }
        Ok(self)
    }
}

/// Bytes stored: their SHA-256 (hex) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub size: i64,
}

/// What is wrong with a blob that cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The bytes are not where the blob's row says.
    Missing,
    /// The bytes are there but their SHA-256 or size is not the blob's.
    Corrupt,
}

impl Damage {
    pub fn as_str(self) -> &'static str {
        match self {
            Damage::Missing => "missing",
            Damage::Corrupt => "corrupt",
        }
    }
}

/// How much the desk's files take, for the administrators and `tuki files`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// Files stored (each content once).
    pub blobs: i64,
    pub bytes: i64,
    pub in_folder: i64,
    pub in_database: i64,
    /// Files whose stored bytes were found missing or damaged.
    pub damaged: i64,
    /// The most bytes all files may take; none when unset.
    pub quota: Option<u64>,
    /// Where new files go: `folder` or `database`.
    pub write_to: String,
    /// The largest file, in bytes.
    pub file_max: u64,
}

/// A file whose stored bytes were found missing or damaged, with the first
/// request that has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DamagedFile {
    pub sha256: String,
    pub size: i64,
    /// `folder` or `database`.
    pub location: String,
    pub found_at: jiff::Timestamp,
    pub ticket_number: Option<i64>,
    pub file_name: Option<String>,
}

/// Where the bytes of one blob are, as its row says.
#[derive(Debug, Clone)]
pub(crate) struct BlobRow {
    pub sha256: String,
    pub size: i64,
    pub location: Location,
    pub upload_id: Option<i64>,
}

fn blob_row(r: &sqlx::any::AnyRow) -> Result<BlobRow> {
    let location: String = r.try_get("location")?;
    Ok(BlobRow {
        sha256: r.try_get("sha256")?,
        size: r.try_get("size")?,
        location: Location::parse(&location)
            .ok_or_else(|| StoreError::invalid("location", "is not folder or database"))?,
        upload_id: r.try_get("upload_id")?,
    })
}

/// Where the bytes of a blob with this SHA-256 live in a files folder.
pub fn blob_path(folder: &Path, sha256: &str) -> PathBuf {
    folder.join(&sha256[..2]).join(&sha256[2..])
}

/// Whether a text is a SHA-256 in lowercase hex, as Tuki names blobs.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Store {
    /// The same database keeping its files as `config` says (checked).
    pub fn with_files(mut self, config: FilesConfig) -> Result<Store> {
        self.files = std::sync::Arc::new(config.checked()?);
        Ok(self)
    }

    pub fn files_config(&self) -> &FilesConfig {
        &self.files
    }

    /// What the desk's files take.
    pub async fn file_usage(&self) -> Result<Usage> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes, \
             CAST(COALESCE(SUM(CASE WHEN location = 'folder' THEN 1 ELSE 0 END), 0) AS BIGINT) AS in_folder, \
             CAST(COALESCE(SUM(CASE WHEN damaged_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS damaged \
             FROM blobs",
        )
        .fetch_one(&self.read)
        .await?;
        let blobs: i64 = r.try_get("n")?;
        let in_folder: i64 = r.try_get("in_folder")?;
        Ok(Usage {
            blobs,
            bytes: r.try_get("bytes")?,
            in_folder,
            in_database: blobs - in_folder,
            damaged: r.try_get("damaged")?,
            quota: self.files.quota,
            write_to: self.files.write_to.as_str().to_string(),
            file_max: self.files.file_max,
        })
    }

    /// What the desk's files take, and which are damaged, newest finding
    /// first (at most 200). Administrators only.
    pub async fn files_overview(
        &self,
        actor: &tuki_domain::access::Actor,
    ) -> Result<(Usage, Vec<DamagedFile>)> {
        crate::require_admin(actor, "see the desk's files")?;
        let usage = self.file_usage().await?;
        let rows = sqlx::query(
            "SELECT b.sha256, b.size, b.location, b.damaged_at, \
             (SELECT t.number FROM attachments a JOIN tickets t ON t.id = a.ticket_id \
              WHERE a.sha256 = b.sha256 ORDER BY a.id LIMIT 1) AS ticket_number, \
             (SELECT a.file_name FROM attachments a WHERE a.sha256 = b.sha256 \
              ORDER BY a.id LIMIT 1) AS file_name \
             FROM blobs b WHERE b.damaged_at IS NOT NULL ORDER BY b.damaged_at DESC LIMIT 200",
        )
        .fetch_all(&self.read)
        .await?;
        let damaged = rows
            .iter()
            .map(|r| {
                Ok(DamagedFile {
                    sha256: r.try_get("sha256")?,
                    size: r.try_get("size")?,
                    location: r.try_get("location")?,
                    found_at: crate::time::from_db(r.try_get("damaged_at")?),
                    ticket_number: r.try_get("ticket_number")?,
                    file_name: r.try_get("file_name")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((usage, damaged))
    }

    /// The bytes left under the quota (`None`: no quota).
    pub(crate) async fn quota_left(&self) -> Result<Option<u64>> {
        let Some(quota) = self.files.quota else {
            return Ok(None);
        };
        let used: i64 =
            sqlx::query("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS used FROM blobs")
                .fetch_one(&self.read)
                .await?
                .try_get("used")?;
        Ok(Some(quota.saturating_sub(used.max(0) as u64)))
    }

    pub(crate) async fn blob_row(&self, sha256: &str) -> Result<Option<BlobRow>> {
        sqlx::query("SELECT sha256, size, location, upload_id FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(blob_row)
            .transpose()
    }

    /// Records that a blob could not be served and, at most once a day per
    /// blob, tells the administrators which file of which request it is.
    pub(crate) async fn report_damage(&self, sha256: &str, damage: Damage) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE blobs SET damaged_at = $1 WHERE sha256 = $2 \
             AND (damaged_at IS NULL OR damaged_at < $3)",
        )
        .bind(to_db(now))
        .bind(sha256)
        .bind(to_db(now - SignedDuration::from_hours(24)))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(());
        }
        let file = sqlx::query(
            "SELECT a.id, a.ticket_id, a.file_name FROM attachments a WHERE a.sha256 = $1 \
             ORDER BY a.id LIMIT 1",
        )
        .bind(sha256)
        .fetch_optional(&mut *tx)
        .await?;
        let (ticket_id, what) = match &file {
            Some(f) => (
                Some(f.try_get::<i64, _>("ticket_id")?),
                format!(
                    "file {:?} (attachment {})",
                    f.try_get::<String, _>("file_name")?,
                    f.try_get::<i64, _>("id")?
                ),
            ),
            None => (None, "a file no article names".to_string()),
        };
        let message = format!(
            "The bytes of {what} are {} (SHA-256 {sha256}). Tuki refuses to serve or mail it. \
             Restore the file from a backup, or ask for it again and upload it: the same \
             content heals the blob.",
            damage.as_str()
        );
        let admins = sqlx::query("SELECT id FROM users WHERE role = 'admin' AND active")
            .fetch_all(&mut *tx)
            .await?;
        for a in &admins {
            crate::outbox::notify(
                &mut tx,
                a.try_get("id")?,
                ticket_id,
                "file_damaged",
                None,
                &message,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Deletes the bytes of a database upload, in the caller's transaction.
pub(crate) async fn delete_upload(conn: &mut AnyConnection, upload_id: i64) -> Result<()> {
    sqlx::query("DELETE FROM blob_chunks WHERE upload_id = $1")
        .bind(upload_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM blob_uploads WHERE id = $1")
        .bind(upload_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
