//! `wxpay-ops demo`: the signing toolkit checked against published values, then a merchant's
//! day on the built-in emulator, ending in the reconciliation report `reconcile` prints.

use std::path::Path;

use serde_json::{Value, json};

use super::common::print_tables;
use super::failure::{Failure, exit};
use super::output::{Format, Record};
use super::settings::Context;
use crate::demo::{DayOptions, DemoError, MerchantDay, Step, merchant_day, published_vectors};
use crate::reconcile::DEFAULT_CUTOFF_WINDOW;
use crate::reconcile::export::{Mapping, ReadOptions};
use crate::reconcile::report::{difference_record, summary_json};

pub fn run(context: &Context) -> Result<u8, Failure> {
    let printer = &context.printer;
    let mut steps = published_vectors();
    printer.status("running a merchant's day against the built-in emulator…");
    // The export is read exactly as `wxpay-ops reconcile` reads one with no flags or profile.
    let (mapping, read_options) = (Mapping::default(), ReadOptions::default());
    let folder = tempfile::Builder::new()
        .prefix("wxpay-ops-demo-")
        .tempdir()
        .map_err(|e| {
            Failure::new(
                exit::TEMPORARY,
                format!("cannot make a temporary folder: {e}"),
            )
            .hint("the demo needs a writable temporary folder (TMPDIR)")
        })?;
    let mut day = merchant_day(&DayOptions {
        folder: folder.path(),
        mapping: &mapping,
        read_options: &read_options,
        cutoff_window: DEFAULT_CUTOFF_WINDOW,
    })
    .map_err(not_started)?;
    steps.append(&mut day.steps);
    render(context, &steps, &day, folder.path())?;
    let failed = steps.iter().filter(|s| !s.ok).count();
    if failed > 0 {
        return Err(Failure::new(
            exit::VERIFY,
            format!(
                "{} did not give the expected result",
                super::common::counted(failed, "demo step")
            ),
        )
        .hint("the FAILED rows say what was expected; please report them with the output of `wxpay-ops demo --format json`"));
    }
    printer.status(
        "every signature matches the published vectors, the day ran end to end against the emulator, and the reconciliation found exactly the differences planted in the export",
    );
    Ok(exit::OK)
}

fn not_started(error: DemoError) -> Failure {
    Failure::new(
        exit::TEMPORARY,
        format!("the demo could not start: {error}"),
    )
    .hint("the demo needs three free loopback ports and a writable temporary folder")
}

const STEP_COLUMNS: [&str; 4] = ["step", "result", "check", "command"];

fn step_row(step: &Step) -> Vec<String> {
    vec![
        step.name.clone(),
        step.result.clone(),
        if step.ok { "ok" } else { "FAILED" }.to_owned(),
        step.command.clone().unwrap_or_default(),
    ]
}

/// A table of the steps, then the reconciliation as `reconcile` shows it; for scripts one
/// JSON object: the steps, the planted differences, and the report as `reconcile --out`
/// writes it (`summary`) with every difference as `reconcile --format json` prints it. CSV
/// has the steps only. Files are named within the demo's folder, which is gone once it ends.
fn render(
    context: &Context,
    steps: &[Step],
    day: &MerchantDay,
    folder: &Path,
) -> Result<(), Failure> {
    let printer = &context.printer;
    let rows: Vec<Vec<String>> = steps.iter().map(step_row).collect();
    match printer.format(Format::Json) {
        Format::Csv => printer.rows(&STEP_COLUMNS, &rows),
        Format::Table => {
            printer.rows(&STEP_COLUMNS, &rows)?;
            match &day.reconciled {
                Some(day) => print_tables(context, &day.reconciled.outcome),
                None => Ok(()),
            }
        }
        Format::Json | Format::Jsonl => {
            let steps: Vec<Value> = steps
                .iter()
                .map(|s| {
                    json!({
                        "step": s.name,
                        "result": s.result,
                        "check": if s.ok { "ok" } else { "FAILED" },
                        "command": s.command,
                    })
                })
                .collect();
            let planted: Vec<Value> = day
                .planted
                .iter()
                .map(|p| {
                    json!({
                        "category": p.category.name(),
                        "out_trade_no": p.out_trade_no,
                        "how": p.how,
                    })
                })
                .collect();
            let reconcile = day.reconciled.as_ref().map(|r| {
                let within = |path: &Path| path.strip_prefix(folder).unwrap_or(path).to_owned();
                let export_name = within(&r.export_path).display().to_string();
                let differences: Vec<Value> = r
                    .reconciled
                    .outcome
                    .differences
                    .iter()
                    .map(|d| Value::Object(difference_record(d)))
                    .collect();
                json!({
                    "summary": summary_json(&r.reconciled, &within(&r.bill), &export_name),
                    "differences": differences,
                })
            });
            let mut record = Record::new();
            record.insert("steps".into(), Value::Array(steps));
            record.insert("planted".into(), Value::Array(planted));
            record.insert("reconcile".into(), reconcile.unwrap_or(Value::Null));
            printer.record(&record)
        }
    }
}
