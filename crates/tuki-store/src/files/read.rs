//! Reading blobs: checked against their SHA-256 before a byte is served.

use std::pin::Pin;

use futures_util::Stream;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::io::AsyncReadExt;

use super::{blob_path, BlobRow, Damage, Location, CHUNK};
use crate::time::to_db;
use crate::{Result, Store, StoreError};

/// The bytes of a blob, a chunk at a time.
pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Vec<u8>>> + Send>>;

/// Where the chunks of one blob are read from.
pub(super) enum Source {
    Folder(tokio::fs::File),
    Database {
        pool: sqlx::AnyPool,
        upload_id: i64,
        seq: i64,
    },
}

impl Source {
    /// Opens the bytes a row names; `None` when they are not there.
    pub(super) async fn open(store: &Store, row: &BlobRow) -> Result<Option<Source>> {
        match row.location {
            Location::Folder => {
                let Some(root) = store.files.folder.as_deref() else {
                    tracing::error!(sha256 = %row.sha256,
                        "a blob is in the data folder, but this node has no data folder set");
                    return Ok(None);
                };
                match tokio::fs::File::open(blob_path(root, &row.sha256)).await {
                    Ok(f) => Ok(Some(Source::Folder(f))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            Location::Database => Ok(row.upload_id.map(|upload_id| Source::Database {
                pool: store.read.clone(),
                upload_id,
                seq: 0,
            })),
        }
    }

    /// The next chunk, `None` at the end.
    pub(super) async fn next(&mut self) -> Result<Option<Vec<u8>>> {
        match self {
            Source::Folder(file) => {
                let mut buf = Vec::with_capacity(CHUNK);
                while buf.len() < CHUNK {
                    let read = (&mut *file)
                        .take((CHUNK - buf.len()) as u64)
                        .read_to_end(&mut buf)
                        .await?;
                    if read == 0 {
                        break;
                    }
                }
                Ok((!buf.is_empty()).then_some(buf))
            }
            Source::Database {
                pool,
                upload_id,
                seq,
            } => {
                let row =
                    sqlx::query("SELECT data FROM blob_chunks WHERE upload_id = $1 AND seq = $2")
                        .bind(*upload_id)
                        .bind(*seq)
                        .fetch_optional(&*pool)
                        .await?;
                *seq += 1;
                Ok(match row {
                    Some(r) => Some(r.try_get::<Vec<u8>, _>("data")?),
                    None => None,
                })
            }
        }
    }

    fn into_stream(self) -> BlobStream {
        Box::pin(futures_util::stream::unfold(Some(self), |source| async {
            let mut source = source?;
            match source.next().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(source))),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }))
    }
}

/// Reads a blob's bytes through, checking size and SHA-256; with `keep`,
/// returns them. `Err(damage)` when they are missing or wrong.
pub(super) async fn check(
    store: &Store,
    row: &BlobRow,
    keep: bool,
) -> Result<std::result::Result<Vec<u8>, Damage>> {
    let Some(source) = Source::open(store, row).await? else {
        return Ok(Err(Damage::Missing));
    };
    read_matching(source, row, keep).await
}

/// Reads `source` to its end and compares it with the size and SHA-256 of
/// `row`; with `keep`, returns the bytes. A database blob with no chunk at
/// all is missing; any other difference is damage.
pub(super) async fn read_matching(
    mut source: Source,
    row: &BlobRow,
    keep: bool,
) -> Result<std::result::Result<Vec<u8>, Damage>> {
    let mut hasher = Sha256::new();
    let mut size = 0i64;
    let mut kept = Vec::new();
    while let Some(chunk) = source.next().await? {
        size += chunk.len() as i64;
        if size > row.size {
            return Ok(Err(Damage::Corrupt));
        }
        hasher.update(&chunk);
        if keep {
            kept.extend_from_slice(&chunk);
        }
    }
    if size == 0 && row.size > 0 && matches!(source, Source::Database { .. }) {
        return Ok(Err(Damage::Missing));
    }
    if size != row.size || hex::encode(hasher.finalize()) != row.sha256 {
        return Ok(Err(Damage::Corrupt));
    }
    Ok(Ok(kept))
}

impl Store {
    /// Opens a blob to serve: its size and its bytes, which were read once
    /// and matched. Missing or damaged bytes are reported to the
    /// administrators and answered as [`StoreError::FileUnavailable`].
    pub async fn open_blob(&self, sha256: &str) -> Result<(i64, BlobStream)> {
        let row = self.checked_row(sha256, false).await?.0;
        let source = Source::open(self, &row)
            .await?
            .ok_or(StoreError::FileUnavailable {
                sha256: sha256.to_string(),
                damage: Damage::Missing,
            })?;
        Ok((row.size, source.into_stream()))
    }

    /// A blob's bytes whole, checked: for mail, which is built whole.
    pub async fn read_blob(&self, sha256: &str) -> Result<Vec<u8>> {
        Ok(self.checked_row(sha256, true).await?.1)
    }

    /// The row of a blob whose bytes were just read and matched (and with
    /// `keep` the bytes). A blob that `tuki files migrate` moved while it
    /// was read is read again from its new place.
    async fn checked_row(&self, sha256: &str, keep: bool) -> Result<(BlobRow, Vec<u8>)> {
        let Some(row) = self.blob_row(sha256).await? else {
            return Err(self.unrecorded(sha256).await);
        };
        let damage = match check(self, &row, keep).await? {
            Ok(bytes) => return Ok((row, bytes)),
            Err(damage) => damage,
        };
        // A move by `tuki files migrate` may have taken the bytes meanwhile:
        // then they are read once more from their new place.
        match self.blob_row(sha256).await? {
            Some(again) if (again.location, again.upload_id) != (row.location, row.upload_id) => {
                match check(self, &again, keep).await? {
                    Ok(bytes) => Ok((again, bytes)),
                    Err(damage) => Err(self.damaged(sha256, damage).await),
                }
            }
            _ => Err(self.damaged(sha256, damage).await),
        }
    }

    /// Logs and reports damage, and gives the error to answer with.
    async fn damaged(&self, sha256: &str, damage: Damage) -> StoreError {
        tracing::error!(sha256, damage = damage.as_str(), "a file cannot be served");
        if let Err(error) = self.report_damage(sha256, damage).await {
            tracing::error!(sha256, %error, "cannot record damage of a file");
        }
        StoreError::FileUnavailable {
            sha256: sha256.to_string(),
            damage,
        }
    }

    /// An attachment names bytes no blob row knows (which Tuki never
    /// writes): recorded as a missing blob, so that the administrators hear
    /// of it. Bytes no attachment names are simply not there.
    async fn unrecorded(&self, sha256: &str) -> StoreError {
        let size = sqlx::query("SELECT MAX(size) AS size FROM attachments WHERE sha256 = $1")
            .bind(sha256)
            .fetch_one(&self.read)
            .await
            .ok()
            .and_then(|r| r.try_get::<Option<i64>, _>("size").ok().flatten());
        let Some(size) = size else {
            return StoreError::FileUnavailable {
                sha256: sha256.to_string(),
                damage: Damage::Missing,
            };
        };
        let recorded = async {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO blobs (sha256, size, location, touched_at) VALUES ($1, $2, 'folder', $3) \
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(sha256)
            .bind(size)
            .bind(to_db(self.now()))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        };
        if let Err(error) = recorded.await {
            tracing::error!(sha256, %error, "cannot record a missing file");
        }
        self.damaged(sha256, Damage::Missing).await
    }
}
