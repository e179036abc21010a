//! Month report benchmark, with its own ledger: a month of days of a million bill rows each
//! (30 million rows in `bill_rows`), each day's bill with its figures, a reconcile run a day
//! (two on every third day, the first superseded) with its summary and a thousand
//! differences, in every state.
//!
//! cargo bench --bench ledger_report
//!
//! The ledger is written in one transaction and deleted after the measurement, since a month
//! of million-row days takes about 3.4 GB; with BENCH_LEDGER_KEEP set it is kept, and a later
//! run reports the kept one instead of writing it again. Then the month is reported: one warm-up and BENCH_LEDGER_RUNS (default
//! 5) timed runs, each opening the ledger afresh as the command does, with min / median /
//! max; the report's figures are checked against the generator's own sums. With
//! BENCH_LEDGER_EXPORT set, the month's export to CSV is timed too (once).
//!
//! Settings by environment: BENCH_LEDGER_DAYS (default 30), BENCH_LEDGER_ROWS (rows a day,
//! default 1000000), BENCH_LEDGER_DIR (default target/bench-ledger).

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{Connection, params};
use time::macros::date;

use wxpay_ops::ledger::export::{MonthExport, Table};
use wxpay_ops::ledger::report::{Figures, month_report};
use wxpay_ops::ledger::{LEDGER_FILE, Ledger};
use wxpay_ops::time::YearMonth;

const MCH_ID: &str = "1900000109";
/// Differences a day's run records.
const DIFFERENCES: u64 = 1000;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
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

/// Row `i` of a day: every tenth a refund; amounts from 1.00 to 1000.99 yuan, fees at 0.6%.
fn row(i: u64) -> (bool, i64, i64) {
    let refund = i % 10 == 9;
    let amount = 100 + (i * 7919 % 100_000) as i64;
    (refund, amount, amount * 6)
}

/// Writes the ledger's month; returns each day's figures as written.
fn write_ledger(path: &Path, month: YearMonth, days: u64, rows: u64) -> Vec<Figures> {
    // The schema as the ledger makes it; then a plain connection, without the ledger's
    // write-ahead log and syncing, since a generator that is killed is simply run again.
    drop(Ledger::open(path).expect("ledger"));
    let mut conn = Connection::open(path).expect("ledger");
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000;",
    )
    .expect("pragmas");
    let tx = conn.transaction().expect("transaction");
    let mut all = Vec::new();
    {
        let mut bill = tx
            .prepare(
                "INSERT INTO bills (mch_id, day, bill_type, path, sha256, bytes, rows,
                    consistent, recorded_at, payment_count, payment_fen, refund_count,
                    refund_fen, settlement_fen, fee_units, imported_at)
                 VALUES (?1, ?2, 'ALL', ?3, ?4, 0, ?5, 1, '2026-12-01T09:00:00+08:00', ?6, ?7,
                    ?8, ?9, ?10, ?11, '2026-12-01T09:00:00+08:00')",
            )
            .expect("statement");
        let mut bill_row = tx
            .prepare(
                "INSERT INTO bill_rows VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .expect("statement");
        let mut run = tx
            .prepare(
                "INSERT INTO runs (mch_id, day, started_at, user, bill_path, bill_sha256,
                    export_path, export_sha256, mapping, balanced, summary)
                 VALUES (?1, ?2, '2026-12-01T09:00:00+08:00', 'ops', 'b', 'x', 'e', 'y', '{}',
                    0, ?3)",
            )
            .expect("statement");
        let mut difference = tx
            .prepare(
                "INSERT INTO differences (run_id, mch_id, day, category, kind, out_trade_no,
                    bill_fen, note, state) VALUES (?1, ?2, ?3, 'missing_in_export', 'payment',
                    ?4, 100, '', ?5)",
            )
            .expect("statement");
        for (index, date) in month.days().take(days as usize).enumerate() {
            let day = date.to_string();
            let compact = day.replace('-', "");
            let start = date.midnight().assume_offset(time::macros::offset!(+8));
            let mut figures = Figures::default();
            for i in 0..rows {
                let (refund, amount, fee) = row(i);
                if refund {
                    figures.refund_count += 1;
                    figures.refund_fen += i128::from(amount);
                } else {
                    figures.payment_count += 1;
                    figures.payment_fen += i128::from(amount);
                    figures.settlement_fen += i128::from(amount);
                }
                figures.fee_units += i128::from(fee);
            }
            let id = index as i64 + 1;
            bill.execute(params![
                MCH_ID,
                day,
                format!("{day}.ALL.csv"),
                format!("{id:064}"),
                rows as i64,
                figures.payment_count as i64,
                figures.payment_fen as i64,
                figures.refund_count as i64,
                figures.refund_fen as i64,
                figures.settlement_fen as i64,
                figures.fee_units as i64,
            ])
            .expect("bill");
            let bill_id = tx.last_insert_rowid();
            for i in 0..rows {
                let (refund, amount, fee) = row(i);
                let time = start.unix_timestamp() + (i * 86_399 / rows) as i64;
                let order = format!("SYN{compact}{i:010}");
                let transaction = format!("4200{compact}{i:016}");
                let (refund_no, refund_id) = if refund {
                    (
                        Some(format!("RSYN{compact}{i:010}")),
                        Some(format!("50300{compact}{i:016}")),
                    )
                } else {
                    (None, None)
                };
                bill_row
                    .execute(params![
                        bill_id,
                        i as i64 + 2,
                        i64::from(refund),
                        time,
                        order,
                        transaction,
                        refund_no,
                        refund_id,
                        amount,
                        amount,
                        fee,
                        "SUCCESS",
                    ])
                    .expect("bill row");
            }
            let runs = if index % 3 == 0 { 2 } else { 1 };
            for _ in 0..runs {
                run.execute(params![MCH_ID, day, "{}"]).expect("run");
                let run_id = tx.last_insert_rowid();
                for n in 0..DIFFERENCES {
                    let state = ["open", "closed", "resolved", "open", "closed"][n as usize % 5];
                    let order = format!("SYN{compact}{:010}", n * 997);
                    difference
                        .execute(params![run_id, MCH_ID, day, order, state])
                        .expect("difference");
                }
            }
            all.push(figures);
            eprintln!("  {day}: {rows} rows");
        }
    }
    tx.execute(
        "UPDATE differences SET state = 'superseded' WHERE state = 'open' AND run_id IN
            (SELECT id FROM runs r WHERE EXISTS
                (SELECT 1 FROM runs later WHERE later.day = r.day AND later.id > r.id))",
        [],
    )
    .expect("supersede");
    tx.commit().expect("commit");
    all
}

fn main() {
    let days = setting("BENCH_LEDGER_DAYS", 30);
    let rows = setting("BENCH_LEDGER_ROWS", 1_000_000);
    let runs = setting("BENCH_LEDGER_RUNS", 5).max(1);
    let month = YearMonth::of(date!(2026 - 11 - 01));
    let path = folder().join(format!("{days}x{rows}.{LEDGER_FILE}"));
    let mut expected = None;
    if !path.exists() {
        eprintln!("writing {} ({days} days of {rows} rows)", path.display());
        let started = Instant::now();
        let building = path.with_extension("building");
        let _ = std::fs::remove_file(&building);
        expected = Some(write_ledger(&building, month, days, rows));
        std::fs::rename(&building, &path).expect("ledger in place");
        eprintln!("written in {:.1} s", started.elapsed().as_secs_f64());
    }
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let counted: i64 = Connection::open(&path)
        .and_then(|c| c.query_row("SELECT sum(rows) FROM bills", [], |r| r.get(0)))
        .expect("rows");
    println!(
        "ledger: {} ({counted} bill rows, {:.2} GB)",
        path.display(),
        bytes as f64 / 1e9
    );

    let mut seconds = Vec::new();
    for round in 0..=runs {
        let started = Instant::now();
        let ledger = Ledger::open(&path).expect("ledger");
        let report = month_report(&ledger, MCH_ID, month).expect("report");
        let elapsed = started.elapsed().as_secs_f64();
        if round == 0 {
            let known = report.days.iter().filter(|d| d.figures.is_some()).count();
            assert_eq!(known as u64, days, "a figure for each day written");
            if let Some(expected) = &expected {
                for (day, figures) in report.days.iter().zip(expected) {
                    assert_eq!(day.figures.map(|(_, f)| f), Some(*figures), "{}", day.date);
                }
            }
            let counts = report.differences;
            assert_eq!(counts.found, days * DIFFERENCES);
            println!(
                "month {month}: {} differences found, {} closed, {} open",
                counts.found, counts.closed, counts.open
            );
        } else {
            seconds.push(elapsed);
        }
    }
    seconds.sort_by(f64::total_cmp);
    println!(
        "report of {days} days x {rows} rows: {:.4} / {:.4} / {:.4} s (min / median / max of {runs})",
        seconds[0],
        seconds[seconds.len() / 2],
        seconds[seconds.len() - 1]
    );

    if std::env::var_os("BENCH_LEDGER_EXPORT").is_some() {
        let ledger = Ledger::open(&path).expect("ledger");
        let export = MonthExport::begin(&ledger, MCH_ID, month).expect("export");
        for table in Table::ALL {
            let started = Instant::now();
            let mut sink = std::io::sink();
            let written = export.write_csv(table, &mut sink).expect("export");
            println!(
                "export of {}: {written} rows in {:.1} s",
                table.name(),
                started.elapsed().as_secs_f64()
            );
        }
    }

    if std::env::var_os("BENCH_LEDGER_KEEP").is_none() {
        std::fs::remove_file(&path).expect("the generated ledger deleted");
        for sidecar in ["-wal", "-shm"] {
            let mut name = path.clone().into_os_string();
            name.push(sidecar);
            let _ = std::fs::remove_file(name);
        }
    }
}
