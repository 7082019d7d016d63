-- Administrators handle quarantined mail from the admin pages: a message is
-- released either because a retry imported it or because an administrator
-- discarded it. Nothing is deleted: the raw source stays, with who released
-- it, when it was discarded and why.
ALTER TABLE mail_quarantine ADD COLUMN released_by BIGINT REFERENCES users (id);
-- Set when an administrator discarded the message without importing it.
ALTER TABLE mail_quarantine ADD COLUMN discarded_at BIGINT;
ALTER TABLE mail_quarantine ADD COLUMN release_note TEXT;
