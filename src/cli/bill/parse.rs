//! `wxpay-ops bill parse`: a bill's records in fen, and its summary checked.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use crate::bill::layout::{Column, MAX_COLUMNS};
use crate::bill::parse::{self, BillError, BillRecord, FieldValue, ParseError, Quantity, Report};
use crate::cli::common::counted;
use crate::cli::failure::{Failure, exit};
use crate::output::{Cell, Format, List, Printer, Record};
use crate::wechat::BillAmount;

pub(super) const AFTER_HELP: &str = "\
Records carry English snake_case names (trade_time, out_trade_no, settlement_total_fee …) and \
amounts in integer fen; a fee (手续费, 5 decimals in the bill) is in fen too, with a fraction \
only where the bill has one. JSON ends with \"summary\"; JSON lines end with a {\"summary\": …} \
line; CSV has the records only, and the summary goes to stderr. On a terminal, without \
--format, only the summary is shown. The summary row is checked against the rows: a mismatch \
is a warning, or exit 2 with --strict.";

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The bill as WeChat Pay serves it, plain or gzip (- for stdin)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Exit 2 when the summary row does not match the rows, or a fund flow's running
    /// balance (账户结余) breaks
    #[arg(long)]
    strict: bool,
}

pub(super) fn run(printer: &Printer, args: ParseArgs) -> Result<u8, Failure> {
    let (name, reader): (String, Box<dyn Read + Send>) = if args.file.as_os_str() == "-" {
        ("standard input".to_owned(), Box::new(std::io::stdin()))
    } else {
        let file = crate::cli::settings::open_input(&args.file)?;
        (args.file.display().to_string(), Box::new(file))
    };
    let format = printer.format(Format::Json);
    let mut stream: Option<List> = None;
    let mut numbers = String::new();
    let result = parse::read(reader, |record: &BillRecord<'_>| {
        if format == Format::Table {
            return Ok(());
        }
        let stream = match &mut stream {
            Some(stream) => stream,
            None => stream.insert(open_stream(printer, record.layout().columns.iter())),
        };
        let mut cells = [Cell::Text(""); MAX_COLUMNS];
        let mut count = 0;
        for (cell, value) in cells.iter_mut().zip(record.values_in_fen(&mut numbers)) {
            *cell = match value {
                FieldValue::Text(text) => Cell::Text(text),
                FieldValue::Fen(fen) => Cell::Number(fen),
            };
            count += 1;
        }
        stream.row(&cells[..count])
    });
    let report = match result {
        Ok(report) => report,
        Err(ParseError::Visit(failure)) => return Err(failure.into()),
        Err(ParseError::Bill(error)) => return Err(bill_failure(&name, error)),
    };
    let summary = summary_record(&report);
    match (format, stream) {
        (Format::Table, _) => printer.record(&summary)?,
        (_, Some(stream)) => stream.finish(Some(&summary))?,
        (_, None) => open_stream(printer, report.layout.columns.iter()).finish(Some(&summary))?,
    }
    check_summary(printer, &name, format, &report, args.strict)
}

/// Says what the bill was, and whether its summary row matches its rows: a warning when not,
/// or with `strict` a failure.
fn check_summary(
    printer: &Printer,
    name: &str,
    format: Format,
    report: &Report,
    strict: bool,
) -> Result<u8, Failure> {
    let mut described = format!(
        "{name}: {} bill, {}",
        report.layout.variant(),
        counted(report.rows, "row")
    );
    if format == Format::Csv {
        // CSV has no place for the summary; people and logs get it here.
        let totals: Vec<String> = (report.totals.iter())
            .map(|check| format!("{} {}", check.total.name(), check.stated.fen_json()))
            .collect();
        described.push_str(&format!("; summary (fen): {}", totals.join(", ")));
    }
    if report.is_consistent() {
        printer.status(&format!(
            "{described}; the summary row matches the rows{}",
            if format == Format::Table {
                " (pass --format csv, json or jsonl for the records)"
            } else {
                ""
            }
        ));
        return Ok(exit::OK);
    }
    let problems = describe_problems(report);
    if strict {
        return Err(Failure::usage(format!("{name}: {problems}"))
        .hint("the bill is damaged or was edited; download it again with `wxpay-ops bill download --force`"));
    }
    printer.status(&described);
    printer.warn(&format!("{name}: {problems}"));
    Ok(exit::OK)
}

fn open_stream<'a>(printer: &Printer, columns: impl Iterator<Item = &'a Column>) -> List {
    let names: Vec<&str> = columns.map(|c| c.name()).collect();
    printer.list(&names).with_summary("records")
}

fn summary_record(report: &Report) -> Record {
    let mismatches: Vec<Value> = report
        .mismatches()
        .map(|check| {
            json!({
                "total": check.total.name(),
                "stated": check.stated.fen_json(),
                "computed": check.computed.fen_json(),
            })
        })
        .collect();
    let mut record = Record::new();
    record.insert("variant".into(), json!(report.layout.variant()));
    record.insert("rows".into(), json!(report.rows));
    record.insert("totals".into(), Value::Object(report.stated_totals()));
    record.insert("consistent".into(), json!(report.is_consistent()));
    record.insert("mismatches".into(), Value::Array(mismatches));
    // Only a fund flow has a running balance to check.
    let fund_flow = report.layout.position(Column::Balance).is_some();
    record.insert(
        "balance_breaks".into(),
        if fund_flow {
            json!(report.balance_breaks)
        } else {
            Value::Null
        },
    );
    record.insert(
        "first_balance_break".into(),
        match &report.first_balance_break {
            Some(found) => json!({
                "line": found.line,
                "before": Quantity::Money(found.before).fen_json(),
                "moved": Quantity::Money(found.moved).fen_json(),
                "expected": Quantity::Money(found.expected()).fen_json(),
                "stated": Quantity::Money(found.stated).fen_json(),
            }),
            None => Value::Null,
        },
    );
    record
}

/// What is wrong with a bill whose report is not consistent: the summary's mismatches, the
/// running balance's breaks, or both.
pub(super) fn describe_problems(report: &Report) -> String {
    let mut problems = Vec::new();
    if report.mismatches().next().is_some() {
        problems.push(format!(
            "the summary row does not match the rows: {}",
            describe_mismatches(report)
        ));
    }
    if let Some(found) = &report.first_balance_break {
        let money = |amount| Quantity::Money(amount).to_string();
        let moved = if found.moved.0 < 0 {
            format!("{} out", money(BillAmount(found.moved.0.saturating_neg())))
        } else {
            format!("{} in", money(found.moved))
        };
        problems.push(format!(
            "the running balance (账户结余) breaks on {}: line {} says {}, but the row before left {} and this row moves {moved}, which gives {} (rows missing, out of order or altered)",
            counted(report.balance_breaks, "row"),
            found.line,
            money(found.stated),
            money(found.before),
            money(found.expected()),
        ));
    }
    problems.join("; ")
}

/// "count: the summary says 48, the rows give 1; fee: …", amounts in yuan as the bill
/// writes them.
fn describe_mismatches(report: &Report) -> String {
    report
        .mismatches()
        .map(|check| {
            format!(
                "{}: the summary says {}, the rows give {}",
                check.total.name(),
                check.stated,
                check.computed
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A bill that cannot be read, named, with what to do about it.
fn bill_failure(name: &str, error: BillError) -> Failure {
    let hint = match &error {
        BillError::NotUtf8 { .. } => Some(
            "WeChat Pay bills are UTF-8; a file saved again by Excel may be GBK: use the downloaded \
             file, or convert it with iconv -f GBK -t UTF-8",
        ),
        BillError::CutMidLine { .. } | BillError::NoSummary { .. } | BillError::Gzip { .. } => {
            Some("the file is incomplete; download it again with `wxpay-ops bill download --force`")
        }
        BillError::XmlBody(_) => Some(
            "this is WeChat Pay's refusal, not a bill: its return_msg says why (No Bill Exist: no \
             trade that day; Bill Creating: try after 10:00 Beijing time)",
        ),
        BillError::Empty | BillError::UnknownHeader(_) => Some(
            "pass a trade or fund-flow bill as WeChat Pay serves it (`wxpay-ops bill download` \
             keeps them so)",
        ),
        BillError::FieldCount { .. } => Some(
            "a damaged line, or a product name or attach containing \",`\", which makes a line \
             ambiguous; check that line of the file",
        ),
        BillError::LineTooLong { .. } | BillError::Unexpected { .. } => {
            Some("pass a bill as WeChat Pay serves it")
        }
        BillError::Amount { .. }
        | BillError::FractionOfFen { .. }
        | BillError::Direction { .. }
        | BillError::Count { .. }
        | BillError::UnknownSummary { .. }
        | BillError::Io(_) => None,
    };
    let failure = Failure::input(name, error);
    match hint {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}
