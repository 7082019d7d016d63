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

/// Where a store reads the current instant. The system clock in production;
/// tests of SLA clocks set and advance a manual one (feature `testing`) so
/// that "Friday 15:00 in Helsinki" is a fact, not a wait.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The current instant, at the precision the database keeps.
    pub fn now(&self) -> Timestamp {
        match &self.manual {
            None => now(),
            Some(micros) => from_db(micros.load(std::sync::atomic::Ordering::SeqCst)),
        }
    }
}

#[cfg(feature = "testing")]
impl Clock {
    /// A clock that stands at `at` until set or advanced.
    pub fn manual(at: Timestamp) -> Clock {
        Clock {
            manual: Some(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
                to_db(at),
            ))),
        }
    }

    /// Moves a manual clock to `at` (a system clock ignores this).
    pub fn set(&self, at: Timestamp) {
        if let Some(m) = &self.manual {
            m.store(to_db(at), std::sync::atomic::Ordering::SeqCst);
        }
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        self.set(self.now() + by);
    }
}
