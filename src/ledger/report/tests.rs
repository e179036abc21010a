//! The report against a month whose facts are written here in SQL (the bill and run
//! recorders are other parts of the ledger) and whose figures are worked out by hand.

use rusqlite::params;
use time::macros::date;

use super::*;
use crate::ledger::LEDGER_FILE;

const MCH: &str = "1900000109";

fn ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join(LEDGER_FILE)).unwrap();
    (dir, ledger)
}

fn november() -> YearMonth {
    YearMonth::of(date!(2026 - 11 - 01))
}

/// Records a bill; `figures` are payment count and fen, refund count and fen, settlement
/// fen, fee units (none for a fund-flow bill).
fn bill(ledger: &Ledger, mch: &str, day: &str, kind: &str, figures: Option<[i64; 6]>) -> i64 {
    let [pc, pf, rc, rf, sf, fu] = figures.map_or([None; 6], |f| f.map(Some));
    ledger
        .conn()
        .execute(
            "INSERT INTO bills (mch_id, day, bill_type, path, sha256, bytes, rows, recorded_at,
                payment_count, payment_fen, refund_count, refund_fen, settlement_fen, fee_units)
             VALUES (?1, ?2, ?3, 'x.csv', hex(randomblob(32)), 1, 1, '2026-12-01T09:00:00+08:00',
                ?4, ?5, ?6, ?7, ?8, ?9)",
            params![mch, day, kind, pc, pf, rc, rf, sf, fu],
        )
        .unwrap();
    ledger.conn().last_insert_rowid()
}

/// The summary `reconcile --out` writes, reduced to the bill's totals it holds.
fn summary(payments: (u64, i64), refunds: (u64, i64), settlement: i64, fees: &str) -> String {
    serde_json::json!({
        "day": "x", "balanced": false, "differences": 0,
        "bill": {
            "file": "x", "rows": payments.0 + refunds.0,
            "payments": {"count": payments.0, "amount": payments.1},
            "refunds": {"count": refunds.0, "amount": refunds.1},
            "settlement_fen": settlement, "fees_yuan": fees,
            "net_settlement_yuan": "0", "summary_consistent": true, "summary_checks": []
        },
        "export": {}, "categories": {}
    })
    .to_string()
}

fn run(ledger: &Ledger, mch: &str, day: &str, summary: &str) -> i64 {
    ledger
        .conn()
        .execute(
            "INSERT INTO runs (mch_id, day, started_at, user, bill_path, bill_sha256, export_path,
                export_sha256, mapping, balanced, summary)
             VALUES (?1, ?2, '2026-12-01T09:00:00+08:00', 'ops', 'b', 'x', 'e', 'y', '{}', 0, ?3)",
            params![mch, day, summary],
        )
        .unwrap();
    ledger.conn().last_insert_rowid()
}

fn differences(ledger: &Ledger, run: i64, day: &str, states: &[&str]) {
    for (n, state) in states.iter().enumerate() {
        ledger
            .conn()
            .execute(
                "INSERT INTO differences (run_id, mch_id, day, category, kind, out_trade_no,
                    note, state) VALUES (?1, ?2, ?3, 'missing_in_bill', 'payment', ?4, '', ?5)",
                params![run, MCH, day, format!("T{run}-{n}"), state],
            )
            .unwrap();
    }
}

fn day(report: &MonthReport, date: Date) -> &DayReport {
    report.days.iter().find(|d| d.date == date).unwrap()
}

/// A month of five kinds of day, each figure checked against its value worked out by hand.
#[test]
fn each_day_takes_its_latest_bill_else_its_latest_run_else_nothing() {
    let (_dir, ledger) = ledger();
    // 11-02: a bill, then its correction; the SUCCESS bill, the fund-flow bill, another
    // merchant's and another month's are no part of the report.
    bill(&ledger, MCH, "2026-11-02", "ALL", Some([9, 9, 9, 9, 9, 9]));
    let corrected = bill(
        &ledger,
        MCH,
        "2026-11-02",
        "ALL",
        Some([3, 30000, 1, 5000, 29000, 174000]),
    );
    bill(
        &ledger,
        MCH,
        "2026-11-02",
        "SUCCESS",
        Some([7, 7, 0, 0, 7, 7]),
    );
    bill(&ledger, MCH, "2026-11-02", "fundflow-Basic", None);
    bill(&ledger, "1900000110", "2026-11-02", "ALL", Some([5; 6]));
    bill(&ledger, MCH, "2026-10-31", "ALL", Some([5; 6]));
    bill(&ledger, MCH, "2026-12-01", "ALL", Some([5; 6]));
    // 11-03: reconciled twice, no bill recorded: the second run's totals and differences.
    let first = run(&ledger, MCH, "2026-11-03", "not even JSON");
    differences(
        &ledger,
        first,
        "2026-11-03",
        &["superseded", "superseded", "closed"],
    );
    let second = run(
        &ledger,
        MCH,
        "2026-11-03",
        &summary((2, 12345), (1, 345), 12000, "0.07407"),
    );
    differences(
        &ledger,
        second,
        "2026-11-03",
        &["open", "closed", "resolved", "open"],
    );
    // 11-04: a bill and a run: the bill's figures, the run's differences.
    let both = bill(
        &ledger,
        MCH,
        "2026-11-04",
        "ALL",
        Some([1, 100, 0, 0, 100, 600]),
    );
    let balanced = run(&ledger, MCH, "2026-11-04", "{}");

    let report = month_report(&ledger, MCH, november()).unwrap();
    assert_eq!(report.days.len(), 30);
    assert_eq!(report.days[0].date, date!(2026 - 11 - 01));
    let empty = DayReport {
        date: date!(2026 - 11 - 01),
        figures: None,
        run: None,
    };
    assert_eq!(report.days[0], empty);

    let nov2 = day(&report, date!(2026 - 11 - 02));
    let (source, figures) = nov2.figures.unwrap();
    assert_eq!(source, Source::Bill(corrected));
    assert_eq!(
        figures,
        Figures {
            payment_count: 3,
            payment_fen: 30000,
            refund_count: 1,
            refund_fen: 5000,
            settlement_fen: 29000,
            fee_units: 174000,
        }
    );
    // 290.00 − 50.00 − 1.74000 yuan.
    assert_eq!(figures.net_units(), 23_826_000);
    assert_eq!(nov2.run, None);

    let nov3 = day(&report, date!(2026 - 11 - 03));
    let (source, figures) = nov3.figures.unwrap();
    assert_eq!(source, Source::Run(second));
    assert_eq!(
        (
            figures.payment_count,
            figures.payment_fen,
            figures.refund_count
        ),
        (2, 12345, 1)
    );
    assert_eq!((figures.refund_fen, figures.settlement_fen), (345, 12000));
    assert_eq!(figures.fee_units, 7407);
    // 120.00 − 3.45 − 0.07407 yuan.
    assert_eq!(figures.net_units(), 11_647_593);
    let counts = Counts {
        found: 4,
        closed: 2,
        open: 2,
    };
    assert_eq!(nov3.run, Some((second, counts)));

    let nov4 = day(&report, date!(2026 - 11 - 04));
    assert_eq!(nov4.figures.unwrap().0, Source::Bill(both));
    assert_eq!(nov4.run, Some((balanced, Counts::default())));

    assert_eq!(
        report.total,
        Figures {
            payment_count: 6,
            payment_fen: 42445,
            refund_count: 2,
            refund_fen: 5345,
            settlement_fen: 41100,
            fee_units: 182007,
        }
    );
    assert_eq!(report.total.net_units(), 23_826_000 + 11_647_593 + 99_400);
    assert_eq!(report.differences, counts);
    assert_eq!(report.known_days(), (3, 2));
    assert_eq!(merchants(&ledger).unwrap(), [MCH, "1900000110"]);
}

/// A run whose summary lacks the bill's totals is named, not read as zeros.
#[test]
fn a_run_summary_without_bill_totals_is_refused_by_its_run() {
    let (_dir, ledger) = ledger();
    let id = run(&ledger, MCH, "2026-11-05", r#"{"bill": {"rows": 3}}"#);
    match month_report(&ledger, MCH, november()) {
        Err(ReportError::Summary { run, day, reason }) => {
            assert_eq!((run, day.as_str()), (id, "2026-11-05"));
            assert!(reason.contains("payments"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// An empty ledger reports every day of the month as unknown, and zero totals.
#[test]
fn a_month_without_facts_is_every_day_unknown() {
    let (_dir, ledger) = ledger();
    let february = YearMonth::of(date!(2028 - 02 - 10));
    let report = month_report(&ledger, MCH, february).unwrap();
    assert_eq!(report.days.len(), 29);
    assert!(
        report
            .days
            .iter()
            .all(|d| d.figures.is_none() && d.run.is_none())
    );
    assert_eq!(report.total, Figures::default());
    assert_eq!(report.known_days(), (0, 0));
}

/// Every query of the report searches an index, sorts nothing, and leaves bill_rows alone:
/// what makes a month of million-row days as quick as a small one.
#[test]
fn the_queries_search_indexes_and_never_read_bill_rows() {
    let (_dir, ledger) = ledger();
    let docs = include_str!("../../../docs/reference.md");
    for (name, query) in QUERIES {
        let plan = query_plan(&ledger, query);
        assert!(
            plan.iter().all(|step| step.starts_with("SEARCH ")),
            "{name}: {plan:?}"
        );
        assert!(
            plan.iter().all(|step| step.contains("USING ")),
            "{name}: {plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("bill_rows")),
            "{name}"
        );
    }
    // The export reads bill_rows, one bill's primary-key range at a time.
    for (name, query) in QUERIES.iter().chain(&crate::ledger::export::QUERIES) {
        for step in query_plan(&ledger, query) {
            assert!(step.starts_with("SEARCH "), "{name}: {step}");
            let shown = format!("--  {step}\n");
            assert!(docs.contains(&shown), "docs/reference.md lacks {shown:?}");
        }
    }
}

/// `EXPLAIN QUERY PLAN`'s steps, as docs/reference.md shows them.
pub(crate) fn query_plan(ledger: &Ledger, query: &str) -> Vec<String> {
    let mut statement = ledger
        .conn()
        .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
        .unwrap();
    let count = statement.parameter_count();
    let values = vec![rusqlite::types::Value::Null; count];
    statement
        .query_map(rusqlite::params_from_iter(values), |row| row.get(3))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}
