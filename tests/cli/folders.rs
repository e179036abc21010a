//! Folders shared by processes and users: bill downloads running at once into one folder,
//! the modes of the folders the tool creates, folders other users control, and what killed
//! downloads leave behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use wxpay_ops::emulator::merchant::{DEFAULT_APPIDS, DEFAULT_MCH_ID};
use wxpay_ops::emulator::synth::SyntheticDay;

use crate::order::Shop;

pub fn days_ago(days: i64) -> time::Date {
    (time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8))
        - time::Duration::days(days))
    .date()
}

pub fn iso(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A few trades on each of `days` days, ending two days ago.
fn trades_on_days(shop: &Shop, days: i64) {
    for ago in 2..2 + days {
        shop.emulator
            .core()
            .add_synthetic_day(SyntheticDay {
                mch_id: DEFAULT_MCH_ID.into(),
                appid: DEFAULT_APPIDS[0].into(),
                bill_date: iso(days_ago(ago)).replace('-', ""),
                trades: 3,
                seed: 1,
            })
            .unwrap();
    }
}

fn manifest(folder: &Path) -> Vec<Value> {
    std::fs::read_to_string(folder.join("manifest.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `processes` downloads at once into one folder, each of its own days: every day is listed
/// in the manifest exactly once, with its file.
fn downloads_at_once(processes: i64, days_each: i64) {
    let shop = Shop::new();
    trades_on_days(&shop, processes * days_each);
    let out = shop.env.path("bills");
    let out = out.to_str().unwrap();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..processes)
            .map(|p| {
                // Disjoint ranges, the latest days first.
                let to = iso(days_ago(2 + p * days_each));
                let from = iso(days_ago(1 + (p + 1) * days_each));
                let shop = &shop;
                scope.spawn(move || {
                    shop.run(&[
                        "bill",
                        "download",
                        "--from",
                        &from,
                        "--to",
                        &to,
                        "--concurrency",
                        "16",
                        "--out",
                        out,
                    ])
                    .expect(0);
                })
            })
            .collect();
        for run in runs {
            run.join().unwrap();
        }
    });
    let folder: PathBuf = shop.env.path("bills").join(DEFAULT_MCH_ID);
    let entries = manifest(&folder);
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &entries {
        assert_eq!(entry["status"], "saved", "{entry}");
        *listed
            .entry(entry["file"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let files: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".csv"))
        .collect();
    assert_eq!(files.len() as i64, processes * days_each, "{files:?}");
    for file in &files {
        assert_eq!(
            listed.get(file),
            Some(&1),
            "{file} in the manifest: {listed:?}"
        );
    }
    assert_eq!(entries.len(), files.len(), "{listed:?}");
}

#[test]
fn two_downloads_at_once_into_one_folder_keep_every_manifest_line() {
    downloads_at_once(2, 12);
}

#[test]
fn four_downloads_at_once_into_one_folder_keep_every_manifest_line() {
    downloads_at_once(4, 6);
}
