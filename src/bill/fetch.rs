//! Downloading the bills of some days into a merchant's bill folder: a few at a time, leaving
//! alone the days the manifest already has, retrying temporary faults, and recording each day
//! in the manifest. One failed day does not stop the others.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use time::{Date, OffsetDateTime};

use super::download::{self, DownloadError, Downloaded, OnBytes, SavedBill, Source, iso};
use super::manifest::{self, EntryStatus, MANIFEST_NAME, ManifestEntry, ManifestError};
use crate::fsutil::FileError;
use crate::wechat::client::RetryPolicy;
use crate::wechat::gateway::Gateway;

/// What happened to one day.
#[derive(Debug)]
pub enum DayResult {
    Saved(Box<SavedBill>),
    NoBill,
    /// The manifest already had it (and its bill is still there).
    Skipped(EntryStatus),
    Failed(DownloadError),
}

/// What to download, and how.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest {
    pub source: Source,
    /// Ask for a gzip-compressed bill (the file is kept decompressed).
    pub gzip: bool,
    /// Leave alone the days the manifest already has.
    pub skip_known: bool,
    /// Days downloaded at once, at least 1.
    pub concurrency: usize,
    pub retry: RetryPolicy,
}

/// Told how a fetch goes while it goes, from the threads that download.
pub trait Progress: Send + Sync {
    /// Part of a day's bill arrived: `received` bytes so far, of `size` when the server said.
    fn received(&self, _date: Date, _received: u64, _size: Option<u64>) {}

    /// A day is done, whatever came of it.
    fn day_done(&self, _date: Date) {}
}

#[derive(Debug, Error)]
pub enum FetchError {
    #[error(transparent)]
    Manifest(ManifestError),
    #[error("cannot start the network runtime: {0}")]
    Runtime(std::io::Error),
}

/// How a fetch ended.
#[derive(Debug)]
pub enum Fetched<S> {
    /// Every day, in the order asked.
    Done(Vec<(Date, DayResult)>),
    /// What `stop` gave, which came first: the bills being downloaded were not saved.
    Stopped(S),
}

/// Makes `folder` ready for bills: created when missing (refused when others could plant
/// files in it), rid of the unfinished downloads that interrupted runs left. Returns how many
/// of those were removed.
pub fn prepare(folder: &Path) -> Result<usize, FileError> {
    crate::fsutil::output_folder(folder)?;
    // A download still running elsewhere has touched its file within the longest a bill
    // may take.
    let running = Duration::from_secs(download::MAX_TIMEOUT_SECS);
    Ok(crate::fsutil::remove_stale_temporaries(folder, running))
}

/// Whether the manifest's `entry` still holds: a day without a bill, or a bill still on disk.
fn still_holds(entry: &ManifestEntry, folder: &Path) -> bool {
    let on_disk = (entry.file.as_ref()).is_some_and(|file| folder.join(file).is_file());
    entry.status == EntryStatus::NoBill || on_disk
}

/// Downloads the bills of `dates` into `folder` (a merchant's, made ready by [`prepare`]),
/// recording each in its manifest, until every day is done or `stop` completes. On a stop,
/// the bills being written are removed and the downloads left to the process's end.
pub fn fetch<S>(
    gateway: Gateway,
    folder: &Path,
    dates: &[Date],
    request: FetchRequest,
    progress: Arc<dyn Progress>,
    stop: impl Future<Output = S>,
) -> Result<Fetched<S>, FetchError> {
    let manifest_path = folder.join(MANIFEST_NAME);
    let known = manifest::read(&manifest_path).map_err(FetchError::Manifest)?;
    let label = request.source.label();
    let skipped = |date: Date| -> Option<EntryStatus> {
        let entry = manifest::latest(&known, &iso(date), &label)?;
        (request.skip_known && still_holds(entry, folder)).then_some(entry.status)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(FetchError::Runtime)?;
    let gateway = Arc::new(gateway);
    let appends = Arc::new(Mutex::new(()));
    let finished = runtime.block_on(async {
        let permits = Arc::new(tokio::sync::Semaphore::new(request.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, date) in dates.iter().copied().enumerate() {
            if let Some(status) = skipped(date) {
                progress.day_done(date);
                tasks.spawn(async move { (index, date, DayResult::Skipped(status)) });
                continue;
            }
            let day = Day {
                gateway: gateway.clone(),
                folder: folder.to_owned(),
                manifest_path: manifest_path.clone(),
                appends: appends.clone(),
                progress: progress.clone(),
                request,
                date,
            };
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let result = day.fetch().await;
                day.progress.day_done(date);
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
        tokio::select! {
            results = collected => Ok(results),
            stopped = stop => Err(stopped),
        }
    });
    match finished {
        Ok(mut results) => {
            results.sort_by_key(|(index, _, _)| *index);
            let days = results.into_iter().map(|(_, date, result)| (date, result));
            Ok(Fetched::Done(days.collect()))
        }
        Err(stopped) => {
            // The downloads still run: their half-written bills go now, and the runtime is
            // left to the end of the process, which the caller is about to bring.
            crate::fsutil::remove_live_temporaries();
            runtime.shutdown_background();
            Ok(Fetched::Stopped(stopped))
        }
    }
}

/// One day to download, with what its task needs.
struct Day {
    gateway: Arc<Gateway>,
    folder: std::path::PathBuf,
    manifest_path: std::path::PathBuf,
    /// Held while the manifest is rewritten: one entry at a time.
    appends: Arc<Mutex<()>>,
    progress: Arc<dyn Progress>,
    request: FetchRequest,
    date: Date,
}

impl Day {
    async fn fetch(&self) -> DayResult {
        let FetchRequest {
            source,
            gzip,
            retry,
            ..
        } = self.request;
        let date = self.date;
        let path = self.folder.join(download::bill_file_name(date, source));
        let progress = self.progress.clone();
        let on_bytes: OnBytes =
            Arc::new(move |received, size| progress.received(date, received, size));
        let fetched = download::fetch(
            &self.gateway,
            source,
            date,
            gzip,
            &path,
            retry,
            Some(on_bytes),
        )
        .await;
        let downloaded = match fetched {
            Ok(downloaded) => downloaded,
            Err(e) => return DayResult::Failed(e),
        };
        let entry = ManifestEntry::new(
            date,
            source,
            &downloaded,
            &self.folder,
            OffsetDateTime::now_utc(),
        );
        let _turn = self.appends.lock().unwrap_or_else(|e| e.into_inner());
        match manifest::append(&self.manifest_path, &entry) {
            Ok(()) => match downloaded {
                Downloaded::Saved(saved) => DayResult::Saved(saved),
                Downloaded::NoBill { .. } => DayResult::NoBill,
            },
            Err(e) => DayResult::Failed(DownloadError::File(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use super::*;
    use crate::bill::format::BillType;
    use crate::emulator::merchant::{DEFAULT_API_KEY, DEFAULT_APPIDS, DEFAULT_MCH_ID};
    use crate::emulator::synth::SyntheticDay;
    use crate::emulator::{Emulator, ServeOptions};
    use crate::wechat::client::{Client, ClientOptions};
    use crate::wechat::{ApiKey, SignType};

    #[derive(Default)]
    struct Counted {
        days: AtomicUsize,
        bytes: AtomicU64,
    }

    impl Progress for Counted {
        fn received(&self, _date: Date, received: u64, _size: Option<u64>) {
            self.bytes.fetch_max(received, Ordering::Relaxed);
        }

        fn day_done(&self, _date: Date) {
            self.days.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn fetch_all(
        emulator: &Emulator,
        folder: &Path,
        dates: &[Date],
        skip_known: bool,
    ) -> (Vec<(Date, DayResult)>, Arc<Counted>) {
        let client = Client::new(ClientOptions::new(
            emulator.base_url(),
            DEFAULT_MCH_ID,
            DEFAULT_APPIDS[0],
            ApiKey::new(DEFAULT_API_KEY),
            SignType::Md5,
        ))
        .unwrap();
        let request = FetchRequest {
            source: Source::Trade(BillType::All),
            gzip: false,
            skip_known,
            concurrency: 2,
            retry: download::retry_policy(0),
        };
        let counted = Arc::new(Counted::default());
        let never = std::future::pending::<()>();
        let gateway = Gateway::V2(client);
        match fetch(gateway, folder, dates, request, counted.clone(), never).unwrap() {
            Fetched::Done(days) => (days, counted),
            Fetched::Stopped(()) => unreachable!("never stopped"),
        }
    }

    #[test]
    fn days_are_saved_or_found_without_a_bill_recorded_and_then_skipped() {
        let emulator = Emulator::start(ServeOptions::default()).unwrap();
        // Days whose bills are ready whatever the hour: yesterday's is made by 10:00.
        let today = crate::time::day_of(emulator.core().clock.now());
        let (traded, quiet) = (
            today - time::Duration::days(3),
            today - time::Duration::days(2),
        );
        emulator
            .core()
            .add_synthetic_day(SyntheticDay {
                mch_id: DEFAULT_MCH_ID.into(),
                appid: DEFAULT_APPIDS[0].into(),
                bill_date: crate::time::bill_date(traded),
                trades: 5,
                seed: 3,
            })
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(DEFAULT_MCH_ID);
        assert_eq!(prepare(&folder).unwrap(), 0);

        let (days, counted) = fetch_all(&emulator, &folder, &[traded, quiet], true);
        let DayResult::Saved(saved) = &days[0].1 else {
            panic!("{:?}", days[0]);
        };
        let name = download::bill_file_name(traded, Source::Trade(BillType::All));
        assert_eq!(saved.path, folder.join(name));
        assert!(matches!(days[1], (date, DayResult::NoBill) if date == quiet));
        assert_eq!(counted.days.load(Ordering::Relaxed), 2);
        assert_eq!(counted.bytes.load(Ordering::Relaxed), saved.bytes);
        let entries = manifest::read(&folder.join(MANIFEST_NAME)).unwrap();
        assert_eq!(entries.len(), 2);
        let entry = manifest::latest(&entries, &iso(traded), "ALL").unwrap();
        assert_eq!(entry.rows, Some(saved.report.rows));

        // Known days are skipped while they hold; a bill gone from disk is fetched again.
        let (days, _) = fetch_all(&emulator, &folder, &[traded, quiet], true);
        assert!(matches!(days[0].1, DayResult::Skipped(EntryStatus::Saved)));
        assert!(matches!(days[1].1, DayResult::Skipped(EntryStatus::NoBill)));
        std::fs::remove_file(&saved.path).unwrap();
        let (days, _) = fetch_all(&emulator, &folder, &[traded, quiet], true);
        assert!(matches!(days[0].1, DayResult::Saved(_)));
        assert!(matches!(days[1].1, DayResult::Skipped(EntryStatus::NoBill)));
        let (days, _) = fetch_all(&emulator, &folder, &[quiet], false);
        assert!(matches!(days[0].1, DayResult::NoBill));
        assert_eq!(
            manifest::read(&folder.join(MANIFEST_NAME)).unwrap().len(),
            4
        );
    }
}
