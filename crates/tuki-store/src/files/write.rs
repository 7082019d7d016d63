//! Writing blobs: streamed uploads from the pages ([`BlobUpload`]) and whole
//! files of mail in the caller's transaction ([`put_in`]).

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use tokio::io::AsyncWriteExt;

use super::{blob_path, delete_upload, Location, StoredBlob, CHUNK};
use crate::time::to_db;
use crate::{Result, Store, StoreError};

/// A file being written a chunk at a time as it arrives; see
/// [`Store::start_upload`]. Dropped without [`BlobUpload::finish`], it
/// leaves bytes no row names, which the sweep removes.
pub struct BlobUpload {
    store: Store,
    name: String,
    hasher: Sha256,
    size: u64,
    max: u64,
    quota_left: Option<u64>,
    sink: Sink,
}

enum Sink {
    Folder {
        file: tokio::io::BufWriter<tokio::fs::File>,
        tmp: PathBuf,
        root: PathBuf,
    },
    Database {
        upload_id: i64,
        seq: i64,
        buf: Vec<u8>,
    },
}

/// A temporary name under the files folder for bytes on their way in.
fn temp_path(root: &std::path::Path) -> PathBuf {
    root.join("tmp")
        .join(format!(".{}", crate::auth::sessions::random_token()))
}

impl Store {
    /// Starts writing a file named `name` (the name is only for messages)
    /// where the desk writes new files, within the per-file limit and the
    /// quota as they stand now.
    pub async fn start_upload(&self, name: &str) -> Result<BlobUpload> {
        let quota_left = self.quota_left().await?;
        if quota_left == Some(0) {
            return Err(StoreError::QuotaExceeded {
                quota: self.files.quota.unwrap_or(0),
            });
        }
        let mut upload = self.start_copy(self.files.write_to, name).await?;
        upload.max = self.files.file_max;
        upload.quota_left = quota_left;
        Ok(upload)
    }

    /// Starts writing bytes to `location` with no limit: a copy of a blob
    /// the desk has already (`tuki files migrate`).
    pub(crate) async fn start_copy(&self, location: Location, name: &str) -> Result<BlobUpload> {
        let sink = match location {
            Location::Folder => {
                let root = self.files.folder.clone().ok_or_else(|| {
                    StoreError::invalid("to", "files go to the data folder, but none is set")
                })?;
                let tmp = temp_path(&root);
                tokio::fs::create_dir_all(tmp.parent().expect("a temp path has a parent")).await?;
                let file = tokio::fs::File::create(&tmp).await?;
                Sink::Folder {
                    file: tokio::io::BufWriter::with_capacity(CHUNK, file),
                    tmp,
                    root,
                }
            }
            Location::Database => {
                let upload_id = new_upload(&self.write, to_db(self.now())).await?;
                Sink::Database {
                    upload_id,
                    seq: 0,
                    buf: Vec::with_capacity(CHUNK),
                }
            }
        };
        Ok(BlobUpload {
            store: self.clone(),
            name: name.to_string(),
            hasher: Sha256::new(),
            size: 0,
            max: u64::MAX,
            quota_left: None,
            sink,
        })
    }
}

impl BlobUpload {
    /// Adds bytes; refuses them once the file passes the per-file limit or
    /// the quota. After an error, [`BlobUpload::abort`] it.
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.size += data.len() as u64;
        if self.size > self.max {
            return Err(StoreError::TooLarge {
                name: self.name.clone(),
                max: self.max,
            });
        }
        if self.quota_left.is_some_and(|left| self.size > left) {
            return Err(StoreError::QuotaExceeded {
                quota: self.store.files.quota.unwrap_or(0),
            });
        }
        self.hasher.update(data);
        match &mut self.sink {
            Sink::Folder { file, .. } => file.write_all(data).await?,
            Sink::Database {
                upload_id,
                seq,
                buf,
            } => {
                buf.extend_from_slice(data);
                while buf.len() >= CHUNK {
                    let rest = buf.split_off(CHUNK);
                    let chunk = std::mem::replace(buf, rest);
                    insert_chunk(&self.store.write, *upload_id, *seq, chunk).await?;
                    *seq += 1;
                }
            }
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Ends the file: its blob row is written (or touched, when the same
    /// bytes are stored already) and the bytes put in place.
    pub async fn finish(self) -> Result<StoredBlob> {
        let (store, blob, placed) = self.seal().await?;
        let mut tx = store.begin_write().await?;
        let now = to_db(store.now());
        placed.settle(&mut tx, &blob, now).await?;
        tx.commit().await?;
        Ok(blob)
    }

    /// Ends the writing: the bytes are complete and durable but not yet a
    /// blob (no row names them).
    pub(crate) async fn seal(self) -> Result<(Store, StoredBlob, Placed)> {
        let blob = StoredBlob {
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size as i64,
        };
        let placed = match self.sink {
            Sink::Folder {
                mut file,
                tmp,
                root,
            } => {
                file.flush().await?;
                file.get_mut().sync_all().await?;
                Placed::Folder { tmp, root }
            }
            Sink::Database {
                upload_id,
                seq,
                buf,
            } => {
                if !buf.is_empty() {
                    insert_chunk(&self.store.write, upload_id, seq, buf).await?;
                }
                Placed::Database { upload_id }
            }
        };
        Ok((self.store, blob, placed))
    }

    /// Throws the bytes written so far away (what this misses, the sweep
    /// removes).
    pub async fn abort(self) {
        match self.sink {
            Sink::Folder { file, tmp, .. } => {
                drop(file);
                let _ = tokio::fs::remove_file(&tmp).await;
            }
            Sink::Database { upload_id, .. } => {
                let gone = async {
                    let mut tx = self.store.begin_write().await?;
                    delete_upload(&mut tx, upload_id).await?;
                    tx.commit().await?;
                    Ok::<(), StoreError>(())
                };
                if let Err(error) = gone.await {
                    tracing::warn!(upload_id, %error, "cannot remove an aborted upload; the sweep will");
                }
            }
        }
    }
}

/// Sealed bytes not yet named by a blob row.
pub(crate) enum Placed {
    Folder { tmp: PathBuf, root: PathBuf },
    Database { upload_id: i64 },
}

impl Placed {
    pub(crate) fn location(&self) -> Location {
        match self {
            Placed::Folder { .. } => Location::Folder,
            Placed::Database { .. } => Location::Database,
        }
    }

    pub(crate) fn upload_id(&self) -> Option<i64> {
        match self {
            Placed::Folder { .. } => None,
            Placed::Database { upload_id } => Some(*upload_id),
        }
    }

    /// Where the sealed bytes can be read back from.
    pub(crate) fn path(&self) -> Option<&std::path::Path> {
        match self {
            Placed::Folder { tmp, .. } => Some(tmp),
            Placed::Database { .. } => None,
        }
    }

    /// Puts folder bytes under their name (database bytes are in place
    /// once their row names them). Called inside the transaction that
    /// wrote the row, before its commit.
    pub(crate) async fn put_in_place(&self, sha256: &str) -> Result<()> {
        if let Placed::Folder { tmp, root } = self {
            let path = blob_path(root, sha256);
            tokio::fs::create_dir_all(path.parent().expect("blob paths have a parent")).await?;
            tokio::fs::rename(tmp, &path).await?;
        }
        Ok(())
    }

    /// Makes the sealed bytes the blob `blob`, in the caller's transaction:
    /// its row written or touched, then the bytes put in place, or thrown
    /// away when the same content is stored already.
    async fn settle(&self, conn: &mut AnyConnection, blob: &StoredBlob, now: i64) -> Result<()> {
        let location = self.location();
        if register(
            conn,
            &blob.sha256,
            blob.size,
            location,
            self.upload_id(),
            now,
        )
        .await?
        {
            self.put_in_place(&blob.sha256).await
        } else {
            self.discard(conn).await
        }
    }

    /// Throws the bytes away (the same content is stored already).
    pub(crate) async fn discard(&self, conn: &mut AnyConnection) -> Result<()> {
        match self {
            Placed::Folder { tmp, .. } => {
                let _ = tokio::fs::remove_file(tmp).await;
            }
            Placed::Database { upload_id } => delete_upload(conn, *upload_id).await?,
        }
        Ok(())
    }
}

/// Starts a database upload: the id its chunks are written under.
async fn new_upload<'c>(db: impl sqlx::AnyExecutor<'c>, now: i64) -> Result<i64> {
    Ok(
        sqlx::query("INSERT INTO blob_uploads (started_at) VALUES ($1) RETURNING id")
            .bind(now)
            .fetch_one(db)
            .await?
            .try_get("id")?,
    )
}

async fn insert_chunk<'c>(
    db: impl sqlx::AnyExecutor<'c>,
    upload_id: i64,
    seq: i64,
    data: Vec<u8>,
) -> Result<()> {
    sqlx::query("INSERT INTO blob_chunks (upload_id, seq, data) VALUES ($1, $2, $3)")
        .bind(upload_id)
        .bind(seq)
        .bind(data)
        .execute(db)
        .await?;
    Ok(())
}

/// Writes or touches the row of a blob whose bytes were just written to
/// `location` (`upload_id` for the database), in the caller's transaction.
/// Returns whether those bytes are the blob's now: false when the same
/// content was stored already (the caller throws its copy away); true for a
/// new blob, and for one whose stored bytes were found damaged, which the
/// new copy heals.
pub(crate) async fn register(
    conn: &mut AnyConnection,
    sha256: &str,
    size: i64,
    location: Location,
    upload_id: Option<i64>,
    now: i64,
) -> Result<bool> {
    let row = sqlx::query(
        "INSERT INTO blobs (sha256, size, location, upload_id, touched_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (sha256) DO UPDATE SET touched_at = excluded.touched_at \
         RETURNING location, upload_id, damaged_at",
    )
    .bind(sha256)
    .bind(size)
    .bind(location.as_str())
    .bind(upload_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let was: String = row.try_get("location")?;
    let was_upload: Option<i64> = row.try_get("upload_id")?;
    let damaged: Option<i64> = row.try_get("damaged_at")?;
    let same = was == location.as_str() && was_upload == upload_id;
    if same && damaged.is_none() {
        return Ok(true);
    }
    if damaged.is_none() {
        return Ok(false);
    }
    // The stored copy was found damaged: this one takes its place.
    sqlx::query(
        "UPDATE blobs SET location = $1, upload_id = $2, size = $3, damaged_at = NULL WHERE sha256 = $4",
    )
    .bind(location.as_str())
    .bind(upload_id)
    .bind(size)
    .bind(sha256)
    .execute(&mut *conn)
    .await?;
    if let Some(old) = was_upload.filter(|old| Some(*old) != upload_id) {
        delete_upload(conn, old).await?;
    }
    Ok(true)
}

impl Store {
    /// Stores whole bytes (a file of a mail, already in memory) where the
    /// desk writes new files, in the caller's transaction: a mail's article
    /// and its files commit together. No per-file limit or quota applies:
    /// mail is never refused for its files (its size is limited at intake).
    pub(crate) async fn put_in(
        &self,
        conn: &mut AnyConnection,
        bytes: &[u8],
    ) -> Result<StoredBlob> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let size = bytes.len() as i64;
        let now = to_db(self.now());
        let known = sqlx::query(
            "UPDATE blobs SET touched_at = $1 WHERE sha256 = $2 AND damaged_at IS NULL RETURNING sha256",
        )
        .bind(now)
        .bind(&sha256)
        .fetch_optional(&mut *conn)
        .await?;
        if known.is_some() {
            return Ok(StoredBlob { sha256, size });
        }
        let placed = match self.files.write_to {
            Location::Folder => {
                let root = self
                    .files
                    .folder
                    .clone()
                    .expect("a checked FilesConfig writing to the folder has one");
                let tmp = temp_path(&root);
                std::fs::create_dir_all(tmp.parent().expect("a temp path has a parent"))?;
                std::fs::write(&tmp, bytes)?;
                Placed::Folder { tmp, root }
            }
            Location::Database => {
                let upload_id = new_upload(&mut *conn, now).await?;
                for (seq, chunk) in bytes.chunks(CHUNK).enumerate() {
                    insert_chunk(&mut *conn, upload_id, seq as i64, chunk.to_vec()).await?;
                }
                Placed::Database { upload_id }
            }
        };
        let blob = StoredBlob { sha256, size };
        placed.settle(conn, &blob, now).await?;
        Ok(blob)
    }

    /// [`Store::put_in`] in a transaction of its own: tools and tests that
    /// have bytes at hand.
    pub async fn put_blob(&self, bytes: &[u8]) -> Result<StoredBlob> {
        let mut tx = self.begin_write().await?;
        let stored = self.put_in(&mut tx, bytes).await?;
        tx.commit().await?;
        Ok(stored)
    }
}
