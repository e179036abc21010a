//! The WeChat side: trade bills read by the bill parser, fed to the matcher as
//! [`BillRow`]s; and the whole reconciliation of two files.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::export::{Export, ExportError, Mapping, ReadOptions, read_export_file};
use super::{BillRow, BillRowError, Matcher, Options, Reconciled};
use crate::bill::layout::{Column, Total};
use crate::bill::parse::{
    BillError as ParseBillError, BillRecord, ParseError, Parser, Quantity, Report, read,
};
use crate::wechat::BillAmount;

/// The visitor stopped: the matching side is gone, or the bill is not an ALL bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("stopped")]
pub struct Stop;

#[derive(Debug, Error)]
pub enum BillReadError {
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
pub fn bill_row<'a>(record: &BillRecord<'a>) -> BillRow<'a> {
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
) -> Result<Report, BillReadError> {
    let file = File::open(path).map_err(BillReadError::Open)?;
    let mut all = AllOnly::default();
    let report = read(file, |record| {
        all.check(record)?;
        visit(&bill_row(record))
    });
    match (report, all.refused) {
        (Ok(report), _) => Ok(report),
        (Err(_), Some(variant)) => Err(BillReadError::NotAll(variant)),
        (Err(e), None) => Err(BillReadError::Parse(e)),
    }
}

/// Stops at the first record of a bill that is not an ALL trade bill, naming its variant.
#[derive(Default)]
struct AllOnly {
    checked: bool,
    refused: Option<&'static str>,
}

impl AllOnly {
    fn check(&mut self, record: &BillRecord<'_>) -> Result<(), Stop> {
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
    Bill(PathBuf, BillReadError),
}

/// Bills smaller than this are read on one thread (in unit tests, nearly every one is
/// split, to test the joining).
const PARALLEL_BYTES: u64 = if cfg!(test) { 256 } else { 16 << 20 };
const READ_SIZE: usize = 1 << 20;

/// Reconciles a bill file against an export file. First the export is read and indexed;
/// then the bill is read, in as many parts as there are threads, each matching its rows as
/// it goes, and the parts' matchers are joined in order.
pub fn reconcile_files(
    files: &Files<'_>,
    mapping: &Mapping,
    read_options: &ReadOptions,
    options: Options,
) -> Result<Reconciled, FilesError> {
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
            Some(row) => bill_error(path, BillReadError::Row(row)),
            None => bill_error(path, e),
        })?;
    }
    let outcome = matcher.finish();
    Ok(Reconciled {
        outcome,
        report,
        export: export.info,
    })
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
    /// The part's first bad row, which stopped it.
    failed: Option<BillRowError>,
}

fn match_bill<'e>(
    export: &'e Export,
    path: &Path,
    options: &Options,
) -> Result<(Matcher<'e>, Report), BillReadError> {
    let mut file = File::open(path).map_err(BillReadError::Open)?;
    let metadata = file.metadata().map_err(BillReadError::Open)?;
    let len = metadata.len();
    let mut head = vec![0; 64 * 1024];
    let read = read_full(&mut file, &mut head).map_err(BillReadError::Open)?;
    head.truncate(read);
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let header_end = memchr::memchr(b'\n', &head).map(|i| i + 1);
    // Parts of at least half the size read on one thread, whatever --threads says.
    let threads = (options.threads.max(1) as u64).min((len / (PARALLEL_BYTES / 2)).max(1));
    let mut starts = vec![0];
    if header_end.is_some() && threads > 1 && metadata.is_file() && len >= PARALLEL_BYTES && !gzip {
        for k in 1..threads {
            if let Some(cut) =
                row_start_after(&mut file, len * k / threads).map_err(BillReadError::Open)?
                && cut > *starts.last().unwrap_or(&0)
                && cut < len
            {
                starts.push(cut);
            }
        }
    }
    let (Some(header_end), true) = (header_end, starts.len() > 1) else {
        let part = match_part(export, path, options, None, (0, 0), len, true)?;
        if let Some(e) = part.failed {
            return Err(BillReadError::Row(e));
        }
        let report = part.report.expect("the only part finishes");
        return Ok((part.matcher, report));
    };
    let header = &head[..header_end];
    let ends: Vec<u64> = starts.iter().skip(1).copied().chain([len]).collect();
    let last = starts.len() - 1;
    let part = |k: usize| {
        let header = (k > 0).then_some(header);
        match_part(
            export,
            path,
            options,
            header,
            (k, starts[k]),
            ends[k],
            k == last,
        )
    };
    let parts: Vec<Result<Part<'e>, BillReadError>> = std::thread::scope(|scope| {
        let later: Vec<_> = (1..=last).map(|k| scope.spawn(move || part(k))).collect();
        let first = part(0);
        std::iter::once(first)
            .chain(later.into_iter().map(|p| {
                p.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }))
            .collect()
    });
    // Rows checked in file order: the first part's bad row, else a later part's (its lines
    // moved down past the parts before it). A damaged bill is read again whole, so that
    // its error names the right line.
    let mut joined: Option<Part<'e>> = None;
    let mut lines_before: u64 = 0;
    let mut damaged = None;
    for (k, part) in parts.into_iter().enumerate() {
        let shift = lines_before.saturating_sub(u64::from(k > 0));
        match part {
            Ok(mut part) => {
                lines_before = shift + part.lines;
                if damaged.is_some() {
                    continue;
                }
                part.matcher.shift_lines(shift);
                // A part takes its day from its first row: of another day than the parts
                // before, that row is the first that is wrong.
                let day = joined.as_ref().and_then(|j| j.matcher.day());
                if let (Some(day), Some(theirs)) = (day, part.matcher.day())
                    && day != theirs
                {
                    return Err(BillReadError::Row(BillRowError::WrongDay {
                        line: part.matcher.first_line(),
                        found: theirs.to_string(),
                        expected: day,
                    }));
                }
                if let Some(e) = part.failed {
                    return Err(BillReadError::Row(e.shifted(shift)));
                }
                match &mut joined {
                    None => joined = Some(part),
                    Some(joined) => {
                        joined.matcher.merge(part.matcher);
                        for (sum, more) in joined.sums.iter_mut().zip(&part.sums) {
                            *sum += more;
                        }
                        joined.rows += part.rows;
                        joined.report = part.report;
                    }
                }
            }
            Err(e) => {
                damaged.get_or_insert(e);
            }
        }
    }
    if let Some(error) = damaged {
        return match read_bill(path, |_| Ok(())) {
            Err(whole) => Err(whole),
            Ok(_) => Err(error),
        };
    }
    let joined = joined.expect("at least one part");
    let report = checked_report(
        joined.report.expect("the last part finishes"),
        joined.rows,
        &joined.sums,
        len,
    );
    Ok((joined.matcher, report))
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

/// The offset of the first data row that starts at or after `at` and is followed by
/// another: a row, not the summary (whose header has no backtick, and whose values end
/// the bill), so that every part but the last is rows only.
fn row_start_after(file: &mut File, at: u64) -> io::Result<Option<u64>> {
    file.seek(SeekFrom::Start(at))?;
    let mut window = vec![0; 64 * 1024];
    let read = read_full(file, &mut window)?;
    let window = &window[..read];
    let starts: Vec<usize> = memchr::memchr_iter(b'\n', window).map(|i| i + 1).collect();
    Ok(starts
        .windows(2)
        .find(|pair| window.get(pair[0]) == Some(&b'`') && window.get(pair[1]) == Some(&b'`'))
        .map(|pair| at + pair[0] as u64))
}

/// Parses bytes `start..end` of a bill, its part `part` (behind a copy of the header, for a
/// part after the first), and matches its rows.
fn match_part<'e>(
    export: &'e Export,
    path: &Path,
    options: &Options,
    header: Option<&[u8]>,
    (part, start): (usize, u64),
    end: u64,
    last: bool,
) -> Result<Part<'e>, BillReadError> {
    let mut file = File::open(path).map_err(BillReadError::Open)?;
    file.seek(SeekFrom::Start(start))
        .map_err(BillReadError::Open)?;
    let mut matcher = Matcher::for_part(export, options.clone(), part);
    let mut all = AllOnly::default();
    let mut failed = None;
    let mut visit = |record: &BillRecord<'_>| -> Result<(), Stop> {
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
        return Err(BillReadError::NotAll(variant));
    }
    // A bad row stops the part; what it read so far says whether a part before it was of
    // another day.
    let report = match failed {
        Some(_) => None,
        None => parsed.map_err(BillReadError::Parse)?,
    };
    Ok(Part {
        matcher,
        lines: parser.lines(),
        rows: parser.rows(),
        sums: parser.sums().to_vec(),
        report,
        failed,
    })
}
