//! The desk every story starts from (shared with the worker's tests).

pub use tuki_store::testing::{ticket, user, Desk};
