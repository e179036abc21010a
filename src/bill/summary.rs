//! Sums of downloaded trade bills by day, from the manifest alone: rows, trades, refunds,
//! fees and net for each day of a range, and their total.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use time::Date;

use super::download::{Source, bill_file_name, days, iso};
use super::format::BillType;
use super::manifest::{self, EntryStatus, MANIFEST_NAME, ManifestEntry, ManifestError};

/// The widest range summed: ten years. Every day is a row held until the table is drawn,
/// and a manifest holds only what was downloaded, which the API serves for three months
/// back; a wider range is a typo (0001-01-01 would be 3.6 million rows).
pub const MAX_DAYS: i64 = 3660;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the range spans {days} days; at most {MAX_DAYS} are summed at once")]
pub struct TooManyDays {
    pub days: i64,
}

/// Whether `from` to `to` (included) is a range [`sum_days`] takes.
pub fn check_span(from: Date, to: Date) -> Result<(), TooManyDays> {
    let days = (to - from).whole_days() + 1;
    if days > MAX_DAYS {
        return Err(TooManyDays { days });
    }
    Ok(())
}

/// A day's sums: its rows, and amounts in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sums {
    pub rows: i64,
    pub trades: i64,
    pub refunds: i64,
    pub fees: i64,
    /// Trades less refunds and fees.
    pub net: i64,
}

impl Sums {
    /// From the summary row a saved bill's entry recorded; the settlement amounts where the
    /// bill has them, else the order amounts of a legacy bill.
    fn of(entry: &ManifestEntry) -> Sums {
        let fen = |names: &[&str]| -> i64 {
            let totals = entry.totals.as_ref();
            names
                .iter()
                .find_map(|name| totals.and_then(|t| t.get(*name)).and_then(Value::as_f64))
                .map_or(0, |value| value.round() as i64)
        };
        let trades = fen(&["settlement_total_fee", "total_fee"]);
        let refunds = fen(&["settlement_refund_fee", "refund_fee"]);
        let fees = fen(&["fee"]);
        Sums {
            rows: entry.rows.unwrap_or(0) as i64,
            trades,
            refunds,
            fees,
            net: trades - refunds - fees,
        }
    }

    fn add(&mut self, other: Sums) {
        self.rows += other.rows;
        self.trades += other.trades;
        self.refunds += other.refunds;
        self.fees += other.fees;
        self.net += other.net;
    }
}

/// What the manifest says of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaySums {
    /// No entry: never downloaded, or its line was lost.
    Missing,
    NoBill,
    Saved(Sums),
}

impl DaySums {
    /// The day's sums; a day without a bill sums to zero, a missing day to nothing.
    pub fn sums(self) -> Option<Sums> {
        match self {
            DaySums::Missing => None,
            DaySums::NoBill => Some(Sums::default()),
            DaySums::Saved(sums) => Some(sums),
        }
    }
}

/// Every day of a range with its sums, and their total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailySums {
    pub days: Vec<(Date, DaySums)>,
    pub total: Sums,
    /// Missing days whose bill file is there all the same: a download's manifest line was
    /// lost, so the day's sums are not known.
    pub unlisted: Vec<Date>,
}

impl DailySums {
    /// The days the manifest has no entry for.
    pub fn missing(&self) -> impl Iterator<Item = Date> + '_ {
        (self.days.iter())
            .filter(|(_, day)| *day == DaySums::Missing)
            .map(|(date, _)| *date)
    }
}

/// The sums of the `bill_type` bills in a merchant's `folder` from `from` to `to`, included
/// (a range [`check_span`] allows).
pub fn sum_days(
    folder: &Path,
    bill_type: BillType,
    from: Date,
    to: Date,
) -> Result<DailySums, ManifestError> {
    let entries = manifest::read(&folder.join(MANIFEST_NAME))?;
    let source = Source::Trade(bill_type);
    let label = source.label();
    let mut summed = DailySums {
        days: Vec::new(),
        total: Sums::default(),
        unlisted: Vec::new(),
    };
    for date in days(from, to) {
        let day = match manifest::latest(&entries, &iso(date), &label) {
            None => {
                if folder.join(bill_file_name(date, source)).is_file() {
                    summed.unlisted.push(date);
                }
                DaySums::Missing
            }
            Some(entry) if entry.status == EntryStatus::NoBill => DaySums::NoBill,
            Some(entry) => DaySums::Saved(Sums::of(entry)),
        };
        if let Some(sums) = day.sums() {
            summed.total.add(sums);
        }
        summed.days.push((date, day));
    }
    Ok(summed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn entry(date: &str, status: EntryStatus, totals: Value) -> ManifestEntry {
        ManifestEntry {
            date: date.into(),
            bill_type: "ALL".into(),
            status,
            file: None,
            bytes: None,
            sha256: None,
            rows: Some(3),
            totals: totals.as_object().cloned(),
            consistent: Some(true),
            gzip: Some(false),
            source_url: String::new(),
            fetched_at: String::new(),
        }
    }

    #[test]
    fn ranges_wider_than_ten_years_are_refused() {
        assert_eq!(
            check_span(date!(2026 - 01 - 01), date!(2026 - 01 - 01)),
            Ok(())
        );
        assert_eq!(
            check_span(date!(2000 - 01 - 01), date!(2135 - 12 - 31)),
            Err(TooManyDays { days: 49673 })
        );
    }

    #[test]
    fn days_are_summed_from_their_latest_entry() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join(MANIFEST_NAME);
        let new = serde_json::json!({"settlement_total_fee": 1000, "settlement_refund_fee": 100,
            "total_fee": 9999, "fee": 5.4});
        let legacy = serde_json::json!({"total_fee": 300, "refund_fee": 0, "fee": 2});
        for entry in [
            entry("2026-11-01", EntryStatus::NoBill, Value::Null),
            entry("2026-11-02", EntryStatus::Saved, legacy.clone()),
            entry("2026-11-02", EntryStatus::Saved, new),
            entry("2026-11-04", EntryStatus::Saved, legacy),
        ] {
            manifest::append(&manifest, &entry).unwrap();
        }
        std::fs::write(dir.path().join("2026-11-03.ALL.csv"), "a bill").unwrap();
        let summed = sum_days(
            dir.path(),
            BillType::All,
            date!(2026 - 11 - 01),
            date!(2026 - 11 - 05),
        )
        .unwrap();
        let day = |rows, trades, refunds, fees| {
            let net = trades - refunds - fees;
            DaySums::Saved(Sums {
                rows,
                trades,
                refunds,
                fees,
                net,
            })
        };
        let days: Vec<DaySums> = summed.days.iter().map(|(_, day)| *day).collect();
        assert_eq!(
            days,
            [
                DaySums::NoBill,
                day(3, 1000, 100, 5),
                DaySums::Missing,
                day(3, 300, 0, 2),
                DaySums::Missing
            ]
        );
        assert_eq!(
            summed.total,
            Sums {
                rows: 6,
                trades: 1300,
                refunds: 100,
                fees: 7,
                net: 1193
            }
        );
        assert_eq!(summed.unlisted, [date!(2026 - 11 - 03)]);
        assert_eq!(
            summed.missing().collect::<Vec<_>>(),
            [date!(2026 - 11 - 03), date!(2026 - 11 - 05)]
        );
    }
}
