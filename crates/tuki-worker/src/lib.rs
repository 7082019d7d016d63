//! Tuki's background work, with the network I/O the store leaves out: the
//! runner of the one job queue, sending mail over SMTP (a kind of job), and
//! the IMAP pollers that turn mailboxes into tickets. `tuki serve` starts
//! them with the configuration it read; nothing here reads the environment.

pub mod imap;
pub mod runner;
pub mod smtp;

pub use runner::{JobFuture, JobHandler, Runner};
pub use smtp::{build_message, MailExtras, MailFile, Sender, SmtpConfig, ATTACH_MAX_BYTES};
