-- The same unreadable message delivered again (a mail server's retry, a
-- Maildir imported twice) joins its waiting quarantine entry instead of
-- making another: entries are found by the SHA-256 of their raw bytes.
ALTER TABLE mail_quarantine ADD COLUMN sha256 TEXT;
CREATE INDEX mail_quarantine_sha256 ON mail_quarantine (sha256);
