-- Who pays (tuki_store::coverage): products and the customers' assets with
-- their warranties, rate cards, contracts with their hour balances, each
-- ticket's coverage decision and the time booked on tickets.
-- Dates (purchase, warranty, contract periods) are calendar days as
-- 'YYYY-MM-DD' text: they sort and compare the same on both engines, and a
-- day is not an instant. Money is integer cents.

CREATE TABLE products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The model: "WM-800 Silent".
    name TEXT NOT NULL UNIQUE,
    manufacturer TEXT NOT NULL,
    category TEXT NOT NULL,
    warranty_months BIGINT NOT NULL CHECK (warranty_months >= 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE assets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    serial TEXT NOT NULL,
    -- The serial as typed and as found in mail compare on this: upper case,
    -- no spaces or dashes.
    serial_key TEXT NOT NULL UNIQUE,
    product_id BIGINT REFERENCES products (id),
    purchased_on TEXT,
    purchased_from TEXT NOT NULL,
    organisation_id BIGINT REFERENCES organisations (id),
    owner_id BIGINT REFERENCES users (id),
    -- The last day of the warranty: from the product unless overridden.
    warranty_until TEXT,
    -- Set when an agent overrode the product's warranty, and why.
    warranty_reason TEXT,
    -- Proof of purchase: a blob of the file store.
    receipt_sha256 TEXT REFERENCES blobs (sha256),
    receipt_name TEXT,
    receipt_type TEXT,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX assets_organisation ON assets (organisation_id);
CREATE INDEX assets_owner ON assets (owner_id);
CREATE INDEX assets_product ON assets (product_id);

CREATE TABLE rate_cards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    hourly_cents BIGINT NOT NULL CHECK (hourly_cents >= 0),
    on_call_surcharge_percent BIGINT NOT NULL CHECK (on_call_surcharge_percent >= 0),
    call_out_fee_cents BIGINT NOT NULL CHECK (call_out_fee_cents >= 0),
    minimum_unit_minutes BIGINT NOT NULL CHECK (minimum_unit_minutes > 0),
    -- VAT of labour, in hundredths of a per cent.
    vat_basis_points BIGINT NOT NULL CHECK (vat_basis_points BETWEEN 0 AND 10000),
    -- Outside this calendar's hours the on-call surcharge applies.
    calendar_id BIGINT REFERENCES business_calendars (id),
    -- The card paid work is billed at unless a contract names another.
    is_default INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE contracts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    kind TEXT NOT NULL CHECK (kind IN ('hour_bank', 'subscription')),
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    included_minutes BIGINT NOT NULL CHECK (included_minutes >= 0),
    -- The balance: included minus booked. Only an agent's explicit
    -- override takes it below zero.
    minutes_left BIGINT NOT NULL,
    -- What it covers, as JSON: {"everything", "assets", "products", "categories"}.
    covers TEXT NOT NULL,
    response TEXT NOT NULL CHECK (response IN ('business_hours', 'all_hours')),
    sla_policy_id BIGINT REFERENCES sla_policies (id),
    rate_card_id BIGINT REFERENCES rate_cards (id),
    low_balance_minutes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX contracts_organisation ON contracts (organisation_id);

-- Each ticket's coverage: the decision (made at intake and again when its
-- asset, requester or category changes) and an agent's override of it.
CREATE TABLE ticket_coverage (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    asset_id BIGINT REFERENCES assets (id),
    kind TEXT NOT NULL CHECK (kind IN ('warranty', 'contract', 'billable', 'not_covered')),
    until_on TEXT,
    contract_id BIGINT REFERENCES contracts (id),
    rate_card_id BIGINT REFERENCES rate_cards (id),
    after_hours INTEGER NOT NULL,
    -- The reasons as JSON data, rendered in the reader's language.
    reasons TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    override_kind TEXT CHECK (override_kind IN ('warranty', 'contract', 'billable', 'not_covered')),
    override_contract_id BIGINT REFERENCES contracts (id),
    override_reason TEXT,
    overridden_by BIGINT REFERENCES users (id),
    overridden_at BIGINT
);
CREATE INDEX ticket_coverage_asset ON ticket_coverage (asset_id);
CREATE INDEX ticket_coverage_contract ON ticket_coverage (contract_id);

-- Time booked on tickets. An entry drawn from a contract's hour bank keeps
-- the balance after it, so a statement shows hours before and after.
CREATE TABLE time_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    worked_at BIGINT NOT NULL,
    minutes BIGINT NOT NULL CHECK (minutes > 0),
    billable INTEGER NOT NULL,
    note TEXT NOT NULL,
    contract_id BIGINT REFERENCES contracts (id),
    balance_after BIGINT,
    -- The agent booked past the contract's balance on purpose.
    over_balance INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX time_entries_ticket ON time_entries (ticket_id, id);
CREATE INDEX time_entries_contract ON time_entries (contract_id, id);

-- Whether Tuki decides who pays for each request. An IT department serving
-- its own staff bills nobody and turns it off.
CREATE TABLE coverage_settings (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    decide INTEGER NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO coverage_settings (id, decide, updated_at) VALUES (1, 1, 0);
