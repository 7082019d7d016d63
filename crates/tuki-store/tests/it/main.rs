//! The store's story tests. Each runs on SQLite and on PostgreSQL.

mod directory;
mod fixture;
mod tickets;
mod visibility;
mod sla;
mod jobs;
mod mail;
mod outbox;
mod phone;
mod web;
