-- Ticket changes reach the change feed through the store's one dispatch of
-- ticket events (crates/tuki-store/src/events.rs), in the change's own
-- transaction, with the ticket's group and owner: the trigger goes.
DROP TRIGGER tickets_live ON tickets;
DROP FUNCTION tickets_live_signal();

-- Escalation notices are written in each recipient's language when they
-- are mailed: the notification keeps which target it is about.
ALTER TABLE notifications ADD COLUMN sla_kind TEXT;
