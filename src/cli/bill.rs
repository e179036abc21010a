//! `wxpay-ops bill parse|download|fundflow|summary`.

use std::io::Read;
use std::path::PathBuf;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use time::{Date, OffsetDateTime};

use super::failure::{Failure, SIGN_HINT, exit};
use super::output::{Cell, Format, List, Printer, Record};
use super::settings::{Context, KeyArgs, Selected, parse_day};
use crate::bill::download::{
    self, Account, DownloadError, Outcome, Retry, Source, TradeType, bill_path, check_date, iso,
};
use crate::bill::layout::{Column, MAX_COLUMNS};
use crate::bill::manifest::{self, Entry, MANIFEST_NAME, Status};
use crate::bill::parse::{self, BillError, ParseError, Quantity, Report};
use crate::reconcile::clock::Day;
use crate::wechat::client::{Client, ClientOptions};
use crate::wechat::transport::tls_config;
use crate::wechat::{BillAmount, SignType};

const PARSE_AFTER_HELP: &str = "\
Records carry English snake_case names (trade_time, out_trade_no, settlement_total_fee …) and \
amounts in integer fen; a fee (手续费, 5 decimals in the bill) is in fen too, with a fraction \
only where the bill has one. JSON ends with \"summary\"; JSON lines end with a {\"summary\": …} \
line; CSV has the records only, and the summary goes to stderr. On a terminal, without \
--format, only the summary is shown. The summary row is checked against the rows: a mismatch \
is a warning, or exit 2 with --strict.";

const DOWNLOAD_AFTER_HELP: &str = "\
Bills land at DIR/<mch_id>/<YYYY-MM-DD>.<type>.csv, exactly as WeChat Pay served them \
(decompressed), and each is listed in DIR/<mch_id>/manifest.jsonl with its size, sha256, rows, \
summary totals, source URL and time of fetching. A day without a bill (No Bill Exist) is \
recorded and is not an error. Exit 0 when every day was saved, skipped or has no bill; 75 when \
a bill is not ready yet (Bill Creating) or a temporary fault outlasted the retries; 3 when \
WeChat Pay refused; 4 when an answer's sign does not verify; 2 for a date WeChat Pay cannot \
serve (today, the future, older than 3 months) and other local errors.";

#[derive(Debug, Subcommand)]
pub enum BillCommand {
    /// Read a trade or fund-flow bill: its records in English with amounts in fen, then its
    /// summary, checked against the rows
    #[command(after_help = PARSE_AFTER_HELP)]
    Parse(ParseArgs),
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
    date: Option<Day>,
    /// First day of a range (with --to), in the same forms
    #[arg(long, value_name = "DATE", value_parser = parse_day, requires = "to")]
    from: Option<Day>,
    /// Last day of a range, included
    #[arg(long, value_name = "DATE", value_parser = parse_day, requires = "from")]
    to: Option<Day>,
}

impl Days {
    /// The first and last day, and whether a range was asked for.
    fn span(&self) -> Result<(Date, Date, bool), Failure> {
        match (self.date, self.from, self.to) {
            (Some(date), _, _) => Ok((date.date(), date.date(), false)),
            (None, Some(from), Some(to)) if from <= to => Ok((from.date(), to.date(), true)),
            (None, Some(from), Some(to)) => {
                Err(Failure::usage(format!("--from {from} is after --to {to}")))
            }
            _ => Err(Failure::usage("give --date, or --from and --to")),
        }
    }
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Ask for a gzip-compressed bill (tar_type=GZIP); the file is kept decompressed
    #[arg(long)]
    gzip: bool,
    /// The bill folder [env: WXPAY_OPS_BILL_DIR] [default: the profile's bill_dir, else the
    /// user's data folder, wxpay-ops/bills]
    #[arg(long, alias = "out", value_name = "DIR")]
    bill_dir: Option<PathBuf>,
    /// Skip days the manifest already has (the default for ranges)
    #[arg(long, conflicts_with = "force")]
    skip_existing: bool,
    /// Fetch again days the manifest already has
    #[arg(long)]
    force: bool,
    /// Days downloaded at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    concurrency: u16,
    /// Retries per day when the bill is not ready or a temporary fault occurs, 0 to 10
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    retries: u32,
    /// Seconds one bill (one request) may take to arrive, 1 to 3600
    #[arg(long, value_name = "SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=download::MAX_TIMEOUT_SECS))]
    bill_timeout: u64,
    #[command(flatten)]
    keys: KeyArgs,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    days: Days,
    /// Bill type
    #[arg(long = "type", value_enum, default_value = "ALL")]
    bill_type: TypeArg,
    #[command(flatten)]
    fetch: FetchArgs,
}

#[derive(Debug, Args)]
pub struct FundflowArgs {
    #[command(flatten)]
    days: Days,
    /// The account whose money movements to fetch
    #[arg(long, value_enum)]
    account_type: AccountArg,
    #[command(flatten)]
    fetch: FetchArgs,
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    days: Days,
    /// Bill type to sum
    #[arg(long = "type", value_enum, default_value = "ALL")]
    bill_type: TypeArg,
    /// The bill folder [env: WXPAY_OPS_BILL_DIR] [default: as for download]
    #[arg(long, alias = "out", value_name = "DIR")]
    bill_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TypeArg {
    #[value(name = "ALL")]
    All,
    #[value(name = "SUCCESS")]
    Success,
    #[value(name = "REFUND")]
    Refund,
    #[value(name = "RECHARGE_REFUND")]
    RechargeRefund,
}

impl TypeArg {
    fn trade_type(self) -> TradeType {
        match self {
            TypeArg::All => TradeType::All,
            TypeArg::Success => TradeType::Success,
            TypeArg::Refund => TradeType::Refund,
            TypeArg::RechargeRefund => TradeType::RechargeRefund,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccountArg {
    #[value(name = "Basic")]
    Basic,
    #[value(name = "Operation")]
    Operation,
    #[value(name = "Fees")]
    Fees,
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
        BillCommand::Download(args) => run_fetch(
            context,
            &args.days,
            Source::Trade(args.bill_type.trade_type()),
            args.fetch,
        ),
        BillCommand::Fundflow(args) => run_fetch(
            context,
            &args.days,
            Source::FundFlow(match args.account_type {
                AccountArg::Basic => Account::Basic,
                AccountArg::Operation => Account::Operation,
                AccountArg::Fees => Account::Fees,
            }),
            args.fetch,
        ),
        BillCommand::Summary(args) => run_summary(context, args),
    }
}

fn run_parse(printer: &Printer, args: ParseArgs) -> Result<u8, Failure> {
    let (name, reader): (String, Box<dyn Read + Send>) = if args.file.as_os_str() == "-" {
        ("standard input".to_owned(), Box::new(std::io::stdin()))
    } else {
        let file = super::settings::open_input(&args.file)?;
        (args.file.display().to_string(), Box::new(file))
    };
    let format = printer.format(Format::Json);
    let mut stream: Option<List> = None;
    let mut numbers = String::new();
    let result = parse::read(reader, |record: &parse::Record<'_>| {
        if format == Format::Table {
            return Ok(());
        }
        let stream = match &mut stream {
            Some(stream) => stream,
            None => stream.insert(open_stream(printer, record.layout().columns.iter())),
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
        (_, None) => open_stream(printer, report.layout.columns.iter()).finish(Some(&summary))?,
    }
    let mut described = format!(
        "{name}: {} bill, {}",
        report.layout.variant(),
        super::common::counted(report.rows, "row")
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

fn open_stream<'a>(printer: &Printer, columns: impl Iterator<Item = &'a Column>) -> List {
    let names: Vec<&str> = columns.map(|c| c.name()).collect();
    printer.list(&names).with_summary("records")
}

/// A record's cells: text as it is, money in fen. `numbers` holds the formatted amounts.
fn record_cells<'r>(
    record: &parse::Record<'r>,
    numbers: &'r mut String,
    cells: &mut [Cell<'r>; MAX_COLUMNS],
) -> usize {
    let columns = &record.layout().columns;
    numbers.clear();
    let mut ends = [0usize; MAX_COLUMNS];
    for (position, column) in columns.iter().enumerate() {
        if column.is_money() {
            push_fen(numbers, record.amount_at(position));
            ends[position] = numbers.len();
        }
    }
    let numbers: &'r str = numbers;
    let mut start = 0;
    for (position, column) in columns.iter().enumerate() {
        cells[position] = if column.is_money() {
            let text = &numbers[start..ends[position]];
            start = ends[position];
            Cell::Number(text)
        } else {
            Cell::Text(record.value(position))
        };
    }
    columns.len()
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

/// The bill folder: --bill-dir, then $WXPAY_OPS_BILL_DIR, then the profile's bill_dir, then the
/// user's data folder.
pub(super) fn bill_dir(
    flag: Option<&Path>,
    selected: Option<&Selected>,
) -> Result<PathBuf, Failure> {
    if let Some(dir) = flag {
        return Ok(dir.to_owned());
    }
    if let Some(dir) = std::env::var_os("WXPAY_OPS_BILL_DIR").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(selected) = selected
        && let Some(dir) = &selected.profile.bill_dir
    {
        return Ok(selected.config.resolve(dir));
    }
    dirs::data_dir()
        .map(|dir| dir.join("wxpay-ops").join("bills"))
        .ok_or_else(|| {
            Failure::usage("no folder for bills")
                .hint("pass --bill-dir DIR, or set bill_dir in the profile")
        })
}

/// A client for the profile: its api_base, its CA, and for fund-flow bills its merchant
/// certificate (mutual TLS) and HMAC-SHA256, which that endpoint requires.
fn bill_client(
    context: &Context,
    selected: &Selected,
    keys: &KeyArgs,
    mutual_tls: bool,
    timeout: Duration,
) -> Result<Client, Failure> {
    let profile = &selected.profile;
    let config = &selected.config;
    let identity = if mutual_tls {
        Some(super::api::identity(selected)?)
    } else {
        None
    };
    let ca = match &profile.ca_cert {
        Some(path) => {
            let path = config.resolve(path);
            Some(std::fs::read(&path).map_err(|e| Failure::input(&path.display().to_string(), e))?)
        }
        None => None,
    };
    let tls = if ca.is_some() || identity.is_some() {
        Some(tls_config(ca.as_deref(), identity).map_err(|e| {
            Failure::usage(format!("profile {}: {e}", selected.name))
                .hint("check ca_cert and the certificate paths with `wxpay-ops config check`")
        })?)
    } else {
        None
    };
    let sign_type = if mutual_tls {
        SignType::HmacSha256
    } else {
        profile.sign_type.unwrap_or_default()
    };
    let base = profile
        .api_base
        .clone()
        .unwrap_or_else(|| crate::wechat::client::DEFAULT_API_BASE.to_owned());
    super::api::warn_if_plain_http(&context.printer, &base);
    super::api::build(ClientOptions {
        tls,
        timeout,
        ..ClientOptions::new(
            base,
            profile.mch_id.clone(),
            profile.appid.clone(),
            context.api_key(keys, Some(selected))?,
            sign_type,
        )
    })
}

/// What happened to one day.
enum DayResult {
    Saved(Box<download::Saved>),
    NoBill,
    /// The manifest already had it.
    Skipped(Status),
    Failed(DownloadError),
}

fn run_fetch(
    context: &Context,
    days: &Days,
    source: Source,
    args: FetchArgs,
) -> Result<u8, Failure> {
    let (from, to, range) = days.span()?;
    let mut dates = vec![from];
    while let Some(next) = dates.last().and_then(|d| d.next_day()).filter(|d| *d <= to) {
        dates.push(next);
    }
    let fetched = fetch(context, &dates, range, source, &args)?;
    report_days(
        &context.printer,
        &fetched.folder,
        &source.label(),
        &fetched.results,
        range,
    )
}

/// What a download of some days gave, day by day, in the order asked.
struct Fetched {
    folder: PathBuf,
    results: Vec<(Date, DayResult)>,
}

/// Downloads the bills of `dates` into the profile's bill folder, recording each in the
/// manifest; one failed day does not stop the others.
fn fetch(
    context: &Context,
    dates: &[Date],
    range: bool,
    source: Source,
    args: &FetchArgs,
) -> Result<Fetched, Failure> {
    let printer = &context.printer;
    let now = crate::beijing::now();
    for date in dates {
        check_date(*date, now).map_err(|refusal| {
            Failure::usage(refusal.to_string())
                .hint("WeChat Pay serves bills of finished days of the last 3 months")
        })?;
    }
    let selected = context.profile_for(&args.keys)?.ok_or_else(|| {
        Failure::usage("bills need a profile with mch_id and appid")
            .hint("run `wxpay-ops config init`, or pass --config FILE")
    })?;
    let mutual_tls = matches!(source, Source::FundFlow(_));
    let client = bill_client(
        context,
        &selected,
        &args.keys,
        mutual_tls,
        Duration::from_secs(args.bill_timeout),
    )?;
    let dir = bill_dir(args.bill_dir.as_deref(), Some(&selected))?;
    let folder = dir.join(&selected.profile.mch_id);
    crate::fsutil::output_folder(&folder)?;
    let stale = crate::fsutil::remove_stale_temporaries(
        &folder,
        Duration::from_secs(download::MAX_TIMEOUT_SECS),
    );
    if stale > 0 {
        printer.status(&format!(
            "removed {} that an interrupted run left in {}",
            super::common::counted(stale, "unfinished download"),
            folder.display()
        ));
    }
    let manifest_path = folder.join(MANIFEST_NAME);
    let known = manifest::read(&manifest_path).map_err(|e| {
        Failure::usage(e.to_string())
            .hint("fix or move the manifest; it is one JSON object per line")
    })?;
    let skip = !args.force && (range || args.skip_existing);
    let label = source.label();
    let already = |date: Date| -> Option<Status> {
        let entry = manifest::latest(&known, &iso(date), &label)?;
        let on_disk = entry
            .file
            .as_ref()
            .is_some_and(|f| folder.join(f).is_file());
        (entry.status == Status::NoBill || on_disk).then_some(entry.status)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                exit::TEMPORARY,
                format!("cannot start the network runtime: {e}"),
            )
        })?;
    let progress = (printer.shows_progress() && dates.len() > 1).then(|| {
        let bar = indicatif::ProgressBar::new(dates.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} days {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let retry = Retry {
        attempts: args.retries + 1,
        first_wait: Duration::from_millis(500),
    };
    let client = Arc::new(client);
    let appends = Arc::new(Mutex::new(()));
    let results: Vec<(Date, DayResult)> = runtime.block_on(async {
        let permits = Arc::new(tokio::sync::Semaphore::new(usize::from(args.concurrency)));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, date) in dates.iter().copied().enumerate() {
            if let Some(status) = already(date).filter(|_| skip) {
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
                tasks.spawn(async move { (index, date, DayResult::Skipped(status)) });
                continue;
            }
            let (client, permits, appends) = (client.clone(), permits.clone(), appends.clone());
            let (folder, manifest_path, progress) =
                (folder.clone(), manifest_path.clone(), progress.clone());
            let path = bill_path(&dir, &client.mch_id, date, source);
            let gzip = args.gzip;
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let result = match download::fetch(&client, source, date, gzip, &path, retry).await
                {
                    Ok(outcome) => {
                        let entry = manifest_entry(date, source, &outcome, &folder);
                        let _serial = appends.lock().unwrap_or_else(|e| e.into_inner());
                        match manifest::append(&manifest_path, &entry) {
                            Ok(()) => match outcome {
                                Outcome::Saved(saved) => DayResult::Saved(saved),
                                Outcome::NoBill { .. } => DayResult::NoBill,
                            },
                            Err(e) => DayResult::Failed(DownloadError::File(e)),
                        }
                    }
                    Err(e) => DayResult::Failed(e),
                };
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
                (index, date, result)
            });
        }
        let collected = async {
            let mut results = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                if let Ok(result) = joined {
                    results.push(result);
                }
            }
            results
        };
        let mut results = tokio::select! {
            results = collected => results,
            code = interrupted() => {
                // Killed mid-download, destructors never run: the half-written bills go
                // here, or a later run finds them stale.
                crate::fsutil::remove_live_temporaries();
                if let Some(bar) = &progress {
                    bar.finish_and_clear();
                }
                printer.status("interrupted: the bills being downloaded were not saved");
                std::process::exit(code);
            }
        };
        results.sort_by_key(|(index, _, _)| *index);
        results
            .into_iter()
            .map(|(_, date, result)| (date, result))
            .collect()
    });
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(Fetched { folder, results })
}

/// Waits for SIGINT or SIGTERM, and gives the exit code a shell reports for it.
async fn interrupted() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        },
        // No handler, no cleanup: the signal ends the process as before.
        _ => std::future::pending().await,
    }
}

/// The day's trade bill (ALL) in `dir`, downloaded first when it is not there yet, for
/// `reconcile --date`.
pub(super) fn trade_bill(context: &Context, dir: &Path, day: Day) -> Result<PathBuf, Failure> {
    let date = day.date();
    let args = FetchArgs {
        gzip: false,
        bill_dir: Some(dir.to_owned()),
        skip_existing: true,
        force: false,
        concurrency: 1,
        retries: 2,
        bill_timeout: 600,
        keys: KeyArgs::default(),
    };
    let source = Source::Trade(TypeArg::All.trade_type());
    let fetched = fetch(context, &[date], false, source, &args)?;
    let path = bill_path(dir, &context.select()?.profile.mch_id, date, source);
    match fetched.results.into_iter().next().map(|(_, result)| result) {
        Some(DayResult::Saved(_) | DayResult::Skipped(Status::Saved)) => {
            context
                .printer
                .status(&format!("the bill of {day} is at {}", path.display()));
            Ok(path)
        }
        Some(DayResult::NoBill | DayResult::Skipped(_)) => Err(Failure::new(
            exit::NEGATIVE,
            format!(
                "WeChat Pay has no bill of {day} (No Bill Exist): it took no payments that day"
            ),
        )
        .hint("every paid order in the export of that day is then missing in WeChat Pay")),
        Some(DayResult::Failed(error)) => Err(Failure::new(
            failure_code(&error),
            format!("the bill of {day} could not be downloaded: {error}"),
        )
        .hint(failure_hint(&error))),
        None => Err(Failure::usage(format!("no bill of {day} was fetched"))),
    }
}

fn manifest_entry(date: Date, source: Source, outcome: &Outcome, folder: &Path) -> Entry {
    let now = OffsetDateTime::now_utc();
    let fetched_at = now
        .replace_nanosecond(0)
        .unwrap_or(now)
        .to_offset(crate::beijing::BEIJING)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut entry = Entry {
        date: iso(date),
        bill_type: source.label(),
        status: Status::NoBill,
        file: None,
        bytes: None,
        sha256: None,
        rows: None,
        totals: None,
        consistent: None,
        gzip: None,
        source_url: String::new(),
        fetched_at,
    };
    match outcome {
        Outcome::NoBill { source_url } => entry.source_url = source_url.clone(),
        Outcome::Saved(saved) => {
            entry.status = Status::Saved;
            entry.file = saved
                .path
                .strip_prefix(folder)
                .ok()
                .map(|p| p.display().to_string());
            entry.bytes = Some(saved.bytes);
            entry.sha256 = Some(saved.sha256.clone());
            entry.rows = Some(saved.report.rows);
            entry.totals = Some(
                saved
                    .report
                    .totals
                    .iter()
                    .map(|check| (check.total.name().to_owned(), quantity_json(check.stated)))
                    .collect(),
            );
            entry.consistent = Some(saved.report.is_consistent());
            entry.gzip = Some(saved.gzip);
            entry.source_url = saved.source_url.clone();
        }
    }
    entry
}

fn report_days(
    printer: &Printer,
    folder: &Path,
    label: &str,
    results: &[(Date, DayResult)],
    range: bool,
) -> Result<u8, Failure> {
    let columns = ["date", "type", "outcome", "rows", "bytes", "file", "detail"];
    let mut records = Vec::new();
    let mut failures: Vec<(Date, &DownloadError)> = Vec::new();
    for (date, result) in results {
        // Counts are numbers, and what a day does not have is null.
        let (outcome, count, bytes, file, detail) = match result {
            DayResult::Saved(saved) => {
                if !saved.report.is_consistent() {
                    printer.warn(&format!(
                        "{}: the summary row does not match the rows: {}",
                        saved.path.display(),
                        describe_mismatches(&saved.report)
                    ));
                }
                (
                    "saved",
                    json!(saved.report.rows),
                    json!(saved.bytes),
                    json!(saved.path.display().to_string()),
                    if saved.report.is_consistent() {
                        Value::Null
                    } else {
                        json!("the summary row does not match the rows")
                    },
                )
            }
            DayResult::NoBill => (
                "no_bill",
                Value::Null,
                Value::Null,
                Value::Null,
                json!("No Bill Exist"),
            ),
            DayResult::Skipped(status) => (
                "skipped",
                Value::Null,
                Value::Null,
                Value::Null,
                json!(format!(
                    "already {}; --force fetches again",
                    if *status == Status::Saved {
                        "saved"
                    } else {
                        "known to have no bill"
                    }
                )),
            ),
            DayResult::Failed(error) => {
                failures.push((*date, error));
                (
                    "failed",
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    json!(error.to_string()),
                )
            }
        };
        let values = [json!(iso(*date)), json!(label), json!(outcome)];
        let values = values.into_iter().chain([count, bytes, file, detail]);
        records.push(columns.iter().map(|c| c.to_string()).zip(values).collect());
    }
    // A failed day is a row too, of a single day as of a range: what was done is on stdout.
    printer.records(&columns, &records)?;
    if failures.is_empty() {
        let count = |outcome: &str| {
            (records.iter())
                .filter(|r: &&Record| r["outcome"] == outcome)
                .count()
        };
        printer.status(&format!(
            "{}: {} saved, {} without a bill, {} skipped",
            folder.display(),
            count("saved"),
            count("no_bill"),
            count("skipped"),
        ));
        return Ok(exit::OK);
    }
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
            super::common::counted(results.len(), "day"),
            listed.join("; ")
        )
    } else {
        listed.join("; ")
    };
    Err(Failure::new(code, message).hint(failure_hint(failures[0].1)))
}

fn failure_code(error: &DownloadError) -> u8 {
    match error {
        _ if error.is_temporary() => exit::TEMPORARY,
        DownloadError::BadSign => exit::VERIFY,
        DownloadError::Refused(_) => exit::REFUSED,
        _ => exit::USAGE,
    }
}

fn failure_hint(error: &DownloadError) -> String {
    match error {
        DownloadError::Creating => "nothing was saved; try again after 10:00 Beijing time (exit 75 tells a scheduler to retry); a range skips the days it already has".into(),
        _ if error.is_temporary() => "nothing was saved under the bill's name; run the same command again later (exit 75); a range skips the days it already has".into(),
        DownloadError::BadSign => SIGN_HINT.into(),
        DownloadError::Refused(_) => "check the profile's mch_id, appid and key with `wxpay-ops config check`, and the date and type".into(),
        DownloadError::File(e) => e.hint().unwrap_or_else(|| "check the bill folder".into()),
        DownloadError::Tls(_) => "check ca_cert and the merchant certificate (cert_p12, or cert_pem and cert_key_pem) with `wxpay-ops config check`".into(),
        _ => "nothing was saved; try again later, and if it persists, report the line named above to WeChat Pay".into(),
    }
}

/// The widest range `bill summary` sums: ten years. Every day is a row held until the table
/// is drawn, and a manifest holds only what was downloaded, which the API serves for three
/// months back; a wider range is a typo (0001-01-01 would be 3.6 million rows).
const MAX_SUMMARY_DAYS: i64 = 3660;

/// Days named in a warning: the first few, then how many more.
const LISTED_DAYS: usize = 10;

fn run_summary(context: &Context, args: SummaryArgs) -> Result<u8, Failure> {
    let printer = &context.printer;
    let (from, to, _) = args.days.span()?;
    let span = (to - from).whole_days() + 1;
    if span > MAX_SUMMARY_DAYS {
        return Err(Failure::usage(format!(
            "--from {} --to {} spans {span} days; at most {MAX_SUMMARY_DAYS} (ten years) are summed at once",
            iso(from),
            iso(to)
        ))
        .hint("narrow the range, or sum it in parts"));
    }
    let selected = context.select()?;
    let folder =
        bill_dir(args.bill_dir.as_deref(), Some(&selected))?.join(&selected.profile.mch_id);
    let manifest_path = folder.join(MANIFEST_NAME);
    let entries = manifest::read(&manifest_path).map_err(|e| Failure::usage(e.to_string()))?;
    let label = Source::Trade(args.bill_type.trade_type()).label();
    let fen = |entry: &Entry, names: &[&str]| -> i64 {
        let totals = entry.totals.as_ref();
        names
            .iter()
            .find_map(|name| totals.and_then(|t| t.get(*name)).and_then(Value::as_f64))
            .map_or(0, |value| value.round() as i64)
    };
    let mut days = Vec::new();
    let mut sums = [0i64; 5];
    let mut missing = Vec::new();
    let mut unlisted = Vec::new();
    let mut date = from;
    while date <= to {
        let (status, numbers) = match manifest::latest(&entries, &iso(date), &label) {
            None => {
                // A bill on disk that the manifest lacks: a download's line was lost.
                if folder.join(format!("{}.{label}.csv", iso(date))).is_file() {
                    unlisted.push(iso(date));
                }
                missing.push(iso(date));
                ("missing", None)
            }
            Some(entry) if entry.status == Status::NoBill => ("no_bill", Some([0; 5])),
            Some(entry) => {
                let trades = fen(entry, &["settlement_total_fee", "total_fee"]);
                let refunds = fen(entry, &["settlement_refund_fee", "refund_fee"]);
                let fees = fen(entry, &["fee"]);
                let rows = entry.rows.unwrap_or(0) as i64;
                (
                    "saved",
                    Some([rows, trades, refunds, fees, trades - refunds - fees]),
                )
            }
        };
        if let Some(numbers) = numbers {
            for (sum, value) in sums.iter_mut().zip(numbers) {
                *sum += value;
            }
        }
        days.push((iso(date), status, numbers));
        match date.next_day() {
            Some(next) => date = next,
            None => break,
        }
    }
    let yuan = |fen: i64| crate::wechat::Fen(fen).yuan();
    if printer.format(Format::Json).is_json() {
        let day_json = |(date, status, numbers): &(String, &str, Option<[i64; 5]>)| {
            let n = numbers.unwrap_or_default();
            json!({"date": date, "status": status, "rows": n[0], "trades": n[1], "refunds": n[2], "fees": n[3], "net": n[4]})
        };
        let mut record = Record::new();
        record.insert("type".into(), json!(label));
        record.insert(
            "days".into(),
            Value::Array(days.iter().map(day_json).collect()),
        );
        record.insert(
            "total".into(),
            json!({"rows": sums[0], "trades": sums[1], "refunds": sums[2], "fees": sums[3], "net": sums[4]}),
        );
        printer.paste(&record)?;
    } else {
        let mut rows: Vec<Vec<String>> = days
            .iter()
            .map(|(date, status, numbers)| {
                let mut row = vec![date.clone(), (*status).to_owned()];
                match numbers {
                    Some(n) => {
                        row.push(n[0].to_string());
                        row.extend(n[1..].iter().map(|v| yuan(*v)));
                    }
                    None => row.extend(std::iter::repeat_n(String::new(), 5)),
                }
                row
            })
            .collect();
        let mut total = vec!["total".to_owned(), String::new(), sums[0].to_string()];
        total.extend(sums[1..].iter().map(|v| yuan(*v)));
        rows.push(total);
        printer.rows(
            &["date", "bill", "rows", "trades", "refunds", "fees", "net"],
            &rows,
        )?;
    }
    let listed = |days: &[String]| match days.len() - days.len().min(LISTED_DAYS) {
        0 => days.join(", "),
        more => format!("{} and {more} more", days[..LISTED_DAYS].join(", ")),
    };
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
    if !unlisted.is_empty() {
        let (days, their, them) = match unlisted.len() {
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
            listed(&unlisted)
        ));
    }
    Ok(exit::OK)
}
