-- When a contract's renewal and its low balance were last brought up
-- (tuki_store::coverage::reminders); reset when the end moves or the hours
-- rise again.
ALTER TABLE contracts ADD COLUMN expiry_reminded_at BIGINT;
ALTER TABLE contracts ADD COLUMN low_reminded_at BIGINT;
