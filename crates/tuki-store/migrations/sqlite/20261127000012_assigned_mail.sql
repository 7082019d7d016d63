-- Assignment mail: a ticket's new owner hears that it was given to them.
-- `user_id` is the person a mail event is about (the new owner for
-- `assigned`); the other kinds leave it empty. SQLite cannot change a CHECK
-- constraint, so the table is rebuilt (nothing references it).
CREATE TABLE mail_events_new (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL CHECK (kind IN ('created', 'staff_response', 'customer_reply', 'resolved', 'assigned')),
    actor_id BIGINT REFERENCES users (id),
    -- The ticket's newest article when the event happened: the text the mail quotes.
    article_id BIGINT REFERENCES articles (id),
    -- The inbound message being ingested, when mail caused the event.
    inbound_message_id TEXT,
    may_answer INTEGER NOT NULL,
    at BIGINT NOT NULL,
    done_at BIGINT,
    user_id BIGINT REFERENCES users (id)
);
INSERT INTO mail_events_new (id, ticket_id, kind, actor_id, article_id, inbound_message_id, may_answer, at, done_at)
    SELECT id, ticket_id, kind, actor_id, article_id, inbound_message_id, may_answer, at, done_at FROM mail_events;
DROP TABLE mail_events;
ALTER TABLE mail_events_new RENAME TO mail_events;
CREATE INDEX mail_events_pending ON mail_events (done_at, id);
