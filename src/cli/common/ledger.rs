//! Where a command's ledger is, and opening it with the user's wording of what went wrong.

use std::path::{Path, PathBuf};

use clap::Args;

use super::bills::bill_dir;
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Context, Selected};
use crate::fsutil::output_folder;
use crate::ledger::bills::BillsError;
use crate::ledger::runs::State;
use crate::ledger::{self, Ledger, LedgerError};

/// The ledger flags of a command that writes to it.
#[derive(Debug, Clone, Args)]
pub struct LedgerArgs {
    /// The ledger database to record in [default: the profile's `ledger`, else
    /// <bill-dir>/<mch_id>/ledger.sqlite3]
    #[arg(long, value_name = "PATH", conflicts_with = "no_ledger")]
    pub ledger: Option<PathBuf>,
    /// Record nothing in the ledger
    #[arg(long)]
    pub no_ledger: bool,
}

/// The ledger a command reads, and whose facts in it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Ledger")]
pub struct ReadArgs {
    /// The ledger database [default: the profile's `ledger`, else
    /// <bill-dir>/<mch_id>/ledger.sqlite3]
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,
    /// The merchant [default: the profile's mch_id, else the one merchant in the ledger]
    #[arg(long, value_name = "MCH_ID")]
    pub mch_id: Option<String>,
    /// The bill folder that holds the default ledger [env: WXPAY_OPS_BILL_DIR] [default: as for
    /// bill download]
    #[arg(long, value_name = "DIR")]
    pub bill_dir: Option<PathBuf>,
}

/// Opens the ledger a reading command names, which must exist (reading never creates one),
/// with the merchant the flags or the profile name.
pub(crate) fn existing(
    context: &Context,
    args: &ReadArgs,
) -> Result<(Ledger, Option<String>), Failure> {
    // A config file is not needed when the flags say it all.
    let selected = match (&args.ledger, &args.mch_id) {
        (Some(_), Some(_)) => None,
        _ => context.select_optional()?,
    };
    let mch_id =
        (args.mch_id.clone()).or_else(|| selected.as_ref().map(|s| s.profile.mch_id.clone()));
    let place = LedgerArgs {
        ledger: args.ledger.clone(),
        no_ledger: false,
    };
    let path = match &args.ledger {
        Some(path) => path.clone(),
        None => {
            let dir = bill_dir(args.bill_dir.as_deref(), selected.as_ref())?;
            ledger_path(&place, selected.as_ref(), &dir, mch_id.as_deref()).ok_or_else(|| {
                Failure::usage("no ledger to read: no --ledger, and no profile to place one by")
                    .hint("pass --ledger PATH, or --mch-id with the --bill-dir that holds <mch_id>/ledger.sqlite3")
            })?
        }
    };
    if !path.is_file() {
        return Err(Failure::usage(format!(
            "ledger {}: no such file; nothing has been recorded there",
            path.display()
        ))
        .hint("`bill download` and `reconcile` record there; name another ledger with --ledger PATH, --mch-id or --bill-dir"));
    }
    Ok((open(&path)?, mch_id))
}

/// Opens the ledger a reading command names, and picks the merchant: the one named, else
/// the ledger's only one.
pub(crate) fn open_to_read(
    context: &Context,
    args: &ReadArgs,
) -> Result<(Ledger, String), Failure> {
    let (ledger, mch_id) = existing(context, args)?;
    let mch_id = match mch_id {
        Some(mch_id) => mch_id,
        None => only_merchant(&ledger)?,
    };
    Ok((ledger, mch_id))
}

/// The one merchant a ledger has facts of.
fn only_merchant(ledger: &Ledger) -> Result<String, Failure> {
    let mut merchants = ledger::report::merchants(ledger).map_err(ledger_failure)?;
    let name = ledger.path().display();
    match merchants.len() {
        1 => Ok(merchants.remove(0)),
        0 => Err(
            Failure::usage(format!("ledger {name}: no bill or run of any merchant yet"))
                .hint("pass --mch-id to report a merchant anyway"),
        ),
        _ => Err(Failure::usage(format!(
            "ledger {name} holds several merchants: {}",
            merchants.join(", ")
        ))
        .hint("pass --mch-id to pick one")),
    }
}

/// The ledger to use: none with --no-ledger; else --ledger, the profile's `ledger`, or the one
/// beside the merchant's bills. `None` also when no merchant is known to place it by.
pub(crate) fn ledger_path(
    args: &LedgerArgs,
    selected: Option<&Selected>,
    bill_dir: &Path,
    mch_id: Option<&str>,
) -> Option<PathBuf> {
    if args.no_ledger {
        return None;
    }
    if let Some(path) = &args.ledger {
        return Some(path.clone());
    }
    if let Some(selected) = selected
        && let Some(path) = &selected.profile.ledger
    {
        return Some(selected.config.resolve(path));
    }
    mch_id.map(|mch_id| ledger::default_path(bill_dir, mch_id))
}

/// Opens (creating it and its folder when new) the ledger at `path`.
pub(crate) fn open(path: &Path) -> Result<Ledger, Failure> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        output_folder(folder).map_err(|e| {
            Failure::usage(format!("the ledger's folder: {e}"))
                .hint("pass --ledger PATH in a folder of yours, or --no-ledger")
        })?;
    }
    Ledger::open(path).map_err(ledger_failure)
}

/// Who runs the command, as the ledger records it: $USER, else $LOGNAME, else the uid.
pub(crate) fn os_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()))
}

/// A ledger error in the user's words: a busy ledger is temporary (exit 75), the rest are
/// local problems with the file (exit 2).
pub(crate) fn ledger_failure(error: LedgerError) -> Failure {
    let message = format!("ledger {error}");
    if error.is_busy() {
        return Failure::new(exit::TEMPORARY, message).hint(
            "another process (a wxpay-ops, a sqlite3 shell) held the ledger too long; run the command again when it is done",
        );
    }
    let failure = Failure::usage(message);
    match error {
        LedgerError::Newer { .. } => {
            failure.hint("upgrade wxpay-ops, or pass --ledger PATH to use another ledger")
        }
        LedgerError::Foreign { .. } => failure.hint(
            "--ledger or the profile's `ledger` names another program's database: name a new file",
        ),
        LedgerError::Sqlite { .. } => failure.hint(
            "check the file and its folder (`sqlite3 PATH 'PRAGMA integrity_check'`), or pass --no-ledger",
        ),
        LedgerError::NoDifference { .. } => {
            failure.hint("`wxpay-ops ledger open` lists the open differences with their ids")
        }
        LedgerError::OtherMerchant { found, .. } => failure.hint(format!(
            "check the id with `wxpay-ops ledger open`; to resolve it for its merchant, pass --mch-id {found}"
        )),
        LedgerError::NotOpen { difference, .. } => {
            let how = match difference.state {
                State::Closed => format!(
                    "it closed itself: run {} of {} saw its counterpart",
                    difference.closed_by_run.unwrap_or_default(),
                    difference.closed_day.as_deref().unwrap_or("another day")
                ),
                State::Resolved => format!(
                    "{} resolved it: {}",
                    difference.resolved_by.as_deref().unwrap_or("someone"),
                    difference.resolution.as_deref().unwrap_or_default()
                ),
                State::Superseded | State::Open => {
                    "its day was reconciled again; resolve the difference of the later run"
                        .to_owned()
                }
            };
            failure.hint(format!(
                "{how}; `wxpay-ops ledger show {}` tells its history",
                difference.out_trade_no
            ))
        }
    }
}

/// What to do about a bill the ledger could not take (not the ledger's own failure, which
/// [`ledger_failure`] words).
pub(crate) fn bill_hint(error: &BillsError) -> &'static str {
    match error {
        BillsError::Ledger(_) => "check the ledger, or pass --no-ledger",
        BillsError::Read { .. } | BillsError::Bill { .. } | BillsError::Row { .. } => {
            "check the file with `wxpay-ops bill parse FILE`; a bill WeChat Pay corrected can be fetched again with `bill download --force`"
        }
        BillsError::Manifest(_) => "fix or move the manifest; it is one JSON object per line",
        BillsError::Unnamed { .. } => "rename the file as the message says",
        BillsError::NotItsType { .. } => {
            "rename the file after the type its header has, YYYY-MM-DD.TYPE.csv"
        }
        BillsError::Gone { .. } | BillsError::Changed { .. } => {
            "fetch the day again with `wxpay-ops bill download --force`"
        }
        BillsError::OtherMerchant { .. } => {
            "record it in its merchant's ledger: pass that merchant's --profile, or --ledger PATH"
        }
        BillsError::NoMerchant { .. } => {
            "pass --profile of the bill's merchant, or --ledger PATH of a ledger that holds its bills"
        }
        BillsError::Sums { .. } => "check the file with `wxpay-ops bill parse FILE`",
    }
}
