//! Where a command's ledger is, and opening it with the user's wording of what went wrong.
// TODO(issue 18, this session): the ledger commands landing next use these; remove the allow.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use clap::Args;

use super::bills::bill_dir;
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Context, Selected};
use crate::fsutil::output_folder;
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

/// Opens the ledger a reading command names, which must exist, and picks the merchant.
pub(crate) fn open_to_read(
    context: &Context,
    args: &ReadArgs,
) -> Result<(Ledger, String), Failure> {
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
    let dir = bill_dir(args.bill_dir.as_deref(), selected.as_ref())?;
    let path = ledger_path(&place, selected.as_ref(), &dir, mch_id.as_deref()).ok_or_else(|| {
        Failure::usage("no ledger to read: no --ledger, and no profile to place one by")
            .hint("pass --ledger PATH, or --mch-id with the --bill-dir that holds <mch_id>/ledger.sqlite3")
    })?;
    if !path.is_file() {
        return Err(Failure::usage(format!(
            "ledger {}: no such file; nothing has been recorded there",
            path.display()
        ))
        .hint("pass --ledger PATH, --mch-id or --bill-dir to name the ledger that holds the bills and runs"));
    }
    let ledger = open(&path)?;
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

/// A ledger error in the user's words: a busy ledger is temporary (exit 75), the rest are
/// local problems with the file (exit 2).
pub(crate) fn ledger_failure(error: LedgerError) -> Failure {
    let message = format!("ledger {error}");
    if error.is_busy() {
        return Failure::new(exit::TEMPORARY, message).hint(
            "another wxpay-ops held the ledger too long; run the command again when it is done",
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
    }
}
