//! What more than one command shows alike.

use super::failure::Failure;
use super::output::Record;
use super::settings::{Context, Selected, chosen_sign_type};
use crate::reconcile::report::{fine_yuan, yuan};
use crate::reconcile::{Category, Reconciliation};
use crate::wechat::sign::{Canonical, SignType, SignTypeSource};
use crate::wechat::{ApiKey, Fen};
use serde_json::{Value, json};

/// A count and its noun, singular for one: `1 order`, `2 orders`.
pub(crate) fn counted(n: impl std::fmt::Display, noun: &str) -> String {
    let n = n.to_string();
    if n == "1" {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The sign type chosen for a command (as [`chosen_sign_type`] picks it), and who chose it in
/// words: the flag, else the profile (named).
pub(crate) fn chosen_sign_type_by(
    flag: Option<SignType>,
    selected: Option<&Selected>,
) -> Option<(SignType, String)> {
    let sign_type = chosen_sign_type(flag, selected)?;
    let by = match (flag, selected) {
        (None, Some(selected)) => format!("the sign_type of profile {:?}", selected.name),
        _ => "the --sign-type flag".to_owned(),
    };
    Some((sign_type, by))
}

/// Where the sign type of a verification came from, in words.
pub(crate) fn describe_source(
    source: SignTypeSource,
    flag: Option<SignType>,
    selected: Option<&Selected>,
) -> String {
    match source {
        SignTypeSource::Declared => "the message's sign_type field".to_owned(),
        SignTypeSource::Given => chosen_sign_type_by(flag, selected)
            .map(|(_, by)| by)
            .unwrap_or_else(|| "the caller".to_owned()),
        SignTypeSource::InferredFromLength => "inferred from the length of sign: no sign_type \
             field, --sign-type or profile sign_type"
            .to_owned(),
    }
}

/// Adds the explanation: the hashed string with the key masked, and what was left out.
pub(crate) fn explain(
    record: &mut Record,
    canonical: &Canonical,
    key: &ApiKey,
    notes: Vec<String>,
) {
    // A key pasted in as a parameter value is hidden by the printer, as every loaded key is.
    record.insert(
        "string_to_sign".into(),
        json!(format!(
            "{}&key=<API key sha256:{}>",
            canonical.string,
            key.fingerprint()
        )),
    );
    let omitted: Vec<Value> = canonical
        .omitted
        .iter()
        .map(|(field, why)| json!({"field": field, "reason": why.reason()}))
        .collect();
    record.insert("omitted".into(), Value::Array(omitted));
    record.insert("key_fingerprint".into(), json!(key.fingerprint()));
    record.insert("notes".into(), json!(notes));
}

/// Entries shown in the table; the CSV and JSON formats and --out have them all.
const TABLE_ENTRIES: usize = 200;

pub(crate) fn print_tables(context: &Context, outcome: &Reconciliation) -> Result<(), Failure> {
    let printer = &context.printer;
    let mut rows: Vec<Vec<String>> = Category::ALL
        .iter()
        .map(|c| {
            let t = outcome.category(*c);
            vec![
                c.name().to_owned(),
                t.count.to_string(),
                yuan(t.bill_amount),
                yuan(t.export_amount),
                yuan(t.bill_amount - t.export_amount),
            ]
        })
        .collect();
    let bill = &outcome.bill;
    let export = &outcome.export;
    rows.push(vec![
        "bill: payments".into(),
        bill.payments.count.to_string(),
        yuan(bill.payments.amount),
        String::new(),
        String::new(),
    ]);
    rows.push(vec![
        "bill: refunds".into(),
        bill.refunds.count.to_string(),
        yuan(-bill.refunds.amount),
        String::new(),
        String::new(),
    ]);
    rows.push(vec![
        "bill: fees".into(),
        String::new(),
        fine_yuan(-bill.fees),
        String::new(),
        String::new(),
    ]);
    rows.push(vec![
        "bill: net settlement".into(),
        String::new(),
        fine_yuan(bill.net()),
        String::new(),
        String::new(),
    ]);
    rows.push(vec![
        "export: payments".into(),
        export.payments.count.to_string(),
        String::new(),
        yuan(export.payments.amount),
        String::new(),
    ]);
    rows.push(vec![
        "export: refunds".into(),
        export.refunds.count.to_string(),
        String::new(),
        yuan(-export.refunds.amount),
        String::new(),
    ]);
    for (name, count) in [
        ("export: closed or unpaid", export.not_charged),
        ("export: other days", export.out_of_scope),
        ("export: bad lines skipped", export.skipped_bad_lines),
    ] {
        rows.push(vec![
            name.into(),
            count.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    printer.rows(
        &[
            &format!("day {}", outcome.day),
            "entries",
            "bill (yuan)",
            "export (yuan)",
            "difference",
        ],
        &rows,
    )?;
    if outcome.differences.is_empty() {
        printer.status("balanced: every entry matched");
        return Ok(());
    }
    let shown: Vec<Vec<String>> = outcome
        .differences
        .iter()
        .take(TABLE_ENTRIES)
        .map(|d| {
            vec![
                d.category.name().to_owned(),
                d.kind.name().to_owned(),
                d.out_trade_no.clone(),
                d.out_refund_no.clone().unwrap_or_default(),
                d.bill
                    .as_ref()
                    .map(|s| Fen(s.amount).yuan())
                    .unwrap_or_default(),
                d.export
                    .as_ref()
                    .map(|s| Fen(s.amount).yuan())
                    .unwrap_or_default(),
                Fen(d.difference()).yuan(),
                d.note.clone(),
            ]
        })
        .collect();
    printer.rows(
        &[
            "category",
            "kind",
            "out_trade_no",
            "out_refund_no",
            "bill",
            "export",
            "difference",
            "note",
        ],
        &shown,
    )?;
    if outcome.differences.len() > TABLE_ENTRIES {
        printer.status(&format!(
            "{} more differences: see --format csv or --out DIR",
            outcome.differences.len() - TABLE_ENTRIES
        ));
    }
    Ok(())
}
