-- Assignment mail: a ticket's new owner hears that it was given to them.
-- `user_id` is the person a mail event is about (the new owner for
-- `assigned`); the other kinds leave it empty.
ALTER TABLE mail_events ADD COLUMN user_id BIGINT REFERENCES users (id);
ALTER TABLE mail_events DROP CONSTRAINT mail_events_kind_check;
ALTER TABLE mail_events ADD CONSTRAINT mail_events_kind_check
    CHECK (kind IN ('created', 'staff_response', 'customer_reply', 'resolved', 'assigned'));
