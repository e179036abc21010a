//! The control plane: JSON over HTTP under `/__emulator/`, the same operations as the
//! library's `Core` methods.

use serde::Deserialize;
use serde_json::{Value, json};
use time::Duration;

use super::cloudpay::CloudFunction;
use super::core::{Core, OutcomeError};
use super::faults::Fault;
use super::lock;
use super::login::LoginCode;
use super::merchant::DEFAULT_MCH_ID;
use super::outcomes::Outcome;
use super::state::{Account, PayOptions, Refusal};
use super::synth::SyntheticDay;
use crate::time::{api_time, parse_api_time};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderRef {
    mch_id: Option<String>,
    out_trade_no: String,
    #[serde(flatten)]
    pay: PayFields,
}

#[derive(Deserialize, Default)]
struct PayFields {
    transaction_id: Option<String>,
    time_end: Option<String>,
    openid: Option<String>,
    bank_type: Option<String>,
    coupon_fee: Option<i64>,
    /// The sub-merchant of the order, in service-provider mode.
    sub_mch_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    advance_seconds: Option<i64>,
    /// yyyyMMddHHmmss, Beijing time.
    set: Option<String>,
}

/// Switches of the emulator's behaviour; each left out stays as it is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    allow_early_close: Option<bool>,
    /// API v3: `public_key`, `certificate` or `rotated_certificate`.
    v3_signing: Option<super::v3::V3Signing>,
    /// API v3: send each callback first as a probe (B2).
    v3_probe: Option<bool>,
}

fn settings(core: &Core) -> (u16, String) {
    ok(json!({
        "allow_early_close": core.early_close_allowed(),
        "v3_signing": *lock(&core.notifier.v3_signing),
        "v3_probe": core.notifier.v3_probe.load(std::sync::atomic::Ordering::Relaxed),
    }))
}

fn error(status: u16, message: impl Into<String>) -> (u16, String) {
    (status, json!({ "error": message.into() }).to_string())
}

fn ok(value: Value) -> (u16, String) {
    (
        200,
        serde_json::to_string_pretty(&value).expect("JSON values serialize"),
    )
}

/// An unknown order is 404, like any missing resource; a refusal of the state it is in, 409.
fn refused(refusal: &Refusal) -> (u16, String) {
    let status = if refusal.code == "ORDERNOTEXIST" {
        404
    } else {
        409
    };
    error(status, format!("{}: {}", refusal.code, refusal.description))
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, (u16, String)> {
    serde_json::from_slice(body).map_err(|e| error(400, format!("invalid JSON body: {e}")))
}

/// Routes one control request; `path` is what follows `/__emulator`.
pub fn handle(core: &Core, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let result = match (method, path) {
        ("GET", "" | "/") => Ok(ok(json!({
            "now": api_time(core.clock.now()),
            "merchants": core.options.merchants.iter().map(|m| json!({
                "mch_id": m.mch_id,
                "appids": m.appids,
                "sign_types": m.sign_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                "sub_merchants": m.sub_merchants,
            })).collect::<Vec<_>>(),
        }))),
        ("GET", "/settings") => Ok(settings(core)),
        ("POST", "/settings") => parse::<SettingsChange>(body).map(|change| {
            if let Some(allow) = change.allow_early_close {
                core.allow_early_close(allow);
            }
            if let Some(signing) = change.v3_signing {
                *lock(&core.notifier.v3_signing) = signing;
            }
            if let Some(probe) = change.v3_probe {
                (core.notifier.v3_probe).store(probe, std::sync::atomic::Ordering::Relaxed);
            }
            settings(core)
        }),
        ("GET", "/orders") => Ok(ok(json!(core.orders()))),
        ("GET", "/refunds") => Ok(ok(json!(core.refunds()))),
        ("GET", "/notifications") => Ok(ok(json!(core.notifier.attempts()))),
        ("GET", "/requests") => Ok(ok(json!(core.request_log()))),
        ("GET", "/faults") => Ok(ok(json!(core.pending_faults()))),
        ("GET", "/synthetic") => Ok(ok(json!(core.synthetic_days()))),
        ("POST", "/synthetic") => {
            parse::<SyntheticDay>(body).map(|day| match core.add_synthetic_day(day) {
                Ok(()) => ok(json!(core.synthetic_days())),
                Err(message) => error(400, message),
            })
        }
        ("POST", "/faults") => parse::<Fault>(body).map(|fault| match core.add_fault(fault) {
            Ok(()) => ok(json!(core.pending_faults())),
            Err(message) => error(400, message),
        }),
        ("DELETE", "/faults") => {
            core.clear_faults();
            Ok(ok(json!([])))
        }
        ("GET", "/outcomes") => Ok(ok(json!(core.pending_outcomes()))),
        ("POST", "/outcomes") => {
            parse::<Outcome>(body).map(|outcome| match core.add_outcome(outcome) {
                Ok(()) => ok(json!(core.pending_outcomes())),
                Err(e @ OutcomeError::Invalid(_)) => error(400, e.to_string()),
                Err(e @ OutcomeError::RefundEnded { .. }) => error(409, e.to_string()),
            })
        }
        ("DELETE", "/outcomes") => {
            core.clear_outcomes();
            Ok(ok(json!([])))
        }
        ("POST", "/orders/pay") => parse::<OrderRef>(body).map(|order| {
            let options = PayOptions {
                transaction_id: order.pay.transaction_id,
                time_end: order.pay.time_end,
                openid: order.pay.openid,
                bank_type: order.pay.bank_type,
                coupon_fee: order.pay.coupon_fee,
                sub_mch_id: order.pay.sub_mch_id,
            };
            let mch_id = order.mch_id.as_deref().unwrap_or(DEFAULT_MCH_ID);
            match core.pay(mch_id, &order.out_trade_no, &options) {
                Ok(paid) => ok(json!(paid)),
                Err(refusal) => refused(&refusal),
            }
        }),
        ("POST", "/orders/fail") => parse::<OrderRef>(body).map(|order| {
            let account = Account {
                mch_id: order.mch_id.unwrap_or_else(|| DEFAULT_MCH_ID.to_owned()),
                sub_mch_id: order.pay.sub_mch_id.unwrap_or_default(),
            };
            match core.fail_payment_of(&account, &order.out_trade_no) {
                Ok(()) => {
                    ok(json!({ "out_trade_no": order.out_trade_no, "trade_state": "PAYERROR" }))
                }
                Err(refusal) => refused(&refusal),
            }
        }),
        ("GET", "/cloud-functions") => Ok(ok(json!(core.cloud_functions()))),
        ("POST", "/cloud-functions") => {
            parse::<CloudFunction>(body).map(|function| match core.add_cloud_function(function) {
                Ok(()) => ok(json!(core.cloud_functions())),
                Err(message) => error(400, message),
            })
        }
        ("DELETE", "/cloud-functions") => {
            core.clear_cloud_functions();
            Ok(ok(json!([])))
        }
        ("POST", "/login") => parse::<LoginCode>(body).map(|request| {
            match core.mint_login_code(&request.appid, request.openid.as_deref()) {
                Ok(minted) => ok(json!(minted)),
                Err(message) => error(400, message),
            }
        }),
        ("POST", "/clock") => parse::<ClockChange>(body).map(|change| {
            let changed = match (change.advance_seconds, change.set) {
                (Some(seconds), None) => Duration::checked_seconds_f64(seconds as f64)
                    .ok_or(super::clock::ClockError::OutOfRange)
                    .and_then(|by| core.clock.advance(by)),
                (None, Some(text)) => match parse_api_time(&text) {
                    Some(at) => core.clock.set(at),
                    None => return error(400, "set must be yyyyMMddHHmmss (Beijing time)"),
                },
                _ => return error(400, "give exactly one of advance_seconds and set"),
            };
            if let Err(e) = changed {
                return error(400, e.to_string());
            }
            core.settle();
            ok(json!({ "now": api_time(core.clock.now()) }))
        }),
        _ => Ok(error(404, format!("no control operation {method} {path}"))),
    };
    result.unwrap_or_else(|e| e)
}
