-- Service levels on SQLite: business calendars, SLA policies, the clocks of
-- each ticket and their append-only events, escalation rules and the
-- notifications they leave, background jobs, and tier metrics.

CREATE TABLE business_calendars (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- A tuki_domain::sla::CalendarDefinition as JSON, validated on write.
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sla_policies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- Policies are asked in position order (then id); the first match wins.
    position BIGINT NOT NULL,
    -- Conditions, all optional: priorities as a comma-separated list.
    priorities TEXT NOT NULL DEFAULT '',
    organisation_id BIGINT REFERENCES organisations (id),
    category TEXT,
    channel TEXT,
    calendar_id BIGINT NOT NULL REFERENCES business_calendars (id),
    first_response_minutes BIGINT,
    next_response_minutes BIGINT,
    resolution_minutes BIGINT,
    warn_percent BIGINT NOT NULL DEFAULT 80 CHECK (warn_percent BETWEEN 0 AND 100),
    active INTEGER NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

ALTER TABLE tickets ADD COLUMN sla_policy_id BIGINT REFERENCES sla_policies (id);
ALTER TABLE tickets ADD COLUMN sla_state TEXT;
ALTER TABLE tickets ADD COLUMN first_response_due_at BIGINT;
ALTER TABLE tickets ADD COLUMN next_response_due_at BIGINT;
ALTER TABLE tickets ADD COLUMN resolution_due_at BIGINT;
-- The earliest due time of a clock still running (or overdue and open), for
-- the "at risk" queue; the largest BIGINT when none, so it sorts last and
-- pages with an exact cursor.
ALTER TABLE tickets ADD COLUMN sla_due_at BIGINT NOT NULL DEFAULT 9223372036854775807;
CREATE INDEX tickets_sla_due ON tickets (active, sla_due_at, id);
CREATE INDEX tickets_sla_state ON tickets (sla_state, sla_due_at, id);

ALTER TABLE support_groups ADD COLUMN supervisor_id BIGINT REFERENCES users (id);

-- The clocks of a ticket, one per kind; `clock` is a tuki_domain SlaClock as
-- JSON. `state`, `due_at` and `warn_at` are what the last evaluation found.
CREATE TABLE sla_clocks (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL CHECK (kind IN ('first_response', 'next_response', 'resolution')),
    clock TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'warned', 'breached', 'met')),
    due_at BIGINT,
    warn_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, kind)
);

-- Append-only: every start, pause, resume, warning, breach and fulfilment.
CREATE TABLE sla_events (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL CHECK (kind IN ('first_response', 'next_response', 'resolution')),
    event TEXT NOT NULL CHECK (event IN ('started', 'paused', 'resumed', 'warned', 'breached', 'met')),
    at BIGINT NOT NULL,
    due_at BIGINT
);
CREATE INDEX sla_events_ticket ON sla_events (ticket_id, id);
CREATE TRIGGER sla_events_no_update BEFORE UPDATE ON sla_events
BEGIN SELECT RAISE(ABORT, 'SLA events are append-only'); END;
CREATE TRIGGER sla_events_no_delete BEFORE DELETE ON sla_events
BEGIN SELECT RAISE(ABORT, 'SLA events are append-only'); END;

CREATE TABLE escalation_rules (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    position BIGINT NOT NULL DEFAULT 0,
    -- NULL: any policy / any kind of target.
    policy_id BIGINT REFERENCES sla_policies (id),
    sla_kind TEXT CHECK (sla_kind IN ('first_response', 'next_response', 'resolution')),
    fires_on TEXT NOT NULL CHECK (fires_on IN ('warning', 'breach')),
    action TEXT NOT NULL CHECK (action IN ('notify_owner', 'notify_group', 'notify_supervisor',
        'notify_user', 'raise_priority', 'transfer_next_tier')),
    -- notify_user: whom; transfer_next_tier: to which group (default: the
    -- first group of the next tier).
    user_id BIGINT REFERENCES users (id),
    group_id BIGINT REFERENCES support_groups (id),
    active INTEGER NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Messages for people, left for the mail channel to deliver.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    ticket_id BIGINT REFERENCES tickets (id),
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX notifications_undelivered ON notifications (delivered_at, id);
CREATE INDEX notifications_ticket ON notifications (ticket_id, id);

-- Work for later, claimed by one runner at a time.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- Jobs of one key (an SLA check of one ticket) are kept to one pending row.
    dedupe_key TEXT,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL DEFAULT 10,
    last_error TEXT,
    locked_by TEXT,
    locked_until BIGINT,
    done_at BIGINT,
    failed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE done_at IS NULL AND failed_at IS NULL;
CREATE INDEX jobs_dedupe ON jobs (dedupe_key) WHERE done_at IS NULL AND failed_at IS NULL;

-- Written when a ticket is resolved (again on a later resolution).
CREATE TABLE ticket_tier_metrics (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    resolved_at BIGINT NOT NULL,
    resolved_in_tier BIGINT,
    first_contact_resolution INTEGER NOT NULL,
    transfers BIGINT NOT NULL,
    tier1_seconds BIGINT NOT NULL,
    tier2_seconds BIGINT NOT NULL,
    tier3_seconds BIGINT NOT NULL
);
