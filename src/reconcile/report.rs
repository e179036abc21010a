//! A reconciliation as data: one record per difference (the columns of `differences.csv`
//! and of `reconcile --format csv|json`) and the summary (`summary.json`), for every command
//! and report that shows one.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::export::{Encoding, Mapping, ReadOptions, Unit};
use super::store::EntryKind;
use super::time_format::format_zone;
use super::{Category, Difference, Reconciled};
use crate::time::stamp::format_stamp;
use crate::wechat::Fen;
use crate::wechat::money::format_fixed;

impl EntryKind {
    /// As a difference names it: a payment, or a refund (by number or summed by order).
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Payment => "payment",
            EntryKind::Refund | EntryKind::OrderRefund => "refund",
        }
    }
}

/// One row per difference: its category, both sides' values, the difference. The order
/// number column is `out_trade_no`, so the file can go as it is to `order query --from-csv`.
pub const DIFFERENCE_COLUMNS: [&str; 14] = [
    "category",
    "kind",
    "out_trade_no",
    "out_refund_no",
    "bill_amount_fen",
    "export_amount_fen",
    "difference_fen",
    "bill_time",
    "export_time",
    "bill_line",
    "export_line",
    "export_status",
    "note",
    "difference_yuan",
];

pub fn difference_record(d: &Difference) -> Map<String, Value> {
    let side = |s: Option<&super::Side>| s.cloned();
    let (bill, export) = (side(d.bill.as_ref()), side(d.export.as_ref()));
    let value = json!({
        "category": d.category.name(),
        "kind": d.kind.name(),
        "out_trade_no": d.out_trade_no,
        "out_refund_no": d.out_refund_no,
        "bill_amount_fen": bill.as_ref().map(|s| s.amount),
        "export_amount_fen": export.as_ref().map(|s| s.amount),
        "difference_fen": d.difference(),
        "bill_time": bill.as_ref().map(|s| format_stamp(s.time)).filter(|t| !t.is_empty()),
        "export_time": export.as_ref().map(|s| format_stamp(s.time)).filter(|t| !t.is_empty()),
        "bill_line": bill.as_ref().map(|s| s.line).filter(|line| *line > 0),
        "export_line": export.as_ref().map(|s| s.line),
        "export_status": d.export_status.map(|s| s.name()),
        "note": d.note,
        "difference_yuan": Fen(d.difference()).yuan(),
    });
    value.as_object().cloned().unwrap_or_default()
}

pub fn yuan(fen: i128) -> String {
    format_fixed(fen, 2)
}

/// A bill's fees and net settlement, in 0.00001 yuan.
pub fn fine_yuan(units: i128) -> String {
    format_fixed(units, 5)
}

pub fn summary_json(reconciled: &Reconciled, bill_path: &Path, export_name: &str) -> Value {
    let Reconciled {
        outcome,
        report,
        export,
    } = reconciled;
    let bill = &outcome.bill;
    let categories: serde_json::Map<String, Value> = Category::ALL
        .iter()
        .map(|c| {
            let t = outcome.category(*c);
            (
                c.name().to_owned(),
                json!({
                    "count": t.count,
                    "bill_amount_fen": t.bill_amount,
                    "export_amount_fen": t.export_amount,
                    "difference_fen": t.bill_amount - t.export_amount,
                }),
            )
        })
        .collect();
    let checks: Vec<Value> = report
        .totals
        .iter()
        .map(|check| {
            json!({
                "total": check.total.name(),
                "stated": check.stated.to_string(),
                "computed": check.computed.to_string(),
                "holds": check.holds(),
            })
        })
        .collect();
    json!({
        "day": outcome.day.to_string(),
        "balanced": outcome.balanced(),
        "differences": outcome.differences.len(),
        "bill": {
            "file": bill_path.display().to_string(),
            "rows": bill.rows,
            "payments": bill.payments,
            "refunds": bill.refunds,
            "settlement_fen": bill.settlement,
            "fees_yuan": fine_yuan(bill.fees),
            "net_settlement_yuan": fine_yuan(bill.net()),
            "summary_consistent": report.is_consistent(),
            "summary_checks": checks,
        },
        "export": {
            "file": export_name,
            "encoding": export.encoding.map(Encoding::name),
            "bom": export.bom,
            "delimiter": (export.delimiter as char).to_string(),
            "rows": outcome.export.rows,
            "payments": outcome.export.payments,
            "refunds": outcome.export.refunds,
            "not_charged": outcome.export.not_charged,
            "out_of_scope": outcome.export.out_of_scope,
            "skipped_bad_lines": outcome.export.skipped_bad_lines,
            "bad_lines": export.bad_lines.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "categories": categories,
    })
}

/// The mapping and reading options a run used, resolved (defaults filled in), under the
/// keys of a profile's `[reconcile]` table. A default column that is used only when the
/// export has it says so (`…_if_present`).
pub fn mapping_json(mapping: &Mapping, read: &ReadOptions, cutoff_window: u32) -> Value {
    json!({
        "order_column": mapping.order,
        "amount_column": mapping.amount,
        "amount_unit": match mapping.unit {
            Unit::Fen => "fen",
            Unit::Yuan => "yuan",
        },
        "status_column": mapping.status,
        "paid_values": mapping.paid_values,
        "refunded_values": mapping.refunded_values,
        "closed_values": mapping.closed_values,
        "unpaid_values": mapping.unpaid_values,
        "time_column": mapping.time,
        "time_column_if_present": mapping.time_if_present,
        "time_format": mapping.time_format.to_string(),
        "time_zone": format_zone(mapping.zone),
        "refund_no_column": mapping.refund_no,
        "refund_amount_column": mapping.refund_amount,
        "refund_amount_column_if_present": mapping.refund_amount_if_present,
        "refund_time_column": mapping.refund_time,
        "type_column": mapping.type_column,
        "payment_types": mapping.payment_types,
        "refund_types": mapping.refund_types,
        "encoding": read.encoding.map_or("auto", Encoding::name),
        "delimiter": match read.delimiter {
            None => "auto",
            Some(b'\t') => "tab",
            Some(b';') => "semicolon",
            Some(_) => "comma",
        },
        "skip_bad_lines": read.skip_bad_lines,
        "cutoff_window": cutoff_window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::settings::MappingSettings;

    #[test]
    fn the_mapping_is_recorded_resolved_under_the_profiles_keys() {
        let settings = MappingSettings {
            order_column: Some("订单号".into()),
            time_zone: Some("UTC".into()),
            delimiter: Some("tab".into()),
            cutoff_window: Some("2m".into()),
            ..MappingSettings::default()
        };
        let resolved = settings.resolve().unwrap();
        let json = mapping_json(&resolved.mapping, &resolved.read, resolved.cutoff_window);
        assert_eq!(json["order_column"], "订单号");
        assert_eq!(json["time_zone"], "+00:00");
        assert_eq!(json["time_format"], "%Y-%m-%d %H:%M:%S");
        assert_eq!(json["time_column_if_present"], true);
        assert_eq!(json["delimiter"], "tab");
        assert_eq!(json["encoding"], "auto");
        assert_eq!(json["cutoff_window"], 120);
        let keys = serde_json::to_value(MappingSettings::default()).unwrap();
        for key in keys.as_object().unwrap().keys() {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}
