//! Tuki's functional core.
//!
//! Plain types and plain functions: the ticket state machine, validated values
//! (email, phone, names, tags), the directory's enums and the access rules that
//! decide who may see and change a ticket, and the business calendars and SLA
//! clocks that say when a ticket is due, and the
//! search terms both database engines index. Nothing here does I/O, so every rule
//! can be tested exhaustively; the store, the web layer and the CLI call it.

pub mod access;
pub mod coverage;
pub mod directory;
mod enums;
pub mod error;
pub mod ical;
pub mod import;
pub mod knowledge;
pub mod money;
pub mod oncall;
pub mod search;
pub mod sla;
pub mod statement;
pub mod ticket;
pub mod values;

pub use error::ValidationError;
