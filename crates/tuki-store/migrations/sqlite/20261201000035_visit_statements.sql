-- A done site visit of a billable request is a call-out fee on the statement
-- of its period; invoicing locks it like the period's bookings.
ALTER TABLE site_visits ADD COLUMN statement_id BIGINT REFERENCES statements (id);
