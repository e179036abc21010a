//! A month of the ledger as files that other engines load as they are (DuckDB's
//! `read_csv`, Spark, a warehouse's bulk load): the normalized rows of each day's bill and
//! the differences of each day's latest run, one CSV file per table. They are the same days
//! and the same bills the month report counts, so the files add up to its figures.
//!
//! Values are written exactly as the ledger holds them, typed by their column (integers,
//! RFC 3339 times in Beijing time, text): a file for engines, not a spreadsheet, so no cell
//! is altered to be safe to open in one.

use std::collections::BTreeMap;
use std::io::{self, Write};

use rusqlite::Transaction;
use rusqlite::types::ValueRef;
use thiserror::Error;

use super::report::{day_bills, day_runs};
use super::{Ledger, LedgerError, sqlite};
use crate::time::{YearMonth, rfc3339_of_unix};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    BillRows,
    Differences,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::BillRows, Table::Differences];

    pub fn name(self) -> &'static str {
        match self {
            Table::BillRows => "bill_rows",
            Table::Differences => "differences",
        }
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::BillRows => &BILL_ROW_COLUMNS,
            Table::Differences => &DIFFERENCE_COLUMNS,
        }
    }
}

pub const BILL_ROW_COLUMNS: [&str; 14] = [
    "mch_id",
    "day",
    "bill_id",
    "line",
    "kind",
    "time",
    "out_trade_no",
    "transaction_id",
    "out_refund_no",
    "refund_id",
    "amount_fen",
    "settlement_fen",
    "fee_units",
    "state",
];

pub const DIFFERENCE_COLUMNS: [&str; 23] = [
    "mch_id",
    "day",
    "id",
    "run_id",
    "category",
    "kind",
    "out_trade_no",
    "out_refund_no",
    "bill_fen",
    "bill_time",
    "bill_line",
    "export_fen",
    "export_time",
    "export_line",
    "export_status",
    "note",
    "state",
    "closed_at",
    "closed_by_run",
    "closed_day",
    "closed_with",
    "resolved_by",
    "resolution",
];

/// The rows of one bill, in file order: its primary key's range, never a scan.
const BILL_ROWS: &str = "SELECT line, kind, time, out_trade_no, transaction_id, out_refund_no, \
     refund_id, amount_fen, settlement_fen, fee_units, state FROM bill_rows \
     WHERE bill_id = ?1 ORDER BY line";

/// The differences of one run, as found.
const DIFFERENCES: &str = "SELECT id, run_id, category, kind, out_trade_no, out_refund_no, \
     bill_fen, bill_time, bill_line, export_fen, export_time, export_line, export_status, note, \
     state, closed_at, closed_by_run, closed_day, closed_with, resolved_by, resolution \
     FROM differences WHERE run_id = ?1 ORDER BY id";

/// The queries of the export, for the docs' query plans and their test.
pub const QUERIES: [(&str, &str); 2] = [("bill_rows", BILL_ROWS), ("differences", DIFFERENCES)];

#[derive(Debug, Error)]
pub enum ExportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Write(#[from] io::Error),
}

impl From<csv::Error> for ExportError {
    fn from(error: csv::Error) -> Self {
        ExportError::Write(error.into())
    }
}

/// A month to export, read in one snapshot of the ledger from the first query to the last
/// file, so that the files agree with each other whatever is recorded meanwhile.
pub struct MonthExport<'l> {
    snapshot: Transaction<'l>,
    ledger: &'l Ledger,
    mch_id: String,
    /// Each day's bill: its id, and whether its rows are in the ledger.
    bills: BTreeMap<String, (i64, bool)>,
    /// Each day's latest run.
    runs: BTreeMap<String, i64>,
}

impl<'l> MonthExport<'l> {
    pub fn begin(
        ledger: &'l Ledger,
        mch_id: &str,
        month: YearMonth,
    ) -> Result<MonthExport<'l>, LedgerError> {
        let path = ledger.path();
        let snapshot = ledger
            .conn()
            .unchecked_transaction()
            .map_err(sqlite(path))?;
        let bills = day_bills(&snapshot, mch_id, month).map_err(sqlite(path))?;
        let runs = day_runs(&snapshot, mch_id, month).map_err(sqlite(path))?;
        Ok(MonthExport {
            bills: (bills.into_iter())
                .map(|(day, bill)| (day, (bill.id, bill.imported)))
                .collect(),
            runs: runs.into_iter().map(|(day, (id, _))| (day, id)).collect(),
            snapshot,
            ledger,
            mch_id: mch_id.to_owned(),
        })
    }

    /// The days whose bill is recorded but whose rows were never imported: the bill rows
    /// file has nothing of them.
    pub fn days_without_rows(&self) -> Vec<&str> {
        (self.bills.iter())
            .filter(|(_, (_, imported))| !imported)
            .map(|(day, _)| day.as_str())
            .collect()
    }

    /// Writes `table` as CSV, a header and a line per row; returns the rows written.
    pub fn write_csv(&self, table: Table, out: &mut dyn Write) -> Result<u64, ExportError> {
        let mut csv: Csv<'_> = csv::Writer::from_writer(out);
        csv.write_record(table.columns())?;
        let rows = match table {
            Table::BillRows => self.bill_rows(&mut csv)?,
            Table::Differences => self.differences(&mut csv)?,
        };
        csv.flush()?;
        Ok(rows)
    }

    fn bill_rows(&self, csv: &mut Csv<'_>) -> Result<u64, ExportError> {
        let path = self.ledger.path();
        let mut statement = self.snapshot.prepare(BILL_ROWS).map_err(sqlite(path))?;
        let mut written = 0;
        for (day, (bill_id, _)) in self.bills.iter().filter(|(_, (_, imported))| *imported) {
            let mut rows = statement.query([bill_id]).map_err(sqlite(path))?;
            while let Some(row) = rows.next().map_err(sqlite(path))? {
                csv.write_field(&self.mch_id)?;
                csv.write_field(day)?;
                csv.write_field(itoa::Buffer::new().format(*bill_id))?;
                for column in 0..11 {
                    let value = row.get_ref(column).map_err(sqlite(path))?;
                    match (column, value) {
                        (1, ValueRef::Integer(0)) => csv.write_field("payment")?,
                        (1, ValueRef::Integer(1)) => csv.write_field("refund")?,
                        (2, ValueRef::Integer(seconds)) => csv.write_field(time(seconds))?,
                        _ => write_value(csv, value)?,
                    }
                }
                csv.write_record(None::<&[u8]>)?;
                written += 1;
            }
        }
        Ok(written)
    }

    fn differences(&self, csv: &mut Csv<'_>) -> Result<u64, ExportError> {
        let path = self.ledger.path();
        let mut statement = self.snapshot.prepare(DIFFERENCES).map_err(sqlite(path))?;
        let mut written = 0;
        for (day, run_id) in &self.runs {
            let mut rows = statement.query([run_id]).map_err(sqlite(path))?;
            while let Some(row) = rows.next().map_err(sqlite(path))? {
                csv.write_field(&self.mch_id)?;
                csv.write_field(day)?;
                for column in 0..21 {
                    let value = row.get_ref(column).map_err(sqlite(path))?;
                    match (column, value) {
                        // Bill and export times are Unix seconds in the ledger.
                        (7 | 10, ValueRef::Integer(seconds)) => csv.write_field(time(seconds))?,
                        _ => write_value(csv, value)?,
                    }
                }
                csv.write_record(None::<&[u8]>)?;
                written += 1;
            }
        }
        Ok(written)
    }
}

type Csv<'w> = csv::Writer<&'w mut dyn Write>;

/// A value as a CSV field: NULL is an empty one.
fn write_value(csv: &mut Csv<'_>, value: ValueRef<'_>) -> csv::Result<()> {
    match value {
        ValueRef::Null => csv.write_field([]),
        ValueRef::Integer(n) => csv.write_field(itoa::Buffer::new().format(n)),
        ValueRef::Real(x) => csv.write_field(x.to_string()),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => csv.write_field(bytes),
    }
}

/// Unix seconds as RFC 3339 in Beijing time; a time out of range as its number.
fn time(seconds: i64) -> String {
    rfc3339_of_unix(seconds).unwrap_or_else(|| seconds.to_string())
}
