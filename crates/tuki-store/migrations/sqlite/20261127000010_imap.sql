-- IMAP settings of a mailbox, for the poller in `tuki serve`. A mailbox
-- without a host is fed by `tuki mail ingest` (a mail server's pipe or a
-- Maildir) and is not polled.
ALTER TABLE mailboxes ADD COLUMN imap_host TEXT;
ALTER TABLE mailboxes ADD COLUMN imap_port BIGINT;
-- tls (IMAPS, port 993), starttls (port 143) or plain (local servers only).
ALTER TABLE mailboxes ADD COLUMN imap_security TEXT CHECK (imap_security IN ('tls', 'starttls', 'plain'));
ALTER TABLE mailboxes ADD COLUMN imap_user TEXT;
-- Stored as given, because the poller has to present it to the IMAP server
-- on every login (a hash would be useless here). Never shown or logged.
ALTER TABLE mailboxes ADD COLUMN imap_password TEXT;
ALTER TABLE mailboxes ADD COLUMN imap_folder TEXT;
-- Where imported mail goes; NULL deletes it (\Deleted and EXPUNGE).
ALTER TABLE mailboxes ADD COLUMN imap_move_to TEXT;
-- Seconds between polls when the server offers no IDLE.
ALTER TABLE mailboxes ADD COLUMN imap_poll_seconds BIGINT;
-- When admins were last told that this mailbox keeps failing; they are told
-- once per failure period (failing_since newer than this means a new one).
ALTER TABLE mailboxes ADD COLUMN failure_notified_at BIGINT;
