-- First start: one-time links that let the first administrator in through
-- the browser. `tuki serve` prints one while no administrator exists. Only
-- the SHA-256 of a token is stored. Using one link uses them all, and none
-- works once an administrator exists.
CREATE TABLE setup_links (
    token_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
