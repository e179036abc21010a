//! `reconcile` recording its runs in the ledger, differences closing themselves across days,
//! and `ledger open`, `ledger resolve` and `ledger show`.

use std::path::PathBuf;

use serde_json::Value;
use wxpay_ops::bill::format::{BillType, FeeRate, RefundPart, TradeRow};
use wxpay_ops::emulator::bills::write_trade_bill;
use wxpay_ops::emulator::synth::{Differences, SyntheticDay, Trade, TradeKind, write_export};

use crate::common::Env;

const MCH_ID: &str = "1900000109";
const LEDGER: &str = "ledger.sqlite3";

fn day(date: &str, trades: u64) -> SyntheticDay {
    SyntheticDay {
        mch_id: MCH_ID.into(),
        appid: "wx2421b1c4370ec43b".into(),
        bill_date: date.into(),
        trades,
        seed: 7,
    }
}

/// `20261120` as `2026-11-20`.
fn dashed(date: &str) -> String {
    format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..])
}

/// Writes the day's ALL bill, with `extra` rows after the day's own, as `bill download`
/// names it.
fn write_bill(env: &Env, day: &SyntheticDay, extra: Vec<TradeRow>) -> String {
    let path = env.path(&format!("{}.ALL.csv", dashed(&day.bill_date)));
    let mut file = std::fs::File::create(&path).unwrap();
    let rows = day.clone().into_rows(FeeRate(60)).chain(extra);
    write_trade_bill(&mut file, BillType::All, rows).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The shop's export of the day, as `emulator export` writes it, one line per order.
fn orders(day: &SyntheticDay, differences: &Differences) -> String {
    let mut csv = Vec::new();
    write_export(day, differences, FeeRate(60), &mut csv).unwrap();
    String::from_utf8(csv).unwrap()
}

/// The export without the line of one order.
fn without(orders: &str, out_trade_no: &str) -> String {
    let kept: Vec<&str> = orders
        .lines()
        .filter(|l| !l.starts_with(&format!("{out_trade_no},")))
        .collect();
    assert_eq!(kept.len() + 1, orders.lines().count(), "{out_trade_no}");
    kept.join("\n") + "\n"
}

/// The export's line of a paid order, dated when it was paid.
fn paid_line(trade: &Trade, fen: i64, at: &str) -> String {
    format!(
        "{},PAID,{},0.00,{at}\n",
        trade.out_trade_no,
        wxpay_ops::wechat::Fen(fen).yuan()
    )
}

/// The first trades of a day that were paid and not refunded, in the day's ordinary hours.
fn paid_trades(day: &SyntheticDay) -> impl Iterator<Item = Trade> + '_ {
    (1..day.trades)
        .map(|i| day.trade(i))
        .filter(|t| t.kind == TradeKind::Paid)
}

fn write(env: &Env, name: &str, text: &str) -> String {
    std::fs::write(env.path(name), text).unwrap();
    name.to_owned()
}

/// `reconcile --format json` of a bill and an export into the test's ledger.
fn reconcile(env: &Env, bill: &str, export: &str, code: i32) -> crate::common::Output {
    env.run(&[
        "--format",
        "json",
        "reconcile",
        "--bill",
        bill,
        "--export",
        export,
        "--mch-id",
        MCH_ID,
        "--ledger",
        LEDGER,
    ])
    .expect(code)
}

fn ledger(env: &Env, args: &[&str], code: i32) -> crate::common::Output {
    let mut all = vec!["--format", "json", "ledger"];
    all.extend(args);
    all.extend(["--ledger", LEDGER]);
    env.run(&all).expect(code)
}

/// `ledger show`'s rows of one source (`bill_row`, `run`, `difference`).
fn shown(env: &Env, out_trade_no: &str, source: &str) -> Vec<Value> {
    let rows = ledger(env, &["show", out_trade_no], 0).json();
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == source)
        .cloned()
        .collect()
}

fn categories(rows: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap().to_owned();
            (text("category"), text("out_trade_no"))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_cut_off_payment_closes_with_the_next_days_run() {
    let env = Env::new();
    let (today, tomorrow) = (day("20261120", 200), day("20261121", 200));
    let first = tomorrow.trade(0);
    assert_eq!(first.kind, TradeKind::Paid);
    let fen = first.total_fee.0;
    let number = first.out_trade_no.as_str();
    // The shop books the next day's first payment a second before midnight.
    let export =
        orders(&today, &Differences::default()) + &paid_line(&first, fen, "2026-11-20 23:59:59");
    let export = write(&env, "today.csv", &export);
    let out = reconcile(&env, &write_bill(&env, &today, vec![]), &export, 1);
    assert_eq!(
        categories(&out.json()),
        [("cross_day".to_owned(), number.to_owned())]
    );
    assert!(
        out.stderr.contains(
            "run 1 of 2026-11-20, 1 difference; 0 earlier differences of other days closed"
        ),
        "{}",
        out.stderr
    );
    let open = ledger(&env, &["open"], 1).json();
    assert_eq!(open[0]["out_trade_no"], number);
    assert!(
        (open[0]["closes_when"].as_str().unwrap()).contains("in the bill of another day"),
        "{open}"
    );

    // The next day's export does not have it (the shop booked it the day before); its
    // bill does: that day's missing_in_export is the other half.
    let export = write(
        &env,
        "tomorrow.csv",
        &without(&orders(&tomorrow, &Differences::default()), number),
    );
    let out = reconcile(&env, &write_bill(&env, &tomorrow, vec![]), &export, 1);
    // What reconcile prints is the day's own reconciliation, as without a ledger.
    assert_eq!(
        categories(&out.json()),
        [("missing_in_export".to_owned(), number.to_owned())]
    );
    assert!(
        out.stderr.contains("run 2 of 2026-11-21")
            && out
                .stderr
                .contains("1 earlier difference of other days closed"),
        "{}",
        out.stderr
    );
    let open = ledger(&env, &["open"], 0).json();
    assert_eq!(open, Value::Array(vec![]));
    let differences = shown(&env, number, "difference");
    let [cut_off, half] = &differences[..] else {
        panic!("{differences:?}")
    };
    assert_eq!(
        (&cut_off["day"], &cut_off["category"], &cut_off["state"]),
        (
            &Value::from("2026-11-20"),
            &Value::from("cross_day"),
            &Value::from("closed")
        )
    );
    assert_eq!(cut_off["closed_by_run"], 2);
    assert_eq!(cut_off["closed_day"], "2026-11-21");
    assert_eq!(cut_off["closed_with"], half["id"]);
    assert_eq!(half["closed_with"], cut_off["id"]);
    assert_eq!(half["state"], "closed");
    assert_eq!(shown(&env, number, "run").len(), 2);
}

#[test]
fn a_late_refund_closes_two_days_later() {
    let env = Env::new();
    let days = [
        day("20261120", 200),
        day("20261121", 200),
        day("20261122", 200),
    ];
    let refunded = paid_trades(&days[0]).next().unwrap();
    let number = refunded.out_trade_no.as_str();
    let fee = refunded.total_fee;
    // The shop refunded the order in full on its day; WeChat's bill has no refund yet.
    let export = orders(&days[0], &Differences::default()).replace(
        &paid_line(
            &refunded,
            fee.0,
            &wxpay_ops::time::bill_time(refunded.paid_at),
        ),
        &format!(
            "{number},REFUNDED,{},{},{}\n",
            fee.yuan(),
            fee.yuan(),
            wxpay_ops::time::bill_time(refunded.paid_at)
        ),
    );
    let export = write(&env, "day0.csv", &export);
    let out = reconcile(&env, &write_bill(&env, &days[0], vec![]), &export, 1);
    assert_eq!(
        categories(&out.json()),
        [("missing_in_bill".to_owned(), number.to_owned())]
    );

    // The next day's run does not see it: still open, a day older.
    let export = write(&env, "day1.csv", &orders(&days[1], &Differences::default()));
    let out = reconcile(&env, &write_bill(&env, &days[1], vec![]), &export, 0);
    assert!(
        out.stderr.contains("0 earlier differences"),
        "{}",
        out.stderr
    );
    let open = ledger(&env, &["open"], 1).json();
    assert_eq!(open[0]["out_trade_no"], number);
    assert_eq!(open[0]["kind"], "order_refund");
    assert_eq!(open[0]["export_amount_fen"], fee.0);

    // Two days later the bill has the refund, by its number; that day's export does not.
    let payment = days[0].rows_of(refunded.index, FeeRate(60)).next().unwrap();
    let late = TradeRow {
        time: "2026-11-22 10:00:00".into(),
        refund: Some(RefundPart {
            paid_time: payment.time.clone(),
            applied_time: "2026-11-22 09:59:00".into(),
            success_time: "2026-11-22 10:00:00".into(),
            refund_id: "50300000000000000000000000001".into(),
            out_refund_no: "RLATE1".into(),
            refund_fee: fee,
            coupon_refund_fee: wxpay_ops::wechat::Fen(0),
            refund_channel: "ORIGINAL".into(),
            refund_status: "SUCCESS".into(),
        }),
        ..payment
    };
    let export = write(&env, "day2.csv", &orders(&days[2], &Differences::default()));
    let out = reconcile(&env, &write_bill(&env, &days[2], vec![late]), &export, 1);
    assert_eq!(
        categories(&out.json()),
        [("missing_in_export".to_owned(), number.to_owned())]
    );
    assert!(
        out.stderr.contains("run 3 of 2026-11-22")
            && out
                .stderr
                .contains("1 earlier difference of other days closed"),
        "{}",
        out.stderr
    );
    assert_eq!(ledger(&env, &["open"], 0).json(), Value::Array(vec![]));
    let differences = shown(&env, number, "difference");
    let [missing, late] = &differences[..] else {
        panic!("{differences:?}")
    };
    assert_eq!(missing["state"], "closed");
    assert_eq!(missing["closed_day"], "2026-11-22");
    assert_eq!(missing["closed_by_run"], 3);
    assert_eq!(late["out_refund_no"], "RLATE1");
    assert_eq!(missing["closed_with"], late["id"]);
    assert_eq!(late["closed_with"], missing["id"]);
}

#[test]
fn a_payment_missing_in_the_export_closes_when_a_later_export_has_it_charged() {
    let env = Env::new();
    let (today, tomorrow) = (day("20261120", 200), day("20261121", 200));
    let mut paid = paid_trades(&today);
    let (late, wrong) = (paid.next().unwrap(), paid.next().unwrap());
    let export = without(&orders(&today, &Differences::default()), &late.out_trade_no);
    let export = write(&env, "today.csv", &without(&export, &wrong.out_trade_no));
    let out = reconcile(&env, &write_bill(&env, &today, vec![]), &export, 1);
    let mut expected = vec![
        ("missing_in_export".to_owned(), late.out_trade_no.clone()),
        ("missing_in_export".to_owned(), wrong.out_trade_no.clone()),
    ];
    expected.sort();
    assert_eq!(categories(&out.json()), expected);

    // The next day's export has both, dated the day they were paid (out of that run's
    // scope): one for the bill's amount, one for a fen more.
    let at = |t: &Trade| wxpay_ops::time::bill_time(t.paid_at);
    let export = orders(&tomorrow, &Differences::default())
        + &paid_line(&late, late.total_fee.0, &at(&late))
        + &paid_line(&wrong, wrong.total_fee.0 + 1, &at(&wrong));
    let export = write(&env, "tomorrow.csv", &export);
    let out = reconcile(&env, &write_bill(&env, &tomorrow, vec![]), &export, 0);
    assert!(
        out.stderr
            .contains("1 earlier difference of other days closed"),
        "{}",
        out.stderr
    );
    let open = ledger(&env, &["open"], 1).json();
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["out_trade_no"], wrong.out_trade_no.as_str());
    assert_eq!(open[0]["age_days"].as_i64().map(|d| d >= 0), Some(true));
    // What was seen of it is said, for a person to judge.
    assert!(!open[0]["seen"].is_null(), "{open}");
    let closed = shown(&env, &late.out_trade_no, "difference");
    assert_eq!(closed[0]["state"], "closed");
    assert_eq!(closed[0]["closed_day"], "2026-11-21");
    assert_eq!(closed[0]["closed_with"], Value::Null);
}

#[test]
fn a_difference_is_resolved_by_hand_once_with_a_note() {
    let mut env = Env::new();
    env.set("USER", "alice");
    let today = day("20261120", 200);
    let mismatch = Differences {
        amount_mismatch: 1,
        ..Differences::default()
    };
    let export = write(&env, "today.csv", &orders(&today, &mismatch));
    reconcile(&env, &write_bill(&env, &today, vec![]), &export, 1);
    let open = ledger(&env, &["open"], 1).json();
    assert_eq!(open[0]["category"], "amount_mismatch");
    let id = open[0]["id"].as_i64().unwrap().to_string();
    assert!(
        (open[0]["closes_when"].as_str().unwrap())
            .contains(&format!("wxpay-ops ledger resolve {id}")),
        "{open}"
    );
    // A note is required, and says something.
    env.run(&["ledger", "resolve", &id, "--ledger", LEDGER])
        .expect(2);
    env.run(&["ledger", "resolve", &id, "--note", " ", "--ledger", LEDGER])
        .expect(2)
        .error_mentions("--note");
    let note = "the shop's price was wrong; corrected in the ERP";
    let resolved = ledger(&env, &["resolve", &id, "--note", note], 0).json();
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["resolved_by"], "alice");
    assert_eq!(resolved["resolution"], note);
    // Not twice: the error says what state it is in.
    env.run(&[
        "ledger", "resolve", &id, "--note", "again", "--ledger", LEDGER,
    ])
    .expect(2)
    .error_mentions("resolved")
    .hint_mentions("alice");
    env.run(&[
        "ledger", "resolve", "999", "--note", "x", "--ledger", LEDGER,
    ])
    .expect(2)
    .error_mentions("999")
    .hint_mentions("ledger open");
    assert_eq!(ledger(&env, &["open"], 0).json(), Value::Array(vec![]));
    let number = open[0]["out_trade_no"].as_str().unwrap();
    let shown = shown(&env, number, "difference");
    assert_eq!(shown[0]["user"], "alice");
    assert!(shown[0]["note"].as_str().unwrap().contains(note));
    // No ledger there: said, not created.
    env.run(&["ledger", "open", "--ledger", "nowhere.sqlite3"])
        .expect(2)
        .error_mentions("nowhere.sqlite3");
    assert!(!env.path("nowhere.sqlite3").exists());
}

#[test]
fn a_rerun_supersedes_the_days_open_differences_and_keeps_the_history() {
    let env = Env::new();
    let today = day("20261120", 200);
    let two = Differences {
        missing_in_export: 1,
        amount_mismatch: 1,
        ..Differences::default()
    };
    let export = write(&env, "today.csv", &orders(&today, &two));
    let bill = write_bill(&env, &today, vec![]);
    let first = reconcile(&env, &bill, &export, 1).json();
    let open = ledger(&env, &["open"], 1).json();
    let mismatch = (open.as_array().unwrap().iter())
        .find(|d| d["category"] == "amount_mismatch")
        .unwrap();
    let id = mismatch["id"].as_i64().unwrap().to_string();
    ledger(&env, &["resolve", &id, "--note", "known"], 0);

    // The same day again, as it was: the same report, a new run.
    let out = reconcile(&env, &bill, &export, 1);
    assert_eq!(out.json(), first);
    assert!(
        out.stderr.contains("run 2 of 2026-11-20")
            && out
                .stderr
                .contains("1 open difference of the day's earlier run superseded")
            && out.stderr.contains("1 closed or resolved before"),
        "{}",
        out.stderr
    );
    let open = ledger(&env, &["open"], 1).json();
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["category"], "missing_in_export");
    assert_eq!(open[0]["run_id"], 2);
    let number = open[0]["out_trade_no"].as_str().unwrap();
    let runs = shown(&env, number, "run");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0]["state"], "superseded");
    assert!(
        runs[0]["note"]
            .as_str()
            .unwrap()
            .contains("superseded by run 2")
    );
    let states: Vec<Value> = (shown(&env, number, "difference").iter())
        .map(|d| d["state"].clone())
        .collect();
    assert_eq!(states, ["superseded", "open"]);
    // The resolution holds on the re-run's difference of it.
    let number = mismatch["out_trade_no"].as_str().unwrap();
    let resolved = shown(&env, number, "difference");
    assert_eq!(resolved.len(), 2);
    assert!(
        resolved.iter().all(|d| d["state"] == "resolved"),
        "{resolved:?}"
    );
}

#[test]
fn two_days_reconciled_at_once_are_both_recorded() {
    let env = Env::new();
    let days = [day("20261120", 20_000), day("20261121", 20_000)];
    let one = Differences {
        missing_in_export: 1,
        ..Differences::default()
    };
    let mut children = Vec::new();
    for (i, day) in days.iter().enumerate() {
        let bill = write_bill(&env, day, vec![]);
        let export = write(&env, &format!("day{i}.csv"), &orders(day, &one));
        let args = [
            "reconcile",
            "--bill",
            &bill,
            "--export",
            &export,
            "--mch-id",
            MCH_ID,
            "--ledger",
            LEDGER,
        ];
        children.push(env.command(&args).spawn().unwrap());
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("1 difference"), "{stderr}");
    }
    let open = ledger(&env, &["open"], 1).json();
    let mut found: Vec<(String, i64)> = (open.as_array().unwrap().iter())
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_owned(),
                d["run_id"].as_i64().unwrap(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(found.len(), 2, "{open}");
    assert_eq!(
        (found[0].0.as_str(), found[1].0.as_str()),
        ("2026-11-20", "2026-11-21")
    );
    assert_ne!(found[0].1, found[1].1);
}

#[test]
fn the_ledger_beside_the_bills_and_no_ledger() {
    let env = Env::new();
    let today = day("20261120", 200);
    let one = Differences {
        missing_in_export: 1,
        ..Differences::default()
    };
    let export = write(&env, "today.csv", &orders(&today, &one));
    let bill = write_bill(&env, &today, vec![]);
    let base = [
        "reconcile",
        "--bill",
        &bill,
        "--export",
        &export,
        "--mch-id",
        MCH_ID,
    ];
    let bills = env.path("bills");
    let bills = bills.to_str().unwrap();
    let mut off = base.to_vec();
    off.extend(["--bill-dir", bills, "--no-ledger"]);
    let out = env.run(&off).expect(1);
    assert!(!out.stderr.contains("ledger"), "{}", out.stderr);
    let beside: PathBuf = env.path(&format!("bills/{MCH_ID}/ledger.sqlite3"));
    assert!(!beside.exists());
    let mut on = base.to_vec();
    on.extend(["--bill-dir", bills]);
    let out = env.run(&on).expect(1);
    assert!(out.stderr.contains("run 1 of 2026-11-20"), "{}", out.stderr);
    assert!(beside.exists());
    let open = env
        .run(&[
            "--format",
            "csv",
            "ledger",
            "open",
            "--bill-dir",
            bills,
            "--mch-id",
            MCH_ID,
        ])
        .expect(1);
    let mut lines = open.stdout.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,day,age_days,category,kind,out_trade_no")
    );
    assert_eq!(lines.count(), 1);
}

#[test]
fn a_ledger_that_cannot_be_written_fails_the_run_after_its_report() {
    let env = Env::new();
    let today = day("20261120", 200);
    let export = write(&env, "today.csv", &orders(&today, &Differences::default()));
    let bill = write_bill(&env, &today, vec![]);
    std::fs::write(env.path("file"), "not a folder").unwrap();
    let args = [
        "reconcile",
        "--bill",
        &bill,
        "--export",
        &export,
        "--mch-id",
        MCH_ID,
        "--ledger",
        "file/ledger.sqlite3",
        "--out",
        "report",
    ];
    let out = env.run(&args).expect(2).hint_mentions("--no-ledger");
    // The report's status line, then the ledger's error.
    assert!(
        (out.stderr.lines()).any(|l| l.starts_with("error: the ledger's folder: file")),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    // The reconciliation's own files are written all the same.
    assert!(env.path("report/summary.json").exists());
    assert!(env.path("report/differences.csv").exists());
    // Another program's database is refused before the run, and left alone.
    std::fs::write(env.path("other.sqlite3"), "SQLite format 3\0 not ours").unwrap();
    let args = [
        "reconcile",
        "--bill",
        &bill,
        "--export",
        &export,
        "--mch-id",
        MCH_ID,
        "--ledger",
        "other.sqlite3",
    ];
    env.run(&args).expect(2).error_mentions("other.sqlite3");
    assert_eq!(
        std::fs::read(env.path("other.sqlite3")).unwrap(),
        b"SQLite format 3\0 not ours"
    );
}

#[test]
fn open_and_show_keep_to_the_merchant_of_a_shared_ledger() {
    let env = Env::new();
    // Two merchants' days of the same date and seed: the same order numbers, in one ledger.
    let mine = day("20261120", 50);
    let theirs = SyntheticDay {
        mch_id: "1900000110".into(),
        ..mine.clone()
    };
    let missing = paid_trades(&mine).next().unwrap().out_trade_no;
    for (i, day) in [&mine, &theirs].into_iter().enumerate() {
        std::fs::create_dir_all(env.path(&day.mch_id)).unwrap();
        let bill = env.path(&format!("{}/2026-11-20.ALL.csv", day.mch_id));
        let mut file = std::fs::File::create(&bill).unwrap();
        write_trade_bill(&mut file, BillType::All, day.clone().into_rows(FeeRate(60))).unwrap();
        let export = without(&orders(day, &Differences::default()), &missing);
        let export = write(&env, &format!("orders-{i}.csv"), &export);
        let bill = bill.to_str().unwrap();
        if i == 0 {
            ledger(&env, &["import", bill], 0);
        }
        let args = ["reconcile", "--bill", bill, "--export", &export];
        let ledger = ["--mch-id", &day.mch_id, "--ledger", LEDGER];
        env.run(&[&args[..], &ledger].concat()).expect(1);
    }
    let merchants = |rows: &Value| -> Vec<String> {
        let rows = rows.as_array().unwrap().iter();
        rows.map(|r| r["mch_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = ledger(&env, &["open"], 1).json();
    assert_eq!(merchants(&all), [MCH_ID, "1900000110"]);
    let theirs_open = ledger(&env, &["open", "--mch-id", "1900000110"], 1).json();
    assert_eq!(merchants(&theirs_open), ["1900000110"]);

    let show = |mch_id: &str, code: i32| -> Vec<(String, Value)> {
        let out = ledger(&env, &["show", &missing, "--mch-id", mch_id], code);
        let rows = if code == 0 {
            out.json()
        } else {
            Value::Array(vec![])
        };
        (rows.as_array().unwrap().iter())
            .map(|r| (r["source"].as_str().unwrap().to_owned(), r["id"].clone()))
            .collect()
    };
    let sources = |rows: &[(String, Value)]| -> Vec<String> {
        let mut sources: Vec<String> = rows.iter().map(|(s, _)| s.clone()).collect();
        sources.dedup();
        sources
    };
    // Only the first merchant's bill was imported: its row, its run, its export's rows (none:
    // the order was left out of it) and its difference.
    let sources_of = ["bill_row", "run", "export_row", "difference"];
    assert_eq!(sources(&show(MCH_ID, 0)), sources_of);
    let theirs_shown = show("1900000110", 0);
    assert_eq!(sources(&theirs_shown), sources_of[1..]);
    let ids = |rows: &[(String, Value)], source: &str| -> Vec<Value> {
        (rows.iter().filter(|(s, _)| s == source))
            .map(|(_, id)| id.clone())
            .collect()
    };
    assert_eq!(
        ids(&theirs_shown, "difference"),
        [theirs_open[0]["id"].clone()]
    );
    assert_eq!(
        ids(&theirs_shown, "run"),
        [theirs_open[0]["run_id"].clone()]
    );
    // Unfiltered, both merchants' differences of that order number.
    let both = ledger(&env, &["show", &missing], 0).json();
    let differences = both.as_array().unwrap().iter();
    assert_eq!(
        differences.filter(|r| r["source"] == "difference").count(),
        2
    );
    show("1900000999", 1);
    // Resolving another merchant's difference is refused, and says whose it is.
    let id = theirs_open[0]["id"].to_string();
    let resolve = ["resolve", id.as_str(), "--note", "paid", "--mch-id", MCH_ID];
    ledger(&env, &resolve, 2)
        .error_mentions("merchant 1900000110")
        .hint_mentions("--mch-id 1900000110");
    assert_eq!(ledger(&env, &["open"], 1).json(), all);
}

#[test]
fn show_reads_the_order_s_rows_from_the_runs_exports_and_says_when_a_file_changed() {
    let env = Env::new();
    let today = day("20261120", 50);
    let mut paid = paid_trades(&today);
    let (matched, missing) = (paid.next().unwrap(), paid.next().unwrap());
    let bill = write_bill(&env, &today, vec![]);
    ledger(&env, &["import", &bill], 0);
    let export = without(
        &orders(&today, &Differences::default()),
        &missing.out_trade_no,
    );
    let export = write(&env, "orders.csv", &export);
    reconcile(&env, &bill, &export, 1);
    let export_rows = |number: &str| -> Vec<Value> { shown(&env, number, "export_row") };
    // A matched order: its bill row, the day's run, and its export row with the header's names.
    let rows = export_rows(&matched.out_trade_no);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["state"], "as read");
    assert!(rows[0]["line"].as_u64().unwrap() > 1);
    let note = rows[0]["note"].as_str().unwrap();
    assert!(
        note.starts_with(&format!("out_trade_no={}", matched.out_trade_no)),
        "{note}"
    );
    assert_eq!(shown(&env, &matched.out_trade_no, "run").len(), 1);
    // The order the export left out: checked, and absent.
    assert_eq!(export_rows(&missing.out_trade_no)[0]["state"], "absent");
    // The export edited since the run, then gone.
    let text = std::fs::read_to_string(env.path("orders.csv")).unwrap();
    std::fs::write(env.path("orders.csv"), text.replace("PAID", "paid")).unwrap();
    assert_eq!(
        export_rows(&matched.out_trade_no)[0]["state"],
        "changed since the run"
    );
    std::fs::remove_file(env.path("orders.csv")).unwrap();
    let rows = export_rows(&matched.out_trade_no);
    assert_eq!(rows[0]["state"], "unreadable");
    assert!(
        rows[0]["note"].as_str().unwrap().contains("orders.csv"),
        "{rows:?}"
    );
}

#[test]
fn differences_recorded_without_a_merchant_are_listed_for_any_merchant() {
    let env = Env::new();
    let today = day("20261120", 50);
    let missing = paid_trades(&today).next().unwrap();
    let bill = write_bill(&env, &today, vec![]);
    let export = without(
        &orders(&today, &Differences::default()),
        &missing.out_trade_no,
    );
    let export = write(&env, "orders.csv", &export);
    // No --mch-id and no profile: the run's merchant is not known.
    let args = [
        "reconcile",
        "--bill",
        &bill,
        "--export",
        &export,
        "--ledger",
        LEDGER,
    ];
    env.run(&args).expect(1);
    // A merchant's view of the ledger must not call the day clear.
    let open = ledger(&env, &["open", "--mch-id", MCH_ID], 1).json();
    assert_eq!(open[0]["out_trade_no"], missing.out_trade_no.as_str());
    assert_eq!(open[0]["mch_id"], Value::Null);
    let shown = ledger(
        &env,
        &["show", &missing.out_trade_no, "--mch-id", MCH_ID],
        0,
    )
    .json();
    assert!(
        shown
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["source"] == "difference")
    );
}

#[test]
fn show_does_not_wait_on_a_pipe_a_run_read_its_export_from() {
    let env = Env::new();
    let today = day("20261120", 20);
    let bill = write_bill(&env, &today, vec![]);
    ledger(&env, &["import", &bill], 0);
    let fifo = env.path("orders.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let orders = orders(&today, &Differences::default());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, orders).unwrap())
    };
    let number = paid_trades(&today).next().unwrap().out_trade_no;
    reconcile(&env, &bill, fifo.to_str().unwrap(), 0);
    writer.join().unwrap();
    // Nothing writes to the pipe now: reading it again would wait for ever.
    let rows = shown(&env, &number, "export_row");
    assert_eq!(rows[0]["state"], "a pipe", "{rows:?}");
}
