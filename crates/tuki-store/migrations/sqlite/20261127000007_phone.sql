-- The phone channel: one row per call, kept up to date by the telephone
-- system's CTI events (newCall, answer, hangup) or by an agent.

CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    -- The telephone system's id of the call; events name the call by it.
    call_id TEXT NOT NULL UNIQUE,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    -- E.164 where the number is one (+358401234567); an extension otherwise.
    caller TEXT NOT NULL,
    callee TEXT NOT NULL,
    -- The customer whose number called (or was called), when Tuki knows it.
    customer_id BIGINT REFERENCES users (id),
    -- The agent who answered (or placed) the call.
    agent_id BIGINT REFERENCES users (id),
    -- The name the telephone system gave for the agent, as sent.
    agent_name TEXT,
    started_at BIGINT NOT NULL,
    answered_at BIGINT,
    ended_at BIGINT,
    -- ringing, talking, answered, missed, busy, cancelled, failed
    outcome TEXT NOT NULL,
    cause TEXT,
    ticket_id BIGINT REFERENCES tickets (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX calls_caller ON calls (caller, started_at);
CREATE INDEX calls_callee ON calls (callee, started_at);
CREATE INDEX calls_started ON calls (started_at);
