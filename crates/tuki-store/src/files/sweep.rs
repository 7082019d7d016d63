//! The sweep: removes blobs no attachment (of a ticket's article or of a
//! knowledge article) names (an upload whose request
//! failed or was refused, the files of a deleted ticket), once their grace
//! period has passed, on both backends; also uploads that never finished and
//! stray files in the data folder. A job of the one queue, every hour.
//!
//! Why it never removes a blob in use: a blob row is deleted only in a
//! transaction that also removes its bytes and re-checks, under the row's
//! lock, that no attachment names it and that no upload touched it within
//! the grace period; writers write or touch the row before they put bytes in
//! place. A file in the folder without a row is removed while the sweep
//! holds a placeholder row for its name, so a writer of the same bytes
//! waits for the sweep and then writes them again.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sqlx::Row;

use super::{blob_path, delete_upload, is_sha256, Location};
use crate::jobs::{enqueue_on, NewJob};
use crate::time::to_db;
use crate::{Result, Store};

/// The job kind of the sweep.
pub const FILES_SWEEP_JOB: &str = "files_sweep";

/// How often the sweep runs.
pub const SWEEP_EVERY: SignedDuration = SignedDuration::from_hours(1);

/// What one sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Unreferenced blobs removed, and their bytes.
    pub blobs: u64,
    pub bytes: i64,
    /// Database uploads that never became a blob.
    pub uploads: u64,
    /// Files in the data folder that no blob row places there.
    pub folder_files: u64,
}

const BATCH: i64 = 200;

impl Store {
    /// Puts the sweep in the queue at `at` (one pending sweep at most).
    pub async fn schedule_files_sweep(&self, at: Timestamp) -> Result<()> {
        let mut tx = self.begin_write().await?;
        enqueue_on(
            &mut tx,
            NewJob {
                kind: FILES_SWEEP_JOB,
                payload: serde_json::json!({}),
                run_at: at,
                dedupe_key: Some(FILES_SWEEP_JOB.into()),
            },
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The sweep job: sweeps, then schedules the next one.
    pub(crate) async fn run_files_sweep(&self) -> Result<()> {
        let report = self.sweep_files().await?;
        tracing::info!(
            blobs = report.blobs,
            bytes = report.bytes,
            uploads = report.uploads,
            folder_files = report.folder_files,
            "files swept"
        );
        self.schedule_files_sweep(self.now() + SWEEP_EVERY).await
    }

    /// Removes what no one needs any more and is older than the grace period.
    pub async fn sweep_files(&self) -> Result<SweepReport> {
        let cutoff = to_db(self.now() - self.files.grace);
        let mut report = SweepReport::default();
        self.sweep_blobs(cutoff, &mut report).await?;
        self.sweep_uploads(cutoff, &mut report).await?;
        if self.files.folder.is_some() {
            self.sweep_folder(cutoff, &mut report).await?;
        }
        Ok(report)
    }

    async fn sweep_blobs(&self, cutoff: i64, report: &mut SweepReport) -> Result<()> {
        const UNREFERENCED: &str = "touched_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM attachments a WHERE a.sha256 = blobs.sha256) AND NOT EXISTS \
             (SELECT 1 FROM kb_files k WHERE k.sha256 = blobs.sha256) AND NOT EXISTS \
             (SELECT 1 FROM assets a WHERE a.receipt_sha256 = blobs.sha256)";
        loop {
            let rows = sqlx::query(&format!(
                "SELECT sha256 FROM blobs WHERE {UNREFERENCED} ORDER BY sha256 LIMIT {BATCH}"
            ))
            .bind(cutoff)
            .fetch_all(&self.read)
            .await?;
            if rows.is_empty() {
                return Ok(());
            }
            for r in &rows {
                let sha256: String = r.try_get("sha256")?;
                let mut tx = self.begin_write().await?;
                let gone = sqlx::query(&format!(
                    "DELETE FROM blobs WHERE {UNREFERENCED} AND sha256 = $2 \
                     RETURNING location, upload_id, size"
                ))
                .bind(cutoff)
                .bind(&sha256)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(gone) = gone else {
                    tx.rollback().await?;
                    continue;
                };
                let location: String = gone.try_get("location")?;
                if let Some(upload) = gone.try_get::<Option<i64>, _>("upload_id")? {
                    delete_upload(&mut tx, upload).await?;
                }
                if location == Location::Folder.as_str() {
                    self.remove_folder_file(&sha256)?;
                }
                tx.commit().await?;
                report.blobs += 1;
                report.bytes += gone.try_get::<i64, _>("size")?;
            }
            if (rows.len() as i64) < BATCH {
                return Ok(());
            }
        }
    }

    async fn sweep_uploads(&self, cutoff: i64, report: &mut SweepReport) -> Result<()> {
        const STALE: &str =
            "started_at < $1 AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.upload_id = blob_uploads.id)";
        let rows = sqlx::query(&format!("SELECT id FROM blob_uploads WHERE {STALE}"))
            .bind(cutoff)
            .fetch_all(&self.read)
            .await?;
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let mut tx = self.begin_write().await?;
            let stale = sqlx::query(&format!(
                "SELECT id FROM blob_uploads WHERE {STALE} AND id = $2"
            ))
            .bind(cutoff)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if stale.is_some() {
                delete_upload(&mut tx, id).await?;
                report.uploads += 1;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    fn remove_folder_file(&self, sha256: &str) -> Result<()> {
        if let Some(root) = self.files.folder.as_deref() {
            match std::fs::remove_file(blob_path(root, sha256)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Files under the data folder that no row places there (a write whose
    /// transaction rolled back, the old copy of a moved blob) and temporary
    /// files of uploads that never finished.
    async fn sweep_folder(&self, cutoff: i64, report: &mut SweepReport) -> Result<()> {
        let root = self.files.folder.clone().expect("checked by the caller");
        let old = |path: &std::path::Path| -> bool {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| Timestamp::try_from(t).ok())
                .is_some_and(|t| to_db(t) < cutoff)
        };
        let Ok(dirs) = std::fs::read_dir(&root) else {
            return Ok(());
        };
        for dir in dirs.flatten() {
            let prefix = dir.file_name().to_string_lossy().into_owned();
            let Ok(files) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for file in files.flatten() {
                let path = file.path();
                if prefix == "tmp" {
                    if old(&path) {
                        let _ = std::fs::remove_file(&path);
                        report.folder_files += 1;
                    }
                    continue;
                }
                let sha256 = format!("{prefix}{}", file.file_name().to_string_lossy());
                if !is_sha256(&sha256) || !old(&path) {
                    continue;
                }
                // A placeholder row holds the name while the file is judged:
                // a writer of the same bytes waits for this transaction.
                let mut tx = self.begin_write().await?;
                let placeholder = sqlx::query(
                    "INSERT INTO blobs (sha256, size, location, touched_at) VALUES ($1, 0, 'folder', 0) \
                     ON CONFLICT (sha256) DO NOTHING RETURNING sha256",
                )
                .bind(&sha256)
                .fetch_optional(&mut *tx)
                .await?;
                let stray = match placeholder {
                    Some(_) => true,
                    None => {
                        let location: String =
                            sqlx::query("SELECT location FROM blobs WHERE sha256 = $1")
                                .bind(&sha256)
                                .fetch_one(&mut *tx)
                                .await?
                                .try_get("location")?;
                        location != Location::Folder.as_str()
                    }
                };
                if stray {
                    let _ = std::fs::remove_file(&path);
                    report.folder_files += 1;
                }
                // The placeholder goes with the rollback.
                tx.rollback().await?;
            }
        }
        Ok(())
    }
}
