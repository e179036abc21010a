//! `reconcile`'s side of the ledger: where it is, the keys it watches before the run, and
//! the run recorded after it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::common::bills::bill_dir;
use crate::cli::common::counted;
use crate::cli::common::ledger::{ledger_failure, ledger_path, open, os_user};
use crate::cli::failure::Failure;
use crate::cli::settings::Selected;
use crate::fsutil::FileError;
use crate::ledger::Ledger;
use crate::ledger::runs::{Inputs, KnownFile, NewRun, Recorded};
use crate::reconcile::Reconciliation;
use crate::reconcile::bill::Files;
use crate::reconcile::watch::Watch;
use crate::time::stamp::Day;
use serde_json::Value;
use time::OffsetDateTime;

/// The ledger a run is recorded in.
pub(super) struct RunLedger {
    path: PathBuf,
    /// Open once it exists: before the run if it did, else when the run is recorded.
    ledger: Option<Ledger>,
}

impl RunLedger {
    /// The ledger of this run, if one can be placed: --ledger, the profile's, or the one
    /// beside the merchant's bills (which needs a bill folder and the merchant).
    pub(super) fn place(
        args: &super::ReconcileArgs,
        selected: Option<&Selected>,
        mch_id: Option<&str>,
    ) -> Option<RunLedger> {
        let bill_dir = bill_dir(args.bill_dir.as_deref(), selected).ok();
        let dir = bill_dir.as_deref().unwrap_or(Path::new(""));
        let path = ledger_path(
            &args.ledger,
            selected,
            dir,
            mch_id.filter(|_| bill_dir.is_some()),
        )?;
        Some(RunLedger { path, ledger: None })
    }

    /// The keys of the ledger's open differences of other days than `day` (of every day
    /// while the day is not known), for the run to look out for.
    pub(super) fn watch(
        &mut self,
        mch_id: Option<&str>,
        day: Option<Day>,
    ) -> Result<Option<Arc<Watch>>, Failure> {
        if !self.path.exists() {
            return Ok(None);
        }
        let ledger = self
            .ledger
            .insert(Ledger::open(&self.path).map_err(ledger_failure)?);
        let keys = ledger.watched(mch_id, day).map_err(ledger_failure)?;
        Ok((!keys.is_empty()).then(|| Arc::new(Watch::new(keys))))
    }

    /// What the ledger, if it exists, knows of the run's bills: the sha256 of those
    /// recorded, to take instead of hashing them again while they are unchanged.
    pub(super) fn known_files(&self, files: &Files<'_>) -> Result<Vec<KnownFile>, Failure> {
        match &self.ledger {
            Some(ledger) => ledger.known_files(files).map_err(ledger_failure),
            None => Ok(Vec::new()),
        }
    }

    /// Records the run, whose inputs were hashed beside the reconciliation.
    pub(super) fn record(
        &mut self,
        inputs: Result<Inputs, FileError>,
        mch_id: Option<&str>,
        started_at: OffsetDateTime,
        mapping: &Value,
        summary: &Value,
        outcome: &Reconciliation,
    ) -> Result<Recorded, Failure> {
        let inputs = inputs.map_err(|e| {
            Failure::usage(format!("the ledger's record of the run: {e}"))
                .hint("pass --no-ledger to reconcile without recording the run")
        })?;
        let ledger = match &mut self.ledger {
            Some(ledger) => ledger,
            None => self.ledger.insert(open(&self.path)?),
        };
        let run = NewRun {
            mch_id,
            started_at,
            user: &os_user(),
            inputs: &inputs,
            mapping,
            summary,
            outcome,
        };
        (ledger.record_run(&run, crate::time::now())).map_err(ledger_failure)
    }

    /// What the ledger took in, on one line.
    pub(super) fn status(&self, recorded: &Recorded) -> String {
        let mut line = format!(
            "ledger {}: run {} of {}, {}; {} of other days closed",
            self.path.display(),
            recorded.run,
            recorded.day,
            counted(recorded.differences, "difference"),
            counted(recorded.closed.len(), "earlier difference"),
        );
        if recorded.superseded > 0 {
            line += &format!(
                "; {} of the day's earlier run superseded",
                counted(recorded.superseded, "open difference")
            );
        }
        if recorded.carried > 0 {
            line += &format!("; {} closed or resolved before", recorded.carried);
        }
        line
    }
}
