//! The export mapping as people write it: a profile's `[reconcile]` table, or the flags of the
//! same names, as text. One reading of that text into a [`Mapping`] for every caller.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::DEFAULT_CUTOFF_WINDOW;
use super::export::{Encoding, Mapping, ReadOptions, Unit, parse_delimiter};
use super::time_format::{TimeFormat, parse_zone};

/// The `[profiles.NAME.reconcile]` table: the columns of the shop's order export and what
/// their values mean. Every key is optional; what is absent keeps [`Mapping::default`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSettings {
    pub order_column: Option<String>,
    pub amount_column: Option<String>,
    pub amount_unit: Option<String>,
    pub status_column: Option<String>,
    pub paid_values: Option<Vec<String>>,
    pub refunded_values: Option<Vec<String>>,
    pub closed_values: Option<Vec<String>>,
    pub unpaid_values: Option<Vec<String>>,
    pub time_column: Option<String>,
    pub time_format: Option<String>,
    pub time_zone: Option<String>,
    pub refund_no_column: Option<String>,
    pub refund_amount_column: Option<String>,
    pub refund_time_column: Option<String>,
    pub type_column: Option<String>,
    pub payment_types: Option<Vec<String>>,
    pub refund_types: Option<Vec<String>>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    pub cutoff_window: Option<String>,
}

/// A setting whose text means nothing: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{key}: {problem}")]
pub struct SettingError {
    pub key: &'static str,
    pub problem: String,
}

/// The export's mapping and how to read it, as settings give them.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub mapping: Mapping,
    pub read: ReadOptions,
    /// Seconds before midnight or after it in which a missing entry is a likely cut-off.
    pub cutoff_window: u32,
}

impl MappingSettings {
    /// Each of these settings, else the one of `fallback` (flags over the profile's table).
    pub fn or(self, fallback: &MappingSettings) -> MappingSettings {
        let f = fallback.clone();
        MappingSettings {
            order_column: self.order_column.or(f.order_column),
            amount_column: self.amount_column.or(f.amount_column),
            amount_unit: self.amount_unit.or(f.amount_unit),
            status_column: self.status_column.or(f.status_column),
            paid_values: self.paid_values.or(f.paid_values),
            refunded_values: self.refunded_values.or(f.refunded_values),
            closed_values: self.closed_values.or(f.closed_values),
            unpaid_values: self.unpaid_values.or(f.unpaid_values),
            time_column: self.time_column.or(f.time_column),
            time_format: self.time_format.or(f.time_format),
            time_zone: self.time_zone.or(f.time_zone),
            refund_no_column: self.refund_no_column.or(f.refund_no_column),
            refund_amount_column: self.refund_amount_column.or(f.refund_amount_column),
            refund_time_column: self.refund_time_column.or(f.refund_time_column),
            type_column: self.type_column.or(f.type_column),
            payment_types: self.payment_types.or(f.payment_types),
            refund_types: self.refund_types.or(f.refund_types),
            encoding: self.encoding.or(f.encoding),
            delimiter: self.delimiter.or(f.delimiter),
            cutoff_window: self.cutoff_window.or(f.cutoff_window),
        }
    }

    /// The mapping these settings describe, over [`Mapping::default`].
    pub fn resolve(self) -> Result<Resolved, SettingError> {
        let bad = |key, problem: String| SettingError { key, problem };
        let mut mapping = Mapping::default();
        if let Some(text) = &self.amount_unit {
            mapping.unit = Unit::parse(text)
                .ok_or_else(|| bad("amount_unit", format!("{text:?} is neither fen nor yuan")))?;
        }
        if let Some(text) = &self.time_format {
            mapping.time_format =
                TimeFormat::parse(text).map_err(|e| bad("time_format", e.to_string()))?;
        }
        if let Some(text) = &self.time_zone {
            mapping.zone = parse_zone(text).map_err(|e| bad("time_zone", e.to_string()))?;
        }
        if let Some(order) = self.order_column {
            mapping.order = order;
        }
        if let Some(amount) = self.amount_column {
            mapping.amount = amount;
        }
        // One row per transaction: the type says what a row is, and a status is optional.
        mapping.type_column = self.type_column;
        if self.status_column.is_some() || mapping.type_column.is_some() {
            mapping.status = self.status_column;
        }
        for (values, given) in [
            (&mut mapping.paid_values, self.paid_values),
            (&mut mapping.refunded_values, self.refunded_values),
            (&mut mapping.closed_values, self.closed_values),
            (&mut mapping.unpaid_values, self.unpaid_values),
            (&mut mapping.payment_types, self.payment_types),
            (&mut mapping.refund_types, self.refund_types),
        ] {
            if let Some(given) = given {
                *values = given;
            }
        }
        // A column someone named must be there; `none` turns the time off.
        match self.time_column.as_deref() {
            Some("none") => mapping.time = None,
            Some(name) => (mapping.time, mapping.time_if_present) = (Some(name.to_owned()), false),
            None => {}
        }
        if let Some(name) = self.refund_amount_column {
            (mapping.refund_amount, mapping.refund_amount_if_present) = (Some(name), false);
        }
        mapping.refund_no = self.refund_no_column;
        mapping.refund_time = self.refund_time_column;
        let encoding = match self.encoding.as_deref() {
            None | Some("auto") => None,
            Some(text) => Some(Encoding::parse(text).ok_or_else(|| {
                let problem = format!("{text:?} is not one of auto, utf-8, gbk, gb18030");
                bad("encoding", problem)
            })?),
        };
        let delimiter = match self.delimiter.as_deref() {
            None | Some("auto") => None,
            Some(text) => Some(parse_delimiter(text).ok_or_else(|| {
                let problem = format!("{text:?} is not one of auto, comma, tab, semicolon");
                bad("delimiter", problem)
            })?),
        };
        let cutoff_window = match &self.cutoff_window {
            Some(text) => {
                parse_window(text).map_err(|e| bad("cutoff_window", format!("{text:?}: {e}")))?
            }
            None => DEFAULT_CUTOFF_WINDOW,
        };
        Ok(Resolved {
            mapping,
            read: ReadOptions {
                encoding,
                delimiter,
                skip_bad_lines: false,
                threads: 1,
            },
            cutoff_window,
        })
    }
}

/// A cut-off window: seconds, or a number with s, m or h; at most 12 hours.
pub fn parse_window(text: &str) -> Result<u32, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err("expected seconds, or a number with s, m or h".to_owned()),
    };
    let value: u32 = number
        .parse()
        .map_err(|_| "expected seconds, or a number with s, m or h".to_owned())?;
    value
        .checked_mul(scale)
        .filter(|v| *v <= 12 * 3600)
        .ok_or_else(|| "at most 12h".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> Option<String> {
        Some(value.to_owned())
    }

    #[test]
    fn flags_win_over_the_table_and_absent_keys_keep_the_defaults() {
        let table = MappingSettings {
            order_column: text("订单号"),
            amount_unit: text("fen"),
            cutoff_window: text("2m"),
            ..MappingSettings::default()
        };
        let flags = MappingSettings {
            order_column: text("order_no"),
            time_column: text("none"),
            ..MappingSettings::default()
        };
        let resolved = flags.or(&table).resolve().unwrap();
        assert_eq!(resolved.mapping.order, "order_no");
        assert_eq!(resolved.mapping.unit, Unit::Fen);
        assert_eq!(resolved.mapping.time, None);
        assert_eq!(resolved.cutoff_window, 120);
        assert_eq!(resolved.mapping.amount, Mapping::default().amount);
        let defaults = MappingSettings::default().resolve().unwrap();
        assert_eq!(defaults.cutoff_window, DEFAULT_CUTOFF_WINDOW);
        assert!(defaults.mapping.time_if_present);
    }

    #[test]
    fn a_setting_that_means_nothing_is_named() {
        let cases = [
            MappingSettings {
                amount_unit: text("cents"),
                ..Default::default()
            },
            MappingSettings {
                encoding: text("latin1"),
                ..Default::default()
            },
            MappingSettings {
                delimiter: text("pipe"),
                ..Default::default()
            },
            MappingSettings {
                time_zone: text("Mars/Olympus"),
                ..Default::default()
            },
            MappingSettings {
                cutoff_window: text("13h"),
                ..Default::default()
            },
        ];
        let keys = [
            "amount_unit",
            "encoding",
            "delimiter",
            "time_zone",
            "cutoff_window",
        ];
        for (settings, key) in cases.into_iter().zip(keys) {
            assert_eq!(settings.resolve().unwrap_err().key, key);
        }
        assert_eq!(parse_window("90s"), Ok(90));
        assert_eq!(parse_window("300"), Ok(300));
        assert!(parse_window("5x").is_err());
    }
}
