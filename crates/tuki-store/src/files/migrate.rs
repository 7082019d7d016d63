//! Moving blobs between the folder and the database (`tuki files migrate`),
//! one at a time while the desk serves: each blob is copied, the copy read
//! back and checked against the SHA-256, the row switched to the copy in a
//! transaction, and only then the old bytes removed. Stopped at any point,
//! it can be run again: moved blobs are not looked at twice, and a copy left
//! half-made is swept.

use sqlx::Row;

use super::read::{read_matching, Source};
use super::write::Placed;
use super::{blob_path, blob_row, delete_upload, BlobRow, Damage, Location};
use crate::{Result, Store, StoreError};

/// How far a move is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveProgress {
    /// Blobs (and their bytes) to move when the move began.
    pub total: u64,
    pub total_bytes: u64,
    /// Blobs moved so far, and their bytes.
    pub moved: u64,
    pub moved_bytes: u64,
    /// Blobs left where they are because their bytes are missing or damaged
    /// (the administrators are told of each).
    pub damaged: u64,
}

const BATCH: i64 = 50;

impl Store {
    /// Moves every blob not yet at `to` there, calling `progress` after each.
    pub async fn move_files(
        &self,
        to: Location,
        mut progress: impl FnMut(&MoveProgress),
    ) -> Result<MoveProgress> {
        if to == Location::Folder && self.files.folder.is_none() {
            return Err(StoreError::invalid("to", "no data folder is set"));
        }
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM blobs \
             WHERE location <> $1 AND damaged_at IS NULL",
        )
        .bind(to.as_str())
        .fetch_one(&self.read)
        .await?;
        let mut p = MoveProgress {
            total: r.try_get::<i64, _>("n")?.max(0) as u64,
            total_bytes: r.try_get::<i64, _>("bytes")?.max(0) as u64,
            ..MoveProgress::default()
        };
        progress(&p);
        let mut after = String::new();
        loop {
            let rows = sqlx::query(&format!(
                "SELECT sha256, size, location, upload_id FROM blobs \
                 WHERE location <> $1 AND damaged_at IS NULL AND sha256 > $2 \
                 ORDER BY sha256 LIMIT {BATCH}"
            ))
            .bind(to.as_str())
            .bind(&after)
            .fetch_all(&self.read)
            .await?;
            let Some(last) = rows.last() else {
                return Ok(p);
            };
            after = last.try_get("sha256")?;
            for r in &rows {
                let row = blob_row(r)?;
                match self.move_blob(&row, to).await? {
                    Ok(()) => {
                        p.moved += 1;
                        p.moved_bytes += row.size.max(0) as u64;
                    }
                    Err(damage) => {
                        p.damaged += 1;
                        self.report_damage(&row.sha256, damage).await?;
                    }
                }
                progress(&p);
            }
        }
    }

    /// Copies one blob to `to`, checks the copy, switches its row and
    /// removes the old bytes. `Err(damage)` when the old bytes are missing
    /// or do not match (nothing is moved then).
    async fn move_blob(&self, row: &BlobRow, to: Location) -> Result<Result<(), Damage>> {
        let Some(mut source) = Source::open(self, row).await? else {
            return Ok(Err(Damage::Missing));
        };
        let mut copy = self.start_copy(to, &row.sha256).await?;
        while let Some(chunk) = source.next().await? {
            if let Err(e) = copy.write(&chunk).await {
                copy.abort().await;
                return Err(e);
            }
        }
        let (_, written, placed) = copy.seal().await?;
        if written.sha256 != row.sha256 || written.size != row.size {
            let mut tx = self.begin_write().await?;
            placed.discard(&mut tx).await?;
            tx.commit().await?;
            return Ok(Err(Damage::Corrupt));
        }
        self.check_copy(row, &placed).await?;
        let mut tx = self.begin_write().await?;
        let switched = sqlx::query(
            "UPDATE blobs SET location = $1, upload_id = $2 WHERE sha256 = $3 AND location = $4 \
             AND damaged_at IS NULL",
        )
        .bind(to.as_str())
        .bind(placed.upload_id())
        .bind(&row.sha256)
        .bind(row.location.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if switched == 0 {
            // Changed meanwhile (healed, swept): the copy is not needed.
            placed.discard(&mut tx).await?;
            tx.commit().await?;
            return Ok(Ok(()));
        }
        placed.put_in_place(&row.sha256).await?;
        tx.commit().await?;
        // The old bytes go only once the row names the copy; a crash here
        // leaves them for the sweep.
        match (row.location, row.upload_id) {
            (Location::Database, Some(upload)) => {
                let mut tx = self.begin_write().await?;
                delete_upload(&mut tx, upload).await?;
                tx.commit().await?;
            }
            (Location::Folder, _) => {
                if let Some(root) = self.files.folder.as_deref() {
                    let _ = tokio::fs::remove_file(blob_path(root, &row.sha256)).await;
                }
            }
            _ => {}
        }
        Ok(Ok(()))
    }

    /// Reads a copy back from where it was written and checks it, before
    /// any row names it.
    async fn check_copy(&self, row: &BlobRow, placed: &Placed) -> Result<()> {
        let source = match placed {
            Placed::Database { upload_id } => Source::Database {
                pool: self.write.clone(),
                upload_id: *upload_id,
                seq: 0,
            },
            Placed::Folder { .. } => Source::Folder(
                tokio::fs::File::open(placed.path().expect("a folder copy has a path")).await?,
            ),
        };
        if read_matching(source, row, false).await?.is_err() {
            return Err(StoreError::Files(std::io::Error::other(format!(
                "the copy of blob {} read back does not match its SHA-256",
                row.sha256
            ))));
        }
        Ok(())
    }
}
