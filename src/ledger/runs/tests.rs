//! Runs recorded by hand-made reconciliations: closing across days, the other half,
//! re-runs, resolving, and what the ledger shows of an order.

use serde_json::json;
use time::macros::{date, datetime};

use super::*;
use crate::reconcile::{BillTotals, CategoryTotal, ExportTotals};
use crate::time::stamp::bill_stamp;

const MCH: Option<&str> = Some("1900000109");

fn ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap();
    (dir, ledger)
}

fn day(text: &str) -> Day {
    Day::of_date(crate::time::parse_day(text).unwrap()).unwrap()
}

fn side(fen: i64, time: &str, line: u64) -> Side {
    Side {
        amount: fen,
        time: bill_stamp(time).unwrap(),
        line,
    }
}

fn payment(
    category: Category,
    order: &str,
    bill: Option<Side>,
    export: Option<Side>,
    note: &str,
) -> Difference {
    Difference {
        category,
        kind: EntryKind::Payment,
        out_trade_no: order.into(),
        out_refund_no: None,
        bill,
        export_status: export.as_ref().map(|_| OrderStatus::Paid),
        export,
        note: note.into(),
    }
}

fn sighting(order: &str, bill: Option<Side>, export: Option<(Side, OrderStatus)>) -> Sighting {
    Sighting {
        key: WatchKey {
            kind: EntryKind::Payment,
            out_trade_no: order.into(),
            out_refund_no: None,
        },
        bill,
        export_status: export.as_ref().map(|(_, status)| *status),
        export: export.map(|(side, _)| side),
    }
}

fn run(
    ledger: &mut Ledger,
    on: &str,
    differences: Vec<Difference>,
    sightings: Vec<Sighting>,
) -> Recorded {
    let outcome = Reconciliation {
        day: day(on),
        bill: BillTotals::default(),
        export: ExportTotals::default(),
        categories: [CategoryTotal::default(); 7],
        differences,
        sightings,
    };
    let input = |name: &str| Input {
        path: PathBuf::from(name),
        sha256: Some("00".repeat(32)),
    };
    let inputs = Inputs {
        bill: input(&format!("{on}.ALL.csv")),
        export: input("orders.csv"),
        previous_bill: None,
        next_bill: None,
    };
    let at = datetime!(2026-12-01 09:00 +8);
    ledger
        .record_run(
            &NewRun {
                mch_id: MCH,
                started_at: at,
                user: "ops",
                inputs: &inputs,
                mapping: &json!({"order_column": "out_trade_no"}),
                summary: &json!({"day": on}),
                outcome: &outcome,
            },
            at,
        )
        .unwrap()
}

fn all(ledger: &Ledger) -> Vec<StoredDifference> {
    let mut statement = ledger
        .conn()
        .prepare(&format!(
            "SELECT {DIFFERENCE_FIELDS} FROM differences ORDER BY id"
        ))
        .unwrap();
    statement
        .query_map([], difference_of)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn cut_off(order: &str) -> Difference {
    payment(
        Category::CrossDay,
        order,
        None,
        Some(side(100, "2026-11-20 23:59:59", 7)),
        "likely cut-off",
    )
}

#[test]
fn a_cut_off_payment_closes_with_the_next_days_half() {
    let (_dir, mut ledger) = ledger();
    let first = run(&mut ledger, "2026-11-20", vec![cut_off("P")], vec![]);
    assert_eq!(first.differences, 1);
    assert!(first.closed.is_empty());
    let watched = ledger.watched(MCH, Some(day("2026-11-21"))).unwrap();
    assert_eq!(watched.len(), 1);
    // Not watched by a run of its own day.
    assert!(
        ledger
            .watched(MCH, Some(day("2026-11-20")))
            .unwrap()
            .is_empty()
    );
    // The next day's bill has it; that day's export does not.
    let bill = side(100, "2026-11-21 00:00:01", 2);
    let second = run(
        &mut ledger,
        "2026-11-21",
        vec![payment(
            Category::MissingInExport,
            "P",
            Some(bill.clone()),
            None,
            "",
        )],
        vec![sighting("P", Some(bill), None)],
    );
    let [early, late] = &all(&ledger)[..] else {
        panic!()
    };
    assert_eq!(
        second.closed,
        [Closed {
            id: early.id,
            day: "2026-11-20".into(),
            with: Some(late.id)
        }]
    );
    assert_eq!(early.state, State::Closed);
    assert_eq!(early.closed_by_run, Some(second.run));
    assert_eq!(early.closed_day.as_deref(), Some("2026-11-21"));
    assert_eq!(early.closed_with, Some(late.id));
    // The other half names the run and day that saw its counterpart.
    assert_eq!(late.state, State::Closed);
    assert_eq!(late.closed_by_run, Some(first.run));
    assert_eq!(late.closed_day.as_deref(), Some("2026-11-20"));
    assert_eq!(late.closed_with, Some(early.id));
    assert_eq!(
        early.closed_at.as_deref(),
        Some("2026-12-01T09:00:00+08:00")
    );
    assert!(
        ledger
            .open_differences(date!(2026 - 12 - 01), None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_counterpart_matched_or_out_of_scope_closes_it_alone() {
    let (_dir, mut ledger) = ledger();
    let exported = side(100, "2026-11-20 12:00:00", 3);
    run(
        &mut ledger,
        "2026-11-20",
        vec![
            payment(
                Category::MissingInBill,
                "A",
                None,
                Some(exported.clone()),
                "",
            ),
            payment(
                Category::MissingInBill,
                "B",
                None,
                Some(exported.clone()),
                "",
            ),
        ],
        vec![],
    );
    // Two days later A is in the bill (matched: no difference); B is, at another amount.
    let later = run(
        &mut ledger,
        "2026-11-22",
        vec![],
        vec![
            sighting(
                "A",
                Some(side(100, "2026-11-22 08:00:00", 9)),
                Some((exported.clone(), OrderStatus::Paid)),
            ),
            sighting("B", Some(side(101, "2026-11-22 08:00:00", 10)), None),
        ],
    );
    let [a, b] = &all(&ledger)[..] else { panic!() };
    assert_eq!(later.closed.len(), 1);
    assert_eq!((a.state, a.closed_with), (State::Closed, None));
    assert_eq!(a.closed_day.as_deref(), Some("2026-11-22"));
    assert_eq!(b.state, State::Open);
    assert_eq!(
        b.seen.as_deref(),
        Some(
            format!(
                "run {} of 2026-11-22 saw it in the bill at 1.01 yuan",
                later.run
            )
            .as_str()
        )
    );
    let open = ledger
        .open_differences(date!(2026 - 11 - 25), None)
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].age_days, 5);
    assert_eq!(open[0].need, Some(Need::Bill { fen: 100 }));
}

#[test]
fn a_payment_missing_in_the_export_closes_when_an_export_has_it_charged() {
    let (_dir, mut ledger) = ledger();
    let bill = side(250, "2026-11-20 10:00:00", 4);
    run(
        &mut ledger,
        "2026-11-20",
        vec![
            payment(Category::MissingInExport, "C", Some(bill.clone()), None, ""),
            payment(Category::MissingInExport, "D", Some(bill.clone()), None, ""),
        ],
        vec![],
    );
    let exported = side(250, "2026-11-20 10:00:00", 40);
    let later = run(
        &mut ledger,
        "2026-11-21",
        vec![],
        vec![
            sighting("C", None, Some((exported.clone(), OrderStatus::Paid))),
            sighting("D", None, Some((exported, OrderStatus::Closed))),
        ],
    );
    let [c, d] = &all(&ledger)[..] else { panic!() };
    assert_eq!(later.closed.len(), 1);
    assert_eq!(c.state, State::Closed);
    assert_eq!(d.state, State::Open);
    assert!(
        d.seen
            .as_deref()
            .unwrap()
            .ends_with("in the export at 2.50 yuan, closed")
    );
    assert_eq!(d.need(), Some(Need::Export { fen: 250 }));
}

#[test]
fn a_difference_recorded_meanwhile_is_paired_without_a_sighting() {
    let (_dir, mut ledger) = ledger();
    // The next day was recorded first; this day's run did not watch its key.
    let bill = side(100, "2026-11-21 00:00:01", 2);
    let next = run(
        &mut ledger,
        "2026-11-21",
        vec![payment(
            Category::MissingInExport,
            "P",
            Some(bill),
            None,
            "",
        )],
        vec![],
    );
    let this = run(&mut ledger, "2026-11-20", vec![cut_off("P")], vec![]);
    let [late, early] = &all(&ledger)[..] else {
        panic!()
    };
    assert_eq!(this.closed.len(), 1);
    assert_eq!(
        (late.state, late.closed_by_run, late.closed_with),
        (State::Closed, Some(this.run), Some(early.id))
    );
    assert_eq!(
        (early.state, early.closed_by_run, early.closed_with),
        (State::Closed, Some(next.run), Some(late.id))
    );
}

#[test]
fn a_rerun_supersedes_open_differences_and_keeps_settled_ones() {
    let (_dir, mut ledger) = ledger();
    let exported = side(100, "2026-11-20 12:00:00", 3);
    let missing = |order: &str| {
        payment(
            Category::MissingInBill,
            order,
            None,
            Some(exported.clone()),
            "",
        )
    };
    let mismatch = payment(
        Category::AmountMismatch,
        "M",
        Some(side(90, "2026-11-20 12:00:00", 5)),
        Some(exported.clone()),
        "",
    );
    let first = run(
        &mut ledger,
        "2026-11-20",
        vec![missing("A"), missing("B"), mismatch.clone()],
        vec![],
    );
    let ids: Vec<i64> = all(&ledger).iter().map(|d| d.id).collect();
    ledger
        .resolve(
            ids[2],
            None,
            "refunded the 0.10 yuan by hand",
            "alice",
            datetime!(2026-11-22 10:00 +8),
        )
        .unwrap();
    run(
        &mut ledger,
        "2026-11-21",
        vec![],
        vec![sighting(
            "A",
            Some(side(100, "2026-11-21 01:00:00", 2)),
            None,
        )],
    );
    // The day again: A (closed) and M (resolved) are found again, B too.
    let again = run(
        &mut ledger,
        "2026-11-20",
        vec![missing("A"), missing("B"), mismatch],
        vec![],
    );
    assert_eq!((again.superseded, again.carried), (1, 2));
    let stored = all(&ledger);
    let states: Vec<(&str, State, Option<i64>)> = stored
        .iter()
        .map(|d| (d.out_trade_no.as_str(), d.state, d.carried_from))
        .collect();
    assert_eq!(
        states,
        [
            ("A", State::Closed, None),
            ("B", State::Superseded, None),
            ("M", State::Resolved, None),
            ("A", State::Closed, Some(ids[0])),
            ("B", State::Open, None),
            ("M", State::Resolved, Some(ids[2])),
        ]
    );
    assert_eq!(stored[5].resolved_by.as_deref(), Some("alice"));
    assert_eq!(stored[3].closed_day.as_deref(), Some("2026-11-21"));
    let superseded_by: Option<i64> = ledger
        .conn()
        .query_row(
            "SELECT superseded_by FROM runs WHERE id = ?1",
            [first.run],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(superseded_by, Some(again.run));
    let runs: i64 = ledger
        .conn()
        .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
        .unwrap();
    assert_eq!(runs, 3);
}

#[test]
fn resolving_records_who_and_why_and_refuses_what_is_not_open() {
    let (_dir, mut ledger) = ledger();
    run(
        &mut ledger,
        "2026-11-20",
        vec![payment(
            Category::AmountMismatch,
            "M",
            Some(side(90, "2026-11-20 12:00:00", 5)),
            Some(side(100, "2026-11-20 12:00:00", 3)),
            "",
        )],
        vec![],
    );
    let id = all(&ledger)[0].id;
    let at = datetime!(2026-11-22 10:00 +8);
    // Not of the merchant named: refused, and left open.
    let other = ledger.resolve(id, Some("1900000999"), "no", "eve", at);
    assert!(
        matches!(&other, Err(LedgerError::OtherMerchant { found, .. }) if Some(found.as_str()) == MCH),
        "{other:?}"
    );
    assert_eq!(all(&ledger)[0].state, State::Open);
    let resolved = ledger
        .resolve(id, MCH, "the shop's typo", "alice", at)
        .unwrap();
    assert_eq!(resolved.state, State::Resolved);
    assert_eq!(resolved.resolved_by.as_deref(), Some("alice"));
    assert_eq!(resolved.resolution.as_deref(), Some("the shop's typo"));
    assert_eq!(
        resolved.closed_at.as_deref(),
        Some("2026-11-22T10:00:00+08:00")
    );
    let again = ledger.resolve(id, None, "twice", "bob", at).unwrap_err();
    assert!(
        matches!(&again, LedgerError::NotOpen { difference, .. } if difference.resolved_by.as_deref() == Some("alice")),
        "{again}"
    );
    assert!(
        again
            .to_string()
            .ends_with(&format!("difference {id} is resolved, not open"))
    );
    assert_eq!(
        all(&ledger)[0].resolution.as_deref(),
        Some("the shop's typo")
    );
    assert!(matches!(
        ledger.resolve(id + 100, None, "x", "bob", at),
        Err(LedgerError::NoDifference { .. })
    ));
}

#[test]
fn what_closes_a_difference_follows_its_missing_side() {
    let of = |category, bill, export| Need::of(category, bill, export);
    use Category::*;
    assert_eq!(
        of(MissingInBill, None, Some(5)),
        Some(Need::Bill { fen: 5 })
    );
    assert_eq!(
        of(MissingInExport, Some((7, true)), None),
        Some(Need::Export { fen: 7 })
    );
    // cross_day: a likely cut-off or an adjacent bill's row wants a bill; a bill row of the
    // day that the export dates elsewhere wants the export.
    assert_eq!(of(CrossDay, None, Some(5)), Some(Need::Bill { fen: 5 }));
    assert_eq!(
        of(CrossDay, Some((5, false)), Some(5)),
        Some(Need::Bill { fen: 5 })
    );
    assert_eq!(
        of(CrossDay, Some((6, true)), Some(5)),
        Some(Need::Export { fen: 6 })
    );
    for category in [AmountMismatch, StatusMismatch, Duplicate] {
        assert_eq!(of(category, Some((5, true)), Some(6)), None);
    }
}

#[test]
fn an_order_shows_its_bill_rows_differences_and_runs() {
    let (_dir, mut ledger) = ledger();
    let first = run(&mut ledger, "2026-11-20", vec![cut_off("P")], vec![]);
    let bill = side(100, "2026-11-21 00:00:01", 2);
    let second = run(
        &mut ledger,
        "2026-11-21",
        vec![],
        vec![sighting("P", Some(bill), None)],
    );
    ledger
        .conn()
        .execute_batch(
            "INSERT INTO bills (id, mch_id, day, bill_type, path, sha256, bytes, rows, recorded_at) \
             VALUES (1, '1900000109', '2026-11-21', 'ALL', 'b/2026-11-21.ALL.csv', 'ab', 10, 1, 'now');
             INSERT INTO bill_rows VALUES (1, 2, 0, 1795190401, 'P', '4200', NULL, NULL, 100, 100, 60, 'SUCCESS');
             INSERT INTO bill_rows VALUES (1, 3, 0, 1795190402, 'Q', '4201', NULL, NULL, 100, 100, 60, 'SUCCESS');",
        )
        .unwrap();
    let history = ledger.show("P", None).unwrap();
    assert_eq!(history.bill_rows.len(), 1);
    assert_eq!(history.bill_rows[0].day, "2026-11-21");
    assert_eq!(history.bill_rows[0].kind, EntryKind::Payment);
    assert_eq!(history.differences.len(), 1);
    assert_eq!(history.differences[0].state, State::Closed);
    let runs: Vec<i64> = history.runs.iter().map(|r| r.id).collect();
    assert_eq!(runs, [first.run, second.run]);
    assert_eq!(
        ledger.show("nothing", None).unwrap(),
        OrderHistory::default()
    );
}

#[test]
fn inputs_are_hashed_as_they_are_on_disk_and_pipes_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    std::fs::write(&path, "abc").unwrap();
    let input = Input::hash(&path, &[]).unwrap();
    assert_eq!(
        input.sha256.as_deref(),
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    let fifo = dir.path().join("pipe.csv");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    assert_eq!(Input::hash(&fifo, &[]).unwrap().sha256, None);
    assert!(Input::hash(&dir.path().join("absent.csv"), &[]).is_err());
}

#[test]
fn an_orders_refunds_pair_with_a_refund_of_the_order_by_number() {
    let (_dir, mut ledger) = ledger();
    // The shop's export has no refund numbers: the order's refunds, which the bill lacks.
    let refunds = Difference {
        category: Category::MissingInBill,
        kind: EntryKind::OrderRefund,
        out_trade_no: "O".into(),
        out_refund_no: None,
        bill: None,
        export: Some(side(100, "2026-11-20 12:00:00", 3)),
        export_status: Some(OrderStatus::Refunded),
        note: String::new(),
    };
    run(&mut ledger, "2026-11-20", vec![refunds], vec![]);
    // Two days later the bill refunds it, by number; that day's export does not have it.
    let bill = side(100, "2026-11-22 10:00:00", 5);
    let late = Difference {
        category: Category::MissingInExport,
        kind: EntryKind::Refund,
        out_trade_no: "O".into(),
        out_refund_no: Some("R1".into()),
        bill: Some(bill.clone()),
        export: None,
        export_status: None,
        note: String::new(),
    };
    let watched = ledger.watched(MCH, Some(day("2026-11-22"))).unwrap();
    let sighting = Sighting {
        key: watched[0].clone(),
        bill: Some(bill),
        export: None,
        export_status: None,
    };
    let later = run(&mut ledger, "2026-11-22", vec![late], vec![sighting]);
    let [early, late] = &all(&ledger)[..] else {
        panic!()
    };
    assert_eq!(later.closed.len(), 1);
    assert_eq!(
        (early.state, early.closed_with),
        (State::Closed, Some(late.id))
    );
    assert_eq!(
        (late.state, late.closed_with),
        (State::Closed, Some(early.id))
    );
    assert!(same_entry(&early.key(), &late.key()));
    assert!(!same_entry(
        &late.key(),
        &WatchKey {
            out_refund_no: Some("R2".into()),
            ..late.key()
        }
    ));
}
