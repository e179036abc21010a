//! Beijing wall-clock seconds as compact numbers: the form in which the reconciliation engines
//! hold every time, so that a bill day is a plain range of `u32`s. The protocol's
//! `yyyy-MM-dd HH:mm:ss` has a fast parser here, held to the `time` crate's by a property test.

use std::fmt;

use ::time::Date;

pub const DAY: u32 = 86_400;

/// Beijing wall-clock seconds since 2000-01-01 00:00; fits a u32 until 2136.
pub type Stamp = u32;
/// A time the export left empty (an unpaid order).
pub const NO_TIME: Stamp = u32::MAX;

/// A Beijing calendar day as days since 2000-01-01: the engines' form of a `time::Date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub u32);

impl Day {
    /// The day of `date`, if it falls from 2000 to 2135 (every day [`super::parse_day`] takes).
    pub fn of_date(date: Date) -> Option<Day> {
        let year = u32::try_from(date.year()).ok()?;
        days_from_civil(
            year,
            u32::from(u8::from(date.month())),
            u32::from(date.day()),
        )
        .map(Day)
    }

    /// The same day as a `time::Date`.
    pub fn date(self) -> Date {
        let (y, m, d) = civil_from_days(self.0);
        let month = ::time::Month::try_from(m as u8).expect("a month from 1 to 12");
        Date::from_calendar_date(y as i32, month, d as u8).expect("a real day")
    }

    pub fn start(self) -> Stamp {
        self.0 * DAY
    }

    pub fn of(stamp: Stamp) -> Day {
        Day(stamp / DAY)
    }

    pub fn next(self) -> Day {
        Day(self.0 + 1)
    }

    pub fn previous(self) -> Day {
        Day(self.0.saturating_sub(1))
    }

    pub fn contains(self, stamp: Stamp) -> bool {
        stamp != NO_TIME && stamp / DAY == self.0
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// 2000-01-01 00:00 in Beijing, in Unix seconds.
const UNIX_OF_ZERO: i64 = 946_684_800 - super::BEIJING_SECONDS as i64;

/// A stamp as Unix seconds, as the ledger keeps times; `None` for [`NO_TIME`].
pub fn unix(stamp: Stamp) -> Option<i64> {
    (stamp != NO_TIME).then(|| i64::from(stamp) + UNIX_OF_ZERO)
}

/// Unix seconds as a stamp, if they fall where stamps count.
pub fn from_unix(seconds: i64) -> Option<Stamp> {
    Stamp::try_from(seconds - UNIX_OF_ZERO)
        .ok()
        .filter(|s| *s != NO_TIME)
}

/// Formats a stamp as Beijing time, the way bills write it.
pub fn format_stamp(stamp: Stamp) -> String {
    if stamp == NO_TIME {
        return String::new();
    }
    let seconds = stamp % DAY;
    format!(
        "{} {:02}:{:02}:{:02}",
        Day::of(stamp),
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Days since 2000-01-01 (Howard Hinnant's algorithm), for years 2000 to 2135.
pub(crate) fn days_from_civil(year: u32, month: u32, day: u32) -> Option<u32> {
    if !(2000..=2135).contains(&year) || !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    const MONTH_DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day > MONTH_DAYS[month as usize - 1] + u32::from(leap && month == 2) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // 730_425 is 2000-01-01 counted from 0000-03-01.
    Some(era * 146_097 + doe - 730_425)
}

fn civil_from_days(days: u32) -> (u32, u32, u32) {
    let z = days + 730_425;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u32::from(month <= 2);
    (year, month, day)
}

/// The bill's own `yyyy-MM-dd HH:mm:ss`, in Beijing time.
pub fn bill_stamp(text: &str) -> Option<Stamp> {
    fixed_stamp(text.as_bytes())
}

/// `yyyy-MM-dd HH:mm:ss` exactly, as wall-clock seconds since 2000-01-01.
pub(crate) fn fixed_stamp(b: &[u8]) -> Option<Stamp> {
    let b: &[u8; 19] = b.try_into().ok()?;
    let days = days_of(b[..10].try_into().expect("ten bytes"))?;
    if b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (two_digits(b, 11)?, two_digits(b, 14)?, two_digits(b, 17)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days * DAY + hour * 3600 + minute * 60 + second)
}

thread_local! {
    /// The last date read and its day number: the rows of a bill or an export share a
    /// handful of dates, and this parse runs on every row of both.
    static LAST_DATE: std::cell::Cell<([u8; 10], u32)> =
        const { std::cell::Cell::new((*b"2000-01-01", 0)) };
}

/// `yyyy-MM-dd` as days since 2000-01-01.
fn days_of(date: &[u8; 10]) -> Option<u32> {
    let (last, days) = LAST_DATE.get();
    if last == *date {
        return Some(days);
    }
    if date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let year = two_digits(date, 0)? * 100 + two_digits(date, 2)?;
    let days = days_from_civil(year, two_digits(date, 5)?, two_digits(date, 8)?)?;
    LAST_DATE.set((*date, days));
    Some(days)
}

fn two_digits(b: &[u8], at: usize) -> Option<u32> {
    let (high, low) = (b[at].wrapping_sub(b'0'), b[at + 1].wrapping_sub(b'0'));
    (high < 10 && low < 10).then(|| u32::from(high) * 10 + u32::from(low))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn stamps_are_unix_seconds_in_the_ledger() {
        let stamp = bill_stamp("2026-11-20 23:59:58").unwrap();
        // 2026-11-20 15:59:58 UTC.
        assert_eq!(unix(stamp), Some(1_795_190_398));
        assert_eq!(from_unix(1_795_190_398), Some(stamp));
        assert_eq!(unix(NO_TIME), None);
        assert_eq!(from_unix(0), None);
    }

    #[test]
    fn days_round_trip() {
        for text in ["2000-01-01", "2024-02-29", "2026-11-20", "2135-12-31"] {
            let date = crate::time::parse_day(text).unwrap();
            let day = Day::of_date(date).unwrap();
            assert_eq!(day.to_string(), text);
            assert_eq!(day.date(), date);
        }
        assert_eq!(Day::of_date(::time::macros::date!(1999 - 12 - 31)), None);
        assert_eq!(Day::of_date(::time::macros::date!(2136 - 01 - 01)), None);
    }

    #[test]
    fn unix_seconds_are_the_time_crate_s() {
        for text in [
            "2000-01-01 00:00:00",
            "2026-11-20 23:59:58",
            "2135-12-31 23:59:59",
        ] {
            let at = ::time::PrimitiveDateTime::parse(
                text,
                ::time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second]"
                ),
            )
            .unwrap()
            .assume_offset(crate::time::BEIJING);
            assert_eq!(
                unix(bill_stamp(text).unwrap()),
                Some(at.unix_timestamp()),
                "{text}"
            );
        }
    }

    #[test]
    fn the_remembered_date_starts_as_a_real_one() {
        // A fresh thread has read no date yet: nothing but a real date may match its memo.
        std::thread::spawn(|| {
            assert_eq!(bill_stamp("\0\0\0\0\0\0\0\0\0\0 12:00:00"), None);
            assert_eq!(bill_stamp("2000-01-01 12:00:00"), Some(12 * 3600));
            assert_eq!(bill_stamp("2026-02-29 12:00:00"), None);
            assert_eq!(
                bill_stamp("2028-02-29 12:00:00").map(Day::of),
                Day::of_date(::time::macros::date!(2028 - 02 - 29))
            );
        })
        .join()
        .unwrap();
    }

    /// The `time` crate's reading of `yyyy-MM-dd HH:mm:ss`, as a stamp: the reference.
    fn plain_stamp(text: &str) -> Option<Stamp> {
        let format =
            ::time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        let at = ::time::PrimitiveDateTime::parse(text, format).ok()?;
        if !text.is_ascii() || text.len() != 19 {
            return None;
        }
        let day = Day::of_date(at.date())?;
        let (hour, minute, second) = at.time().as_hms();
        Some(day.start() + u32::from(hour) * 3600 + u32::from(minute) * 60 + u32::from(second))
    }

    proptest! {
        #[test]
        fn bill_stamps_read_as_the_time_crate_reads_them(
            year in 1995u32..2140,
            month in 0u32..14,
            day in 0u32..33,
            hour in 0u32..26,
            minute in 0u32..62,
            second in 0u32..62,
            mangle in proptest::option::of((0usize..19, any::<u8>())),
        ) {
            let mut text = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
            if let Some((at, byte)) = mangle {
                let mut bytes = text.into_bytes();
                bytes[at] = byte;
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            // Twice: the second read goes through the remembered date.
            prop_assert_eq!(bill_stamp(&text), plain_stamp(&text), "{:?}", text);
            prop_assert_eq!(bill_stamp(&text), plain_stamp(&text), "{:?}", text);
        }
    }
}
