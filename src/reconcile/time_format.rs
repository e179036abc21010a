//! How a shop writes its times: a strftime subset or Unix time, in a time zone the mapping
//! names, read into Beijing wall-clock [`Stamp`]s.

use thiserror::Error;

use crate::time::BEIJING_SECONDS;
use crate::time::stamp::{DAY, NO_TIME, Stamp, days_from_civil, fixed_stamp};

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

/// The format as it was given: what [`TimeFormat::parse`] reads back.
impl std::fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pieces = match self {
            TimeFormat::UnixSeconds => return f.write_str("unix"),
            TimeFormat::UnixMillis => return f.write_str("unix_ms"),
            TimeFormat::Pattern { pieces, .. } => pieces,
        };
        let mut bytes = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Year => bytes.extend(b"%Y"),
                Piece::Month => bytes.extend(b"%m"),
                Piece::Day => bytes.extend(b"%d"),
                Piece::Hour => bytes.extend(b"%H"),
                Piece::Minute => bytes.extend(b"%M"),
                Piece::Second => bytes.extend(b"%S"),
                Piece::Fraction => bytes.extend(b"%f"),
                Piece::Offset => bytes.extend(b"%z"),
                Piece::Literal(b'%') => bytes.extend(b"%%"),
                Piece::Literal(b) => bytes.push(*b),
            }
        }
        // Literals are the bytes of the text parsed, which was a string.
        f.write_str(&String::from_utf8_lossy(&bytes))
    }
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
/// Seconds east of UTC as an offset, `+08:00`: what [`parse_zone`] reads back.
pub fn format_zone(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::stamp::{bill_stamp, format_stamp};

    #[test]
    fn formats_and_zones_read_back_as_they_were_given() {
        for spec in [
            "%Y-%m-%d %H:%M:%S",
            "%d/%m/%Y %H时%M分 100%%",
            "unix",
            "unix_ms",
            "%Y%m%d%z%f",
        ] {
            assert_eq!(TimeFormat::parse(spec).unwrap().to_string(), spec);
        }
        for (zone, text) in [
            (BEIJING_SECONDS, "+08:00"),
            (0, "+00:00"),
            (-34_200, "-09:30"),
        ] {
            assert_eq!(format_zone(zone), text);
            assert_eq!(parse_zone(text), Ok(zone));
        }
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
