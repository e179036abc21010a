//! `ledger report` and `ledger export` on a month of the emulator's synthetic days, downloaded
//! with `bill download` and reconciled with `reconcile`; every figure held to sums worked out
//! here from the bill files themselves, with none of the crate's parsing or summing.
//!
//! Recording bills and runs in the ledger is the work of other commands (`bill download`,
//! `ledger import`, `reconcile`), not yet on this branch: until then [`record_bill`] and
//! [`record_run`] write their facts in SQL, a bill's figures from the library's bill parser
//! and a run's summary as `reconcile --out` wrote it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use serde_json::Value;
use time::Date;

use wxpay_ops::emulator::merchant::{DEFAULT_APPIDS, DEFAULT_MCH_ID};
use wxpay_ops::emulator::synth::SyntheticDay;
use wxpay_ops::ledger::Ledger;

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

/// A trade bill as WeChat Pay writes it: a header line, then rows of fields each behind a
/// backtick, then the summary lines.
fn sums_of_bill(path: &Path) -> Sums {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches('\u{feff}')
        .split(',')
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (refund_no, ordered, applied, settled, fee) = (
        column("商户退款单号"),
        column("订单金额"),
        column("申请退款金额"),
        column("应结订单金额"),
        column("手续费"),
    );
    let mut sums = Sums::default();
    for line in lines.take_while(|line| line.starts_with('`')) {
        let fields: Vec<&str> = line[1..].split(",`").collect();
        sums.fee_units += fixed(fields[fee], 5);
        if matches!(fields[refund_no], "" | "0") {
            sums.payments += 1;
            sums.payment_fen += fixed(fields[ordered], 2);
            sums.settlement_fen += fixed(fields[settled], 2);
        } else {
            sums.refunds += 1;
            sums.refund_fen += fixed(fields[applied], 2);
        }
    }
    sums
}

/// Records a saved bill as `bill download` will: its facts and figures, and with `import`
/// its rows. Returns the bill's id.
fn record_bill(ledger: &Path, date: Date, file: &Path, sha256: &str, import: bool) -> i64 {
    use wxpay_ops::bill::layout::Column;
    let ledger = Ledger::open(ledger).unwrap();
    let conn = ledger.conn();
    let mut figures = [0i64; 6];
    let mut rows = Vec::new();
    let bill = std::fs::File::open(file).unwrap();
    wxpay_ops::bill::parse::read(bill, |record| -> Result<(), ()> {
        let refund = record.is_refund();
        let (amount, settlement) = if refund {
            let settled = record.fen(Column::SettlementRefundFee).unwrap_or_default();
            (record.refund_fee().0, settled.0)
        } else {
            (record.total_fee().0, record.settlement_total_fee().0)
        };
        let at = 2 * usize::from(refund);
        figures[at] += 1;
        figures[at + 1] += amount;
        if !refund {
            figures[4] += settlement;
        }
        figures[5] += record.fee().0;
        let time = time::PrimitiveDateTime::parse(
            record.trade_time(),
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        )
        .unwrap()
        .assume_offset(time::macros::offset!(+8))
        .unix_timestamp();
        rows.push((
            record.line() as i64,
            i64::from(refund),
            time,
            record.out_trade_no().to_owned(),
            record.transaction_id().to_owned(),
            record.out_refund_no().map(str::to_owned),
            record.refund_id().map(str::to_owned),
            amount,
            settlement,
            record.fee().0,
            if refund {
                record.refund_status().unwrap_or_default().to_owned()
            } else {
                record.trade_state().to_owned()
            },
        ));
        Ok(())
    })
    .unwrap();
    conn.execute(
        "INSERT INTO bills (mch_id, day, bill_type, path, sha256, bytes, rows, consistent,
            recorded_at, payment_count, payment_fen, refund_count, refund_fen, settlement_fen,
            fee_units, imported_at)
         VALUES (?1, ?2, 'ALL', ?3, ?4, 0, ?5, 1, '2026-12-01T09:00:00+08:00', ?6, ?7, ?8, ?9,
            ?10, ?11, CASE WHEN ?12 THEN '2026-12-01T09:00:00+08:00' END)",
        params![
            DEFAULT_MCH_ID,
            iso(date),
            file.display().to_string(),
            sha256,
            rows.len() as i64,
            figures[0],
            figures[1],
            figures[2],
            figures[3],
            figures[4],
            figures[5],
            import
        ],
    )
    .unwrap();
    let id = conn.last_insert_rowid();
    if import {
        let mut insert = conn
            .prepare(
                "INSERT INTO bill_rows VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .unwrap();
        for r in &rows {
            insert
                .execute(params![
                    id, r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10
                ])
                .unwrap();
        }
    }
    id
}

/// Records a run as `reconcile` will: its summary as `--out` wrote it, and its differences,
/// all open. Returns the run's id and the ids of its differences.
fn record_run(ledger: &Path, date: Date, out: &Path) -> (i64, Vec<i64>) {
    let ledger = Ledger::open(ledger).unwrap();
    let conn = ledger.conn();
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    conn.execute(
        "INSERT INTO runs (mch_id, day, started_at, user, bill_path, bill_sha256, export_path,
            export_sha256, mapping, balanced, summary)
         VALUES (?1, ?2, '2026-12-01T09:00:00+08:00', 'ops', 'bill', '', 'orders', '', '{}', 0,
            ?3)",
        params![DEFAULT_MCH_ID, iso(date), summary],
    )
    .unwrap();
    let run = conn.last_insert_rowid();
    let mut differences = csv::Reader::from_path(out.join("differences.csv")).unwrap();
    let mut ids = Vec::new();
    for record in differences.deserialize::<BTreeMap<String, String>>() {
        let record = record.unwrap();
        let number = |name: &str| record[name].parse::<i64>().ok();
        conn.execute(
            "INSERT INTO differences (run_id, mch_id, day, category, kind, out_trade_no,
                out_refund_no, bill_fen, bill_line, export_fen, export_line, export_status, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULLIF(?7, ''), ?8, ?9, ?10, ?11, NULLIF(?12, ''),
                ?13)",
            params![
                run,
                DEFAULT_MCH_ID,
                iso(date),
                record["category"],
                record["kind"],
                record["out_trade_no"],
                record["out_refund_no"],
                number("bill_amount_fen"),
                number("bill_line"),
                number("export_amount_fen"),
                number("export_line"),
                record["export_status"],
                record["note"]
            ],
        )
        .unwrap();
        ids.push(conn.last_insert_rowid());
    }
    (run, ids)
}

/// Sets the state of differences, as a later run or `ledger resolve` will.
fn set_state(ledger: &Path, ids: &[i64], state: &str) {
    let conn = Connection::open(ledger).unwrap();
    for id in ids {
        conn.execute(
            "UPDATE differences SET state = ?2 WHERE id = ?1",
            params![id, state],
        )
        .unwrap();
    }
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

impl Month {
    fn new() -> Month {
        let shop = Shop::new();
        // Last month: every day of it is over and within the three months WeChat Pay serves.
        let today = days_ago(0);
        let first = (today.replace_day(1).unwrap() - time::Duration::days(1))
            .replace_day(1)
            .unwrap();
        let days = [3, 5, 8, 10].map(|day| first.replace_day(day).unwrap());
        for (seed, date) in days.iter().enumerate() {
            shop.emulator
                .core()
                .add_synthetic_day(SyntheticDay {
                    mch_id: DEFAULT_MCH_ID.into(),
                    appid: DEFAULT_APPIDS[0].into(),
                    bill_date: iso(*date).replace('-', ""),
                    trades: 60,
                    seed: seed as u64,
                })
                .unwrap();
            shop.run(&[
                "bill",
                "download",
                "--date",
                &iso(*date),
                "--bill-dir",
                "bills",
            ])
            .expect(0);
        }
        let ledger = shop.env.path("ledger.sqlite3");
        Month {
            shop,
            first,
            ledger,
            days,
        }
    }

    fn bill(&self, date: Date) -> PathBuf {
        self.shop
            .env
            .path(&format!("bills/{DEFAULT_MCH_ID}/{}.ALL.csv", iso(date)))
    }

    fn month(&self) -> String {
        iso(self.first)[..7].to_owned()
    }

    /// Reconciles `date` against the emulator's export of it with some differences planted;
    /// the report files go to `out`.
    fn reconcile(&self, date: Date, seed: usize, planted: &[&str], out: &str) -> PathBuf {
        let day = format!("{}:60:{seed}", iso(date));
        let orders = format!("{out}.orders.csv");
        let mut args = vec!["emulator", "export", "--day", &day, "-o", &orders];
        args.extend_from_slice(planted);
        self.shop.env.run(&args).expect(0);
        let bill = self.bill(date).display().to_string();
        self.shop
            .run(&[
                "reconcile",
                "--bill",
                &bill,
                "--export",
                &orders,
                "--mch-id",
                DEFAULT_MCH_ID,
                "--out",
                out,
            ])
            .expect(1);
        self.shop.env.path(out)
    }

    fn ledger_args(&self) -> Vec<String> {
        let ledger = self.ledger.display().to_string();
        vec![
            "--ledger".into(),
            ledger,
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

/// Records the month's facts: the 3rd a bill with its rows; the 5th only reconciled, twice
/// (the first run superseded), three of its differences closed or resolved since; the 8th a
/// bill without rows and a run; the 10th a bill recorded wrong, then corrected.
fn recorded_month() -> (Month, BTreeMap<Date, Expected>) {
    let month = Month::new();
    let [third, fifth, eighth, tenth] = month.days;
    let ledger = &month.ledger;
    let mut expected: BTreeMap<Date, Expected> = BTreeMap::new();

    record_bill(ledger, third, &month.bill(third), "a3", true);
    expected.insert(
        third,
        Expected {
            source: Some("bill"),
            sums: Some(sums_of_bill(&month.bill(third))),
            differences: None,
        },
    );

    let first_run = month.reconcile(fifth, 1, &["--missing-in-bill", "1"], "run5a");
    let (_, superseded) = record_run(ledger, fifth, &first_run);
    set_state(ledger, &superseded, "superseded");
    let planted = [
        "--missing-in-bill",
        "2",
        "--missing-in-export",
        "2",
        "--amount-mismatch",
        "1",
    ];
    let second_run = month.reconcile(fifth, 1, &planted, "run5b");
    let (_, found) = record_run(ledger, fifth, &second_run);
    assert_eq!(found.len(), 5, "the planted differences");
    set_state(ledger, &found[..2], "closed");
    set_state(ledger, &found[2..3], "resolved");
    expected.insert(
        fifth,
        Expected {
            source: Some("run"),
            sums: Some(sums_of_bill(&month.bill(fifth))),
            differences: Some((5, 3, 2)),
        },
    );

    record_bill(ledger, eighth, &month.bill(eighth), "a8", false);
    let run = month.reconcile(eighth, 2, &["--missing-in-export", "3"], "run8");
    record_run(ledger, eighth, &run);
    expected.insert(
        eighth,
        Expected {
            source: Some("bill"),
            sums: Some(sums_of_bill(&month.bill(eighth))),
            differences: Some((3, 0, 3)),
        },
    );

    let wrong = record_bill(ledger, tenth, &month.bill(tenth), "a10-wrong", false);
    Connection::open(ledger)
        .unwrap()
        .execute(
            "UPDATE bills SET payment_fen = payment_fen + 100000 WHERE id = ?1",
            [wrong],
        )
        .unwrap();
    record_bill(ledger, tenth, &month.bill(tenth), "a10", true);
    expected.insert(
        tenth,
        Expected {
            source: Some("bill"),
            sums: Some(sums_of_bill(&month.bill(tenth))),
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

    let path = env.path("shared.sqlite3");
    let ledger = Ledger::open(&path).unwrap();
    for mch_id in ["1900000109", "1900000110"] {
        ledger
            .conn()
            .execute(
                "INSERT INTO bills (mch_id, day, bill_type, path, sha256, bytes, rows,
                    recorded_at) VALUES (?1, '2026-11-02', 'ALL', 'x', ?1, 0, 0, 'now')",
                [mch_id],
            )
            .unwrap();
    }
    let path = path.display().to_string();
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
    assert_eq!(out.json()["summary"]["days_with_figures"], 0);
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
