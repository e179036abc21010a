//! Reconcile runs and their differences in the ledger: recorded, closed by the runs of other
//! days, resolved by hand, and shown order by order.
//!
//! # Closing
//! Three categories of difference say that one side has not seen an entry yet, and close
//! themselves when a run of another day sees it (what it [`Need`]s):
//! - `missing_in_bill`, and a `cross_day` whose bill row is not of its own day (a likely
//!   cut-off, or one found in the adjacent day's bill): a bill row of the key, for the
//!   export's amount;
//! - `missing_in_export`, and a `cross_day` whose bill row is of its day (the export dates
//!   it on another): the export's entry of the key, charged (paid or refunded), for the
//!   bill's amount.
//!
//! What a run saw of a key is its [`Sighting`] when the key was watched (the open
//! differences read before the run), else the sides of the run's own difference of the key
//! (a difference that another process recorded while this run read its files; a refund by
//! number also stands for its order's refunds). A different
//! amount, or an entry the export calls closed or unpaid, does not close it: `seen` says
//! what was seen. When the closing run recorded a difference of the same key that the
//! closed one answers in turn (the other half: the next day's `missing_in_export` of the
//! payment this day's bill lacked), both close, each naming the other (`closed_with`), each
//! linked to the run and day that saw its counterpart. The refunds of an order, as an export
//! without refund numbers keys them, and a refund of that order by number are halves of
//! each other too.
//!
//! # Re-runs
//! A run of a day that was reconciled before supersedes the open differences of the day's
//! earlier runs (and the runs: `superseded_by`). A difference it finds again that the
//! earlier run had closed or resolved, the same in category, key and amounts, keeps that
//! state (`carried_from`). Nothing is deleted.
//!
//! Everything a run writes, closing included, is one transaction.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};

use super::bills::FileStamp;
use super::{Ledger, LedgerError, sqlite};
use crate::fsutil::FileError;
use crate::reconcile::bill::Files;
use crate::reconcile::export::{Encoding, NamedRow, ReadOptions, parse_delimiter, rows_naming};
use crate::reconcile::store::{EntryKind, OrderStatus};
use crate::reconcile::watch::{Sighting, WatchKey};
use crate::reconcile::{Category, Difference, Reconciliation, Side};
use crate::time::stamp::{self, Day};
use crate::wechat::Fen;

/// One input of a run: its path as given, and the sha256 of its bytes as they are on disk;
/// `None` for a pipe, which only the reconciliation reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub sha256: Option<String>,
}

/// What the ledger knows of a bill file it recorded: the sha256 of its bytes when the file
/// had this stamp (`bills.sha256`, and the stamp's columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFile {
    pub path: PathBuf,
    pub sha256: String,
    pub stamp: FileStamp,
}

impl KnownFile {
    /// Whether `metadata` (of the same path) proves the file unchanged since it was hashed:
    /// the same stamp ([`FileStamp`]).
    fn unchanged(&self, metadata: &std::fs::Metadata) -> bool {
        FileStamp::of(metadata) == Some(self.stamp)
    }
}

impl Input {
    /// Hashes the file at `path`, or takes the sha256 the ledger `known` of it while the
    /// file is unchanged since ([`KnownFile::unchanged`]).
    pub fn hash(path: &Path, known: &[KnownFile]) -> Result<Input, FileError> {
        let error = |e| FileError::new(path, e);
        let metadata = std::fs::metadata(path).map_err(error)?;
        let known = known
            .iter()
            .find(|k| k.path == path && k.unchanged(&metadata));
        let sha256 = if let Some(known) = known {
            Some(known.sha256.clone())
        } else if metadata.is_file() {
            let mut file = File::open(path).map_err(error)?;
            let mut hasher = Sha256::new();
            let mut buffer = vec![0; 1 << 20];
            loop {
                match file.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => hasher.update(&buffer[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(error(e)),
                }
            }
            Some(crate::wechat::hex_upper(&hasher.finalize()).to_lowercase())
        } else {
            None
        };
        Ok(Input {
            path: path.to_owned(),
            sha256,
        })
    }
}

/// The files of a run, hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub bill: Input,
    pub export: Input,
    pub previous_bill: Option<Input>,
    pub next_bill: Option<Input>,
}

impl Inputs {
    /// Runs `reconcile` (which reads the files too) on this thread while, for a ledger that
    /// `known` what it holds of the bills, the inputs are hashed on a second one.
    pub fn hash_beside<T>(
        files: &Files<'_>,
        known: Option<&[KnownFile]>,
        reconcile: impl FnOnce() -> T,
    ) -> (T, Option<Result<Inputs, FileError>>) {
        std::thread::scope(|scope| {
            let hashing = known.map(|known| scope.spawn(|| Inputs::hash(files, known)));
            let reconciled = reconcile();
            let inputs = hashing.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (reconciled, inputs)
        })
    }

    /// Hashes each file of a reconciliation (on this thread: run it beside the engine),
    /// but for the bills the ledger `known` unchanged.
    pub fn hash(files: &Files<'_>, known: &[KnownFile]) -> Result<Inputs, FileError> {
        let optional = |path: Option<&Path>| path.map(|p| Input::hash(p, known)).transpose();
        Ok(Inputs {
            bill: Input::hash(files.bill, known)?,
            export: Input::hash(files.export, known)?,
            previous_bill: optional(files.previous_bill)?,
            next_bill: optional(files.next_bill)?,
        })
    }
}

/// A run to record.
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    pub mch_id: Option<&'a str>,
    pub started_at: OffsetDateTime,
    /// The OS user who ran it.
    pub user: &'a str,
    pub inputs: &'a Inputs,
    /// The resolved mapping and reading options.
    pub mapping: &'a Value,
    /// The run's summary.json.
    pub summary: &'a Value,
    pub outcome: &'a Reconciliation,
}

/// What recording a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub run: i64,
    pub day: Day,
    pub differences: usize,
    /// Open differences of the day's earlier runs, now superseded.
    pub superseded: usize,
    /// Differences found again that keep an earlier run's closed or resolved state.
    pub carried: usize,
    /// Differences of other days that this run closed.
    pub closed: Vec<Closed>,
}

/// A difference of another day that a run closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub id: i64,
    pub day: String,
    /// The run's own difference that was its other half, closed with it.
    pub with: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    Closed,
    Resolved,
    Superseded,
}

impl State {
    pub const ALL: [State; 4] = [
        State::Open,
        State::Closed,
        State::Resolved,
        State::Superseded,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
            State::Resolved => "resolved",
            State::Superseded => "superseded",
        }
    }
}

/// What would close an open difference: the side that has not seen its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A bill row of the key, of another day, for this amount.
    Bill { fen: i64 },
    /// The export's entry of the key, charged, for this amount.
    Export { fen: i64 },
}

impl Need {
    /// Given a difference's category and sides (its bill side with whether it is a row of
    /// the difference's own day), what would close it; `None`: only a person can.
    fn of(category: Category, bill: Option<(i64, bool)>, export: Option<i64>) -> Option<Need> {
        let needs_bill = |export: Option<i64>| export.map(|fen| Need::Bill { fen });
        match (category, bill) {
            (Category::MissingInBill, _) => needs_bill(export),
            (Category::MissingInExport, Some((fen, _))) => Some(Need::Export { fen }),
            (Category::CrossDay, Some((fen, true))) => Some(Need::Export { fen }),
            (Category::CrossDay, _) => needs_bill(export),
            _ => None,
        }
    }

    /// Whether what a run saw of the key closes it: `Ok(true)`, `Ok(false)` when the
    /// needed side was not seen, `Err` with what was seen instead.
    fn met_by(self, seen: &Seen) -> Result<bool, String> {
        match (self, seen.bill, seen.export) {
            (Need::Bill { fen }, Some(bill), _) if bill == fen => Ok(true),
            (Need::Bill { .. }, Some(bill), _) => {
                Err(format!("in the bill at {} yuan", Fen(bill).yuan()))
            }
            (Need::Export { fen }, _, Some((export, status)))
                if export == fen && status.is_some_and(OrderStatus::charged) =>
            {
                Ok(true)
            }
            (Need::Export { .. }, _, Some((export, status))) => Err(format!(
                "in the export at {} yuan{}",
                Fen(export).yuan(),
                status.map_or(String::new(), |s| format!(", {}", s.name()))
            )),
            _ => Ok(false),
        }
    }
}

/// What a run saw of a key: the amount of its bill row of the run's own day, and the
/// export's amount and status.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    bill: Option<i64>,
    export: Option<(i64, Option<OrderStatus>)>,
}

impl Seen {
    fn of_sighting(sighting: &Sighting) -> Seen {
        Seen {
            bill: sighting.bill.as_ref().map(|s| s.amount),
            export: (sighting.export.as_ref()).map(|s| (s.amount, sighting.export_status)),
        }
    }

    fn of_difference(d: &Difference, day: Day) -> Seen {
        Seen {
            bill: (d.bill.as_ref())
                .filter(|s| day.contains(s.time))
                .map(|s| s.amount),
            export: d.export.as_ref().map(|s| (s.amount, d.export_status)),
        }
    }

    fn of_stored(d: &StoredDifference) -> Seen {
        Seen {
            bill: (d.bill.as_ref())
                .filter(|_| d.bill_of_its_day())
                .map(|s| s.fen),
            export: d.export.as_ref().map(|s| (s.fen, d.export_status)),
        }
    }
}

/// One side of a stored difference: fen, Unix seconds, line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSide {
    pub fen: i64,
    pub time: Option<i64>,
    pub line: Option<i64>,
}

/// A row of `differences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDifference {
    pub id: i64,
    pub run_id: i64,
    pub mch_id: Option<String>,
    pub day: String,
    pub category: Category,
    pub kind: EntryKind,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub bill: Option<StoredSide>,
    pub export: Option<StoredSide>,
    pub export_status: Option<OrderStatus>,
    pub note: String,
    pub state: State,
    pub closed_at: Option<String>,
    pub closed_by_run: Option<i64>,
    pub closed_day: Option<String>,
    pub closed_with: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
    pub seen: Option<String>,
    pub carried_from: Option<i64>,
}

impl StoredDifference {
    /// What would close it, if it can close itself.
    pub fn need(&self) -> Option<Need> {
        let bill = (self.bill.as_ref()).map(|s| (s.fen, self.bill_of_its_day()));
        Need::of(self.category, bill, self.export.as_ref().map(|s| s.fen))
    }

    /// Whether its bill side is a row of its own day's bill (not the adjacent day's).
    fn bill_of_its_day(&self) -> bool {
        let day = crate::time::parse_day(&self.day).and_then(Day::of_date);
        let time = (self.bill.as_ref())
            .and_then(|s| s.time)
            .and_then(stamp::from_unix);
        matches!((day, time), (Some(day), Some(time)) if day.contains(time))
    }

    fn key(&self) -> WatchKey {
        WatchKey {
            kind: self.kind,
            out_trade_no: self.out_trade_no.clone(),
            out_refund_no: self.out_refund_no.clone(),
        }
    }
}

/// An open difference, with its age and what would close it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDifference {
    pub difference: StoredDifference,
    /// Days from the difference's day to today.
    pub age_days: i64,
    pub need: Option<Need>,
}

/// A row of `runs`, as `show` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRun {
    pub id: i64,
    pub mch_id: Option<String>,
    pub day: String,
    pub started_at: String,
    pub user: String,
    pub bill_path: String,
    pub export_path: String,
    pub export_sha256: Option<String>,
    /// The encoding and delimiter the run read the export with.
    pub read: ReadOptions,
    pub balanced: bool,
    pub superseded_by: Option<i64>,
}

/// A row of `bill_rows`, with its bill's day, type and file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBillRow {
    pub bill_id: i64,
    pub day: String,
    pub bill_type: String,
    pub path: String,
    pub line: i64,
    pub kind: EntryKind,
    pub time: i64,
    pub transaction_id: String,
    pub out_refund_no: Option<String>,
    pub refund_id: Option<String>,
    pub amount_fen: i64,
    pub settlement_fen: i64,
    pub fee_units: i64,
    pub state: String,
}

/// Everything the ledger knows of one order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderHistory {
    pub bill_rows: Vec<StoredBillRow>,
    pub differences: Vec<StoredDifference>,
    /// The runs that found or closed them, and the latest run of each day the order has
    /// bill rows on.
    pub runs: Vec<StoredRun>,
    /// The order's rows in the exports of those runs, read from the files as they are now.
    pub exports: Vec<ExportRows>,
}

/// The rows of one export file that name the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRows {
    /// The latest of the runs that read the file.
    pub run_id: i64,
    pub day: String,
    pub path: String,
    pub file: ExportFile,
    pub rows: Vec<NamedRow>,
}

/// The export file now, against what the run read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportFile {
    /// The same bytes: its sha256 is the run's.
    AsRead,
    /// Another sha256: edited or replaced since the run.
    Changed,
    /// The run read a pipe, whose bytes it did not keep.
    Unknown,
    /// Not a regular file now (a pipe): not read again, which would wait for a writer.
    NotAFile,
    /// It cannot be read now (gone, say): why.
    Unreadable(String),
}

/// The kind as the ledger names it.
pub fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Payment => "payment",
        EntryKind::Refund => "refund",
        EntryKind::OrderRefund => "order_refund",
    }
}

const CLOSABLE: &str = "('missing_in_bill', 'missing_in_export', 'cross_day')";

const DIFFERENCE_FIELDS: &str = "id, run_id, mch_id, day, category, kind, out_trade_no, \
    out_refund_no, bill_fen, bill_time, bill_line, export_fen, export_time, export_line, \
    export_status, note, state, closed_at, closed_by_run, closed_day, closed_with, \
    resolved_by, resolution, seen, carried_from";

/// A text column that must be one of `names`.
fn named<T: Copy>(row: &Row<'_>, column: usize, names: &[(T, &str)]) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    (names.iter().find(|(_, name)| *name == text))
        .map(|(value, _)| *value)
        .ok_or_else(|| {
            let problem = format!("{text:?} is not one of the values this column takes");
            rusqlite::Error::FromSqlConversionFailure(
                column,
                rusqlite::types::Type::Text,
                problem.into(),
            )
        })
}

fn categories() -> Vec<(Category, &'static str)> {
    Category::ALL.iter().map(|c| (*c, c.name())).collect()
}

const KINDS: [(EntryKind, &str); 3] = [
    (EntryKind::Payment, "payment"),
    (EntryKind::Refund, "refund"),
    (EntryKind::OrderRefund, "order_refund"),
];

const STATUSES: [(OrderStatus, &str); 4] = [
    (OrderStatus::Paid, "paid"),
    (OrderStatus::Refunded, "refunded"),
    (OrderStatus::Closed, "closed"),
    (OrderStatus::Unpaid, "unpaid"),
];

fn states() -> Vec<(State, &'static str)> {
    State::ALL.iter().map(|s| (*s, s.name())).collect()
}

fn difference_of(row: &Row<'_>) -> rusqlite::Result<StoredDifference> {
    let side = |at: usize| -> rusqlite::Result<Option<StoredSide>> {
        let fen: Option<i64> = row.get(at)?;
        let (time, line) = (row.get(at + 1)?, row.get(at + 2)?);
        Ok(fen.map(|fen| StoredSide { fen, time, line }))
    };
    let status = match row.get_ref(14)? {
        rusqlite::types::ValueRef::Null => None,
        _ => Some(named(row, 14, &STATUSES)?),
    };
    Ok(StoredDifference {
        id: row.get(0)?,
        run_id: row.get(1)?,
        mch_id: row.get(2)?,
        day: row.get(3)?,
        category: named(row, 4, &categories())?,
        kind: named(row, 5, &KINDS)?,
        out_trade_no: row.get(6)?,
        out_refund_no: row.get(7)?,
        bill: side(8)?,
        export: side(11)?,
        export_status: status,
        note: row.get(15)?,
        state: named(row, 16, &states())?,
        closed_at: row.get(17)?,
        closed_by_run: row.get(18)?,
        closed_day: row.get(19)?,
        closed_with: row.get(20)?,
        resolved_by: row.get(21)?,
        resolution: row.get(22)?,
        seen: row.get(23)?,
        carried_from: row.get(24)?,
    })
}

/// Sums of a day fit SQLite's integers (4294967295 rows of at most 21474836.47 yuan do).
fn integer(value: i128) -> rusqlite::Result<i64> {
    i64::try_from(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn text_of(value: &Value) -> String {
    serde_json::to_string(value).expect("JSON serializes")
}

/// A difference's key and amounts: what makes a re-run's difference the same as an earlier
/// one.
type Twin = (
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

fn twin_of(d: &StoredDifference) -> Twin {
    (
        d.category.name().to_owned(),
        kind_name(d.kind).to_owned(),
        d.out_trade_no.clone(),
        d.out_refund_no.clone(),
        d.bill.as_ref().map(|s| s.fen),
        d.export.as_ref().map(|s| s.fen),
    )
}

fn twin_of_new(d: &Difference) -> Twin {
    (
        d.category.name().to_owned(),
        kind_name(d.kind).to_owned(),
        d.out_trade_no.clone(),
        d.out_refund_no.clone(),
        d.bill.as_ref().map(|s| s.amount),
        d.export.as_ref().map(|s| s.amount),
    )
}

fn key_of_new(d: &Difference) -> WatchKey {
    WatchKey {
        kind: d.kind,
        out_trade_no: d.out_trade_no.clone(),
        out_refund_no: d.out_refund_no.clone(),
    }
}

/// Whether two keys are one payment or refund: the same key, or a refund by number and
/// its order's refunds.
fn same_entry(a: &WatchKey, b: &WatchKey) -> bool {
    let order_refund = |k: &WatchKey| k.kind == EntryKind::OrderRefund;
    let refund = |k: &WatchKey| matches!(k.kind, EntryKind::Refund | EntryKind::OrderRefund);
    a == b
        || (a.out_trade_no == b.out_trade_no
            && refund(a)
            && refund(b)
            && (order_refund(a) || order_refund(b)))
}

fn need_of_new(d: &Difference, day: Day) -> Option<Need> {
    let bill = (d.bill.as_ref()).map(|s| (s.amount, day.contains(s.time)));
    Need::of(d.category, bill, d.export.as_ref().map(|s| s.amount))
}

/// The latest bill recorded from a path, with the time of the bytes hashed.
pub(crate) const KNOWN_FILE: &str = "SELECT sha256, bytes, mtime_ns, ctime_ns, inode FROM bills \
     WHERE path = ?1 ORDER BY id DESC LIMIT 1";

impl Ledger {
    /// What the ledger knows of the bills of `files` (their latest `bills` row each, by
    /// path), for [`Inputs::hash`] to take the sha256 of those still unchanged.
    pub fn known_files(&self, files: &Files<'_>) -> Result<Vec<KnownFile>, LedgerError> {
        let bills = [Some(files.bill), files.previous_bill, files.next_bill];
        let mut known = Vec::new();
        for path in bills.into_iter().flatten() {
            let found = self
                .conn
                .prepare_cached(KNOWN_FILE)
                .and_then(|mut statement| {
                    statement
                        .query_row([super::bills::absolute(path)], |row| {
                            let stamp = match (row.get(2)?, row.get(3)?, row.get(4)?) {
                                (Some(mtime_ns), Some(ctime_ns), Some(inode)) => Some(FileStamp {
                                    bytes: row.get::<_, i64>(1)? as u64,
                                    mtime_ns,
                                    ctime_ns,
                                    inode,
                                }),
                                _ => None,
                            };
                            Ok((row.get::<_, String>(0)?, stamp))
                        })
                        .optional()
                })
                .map_err(sqlite(&self.path))?;
            if let Some((sha256, Some(stamp))) = found {
                known.push(KnownFile {
                    path: path.to_owned(),
                    sha256,
                    stamp,
                });
            }
        }
        Ok(known)
    }

    /// The keys of the open differences that a run of `day` (any day, if not known yet)
    /// could close: those of other days that can close themselves.
    pub fn watched(
        &self,
        mch_id: Option<&str>,
        day: Option<Day>,
    ) -> Result<Vec<WatchKey>, LedgerError> {
        let day = day.map(|d| d.to_string());
        let sql = format!(
            "SELECT DISTINCT kind, out_trade_no, out_refund_no FROM differences \
             WHERE mch_id IS ?1 AND state = 'open' AND (?2 IS NULL OR day <> ?2) \
             AND category IN {CLOSABLE}"
        );
        let read = || -> rusqlite::Result<Vec<WatchKey>> {
            let mut statement = self.conn.prepare(&sql)?;
            let rows = statement.query_map(params![mch_id, day], |row| {
                Ok(WatchKey {
                    kind: named(row, 0, &KINDS)?,
                    out_trade_no: row.get(1)?,
                    out_refund_no: row.get(2)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(sqlite(&self.path))
    }

    /// Records a run and every difference it found, supersedes the open differences of the
    /// day's earlier runs, and closes those of other days whose counterpart it saw: one
    /// transaction.
    pub fn record_run(
        &mut self,
        run: &NewRun<'_>,
        now: OffsetDateTime,
    ) -> Result<Recorded, LedgerError> {
        let path = self.path.clone();
        let tx = self.write()?;
        let recorded = record(&tx, run, now).map_err(sqlite(&path))?;
        tx.commit().map_err(sqlite(&path))?;
        Ok(recorded)
    }

    /// The open differences of a merchant (of every merchant when `None`), oldest day
    /// first. Those recorded without a merchant (a run without `--mch-id` or a profile) are
    /// everyone's: hiding them would report a day clear that is not.
    pub fn open_differences(
        &self,
        today: Date,
        mch_id: Option<&str>,
    ) -> Result<Vec<OpenDifference>, LedgerError> {
        let sql = format!(
            "SELECT {DIFFERENCE_FIELDS} FROM differences WHERE state = 'open' \
             AND (?1 IS NULL OR mch_id = ?1 OR mch_id IS NULL) ORDER BY day, id"
        );
        let read = || -> rusqlite::Result<Vec<StoredDifference>> {
            let mut statement = self.conn.prepare(&sql)?;
            let rows = statement.query_map([mch_id], difference_of)?;
            rows.collect()
        };
        let open = read().map_err(sqlite(&self.path))?;
        Ok(open
            .into_iter()
            .map(|difference| {
                let day = crate::time::parse_day(&difference.day);
                OpenDifference {
                    age_days: day.map_or(0, |day| (today - day).whole_days()),
                    need: difference.need(),
                    difference,
                }
            })
            .collect())
    }

    /// Resolves an open difference by hand: who, and why. A difference that is not open, or
    /// not of the merchant `mch_id` names, is refused, and left as it is.
    pub fn resolve(
        &mut self,
        id: i64,
        mch_id: Option<&str>,
        note: &str,
        user: &str,
        now: OffsetDateTime,
    ) -> Result<StoredDifference, LedgerError> {
        let path = self.path.clone();
        let tx = self.write()?;
        let found = difference(&tx, id).map_err(sqlite(&path))?;
        let Some(found) = found else {
            return Err(LedgerError::NoDifference { path, id });
        };
        if let (Some(asked), Some(found)) = (mch_id, &found.mch_id)
            && asked != found
        {
            return Err(LedgerError::OtherMerchant {
                path,
                id,
                found: found.clone(),
                asked: asked.to_owned(),
            });
        }
        if found.state != State::Open {
            return Err(LedgerError::NotOpen {
                path,
                difference: Box::new(found),
            });
        }
        let at = crate::time::rfc3339(now);
        let resolved = (|| {
            tx.execute(
                "UPDATE differences SET state = 'resolved', resolved_by = ?2, resolution = ?3, \
                 closed_at = ?4 WHERE id = ?1",
                params![id, user, note, at],
            )?;
            difference(&tx, id)
        })()
        .map_err(sqlite(&path))?;
        tx.commit().map_err(sqlite(&path))?;
        Ok(resolved.expect("the difference just updated"))
    }

    /// Everything the ledger knows of one order of a merchant (of any merchant when
    /// `None`; differences and runs recorded without a merchant count as the merchant's):
    /// its bill rows, its differences, the runs that found and closed them or reconciled its
    /// days, and its rows in those runs' exports.
    pub fn show(
        &self,
        out_trade_no: &str,
        mch_id: Option<&str>,
    ) -> Result<OrderHistory, LedgerError> {
        let mut history = history(&self.conn, out_trade_no, mch_id).map_err(sqlite(&self.path))?;
        history.exports = export_rows(&history.runs, out_trade_no);
        Ok(history)
    }
}

fn difference(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<Option<StoredDifference>> {
    conn.query_row(
        &format!("SELECT {DIFFERENCE_FIELDS} FROM differences WHERE id = ?1"),
        [id],
        difference_of,
    )
    .optional()
}

fn record(
    tx: &Transaction<'_>,
    run: &NewRun<'_>,
    now: OffsetDateTime,
) -> rusqlite::Result<Recorded> {
    let outcome = run.outcome;
    let day = outcome.day.to_string();
    let mch_id = run.mch_id;
    let at = crate::time::rfc3339(now);
    let inputs = run.inputs;
    let path = |input: &Input| input.path.display().to_string();
    let optional = |input: &Option<Input>| {
        (
            input.as_ref().map(path),
            input.as_ref().and_then(|i| i.sha256.clone()),
        )
    };
    let (previous_path, previous_sha256) = optional(&inputs.previous_bill);
    let (next_path, next_sha256) = optional(&inputs.next_bill);
    tx.execute(
        "INSERT INTO runs (mch_id, day, started_at, user, bill_path, bill_sha256, export_path, \
         export_sha256, previous_bill_path, previous_bill_sha256, next_bill_path, \
         next_bill_sha256, mapping, balanced, summary) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            mch_id,
            day,
            crate::time::rfc3339(run.started_at),
            run.user,
            path(&inputs.bill),
            inputs.bill.sha256,
            path(&inputs.export),
            inputs.export.sha256,
            previous_path,
            previous_sha256,
            next_path,
            next_sha256,
            text_of(run.mapping),
            outcome.balanced(),
            text_of(run.summary),
        ],
    )?;
    let run_id = tx.last_insert_rowid();

    // The day's earlier differences that were settled: found again, they stay settled.
    let mut twins: HashMap<Twin, StoredDifference> = HashMap::new();
    {
        let sql = format!(
            "SELECT {} FROM differences d JOIN runs r ON r.id = d.run_id \
             WHERE r.mch_id IS ?1 AND r.day = ?2 AND r.id <> ?3 AND r.superseded_by IS NULL \
             AND d.state IN ('closed', 'resolved') ORDER BY d.id",
            DIFFERENCE_FIELDS
                .split(", ")
                .map(|f| format!("d.{f}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut statement = tx.prepare(&sql)?;
        for twin in statement.query_map(params![mch_id, day, run_id], difference_of)? {
            let twin = twin?;
            twins.entry(twin_of(&twin)).or_insert(twin);
        }
    }
    let superseded = tx.execute(
        "UPDATE differences SET state = 'superseded' \
         WHERE mch_id IS ?1 AND day = ?2 AND state = 'open' AND run_id <> ?3",
        params![mch_id, day, run_id],
    )?;
    tx.execute(
        "UPDATE runs SET superseded_by = ?3 \
         WHERE mch_id IS ?1 AND day = ?2 AND id <> ?3 AND superseded_by IS NULL",
        params![mch_id, day, run_id],
    )?;

    {
        let mut insert = tx.prepare(
            "INSERT INTO run_categories (run_id, category, count, bill_fen, export_fen) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for category in Category::ALL {
            let total = outcome.category(category);
            insert.execute(params![
                run_id,
                category.name(),
                integer(i128::from(total.count))?,
                integer(total.bill_amount)?,
                integer(total.export_amount)?,
            ])?;
        }
    }

    // This run's differences: (id, difference, whether it is open).
    let mut mine: Vec<(i64, &Difference, bool)> = Vec::new();
    let mut carried = 0;
    {
        let mut insert = tx.prepare(
            "INSERT INTO differences (run_id, mch_id, day, category, kind, out_trade_no, \
             out_refund_no, bill_fen, bill_time, bill_line, export_fen, export_time, \
             export_line, export_status, note, state, closed_at, closed_by_run, closed_day, \
             closed_with, resolved_by, resolution, carried_from) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
             ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
        )?;
        for d in &outcome.differences {
            let side = |s: &Option<Side>| {
                (
                    s.as_ref().map(|s| s.amount),
                    s.as_ref().and_then(|s| stamp::unix(s.time)),
                    (s.as_ref())
                        .and_then(|s| i64::try_from(s.line).ok())
                        .filter(|line| *line > 0),
                )
            };
            let (bill_fen, bill_time, bill_line) = side(&d.bill);
            let (export_fen, export_time, export_line) = side(&d.export);
            let twin = twins.remove(&twin_of_new(d));
            let state = twin.as_ref().map_or(State::Open, |t| t.state);
            carried += usize::from(twin.is_some());
            let twin = twin.as_ref();
            insert.execute(params![
                run_id,
                mch_id,
                day,
                d.category.name(),
                kind_name(d.kind),
                d.out_trade_no,
                d.out_refund_no,
                bill_fen,
                bill_time,
                bill_line,
                export_fen,
                export_time,
                export_line,
                d.export_status.map(OrderStatus::name),
                d.note,
                state.name(),
                twin.and_then(|t| t.closed_at.clone()),
                twin.and_then(|t| t.closed_by_run),
                twin.and_then(|t| t.closed_day.clone()),
                twin.and_then(|t| t.closed_with),
                twin.and_then(|t| t.resolved_by.clone()),
                twin.and_then(|t| t.resolution.clone()),
                twin.map(|t| t.id),
            ])?;
            mine.push((tx.last_insert_rowid(), d, state == State::Open));
        }
    }

    // What this run saw of each key: its sightings, else its own differences.
    let mut seen: HashMap<WatchKey, Seen> = (outcome.sightings.iter())
        .map(|s| (s.key.clone(), Seen::of_sighting(s)))
        .collect();
    for (_, d, _) in &mine {
        let key = key_of_new(d);
        let saw = Seen::of_difference(d, outcome.day);
        if key.kind == EntryKind::Refund {
            let of_order = WatchKey {
                kind: EntryKind::OrderRefund,
                out_refund_no: None,
                ..key.clone()
            };
            seen.entry(of_order).or_insert(saw);
        }
        seen.entry(key).or_insert(saw);
    }
    let others: Vec<StoredDifference> = {
        let sql = format!(
            "SELECT {DIFFERENCE_FIELDS} FROM differences WHERE mch_id IS ?1 AND state = 'open' \
             AND day <> ?2 AND category IN {CLOSABLE} ORDER BY day, id"
        );
        let mut statement = tx.prepare(&sql)?;
        let rows = statement.query_map(params![mch_id, day], difference_of)?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut closed = Vec::new();
    let mut paired: HashSet<i64> = HashSet::new();
    for other in others {
        let key = other.key();
        let (Some(need), Some(saw)) = (other.need(), seen.get(&key)) else {
            continue;
        };
        match need.met_by(saw) {
            Ok(false) => {}
            Err(what) => {
                tx.execute(
                    "UPDATE differences SET seen = ?2 WHERE id = ?1",
                    params![other.id, format!("run {run_id} of {day} saw it {what}")],
                )?;
            }
            Ok(true) => {
                // The other half: this run's open difference of the key that the closed
                // one's sides answer.
                let answered = Seen::of_stored(&other);
                let half = mine.iter().find(|(id, d, open)| {
                    *open
                        && !paired.contains(id)
                        && same_entry(&key_of_new(d), &key)
                        && need_of_new(d, outcome.day)
                            .is_some_and(|n| n.met_by(&answered) == Ok(true))
                });
                let half = half.map(|(id, _, _)| *id);
                let close = "UPDATE differences SET state = 'closed', closed_at = ?2, \
                             closed_by_run = ?3, closed_day = ?4, closed_with = ?5 WHERE id = ?1";
                tx.execute(close, params![other.id, at, run_id, day, half])?;
                if let Some(half) = half {
                    paired.insert(half);
                    tx.execute(close, params![half, at, other.run_id, other.day, other.id])?;
                }
                closed.push(Closed {
                    id: other.id,
                    day: other.day.clone(),
                    with: half,
                });
            }
        }
    }
    Ok(Recorded {
        run: run_id,
        day: outcome.day,
        differences: outcome.differences.len(),
        superseded,
        carried,
        closed,
    })
}

fn history(
    conn: &rusqlite::Connection,
    out_trade_no: &str,
    mch_id: Option<&str>,
) -> rusqlite::Result<OrderHistory> {
    let mut out = OrderHistory::default();
    let mut statement = conn.prepare(
        "SELECT r.bill_id, b.day, b.bill_type, b.path, r.line, r.kind, r.time, \
         r.transaction_id, r.out_refund_no, r.refund_id, r.amount_fen, r.settlement_fen, \
         r.fee_units, r.state \
         FROM bill_rows r JOIN bills b ON b.id = r.bill_id \
         WHERE r.out_trade_no = ?1 AND (?2 IS NULL OR b.mch_id = ?2) \
         ORDER BY b.day, r.time, r.bill_id, r.line",
    )?;
    let rows = statement.query_map(params![out_trade_no, mch_id], |row| {
        Ok(StoredBillRow {
            bill_id: row.get(0)?,
            day: row.get(1)?,
            bill_type: row.get(2)?,
            path: row.get(3)?,
            line: row.get(4)?,
            kind: match row.get::<_, i64>(5)? {
                0 => EntryKind::Payment,
                _ => EntryKind::Refund,
            },
            time: row.get(6)?,
            transaction_id: row.get(7)?,
            out_refund_no: row.get(8)?,
            refund_id: row.get(9)?,
            amount_fen: row.get(10)?,
            settlement_fen: row.get(11)?,
            fee_units: row.get(12)?,
            state: row.get(13)?,
        })
    })?;
    out.bill_rows = rows.collect::<rusqlite::Result<_>>()?;
    let mut statement = conn.prepare(&format!(
        "SELECT {DIFFERENCE_FIELDS} FROM differences WHERE out_trade_no = ?1 \
         AND (?2 IS NULL OR mch_id = ?2 OR mch_id IS NULL) ORDER BY day, id"
    ))?;
    out.differences = (statement.query_map(params![out_trade_no, mch_id], difference_of)?)
        .collect::<rusqlite::Result<_>>()?;
    let mut ids: Vec<i64> = (out.differences.iter())
        .flat_map(|d| [Some(d.run_id), d.closed_by_run])
        .flatten()
        .collect();
    // The run that reconciled each day the order has bill rows on, matched or not.
    let mut statement = conn.prepare(
        "SELECT max(id) FROM runs WHERE day = ?1 AND (?2 IS NULL OR mch_id = ?2 OR mch_id IS NULL) \
         AND superseded_by IS NULL",
    )?;
    for row in &out.bill_rows {
        let latest: Option<i64> = statement.query_row(params![row.day, mch_id], |r| r.get(0))?;
        ids.extend(latest);
    }
    ids.sort_unstable();
    ids.dedup();
    let mut statement = conn.prepare(
        "SELECT id, mch_id, day, started_at, user, bill_path, export_path, balanced, \
         superseded_by, export_sha256, mapping FROM runs WHERE id = ?1",
    )?;
    for id in ids {
        out.runs.push(statement.query_row([id], |row| {
            Ok(StoredRun {
                id: row.get(0)?,
                mch_id: row.get(1)?,
                day: row.get(2)?,
                started_at: row.get(3)?,
                user: row.get(4)?,
                bill_path: row.get(5)?,
                export_path: row.get(6)?,
                balanced: row.get(7)?,
                superseded_by: row.get(8)?,
                export_sha256: row.get(9)?,
                read: read_options(&row.get::<_, String>(10)?),
            })
        })?);
    }
    Ok(out)
}

/// How a run read its export, from the mapping it recorded (`mapping_json`): the encoding
/// and the delimiter; detected, as reconcile does, where the run detected them.
fn read_options(mapping: &str) -> ReadOptions {
    let mapping: Value = serde_json::from_str(mapping).unwrap_or_default();
    let text = |key: &str| mapping[key].as_str().unwrap_or("auto").to_owned();
    ReadOptions {
        encoding: Encoding::parse(&text("encoding")),
        delimiter: parse_delimiter(&text("delimiter")),
        ..ReadOptions::default()
    }
}

/// The order's rows in each export file the runs read (once a file, for its latest run),
/// with whether the file is still what the run read.
fn export_rows(runs: &[StoredRun], out_trade_no: &str) -> Vec<ExportRows> {
    let mut latest: Vec<&StoredRun> = Vec::new();
    for run in runs {
        match latest.iter_mut().find(|r| r.export_path == run.export_path) {
            Some(seen) if seen.id < run.id => *seen = run,
            Some(_) => {}
            None => latest.push(run),
        }
    }
    latest
        .into_iter()
        .map(|run| {
            let path = Path::new(&run.export_path);
            let read = || -> Result<(ExportFile, Vec<NamedRow>), String> {
                let metadata =
                    std::fs::metadata(path).map_err(|e| FileError::new(path, e).to_string())?;
                // A pipe (a FIFO, a process substitution) was read once, by the run: opening
                // it again would wait for a writer that never comes.
                if !metadata.is_file() {
                    return Ok((ExportFile::NotAFile, Vec::new()));
                }
                let now = Input::hash(path, &[]).map_err(|e| e.to_string())?;
                let file = match (&run.export_sha256, &now.sha256) {
                    (None, _) | (_, None) => ExportFile::Unknown,
                    (Some(then), Some(now)) if then == now => ExportFile::AsRead,
                    _ => ExportFile::Changed,
                };
                let opened = File::open(path).map_err(|e| FileError::new(path, e).to_string())?;
                let rows = rows_naming(opened, out_trade_no, &run.read)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok((file, rows))
            };
            let (file, rows) =
                read().unwrap_or_else(|why| (ExportFile::Unreadable(why), Vec::new()));
            ExportRows {
                run_id: run.id,
                day: run.day.clone(),
                path: run.export_path.clone(),
                file,
                rows,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
