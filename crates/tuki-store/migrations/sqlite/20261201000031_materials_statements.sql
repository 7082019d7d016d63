-- Materials and parts (a catalogue, and what was used on tickets) and
-- statements: once a statement is marked invoiced, the bookings and uses on
-- it carry its id and are locked.

CREATE TABLE materials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    -- "kpl", "m", "h"…
    unit TEXT NOT NULL,
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
    vat_basis_points BIGINT NOT NULL CHECK (vat_basis_points BETWEEN 0 AND 10000),
    active INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE statements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    invoiced_by BIGINT REFERENCES users (id),
    invoiced_at BIGINT NOT NULL,
    -- The totals as invoiced, cents.
    net_cents BIGINT NOT NULL,
    vat_cents BIGINT NOT NULL,
    gross_cents BIGINT NOT NULL
);
CREATE INDEX statements_organisation ON statements (organisation_id, period_start);

-- What was used on a ticket; the price and VAT are copied from the
-- catalogue when used, so a later price change does not rewrite history.
CREATE TABLE material_uses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    material_id BIGINT NOT NULL REFERENCES materials (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    used_at BIGINT NOT NULL,
    quantity_milli BIGINT NOT NULL CHECK (quantity_milli > 0),
    unit_price_cents BIGINT NOT NULL,
    vat_basis_points BIGINT NOT NULL,
    note TEXT NOT NULL,
    statement_id BIGINT REFERENCES statements (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX material_uses_ticket ON material_uses (ticket_id, id);

ALTER TABLE time_entries ADD COLUMN statement_id BIGINT REFERENCES statements (id);
CREATE INDEX time_entries_worked ON time_entries (worked_at);
