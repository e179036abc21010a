//! Bill benchmarks, with their own bills: a synthetic day written by the emulator's bill
//! writer (`bill::format`, the exact byte format: BOM, CRLF, backticks, summary row).
//!
//! cargo bench --bench bill
//!
//! Settings by environment: BENCH_BILL_ROWS (default 10000000 trades, about 10 million rows
//! and 2.5 GB), BENCH_BILL_DIR (default target/bench-bills; the generated bill is kept there
//! and reused), BENCH_BILL_ONLY (a comma list of parse, csv, download; default all).

use std::convert::Infallible;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use wxpay_ops::bill::format::{BillType, FeeRate};
use wxpay_ops::bill::parse::{Record, read};
use wxpay_ops::emulator::bills::write_trade_bill;
use wxpay_ops::emulator::synth::SyntheticDay;

const BILL_DATE: &str = "20261120";

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn wanted(part: &str) -> bool {
    std::env::var("BENCH_BILL_ONLY").map_or(true, |only| only.split(',').any(|p| p == part))
}

fn synthetic_day(trades: u64) -> SyntheticDay {
    SyntheticDay {
        mch_id: "10000100".into(),
        appid: "wx2421b1c4370ec43b".into(),
        bill_date: BILL_DATE.into(),
        trades,
        seed: 1,
    }
}

/// The bill of `trades` synthetic trades, written once and kept for later runs.
fn bill_file(trades: u64) -> PathBuf {
    let dir = std::env::var_os("BENCH_BILL_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-bills"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("bench folder");
    let path = dir.join(format!("{BILL_DATE}.ALL.{trades}.csv"));
    if path.exists() {
        return path;
    }
    let started = Instant::now();
    let partial = path.with_extension("partial");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&partial).expect("bench bill"));
    write_trade_bill(
        &mut out,
        BillType::All,
        synthetic_day(trades).into_rows(FeeRate(60)),
    )
    .expect("writing the bench bill");
    out.flush().expect("flush");
    std::fs::rename(&partial, &path).expect("rename");
    println!(
        "generated {} ({:.0} MiB) in {:.1} s",
        path.display(),
        mib(&path),
        started.elapsed().as_secs_f64()
    );
    path
}

fn mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1048576.0)
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Parse and self-check, visiting every record's key fields as a reconciliation would.
fn parse(path: &Path) {
    let started = Instant::now();
    let mut keys = 0u64;
    let mut refunds = 0i64;
    let report = read(
        File::open(path).expect("bench bill"),
        |record: &Record<'_>| {
            keys += (record.out_trade_no().len() + record.transaction_id().len()) as u64;
            refunds += record.refund_fee().0 + record.total_fee().0;
            Ok::<(), Infallible>(())
        },
    )
    .expect("the bench bill parses");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(report.is_consistent(), "self-check: {:?}", report.totals);
    assert!(keys > 0 && refunds > 0);
    let size = report.bytes as f64 / 1e6;
    println!(
        "parse + self-check: {} rows, {size:.0} MB in {elapsed:.2} s = {:.0} MB/s ({:.1} M rows/s); summary holds",
        report.rows,
        size / elapsed,
        report.rows as f64 / elapsed / 1e6,
    );
    if let Some(peak) = peak_rss_mib() {
        println!("  peak memory of the process: {peak:.0} MiB");
    }
}

fn main() {
    // `cargo test --benches` runs this binary without --bench; only measure when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let trades = setting("BENCH_BILL_ROWS", 10_000_000);
    let path = bill_file(trades);
    println!("bill: {} ({:.0} MiB)", path.display(), mib(&path));
    if wanted("parse") {
        parse(&path);
    }
    let _ = (Command::new("true"), Stdio::null());
}
