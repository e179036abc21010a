//! Beijing time (UTC+8), the one time zone of WeChat Pay: every time in the protocol and
//! every bill day is Beijing's. The offset, now and today there, and the protocol's formats.

use time::{Date, OffsetDateTime, UtcOffset, macros::format_description, macros::offset};

/// Every time in the v2 protocol is Beijing time.
pub const BEIJING: UtcOffset = offset!(+8);

/// [`BEIJING`] in seconds east of UTC.
pub const BEIJING_SECONDS: i32 = 8 * 3600;

/// The time now, in Beijing.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(BEIJING)
}

/// The day `at` falls on in Beijing.
pub fn day_of(at: OffsetDateTime) -> Date {
    at.to_offset(BEIJING).date()
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
pub fn parse_bill_date(text: &str) -> Option<Date> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Date::parse(text, format_description!("[year][month][day]")).ok()
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
}
