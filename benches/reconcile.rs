//! Reconciliation benchmark, with its own data: the emulator's synthetic days, their ALL
//! bill in the exact byte format, and the merchant export with known differences.
//!
//! cargo bench --bench reconcile
//!
//! Each size runs in a child process of its own, so that its peak memory (VmHWM) is its
//! own. Settings by environment: BENCH_RECONCILE_SIZES (trades per day, default
//! 100000,1000000,10000000), BENCH_RECONCILE_DIR (default target/bench-reconcile; the
//! generated files are kept there and reused), BENCH_RECONCILE_PHASES (set: also time the
//! export alone, the bill alone, and the bill matched on one thread), BENCH_RECONCILE_NO_CHECK
//! (set: skip checking the differences, for profiling), BENCH_RECONCILE_NO_FLOOR (set: skip
//! timing the yardstick, the csv crate counting the records of both files).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use wxpay_ops::bill::format::{BillType, FeeRate};
use wxpay_ops::emulator::bills::write_trade_bill;
use wxpay_ops::emulator::synth::{Differences, Expected, SyntheticDay, TradeKind, write_export};
use wxpay_ops::reconcile::bill::{Files, reconcile_files};
use wxpay_ops::reconcile::export::{Mapping, ReadOptions};
use wxpay_ops::reconcile::{Category, Options, Outcome, Reconciled};

const CHILD: &str = "BENCH_RECONCILE_CHILD";

fn day(trades: u64) -> SyntheticDay {
    SyntheticDay {
        mch_id: "1900000109".into(),
        appid: "wx2421b1c4370ec43b".into(),
        bill_date: "20261120".into(),
        trades,
        seed: 7,
    }
}

fn differences(trades: u64) -> Differences {
    let each = (trades / 10_000).max(5);
    Differences {
        missing_in_merchant: each,
        missing_in_wechat: each,
        amount_mismatch: each,
        status_mismatch: each,
        near_midnight: 5,
        duplicates: each,
    }
}

fn folder() -> PathBuf {
    let dir = std::env::var_os("BENCH_RECONCILE_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-reconcile"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("bench folder");
    dir
}

struct Data {
    bill: PathBuf,
    export: PathBuf,
    expected: PathBuf,
}

/// The bill, the export and what reconciling them must find, written once.
fn data(trades: u64) -> Data {
    let dir = folder();
    let data = Data {
        bill: dir.join(format!("2026-11-20.ALL.{trades}.csv")),
        export: dir.join(format!("orders.{trades}.csv")),
        expected: dir.join(format!("expected.{trades}.json")),
    };
    if data.expected.exists() {
        return data;
    }
    let started = Instant::now();
    let day = day(trades);
    let mut bill = BufWriter::with_capacity(1 << 20, File::create(&data.bill).expect("bill"));
    write_trade_bill(&mut bill, BillType::All, day.clone().into_rows(FeeRate(60))).expect("bill");
    bill.flush().expect("bill");
    let mut export = BufWriter::with_capacity(1 << 20, File::create(&data.export).expect("export"));
    let expected =
        write_export(&day, &differences(trades), FeeRate(60), &mut export).expect("export");
    export.flush().expect("export");
    std::fs::write(&data.expected, serde_json::to_vec(&expected).unwrap()).expect("expected");
    eprintln!(
        "generated {trades} trades in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    data
}

/// User and system CPU seconds of this process so far: a figure that other processes on a
/// shared machine disturb less than the wall time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses: utime and stime are the
    // 12th and 13th, in clock ticks of 1/100 s.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_memory_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Checks the outcome against what the export's writer placed, entry by entry.
fn check(outcome: &Outcome, expected: &Expected) {
    let listed = &expected.difference_orders;
    let orders = |category: Category| -> BTreeSet<&str> {
        outcome
            .differences
            .iter()
            .filter(|d| d.category == category)
            .map(|d| d.out_trade_no.as_str())
            .collect()
    };
    fn set(list: &[String]) -> BTreeSet<&str> {
        list.iter().map(String::as_str).collect()
    }
    for (category, list) in [
        (Category::MissingInExport, &listed.missing_in_merchant),
        (Category::MissingInBill, &listed.missing_in_wechat),
        (Category::AmountMismatch, &listed.amount_mismatch),
        (Category::StatusMismatch, &listed.status_mismatch),
        (Category::CrossDay, &listed.near_midnight),
        (Category::Duplicate, &listed.duplicates),
    ] {
        assert!(orders(category) == set(list), "{category:?} differs");
    }
    // Refunded orders are a second entry, matched unless their order differs in a way that
    // touches the refund.
    let touching: BTreeSet<&str> = [&listed.missing_in_merchant, &listed.duplicates]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let status: BTreeSet<&str> = set(&listed.status_mismatch);
    let day = &expected.day;
    let refunds_matched = (0..day.trades)
        .map(|i| day.trade(i))
        .filter(|t| {
            t.kind == TradeKind::Refunded
                && !touching.contains(t.out_trade_no.as_str())
                && !status.contains(t.out_trade_no.as_str())
        })
        .count() as u64;
    let status_refunded = listed
        .status_mismatch
        .iter()
        .filter(|n| day.trade(n[11..].parse().unwrap()).kind == TradeKind::Refunded)
        .count() as u64;
    assert_eq!(
        outcome.category(Category::Matched).count,
        expected.matched + refunds_matched + status_refunded,
        "matched entries"
    );
    assert_eq!(outcome.bill.rows, expected.bill_rows);
    assert_eq!(outcome.export.rows, expected.export_rows);
}

fn child(trades: u64) {
    let data = data(trades);
    let expected: Expected =
        serde_json::from_slice(&std::fs::read(&data.expected).unwrap()).unwrap();
    let files = Files {
        bill: &data.bill,
        export: &data.export,
        previous_bill: None,
        next_bill: None,
    };
    let options = Options {
        mch_id: Some("1900000109".into()),
        cutoff_window: 300,
        ..Options::default()
    };
    if std::env::var_os("BENCH_RECONCILE_PHASES").is_some() {
        let t = Instant::now();
        let export = wxpay_ops::reconcile::export::read_export(
            File::open(&data.export).unwrap(),
            &Mapping::emulator_export(),
            &ReadOptions::default(),
        )
        .unwrap();
        eprintln!("export alone: {:.3} s", t.elapsed().as_secs_f64());
        if std::env::var_os("BENCH_RECONCILE_EXPORT_ONLY").is_some() {
            return;
        }
        let t = Instant::now();
        let mut n = 0u64;
        wxpay_ops::reconcile::bill::read_bill(&data.bill, |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        eprintln!("bill alone: {:.3} s ({n} rows)", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut matcher = wxpay_ops::reconcile::Matcher::new(&export, Options::default());
        wxpay_ops::reconcile::bill::read_bill(&data.bill, |row| {
            matcher.row(row).unwrap();
            Ok(())
        })
        .unwrap();
        eprintln!("bill matched inline: {:.3} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let outcome = matcher.finish();
        eprintln!(
            "finish: {:.3} s ({} differences)",
            t.elapsed().as_secs_f64(),
            outcome.differences.len()
        );
    }
    let cpu = cpu_seconds();
    let started = Instant::now();
    let Reconciled {
        outcome, report, ..
    } = reconcile_files(
        &files,
        &Mapping::emulator_export(),
        &ReadOptions::default(),
        options,
    )
    .expect("reconcile");
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let peak = peak_memory_kib();
    assert!(report.is_consistent());
    let checked = std::env::var_os("BENCH_RECONCILE_NO_CHECK").is_none();
    if checked {
        check(&outcome, &expected);
    }
    let bytes = std::fs::metadata(&data.bill).unwrap().len()
        + std::fs::metadata(&data.export).unwrap().len();
    // The yardstick, timed here on the same machine at the same moment: counting
    // the records of both files with the csv crate, on one thread.
    let floor = (std::env::var_os("BENCH_RECONCILE_NO_FLOOR").is_none()).then(|| {
        let started = Instant::now();
        let records: u64 = [&data.bill, &data.export]
            .into_iter()
            .map(|path| count_records(path))
            .sum();
        (started.elapsed().as_secs_f64(), records)
    });
    println!(
        "{trades:>9} trades: {:>9} bill rows + {:>9} export rows ({:.2} GB) in {wall:.3} s (CPU {cpu:.2} s), {:.1} M rows/s, {:.0} MB/s, peak memory {} MiB; {} differences, {}",
        outcome.bill.rows,
        outcome.export.rows,
        bytes as f64 / 1e9,
        (outcome.bill.rows + outcome.export.rows) as f64 / wall / 1e6,
        bytes as f64 / wall / 1e6,
        peak / 1024,
        outcome.differences.len(),
        if checked {
            "all as expected"
        } else {
            "not checked"
        },
    );
    if let Some((seconds, records)) = floor {
        println!(
            "{trades:>9} trades: counting the {records} records of both files with the csv crate took {seconds:.3} s"
        );
    }
}

fn count_records(path: &Path) -> u64 {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .expect("bench file");
    let mut record = csv::ByteRecord::new();
    let mut records = 0;
    while reader.read_byte_record(&mut record).expect("csv") {
        records += 1;
    }
    records
}

fn main() {
    if let Ok(trades) = std::env::var(CHILD) {
        child(trades.parse().expect("trades"));
        return;
    }
    let sizes =
        std::env::var("BENCH_RECONCILE_SIZES").unwrap_or_else(|_| "100000,1000000,10000000".into());
    let me = std::env::current_exe().expect("the bench binary");
    for size in sizes.split(',') {
        let trades: u64 = size.trim().parse().expect("BENCH_RECONCILE_SIZES: numbers");
        data(trades);
        // Twice: the first run warms the page cache, the second is reported.
        for _ in 0..2 {
            let status = Command::new(&me)
                .env(CHILD, trades.to_string())
                .arg("--bench")
                .status()
                .expect("child run");
            assert!(status.success());
        }
    }
}
