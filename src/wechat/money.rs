//! Money without floats: integer fen for API amounts, fixed point for bill amounts.

use std::fmt;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("{0:?} is not an amount in fen (a whole number such as 100 for 1.00 yuan)")]
    NotFen(String),
    #[error("{0:?} is not a yuan amount (expected digits with at most {1} decimal places)")]
    NotYuan(String, u32),
    #[error("amount {0:?} is too large")]
    Overflow(String),
}

/// An API amount in fen (分), the unit of every `*_fee` field; serialized as that integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub struct Fen(pub i64);

impl Fen {
    /// Parses an API field such as `total_fee`: a non-negative integer without sign or spaces.
    pub fn parse_api(text: &str) -> Result<Fen, MoneyError> {
        if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::NotFen(text.to_owned()));
        }
        text.parse()
            .map(Fen)
            .map_err(|_| MoneyError::NotFen(text.to_owned()))
    }

    /// Parses a yuan amount with at most two decimals ("12.3", "-0.01", "6").
    pub fn parse_yuan(text: &str) -> Result<Fen, MoneyError> {
        let fixed = parse_fixed(text, 2)?;
        Ok(Fen(fixed))
    }

    /// Formats as yuan with exactly two decimals, as bills print amounts.
    pub fn yuan(self) -> String {
        format_fixed(i128::from(self.0), 2)
    }
}

impl fmt::Display for Fen {
    /// Shows the API representation (integer fen), the unit every JSON output uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A bill amount in units of 0.00001 yuan: bills print money with 2 decimals and fees
/// (手续费) with 5, so this unit holds both exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BillAmount(pub i64);

impl BillAmount {
    pub const DECIMALS: u32 = 5;

    /// Parses "0.01", "-0.02000", "6", or the float-formatted "45.0" seen in real summaries.
    pub fn parse(text: &str) -> Result<BillAmount, MoneyError> {
        parse_fixed(text, Self::DECIMALS).map(BillAmount)
    }

    pub fn from_fen(fen: Fen) -> BillAmount {
        BillAmount(fen.0 * 1000)
    }

    /// The amount in fen, when it is a whole number of fen.
    pub fn to_fen(self) -> Option<Fen> {
        (self.0 % 1000 == 0).then_some(Fen(self.0 / 1000))
    }

    /// Formats with `places` decimals (2 for money, 5 for fees), rounding half away from zero.
    pub fn format(self, places: u32) -> String {
        assert!(places <= Self::DECIMALS, "at most 5 decimal places");
        let step = 10i64.pow(Self::DECIMALS - places);
        let half = step / 2;
        let rounded = if self.0 >= 0 {
            (self.0 + half) / step
        } else {
            (self.0 - half) / step
        };
        format_fixed(i128::from(rounded), places)
    }
}

/// Parses a decimal with at most `places` decimals into an integer scaled by 10^places.
fn parse_fixed(text: &str, places: u32) -> Result<i64, MoneyError> {
    let invalid = || MoneyError::NotYuan(text.to_owned(), places);
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits_only(whole)
        || !digits_only(fraction)
        || (unsigned.contains('.') && fraction.is_empty())
    {
        return Err(invalid());
    }
    // Trailing zeros beyond `places` carry no value ("45.000000" is still exact).
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > places as usize {
        return Err(invalid());
    }
    if whole.len() > 13 {
        return Err(MoneyError::Overflow(text.to_owned()));
    }
    let scale = 10i64.pow(places);
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let mut frac_value: i64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| invalid())?
    };
    frac_value *= 10i64.pow(places - fraction.len() as u32);
    let value = whole
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac_value))
        .ok_or_else(|| MoneyError::Overflow(text.to_owned()))?;
    Ok(if negative { -value } else { value })
}

/// `value` units of 10^-`places` yuan, exactly: `format_fixed(-1234, 2)` is `-12.34`. Takes
/// an i128 so that sums of any size print exactly.
pub fn format_fixed(value: i128, places: u32) -> String {
    let scale = 10u128.pow(places);
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    if places == 0 {
        return format!("{sign}{magnitude}");
    }
    format!(
        "{sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = places as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_round_trips_through_yuan() {
        for (text, fen) in [
            ("0.01", 1),
            ("6.00", 600),
            ("12.3", 1230),
            ("-0.02", -2),
            ("7", 700),
        ] {
            assert_eq!(Fen::parse_yuan(text), Ok(Fen(fen)), "{text}");
        }
        assert_eq!(Fen(1).yuan(), "0.01");
        assert_eq!(Fen(-250).yuan(), "-2.50");
        assert_eq!(Fen(0).yuan(), "0.00");
    }

    #[test]
    fn api_fen_is_a_plain_integer() {
        assert_eq!(Fen::parse_api("1"), Ok(Fen(1)));
        for bad in ["", "-1", "1.0", " 1", "1e3", "９", "9999999999999999"] {
            assert!(Fen::parse_api(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bill_amounts_keep_five_decimals_exactly() {
        assert_eq!(BillAmount::parse("-0.02000"), Ok(BillAmount(-2000)));
        assert_eq!(BillAmount::parse("0.04000").unwrap().format(5), "0.04000");
        assert_eq!(BillAmount::parse("45.0").unwrap().format(2), "45.00");
        assert_eq!(BillAmount::parse("0.00001").unwrap().format(5), "0.00001");
        assert_eq!(BillAmount::parse("5.76").unwrap().to_fen(), Some(Fen(576)));
        assert_eq!(BillAmount::parse("0.00001").unwrap().to_fen(), None);
        assert_eq!(BillAmount(-1500).format(2), "-0.02");
        assert_eq!(BillAmount(1499).format(2), "0.01");
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for bad in [
            "",
            "-",
            ".",
            "1.",
            ".5",
            "1.2.3",
            "0.000001",
            "--1",
            "1,00",
            "¥1",
            "NaN",
            "1 ",
            "99999999999999.0",
        ] {
            assert!(BillAmount::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Fen::parse_yuan("0.001").is_err());
    }
}
