//! `bill parse`, `bill download`, `bill fundflow` and `bill summary`, as users run them.

use std::io::Write;

use serde_json::Value;

use crate::common::{Env, real_fixture};

fn fixture_path() -> String {
    real_fixture("bill.ALL.probe.csv").display().to_string()
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn parse_prints_records_in_english_with_fen_then_the_summary() {
    let env = Env::new();
    let out = env
        .run(&["bill", "parse", &fixture_path(), "--format", "json"])
        .expect(0);
    let json = out.json();
    let records = json["records"].as_array().unwrap();
    assert_eq!(records.len(), 45);
    assert_eq!(records[0]["out_trade_no"], "autotest_20190216081946_82335");
    assert_eq!(records[0]["trade_state"], "REFUND");
    assert_eq!(records[0]["refund_fee"], 1);
    assert_eq!(records[2]["settlement_total_fee"], 3);
    assert_eq!(records[2]["fee"], 1);
    assert_eq!(records[2]["rate"], "39.00%");
    let summary = &json["summary"];
    assert_eq!(summary["variant"], "ALL");
    assert_eq!(summary["rows"], 45);
    assert_eq!(summary["totals"]["count"], 45);
    assert_eq!(summary["totals"]["settlement_total_fee"], 47);
    assert_eq!(summary["totals"]["fee"], 8);
    assert_eq!(summary["consistent"], true);
    assert!(
        out.stderr
            .contains("ALL bill, 45 rows; the summary row matches")
    );

    let lines = json_lines(
        &env.run(&["bill", "parse", &fixture_path(), "--format", "jsonl"])
            .expect(0)
            .stdout,
    );
    assert_eq!(lines.len(), 46);
    assert_eq!(lines[44]["out_trade_no"], "autotest_20190219015157_13391");
    assert_eq!(lines[45]["summary"]["totals"]["refund_fee"], 14);

    let out = env
        .run(&["bill", "parse", &fixture_path(), "--format", "csv"])
        .expect(0);
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "trade_time");
    assert_eq!(header.len(), 27);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 45);
    let body = header.iter().position(|h| h == "body").unwrap();
    assert_eq!(&rows[0][body], "系统拨测-cheeryin-test_micropay_succ");
    assert!(
        out.stderr
            .contains("summary (fen): count 45, settlement_total_fee 47")
    );
}

#[test]
fn parse_reads_stdin_and_gzip() {
    let env = Env::new();
    let bytes = std::fs::read(real_fixture("bill.ALL.probe.csv")).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&bytes).unwrap();
    let gzip = gzip.finish().unwrap();
    for input in [bytes, gzip] {
        let out = env
            .run_with_stdin(&["bill", "parse", "-", "--format", "jsonl"], Some(&input))
            .expect(0);
        assert_eq!(json_lines(&out.stdout).len(), 46);
    }
}

/// One row of a 48-row bill (reference A6.6 b): the summary does not match.
const EXCERPT: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
`2019-07-25 08:35:41,`WWWW,`XXXXXXXX,`0,`,`XXXXXXXXXXXXX,`XXXXXXXXXX,`XXXXXXXXXXX,`JSAPI,`SUCCESS,`PSBC_DEBIT,`CNY,`6.00,`0.00,`0,`0,`0.00,`0.00,`,`,`=HYPERLINK(\"x\"),`XXXXXXX,`0.04000,`0.60%,`6.00,`0.00,`
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`48,`5.76,`1.42,`0.00,`0.01000,`5.76,`1.42";

#[test]
fn a_summary_that_does_not_match_is_a_warning_or_exit_2_when_strict() {
    let env = Env::new();
    std::fs::write(env.path("excerpt.csv"), EXCERPT).unwrap();
    let out = env
        .run(&["bill", "parse", "excerpt.csv", "--format", "json"])
        .expect(0);
    let json = out.json();
    assert_eq!(json["summary"]["consistent"], false);
    let mismatches = json["summary"]["mismatches"].as_array().unwrap();
    assert_eq!(mismatches[0]["total"], "count");
    assert_eq!(mismatches[0]["stated"], 48);
    assert_eq!(mismatches[0]["computed"], 1);
    assert!(
        out.stderr
            .contains("warning: excerpt.csv: the summary row does not match the rows: count: the summary says 48, the rows give 1"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("fee: the summary says 0.01, the rows give 0.04")
    );

    env.run(&[
        "bill",
        "parse",
        "excerpt.csv",
        "--strict",
        "--format",
        "json",
    ])
    .expect(2)
    .error_mentions(
        "excerpt.csv: the summary row does not match the rows: count: the summary says 48",
    )
    .hint_mentions("download it again");
}

#[test]
fn csv_cells_are_defused_for_spreadsheets() {
    let env = Env::new();
    std::fs::write(env.path("excerpt.csv"), EXCERPT).unwrap();
    let out = env
        .run(&["bill", "parse", "excerpt.csv", "--format", "csv"])
        .expect(0);
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[20], "'=HYPERLINK(\"x\")");
}

#[test]
fn bad_bills_are_errors_naming_the_file_and_line() {
    let env = Env::new();
    let good = std::fs::read(real_fixture("bill.ALL.probe.csv")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "cut.csv",
            good[..good.len() / 2].to_vec(),
            "cut.csv: the bill ends in the middle of line 23",
            "download it again",
        ),
        (
            "gbk.csv",
            {
                let mut bytes = good.clone();
                let at = bytes.windows(3).position(|w| w == "系".as_bytes()).unwrap();
                bytes[at] = 0xCF;
                bytes
            },
            "gbk.csv: line 2: not UTF-8",
            "iconv",
        ),
        (
            "fields.csv",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen(",`JSAPI,", ",`JSAPI,`extra,", 1)
                .into_bytes(),
            "fields.csv: line 2: 28 fields where the header has 27",
            "check that line",
        ),
        (
            "error.xml",
            b"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[No Bill Exist]]></return_msg><error_code><![CDATA[20002]]></error_code></xml>".to_vec(),
            "error.xml: an XML message where a bill was expected: return_code=FAIL return_msg=No Bill Exist",
            "not a bill",
        ),
        (
            "orders.csv",
            b"out_trade_no,amount\nA1,100\n".to_vec(),
            "orders.csv: line 1: not a bill header: unknown column(s) \"out_trade_no\", \"amount\"",
            "as WeChat Pay serves it",
        ),
        (
            "truncated.gz",
            {
                let mut gzip =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gzip.write_all(&good).unwrap();
                let gzip = gzip.finish().unwrap();
                gzip[..gzip.len() - 20].to_vec()
            },
            "truncated.gz: the gzip data is damaged or cut short",
            "download it again",
        ),
    ];
    for (name, bytes, error, hint) in cases {
        std::fs::write(env.path(name), bytes).unwrap();
        env.run(&["bill", "parse", name, "--format", "jsonl"])
            .expect(2)
            .error_mentions(error)
            .hint_mentions(hint);
    }
    env.run(&["bill", "parse", "missing.csv"])
        .expect(2)
        .error_mentions("missing.csv");
}

#[test]
fn on_a_terminal_parse_shows_the_summary() {
    let env = Env::new();
    let out = env
        .run_in_terminal(&["bill", "parse", &fixture_path()], None)
        .expect(0);
    assert!(
        out.stdout.contains("totals.settlement_total_fee"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("45"));
    assert!(!out.stdout.contains("autotest_"), "no records in the table");
}
