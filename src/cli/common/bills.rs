//! What the bill commands and `reconcile --date` share: the bill folder, the download of
//! days with its progress on stderr, and the wording of download failures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use time::Date;

use crate::bill::download::{
    self, DownloadError, Source, bill_path, check_date, iso, retry_policy,
};
use crate::bill::fetch::{self, DayResult, FetchError, FetchRequest};
use crate::bill::format::BillType;
use crate::bill::manifest::EntryStatus;
use crate::cli::common::ApiFlag;
use crate::cli::common::api;
use crate::cli::common::ledger::{LedgerArgs, bill_hint, ledger_failure, ledger_path, open};
use crate::cli::common::progress::Bars;
use crate::cli::failure::{Failure, SIGN_HINT, exit};
use crate::cli::settings::{Context, KeyArgs, Selected};
use crate::config::client::MutualTls;
use crate::ledger::bills::{BillWriter, BillsError, Mode, Outcome, listed_days};
use crate::ledger::import::record_listed;
use crate::wechat::ApiVersion;
use crate::wechat::SignType;
use crate::wechat::client::{ClientOptions, RetryPolicy};
use crate::wechat::gateway::Gateway;

/// The flags of the commands that download bills.
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
    /// The API to ask on [default: the profile's api_version, else v3 when it names v3 keys]
    #[arg(long, value_enum)]
    api: Option<ApiFlag>,
    #[command(flatten)]
    keys: KeyArgs,
}

/// The bill folder: --bill-dir, then $WXPAY_OPS_BILL_DIR, then the profile's bill_dir, then the
/// user's data folder.
pub(crate) fn bill_dir(
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

/// A client for the profile on the API chosen. On v2: its api_base, its CA, and for
/// fund-flow bills its merchant certificate (mutual TLS) and HMAC-SHA256, which that endpoint
/// requires. On v3: signed requests, with no client certificate. One attempt per request:
/// the day's own retries do the rest.
fn bill_client(
    context: &Context,
    selected: &Selected,
    args: &FetchArgs,
    fund_flow: bool,
    timeout: Duration,
) -> Result<Gateway, Failure> {
    let once = RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    };
    if ApiFlag::resolve(args.api, Some(selected)) == ApiVersion::V3 {
        let timeouts = (timeout, crate::wechat::client::DEFAULT_CONNECT_TIMEOUT);
        let client = super::v3_client::v3_client(context, selected, &args.keys, timeouts, once)?;
        return Ok(Gateway::V3(client));
    }
    let key = context.api_key(&args.keys, Some(selected))?;
    let tls = if fund_flow {
        MutualTls::Always
    } else {
        MutualTls::Never
    };
    let options = api::client_options(context, selected, key, tls)?;
    // The fund-flow bill is served only to HMAC-SHA256 requests.
    let sign_type = if fund_flow {
        SignType::HmacSha256
    } else {
        options.sign_type
    };
    api::build(ClientOptions {
        sign_type,
        timeout,
        ..options
    })
    .map(Gateway::V2)
}

/// What a download of some days gave, day by day, in the order asked.
pub(crate) struct FetchedDays {
    pub folder: PathBuf,
    pub results: Vec<(Date, DayResult)>,
    /// The profile the bills were fetched for.
    pub selected: Selected,
}

/// Downloads the bills of `dates` into the profile's bill folder, recording each in the
/// manifest; one failed day does not stop the others. A `range` skips the days the manifest
/// has unless --force.
pub(crate) fn fetch_days(
    context: &Context,
    dates: &[Date],
    range: bool,
    source: Source,
    args: &FetchArgs,
) -> Result<FetchedDays, Failure> {
    let printer = &context.printer;
    let now = crate::time::now();
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
    let fund_flow = matches!(source, Source::FundFlow(_));
    let timeout = Duration::from_secs(args.bill_timeout);
    let client = bill_client(context, &selected, args, fund_flow, timeout)?;
    let folder =
        bill_dir(args.bill_dir.as_deref(), Some(&selected))?.join(&selected.profile.mch_id);
    let stale = fetch::prepare(&folder)?;
    if stale > 0 {
        printer.status(&format!(
            "removed {} that an interrupted run left in {}",
            super::counted(stale, "unfinished download"),
            folder.display()
        ));
    }
    let request = FetchRequest {
        source,
        gzip: args.gzip,
        skip_known: !args.force && (range || args.skip_existing),
        concurrency: usize::from(args.concurrency),
        retry: retry_policy(args.retries),
    };
    let bars = Arc::new(Bars::new(printer, dates.len()));
    let fetched = fetch::fetch(client, &folder, dates, request, bars.clone(), interrupted());
    bars.clear();
    match fetched.map_err(fetch_failure)? {
        fetch::Fetched::Done(results) => Ok(FetchedDays {
            folder,
            results,
            selected,
        }),
        fetch::Fetched::Stopped(code) => {
            printer.status("interrupted: the bills being downloaded were not saved");
            std::process::exit(code);
        }
    }
}

/// What the ledger made of the bills of some days: for each day (in the order fetched) the
/// outcome of its bill, when the bill is on disk and a ledger is used; and the failure to end
/// with when the ledger failed.
pub(crate) struct LedgerDays {
    pub outcomes: Vec<Option<&'static str>>,
    pub failure: Option<Failure>,
}

/// Records in the ledger the bills `fetched` saved or found already saved (with
/// [`Mode::Import`], a trade bill's rows too), after their manifest lines, in one write
/// transaction. Whatever the ledger does, the bills and the manifest stay: a failure says
/// so, and how to record them later.
pub(crate) fn record_days(
    fetched: &FetchedDays,
    label: &str,
    args: &LedgerArgs,
    mode: Mode,
) -> LedgerDays {
    let mut days = LedgerDays {
        outcomes: vec![None; fetched.results.len()],
        failure: None,
    };
    let on_disk: Vec<usize> = (fetched.results.iter().enumerate())
        .filter(|(_, (_, result))| {
            matches!(
                result,
                DayResult::Saved(_) | DayResult::Skipped(EntryStatus::Saved)
            )
        })
        .map(|(index, _)| index)
        .collect();
    let mch_id = fetched.selected.profile.mch_id.as_str();
    let bill_dir = fetched.folder.parent().unwrap_or(Path::new("."));
    let Some(path) = ledger_path(args, Some(&fetched.selected), bill_dir, Some(mch_id))
        .filter(|_| !on_disk.is_empty())
    else {
        return days;
    };
    let dates: Vec<Date> = on_disk.iter().map(|i| fetched.results[*i].0).collect();
    let outcomes = match record_saved(&path, &fetched.folder, mch_id, label, &dates, mode) {
        Ok(outcomes) => outcomes,
        Err(failure) => {
            // Nothing is in the ledger, and the bills stay: say how to record them later.
            for index in &on_disk {
                days.outcomes[*index] = Some("failed");
            }
            let later = format!(
                "the bills are saved and in the manifest: record them later with `{}`",
                import_later(&dates, bill_dir, args)
            );
            let hint = match failure.hint.as_deref() {
                Some(hint) => format!("{hint}; {later}"),
                None => later,
            };
            days.failure = Some(failure.hint(hint));
            return days;
        }
    };
    let mut refused = Vec::new();
    for ((index, date), outcome) in on_disk.iter().zip(&dates).zip(outcomes) {
        match outcome {
            Some(Ok(outcome)) => days.outcomes[*index] = Some(outcome.name()),
            Some(Err(e)) => {
                days.outcomes[*index] = Some("failed");
                refused.push((*date, e));
            }
            None => {}
        }
    }
    if let Some((_, first_error)) = refused.first() {
        let listed: Vec<String> = (refused.iter())
            .map(|(date, e)| format!("{} {label}: {e}", iso(*date)))
            .collect();
        let message = format!("the ledger did not take {}", listed.join("; "));
        let hint = bill_hint(first_error).to_owned();
        days.failure = Some(Failure::usage(message).hint(hint));
    }
    days
}

/// Records the saved bills of `dates` in the ledger at `path`, in one write transaction: for
/// each date, what became of its bill (None: the manifest lists none). A failure is the
/// ledger's, and leaves it as it was.
fn record_saved(
    path: &Path,
    folder: &Path,
    mch_id: &str,
    label: &str,
    dates: &[Date],
    mode: Mode,
) -> Result<Vec<Option<Result<Outcome, BillsError>>>, Failure> {
    let mut ledger = open(path)?;
    let mut writer = BillWriter::new(&mut ledger, Some(mch_id)).map_err(ledger_failure)?;
    let (first, last) = (
        dates[0].min(dates[dates.len() - 1]),
        dates[0].max(dates[dates.len() - 1]),
    );
    let listings = listed_days(folder, first, last).map_err(|e| Failure::usage(e.to_string()))?;
    let outcomes = record_listed(&mut writer, folder, &listings, label, dates, mode)
        .map_err(ledger_failure)?;
    writer.commit().map_err(ledger_failure)?;
    Ok(outcomes)
}

/// The command that records the bills of `dates` in `bill_dir` later, into the same ledger.
fn import_later(dates: &[Date], bill_dir: &Path, args: &LedgerArgs) -> String {
    let (first, last) = (dates.iter().min(), dates.iter().max());
    let days = match (first, last) {
        (Some(first), Some(last)) if first != last => {
            format!("--from {} --to {}", iso(*first), iso(*last))
        }
        (Some(day), _) => format!("--date {}", iso(*day)),
        _ => String::new(),
    };
    let ledger = (args.ledger.as_ref())
        .map(|path| format!(" --ledger {}", path.display()))
        .unwrap_or_default();
    format!(
        "wxpay-ops ledger import {days} --bill-dir {}{ledger}",
        bill_dir.display()
    )
}

fn fetch_failure(error: FetchError) -> Failure {
    match error {
        FetchError::Manifest(e) => Failure::usage(e.to_string())
            .hint("fix or move the manifest; it is one JSON object per line"),
        FetchError::Runtime(_) => Failure::new(exit::TEMPORARY, error.to_string()),
    }
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
pub(crate) fn trade_bill(context: &Context, dir: &Path, date: Date) -> Result<PathBuf, Failure> {
    let args = FetchArgs {
        gzip: false,
        bill_dir: Some(dir.to_owned()),
        skip_existing: true,
        force: false,
        concurrency: 1,
        retries: 2,
        bill_timeout: 600,
        api: None,
        keys: KeyArgs::default(),
    };
    let source = Source::Trade(BillType::All);
    let fetched = fetch_days(context, &[date], false, source, &args)?;
    let path = bill_path(dir, &context.select()?.profile.mch_id, date, source);
    match fetched.results.into_iter().next().map(|(_, result)| result) {
        Some(DayResult::Saved(_) | DayResult::Skipped(EntryStatus::Saved)) => {
            context
                .printer
                .status(&format!("the bill of {date} is at {}", path.display()));
            Ok(path)
        }
        Some(DayResult::NoBill | DayResult::Skipped(_)) => Err(Failure::new(
            exit::NEGATIVE,
            format!(
                "WeChat Pay has no bill of {date} (No Bill Exist): it took no payments that day"
            ),
        )
        .hint("every paid order in the export of that day is then missing in WeChat Pay")),
        Some(DayResult::Failed(error)) => Err(Failure::new(
            failure_code(&error),
            format!("the bill of {date} could not be downloaded: {error}"),
        )
        .hint(failure_hint(&error))),
        None => Err(Failure::usage(format!("no bill of {date} was fetched"))),
    }
}

/// The exit code of a day that failed.
pub(crate) fn failure_code(error: &DownloadError) -> u8 {
    match error {
        _ if error.is_temporary() => exit::TEMPORARY,
        DownloadError::BadSign
        | DownloadError::Unverified(_)
        | DownloadError::BadAnswer(_)
        | DownloadError::HashMismatch { .. } => exit::VERIFY,
        DownloadError::Refused(_) => exit::REFUSED,
        _ => exit::USAGE,
    }
}

/// What to do about a day that failed.
pub(crate) fn failure_hint(error: &DownloadError) -> String {
    match error {
        DownloadError::Creating => "nothing was saved; try again after 10:00 Beijing time (exit 75 tells a scheduler to retry); a range skips the days it already has".into(),
        _ if error.is_temporary() => "nothing was saved under the bill's name; run the same command again later (exit 75); a range skips the days it already has".into(),
        DownloadError::BadSign => SIGN_HINT.into(),
        DownloadError::Unverified(_) => "check wechatpay_public_key_pem and wechatpay_public_key_id with `wxpay-ops config check`, and this machine's clock; nothing was saved".into(),
        DownloadError::BadAnswer(_) => "nothing was saved; the answer was signed by WeChat Pay but is not a bill's answer: if it persists, report it to WeChat Pay with the date and type".into(),
        DownloadError::HashMismatch { .. } => "nothing was saved under the bill's name; run the same command again, and if the SHA-1 differs again, something between you and WeChat Pay changes the file".into(),
        DownloadError::Refused(_) => "check the profile's mch_id, appid and key with `wxpay-ops config check`, and the date and type".into(),
        DownloadError::File(e) => e.hint().unwrap_or_else(|| "check the bill folder".into()),
        DownloadError::Tls(_) => "check ca_cert and the merchant certificate (cert_p12, or cert_pem and cert_key_pem) with `wxpay-ops config check`".into(),
        _ => "nothing was saved; try again later, and if it persists, report the line named above to WeChat Pay".into(),
    }
}
