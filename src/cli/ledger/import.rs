//! `wxpay-ops ledger import FILE… | --date D | --from D --to D`: bills already on disk into
//! the ledger.

use std::path::PathBuf;

use clap::Args;
use time::Date;

use crate::bill::download::iso;
use crate::cli::common::bills::bill_dir;
use crate::cli::common::counted;
use crate::cli::common::ledger::{LedgerArgs, bill_hint, ledger_failure, ledger_path, open};
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Context, parse_day};
use crate::ledger::bills::BillWriter;
use crate::ledger::import::{Item, NotImported, import};
use crate::output::{Record, record_of};

pub const AFTER_HELP: &str = "\
Each file is recorded with what the manifest of its folder lists of it (sha256, size, rows, \
source URL, time of fetching), else with what it says of itself: its day and type from its \
name as `bill download` gives it (YYYY-MM-DD.TYPE.csv), else from its header and first row. \
A trade bill's rows go into the ledger, one per payment or refund; a fund-flow bill is \
recorded without its rows. A file recorded before (the same sha256) is left as it is; another \
file of the same day and type (a corrected bill) is recorded beside the first and is the \
day's bill from then on. Everything goes in one transaction: an import that is interrupted \
leaves the ledger as it was. Exit 0 when every bill is in the ledger; 2 when a file could not \
be imported (the others are) or a day has no bill on disk; 75 when another wxpay-ops held the \
ledger too long.";

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Bill files: as `bill download` saved them, or any WeChat Pay bill
    #[arg(value_name = "FILE", required_unless_present_any = ["date", "from"],
          conflicts_with_all = ["date", "from"])]
    files: Vec<PathBuf>,
    /// The bills of this day in the bill folder, Beijing time: yyyy-MM-dd, yyyyMMdd, today or
    /// yesterday
    #[arg(long, value_name = "DATE", value_parser = parse_day, conflicts_with = "from")]
    date: Option<Date>,
    /// First day of a range (with --to), in the same forms
    #[arg(long, value_name = "DATE", value_parser = parse_day, requires = "to")]
    from: Option<Date>,
    /// Last day of a range, included
    #[arg(long, value_name = "DATE", value_parser = parse_day, requires = "from")]
    to: Option<Date>,
    /// The bill folder [env: WXPAY_OPS_BILL_DIR] [default: the profile's bill_dir, else the
    /// user's data folder, wxpay-ops/bills]
    #[arg(long, value_name = "DIR")]
    bill_dir: Option<PathBuf>,
    /// The ledger database [default: the profile's `ledger`, else
    /// <bill-dir>/<mch_id>/ledger.sqlite3]
    #[arg(long, value_name = "PATH")]
    ledger: Option<PathBuf>,
}

const COLUMNS: [&str; 7] = [
    "date", "type", "outcome", "rows", "bill_id", "file", "detail",
];

pub fn run(context: &Context, args: ImportArgs) -> Result<u8, Failure> {
    let printer = &context.printer;
    let selected = context.select_optional()?;
    let bills = bill_dir(args.bill_dir.as_deref(), selected.as_ref())?;
    let profile_mch = selected.as_ref().map(|s| s.profile.mch_id.clone());
    let items = if args.files.is_empty() {
        let (from, to) = span(&args)?;
        let mch_id = profile_mch.as_deref().ok_or_else(|| {
            Failure::usage("--date and --from need a profile: the bills are in <bill-dir>/<mch_id>")
                .hint("run `wxpay-ops config init`, or name the files: `wxpay-ops ledger import FILE…`")
        })?;
        Item::of_days(&bills.join(mch_id), from, to).map_err(|e| {
            Failure::usage(e.to_string())
                .hint("fix or move the manifest; it is one JSON object per line")
        })?
    } else {
        Item::of_files(&args.files)
    };
    // A ledger named by flag is whoever's it holds; the profile's is the profile merchant's.
    let given = profile_mch.filter(|_| args.ledger.is_none());
    let mch_id = given.clone().or_else(|| Item::merchant(&items));
    let flags = LedgerArgs {
        ledger: args.ledger.clone(),
        no_ledger: false,
    };
    let path =
        ledger_path(&flags, selected.as_ref(), &bills, mch_id.as_deref()).ok_or_else(|| {
            Failure::usage("no ledger to import into: no profile, and no bill says whose it is")
                .hint("pass --ledger PATH, or --profile NAME of the bills' merchant")
        })?;
    let mut ledger = open(&path)?;
    let mut writer = BillWriter::new(&mut ledger, given.as_deref()).map_err(ledger_failure)?;
    let mut rows = Vec::with_capacity(items.len());
    let mut failed = Vec::new();
    for item in items {
        let (row, not_imported) = import(&mut writer, item).map_err(ledger_failure)?;
        if let Some(why) = not_imported {
            failed.push((row.detail.clone().unwrap_or_default(), why));
        }
        rows.push(row);
    }
    writer.commit().map_err(ledger_failure)?;
    let records: Vec<Record> = rows.iter().map(record_of).collect();
    printer.records(&COLUMNS, &records)?;
    let Some((_, first)) = failed.first() else {
        let count = |outcome: &str| rows.iter().filter(|r| r.outcome == outcome).count();
        printer.status(&format!(
            "{}: {} imported, {} recorded without rows, {} already there, {} without a bill",
            path.display(),
            count("imported"),
            count("recorded"),
            count("already"),
            count("no_bill"),
        ));
        return Ok(exit::OK);
    };
    let hint = match first {
        NotImported::Bill(error) => bill_hint(error).to_owned(),
        NotImported::Missing(day) => format!(
            "download the day first: `wxpay-ops bill download --date {}`",
            iso(*day)
        ),
    };
    let listed: Vec<&str> = failed.iter().map(|(detail, _)| detail.as_str()).collect();
    Err(Failure::usage(format!(
        "{} of {} not imported: {}",
        failed.len(),
        counted(rows.len(), "bill"),
        listed.join("; ")
    ))
    .hint(hint))
}

/// The first and last day asked for.
fn span(args: &ImportArgs) -> Result<(Date, Date), Failure> {
    match (args.date, args.from, args.to) {
        (Some(date), _, _) => Ok((date, date)),
        (None, Some(from), Some(to)) if from <= to => Ok((from, to)),
        (None, Some(from), Some(to)) => Err(Failure::usage(format!(
            "--from {} is after --to {}",
            iso(from),
            iso(to)
        ))),
        _ => Err(Failure::usage("give FILE…, --date, or --from and --to")),
    }
}
