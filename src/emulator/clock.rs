//! The emulator's clock: real time shifted by an offset that tests and the control plane move,
//! so that expiry, bill availability and refund completion can be driven without waiting.

use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

use crate::time::BEIJING;

use super::lock;

/// A handle on the emulator's clock; clones share it.
#[derive(Debug, Clone)]
pub struct Clock {
    offset: Arc<Mutex<Duration>>,
    /// Tells whoever waits for an emulator time (notification retries) that the clock moved.
    moved: Arc<tokio::sync::watch::Sender<()>>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            offset: Arc::default(),
            moved: Arc::new(tokio::sync::watch::Sender::new(())),
        }
    }
}

impl Clock {
    /// Sees every later change of the clock.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<()> {
        self.moved.subscribe()
    }

    /// Waits until the emulator's time reaches `due`: as time passes, or at once when the
    /// clock is moved past it.
    pub async fn wait_until(&self, due: OffsetDateTime) {
        let mut moved = self.watch();
        loop {
            moved.borrow_and_update();
            let left = due - self.now();
            if left <= Duration::ZERO {
                return;
            }
            let left = std::time::Duration::try_from(left).unwrap_or(std::time::Duration::MAX);
            tokio::select! {
                () = tokio::time::sleep(left) => {}
                // The sender lives as long as this clock, so an error cannot happen here.
                _ = moved.changed() => {}
            }
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        let offset = *lock(&self.offset);
        (OffsetDateTime::now_utc() + offset).to_offset(BEIJING)
    }

    /// Moves the clock by `by`; the result must stay within the supported years.
    pub fn advance(&self, by: Duration) -> Result<OffsetDateTime, ClockError> {
        let target = self.now().checked_add(by).ok_or(ClockError::OutOfRange)?;
        self.set(target)
    }

    /// Sets the clock to `to`, which must lie in 2000–2099: every date the protocol writes
    /// has four-digit years, and the emulator adds days and years to the clock.
    pub fn set(&self, to: OffsetDateTime) -> Result<OffsetDateTime, ClockError> {
        if !(2000..2100).contains(&to.year()) {
            return Err(ClockError::OutOfRange);
        }
        *lock(&self.offset) = to - OffsetDateTime::now_utc();
        self.moved.send_replace(());
        Ok(to)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClockError {
    #[error("the emulator's clock stays within the years 2000 to 2099")]
    OutOfRange,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_api_time;

    #[test]
    fn the_clock_moves_when_told() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(Duration::hours(25)).unwrap();
        assert!(clock.now() - before >= Duration::hours(25));
        let target = parse_api_time("20300101000000").unwrap();
        clock.set(target).unwrap();
        assert!((clock.now() - target).abs() < Duration::seconds(5));
        assert_eq!(
            clock.set(parse_api_time("99991231235959").unwrap()),
            Err(ClockError::OutOfRange)
        );
        assert_eq!(clock.advance(Duration::MAX), Err(ClockError::OutOfRange));
        assert_eq!(
            clock.advance(Duration::days(-365 * 40)),
            Err(ClockError::OutOfRange)
        );
        assert!(
            (clock.now() - target).abs() < Duration::seconds(5),
            "a refused change changes nothing"
        );
    }
}
