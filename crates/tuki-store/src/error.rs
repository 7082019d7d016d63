//! The store's error type.
//!
//! Which variant to use:
//! - `Invalid` when input breaks a rule (a domain `ValidationError`, or a
//!   reference to something that does not exist, like an unknown group);
//!   the web layer answers 422 naming the field.
//! - `NotFound` when the thing asked for does not exist *or the caller may
//!   not see it*; the two are deliberately indistinguishable (404).
//! - `Forbidden` when the caller can see the thing but may not do this (403).
//! - `Conflict` for a clash with the current state: a duplicate email, a
//!   disallowed state transition, merging a merged ticket (409).
//! - `TooLarge` for a file over the per-file limit (413), `QuotaExceeded`
//!   when the desk's files would pass its quota (507: the desk's storage is
//!   full, not the caller's mistake), `FileUnavailable` when stored bytes are
//!   missing or do not match their SHA-256 (500, with that said plainly; the
//!   administrators are told).
//! - `Database` for everything the engine reports that is not the caller's
//!   fault; logged, answered 500 without details.

use tuki_domain::ticket::TransitionError;
use tuki_domain::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        message: String,
    },
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data folder (attachment files) could not be written: like a
    /// database failure, worth trying again, not the caller's fault.
    #[error("file storage failed: {0}")]
    Files(#[from] std::io::Error),
    #[error("the file {name:?} is larger than the limit of {max} bytes")]
    TooLarge { name: String, max: u64 },
    #[error("the desk's files would take more than its quota of {quota} bytes")]
    QuotaExceeded { quota: u64 },
    #[error("the stored file {sha256} is {}", damage.as_str())]
    FileUnavailable {
        sha256: String,
        damage: crate::files::Damage,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        StoreError::Invalid(ValidationError::new(field, message))
    }

    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        StoreError::Conflict {
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        StoreError::Forbidden(message.into())
    }
}

/// Whether an engine error is a unique-constraint violation; both engines
/// report it through sqlx's `ErrorKind`.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    #[test]
    fn an_invalid_input_error_says_its_message_once() {
        let e = super::StoreError::invalid("mail_tag", "is wrong");
        assert_eq!(e.to_string(), "mail_tag: is wrong");
        assert!(e.source().is_none(), "{:?}", e.source());
    }
}
