//! The worker's tests: the job runner, and mail sent over SMTP to a real
//! server on loopback. Each runs on SQLite and on PostgreSQL.

mod jobs;
mod outbox;
