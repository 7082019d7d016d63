-- One job queue: mail is expanded and sent by jobs of the one queue
-- (`ticket_mail`, `notification_mail`, `send_mail`), claimed, leased and
-- retried like every other job, instead of the outbox's own leases. An
-- outbox row names the job that sends it; where its delivery stands
-- (attempts, next attempt, last error, given up) is the job's.
ALTER TABLE outbox ADD COLUMN job_id BIGINT REFERENCES jobs (id);

-- What was waiting when the desk upgraded keeps waiting, as jobs.
INSERT INTO jobs (kind, payload, run_at, attempts, max_attempts, last_error, failed_at, created_at)
    SELECT 'send_mail', '{"outbox_id":' || id || '}', next_attempt_at, attempts, max_attempts,
           last_error, failed_at, created_at
    FROM outbox WHERE sent_at IS NULL;
UPDATE outbox SET job_id = (
    SELECT j.id FROM jobs j WHERE j.kind = 'send_mail' AND j.payload = '{"outbox_id":' || outbox.id || '}'
) WHERE sent_at IS NULL;
INSERT INTO jobs (kind, payload, run_at, created_at)
    SELECT 'ticket_mail', '{"mail_event_id":' || id || '}', at, at
    FROM mail_events WHERE done_at IS NULL;
INSERT INTO jobs (kind, payload, run_at, created_at)
    SELECT 'notification_mail', '{"notification_id":' || id || '}', created_at, created_at
    FROM notifications WHERE delivered_at IS NULL;

DROP INDEX outbox_due;
ALTER TABLE outbox DROP COLUMN next_attempt_at;
ALTER TABLE outbox DROP COLUMN attempts;
ALTER TABLE outbox DROP COLUMN max_attempts;
ALTER TABLE outbox DROP COLUMN locked_by;
ALTER TABLE outbox DROP COLUMN locked_until;
ALTER TABLE outbox DROP COLUMN last_error;
ALTER TABLE outbox DROP COLUMN failed_at;
CREATE INDEX outbox_sent ON outbox (sent_at, id);
CREATE INDEX outbox_job ON outbox (job_id);
