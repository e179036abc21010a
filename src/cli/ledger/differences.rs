//! `ledger open`, `ledger resolve` and `ledger show`: the differences of reconcile runs as
//! the ledger keeps them.

use clap::Args;
use serde_json::{Value, json};

use crate::cli::common::counted;
use crate::cli::common::ledger::{ReadArgs, existing, ledger_failure, os_user};
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::Context;
use crate::ledger::runs::{
    ExportFile, ExportRows, Need, OpenDifference, OrderHistory, StoredDifference, StoredSide,
    kind_name,
};
use crate::output::Record;
use crate::reconcile::store::{EntryKind, OrderStatus};
use crate::time::stamp::{format_stamp, from_unix};
use crate::wechat::Fen;

pub const OPEN_AFTER_HELP: &str = "\
A missing_in_bill or likely cut-off cross_day difference closes itself when a run of another day \
finds the payment or refund in its bill, for the same amount; a missing_in_export one when a run \
of another day finds it charged in its export. Any other difference is closed by hand with \
`wxpay-ops ledger resolve ID --note TEXT`. Exit 0 when nothing is open, 1 when something is.";

pub const SHOW_AFTER_HELP: &str = "\
One row per thing the ledger knows, by day: the order's bill rows (source bill_row, from bills \
imported into the ledger), the reconcile runs that found or closed its differences or reconciled \
its days (run), its rows in those runs' export files as they are now, with whether a file \
changed since its run (export_row), and its differences with their states (difference). Exit 1 \
when the ledger knows nothing of it.";

#[derive(Debug, Args)]
pub struct OpenArgs {
    #[command(flatten)]
    file: ReadArgs,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The difference's id, as `ledger open` lists it
    #[arg(value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
    id: i64,
    /// Why it is settled: what was done about it, or why nothing needs doing
    #[arg(long, value_name = "TEXT")]
    note: String,
    #[command(flatten)]
    file: ReadArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The merchant order number (商户订单号)
    #[arg(value_name = "OUT_TRADE_NO")]
    out_trade_no: String,
    #[command(flatten)]
    file: ReadArgs,
}

/// `ledger open`'s columns.
const OPEN_COLUMNS: [&str; 16] = [
    "id",
    "day",
    "age_days",
    "category",
    "kind",
    "out_trade_no",
    "out_refund_no",
    "bill_amount_fen",
    "export_amount_fen",
    "difference_fen",
    "difference_yuan",
    "closes_when",
    "seen",
    "note",
    "run_id",
    "mch_id",
];

/// `ledger show`'s columns: one row per bill row, run and difference.
const SHOW_COLUMNS: [&str; 18] = [
    "day",
    "source",
    "id",
    "kind",
    "out_refund_no",
    "category",
    "state",
    "bill_amount_fen",
    "export_amount_fen",
    "time",
    "line",
    "run_id",
    "closed_by_run",
    "closed_day",
    "closed_with",
    "user",
    "note",
    "file",
];

pub fn open(context: &Context, args: OpenArgs) -> Result<u8, Failure> {
    let (ledger, mch_id) = existing(context, &args.file)?;
    let open = (ledger.open_differences(crate::time::today(), mch_id.as_deref()))
        .map_err(ledger_failure)?;
    let records: Vec<Record> = open.iter().map(open_record).collect();
    context.printer.records(&OPEN_COLUMNS, &records)?;
    context.printer.status(&format!(
        "{} open in {}",
        counted(open.len(), "difference"),
        ledger.path().display()
    ));
    Ok(if open.is_empty() {
        exit::OK
    } else {
        exit::NEGATIVE
    })
}

pub fn resolve(context: &Context, args: ResolveArgs) -> Result<u8, Failure> {
    let note = args.note.trim();
    if note.is_empty() {
        return Err(Failure::usage("--note is empty").hint(
            "say why the difference is settled, e.g. --note \"refunded by hand on 2026-11-22\"",
        ));
    }
    let (mut ledger, mch_id) = existing(context, &args.file)?;
    let user = os_user();
    let resolved = (ledger.resolve(args.id, mch_id.as_deref(), note, &user, crate::time::now()))
        .map_err(ledger_failure)?;
    context.printer.status(&format!(
        "difference {} of {} resolved by {user}",
        resolved.id, resolved.day
    ));
    context.printer.record(&difference_record(&resolved))?;
    Ok(exit::OK)
}

pub fn show(context: &Context, args: ShowArgs) -> Result<u8, Failure> {
    let (ledger, mch_id) = existing(context, &args.file)?;
    let history = (ledger.show(&args.out_trade_no, mch_id.as_deref())).map_err(ledger_failure)?;
    let rows = timeline(&history);
    context.printer.records(&SHOW_COLUMNS, &rows)?;
    if rows.is_empty() {
        context.printer.status(&format!(
            "{} knows nothing of order {}",
            ledger.path().display(),
            args.out_trade_no
        ));
        return Ok(exit::NEGATIVE);
    }
    Ok(exit::OK)
}

/// A time the ledger keeps in Unix seconds, as bills write times.
fn beijing(seconds: Option<i64>) -> Option<String> {
    seconds.and_then(from_unix).map(format_stamp)
}

/// Every field of a difference, amounts in fen with the difference in yuan beside them.
fn difference_record(d: &StoredDifference) -> Record {
    let fen = |side: &Option<StoredSide>| side.as_ref().map(|s| s.fen);
    let difference = fen(&d.bill).unwrap_or(0) - fen(&d.export).unwrap_or(0);
    let value = json!({
        "id": d.id,
        "run_id": d.run_id,
        "mch_id": d.mch_id,
        "day": d.day,
        "category": d.category.name(),
        "kind": kind_name(d.kind),
        "out_trade_no": d.out_trade_no,
        "out_refund_no": d.out_refund_no,
        "bill_amount_fen": fen(&d.bill),
        "export_amount_fen": fen(&d.export),
        "difference_fen": difference,
        "difference_yuan": Fen(difference).yuan(),
        "bill_time": beijing(d.bill.as_ref().and_then(|s| s.time)),
        "export_time": beijing(d.export.as_ref().and_then(|s| s.time)),
        "bill_line": d.bill.as_ref().and_then(|s| s.line),
        "export_line": d.export.as_ref().and_then(|s| s.line),
        "export_status": d.export_status.map(OrderStatus::name),
        "note": d.note,
        "state": d.state.name(),
        "closed_at": d.closed_at,
        "closed_by_run": d.closed_by_run,
        "closed_day": d.closed_day,
        "closed_with": d.closed_with,
        "resolved_by": d.resolved_by,
        "resolution": d.resolution,
        "seen": d.seen,
        "carried_from": d.carried_from,
    });
    value.as_object().cloned().unwrap_or_default()
}

fn open_record(open: &OpenDifference) -> Record {
    let mut record = difference_record(&open.difference);
    record.insert("age_days".into(), json!(open.age_days));
    record.insert("closes_when".into(), json!(closes_when(open)));
    record
}

/// What would close an open difference, in words.
fn closes_when(open: &OpenDifference) -> String {
    let what = match open.difference.kind {
        EntryKind::Payment => "this payment",
        EntryKind::Refund => "this refund",
        EntryKind::OrderRefund => "the order's refunds",
    };
    match open.need {
        Some(Need::Bill { fen }) => format!(
            "{what} in the bill of another day, at {} yuan",
            Fen(fen).yuan()
        ),
        Some(Need::Export { fen }) => format!(
            "{what} charged in the export of another day, at {} yuan",
            Fen(fen).yuan()
        ),
        None => format!(
            "a person: wxpay-ops ledger resolve {} --note TEXT",
            open.difference.id
        ),
    }
}

/// The order's bill rows, runs and differences, one row each, by day.
fn timeline(history: &OrderHistory) -> Vec<Record> {
    let mut rows: Vec<(String, u8, i64, Value)> = Vec::new();
    for row in &history.bill_rows {
        let value = json!({
            "day": row.day,
            "source": "bill_row",
            "id": row.bill_id,
            "kind": if row.kind == EntryKind::Payment { "payment" } else { "refund" },
            "out_refund_no": row.out_refund_no,
            "state": row.state,
            "bill_amount_fen": row.amount_fen,
            "time": beijing(Some(row.time)),
            "line": row.line,
            "note": format!("{} bill, transaction {}", row.bill_type, row.transaction_id),
            "file": row.path,
        });
        rows.push((row.day.clone(), 0, row.line, value));
    }
    for run in &history.runs {
        let (state, note) = match run.superseded_by {
            Some(later) => ("superseded", format!("superseded by run {later}")),
            None if run.balanced => ("balanced", String::new()),
            None => ("differences", String::new()),
        };
        let export = format!("export {}", run.export_path);
        let note = [note, export];
        let note: Vec<&String> = note.iter().filter(|s| !s.is_empty()).collect();
        let value = json!({
            "day": run.day,
            "source": "run",
            "id": run.id,
            "state": state,
            "time": run.started_at,
            "user": run.user,
            "note": note.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; "),
            "file": run.bill_path,
        });
        rows.push((run.day.clone(), 1, run.id, value));
    }
    for export in &history.exports {
        for value in export_rows(export) {
            rows.push((export.day.clone(), 2, export.run_id, value));
        }
    }
    for d in &history.differences {
        rows.push((d.day.clone(), 3, d.id, difference_row(d)));
    }
    rows.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    rows.into_iter()
        .map(|(_, _, _, value)| value.as_object().cloned().unwrap_or_default())
        .collect()
}

/// A difference as one row of the order's timeline.
fn difference_row(d: &StoredDifference) -> Value {
    let full = difference_record(d);
    let side = |bill: &str, export: &str| match &full[bill] {
        Value::Null => full[export].clone(),
        value => value.clone(),
    };
    let mut notes = vec![d.note.clone()];
    notes.extend(d.resolution.iter().map(|r| format!("resolved: {r}")));
    notes.extend(d.seen.iter().map(|s| format!("seen: {s}")));
    notes.retain(|n| !n.is_empty());
    json!({
        "day": d.day,
        "source": "difference",
        "id": d.id,
        "kind": full["kind"],
        "out_refund_no": d.out_refund_no,
        "category": full["category"],
        "state": full["state"],
        "bill_amount_fen": full["bill_amount_fen"],
        "export_amount_fen": full["export_amount_fen"],
        "time": side("bill_time", "export_time"),
        "line": side("bill_line", "export_line"),
        "run_id": d.run_id,
        "closed_by_run": d.closed_by_run,
        "closed_day": d.closed_day,
        "closed_with": d.closed_with,
        "user": d.resolved_by,
        "note": notes.join("; "),
    })
}

/// An export's rows that name the order, or one row saying why there are none.
fn export_rows(export: &ExportRows) -> Vec<Value> {
    let state = match &export.file {
        ExportFile::AsRead => "as read",
        ExportFile::Changed => "changed since the run",
        ExportFile::Unknown => "read from a pipe",
        ExportFile::NotAFile => "a pipe",
        ExportFile::Unreadable(_) => "unreadable",
    };
    let row = |line: Option<u64>, state: &str, note: String| {
        json!({
            "day": export.day,
            "source": "export_row",
            "state": state,
            "line": line,
            "run_id": export.run_id,
            "note": note,
            "file": export.path,
        })
    };
    let mut found: Vec<Value> = (export.rows.iter())
        .map(|named| {
            let cells: Vec<String> = (named.cells.iter())
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            row(Some(named.line), state, cells.join(", "))
        })
        .collect();
    if found.is_empty() {
        found.push(match &export.file {
            ExportFile::Unreadable(why) => row(None, state, why.clone()),
            ExportFile::NotAFile => {
                row(None, state, "not read again: not a regular file".to_owned())
            }
            _ => row(
                None,
                "absent",
                "no row of this export names the order".to_owned(),
            ),
        });
    }
    found
}
