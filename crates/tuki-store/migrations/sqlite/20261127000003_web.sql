-- The web pages: sign-in sessions, invitations, login attempts (rate limit),
-- attachments and satisfaction ratings. Kept in the database so that several
-- `tuki serve` processes share them.

-- Only the SHA-256 of a session token is stored; the token lives in the cookie.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- Single-use, expiring links to choose a password (new users, resets).
CREATE TABLE invitations (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX invitations_user ON invitations (user_id);

-- Failed sign-ins, keyed by "email:…" and "ip:…", for rate limiting.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);

-- Files of articles; the bytes are on disk under DATA_DIR/attachments,
-- named by their SHA-256.
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    article_id BIGINT NOT NULL REFERENCES articles (id),
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    file_name TEXT NOT NULL,
    uploaded_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_article ON attachments (article_id);
CREATE INDEX attachments_ticket ON attachments (ticket_id);

-- The customer's rating of the help, once per ticket (a new one replaces it).
CREATE TABLE ticket_ratings (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    score BIGINT NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Console queues: unassigned and pending counts without scanning.
CREATE INDEX tickets_active_owner ON tickets (active, owner_id, id);
