//! `wxpay-ops reconcile`: the day's bill against the shop's own order export.

mod record;

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::Value;

use super::common::ledger::LedgerArgs;
use super::failure::{Failure, exit};
use super::settings::{Context, Selected};
use crate::config::Profile;
use crate::fsutil::{WriteError, write_atomic};
use crate::ledger::runs::Inputs;
use crate::output::Printer;
use crate::output::{Format, Record, render_records};
use crate::reconcile::bill::{BillReadError, Files, FilesError, reconcile_files};
use crate::reconcile::export::ExportError;
use crate::reconcile::report::{DIFFERENCE_COLUMNS, difference_record, mapping_json, summary_json};
use crate::reconcile::settings::{MappingSettings, Resolved, parse_window};
use crate::reconcile::{Options, Reconciled};
use crate::time::stamp::Day;
use time::Date;

#[derive(Debug, Args)]
#[command(after_help = "\
Payments match on the merchant order number (商户订单号), refunds on the merchant refund number \
(商户退款单号), or on the order number when the export has none; only the bill's Beijing day is \
in scope. Categories: matched, missing_in_export, missing_in_bill, amount_mismatch, \
status_mismatch, duplicate, cross_day. Exit 0 when balanced, 1 when any entry differs (or bad \
lines were skipped), 2 on bad input. The run and its differences are recorded in the merchant's \
ledger, where a difference that a run of another day sees the counterpart of closes itself \
(`wxpay-ops ledger open` lists what is still open); a ledger that cannot be written exits 2, or \
75 when another wxpay-ops held it too long.")]
#[command(group(clap::ArgGroup::new("bill_day").args(["bill", "date"]).required(true).multiple(true)))]
pub struct ReconcileArgs {
    /// The day's trade bill (ALL), as `bill download` saves it
    #[arg(long, value_name = "FILE")]
    bill: Option<PathBuf>,

    /// The bill day, Beijing time: yyyy-MM-dd, yyyyMMdd, today or yesterday; without --bill,
    /// the bill is read from --bill-dir
    #[arg(long, value_name = "DATE", value_parser = super::settings::parse_day)]
    date: Option<Date>,

    /// Where `bill download` saved the bills, as DIR/<mch_id>/<yyyy-MM-dd>.ALL.csv
    /// [env: WXPAY_OPS_BILL_DIR] [default: the profile's bill_dir, else the user's data folder]
    #[arg(long, value_name = "DIR")]
    bill_dir: Option<PathBuf>,

    /// The previous day's bill, to confirm entries the shop dated just after midnight that
    /// WeChat Pay booked the day before
    #[arg(long, value_name = "FILE")]
    prev_bill: Option<PathBuf>,

    /// The next day's bill, to confirm entries the shop dated just before midnight that
    /// WeChat Pay booked the day after
    #[arg(long, value_name = "FILE")]
    next_bill: Option<PathBuf>,

    /// The shop's own order export (CSV)
    #[arg(long, value_name = "FILE")]
    export: PathBuf,

    /// The merchant the bill must be of [default: the profile's mch_id]
    #[arg(long)]
    mch_id: Option<String>,

    /// Write differences.csv and summary.json into this folder
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Go on past export lines that cannot be read, and count them
    #[arg(long)]
    skip_bad_lines: bool,

    /// How close to midnight an export entry missing from the bill is flagged as a likely
    /// cut-off difference (cross_day), when the adjacent day's bill is not given: 300, 90s,
    /// 5m, 1h [default: 5m]
    #[arg(long, value_name = "DURATION", value_parser = parse_window)]
    cutoff_window: Option<u32>,

    /// Threads to read and match with; 1 reads each file on one thread [env: WXPAY_OPS_THREADS]
    /// [default: the machine's cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,

    /// fast, or reference: the plain engine whose code states the rules, to check a result
    /// (slower, and it holds every entry as text)
    #[arg(long, value_enum, default_value_t = Engine::Fast)]
    engine: Engine,

    #[command(flatten)]
    ledger: LedgerArgs,

    #[command(flatten)]
    mapping: MappingArgs,
}

/// The export's columns and values (each overrides the profile's [reconcile] key of the
/// same name).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Export mapping")]
pub struct MappingArgs {
    /// Column of the merchant order number [default: out_trade_no]
    #[arg(long, value_name = "NAME")]
    order_column: Option<String>,
    /// Column of the amount [default: amount]
    #[arg(long, value_name = "NAME")]
    amount_column: Option<String>,
    /// Unit of the amounts [default: yuan]
    #[arg(long, value_enum)]
    amount_unit: Option<UnitArg>,
    /// Column of the order status (one row per order) [default: status]
    #[arg(long, value_name = "NAME")]
    status_column: Option<String>,
    /// OrderStatus values meaning paid [default: PAID,SUCCESS]
    #[arg(long, value_name = "V,…", value_delimiter = ',')]
    paid_values: Option<Vec<String>>,
    /// OrderStatus values meaning refunded [default: REFUNDED,REFUND]
    #[arg(long, value_name = "V,…", value_delimiter = ',')]
    refunded_values: Option<Vec<String>>,
    /// OrderStatus values meaning closed [default: CLOSED,REVOKED]
    #[arg(long, value_name = "V,…", value_delimiter = ',')]
    closed_values: Option<Vec<String>>,
    /// OrderStatus values meaning unpaid [default: UNPAID,NOTPAY]
    #[arg(long, value_name = "V,…", value_delimiter = ',')]
    unpaid_values: Option<Vec<String>>,
    /// Column of the paid time; none: the export has no times, and cross-day hints are off
    /// [default: paid_at, when the export has it]
    #[arg(long, value_name = "NAME")]
    time_column: Option<String>,
    /// Format of the times: strftime fields %Y %m %d %H %M %S %f %z, or unix, unix_ms
    /// [default: "%Y-%m-%d %H:%M:%S"]
    #[arg(long, value_name = "FORMAT")]
    time_format: Option<String>,
    /// Time zone of the times: +08:00, UTC, Asia/Shanghai … [default: +08:00]
    #[arg(long, value_name = "ZONE")]
    time_zone: Option<String>,
    /// Column of the merchant refund number; refunds then match on it
    #[arg(long, value_name = "NAME")]
    refund_no_column: Option<String>,
    /// Column of the refunded amount [default: refund_amount, when the export has it]
    #[arg(long, value_name = "NAME")]
    refund_amount_column: Option<String>,
    /// Column of the refund time
    #[arg(long, value_name = "NAME")]
    refund_time_column: Option<String>,
    /// One row per transaction: the column saying payment or refund
    #[arg(long, value_name = "NAME")]
    type_column: Option<String>,
    /// Values of --type-column for payments [default: payment,pay,支付]
    #[arg(long, value_name = "V,…", value_delimiter = ',')]
    payment_types: Option<Vec<String>>,
    /// Values of --type-column for refunds [default: refund,退款]
    #[arg(long, value_name = "V,…", value_delimiter = ',')]
    refund_types: Option<Vec<String>>,
    /// The export's encoding: auto, utf-8, gbk, gb18030 [default: auto]
    #[arg(long, value_name = "ENCODING")]
    encoding: Option<String>,
    /// The export's delimiter: auto, comma, tab, semicolon [default: auto]
    #[arg(long, value_name = "DELIMITER")]
    delimiter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Engine {
    Fast,
    Reference,
}

impl Engine {
    fn run(
        self,
        files: &Files<'_>,
        mapping: &crate::reconcile::export::Mapping,
        read: &crate::reconcile::export::ReadOptions,
        options: Options,
    ) -> Result<Reconciled, FilesError> {
        match self {
            Engine::Fast => reconcile_files(files, mapping, read, options),
            Engine::Reference => {
                crate::reconcile::reference::reconcile(files, mapping, read, options)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum UnitArg {
    Fen,
    Yuan,
}

impl MappingArgs {
    /// The flags as settings of the profile's [reconcile] table, which they override.
    fn settings(&self) -> MappingSettings {
        let unit = self.amount_unit.map(|unit| match unit {
            UnitArg::Fen => "fen",
            UnitArg::Yuan => "yuan",
        });
        MappingSettings {
            order_column: self.order_column.clone(),
            amount_column: self.amount_column.clone(),
            amount_unit: unit.map(str::to_owned),
            status_column: self.status_column.clone(),
            paid_values: self.paid_values.clone(),
            refunded_values: self.refunded_values.clone(),
            closed_values: self.closed_values.clone(),
            unpaid_values: self.unpaid_values.clone(),
            time_column: self.time_column.clone(),
            time_format: self.time_format.clone(),
            time_zone: self.time_zone.clone(),
            refund_no_column: self.refund_no_column.clone(),
            refund_amount_column: self.refund_amount_column.clone(),
            refund_time_column: self.refund_time_column.clone(),
            type_column: self.type_column.clone(),
            payment_types: self.payment_types.clone(),
            refund_types: self.refund_types.clone(),
            encoding: self.encoding.clone(),
            delimiter: self.delimiter.clone(),
            cutoff_window: None,
        }
    }
}

pub fn run_command(context: &Context, args: ReconcileArgs) -> Result<u8, Failure> {
    let selected = context.select_optional()?;
    let profile = selected.as_ref().map(|s| &s.profile);
    let Resolved {
        mapping,
        read: read_options,
        cutoff_window,
    } = reading(&args, profile)?;
    let mch_id = args
        .mch_id
        .clone()
        .or_else(|| profile.map(|p| p.mch_id.clone()));
    let bill_path = bill_of(context, &args, selected.as_ref(), mch_id.as_deref())?;
    let day = day_of(args.date, &bill_path);
    let mut ledger = record::RunLedger::place(&args, selected.as_ref(), mch_id.as_deref());
    // Before the run: the open differences of other days, whose counterparts it may see.
    let watch = (ledger.as_mut())
        .map(|ledger| ledger.watch(mch_id.as_deref(), day))
        .transpose()?
        .flatten();
    let options = Options {
        day,
        mch_id: mch_id.clone(),
        cutoff_window,
        previous_bill: args.prev_bill.is_some(),
        next_bill: args.next_bill.is_some(),
        threads: read_options.threads,
        watch,
    };
    let files = Files {
        bill: &bill_path,
        export: &args.export,
        previous_bill: args.prev_bill.as_deref(),
        next_bill: args.next_bill.as_deref(),
    };
    let known = (ledger.as_ref())
        .map(|ledger| ledger.known_files(&files))
        .transpose()?;
    let started_at = crate::time::now();
    let (reconciled, inputs) = Inputs::hash_beside(&files, known.as_deref(), || {
        args.engine.run(&files, &mapping, &read_options, options)
    });
    let export_name = args.export.display().to_string();
    let reconciled = reconciled.map_err(|e| files_failure(&export_name, e))?;
    let outcome = &reconciled.outcome;
    let printer = &context.printer;
    warn_about(printer, &reconciled, &export_name, &bill_path);
    let summary = summary_json(&reconciled, &bill_path, &export_name);
    let differences: Vec<Record> = outcome.differences.iter().map(difference_record).collect();
    if let Some(dir) = &args.out {
        write_out(printer, dir, &summary, &differences)?;
    }
    // Recorded before anything goes to stdout, so that a script reads a report only of a
    // run the ledger holds.
    let recorded = match (&mut ledger, inputs) {
        (Some(ledger), Some(inputs)) => Some(ledger.record(
            inputs,
            mch_id.as_deref(),
            started_at,
            &mapping_json(&mapping, &read_options, cutoff_window),
            &summary,
            outcome,
        )?),
        _ => None,
    };
    match printer.format(Format::Json) {
        Format::Table => super::common::print_tables(context, outcome)?,
        _ => printer.records(&DIFFERENCE_COLUMNS, &differences)?,
    }
    if let (Some(ledger), Some(recorded)) = (&ledger, recorded) {
        printer.status(&ledger.status(&recorded));
    }
    Ok(if outcome.balanced() {
        exit::OK
    } else {
        exit::NEGATIVE
    })
}

/// How the export is read: each flag, else the profile's [reconcile] table, else the default.
fn reading(args: &ReconcileArgs, profile: Option<&Profile>) -> Result<Resolved, Failure> {
    let table = profile.and_then(|p| p.reconcile.clone());
    let flags = MappingSettings {
        cutoff_window: args.cutoff_window.map(|seconds| seconds.to_string()),
        ..args.mapping.settings()
    };
    let mut resolved = flags
        .or(&table.unwrap_or_default())
        .resolve()
        .map_err(|e| {
            Failure::usage(e.to_string())
                .hint("give it as a flag of the same name, or in the profile's [reconcile] table")
        })?;
    resolved.read.skip_bad_lines = args.skip_bad_lines;
    resolved.read.threads = threads(args.threads)?;
    Ok(resolved)
}

/// The bill to read: --bill, else the day's bill in the bill folder, downloaded first when a
/// profile can fetch it.
fn bill_of(
    context: &Context,
    args: &ReconcileArgs,
    selected: Option<&Selected>,
    mch_id: Option<&str>,
) -> Result<PathBuf, Failure> {
    match (&args.bill, args.date) {
        (Some(path), _) => Ok(path.clone()),
        (None, Some(day)) => {
            let dir = super::common::bills::bill_dir(args.bill_dir.as_deref(), selected)?;
            match downloaded_bill(&dir, day, mch_id) {
                // Missing, and a profile to fetch it with: download it as `bill download` does.
                Err(_) if selected.is_some() && args.mch_id.is_none() => {
                    super::common::bills::trade_bill(context, &dir, day)
                }
                other => other,
            }
        }
        (None, None) => unreachable!("clap requires --bill or --date"),
    }
}

/// What the result holds that the user should know beside the differences: an export read
/// without times or with lines skipped, a bill whose summary row disagrees with its rows.
fn warn_about(printer: &Printer, reconciled: &Reconciled, export_name: &str, bill_path: &Path) {
    let Reconciled {
        outcome,
        report,
        export,
    } = reconciled;
    if let Some(column) = &export.absent_time_column {
        printer.warn(&format!(
            "{export_name}: no column {column:?}, so entries are not dated and cross-day hints are off; name the time column with --time-column, or pass --time-column none"
        ));
    }
    if outcome.export.skipped_bad_lines > 0 {
        printer.warn(&format!(
            "{export_name}: skipped {} bad lines (the first: {})",
            outcome.export.skipped_bad_lines,
            export
                .bad_lines
                .first()
                .map(ToString::to_string)
                .unwrap_or_default()
        ));
    }
    if !report.is_consistent() {
        for check in report.mismatches() {
            printer.warn(&format!(
                "{}: the summary row says {} {}, the rows add up to {}",
                bill_path.display(),
                check.total.name(),
                check.stated,
                check.computed
            ));
        }
    }
}

/// The day in a bill's file name, as `bill download` names them (`2026-11-20.ALL.csv`).
fn day_in_name(path: &Path) -> Option<Date> {
    let name = path.file_name()?.to_str()?;
    crate::time::parse_day(name.get(..10)?)
}

fn downloaded_bill(dir: &Path, day: Date, mch_id: Option<&str>) -> Result<PathBuf, Failure> {
    let Some(mch_id) = mch_id else {
        return Err(
            Failure::usage("--date needs the merchant's mch_id to find its bill")
                .hint("pass --mch-id, or use a profile"),
        );
    };
    let path = dir.join(mch_id).join(format!("{day}.ALL.csv"));
    if !path.exists() {
        return Err(
            Failure::usage(format!("no bill of {day} at {}", path.display())).hint(format!(
                "download it first: wxpay-ops bill download --date {day} --bill-dir {}",
                dir.display()
            )),
        );
    }
    Ok(path)
}

/// The run's day: `--date`, else the day in the bill's file name.
fn day_of(date: Option<Date>, bill_path: &Path) -> Option<Day> {
    // parse_day takes the days a Day counts, so nothing is dropped here.
    date.or_else(|| day_in_name(bill_path))
        .and_then(Day::of_date)
}

fn files_failure(export_name: &str, error: FilesError) -> Failure {
    match error {
        FilesError::Export(e) => export_failure(export_name, e),
        FilesError::Bill(path, e) => bill_failure(&path, e),
    }
}

fn export_failure(name: &str, error: ExportError) -> Failure {
    let hint = match &error {
        ExportError::MissingColumn { .. } => {
            "name the export's columns with --order-column, --amount-column, --status-column, --time-column (or in the profile's [reconcile] table)"
        }
        ExportError::Bad(_) => {
            "fix the line, map the column or its values differently, or pass --skip-bad-lines to count such lines and go on"
        }
        ExportError::Encoding { .. } => {
            "save the export as UTF-8 or GBK CSV, or give its encoding with --encoding utf-8|gbk"
        }
        ExportError::NoHeader | ExportError::NoRows => {
            "export the day's orders from the shop system again; an export with no orders cannot be reconciled"
        }
        ExportError::Records(_) => {
            "check the quotes on that line: a cell that holds a quote must be quoted whole, with the quote doubled (\"12\"\" pizza\")"
        }
        ExportError::DuplicateColumn { .. } => {
            "rename one of the two columns in the export, or map the column you mean under another name"
        }
        ExportError::Io(_) | ExportError::TooLarge(_) => "check the path given with --export",
    };
    Failure::input(name, error).hint(hint)
}

fn bill_failure(path: &Path, error: BillReadError) -> Failure {
    let name = path.display().to_string();
    match error {
        BillReadError::Open(e) => Failure::input(&name, e).hint(
            "check the path given with --bill, or download it with `wxpay-ops bill download`",
        ),
        BillReadError::Parse(e) => Failure::input(&name, e).hint(
            "download the bill again; reconcile reads the bill exactly as WeChat Pay serves it",
        ),
        BillReadError::NotAll(variant) => Failure::usage(format!(
            "{name}: a {variant} bill; only the ALL trade bill has both the payments and the refunds of a day"
        ))
        .hint("download it with `wxpay-ops bill download --type ALL`"),
        BillReadError::Row(e) => Failure::input(&name, e)
            .hint("give the bill of the export's merchant and day (--mch-id, --date)"),
    }
}

fn write_out(
    printer: &Printer,
    dir: &Path,
    summary: &Value,
    differences: &[Record],
) -> Result<(), Failure> {
    crate::fsutil::output_folder(dir)?;
    let write = |name: &str, text: String| -> Result<(), Failure> {
        let path = dir.join(name);
        write_atomic(&path, |out| out.write_all(text.as_bytes())).map_err(|e| match e {
            WriteError::File(e) => Failure::from(e),
            WriteError::Inner(e) => crate::fsutil::FileError::new(&path, e).into(),
        })
    };
    write(
        "differences.csv",
        render_records(Format::Csv, &DIFFERENCE_COLUMNS, differences),
    )?;
    write("summary.json", crate::output::render_json(summary))?;
    printer.status(&format!(
        "wrote {} and {}",
        dir.join("differences.csv").display(),
        dir.join("summary.json").display()
    ));
    Ok(())
}

/// `threads` flag, else $WXPAY_OPS_THREADS, else the machine's cores.
fn threads(flag: Option<u16>) -> Result<usize, Failure> {
    if let Some(threads) = flag {
        return Ok(usize::from(threads));
    }
    match std::env::var("WXPAY_OPS_THREADS") {
        Ok(text) => match text.trim().parse::<u16>() {
            Ok(n) if (1..=1024).contains(&n) => Ok(usize::from(n)),
            _ => Err(Failure::usage(format!(
                "WXPAY_OPS_THREADS={text:?} is not a number of threads from 1 to 1024"
            ))
            .hint("set it to a whole number such as 4, or unset it to use every core")),
        },
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, usize::from)),
    }
}
