-- Ticket changes reach the change feed through the store's one dispatch of
-- ticket events (crates/tuki-store/src/events.rs), in the change's own
-- transaction, with the ticket's group and owner: the triggers go.
DROP TRIGGER tickets_live_insert;
DROP TRIGGER tickets_live_update;

-- Escalation notices are written in each recipient's language when they
-- are mailed: the notification keeps which target it is about.
ALTER TABLE notifications ADD COLUMN sla_kind TEXT;
