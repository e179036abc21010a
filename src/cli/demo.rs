//! `wxpay-ops demo`: the signing toolkit checked against published values, then a merchant's
//! day on the built-in emulator, ending in the reconciliation report `reconcile` prints.

use std::path::Path;

use serde_json::{Value, json};

use clap::Args;

use super::common::{ApiFlag, print_tables};
use super::failure::{Failure, exit};
use super::settings::Context;
use crate::demo::{DayOptions, DemoError, MerchantDay, Step, merchant_day, published_vectors};
use crate::output::{Format, Record, terminal_width};
use crate::reconcile::DEFAULT_CUTOFF_WINDOW;
use crate::reconcile::export::{Mapping, ReadOptions};
use crate::reconcile::report::{difference_record, summary_json};
use crate::wechat::ApiVersion;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The API the merchant's day runs on: v2 (signed XML) or v3 (JSON, RSA signatures,
    /// encrypted callbacks)
    #[arg(long, value_enum, default_value_t = ApiFlag::V2)]
    api: ApiFlag,
}

pub fn run(context: &Context, args: DemoArgs) -> Result<u8, Failure> {
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
        api: match args.api {
            ApiFlag::V2 => ApiVersion::V2,
            ApiFlag::V3 => ApiVersion::V3,
        },
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
    // Three short lines rather than one sentence: a narrow terminal would break it mid-word.
    for done in [
        "every signature matches the published vectors",
        "the merchant's day ran end to end against the emulator",
        "reconcile found exactly the differences planted",
        "the second day closed the first day's cross-day difference in the ledger",
    ] {
        printer.status(done);
    }
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

fn step_record(step: &Step) -> Record {
    let record = json!({
        "step": step.name,
        "result": step.result,
        "check": if step.ok { "ok" } else { "FAILED" },
        "command": step.command,
    });
    record.as_object().cloned().unwrap_or_default()
}

/// The steps for a person at a terminal: each one's check and name, its result beneath, and
/// the commands to type on lines of their own, continued with ` \` and broken only between
/// words, so that each can be copied whole.
fn steps_text(steps: &[Step], width: usize) -> String {
    let mut text = String::new();
    for step in steps {
        let check = if step.ok { "ok  " } else { "FAILED " };
        text += &fill(step.name.split_whitespace(), width, check, "    ", "");
        text += &fill(step.result.split_whitespace(), width, "    ", "    ", "");
        for words in step.commands() {
            let words = flags_with_values(&words);
            let words = words.iter().map(String::as_str);
            text += &fill(words, width, "      ", "        ", " \\");
        }
    }
    text
}

/// A command's words, each flag joined to its value, so that no line ends between them.
fn flags_with_values(words: &[&str]) -> Vec<String> {
    let mut joined: Vec<String> = Vec::new();
    for word in words {
        match joined.last_mut() {
            Some(flag)
                if flag.starts_with("--") && !flag.contains(' ') && !word.starts_with('-') =>
            {
                flag.push(' ');
                flag.push_str(word);
            }
            _ => joined.push(word.to_string()),
        }
    }
    joined
}

/// `words` filled into lines of at most `width` characters, the first after `first` and the
/// others after `indent`, each line but the last ending in `end`. A word too long for any
/// line stands alone on one.
fn fill<'a>(
    words: impl IntoIterator<Item = &'a str>,
    width: usize,
    first: &str,
    indent: &str,
    end: &str,
) -> String {
    let words: Vec<&str> = words.into_iter().collect();
    let (mut text, mut line) = (String::new(), first.to_owned());
    let mut empty = true;
    for (index, word) in words.iter().enumerate() {
        let last = index + 1 == words.len();
        let wanted = line.chars().count() + 1 + word.chars().count();
        if !empty && wanted + if last { 0 } else { end.len() } > width {
            text += &format!("{line}{end}\n");
            line = indent.to_owned();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line += word;
        empty = false;
    }
    text + &line + "\n"
}

/// The steps for a person, then the reconciliation as `reconcile` shows it; for scripts one
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
    let records: Vec<Record> = steps.iter().map(step_record).collect();
    match printer.format(Format::Json) {
        Format::Csv => Ok(printer.records(&STEP_COLUMNS, &records)?),
        Format::Table => {
            let width = terminal_width().map_or(usize::MAX, usize::from);
            printer.data(&steps_text(steps, width))?;
            match &day.reconciled {
                Some(day) => print_tables(context, &day.reconciled.outcome),
                None => Ok(()),
            }
        }
        Format::Json | Format::Jsonl => {
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
            let steps = records.into_iter().map(Value::Object).collect();
            record.insert("steps".into(), Value::Array(steps));
            record.insert("planted".into(), Value::Array(planted));
            record.insert("reconcile".into(), reconcile.unwrap_or(Value::Null));
            Ok(printer.record(&record)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_break_between_a_flag_and_the_next_never_inside_one() {
        let words = [
            "wxpay-ops",
            "order",
            "close",
            "--out-trade-no",
            "A-1",
            "--yes",
        ];
        let joined = flags_with_values(&words);
        assert_eq!(joined[3..], ["--out-trade-no A-1", "--yes"]);
        let lines = fill(joined.iter().map(String::as_str), 30, "  ", "    ", " \\");
        assert_eq!(
            lines,
            "  wxpay-ops order close \\\n    --out-trade-no A-1 --yes\n"
        );
        let long = "x".repeat(40);
        assert_eq!(
            fill(["a", &long, "b"], 20, "", "", ""),
            format!("a\n{long}\nb\n")
        );
    }
}
