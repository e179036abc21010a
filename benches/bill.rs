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
use wxpay_ops::bill::parse::{BillRecord, read};
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

/// CPU seconds of this process and of its waited-for children, from /proc (Linux; clock
/// ticks of 1/100 s).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    // utime, stime, cutime, cstime are fields 14 to 17 of stat: 11 to 14 after the name.
    (field(11) + field(12), field(13) + field(14))
}

/// Runs the real binary and samples its peak resident memory while it runs.
fn run_binary(args: &[&str], stdout: Stdio) -> (std::process::ExitStatus, f64, Option<f64>) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxpay-ops"))
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib: Option<f64> = None;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        {
            peak_kib = Some(peak_kib.map_or(kib, |p: f64| p.max(kib)));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    (
        status,
        started.elapsed().as_secs_f64(),
        peak_kib.map(|k| k / 1024.0),
    )
}

/// `bill parse --format csv` with stdout to a file.
fn csv_to_file(path: &Path) {
    let out_path = path.with_extension("parsed.csv");
    let out = File::create(&out_path).expect("output file");
    let (_, children_before) = cpu_seconds();
    let (status, elapsed, peak) = run_binary(
        &[
            "bill",
            "parse",
            &path.display().to_string(),
            "--format",
            "csv",
            "-q",
        ],
        Stdio::from(out),
    );
    assert!(status.success(), "bill parse failed");
    let (_, children_after) = cpu_seconds();
    let size = std::fs::metadata(path).map_or(0, |m| m.len()) as f64 / 1e6;
    let written = std::fs::metadata(&out_path).map_or(0, |m| m.len()) as f64 / 1e6;
    println!(
        "bill parse --format csv > file: {size:.0} MB in, {written:.0} MB out, {elapsed:.2} s = {:.0} MB/s \
         (CPU {:.2} s = {:.0} MB/s per CPU second); peak memory {:.0} MiB",
        size / elapsed,
        children_after - children_before,
        size / (children_after - children_before).max(0.01),
        peak.unwrap_or(f64::NAN)
    );
    let _ = std::fs::remove_file(out_path);
}

/// `bill download` of a synthetic day from the in-process emulator, with the binary's peak
/// memory.
fn download(trades: u64) {
    use wxpay_ops::emulator::merchant::{DEFAULT_APPIDS, DEFAULT_MCH_ID};
    use wxpay_ops::emulator::{Emulator, ServeOptions};
    let emulator = Emulator::start(ServeOptions::default()).expect("emulator");
    let day = (time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8))
        - time::Duration::days(2))
    .date();
    let compact = format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    );
    emulator
        .core()
        .add_synthetic_day(SyntheticDay {
            mch_id: DEFAULT_MCH_ID.into(),
            appid: DEFAULT_APPIDS[0].into(),
            bill_date: compact.clone(),
            trades,
            seed: 1,
        })
        .expect("synthetic day");
    let folder = tempfile::tempdir().expect("temporary folder");
    let config = emulator.profile().display().to_string();
    let out = folder.path().display().to_string();
    let (status, elapsed, peak) = run_binary(
        &[
            "--config", &config, "bill", "download", "--date", &compact, "--out", &out, "--format",
            "json", "-q",
        ],
        Stdio::null(),
    );
    assert!(status.success(), "bill download failed");
    let file = folder.path().join(DEFAULT_MCH_ID).join(format!(
        "{}-{}-{}.ALL.csv",
        &compact[..4],
        &compact[4..6],
        &compact[6..]
    ));
    println!(
        "bill download: {trades} synthetic trades, {:.0} MiB streamed to disk and checked in {elapsed:.1} s; \
         peak memory of wxpay-ops {:.0} MiB",
        mib(&file),
        peak.unwrap_or(f64::NAN)
    );
}

/// Parse and self-check, visiting every record's key fields as a reconciliation would.
fn parse(path: &Path) {
    let (cpu_before, _) = cpu_seconds();
    let started = Instant::now();
    let mut keys = 0u64;
    let mut refunds = 0i64;
    let report = read(
        File::open(path).expect("bench bill"),
        |record: &BillRecord<'_>| {
            keys += (record.out_trade_no().len() + record.transaction_id().len()) as u64;
            refunds += record.refund_fee().0 + record.total_fee().0;
            Ok::<(), Infallible>(())
        },
    )
    .expect("the bench bill parses");
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu_after, _) = cpu_seconds();
    assert!(report.is_consistent(), "self-check: {:?}", report.totals);
    assert!(keys > 0 && refunds > 0);
    let size = report.bytes as f64 / 1e6;
    let cpu = (cpu_after - cpu_before).max(0.01);
    println!(
        "parse + self-check: {} rows, {size:.0} MB in {elapsed:.2} s = {:.0} MB/s ({:.1} M rows/s; \
         CPU {cpu:.2} s = {:.0} MB/s per CPU second); summary holds",
        report.rows,
        size / elapsed,
        report.rows as f64 / elapsed / 1e6,
        size / cpu,
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
    if wanted("parse") || wanted("csv") {
        let path = bill_file(trades);
        println!("bill: {} ({:.0} MiB)", path.display(), mib(&path));
        if wanted("parse") {
            parse(&path);
        }
        if wanted("csv") {
            csv_to_file(&path);
        }
    }
    if wanted("download") {
        download(trades);
    }
}
