//! The engine against synthetic days whose differences are known.

use std::collections::BTreeSet;

use super::export::{Mapping, ReadOptions, read_export};
use super::*;
use crate::bill::format::{FeeRate, Summary, TradeRow};
use crate::emulator::synth::{Differences, Expected, SyntheticDay, TradeKind, write_export};

fn day(trades: u64, date: &str) -> SyntheticDay {
    SyntheticDay {
        mch_id: "1900000109".into(),
        appid: "wx2421b1c4370ec43b".into(),
        bill_date: date.into(),
        trades,
        seed: 7,
    }
}

pub fn bill_row(row: &TradeRow, line: u64) -> BillRow<'_> {
    let refund = row.refund.as_ref();
    BillRow {
        line,
        time: &row.time,
        mch_id: &row.mch_id,
        out_trade_no: &row.out_trade_no,
        out_refund_no: refund.map(|r| r.out_refund_no.as_str()),
        amount: refund.map_or(row.total_fee, |r| r.refund_fee),
        settlement: row.settlement(),
        fee: BillAmount::from_fen(row.fee()),
    }
}

/// Refunded orders that carry no difference: each is a second matched entry.
fn matched_refunds(day: &SyntheticDay, expected: &Expected) -> u64 {
    let listed = &expected.difference_orders;
    let differing: BTreeSet<&String> = [
        &listed.missing_in_export,
        &listed.amount_mismatch,
        &listed.status_mismatch,
        &listed.cross_day,
        &listed.duplicate,
    ]
    .into_iter()
    .flatten()
    .collect();
    (0..day.trades)
        .map(|i| day.trade(i))
        .filter(|t| t.kind == TradeKind::Refunded && !differing.contains(&t.out_trade_no))
        .count() as u64
}

fn reconcile(
    day: &SyntheticDay,
    differences: &Differences,
    options: Options,
) -> (Reconciliation, Expected, Summary) {
    let mut csv = Vec::new();
    let expected = write_export(day, differences, FeeRate(60), &mut csv).unwrap();
    let export = read_export(&csv[..], &Mapping::default(), &ReadOptions::default()).unwrap();
    let mut matcher = Matcher::new(&export, options);
    let mut summary = Summary::default();
    for (i, row) in day.clone().into_rows(FeeRate(60)).enumerate() {
        summary.add(&row);
        matcher.row(&bill_row(&row, i as u64 + 2)).unwrap();
    }
    (matcher.finish(), expected, summary)
}

fn orders(outcome: &Reconciliation, category: Category) -> BTreeSet<String> {
    outcome
        .differences
        .iter()
        .filter(|d| d.category == category)
        .map(|d| d.out_trade_no.clone())
        .collect()
}

#[test]
fn every_category_has_exactly_the_differences_placed() {
    let day = day(3000, "20261120");
    let differences = Differences {
        missing_in_export: 3,
        missing_in_bill: 2,
        amount_mismatch: 4,
        status_mismatch: 5,
        cross_day: 2,
        duplicate: 2,
    };
    let options = Options {
        mch_id: Some("1900000109".into()),
        cutoff_window: 300,
        ..Options::default()
    };
    let (outcome, expected, summary) = reconcile(&day, &differences, options);
    let listed = &expected.difference_orders;
    for (category, list) in [
        (Category::MissingInExport, &listed.missing_in_export),
        (Category::MissingInBill, &listed.missing_in_bill),
        (Category::AmountMismatch, &listed.amount_mismatch),
        (Category::StatusMismatch, &listed.status_mismatch),
        (Category::CrossDay, &listed.cross_day),
        (Category::Duplicate, &listed.duplicate),
    ] {
        let placed: BTreeSet<String> = list.iter().cloned().collect();
        assert_eq!(orders(&outcome, category), placed, "{category:?}");
    }
    assert_eq!(outcome.day.to_string(), "2026-11-20");

    // A payment and a refund are two entries: the refund of a refunded order matches on
    // its own unless its order is left out, repeated or refunded only at WeChat.
    let index = |no: &str| no[11..].parse::<u64>().unwrap();
    let refunded = |no: &String| day.trade(index(no)).kind == TradeKind::Refunded;
    let refunded_in = |list: &Vec<String>| list.iter().filter(|n| refunded(n)).count() as u64;
    let matched = expected.matched
        + matched_refunds(&day, &expected)
        + refunded_in(&listed.status_mismatch)
        + refunded_in(&listed.amount_mismatch)
        + refunded_in(&listed.cross_day);
    assert_eq!(outcome.category(Category::Matched).count, matched);
    let entries = |category| {
        outcome
            .differences
            .iter()
            .filter(|d| d.category == category)
            .count() as u64
    };
    assert_eq!(
        entries(Category::MissingInExport),
        3 + refunded_in(&listed.missing_in_export)
    );
    assert_eq!(
        entries(Category::Duplicate),
        2 + refunded_in(&listed.duplicate)
    );
    assert_eq!(outcome.export.not_charged, expected.closed);

    // Totals: the bill's rows, and the amounts of each category.
    assert_eq!(outcome.bill.rows, summary.count);
    assert_eq!(outcome.bill.settlement, i128::from(summary.settlement.0));
    assert_eq!(outcome.bill.refunds.amount, i128::from(summary.refund.0));
    assert_eq!(
        outcome.bill.fees,
        i128::from(BillAmount::from_fen(summary.fee).0)
    );
    let bill_net: i128 = Category::ALL
        .iter()
        .map(|c| outcome.category(*c).bill_amount)
        .sum();
    assert_eq!(
        bill_net,
        outcome.bill.payments.amount - outcome.bill.refunds.amount
    );
    for d in outcome
        .differences
        .iter()
        .filter(|d| d.category == Category::AmountMismatch)
    {
        assert_ne!(d.difference(), 0);
        assert_eq!(
            d.bill.as_ref().unwrap().amount - d.export.as_ref().unwrap().amount,
            d.difference()
        );
    }
    assert!(!outcome.balanced());
}

#[test]
fn a_clean_day_balances() {
    let day = day(500, "20261120");
    let (outcome, expected, _) = reconcile(&day, &Differences::default(), Options::default());
    assert!(outcome.balanced(), "{:?}", outcome.differences.first());
    assert_eq!(
        outcome.category(Category::Matched).count,
        expected.matched + matched_refunds(&day, &expected)
    );
}

#[test]
fn rows_of_another_day_or_merchant_are_refused() {
    let export = read_export(
        &b"out_trade_no,status,amount,refund_amount,paid_at\nT,PAID,1,0,2026-11-20 10:00:00\n"[..],
        &Mapping::default(),
        &ReadOptions::default(),
    )
    .unwrap();
    let row = BillRow {
        line: 2,
        time: "2026-11-21 10:00:00",
        mch_id: "1900000109",
        out_trade_no: "T",
        out_refund_no: None,
        amount: Fen(100),
        settlement: Fen(100),
        fee: BillAmount(0),
    };
    let mut matcher = Matcher::new(
        &export,
        Options {
            day: Day::of_date(time::macros::date!(2026 - 11 - 20)),
            ..Options::default()
        },
    );
    assert!(matches!(
        matcher.row(&row),
        Err(BillRowError::WrongDay { line: 2, .. })
    ));
    let mut matcher = Matcher::new(
        &export,
        Options {
            mch_id: Some("1230000109".into()),
            ..Options::default()
        },
    );
    assert!(matches!(
        matcher.row(&row),
        Err(BillRowError::WrongMerchant { .. })
    ));
}

#[test]
fn cross_day_entries_are_confirmed_by_the_next_bill_or_flagged() {
    // The shop dates two orders just before midnight; WeChat has them after it.
    let row = |time, order, amount| BillRow {
        line: 2,
        time,
        mch_id: "1900000109",
        out_trade_no: order,
        out_refund_no: None,
        amount: Fen(amount),
        settlement: Fen(amount),
        fee: BillAmount(0),
    };
    for next_bill in [false, true] {
        // Matching marks the export's entries, so each run reads it anew.
        let export = read_export(
            &b"out_trade_no,status,amount,refund_amount,paid_at\n\
               A,PAID,1,0,2026-11-20 12:00:00\n\
               B,PAID,2,0,2026-11-20 23:59:58\n\
               C,PAID,3,0,2026-11-20 23:59:59\n"[..],
            &Mapping::default(),
            &ReadOptions::default(),
        )
        .unwrap();
        let mut matcher = Matcher::new(
            &export,
            Options {
                cutoff_window: 60,
                next_bill,
                ..Options::default()
            },
        );
        matcher.row(&row("2026-11-20 12:00:00", "A", 100)).unwrap();
        if next_bill {
            matcher
                .adjacent_row(&row("2026-11-21 00:00:01", "B", 200), true)
                .unwrap();
        }
        let outcome = matcher.finish();
        let found: Vec<_> = outcome
            .differences
            .iter()
            .map(|d| (d.category, d.out_trade_no.as_str()))
            .collect();
        if next_bill {
            assert_eq!(
                found,
                [(Category::MissingInBill, "C"), (Category::CrossDay, "B")]
            );
        } else {
            assert_eq!(
                found,
                [(Category::CrossDay, "B"), (Category::CrossDay, "C")]
            );
            assert!(outcome.differences[0].note.contains("likely cut-off"));
        }
    }
}

#[test]
fn rows_matched_on_two_threads_merge_into_the_same_outcome() {
    let day = day(2000, "20261120");
    let differences = Differences {
        missing_in_export: 3,
        missing_in_bill: 2,
        amount_mismatch: 4,
        status_mismatch: 5,
        cross_day: 2,
        duplicate: 2,
    };
    let mut csv = Vec::new();
    write_export(&day, &differences, FeeRate(60), &mut csv).unwrap();
    let rows: Vec<TradeRow> = day.clone().into_rows(FeeRate(60)).collect();
    let outcome = |split: bool| {
        let export = read_export(&csv[..], &Mapping::default(), &ReadOptions::default()).unwrap();
        let mut one = Matcher::new(&export, Options::default());
        let mut two = Matcher::new(&export, Options::default());
        for (i, row) in rows.iter().enumerate() {
            // Runs of rows, as batches go to one thread or the other.
            let matcher = if split && (i / 7) % 2 == 1 {
                &mut two
            } else {
                &mut one
            };
            matcher.row(&bill_row(row, i as u64 + 2)).unwrap();
        }
        // A bill repeating a row on the other thread is still a duplicate.
        two.row(&bill_row(&rows[0], 9999)).unwrap();
        one.merge(two);
        let outcome = one.finish();
        (outcome.categories, outcome.bill, outcome.differences)
    };
    assert_eq!(outcome(true), outcome(false));
}

#[test]
fn refunds_without_numbers_add_up_across_threads() {
    // One row per transaction, no refund numbers: an order's refunds are summed.
    let text = "type,out_trade_no,amount,paid_at\n\
        pay,T,10.00,2026-11-20 08:00:00\n\
        refund,T,3.00,2026-11-20 09:00:00\n\
        refund,T,2.00,2026-11-20 09:30:00\n";
    let mapping = Mapping {
        status: None,
        refund_amount: None,
        type_column: Some("type".into()),
        payment_types: vec!["pay".into()],
        refund_types: vec!["refund".into()],
        ..Mapping::default()
    };
    let refund = |line, number, fen| BillRow {
        line,
        time: "2026-11-20 09:00:00",
        mch_id: "1900000109",
        out_trade_no: "T",
        out_refund_no: Some(number),
        amount: Fen(fen),
        settlement: Fen(0),
        fee: BillAmount(0),
    };
    let payment = BillRow {
        out_refund_no: None,
        amount: Fen(1000),
        ..refund(2, "", 0)
    };
    for (refunds, matched) in [
        (vec![(300, true), (200, false)], true),
        (vec![(500, false)], true),
        (vec![(500, true), (100, false)], false),
        (vec![(200, false), (300, true)], true),
    ] {
        let export = read_export(text.as_bytes(), &mapping, &ReadOptions::default()).unwrap();
        let mut one = Matcher::new(&export, Options::default());
        let mut two = Matcher::new(&export, Options::default());
        one.row(&payment).unwrap();
        for (i, (fen, on_two)) in refunds.iter().enumerate() {
            let matcher = if *on_two { &mut two } else { &mut one };
            matcher.row(&refund(3 + i as u64, "R", *fen)).unwrap();
        }
        one.merge(two);
        let outcome = one.finish();
        let found: Vec<_> = outcome.differences.iter().map(|d| d.category).collect();
        if matched {
            assert_eq!(found, [], "{refunds:?}");
            assert_eq!(outcome.category(Category::Matched).count, 2);
        } else {
            assert_eq!(found, [Category::AmountMismatch], "{refunds:?}");
            assert_eq!(outcome.differences[0].difference(), 100);
        }
    }
}

#[test]
fn files_read_in_halves_give_what_one_pass_gives() {
    use crate::bill::format::BillType;
    use crate::emulator::bills::write_trade_bill;
    let day = day(3000, "20261120");
    let differences = Differences {
        missing_in_export: 3,
        missing_in_bill: 2,
        amount_mismatch: 4,
        status_mismatch: 5,
        cross_day: 2,
        duplicate: 2,
    };
    let dir = tempfile::tempdir().unwrap();
    let (bill, orders) = (dir.path().join("bill.csv"), dir.path().join("orders.csv"));
    let mut csv = Vec::new();
    let expected = write_export(&day, &differences, FeeRate(60), &mut csv).unwrap();
    std::fs::write(&orders, &csv).unwrap();
    let mut file = std::fs::File::create(&bill).unwrap();
    write_trade_bill(&mut file, BillType::All, day.clone().into_rows(FeeRate(60))).unwrap();
    let files = bill::Files {
        bill: &bill,
        export: &orders,
        previous_bill: None,
        next_bill: None,
    };
    let two = ReadOptions {
        threads: 2,
        ..ReadOptions::default()
    };
    let two_options = || Options {
        threads: 2,
        ..Options::default()
    };
    let Reconciled {
        outcome,
        report,
        export,
    } = bill::reconcile_files(&files, &Mapping::default(), &two, two_options()).unwrap();
    assert!(
        report.is_consistent(),
        "{:?}",
        report.mismatches().collect::<Vec<_>>()
    );
    assert_eq!(report.rows, outcome.bill.rows);
    assert_eq!(export.rows, expected.export_rows);
    let (one_pass, _, _) = reconcile(&day, &differences, Options::default());
    assert_eq!(outcome.categories, one_pass.categories);
    assert_eq!(outcome.bill, one_pass.bill);
    assert_eq!(outcome.differences, one_pass.differences);

    // A quoted field with a line break in the middle of the export: the halves would cut
    // it, so the export is read whole instead, and the number (trimmed) still matches.
    let mut quoted = String::from_utf8(csv).unwrap();
    let middle = quoted.len() / 2;
    let line_start = quoted[..middle].rfind('\n').unwrap() + 1;
    let line_end = middle + quoted[middle..].find('\n').unwrap();
    let line = quoted[line_start..line_end].to_owned();
    let (number, rest) = line.split_once(',').unwrap();
    quoted.replace_range(line_start..line_end, &format!("\"{number}\n\",{rest}"));
    std::fs::write(&orders, quoted).unwrap();
    let outcome = bill::reconcile_files(&files, &Mapping::default(), &two, two_options())
        .unwrap()
        .outcome;
    // Lines after the quoted line break come one later in the export; all else is equal.
    let entries = |outcome: &Reconciliation| {
        outcome
            .differences
            .iter()
            .map(|d| (d.category, d.kind, d.out_trade_no.clone(), d.bill.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(entries(&outcome), entries(&one_pass));
}

#[test]
fn watched_keys_are_reported_as_each_side_saw_them() {
    use std::sync::Arc;
    use watch::{Watch, WatchKey};
    // A paid order in both; one the export dates the next day and the bill lacks (out of
    // scope); one only the bill has; refunds of an order, by number and summed.
    let export = read_export(
        &b"out_trade_no,status,amount,refund_amount,paid_at\n\
           A,PAID,1.00,0,2026-11-20 10:00:00\n\
           B,PAID,2.00,0,2026-11-21 00:00:03\n\
           D,REFUNDED,9.00,5.00,2026-11-20 11:00:00\n\
           E,CLOSED,4.00,0,2026-11-20 12:00:00\n"[..],
        &Mapping::default(),
        &ReadOptions::default(),
    )
    .unwrap();
    let row = |line, order, refund, fen| BillRow {
        line,
        time: "2026-11-20 12:00:00",
        mch_id: "1900000109",
        out_trade_no: order,
        out_refund_no: refund,
        amount: Fen(fen),
        settlement: Fen(fen),
        fee: BillAmount(0),
    };
    let key = |kind, order: &str, refund: Option<&str>| WatchKey {
        kind,
        out_trade_no: order.into(),
        out_refund_no: refund.map(Into::into),
    };
    let watch = Watch::new([
        key(EntryKind::Payment, "A", None),
        key(EntryKind::Payment, "B", None),
        key(EntryKind::Payment, "C", None),
        key(EntryKind::Refund, "D", Some("RD2")),
        key(EntryKind::OrderRefund, "D", None),
        key(EntryKind::Payment, "E", None),
        key(EntryKind::Payment, "Z", None),
    ]);
    let mut matcher = Matcher::new(
        &export,
        Options {
            watch: Some(Arc::new(watch)),
            ..Options::default()
        },
    );
    matcher.row(&row(2, "A", None, 100)).unwrap();
    matcher.row(&row(3, "C", None, 700)).unwrap();
    matcher.row(&row(4, "D", None, 900)).unwrap();
    matcher.row(&row(5, "D", Some("RD1"), 200)).unwrap();
    matcher.row(&row(6, "D", Some("RD2"), 300)).unwrap();
    matcher.row(&row(7, "C", None, 700)).unwrap();
    let outcome = matcher.finish();
    // Each side as (amount, line).
    type Seen<'a> = (EntryKind, &'a str, Option<(i64, u64)>, Option<(i64, u64)>);
    let seen: Vec<Seen> = outcome
        .sightings
        .iter()
        .map(|s| {
            let side = |s: &Option<Side>| s.as_ref().map(|s| (s.amount, s.line));
            (
                s.key.kind,
                s.key.out_trade_no.as_str(),
                side(&s.bill),
                side(&s.export),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (EntryKind::Payment, "A", Some((100, 2)), Some((100, 2))),
            (EntryKind::Payment, "B", None, Some((200, 3))),
            // The first of its rows.
            (EntryKind::Payment, "C", Some((700, 3)), None),
            (EntryKind::Payment, "E", None, Some((400, 5))),
            // The export has no refund numbers: its refunds of the order, summed.
            (EntryKind::Refund, "D", Some((300, 6)), Some((500, 4))),
            (EntryKind::OrderRefund, "D", Some((500, 5)), Some((500, 4))),
        ]
    );
    let e = outcome.sightings.iter().find(|s| s.key.out_trade_no == "E");
    assert_eq!(e.unwrap().export_status, Some(OrderStatus::Closed));
    // B is out of scope and E not charged: neither is a difference of this day.
    assert!(
        outcome
            .differences
            .iter()
            .all(|d| d.out_trade_no != "B" && d.out_trade_no != "E")
    );
    // Nothing watched, nothing reported.
    let export = read_export(
        &b"out_trade_no,status,amount\nA,PAID,1.00\n"[..],
        &Mapping::default(),
        &ReadOptions::default(),
    )
    .unwrap();
    let mut matcher = Matcher::new(&export, Options::default());
    matcher.row(&row(2, "A", None, 100)).unwrap();
    assert!(matcher.finish().sightings.is_empty());
}
