-- Files as a shared part of the store (crates/tuki-store/src/files): one row
-- per content, named by its SHA-256, whose bytes are either in the data
-- folder of the node (location 'folder') or in blob_chunks (location
-- 'database'), so that every node serves and mails every file and a dump of
-- the database is a backup of the desk.

-- One streamed write of bytes into the database; its chunks are named by it
-- until a blob row points at it (an upload no row names is swept).
CREATE TABLE blob_uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at BIGINT NOT NULL
);

-- The bytes, 1 MiB a row: a large file streams in and out a chunk at a time.
CREATE TABLE blob_chunks (
    upload_id BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (upload_id, seq)
);

CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    location TEXT NOT NULL CHECK (location IN ('folder', 'database')),
    upload_id BIGINT,
    -- The last time an upload wrote or named these bytes: the sweep keeps an
    -- unreferenced blob for a grace period after it.
    touched_at BIGINT NOT NULL,
    -- When a read found the bytes missing or not matching their SHA-256
    -- (administrators are told at most once a day per file).
    damaged_at BIGINT
);
CREATE INDEX blobs_location ON blobs (location);
CREATE INDEX blobs_upload ON blobs (upload_id);
CREATE INDEX attachments_sha256 ON attachments (sha256);

-- Files written before this migration are in the data folder.
INSERT INTO blobs (sha256, size, location, touched_at)
SELECT sha256, MAX(size), 'folder', MAX(created_at) FROM attachments GROUP BY sha256;
