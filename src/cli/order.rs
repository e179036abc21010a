//! `wxpay-ops order create|query|close`, and `order query --from-csv` for many orders.

mod batch;
mod cloud;
mod qr;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::common::api::{
    Api, ApiArgs, amount, call_failure, confirmed, expected, record, refused_locally, sub_merchant,
};
use super::failure::{Failure, exit};
use super::settings::Context;
use crate::wechat::Fen;
use crate::wechat::api::{
    Endpoint, OrderKey, OrderState, Pairs, Prepay, RequestError, TRADE_STATES, TradeType,
    UnifiedOrder, time_expire_after,
};
use crate::wechat::paysign::PayScene;
use crate::wechat::v3::api::V3OrderError;
use batch::BatchArgs;

const QUERY_AFTER_HELP: &str = "\
Exit 0 with the order's state; 1 when --expect names another state; 3 when WeChat Pay \
refuses (ORDERNOTEXIST: no such order); 4 when the answer does not verify; 75 when WeChat Pay \
cannot be reached (a query changes nothing: run it again). With --from-csv, every order gets a \
row, failed ones with error_code and error, and the exit code is that of the worst failure \
(4, then 3, then 2, then 75), else 1 if any order is not in the --expect state.";

const CLOSE_AFTER_HELP: &str = "\
Exit 0 when the order is closed (also when it already was); 1 when you decline; 3 when it \
cannot be closed (ORDERPAID: the customer paid, refund instead; ORDERNOTEXIST: no such order).";

#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Place an order (unifiedorder) and print what the front end needs to pay
    Create(Box<OrderCreateArgs>),
    /// An order's state, amounts and times; or many orders from a CSV file
    #[command(after_help = QUERY_AFTER_HELP)]
    Query(OrderQueryArgs),
    /// Close an unpaid order, so it can no longer be paid
    #[command(after_help = CLOSE_AFTER_HELP)]
    Close(OrderCloseArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum TradeTypeArg {
    /// In the WeChat browser or a mini program (needs --openid)
    Jsapi,
    /// A QR code the customer scans
    Native,
    /// An app with the WeChat OpenSDK
    App,
    /// H5 in a mobile browser outside WeChat (needs --scene-info)
    Mweb,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PaySceneArg {
    /// WeixinJSBridge in the WeChat browser
    Jsapi,
    /// wx.requestPayment in a mini program
    Mini,
}

#[derive(Debug, Args)]
pub struct OrderCreateArgs {
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        required_unless_present = "cloud"
    )]
    trade_type: Option<TradeTypeArg>,

    /// Place the order by cloud pay, on the emulator only: the cloud environment (envId) of
    /// the function that gets the payment result
    #[arg(long, value_name = "ENV", requires = "function", conflicts_with_all = cloud::NOT_WITH)]
    cloud: Option<String>,

    /// With --cloud: the cloud function (functionName) that gets the payment result
    #[arg(long, value_name = "NAME", requires = "cloud")]
    function: Option<String>,

    /// Your order number: up to 32 letters, digits, _ - | * @
    #[arg(long, value_name = "NO")]
    out_trade_no: String,

    /// In fen (1234), or in yuan when written so (12.34yuan)
    #[arg(long, value_name = "AMOUNT")]
    amount: String,

    /// What the customer sees, e.g. "Shop-Coffee" (up to 128 bytes)
    #[arg(long)]
    body: String,

    /// The payer's openid under the appid (JSAPI)
    #[arg(long)]
    openid: Option<String>,

    /// Service-provider mode: the payer's openid under the sub_appid (JSAPI)
    #[arg(long)]
    sub_openid: Option<String>,

    /// Where WeChat Pay sends the payment result [default: the profile's notify_url]
    #[arg(long, value_name = "URL")]
    notify_url: Option<String>,

    /// Your own data, returned in queries and notifications (up to 127 bytes)
    #[arg(long)]
    attach: Option<String>,

    /// Close the order if unpaid after this long: 90s, 30m, 2h (at least 5m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "expire_at")]
    expire_in: Option<Duration>,

    /// Close the order if unpaid at this time: yyyyMMddHHmmss, Beijing time. Unlike
    /// --expire-in, the same value every run, so a repeat is the identical order
    #[arg(long, value_name = "TIME")]
    expire_at: Option<String>,

    /// NATIVE: your product id [default: the out_trade_no]
    #[arg(long)]
    product_id: Option<String>,

    /// MWEB: the scene_info JSON, e.g. {"h5_info":{"type":"Wap","wap_url":"https://…","wap_name":"…"}}
    #[arg(long, value_name = "JSON")]
    scene_info: Option<String>,

    /// The payer's IP (JSAPI, APP, MWEB) or this server's (NATIVE)
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    client_ip: String,

    /// JSAPI: pay parameters for WeixinJSBridge (jsapi) or wx.requestPayment (mini)
    #[arg(long, value_enum, default_value = "jsapi")]
    pay_scene: PaySceneArg,

    /// NATIVE: also write the QR code as a PNG image
    #[arg(long, value_name = "FILE")]
    qr_png: Option<PathBuf>,

    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct OrderQueryArgs {
    /// Your order number
    #[arg(long, value_name = "NO", conflicts_with_all = ["transaction_id", "from_csv"])]
    out_trade_no: Option<String>,

    /// WeChat's transaction number
    #[arg(long, value_name = "ID", conflicts_with = "from_csv")]
    transaction_id: Option<String>,

    /// Exit 1 unless the order is in this state (SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED,
    /// USERPAYING, PAYERROR, ACCEPT)
    #[arg(long, value_name = "STATE", value_parser = expected(&TRADE_STATES, "trade state"))]
    expect: Option<String>,

    #[command(flatten)]
    batch: BatchArgs,

    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct OrderCloseArgs {
    /// Your order number
    #[arg(long, value_name = "NO")]
    out_trade_no: String,

    /// Close without asking
    #[arg(long, short = 'y')]
    yes: bool,

    #[command(flatten)]
    api: ApiArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 90s, 30m or 2h, of at most 90d");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    number
        .checked_mul(unit)
        .filter(|s| *s <= 90 * 86400)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

pub fn run(context: &Context, command: OrderCommand) -> Result<u8, Failure> {
    match command {
        OrderCommand::Create(args) => create(context, *args),
        OrderCommand::Query(args) => match &args.batch.from_csv {
            Some(path) => {
                let expect = args.expect.as_deref();
                batch::run(context, &args.batch, path, &args.api, expect)
            }
            None => query(context, &args),
        },
        OrderCommand::Close(args) => close(context, args),
    }
}

fn create(context: &Context, args: OrderCreateArgs) -> Result<u8, Failure> {
    if let Some(env_id) = &args.cloud {
        return cloud::create(context, &args, env_id);
    }
    let total_fee = amount("--amount", &args.amount)?;
    let api = Api::connect(context, &args.api, false)?;
    let order = unified_order(&args, total_fee, api.notify_url.clone())?;
    let prepared = api.gateway.unified_order(&order).map_err(|e| match e {
        V3OrderError::Request(e) => refusal(e),
        other => Failure::usage(other.to_string()).hint("or pass --api v2"),
    })?;
    if api.dry_run {
        return api.show(&context.printer, &prepared);
    }
    let answer: Prepay = api.block_on(api.gateway.call(&prepared)).map_err(|e| {
        let what = format!(
            "unifiedorder of {}{}",
            order.out_trade_no,
            sub_merchant(&api.gateway)
        );
        let again = create_again(&order);
        call_failure(
            &what,
            Endpoint::UnifiedOrder,
            e,
            &again,
            Some(&create_explain),
        )
    })?;
    let jsapi = match args.pay_scene {
        PaySceneArg::Jsapi => PayScene::Jsapi,
        PaySceneArg::Mini => PayScene::MiniProgram,
    };
    let pay_params = match (order.trade_type.pay_scene(jsapi), &answer.prepay_id) {
        (Some(scene), Some(prepay_id)) => json!(Pairs(&api.gateway.pay_params(scene, prepay_id)?)),
        _ => Value::Null,
    };
    context.printer.record(&record(json!({
        "out_trade_no": order.out_trade_no,
        "trade_type": answer.trade_type,
        "total_fee": total_fee,
        "total_yuan": total_fee.yuan(),
        "prepay_id": answer.prepay_id,
        "code_url": answer.code_url,
        "mweb_url": answer.mweb_url,
        "time_expire": order.time_expire,
        "sandbox": api.sandbox,
        "pay_params": pay_params,
        "extra": Pairs(&answer.extra),
    })))?;
    qr::show(context, args.qr_png.as_deref(), answer.code_url.as_deref())
}

/// The order the flags describe, checked as WeChat Pay checks it; notify_url defaults to the
/// profile's.
fn unified_order(
    args: &OrderCreateArgs,
    total_fee: Fen,
    profile_notify_url: Option<String>,
) -> Result<UnifiedOrder, Failure> {
    let notify_url = (args.notify_url.clone())
        .or(profile_notify_url)
        .ok_or_else(|| {
            Failure::usage("no notify_url for the payment result")
                .hint("pass --notify-url URL, or set notify_url in the profile")
        })?;
    let time_expire = match args.expire_in {
        Some(after) => Some(time_expire_after(after, crate::time::now()).map_err(refusal)?),
        None => args.expire_at.clone(),
    };
    let order = UnifiedOrder {
        trade_type: match args.trade_type {
            Some(TradeTypeArg::Jsapi) => TradeType::Jsapi,
            Some(TradeTypeArg::Native) => TradeType::Native,
            Some(TradeTypeArg::App) => TradeType::App,
            Some(TradeTypeArg::Mweb) => TradeType::Mweb,
            None => {
                return Err(Failure::usage(
                    "give --trade-type, or --cloud for cloud pay",
                ));
            }
        },
        out_trade_no: args.out_trade_no.clone(),
        total_fee,
        body: args.body.clone(),
        notify_url,
        spbill_create_ip: args.client_ip.clone(),
        openid: args.openid.clone(),
        sub_openid: args.sub_openid.clone(),
        product_id: args.product_id.clone(),
        attach: args.attach.clone(),
        time_expire,
        scene_info: args.scene_info.clone(),
    };
    order.validate().map_err(refusal)?;
    Ok(order)
}

/// A request refused before it is sent, in the words of the flag that made it so.
fn refusal(error: RequestError) -> Failure {
    match error {
        RequestError::NotHttpUrl { url, .. } | RequestError::QueryInNotifyUrl(url) => {
            Failure::usage(format!(
                "--notify-url {url:?} must be an http(s) URL without a query string"
            ))
        }
        RequestError::ExpiresTooSoon => {
            refused_locally("--expire-in must be at least 5m: WeChat Pay refuses shorter orders")
        }
        RequestError::BadTime { value, .. } => Failure::usage(format!(
            "--expire-at {value:?} is not a time yyyyMMddHHmmss"
        )),
        other => refused_locally(other),
    }
}

/// How to place the same order again: WeChat Pay treats a repeat as the same order only
/// when every parameter is the same, time_expire included.
fn create_again(order: &UnifiedOrder) -> String {
    let keep = match &order.time_expire {
        Some(at) => format!(" (use --expire-at {at} to keep the same time_expire)"),
        None => String::new(),
    };
    format!(
        "it is safe to run again with --out-trade-no {} and the same parameters{keep}: WeChat Pay treats it as the same order",
        order.out_trade_no
    )
}

fn create_explain(code: &str) -> Option<(u8, String)> {
    let hint = match code {
        "ORDERPAID" => {
            "this order is already paid: nothing to do (`wxpay-ops order query` shows it)"
        }
        "ORDERCLOSED" => "this order is closed: place a new order with a new --out-trade-no",
        "OUT_TRADE_NO_USED" => {
            "this out_trade_no was placed with other parameters: use a new --out-trade-no, or repeat the first order's parameters exactly"
        }
        "NOTENOUGH" => "the payer's balance is not enough: they must pay another way",
        _ => return None,
    };
    Some((exit::REFUSED, hint.to_owned()))
}

fn order_key(args: &OrderQueryArgs) -> Result<OrderKey, Failure> {
    match (&args.out_trade_no, &args.transaction_id) {
        (Some(number), None) => Ok(OrderKey::OutTradeNo(number.clone())),
        (None, Some(id)) => Ok(OrderKey::TransactionId(id.clone())),
        _ => Err(
            Failure::usage("say which order: --out-trade-no or --transaction-id")
                .hint("or pass --from-csv FILE to query many"),
        ),
    }
}

pub(super) const QUERY_AGAIN: &str = "a query changes nothing: it is safe to run again";

fn query(context: &Context, args: &OrderQueryArgs) -> Result<u8, Failure> {
    let key = order_key(args)?;
    key.validate().map_err(refused_locally)?;
    let api = Api::connect(context, &args.api, false)?;
    let prepared = api.gateway.order_query(&key);
    if api.dry_run {
        return api.show(&context.printer, &prepared);
    }
    let state: OrderState = api.block_on(api.gateway.call(&prepared)).map_err(|e| {
        let what = format!(
            "orderquery of {}{}",
            key.field().1,
            sub_merchant(&api.gateway)
        );
        call_failure(&what, Endpoint::OrderQuery, e, QUERY_AGAIN, None)
    })?;
    context.printer.record(&state)?;
    match &args.expect {
        Some(expected) if *expected != state.trade_state => {
            context.printer.status(&format!(
                "order {} is {}, not {expected}",
                state.out_trade_no, state.trade_state
            ));
            Ok(exit::NEGATIVE)
        }
        _ => Ok(exit::OK),
    }
}

fn close(context: &Context, args: OrderCloseArgs) -> Result<u8, Failure> {
    let number = &args.out_trade_no;
    let key = OrderKey::OutTradeNo(number.clone());
    key.validate().map_err(refused_locally)?;
    let api = Api::connect(context, &args.api, false)?;
    let prepared = api.gateway.close_order(number);
    if api.dry_run {
        return api.show(&context.printer, &prepared);
    }
    let details = [
        format!(
            "merchant: {}{}",
            api.gateway.mch_id(),
            sub_merchant(&api.gateway)
        ),
        format!("order:    {number}"),
    ];
    let question = format!("Close order {number}? The customer can then no longer pay it.");
    let action = format!("closing order {number}");
    if !confirmed(&context.printer, args.yes, &action, &details, &question)? {
        return Ok(exit::NEGATIVE);
    }
    let explain = |code: &str| -> Option<(u8, String)> {
        let hint = match code {
            "ORDERPAID" => format!(
                "the customer has already paid for order {number}, so it cannot be closed; to give the money back, refund it: wxpay-ops refund create --out-trade-no {number} …"
            ),
            "ORDERNOTEXIST" => format!(
                "WeChat Pay has no order {number}: it was never placed (check the number); there is nothing to close"
            ),
            "TRADE_STATE_ERROR" => format!(
                "WeChat Pay closes an order no sooner than 5 minutes after it was placed: run this again later (`wxpay-ops order query --out-trade-no {number}` shows its state)"
            ),
            _ => return None,
        };
        Some((exit::REFUSED, hint))
    };
    let result = api.block_on(api.gateway.call::<()>(&prepared));
    let already = matches!(&result, Err(e) if e.error.err_code() == Some("ORDERCLOSED"))
        && api.block_on(api.gateway.closed_for_sure(number));
    if !already {
        result.map_err(|e| {
            let what = format!("closeorder of {number}{}", sub_merchant(&api.gateway));
            let again = format!("closing again does no harm: it is safe to run again for {number}");
            call_failure(&what, Endpoint::CloseOrder, e, &again, Some(&explain))
        })?;
    }
    context.printer.record(&record(json!({
        "out_trade_no": number,
        "closed": true,
        "already_closed": already,
    })))?;
    context.printer.status(&if already {
        format!("order {number} was already closed: the customer cannot pay it")
    } else {
        format!("order {number} is closed: the customer can no longer pay it")
    });
    Ok(exit::OK)
}
