//! `order create --cloud ENV --function NAME`: a cloud-pay order (CloudPay.unifiedOrder),
//! placed on the emulator, which serves cloud pay at `/__cloudpay/`. Real cloud pay is only
//! callable from inside a WeChat cloud function, so any other api_base is refused.

use serde_json::{Value, json};

use super::OrderCreateArgs;
use crate::cli::common::api::{amount, call_failure, tls, tls_failure};
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Context, Selected};
use crate::output::{Format, Record};
use crate::wechat::api::Endpoint;
use crate::wechat::client::{CallError, ClientError};
use crate::wechat::cloudpay::{
    CloudOptions, CloudOrder, CloudPayError, Operation, is_wechat_host, unified_order,
};
use crate::wechat::shown_url;

/// The flags of a v2 order that a cloud-pay order does not take.
pub(super) const NOT_WITH: [&str; 12] = [
    "trade_type",
    "notify_url",
    "expire_in",
    "expire_at",
    "product_id",
    "scene_info",
    "sub_openid",
    "qr_png",
    "sandbox",
    "sub_mch_id",
    "sub_appid",
    // Cloud pay is v2's (signed with the API key), whatever the profile's api_version.
    "api",
];

const EMULATOR_HINT: &str = "cloud pay is only callable from inside a WeChat cloud function; \
    `order create --cloud` places cloud-pay orders on the emulator: use the profile it wrote \
    (`wxpay-ops --config CERT_DIR/wxpay-ops.toml …`), or leave out --cloud for a v2 order";

pub(super) fn create(
    context: &Context,
    args: &OrderCreateArgs,
    env_id: &str,
) -> Result<u8, Failure> {
    let total_fee = amount("--amount", &args.amount)?;
    let selected = context.select()?;
    let profile = &selected.profile;
    let base = cloud_base(&selected)?;
    let order = CloudOrder {
        env_id: env_id.to_owned(),
        function_name: args.function.clone().unwrap_or_default(),
        sub_mch_id: profile.mch_id.clone(),
        sub_appid: Some(profile.appid.clone()),
        out_trade_no: args.out_trade_no.clone(),
        total_fee,
        body: args.body.clone(),
        openid: args.openid.clone(),
        spbill_create_ip: args.client_ip.clone(),
        attach: args.attach.clone(),
    };
    let (timeout, connect_timeout) = args.api.timeouts(&selected)?;
    let options = CloudOptions {
        base,
        tls: Some(tls(&selected)?),
        timeout,
        connect_timeout,
    };
    let url = options.shown_url(Operation::UnifiedOrder);
    if args.api.dry_run {
        return show(context, &url, &order.to_json());
    }
    // The answer's paySign is checked with the profile's key, as the mini program's
    // wx.requestPayment will be.
    let key = context.api_key(args.api.keys(), Some(&selected))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::TEMPORARY, format!("cannot start: {e}")))?;
    let result = runtime.block_on(unified_order(options, &order));
    if context.verbose {
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(error) => error.to_string(),
        };
        context
            .printer
            .status(&format!("attempt 1: POST {url}: {outcome}"));
    }
    let placed = result.map_err(|error| failure(&order, error))?;
    if !placed.payment.verifies(&key) {
        return Err(Failure::new(
            exit::VERIFY,
            format!(
                "cloud pay unifiedOrder of {}: the payment's paySign does not verify with the profile's key",
                order.out_trade_no
            ),
        )
        .hint("check that the profile's key is the merchant's (mch_id) API v2 key"));
    }
    let record: Record = match serde_json::to_value(&placed.payment) {
        Ok(Value::Object(fields)) => fields.into_iter().collect(),
        _ => Record::new(),
    };
    context.printer.paste(&record)?;
    context.printer.status(&format!(
        "cloud-pay order {} placed (prepay_id {}); when it is paid, the emulator calls the cloud \
         function {env_id}/{} with the result (GET /__emulator/notifications lists each attempt)",
        order.out_trade_no, placed.prepay_id, order.function_name
    ));
    Ok(exit::OK)
}

/// The profile's host, which must not be WeChat Pay's: cloud pay is called from inside a
/// WeChat cloud function, and only the emulator serves it to others.
fn cloud_base(selected: &Selected) -> Result<String, Failure> {
    let base = selected.profile.effective_api_base();
    if is_wechat_host(base) {
        Err(Failure::usage(format!(
            "profile {:?} names WeChat Pay ({}), which has no cloud pay to call",
            selected.name,
            shown_url(base)
        ))
        .hint(EMULATOR_HINT))
    } else {
        Ok(base.to_owned())
    }
}

/// `--dry-run`: where the request would go, and its JSON (no sign: cloud pay has none).
fn show(context: &Context, url: &str, request: &Value) -> Result<u8, Failure> {
    let printer = &context.printer;
    match printer.format(Format::Json) {
        Format::Table => printer.data(&format!("POST {url}\n\n{request:#}\n"))?,
        _ => {
            let mut record = Record::new();
            record.insert("method".into(), json!("POST"));
            record.insert("url".into(), json!(url));
            record.insert("fields".into(), request.clone());
            printer.record(&record)?;
        }
    }
    printer.status("dry run: nothing was sent");
    Ok(exit::OK)
}

/// A failed call in the words of every unifiedorder failure, where it has one.
fn failure(order: &CloudOrder, error: CloudPayError) -> Failure {
    let what = format!("cloud pay unifiedOrder of {}", order.out_trade_no);
    let again = format!(
        "it is safe to run again with --out-trade-no {} and the same parameters: the emulator treats it as the same order",
        order.out_trade_no
    );
    let error = match error {
        CloudPayError::WeChatHost { .. } | CloudPayError::NotServed { .. } => {
            return Failure::usage(format!("{what}: {error}")).hint(EMULATOR_HINT);
        }
        CloudPayError::Malformed { .. } => {
            return Failure::new(exit::TEMPORARY, format!("{what}: {error}"))
                .hint("check api_base: it must be the emulator's");
        }
        CloudPayError::Http(error) => {
            if let Some(tls) = error.tls_failure() {
                return tls_failure(&what, &tls);
            }
            error
        }
        CloudPayError::Protocol { message } => ClientError::Protocol { message },
        CloudPayError::Refused { code, description } => ClientError::Refused { code, description },
    };
    let failed = CallError { error, attempts: 1 };
    call_failure(
        &what,
        Endpoint::UnifiedOrder,
        failed,
        &again,
        Some(&super::create_explain),
    )
}
