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

/// A fund-flow day whose third row was altered: its balance says 16.90 where the row before
/// (15.96) and its income of 1.00 give 16.96. The summary still matches the rows.
const FUND_FLOW_ALTERED: &str = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号
`2026-11-20 12:00:00,`4200000001,`1900000109202611200000000001,`交易,`交易,`收入,`6.00,`16.00,`system,`,`T1
`2026-11-20 12:00:00,`4200000001,`1900000109202611200000000002,`扣除交易手续费,`扣除交易手续费,`支出,`0.04,`15.96,`system,`,`T1
`2026-11-20 12:00:02,`4200000002,`1900000109202611200000000003,`交易,`交易,`收入,`1.00,`16.90,`system,`,`T2
`2026-11-20 12:00:05,`5030000001,`1900000109202611200000000004,`退款,`退款,`支出,`2.98,`13.98,`1900000109API,`退款总金额3.00元;含手续费0.02元,`R1
资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额
`4,`2,`7.00,`2,`3.02
";

#[test]
fn a_fund_flow_whose_running_balance_breaks_is_a_warning_or_exit_2_when_strict() {
    let env = Env::new();
    std::fs::write(env.path("flow.csv"), FUND_FLOW_ALTERED).unwrap();
    let out = env
        .run(&["bill", "parse", "flow.csv", "--format", "json"])
        .expect(0);
    let summary = &out.json()["summary"];
    assert_eq!(summary["variant"], "fund flow");
    assert_eq!(summary["consistent"], false);
    assert_eq!(summary["mismatches"].as_array().unwrap().len(), 0);
    assert_eq!(summary["balance_breaks"], 2);
    let first = &summary["first_balance_break"];
    assert_eq!(first["line"], 4);
    assert_eq!(
        (
            &first["before"],
            &first["moved"],
            &first["expected"],
            &first["stated"]
        ),
        (&1596.into(), &100.into(), &1696.into(), &1690.into())
    );
    assert!(
        out.stderr.contains(
            "warning: flow.csv: the running balance (账户结余) breaks on 2 rows: line 4 says 16.90, but the row before left 15.96 and this row moves 1.00 in, which gives 16.96"
        ),
        "{}",
        out.stderr
    );
    env.run(&["bill", "parse", "flow.csv", "--strict"])
        .expect(2)
        .error_mentions("the running balance (账户结余) breaks")
        .hint_mentions("download it again");

    // The same day with its balance intact holds, and a trade bill has no balance to check.
    std::fs::write(
        env.path("intact.csv"),
        FUND_FLOW_ALTERED.replace("`16.90,", "`16.96,"),
    )
    .unwrap();
    let intact = env
        .run(&[
            "bill",
            "parse",
            "intact.csv",
            "--strict",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(intact["summary"]["consistent"], true);
    assert_eq!(intact["summary"]["balance_breaks"], 0);
    assert_eq!(intact["summary"]["first_balance_break"], Value::Null);
    let trade = env
        .run(&["bill", "parse", &fixture_path(), "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(trade["summary"]["balance_breaks"], Value::Null);
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

mod download {
    use std::path::{Path, PathBuf};

    use serde_json::Value;
    use time::{Date, Duration, OffsetDateTime};

    use wxpay_ops::emulator::faults::{Fault, FaultKind};
    use wxpay_ops::emulator::merchant::{DEFAULT_APPIDS, DEFAULT_MCH_ID};
    use wxpay_ops::emulator::synth::SyntheticDay;
    use wxpay_ops::emulator::{Emulator, ServeOptions};

    use crate::common::{Env, Output};

    /// Days relative to today in Beijing, the clock both the command and the emulator use.
    fn days_ago(n: i64) -> Date {
        (OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8)) - Duration::days(n)).date()
    }

    fn iso(date: Date) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        )
    }

    fn compact(date: Date) -> String {
        iso(date).replace('-', "")
    }

    struct Shop {
        emulator: Emulator,
        env: Env,
    }

    impl Shop {
        fn new() -> Shop {
            Shop {
                emulator: Emulator::start(ServeOptions::default()).expect("emulator"),
                env: Env::new(),
            }
        }

        fn trades_on(&self, date: Date, trades: u64) {
            self.emulator
                .core()
                .add_synthetic_day(SyntheticDay {
                    mch_id: DEFAULT_MCH_ID.into(),
                    appid: DEFAULT_APPIDS[0].into(),
                    bill_date: compact(date),
                    trades,
                    seed: 3,
                })
                .unwrap();
        }

        fn fault(&self, kind: FaultKind, count: u32) {
            self.emulator
                .core()
                .add_fault(Fault {
                    path: "/pay/downloadbill".into(),
                    count,
                    kind,
                })
                .unwrap();
        }

        fn run(&self, args: &[&str]) -> Output {
            let config = self.emulator.profile().display().to_string();
            let out = self.env.path("bills").display().to_string();
            let mut all = vec!["--config", &config];
            all.extend_from_slice(args);
            all.extend_from_slice(&["--bill-dir", &out]);
            self.env.run(&all)
        }

        fn folder(&self) -> PathBuf {
            self.env.path("bills").join(DEFAULT_MCH_ID)
        }

        fn manifest(&self) -> Vec<Value> {
            let text =
                std::fs::read_to_string(self.folder().join("manifest.jsonl")).unwrap_or_default();
            super::json_lines(&text)
        }

        fn parse(&self, file: &Path) -> Value {
            self.env
                .run(&[
                    "bill",
                    "parse",
                    &file.display().to_string(),
                    "--format",
                    "json",
                ])
                .expect(0)
                .json()
        }
    }

    /// `reconcile --date` fetches a bill that was never downloaded, into the same folder and
    /// manifest as `bill download`; a day without a bill is a negative answer, not an error.
    #[test]
    fn reconcile_by_date_downloads_a_missing_bill_first() {
        let shop = Shop::new();
        let date = days_ago(2);
        shop.trades_on(date, 40);
        let day = SyntheticDay {
            mch_id: DEFAULT_MCH_ID.into(),
            appid: DEFAULT_APPIDS[0].into(),
            bill_date: compact(date),
            trades: 40,
            seed: 3,
        };
        let mut export = Vec::new();
        wxpay_ops::emulator::synth::write_export(
            &day,
            &wxpay_ops::emulator::synth::Differences::default(),
            wxpay_ops::bill::format::FeeRate(60),
            &mut export,
        )
        .unwrap();
        std::fs::write(shop.env.path("orders.csv"), export).unwrap();
        let config = shop.emulator.profile().display().to_string();
        let bills = shop.env.path("bills").display().to_string();
        let reconcile = |date: &str| {
            shop.env.run(&[
                "--config",
                &config,
                "reconcile",
                "--date",
                date,
                "--bill-dir",
                &bills,
                "--export",
                "orders.csv",
                "--format",
                "json",
            ])
        };
        let out = reconcile(&iso(date)).expect(0);
        assert!(out.stderr.contains("the bill of"), "{}", out.stderr);
        assert!(
            shop.folder()
                .join(format!("{}.ALL.csv", iso(date)))
                .is_file()
        );
        assert_eq!(shop.manifest().len(), 1);
        // The second time it is read from the folder, not fetched again.
        reconcile(&iso(date)).expect(0);
        assert_eq!(shop.manifest().len(), 1);
        reconcile(&iso(days_ago(3)))
            .expect(1)
            .error_mentions("No Bill Exist");
    }

    /// One parser for every date argument: yyyy-MM-dd, yyyyMMdd, today and yesterday (Beijing
    /// time) on `bill download`, `bill summary --date`, `reconcile --date` and the emulator's
    /// synthetic days; the same words when one is refused.
    #[test]
    fn every_date_argument_takes_the_same_four_forms() {
        let shop = Shop::new();
        // Ten hours on, yesterday's bill is ready at any hour of today.
        shop.emulator
            .core()
            .clock
            .advance(time::Duration::hours(10))
            .unwrap();
        let yesterday = days_ago(1);
        shop.trades_on(yesterday, 40);
        // The emulator's export of "yesterday" is the export of that day written out.
        let orders = shop.env.path("orders.csv").display().to_string();
        let expected = shop
            .env
            .run(&[
                "emulator",
                "export",
                "--day",
                "yesterday:40:3",
                "-o",
                &orders,
            ])
            .expect(0)
            .json();
        assert_eq!(expected["day"]["bill_date"], compact(yesterday));
        let dashed = shop.env.path("dashed.csv").display().to_string();
        let by_iso = format!("{}:40:3", iso(yesterday));
        shop.env
            .run(&["emulator", "export", "--day", &by_iso, "-o", &dashed])
            .expect(0);
        assert_eq!(
            std::fs::read(&orders).unwrap(),
            std::fs::read(&dashed).unwrap()
        );

        let rows = shop
            .run(&[
                "bill",
                "download",
                "--date",
                "yesterday",
                "--format",
                "json",
            ])
            .expect(0)
            .json();
        assert_eq!(rows[0]["date"], iso(yesterday));
        let config = shop.emulator.profile().display().to_string();
        let bills = shop.env.path("bills").display().to_string();
        let report = shop.env.path("report");
        for date in ["yesterday", &iso(yesterday), &compact(yesterday)] {
            shop.env
                .run(&[
                    "--config",
                    &config,
                    "reconcile",
                    "--date",
                    date,
                    "--bill-dir",
                    &bills,
                    "--export",
                    &orders,
                    "--out",
                    &report.display().to_string(),
                ])
                .expect(0);
            let summary = std::fs::read_to_string(report.join("summary.json")).unwrap();
            let summary: Value = serde_json::from_str(&summary).unwrap();
            assert_eq!(summary["day"], iso(yesterday), "{date}");
        }
        for date in ["yesterday", &compact(yesterday)] {
            let summary = shop
                .run(&["bill", "summary", "--date", date, "--format", "json"])
                .expect(0)
                .json();
            let days = summary["days"].as_array().unwrap();
            assert_eq!(days.len(), 1, "{date}");
            assert_eq!(days[0]["date"], iso(yesterday));
            assert_eq!(days[0]["status"], "saved");
        }
        // today parses everywhere, and then meets each command's own rule.
        shop.run(&["bill", "download", "--date", "today"])
            .expect(2)
            .error_mentions("has not ended yet");
        shop.run(&["bill", "summary", "--date", "today", "--format", "json"])
            .expect(0);

        let refusals = [
            vec!["bill", "download", "--date", "2026/11/20"],
            vec!["bill", "summary", "--date", "2026/11/20"],
            vec!["bill", "summary", "--from", "tomorrow", "--to", "today"],
            vec!["reconcile", "--date", "2026/11/20", "--export", "x.csv"],
            vec![
                "emulator",
                "export",
                "--day",
                "2026/11/20:40",
                "-o",
                "x.csv",
            ],
            vec!["emulator", "serve", "--synthetic-day", "2026/11/20:40"],
        ];
        for args in refusals {
            shop.env
                .run(&args)
                .expect(2)
                .error_mentions("use yyyy-MM-dd, yyyyMMdd, today or yesterday");
        }
    }

    /// The same flag names on every command: the bill folder is --bill-dir on bill download,
    /// bill summary and reconcile; --retries counts retries as the API commands do; the
    /// per-bill limit is --bill-timeout, since --timeout is a request's seconds elsewhere.
    #[test]
    fn bill_commands_share_the_flag_names_of_the_others() {
        let shop = Shop::new();
        let day = days_ago(2);
        shop.trades_on(day, 30);
        let config = shop.emulator.profile().display().to_string();
        let elsewhere = shop.env.path("elsewhere").display().to_string();
        let rows = shop
            .env
            .run(&[
                "--config",
                &config,
                "bill",
                "download",
                "--date",
                &iso(day),
                "--bill-dir",
                &elsewhere,
                "--retries",
                "0",
                "--bill-timeout",
                "30",
                "--format",
                "json",
            ])
            .expect(0)
            .json();
        assert_eq!(rows[0]["outcome"], "saved");
        let summary = shop
            .env
            .run(&[
                "--config",
                &config,
                "bill",
                "summary",
                "--date",
                &iso(day),
                "--bill-dir",
                &elsewhere,
                "--format",
                "json",
            ])
            .expect(0)
            .json();
        assert_eq!(summary["days"][0]["status"], "saved");
        // The old folder flag still works, hidden.
        shop.env
            .run(&[
                "--config",
                &config,
                "bill",
                "summary",
                "--date",
                &iso(day),
                "--out",
                &elsewhere,
            ])
            .expect(0);
        for command in [
            &["bill", "download"][..],
            &["bill", "summary"],
            &["reconcile"],
        ] {
            let mut args = command.to_vec();
            args.push("--help");
            let help = shop.env.run(&args).expect(0).stdout;
            assert!(help.contains("--bill-dir <DIR>"), "{command:?}: {help}");
            assert!(!help.contains("--out <DIR>") || command == ["reconcile"]);
            assert!(!help.contains("--attempts"), "{command:?}");
        }
        let help = shop
            .env
            .run(&["bill", "download", "--help"])
            .expect(0)
            .stdout;
        assert!(help.contains("--retries <N>") && help.contains("--bill-timeout <SECS>"));
        assert!(!help.contains("--timeout"), "{help}");
        shop.run(&["bill", "download", "--date", &iso(day), "--attempts", "2"])
            .expect(2);
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn a_single_day_is_saved_as_served_with_a_manifest_entry() {
        let shop = Shop::new();
        let day = days_ago(2);
        shop.trades_on(day, 300);
        let date = iso(day);
        for (gzip, bill_type) in [(false, "ALL"), (true, "REFUND")] {
            let mut args = vec![
                "bill", "download", "--date", &date, "--type", bill_type, "--format", "json",
            ];
            if gzip {
                args.push("--gzip");
            }
            let out = shop.run(&args).expect(0);
            let rows = out.json();
            assert_eq!(rows[0]["outcome"], "saved", "{}", out.stdout);
            // Numbers are numbers; what the day lacks is null.
            assert!(rows[0]["rows"].as_u64().unwrap() > 0, "{}", out.stdout);
            assert!(rows[0]["bytes"].as_u64().unwrap() > 0);
            assert_eq!(rows[0]["detail"], Value::Null);
            let file = shop.folder().join(format!("{}.{bill_type}.csv", iso(day)));
            assert_eq!(rows[0]["file"], file.display().to_string());
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                bytes.starts_with("\u{feff}交易时间".as_bytes()),
                "kept decompressed"
            );
            let parsed = shop.parse(&file);
            assert_eq!(parsed["summary"]["consistent"], true);
            let entry = shop.manifest().into_iter().last().unwrap();
            assert_eq!(entry["date"], iso(day));
            assert_eq!(entry["type"], bill_type);
            assert_eq!(entry["status"], "saved");
            assert_eq!(entry["gzip"], gzip);
            assert_eq!(entry["bytes"], bytes.len());
            assert_eq!(entry["sha256"], sha256_hex(&bytes));
            assert_eq!(entry["rows"], parsed["summary"]["rows"]);
            assert_eq!(entry["totals"], parsed["summary"]["totals"]);
            assert!(
                entry["source_url"]
                    .as_str()
                    .unwrap()
                    .ends_with("/pay/downloadbill")
            );
            assert!(entry["fetched_at"].as_str().unwrap().contains('T'));
        }
    }

    /// Progress (bytes, rate, time left) is drawn only for a person at a terminal: with
    /// stderr a pipe, a download says what it did and nothing else.
    #[test]
    fn a_download_draws_no_progress_when_stderr_is_not_a_terminal() {
        let shop = Shop::new();
        let day = days_ago(2);
        shop.trades_on(day, 5000);
        let out = shop
            .run(&["bill", "download", "--date", &iso(day)])
            .expect(0);
        assert_eq!(out.json()[0]["outcome"], "saved", "{}", out.stdout);
        let stderr = &out.stderr;
        assert!(stderr.contains("1 saved"), "{stderr}");
        for drawn in ["\r", "\u{1b}", "B/s", "KiB", "MiB"] {
            assert!(!stderr.contains(drawn), "{drawn:?} in {stderr:?}");
        }
    }

    #[test]
    fn a_range_records_days_without_bills_retries_creating_days_and_resumes() {
        let shop = Shop::new();
        let (first, quiet, creating) = (days_ago(5), days_ago(4), days_ago(3));
        shop.trades_on(first, 200);
        shop.trades_on(creating, 200);
        // The emulator's clock at 09:00 two days ago: the day before is still being made.
        let at = (OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8))
            - Duration::days(2))
        .replace_time(time::macros::time!(9:00));
        shop.emulator.core().clock.set(at).unwrap();
        let from = iso(first);
        let to = iso(creating);
        let out = shop
            .run(&[
                "bill",
                "download",
                "--from",
                &from,
                "--to",
                &to,
                "--retries",
                "1",
                "--format",
                "json",
            ])
            .expect(75);
        assert!(
            out.stderr.contains(&format!(
                "1 of 3 days failed: {} ALL: the bill is not ready yet (Bill Creating)",
                iso(creating)
            )),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("hint: nothing was saved; try again after 10:00")
        );
        let outcomes: Vec<(String, String)> = out
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["date"].as_str().unwrap().to_owned(),
                    row["outcome"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                (iso(first), "saved".to_owned()),
                (iso(quiet), "no_bill".to_owned()),
                (iso(creating), "failed".to_owned())
            ]
        );
        assert!(
            !shop
                .folder()
                .join(format!("{}.ALL.csv", iso(creating)))
                .exists()
        );
        let creating_requests = shop
            .emulator
            .core()
            .request_log()
            .iter()
            .filter(|entry| entry.path.ends_with("/pay/downloadbill"))
            .count();
        assert_eq!(
            creating_requests, 4,
            "two days once, the creating day twice"
        );
        let manifest = shop.manifest();
        assert_eq!(manifest.len(), 2);
        assert!(
            manifest
                .iter()
                .any(|e| e["date"] == iso(quiet) && e["status"] == "no_bill")
        );

        // Later that morning: the rest comes, what is there is skipped.
        shop.emulator
            .core()
            .clock
            .set(at + Duration::hours(2))
            .unwrap();
        let out = shop
            .run(&[
                "bill", "download", "--from", &from, "--to", &to, "--format", "json",
            ])
            .expect(0);
        let outcomes: Vec<String> = out
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(outcomes, ["skipped", "skipped", "saved"]);
        assert_eq!(shop.manifest().len(), 3);
        // --force fetches again.
        let out = shop
            .run(&[
                "bill", "download", "--from", &from, "--to", &to, "--force", "--format", "json",
            ])
            .expect(0);
        let outcomes: Vec<String> = out
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(outcomes, ["saved", "no_bill", "saved"]);

        let summary = shop
            .run(&[
                "bill", "summary", "--from", &from, "--to", &to, "--format", "json",
            ])
            .expect(0)
            .json();
        let days = summary["days"].as_array().unwrap();
        assert_eq!(days.len(), 3);
        assert_eq!(days[1]["status"], "no_bill");
        let parsed = shop.parse(&shop.folder().join(format!("{}.ALL.csv", iso(first))));
        let totals = &parsed["summary"]["totals"];
        assert_eq!(days[0]["trades"], totals["settlement_total_fee"]);
        assert_eq!(days[0]["refunds"], totals["settlement_refund_fee"]);
        assert_eq!(days[0]["fees"], totals["fee"]);
        let net = |d: &Value| {
            d["trades"].as_i64().unwrap()
                - d["refunds"].as_i64().unwrap()
                - d["fees"].as_i64().unwrap()
        };
        assert_eq!(days[0]["net"].as_i64().unwrap(), net(&days[0]));
        assert_eq!(
            summary["total"]["net"].as_i64().unwrap(),
            days.iter().map(|d| d["net"].as_i64().unwrap()).sum::<i64>()
        );
    }

    #[test]
    fn an_interrupted_download_leaves_nothing_under_the_bill_name() {
        let shop = Shop::new();
        let day = days_ago(2);
        shop.trades_on(day, 5_000);
        for kind in [FaultKind::Truncate, FaultKind::Drop] {
            shop.fault(kind, 2);
            let out = shop
                .run(&[
                    "bill",
                    "download",
                    "--date",
                    &iso(day),
                    "--retries",
                    "1",
                    "--format",
                    "json",
                ])
                .expect(75)
                .error_mentions(&format!("{} ALL:", iso(day)))
                .hint_mentions("run the same command again later");
            // The failed day is on stdout as a range's would be.
            let rows = out.json();
            assert_eq!(rows.as_array().unwrap().len(), 1);
            assert_eq!(rows[0]["outcome"], "failed");
            assert_eq!(rows[0]["date"], iso(day));
            assert_eq!(rows[0]["file"], Value::Null);
            let left: Vec<String> = std::fs::read_dir(shop.folder())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert!(
                left.is_empty(),
                "nothing, not even a temporary file: {left:?}"
            );
        }
        // Once the faults are gone, the same command succeeds.
        shop.run(&["bill", "download", "--date", &iso(day), "--format", "json"])
            .expect(0);
    }

    #[test]
    fn days_the_api_cannot_serve_are_refused_before_any_request() {
        let shop = Shop::new();
        for (date, reason) in [
            (iso(days_ago(0)), "has not ended yet"),
            (iso(days_ago(-3)), "has not ended yet"),
            (iso(days_ago(120)), "older than the API serves"),
        ] {
            shop.run(&["bill", "download", "--date", &date])
                .expect(2)
                .error_mentions(reason)
                .hint_mentions("last 3 months");
        }
        assert!(shop.emulator.core().request_log().is_empty());
        shop.run(&["bill", "download", "--date", "2026-13-01"])
            .expect(2)
            .error_mentions("is not a day");
    }

    #[test]
    fn fund_flow_bills_come_over_mutual_tls() {
        let shop = Shop::new();
        let day = days_ago(2);
        shop.trades_on(day, 100);
        let out = shop
            .run(&[
                "bill",
                "fundflow",
                "--date",
                &iso(day),
                "--account-type",
                "Basic",
                "--format",
                "json",
            ])
            .expect(0);
        assert_eq!(out.json()[0]["outcome"], "saved");
        let file = shop
            .folder()
            .join(format!("{}.fundflow-Basic.csv", iso(day)));
        let parsed = shop.parse(&file);
        assert_eq!(parsed["summary"]["variant"], "fund flow");
        let out = shop
            .run(&[
                "bill",
                "fundflow",
                "--date",
                &iso(day),
                "--account-type",
                "Fees",
                "--format",
                "json",
            ])
            .expect(0);
        let row = &out.json()[0];
        assert_eq!(row["outcome"], "no_bill");
        for absent in ["rows", "bytes", "file"] {
            assert_eq!(row[absent], Value::Null, "{absent}");
        }
        let entry = shop.manifest().into_iter().last().unwrap();
        assert_eq!(entry["type"], "fundflow-Fees");
        assert_eq!(entry["status"], "no_bill");
    }
}

/// A range of any width once held a row per day and named every missing day in one warning
/// (0001-01-01 to 9999-12-31: 1.66 GB and a 43 MB line). Ranges are bounded, and warnings
/// about many days are summarised.
#[test]
fn summary_ranges_are_bounded_and_missing_days_summarised() {
    let mut env = crate::common::Env::new();
    env.doc_profile();
    env.time_limit(std::time::Duration::from_secs(60));
    env.run(&[
        "bill",
        "summary",
        "--from",
        "2000-01-01",
        "--to",
        "2135-12-31",
        "--bill-dir",
        "bills",
    ])
    .expect(2)
    .error_mentions("spans 49673 days; at most 3660")
    .hint_mentions("narrow the range");
    env.run(&[
        "bill",
        "summary",
        "--from",
        "2026-01-02",
        "--to",
        "2026-01-01",
        "--bill-dir",
        "bills",
    ])
    .expect(2)
    .error_mentions("--from 2026-01-02 is after --to 2026-01-01");
    let out = env
        .run(&[
            "bill",
            "summary",
            "--from",
            "2017-01-01",
            "--to",
            "2026-12-31",
            "--bill-dir",
            "bills",
            "--format",
            "json",
        ])
        .expect(0);
    assert_eq!(out.json()["days"].as_array().unwrap().len(), 3652);
    let warning = out.stderr.lines().next().unwrap_or("");
    assert!(
        warning.starts_with("warning: 3652 days are not in the manifest: 2017-01-01, 2017-01-02")
            && warning.contains(" and 3642 more; fetch them with")
            && warning.len() < 400,
        "{warning}"
    );
}

/// A bill on disk that the manifest lacks (a line lost to an old race) is not summed: said.
#[test]
fn summary_names_days_with_a_bill_file_but_no_manifest_entry() {
    let env = crate::common::Env::new();
    env.doc_profile();
    let folder = env.path("bills/10000100");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("2026-11-03.ALL.csv"), "a bill").unwrap();
    let out = env
        .run(&[
            "bill",
            "summary",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-07",
            "--bill-dir",
            "bills",
        ])
        .expect(0);
    assert!(
        out.stderr
            .contains("1 day has a bill file but no manifest entry, so its sums are missing above: 2026-11-03; record it with"),
        "{}",
        out.stderr
    );
}

/// One day is one day: the warning of a single missing day is in the singular.
#[test]
fn summary_of_one_missing_day_says_day() {
    let env = crate::common::Env::new();
    env.doc_profile();
    let out = env
        .run(&[
            "bill",
            "summary",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-01",
            "--bill-dir",
            "bills",
        ])
        .expect(0);
    assert!(
        out.stderr
            .contains("warning: 1 day is not in the manifest: 2026-11-01; fetch it with"),
        "{}",
        out.stderr
    );
}
