-- One IMAP poller per mailbox, also with several `tuki serve` processes on
-- one database: a poller logs in only while it holds this lease, renews it
-- well before it runs out, and clears it when it stops. A lease that ran out
-- (its server crashed) may be taken by another server.
-- The holder: the node id of one `tuki serve` process (host name and a
-- random part).
ALTER TABLE mailboxes ADD COLUMN poller_node TEXT;
-- Until when the holder's lease runs (microseconds, like every instant).
ALTER TABLE mailboxes ADD COLUMN poller_lease_until BIGINT;
