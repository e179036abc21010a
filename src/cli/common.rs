//! What more than one command shows alike.

pub(crate) mod api;
pub mod bills;
pub(crate) mod call_failure;
pub(crate) mod ledger;
pub(crate) mod progress;
pub(crate) mod v3;
pub(crate) mod v3_client;

use super::failure::Failure;
use super::settings::{Context, Selected, chosen_sign_type};
use crate::output::Record;
use crate::reconcile::report::{fine_yuan, yuan};
use crate::reconcile::{Category, Difference, Reconciliation, Side, Tally};
use crate::wechat::sign::{Canonical, SignType, SignTypeSource};
use crate::wechat::{ApiKey, ApiVersion, Fen};
use serde_json::{Value, json};

pub(crate) use crate::output::counted;

/// The merchant's API v3 private key: `--private-key`, else the profile's `private_key_pem`
/// (else `cert_key_pem`).
pub(crate) fn merchant_key(
    flag: Option<&std::path::Path>,
    selected: Option<&Selected>,
) -> Result<crate::wechat::v3::MerchantKey, Failure> {
    match (flag, selected) {
        (Some(path), _) => Ok(crate::config::v3::read_private_key(path)?),
        (None, Some(s)) => Ok(s.config.merchant_key(&s.name, &s.profile)?),
        (None, None) => Err(Failure::usage(
            "no merchant private key: no --private-key, and no profile",
        )
        .hint("pass --private-key apiclient_key.pem, or use a profile with private_key_pem")),
    }
}

/// The API a command speaks, for the commands that speak both (`--api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ApiFlag {
    /// API v2: XML, signed with the API v2 key (MD5 or HMAC-SHA256)
    V2,
    /// API v3: JSON, signed with RSA (the merchant's private key; WeChat Pay's public key)
    V3,
}

impl ApiFlag {
    /// The API to speak: the flag, else the profile's choice (its `api_version`, else v3
    /// when it names v3 keys), else v2.
    pub(crate) fn resolve(flag: Option<ApiFlag>, selected: Option<&Selected>) -> ApiVersion {
        let flag = flag.map(|api| match api {
            ApiFlag::V2 => ApiVersion::V2,
            ApiFlag::V3 => ApiVersion::V3,
        });
        match selected {
            Some(selected) => selected.profile.api_version(flag),
            None => flag.unwrap_or(ApiVersion::V2),
        }
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
    record.insert("string_to_sign".into(), json!(canonical.masked(key)));
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

/// A reconciliation for people: the day's totals, then the differences.
pub(crate) fn print_tables(context: &Context, outcome: &Reconciliation) -> Result<(), Failure> {
    let printer = &context.printer;
    let day = format!("day {}", outcome.day);
    let columns = [
        &day,
        "entries",
        "bill (yuan)",
        "export (yuan)",
        "difference",
    ];
    printer.rows(&columns, totals_rows(outcome))?;
    if outcome.differences.is_empty() {
        printer.status("balanced: every entry matched");
        return Ok(());
    }
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
        outcome
            .differences
            .iter()
            .take(TABLE_ENTRIES)
            .map(difference_row),
    )?;
    if outcome.differences.len() > TABLE_ENTRIES {
        printer.status(&format!(
            "{} more differences: see --format csv or --out DIR",
            outcome.differences.len() - TABLE_ENTRIES
        ));
    }
    Ok(())
}

/// Each category on both sides, then each side's own totals, in yuan.
fn totals_rows(outcome: &Reconciliation) -> Vec<[String; 5]> {
    let (bill, export) = (&outcome.bill, &outcome.export);
    let none = String::new;
    let row = |name: &str, count: String, bill: String, export: String| {
        [name.to_owned(), count, bill, export, none()]
    };
    let mut rows: Vec<[String; 5]> = (Category::ALL.iter())
        .map(|c| {
            let t = outcome.category(*c);
            let mut row = row(
                c.name(),
                t.count.to_string(),
                yuan(t.bill_amount),
                yuan(t.export_amount),
            );
            row[4] = yuan(t.bill_amount - t.export_amount);
            row
        })
        .collect();
    let count = |tally: Tally| tally.count.to_string();
    rows.extend([
        row(
            "bill: payments",
            count(bill.payments),
            yuan(bill.payments.amount),
            none(),
        ),
        row(
            "bill: refunds",
            count(bill.refunds),
            yuan(-bill.refunds.amount),
            none(),
        ),
        row("bill: fees", none(), fine_yuan(-bill.fees), none()),
        row(
            "bill: net settlement",
            none(),
            fine_yuan(bill.net()),
            none(),
        ),
        row(
            "export: payments",
            count(export.payments),
            none(),
            yuan(export.payments.amount),
        ),
        row(
            "export: refunds",
            count(export.refunds),
            none(),
            yuan(-export.refunds.amount),
        ),
    ]);
    for (name, count) in [
        ("export: closed or unpaid", export.not_charged),
        ("export: other days", export.out_of_scope),
        ("export: bad lines skipped", export.skipped_bad_lines),
    ] {
        rows.push(row(name, count.to_string(), none(), none()));
    }
    rows
}

/// A difference as the table shows it: amounts in yuan, blank for a side that lacks it.
fn difference_row(d: &Difference) -> [String; 8] {
    let yuan = |side: Option<&Side>| side.map(|s| Fen(s.amount).yuan()).unwrap_or_default();
    [
        d.category.name().to_owned(),
        d.kind.name().to_owned(),
        d.out_trade_no.clone(),
        d.out_refund_no.clone().unwrap_or_default(),
        yuan(d.bill.as_ref()),
        yuan(d.export.as_ref()),
        Fen(d.difference()).yuan(),
        d.note.clone(),
    ]
}
