//! The store's story tests. Each runs on SQLite and on PostgreSQL.

mod coverage;
mod directory;
mod files;
mod fixture;
mod imap;
mod knowledge;
mod mail;
mod mail_admin;
mod phone;
mod search;
mod signals;
mod sla;
mod tickets;
mod visibility;
mod web;
