//! Ledger import benchmark, with its own bill: a synthetic day written by the emulator's bill
//! writer (the exact byte format of WeChat Pay's ALL bill), imported by the real binary with
//! `wxpay-ops ledger import FILE --ledger DB` into a new ledger.
//!
//! cargo bench --bench ledger_import
//!
//! Reported per run: the time, the peak memory of wxpay-ops (VmHWM, sampled), the rows in
//! the ledger (checked against the bill), and the database's size after the import against
//! the bill's. The synthetic day numbers its orders in time order (`SYN<day><index>`), so
//! the index on out_trade_no grows at its end; `scattered` prefixes each order number with
//! eight hex digits of its hash, so that the index takes them in no order, as a merchant
//! whose order numbers are random would have them.
//!
//! Settings by environment: BENCH_LEDGER_TRADES (default 10000000 trades, 10 million rows and
//! 2.6 GB), BENCH_LEDGER_ORDERS (a comma list of sequential, scattered; default both),
//! BENCH_LEDGER_RUNS (default 1), BENCH_LEDGER_DIR (default target/bench-ledger; the bills are
//! kept there and reused, the ledgers removed after each run), BENCH_LEDGER_KEEP (set: keep
//! the last ledger, for `sqlite3_analyzer` or EXPLAIN).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wxpay_ops::bill::format::{BillType, FeeRate, TradeRow};
use wxpay_ops::emulator::bills::write_trade_bill;
use wxpay_ops::emulator::synth::SyntheticDay;

const BILL_DATE: &str = "20261120";

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn folder() -> PathBuf {
    let dir = std::env::var_os("BENCH_LEDGER_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-ledger"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("bench folder");
    dir
}

/// FNV-1a: a stable hash of an order number, to scatter it.
fn fnv(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn scattered(mut row: TradeRow) -> TradeRow {
    row.out_trade_no = format!("{:08x}{}", fnv(&row.out_trade_no), row.out_trade_no);
    row
}

/// The bill of `trades` synthetic trades, its order numbers in time order or scattered,
/// written once and kept; its rows.
fn bill_file(trades: u64, order: &str) -> (PathBuf, u64) {
    let path = folder().join(format!("{BILL_DATE}.ALL.{trades}.{order}.csv"));
    let rows_path = path.with_extension("rows");
    if let Ok(rows) = std::fs::read_to_string(&rows_path) {
        return (path, rows.trim().parse().expect("a row count"));
    }
    let started = Instant::now();
    let partial = path.with_extension("partial");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&partial).expect("bench bill"));
    let day = SyntheticDay {
        mch_id: "1900000109".into(),
        appid: "wx2421b1c4370ec43b".into(),
        bill_date: BILL_DATE.into(),
        trades,
        seed: 1,
    };
    let rows = day.into_rows(FeeRate(60));
    let summary = match order {
        "scattered" => write_trade_bill(&mut out, BillType::All, rows.map(scattered)),
        _ => write_trade_bill(&mut out, BillType::All, rows),
    }
    .expect("writing the bench bill");
    out.flush().expect("flush");
    std::fs::rename(&partial, &path).expect("rename");
    std::fs::write(&rows_path, summary.count.to_string()).expect("row count");
    println!(
        "generated {} ({:.0} MiB, {} rows) in {:.1} s",
        path.display(),
        mib(&path),
        summary.count,
        started.elapsed().as_secs_f64()
    );
    (path, summary.count)
}

fn mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1048576.0)
}

/// Runs the real binary and samples its peak resident memory while it runs.
fn run_binary(args: &[&str]) -> (std::process::Output, f64, Option<f64>) {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_wxpay-ops"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary runs");
    let status_file = format!("/proc/{}/status", child.id());
    let sampler = std::thread::spawn(move || {
        let mut peak_kib: Option<f64> = None;
        while let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = (text.lines())
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            {
                peak_kib = Some(peak_kib.map_or(kib, |p| p.max(kib)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak_kib
    });
    let output = child.wait_with_output().expect("wait");
    let elapsed = started.elapsed().as_secs_f64();
    let peak = sampler.join().expect("sampler").map(|kib| kib / 1024.0);
    (output, elapsed, peak)
}

fn rows_in(ledger: &Path) -> u64 {
    let conn = rusqlite::Connection::open(ledger).expect("the ledger opens");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM bill_rows", [], |row| row.get(0))
        .expect("bill_rows");
    count as u64
}

fn import(bill: &Path, rows: u64, order: &str, run: u64) {
    let ledger = folder().join(format!("ledger-{order}.sqlite3"));
    for stale in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{stale}", ledger.display()));
    }
    let (output, elapsed, peak) = run_binary(&[
        "ledger",
        "import",
        &bill.display().to_string(),
        "--ledger",
        &ledger.display().to_string(),
        "--format",
        "json",
        "-q",
    ]);
    assert!(output.status.success(), "ledger import failed");
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(printed[0]["outcome"], "imported", "{printed}");
    assert_eq!(rows_in(&ledger), rows, "every row is in the ledger");
    let (bill_mib, ledger_mib) = (mib(bill), mib(&ledger));
    println!(
        "ledger import, {order} order numbers, run {run}: {rows} rows, {bill_mib:.0} MiB bill in \
         {elapsed:.2} s = {:.2} M rows/s; database {ledger_mib:.0} MiB = {:.2} × the bill; \
         peak memory of wxpay-ops {:.0} MiB",
        rows as f64 / elapsed / 1e6,
        ledger_mib / bill_mib,
        peak.unwrap_or(f64::NAN)
    );
    if std::env::var_os("BENCH_LEDGER_KEEP").is_none() {
        let _ = std::fs::remove_file(&ledger);
    }
}

fn main() {
    // `cargo test --benches` runs this binary without --bench; only measure when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let trades = setting("BENCH_LEDGER_TRADES", 10_000_000);
    let runs = setting("BENCH_LEDGER_RUNS", 1);
    let orders =
        std::env::var("BENCH_LEDGER_ORDERS").unwrap_or_else(|_| "sequential,scattered".to_owned());
    for order in orders.split(',') {
        let (bill, rows) = bill_file(trades, order);
        for run in 1..=runs {
            import(&bill, rows, order, run);
        }
    }
}
