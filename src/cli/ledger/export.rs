//! `wxpay-ops ledger export --month M DIR`.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::cli::common::ledger::{ReadArgs, ledger_failure, open_to_read};
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Context, parse_month};
use crate::fsutil::{FileError, WriteError, output_folder, write_atomic};
use crate::ledger::export::{ExportError, MonthExport, Table};
use crate::output::Record;
use crate::time::YearMonth;

pub const AFTER_HELP: &str = "\
Writes DIR/<mch_id>.<yyyy-MM>.bill_rows.csv (the rows of each day's bill, as the month report \
counts them) and DIR/<mch_id>.<yyyy-MM>.differences.csv (the differences of each day's latest \
run), each replaced whole, never left half-written. Amounts are integer fen (fees in 0.00001 \
yuan), times RFC 3339 in Beijing time, an absent value an empty cell. Load them with DuckDB \
(SELECT * FROM 'DIR/*.bill_rows.csv'), Spark or a warehouse's CSV load.";

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The month: yyyy-MM, yyyyMM, this or last (Beijing time)
    #[arg(long, value_name = "MONTH", value_parser = parse_month)]
    month: YearMonth,
    /// The folder to write the files into (made when missing)
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    ledger: ReadArgs,
}

const COLUMNS: [&str; 4] = ["table", "file", "rows", "bytes"];

pub fn run(context: &Context, args: ExportArgs) -> Result<u8, Failure> {
    let (ledger, mch_id) = open_to_read(context, &args.ledger)?;
    let export = MonthExport::begin(&ledger, &mch_id, args.month).map_err(ledger_failure)?;
    output_folder(&args.dir)?;
    let printer = &context.printer;
    let mut list = printer.list(&COLUMNS);
    for table in Table::ALL {
        let name = format!("{mch_id}.{}.{}.csv", args.month, table.name());
        let path = args.dir.join(name);
        let rows =
            write_atomic(&path, |out| export.write_csv(table, out)).map_err(|e| match e {
                WriteError::File(e) => Failure::from(e),
                WriteError::Inner(ExportError::Write(e)) => FileError::new(&path, e).into(),
                WriteError::Inner(ExportError::Ledger(e)) => ledger_failure(e),
            })?;
        let bytes = std::fs::metadata(&path).map(|m| m.len()).ok();
        let mut record = Record::new();
        record.insert("table".into(), json!(table.name()));
        record.insert("file".into(), json!(path.display().to_string()));
        record.insert("rows".into(), json!(rows));
        record.insert("bytes".into(), json!(bytes));
        list.record(&record)?;
    }
    list.finish(None)?;
    let missing = export.days_without_rows();
    if !missing.is_empty() {
        printer.warn(&format!(
            "the bill of {} is recorded without its rows, so the bill_rows file has nothing of it; import its rows into the ledger and export again",
            missing.join(", ")
        ));
    }
    Ok(exit::OK)
}
