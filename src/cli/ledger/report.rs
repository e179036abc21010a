//! `wxpay-ops ledger report --month M [--chart FILE.png]`.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{Number, Value, json};

use crate::bill::download::iso;
use crate::cli::common::ledger::{ReadArgs, ledger_failure, open_to_read};
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Context, parse_month};
use crate::fsutil::{WriteError, is_stdout, write_atomic};
use crate::ledger::chart::month_chart;
use crate::ledger::report::{
    Counts, DayReport, Figures, MonthReport, ReportError, Source, month_report,
};
use crate::output::{Format, Printer, Record};
use crate::reconcile::report::{fine_yuan, yuan};
use crate::time::YearMonth;
use crate::wechat::BillAmount;

pub const AFTER_HELP: &str = "\
A day's figures are those of its latest recorded ALL bill; a day reconciled whose bill was \
never recorded takes the bill totals of its latest run; a day with neither has none (blank, or \
null in JSON), which is not zero. Net settlement = settled payments (应结订单金额) − refunds \
(申请退款金额) − fees (手续费), as reconcile counts it. Differences are those of the day's \
latest run: found, closed since (by a later run or by hand) and still open. The table shows \
yuan; JSON and CSV give fen (fees and net in 0.00001 yuan) with yuan strings beside them.";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The month: yyyy-MM, yyyyMM, this or last (Beijing time)
    #[arg(long, value_name = "MONTH", value_parser = parse_month)]
    month: YearMonth,
    /// Also draw the month as a PNG: net settlement by day as bars, open differences as a line
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    #[command(flatten)]
    ledger: ReadArgs,
}

/// One row per day, in JSON and CSV (the summary has the same figures for the month).
const COLUMNS: [&str; 19] = [
    "date",
    "source",
    "bill_id",
    "run_id",
    "payment_count",
    "payment_fen",
    "payment_yuan",
    "refund_count",
    "refund_fen",
    "refund_yuan",
    "settlement_fen",
    "settlement_yuan",
    "fee_units",
    "fee_yuan",
    "net_settlement_units",
    "net_settlement_yuan",
    "differences_found",
    "differences_closed",
    "differences_open",
];

/// Days named in a status line: the first few, then how many more.
const LISTED_DAYS: usize = 10;

pub fn run(context: &Context, args: ReportArgs) -> Result<u8, Failure> {
    if let Some(path) = args.chart.as_deref().filter(|path| is_stdout(path)) {
        return Err(Failure::usage(format!(
            "--chart {}: the chart is a file; standard output carries the report",
            path.display()
        ))
        .hint("name a file, such as --chart 2026-11.png"));
    }
    let (ledger, mch_id) = open_to_read(context, &args.ledger)?;
    let report = month_report(&ledger, &mch_id, args.month).map_err(report_failure)?;
    let printer = &context.printer;
    if printer.format(Format::Json) == Format::Table {
        print_table(printer, &report)?;
    } else {
        let mut list = printer.list(&COLUMNS).with_summary("days");
        for day in &report.days {
            list.record(&day_record(day))?;
        }
        list.finish(Some(&summary_record(&report)))?;
    }
    status(printer, &report);
    if let Some(path) = &args.chart {
        write_chart(path, &report)?;
        printer.status(&format!("chart: {}", path.display()));
    }
    Ok(exit::OK)
}

fn report_failure(error: ReportError) -> Failure {
    match error {
        ReportError::Ledger(error) => ledger_failure(error),
        summary @ ReportError::Summary { .. } => Failure::usage(format!("ledger {summary}"))
            .hint("reconcile that day again to record a run with a summary of this version"),
    }
}

fn write_chart(path: &Path, report: &MonthReport) -> Result<(), Failure> {
    let png = month_chart(report).map_err(|e| Failure::usage(e.to_string()))?;
    write_atomic(path, |out| out.write_all(&png)).map_err(|e| match e {
        WriteError::File(e) => Failure::from(e),
        WriteError::Inner(e) => crate::fsutil::FileError::new(path, e).into(),
    })
}

/// A number of any size as JSON: every figure fits an i64 (each is a sum of SQLite
/// integers); past that, its digits as text rather than a wrong number.
fn number(n: i128) -> Value {
    Number::from_i128(n).map_or_else(|| Value::String(n.to_string()), Value::Number)
}

/// The figures' columns, null when there are none.
fn figure_fields(record: &mut Record, figures: Option<&Figures>) {
    let fields = |f: &Figures| {
        let net = f.net_units();
        [
            ("payment_count", json!(f.payment_count)),
            ("payment_fen", number(f.payment_fen)),
            ("payment_yuan", json!(yuan(f.payment_fen))),
            ("refund_count", json!(f.refund_count)),
            ("refund_fen", number(f.refund_fen)),
            ("refund_yuan", json!(yuan(f.refund_fen))),
            ("settlement_fen", number(f.settlement_fen)),
            ("settlement_yuan", json!(yuan(f.settlement_fen))),
            ("fee_units", number(f.fee_units)),
            ("fee_yuan", json!(fine_yuan(f.fee_units))),
            ("net_settlement_units", number(net)),
            ("net_settlement_yuan", json!(fine_yuan(net))),
        ]
    };
    for (name, value) in fields(&figures.copied().unwrap_or_default()) {
        let value = if figures.is_some() {
            value
        } else {
            Value::Null
        };
        record.insert(name.into(), value);
    }
}

fn count_fields(record: &mut Record, counts: Option<&Counts>) {
    let count = |pick: fn(&Counts) -> u64| counts.map_or(Value::Null, |c| json!(pick(c)));
    record.insert("differences_found".into(), count(|c| c.found));
    record.insert("differences_closed".into(), count(|c| c.closed));
    record.insert("differences_open".into(), count(|c| c.open));
}

fn day_record(day: &DayReport) -> Record {
    let mut record = Record::new();
    record.insert("date".into(), json!(iso(day.date)));
    let source = day.figures.map(|(source, _)| source);
    record.insert("source".into(), json!(source.map(|s| s.name())));
    let bill_id = match source {
        Some(Source::Bill(id)) => Some(id),
        _ => None,
    };
    record.insert("bill_id".into(), json!(bill_id));
    record.insert("run_id".into(), json!(day.run.map(|(id, _)| id)));
    figure_fields(&mut record, day.figures.as_ref().map(|(_, f)| f));
    count_fields(&mut record, day.run.as_ref().map(|(_, c)| c));
    record
}

fn summary_record(report: &MonthReport) -> Record {
    let (with_figures, reconciled) = report.known_days();
    let mut record = Record::new();
    record.insert("mch_id".into(), json!(report.mch_id));
    record.insert("month".into(), json!(report.month.to_string()));
    record.insert("days".into(), json!(report.days.len()));
    record.insert("days_with_figures".into(), json!(with_figures));
    record.insert("days_reconciled".into(), json!(reconciled));
    figure_fields(&mut record, Some(&report.total));
    count_fields(&mut record, Some(&report.differences));
    record
}

/// Yuan to the fen, rounded half away from zero, for amounts kept in 0.00001 yuan.
fn rounded_yuan(units: i128) -> String {
    i64::try_from(units).map_or_else(|_| fine_yuan(units), |units| BillAmount(units).format(2))
}

/// The month for people: a row a day and the total, in yuan, within 80 columns. The first
/// column is headed by the month and holds the day of the month.
fn print_table(printer: &Printer, report: &MonthReport) -> Result<(), Failure> {
    let month = report.month.to_string();
    let columns = [&month, "settled", "refunds", "fees", "net", "found", "open"];
    let row = |label: String, figures: Option<&Figures>, counts: Option<&Counts>| {
        let mut row = vec![label];
        match figures {
            Some(f) => row.extend([
                yuan(f.settlement_fen),
                yuan(f.refund_fen),
                rounded_yuan(f.fee_units),
                rounded_yuan(f.net_units()),
            ]),
            None => row.extend(std::iter::repeat_n(String::new(), 4)),
        }
        match counts {
            Some(c) => row.extend([c.found.to_string(), c.open.to_string()]),
            None => row.extend([String::new(), String::new()]),
        }
        row
    };
    let mut rows: Vec<Vec<String>> = (report.days.iter())
        .map(|day| {
            row(
                format!("{:02}", day.date.day()),
                day.figures.as_ref().map(|(_, f)| f),
                day.run.as_ref().map(|(_, c)| c),
            )
        })
        .collect();
    rows.push(row(
        "total".into(),
        Some(&report.total),
        Some(&report.differences),
    ));
    Ok(printer.rows(&columns, &rows)?)
}

/// What the figures rest on, on stderr: how many days are known, which took a run's totals,
/// which past days have nothing.
fn status(printer: &Printer, report: &MonthReport) {
    let (with_figures, reconciled) = report.known_days();
    let from_runs: Vec<String> = (report.days.iter())
        .filter(|d| matches!(d.figures, Some((Source::Run(_), _))))
        .map(|d| iso(d.date))
        .collect();
    printer.status(&format!(
        "{} {}: {with_figures} of {} days with figures, {reconciled} reconciled; {} differences still open",
        report.mch_id,
        report.month,
        report.days.len(),
        report.differences.open
    ));
    if !from_runs.is_empty() {
        printer.status(&format!(
            "no bill recorded, figures from the day's reconcile run: {}",
            listed(&from_runs)
        ));
    }
    let today = crate::time::today();
    let unknown: Vec<String> = (report.days.iter())
        .filter(|d| d.figures.is_none() && d.run.is_none() && d.date < today)
        .map(|d| iso(d.date))
        .collect();
    if !unknown.is_empty() {
        printer.status(&format!(
            "no bill and no run, so no figures: {}",
            listed(&unknown)
        ));
    }
}

fn listed(days: &[String]) -> String {
    let shown = days[..days.len().min(LISTED_DAYS)].join(", ");
    match days.len().saturating_sub(LISTED_DAYS) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}
