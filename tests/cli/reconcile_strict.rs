//! `reconcile` never says balanced while money is missing: exports as real shops write
//! them, read the same from a file and from a pipe, and refused loudly where they cannot
//! be read.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wxpay_ops::bill::format::{BillType, FeeRate, RefundPart, TradeRow};
use wxpay_ops::emulator::bills::write_trade_bill;
use wxpay_ops::emulator::synth::{Differences, SyntheticDay, write_export};
use wxpay_ops::wechat::Fen;

use crate::common::Env;
use crate::order::Shop;

const MCH_ID: &str = "1900000109";
const HEADER: &str = "out_trade_no,status,amount,refund_amount,paid_at";

fn day(trades: u64) -> SyntheticDay {
    SyntheticDay {
        mch_id: MCH_ID.into(),
        appid: "wx2421b1c4370ec43b".into(),
        bill_date: "20261120".into(),
        trades,
        seed: 7,
    }
}

/// The day's ALL bill and the shop's export of it, every order matching.
fn balanced_day(env: &Env, trades: u64) -> (PathBuf, String) {
    let day = day(trades);
    let bill = env.path("2026-11-20.ALL.csv");
    let mut file = std::fs::File::create(&bill).unwrap();
    write_trade_bill(&mut file, BillType::All, day.clone().into_rows(FeeRate(60))).unwrap();
    let mut csv = Vec::new();
    write_export(&day, &Differences::default(), FeeRate(60), &mut csv).unwrap();
    (bill, String::from_utf8(csv).unwrap())
}

fn reconcile(env: &Env, bill: &Path, export: &str, extra: &[&str]) -> crate::common::Output {
    let mut args = vec![
        "--format",
        "json",
        "reconcile",
        "--bill",
        bill.to_str().unwrap(),
        "--export",
        export,
    ];
    args.extend(extra);
    env.run(&args)
}

fn categories(out: &crate::common::Output) -> Vec<(String, String)> {
    let rows: Value = out.json();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["category"].as_str().unwrap().to_owned(),
                r["out_trade_no"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Three paid orders that WeChat Pay never received.
const UNKNOWN_TO_WECHAT: &str = "M0001,PAID,5.00,0.00,2026-11-20 10:00:00\n\
    M0002,PAID,6.00,0.00,2026-11-20 11:00:00\n\
    M0003,PAID,7.00,0.00,2026-11-20 12:00:00\n";

#[test]
fn a_quote_never_closed_is_an_error_not_a_balanced_day() {
    let env = Env::new();
    let (bill, orders) = balanced_day(&env, 20);
    let clean = format!("{orders}{UNKNOWN_TO_WECHAT}");
    std::fs::write(env.path("clean.csv"), &clean).unwrap();
    let out = reconcile(&env, &bill, "clean.csv", &[]).expect(1);
    let missing: Vec<_> = categories(&out)
        .into_iter()
        .filter(|(c, _)| c == "missing_in_bill")
        .collect();
    assert_eq!(missing.len(), 3, "{missing:?}");

    let line = orders.lines().count() + 1;
    let quoted =
        format!("{orders}X0001,CLOSED,1.00,0.00,,\"customer said \"\"hi\n{UNKNOWN_TO_WECHAT}");
    std::fs::write(env.path("quoted.csv"), &quoted).unwrap();
    let out = reconcile(&env, &bill, "quoted.csv", &["--out", "report"]).expect(2);
    let out = out
        .error_mentions(&format!(
            "quoted.csv: line {line}: a quote opens a cell here that is never closed"
        ))
        .hint_mentions("doubled");
    assert!(out.stdout.is_empty());
    assert!(
        !env.path("report/summary.json").exists(),
        "no report of a day not read"
    );
    // Not even --skip-bad-lines goes past it: what follows cannot be told apart.
    reconcile(&env, &bill, "quoted.csv", &["--skip-bad-lines"]).expect(2);
}

#[test]
fn a_file_and_the_same_bytes_through_a_pipe_reconcile_alike() {
    let env = Env::new();
    // Over 8 MiB, so the file is read in parts: a literal quote in an unquoted cell, and a
    // quoted note with line breaks across the middle, where a cut would fall.
    let (bill, orders) = balanced_day(&env, 160_000);
    let lines: Vec<&str> = orders.lines().collect();
    let middle = lines.len() / 2;
    let mut text = format!("{},note\n", lines[0]);
    for (i, line) in lines.iter().enumerate().skip(1) {
        let note = match i {
            1000 => "12\" pizza".to_owned(),
            i if i == middle => format!("\"{}\"", "asked for a receipt,\nthen left\n".repeat(4)),
            _ => String::new(),
        };
        text += &format!("{line},{note}\n");
        if i == middle + 1 {
            text += &UNKNOWN_TO_WECHAT.replace('\n', ",\n");
        }
    }
    assert!(text.len() > 8 << 20);
    std::fs::write(env.path("orders.csv"), &text).unwrap();
    let bill = bill.to_str().unwrap();
    let run = |export: &str, extra: &[&str], stdin: Option<&[u8]>| {
        let mut args = vec![
            "--format",
            "csv",
            "reconcile",
            "--bill",
            bill,
            "--export",
            export,
        ];
        args.extend(extra);
        env.run_with_stdin(&args, stdin).expect(1).stdout
    };
    let file = run("orders.csv", &["--threads", "2"], None);
    // The same bytes through a pipe, on one thread, and by the reference engine.
    let pipe = run("/dev/stdin", &["--threads", "2"], Some(text.as_bytes()));
    assert_eq!(pipe, file);
    assert_eq!(run("orders.csv", &["--threads", "1"], None), file);
    assert_eq!(run("orders.csv", &["--engine", "reference"], None), file);
    let missing = file
        .lines()
        .filter(|l| l.starts_with("missing_in_bill,payment,M000"))
        .count();
    assert_eq!(missing, 3, "{file}");
}

#[test]
fn order_query_from_csv_answers_every_row_of_a_pipe_given_by_path() {
    let shop = Shop::new();
    let mut csv = String::from("out_trade_no\n");
    for n in 0..300 {
        csv += &format!("P{n:04}\n");
    }
    shop.place("P0000", "100");
    let out = shop.run_with_stdin(
        &[
            "order",
            "query",
            "--from-csv",
            "/dev/stdin",
            "--concurrency",
            "16",
        ],
        csv.as_bytes(),
    );
    let out = out.expect(3);
    let rows = out.json();
    assert_eq!(rows.as_array().unwrap().len(), 300, "every row answered");
    assert!(out.stderr.contains("300 orders"), "{}", out.stderr);

    // A quote never closed: the rows it would swallow are not silently dropped.
    let broken = "out_trade_no\nP0000\n\"P0001\nP0002\nP0003\n";
    let out = shop.run_with_stdin(&["order", "query", "--from-csv", "-"], broken.as_bytes());
    let out = out.expect(2);
    assert!(
        out.stdout.contains("never closed"),
        "the row that could not be read says why: {}",
        out.stdout
    );
}

#[test]
fn empty_optional_cells_are_absent() {
    let env = Env::new();
    let (bill, orders) = balanced_day(&env, 50);
    // As Excel saves it: no refund amount on payment rows, no time on unpaid ones.
    let mut lines = orders.lines();
    let mut text = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let refund = if cells[3] == "0.00" { "" } else { cells[3] };
        text += &format!(
            "{},{},{},{refund},{}\n",
            cells[0], cells[1], cells[2], cells[4]
        );
    }
    assert!(text.contains(",,"), "some cells are empty");
    std::fs::write(env.path("excel.csv"), &text).unwrap();
    let out = reconcile(&env, &bill, "excel.csv", &[]).expect(0);
    assert_eq!(out.json(), Value::Array(vec![]));
}

#[test]
fn an_export_without_times_reconciles_and_says_cross_day_hints_are_off() {
    let env = Env::new();
    let (bill, orders) = balanced_day(&env, 50);
    let without: String = orders
        .lines()
        .map(|line| line.rsplit_once(',').unwrap().0.to_owned() + "\n")
        .collect();
    std::fs::write(env.path("untimed.csv"), &without).unwrap();
    let out = reconcile(&env, &bill, "untimed.csv", &[]).expect(0);
    let warned = out.stderr.matches("no column \"paid_at\"").count();
    assert_eq!(warned, 1, "said once: {}", out.stderr);
    assert!(out.stderr.contains("cross-day hints are off"));
    let out = reconcile(&env, &bill, "untimed.csv", &["--time-column", "none"]).expect(0);
    assert!(!out.stderr.contains("paid_at"), "{}", out.stderr);
    // A column the user names must be there.
    reconcile(&env, &bill, "untimed.csv", &["--time-column", "paid_time"])
        .expect(2)
        .error_mentions("no column \"paid_time\"");
}

#[test]
fn amounts_no_order_carries_are_refused_and_sums_never_wrap() {
    let env = Env::new();
    let (bill, orders) = balanced_day(&env, 20);
    let mut text = orders.clone();
    for n in 0..10 {
        text += &format!("H{n:04},PAID,9999999999999999.99,0.00,2026-11-20 10:00:00\n");
    }
    std::fs::write(env.path("huge.csv"), &text).unwrap();
    let line = orders.lines().count() + 1;
    reconcile(&env, &bill, "huge.csv", &[])
        .expect(2)
        .error_mentions(&format!(
            "line {line}, column amount: \"9999999999999999.99\" is more than one WeChat Pay order can carry"
        ));
    // Skipped, they are counted, and no sum goes negative.
    let out = reconcile(
        &env,
        &bill,
        "huge.csv",
        &["--skip-bad-lines", "--out", "report"],
    );
    out.expect(1);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(env.path("report/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["export"]["skipped_bad_lines"], 10);
    assert!(summary["export"]["payments"]["amount"].as_i64().unwrap() > 0);

    // A bill row beyond the cap is no bill of WeChat Pay's.
    let row = |order: &str| TradeRow {
        time: "2026-11-20 10:00:00".into(),
        appid: "wx2421b1c4370ec43b".into(),
        mch_id: MCH_ID.into(),
        sub_mch_id: String::new(),
        device_info: String::new(),
        transaction_id: "4200000000000000000000000001".into(),
        out_trade_no: order.into(),
        openid: "o".into(),
        trade_type: "JSAPI".into(),
        bank_type: "CMC".into(),
        body: "b".into(),
        attach: String::new(),
        total_fee: Fen(999_999_999_999_999),
        coupon_fee: Fen(0),
        rate: FeeRate(60),
        refund: None::<RefundPart>,
    };
    let mut file = std::fs::File::create(env.path("huge-bill.csv")).unwrap();
    write_trade_bill(&mut file, BillType::All, [row("Q1"), row("Q2")].into_iter()).unwrap();
    std::fs::write(env.path("q.csv"), format!("{HEADER}\nQ1,PAID,1.00,,\n")).unwrap();
    reconcile(&env, &env.path("huge-bill.csv"), "q.csv", &[])
        .expect(2)
        .error_mentions(
            "line 2: an amount of 9999999999999.99 yuan, more than one WeChat Pay order can carry",
        );
}

#[test]
fn a_line_of_more_than_a_mebibyte_is_refused_with_its_number() {
    let env = Env::new();
    let (bill, orders) = balanced_day(&env, 20);
    let line = orders.lines().count() + 1;
    // Plain, split where it lies; and quoted, on the csv reader's path.
    for cell in ["x".repeat(3 << 20), format!("\"{}\"", "y".repeat(3 << 20))] {
        let text = format!("{orders}L1,PAID,1.00,0.00,2026-11-20 10:00:00,{cell}\n");
        std::fs::write(env.path("long.csv"), &text).unwrap();
        reconcile(&env, &bill, "long.csv", &[])
            .expect(2)
            .error_mentions(&format!("long.csv: line {line}: a row of more than 1 MiB"));
    }
}

#[test]
fn header_twins_decimal_commas_gbk_behind_a_bom_and_the_help() {
    let env = Env::new();
    let (bill, orders) = balanced_day(&env, 20);
    let twins = orders.replacen(HEADER, &format!("{HEADER},amount"), 1);
    std::fs::write(env.path("twins.csv"), &twins).unwrap();
    reconcile(&env, &bill, "twins.csv", &[])
        .expect(2)
        .error_mentions("the header names column \"amount\" twice (columns 3 and 6)");

    let semicolons = format!(
        "{}\nS1;PAID;197,24;;2026-11-20 10:00:00\n",
        HEADER.replace(',', ";")
    );
    std::fs::write(env.path("comma.csv"), &semicolons).unwrap();
    reconcile(&env, &bill, "comma.csv", &[])
        .expect(2)
        .error_mentions("line 2, column amount: \"197,24\" is not an amount in yuan");

    let chinese = "订单号,状态,金额,支付时间\nS1,PAID,1.00,2026-11-20 10:00:00\n";
    let mut gbk = b"\xEF\xBB\xBF".to_vec();
    gbk.extend_from_slice(&encoding_rs::GBK.encode(chinese).0);
    std::fs::write(env.path("gbk.csv"), &gbk).unwrap();
    let mapping = [
        "--order-column",
        "订单号",
        "--status-column",
        "状态",
        "--amount-column",
        "金额",
        "--time-column",
        "支付时间",
    ];
    reconcile(&env, &bill, "gbk.csv", &mapping)
        .expect(2)
        .error_mentions("this looks like GBK behind a UTF-8 byte order mark")
        .hint_mentions("--encoding");
    let mut with_encoding = mapping.to_vec();
    with_encoding.extend(["--encoding", "gbk"]);
    let out = reconcile(&env, &bill, "gbk.csv", &with_encoding).expect(1);
    assert!(categories(&out).contains(&("missing_in_bill".into(), "S1".into())));

    let help = env.run(&["reconcile", "--help"]).expect(0).stdout;
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("missing_in_export"), "{help}");
    assert!(!help.contains("missing_inexport"));
    assert!(help.contains("just after midnight that WeChat Pay booked the day before"));
}

#[test]
fn iso_times_with_fractions_and_their_own_offset() {
    let env = Env::new();
    let (bill, orders) = balanced_day(&env, 50);
    let iso: String = orders
        .lines()
        .map(|line| match line.rsplit_once(',') {
            Some((rest, time)) if time.len() == 19 => {
                format!("{rest},{}T{}.250+08:00\n", &time[..10], &time[11..])
            }
            _ => format!("{line}\n"),
        })
        .collect();
    assert!(iso.contains("T"), "{iso}");
    std::fs::write(env.path("iso.csv"), &iso).unwrap();
    // The times' own offset wins over --time-zone.
    let format = [
        "--time-format",
        "%Y-%m-%dT%H:%M:%S.%f%z",
        "--time-zone",
        "UTC",
    ];
    let out = reconcile(&env, &bill, "iso.csv", &format).expect(0);
    assert_eq!(out.json(), Value::Array(vec![]));
    reconcile(
        &env,
        &bill,
        "iso.csv",
        &["--time-format", "%Y-%m-%dT%H:%M:%S%Q"],
    )
    .expect(2)
    .error_mentions("%Q is not supported");
}

#[test]
fn threads_come_from_the_flag_else_the_environment() {
    let mut env = Env::new();
    let (bill, orders) = balanced_day(&env, 20);
    std::fs::write(env.path("orders.csv"), &orders).unwrap();
    env.set("WXPAY_OPS_THREADS", "0");
    reconcile(&env, &bill, "orders.csv", &[])
        .expect(2)
        .error_mentions("WXPAY_OPS_THREADS=\"0\" is not a number of threads from 1 to 1024");
    // The flag wins over the environment.
    reconcile(&env, &bill, "orders.csv", &["--threads", "3"]).expect(0);
    env.set("WXPAY_OPS_THREADS", "4");
    reconcile(&env, &bill, "orders.csv", &[]).expect(0);
    reconcile(&env, &bill, "orders.csv", &["--threads", "0"])
        .expect(2)
        .error_mentions("--threads");
}
