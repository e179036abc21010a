//! `wxpay-ops bill parse|download|fundflow|summary`.

mod parse;

use std::path::{Path, PathBuf};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{Value, json};
use time::Date;

use super::common::bills::{
    FetchArgs, LedgerDays, bill_dir, failure_code, failure_hint, fetch_days, record_days,
};
use super::common::counted;
use super::common::ledger::LedgerArgs;
use super::failure::{Failure, exit};
use super::settings::{Context, parse_day};
use crate::bill::download::{self, DownloadError, FundAccount, Source, iso};
use crate::bill::fetch::DayResult;
use crate::bill::format::BillType;
use crate::bill::manifest::EntryStatus;
use crate::bill::summary::{self, DailySums, DaySums, Sums};
use crate::ledger::bills::Mode;
use crate::output::{Format, Printer, Record};

const DOWNLOAD_AFTER_HELP: &str = "\
Bills land at DIR/<mch_id>/<YYYY-MM-DD>.<type>.csv, exactly as WeChat Pay served them \
(decompressed), and each is listed in DIR/<mch_id>/manifest.jsonl with its size, sha256, rows, \
summary totals, source URL and time of fetching. A day without a bill (No Bill Exist) is \
recorded and is not an error. Each bill on disk is then recorded in the ledger (--import: a \
trade bill's rows too); when the ledger fails, the bills and the manifest stay, and \
`wxpay-ops ledger import` records them later. Exit 0 when every day was saved, skipped or has no bill; 75 when \
a bill is not ready yet (Bill Creating) or a temporary fault outlasted the retries; 3 when \
WeChat Pay refused; 4 when an answer's sign does not verify; 2 for a date WeChat Pay cannot \
serve (today, the future, older than 3 months) and other local errors.";

#[derive(Debug, Subcommand)]
pub enum BillCommand {
    /// Read a trade or fund-flow bill: its records in English with amounts in fen, then its
    /// summary, checked against the rows
    #[command(after_help = parse::AFTER_HELP)]
    Parse(parse::ParseArgs),
    /// Download trade bills (交易账单) of a day or a range of days into the bill folder
    #[command(after_help = DOWNLOAD_AFTER_HELP)]
    Download(DownloadArgs),
    /// Download fund-flow bills (资金账单) of an account, over mutual TLS
    #[command(after_help = DOWNLOAD_AFTER_HELP)]
    Fundflow(FundflowArgs),
    /// One row per day from the manifest: trades, refunds, fees and net, with totals
    Summary(SummaryArgs),
}

/// A day, or a range of days.
#[derive(Debug, Args)]
pub struct Days {
    /// The bill day, Beijing time: yyyy-MM-dd, yyyyMMdd, today or yesterday
    #[arg(long, value_name = "DATE", value_parser = parse_day, required_unless_present = "from", conflicts_with = "from")]
    date: Option<Date>,
    /// First day of a range (with --to), in the same forms
    #[arg(long, value_name = "DATE", value_parser = parse_day, requires = "to")]
    from: Option<Date>,
    /// Last day of a range, included
    #[arg(long, value_name = "DATE", value_parser = parse_day, requires = "from")]
    to: Option<Date>,
}

impl Days {
    /// The first and last day, and whether a range was asked for.
    fn span(&self) -> Result<(Date, Date, bool), Failure> {
        match (self.date, self.from, self.to) {
            (Some(date), _, _) => Ok((date, date, false)),
            (None, Some(from), Some(to)) if from <= to => Ok((from, to, true)),
            (None, Some(from), Some(to)) => {
                Err(Failure::usage(format!("--from {from} is after --to {to}")))
            }
            _ => Err(Failure::usage("give --date, or --from and --to")),
        }
    }
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    days: Days,
    /// Bill type
    #[arg(long = "type", default_value = "ALL",
          value_parser = one_of(&BillType::TYPES, BillType::as_str))]
    bill_type: BillType,
    #[command(flatten)]
    fetch: FetchArgs,
    /// Also import each bill's rows into the ledger (a payment or a refund per row)
    #[arg(long, conflicts_with = "no_ledger")]
    import: bool,
    #[command(flatten)]
    ledger: LedgerArgs,
}

#[derive(Debug, Args)]
pub struct FundflowArgs {
    #[command(flatten)]
    days: Days,
    /// The account whose money movements to fetch
    #[arg(long, value_parser = one_of(&FundAccount::ACCOUNTS, FundAccount::as_str))]
    account_type: FundAccount,
    #[command(flatten)]
    fetch: FetchArgs,
    #[command(flatten)]
    ledger: LedgerArgs,
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    days: Days,
    /// Bill type to sum
    #[arg(long = "type", default_value = "ALL",
          value_parser = one_of(&BillType::TYPES, BillType::as_str))]
    bill_type: BillType,
    /// The bill folder [env: WXPAY_OPS_BILL_DIR] [default: as for download]
    #[arg(long, alias = "out", value_name = "DIR")]
    bill_dir: Option<PathBuf>,
}

/// A value parser of a core enum by its spellings, which `--help` and completions list.
fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    let names = all.iter().map(|value| name(*value));
    PossibleValuesParser::new(names).map(move |text| {
        let found = all.iter().find(|value| name(**value) == text);
        *found.expect("clap admits only the possible values")
    })
}

pub fn run(context: &Context, command: BillCommand) -> Result<u8, Failure> {
    match command {
        BillCommand::Parse(args) => parse::run(&context.printer, args),
        BillCommand::Download(args) => {
            let mode = if args.import {
                Mode::Import
            } else {
                Mode::Record
            };
            let source = Source::Trade(args.bill_type);
            run_fetch(
                context,
                &args.days,
                source,
                args.fetch,
                (&args.ledger, mode),
            )
        }
        BillCommand::Fundflow(args) => {
            let source = Source::FundFlow(args.account_type);
            let ledger = (&args.ledger, Mode::Record);
            run_fetch(context, &args.days, source, args.fetch, ledger)
        }
        BillCommand::Summary(args) => run_summary(context, args),
    }
}

fn run_fetch(
    context: &Context,
    days: &Days,
    source: Source,
    args: FetchArgs,
    (ledger, mode): (&LedgerArgs, Mode),
) -> Result<u8, Failure> {
    let (from, to, range) = days.span()?;
    let dates: Vec<Date> = download::days(from, to).collect();
    let fetched = fetch_days(context, &dates, range, source, &args)?;
    let label = source.label();
    let recorded = record_days(&fetched, &label, ledger, mode);
    report_days(
        &context.printer,
        &fetched.folder,
        &label,
        &fetched.results,
        recorded,
        range,
    )
}

const DAY_COLUMNS: [&str; 8] = [
    "date", "type", "outcome", "rows", "bytes", "file", "ledger", "detail",
];

/// A row per day on stdout, a failed day's too, of a single day as of a range: what was done
/// is there; then the status, or the failure of the days that failed (else the ledger's).
fn report_days(
    printer: &Printer,
    folder: &Path,
    label: &str,
    results: &[(Date, DayResult)],
    ledger: LedgerDays,
    range: bool,
) -> Result<u8, Failure> {
    let records: Vec<Record> = (results.iter().zip(&ledger.outcomes))
        .map(|((date, result), recorded)| day_record(printer, *date, label, result, *recorded))
        .collect();
    printer.records(&DAY_COLUMNS, &records)?;
    let failures: Vec<(Date, &DownloadError)> = (results.iter())
        .filter_map(|(date, result)| match result {
            DayResult::Failed(error) => Some((*date, error)),
            _ => None,
        })
        .collect();
    if let Some(failure) = ledger.failure {
        if failures.is_empty() {
            return Err(failure);
        }
        printer.warn(&failure.message);
    }
    if failures.is_empty() {
        let count = |outcome: &str| records.iter().filter(|r| r["outcome"] == outcome).count();
        printer.status(&format!(
            "{}: {} saved, {} without a bill, {} skipped",
            folder.display(),
            count("saved"),
            count("no_bill"),
            count("skipped"),
        ));
        return Ok(exit::OK);
    }
    Err(days_failure(&failures, label, results.len(), range))
}

/// A day's row: counts are numbers, and what a day does not have is null; `ledger`, what
/// the ledger made of its bill.
fn day_record(
    printer: &Printer,
    date: Date,
    label: &str,
    result: &DayResult,
    ledger: Option<&str>,
) -> Record {
    let none = || (Value::Null, Value::Null, Value::Null);
    let ((rows, bytes, file), outcome, detail) = match result {
        DayResult::Saved(saved) => {
            let consistent = saved.report.is_consistent();
            if !consistent {
                let problems = parse::describe_problems(&saved.report);
                printer.warn(&format!("{}: {problems}", saved.path.display()));
            }
            let file = json!(saved.path.display().to_string());
            let saved_day = (json!(saved.report.rows), json!(saved.bytes), file);
            let detail = (!consistent).then(|| {
                if saved.report.mismatches().next().is_some() {
                    json!("the summary row does not match the rows")
                } else {
                    json!("the running balance (账户结余) breaks")
                }
            });
            (saved_day, "saved", detail.unwrap_or(Value::Null))
        }
        DayResult::NoBill => (none(), "no_bill", json!("No Bill Exist")),
        DayResult::Skipped(status) => {
            let already = match status {
                EntryStatus::Saved => "saved",
                EntryStatus::NoBill => "known to have no bill",
            };
            let detail = format!("already {already}; --force fetches again");
            (none(), "skipped", json!(detail))
        }
        DayResult::Failed(error) => (none(), "failed", json!(error.to_string())),
    };
    let values = [json!(iso(date)), json!(label), json!(outcome)];
    let values = (values.into_iter()).chain([rows, bytes, file, json!(ledger), detail]);
    DAY_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .zip(values)
        .collect()
}

/// The failure of the days that failed: the gravest exit code among them, each named.
fn days_failure(
    failures: &[(Date, &DownloadError)],
    label: &str,
    days: usize,
    range: bool,
) -> Failure {
    let code = failures
        .iter()
        .map(|(_, e)| failure_code(e))
        .max_by_key(|code| match *code {
            exit::VERIFY => 4,
            exit::REFUSED => 3,
            exit::USAGE => 2,
            _ => 1,
        })
        .unwrap_or(exit::TEMPORARY);
    let listed: Vec<String> = failures
        .iter()
        .map(|(date, error)| format!("{} {label}: {error}", iso(*date)))
        .collect();
    let message = if range {
        format!(
            "{} of {} failed: {}",
            failures.len(),
            counted(days, "day"),
            listed.join("; ")
        )
    } else {
        listed.join("; ")
    };
    Failure::new(code, message).hint(failure_hint(failures[0].1))
}

/// Days named in a warning: the first few, then how many more.
const LISTED_DAYS: usize = 10;

fn run_summary(context: &Context, args: SummaryArgs) -> Result<u8, Failure> {
    let printer = &context.printer;
    let (from, to, _) = args.days.span()?;
    summary::check_span(from, to).map_err(|too_many| {
        Failure::usage(format!(
            "--from {} --to {} spans {} days; at most {} (ten years) are summed at once",
            iso(from),
            iso(to),
            too_many.days,
            summary::MAX_DAYS
        ))
        .hint("narrow the range, or sum it in parts")
    })?;
    let selected = context.select()?;
    let folder =
        bill_dir(args.bill_dir.as_deref(), Some(&selected))?.join(&selected.profile.mch_id);
    let bill_type = args.bill_type;
    let summed = summary::sum_days(&folder, bill_type, from, to)
        .map_err(|e| Failure::usage(e.to_string()))?;
    print_sums(printer, bill_type.as_str(), &summed)?;
    let listed = |days: &[Date]| {
        let shown = days.iter().take(LISTED_DAYS).map(|d| iso(*d));
        match days.len().saturating_sub(LISTED_DAYS) {
            0 => shown.collect::<Vec<_>>().join(", "),
            more => format!("{} and {more} more", shown.collect::<Vec<_>>().join(", ")),
        }
    };
    let missing: Vec<Date> = summed.missing().collect();
    if !missing.is_empty() {
        let (days, them) = match missing.len() {
            1 => ("1 day is".to_owned(), "it"),
            n => (format!("{n} days are"), "them"),
        };
        printer.warn(&format!(
            "{days} not in the manifest: {}; fetch {them} with `wxpay-ops bill download --from {} --to {}`",
            listed(&missing),
            iso(from),
            iso(to)
        ));
    }
    if !summed.unlisted.is_empty() {
        let (days, their, them) = match summed.unlisted.len() {
            1 => (
                "1 day has".to_owned(),
                "its sums are",
                "it with `wxpay-ops bill download --force` for that day",
            ),
            n => (
                format!("{n} days have"),
                "their sums are",
                "them with `wxpay-ops bill download --force` for those days",
            ),
        };
        printer.warn(&format!(
            "{days} a bill file but no manifest entry, so {their} missing above: {}; record {them}",
            listed(&summed.unlisted)
        ));
    }
    Ok(exit::OK)
}

#[derive(Serialize)]
struct DayJson {
    date: String,
    status: &'static str,
    #[serde(flatten)]
    sums: Sums,
}

/// The day rows and the total: in JSON, amounts in fen and a missing day as zeros; in a
/// table or CSV, amounts in yuan and a missing day blank.
fn print_sums(printer: &Printer, label: &str, summed: &DailySums) -> Result<(), Failure> {
    let status = |day: &DaySums| match day {
        DaySums::Missing => "missing",
        DaySums::NoBill => "no_bill",
        DaySums::Saved(_) => "saved",
    };
    if printer.format(Format::Json).is_json() {
        let day_json = |(date, day): &(Date, DaySums)| {
            let sums = day.sums().unwrap_or_default();
            json!(DayJson {
                date: iso(*date),
                status: status(day),
                sums
            })
        };
        let mut record = Record::new();
        record.insert("type".into(), json!(label));
        let days = summed.days.iter().map(day_json).collect();
        record.insert("days".into(), Value::Array(days));
        record.insert("total".into(), json!(summed.total));
        return Ok(printer.paste(&record)?);
    }
    let cells = |n: Sums| {
        let yuan = |fen: i64| crate::wechat::Fen(fen).yuan();
        [
            n.rows.to_string(),
            yuan(n.trades),
            yuan(n.refunds),
            yuan(n.fees),
            yuan(n.net),
        ]
    };
    let mut rows: Vec<Vec<String>> = (summed.days.iter())
        .map(|(date, day)| {
            let mut row = vec![iso(*date), status(day).to_owned()];
            match day.sums() {
                Some(sums) => row.extend(cells(sums)),
                None => row.extend(std::iter::repeat_n(String::new(), 5)),
            }
            row
        })
        .collect();
    let mut total = vec!["total".to_owned(), String::new()];
    total.extend(cells(summed.total));
    rows.push(total);
    Ok(printer.rows(
        &["date", "bill", "rows", "trades", "refunds", "fees", "net"],
        &rows,
    )?)
}
