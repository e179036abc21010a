//! Times as reconciliation needs them: parsed from a shop's own format and time zone into
//! Beijing wall-clock seconds, so that a bill day is a plain range of numbers.

use std::fmt;

use thiserror::Error;

use crate::beijing::BEIJING_SECONDS;

pub const DAY: u32 = 86_400;

/// Beijing wall-clock seconds since 2000-01-01 00:00; fits a u32 until 2136.
pub type Stamp = u32;
/// A time the export left empty (an unpaid order).
pub const NO_TIME: Stamp = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimeSpecError {
    #[error(
        "time format {0:?} has no date: use strftime fields %Y %m %d %H %M %S %f %z (e.g. \"%Y-%m-%d %H:%M:%S\"), or unix / unix_ms"
    )]
    Format(String),
    #[error(
        "time format {spec:?}: %{field} is not supported; use the fields %Y %m %d %H %M %S %f %z and %%"
    )]
    Field { spec: String, field: char },
    #[error("time zone {0:?} is not an offset such as +08:00, UTC or Asia/Shanghai")]
    Zone(String),
}

/// A day argument that is not one of the forms `parse_day_arg` takes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a day: use yyyy-MM-dd, yyyyMMdd, today or yesterday (Beijing time)")]
pub struct DayArgError(pub String);

/// The one parser of every day a user names: `yyyy-MM-dd`, `yyyyMMdd`, `today` or
/// `yesterday`, the last two counted from `today`, the current Beijing day (see
/// [`Day::of_unix`]).
pub fn parse_day_arg(text: &str, today: Day) -> Result<Day, DayArgError> {
    match text {
        "today" => Ok(today),
        "yesterday" if today.0 > 0 => Ok(today.previous()),
        _ => Day::parse(text).ok_or_else(|| DayArgError(text.to_owned())),
    }
}

/// Days from 1970-01-01 to 2000-01-01.
const UNIX_TO_2000: i64 = 10_957;

/// A calendar day, as bills and exports date things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub u32);

impl Day {
    pub fn from_ymd(year: u32, month: u32, day: u32) -> Option<Day> {
        let days = days_from_civil(year, month, day)?;
        Some(Day(days))
    }

    /// `yyyy-MM-dd` or `yyyyMMdd`.
    pub fn parse(text: &str) -> Option<Day> {
        let digits: String = text.chars().filter(|c| *c != '-').collect();
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if text.contains('-') && (text.len() != 10 || &text[4..5] != "-" || &text[7..8] != "-") {
            return None;
        }
        let number = |range: std::ops::Range<usize>| digits[range].parse::<u32>().ok();
        Day::from_ymd(number(0..4)?, number(4..6)?, number(6..8)?)
    }

    /// The Beijing day of a Unix time, if it falls from 2000 to 2135.
    pub fn of_unix(seconds: i64) -> Option<Day> {
        let days = (seconds + i64::from(BEIJING_SECONDS)).div_euclid(i64::from(DAY)) - UNIX_TO_2000;
        u32::try_from(days)
            .ok()
            .filter(|d| Some(*d) <= days_from_civil(2135, 12, 31))
            .map(Day)
    }

    /// The same day as a `time::Date`.
    pub fn date(self) -> time::Date {
        let (y, m, d) = civil_from_days(self.0);
        let month = time::Month::try_from(m as u8).expect("a month from 1 to 12");
        time::Date::from_calendar_date(y as i32, month, d as u8).expect("a real day")
    }

    /// `yyyyMMdd`, as the API's bill_date writes it.
    pub fn compact(self) -> String {
        let (y, m, d) = civil_from_days(self.0);
        format!("{y:04}{m:02}{d:02}")
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
fn days_from_civil(year: u32, month: u32, day: u32) -> Option<u32> {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// `%f`: fractions of a second, 1 to 9 digits, ignored.
    Fraction,
    /// `%z`: the time's own offset, `+0800`, `+08:00` or `Z`, which then wins over the
    /// mapping's time zone.
    Offset,
    Literal(u8),
}

/// How a shop writes its times: a strftime subset, or Unix seconds or milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// `standard`: the pattern is `%Y-%m-%d %H:%M:%S`, which has a fast path.
    Pattern {
        pieces: Vec<Piece>,
        standard: bool,
    },
    UnixSeconds,
    UnixMillis,
}

impl TimeFormat {
    /// `%Y-%m-%d %H:%M:%S` (the default), `%Y/%m/%d %H:%M`, `unix`, `unix_ms` …
    pub fn parse(spec: &str) -> Result<TimeFormat, TimeSpecError> {
        match spec {
            "unix" => return Ok(TimeFormat::UnixSeconds),
            "unix_ms" => return Ok(TimeFormat::UnixMillis),
            _ => {}
        }
        let mut pieces = Vec::new();
        let mut bytes = spec.bytes();
        while let Some(b) = bytes.next() {
            if b != b'%' {
                pieces.push(Piece::Literal(b));
                continue;
            }
            pieces.push(match bytes.next() {
                Some(b'Y') => Piece::Year,
                Some(b'm') => Piece::Month,
                Some(b'd') => Piece::Day,
                Some(b'H') => Piece::Hour,
                Some(b'M') => Piece::Minute,
                Some(b'S') => Piece::Second,
                Some(b'f') => Piece::Fraction,
                Some(b'z') => Piece::Offset,
                Some(b'%') => Piece::Literal(b'%'),
                other => {
                    return Err(TimeSpecError::Field {
                        spec: spec.to_owned(),
                        field: other.map_or('%', char::from),
                    });
                }
            });
        }
        let has = |p| pieces.contains(&p);
        if !(has(Piece::Year) && has(Piece::Month) && has(Piece::Day)) {
            return Err(TimeSpecError::Format(spec.to_owned()));
        }
        Ok(TimeFormat::Pattern {
            pieces,
            standard: spec == "%Y-%m-%d %H:%M:%S",
        })
    }

    /// The stamp of `text` written in zone `offset` (seconds east of UTC); none when it does
    /// not fit the format. Month, day and time fields take one or two digits, as Excel
    /// writes them; fractions of a second after %S are ignored.
    pub fn stamp(&self, text: &[u8], offset: i32) -> Option<Stamp> {
        if let TimeFormat::Pattern { standard: true, .. } = self
            && let Some(local) = fixed_stamp(text.trim_ascii())
        {
            return shift(i64::from(local), i64::from(BEIJING_SECONDS - offset));
        }
        self.stamp_plain(text, offset)
    }

    /// [`TimeFormat::stamp`] without the short path for `yyyy-MM-dd HH:mm:ss`: the reference
    /// engine's reading, which the short path must agree with.
    pub fn stamp_plain(&self, text: &[u8], offset: i32) -> Option<Stamp> {
        let text = text.trim_ascii();
        let utc_seconds: i64 = match self {
            TimeFormat::UnixSeconds => parse_int(text)?,
            TimeFormat::UnixMillis => parse_int(text)?.div_euclid(1000),
            TimeFormat::Pattern { pieces, .. } => {
                let (local, own) = parse_pattern(pieces, text)?;
                return shift(local, i64::from(BEIJING_SECONDS - own.unwrap_or(offset)));
            }
        };
        // Unix time counts from 1970; stamps from 2000-01-01 Beijing.
        shift(utc_seconds - 946_684_800, i64::from(BEIJING_SECONDS))
    }
}

fn shift(seconds: i64, by: i64) -> Option<Stamp> {
    let shifted = seconds.checked_add(by)?;
    u32::try_from(shifted).ok().filter(|s| *s != NO_TIME)
}

fn parse_int(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 15 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
}

/// Local wall-clock seconds since 2000-01-01 00:00 of the zone the text is in, and that
/// zone's offset if the text gives it (`%z`).
fn parse_pattern(pieces: &[Piece], text: &[u8]) -> Option<(i64, Option<i32>)> {
    let mut offset = None;
    let mut at = 0;
    let mut fields = [0u32; 6];
    let digits = |at: &mut usize, min: usize, max: usize| -> Option<u32> {
        let start = *at;
        let mut value = 0u32;
        while *at < text.len() && *at - start < max && text[*at].is_ascii_digit() {
            value = value * 10 + u32::from(text[*at] - b'0');
            *at += 1;
        }
        (*at - start >= min).then_some(value)
    };
    for (i, piece) in pieces.iter().enumerate() {
        match *piece {
            Piece::Literal(b) => {
                if text.get(at) != Some(&b) {
                    return None;
                }
                at += 1;
            }
            Piece::Year => fields[0] = digits(&mut at, 4, 4)?,
            Piece::Second => {
                fields[5] = digits(&mut at, 1, 2)?;
                // Fractions are ignored, unless the format reads them itself (`%S.%f`).
                let fraction_next = pieces.get(i + 1) == Some(&Piece::Literal(b'.'));
                if text.get(at) == Some(&b'.') && !fraction_next {
                    at += 1;
                    digits(&mut at, 1, 9)?;
                }
            }
            Piece::Fraction => {
                digits(&mut at, 1, 9)?;
            }
            Piece::Offset => {
                if text.get(at) == Some(&b'Z') {
                    at += 1;
                    offset = Some(0);
                    continue;
                }
                let sign = match text.get(at) {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return None,
                };
                at += 1;
                let hours = digits(&mut at, 2, 2)?;
                if text.get(at) == Some(&b':') {
                    at += 1;
                }
                let minutes = digits(&mut at, 2, 2)?;
                if hours > 14 || minutes > 59 {
                    return None;
                }
                offset = Some(sign * (hours * 3600 + minutes * 60) as i32);
            }
            field => {
                let index = match field {
                    Piece::Month => 1,
                    Piece::Day => 2,
                    Piece::Hour => 3,
                    _ => 4,
                };
                fields[index] = digits(&mut at, 1, 2)?;
            }
        }
    }
    if at != text.len() {
        return None;
    }
    let [year, month, day, hour, minute, second] = fields;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    let local = i64::from(days) * i64::from(DAY) + i64::from(hour * 3600 + minute * 60 + second);
    Some((local, offset))
}

/// A time zone as an offset: `+08:00`, `+0800`, `-05:00`, `UTC`, `Z`, or the names of
/// China's zone. Other IANA names are refused rather than guessed, since they can shift
/// with daylight saving.
pub fn parse_zone(text: &str) -> Result<i32, TimeSpecError> {
    let bad = || TimeSpecError::Zone(text.to_owned());
    match text {
        "UTC" | "utc" | "Z" | "GMT" | "Etc/UTC" => return Ok(0),
        "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Harbin" | "PRC" | "CST" | "Beijing" => {
            return Ok(BEIJING_SECONDS);
        }
        _ => {}
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let hours: i32 = digits[..2].parse().map_err(|_| bad())?;
    let minutes: i32 = if digits.len() == 4 {
        digits[2..].parse().map_err(|_| bad())?
    } else {
        0
    };
    if hours > 14 || minutes > 59 {
        return Err(bad());
    }
    Ok(sign * (hours * 3600 + minutes * 60))
}

/// The bill's own `yyyy-MM-dd HH:mm:ss`, in Beijing time.
pub fn bill_stamp(text: &str) -> Option<Stamp> {
    fixed_stamp(text.as_bytes())
}

/// `yyyy-MM-dd HH:mm:ss` exactly, as wall-clock seconds since 2000-01-01.
fn fixed_stamp(b: &[u8]) -> Option<Stamp> {
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
    use super::*;

    #[test]
    fn days_round_trip() {
        for text in ["2000-01-01", "2024-02-29", "2026-11-20", "2099-12-31"] {
            let day = Day::parse(text).unwrap();
            assert_eq!(day.to_string(), text);
        }
        assert_eq!(Day::parse("20261120"), Day::parse("2026-11-20"));
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "1999-12-31",
            "2026-13-01",
            "2026-1-01",
            "x",
        ] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn day_arguments_take_four_forms_counted_in_beijing() {
        // 2026-11-20 16:30 UTC is 2026-11-21 00:30 in Beijing.
        let today = Day::of_unix(1_795_192_200).unwrap();
        assert_eq!(today, Day::parse("2026-11-21").unwrap());
        assert_eq!(Day::of_unix(1_795_192_200 - 3600), Day::parse("2026-11-20"));
        assert_eq!(parse_day_arg("today", today), Ok(today));
        assert_eq!(
            parse_day_arg("yesterday", today),
            Day::parse("2026-11-20").ok_or(DayArgError(String::new()))
        );
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
        assert_eq!(today.compact(), "20261121");
        assert_eq!(today.date(), time::macros::date!(2026 - 11 - 21));
        assert_eq!(Day::of_unix(0), None);
        assert_eq!(
            Day::of_unix(946_684_800 - 8 * 3600),
            Day::parse("2000-01-01")
        );
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
                Day::parse("2028-02-29")
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn formats_and_zones() {
        let default = TimeFormat::parse("%Y-%m-%d %H:%M:%S").unwrap();
        let stamp = default
            .stamp(b"2026-11-20 23:59:59", BEIJING_SECONDS)
            .unwrap();
        assert_eq!(format_stamp(stamp), "2026-11-20 23:59:59");
        assert_eq!(bill_stamp("2026-11-20 23:59:59"), Some(stamp));
        // 16:00 UTC is midnight in Beijing.
        let utc = default.stamp(b"2026-11-20 16:00:00", 0).unwrap();
        assert_eq!(format_stamp(utc), "2026-11-21 00:00:00");
        let slashes = TimeFormat::parse("%Y/%m/%d %H:%M").unwrap();
        assert_eq!(
            format_stamp(slashes.stamp(b"2026/1/5 9:03", BEIJING_SECONDS).unwrap()),
            "2026-01-05 09:03:00"
        );
        assert_eq!(
            format_stamp(
                default
                    .stamp(b"2026-11-20 10:00:00.250", BEIJING_SECONDS)
                    .unwrap()
            ),
            "2026-11-20 10:00:00"
        );
        let unix = TimeFormat::parse("unix").unwrap();
        assert_eq!(
            format_stamp(unix.stamp(b"1795190399", 0).unwrap()),
            "2026-11-20 23:59:59"
        );
        let millis = TimeFormat::parse("unix_ms").unwrap();
        assert_eq!(
            millis.stamp(b"1795190399000", 0),
            unix.stamp(b"1795190399", 0)
        );
        for bad in [
            "",
            "2026-11-20",
            "2026-11-20 24:00:00",
            "2026-11-31 10:00:00",
            "x",
        ] {
            assert_eq!(default.stamp(bad.as_bytes(), 0), None, "{bad}");
        }
        assert!(TimeFormat::parse("%H:%M").is_err());
        assert_eq!(
            TimeFormat::parse("%Y-%m-%d %q").unwrap_err().to_string(),
            "time format \"%Y-%m-%d %q\": %q is not supported; use the fields %Y %m %d %H %M %S %f %z and %%"
        );
        // ISO 8601 with fractions and the time's own offset, which wins over the zone.
        let iso = TimeFormat::parse("%Y-%m-%dT%H:%M:%S.%f%z").unwrap();
        for text in [
            "2026-11-20T15:59:59.123+00:00",
            "2026-11-20T23:59:59.5+0800",
            "2026-11-20T15:59:59.000000Z",
        ] {
            let stamp = iso.stamp(text.as_bytes(), -5 * 3600).unwrap();
            assert_eq!(format_stamp(stamp), "2026-11-20 23:59:59", "{text}");
        }
        assert_eq!(
            iso.stamp(b"2026-11-20T23:59:59+0800", 0),
            None,
            "%f needs digits"
        );
        assert_eq!(iso.stamp(b"2026-11-20T23:59:59.1+2500", 0), None);
        assert_eq!(parse_zone("+08:00"), Ok(BEIJING_SECONDS));
        assert_eq!(parse_zone("-0530"), Ok(-(5 * 3600 + 30 * 60)));
        assert_eq!(parse_zone("Asia/Shanghai"), Ok(BEIJING_SECONDS));
        assert!(parse_zone("Europe/Berlin").is_err());
        assert!(parse_zone("+8").is_err());
    }
}
