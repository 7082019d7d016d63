-- Files and images of knowledge articles: blobs of the one blob store
-- (tuki_store::files), named by SHA-256 like ticket attachments; the sweep
-- keeps every blob a row here names.
CREATE TABLE kb_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id BIGINT NOT NULL REFERENCES kb_articles (id),
    sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX kb_files_article ON kb_files (article_id);
CREATE INDEX kb_files_sha256 ON kb_files (sha256);
