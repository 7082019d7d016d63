//! Files behind one interface, in the data folder or in the database: bytes
//! stream in and out whole, limits and the quota hold, `tuki files migrate`
//! moves them both ways with every checksum compared, the sweep removes
//! what no article names and keeps what one does, and damaged bytes are
//! refused and reported, never served.

use std::path::Path;

use jiff::SignedDuration;
use sha2::{Digest, Sha256};
use tuki_store::attachments::NewAttachment;
use tuki_store::files::{blob_path, Damage, FilesConfig, Location, StoredBlob, CHUNK};
use tuki_store::testing::{Desk, TestDb};
use tuki_store::tickets::articles::NewArticle;
use tuki_store::{Store, StoreError};

/// The store keeping new files at `to`, with the folder `dir` either way.
fn keeping(store: &Store, to: Location, dir: &Path, grace: SignedDuration) -> Store {
    store
        .clone()
        .with_files(FilesConfig {
            folder: Some(dir.to_path_buf()),
            write_to: to,
            grace,
            ..FilesConfig::default()
        })
        .unwrap()
}

/// `len` bytes that differ with `seed` and never repeat a chunk.
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Uploads `data` as the pages do: 64 KiB at a time.
async fn upload(store: &Store, data: &[u8]) -> Result<StoredBlob, StoreError> {
    let mut up = store.start_upload("file.bin").await?;
    for piece in data.chunks(64 * 1024) {
        if let Err(e) = up.write(piece).await {
            up.abort().await;
            return Err(e);
        }
    }
    up.finish().await
}

async fn streamed(store: &Store, sha256: &str) -> Vec<u8> {
    use futures_util::StreamExt;
    let (size, mut stream) = store.open_blob(sha256).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(out.len() as i64, size);
    out
}

/// The blob files under a files folder (not temporary ones).
fn blob_files(dir: &Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(dir) else {
        return 0;
    };
    dirs.flatten()
        .filter(|d| d.file_name().len() == 2)
        .map(|d| std::fs::read_dir(d.path()).unwrap().count())
        .sum()
}

async fn files_stream_in_and_out_on_both_backends(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    for (seed, to) in [(1, Location::Folder), (2, Location::Database)] {
        let store = keeping(&db.store, to, dir.path(), SignedDuration::from_hours(24));
        let before = store.file_usage().await.unwrap();
        // Three chunks and a bit: several rows in the database.
        let big = bytes(2 * CHUNK + 12_345, seed);
        let blob = upload(&store, &big).await.unwrap();
        assert_eq!(blob.sha256, sha(&big));
        assert_eq!(blob.size, big.len() as i64);
        // The same bytes again are the same blob, stored once.
        assert_eq!(upload(&store, &big).await.unwrap(), blob);
        assert_eq!(store.put_blob(&big).await.unwrap(), blob);
        let after = store.file_usage().await.unwrap();
        assert_eq!(after.blobs, before.blobs + 1, "{to:?}");
        assert_eq!(after.bytes, before.bytes + big.len() as i64);
        assert_eq!(store.read_blob(&blob.sha256).await.unwrap(), big);
        assert_eq!(streamed(&store, &blob.sha256).await, big);
        // An empty file is a file too.
        let empty = upload(&store, b"").await.unwrap();
        assert_eq!(store.read_blob(&empty.sha256).await.unwrap(), b"");
    }
    assert_eq!(blob_files(dir.path()), 2, "the folder's two blobs");
}

async fn the_file_limit_and_the_quota_hold(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    for (seed, to) in [(10, Location::Folder), (20, Location::Database)] {
        let used = db.store.file_usage().await.unwrap().bytes as u64;
        let store = db
            .store
            .clone()
            .with_files(FilesConfig {
                folder: Some(dir.path().to_path_buf()),
                write_to: to,
                file_max: 1_000,
                quota: Some(used + 1_500),
                ..FilesConfig::default()
            })
            .unwrap();
        match upload(&store, &bytes(1_001, seed)).await.unwrap_err() {
            StoreError::TooLarge { name, max } => {
                assert_eq!((name.as_str(), max), ("file.bin", 1_000))
            }
            e => panic!("{e:?}"),
        }
        upload(&store, &bytes(1_000, seed)).await.unwrap();
        match upload(&store, &bytes(1_000, seed + 1)).await.unwrap_err() {
            StoreError::QuotaExceeded { quota } => assert_eq!(quota, used + 1_500),
            e => panic!("{e:?}"),
        }
        // Mail is never refused for its files: it counts, but it goes in.
        store.put_blob(&bytes(1_000, seed + 2)).await.unwrap();
        assert!(matches!(
            store.start_upload("more.bin").await.err(),
            Some(StoreError::QuotaExceeded { .. })
        ));
    }
    // Nothing of the refused uploads is left waiting in a temporary file.
    let tmp = dir.path().join("tmp");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
}

async fn files_move_between_the_folder_and_the_database(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let hours = SignedDuration::from_hours(24);
    let folder = keeping(&db.store, Location::Folder, dir.path(), hours);
    let mut kept = Vec::new();
    for seed in 0..5u8 {
        let len = if seed == 0 {
            CHUNK * 2 + 7
        } else {
            1_000 * seed as usize
        };
        let data = bytes(len, seed);
        kept.push((folder.put_blob(&data).await.unwrap().sha256, data));
    }
    assert_eq!(blob_files(dir.path()), 5);

    let mut seen = Vec::new();
    let done = folder
        .move_files(Location::Database, |p| seen.push(p.clone()))
        .await
        .unwrap();
    assert_eq!((done.total, done.moved, done.damaged), (5, 5, 0));
    assert_eq!(seen.first().unwrap().moved, 0);
    assert_eq!(seen.last().unwrap().moved_bytes, done.total_bytes);
    assert_eq!(blob_files(dir.path()), 0, "the originals are gone");
    let usage = folder.file_usage().await.unwrap();
    assert_eq!((usage.in_folder, usage.in_database), (0, 5));
    for (sha256, data) in &kept {
        assert_eq!(&folder.read_blob(sha256).await.unwrap(), data);
        assert_eq!(&sha(data), sha256);
    }
    // Run again: nothing is left to move.
    assert_eq!(
        folder
            .move_files(Location::Database, |_| {})
            .await
            .unwrap()
            .moved,
        0
    );

    // And back, from a desk that writes to the database.
    let database = keeping(&db.store, Location::Database, dir.path(), hours);
    let done = database.move_files(Location::Folder, |_| {}).await.unwrap();
    assert_eq!(done.moved, 5);
    assert_eq!(blob_files(dir.path()), 5);
    for (sha256, data) in &kept {
        let on_disk = std::fs::read(blob_path(dir.path(), sha256)).unwrap();
        assert_eq!(&sha(&on_disk), sha256);
        assert_eq!(&database.read_blob(sha256).await.unwrap(), data);
    }
    // No chunk is left in the database.
    assert_eq!(
        db.store
            .execute_raw_for_tests("DELETE FROM blob_chunks")
            .await
            .unwrap(),
        0
    );
}

/// A ticket whose first article lists `blob`.
async fn ticket_with(desk: &Desk, store: &Store, blob: &StoredBlob) -> i64 {
    let t = desk.ticket_for(&desk.alice, "Label photo").await;
    store
        .add_article_with_files(
            &desk.alice,
            t.id,
            NewArticle {
                kind: None,
                body: "The label.".into(),
                internal: None,
            },
            vec![NewAttachment {
                sha256: blob.sha256.clone(),
                size: blob.size,
                content_type: "image/png".into(),
                file_name: "label.png".into(),
            }],
        )
        .await
        .unwrap();
    t.id
}

async fn the_sweep_removes_orphans_and_keeps_what_articles_name(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    for (seed, to) in [(40, Location::Folder), (50, Location::Database)] {
        // Within the grace period nothing goes.
        let patient = keeping(&db.store, to, dir.path(), SignedDuration::from_hours(24));
        let orphan = patient.put_blob(&bytes(3_000, seed)).await.unwrap();
        assert_eq!(patient.sweep_files().await.unwrap().blobs, 0);

        let store = keeping(&db.store, to, dir.path(), SignedDuration::ZERO);
        let named = store.put_blob(&bytes(CHUNK + 5, seed + 1)).await.unwrap();
        ticket_with(&desk, &store, &named).await;
        // An upload that never finished (its request was cut off).
        let mut cut = store.start_upload("cut.bin").await.unwrap();
        cut.write(&bytes(CHUNK + 10, seed + 2)).await.unwrap();
        drop(cut);
        // A dropped file finishes its pending writes in the background, and
        // a file touched after the sweep's cutoff is rightly kept: let
        // them land first.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        // A file in the folder no row names (a write that was rolled back).
        let stray = bytes(100, seed + 3);
        let stray_path = blob_path(dir.path(), &sha(&stray));
        std::fs::create_dir_all(stray_path.parent().unwrap()).unwrap();
        std::fs::write(&stray_path, &stray).unwrap();

        let swept = store.sweep_files().await.unwrap();
        assert_eq!(swept.blobs, 1, "{to:?}: {swept:?}");
        assert_eq!(swept.bytes, 3_000);
        match to {
            // The cut upload's temporary file and the stray file.
            Location::Folder => assert_eq!((swept.uploads, swept.folder_files), (0, 2)),
            Location::Database => assert_eq!((swept.uploads, swept.folder_files), (1, 1)),
        }
        assert!(!stray_path.exists());
        assert!(matches!(
            store.read_blob(&orphan.sha256).await.unwrap_err(),
            StoreError::FileUnavailable {
                damage: Damage::Missing,
                ..
            }
        ));
        assert_eq!(
            store.read_blob(&named.sha256).await.unwrap(),
            bytes(CHUNK + 5, seed + 1)
        );
        // The orphan's bytes are gone from where they were.
        assert!(!blob_path(dir.path(), &orphan.sha256).exists());
        // A second sweep finds nothing.
        assert_eq!(store.sweep_files().await.unwrap(), Default::default());
        // An orphan uploaded again is a blob again (named by an article,
        // so that the next round's sweep keeps it).
        let again = store.put_blob(&bytes(3_000, seed)).await.unwrap();
        ticket_with(&desk, &store, &again).await;
        assert_eq!(store.read_blob(&again.sha256).await.unwrap().len(), 3_000);
    }
}

/// Replaces the bytes of a blob in the database with others of the same
/// length: the second chunk's bytes for the first's.
async fn corrupt_in_database(store: &Store, sha256: &str) {
    let changed = store
        .execute_raw_for_tests(&format!(
            "UPDATE blob_chunks SET data = (SELECT c.data FROM blob_chunks c \
             WHERE c.upload_id = blob_chunks.upload_id AND c.seq = 1) \
             WHERE seq = 0 AND upload_id = (SELECT upload_id FROM blobs WHERE sha256 = '{sha256}')"
        ))
        .await
        .unwrap();
    assert_eq!(changed, 1);
}

async fn damaged_files_are_refused_and_reported(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let notices = |ticket: i64| {
        let store = db.store.clone();
        let admin = desk.admin.clone();
        async move {
            store
                .notifications_for_ticket(&admin, ticket)
                .await
                .unwrap()
                .into_iter()
                .filter(|n| n.kind == "file_damaged")
                .collect::<Vec<_>>()
        }
    };
    let hours = SignedDuration::from_hours(24);

    // In the folder: other bytes under the name.
    let store = keeping(&db.store, Location::Folder, dir.path(), hours);
    let photo = bytes(5_000, 60);
    let blob = store.put_blob(&photo).await.unwrap();
    let ticket = ticket_with(&desk, &store, &blob).await;
    std::fs::write(blob_path(dir.path(), &blob.sha256), bytes(5_000, 61)).unwrap();
    for _ in 0..2 {
        assert!(matches!(
            store.read_blob(&blob.sha256).await.unwrap_err(),
            StoreError::FileUnavailable {
                damage: Damage::Corrupt,
                ..
            }
        ));
        assert!(store.open_blob(&blob.sha256).await.is_err());
    }
    let told = notices(ticket).await;
    assert_eq!(told.len(), 1, "told once, not at every read: {told:?}");
    assert_eq!(told[0].user_id, desk.admin.user_id.unwrap());
    assert!(told[0].message.contains("label.png") && told[0].message.contains("corrupt"));
    assert_eq!(store.file_usage().await.unwrap().damaged, 1);
    // The same content uploaded again heals it.
    upload(&store, &photo).await.unwrap();
    assert_eq!(store.read_blob(&blob.sha256).await.unwrap(), photo);
    assert_eq!(store.file_usage().await.unwrap().damaged, 0);
    // Gone from the disk: missing.
    std::fs::remove_file(blob_path(dir.path(), &blob.sha256)).unwrap();
    assert!(matches!(
        store.read_blob(&blob.sha256).await.unwrap_err(),
        StoreError::FileUnavailable {
            damage: Damage::Missing,
            ..
        }
    ));

    // In the database: chunks swapped, then gone.
    let store = keeping(&db.store, Location::Database, dir.path(), hours);
    let manual = bytes(2 * CHUNK, 70);
    let blob = store.put_blob(&manual).await.unwrap();
    let ticket = ticket_with(&desk, &store, &blob).await;
    corrupt_in_database(&store, &blob.sha256).await;
    assert!(matches!(
        store.open_blob(&blob.sha256).await.err(),
        Some(StoreError::FileUnavailable {
            damage: Damage::Corrupt,
            ..
        })
    ));
    assert_eq!(notices(ticket).await.len(), 1);
    // A damaged blob is not moved (nor its wrong bytes copied).
    let moved = store.move_files(Location::Folder, |_| {}).await.unwrap();
    assert_eq!(moved.moved, 0);
    assert!(!blob_path(dir.path(), &blob.sha256).exists());
    store
        .execute_raw_for_tests("DELETE FROM blob_chunks")
        .await
        .unwrap();
    upload(&store, &manual).await.unwrap();
    assert_eq!(store.read_blob(&blob.sha256).await.unwrap(), manual);
}

tuki_store::on_both_engines!(
    files_stream_in_and_out_on_both_backends,
    the_file_limit_and_the_quota_hold,
    files_move_between_the_folder_and_the_database,
    the_sweep_removes_orphans_and_keeps_what_articles_name,
    damaged_files_are_refused_and_reported,
);
