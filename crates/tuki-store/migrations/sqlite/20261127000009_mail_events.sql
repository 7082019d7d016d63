-- Ticket events that mail follows from. The ticket's transaction writes one
-- row here (cheap, whatever the number of recipients); the mail sender turns
-- each row into outbox mail in a transaction of its own and marks it done.
-- A committed change therefore cannot lose its mail, and a busy desk does not
-- pay for every agent's notice inside the request that caused it.
CREATE TABLE mail_events (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL CHECK (kind IN ('created', 'staff_response', 'customer_reply', 'resolved')),
    actor_id BIGINT REFERENCES users (id),
    -- The ticket's newest article when the event happened: the text the mail quotes.
    article_id BIGINT REFERENCES articles (id),
    -- The inbound message being ingested, when mail caused the event.
    inbound_message_id TEXT,
    may_answer INTEGER NOT NULL,
    at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX mail_events_pending ON mail_events (done_at, id);
