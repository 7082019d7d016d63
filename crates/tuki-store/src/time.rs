//! Instants as stored: microseconds since the Unix epoch in a BIGINT, the
//! one representation both engines sort and compare the same way.

use jiff::Timestamp;

/// The current instant at the precision the database keeps, so that what a
/// write returns equals what a later read returns.
pub fn now() -> Timestamp {
    from_db(Timestamp::now().as_microsecond())
}

pub fn to_db(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn from_db(micros: i64) -> Timestamp {
    // Only values Tuki wrote are read back, so they are in range; fall back
    // to the epoch rather than fail a read over one corrupt cell.
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub fn opt_from_db(micros: Option<i64>) -> Option<Timestamp> {
    micros.map(from_db)
}
