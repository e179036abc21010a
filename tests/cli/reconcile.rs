//! `reconcile` on synthetic days whose differences are known, in every export shape.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use wxpay_ops::bill::format::{BillType, FeeRate, Summary};
use wxpay_ops::emulator::bills::write_trade_bill;
use wxpay_ops::emulator::synth::{Differences, Expected, SyntheticDay, write_export};

use crate::common::Env;

const MCH_ID: &str = "1900000109";

fn day(date: &str, trades: u64) -> SyntheticDay {
    SyntheticDay {
        mch_id: MCH_ID.into(),
        appid: "wx2421b1c4370ec43b".into(),
        bill_date: date.into(),
        trades,
        seed: 7,
    }
}

/// Writes the day's ALL bill as `bill download` names it, and returns its path and summary.
fn write_bill(env: &Env, day: &SyntheticDay) -> (PathBuf, Summary) {
    let date = format!(
        "{}-{}-{}",
        &day.bill_date[..4],
        &day.bill_date[4..6],
        &day.bill_date[6..]
    );
    let path = env.path(&format!("{date}.ALL.csv"));
    let mut file = std::fs::File::create(&path).unwrap();
    let summary =
        write_trade_bill(&mut file, BillType::All, day.clone().into_rows(FeeRate(60))).unwrap();
    (path, summary)
}

fn write_orders(env: &Env, day: &SyntheticDay, differences: &Differences) -> (String, Expected) {
    let mut csv = Vec::new();
    let expected = write_export(day, differences, FeeRate(60), &mut csv).unwrap();
    std::fs::write(env.path("orders.csv"), &csv).unwrap();
    (String::from_utf8(csv).unwrap(), expected)
}

fn by_category(rows: &Value) -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let mut found = std::collections::BTreeMap::<String, BTreeSet<String>>::new();
    for row in rows.as_array().unwrap() {
        found
            .entry(row["category"].as_str().unwrap().to_owned())
            .or_default()
            .insert(row["out_trade_no"].as_str().unwrap().to_owned());
    }
    found
}

fn set(list: &[String]) -> BTreeSet<String> {
    list.iter().cloned().collect()
}

#[test]
fn each_category_holds_exactly_the_expected_orders() {
    let env = Env::new();
    let day = day("20261120", 5000);
    let (bill, summary) = write_bill(&env, &day);
    let differences = Differences {
        missing_in_export: 4,
        missing_in_bill: 3,
        amount_mismatch: 5,
        status_mismatch: 6,
        cross_day: 2,
        duplicate: 2,
    };
    // The export as `emulator export` writes it, with the list of what differs.
    let out = env
        .run(&[
            "emulator",
            "export",
            "--day",
            "20261120:5000:7",
            "-o",
            "orders.csv",
            "--missing-in-export",
            "4",
            "--missing-in-bill",
            "3",
            "--amount-mismatch",
            "5",
            "--status-mismatch",
            "6",
            "--cross-day",
            "2",
            "--duplicate",
            "2",
        ])
        .expect(0);
    let expected: Expected = serde_json::from_value(out.json()).unwrap();
    assert_eq!(expected.differences, differences);
    let bill = bill.to_str().unwrap();
    let out = env
        .run(&[
            "--format",
            "json",
            "reconcile",
            "--bill",
            bill,
            "--export",
            "orders.csv",
            "--mch-id",
            MCH_ID,
            "--out",
            "report",
        ])
        .expect(1);
    let rows = out.json();
    let found = by_category(&rows);
    let listed = &expected.difference_orders;
    for (category, orders) in [
        ("missing_in_export", &listed.missing_in_export),
        ("missing_in_bill", &listed.missing_in_bill),
        ("amount_mismatch", &listed.amount_mismatch),
        ("status_mismatch", &listed.status_mismatch),
        ("cross_day", &listed.cross_day),
        ("duplicate", &listed.duplicate),
    ] {
        assert_eq!(found.get(category), Some(&set(orders)), "{category}");
    }
    assert!(!found.contains_key("matched"));
    for row in rows.as_array().unwrap() {
        let side = |key: &str| row[key].as_i64().unwrap_or(0);
        assert_eq!(
            row["difference_fen"].as_i64().unwrap(),
            side("bill_amount_fen") - side("export_amount_fen")
        );
        if row["category"] == "amount_mismatch" {
            assert_ne!(row["difference_fen"], 0);
        }
    }

    // --out: the same rows as CSV, with out_trade_no for `order query --from-csv`, and the
    // summary with the totals.
    let csv_text = std::fs::read_to_string(env.path("report/differences.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[2], "out_trade_no");
    assert_eq!(reader.records().count(), rows.as_array().unwrap().len());
    let summary_json: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("report/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary_json["balanced"], false);
    assert_eq!(summary_json["bill"]["rows"], summary.count);
    assert_eq!(summary_json["bill"]["summary_consistent"], true);
    assert_eq!(summary_json["bill"]["refunds"]["amount"], summary.refund.0);
    assert_eq!(summary_json["export"]["not_charged"], expected.closed);
    assert_eq!(summary_json["categories"]["missing_in_bill"]["count"], 3);
    let settled = summary.settlement.0 - summary.refund.0;
    let net = wxpay_ops::wechat::BillAmount(settled * 1000 - summary.fee.0 * 1000).format(5);
    assert_eq!(summary_json["bill"]["net_settlement_yuan"], net);
    let sum_bill: i64 = summary_json["categories"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["bill_amount_fen"].as_i64().unwrap())
        .sum();
    assert_eq!(sum_bill, summary.order_total.0 - summary.refund.0);
}

#[test]
fn a_clean_day_is_balanced_and_the_table_shows_the_totals() {
    let env = Env::new();
    let day = day("20261120", 300);
    let (bill, _) = write_bill(&env, &day);
    let (_, expected) = write_orders(&env, &day, &Differences::default());
    let bill = bill.to_str().unwrap();
    let out = env
        .run(&[
            "--format",
            "json",
            "reconcile",
            "--bill",
            bill,
            "--export",
            "orders.csv",
        ])
        .expect(0);
    assert_eq!(out.json(), Value::Array(vec![]));
    let out = env
        .run(&[
            "--format",
            "table",
            "reconcile",
            "--bill",
            bill,
            "--export",
            "orders.csv",
        ])
        .expect(0);
    assert!(out.stdout.contains("matched"), "{}", out.stdout);
    assert!(
        out.stdout.contains("bill: net settlement"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("balanced"), "{}", out.stderr);
    assert!(expected.matched > 0);
    // The same bill gzipped, as `--gzip` downloads may be kept.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &std::fs::read(bill).unwrap()).unwrap();
    std::fs::write(env.path("2026-11-20.ALL.csv.gz"), gz.finish().unwrap()).unwrap();
    env.run(&[
        "reconcile",
        "--bill",
        "2026-11-20.ALL.csv.gz",
        "--export",
        "orders.csv",
    ])
    .expect(0);
}

fn chinese(orders: &str) -> String {
    orders
        .replacen(
            "out_trade_no,status,amount,refund_amount,paid_at",
            "商户订单号,订单状态,金额,退款金额,支付时间",
            1,
        )
        .replace(",PAID,", ",已支付,")
        .replace(",REFUNDED,", ",已退款,")
        .replace(",CLOSED,", ",已关闭,")
}

const CHINESE_MAPPING: [&str; 14] = [
    "--order-column",
    "商户订单号",
    "--status-column",
    "订单状态",
    "--amount-column",
    "金额",
    "--refund-amount-column",
    "退款金额",
    "--time-column",
    "支付时间",
    "--paid-values",
    "已支付",
    "--refunded-values",
    "已退款",
];

#[test]
fn gbk_and_bom_exports_with_chinese_columns() {
    let env = Env::new();
    let day = day("20261120", 400);
    let (bill, _) = write_bill(&env, &day);
    let differences = Differences {
        amount_mismatch: 1,
        ..Differences::default()
    };
    let (orders, expected) = write_orders(&env, &day, &differences);
    let text = chinese(&orders);
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    std::fs::write(env.path("gbk.csv"), &gbk).unwrap();
    std::fs::write(env.path("bom.csv"), format!("\u{feff}{text}")).unwrap();
    let bill = bill.to_str().unwrap();
    for (file, encoding) in [("gbk.csv", "gb18030"), ("bom.csv", "utf-8")] {
        let mut args = vec![
            "--format",
            "json",
            "reconcile",
            "--bill",
            bill,
            "--export",
            file,
        ];
        args.extend(CHINESE_MAPPING);
        args.extend(["--closed-values", "已关闭", "--out", "out"]);
        let out = env.run(&args).expect(1);
        let found = by_category(&out.json());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found["amount_mismatch"],
            set(&expected.difference_orders.amount_mismatch)
        );
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(env.path("out/summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["export"]["encoding"], encoding);
    }
    // GBK read as UTF-8 fails on the first order number it cannot read.
    let mut args = vec![
        "reconcile",
        "--bill",
        bill,
        "--export",
        "gbk.csv",
        "--encoding",
        "utf-8",
    ];
    args.extend(CHINESE_MAPPING);
    env.run(&args).expect(2).error_mentions("gbk.csv");
}

#[test]
fn one_row_per_transaction_with_refund_numbers_and_semicolons() {
    let env = Env::new();
    let day = day("20261120", 400);
    let (bill, _) = write_bill(&env, &day);
    let (orders, _) = write_orders(&env, &day, &Differences::default());
    let mut text = String::from("type;order;refund_no;amount;time\n");
    for line in orders.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        match f[1] {
            "PAID" => text.push_str(&format!("pay;{};;{};{}\n", f[0], f[2], f[4])),
            "REFUNDED" => {
                text.push_str(&format!("pay;{};;{};{}\n", f[0], f[2], f[4]));
                text.push_str(&format!("refund;{0};R{0};-{1};{2}\n", f[0], f[3], f[4]));
            }
            _ => {}
        }
    }
    std::fs::write(env.path("tx.csv"), &text).unwrap();
    let bill = bill.to_str().unwrap();
    let args = [
        "--format",
        "json",
        "reconcile",
        "--bill",
        bill,
        "--export",
        "tx.csv",
        "--type-column",
        "type",
        "--payment-types",
        "pay",
        "--refund-types",
        "refund",
        "--order-column",
        "order",
        "--refund-no-column",
        "refund_no",
        "--time-column",
        "time",
        "--refund-time-column",
        "time",
    ];
    env.run(&args).expect(0);
    // A refund the shop numbered differently is missing on both sides.
    let renumbered = text.replacen("refund;SYN", "refund;XSYN", 1);
    let first_refund = renumbered
        .lines()
        .find(|l| l.starts_with("refund;"))
        .unwrap();
    let number = first_refund.split(';').nth(2).unwrap().to_owned();
    let renumbered = text.replacen(&format!(";{number};"), ";RX1;", 1);
    std::fs::write(env.path("tx.csv"), renumbered).unwrap();
    let out = env.run(&args).expect(1);
    let rows = out.json();
    let categories: Vec<(&str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["category"].as_str().unwrap(),
                r["out_refund_no"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        categories.contains(&("missing_in_bill", "RX1")),
        "{categories:?}"
    );
    assert!(
        categories.contains(&("missing_in_export", number.as_str())),
        "{categories:?}"
    );
}

#[test]
fn cross_day_entries_are_confirmed_by_the_adjacent_bill() {
    let env = Env::new();
    let today = day("20261120", 200);
    let tomorrow = day("20261121", 200);
    let (bill, _) = write_bill(&env, &today);
    let (next_bill, _) = write_bill(&env, &tomorrow);
    let (orders, _) = write_orders(&env, &today, &Differences::default());
    // The shop dates the next day's first payment a second before midnight.
    let first = tomorrow.trade(0);
    assert!(first.kind != wxpay_ops::emulator::synth::TradeKind::Closed);
    let extra = format!(
        "{},PAID,{},0.00,2026-11-20 23:59:59\n",
        first.out_trade_no,
        first.total_fee.yuan()
    );
    std::fs::write(env.path("orders.csv"), format!("{orders}{extra}")).unwrap();
    let (bill, next_bill) = (bill.to_str().unwrap(), next_bill.to_str().unwrap());
    let base = [
        "--format",
        "json",
        "reconcile",
        "--bill",
        bill,
        "--export",
        "orders.csv",
    ];
    let out = env.run(&base).expect(1);
    let rows = out.json();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["category"], "cross_day");
    assert!(rows[0]["note"].as_str().unwrap().contains("likely cut-off"));
    let mut args = base.to_vec();
    args.extend(["--next-bill", next_bill]);
    let rows = env.run(&args).expect(1).json();
    assert_eq!(rows[0]["category"], "cross_day");
    assert_eq!(rows[0]["out_trade_no"], first.out_trade_no.as_str());
    assert!(
        rows[0]["note"]
            .as_str()
            .unwrap()
            .contains("next day's bill")
    );
    assert_eq!(rows[0]["bill_time"], "2026-11-21 00:00:00");
    // Outside the cut-off window, and with the next bill not having it: missing.
    let mut args = base.to_vec();
    args.extend(["--cutoff-window", "0"]);
    let rows = env.run(&args).expect(1).json();
    assert_eq!(rows[0]["category"], "missing_in_bill");
}

#[test]
fn bad_inputs_are_named_with_exit_2() {
    let env = Env::new();
    let day = day("20261120", 100);
    let (bill, _) = write_bill(&env, &day);
    let (orders, _) = write_orders(&env, &day, &Differences::default());
    let bill = bill.to_str().unwrap();
    let run = |name: &str, text: &[u8], extra: &[&str]| {
        std::fs::write(env.path(name), text).unwrap();
        let mut args = vec!["reconcile", "--bill", bill, "--export", name];
        args.extend(extra);
        env.run(&args).expect(2)
    };
    run("cols.csv", orders.replacen("amount", "total", 1).as_bytes(), &[])
        .error_mentions("cols.csv: no column \"amount\" for the amount (columns found: out_trade_no, status, total, refund_amount, paid_at)")
        .hint_mentions("--amount-column");
    let second = orders.lines().nth(1).unwrap();
    let amount = second.split(',').nth(2).unwrap();
    let broken = orders.replacen(second, &second.replacen(amount, "12.345", 1), 1);
    run("amount.csv", broken.as_bytes(), &[])
        .error_mentions("amount.csv: line 2, column amount: \"12.345\" is not an amount in yuan")
        .hint_mentions("--skip-bad-lines");
    let time = second.split(',').nth(4).unwrap();
    let broken = orders.replacen(second, &second.replacen(time, "20/11/2026 08:00", 1), 1);
    run("time.csv", broken.as_bytes(), &[])
        .error_mentions("time.csv: line 2, column paid_at: \"20/11/2026 08:00\" is not a time");
    run("utf16.csv", b"\xFF\xFEo\0u\0t\0", &[]).error_mentions("UTF-16");
    run("empty.csv", b"", &[]).error_mentions("empty.csv: the export is empty");
    run(
        "header.csv",
        b"out_trade_no,status,amount,refund_amount,paid_at\n",
        &[],
    )
    .error_mentions("no rows");
    std::fs::write(env.path("orders.csv"), &orders).unwrap();
    let wrong_merchant = [
        "reconcile",
        "--bill",
        bill,
        "--export",
        "orders.csv",
        "--mch-id",
        "1230000109",
    ];
    env.run(&wrong_merchant)
        .expect(2)
        .error_mentions("another merchant");
    let wrong_day = [
        "reconcile",
        "--bill",
        bill,
        "--export",
        "orders.csv",
        "--date",
        "2026-11-19",
    ];
    env.run(&wrong_day).expect(2).error_mentions("another day");
    // A SUCCESS bill lacks the refunds.
    let mut file = std::fs::File::create(env.path("2026-11-20.SUCCESS.csv")).unwrap();
    write_trade_bill(
        &mut file,
        BillType::Success,
        day.clone().into_rows(FeeRate(60)),
    )
    .unwrap();
    let success = [
        "reconcile",
        "--bill",
        "2026-11-20.SUCCESS.csv",
        "--export",
        "orders.csv",
    ];
    env.run(&success)
        .expect(2)
        .error_mentions("a SUCCESS bill; only the ALL trade bill")
        .hint_mentions("--type ALL");
    // The downloaded bill of a day that was never downloaded.
    let missing = [
        "reconcile",
        "--date",
        "2026-11-19",
        "--bill-dir",
        "bills",
        "--mch-id",
        MCH_ID,
        "--export",
        "orders.csv",
    ];
    env.run(&missing)
        .expect(2)
        .hint_mentions("wxpay-ops bill download --date 2026-11-19");
    // Skipping bad lines counts them, says so, and is no balance.
    let second_amount = orders.lines().nth(2).unwrap();
    let skipped = orders.replacen(second_amount, &second_amount.replacen(',', ",?", 1), 1);
    std::fs::write(env.path("skip.csv"), skipped).unwrap();
    let out = env
        .run(&[
            "--format",
            "json",
            "reconcile",
            "--bill",
            bill,
            "--export",
            "skip.csv",
            "--skip-bad-lines",
            "--out",
            "skip",
        ])
        .expect(1);
    assert!(out.stderr.contains("skipped 1 bad lines"), "{}", out.stderr);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("skip/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["export"]["skipped_bad_lines"], 1);
    assert!(
        summary["export"]["bad_lines"][0]
            .as_str()
            .unwrap()
            .starts_with("line 3, column status")
    );
}

#[test]
fn the_profile_maps_the_export() {
    let mut env = Env::new();
    let day = day("20261120", 300);
    let (bill, _) = write_bill(&env, &day);
    let (orders, _) = write_orders(&env, &day, &Differences::default());
    let text = chinese(&orders);
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    std::fs::write(env.path("gbk.csv"), &gbk).unwrap();
    let config = env.write_config(&format!(
        "[profiles.shop]\nmch_id = \"{MCH_ID}\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"TEST_API_KEY\"\n\n\
         [profiles.shop.reconcile]\norder_column = \"商户订单号\"\nstatus_column = \"订单状态\"\n\
         amount_column = \"金额\"\nrefund_amount_column = \"退款金额\"\ntime_column = \"支付时间\"\n\
         paid_values = [\"已支付\"]\nrefunded_values = [\"已退款\"]\nclosed_values = [\"已关闭\"]\n\
         encoding = \"gbk\"\n"
    ));
    env.set("WXPAY_OPS_CONFIG", config.to_str().unwrap());
    let bill = bill.to_str().unwrap();
    env.run(&[
        "--format",
        "json",
        "reconcile",
        "--bill",
        bill,
        "--export",
        "gbk.csv",
    ])
    .expect(0);
    // A flag overrides the profile: no such column.
    env.run(&[
        "reconcile",
        "--bill",
        bill,
        "--export",
        "gbk.csv",
        "--order-column",
        "订单",
    ])
    .expect(2)
    .error_mentions("no column \"订单\"");
}

/// `--date` finds the bill where `bill download` saved it: the profile's bill_dir.
#[test]
fn date_reads_the_bill_from_the_profiles_bill_folder() {
    let mut env = Env::new();
    let day = day("20261120", 200);
    let (bill, _) = write_bill(&env, &day);
    write_orders(&env, &day, &Differences::default());
    let folder = env.path("bills").join(MCH_ID);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::rename(&bill, folder.join("2026-11-20.ALL.csv")).unwrap();
    let config = env.write_config(&format!(
        "[profiles.shop]\nmch_id = \"{MCH_ID}\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"TEST_API_KEY\"\nbill_dir = {:?}\n",
        env.path("bills").to_str().unwrap()
    ));
    env.set("WXPAY_OPS_CONFIG", config.to_str().unwrap());
    let by_date = [
        "reconcile",
        "--date",
        "2026-11-20",
        "--export",
        "orders.csv",
    ];
    env.run(&by_date).expect(0);
    // With --mch-id the bill is only looked for, never fetched: the profile's key may not be
    // that merchant's.
    env.run(&[
        "reconcile",
        "--date",
        "2026-11-19",
        "--mch-id",
        MCH_ID,
        "--export",
        "orders.csv",
    ])
    .expect(2)
    .hint_mentions("wxpay-ops bill download --date 2026-11-19");
}

/// A key pasted into the export comes out hidden in every output and every file, also when
/// reconcile never loads the key to sign: the profile's key is registered as it is read.
#[test]
fn a_key_in_an_export_cell_is_hidden_in_every_file_and_output() {
    use crate::common::DOC_KEY;
    let env = Env::new();
    env.doc_profile();
    let day = day("20261120", 50);
    let (bill, _) = write_bill(&env, &day);
    let (orders, _) = write_orders(&env, &day, &Differences::default());
    let mut lines: Vec<String> = orders.lines().map(str::to_owned).collect();
    // An order number that holds the key, and an amount that is the key (a bad line).
    let first: Vec<&str> = lines[1].split(',').collect();
    lines[1] = std::iter::once(format!("K{DOC_KEY}"))
        .chain(first[1..].iter().map(|c| (*c).to_owned()))
        .collect::<Vec<_>>()
        .join(",");
    let second: Vec<String> = lines[2].split(',').map(str::to_owned).collect();
    lines[2] = [second[0].clone(), second[1].clone(), DOC_KEY.to_owned()]
        .into_iter()
        .chain(second[3..].iter().cloned())
        .collect::<Vec<_>>()
        .join(",");
    std::fs::write(env.path("keyed.csv"), lines.join("\n") + "\n").unwrap();
    // Env::run checks stdout and stderr for the key.
    env.run(&[
        "--format",
        "json",
        "reconcile",
        "--bill",
        bill.to_str().unwrap(),
        "--export",
        "keyed.csv",
        "--mch-id",
        MCH_ID,
        "--skip-bad-lines",
        "--out",
        "keyed",
    ])
    .expect(1);
    for file in ["differences.csv", "summary.json"] {
        let text = std::fs::read_to_string(env.path("keyed").join(file)).unwrap();
        assert!(!text.contains(DOC_KEY), "{file}:\n{text}");
        assert!(text.contains("<API key>"), "{file}:\n{text}");
    }
}

/// Without a bill, the error names both ways to give one: the file, or the day to read from
/// --bill-dir.
#[test]
fn without_a_bill_the_error_names_bill_and_date() {
    let env = Env::new();
    let out = env
        .run(&["reconcile", "--export", "orders.csv"])
        .expect(2)
        .error_mentions("one of --bill <FILE> or --date <DATE> is required");
    let error = out.stderr.lines().next().unwrap();
    assert!(!error.contains("<--bill"), "{}", out.stderr);
    env.run(&["reconcile"])
        .expect(2)
        .error_mentions("--export <FILE>, one of --bill <FILE> or --date <DATE>");
}
