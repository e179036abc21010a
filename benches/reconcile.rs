//! Reconciliation benchmark, with its own data: the emulator's synthetic days, their ALL
//! bill in the exact byte format, and the merchant export with known differences.
//!
//! cargo bench --bench reconcile
//!
//! For each size: at 100k trades or fewer, the fast engine is checked against the reference
//! engine (identical outcome) and the reference is timed; then one warm-up and
//! BENCH_RECONCILE_RUNS (default 5) timed runs of the fast engine at each thread count, each
//! in a child process of its own (so that its peak memory, VmHWM, is its own), interleaved
//! with the same reconciliation in DuckDB (`reconcile_duckdb.py`, a SQL full outer join),
//! and min/median/max of each. DuckDB's Python package is installed into target/ for the
//! bench if it is missing; where it cannot be, the bench says so and goes on without it.
//!
//! Settings by environment: BENCH_RECONCILE_SIZES (trades per day, default
//! 100000,1000000,10000000), BENCH_RECONCILE_THREADS (default 1,2), BENCH_RECONCILE_RUNS,
//! BENCH_RECONCILE_DIR (default target/bench-reconcile; the generated files are kept there
//! and reused), BENCH_RECONCILE_PHASES (set: also time the export alone, the bill alone, and
//! the bill matched on one thread), BENCH_RECONCILE_NO_CHECK (set: skip checking the
//! differences, for profiling), BENCH_RECONCILE_NO_DUCKDB (set: skip DuckDB).
//!
//! BENCH_RECONCILE_LEDGER (set): instead, the cost of the ledger. For each size, the real
//! binary's `reconcile` of the day with `--no-ledger`, with a new ledger (both inputs hashed,
//! the run and its differences recorded), and with a new ledger in which the bill was
//! recorded first, as `bill download` records it (untimed; then only the export is hashed),
//! in turn, one warm-up and BENCH_RECONCILE_RUNS timed rounds, and the ratios of the medians.

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
use wxpay_ops::reconcile::{Category, Options, Reconciled, Reconciliation};

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
        missing_in_export: each,
        missing_in_bill: each,
        amount_mismatch: each,
        status_mismatch: each,
        cross_day: 5,
        duplicate: each,
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
    // Files of an earlier version (whose expected.json no longer reads) are made again.
    let current = std::fs::read(&data.expected)
        .ok()
        .is_some_and(|bytes| serde_json::from_slice::<Expected>(&bytes).is_ok());
    if current {
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
fn check(outcome: &Reconciliation, expected: &Expected) {
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
        (Category::MissingInExport, &listed.missing_in_export),
        (Category::MissingInBill, &listed.missing_in_bill),
        (Category::AmountMismatch, &listed.amount_mismatch),
        (Category::StatusMismatch, &listed.status_mismatch),
        (Category::CrossDay, &listed.cross_day),
        (Category::Duplicate, &listed.duplicate),
    ] {
        assert!(orders(category) == set(list), "{category:?} differs");
    }
    // Refunded orders are a second entry, matched unless their order differs in a way that
    // touches the refund.
    let touching: BTreeSet<&str> = [&listed.missing_in_export, &listed.duplicate]
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

fn child(trades: u64, threads: usize) {
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
        threads,
        ..Options::default()
    };
    let read_options = ReadOptions {
        threads,
        ..ReadOptions::default()
    };
    if std::env::var_os(REFERENCE).is_some() {
        compare_engines(&files, &read_options, options);
        return;
    }
    if std::env::var_os("BENCH_RECONCILE_PHASES").is_some() {
        let t = Instant::now();
        let export = wxpay_ops::reconcile::export::read_export(
            File::open(&data.export).unwrap(),
            &Mapping::default(),
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
    } = reconcile_files(&files, &Mapping::default(), &read_options, options).expect("reconcile");
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let peak = peak_memory_kib();
    assert!(report.is_consistent());
    let checked = std::env::var_os("BENCH_RECONCILE_NO_CHECK").is_none();
    if checked {
        check(&outcome, &expected);
    }
    // For the parent: wall seconds, CPU seconds, peak KiB.
    println!(
        "RESULT {wall} {cpu} {peak} {} {} {}",
        outcome.bill.rows,
        outcome.export.rows,
        if checked { "checked" } else { "unchecked" }
    );
}

/// The fast engine against the reference engine on the same files: the same outcome,
/// report and export, and how long each took.
fn compare_engines(files: &Files<'_>, read_options: &ReadOptions, options: Options) {
    let mapping = Mapping::default();
    let started = Instant::now();
    let fast = reconcile_files(files, &mapping, read_options, options.clone()).expect("fast");
    let fast_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let reference =
        wxpay_ops::reconcile::reference::reconcile(files, &mapping, read_options, options)
            .expect("reference");
    let reference_seconds = started.elapsed().as_secs_f64();
    assert!(fast.outcome == reference.outcome, "the engines differ");
    assert!(fast.report == reference.report, "the reports differ");
    assert_eq!(
        format!("{:?}", fast.export),
        format!("{:?}", reference.export)
    );
    println!(
        "fast == reference: {} differences, {} entries matched; reference {reference_seconds:.2} s, fast {fast_seconds:.3} s ({:.0}x)",
        fast.outcome.differences.len(),
        fast.outcome.category(Category::Matched).count,
        reference_seconds / fast_seconds
    );
}

const REFERENCE: &str = "BENCH_RECONCILE_REFERENCE";
const THREADS: &str = "BENCH_RECONCILE_CHILD_THREADS";

/// One timed run: wall and CPU seconds, peak memory.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: f64,
    cpu: f64,
    peak_kib: u64,
}

fn run_child(me: &Path, trades: u64, threads: usize, extra: Option<&str>) -> Option<Run> {
    let mut command = Command::new(me);
    command
        .env(CHILD, trades.to_string())
        .env(THREADS, threads.to_string())
        .arg("--bench");
    if let Some(name) = extra {
        command.env(name, "1");
    }
    let output = command.output().expect("child run");
    std::io::stderr().write_all(&output.stderr).ok();
    assert!(output.status.success(), "the child run failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut result = None;
    for line in stdout.lines() {
        match line.strip_prefix("RESULT ") {
            Some(fields) => {
                let fields: Vec<&str> = fields.split(' ').collect();
                result = Some(Run {
                    wall: fields[0].parse().unwrap(),
                    cpu: fields[1].parse().unwrap(),
                    peak_kib: fields[2].parse().unwrap(),
                });
            }
            None => println!("{line}"),
        }
    }
    result
}

/// A Python that imports duckdb, installing the package into target/ if need be.
fn duckdb_python() -> Result<Option<PathBuf>, String> {
    if std::env::var_os("BENCH_RECONCILE_NO_DUCKDB").is_some() {
        return Ok(None);
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-python");
    let imports = |path: &Path| {
        Command::new("python3")
            .args(["-c", "import duckdb"])
            .env("PYTHONPATH", path)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if imports(&target) {
        return Ok(Some(target));
    }
    eprintln!(
        "installing DuckDB's Python package into {} for the bench",
        target.display()
    );
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--target"])
        .arg(&target)
        .arg("duckdb")
        .status();
    match installed {
        Ok(status) if status.success() && imports(&target) => Ok(Some(target)),
        Ok(status) => Err(format!("pip install duckdb failed ({status})")),
        Err(e) => Err(format!("python3 could not be run: {e}")),
    }
}

fn run_duckdb(python_path: &Path, data: &Data, threads: usize) -> (f64, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reconcile_duckdb.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(&data.bill)
        .arg(&data.export)
        .arg(threads.to_string())
        .env("PYTHONPATH", python_path)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "DuckDB failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("DuckDB's JSON");
    (
        result["seconds"].as_f64().unwrap(),
        result["categories"].to_string(),
    )
}

/// min / median / max.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[0],
        values[values.len() / 2],
        values[values.len() - 1],
    )
}

/// A ledger at `path`, new, or (`bill`) with the day's bill recorded as `bill download`
/// records a bill it saved (its facts and sha256, not its rows).
fn new_ledger(path: &Path, bill: Option<&Path>) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::fs::remove_file(name).ok();
    }
    if let Some(bill) = bill {
        use wxpay_ops::ledger::{Ledger, bills};
        let mut ledger = Ledger::open(path).expect("the ledger opens");
        let mut writer = bills::BillWriter::new(&mut ledger, Some("1900000109")).expect("writes");
        let file = bills::BillFile::find(bill).expect("the bill is a bill");
        writer
            .record(&file, bills::Mode::Record)
            .expect("the bill is recorded");
        writer.commit().expect("committed");
    }
}

/// The wall seconds of the binary's `reconcile` of one size, recorded in `ledger` or not.
fn run_binary(data: &Data, ledger: Option<&Path>) -> f64 {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wxpay-ops"));
    command
        .args([
            "--format",
            "json",
            "reconcile",
            "--mch-id",
            "1900000109",
            "--bill",
        ])
        .arg(&data.bill)
        .arg("--export")
        .arg(&data.export)
        .stdout(std::process::Stdio::null());
    match ledger {
        Some(path) => command.arg("--ledger").arg(path),
        None => command.arg("--no-ledger"),
    };
    let started = Instant::now();
    let status = command.status().expect("wxpay-ops runs");
    let wall = started.elapsed().as_secs_f64();
    // 1: the day has differences, as the generated days do.
    assert_eq!(status.code(), Some(1), "reconcile failed");
    wall
}

/// `reconcile` through the binary with and without the ledger.
fn ledger_cost(sizes: &str, runs: usize) {
    let ledger = folder().join("ledger.sqlite3");
    println!(
        "{runs} runs after one warm-up, without the ledger, with a new one, and with one that \
         has the bill, in turn"
    );
    for size in sizes.split(',') {
        let trades: u64 = size.trim().parse().expect("BENCH_RECONCILE_SIZES: numbers");
        let data = data(trades);
        let mut times: [Vec<f64>; 3] = Default::default();
        for run in 0..=runs {
            let without = run_binary(&data, None);
            new_ledger(&ledger, None);
            let new = run_binary(&data, Some(&ledger));
            new_ledger(&ledger, Some(&data.bill));
            let with_bill = run_binary(&data, Some(&ledger));
            if run > 0 {
                for (times, t) in times.iter_mut().zip([without, new, with_bill]) {
                    times.push(t);
                }
            }
        }
        let [without, new, with_bill] = times.map(spread);
        let line = |(low, median, high): (f64, f64, f64)| {
            format!(
                "{low:.3} / {median:.3} / {high:.3} s ({:+.1}%)",
                (median / without.1 - 1.0) * 100.0
            )
        };
        println!(
            "{trades:>9} trades (min / median / max, and the medians against --no-ledger):\n  \
             --no-ledger            {}\n  \
             new ledger             {}\n  \
             ledger has the bill    {}",
            line(without),
            line(new),
            line(with_bill)
        );
    }
}

fn main() {
    if let Ok(trades) = std::env::var(CHILD) {
        let threads = std::env::var(THREADS).map_or(1, |t| t.parse().expect("threads"));
        child(trades.parse().expect("trades"), threads);
        return;
    }
    let sizes =
        std::env::var("BENCH_RECONCILE_SIZES").unwrap_or_else(|_| "100000,1000000,10000000".into());
    let threads: Vec<usize> = std::env::var("BENCH_RECONCILE_THREADS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .map(|t| t.trim().parse().expect("BENCH_RECONCILE_THREADS: numbers"))
        .collect();
    let runs: usize = std::env::var("BENCH_RECONCILE_RUNS").map_or(5, |r| r.parse().expect("runs"));
    if std::env::var_os("BENCH_RECONCILE_LEDGER").is_some() {
        ledger_cost(&sizes, runs);
        return;
    }
    let me = std::env::current_exe().expect("the bench binary");
    let duckdb = match duckdb_python() {
        Ok(found) => found,
        Err(why) => {
            println!("DuckDB is not available here ({why}): timing wxpay-ops alone");
            None
        }
    };
    let machine = std::thread::available_parallelism().map_or(1, usize::from);
    println!("{machine} cores; {runs} runs after one warm-up, each engine in turn");
    for size in sizes.split(',') {
        let trades: u64 = size.trim().parse().expect("BENCH_RECONCILE_SIZES: numbers");
        let data = data(trades);
        if trades <= 100_000 {
            run_child(&me, trades, *threads.last().unwrap_or(&1), Some(REFERENCE));
        }
        let mut ours: Vec<Vec<Run>> = vec![Vec::new(); threads.len()];
        let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); threads.len()];
        let mut categories = String::new();
        for run in 0..=runs {
            for (i, &n) in threads.iter().enumerate() {
                let result = run_child(&me, trades, n, None).expect("a timed run");
                let duck = duckdb.as_ref().map(|python| run_duckdb(python, &data, n));
                // The first round warms the page cache and is not counted.
                if run > 0 {
                    ours[i].push(result);
                    if let Some((seconds, found)) = duck {
                        theirs[i].push(seconds);
                        categories = found;
                    }
                }
            }
        }
        for (i, &n) in threads.iter().enumerate() {
            let (low, median, high) = spread(ours[i].iter().map(|r| r.wall).collect());
            let (_, cpu, _) = spread(ours[i].iter().map(|r| r.cpu).collect());
            let peak = ours[i].iter().map(|r| r.peak_kib).max().unwrap_or(0);
            print!(
                "{trades:>9} trades, {n} thread(s): wxpay-ops {low:.3} / {median:.3} / {high:.3} s (min/median/max; CPU {cpu:.2} s, peak {} MiB)",
                peak / 1024
            );
            if theirs[i].is_empty() {
                println!();
            } else {
                let (d_low, d_median, d_high) = spread(theirs[i].clone());
                println!(
                    "; DuckDB {d_low:.3} / {d_median:.3} / {d_high:.3} s; ratio of medians {:.2}",
                    median / d_median
                );
            }
        }
        if !categories.is_empty() {
            println!("{trades:>9} trades: DuckDB's categories {categories}");
        }
    }
}
