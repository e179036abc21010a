//! The WeChat side: trade bills read by the bill parser, fed to the matcher as
//! [`BillRow`]s; and the whole reconciliation of two files.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::export::{Export, ExportError, Mapping, ReadOptions, read_export};
use super::{BatchSender, BillRow, BillRowError, Matcher, Options, Outcome, RunError, run};
use crate::bill::layout::Column;
use crate::bill::parse::{ParseError, Record, Report, read};

/// The visitor stopped: the matching side is gone, or the bill is not an ALL bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("stopped")]
pub struct Stop;

#[derive(Debug, Error)]
pub enum BillError {
    #[error("cannot read: {0}")]
    Open(io::Error),
    #[error(transparent)]
    Parse(ParseError<Stop>),
    #[error("a {0} bill, not the ALL trade bill")]
    NotAll(&'static str),
    #[error(transparent)]
    Row(BillRowError),
}

/// The key fields of a parsed bill record.
pub fn bill_row<'a>(record: &Record<'a>) -> BillRow<'a> {
    let refund = record.is_refund();
    BillRow {
        line: record.line(),
        time: record.trade_time(),
        mch_id: record.get(Column::MchId).unwrap_or(""),
        out_trade_no: record.out_trade_no(),
        out_refund_no: refund.then(|| record.out_refund_no().unwrap_or("")),
        amount: if refund {
            record.refund_fee()
        } else {
            record.total_fee()
        },
        settlement: record.settlement_total_fee(),
        fee: record.fee(),
    }
}

/// Reads a trade bill, handing each row to `visit`. Only the ALL bill has both the
/// payments and the refunds of a day (a REFUND bill dates refunds by their payment).
pub fn read_bill(
    path: &Path,
    mut visit: impl FnMut(&BillRow<'_>) -> Result<(), Stop>,
) -> Result<Report, BillError> {
    let file = File::open(path).map_err(BillError::Open)?;
    let mut refused = None;
    let mut checked = false;
    let report = read(file, |record| {
        if !checked {
            let variant = record.layout().variant();
            if !matches!(variant, "ALL" | "legacy ALL") {
                refused = Some(variant);
                return Err(Stop);
            }
            checked = true;
        }
        visit(&bill_row(record))
    });
    match (report, refused) {
        (Ok(report), _) => Ok(report),
        (Err(_), Some(variant)) => Err(BillError::NotAll(variant)),
        (Err(e), None) => Err(BillError::Parse(e)),
    }
}

/// The files of one reconciliation.
#[derive(Debug, Clone, Copy)]
pub struct Files<'a> {
    pub bill: &'a Path,
    pub export: &'a Path,
    pub previous_bill: Option<&'a Path>,
    pub next_bill: Option<&'a Path>,
}

#[derive(Debug, Error)]
pub enum FilesError {
    #[error(transparent)]
    Export(ExportError),
    #[error("{path}: {error}", path = .0.display(), error = .1)]
    Bill(PathBuf, BillError),
}

/// Reconciles a bill file against an export file: the export is read on this thread while
/// the bill streams on another.
pub fn reconcile_files(
    files: &Files<'_>,
    mapping: &Mapping,
    read_options: &ReadOptions,
    options: Options,
) -> Result<(Outcome, Report, Export), FilesError> {
    let bill_error = |path: &Path, e| FilesError::Bill(path.to_owned(), e);
    let result = run(
        || -> Result<Export, ExportError> {
            let file = File::open(files.export)?;
            read_export(file, mapping, read_options)
        },
        |sender: &mut BatchSender| {
            read_bill(files.bill, |row| {
                if sender.push(row) { Ok(()) } else { Err(Stop) }
            })
            .map_err(|e| bill_error(files.bill, e))
        },
        |matcher: &mut Matcher<'_>| {
            for (path, next) in [(files.previous_bill, false), (files.next_bill, true)] {
                let Some(path) = path else { continue };
                let mut failed = None;
                read_bill(path, |row| {
                    matcher.adjacent_row(row, next).map_err(|e| {
                        failed = Some(e);
                        Stop
                    })
                })
                .map_err(|e| match failed.take() {
                    Some(row) => bill_error(path, BillError::Row(row)),
                    None => bill_error(path, e),
                })?;
            }
            Ok(())
        },
        options,
    );
    result.map_err(|e| match e {
        RunError::Export(e) => FilesError::Export(e),
        RunError::Bill(e) => e,
        RunError::Row(e) => bill_error(files.bill, BillError::Row(e)),
    })
}
