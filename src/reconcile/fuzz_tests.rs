//! Property fuzzing of the export reader: its fast path for lines without quotes, and its
//! reading of a file in parts, must give exactly what the csv reader gives for the
//! whole file on one thread, line numbers included.

use std::io::Write;

use proptest::prelude::*;

use super::export::{Export, ExportError, Mapping, ReadOptions, read_export, read_export_file};
use crate::wechat::fuzz_tests::fuzz_config;

/// Fields that reach every branch of a row: keys, statuses, amounts good and bad, times
/// good and bad, blanks, spaces, other delimiters, non-ASCII.
fn field() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "T1",
        "T2",
        "T3",
        "PAID",
        "REFUNDED",
        "CLOSED",
        "UNPAID",
        "paid",
        "6.00",
        "0.00",
        "2.5",
        " 7 ",
        "1,234.5",
        "x",
        "",
        " ",
        "2026-11-20 08:00:00",
        "2026-11-20 23:59:59",
        "2026-11-21 00:00:01",
        "2026-02-30 00:00:00",
        "20/11/2026",
        "中文",
        ";",
        "\t",
        "\"T,1\"",
        "\"a\r\nb\"",
    ])
}

fn line() -> impl Strategy<Value = String> {
    (prop::collection::vec(field(), 0..8), any::<bool>()).prop_map(|(fields, crlf)| {
        let end = if crlf { "\r\n" } else { "\n" };
        format!("{}{end}", fields.join(","))
    })
}

const HEADER: &str = "out_trade_no,status,amount,refund_amount,paid_at,note";
/// The same header with a quote: the csv reader reads the whole file.
const QUOTED_HEADER: &str = "\"out_trade_no\",status,amount,refund_amount,paid_at,note";

/// What a reading gave, comparable: the rows, each entry, the repeats, or the error.
fn outcome(read: Result<Export, ExportError>) -> Result<String, String> {
    let export = read.map_err(|e| e.to_string())?;
    let mut out = format!(
        "rows {} skipped {} bad {:?}\n",
        export.info.rows, export.info.skipped, export.info.bad_lines
    );
    for entry in export.entries.iter() {
        let (key, order) = export.keys(entry);
        out += &format!(
            "{:?} {:?} {:?} {} {} {} {:?} {}\n",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(order),
            entry.kind,
            entry.amount,
            entry.time,
            entry.line,
            entry.status,
            entry.flags(),
        );
    }
    for repeat in &export.repeats {
        let (first, again) = (
            export.entries.get(repeat.first),
            export.entries.get(repeat.again),
        );
        out += &format!("repeat {} {}\n", first.line, again.line);
    }
    Ok(out)
}

proptest! {
    #![proptest_config(fuzz_config(256))]

    #[test]
    fn fast_path_and_halves_read_as_the_csv_reader_does(
        lines in prop::collection::vec(line(), 0..80),
        skip_bad_lines in any::<bool>(),
    ) {
        let body = lines.concat();
        let options = ReadOptions { skip_bad_lines, threads: 2, ..ReadOptions::default() };
        let mapping = Mapping::default();
        let csv = outcome(read_export(
            format!("{QUOTED_HEADER}\n{body}").as_bytes(),
            &mapping,
            &options,
        ));
        let text = format!("{HEADER}\n{body}");
        let fast = outcome(read_export(text.as_bytes(), &mapping, &options));
        prop_assert_eq!(&fast, &csv);
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        let halves = outcome(read_export_file(file.path(), &mapping, &options));
        prop_assert_eq!(&halves, &csv);
    }
}

/// The engines on messy days: the reference engine on files, the fast engine on files in
/// one to four parts, and on the export through a pipe, must give the same entries,
/// totals, line numbers, errors, and sightings of watched keys.
mod engines {
    use std::path::Path;
    use std::sync::Arc;

    use proptest::prelude::*;

    use crate::bill::format::{BillType, FeeRate, RefundPart, TradeRow};
    use crate::emulator::bills::write_trade_bill;
    use crate::reconcile::bill::{Files, FilesError, reconcile_files};
    use crate::reconcile::export::{Encoding, Mapping, ReadOptions};
    use crate::reconcile::store::EntryKind;
    use crate::reconcile::watch::{Watch, WatchKey};
    use crate::reconcile::{Options, Reconciled, reference};
    use crate::time::stamp::Day;
    use crate::wechat::Fen;
    use crate::wechat::fuzz_tests::fuzz_config;

    const MCH_ID: &str = "1900000109";
    const ORDERS: [&str; 6] = ["O1", "O2", "O3", "O4", "O5", "O,6"];
    const REFUNDS: [&str; 3] = ["R1", "R2", "R3"];
    const AMOUNTS: [i64; 3] = [100, 250, 600];

    /// One bill row: order, refund (number, amount), amount, second of the day.
    type BillLine = (usize, Option<(usize, usize)>, usize, u32);

    fn bill_line() -> impl Strategy<Value = BillLine> {
        (
            0..ORDERS.len(),
            prop::option::weighted(0.3, (0..REFUNDS.len(), 0..AMOUNTS.len())),
            0..AMOUNTS.len(),
            prop::sample::select(vec![5u32, 100, 40_000, 86_390, 86_399]),
        )
    }

    /// A key to watch: a payment, a refund by number, or the refunds of an order, of the
    /// orders and refunds the bills and exports draw from (and one that none has).
    fn watch_key() -> impl Strategy<Value = WatchKey> {
        (0..3usize, 0..ORDERS.len() + 1, 0..REFUNDS.len() + 1).prop_map(|(kind, order, refund)| {
            let order = ORDERS.get(order).unwrap_or(&"O9").to_string();
            let refund = REFUNDS.get(refund).unwrap_or(&"R9").to_string();
            match kind {
                0 => WatchKey {
                    kind: EntryKind::Payment,
                    out_trade_no: order,
                    out_refund_no: None,
                },
                1 => WatchKey {
                    kind: EntryKind::Refund,
                    out_trade_no: order,
                    out_refund_no: Some(refund),
                },
                _ => WatchKey {
                    kind: EntryKind::OrderRefund,
                    out_trade_no: order,
                    out_refund_no: None,
                },
            }
        })
    }

    fn bill_time(day: &str, second: u32) -> String {
        format!(
            "{day} {:02}:{:02}:{:02}",
            second / 3600,
            second / 60 % 60,
            second % 60
        )
    }

    fn bill(lines: &[BillLine], day: &str, odd: Option<&str>) -> Vec<u8> {
        let rows = lines.iter().map(|&(order, refund, amount, second)| {
            let time = bill_time(day, second);
            TradeRow {
                time: time.clone(),
                appid: "wx2421b1c4370ec43b".into(),
                mch_id: MCH_ID.into(),
                sub_mch_id: String::new(),
                device_info: String::new(),
                transaction_id: format!("42000{order:023}"),
                out_trade_no: ORDERS[order].into(),
                openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
                trade_type: "JSAPI".into(),
                bank_type: "CMC".into(),
                body: "coffee".into(),
                attach: String::new(),
                total_fee: Fen(AMOUNTS[amount]),
                coupon_fee: Fen(0),
                rate: FeeRate(60),
                refund: refund.map(|(number, refund)| RefundPart {
                    paid_time: time.clone(),
                    applied_time: time.clone(),
                    success_time: time.clone(),
                    refund_id: format!("50000{number:023}"),
                    out_refund_no: REFUNDS[number].into(),
                    refund_fee: Fen(AMOUNTS[refund]),
                    coupon_refund_fee: Fen(0),
                    refund_channel: "ORIGINAL".into(),
                    refund_status: "SUCCESS".into(),
                }),
            }
        });
        let mut out = Vec::new();
        write_trade_bill(&mut out, BillType::All, rows).unwrap();
        let mut text = String::from_utf8(out).unwrap();
        // A row of another day or merchant, once in a while.
        if let Some(odd) = odd
            && let Some(at) = text.find("2026-11-20 ")
        {
            text.replace_range(at..at + 10, odd);
        }
        text.into_bytes()
    }

    /// Cells that reach every rule of a row, and every trap of the quoting.
    fn cell(column: usize) -> BoxedStrategy<String> {
        let pick = |values: &[&str]| {
            prop::sample::select(values.iter().map(|v| v.to_string()).collect::<Vec<_>>()).boxed()
        };
        match column {
            // Order number.
            0 => pick(&[
                "O1",
                "O2",
                "O3",
                "O4",
                "O5",
                "\"O,6\"",
                "O1 ",
                "",
                "\"O\n2\"",
                "\u{feff}O3",
                "\u{feff}\"O4\"",
            ]),
            // OrderStatus (or type, per transaction).
            1 => pick(&["PAID", "paid", "REFUNDED", "CLOSED", "UNPAID", "", "weird"]),
            // Amount.
            2 => pick(&[
                "1.00",
                "2.5",
                "6",
                "6.000",
                "",
                "x",
                "1,234.56",
                "\"197,24\"",
                "9999999999999999.99",
                "21474836.48",
                "-1.00",
            ]),
            // Refund amount.
            3 => pick(&["0.00", "", "1.00", "2.50", "6.00", "-2.5"]),
            // Paid time, refund time.
            4 | 6 => pick(&[
                "2026-11-20 08:00:00",
                "2026-11-20 00:00:03",
                "2026-11-20 23:59:58",
                "2026-11-21 00:00:02",
                "2026-11-19 23:59:59",
                "2026-11-20 8:00:00",
                "",
                "20/11/2026",
            ]),
            // Refund number.
            5 => pick(&["R1", "R2", "R3", ""]),
            // A note: quotes of every kind.
            _ => pick(&[
                "",
                "12\" pizza",
                "\"multi\nline\"",
                "\"a,b\"",
                "\"said \"\"hi\"\"\"",
                "\"x\r\ny\"",
                "中文",
                "\"\"",
            ]),
        }
    }

    #[derive(Debug, Clone)]
    struct Export {
        transactions: bool,
        refund_numbers: bool,
        refund_times: bool,
        rows: Vec<Vec<String>>,
        crlf: bool,
        bom: bool,
        gbk: bool,
        /// A quote opened and never closed, in that row's note.
        open_quote: Option<usize>,
        /// What comes before the header: nothing, a blank line, a mark of UTF-8 again.
        lead: &'static str,
        /// How the header line ends: usually as the rows do; a lone CR ends a record too.
        header_end: Option<&'static str>,
        /// The header again, as in exports pasted together, before that row.
        header_again: Option<usize>,
    }

    fn export() -> impl Strategy<Value = Export> {
        let row = (0..7usize)
            .map(cell)
            .collect::<Vec<_>>()
            .prop_flat_map(|cells| {
                // Short and long rows, and blank ones.
                (
                    Just(cells),
                    prop::sample::select(vec![7usize, 7, 7, 7, 7, 3, 8, 0]),
                )
            })
            .prop_map(|(mut cells, len)| {
                cells.resize(len, "extra".into());
                cells
            });
        (
            any::<(bool, bool, bool)>(),
            prop::collection::vec(row, 1..30),
            any::<(bool, bool, bool)>(),
            prop::option::weighted(0.05, 0..30usize),
            prop::sample::select(vec!["", "", "", "\n", "\r\n", "\u{feff}"]),
            prop::option::weighted(0.1, prop::sample::select(vec!["\r", "\r\n", "\n"])),
            prop::option::weighted(0.1, 0..30usize),
        )
            .prop_map(
                |(
                    (transactions, refund_numbers, refund_times),
                    rows,
                    (crlf, bom, gbk),
                    open,
                    lead,
                    header_end,
                    header_again,
                )| {
                    Export {
                        transactions,
                        refund_numbers,
                        refund_times,
                        rows,
                        crlf,
                        bom,
                        gbk,
                        open_quote: open,
                        lead,
                        header_end,
                        header_again,
                    }
                },
            )
    }

    impl Export {
        fn mapping(&self) -> Mapping {
            let mut mapping = Mapping::default();
            if self.transactions {
                mapping.status = None;
                mapping.type_column = Some("type".into());
                mapping.payment_types = vec!["PAID".into(), "paid".into()];
                mapping.refund_types = vec!["REFUNDED".into()];
            }
            mapping.refund_amount_if_present = true;
            if self.refund_numbers {
                mapping.refund_no = Some("refund_no".into());
            }
            if self.refund_times {
                mapping.refund_time = Some("refunded_at".into());
            }
            mapping
        }

        fn bytes(&self) -> Vec<u8> {
            let status = if self.transactions { "type" } else { "status" };
            let end = if self.crlf { "\r\n" } else { "\n" };
            let header = format!(
                "out_trade_no,{status},amount,refund_amount,paid_at,refund_no,refunded_at,note"
            );
            let mut text = format!("{}{header}{}", self.lead, self.header_end.unwrap_or(end));
            for (i, row) in self.rows.iter().enumerate() {
                if self.header_again == Some(i) {
                    text += &format!("{header}{end}");
                }
                let mut row = row.clone();
                if self.open_quote == Some(i) && row.len() == 8 {
                    row[7] = "\"oops, never closed".into();
                }
                text += &row.join(",");
                text += end;
            }
            let mut bytes = if self.gbk {
                encoding_rs::GBK.encode(&text).0.into_owned()
            } else {
                text.into_bytes()
            };
            if self.bom && !self.gbk {
                bytes.splice(0..0, *b"\xEF\xBB\xBF");
            }
            bytes
        }
    }

    /// The first line where two results differ, with the lines around it.
    fn differ(got: &str, want: &str) -> Option<String> {
        let (got, want): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
        let at = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i))?;
        let around = |lines: &[&str]| {
            lines[at.saturating_sub(12).min(lines.len())..(at + 3).min(lines.len())].join("\n")
        };
        Some(format!(
            "line {at}\n--- got:\n{}\n--- want:\n{}",
            around(&got),
            around(&want)
        ))
    }

    /// What a reconciliation gave, comparable: every part of the result, or the error.
    fn outcome(result: Result<Reconciled, FilesError>) -> String {
        match result {
            Ok(r) => format!("{:#?}\n{:#?}\n{:#?}", r.outcome, r.report, r.export),
            Err(e) => format!("error: {e}"),
        }
    }

    /// Writes `bytes` into a new FIFO at `path` from a thread, for a reader to open.
    fn pipe(path: &Path, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let path = path.to_owned();
        // A reader that stops early closes the pipe: the write fails, and that is fine.
        std::thread::spawn(move || drop(std::fs::write(path, bytes)))
    }

    proptest! {
        #![proptest_config(fuzz_config(64))]

        #[test]
        fn the_fast_engine_gives_what_the_reference_gives(
            export in export(),
            lines in prop::collection::vec(bill_line(), 0..30),
            adjacent in prop::collection::vec(bill_line(), 0..6),
            (with_previous, with_next) in any::<(bool, bool)>(),
            odd in prop::option::weighted(0.05, prop::sample::select(vec!["2026-11-21", "2026-13-01"])),
            (skip_bad_lines, given_day, cutoff) in (any::<bool>(), any::<bool>(), prop::sample::select(vec![0u32, 300])),
            watched in prop::option::weighted(0.8, prop::collection::vec(watch_key(), 0..8)),
        ) {
            let watch = watched.map(|keys| Arc::new(Watch::new(keys)));
            let dir = tempfile::tempdir().unwrap();
            let at = |name: &str| dir.path().join(name);
            std::fs::write(at("bill.csv"), bill(&lines, "2026-11-20", odd)).unwrap();
            std::fs::write(at("previous.csv"), bill(&adjacent, "2026-11-19", None)).unwrap();
            std::fs::write(at("next.csv"), bill(&adjacent, "2026-11-21", None)).unwrap();
            let bytes = export.bytes();
            std::fs::write(at("orders.csv"), &bytes).unwrap();
            let (bill_path, export_path) = (at("bill.csv"), at("orders.csv"));
            let (previous, next) = (at("previous.csv"), at("next.csv"));
            fn files<'a>(bill: &'a Path, export: &'a Path, previous: Option<&'a Path>, next: Option<&'a Path>) -> Files<'a> {
                Files { bill, export, previous_bill: previous, next_bill: next }
            }
            let previous = with_previous.then_some(previous.as_path());
            let next = with_next.then_some(next.as_path());
            let files = |export| files(&bill_path, export, previous, next);
            let mapping = export.mapping();
            let read = |threads| ReadOptions {
                encoding: export.gbk.then_some(Encoding::Gb18030),
                skip_bad_lines,
                threads,
                ..ReadOptions::default()
            };
            let options = |threads| Options {
                day: given_day.then(|| Day::of_date(time::macros::date!(2026 - 11 - 20)).unwrap()),
                mch_id: Some(MCH_ID.into()),
                cutoff_window: cutoff,
                previous_bill: with_previous,
                next_bill: with_next,
                threads,
                watch: watch.clone(),
            };
            let expected = outcome(reference::reconcile(&files(&export_path), &mapping, &read(1), options(1)));
            for threads in 1..=4 {
                let fast = outcome(reconcile_files(&files(&export_path), &mapping, &read(threads), options(threads)));
                prop_assert!(fast == expected, "threads {}: {}", threads, differ(&fast, &expected).unwrap_or_default());
            }
            let fifo = at("pipe.csv");
            let writer = pipe(&fifo, bytes);
            let piped = outcome(reconcile_files(&files(&fifo), &mapping, &read(2), options(2)));
            writer.join().unwrap();
            prop_assert!(piped == expected, "through a pipe: {}", differ(&piped, &expected).unwrap_or_default());
        }
    }
}
