//! Tuki's mail channel core: pure functions over raw RFC 5322 messages.
//!
//! Everything here is free of I/O so that the store, the IMAP poller, the
//! `tuki mail ingest` pipe and the tests all share one judgement of a
//! message:
//! - [`parse`] turns raw bytes into an [`InboundMessage`] (charsets, encoded
//!   words, transfer encodings, multipart bodies, attachments, forwards);
//! - [`classify`] decides whether a robot sent it and whether it may ever be
//!   answered automatically (loops are the classic way a help desk floods a
//!   mailbox, so this errs towards "do not answer");
//! - [`thread`] decides which ticket a message belongs to;
//! - [`quote`] trims quoted history for display (the raw source keeps it);
//! - [`texts`] holds every text Tuki mails, in Finnish and English.

pub mod classify;
pub mod parse;
pub mod quote;
pub mod texts;
pub mod thread;

pub use classify::{Bounce, Classification, RobotKind};
pub use parse::{parse, Attachment, Forwarded, InboundMessage, Mailbox, ParseError};
pub use thread::{decide_thread, strip_reply_prefixes, subject_tag, Thread, ThreadBy, ThreadKeys};
