//! The reference engine: the rules of a reconciliation, written to be read.
//!
//! This file is the specification. It reads one file after the other on one thread, keeps
//! every entry in plain maps and vectors, and decides each entry's category in one place
//! ([`categorize`]). The fast engine ([`super::bill::reconcile_files`]) must give exactly
//! what this one gives, entries, totals, line numbers and errors alike; property tests hold
//! it to that. It is slower (three to five times at 100,000 trades) and holds every entry as owned
//! strings, so it is meant for checking, and for `reconcile --engine reference`.
//!
//! # The export
//! Rows are read with the csv crate ([`Records`]): a row spanning more than 1 MiB and a
//! quote left open at the end of the file are errors. The first row is the header. A row
//! whose cells are all blank is skipped and not counted. Every other row is one payment
//! (an order, or a payment row of a per-transaction export), one refund (a refund row), or
//! a payment and its refund (an order the export says is refunded, or one with a refund
//! amount above zero). An empty cell of an optional column (refund amount, refund number,
//! a time, the status of a per-transaction row) means the value is absent.
//!
//! A payment is keyed by its order number; a refund by its refund number when the export
//! has one, else by its order number. A key seen twice is a duplicate, except the refund
//! rows of one order in a per-transaction export without refund numbers: those add up.
//!
//! # The bill
//! Read by the bill parser, each row checked: the merchant, a 交易时间 of the bill's day,
//! an amount one order can carry. Payment rows look up the payment of their order; refund
//! rows the refund of their refund number (when the export has refund numbers), else the
//! refunds of their order, summed.
//!
//! # Categories, first that applies
//! An export entry that no bill row matched is left out of the day when the export dates it
//! on another day (`out_of_scope`), or when the export says it was never charged (closed or
//! unpaid: `not_charged`). Every other entry is, in this order:
//! 1. `duplicate`: its key is in the export or (for one payment or refund) in the bill
//!    more than once;
//! 2. matched by a bill row: `status_mismatch` when the export says the order was never
//!    charged; `cross_day` when the export dates it on another day; `amount_mismatch` when
//!    the amounts differ; else `matched`;
//! 3. not matched: `cross_day` when the previous or next day's bill has it, or (without
//!    that bill) when the export dates it within the cut-off window of midnight;
//!    else `missing_in_bill`.
//!
//! A bill row whose key the export lacks is a `duplicate` when the bill repeats the key,
//! a `status_mismatch` when it is a refund of an order the export has and does not call
//! refunded (per-order exports only), else `missing_in_export`.
//!
//! # Watched keys
//! Each watched key ([`super::watch`]) that the day's bill or the export has is reported
//! with both sides: its first bill row of the day (the refunds of an order: every refund
//! row of the order, summed, at the first one's line), and the export's entry of the key,
//! of any date and status (a refund by number: the refund of that number, else the refunds
//! of its order).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::bill::{BillReadError, Files, FilesError, Stop, read_bill};
use super::export::{
    BAD_LINES_KEPT, BadLine, ExportError, ExportInfo, Mapping, ReadOptions, Shape, Unit, decoded,
    find_columns, header_names, not_an_amount, records_error,
};
use super::records::Records;
use super::store::{EntryKind, MAX_KEY, OrderStatus};
use super::watch::{Sighting, Take};
use super::{
    BillRow, BillRowError, BillTotals, Category, CategoryTotal, Difference, ExportTotals,
    MAX_ORDER_FEN, Options, Reconciled, Reconciliation, Side, check_amount, check_day, sign,
};
use crate::time::stamp::{self, DAY, Day, NO_TIME, Stamp};

/// One payment or refund of the export.
#[derive(Debug, Clone)]
struct Entry {
    kind: EntryKind,
    /// The order number of a payment, the refund number or order number of a refund.
    key: String,
    order: String,
    amount: i64,
    time: Stamp,
    /// A refund without a time of its own, dated by its payment: never cross-day.
    undated: bool,
    line: u64,
    status: OrderStatus,
    /// Lines of later rows with the same key.
    repeats: Vec<u64>,
    /// The bill rows that matched it, in file order.
    bill_rows: Vec<Side>,
    /// A row of the previous (false) or next (true) day's bill with its order number.
    adjacent: Option<(Side, bool)>,
}

/// Reconciles a bill against an export, by the rules above.
pub fn reconcile(
    files: &Files<'_>,
    mapping: &Mapping,
    read_options: &ReadOptions,
    options: Options,
) -> Result<Reconciled, FilesError> {
    let file = File::open(files.export).map_err(|e| FilesError::Export(ExportError::Io(e)))?;
    let (mut entries, info) =
        read_export(file, mapping, read_options).map_err(FilesError::Export)?;

    // The first entry of each key; later ones fold into it.
    let mut first_of: HashMap<(EntryKind, String), usize> = HashMap::new();
    let mut folded = vec![false; entries.len()];
    for i in 0..entries.len() {
        let key = (entries[i].kind, entries[i].key.clone());
        match first_of.get(&key) {
            None => {
                first_of.insert(key, i);
            }
            Some(&first) => {
                folded[i] = true;
                if entries[i].kind == EntryKind::OrderRefund && info.transactions {
                    entries[first].amount += entries[i].amount;
                } else {
                    let line = entries[i].line;
                    entries[first].repeats.push(line);
                }
            }
        }
    }

    let mut day = options.day;
    let mut bill = BillTotals::default();
    // Bill rows whose key the export lacks: the first row, and whether the key repeats.
    let mut bill_only: Vec<(EntryKind, String, Option<String>, Side, bool)> = Vec::new();
    let mut bill_only_at: HashMap<(EntryKind, String), usize> = HashMap::new();
    // The bill's side of each watched key, by its place in the watch.
    let mut sighted: HashMap<usize, Side> = HashMap::new();
    let mut failed = None;
    let report = read_bill(files.bill, |row| {
        let checked = check_row(row, &options, &mut day);
        let time = checked.map_err(|e| {
            failed = Some(e);
            Stop
        })?;
        let side = Side {
            amount: row.amount.0,
            time,
            line: row.line,
        };
        bill.rows += 1;
        bill.fees += i128::from(row.fee.0);
        if let Some(watch) = &options.watch {
            for &at in watch.of_order(row.out_trade_no) {
                match super::watch::take(&watch.keys()[at], row.out_refund_no) {
                    None => {}
                    Some(Take::First) => {
                        sighted.entry(at).or_insert_with(|| side.clone());
                    }
                    Some(Take::Sum) => {
                        sighted
                            .entry(at)
                            .and_modify(|sum| sum.amount += side.amount)
                            .or_insert_with(|| side.clone());
                    }
                }
            }
        }
        let order = row.out_trade_no.to_owned();
        let (found, only_key) = match row.out_refund_no {
            None => {
                bill.payments.add(row.amount.0);
                bill.settlement += i128::from(row.settlement.0);
                (
                    first_of.get(&(EntryKind::Payment, order.clone())),
                    (EntryKind::Payment, order.clone()),
                )
            }
            Some(number) => {
                bill.refunds.add(row.amount.0);
                let by_number = info
                    .refund_numbers
                    .then(|| first_of.get(&(EntryKind::Refund, number.to_owned())))
                    .flatten();
                let found =
                    by_number.or_else(|| first_of.get(&(EntryKind::OrderRefund, order.clone())));
                (found, (EntryKind::Refund, number.to_owned()))
            }
        };
        match found {
            Some(&i) => entries[i].bill_rows.push(side),
            None => match bill_only_at.get(&only_key) {
                Some(&at) => bill_only[at].4 = true,
                None => {
                    bill_only_at.insert(only_key.clone(), bill_only.len());
                    let refund = row.out_refund_no.map(str::to_owned);
                    bill_only.push((only_key.0, order, refund, side, false));
                }
            },
        }
        Ok(())
    })
    .map_err(|e| bill_failure(files.bill, e, &mut failed))?;

    for (path, next) in [(files.previous_bill, false), (files.next_bill, true)] {
        let Some(path) = path else { continue };
        let mut failed = None;
        read_bill(path, |row| {
            let time = check_adjacent_row(row, &options).map_err(|e| {
                failed = Some(e);
                Stop
            })?;
            if row.out_refund_no.is_none()
                && let Some(&i) = first_of.get(&(EntryKind::Payment, row.out_trade_no.to_owned()))
                && entries[i].adjacent.is_none()
            {
                let side = Side {
                    amount: row.amount.0,
                    time,
                    line: row.line,
                };
                entries[i].adjacent = Some((side, next));
            }
            Ok(())
        })
        .map_err(|e| bill_failure(path, e, &mut failed))?;
    }

    let day = day.unwrap_or(Day(0));
    let mut outcome = Reconciliation {
        day,
        bill,
        export: ExportTotals {
            rows: info.rows,
            skipped_bad_lines: info.skipped,
            ..ExportTotals::default()
        },
        categories: [CategoryTotal::default(); 7],
        differences: Vec::new(),
        sightings: Vec::new(),
    };
    for (at, key) in options
        .watch
        .iter()
        .flat_map(|w| w.keys().iter().enumerate())
    {
        let first = |kind, key: &str| first_of.get(&(kind, key.to_owned())).copied();
        let found = match (key.kind, &key.out_refund_no) {
            (EntryKind::Refund, Some(number)) => first(EntryKind::Refund, number)
                .or_else(|| first(EntryKind::OrderRefund, &key.out_trade_no)),
            (kind, _) => first(kind, &key.out_trade_no),
        };
        let entry = found.map(|i| &entries[i]);
        let bill = sighted.remove(&at);
        if bill.is_none() && entry.is_none() {
            continue;
        }
        outcome.sightings.push(Sighting {
            key: key.clone(),
            bill,
            export: entry.map(|e| Side {
                amount: e.amount,
                time: e.time,
                line: e.line,
            }),
            export_status: entry.map(|e| e.status),
        });
    }
    for (entry, _) in entries.iter().zip(&folded).filter(|(_, folded)| !**folded) {
        categorize(entry, day, &options, &mut outcome);
    }
    for (kind, order, refund, side, repeated) in bill_only {
        let payment = first_of
            .get(&(EntryKind::Payment, order.clone()))
            .map(|&i| &entries[i]);
        let (category, note) = if repeated {
            (
                Category::Duplicate,
                "the bill has this key more than once".to_owned(),
            )
        } else if kind == EntryKind::Refund
            && !info.transactions
            && let Some(payment) = payment.filter(|p| p.status != OrderStatus::Refunded)
        {
            (
                Category::StatusMismatch,
                format!(
                    "WeChat Pay refunded it; the export says {}",
                    payment.status.name()
                ),
            )
        } else {
            (Category::MissingInExport, String::new())
        };
        let total = &mut outcome.categories[category as usize];
        total.count += 1;
        total.bill_amount += sign(kind) * i128::from(side.amount);
        outcome.differences.push(Difference {
            category,
            kind,
            out_trade_no: order,
            out_refund_no: refund,
            bill: Some(side),
            export: None,
            export_status: payment.map(|p| p.status),
            note,
        });
    }
    outcome.differences.sort_by(|a, b| {
        (a.category, &a.out_trade_no, a.kind, &a.out_refund_no).cmp(&(
            b.category,
            &b.out_trade_no,
            b.kind,
            &b.out_refund_no,
        ))
    });
    Ok(Reconciled {
        outcome,
        report,
        export: info,
    })
}

/// Sorts one export entry into its category, adding it to the totals.
fn categorize(entry: &Entry, day: Day, options: &Options, out: &mut Reconciliation) {
    let seen = !entry.bill_rows.is_empty();
    let in_scope = entry.time == NO_TIME || day.contains(entry.time);
    let charged = entry.status.charged();
    if !seen && !in_scope {
        out.export.out_of_scope += 1;
        return;
    }
    if !seen && !charged {
        out.export.not_charged += 1;
        return;
    }
    if in_scope && charged {
        match entry.kind {
            EntryKind::Payment => out.export.payments.add(entry.amount),
            _ => out.export.refunds.add(entry.amount),
        }
    }
    // The refunds of an order add up; a payment or a refund by number is its first row.
    let bill_amount = match entry.kind {
        EntryKind::OrderRefund => entry.bill_rows.iter().map(|r| r.amount).sum(),
        _ => entry.bill_rows.first().map_or(0, |r| r.amount),
    };
    let near_midnight = |t: Stamp| {
        let window = options.cutoff_window;
        let after_start = t >= day.start() && t < day.start() + window;
        let before_end = t < day.start() + DAY && t >= (day.start() + DAY).saturating_sub(window);
        t != NO_TIME
            && ((after_start && !options.previous_bill) || (before_end && !options.next_bill))
    };
    let bill_repeated = entry.kind != EntryKind::OrderRefund && entry.bill_rows.len() > 1;
    let (category, mut note) = if !entry.repeats.is_empty() || bill_repeated {
        let side = if entry.repeats.is_empty() {
            "bill"
        } else {
            "export"
        };
        (
            Category::Duplicate,
            format!("the {side} has this key more than once"),
        )
    } else if seen {
        if entry.kind == EntryKind::Payment && !charged {
            (
                Category::StatusMismatch,
                format!(
                    "WeChat Pay took the money; the export says {}",
                    entry.status.name()
                ),
            )
        } else if !in_scope && !entry.undated {
            (
                Category::CrossDay,
                format!("the export dates it {}", stamp::format_stamp(entry.time)),
            )
        } else if bill_amount != entry.amount {
            (Category::AmountMismatch, String::new())
        } else {
            (Category::Matched, String::new())
        }
    } else if let Some((_, next)) = &entry.adjacent {
        let which = if *next { "next" } else { "previous" };
        (Category::CrossDay, format!("in the {which} day's bill"))
    } else if near_midnight(entry.time) {
        (
            Category::CrossDay,
            "likely cut-off: dated close to midnight and not in this day's bill; give the adjacent day's bill to confirm".to_owned(),
        )
    } else {
        (Category::MissingInBill, String::new())
    };
    let total = &mut out.categories[category as usize];
    total.count += 1;
    total.export_amount += sign(entry.kind) * i128::from(entry.amount);
    total.bill_amount += sign(entry.kind) * i128::from(bill_amount);
    if category == Category::Matched {
        return;
    }
    if category == Category::Duplicate {
        for line in &entry.repeats {
            note += &format!("; again on line {line}");
        }
        if entry.kind != EntryKind::OrderRefund {
            for row in entry.bill_rows.iter().skip(1) {
                note += &format!("; bill line {} again", row.line);
            }
        }
    }
    let bill = match entry.bill_rows.first() {
        Some(first) => Some(Side {
            amount: bill_amount,
            ..first.clone()
        }),
        None => entry.adjacent.as_ref().map(|(side, _)| side.clone()),
    };
    out.differences.push(Difference {
        category,
        kind: entry.kind,
        out_trade_no: entry.order.clone(),
        out_refund_no: (entry.kind == EntryKind::Refund).then(|| entry.key.clone()),
        bill,
        export: Some(Side {
            amount: entry.amount,
            time: entry.time,
            line: entry.line,
        }),
        export_status: Some(entry.status),
        note,
    });
}

/// Checks a row of the day's bill, setting the day from the first row when none is given;
/// returns its time.
fn check_row(
    row: &BillRow<'_>,
    options: &Options,
    day: &mut Option<Day>,
) -> Result<Stamp, BillRowError> {
    let time = check_adjacent_row(row, options)?;
    check_day(row, time, *day.get_or_insert(Day::of(time)))?;
    check_amount(row)?;
    Ok(time)
}

/// The checks every bill row passes: its merchant, and a time.
fn check_adjacent_row(row: &BillRow<'_>, options: &Options) -> Result<Stamp, BillRowError> {
    if let Some(expected) = &options.mch_id
        && row.mch_id != expected
    {
        return Err(BillRowError::WrongMerchant {
            line: row.line,
            found: row.mch_id.to_owned(),
            expected: expected.clone(),
        });
    }
    stamp::bill_stamp(row.time).ok_or_else(|| BillRowError::Time {
        line: row.line,
        text: row.time.to_owned(),
    })
}

fn bill_failure(path: &Path, error: BillReadError, row: &mut Option<BillRowError>) -> FilesError {
    let error = match row.take() {
        Some(row) => BillReadError::Row(row),
        None => error,
    };
    FilesError::Bill(path.to_owned(), error)
}

/// Reads the export's entries in file order.
fn read_export(
    mut source: impl Read,
    mapping: &Mapping,
    options: &ReadOptions,
) -> Result<(Vec<Entry>, ExportInfo), ExportError> {
    let mut head = Vec::new();
    (&mut source)
        .take(super::export::SNIFF as u64)
        .read_to_end(&mut head)?;
    let shape = Shape::sniff(&head, options)?;
    let raw = std::io::Cursor::new(head).chain(source);
    let mut info = ExportInfo {
        encoding: Some(shape.encoding),
        bom: shape.bom > 0,
        delimiter: shape.delimiter,
        ..ExportInfo::default()
    };
    let mut records = Records::new(decoded(raw, shape)?, shape.delimiter, 0);
    let mut record = csv::ByteRecord::new();
    let mut columns = None;
    let mut entries = Vec::new();
    while let Some(line) = records.read(&mut record).map_err(records_error)? {
        let Some(columns) = &columns else {
            let header = header_names(&record);
            let found = find_columns(&header, mapping)?;
            info.header = header;
            info.refund_numbers = found.refund_no.is_some();
            info.transactions = found.type_column.is_some();
            info.absent_time_column = found.absent_time_column.clone();
            columns = Some(found);
            continue;
        };
        if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
            continue;
        }
        info.rows += 1;
        let cell = |column: usize| -> Result<&[u8], BadLine> {
            record
                .get(column)
                .map(<[u8]>::trim_ascii)
                .ok_or_else(|| BadLine {
                    line,
                    column: columns.names[column].clone(),
                    value: String::new(),
                    problem: format!(
                        "is missing: the line has {} fields and the header {}",
                        record.len(),
                        columns.names.len()
                    ),
                })
        };
        let row = read_row(&cell, columns, mapping, line);
        match row {
            Ok(row) => entries.extend(row),
            Err(bad) if options.skip_bad_lines => {
                info.skipped += 1;
                if info.bad_lines.len() < BAD_LINES_KEPT {
                    info.bad_lines.push(bad);
                }
            }
            Err(bad) => return Err(ExportError::Bad(bad)),
        }
    }
    if columns.is_none() {
        return Err(ExportError::NoHeader);
    }
    if info.rows == 0 {
        return Err(ExportError::NoRows);
    }
    Ok((entries, info))
}

/// The entries of one export row: a payment, a refund, or a payment and its refund.
fn read_row<'r>(
    cell: &impl Fn(usize) -> Result<&'r [u8], BadLine>,
    columns: &super::export::Columns,
    mapping: &Mapping,
    line: u64,
) -> Result<Vec<Entry>, BadLine> {
    let bad = |column: usize, value: &[u8], problem: &str| BadLine {
        line,
        column: columns.names[column].clone(),
        value: String::from_utf8_lossy(value).into_owned(),
        problem: problem.to_owned(),
    };
    let key = |column: usize| -> Result<String, BadLine> {
        let text = cell(column)?;
        if text.is_empty() {
            return Err(bad(column, text, "is empty"));
        }
        if text.len() > MAX_KEY {
            return Err(bad(column, text, "is longer than 255 bytes"));
        }
        String::from_utf8(text.to_vec()).map_err(|_| {
            bad(
                column,
                text,
                "is not UTF-8: give the export's encoding with --encoding gbk",
            )
        })
    };
    let one_of = |text: &[u8], values: &[String]| {
        values
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(text))
    };
    let amount = |column: usize| -> Result<Option<i64>, BadLine> {
        let text = cell(column)?;
        if text.is_empty() {
            return Ok(None);
        }
        match parse_amount(text, mapping.unit) {
            None => Err(bad(column, text, not_an_amount(mapping.unit))),
            Some(value) if value.abs() > i128::from(MAX_ORDER_FEN) => {
                Err(bad(column, text, super::export::TOO_LARGE))
            }
            Some(value) => Ok(Some(value as i64)),
        }
    };
    let time = |column: usize| -> Result<Stamp, BadLine> {
        let text = cell(column)?;
        if text.is_empty() {
            return Ok(NO_TIME);
        }
        mapping
            .time_format
            .stamp_plain(text, mapping.zone)
            .ok_or_else(|| bad(column, text, "is not a time in the export's time format"))
    };

    let order = key(columns.order)?;
    let refund_row = match columns.type_column {
        None => false,
        Some(column) => {
            let text = cell(column)?;
            if one_of(text, &mapping.payment_types) {
                false
            } else if one_of(text, &mapping.refund_types) {
                true
            } else {
                return Err(bad(
                    column,
                    text,
                    "is neither a payment nor a refund type of the mapping",
                ));
            }
        }
    };
    let status = match columns.status {
        Some(column) if !(columns.type_column.is_some() && cell(column)?.is_empty()) => {
            let text = cell(column)?;
            if one_of(text, &mapping.paid_values) {
                OrderStatus::Paid
            } else if one_of(text, &mapping.refunded_values) {
                OrderStatus::Refunded
            } else if one_of(text, &mapping.closed_values) {
                OrderStatus::Closed
            } else if one_of(text, &mapping.unpaid_values) {
                OrderStatus::Unpaid
            } else {
                return Err(bad(
                    column,
                    text,
                    "is no status the mapping knows (paid, refunded, closed or unpaid values)",
                ));
            }
        }
        _ if refund_row => OrderStatus::Refunded,
        _ => OrderStatus::Paid,
    };
    let row_amount = match amount(columns.amount)? {
        Some(value) => value,
        None => return Err(bad(columns.amount, b"", not_an_amount(mapping.unit))),
    };
    let paid = match columns.time {
        Some(column) => time(column)?,
        None => NO_TIME,
    };
    let refund_amount = match columns.refund_amount {
        Some(column) => amount(column)?,
        None => None,
    };
    let mut entries = Vec::new();
    let refund = if refund_row {
        Some(refund_amount.unwrap_or(row_amount).abs())
    } else {
        entries.push(Entry {
            kind: EntryKind::Payment,
            key: order.clone(),
            order: order.clone(),
            amount: row_amount,
            time: paid,
            undated: false,
            line,
            status,
            repeats: Vec::new(),
            bill_rows: Vec::new(),
            adjacent: None,
        });
        let refund = refund_amount.map(i64::abs);
        let refunded = status == OrderStatus::Refunded || refund.is_some_and(|r| r > 0);
        refunded.then(|| refund.unwrap_or(row_amount))
    };
    let Some(refund) = refund else {
        return Ok(entries);
    };
    let number = match columns.refund_no {
        Some(column) if !cell(column)?.is_empty() => Some(key(column)?),
        _ => None,
    };
    let refund_time = match columns.refund_time {
        Some(column) => time(column)?,
        None => NO_TIME,
    };
    let (time, undated) = match refund_time {
        NO_TIME => (paid, true),
        time => (time, false),
    };
    let (kind, key) = match number {
        Some(number) => (EntryKind::Refund, number),
        None => (EntryKind::OrderRefund, order.clone()),
    };
    entries.push(Entry {
        kind,
        key,
        order,
        amount: refund,
        time,
        undated,
        line,
        status: OrderStatus::Refunded,
        repeats: Vec::new(),
        bill_rows: Vec::new(),
        adjacent: None,
    });
    Ok(entries)
}

/// An amount in fen, exactly: `[+-]digits` in fen; in yuan, digits (or digits in groups of
/// three, `1,234`) with at most two decimals that are not zero. Any number of digits: the
/// caller tells a large number from a malformed one.
pub fn parse_amount(text: &[u8], unit: Unit) -> Option<i128> {
    let text = std::str::from_utf8(text).ok()?;
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = match (unit, unsigned.split_once('.')) {
        (Unit::Fen, None) => (unsigned.to_owned(), String::new()),
        (Unit::Fen, Some(_)) => return None,
        (Unit::Yuan, None) => (unsigned.to_owned(), String::new()),
        (Unit::Yuan, Some((whole, fraction))) if all_digits(fraction) => {
            (whole.to_owned(), fraction.to_owned())
        }
        (Unit::Yuan, Some(_)) => return None,
    };
    let whole = if unit == Unit::Yuan && whole.contains(',') {
        let groups: Vec<&str> = whole.split(',').collect();
        let first_ok = (1..=3).contains(&groups[0].len())
            && all_digits(groups[0])
            && !groups[0].starts_with('0');
        let rest_ok = groups[1..].iter().all(|g| g.len() == 3 && all_digits(g));
        if !(first_ok && rest_ok) {
            return None;
        }
        groups.concat()
    } else {
        whole
    };
    if !all_digits(&whole) {
        return None;
    }
    // Two decimals at most, then only zeros.
    if fraction.bytes().skip(2).any(|b| b != b'0') {
        return None;
    }
    let cents: String = format!("{fraction:0<2}").chars().take(2).collect();
    let digits = match unit {
        Unit::Fen => whole,
        Unit::Yuan => whole + &cents,
    };
    // Past 30 digits a number is beyond any cap: it is read as the largest there is.
    let significant = digits.trim_start_matches('0');
    let value: i128 = match significant.len() {
        0 => 0,
        1..=30 => significant.parse().ok()?,
        _ => i128::MAX,
    };
    Some(if negative { -value } else { value })
}
