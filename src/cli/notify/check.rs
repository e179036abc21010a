//! `wxpay-ops notify check URL`: the acceptance cases against the merchant's own handler.

use std::time::Duration;

use clap::Args;
use serde_json::json;

use crate::cli::common::ApiFlag;
use crate::cli::common::api::{
    amount, build, call_failure, client_options, parse_seconds, timeouts,
};
use crate::cli::common::v3_client::v3_client;
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{ApiV3KeyArgs, Context, KeyArgs, Selected, SignTypeParser, sign_type};
use crate::config::client::MutualTls;
use crate::output::{Format, Record, record_of};
use crate::wechat::SignType;
use crate::wechat::api::{Endpoint, OrderKey, OrderState};
use crate::wechat::client::RetryPolicy;
use crate::wechat::gateway::Gateway;
use crate::wechat::notify_build::PaidOrder;
use crate::wechat::notify_check::{
    Case, CaseResult, CheckOptions, Checker, Mode, Payee, Signer, V3Signer, WECHAT_WAIT,
    check_target,
};

pub const CHECK_AFTER_HELP: &str = "\
Cases (--only N): 1 a valid payment notification gets the SUCCESS reply within 5 s; 2 the same \
notification again gets SUCCESS again; 3 a wrong sign, 4 an amount other than the order's, 5 \
another merchant's mch_id or another appid get no SUCCESS; 6 a refund notification gets SUCCESS \
when req_info is encrypted under the key, none under another key; 7 an empty body, truncated XML \
and an XXE payload get no SUCCESS, and the handler still acknowledges the next valid \
notification. With --cloud: 1 a valid event gets {\"errcode\": 0} within 5 s; 2 the same event \
again gets errcode 0; 3 malformed events crash nothing, and the next valid event gets errcode \
0. With --api v3 (callbacks signed with the emulator's WeChat Pay key, resources encrypted with \
the profile's APIv3 key): 1 a valid TRANSACTION.SUCCESS callback gets 200 or 204 within 5 s; 2 \
the same callback again, signed again, gets 200 or 204; 3 a body changed after signing, 4 a \
probe signature (WECHATPAY/SIGNTEST/), 5 a timestamp 10 minutes old, 6 an amount other than the \
order's, 7 a resource under another APIv3 key or naming another mchid get a 4xx or 5xx; 8 a \
REFUND.SUCCESS callback gets 200 or 204.\n\nNotifications are signed with the profile's keys \
and report the order paid: send them only to a handler you are testing. Exit 0 when every case \
holds, 1 when one does not.";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Your handler's URL: loopback, or on the host named by --allow-host; with --cloud, your
    /// cloud function served locally
    #[arg(value_name = "URL")]
    url: String,

    /// Check a cloud function's callback contract (JSON events, {"errcode": 0}) instead of a
    /// notify URL
    #[arg(long, conflicts_with = "api")]
    cloud: bool,

    /// The API of the handler's callbacks: v2 XML notifications, or v3 signed JSON callbacks
    #[arg(long, value_enum, default_value_t = ApiFlag::V2)]
    api: ApiFlag,

    /// Run only case N (1 to 7; 1 to 3 with --cloud; 1 to 8 with --api v3)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    only: Option<u8>,

    /// Seconds to wait for each answer [default: 5, as WeChat Pay waits]
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    timeout: Option<Duration>,

    /// Use this order's real fields, from orderquery on the profile's host
    #[arg(long, value_name = "OUT_TRADE_NO", conflicts_with_all = ["out_trade_no", "order_amount"])]
    from_order: Option<String>,

    /// The order your handler knows, when not --from-order
    #[arg(long, value_name = "OUT_TRADE_NO", requires = "order_amount")]
    out_trade_no: Option<String>,

    /// That order's amount: fen (1234), or yuan when written so (12.34yuan)
    #[arg(long, value_name = "AMOUNT", requires = "out_trade_no")]
    order_amount: Option<String>,

    /// Where refund notifications go [default: URL]
    #[arg(long, value_name = "URL")]
    refund_url: Option<String>,

    /// Send to this host too (a staging server); only loopback URLs are sent to otherwise
    #[arg(long, value_name = "HOST")]
    allow_host: Option<String>,

    /// The sign type of your unified orders (MD5 or HMAC-SHA256) [default: the profile's
    /// sign_type, else MD5]
    #[arg(long, value_parser = SignTypeParser)]
    sign_type: Option<SignType>,

    #[command(flatten)]
    keys: KeyArgs,

    #[command(flatten)]
    apiv3_keys: ApiV3KeyArgs,
}

pub fn run(context: &Context, args: CheckArgs) -> Result<u8, Failure> {
    let mode = match (args.cloud, args.api) {
        (true, _) => Mode::Cloud,
        (false, ApiFlag::V2) => Mode::Notify,
        (false, ApiFlag::V3) => Mode::V3,
    };
    let cases = chosen_cases(mode, args.only)?;
    let refund_url = args.refund_url.clone().unwrap_or_else(|| args.url.clone());
    for url in [&args.url, &refund_url] {
        check_target(url, args.allow_host.as_deref()).map_err(|e| {
            Failure::usage(e.to_string()).hint(
                "run your handler on this machine, or name a staging host with --allow-host HOST",
            )
        })?;
    }
    let selected = context.select()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::TEMPORARY, format!("cannot start: {e}")))?;
    let signer = match mode {
        Mode::V3 => Signer::V3(Box::new(v3_signer(context, &selected, &args)?)),
        Mode::Notify | Mode::Cloud => Signer::V2 {
            key: context.api_key(&args.keys, Some(&selected))?,
            sign_type: sign_type(args.sign_type, Some(&selected)),
        },
    };
    let order = match &args.from_order {
        Some(number) => {
            let state = query(context, &selected, &signer, &args, number, &runtime)?;
            from_state(&selected, &state)?
        }
        None => made_up(&selected, &args)?,
    };
    let mut checker = Checker::new(CheckOptions {
        mode,
        url: args.url.clone(),
        refund_url,
        signer,
        order,
        timeout: args.timeout.unwrap_or(WECHAT_WAIT),
        tls: None,
    })
    .map_err(|e| Failure::usage(e.to_string()))?;
    let mut results = Vec::new();
    for case in cases {
        let result = runtime.block_on(checker.run(case));
        context.printer.status(&format!(
            "case {} ({}): {}",
            case.number(),
            case.name(),
            result.verdict()
        ));
        results.push(result);
    }
    print(context, &results)?;
    summarize(context, &results)
}

fn chosen_cases(mode: Mode, only: Option<u8>) -> Result<Vec<Case>, Failure> {
    match only {
        None => Ok(Case::all(mode).to_vec()),
        Some(n) => Case::of(mode, usize::from(n))
            .map(|c| vec![c])
            .ok_or_else(|| {
                Failure::usage(format!(
                    "--only {n}: this check has cases 1 to {}",
                    Case::all(mode).len()
                ))
                .hint(match mode {
                    Mode::Cloud => "cases 4 to 7 are those of a notify URL, without --cloud",
                    _ => "a v2 notify URL has cases 1 to 7, a v3 one 1 to 8",
                })
            }),
    }
}

/// The order as orderquery reports it on the profile's host, on the API checked.
fn query(
    context: &Context,
    selected: &Selected,
    signer: &Signer,
    args: &CheckArgs,
    number: &str,
    runtime: &tokio::runtime::Runtime,
) -> Result<OrderState, Failure> {
    let order = OrderKey::OutTradeNo(number.to_owned());
    order
        .validate()
        .map_err(|e| Failure::usage(format!("--from-order: {e}")))?;
    let gateway = match signer {
        Signer::V2 { key, .. } => {
            let options = client_options(context, selected, key.clone(), MutualTls::Never)?;
            Gateway::V2(build(crate::wechat::client::ClientOptions {
                sub_mch_id: selected.profile.sub_mch_id.clone(),
                sub_appid: selected.profile.sub_appid.clone(),
                ..options
            })?)
        }
        Signer::V3(_) => {
            let timeouts = timeouts(selected, None, None)?;
            let retry = RetryPolicy::default();
            Gateway::V3(v3_client(context, selected, &args.keys, timeouts, retry)?)
        }
    };
    runtime
        .block_on(gateway.call(&gateway.order_query(&order)))
        .map_err(|e| {
            call_failure(
                &format!("orderquery of {number} (--from-order)"),
                Endpoint::OrderQuery,
                e,
                "a query changes nothing: it is safe to run again",
                None,
            )
        })
}

/// What v3 callbacks are made with: the emulator's WeChat Pay key, which a handler under test
/// trusts as the emulator's profile names it, and the profile's APIv3 key.
fn v3_signer(
    context: &Context,
    selected: &Selected,
    args: &CheckArgs,
) -> Result<V3Signer, Failure> {
    let apiv3_key = context.apiv3_key(&args.apiv3_keys, Some(selected))?;
    // A profile on platform certificates gets callbacks under the emulator's certificate,
    // which is over the same key.
    let profile = &selected.profile;
    let serial = match (&profile.wechatpay_public_key_id, &profile.platform_cert_dir) {
        (None, Some(_)) => crate::emulator::v3::PLATFORM_CERTIFICATES[0].0,
        _ => crate::emulator::v3::WECHATPAY_PUBLIC_KEY_ID,
    }
    .to_owned();
    let named = profile.wechatpay_public_key_id.as_deref() == Some(serial.as_str());
    if !named && profile.platform_cert_dir.is_none() {
        context.printer.warn(&format!(
            "callbacks are signed with the emulator's WeChat Pay key ({serial}), not the one profile {:?} names: the handler under test must verify with the emulator's public key (its profile's wechatpay_public_key_pem)",
            selected.name
        ));
    }
    Ok(V3Signer {
        key: crate::emulator::v3::wechatpay_signing_key(),
        serial,
        apiv3_key,
    })
}

/// The profile's merchant and app, whose handler is checked.
fn payee(selected: &Selected) -> Payee {
    let profile = &selected.profile;
    Payee {
        appid: profile.appid.clone(),
        mch_id: profile.mch_id.clone(),
        sub_mch_id: profile.sub_mch_id.clone(),
        sub_appid: profile.sub_appid.clone(),
    }
}

/// The order given by --out-trade-no and --order-amount, which only the handler knows.
fn made_up(selected: &Selected, args: &CheckArgs) -> Result<PaidOrder, Failure> {
    let (Some(number), Some(text)) = (&args.out_trade_no, &args.order_amount) else {
        return Err(Failure::usage("say which order the handler knows").hint(
            "pass --from-order OUT_TRADE_NO to use an order on the profile's host, or \
             --out-trade-no and --order-amount for one only your handler knows",
        ));
    };
    OrderKey::OutTradeNo(number.clone())
        .validate()
        .map_err(|e| Failure::usage(format!("--out-trade-no: {e}")))?;
    let fee = amount("--order-amount", text)?;
    Ok(payee(selected).order(number, fee))
}

fn from_state(selected: &Selected, state: &OrderState) -> Result<PaidOrder, Failure> {
    payee(selected).queried(state).ok_or_else(|| {
        Failure::new(
            exit::TEMPORARY,
            format!(
                "orderquery of {} gave no total_fee to report",
                state.out_trade_no
            ),
        )
        .hint("pass --out-trade-no and --order-amount instead of --from-order")
    })
}

/// A table for people (case, expected, got, verdict), every field for scripts.
fn print(context: &Context, results: &[CaseResult]) -> Result<(), Failure> {
    let records: Vec<Record> = results.iter().map(record_of).collect();
    match context.printer.format(Format::Json) {
        Format::Table => {
            let rows: Vec<Record> = results
                .iter()
                .zip(&records)
                .map(|(result, full)| {
                    let mut row = full.clone();
                    let name = format!("{} {}", result.case.number(), result.case.name());
                    row.insert("case".into(), json!(name));
                    row
                })
                .collect();
            context
                .printer
                .records(&["case", "expected", "got", "verdict"], &rows)?;
            for result in results {
                if let Some(note) = &result.note {
                    context
                        .printer
                        .status(&format!("case {}: {note}", result.case.number()));
                }
            }
            Ok(())
        }
        // Every key named, `sent` too: a list shows its columns, nothing else.
        format if format.is_json() => Ok(context.printer.records(
            &["case", "name", "expected", "got", "verdict", "note", "sent"],
            &records,
        )?),
        _ => Ok(context.printer.records(
            &["case", "name", "expected", "got", "verdict", "note"],
            &records,
        )?),
    }
}

fn summarize(context: &Context, results: &[CaseResult]) -> Result<u8, Failure> {
    let failed: Vec<String> = (results.iter())
        .filter(|r| !r.holds)
        .map(|r| r.case.number().to_string())
        .collect();
    let total = results.len();
    if failed.is_empty() {
        context
            .printer
            .status(&format!("{total} of {total} cases hold"));
        return Ok(exit::OK);
    }
    context.printer.status(&format!(
        "{} of {total} cases hold; failed: {}",
        total - failed.len(),
        failed.join(", ")
    ));
    Ok(exit::NEGATIVE)
}
