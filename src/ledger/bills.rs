//! Bills in the ledger: a saved bill recorded with the facts the manifest keeps of it and the
//! day's figures from its rows, and a trade bill's rows imported into `bill_rows`.
//!
//! A bill is one file: its sha256 tells it from another. Recording the same file again (the
//! same merchant, day, type and sha256) is a no-op, and says so. A different file of the same
//! day and type (WeChat Pay corrected the bill, or it was fetched again with other contents)
//! is a new `bills` row beside the first, which stays with its rows: nothing is deleted. Of
//! the bills of one merchant, day and type, the **day's bill is the one recorded last** (the
//! greatest `id`); the view `day_bills` lists exactly those.
//!
//! A trade bill's rows are imported as they are parsed, in one pass over the file with bounded
//! memory: the file is hashed on the parser's reading thread, each row checked (the bill's
//! merchant, a time, an ALL bill's rows on its day, an amount one order can carry) and
//! inserted with one prepared statement; a bill at least as large as the ledger has the index
//! of order numbers built after its rows (`index_after`). Everything a command records is in
//! the one write transaction of the command ([`BillWriter`]); each bill in a savepoint of it,
//! so that a bill that fails leaves nothing of itself and the others still go in. A fund-flow
//! bill is recorded (its facts) but its rows are not imported: they are money movements of an
//! account, not payments and refunds of orders.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};
use thiserror::Error;
use time::Date;
use time::format_description::well_known::Rfc3339;

use super::{Ledger, LedgerError, sqlite};
use crate::bill::download::{days, iso};
use crate::bill::format::BillType;
use crate::bill::layout::{BillKind, Column, Layout};
use crate::bill::manifest::{self, EntryStatus, MANIFEST_NAME, ManifestEntry, ManifestError};
use crate::bill::parse::{BillError, BillRecord, ParseError, Report, read};
use crate::reconcile::bill::bill_row;
use crate::reconcile::{BillRow, BillRowError, BillTotals, check_amount, check_day};
use crate::time::stamp::{Day, bill_stamp, unix};

/// What the manifest lists of a saved bill: the facts of its download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub sha256: String,
    pub bytes: u64,
    pub rows: u64,
    pub consistent: Option<bool>,
    pub source_url: String,
    pub fetched_at: String,
}

/// A bill file to record: where it is, which day and type it is, whose, and what the
/// manifest lists of it.
#[derive(Debug, Clone)]
pub struct BillFile {
    pub path: PathBuf,
    pub day: Date,
    /// As the manifest and file names spell it: `ALL` … or `fundflow-Basic` ….
    pub bill_type: String,
    pub kind: BillKind,
    /// The 商户号 of its first row (a trade bill with rows).
    pub mch_id: Option<String>,
    pub listed: Option<Listed>,
}

#[derive(Debug, Error)]
pub enum BillsError {
    /// The ledger itself failed (busy, unwritable, damaged): the command's transaction is
    /// over. Every other error is of one bill, which left nothing in the ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{path}: {source}", path = .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {source}", path = .path.display())]
    Bill { path: PathBuf, source: BillError },
    #[error("{path}: {source}", path = .path.display())]
    Row { path: PathBuf, source: BillRowError },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{path}: {reason}", path = .path.display())]
    Unnamed { path: PathBuf, reason: String },
    #[error(
        "{path}: named a {named} bill, but its header is of a {found} bill",
        path = .path.display()
    )]
    NotItsType {
        path: PathBuf,
        named: String,
        found: &'static str,
    },
    #[error(
        "{path}: the manifest lists it as file {file}, which is not there",
        path = .path.display()
    )]
    Gone { path: PathBuf, file: String },
    #[error(
        "{path}: its sha256 is {found}, not {listed} as listed: the file changed after it was downloaded (or while it was read)",
        path = .path.display()
    )]
    Changed {
        path: PathBuf,
        listed: String,
        found: String,
    },
    #[error(
        "{path}: a bill of merchant {found}, and {whose} is {expected}'s",
        path = .path.display(),
        whose = .whose.words()
    )]
    OtherMerchant {
        path: PathBuf,
        found: String,
        expected: String,
        whose: Whose,
    },
    #[error(
        "{path}: no row says whose bill it is, and no merchant was given",
        path = .path.display()
    )]
    NoMerchant { path: PathBuf },
    #[error(
        "{path}: its sums are beyond what a day of WeChat Pay can hold",
        path = .path.display()
    )]
    Sums { path: PathBuf },
}

/// Who said which merchant the ledger is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// The caller (the profile).
    Given,
    /// The bills already in the ledger.
    Ledger,
}

impl Whose {
    fn words(self) -> &'static str {
        match self {
            Whose::Given => "the merchant given",
            Whose::Ledger => "the ledger",
        }
    }
}

/// `YYYY-MM-DD.<type>.csv`, the name `bill download` gives a bill: its day and type.
fn day_and_type_of_name(path: &Path) -> Option<(Date, String)> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".csv")?;
    let (day, bill_type) = stem.split_at_checked(10)?;
    let bill_type = bill_type.strip_prefix('.')?;
    let known = BillType::parse(bill_type).is_some()
        || matches!(
            bill_type,
            "fundflow-Basic" | "fundflow-Operation" | "fundflow-Fees"
        );
    known
        .then(|| crate::time::parse_day(day))
        .flatten()
        .map(|day| (day, bill_type.to_owned()))
}

/// The bill type of a trade header: `ALL` for the new and the legacy ALL alike.
fn trade_type(layout: &Layout) -> &'static str {
    let variant = layout.variant();
    variant.strip_prefix("legacy ").unwrap_or(variant)
}

/// What a bill says of itself in its first lines: its layout, and its first row's time and
/// merchant.
struct Head {
    layout: Layout,
    first: Option<(String, String)>,
}

fn head(path: &Path) -> Result<Head, BillsError> {
    let file = std::fs::File::open(path).map_err(|source| BillsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut seen = None;
    let read = read(file, |record: &BillRecord<'_>| {
        let first = (
            record.trade_time().to_owned(),
            record.get(Column::MchId).unwrap_or("").to_owned(),
        );
        seen = Some((record.layout().clone(), first));
        Err(())
    });
    match (read, seen) {
        (Ok(report), _) => Ok(Head {
            layout: report.layout,
            first: None,
        }),
        (Err(ParseError::Visit(())), Some((layout, first))) => Ok(Head {
            layout,
            first: Some(first),
        }),
        (Err(ParseError::Bill(source)), _) => Err(BillsError::Bill {
            path: path.to_owned(),
            source,
        }),
        (Err(ParseError::Visit(())), None) => unreachable!("the visitor stops only on a row"),
    }
}

impl BillFile {
    /// The file `path`, with what the manifest of its folder lists of it when it lists it.
    /// A file the manifest does not list takes its day and type from its name when
    /// `bill download` named it (`YYYY-MM-DD.<type>.csv`), else from its contents: the type
    /// from its header, the day from its first row (ALL and SUCCESS bills only; a REFUND
    /// bill dates its rows by their payments).
    pub fn find(path: &Path) -> Result<BillFile, BillsError> {
        let folder = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = path.file_name().and_then(|n| n.to_str());
        let entries = manifest::read(&folder.join(MANIFEST_NAME))?;
        let entry = (entries.iter().rev())
            .find(|e| e.status == EntryStatus::Saved && e.file.as_deref() == name);
        match entry {
            Some(entry) => BillFile::listed(folder, entry),
            None => BillFile::unlisted(path),
        }
    }

    /// The saved bill a manifest entry of `folder` lists.
    pub fn listed(folder: &Path, entry: &ManifestEntry) -> Result<BillFile, BillsError> {
        let file = entry.file.clone().unwrap_or_default();
        let path = folder.join(&file);
        let day = crate::time::parse_day(&entry.date);
        let (Some(day), Some(sha256), true) = (day, entry.sha256.clone(), path.is_file()) else {
            return Err(BillsError::Gone { path, file });
        };
        let head = head(&path)?;
        let listed = Listed {
            sha256,
            bytes: entry.bytes.unwrap_or(0),
            rows: entry.rows.unwrap_or(0),
            consistent: entry.consistent,
            source_url: entry.source_url.clone(),
            fetched_at: entry.fetched_at.clone(),
        };
        BillFile::checked(path, day, entry.bill_type.clone(), head, Some(listed))
    }

    fn unlisted(path: &Path) -> Result<BillFile, BillsError> {
        let head = head(path)?;
        let unnamed = |reason: &str| BillsError::Unnamed {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let (day, bill_type) = match day_and_type_of_name(path) {
            Some(named) => named,
            None if head.layout.kind == BillKind::FundFlow => {
                return Err(unnamed(
                    "a fund-flow bill does not say its day or account: name it YYYY-MM-DD.fundflow-ACCOUNT.csv",
                ));
            }
            None => {
                let bill_type = trade_type(&head.layout);
                if !matches!(bill_type, "ALL" | "SUCCESS") {
                    return Err(unnamed(
                        "a refund bill dates its rows by their payments, so its day is only in its name: name it YYYY-MM-DD.TYPE.csv",
                    ));
                }
                let first = head.first.as_ref().map(|(time, _)| time.as_str());
                let day = first
                    .and_then(bill_stamp)
                    .map(|stamp| Day::of(stamp).date());
                let day = day.ok_or_else(|| {
                    unnamed("it has no row to tell its day: name it YYYY-MM-DD.TYPE.csv")
                })?;
                (day, bill_type.to_owned())
            }
        };
        BillFile::checked(path.to_owned(), day, bill_type, head, None)
    }

    /// The file, once its header agrees with the type it is recorded as.
    fn checked(
        path: PathBuf,
        day: Date,
        bill_type: String,
        head: Head,
        listed: Option<Listed>,
    ) -> Result<BillFile, BillsError> {
        let kind = head.layout.kind;
        let found = match kind {
            BillKind::FundFlow => "fund-flow",
            BillKind::Trade => trade_type(&head.layout),
        };
        let agrees = match kind {
            BillKind::FundFlow => bill_type.starts_with("fundflow-"),
            BillKind::Trade => bill_type == found,
        };
        if !agrees {
            return Err(BillsError::NotItsType {
                path,
                named: bill_type,
                found,
            });
        }
        let mch_id = head
            .first
            .map(|(_, mch_id)| mch_id)
            .filter(|m| !m.is_empty());
        Ok(BillFile {
            path,
            day,
            bill_type,
            kind,
            mch_id,
            listed,
        })
    }
}

/// What the manifest of a merchant's folder says of one day and bill type.
#[derive(Debug, Clone)]
pub enum Listing {
    /// A saved bill: its entry.
    Saved(ManifestEntry),
    /// WeChat Pay had no bill of the day.
    NoBill(ManifestEntry),
    /// The manifest has nothing of the day.
    Missing,
}

/// The manifest's latest entry of each bill type of each day from `from` to `to` (a day it
/// has nothing of is [`Listing::Missing`]), in day order, the types of a day in the order
/// they were first fetched.
pub fn listed_days(
    folder: &Path,
    from: Date,
    to: Date,
) -> Result<Vec<(Date, Listing)>, ManifestError> {
    let entries = manifest::read(&folder.join(MANIFEST_NAME))?;
    let mut listed = Vec::new();
    for day in days(from, to) {
        let date = iso(day);
        let mut types: Vec<&str> = Vec::new();
        for entry in entries.iter().filter(|e| e.date == date) {
            if !types.contains(&entry.bill_type.as_str()) {
                types.push(&entry.bill_type);
            }
        }
        if types.is_empty() {
            listed.push((day, Listing::Missing));
        }
        for bill_type in types {
            let entry = manifest::latest(&entries, &date, bill_type).expect("listed above");
            let listing = match entry.status {
                EntryStatus::Saved => Listing::Saved(entry.clone()),
                EntryStatus::NoBill => Listing::NoBill(entry.clone()),
            };
            listed.push((day, listing));
        }
    }
    Ok(listed)
}

/// Record a bill, or also import its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Record,
    Import,
}

/// What recording a bill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded, with its rows in `bill_rows`.
    Imported,
    /// Recorded, its rows not imported (not asked, or a fund-flow bill).
    Recorded,
    /// The same file was already recorded (and imported, when that was asked): nothing done.
    Already,
}

/// A bill in the ledger after recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub bill_id: i64,
    pub outcome: Outcome,
    pub rows: u64,
    /// Whether its rows are in `bill_rows`.
    pub imported: bool,
}

/// The bills a command records, in the command's one write transaction: each
/// [`BillWriter::record`] in a savepoint, all of them committed by [`BillWriter::commit`]
/// (dropped without it, nothing is kept).
pub struct BillWriter<'l> {
    tx: Transaction<'l>,
    path: PathBuf,
    given: Option<String>,
    /// The merchant of the bills the ledger holds, once it holds any.
    holds: Option<String>,
    recorded_at: String,
}

const INSERT_BILL: &str = "INSERT INTO bills (mch_id, day, bill_type, path, sha256, bytes, rows, \
     consistent, source_url, fetched_at, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

const FIND_BILL: &str = "SELECT id, rows, imported_at IS NOT NULL FROM bills \
     WHERE mch_id = ?1 AND day = ?2 AND bill_type = ?3 AND sha256 = ?4 AND id <> ?5";

const INSERT_ROW: &str = "INSERT INTO bill_rows (bill_id, line, kind, time, out_trade_no, \
     transaction_id, out_refund_no, refund_id, amount_fen, settlement_fen, fee_units, state) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// `bill_rows.kind` of a payment and of a refund.
const PAYMENT: i64 = 0;
const REFUND: i64 = 1;

/// A bill already recorded: its id, rows, and whether they are imported.
struct Found {
    id: i64,
    rows: u64,
    imported: bool,
}

/// What one pass over a bill gave.
struct Pass {
    sha256: String,
    bytes: u64,
    /// What proves the file unchanged since, when it was the same before and after the pass.
    stamp: Option<FileStamp>,
    report: Report,
    /// A trade bill's figures.
    totals: Option<BillTotals>,
}

impl<'l> BillWriter<'l> {
    /// Starts the command's write transaction. `mch_id`, when given, is the merchant whose
    /// bills the ledger may take; the bills already in it say so too.
    pub fn new(ledger: &'l mut Ledger, mch_id: Option<&str>) -> Result<Self, LedgerError> {
        let path = ledger.path().to_owned();
        let tx = ledger.write()?;
        let holds = tx
            .query_row("SELECT mch_id FROM bills ORDER BY id LIMIT 1", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(sqlite(&path))?;
        let now = crate::time::now();
        let recorded_at = now
            .replace_nanosecond(0)
            .unwrap_or(now)
            .format(&Rfc3339)
            .expect("a time of this century formats");
        Ok(BillWriter {
            tx,
            path,
            given: mch_id.map(str::to_owned),
            holds,
            recorded_at,
        })
    }

    /// Keeps everything recorded.
    pub fn commit(self) -> Result<(), LedgerError> {
        self.tx.commit().map_err(sqlite(&self.path))
    }

    /// The merchant of `file`: its rows', else the one given, else the ledger's; refused when
    /// it is not the one given or the ledger's.
    fn merchant(&self, file: &BillFile) -> Result<String, BillsError> {
        let mch_id = (file
            .mch_id
            .as_ref()
            .or(self.given.as_ref())
            .or(self.holds.as_ref()))
        .cloned()
        .ok_or_else(|| BillsError::NoMerchant {
            path: file.path.clone(),
        })?;
        for (expected, whose) in [(&self.given, Whose::Given), (&self.holds, Whose::Ledger)] {
            if let Some(expected) = expected.as_ref().filter(|e| **e != mch_id) {
                return Err(BillsError::OtherMerchant {
                    path: file.path.clone(),
                    found: mch_id,
                    expected: expected.clone(),
                    whose,
                });
            }
        }
        Ok(mch_id)
    }

    /// Records `file`, and with [`Mode::Import`] imports a trade bill's rows: all of it, or
    /// (on an error) nothing of it. After [`BillsError::Ledger`] the writer is to be dropped.
    pub fn record(&mut self, file: &BillFile, mode: Mode) -> Result<Recorded, BillsError> {
        let mch_id = self.merchant(file)?;
        let import = mode == Mode::Import && file.kind == BillKind::Trade;
        let path = self.path.clone();
        let day = iso(file.day);
        let key = (mch_id.as_str(), day.as_str(), file.bill_type.as_str());
        let savepoint = self.tx.savepoint().map_err(sqlite(&path))?;
        let listed_sha = file.listed.as_ref().map(|l| l.sha256.as_str());
        if let Some(sha256) = listed_sha
            && let Some(found) = find(&savepoint, &path, key, sha256, None)?
        {
            if found.imported || !import {
                // Hashed, not parsed: the manifest's word is taken only for what it lists.
                check_sha(file, sha256, &hash_file(&file.path)?)?;
                return Ok(already(found));
            }
            let rows = import_into(&savepoint, &path, file, &mch_id, &found, sha256)?;
            mark_imported(&savepoint, &path, found.id, &self.recorded_at)?;
            savepoint.commit().map_err(sqlite(&path))?;
            return Ok(imported(found.id, rows));
        }
        let listed = file.listed.as_ref();
        savepoint
            .execute(
                INSERT_BILL,
                params![
                    key.0,
                    key.1,
                    key.2,
                    absolute(&file.path),
                    // An unlisted file's, known once it is read.
                    listed_sha.unwrap_or(""),
                    0,
                    0,
                    None::<bool>,
                    listed.map(|l| &l.source_url),
                    listed.map(|l| &l.fetched_at),
                    self.recorded_at,
                ],
            )
            .map_err(sqlite(&path))?;
        let id = savepoint.last_insert_rowid();
        let pass = read_bill(&savepoint, &path, file, &mch_id, import.then_some(id))?;
        check_sha(file, listed_sha.unwrap_or(&pass.sha256), &pass.sha256)?;
        if let Some(found) = find(&savepoint, &path, key, &pass.sha256, Some(id))? {
            // A file recorded before, not listed: what this pass wrote goes.
            drop(savepoint);
            if found.imported || !import {
                return Ok(already(found));
            }
            let savepoint = self.tx.savepoint().map_err(sqlite(&path))?;
            let rows = import_into(&savepoint, &path, file, &mch_id, &found, &pass.sha256)?;
            mark_imported(&savepoint, &path, found.id, &self.recorded_at)?;
            savepoint.commit().map_err(sqlite(&path))?;
            return Ok(imported(found.id, rows));
        }
        let figures = match &pass.totals {
            Some(totals) => figures(totals).ok_or_else(|| BillsError::Sums {
                path: file.path.clone(),
            })?,
            None => [None; 6],
        };
        savepoint
            .execute(
                "UPDATE bills SET sha256 = ?2, bytes = ?3, rows = ?4, consistent = ?5, \
                 payment_count = ?6, payment_fen = ?7, refund_count = ?8, refund_fen = ?9, \
                 settlement_fen = ?10, fee_units = ?11, imported_at = ?12, mtime_ns = ?13, \
                 ctime_ns = ?14, inode = ?15 WHERE id = ?1",
                params![
                    id,
                    pass.sha256,
                    pass.bytes as i64,
                    pass.report.rows as i64,
                    pass.report.is_consistent(),
                    figures[0],
                    figures[1],
                    figures[2],
                    figures[3],
                    figures[4],
                    figures[5],
                    import.then_some(&self.recorded_at),
                    pass.stamp.map(|s| s.mtime_ns),
                    pass.stamp.map(|s| s.ctime_ns),
                    pass.stamp.map(|s| s.inode),
                ],
            )
            .map_err(sqlite(&path))?;
        savepoint.commit().map_err(sqlite(&path))?;
        if self.holds.is_none() {
            self.holds = Some(mch_id);
        }
        Ok(Recorded {
            bill_id: id,
            outcome: if import {
                Outcome::Imported
            } else {
                Outcome::Recorded
            },
            rows: pass.report.rows,
            imported: import,
        })
    }
}

fn already(found: Found) -> Recorded {
    Recorded {
        bill_id: found.id,
        outcome: Outcome::Already,
        rows: found.rows,
        imported: found.imported,
    }
}

fn imported(id: i64, rows: u64) -> Recorded {
    Recorded {
        bill_id: id,
        outcome: Outcome::Imported,
        rows,
        imported: true,
    }
}

/// Imports the rows of a bill recorded before without them, from `file`, whose sha256 must
/// be `sha256`. Returns the rows.
fn import_into(
    conn: &Connection,
    ledger: &Path,
    file: &BillFile,
    mch_id: &str,
    found: &Found,
    sha256: &str,
) -> Result<u64, BillsError> {
    let pass = read_bill(conn, ledger, file, mch_id, Some(found.id))?;
    check_sha(file, sha256, &pass.sha256)?;
    Ok(pass.report.rows)
}

/// The bill of `key` (merchant, day, type) with this sha256, other than `besides`.
fn find(
    conn: &Connection,
    path: &Path,
    key: (&str, &str, &str),
    sha256: &str,
    besides: Option<i64>,
) -> Result<Option<Found>, BillsError> {
    let found = conn
        .prepare_cached(FIND_BILL)
        .and_then(|mut statement| {
            statement
                .query_row(
                    params![key.0, key.1, key.2, sha256, besides.unwrap_or(0)],
                    |row| {
                        Ok(Found {
                            id: row.get(0)?,
                            rows: row.get::<_, i64>(1)? as u64,
                            imported: row.get(2)?,
                        })
                    },
                )
                .optional()
        })
        .map_err(sqlite(path))?;
    Ok(found)
}

fn mark_imported(conn: &Connection, path: &Path, id: i64, at: &str) -> Result<(), BillsError> {
    conn.execute(
        "UPDATE bills SET imported_at = ?2 WHERE id = ?1",
        params![id, at],
    )
    .map_err(sqlite(path))?;
    Ok(())
}

/// Refuses a file whose contents are not the ones listed (or read before).
fn check_sha(file: &BillFile, expected: &str, found: &str) -> Result<(), BillsError> {
    if found == expected {
        return Ok(());
    }
    Err(BillsError::Changed {
        path: file.path.clone(),
        listed: expected.to_owned(),
        found: found.to_owned(),
    })
}

/// The sha256 of a file, read through without parsing.
fn hash_file(path: &Path) -> Result<String, BillsError> {
    let read_error = |source| BillsError::Read {
        path: path.to_owned(),
        source,
    };
    let mut hashing = hashing(std::fs::File::open(path).map_err(read_error)?);
    let mut buffer = vec![0; 1 << 20];
    while hashing.read(&mut buffer).map_err(read_error)? > 0 {}
    Ok(hashing.sha256())
}

/// A trade bill's figures in the order of their columns: payment count and fen, refund
/// count and fen, settlement fen, fee units; none when a sum does not fit.
fn figures(totals: &BillTotals) -> Option<[Option<i64>; 6]> {
    let fit = |n: i128| i64::try_from(n).ok().map(Some);
    Some([
        fit(i128::from(totals.payments.count))?,
        fit(totals.payments.amount)?,
        fit(i128::from(totals.refunds.count))?,
        fit(totals.refunds.amount)?,
        fit(totals.settlement)?,
        fit(totals.fees)?,
    ])
}

/// A path as the ledger keeps it (`bills.path`): absolute, not resolved further.
pub(crate) fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// What proves a file unchanged since it was hashed, short of hashing it again
/// (`bills.bytes`, `mtime_ns`, `ctime_ns`, `inode`): its size and modification time, as rsync's
/// quick check has them, and its change time and inode, which no one can set back (`touch -r`,
/// `cp -p` and `rsync -t` give a file its old modification time, never its old change time;
/// a file replaced by another has another inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub bytes: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub inode: i64,
}

impl FileStamp {
    /// A regular file's stamp; none for anything else, or times beyond nanoseconds' range.
    pub fn of(metadata: &std::fs::Metadata) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let ns = |seconds: i64, nanos: i64| seconds.checked_mul(1_000_000_000)?.checked_add(nanos);
        metadata.is_file().then_some(())?;
        Some(FileStamp {
            bytes: metadata.len(),
            mtime_ns: ns(metadata.mtime(), metadata.mtime_nsec())?,
            ctime_ns: ns(metadata.ctime(), metadata.ctime_nsec())?,
            // The same 64 bits, as SQLite keeps integers.
            inode: metadata.ino() as i64,
        })
    }
}

/// The file as it is read: counted and hashed on the parser's reading thread.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

fn hashing<R: Read>(inner: R) -> Hashing<R> {
    Hashing {
        inner,
        hasher: Sha256::new(),
        bytes: 0,
    }
}

impl<R> Hashing<R> {
    fn sha256(&self) -> String {
        crate::wechat::hex_upper(&self.hasher.clone().finalize()).to_lowercase()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Why a row stopped the pass.
enum Stop {
    Row(BillRowError),
    Sqlite(rusqlite::Error),
}

/// One pass over `file`: hashed, parsed, a trade bill's rows checked and summed, and
/// inserted under `bill_id` when given.
fn read_bill(
    conn: &Connection,
    ledger: &Path,
    file: &BillFile,
    mch_id: &str,
    bill_id: Option<i64>,
) -> Result<Pass, BillsError> {
    let path = &file.path;
    let opened = std::fs::File::open(path).map_err(|source| BillsError::Read {
        path: path.clone(),
        source,
    })?;
    // Its stamp before and after the pass: the same, it is the stamp of the bytes hashed, for
    // reconcile to take the sha256 of a file that still has it.
    let before = opened.metadata().ok();
    let mut hashing = hashing(opened);
    let rebuild = match bill_id {
        Some(_) => index_after(conn, ledger, file)?,
        None => None,
    };
    let mut insert = match bill_id {
        Some(_) => Some(conn.prepare_cached(INSERT_ROW).map_err(sqlite(ledger))?),
        None => None,
    };
    let trade = file.kind == BillKind::Trade;
    let day = Day::of_date(file.day);
    // Only the ALL bill has every row on its day: a SUCCESS bill's refunds and a REFUND
    // bill's rows are dated by their payments.
    let on_day = (file.bill_type == "ALL").then_some(day).flatten();
    let mut totals = BillTotals::default();
    let mut visit = |record: &BillRecord<'_>| -> Result<(), Stop> {
        if !trade {
            return Ok(());
        }
        let row = bill_row(record);
        let time = check_row(&row, mch_id, on_day).map_err(Stop::Row)?;
        totals.add(&row);
        let (Some(insert), Some(bill_id)) = (insert.as_mut(), bill_id) else {
            return Ok(());
        };
        let refund = row.out_refund_no.is_some();
        let (kind, settlement, state) = if refund {
            let settled = record.fen(Column::SettlementRefundFee).unwrap_or_default();
            let state = record.refund_status().unwrap_or(record.trade_state());
            (REFUND, settled.0, state)
        } else {
            (PAYMENT, row.settlement.0, record.trade_state())
        };
        insert
            .execute(params![
                bill_id,
                row.line as i64,
                kind,
                unix(time),
                row.out_trade_no,
                record.transaction_id(),
                row.out_refund_no,
                record.refund_id(),
                row.amount.0,
                settlement,
                row.fee.0,
                state,
            ])
            .map(drop)
            .map_err(Stop::Sqlite)
    };
    let report = read(&mut hashing, &mut visit).map_err(|e| match e {
        ParseError::Bill(source) => BillsError::Bill {
            path: path.clone(),
            source,
        },
        ParseError::Visit(Stop::Row(source)) => BillsError::Row {
            path: path.clone(),
            source,
        },
        ParseError::Visit(Stop::Sqlite(e)) => sqlite(ledger)(e).into(),
    })?;
    if let Some(index) = rebuild {
        conn.execute_batch(&index).map_err(sqlite(ledger))?;
    }
    let after = hashing.inner.metadata().ok();
    let stamp = match (
        before.as_ref().and_then(FileStamp::of),
        after.as_ref().and_then(FileStamp::of),
    ) {
        (Some(before), Some(after)) if before == after && after.bytes == hashing.bytes => {
            Some(after)
        }
        _ => None,
    };
    Ok(Pass {
        sha256: hashing.sha256(),
        bytes: hashing.bytes,
        stamp,
        report,
        totals: trade.then_some(totals),
    })
}

/// The index of order numbers, which a bill's rows enter at places all over it unless their
/// order numbers grow with time.
const ORDER_INDEX: &str = "bill_rows_by_order";

/// The bytes of a bill row, about (an ALL bill's run 250 to 260), to tell the rows of a file
/// the manifest does not list.
const ROW_BYTES: u64 = 256;

/// Takes the index of order numbers down for a bill that brings at least as many rows as the
/// ledger holds, and returns the statement that builds it again after them (its own, as
/// `sqlite_schema` keeps it). Rows inserted one by one enter the index wherever their order
/// numbers fall: once the index outgrows the page cache, every row reads a page and spills
/// another, 3 times the CPU and far more writes than `CREATE INDEX`, which sorts the keys and
/// writes each page once (benches/ledger_import, docs/performance.md). The build costs what
/// the whole index holds, so it pays only while the bill is the larger part of it. Either way
/// the index is the same, and all of it happens in the bill's savepoint: a bill that fails
/// leaves the index as it was.
fn index_after(
    conn: &Connection,
    ledger: &Path,
    file: &BillFile,
) -> Result<Option<String>, BillsError> {
    let held: i64 = conn
        .query_row(
            "SELECT coalesce(sum(rows), 0) FROM bills WHERE imported_at IS NOT NULL",
            [],
            |row| row.get(0),
        )
        .map_err(sqlite(ledger))?;
    let coming = match file.listed.as_ref().filter(|l| l.rows > 0) {
        Some(listed) => listed.rows,
        None => std::fs::metadata(&file.path).map_or(0, |m| m.len()) / ROW_BYTES,
    };
    if coming < held.max(1) as u64 {
        return Ok(None);
    }
    let index: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?1",
            [ORDER_INDEX],
            |row| row.get(0),
        )
        .optional()
        .map_err(sqlite(ledger))?;
    if index.is_some() {
        conn.execute_batch(&format!("DROP INDEX {ORDER_INDEX}"))
            .map_err(sqlite(ledger))?;
    }
    Ok(index)
}

/// A trade bill row's time, once the row is of the bill's merchant, of its day (when
/// `on_day`), and of an amount one order can carry.
fn check_row(
    row: &BillRow<'_>,
    mch_id: &str,
    on_day: Option<Day>,
) -> Result<crate::time::stamp::Stamp, BillRowError> {
    if row.mch_id != mch_id {
        return Err(BillRowError::WrongMerchant {
            line: row.line,
            found: row.mch_id.to_owned(),
            expected: mch_id.to_owned(),
        });
    }
    let time = bill_stamp(row.time).ok_or_else(|| BillRowError::Time {
        line: row.line,
        text: row.time.to_owned(),
    })?;
    if let Some(day) = on_day {
        check_day(row, time, day)?;
    }
    check_amount(row)?;
    Ok(time)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use rusqlite::Connection;

    use super::*;
    use crate::bill::format::{FeeRate, Summary};
    use crate::emulator::bills::write_trade_bill;
    use crate::emulator::synth::SyntheticDay;

    const MCH: &str = "1900000109";

    /// A trade bill of `trades` synthetic trades of `date` (yyyyMMdd) at `path`.
    fn trade_bill(path: &Path, bill_type: BillType, date: &str, seed: u64, mch: &str) -> Summary {
        sized_bill(path, bill_type, date, seed, mch, 300)
    }

    fn sized_bill(
        path: &Path,
        bill_type: BillType,
        date: &str,
        seed: u64,
        mch: &str,
        trades: u64,
    ) -> Summary {
        let day = SyntheticDay {
            mch_id: mch.into(),
            appid: "wx2421b1c4370ec43b".into(),
            bill_date: date.into(),
            trades,
            seed,
        };
        let mut out = std::fs::File::create(path).unwrap();
        write_trade_bill(&mut out, bill_type, day.into_rows(FeeRate(60))).unwrap()
    }

    struct Books {
        dir: tempfile::TempDir,
        ledger: Ledger,
    }

    impl Books {
        fn new() -> Books {
            let dir = tempfile::tempdir().unwrap();
            let ledger = Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap();
            Books { dir, ledger }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        /// Records each file in one writer, committed.
        fn record(
            &mut self,
            given: Option<&str>,
            files: &[(&Path, Mode)],
        ) -> Vec<Result<Recorded, BillsError>> {
            let mut writer = BillWriter::new(&mut self.ledger, given).unwrap();
            let recorded = (files.iter())
                .map(|(path, mode)| writer.record(&BillFile::find(path)?, *mode))
                .collect();
            writer.commit().unwrap();
            recorded
        }

        fn one(&mut self, path: &Path, mode: Mode) -> Result<Recorded, BillsError> {
            self.record(Some(MCH), &[(path, mode)]).remove(0)
        }

        fn count(&self, sql: &str) -> i64 {
            self.ledger
                .conn()
                .query_row(sql, [], |row| row.get(0))
                .unwrap()
        }
    }

    #[test]
    fn a_trade_bill_is_imported_row_by_row_with_the_day_s_figures() {
        let mut books = Books::new();
        let path = books.path("2026-11-20.ALL.csv");
        let summary = trade_bill(&path, BillType::All, "20261120", 1, MCH);
        let recorded = books.one(&path, Mode::Import).unwrap();
        assert_eq!(recorded.outcome, Outcome::Imported);
        assert_eq!(recorded.rows, summary.count);
        let conn = books.ledger.conn();
        let (rows, payments, refunds, settlement, refunded, fees): (i64, i64, i64, i64, i64, i64) =
            conn.query_row(
                "SELECT rows, payment_count, refund_count, settlement_fen, refund_fen, fee_units \
                 FROM bills WHERE id = ?1",
                [recorded.bill_id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(rows as u64, summary.count);
        assert_eq!((payments + refunds) as u64, summary.count);
        assert!(refunds > 0);
        assert_eq!(settlement, summary.settlement.0);
        assert_eq!(refunded, summary.refund_requested.0);
        assert_eq!(fees, summary.fee.0 * 1000);
        // The rows add up to the figures, each kind on its own.
        let sum = |sql: &str| books.count(sql);
        assert_eq!(sum("SELECT count(*) FROM bill_rows") as u64, summary.count);
        assert_eq!(
            sum("SELECT sum(amount_fen) FROM bill_rows WHERE kind = 1"),
            refunded
        );
        assert_eq!(
            sum("SELECT sum(settlement_fen) FROM bill_rows WHERE kind = 0"),
            settlement
        );
        assert_eq!(sum("SELECT sum(fee_units) FROM bill_rows"), fees);
        assert_eq!(
            sum("SELECT count(*) FROM bill_rows WHERE kind = 0 AND out_refund_no IS NULL"),
            payments
        );
        assert_eq!(
            sum("SELECT count(*) FROM bill_rows WHERE kind = 1 AND refund_id LIKE '503%'"),
            refunds
        );
        // Lines are the file's, from 2 (after the header); times are Unix seconds of the day.
        assert_eq!(sum("SELECT min(line) FROM bill_rows"), 2);
        assert_eq!(
            sum("SELECT max(line) FROM bill_rows"),
            summary.count as i64 + 1
        );
        let day_start = 1_795_104_000; // 2026-11-20 00:00 +08:00
        assert!(sum("SELECT min(time) FROM bill_rows") >= day_start);
        assert!(sum("SELECT max(time) FROM bill_rows") < day_start + 86_400);
    }

    #[test]
    fn the_same_file_again_is_a_no_op_and_a_corrected_bill_is_the_day_s() {
        let mut books = Books::new();
        let first = books.path("first.csv");
        trade_bill(&first, BillType::All, "20261120", 1, MCH);
        let imported = books.one(&first, Mode::Import).unwrap();
        let again = books.one(&first, Mode::Import).unwrap();
        assert_eq!(again.outcome, Outcome::Already);
        assert_eq!(again.bill_id, imported.bill_id);
        let rows = books.count("SELECT count(*) FROM bill_rows");
        assert_eq!(rows as u64, imported.rows);
        assert_eq!(books.count("SELECT count(*) FROM bills"), 1);

        // A corrected bill of the same day and type: a bill of its own, the day's from now.
        let corrected = books.path("corrected.csv");
        trade_bill(&corrected, BillType::All, "20261120", 2, MCH);
        let recorded = books.one(&corrected, Mode::Record).unwrap();
        assert_eq!(recorded.outcome, Outcome::Recorded);
        assert_ne!(recorded.bill_id, imported.bill_id);
        let day_bill = "SELECT id FROM day_bills WHERE day = '2026-11-20' AND bill_type = 'ALL'";
        assert_eq!(books.count(day_bill), recorded.bill_id);
        assert_eq!(books.count("SELECT count(*) FROM bill_rows"), rows);
        // Importing it later puts its rows under the bill recorded before.
        let later = books.one(&corrected, Mode::Import).unwrap();
        assert_eq!(
            (later.outcome, later.bill_id),
            (Outcome::Imported, recorded.bill_id)
        );
        assert_eq!(books.count("SELECT count(*) FROM bills"), 2);
        let theirs = format!(
            "SELECT count(*) FROM bill_rows WHERE bill_id = {}",
            recorded.bill_id
        );
        assert_eq!(books.count(&theirs) as u64, later.rows);
        // The first file again changes nothing, not even which is the day's bill.
        assert_eq!(
            books.one(&first, Mode::Import).unwrap().outcome,
            Outcome::Already
        );
        assert_eq!(books.count(day_bill), recorded.bill_id);
    }

    fn sha256_hex(path: &Path) -> String {
        let bytes = std::fs::read(path).unwrap();
        crate::wechat::hex_upper(&Sha256::digest(&bytes)).to_lowercase()
    }

    /// A bill `bill download` saved: in its folder's manifest, whose facts the ledger keeps.
    fn downloaded(folder: &Path, name: &str, seed: u64) -> PathBuf {
        let path = folder.join(name);
        trade_bill(&path, BillType::All, "20261120", seed, MCH);
        let entry = ManifestEntry {
            date: "2026-11-20".into(),
            bill_type: "ALL".into(),
            status: EntryStatus::Saved,
            file: Some(name.into()),
            bytes: Some(std::fs::metadata(&path).unwrap().len()),
            sha256: Some(sha256_hex(&path)),
            rows: Some(1),
            totals: None,
            consistent: Some(true),
            gzip: Some(false),
            source_url: "https://api.mch.weixin.qq.com/pay/downloadbill".into(),
            fetched_at: "2026-11-21T10:00:00+08:00".into(),
        };
        manifest::append(&folder.join(MANIFEST_NAME), &entry).unwrap();
        path
    }

    #[test]
    fn a_listed_bill_keeps_the_manifest_s_facts_and_must_still_be_that_file() {
        let mut books = Books::new();
        let path = downloaded(books.dir.path(), "2026-11-20.ALL.csv", 1);
        let file = BillFile::find(&path).unwrap();
        assert_eq!(file.listed.as_ref().unwrap().sha256, sha256_hex(&path));
        let recorded = books.one(&path, Mode::Record).unwrap();
        let (url, fetched, imported): (String, String, Option<String>) = (books.ledger.conn())
            .query_row(
                "SELECT source_url, fetched_at, imported_at FROM bills",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert!(url.ends_with("/pay/downloadbill"));
        assert_eq!(fetched, "2026-11-21T10:00:00+08:00");
        assert_eq!(imported, None);
        assert_eq!(books.count("SELECT count(*) FROM bill_rows"), 0);
        let imported = books.one(&path, Mode::Import).unwrap();
        assert_eq!(imported.outcome, Outcome::Imported);
        assert_eq!(imported.bill_id, recorded.bill_id);
        assert_eq!(
            books.count("SELECT count(*) FROM bill_rows") as u64,
            imported.rows
        );

        // Another file under the listed name: refused, and nothing of it kept.
        let changed = downloaded(books.dir.path(), "2026-11-20.SUCCESS.csv", 1);
        trade_bill(&changed, BillType::Success, "20261120", 9, MCH);
        std::fs::rename(&changed, &path).unwrap();
        let before = books.count("SELECT count(*) FROM bill_rows");
        let error = books.one(&path, Mode::Import).unwrap_err();
        assert!(matches!(error, BillsError::NotItsType { .. }), "{error}");
        trade_bill(&path, BillType::All, "20261120", 9, MCH);
        let error = books.one(&path, Mode::Import).unwrap_err();
        assert!(matches!(error, BillsError::Changed { .. }), "{error}");
        assert_eq!(books.count("SELECT count(*) FROM bills"), 1);
        assert_eq!(books.count("SELECT count(*) FROM bill_rows"), before);
    }

    #[test]
    fn bills_of_another_merchant_are_refused() {
        let mut books = Books::new();
        let theirs = books.path("theirs.csv");
        trade_bill(&theirs, BillType::All, "20261120", 1, "10000100");
        let error = books.one(&theirs, Mode::Import).unwrap_err();
        assert!(
            matches!(&error, BillsError::OtherMerchant { found, whose: Whose::Given, .. } if found == "10000100"),
            "{error}"
        );
        // With no merchant given, the ledger's bills say whose it is.
        let ours = books.path("ours.csv");
        trade_bill(&ours, BillType::All, "20261121", 1, MCH);
        let recorded = books.record(None, &[(&ours, Mode::Record), (&theirs, Mode::Record)]);
        assert!(recorded[0].is_ok());
        assert!(matches!(
            recorded[1],
            Err(BillsError::OtherMerchant {
                whose: Whose::Ledger,
                ..
            })
        ));
        let error = books.record(None, &[(&theirs, Mode::Import)]).remove(0);
        assert!(matches!(error, Err(BillsError::OtherMerchant { .. })));
        assert_eq!(books.count("SELECT count(*) FROM bills"), 1);
    }

    #[test]
    fn a_bill_that_fails_leaves_nothing_and_the_others_go_in() {
        let mut books = Books::new();
        let (good, bad, also) = (
            books.path("2026-11-20.ALL.csv"),
            books.path("2026-11-21.ALL.csv"),
            books.path("2026-11-22.ALL.csv"),
        );
        trade_bill(&good, BillType::All, "20261120", 1, MCH);
        trade_bill(&also, BillType::All, "20261122", 1, MCH);
        // Cut short: the header and first rows read, the summary never comes.
        trade_bill(&bad, BillType::All, "20261121", 1, MCH);
        let bytes = std::fs::read(&bad).unwrap();
        std::fs::write(&bad, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let recorded = books.record(
            Some(MCH),
            &[
                (&good, Mode::Import),
                (&bad, Mode::Import),
                (&also, Mode::Import),
            ],
        );
        assert!(recorded[0].is_ok() && recorded[2].is_ok());
        assert!(
            matches!(recorded[1], Err(BillsError::Bill { .. })),
            "{:?}",
            recorded[1]
        );
        assert_eq!(books.count("SELECT count(*) FROM bills"), 2);
        let rows = recorded[0].as_ref().unwrap().rows + recorded[2].as_ref().unwrap().rows;
        assert_eq!(books.count("SELECT count(*) FROM bill_rows") as u64, rows);
        // Dropped without a commit, a writer keeps nothing.
        let mut writer = BillWriter::new(&mut books.ledger, Some(MCH)).unwrap();
        let other = books.dir.path().join("2026-11-23.ALL.csv");
        trade_bill(&other, BillType::All, "20261123", 1, MCH);
        writer
            .record(&BillFile::find(&other).unwrap(), Mode::Import)
            .unwrap();
        drop(writer);
        assert_eq!(books.count("SELECT count(*) FROM bills"), 2);
    }

    /// A bill larger than the ledger has its index of order numbers built after its rows, a
    /// smaller one enters it row by row, and a large bill that fails leaves it as it was:
    /// every way, the same index, with every row in it.
    #[test]
    fn the_index_of_order_numbers_is_whole_however_a_bill_enters_it() {
        let mut books = Books::new();
        let index_sql = "SELECT sql FROM sqlite_schema WHERE name = 'bill_rows_by_order'";
        let schema = |books: &Books| -> String {
            (books.ledger.conn())
                .query_row(index_sql, [], |row| row.get(0))
                .unwrap()
        };
        let before = schema(&books);
        let (large, small, bad) = (
            books.path("2026-11-20.ALL.csv"),
            books.path("2026-11-21.ALL.csv"),
            books.path("2026-11-22.ALL.csv"),
        );
        sized_bill(&large, BillType::All, "20261120", 1, MCH, 600);
        sized_bill(&small, BillType::All, "20261121", 2, MCH, 100);
        // Larger than the ledger, and cut short: it fails after the index was taken down.
        sized_bill(&bad, BillType::All, "20261122", 3, MCH, 3000);
        let bytes = std::fs::read(&bad).unwrap();
        std::fs::write(&bad, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let recorded = books.record(
            Some(MCH),
            &[
                (&large, Mode::Import),
                (&small, Mode::Import),
                (&bad, Mode::Import),
            ],
        );
        assert!(recorded[0].is_ok() && recorded[1].is_ok(), "{recorded:?}");
        assert!(matches!(recorded[2], Err(BillsError::Bill { .. })));
        assert_eq!(schema(&books), before);
        let conn = books.ledger.conn();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        // Every row is found through the index by its order number.
        let rows = books.count("SELECT count(*) FROM bill_rows");
        assert_eq!(
            rows as u64,
            recorded[0].as_ref().unwrap().rows + recorded[1].as_ref().unwrap().rows
        );
        let found = books.count(
            "SELECT count(*) FROM bill_rows AS r WHERE EXISTS (SELECT 1 FROM bill_rows \
             INDEXED BY bill_rows_by_order WHERE out_trade_no = r.out_trade_no \
             AND bill_id = r.bill_id AND line = r.line)",
        );
        assert_eq!(found, rows);
    }

    #[test]
    fn rows_of_another_day_in_an_all_bill_are_refused() {
        let mut books = Books::new();
        let path = books.path("2026-11-21.ALL.csv");
        trade_bill(&path, BillType::All, "20261120", 1, MCH);
        let error = books.one(&path, Mode::Import).unwrap_err();
        assert!(
            matches!(
                &error,
                BillsError::Row {
                    source: BillRowError::WrongDay { line: 2, .. },
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(books.count("SELECT count(*) FROM bills"), 0);
    }

    #[test]
    fn a_file_not_named_by_download_tells_its_day_and_type_itself() {
        let books = Books::new();
        let path = books.path("november 20.csv");
        trade_bill(&path, BillType::Success, "20261120", 1, MCH);
        let file = BillFile::find(&path).unwrap();
        assert_eq!(
            (
                iso(file.day),
                file.bill_type.as_str(),
                file.mch_id.as_deref()
            ),
            ("2026-11-20".to_owned(), "SUCCESS", Some(MCH))
        );
        trade_bill(&path, BillType::Refund, "20261120", 1, MCH);
        assert!(matches!(
            BillFile::find(&path),
            Err(BillsError::Unnamed { .. })
        ));
        let named = books.path("2026-11-21.REFUND.csv");
        trade_bill(&named, BillType::Refund, "20261120", 1, MCH);
        let file = BillFile::find(&named).unwrap();
        assert_eq!(
            (iso(file.day), file.bill_type.as_str()),
            ("2026-11-21".to_owned(), "REFUND")
        );
        let misnamed = books.path("2026-11-20.ALL.csv");
        trade_bill(&misnamed, BillType::Refund, "20261120", 1, MCH);
        assert!(matches!(
            BillFile::find(&misnamed),
            Err(BillsError::NotItsType { .. })
        ));
    }

    const FUND_FLOW: &str = "\u{feff}记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号
`2026-11-20 13:54:01,`50300806962021020105978994968,`4200000920202101197964319284,`退款,`退款,`支出,`0.01,`0.22,`1601959334API,`退款总金额0.01元;含手续费0.00元,`S20210201135356381941
资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额
`1,`0,`0.00,`1,`0.01
";

    #[test]
    fn a_fund_flow_bill_is_recorded_without_its_rows() {
        let mut books = Books::new();
        let path = books.path("2026-11-20.fundflow-Basic.csv");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(FUND_FLOW.as_bytes())
            .unwrap();
        let recorded = books.one(&path, Mode::Import).unwrap();
        assert_eq!((recorded.outcome, recorded.rows), (Outcome::Recorded, 1));
        assert!(!recorded.imported);
        assert_eq!(books.count("SELECT count(*) FROM bill_rows"), 0);
        assert_eq!(
            books.count("SELECT count(*) FROM bills WHERE payment_count IS NULL AND imported_at IS NULL AND bill_type = 'fundflow-Basic'"),
            1
        );
        assert_eq!(
            books.one(&path, Mode::Import).unwrap().outcome,
            Outcome::Already
        );
        // Whose it is comes only from the caller or the ledger.
        let mut empty = Books::new();
        let path = empty.path("2026-11-20.fundflow-Fees.csv");
        std::fs::write(&path, FUND_FLOW).unwrap();
        let error = empty.record(None, &[(&path, Mode::Record)]).remove(0);
        assert!(matches!(error, Err(BillsError::NoMerchant { .. })));
    }

    /// Reconcile takes the sha256 of a bill the ledger recorded while the file has the stamp
    /// it had when it was hashed; a bill edited since (the same size, a newer time) is hashed
    /// again, even with its old modification time given back, and so is one whose stamp is
    /// unknown.
    #[test]
    fn reconcile_takes_a_recorded_bill_s_sha256_only_while_it_is_unchanged() {
        use crate::ledger::runs::Inputs;
        use crate::reconcile::bill::Files;
        let mut books = Books::new();
        let path = books.path("2026-11-20.ALL.csv");
        trade_bill(&path, BillType::All, "20261120", 1, MCH);
        let export = books.path("export.csv");
        std::fs::write(&export, "out_trade_no,amount\n").unwrap();
        let recorded = books.one(&path, Mode::Record).unwrap();
        let metadata = std::fs::metadata(&path).unwrap();
        let stored: (i64, i64, i64, i64) = books
            .ledger
            .conn()
            .query_row(
                "SELECT bytes, mtime_ns, ctime_ns, inode FROM bills WHERE id = ?1",
                [recorded.bill_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .unwrap();
        let stamp = FileStamp::of(&metadata).unwrap();
        assert_eq!(
            stored,
            (
                stamp.bytes as i64,
                stamp.mtime_ns,
                stamp.ctime_ns,
                stamp.inode
            )
        );
        let real = hash_file(&path).unwrap();
        // A sha256 that no file has, so that taking it shows.
        let marked = "a".repeat(64);
        books
            .ledger
            .conn()
            .execute("UPDATE bills SET sha256 = ?1", [&marked])
            .unwrap();
        let files = Files {
            bill: &path,
            export: &export,
            previous_bill: None,
            next_bill: None,
        };
        let sha = |books: &Books| {
            let known = books.ledger.known_files(&files).unwrap();
            Inputs::hash(&files, &known).unwrap().bill.sha256.unwrap()
        };
        assert_eq!(sha(&books), marked);
        // Edited in place: the same size, one byte changed, a newer time. File times move in
        // ticks of the kernel's coarse clock: the edit comes a few ticks after the record.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.iter().position(|b| b.is_ascii_digit()).unwrap();
        bytes[at] = if bytes[at] == b'9' { b'8' } else { b'9' };
        let edited = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        (&edited).write_all(&bytes).unwrap();
        edited
            .set_modified(metadata.modified().unwrap() + std::time::Duration::from_secs(1))
            .unwrap();
        drop(edited);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), metadata.len());
        let hashed = sha(&books);
        assert_ne!(hashed, marked);
        assert_ne!(hashed, real);
        assert_eq!(hashed, hash_file(&path).unwrap());
        // Its old modification time given back (as `touch -r` or `cp -p` do): its change
        // time moved all the same, so it is hashed again.
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(metadata.modified().unwrap())
            .unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            metadata.modified().unwrap()
        );
        assert_eq!(sha(&books), hash_file(&path).unwrap());
        // Recorded as it now is, it is taken from the ledger again.
        let now = FileStamp::of(&std::fs::metadata(&path).unwrap()).unwrap();
        books
            .ledger
            .conn()
            .execute(
                "UPDATE bills SET mtime_ns = ?1, ctime_ns = ?2, inode = ?3",
                [now.mtime_ns, now.ctime_ns, now.inode],
            )
            .unwrap();
        assert_eq!(sha(&books), marked);
        // No time recorded: hashed.
        books
            .ledger
            .conn()
            .execute("UPDATE bills SET mtime_ns = NULL", [])
            .unwrap();
        assert_eq!(sha(&books), hash_file(&path).unwrap());
    }

    /// The plans docs/reference.md shows: every lookup of the ledger's bills goes through an
    /// index.
    #[test]
    fn bill_lookups_use_their_indexes() {
        let books = Books::new();
        let plan = |sql: &str| -> String {
            let conn: &Connection = books.ledger.conn();
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let count = statement.parameter_count();
            let params: Vec<i64> = vec![1; count];
            let rows = statement
                .query_map(rusqlite::params_from_iter(params), |row| {
                    row.get::<_, String>(3)
                })
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
        };
        let known = plan(crate::ledger::runs::KNOWN_FILE);
        assert_eq!(
            known, "SEARCH bills USING INDEX bills_by_path (path=?)",
            "{known}"
        );
        let found = plan(FIND_BILL);
        assert!(found.contains("USING INDEX sqlite_autoindex_bills_1 (mch_id=? AND day=? AND bill_type=? AND sha256=?)"), "{found}");
        let days = plan("SELECT * FROM day_bills WHERE mch_id = ?1 AND day BETWEEN ?2 AND ?3");
        assert!(
            days.contains(
                "SEARCH b USING INDEX sqlite_autoindex_bills_1 (mch_id=? AND day>? AND day<?)"
            ),
            "{days}"
        );
        assert!(
            days.contains(
                "COVERING INDEX sqlite_autoindex_bills_1 (mch_id=? AND day=? AND bill_type=?)"
            ),
            "{days}"
        );
        let rows = plan(
            "SELECT r.* FROM day_bills AS b JOIN bill_rows AS r ON r.bill_id = b.id \
             WHERE b.mch_id = ?1 AND b.day = ?2 AND b.bill_type = 'ALL'",
        );
        assert!(
            rows.contains("SEARCH r USING PRIMARY KEY (bill_id=?)"),
            "{rows}"
        );
        assert!(!rows.contains("SCAN"), "{rows}");
        let order = plan("SELECT * FROM bill_rows WHERE out_trade_no = ?1");
        assert!(
            order.contains("USING INDEX bill_rows_by_order (out_trade_no=?)"),
            "{order}"
        );
        let bill = plan(
            "SELECT kind, count(*), sum(amount_fen) FROM bill_rows WHERE bill_id = ?1 GROUP BY kind",
        );
        assert!(bill.contains("USING PRIMARY KEY (bill_id=?)"), "{bill}");
    }
}
