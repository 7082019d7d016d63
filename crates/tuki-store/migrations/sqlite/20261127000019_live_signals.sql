-- Live updates from every source and to every server: each change of a
-- ticket (pages, API, mail from the pipe or an IMAP poller, jobs, another
-- server) leaves a row here, written by the database itself, and every
-- `tuki serve` follows the table and tells its open pages. Ringing and
-- ended calls are written by the server that got the telephone system's
-- event, so the agent's console rings whichever server it is connected to.
CREATE TABLE live_signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- ticket, call, hangup
    kind TEXT NOT NULL,
    ticket_id BIGINT,
    number BIGINT,
    call_id BIGINT,
    agent_id BIGINT,
    group_id BIGINT,
    -- The server that wrote a call signal (it has told its own pages).
    origin TEXT
);

CREATE TRIGGER tickets_live_insert AFTER INSERT ON tickets
BEGIN
    INSERT INTO live_signals (kind, ticket_id, number) VALUES ('ticket', NEW.id, NEW.number);
END;

CREATE TRIGGER tickets_live_update AFTER UPDATE ON tickets
BEGIN
    INSERT INTO live_signals (kind, ticket_id, number) VALUES ('ticket', NEW.id, NEW.number);
END;
