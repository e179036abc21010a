//! `wxpay-ops bill parse|download|fundflow|summary`.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::failure::{Failure, exit};
use super::output::{Cell, Format, Printer, Record, RowStream};
use super::settings::Context;
use crate::bill::layout::{Column, MAX_COLUMNS};
use crate::bill::parse::{self, BillError, ParseError, Quantity, Report};
use crate::wechat::BillAmount;

const PARSE_AFTER_HELP: &str = "\
Records carry English snake_case names (trade_time, out_trade_no, settlement_total_fee …) and \
amounts in integer fen; a fee (手续费, 5 decimals in the bill) is in fen too, with a fraction \
only where the bill has one. JSON ends with \"summary\"; JSON lines end with a {\"summary\": …} \
line; CSV has the records only, and the summary goes to stderr. On a terminal, without \
--format, only the summary is shown. The summary row is checked against the rows: a mismatch \
is a warning, or exit 2 with --strict.";

#[derive(Debug, Subcommand)]
pub enum BillCommand {
    /// Read a trade or fund-flow bill: its records in English with amounts in fen, then its
    /// summary, checked against the rows
    #[command(after_help = PARSE_AFTER_HELP)]
    Parse(ParseArgs),
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The bill as WeChat Pay serves it, plain or gzip (- for stdin)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Exit 2 when the summary row does not match the rows
    #[arg(long)]
    strict: bool,
}

pub fn run(context: &Context, command: BillCommand) -> Result<u8, Failure> {
    match command {
        BillCommand::Parse(args) => run_parse(&context.printer, args),
    }
}

fn run_parse(printer: &Printer, args: ParseArgs) -> Result<u8, Failure> {
    let (name, reader): (String, Box<dyn Read>) = if args.file.as_os_str() == "-" {
        (
            "standard input".to_owned(),
            Box::new(std::io::stdin().lock()),
        )
    } else {
        let name = args.file.display().to_string();
        let file = std::fs::File::open(&args.file).map_err(|e| Failure::input(&name, e))?;
        (name, Box::new(file))
    };
    let format = printer.format(Format::Json);
    let mut stream: Option<RowStream> = None;
    let mut numbers = String::new();
    let result = parse::read(reader, |record: &parse::Record<'_>| {
        if format == Format::Table {
            return Ok(());
        }
        let stream = match &mut stream {
            Some(stream) => stream,
            None => stream.insert(open_stream(
                printer,
                format,
                record.layout().columns.iter(),
            )?),
        };
        let mut cells = [Cell::Text(""); MAX_COLUMNS];
        let count = record_cells(record, &mut numbers, &mut cells);
        stream.row(&cells[..count])
    });
    let report = match result {
        Ok(report) => report,
        Err(ParseError::Visit(failure)) => return Err(failure),
        Err(ParseError::Bill(error)) => return Err(bill_failure(&name, error)),
    };
    let summary = summary_record(&report);
    match (format, stream) {
        (Format::Table, _) => printer.record(&summary)?,
        (_, Some(stream)) => stream.finish(Some(&summary))?,
        (_, None) => {
            open_stream(printer, format, report.layout.columns.iter())?.finish(Some(&summary))?
        }
    }
    let mut described = format!(
        "{name}: {} bill, {} rows",
        report.layout.variant(),
        report.rows
    );
    if format == Format::Csv {
        // CSV has no place for the summary; people and logs get it here.
        let totals: Vec<String> = (report.totals.iter())
            .map(|check| format!("{} {}", check.total.name(), quantity_json(check.stated)))
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
    let mismatches = describe_mismatches(&report);
    if args.strict {
        return Err(Failure::usage(format!(
            "{name}: the summary row does not match the rows: {mismatches}"
        ))
        .hint("the bill is damaged or was edited; download it again with `wxpay-ops bill download --force`"));
    }
    printer.status(&described);
    printer.warn(&format!(
        "{name}: the summary row does not match the rows: {mismatches}"
    ));
    Ok(exit::OK)
}

fn open_stream<'a>(
    printer: &Printer,
    format: Format,
    columns: impl Iterator<Item = &'a Column>,
) -> Result<RowStream, Failure> {
    let names: Vec<&str> = columns.map(|c| c.name()).collect();
    printer.row_stream(format, "records", &names)
}

/// A record's cells: text as it is, money in fen. `numbers` holds the formatted amounts.
fn record_cells<'r>(
    record: &parse::Record<'r>,
    numbers: &'r mut String,
    cells: &mut [Cell<'r>; MAX_COLUMNS],
) -> usize {
    let layout = record.layout();
    numbers.clear();
    let mut ends = [0usize; MAX_COLUMNS];
    for (position, column) in layout.columns.iter().enumerate() {
        if let Some(amount) = record.amount(*column) {
            push_fen(numbers, amount);
            ends[position] = numbers.len();
        }
    }
    let numbers: &'r str = numbers;
    let mut start = 0;
    for (position, column) in layout.columns.iter().enumerate() {
        cells[position] = if column.is_money() {
            let text = &numbers[start..ends[position]];
            start = ends[position];
            Cell::Number(text)
        } else {
            Cell::Text(record.value(position))
        };
    }
    layout.columns.len()
}

/// An amount in fen: an integer, or a decimal for the rare fee with a fraction of a fen.
fn push_fen(out: &mut String, amount: BillAmount) {
    const UNITS_PER_FEN: i64 = 1000;
    if amount.0 % UNITS_PER_FEN == 0 {
        out.push_str(itoa::Buffer::new().format(amount.0 / UNITS_PER_FEN));
    } else {
        // 0.00001 yuan is a thousandth of a fen.
        let sign = if amount.0 < 0 { "-" } else { "" };
        let magnitude = amount.0.unsigned_abs();
        let fraction = format!("{:03}", magnitude % 1000);
        out.push_str(&format!(
            "{sign}{}.{}",
            magnitude / 1000,
            fraction.trim_end_matches('0')
        ));
    }
}

fn quantity_json(quantity: Quantity) -> Value {
    match quantity {
        Quantity::Count(count) => json!(count),
        Quantity::Money(amount) => {
            let mut text = String::new();
            push_fen(&mut text, amount);
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
    }
}

fn summary_record(report: &Report) -> Record {
    let totals: serde_json::Map<String, Value> = report
        .totals
        .iter()
        .map(|check| (check.total.name().to_owned(), quantity_json(check.stated)))
        .collect();
    let mismatches: Vec<Value> = report
        .mismatches()
        .map(|check| {
            json!({
                "total": check.total.name(),
                "stated": quantity_json(check.stated),
                "computed": quantity_json(check.computed),
            })
        })
        .collect();
    let mut record = Record::new();
    record.insert("variant".into(), json!(report.layout.variant()));
    record.insert("rows".into(), json!(report.rows));
    record.insert("totals".into(), Value::Object(totals));
    record.insert("consistent".into(), json!(report.is_consistent()));
    record.insert("mismatches".into(), Value::Array(mismatches));
    record
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
pub fn bill_failure(name: &str, error: BillError) -> Failure {
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
