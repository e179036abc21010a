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
                        "--bill-dir",
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

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A day's ALL bill and its matching export, for reconcile, in the env's folder.
fn reconcilable_day(env: &crate::common::Env) {
    use wxpay_ops::bill::format::{BillType, FeeRate};
    let day = SyntheticDay {
        mch_id: DEFAULT_MCH_ID.into(),
        appid: DEFAULT_APPIDS[0].into(),
        bill_date: "20261120".into(),
        trades: 20,
        seed: 3,
    };
    let mut bill = std::fs::File::create(env.path("day.ALL.csv")).unwrap();
    wxpay_ops::emulator::bills::write_trade_bill(
        &mut bill,
        BillType::All,
        day.clone().into_rows(FeeRate(60)),
    )
    .unwrap();
    let mut export = Vec::new();
    wxpay_ops::emulator::synth::write_export(
        &day,
        &wxpay_ops::emulator::synth::Differences::default(),
        FeeRate(60),
        &mut export,
    )
    .unwrap();
    std::fs::write(env.path("orders.csv"), export).unwrap();
}

fn reconcile_into(env: &crate::common::Env, out: &str) -> crate::common::Output {
    env.run(&[
        "reconcile",
        "--bill",
        "day.ALL.csv",
        "--export",
        "orders.csv",
        "--mch-id",
        DEFAULT_MCH_ID,
        "--out",
        out,
    ])
}

#[test]
fn folders_the_tool_creates_are_0700_whatever_the_umask() {
    let mut shop = Shop::new();
    shop.env.umask(0o000);
    reconcilable_day(&shop.env);
    reconcile_into(&shop.env, "reports/nov/20").expect(0);
    for folder in ["reports", "reports/nov", "reports/nov/20"] {
        assert_eq!(mode(&shop.env.path(folder)), 0o700, "{folder}");
    }
    trades_on_days(&shop, 1);
    let day = iso(days_ago(2));
    shop.run(&[
        "bill",
        "download",
        "--date",
        &day,
        "--bill-dir",
        "bills/shop",
    ])
    .expect(0);
    for folder in [
        "bills",
        "bills/shop",
        &format!("bills/shop/{DEFAULT_MCH_ID}"),
    ] {
        assert_eq!(mode(&shop.env.path(folder)), 0o700, "{folder}");
    }
}

#[test]
fn a_bill_folder_another_user_made_is_refused_with_its_owner_and_mode() {
    let shop = Shop::new();
    trades_on_days(&shop, 1);
    // A shared folder like /tmp: anyone may add to it.
    let shared = shop.env.path("shared");
    std::fs::create_dir(&shared).unwrap();
    crate::common::set_mode(&shared, 0o1777);
    crate::common::set_mode(shop.env.dir.path(), 0o711);
    let victim = shop.env.path("victim.txt");
    std::fs::write(&victim, "the victim's own file").unwrap();
    let day = iso(days_ago(2));
    let folder = shared.join(DEFAULT_MCH_ID);
    let planted = format!(
        "mkdir -m 755 {folder} && ln -s {victim} {folder}/{day}.ALL.csv",
        folder = folder.display(),
        victim = victim.display()
    );
    if crate::common::as_nobody(&planted).is_none() {
        return;
    }
    let out = shop
        .run(&[
            "bill",
            "download",
            "--date",
            &day,
            "--bill-dir",
            shared.to_str().unwrap(),
        ])
        .expect(2)
        .error_mentions(&format!(
            "{}: the folder {} belongs to uid 65534 with mode 0755",
            folder.display(),
            folder.display()
        ));
    assert!(out.stderr.contains("hint: "), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "the victim's own file"
    );
    assert!(!folder.join("manifest.jsonl").exists());
}

/// A folder of ours inside one that others can write (without the sticky bit) can be swapped
/// for another between two writes: refused as well.
#[test]
fn an_output_folder_inside_a_folder_others_can_write_is_refused() {
    let env = crate::common::Env::new();
    reconcilable_day(&env);
    let open = env.path("open");
    std::fs::create_dir(&open).unwrap();
    crate::common::set_mode(&open, 0o777);
    reconcile_into(&env, "open/report")
        .expect(2)
        .error_mentions(&format!(
            "open/report: the folder open belongs to uid {} with mode 0777: others can write in it",
            rustix::process::geteuid().as_raw()
        ));
    assert!(!env.path("open/report/summary.json").exists());
}

#[test]
fn in_a_sticky_folder_another_users_symlink_is_not_followed_but_ours_are() {
    let env = crate::common::Env::new();
    reconcilable_day(&env);
    let shared = env.path("shared");
    std::fs::create_dir(&shared).unwrap();
    crate::common::set_mode(&shared, 0o1777);
    crate::common::set_mode(env.dir.path(), 0o711);
    let victim = env.path("victim.txt");
    std::fs::write(&victim, "the victim's own file").unwrap();
    let planted = format!(
        "ln -s {} {}/summary.json",
        victim.display(),
        shared.display()
    );
    if crate::common::as_nobody(&planted).is_none() {
        return;
    }
    reconcile_into(&env, shared.to_str().unwrap())
        .expect(2)
        .error_mentions("summary.json is a symlink in");
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "the victim's own file"
    );

    // Our own symlink in our own folder is followed, as ever.
    let own = env.path("own");
    std::fs::create_dir(&own).unwrap();
    crate::common::set_mode(&own, 0o700);
    std::os::unix::fs::symlink(&victim, own.join("summary.json")).unwrap();
    reconcile_into(&env, own.to_str().unwrap()).expect(0);
    assert!(
        own.join("summary.json")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&victim)
            .unwrap()
            .contains("\"categories\"")
    );
}

fn our_temporaries(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".wxpay-ops-") && name.ends_with(".part"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_killed_download_removes_its_temporary_and_later_runs_remove_stale_ones() {
    use rustix::process::{Pid, Signal, kill_process};
    let shop = Shop::new();
    // A bill large enough to be still arriving when the signal comes.
    shop.emulator
        .core()
        .add_synthetic_day(SyntheticDay {
            mch_id: DEFAULT_MCH_ID.into(),
            appid: DEFAULT_APPIDS[0].into(),
            bill_date: iso(days_ago(2)).replace('-', ""),
            trades: 5_000_000,
            seed: 1,
        })
        .unwrap();
    let folder = shop.env.path("bills").join(DEFAULT_MCH_ID);
    let config = shop.config.to_str().unwrap().to_owned();
    let day = iso(days_ago(2));
    for (signal, code) in [(Signal::TERM, 143), (Signal::INT, 130)] {
        let child = shop
            .env
            .command(&[
                "--config",
                &config,
                "bill",
                "download",
                "--date",
                &day,
                "--bill-dir",
                "bills",
            ])
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while our_temporaries(&folder).is_empty() {
            assert!(std::time::Instant::now() < deadline, "no download began");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        kill_process(Pid::from_raw(child.id() as i32).unwrap(), signal).unwrap();
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(code), "{signal:?}: {output:?}");
        assert_eq!(our_temporaries(&folder), Vec::<String>::new(), "{signal:?}");
        assert!(!folder.join(format!("{day}.ALL.csv")).exists());
    }

    // What a run killed with SIGKILL leaves: stale files of ours go on the next run; a fresh
    // one (another run may be writing it) and other programs' files stay.
    let stale = folder.join(".wxpay-ops-AbC123.part");
    let fresh = folder.join(".wxpay-ops-XyZ789.part");
    let foreign = folder.join(".tmpQw3rTy");
    for file in [&stale, &fresh, &foreign] {
        std::fs::write(file, "half a bill").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for file in [&stale, &foreign] {
        std::fs::File::options()
            .write(true)
            .open(file)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
    }
    let quiet_day = iso(days_ago(3));
    let out = shop
        .run(&[
            "bill",
            "download",
            "--date",
            &quiet_day,
            "--bill-dir",
            "bills",
        ])
        .expect(0);
    assert!(
        out.stderr.contains("removed 1 unfinished download"),
        "{}",
        out.stderr
    );
    assert!(!stale.exists());
    assert!(fresh.exists() && foreign.exists());
}

/// A folder the user may not write in: the error names the file asked for, never the
/// temporary file the write began with. Root may write anywhere, so the binary runs as nobody.
#[test]
fn an_unwritable_folder_is_named_with_the_final_path() {
    let env = crate::common::Env::new();
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: running the binary as another user needs root (runuser -u nobody)");
        return;
    }
    crate::common::set_mode(env.dir.path(), 0o711);
    let closed = env.path("closed");
    std::fs::create_dir(&closed).unwrap();
    crate::common::set_mode(&closed, 0o755);
    let target = closed.join("orders.csv");
    let output = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_wxpay-ops")])
        .args(["emulator", "export", "--day", "20261120:20:3", "-o"])
        .arg(&target)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir("/")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {}: Permission denied", target.display())),
        "{stderr}"
    );
    assert!(
        !stderr.contains(".wxpay-ops-") && !stderr.contains("at path"),
        "{stderr}"
    );
}
