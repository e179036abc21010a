//! Property fuzzing of the export reader: its fast path for lines without quotes, and its
//! reading of a file as two halves, must give exactly what the csv reader gives for the
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
        let options = ReadOptions { skip_bad_lines, ..ReadOptions::default() };
        let mapping = Mapping::emulator_export();
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
