//! `order query --from-csv`: every order of a CSV file, queried by the core's batch engine
//! and printed row by row as the answers come.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::QUERY_AGAIN;
use crate::cli::common::api::{Api, ApiArgs, call_failure, record};
use crate::cli::common::counted;
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Context, open_input};
use crate::output::{Printer, Record, record_of};
use crate::reconcile::records::{RecordError, Records};
use crate::wechat::api::{Endpoint, OrderKey};
use crate::wechat::batch::{OrderColumn, Pacing, RATES, RowError, RowResult, query_orders};

/// The flags of `order query` for many orders.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Query every order of a CSV file (with a header row; - for stdin)
    #[arg(long, value_name = "FILE")]
    pub from_csv: Option<PathBuf>,

    /// The CSV column of order numbers; a column named transaction_id is queried by
    /// transaction id [default: out_trade_no, else transaction_id]
    #[arg(long, value_name = "NAME", requires = "from_csv")]
    column: Option<String>,

    /// Queries in flight at once
    #[arg(long, value_name = "N", default_value_t = 8, requires = "from_csv",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,

    /// At most this many queries started per second: 50 or 50/s
    #[arg(long, value_name = "N/s", requires = "from_csv", value_parser = parse_rate)]
    rate: Option<f64>,

    /// Print each result as it comes instead of in the file's order
    #[arg(long, requires = "from_csv")]
    unordered: bool,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    text.strip_suffix("/s")
        .unwrap_or(text)
        .parse::<f64>()
        .ok()
        .filter(|rate| RATES.contains(rate))
        .ok_or_else(|| {
            format!(
                "{text:?} is not a rate from {} to {} requests per second, such as 50 or 50/s",
                RATES.start(),
                RATES.end()
            )
        })
}

/// The columns of `order query --from-csv`, in order.
const COLUMNS: [&str; 10] = [
    "row",
    "out_trade_no",
    "transaction_id",
    "trade_state",
    "total_fee",
    "cash_fee",
    "time_end",
    "exit_code",
    "error_code",
    "error",
];

/// Queries every order of the CSV file at `path`; `expect`: the state every order should be in.
pub fn run(
    context: &Context,
    args: &BatchArgs,
    path: &Path,
    api_args: &ApiArgs,
    expect: Option<&str>,
) -> Result<u8, Failure> {
    let (name, input): (String, Box<dyn Read>) = if path == Path::new("-") {
        ("standard input".into(), Box::new(std::io::stdin()))
    } else {
        (path.display().to_string(), Box::new(open_input(path)?))
    };
    let (column, mut keys) = order_column(&name, input, args.column.as_deref())?;
    let api = Api::connect(context, api_args, false)?;
    if api.dry_run {
        let first = (keys.next().and_then(Result::ok))
            .ok_or_else(|| Failure::input(&name, "no order numbers to show a request for"))?;
        let prepared = api.gateway.order_query(&first);
        context.printer.status(
            "dry run: the request for the first order; the others differ only in the number",
        );
        return api.show(&context.printer, &prepared);
    }
    let expected = if path == Path::new("-") {
        None
    } else {
        count_rows(path)
    };
    let mut stream = context.printer.list(&COLUMNS).live(expected);
    let pacing = Pacing {
        concurrency: args.concurrency as usize,
        rate: args.rate,
        ordered: !args.unordered,
    };
    let mut tally = Tally::default();
    let written = api.block_on(query_orders(&api.gateway, keys, pacing, |result| {
        let (row, outcome) = row(&name, column, result);
        tally.add(outcome, expect);
        stream.record(&row)
    }));
    let finished = stream.finish(None);
    written?;
    finished?;
    Ok(tally.report(&context.printer, expect))
}

type Orders = Box<dyn Iterator<Item = Result<OrderKey, RecordError>>>;

/// The orders of a CSV file's column, each read as the batch needs it, until the end or the
/// first row that cannot be read. Read strictly: a quote never closed would otherwise hide
/// every row after it.
fn order_column(
    name: &str,
    input: Box<dyn Read>,
    column: Option<&str>,
) -> Result<(OrderColumn, Orders), Failure> {
    let mut records = Records::new(input, b',', 0);
    let mut header = csv::ByteRecord::new();
    match records.read(&mut header) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(Failure::input(name, "empty: no header line")),
        Err(e) => return Err(Failure::input(name, e)),
    }
    let header: Vec<String> = (header.iter())
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    let column = OrderColumn::find(&header, column).map_err(|e| {
        Failure::input(name, format!("{e} (columns: {})", header.join(", "))).hint(
            "name the column of order numbers with --column NAME; the first row must be a header",
        )
    })?;
    let mut record = csv::ByteRecord::new();
    let mut failed = false;
    let keys = std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let read = records.read(&mut record).transpose()?;
        failed = read.is_err();
        Some(read.map(|_| {
            let cell = record.get(column.index).unwrap_or_default();
            column.key(&String::from_utf8_lossy(cell))
        }))
    });
    Ok((column, Box::new(keys)))
}

/// A row's state, or its failure's exit code and short code.
type RowOutcome = Result<String, (u8, String)>;

/// One row as printed (the columns of a single query's record, and the row's number and
/// outcome), and its outcome.
fn row(name: &str, column: OrderColumn, result: RowResult<RecordError>) -> (Record, RowOutcome) {
    let number = result.key.as_ref().map_or("", |key| key.field().1);
    let (mut row, outcome) = match result.outcome {
        Ok(state) => {
            let mut row = record_of(&state);
            row.insert("exit_code".into(), json!(exit::OK));
            (row, Ok(state.trade_state))
        }
        Err(error) => {
            let error_code = error.code().to_owned();
            let failure = match error {
                RowError::Unreadable(e) => Failure::input(name, e),
                RowError::Invalid(e) => Failure::usage(format!("row {}: {e}", result.row)),
                RowError::Call(e) => {
                    let what = format!("orderquery of {number}");
                    call_failure(&what, Endpoint::OrderQuery, e, QUERY_AGAIN, None)
                }
            };
            let row = record(json!({
                "exit_code": failure.code,
                "error_code": error_code,
                "error": failure.message,
            }));
            (row, Err((failure.code, error_code)))
        }
    };
    row.insert("row".into(), json!(result.row));
    let field = if column.transaction_ids {
        "transaction_id"
    } else {
        "out_trade_no"
    };
    row.insert(field.into(), json!(number));
    (row, outcome)
}

/// What a batch found: how many orders are in each state (or failed with each code), the
/// failure that decides the exit code, and how many are not in the --expect state.
#[derive(Default)]
struct Tally {
    rows: u64,
    counts: BTreeMap<String, u64>,
    worst: Option<u8>,
    unmet: u64,
}

impl Tally {
    fn add(&mut self, outcome: RowOutcome, expect: Option<&str>) {
        self.rows += 1;
        let key = match outcome {
            Ok(state) => {
                if expect.is_some_and(|expected| expected != state) {
                    self.unmet += 1;
                }
                state
            }
            Err((code, error_code)) => {
                let worse = self.worst.is_none_or(|w| severity(code) > severity(w));
                if worse {
                    self.worst = Some(code);
                }
                error_code
            }
        };
        *self.counts.entry(key).or_default() += 1;
    }

    /// The summary on stderr, and the batch's exit code.
    fn report(&self, printer: &Printer, expect: Option<&str>) -> u8 {
        let orders = counted(self.rows, "order");
        let summary: Vec<String> = (self.counts.iter())
            .map(|(state, n)| format!("{state} {n}"))
            .collect();
        let summary = if summary.is_empty() {
            "none".to_owned()
        } else {
            summary.join(", ")
        };
        printer.status(&format!("{orders}: {summary}"));
        if let Some(code) = self.worst {
            return code;
        }
        if self.unmet > 0 {
            let verb = if self.rows == 1 { "is" } else { "are" };
            let expected = expect.unwrap_or("");
            printer.status(&format!("{} of {orders} {verb} not {expected}", self.unmet));
            return exit::NEGATIVE;
        }
        exit::OK
    }
}

/// Which failure decides a batch's exit code: the least trustworthy answer first, then a
/// refusal, then bad input, then a temporary failure (which only running again can fix).
fn severity(code: u8) -> u8 {
    match code {
        exit::VERIFY => 4,
        exit::REFUSED => 3,
        exit::USAGE => 2,
        _ => 1,
    }
}

/// The number of data rows of a CSV file, for the progress bar; None if it cannot be read
/// twice (a pipe or a FIFO, even given by path: counting would drain it).
fn count_rows(path: &Path) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record).ok()? {
        rows += 1;
    }
    Some(rows)
}
