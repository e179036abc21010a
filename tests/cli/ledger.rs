//! Bills into the ledger: `bill download` records them (`--import`: their rows too), `ledger
//! import` takes bills already on disk; writers at once, and a writer killed mid-import.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::Value;
use time::{Date, OffsetDateTime};

use wxpay_ops::bill::format::{BillType, FeeRate};
use wxpay_ops::emulator::bills::write_trade_bill;
use wxpay_ops::emulator::merchant::{DEFAULT_APPIDS, DEFAULT_MCH_ID};
use wxpay_ops::emulator::synth::SyntheticDay;
use wxpay_ops::emulator::{Emulator, ServeOptions};

use crate::common::{Env, Output};

/// Days relative to today in Beijing, the clock both the command and the emulator use.
fn days_ago(n: i64) -> Date {
    (OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8)) - time::Duration::days(n))
        .date()
}

fn iso(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn compact(date: Date) -> String {
    iso(date).replace('-', "")
}

fn synthetic(date: Date, trades: u64, seed: u64) -> SyntheticDay {
    SyntheticDay {
        mch_id: DEFAULT_MCH_ID.into(),
        appid: DEFAULT_APPIDS[0].into(),
        bill_date: compact(date),
        trades,
        seed,
    }
}

/// A trade bill of WeChat Pay's format at `path`, as the emulator renders one; its rows.
fn write_bill(path: &Path, date: Date, trades: u64, seed: u64) -> u64 {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let rows = synthetic(date, trades, seed).into_rows(FeeRate(60));
    write_trade_bill(&mut out, BillType::All, rows)
        .unwrap()
        .count
}

/// The ledger's answer to one query.
fn query(ledger: &Path, sql: &str) -> i64 {
    Connection::open(ledger)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn integrity(ledger: &Path) -> String {
    Connection::open(ledger)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// A merchant's days on the emulator, downloaded into the bill folder of a clean home.
struct Shop {
    emulator: Emulator,
    env: Env,
}

impl Shop {
    fn new() -> Shop {
        Shop {
            emulator: Emulator::start(ServeOptions::default()).expect("emulator"),
            env: Env::new(),
        }
    }

    fn trades_on(&self, date: Date, trades: u64) {
        (self.emulator.core())
            .add_synthetic_day(synthetic(date, trades, 3))
            .unwrap();
    }

    fn bills(&self) -> String {
        self.env.path("bills").display().to_string()
    }

    /// The command with the emulator's profile and the bill folder.
    fn run(&self, args: &[&str]) -> Output {
        let config = self.emulator.profile().display().to_string();
        let bills = self.bills();
        let mut all = vec!["--config", &config];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--bill-dir", &bills]);
        self.env.run(&all)
    }

    fn folder(&self) -> PathBuf {
        self.env.path("bills").join(DEFAULT_MCH_ID)
    }

    fn ledger(&self) -> PathBuf {
        self.folder().join("ledger.sqlite3")
    }
}

#[test]
fn bill_download_records_each_bill_and_imports_its_rows_when_asked() {
    let shop = Shop::new();
    let (day, quiet) = (days_ago(3), days_ago(2));
    shop.trades_on(day, 300);
    let range = ["--from", &iso(day), "--to", &iso(quiet)];
    let out = shop
        .run(&[&["bill", "download"][..], &range].concat())
        .expect(0);
    let rows = out.json();
    assert_eq!(rows[0]["ledger"], "recorded", "{}", out.stdout);
    // A day without a bill has nothing to record.
    assert_eq!(rows[1]["outcome"], "no_bill");
    assert_eq!(rows[1]["ledger"], Value::Null);
    let ledger = shop.ledger();
    let bill_rows = rows[0]["rows"].as_i64().unwrap();
    assert_eq!(query(&ledger, "SELECT rows FROM bills"), bill_rows);
    assert_eq!(query(&ledger, "SELECT count(*) FROM bill_rows"), 0);
    assert_eq!(
        query(
            &ledger,
            "SELECT count(*) FROM bills WHERE source_url LIKE '%/pay/downloadbill' AND payment_count > 0 AND imported_at IS NULL"
        ),
        1
    );

    // A range skips the days it has; --import imports the rows of the bill on disk.
    let out = (shop.run(&[&["bill", "download", "--import"][..], &range].concat())).expect(0);
    let rows = out.json();
    assert_eq!(rows[0]["outcome"], "skipped");
    assert_eq!(rows[0]["ledger"], "imported", "{}", out.stdout);
    assert_eq!(query(&ledger, "SELECT count(*) FROM bill_rows"), bill_rows);
    let date = iso(day);
    let again = ["bill", "download", "--date", &date, "--import"];
    let out = shop.run(&again).expect(0);
    assert_eq!(out.json()[0]["outcome"], "saved");
    assert_eq!(out.json()[0]["ledger"], "already", "{}", out.stdout);
    assert_eq!(query(&ledger, "SELECT count(*) FROM bills"), 1);

    // --no-ledger leaves the ledger alone; --ledger names another.
    let out = shop.run(&[&again[..], &["--no-ledger"]].concat()).expect(2);
    assert!(out.stderr.contains("--no-ledger"), "{}", out.stderr);
    let out = shop
        .run(&["bill", "download", "--date", &date, "--no-ledger"])
        .expect(0);
    assert_eq!(out.json()[0]["ledger"], Value::Null);
    let other = shop.env.path("other.sqlite3");
    let other_flag = other.display().to_string();
    let out = shop
        .run(&[&again[..], &["--ledger", &other_flag]].concat())
        .expect(0);
    assert_eq!(out.json()[0]["ledger"], "imported");
    assert_eq!(query(&other, "SELECT count(*) FROM bill_rows"), bill_rows);
    assert_eq!(query(&ledger, "SELECT count(*) FROM bills"), 1);
}

#[test]
fn a_ledger_that_fails_keeps_the_bill_and_says_how_to_record_it_later() {
    let shop = Shop::new();
    let day = days_ago(2);
    shop.trades_on(day, 50);
    let foreign = shop.env.path("notes.sqlite3");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (text)")
        .unwrap();
    let date = iso(day);
    let foreign_flag = foreign.display().to_string();
    let out = shop
        .run(&[
            "bill",
            "download",
            "--date",
            &date,
            "--import",
            "--ledger",
            &foreign_flag,
        ])
        .expect(2)
        .error_mentions("not a wxpay-ops ledger")
        .hint_mentions("wxpay-ops ledger import --date");
    // The row says what was done: saved, and not recorded.
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows[0]["outcome"], "saved");
    assert_eq!(rows[0]["ledger"], "failed");
    let bill = shop.folder().join(format!("{date}.ALL.csv"));
    assert!(bill.is_file());
    let manifest = std::fs::read_to_string(shop.folder().join("manifest.jsonl")).unwrap();
    assert_eq!(manifest.lines().count(), 1);
    assert_eq!(query(&foreign, "SELECT count(*) FROM sqlite_schema"), 1);

    // Once the ledger is sorted out, `ledger import` records it from the folder.
    let out = shop.run(&["ledger", "import", "--date", &date]).expect(0);
    assert_eq!(out.json()[0]["outcome"], "imported", "{}", out.stdout);
    assert_eq!(
        query(&shop.ledger(), "SELECT count(*) FROM bill_rows"),
        out.json()[0]["rows"].as_i64().unwrap()
    );
}

#[test]
fn ledger_import_takes_files_or_days_and_says_what_became_of_each() {
    let shop = Shop::new();
    // The day between has no trades, so no bill.
    let (first, later) = (days_ago(4), days_ago(2));
    shop.trades_on(first, 120);
    shop.trades_on(later, 80);
    let range = ["--from", &iso(first), "--to", &iso(later)];
    shop.run(&[&["bill", "download", "--no-ledger"][..], &range].concat())
        .expect(0);
    let missing = days_ago(5);
    let out = shop
        .run(&[
            "ledger",
            "import",
            "--from",
            &iso(missing),
            "--to",
            &iso(later),
        ])
        .expect(2)
        .error_mentions("no bill of the day")
        .hint_mentions(&format!("bill download --date {}", iso(days_ago(5))));
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    let outcomes: Vec<&str> = (rows.as_array().unwrap().iter())
        .map(|row| row["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["missing", "imported", "no_bill", "imported"]);
    assert_eq!(rows[1]["date"], iso(first));
    assert_eq!(rows[1]["type"], "ALL");
    assert_eq!(rows[1]["bill_id"], 1);
    let imported = rows[1]["rows"].as_i64().unwrap() + rows[3]["rows"].as_i64().unwrap();
    let ledger = shop.ledger();
    assert_eq!(query(&ledger, "SELECT count(*) FROM bill_rows"), imported);

    // Again, by file: the same files are already there.
    let file = shop.folder().join(format!("{}.ALL.csv", iso(later)));
    let out = shop
        .run(&[
            "ledger",
            "import",
            &file.display().to_string(),
            "--format",
            "csv",
        ])
        .expect(0);
    assert!(
        out.stdout
            .starts_with("date,type,outcome,rows,bill_id,file,detail\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(",ALL,already,"), "{}", out.stdout);
    assert!(out.stderr.contains("1 already there"), "{}", out.stderr);

    // A copy under another name, in no manifest: the same file, known by its sha256.
    let copy = shop.env.path("copy.csv");
    std::fs::copy(&file, &copy).unwrap();
    let out = shop
        .run(&[
            "ledger",
            "import",
            "copy.csv",
            "--ledger",
            &ledger.display().to_string(),
        ])
        .expect(0);
    assert_eq!(out.json()[0]["outcome"], "already");
    assert_eq!(out.json()[0]["date"], iso(later));
    assert_eq!(query(&ledger, "SELECT count(*) FROM bill_rows"), imported);

    // Not a bill, or a bill of another merchant: refused by name; the others go in.
    std::fs::write(shop.env.path("notes.csv"), "a,b\n1,2\n").unwrap();
    let stranger = shop.env.path("2026-11-20.ALL.csv");
    let mut out_file = std::fs::File::create(&stranger).unwrap();
    let day = SyntheticDay {
        mch_id: "1230000109".into(),
        ..synthetic(days_ago(6), 5, 1)
    };
    write_trade_bill(&mut out_file, BillType::All, day.into_rows(FeeRate(60))).unwrap();
    let fresh = shop.env.path("fresh.csv");
    write_bill(&fresh, days_ago(7), 40, 9);
    let out = shop
        .run(&[
            "ledger",
            "import",
            "notes.csv",
            "2026-11-20.ALL.csv",
            "fresh.csv",
        ])
        .expect(2)
        .error_mentions("2 of 3 bills not imported")
        .error_mentions("notes.csv")
        .error_mentions("merchant 1230000109");
    let rows = out.json();
    assert_eq!(rows[0]["outcome"], "failed");
    assert_eq!(rows[1]["outcome"], "failed");
    assert_eq!(rows[2]["outcome"], "imported");
    assert_eq!(query(&ledger, "SELECT count(*) FROM bills"), 3);
}

/// `n` processes importing a day each into one ledger at once.
fn concurrent_imports(n: usize) {
    let env = Env::new();
    let ledger = env.path("ledger.sqlite3");
    let mut expected = 0;
    let mut children: Vec<(String, Child)> = Vec::new();
    let files: Vec<String> = (0..n)
        .map(|k| {
            let date = days_ago(10 + k as i64);
            let name = format!("{}.ALL.csv", iso(date));
            expected += write_bill(&env.path(&name), date, 20_000, k as u64);
            name
        })
        .collect();
    let ledger_flag = ledger.display().to_string();
    for name in &files {
        let args = ["ledger", "import", name, "--ledger", &ledger_flag, "-q"];
        let child = env.command(&args).spawn().unwrap();
        children.push((name.clone(), child));
    }
    for (name, child) in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{name}: {:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(rows[0]["outcome"], "imported", "{name}");
    }
    assert_eq!(query(&ledger, "SELECT count(*) FROM bills"), n as i64);
    assert_eq!(
        query(&ledger, "SELECT count(*) FROM bill_rows") as u64,
        expected
    );
    assert_eq!(
        query(
            &ledger,
            "SELECT count(*) FROM bills WHERE imported_at IS NOT NULL"
        ),
        n as i64
    );
    assert_eq!(integrity(&ledger), "ok");
}

#[test]
fn two_processes_importing_at_once_both_succeed() {
    concurrent_imports(2);
}

#[test]
fn four_processes_importing_at_once_all_succeed() {
    concurrent_imports(4);
}

/// How far a process has read the file `name`: the offset of its open descriptor of it, from
/// /proc (Linux); none while it has it not open.
fn read_offset(pid: u32, name: &Path) -> Option<u64> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    for fd in fds.flatten() {
        if std::fs::read_link(fd.path()).ok().as_deref() == Some(name) {
            let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
            let text = std::fs::read_to_string(info).ok()?;
            let pos = text.lines().find_map(|l| l.strip_prefix("pos:"))?;
            return pos.trim().parse().ok();
        }
    }
    None
}

/// A `kill -9` while a large bill is being imported leaves the ledger as the last command
/// left it: none of the bill's rows, no row for the bill; and the next import works. The
/// import is seen to be under way from outside, as an operator would: the process has read
/// a third of the bill through, past the look at its head, so its rows are going in; and the
/// write-ahead log has grown, so uncommitted pages are on disk (the bill's 40 MB of pages
/// outgrow the ledger's 16 MiB page cache, which spills them to the log).
#[test]
fn a_kill_9_during_an_import_leaves_the_ledger_as_it_was() {
    let env = Env::new();
    let ledger = env.path("ledger.sqlite3");
    let ledger_flag = ledger.display().to_string();
    let small = format!("{}.ALL.csv", iso(days_ago(9)));
    let small_rows = write_bill(&env.path(&small), days_ago(9), 100, 1);
    env.run(&["ledger", "import", &small, "--ledger", &ledger_flag])
        .expect(0);
    let large = format!("{}.ALL.csv", iso(days_ago(8)));
    let large_path = env.path(&large);
    let large_rows = write_bill(&large_path, days_ago(8), 300_000, 2);
    let size = std::fs::metadata(&large_path).unwrap().len();
    let large_path = large_path.canonicalize().unwrap();

    let mut child = env
        .command(&["ledger", "import", &large, "--ledger", &ledger_flag])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let wal = env.path("ledger.sqlite3-wal");
    let mut read_a_third = false;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the import ended ({status}) before its pages were seen in the log");
        }
        read_a_third =
            read_a_third || read_offset(child.id(), &large_path).is_some_and(|at| at > size / 3);
        if read_a_third && std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the import never got going"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{status}");

    assert_eq!(integrity(&ledger), "ok");
    assert_eq!(query(&ledger, "SELECT count(*) FROM bills"), 1);
    assert_eq!(
        query(&ledger, "SELECT count(*) FROM bill_rows") as u64,
        small_rows
    );
    let out = env
        .run(&["ledger", "import", &large, "--ledger", &ledger_flag])
        .expect(0);
    assert_eq!(out.json()[0]["outcome"], "imported");
    assert_eq!(
        query(&ledger, "SELECT count(*) FROM bill_rows") as u64,
        small_rows + large_rows
    );
    assert_eq!(integrity(&ledger), "ok");
}
