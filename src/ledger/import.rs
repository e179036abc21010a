//! What `ledger import` does with the bills it is given: files, or the days of a bill
//! folder's manifest, each recorded with its rows, and a row of what became of each.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::Date;

use super::LedgerError;
use super::bills::{BillFile, BillWriter, BillsError, Listing, Mode, Outcome, listed_days};
use crate::bill::download::iso;
use crate::bill::layout::BillKind;
use crate::bill::manifest::ManifestError;

impl Outcome {
    /// As commands print it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Imported => "imported",
            Outcome::Recorded => "recorded",
            Outcome::Already => "already",
        }
    }
}

/// A bill to import, or what the manifest says of a day without one.
pub enum Item {
    File(PathBuf, Result<BillFile, BillsError>),
    /// WeChat Pay had no bill of this type that day.
    NoBill(Date, String),
    /// The manifest has nothing of the day.
    Missing(Date),
}

impl Item {
    /// The files named, each with what its folder's manifest lists of it.
    pub fn of_files(files: &[PathBuf]) -> Vec<Item> {
        (files.iter())
            .map(|path| Item::File(path.clone(), BillFile::find(path)))
            .collect()
    }

    /// What the manifest of `folder` lists of each day from `from` to `to`.
    pub fn of_days(folder: &Path, from: Date, to: Date) -> Result<Vec<Item>, ManifestError> {
        let listings = listed_days(folder, from, to)?;
        Ok((listings.into_iter())
            .map(|(day, listing)| match listing {
                Listing::Saved(entry) => {
                    let path = folder.join(entry.file.as_deref().unwrap_or_default());
                    Item::File(path, BillFile::listed(folder, &entry))
                }
                Listing::NoBill(entry) => Item::NoBill(day, entry.bill_type),
                Listing::Missing => Item::Missing(day),
            })
            .collect())
    }

    /// The merchant of the first bill that says whose it is.
    pub fn merchant(items: &[Item]) -> Option<String> {
        items.iter().find_map(|item| match item {
            Item::File(_, Ok(file)) => file.mch_id.clone(),
            _ => None,
        })
    }
}

/// What became of one item: a row of `ledger import` (its documented shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRow {
    pub date: Option<String>,
    #[serde(rename = "type")]
    pub bill_type: Option<String>,
    /// imported, recorded, already, no_bill, missing or failed.
    pub outcome: &'static str,
    pub rows: Option<u64>,
    pub bill_id: Option<i64>,
    pub file: Option<String>,
    pub detail: Option<String>,
}

/// Why an item is not in the ledger.
#[derive(Debug)]
pub enum NotImported {
    Bill(BillsError),
    /// The manifest has no bill of the day.
    Missing(Date),
}

/// Records `item` with its rows in the writer's transaction. Only the ledger's own failure is
/// an error (the transaction is then to be dropped); a bill that cannot be taken is a row,
/// and says why beside it.
pub fn import(
    writer: &mut BillWriter<'_>,
    item: Item,
) -> Result<(ImportRow, Option<NotImported>), LedgerError> {
    let row = |date: Date, outcome, detail: Option<String>| ImportRow {
        date: Some(iso(date)),
        bill_type: None,
        outcome,
        rows: None,
        bill_id: None,
        file: None,
        detail,
    };
    Ok(match item {
        Item::File(path, found) => {
            let file = Some(path.display().to_string());
            match found.and_then(|bill| Ok((writer.record(&bill, Mode::Import)?, bill))) {
                Ok((recorded, bill)) => {
                    let detail = match recorded.outcome {
                        Outcome::Recorded if bill.kind == BillKind::FundFlow => {
                            Some("a fund-flow bill's rows are not imported")
                        }
                        Outcome::Already if recorded.imported => {
                            Some("the same file was imported before")
                        }
                        Outcome::Already => Some("the same file was recorded before"),
                        _ => None,
                    };
                    let imported = ImportRow {
                        date: Some(iso(bill.day)),
                        bill_type: Some(bill.bill_type),
                        outcome: recorded.outcome.name(),
                        rows: Some(recorded.rows),
                        bill_id: Some(recorded.bill_id),
                        file,
                        detail: detail.map(str::to_owned),
                    };
                    (imported, None)
                }
                Err(BillsError::Ledger(e)) => return Err(e),
                Err(e) => {
                    let failed = ImportRow {
                        date: None,
                        bill_type: None,
                        outcome: "failed",
                        rows: None,
                        bill_id: None,
                        file,
                        detail: Some(e.to_string()),
                    };
                    (failed, Some(NotImported::Bill(e)))
                }
            }
        }
        Item::NoBill(day, bill_type) => {
            let no_bill = ImportRow {
                bill_type: Some(bill_type),
                ..row(day, "no_bill", Some("No Bill Exist".to_owned()))
            };
            (no_bill, None)
        }
        Item::Missing(day) => {
            let detail = format!("{}: the manifest has no bill of the day", iso(day));
            (
                row(day, "missing", Some(detail)),
                Some(NotImported::Missing(day)),
            )
        }
    })
}

/// Records the saved bills of type `bill_type` that `listings` (of the manifest of `folder`)
/// has for each of `dates`, as `bill download` does after saving them: for each date, what
/// became of its bill, or None when the manifest lists none. Only the ledger's own failure
/// is an error (the transaction is then to be dropped).
pub fn record_listed(
    writer: &mut BillWriter<'_>,
    folder: &Path,
    listings: &[(Date, Listing)],
    bill_type: &str,
    dates: &[Date],
    mode: Mode,
) -> Result<Vec<Option<Result<Outcome, BillsError>>>, LedgerError> {
    let mut outcomes = Vec::with_capacity(dates.len());
    for date in dates {
        let entry = listings.iter().find_map(|(day, listing)| match listing {
            Listing::Saved(entry) if day == date && entry.bill_type == bill_type => Some(entry),
            _ => None,
        });
        let Some(entry) = entry else {
            outcomes.push(None);
            continue;
        };
        match BillFile::listed(folder, entry).and_then(|file| writer.record(&file, mode)) {
            Ok(recorded) => outcomes.push(Some(Ok(recorded.outcome))),
            Err(BillsError::Ledger(e)) => return Err(e),
            Err(e) => outcomes.push(Some(Err(e))),
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::ledger::Ledger;

    #[test]
    fn days_without_a_bill_are_rows_and_only_a_missing_one_is_not_imported() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        let mut writer = BillWriter::new(&mut ledger, None).unwrap();
        let day = date!(2026 - 11 - 20);
        let (no_bill, why) = import(&mut writer, Item::NoBill(day, "REFUND".into())).unwrap();
        assert_eq!(
            (
                no_bill.outcome,
                no_bill.bill_type.as_deref(),
                no_bill.date.as_deref()
            ),
            ("no_bill", Some("REFUND"), Some("2026-11-20"))
        );
        assert!(why.is_none());
        let (missing, why) = import(&mut writer, Item::Missing(day)).unwrap();
        assert_eq!(missing.outcome, "missing");
        assert!(matches!(why, Some(NotImported::Missing(d)) if d == day));
        let gone = dir.path().join("2026-11-20.ALL.csv");
        let (failed, why) = import(&mut writer, Item::of_files(&[gone]).remove(0)).unwrap();
        assert_eq!((failed.outcome, failed.date.as_deref()), ("failed", None));
        assert!(failed.file.unwrap().ends_with("2026-11-20.ALL.csv"));
        assert!(matches!(why, Some(NotImported::Bill(_))));
        writer.commit().unwrap();
    }
}
