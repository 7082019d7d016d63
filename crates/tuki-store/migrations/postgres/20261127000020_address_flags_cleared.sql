-- An address whose mail bounced can be given mail again (the customer fixed
-- their mailbox): an administrator clears the flag, which is kept with who
-- cleared it and when. A new permanent bounce flags the address again.
ALTER TABLE mail_address_flags ADD COLUMN cleared_at BIGINT;
ALTER TABLE mail_address_flags ADD COLUMN cleared_by BIGINT REFERENCES users (id);
