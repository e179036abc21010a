//! The manifest beside downloaded bills: one JSON line per bill fetched (or per day found to
//! have none), the audit trail of what was fetched, when, from where, and what it held. The
//! last line for a date and type is the one that counts.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use super::download::{Downloaded, Source, iso};
use crate::fsutil::{FileError, WriteError, lock_folder, write_atomic};

pub const MANIFEST_NAME: &str = "manifest.jsonl";

/// What a manifest entry says of its day's bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// The bill is in `file`.
    Saved,
    /// WeChat Pay has no bill for the day (no trade, or no fund movement).
    NoBill,
}

/// One line of the manifest: a bill fetched, or a day found to have none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// YYYY-MM-DD, the bill day (Beijing time).
    pub date: String,
    /// ALL, SUCCESS, REFUND, RECHARGE_REFUND, or fundflow-Basic / -Operation / -Fees.
    #[serde(rename = "type")]
    pub bill_type: String,
    pub status: EntryStatus,
    /// The file's name in the manifest's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// The summary row: counts, and amounts in fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<Map<String, Value>>,
    /// Whether the summary row matched the rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent: Option<bool>,
    /// Whether WeChat Pay sent it gzip-compressed (the file holds it decompressed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gzip: Option<bool>,
    pub source_url: String,
    /// RFC 3339.
    pub fetched_at: String,
}

impl ManifestEntry {
    /// The entry for what a download of `date` gave, fetched at `fetched_at`; a saved bill's
    /// file is named relative to `folder`, the manifest's.
    pub fn new(
        date: Date,
        source: Source,
        downloaded: &Downloaded,
        folder: &Path,
        fetched_at: OffsetDateTime,
    ) -> ManifestEntry {
        let fetched_at = fetched_at
            .replace_nanosecond(0)
            .unwrap_or(fetched_at)
            .to_offset(crate::time::BEIJING)
            .format(&Rfc3339)
            .unwrap_or_default();
        let mut entry = ManifestEntry {
            date: iso(date),
            bill_type: source.label(),
            status: EntryStatus::NoBill,
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
        match downloaded {
            Downloaded::NoBill { source_url } => entry.source_url = source_url.clone(),
            Downloaded::Saved(saved) => {
                entry.status = EntryStatus::Saved;
                entry.file =
                    (saved.path.strip_prefix(folder).ok()).map(|p| p.display().to_string());
                entry.bytes = Some(saved.bytes);
                entry.sha256 = Some(saved.sha256.clone());
                entry.rows = Some(saved.report.rows);
                entry.totals = Some(saved.report.stated_totals());
                entry.consistent = Some(saved.report.is_consistent());
                entry.gzip = Some(saved.gzip);
                entry.source_url = saved.source_url.clone();
            }
        }
        entry
    }
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: line {line}: not a manifest entry: {source}")]
    Invalid {
        path: String,
        line: usize,
        source: serde_json::Error,
    },
}

/// Every entry, in the order written; an absent manifest has none.
pub fn read(path: &Path) -> Result<Vec<ManifestEntry>, ManifestError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ManifestError::Read {
                path: path.display().to_string(),
                source,
            });
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|source| ManifestError::Invalid {
                path: path.display().to_string(),
                line: index + 1,
                source,
            })
        })
        .collect()
}

/// The entry that counts for a date and type: the last one written.
pub fn latest<'a>(
    entries: &'a [ManifestEntry],
    date: &str,
    bill_type: &str,
) -> Option<&'a ManifestEntry> {
    entries
        .iter()
        .rev()
        .find(|e| e.date == date && e.bill_type == bill_type)
}

/// Adds an entry. The manifest is small (a line per bill), so it is rewritten whole through
/// the atomic writer: a crash leaves the old manifest or the new one, never half a line
/// (which one write with O_APPEND could leave). Two processes downloading into one folder
/// would each read, add their line and rename, the second losing the first's line; an
/// advisory lock on the folder around the whole cycle makes them take turns.
pub fn append(path: &Path, entry: &ManifestEntry) -> Result<(), FileError> {
    let folder = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let _turn = lock_folder(folder)?;
    let mut text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(FileError::new(path, e)),
    };
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    text.extend(serde_json::to_vec(entry).expect("entries serialize"));
    text.push(b'\n');
    write_atomic(path, |out| out.write_all(&text)).map_err(|e| match e {
        WriteError::File(e) => e,
        WriteError::Inner(e) => FileError::new(path, e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bill::download::{FundAccount, SavedBill};
    use crate::bill::format::BillType;
    use time::macros::{date, datetime};

    fn entry(date: &str, status: EntryStatus) -> ManifestEntry {
        ManifestEntry {
            date: date.into(),
            bill_type: "ALL".into(),
            status,
            file: None,
            bytes: None,
            sha256: None,
            rows: None,
            totals: None,
            consistent: None,
            gzip: None,
            source_url: "http://127.0.0.1/pay/downloadbill".into(),
            fetched_at: "2026-11-21T10:00:00+08:00".into(),
        }
    }

    #[test]
    fn entries_record_what_a_download_gave() {
        let folder = Path::new("/bills/10000100");
        let bill = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/real/bill.ALL.probe.csv"
        ))
        .unwrap();
        let ignore =
            |_: &crate::bill::parse::BillRecord<'_>| Ok::<(), std::convert::Infallible>(());
        let report = crate::bill::parse::read(&bill[..], ignore).unwrap();
        let saved = Downloaded::Saved(Box::new(SavedBill {
            path: folder.join("2026-11-20.ALL.csv"),
            bytes: bill.len() as u64,
            sha256: "ab".repeat(32),
            gzip: true,
            report: report.clone(),
            source_url: "https://api.mch.weixin.qq.com/pay/downloadbill".into(),
        }));
        let source = Source::Trade(BillType::All);
        let at = datetime!(2026-11-21 02:00:00.5 UTC);
        let entry = ManifestEntry::new(date!(2026 - 11 - 20), source, &saved, folder, at);
        assert_eq!(entry.date, "2026-11-20");
        assert_eq!(entry.bill_type, "ALL");
        assert_eq!(entry.status, EntryStatus::Saved);
        assert_eq!(entry.file.as_deref(), Some("2026-11-20.ALL.csv"));
        assert_eq!(entry.rows, Some(report.rows));
        assert_eq!(entry.totals, Some(report.stated_totals()));
        assert_eq!(entry.consistent, Some(true));
        assert_eq!(entry.gzip, Some(true));
        assert_eq!(entry.fetched_at, "2026-11-21T10:00:00+08:00");

        let url = "http://127.0.0.1/pay/downloadfundflow".to_owned();
        let none = Downloaded::NoBill {
            source_url: url.clone(),
        };
        let source = Source::FundFlow(FundAccount::Fees);
        let entry = ManifestEntry::new(date!(2026 - 11 - 20), source, &none, folder, at);
        assert_eq!(
            (
                entry.bill_type.as_str(),
                entry.status,
                entry.file,
                entry.source_url
            ),
            ("fundflow-Fees", EntryStatus::NoBill, None, url)
        );
    }

    #[test]
    fn appends_and_the_last_entry_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_NAME);
        assert!(read(&path).unwrap().is_empty());
        append(&path, &entry("2026-11-20", EntryStatus::NoBill)).unwrap();
        append(&path, &entry("2026-11-19", EntryStatus::Saved)).unwrap();
        append(&path, &entry("2026-11-20", EntryStatus::Saved)).unwrap();
        let entries = read(&path).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            latest(&entries, "2026-11-20", "ALL").unwrap().status,
            EntryStatus::Saved
        );
        assert!(latest(&entries, "2026-11-20", "REFUND").is_none());
        std::fs::write(&path, "{\"date\":1}\n").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("line 1"));
    }
}
