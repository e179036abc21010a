//! The emulator's clock: real time shifted by an offset that tests and the control plane move,
//! so that expiry, bill availability and refund completion can be driven without waiting.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime, UtcOffset, macros::format_description, macros::offset};

/// Every time in the v2 protocol is Beijing time.
pub const BEIJING: UtcOffset = offset!(+8);

#[derive(Debug, Default)]
pub struct Clock {
    offset: Mutex<Duration>,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        let offset = *self.offset.lock().expect("clock lock");
        (OffsetDateTime::now_utc() + offset).to_offset(BEIJING)
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock().expect("clock lock") += by;
    }

    pub fn set(&self, to: OffsetDateTime) {
        *self.offset.lock().expect("clock lock") = to - OffsetDateTime::now_utc();
    }
}

/// `yyyyMMddHHmmss`, the API's time format.
pub fn api_time(at: OffsetDateTime) -> String {
    at.to_offset(BEIJING)
        .format(format_description!(
            "[year][month][day][hour][minute][second]"
        ))
        .expect("formatting a valid date")
}

/// `yyyy-MM-dd HH:mm:ss`, the format of bills and refund times.
pub fn bill_time(at: OffsetDateTime) -> String {
    at.to_offset(BEIJING)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .expect("formatting a valid date")
}

/// Parses `yyyyMMddHHmmss` as Beijing time.
pub fn parse_api_time(text: &str) -> Option<OffsetDateTime> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let format = format_description!("[year][month][day][hour][minute][second]");
    time::PrimitiveDateTime::parse(text, format)
        .ok()
        .map(|at| at.assume_offset(BEIJING))
}

/// Parses `yyyyMMdd`.
pub fn parse_bill_date(text: &str) -> Option<time::Date> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    time::Date::parse(text, format_description!("[year][month][day]")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_beijing_time() {
        let at = parse_api_time("20141110163345").unwrap();
        assert_eq!(api_time(at), "20141110163345");
        assert_eq!(bill_time(at), "2014-11-10 16:33:45");
        assert!(parse_api_time("2014111016334").is_none());
        assert!(parse_api_time("20141310163345").is_none());
        assert_eq!(
            parse_bill_date("20190219"),
            Some(time::macros::date!(2019 - 02 - 19))
        );
        assert!(parse_bill_date("2019-2-19").is_none());
    }

    #[test]
    fn the_clock_moves_when_told() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(Duration::hours(25));
        assert!(clock.now() - before >= Duration::hours(25));
        let target = parse_api_time("20300101000000").unwrap();
        clock.set(target);
        assert!((clock.now() - target).abs() < Duration::seconds(5));
    }
}
