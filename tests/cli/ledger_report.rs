//! `ledger report` and `ledger export` on a month of the emulator's synthetic days, filled as
//! a user fills the ledger: bills downloaded and recorded with `bill download` and
//! `ledger import`, days reconciled with `reconcile --ledger`, a difference settled with
//! `ledger resolve`. Every figure is held to sums worked out here from the bill files' own
//! text, with none of the crate's parsing or summing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use time::Date;

use wxpay_ops::bill::format::{BillType, FeeRate};
use wxpay_ops::emulator::bills::write_trade_bill;
use wxpay_ops::emulator::merchant::{DEFAULT_APPIDS, DEFAULT_MCH_ID};
use wxpay_ops::emulator::synth::SyntheticDay;

use crate::folders::{days_ago, iso};
use crate::order::Shop;

/// What a bill file adds up to, counted here from its text: payments and refunds with their
/// 订单金额 and 申请退款金额 (fen), 应结订单金额 of the payments (fen), 手续费 (0.00001 yuan).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Sums {
    payments: u64,
    payment_fen: i64,
    refunds: u64,
    refund_fen: i64,
    settlement_fen: i64,
    fee_units: i64,
}

impl Sums {
    /// Settled payments − refunds − fees, in 0.00001 yuan.
    fn net_units(&self) -> i64 {
        (self.settlement_fen - self.refund_fen) * 1000 - self.fee_units
    }

    fn add(&mut self, other: &Sums) {
        self.payments += other.payments;
        self.payment_fen += other.payment_fen;
        self.refunds += other.refunds;
        self.refund_fen += other.refund_fen;
        self.settlement_fen += other.settlement_fen;
        self.fee_units += other.fee_units;
    }
}

/// `12.34` as 1234 at two places, `-0.00600` as -600 at five.
fn fixed(text: &str, places: usize) -> i64 {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let fraction = format!("{fraction:0<places$}");
    let value: i64 = format!("{whole}{fraction}").parse().unwrap();
    if negative { -value } else { value }
}

/// A trade bill's rows as WeChat Pay writes them: a header line, then rows of fields each
/// behind a backtick, then the summary lines. Each row by its header's names.
fn rows_of_bill(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = (lines.next().unwrap().trim_start_matches('\u{feff}'))
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .take_while(|line| line.starts_with('`'))
        .map(|line| {
            let fields = line[1..].split(",`").map(str::to_owned);
            header.iter().cloned().zip(fields).collect()
        })
        .collect()
}

/// A row of a refund: one with a 商户退款单号.
fn is_refund(row: &BTreeMap<String, String>) -> bool {
    !matches!(row["商户退款单号"].as_str(), "" | "0")
}

fn sums_of_bill(path: &Path) -> Sums {
    let mut sums = Sums::default();
    for row in rows_of_bill(path) {
        sums.fee_units += fixed(&row["手续费"], 5);
        if is_refund(&row) {
            sums.refunds += 1;
            sums.refund_fen += fixed(&row["申请退款金额"], 2);
        } else {
            sums.payments += 1;
            sums.payment_fen += fixed(&row["订单金额"], 2);
            sums.settlement_fen += fixed(&row["应结订单金额"], 2);
        }
    }
    sums
}

/// The line a shop's export (as `emulator export` writes it) gives an order of this bill,
/// from the bill's rows of it: charged for the bill's amounts, dated when it was paid.
fn export_line(bill: &Path, out_trade_no: &str) -> String {
    let rows: Vec<_> = (rows_of_bill(bill).into_iter())
        .filter(|row| row["商户订单号"] == out_trade_no)
        .collect();
    let payment = rows.iter().find(|row| !is_refund(row)).unwrap();
    let (status, refunded) = match rows.iter().find(|row| is_refund(row)) {
        Some(refund) => ("REFUNDED", refund["申请退款金额"].as_str()),
        None => ("PAID", "0.00"),
    };
    format!(
        "{out_trade_no},{status},{},{refunded},{}\n",
        payment["订单金额"], payment["交易时间"]
    )
}

/// A month of the shop's: four days of trades, recorded and reconciled in four ways.
struct Month {
    shop: Shop,
    /// The first of the month.
    first: Date,
    ledger: PathBuf,
    /// The days with trades: the 3rd, 5th, 8th and 10th.
    days: [Date; 4],
}

/// The trades of each synthetic day.
const TRADES: u64 = 60;

impl Month {
    fn new() -> Month {
        let shop = Shop::new();
        // Last month: every day of it is over and within the three months WeChat Pay serves.
        let today = days_ago(0);
        let first = (today.replace_day(1).unwrap() - time::Duration::days(1))
            .replace_day(1)
            .unwrap();
        let days = [3, 5, 8, 10].map(|day| first.replace_day(day).unwrap());
        let month = Month {
            ledger: shop.env.path("ledger.sqlite3"),
            shop,
            first,
            days,
        };
        for (seed, date) in days.iter().enumerate() {
            month.serve(*date, TRADES, seed as u64);
        }
        month
    }

    /// Has the emulator serve `date`'s bill as a synthetic day.
    fn serve(&self, date: Date, trades: u64, seed: u64) {
        (self.shop.emulator.core())
            .add_synthetic_day(SyntheticDay {
                mch_id: DEFAULT_MCH_ID.into(),
                appid: DEFAULT_APPIDS[0].into(),
                bill_date: iso(date).replace('-', ""),
                trades,
                seed,
            })
            .unwrap();
    }

    /// `bill download` of `date` into `dir` with `flags` (the ledger's): the saved file.
    fn download(&self, date: Date, dir: &str, flags: &[&str]) -> PathBuf {
        let day = iso(date);
        let mut args = vec!["bill", "download", "--date", &day, "--bill-dir", dir];
        args.extend_from_slice(flags);
        self.shop.run(&args).expect(0);
        let file = format!("{dir}/{DEFAULT_MCH_ID}/{}.ALL.csv", iso(date));
        let file = self.shop.env.path(&file);
        assert!(file.is_file(), "{}", file.display());
        file
    }

    fn ledger_path(&self) -> String {
        self.ledger.display().to_string()
    }

    fn month(&self) -> String {
        iso(self.first)[..7].to_owned()
    }

    /// The emulator's export of `date` with some differences planted, and `extra` lines
    /// after its own: the file's name.
    fn export(&self, date: Date, seed: u64, planted: &[&str], extra: &str, name: &str) -> String {
        let day = format!("{}:{TRADES}:{seed}", iso(date));
        let mut args = vec!["emulator", "export", "--day", &day, "-o", name];
        args.extend_from_slice(planted);
        self.shop.env.run(&args).expect(0);
        if !extra.is_empty() {
            let path = self.shop.env.path(name);
            let orders = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, orders + extra).unwrap();
        }
        name.to_owned()
    }

    /// `reconcile --bill FILE --export FILE --ledger PATH`: its differences, as
    /// (category, out_trade_no).
    fn reconcile(&self, bill: &Path, export: &str) -> Vec<(String, String)> {
        let bill = bill.display().to_string();
        let ledger = self.ledger_path();
        let out = (self.shop)
            .run(&[
                "--format",
                "json",
                "reconcile",
                "--bill",
                &bill,
                "--export",
                export,
                "--mch-id",
                DEFAULT_MCH_ID,
                "--ledger",
                &ledger,
            ])
            .expect(1);
        let differences = out.json();
        (differences.as_array().unwrap().iter())
            .map(|d| {
                let text = |key: &str| d[key].as_str().unwrap().to_owned();
                (text("category"), text("out_trade_no"))
            })
            .collect()
    }

    fn ledger_args(&self) -> Vec<String> {
        vec![
            "--ledger".into(),
            self.ledger_path(),
            "--mch-id".into(),
            DEFAULT_MCH_ID.into(),
        ]
    }

    fn run(&self, args: &[&str]) -> crate::common::Output {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(self.ledger_args());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.shop.env.run(&all)
    }
}

/// What the test expects of a day.
#[derive(Debug, Default)]
struct Expected {
    source: Option<&'static str>,
    sums: Option<Sums>,
    /// found, closed, open.
    differences: Option<(u64, u64, u64)>,
}

/// Fills the ledger with commands only: the 3rd a bill with its rows (`bill download
/// --import`); the 5th only reconciled, from the bill file, twice (the first run superseded),
/// two of its differences closed by the 8th's run and one resolved by hand; the 8th a bill
/// without rows (`bill download`) and a run; the 10th a bill, then the bill WeChat Pay served
/// again with another trade (`ledger import` of the second file). The other days: nothing.
fn recorded_month() -> (Month, BTreeMap<Date, Expected>) {
    let month = Month::new();
    let [third, fifth, eighth, tenth] = month.days;
    let ledger = month.ledger_path();
    let into = ["--ledger", ledger.as_str()];
    let mut expected: BTreeMap<Date, Expected> = BTreeMap::new();

    let bill = month.download(third, "bills", &[&["--import"][..], &into].concat());
    expected.insert(
        third,
        Expected {
            source: Some("bill"),
            sums: Some(sums_of_bill(&bill)),
            differences: None,
        },
    );

    // The 5th's bill is on disk only: the day is known to the ledger by its runs.
    let fifth_bill = month.download(fifth, "bills", &["--no-ledger"]);
    let export = month.export(fifth, 1, &["--missing-in-bill", "1"], "", "5a.csv");
    let first_run = month.reconcile(&fifth_bill, &export);
    assert_eq!(first_run.len(), 1, "{first_run:?}");
    let planted = [
        "--missing-in-bill",
        "2",
        "--missing-in-export",
        "2",
        "--amount-mismatch",
        "1",
    ];
    let export = month.export(fifth, 1, &planted, "", "5b.csv");
    let mut found = month.reconcile(&fifth_bill, &export);
    found.sort();
    let kinds: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "amount_mismatch",
            "missing_in_bill",
            "missing_in_bill",
            "missing_in_export",
            "missing_in_export"
        ],
        "the planted differences"
    );
    // The amount the shop got wrong, settled by hand.
    let open = (month.shop)
        .env
        .run(&["--format", "json", "ledger", "open", "--ledger", &ledger])
        .expect(1)
        .json();
    let mismatch = (open.as_array().unwrap().iter())
        .find(|d| d["category"] == "amount_mismatch" && d["day"] == iso(fifth).as_str())
        .unwrap_or_else(|| panic!("{open}"));
    let id = mismatch["id"].as_i64().unwrap().to_string();
    (month.shop.env)
        .run(&[
            "ledger",
            "resolve",
            &id,
            "--note",
            "the shop's price was wrong",
            "--ledger",
            &ledger,
        ])
        .expect(0);
    expected.insert(
        fifth,
        Expected {
            source: Some("run"),
            sums: Some(sums_of_bill(&fifth_bill)),
            differences: Some((5, 3, 2)),
        },
    );

    // The 8th's export lists, besides its own orders, the two orders of the 5th the shop
    // recorded late: that run closes the 5th's two missing_in_export.
    let bill = month.download(eighth, "bills", &into);
    let late: String = (found.iter())
        .filter(|(category, _)| category == "missing_in_export")
        .map(|(_, number)| export_line(&fifth_bill, number))
        .collect();
    let export = month.export(eighth, 2, &["--missing-in-export", "3"], &late, "8.csv");
    let found = month.reconcile(&bill, &export);
    assert_eq!(found.len(), 3, "{found:?}");
    expected.insert(
        eighth,
        Expected {
            source: Some("bill"),
            sums: Some(sums_of_bill(&bill)),
            differences: Some((3, 0, 3)),
        },
    );

    // The 10th: a bill recorded, then the bill WeChat Pay serves of the day later (the
    // emulator's day with one trade more), fetched into another folder and imported.
    let first = month.download(tenth, "bills", &into);
    month.serve(tenth, TRADES + 1, 3);
    let corrected = month.download(tenth, "bills-again", &["--no-ledger"]);
    let file = corrected.display().to_string();
    (month.shop.env)
        .run(&["ledger", "import", &file, "--ledger", &ledger])
        .expect(0);
    let sums = sums_of_bill(&corrected);
    assert_ne!(sums, sums_of_bill(&first), "a bill that differs");
    expected.insert(
        tenth,
        Expected {
            source: Some("bill"),
            sums: Some(sums),
            differences: None,
        },
    );
    (month, expected)
}

fn number(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

#[test]
fn the_month_report_adds_up_to_the_bills_and_runs_of_each_day() {
    let (month, expected) = recorded_month();
    let out = month
        .run(&[
            "--format",
            "json",
            "ledger",
            "report",
            "--month",
            &month.month(),
        ])
        .expect(0);
    let report = out.json();
    let days = report["days"].as_array().unwrap();
    assert_eq!(
        days.len() as u8,
        month.first.month().length(month.first.year())
    );
    let mut total = Sums::default();
    let (mut found, mut open) = (0, 0);
    for (index, day) in days.iter().enumerate() {
        let date = month.first.replace_day(index as u8 + 1).unwrap();
        assert_eq!(day["date"], iso(date).as_str());
        let none = Expected::default();
        let want = expected.get(&date).unwrap_or(&none);
        assert_eq!(day["source"].as_str(), want.source, "{date}");
        match &want.sums {
            None => {
                for key in [
                    "payment_count",
                    "payment_fen",
                    "fee_units",
                    "net_settlement_units",
                ] {
                    assert!(day[key].is_null(), "{date} {key}: no facts, no figures");
                }
            }
            Some(sums) => {
                total.add(sums);
                let got = Sums {
                    payments: number(&day["payment_count"]) as u64,
                    payment_fen: number(&day["payment_fen"]),
                    refunds: number(&day["refund_count"]) as u64,
                    refund_fen: number(&day["refund_fen"]),
                    settlement_fen: number(&day["settlement_fen"]),
                    fee_units: number(&day["fee_units"]),
                };
                assert_eq!(&got, sums, "{date}");
                assert!(
                    sums.refunds > 0 && sums.fee_units != 0,
                    "{date}: a real day"
                );
                assert_eq!(number(&day["net_settlement_units"]), sums.net_units());
                let yuan = day["payment_yuan"].as_str().unwrap();
                assert_eq!(fixed(yuan, 2), sums.payment_fen, "{date}");
                let net = day["net_settlement_yuan"].as_str().unwrap();
                assert_eq!(fixed(net, 5), sums.net_units(), "{date}");
            }
        }
        match want.differences {
            None => assert!(day["differences_found"].is_null(), "{date}"),
            Some((f, c, o)) => {
                let counts = [
                    "differences_found",
                    "differences_closed",
                    "differences_open",
                ]
                .map(|key| day[key].as_u64().unwrap());
                assert_eq!(counts, [f, c, o], "{date}");
                found += f;
                open += o;
            }
        }
    }
    let summary = &report["summary"];
    assert_eq!(summary["mch_id"], DEFAULT_MCH_ID);
    assert_eq!(summary["month"], month.month().as_str());
    assert_eq!(summary["days_with_figures"], 4);
    assert_eq!(summary["days_reconciled"], 2);
    assert_eq!(number(&summary["payment_fen"]), total.payment_fen);
    assert_eq!(number(&summary["fee_units"]), total.fee_units);
    assert_eq!(number(&summary["net_settlement_units"]), total.net_units());
    assert_eq!(summary["differences_found"], found);
    assert_eq!(summary["differences_open"], open);
    assert!(out.stderr.contains("4 of"), "{}", out.stderr);

    // CSV: the same days, figures as numbers; a day without figures has empty cells.
    let csv_out = month
        .run(&[
            "--format",
            "csv",
            "ledger",
            "report",
            "--month",
            &month.month(),
        ])
        .expect(0);
    let mut reader = csv::Reader::from_reader(csv_out.stdout.as_bytes());
    let rows: Vec<BTreeMap<String, String>> = reader.deserialize().map(Result::unwrap).collect();
    assert_eq!(rows.len(), days.len());
    for (row, day) in rows.iter().zip(days) {
        for key in [
            "date",
            "source",
            "payment_fen",
            "net_settlement_yuan",
            "differences_open",
        ] {
            let json = match &day[key] {
                Value::Null => String::new(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            assert_eq!(row[key], json, "{key}");
        }
    }
}

#[test]
fn the_table_fits_80_columns_and_the_chart_has_a_bar_for_each_day_with_figures() {
    let (mut month, expected) = recorded_month();
    month.shop.env.set("COLUMNS", "80");
    let out = month
        .run(&[
            "--format",
            "table",
            "ledger",
            "report",
            "--month",
            &month.month(),
            "--chart",
            "month.png",
        ])
        .expect(0);
    for line in out.stdout.lines() {
        assert!(line.chars().count() <= 80, "{line:?}\n{}", out.stdout);
    }
    assert!(out.stdout.contains("total"), "{}", out.stdout);
    assert!(out.stdout.contains(&month.month()), "headed by the month");
    assert!(out.stderr.contains("chart: month.png"), "{}", out.stderr);

    let png = std::fs::read(month.shop.env.path("month.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((frame.width, frame.height), (1200, 600));
    assert_eq!(frame.color_type, png::ColorType::Rgb);
    let (width, height) = (frame.width as usize, frame.height as usize);
    let pixel = |x: usize, y: usize| {
        let at = (y * width + x) * 3;
        [pixels[at], pixels[at + 1], pixels[at + 2]]
    };
    const BAR: [u8; 3] = [70, 130, 180];
    const OPEN_LINE: [u8; 3] = [230, 120, 20];
    // The x axis: the lowest row that is mostly black. Every day's net is positive, so its
    // bar stands on the axis.
    let axis = (0..height)
        .rev()
        .find(|&y| (0..width).filter(|&x| pixel(x, y) == [0, 0, 0]).count() > width / 2)
        .unwrap();
    let row = axis - 3;
    let mut bars: Vec<(usize, usize)> = Vec::new();
    for x in 0..width {
        if pixel(x, row) == BAR {
            match bars.last_mut() {
                Some((_, end)) if *end == x - 1 => *end = x,
                _ => bars.push((x, x)),
            }
        }
    }
    let centres: Vec<f64> = bars.iter().map(|(a, b)| (a + b) as f64 / 2.0).collect();
    let with_figures: Vec<u8> = expected
        .iter()
        .filter(|(_, e)| e.sums.is_some())
        .map(|(date, _)| date.day())
        .collect();
    assert_eq!(centres.len(), with_figures.len(), "{bars:?}");
    // Bars stand at their days: evenly spaced by day of the month.
    let first = (with_figures[0], centres[0]);
    let last = (with_figures[3], centres[3]);
    let per_day = (last.1 - first.1) / f64::from(last.0 - first.0);
    for (day, centre) in with_figures.iter().zip(&centres) {
        let at = first.1 + per_day * f64::from(day - first.0);
        assert!(
            (centre - at).abs() <= 1.5,
            "day {day} at {centre}, not {at}"
        );
    }
    // The 4th has no figures: no bar in its slot, from the axis to the top.
    let fourth = (first.1 + per_day) as usize;
    assert!((0..axis).all(|y| pixel(fourth, y) != BAR));
    assert_ne!(pixel(fourth, row), BAR);
    // Open differences: a line.
    assert!(pixels.chunks(3).any(|p| p == OPEN_LINE));
}

#[test]
fn the_export_loads_back_and_adds_up_to_the_report() {
    let (month, expected) = recorded_month();
    let out = month
        .run(&[
            "--format",
            "json",
            "ledger",
            "export",
            "--month",
            &month.month(),
            "out",
        ])
        .expect(0);
    let files = out.json();
    let files = files.as_array().unwrap();
    assert_eq!(files.len(), 2);
    let [third, _, eighth, tenth] = month.days;
    assert!(
        out.stderr.contains(&iso(eighth)),
        "the 8th's rows are not in the ledger: {}",
        out.stderr
    );

    let path = |name: &str| month.shop.env.path("out").join(name);
    let name = format!("{DEFAULT_MCH_ID}.{}.bill_rows.csv", month.month());
    assert_eq!(files[0]["file"], format!("out/{name}"));
    let mut rows = csv::Reader::from_path(path(&name)).unwrap();
    let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header[..6],
        ["mch_id", "day", "bill_id", "line", "kind", "time"]
    );
    let mut by_day: BTreeMap<String, Sums> = BTreeMap::new();
    let mut count = 0;
    for row in rows.deserialize::<BTreeMap<String, String>>() {
        let row = row.unwrap();
        count += 1;
        let time = time::OffsetDateTime::parse(
            &row["time"],
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(time.offset(), time::macros::offset!(+8));
        assert_eq!(iso(time.date()), row["day"], "a row of its own day");
        let sums = by_day.entry(row["day"].clone()).or_default();
        let int = |name: &str| row[name].parse::<i64>().unwrap();
        sums.fee_units += int("fee_units");
        match row["kind"].as_str() {
            "payment" => {
                sums.payments += 1;
                sums.payment_fen += int("amount_fen");
                sums.settlement_fen += int("settlement_fen");
            }
            "refund" => {
                sums.refunds += 1;
                sums.refund_fen += int("amount_fen");
            }
            other => panic!("kind {other}"),
        }
    }
    assert_eq!(files[0]["rows"], count);
    let imported: Vec<String> = [third, tenth].map(iso).into();
    assert_eq!(by_day.keys().cloned().collect::<Vec<_>>(), imported);
    for date in [third, tenth] {
        assert_eq!(by_day[&iso(date)], expected[&date].sums.unwrap(), "{date}");
    }

    let name = format!("{DEFAULT_MCH_ID}.{}.differences.csv", month.month());
    let mut differences = csv::Reader::from_path(path(&name)).unwrap();
    let rows: Vec<BTreeMap<String, String>> =
        differences.deserialize().map(Result::unwrap).collect();
    // The latest runs' differences: 5 on the 5th, 3 on the 8th.
    assert_eq!(rows.len(), 8);
    assert_eq!(files[1]["rows"], 8);
    let states: Vec<&str> = rows.iter().map(|r| r["state"].as_str()).collect();
    assert_eq!(states.iter().filter(|s| **s == "open").count(), 5);
    assert!(!states.contains(&"superseded"));
}

#[test]
fn a_ledger_that_is_not_there_or_holds_several_merchants_is_named() {
    let env = crate::common::Env::new();
    let out = env
        .run(&[
            "ledger",
            "report",
            "--month",
            "2026-11",
            "--ledger",
            "none.sqlite3",
        ])
        .expect(2)
        .error_mentions("none.sqlite3");
    assert!(out.stderr.contains("no such file"), "{}", out.stderr);
    env.run(&["ledger", "report", "--month", "2026-13", "--ledger", "x"])
        .expect(2)
        .error_mentions("2026-13");

    // Two merchants in one ledger: one's bill imported (`ledger import` refuses a second
    // merchant's bill), the other's day reconciled into it (`reconcile` records the run of
    // the merchant it is given). The bills are the emulator's of a synthetic day of each
    // merchant, named as `bill download` names them.
    let path = env.path("shared.sqlite3").display().to_string();
    let mut bills = Vec::new();
    for mch_id in ["1900000109", "1900000110"] {
        let day = SyntheticDay {
            mch_id: mch_id.into(),
            appid: DEFAULT_APPIDS[0].into(),
            bill_date: "20261102".into(),
            trades: 5,
            seed: 0,
        };
        std::fs::create_dir_all(env.path(mch_id)).unwrap();
        let bill = env.path(&format!("{mch_id}/2026-11-02.ALL.csv"));
        let mut file = std::fs::File::create(&bill).unwrap();
        let rows = day.into_rows(FeeRate(60));
        write_trade_bill(&mut file, BillType::All, rows).unwrap();
        bills.push(bill.display().to_string());
    }
    env.run(&["ledger", "import", &bills[0], "--ledger", &path])
        .expect(0);
    let day = "2026-11-02:5:0";
    let args = ["emulator", "export", "--day", day, "--mch-id", "1900000110"];
    env.run(&[&args[..], &["-o", "orders.csv"]].concat())
        .expect(0);
    env.run(&[
        "reconcile",
        "--bill",
        &bills[1],
        "--export",
        "orders.csv",
        "--mch-id",
        "1900000110",
        "--ledger",
        &path,
    ])
    .expect(0);
    env.run(&["ledger", "report", "--month", "2026-11", "--ledger", &path])
        .expect(2)
        .error_mentions("1900000109, 1900000110")
        .hint_mentions("--mch-id");
    let out = env
        .run(&[
            "--format",
            "json",
            "ledger",
            "report",
            "--month",
            "2026-11",
            "--ledger",
            &path,
            "--mch-id",
            "1900000110",
        ])
        .expect(0);
    // The one merchant's month: its bill's day.
    let report = out.json();
    assert_eq!(report["summary"]["mch_id"], "1900000110");
    assert_eq!(report["summary"]["days_with_figures"], 1);
    assert_eq!(report["days"][1]["date"], "2026-11-02");
    assert_eq!(report["days"][1]["source"], "run");
    env.run(&[
        "ledger",
        "report",
        "--month",
        "2026-11",
        "--ledger",
        &path,
        "--mch-id",
        "1900000110",
        "--chart",
        "-",
    ])
    .expect(2)
    .error_mentions("--chart");
}
