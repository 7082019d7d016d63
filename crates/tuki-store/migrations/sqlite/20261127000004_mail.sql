-- The mail channel: mailboxes, every Message-ID Tuki received (so none is
-- imported twice, across restarts and nodes: the primary key decides), the
-- raw source of each message, a quarantine for what could not be parsed,
-- and addresses flagged by bounces.

CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- Tuki's own address for this mailbox; mail from it is a loop.
    address TEXT NOT NULL UNIQUE,
    group_id BIGINT REFERENCES support_groups (id),
    last_fetch_at BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    -- Set at the first failure after a success, cleared by the next success;
    -- admins are told when it is older than the configured limit.
    failing_since BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE mail_raw (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    raw BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE mail_messages (
    message_id TEXT PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    mailbox_id BIGINT REFERENCES mailboxes (id),
    sender TEXT,
    ticket_id BIGINT REFERENCES tickets (id),
    article_id BIGINT REFERENCES articles (id),
    raw_id BIGINT REFERENCES mail_raw (id),
    -- human, auto_reply, auto_generated, bulk, list, bounce
    classification TEXT NOT NULL,
    auto_answer_allowed INTEGER NOT NULL,
    reasons TEXT NOT NULL DEFAULT '',
    -- ticket, article, bounce, throttled, loop
    outcome TEXT NOT NULL,
    threaded_by TEXT,
    received_at BIGINT NOT NULL
);
CREATE INDEX mail_messages_ticket ON mail_messages (ticket_id);
CREATE INDEX mail_messages_sender ON mail_messages (sender, received_at);

CREATE TABLE mail_quarantine (
    id INTEGER PRIMARY KEY,
    mailbox_id BIGINT REFERENCES mailboxes (id),
    raw BLOB NOT NULL,
    error TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    last_attempt_at BIGINT NOT NULL,
    released_at BIGINT
);
CREATE INDEX mail_quarantine_open ON mail_quarantine (released_at, id);

CREATE TABLE mail_address_flags (
    address TEXT PRIMARY KEY,
    status TEXT,
    bounces BIGINT NOT NULL,
    last_ticket_id BIGINT REFERENCES tickets (id),
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL
);
