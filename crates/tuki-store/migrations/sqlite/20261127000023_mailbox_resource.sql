-- Mailboxes are administered like every other resource (created, replaced
-- and deleted through the one pattern, crates/tuki-store/src/resource.rs),
-- each change stamped.
ALTER TABLE mailboxes ADD COLUMN updated_at BIGINT;
