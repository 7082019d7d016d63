-- Email out: every message Tuki sends is first a row here, written in the
-- same transaction as the change that caused it (a reply, a new request, an
-- SLA notification). A sender task claims due rows, sends them over SMTP and
-- marks them sent; a failure moves next_attempt_at back with exponential
-- backoff, so nothing is lost while the mail server is down.

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    -- ack, reply, resolved, new_ticket, customer_reply, sla_* ...
    kind TEXT NOT NULL,
    ticket_id BIGINT REFERENCES tickets (id),
    -- The user it is for, when it is for a user (preferences, language).
    user_id BIGINT REFERENCES users (id),
    recipient TEXT NOT NULL,
    -- The From address; NULL means the configured default (TUKI_MAIL_FROM).
    sender TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    in_reply_to TEXT,
    -- Space-separated Message-IDs, oldest first.
    refs TEXT NOT NULL DEFAULT '',
    -- Extra headers as a JSON object (Auto-Submitted and the like).
    headers TEXT NOT NULL DEFAULT '{}',
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL DEFAULT 25,
    next_attempt_at BIGINT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    last_error TEXT,
    sent_at BIGINT,
    failed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (sent_at, failed_at, next_attempt_at);
CREATE INDEX outbox_ticket ON outbox (ticket_id, id);

-- Kinds of mail a user has turned off; a missing row means on.
CREATE TABLE notification_prefs (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- The message being ingested is 'pending' only inside its transaction; the
-- outbox asks for it to answer it (or not, if a robot sent it).
CREATE INDEX mail_messages_pending ON mail_messages (outcome) WHERE outcome = 'pending';
