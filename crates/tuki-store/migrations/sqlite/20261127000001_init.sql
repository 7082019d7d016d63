-- Tuki's schema on SQLite. Timestamps are microseconds since the Unix epoch
-- (UTC) in BIGINT columns on both engines, so that the query layer is shared.
-- Columns read as booleans are declared INTEGER so both engines hand them back
-- as booleans.

CREATE TABLE organisations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_folded TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('customer', 'internal')),
    shares_tickets INTEGER NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX organisations_name ON organisations (name);

CREATE TABLE organisation_domains (
    domain TEXT PRIMARY KEY,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE
);
CREATE INDEX organisation_domains_org ON organisation_domains (organisation_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_folded TEXT NOT NULL,
    phone TEXT,
    role TEXT NOT NULL CHECK (role IN ('admin', 'agent', 'customer')),
    language TEXT NOT NULL CHECK (language IN ('fi', 'en')),
    organisation_id BIGINT REFERENCES organisations (id),
    password_hash TEXT,
    active INTEGER NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_phone ON users (phone);
CREATE INDEX users_organisation ON users (organisation_id);

CREATE TABLE support_groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    tier BIGINT NOT NULL CHECK (tier BETWEEN 1 AND 3),
    form TEXT NOT NULL CHECK (form IN ('central', 'virtual', 'local')),
    description TEXT NOT NULL DEFAULT '',
    is_intake INTEGER NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES support_groups (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('ticket_number', 0);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    number BIGINT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    subject_folded TEXT NOT NULL,
    requester_id BIGINT NOT NULL REFERENCES users (id),
    organisation_id BIGINT REFERENCES organisations (id),
    channel TEXT NOT NULL,
    category TEXT,
    priority BIGINT NOT NULL CHECK (priority BETWEEN 1 AND 4),
    state TEXT NOT NULL,
    active INTEGER NOT NULL,
    group_id BIGINT REFERENCES support_groups (id),
    owner_id BIGINT REFERENCES users (id),
    merged_into_id BIGINT REFERENCES tickets (id),
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    closed_at BIGINT
);
-- Queues: a group's active tickets newest first, or by priority.
CREATE INDEX tickets_group_queue ON tickets (group_id, active, id);
CREATE INDEX tickets_group_priority ON tickets (group_id, active, priority, id);
CREATE INDEX tickets_owner ON tickets (owner_id, active, id);
CREATE INDEX tickets_requester ON tickets (requester_id, id);
CREATE INDEX tickets_organisation ON tickets (organisation_id, id);
CREATE INDEX tickets_state ON tickets (state, id);
CREATE INDEX tickets_active ON tickets (active, id);

CREATE TABLE ticket_followers (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX ticket_followers_user ON ticket_followers (user_id, ticket_id);

CREATE TABLE ticket_tags (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_tag ON ticket_tags (tag, ticket_id);

CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'note', 'phone')),
    internal INTEGER NOT NULL,
    author_id BIGINT REFERENCES users (id),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX articles_ticket ON articles (ticket_id, id);

CREATE TABLE ticket_links (
    id INTEGER PRIMARY KEY,
    source_id BIGINT NOT NULL REFERENCES tickets (id),
    target_id BIGINT NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL CHECK (kind IN ('related', 'parent')),
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    UNIQUE (source_id, target_id, kind)
);
CREATE INDEX ticket_links_target ON ticket_links (target_id);

-- Append-only: every change of a ticket, never updated or deleted.
CREATE TABLE ticket_history (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    actor_id BIGINT REFERENCES users (id),
    at BIGINT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    reason TEXT
);
CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, id);
CREATE TRIGGER ticket_history_no_update BEFORE UPDATE ON ticket_history
BEGIN SELECT RAISE(ABORT, 'ticket history is append-only'); END;
CREATE TRIGGER ticket_history_no_delete BEFORE DELETE ON ticket_history
BEGIN SELECT RAISE(ABORT, 'ticket history is append-only'); END;

-- One row per move between groups, for tier metrics (escalation rates,
-- time in tier, first-contact resolution).
CREATE TABLE ticket_transfers (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    from_group_id BIGINT REFERENCES support_groups (id),
    to_group_id BIGINT NOT NULL REFERENCES support_groups (id),
    from_tier BIGINT,
    to_tier BIGINT NOT NULL,
    reason TEXT NOT NULL,
    actor_id BIGINT REFERENCES users (id),
    at BIGINT NOT NULL
);
CREATE INDEX ticket_transfers_ticket ON ticket_transfers (ticket_id, id);
