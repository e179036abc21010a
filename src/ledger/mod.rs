//! The ledger: bills, reconcile runs and their differences, kept across days in one SQLite
//! database per merchant, so that a difference found on Monday can close itself on Tuesday and
//! a month can be reported. People query it with their own tools (`sqlite3`, DuckDB's
//! `ATTACH`): the schema is documented in docs/reference.md and only ever grows by migrations.
//!
//! SQLite writes the file itself, through its write-ahead log: a commit is atomic and a crash
//! leaves the last committed state, which is what the atomic-write helper gives other files.

pub mod bills;
pub mod chart;
pub mod export;
pub mod import;
pub mod report;
pub mod runs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use thiserror::Error;

/// The schema, one migration per version: `MIGRATIONS[k]` takes a database of version `k` to
/// `k + 1`. A published migration is never edited; a change is a new one.
const MIGRATIONS: &[&str] = &[include_str!("schema_v1.sql")];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The file name of a merchant's ledger in its folder.
pub const LEDGER_FILE: &str = "ledger.sqlite3";

/// How long a writer waits for another to finish (cron jobs that overlap) before giving up:
/// longer than the longest import measured (10 million rows, 42 s on 2 cores), so that a
/// day's reconcile waits out the month's import instead of failing after its report.
const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Error)]
pub enum LedgerError {
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "{path}: schema version {found}, newer than this wxpay-ops knows ({known}): it was written by a newer version"
    )]
    Newer {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("{path}: not a wxpay-ops ledger (it has tables but no schema version)")]
    Foreign { path: PathBuf },
    #[error("{path}: no difference {id}")]
    NoDifference { path: PathBuf, id: i64 },
    #[error("{path}: difference {id} is of merchant {found}, not {asked}")]
    OtherMerchant {
        path: PathBuf,
        id: i64,
        found: String,
        asked: String,
    },
    #[error("{path}: difference {} is {}, not open", .difference.id, .difference.state.name())]
    NotOpen {
        path: PathBuf,
        difference: Box<runs::StoredDifference>,
    },
}

impl LedgerError {
    /// Whether another writer held the database for longer than the busy timeout.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            LedgerError::Sqlite { source: rusqlite::Error::SqliteFailure(e, _), .. }
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// An open ledger.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

impl Ledger {
    /// Opens the ledger at `path`, creating it (not its folder) and bringing its schema up to
    /// [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // Two processes opening a new ledger at once: the switch of the new file to WAL, and
        // WAL's recovery when the other opens it, can answer SQLITE_BUSY at once, without the
        // busy handler. Such an opening is tried again, within the same busy timeout.
        let started = std::time::Instant::now();
        loop {
            let conn = Connection::open_with_flags(path, flags).map_err(sqlite(path))?;
            let mut ledger = Ledger {
                conn,
                path: path.to_owned(),
            };
            match ledger.configure().and_then(|()| ledger.migrate()) {
                Ok(()) => return Ok(ledger),
                Err(e) if e.is_busy() && started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for reads.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn configure(&self) -> Result<(), LedgerError> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(sqlite(&self.path))?;
        // WAL lets readers go on beside one writer; FULL syncs every commit, because a ledger
        // that loses a committed run to a power cut would report the day again as new. A
        // bill's rows land all over the index of order numbers: with SQLite's default 2 MiB
        // of cache its pages spill to the WAL and are written there again and again (16 MiB
        // did as well as 64 in benches/ledger_import).
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                 PRAGMA cache_size = -16384;",
            )
            .map_err(sqlite(&self.path))
    }

    /// The schema version written in the file (0: a new, empty database).
    pub fn version(&self) -> Result<u32, LedgerError> {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sqlite(&self.path))
    }

    fn migrate(&mut self) -> Result<(), LedgerError> {
        let path = self.path.clone();
        // Under the write lock, so that two processes opening a new ledger at once do not
        // both create it.
        let tx = self.write()?;
        let found: u32 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sqlite(&path))?;
        if found > SCHEMA_VERSION {
            return Err(LedgerError::Newer {
                path,
                found,
                known: SCHEMA_VERSION,
            });
        }
        if found == 0 {
            let tables: u32 = tx
                .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
                .map_err(sqlite(&path))?;
            if tables > 0 {
                return Err(LedgerError::Foreign { path });
            }
        }
        for (version, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(migration).map_err(sqlite(&path))?;
            tx.pragma_update(None, "user_version", version as u32 + 1)
                .map_err(sqlite(&path))?;
        }
        tx.commit().map_err(sqlite(&path))
    }

    /// The one write transaction of a command: it takes the write lock at once (waiting up to
    /// the busy timeout for another writer), so that two writers never interleave.
    pub fn write(&mut self) -> Result<Transaction<'_>, LedgerError> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite(&self.path))
    }
}

/// The default place of a merchant's ledger: `<data>/<mch_id>/ledger.sqlite3` under the
/// folder given (the user's data folder for wxpay-ops).
pub fn default_path(data: &Path, mch_id: &str) -> PathBuf {
    data.join(mch_id).join(LEDGER_FILE)
}

/// Maps an SQLite error to one that names the file.
pub fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> LedgerError + '_ {
    move |source| LedgerError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(ledger: &Ledger) -> Vec<String> {
        let mut statement = ledger
            .conn()
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_new_ledger_has_the_latest_schema_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join(LEDGER_FILE)).unwrap();
        assert_eq!(ledger.version().unwrap(), SCHEMA_VERSION);
        let mode: String = ledger
            .conn()
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        for table in [
            "bills",
            "bill_rows",
            "runs",
            "run_categories",
            "differences",
        ] {
            assert!(tables(&ledger).contains(&table.to_owned()), "{table}");
        }
    }

    /// A database left at every earlier version opens and is brought to the latest, with
    /// the same tables as a new one.
    #[test]
    fn every_earlier_version_migrates_to_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = Ledger::open(&dir.path().join("fresh.sqlite3")).unwrap();
        for version in 0..SCHEMA_VERSION {
            let path = dir.path().join(format!("v{version}.sqlite3"));
            let conn = Connection::open(&path).unwrap();
            for migration in &MIGRATIONS[..version as usize] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", version).unwrap();
            drop(conn);
            let ledger = Ledger::open(&path).unwrap();
            assert_eq!(ledger.version().unwrap(), SCHEMA_VERSION, "from {version}");
            assert_eq!(tables(&ledger), tables(&fresh), "from {version}");
        }
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEDGER_FILE);
        drop(Ledger::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let error = Ledger::open(&path).err().unwrap();
        assert!(matches!(error, LedgerError::Newer { found, .. } if found == SCHEMA_VERSION + 1));
        let conn = Connection::open(&path).unwrap();
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION + 1);
    }

    #[test]
    fn another_programs_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.sqlite3");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        assert!(matches!(
            Ledger::open(&path).err().unwrap(),
            LedgerError::Foreign { .. }
        ));
    }
}
