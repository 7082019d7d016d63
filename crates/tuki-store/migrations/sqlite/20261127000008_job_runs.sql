-- Runs of the `ping` job: a harmless job that an administrator, a monitor
-- or a test enqueues to prove that the job runners are alive. Each run is
-- one row naming the runner (process) that ran it, so a job that ran twice
-- shows up as two rows.

CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY,
    job_id BIGINT NOT NULL,
    worker TEXT NOT NULL,
    ran_at BIGINT NOT NULL
);
CREATE INDEX job_runs_job ON job_runs (job_id);
