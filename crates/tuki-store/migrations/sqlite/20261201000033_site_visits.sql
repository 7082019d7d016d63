-- Site visits (tuki_store::visits): a technician's visit for a ticket, and
-- each technician's secret calendar feed (only its SHA-256 is kept).
CREATE TABLE site_visits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    technician_id BIGINT NOT NULL REFERENCES users (id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    address TEXT NOT NULL,
    -- What to bring: parts, tools.
    bring TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('planned', 'done', 'cancelled')),
    -- Changes with every edit, so calendars update their copy (SEQUENCE).
    sequence BIGINT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX site_visits_technician ON site_visits (technician_id, starts_at);
CREATE INDEX site_visits_ticket ON site_visits (ticket_id);

CREATE TABLE calendar_feeds (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
