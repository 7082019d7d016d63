-- The agent console at 100,000 tickets and more.

-- Sidebar counts: one index-only pass over the active tickets, grouped by
-- group, owner and state, serves every queue count of every viewer.
CREATE INDEX tickets_console_counts ON tickets (active, group_id, owner_id, state);

-- "All open" and "Unassigned" lists sorted by priority or by last update,
-- read in index order instead of sorting every active ticket.
CREATE INDEX tickets_active_priority ON tickets (active, priority, id);
CREATE INDEX tickets_active_owner_priority ON tickets (active, owner_id, priority, id);
CREATE INDEX tickets_active_updated ON tickets (active, updated_at, id);

-- Fresh statistics, so that the planner weighs the new indexes like the old
-- ones (a database analysed before them would otherwise take the new,
-- unmeasured indexes for very selective ones).
ANALYZE tickets;
