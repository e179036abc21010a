//! Beijing time (UTC+8), the one time zone of WeChat Pay: every time in the protocol and
//! every bill day is Beijing's. The offset, now and today there, the protocol's formats, the
//! days a user names, and ([`stamp`]) the compact form the reconciliation engines count in.

pub mod stamp;

use ::time::{Date, OffsetDateTime, UtcOffset, macros::format_description, macros::offset};
use thiserror::Error;

/// Every time in the v2 protocol is Beijing time.
pub const BEIJING: UtcOffset = offset!(+8);

/// [`BEIJING`] in seconds east of UTC.
pub const BEIJING_SECONDS: i32 = 8 * 3600;

/// The time now, in Beijing.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(BEIJING)
}

/// Today in Beijing.
pub fn today() -> Date {
    day_of(now())
}

/// The day `at` falls on in Beijing.
pub fn day_of(at: OffsetDateTime) -> Date {
    at.to_offset(BEIJING).date()
}

/// An RFC 3339 time from outside (API v3's answers and requests), in Beijing time; None when
/// it does not parse, or lies where Beijing time cannot be told (the year 9999 at -12:00).
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &::time::format_description::well_known::Rfc3339)
        .ok()?
        .checked_to_offset(BEIJING)
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

/// An instant as RFC 3339 in Beijing time, to the second: how the ledger writes when
/// something happened.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(BEIJING)
        .replace_nanosecond(0)
        .unwrap_or(at)
        .format(&::time::format_description::well_known::Rfc3339)
        .expect("formatting a valid date")
}

/// `yyyyMMdd`, the API's `bill_date`.
pub fn bill_date(day: Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// Unix seconds as RFC 3339 in Beijing time (`2026-11-05T12:34:56+08:00`), the form the
/// ledger's exports give other engines; None past the years the `time` crate holds.
pub fn rfc3339_of_unix(seconds: i64) -> Option<String> {
    let at = OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    at.checked_to_offset(BEIJING)?
        .format(&::time::format_description::well_known::Rfc3339)
        .ok()
}

/// Parses `yyyyMMddHHmmss` as Beijing time.
pub fn parse_api_time(text: &str) -> Option<OffsetDateTime> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let format = format_description!("[year][month][day][hour][minute][second]");
    ::time::PrimitiveDateTime::parse(text, format)
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

/// `yyyy-MM-dd` or `yyyyMMdd`, from 2000 to 2135: the days bills exist for and
/// [`stamp::Day`] can count.
pub fn parse_day(text: &str) -> Option<Date> {
    let compact = match text.as_bytes() {
        [_, _, _, _, b'-', _, _, b'-', _, _] => text.replace('-', ""),
        _ => text.to_owned(),
    };
    parse_bill_date(&compact).filter(|day| (2000..=2135).contains(&day.year()))
}

/// A day argument that is not one of the forms [`parse_day_arg`] takes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a day: use yyyy-MM-dd, yyyyMMdd, today or yesterday (Beijing time)")]
pub struct DayArgError(pub String);

/// The one parser of every day a user names: `yyyy-MM-dd`, `yyyyMMdd`, `today` or
/// `yesterday`, the last two counted from `today` (the current Beijing day, [`today`]).
pub fn parse_day_arg(text: &str, today: Date) -> Result<Date, DayArgError> {
    let day = match text {
        "today" => Some(today),
        "yesterday" => today.previous_day(),
        _ => parse_day(text),
    };
    day.ok_or_else(|| DayArgError(text.to_owned()))
}

/// A calendar month of Beijing days, as `ledger report --month` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    first: Date,
}

impl YearMonth {
    /// The month `day` falls in.
    pub fn of(day: Date) -> YearMonth {
        YearMonth {
            first: day.replace_day(1).expect("every month has a first day"),
        }
    }

    pub fn first(self) -> Date {
        self.first
    }

    pub fn last(self) -> Date {
        let days = self.first.month().length(self.first.year());
        self.first
            .replace_day(days)
            .expect("a month's length is one of its days")
    }

    /// Its days, first to last.
    pub fn days(self) -> impl Iterator<Item = Date> {
        let last = self.last();
        std::iter::successors(Some(self.first), move |day| {
            day.next_day().filter(|next| *next <= last)
        })
    }

    pub fn previous(self) -> YearMonth {
        YearMonth::of(self.first.previous_day().unwrap_or(self.first))
    }
}

impl std::fmt::Display for YearMonth {
    /// `yyyy-MM`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (year, month) = (self.first.year(), u8::from(self.first.month()));
        write!(f, "{year:04}-{month:02}")
    }
}

/// A month argument that is not one of the forms [`parse_month_arg`] takes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a month: use yyyy-MM, yyyyMM, this or last (Beijing time)")]
pub struct MonthArgError(pub String);

/// The one parser of a month a user names: `yyyy-MM`, `yyyyMM` (2000 to 2135, as days), or
/// `this` and `last`, counted from `today` (the current Beijing day, [`today`]).
pub fn parse_month_arg(text: &str, today: Date) -> Result<YearMonth, MonthArgError> {
    let month = match text {
        "this" => Some(YearMonth::of(today)),
        "last" => Some(YearMonth::of(today).previous()),
        _ => {
            let compact = match text.as_bytes() {
                [_, _, _, _, b'-', _, _] => text.replace('-', ""),
                _ => text.to_owned(),
            };
            (compact.len() == 6)
                .then(|| parse_day(&format!("{compact}01")))
                .flatten()
                .map(YearMonth::of)
        }
    };
    month.ok_or_else(|| MonthArgError(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_beijing_time() {
        let at = parse_api_time("20141110163345").unwrap();
        assert_eq!(api_time(at), "20141110163345");
        assert_eq!(bill_time(at), "2014-11-10 16:33:45");
        assert_eq!(rfc3339(at), "2014-11-10T16:33:45+08:00");
        assert!(parse_api_time("2014111016334").is_none());
        assert!(parse_api_time("20141310163345").is_none());
        assert_eq!(
            parse_bill_date("20190219"),
            Some(::time::macros::date!(2019 - 02 - 19))
        );
        assert!(parse_bill_date("2019-2-19").is_none());
        assert_eq!(bill_date(::time::macros::date!(2019 - 02 - 09)), "20190209");
    }

    #[test]
    fn day_arguments_take_four_forms_counted_in_beijing() {
        use ::time::macros::date;
        // 2026-11-20 16:30 UTC is 2026-11-21 00:30 in Beijing.
        let at = OffsetDateTime::from_unix_timestamp(1_795_192_200).unwrap();
        let today = day_of(at);
        assert_eq!(today, date!(2026 - 11 - 21));
        assert_eq!(day_of(at - ::time::Duration::HOUR), date!(2026 - 11 - 20));
        assert_eq!(parse_day_arg("today", today), Ok(today));
        assert_eq!(parse_day_arg("yesterday", today), Ok(date!(2026 - 11 - 20)));
        for text in ["2026-11-19", "20261119"] {
            assert_eq!(
                parse_day_arg(text, today).unwrap().to_string(),
                "2026-11-19"
            );
        }
        let refused = parse_day_arg("2026/11/19", today).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("yyyy-MM-dd, yyyyMMdd, today or yesterday")
        );
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "1999-12-31",
            "2136-01-01",
            "2026-13-01",
            "2026-1-01",
            "2026-1101",
            "202611-01",
            "+2026-11-01",
            "2026-11-1 ",
            "x",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        assert_eq!(parse_day("2024-02-29"), Some(date!(2024 - 02 - 29)));
        assert_eq!(parse_day("2000-01-01"), Some(date!(2000 - 01 - 01)));
    }

    #[test]
    fn unix_seconds_read_as_beijing_time() {
        assert_eq!(
            rfc3339_of_unix(1_795_192_200).as_deref(),
            Some("2026-11-21T00:30:00+08:00")
        );
        assert_eq!(rfc3339_of_unix(i64::MAX), None);
    }

    #[test]
    fn month_arguments_take_four_forms() {
        use ::time::macros::date;
        let today = date!(2026 - 01 - 15);
        let month = |text| parse_month_arg(text, today).map(|m| m.to_string());
        assert_eq!(month("2026-11"), Ok("2026-11".to_owned()));
        assert_eq!(month("202602"), Ok("2026-02".to_owned()));
        assert_eq!(month("this"), Ok("2026-01".to_owned()));
        assert_eq!(month("last"), Ok("2025-12".to_owned()));
        for bad in [
            "2026-13",
            "2026-1",
            "1999-12",
            "2136-01",
            "2026-11-01",
            "26-11",
            "x",
            "",
        ] {
            assert_eq!(
                parse_month_arg(bad, today),
                Err(MonthArgError(bad.to_owned())),
                "{bad}"
            );
        }
        let february = parse_month_arg("2024-02", today).unwrap();
        assert_eq!(february.first(), date!(2024 - 02 - 01));
        assert_eq!(february.last(), date!(2024 - 02 - 29));
        assert_eq!(february.days().count(), 29);
        let december = parse_month_arg("2135-12", today).unwrap();
        assert_eq!(december.days().last(), Some(date!(2135 - 12 - 31)));
    }
}
