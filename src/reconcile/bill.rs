//! The WeChat side: trade bills read by the bill parser, fed to the matcher as
//! [`BillRow`]s; and the whole reconciliation of two files.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::export::{Export, ExportError, Mapping, ReadOptions, read_export_file};
use super::{BillRow, BillRowError, Matcher, Options, Outcome};
use crate::bill::layout::{Column, Total};
use crate::bill::parse::{
    BillError as ParseBillError, ParseError, Parser, Quantity, Record, Report, read,
};
use crate::wechat::BillAmount;

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
    let mut all = AllOnly::default();
    let report = read(file, |record| {
        all.check(record)?;
        visit(&bill_row(record))
    });
    match (report, all.refused) {
        (Ok(report), _) => Ok(report),
        (Err(_), Some(variant)) => Err(BillError::NotAll(variant)),
        (Err(e), None) => Err(BillError::Parse(e)),
    }
}

/// Stops at the first record of a bill that is not an ALL trade bill, naming its variant.
#[derive(Default)]
struct AllOnly {
    checked: bool,
    refused: Option<&'static str>,
}

impl AllOnly {
    fn check(&mut self, record: &Record<'_>) -> Result<(), Stop> {
        if !self.checked {
            let variant = record.layout().variant();
            if !matches!(variant, "ALL" | "legacy ALL") {
                self.refused = Some(variant);
                return Err(Stop);
            }
            self.checked = true;
        }
        Ok(())
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

/// Bills smaller than this are read on one thread (in unit tests, nearly every one is
/// split, to test the joining).
const PARALLEL_BYTES: u64 = if cfg!(test) { 1024 } else { 16 << 20 };
const READ_SIZE: usize = 1 << 20;

/// Reconciles a bill file against an export file. First the export is read and indexed
/// (a large one as two halves on two threads); then the bill is read as two halves on two
/// threads, each matching its rows as it goes, and the two matchers are joined.
pub fn reconcile_files(
    files: &Files<'_>,
    mapping: &Mapping,
    read_options: &ReadOptions,
    options: Options,
) -> Result<(Outcome, Report, Export), FilesError> {
    let export =
        read_export_file(files.export, mapping, read_options).map_err(FilesError::Export)?;
    let bill_error = |path: &Path, e| FilesError::Bill(path.to_owned(), e);
    let (mut matcher, report) =
        match_bill(&export, files.bill, &options).map_err(|e| bill_error(files.bill, e))?;
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
    let outcome = matcher.finish();
    Ok((outcome, report, export))
}

/// What one part of a bill gave. (A part that is the whole bill, read by the parser's own
/// reader, has its counts in its report only.)
struct Part<'e> {
    matcher: Matcher<'e>,
    /// Lines seen, the header (or its copy) included.
    lines: u64,
    rows: u64,
    /// The sums of every money column, to check the summary row against all parts.
    sums: Vec<i128>,
    report: Option<Report>,
}

fn match_bill<'e>(
    export: &'e Export,
    path: &Path,
    options: &Options,
) -> Result<(Matcher<'e>, Report), BillError> {
    let mut file = File::open(path).map_err(BillError::Open)?;
    let len = file.metadata().map_err(BillError::Open)?.len();
    let mut head = vec![0; 64 * 1024];
    let read = read_full(&mut file, &mut head).map_err(BillError::Open)?;
    head.truncate(read);
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let header_end = memchr::memchr(b'\n', &head).map(|i| i + 1);
    let split = match header_end {
        Some(_) if len >= PARALLEL_BYTES && !gzip => {
            line_start_after(&mut file, len / 2).map_err(BillError::Open)?
        }
        _ => None,
    };
    let (Some(header_end), Some(split)) = (header_end, split) else {
        let part = match_part(export, path, options, None, 0, len, true)?;
        let report = part.report.expect("the only part finishes");
        return Ok((part.matcher, report));
    };
    let header = &head[..header_end];
    let (first, second) = std::thread::scope(|scope| {
        let second =
            scope.spawn(|| match_part(export, path, options, Some(header), split, len, true));
        let first = match_part(export, path, options, None, 0, split, false);
        let second = second
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (first, second)
    });
    let (mut first, second) = match (first, second) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(BillError::Row(e)), _) => return Err(BillError::Row(e)),
        (Ok(first), Err(BillError::Row(e))) => {
            return Err(BillError::Row(e.shifted(first.lines - 1)));
        }
        (first, second) => {
            // A damaged bill: read it whole, so the error names the right line.
            let error = first.err().or(second.err()).expect("one part failed");
            return match read_bill(path, |_| Ok(())) {
                Err(whole) => Err(whole),
                Ok(_) => Err(error),
            };
        }
    };
    let mut second = second;
    second.matcher.shift_lines(first.lines - 1);
    first
        .matcher
        .merge(second.matcher)
        .map_err(BillError::Row)?;
    for (sum, more) in first.sums.iter_mut().zip(&second.sums) {
        *sum += more;
    }
    let report = checked_report(
        second.report.expect("the last part finishes"),
        first.rows + second.rows,
        &first.sums,
        len,
    );
    Ok((first.matcher, report))
}

/// The last part's report, its summary checked against the rows of every part.
fn checked_report(mut report: Report, rows: u64, sums: &[i128], bytes: u64) -> Report {
    report.rows = rows;
    report.bytes = bytes;
    for check in &mut report.totals {
        check.computed = match check.total {
            Total::Count => Quantity::Count(rows),
            Total::Sum(column) => Quantity::Money(BillAmount(
                i64::try_from(sums[column as usize]).unwrap_or(i64::MAX),
            )),
            // Fund-flow totals; a fund-flow bill is refused before it gets here.
            _ => check.computed,
        };
    }
    report
}

fn read_full(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut read = 0;
    while read < buffer.len() {
        match file.read(&mut buffer[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read)
}

/// The offset of the first line that starts at or after `at`.
fn line_start_after(file: &mut File, at: u64) -> io::Result<Option<u64>> {
    file.seek(SeekFrom::Start(at))?;
    let mut window = vec![0; 64 * 1024];
    let read = read_full(file, &mut window)?;
    Ok(memchr::memchr(b'\n', &window[..read]).map(|i| at + i as u64 + 1))
}

/// Parses bytes `start..end` of a bill (behind a copy of the header, for a part after the
/// first) and matches its rows.
fn match_part<'e>(
    export: &'e Export,
    path: &Path,
    options: &Options,
    header: Option<&[u8]>,
    start: u64,
    end: u64,
    last: bool,
) -> Result<Part<'e>, BillError> {
    let mut file = File::open(path).map_err(BillError::Open)?;
    file.seek(SeekFrom::Start(start)).map_err(BillError::Open)?;
    let mut matcher = Matcher::new(export, options.clone());
    let mut all = AllOnly::default();
    let mut failed = None;
    let mut visit = |record: &Record<'_>| -> Result<(), Stop> {
        all.check(record)?;
        matcher.push(&bill_row(record)).map_err(|e| {
            failed = Some(e);
            Stop
        })
    };
    let mut parser = Parser::new();
    // The whole file in one part: the parser's own reader, which also opens gzip.
    let whole = header.is_none() && start == 0 && last;
    let parsed = (|| -> Result<Option<Report>, ParseError<Stop>> {
        if whole {
            return read(&mut file, &mut visit).map(Some);
        }
        if let Some(header) = header {
            parser.feed(header, &mut visit)?;
        }
        let mut buffer = vec![0; READ_SIZE];
        let mut left = end - start;
        while left > 0 {
            let want = buffer
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = file
                .read(&mut buffer[..want])
                .map_err(|e| ParseError::Bill(ParseBillError::Io(e)))?;
            if n == 0 {
                break;
            }
            left -= n as u64;
            parser.feed(&buffer[..n], &mut visit)?;
        }
        if last {
            return parser.finish(&mut visit).map(Some);
        }
        Ok(None)
    })();
    if let Some(variant) = all.refused {
        return Err(BillError::NotAll(variant));
    }
    if let Some(e) = failed {
        return Err(BillError::Row(e));
    }
    let report = parsed.map_err(BillError::Parse)?;
    Ok(Part {
        matcher,
        lines: parser.lines(),
        rows: parser.rows(),
        sums: parser.sums().to_vec(),
        report,
    })
}
