//! `wxpay-ops order create|query|close`, and `order query --from-csv` for many orders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand, ValueEnum};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::api::{
    Api, ApiArgs, api_time_after, call_failure, confirmed, extra, put_fen, put_text, put_yuan,
    rfc3339, sub_merchant,
};
use super::failure::{Failure, exit};
use super::output::{Format, Record};
use super::settings::Context;
use crate::reconcile::records::Records;
use crate::wechat::Fen;
use crate::wechat::api::{
    Endpoint, OrderKey, OrderState, Prepay, TradeType, UnifiedOrder, parse_amount,
};
use crate::wechat::client::ClientError;
use crate::wechat::paysign::{PayRequest, PayScene, pay_params};
use crate::wechat::sign::nonce_str;

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
    Create(CreateArgs),
    /// An order's state, amounts and times; or many orders from a CSV file
    #[command(after_help = QUERY_AFTER_HELP)]
    Query(QueryArgs),
    /// Close an unpaid order, so it can no longer be paid
    #[command(after_help = CLOSE_AFTER_HELP)]
    Close(CloseArgs),
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
pub struct CreateArgs {
    #[arg(long, value_enum, ignore_case = true)]
    trade_type: TradeTypeArg,

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
pub struct QueryArgs {
    /// Your order number
    #[arg(long, value_name = "NO", conflicts_with_all = ["transaction_id", "from_csv"])]
    out_trade_no: Option<String>,

    /// WeChat's transaction number
    #[arg(long, value_name = "ID", conflicts_with = "from_csv")]
    transaction_id: Option<String>,

    /// Exit 1 unless the order is in this state (SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED,
    /// USERPAYING, PAYERROR, ACCEPT)
    #[arg(long, value_name = "STATE", value_parser = parse_state)]
    expect: Option<String>,

    /// Query every order of a CSV file (with a header row; - for stdin)
    #[arg(long, value_name = "FILE")]
    from_csv: Option<PathBuf>,

    /// The CSV column of order numbers; a column named transaction_id is queried by
    /// transaction id [default: out_trade_no, else transaction_id]
    #[arg(long, value_name = "NAME", requires = "from_csv")]
    column: Option<String>,

    /// Queries in flight at once
    #[arg(long, value_name = "N", default_value_t = 8, requires = "from_csv",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,

    /// At most this many queries started per second: 50 or 50/s
    #[arg(long, value_name = "N/s", requires = "from_csv", value_parser = parse_rate)]
    rate: Option<f64>,

    /// Print each result as it comes instead of in the file's order
    #[arg(long, requires = "from_csv")]
    unordered: bool,

    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// Your order number
    #[arg(long, value_name = "NO")]
    out_trade_no: String,

    /// Close without asking
    #[arg(long, short = 'y')]
    yes: bool,

    #[command(flatten)]
    api: ApiArgs,
}

const TRADE_STATES: [&str; 8] = [
    "SUCCESS",
    "REFUND",
    "NOTPAY",
    "CLOSED",
    "REVOKED",
    "USERPAYING",
    "PAYERROR",
    "ACCEPT",
];

fn parse_state(text: &str) -> Result<String, String> {
    let state = text.to_ascii_uppercase();
    if TRADE_STATES.contains(&state.as_str()) {
        Ok(state)
    } else {
        Err(format!(
            "{text:?} is not a trade state ({})",
            TRADE_STATES.join(", ")
        ))
    }
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

/// Requests per second for `--rate`. The bounds keep the pause between requests sensible: at
/// least one request every 100 s (a slower rate would wait for days), and no faster than any
/// merchant's API quota.
const RATES: std::ops::RangeInclusive<f64> = 0.01..=10_000.0;

fn parse_rate(text: &str) -> Result<f64, String> {
    text.strip_suffix("/s")
        .unwrap_or(text)
        .parse::<f64>()
        .ok()
        .filter(|rate| RATES.contains(rate))
        .ok_or_else(|| {
            format!(
                "{text:?} is not a rate from {} to {} requests per second, such as 50 or 50/s",
                RATES.start(),
                RATES.end()
            )
        })
}

pub fn run(context: &Context, command: OrderCommand) -> Result<u8, Failure> {
    match command {
        OrderCommand::Create(args) => create(context, args),
        OrderCommand::Query(args) => match &args.from_csv {
            Some(path) => batch(context, &args, path),
            None => query(context, &args),
        },
        OrderCommand::Close(args) => close(context, args),
    }
}

fn amount(flag: &str, text: &str) -> Result<Fen, Failure> {
    parse_amount(text).map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

fn refused_locally(error: impl std::fmt::Display) -> Failure {
    Failure::usage(error.to_string()).hint("nothing was sent: WeChat Pay would refuse it too")
}

fn create(context: &Context, args: CreateArgs) -> Result<u8, Failure> {
    let total_fee = amount("--amount", &args.amount)?;
    let api = Api::connect(context, &args.api, false)?;
    let notify_url = args
        .notify_url
        .clone()
        .or_else(|| api.notify_url.clone())
        .ok_or_else(|| {
            Failure::usage("no notify_url for the payment result")
                .hint("pass --notify-url URL, or set notify_url in the profile")
        })?;
    if !crate::wechat::is_http_url(&notify_url) || notify_url.contains('?') {
        return Err(Failure::usage(format!(
            "--notify-url {notify_url:?} must be an http(s) URL without a query string"
        )));
    }
    let trade_type = match args.trade_type {
        TradeTypeArg::Jsapi => TradeType::Jsapi,
        TradeTypeArg::Native => TradeType::Native,
        TradeTypeArg::App => TradeType::App,
        TradeTypeArg::Mweb => TradeType::Mweb,
    };
    let time_expire = match (&args.expire_in, &args.expire_at) {
        (Some(after), _) => {
            if *after < Duration::from_secs(300) {
                return Err(refused_locally(
                    "--expire-in must be at least 5m: WeChat Pay refuses shorter orders",
                ));
            }
            Some(api_time_after(*after))
        }
        (None, Some(at)) => {
            if rfc3339(at).is_none() {
                return Err(Failure::usage(format!(
                    "--expire-at {at:?} is not a time yyyyMMddHHmmss"
                )));
            }
            Some(at.clone())
        }
        (None, None) => None,
    };
    let order = UnifiedOrder {
        trade_type,
        out_trade_no: args.out_trade_no.clone(),
        total_fee,
        body: args.body.clone(),
        notify_url,
        spbill_create_ip: args.client_ip.clone(),
        openid: args.openid.clone(),
        sub_openid: args.sub_openid.clone(),
        product_id: match trade_type {
            TradeType::Native => Some(
                args.product_id
                    .clone()
                    .unwrap_or_else(|| args.out_trade_no.clone()),
            ),
            _ => args.product_id.clone(),
        },
        attach: args.attach.clone(),
        time_expire: time_expire.clone(),
        scene_info: args.scene_info.clone(),
    };
    order.validate().map_err(refused_locally)?;
    let fields = order.fields();
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let prepared = api.client.prepare(Endpoint::UnifiedOrder, &pairs);
    if api.dry_run {
        return api.show(&context.printer, &prepared);
    }
    let again = match &time_expire {
        Some(at) => format!(
            "it is safe to run again with --out-trade-no {} and the same parameters (use --expire-at {at} to keep the same time_expire): WeChat Pay treats it as the same order",
            args.out_trade_no
        ),
        None => format!(
            "it is safe to run again with --out-trade-no {} and the same parameters: WeChat Pay treats it as the same order",
            args.out_trade_no
        ),
    };
    let explain = |code: &str| -> Option<(u8, String)> {
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
    };
    let answer = api
        .block_on(api.client.send(&prepared))
        .and_then(|answer| lift(Prepay::read(answer)))
        .map_err(|e| {
            call_failure(
                &format!(
                    "unifiedorder of {}{}",
                    args.out_trade_no,
                    sub_merchant(&api.client)
                ),
                Endpoint::UnifiedOrder,
                e,
                &again,
                Some(&explain),
            )
        })?;
    let mut record = Record::new();
    record.insert("out_trade_no".into(), json!(args.out_trade_no));
    record.insert("trade_type".into(), json!(answer.trade_type));
    put_fen(&mut record, "total_fee", Some(total_fee));
    put_yuan(&mut record, "total_yuan", Some(total_fee));
    record.insert("prepay_id".into(), json!(answer.prepay_id));
    put_text(&mut record, "code_url", answer.code_url.as_deref());
    put_text(&mut record, "mweb_url", answer.mweb_url.as_deref());
    put_text(&mut record, "time_expire", time_expire.as_deref());
    record.insert("sandbox".into(), json!(api.sandbox));
    let scene = match (trade_type, args.pay_scene) {
        (TradeType::Jsapi, PaySceneArg::Jsapi) => Some(PayScene::Jsapi),
        (TradeType::Jsapi, PaySceneArg::Mini) => Some(PayScene::MiniProgram),
        (TradeType::App, _) => Some(PayScene::App),
        _ => None,
    };
    let pay = match scene {
        Some(scene) => pay_parameters(&api, scene, &answer.prepay_id)?,
        None => Value::Null,
    };
    record.insert("pay_params".into(), pay);
    record.insert("extra".into(), extra(&answer.extra));
    context.printer.record(&record)?;
    if let Some(code_url) = &answer.code_url {
        if context.printer.format(Format::Json) == Format::Table {
            context.printer.data(&qr_text(code_url)?)?;
        }
        if let Some(path) = &args.qr_png {
            write_qr_png(path, code_url)?;
            if !crate::fsutil::is_stdout(path) {
                context
                    .printer
                    .status(&format!("wrote the QR code to {}", path.display()));
            }
        }
    } else if args.qr_png.is_some() {
        context
            .printer
            .warn("--qr-png: only NATIVE orders have a code_url to draw; no image written");
    }
    Ok(exit::OK)
}

/// A payload error after a call that succeeded: the call's own error type.
fn lift<T>(
    result: Result<T, crate::wechat::client::ClientError>,
) -> Result<T, crate::wechat::client::CallError> {
    result.map_err(|error| crate::wechat::client::CallError { error, attempts: 1 })
}

/// The front end's pay parameters for the prepay_id, signed with the order's key. In
/// service-provider mode the front end is the sub-merchant's app: its AppID, and (APP) its
/// merchant number as partnerid (UNCONFIRMED: the v2 partner docs are not in our reference;
/// this is what the SDKs that support partner APP pay send).
fn pay_parameters(api: &Api, scene: PayScene, prepay_id: &str) -> Result<Value, Failure> {
    let client = &api.client;
    let appid = client.sub_appid.as_deref().unwrap_or(&client.appid);
    let mch_id = client.sub_mch_id.as_deref().unwrap_or(&client.mch_id);
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Failure::usage("the system clock is before 1970"))?
        .as_secs();
    let nonce = nonce_str();
    let request = PayRequest {
        appid,
        mch_id,
        prepay_id,
        timestamp,
        nonce: &nonce,
        sign_type: client.sign_type,
    };
    let fields = pay_params(scene, &request, &api.key)?;
    Ok(Value::Object(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), json!(value)))
            .collect(),
    ))
}

fn qr_code(code_url: &str) -> Result<qrcode::QrCode, Failure> {
    qrcode::QrCode::new(code_url.as_bytes())
        .map_err(|e| Failure::usage(format!("code_url cannot be drawn as a QR code: {e}")))
}

/// The QR code in half-height blocks, dark on light, with its quiet zone.
fn qr_text(code_url: &str) -> Result<String, Failure> {
    use qrcode::render::unicode::Dense1x2;
    let code = qr_code(code_url)?;
    let mut text = code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build();
    text.push('\n');
    Ok(text)
}

/// The QR code as a greyscale PNG, 8 pixels a module, with a 4-module quiet zone.
fn write_qr_png(path: &Path, code_url: &str) -> Result<(), Failure> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = qr_code(code_url)?;
    let modules = code.width();
    let side = (modules + 2 * QUIET) * SCALE;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (
                (index % modules + QUIET) * SCALE,
                (index / modules + QUIET) * SCALE,
            );
            for row in y..y + SCALE {
                pixels[row * side + x..row * side + x + SCALE].fill(0);
            }
        }
    }
    let side = u32::try_from(side).expect("a QR code is a few hundred pixels");
    crate::fsutil::write_atomic(path, |out| {
        let mut encoder = png::Encoder::new(out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()
    })
    .map_err(|e| match e {
        crate::fsutil::WriteError::File(e) => Failure::from(e),
        crate::fsutil::WriteError::Inner(e) => {
            Failure::usage(format!("{}: cannot write the PNG: {e}", path.display()))
        }
    })
}

fn order_key(args: &QueryArgs) -> Result<OrderKey, Failure> {
    match (&args.out_trade_no, &args.transaction_id) {
        (Some(number), None) => Ok(OrderKey::OutTradeNo(number.clone())),
        (None, Some(id)) => Ok(OrderKey::TransactionId(id.clone())),
        _ => Err(
            Failure::usage("say which order: --out-trade-no or --transaction-id")
                .hint("or pass --from-csv FILE to query many"),
        ),
    }
}

const QUERY_AGAIN: &str = "a query changes nothing: it is safe to run again";

fn query(context: &Context, args: &QueryArgs) -> Result<u8, Failure> {
    let key = order_key(args)?;
    key.validate().map_err(refused_locally)?;
    let api = Api::connect(context, &args.api, false)?;
    let (field, value) = key.field();
    let prepared = api.client.prepare(Endpoint::OrderQuery, &[(field, value)]);
    if api.dry_run {
        return api.show(&context.printer, &prepared);
    }
    let state = api
        .block_on(api.client.send(&prepared))
        .and_then(|answer| lift(OrderState::read(answer)))
        .map_err(|e| {
            call_failure(
                &format!("orderquery of {value}{}", sub_merchant(&api.client)),
                Endpoint::OrderQuery,
                e,
                QUERY_AGAIN,
                None,
            )
        })?;
    context.printer.record(&order_record(&state))?;
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

fn order_record(state: &OrderState) -> Record {
    let mut record = Record::new();
    record.insert("out_trade_no".into(), json!(state.out_trade_no));
    put_text(
        &mut record,
        "transaction_id",
        state.transaction_id.as_deref(),
    );
    record.insert("trade_state".into(), json!(state.trade_state));
    put_text(
        &mut record,
        "trade_state_desc",
        state.trade_state_desc.as_deref(),
    );
    put_text(&mut record, "trade_type", state.trade_type.as_deref());
    put_fen(&mut record, "total_fee", state.total_fee);
    put_yuan(&mut record, "total_yuan", state.total_fee);
    put_fen(&mut record, "cash_fee", state.cash_fee);
    put_fen(
        &mut record,
        "settlement_total_fee",
        state.settlement_total_fee,
    );
    put_fen(&mut record, "coupon_fee", state.coupon_fee);
    put_text(&mut record, "time_end", state.time_end.as_deref());
    put_text(
        &mut record,
        "paid_at",
        state.time_end.as_deref().and_then(rfc3339).as_deref(),
    );
    put_text(&mut record, "openid", state.openid.as_deref());
    put_text(&mut record, "bank_type", state.bank_type.as_deref());
    put_text(&mut record, "attach", state.attach.as_deref());
    record.insert("extra".into(), extra(&state.extra));
    record
}

fn close(context: &Context, args: CloseArgs) -> Result<u8, Failure> {
    let key = OrderKey::OutTradeNo(args.out_trade_no.clone());
    key.validate().map_err(refused_locally)?;
    let api = Api::connect(context, &args.api, false)?;
    let prepared = api.client.prepare(
        Endpoint::CloseOrder,
        &[("out_trade_no", &args.out_trade_no)],
    );
    if api.dry_run {
        return api.show(&context.printer, &prepared);
    }
    let details = [
        format!(
            "merchant: {}{}",
            api.client.mch_id,
            sub_merchant(&api.client)
        ),
        format!("order:    {}", args.out_trade_no),
    ];
    let question = format!(
        "Close order {}? The customer can then no longer pay it.",
        args.out_trade_no
    );
    let action = format!("closing order {}", args.out_trade_no);
    if !confirmed(&context.printer, args.yes, &action, &details, &question)? {
        return Ok(exit::NEGATIVE);
    }
    let number = &args.out_trade_no;
    let explain = |code: &str| -> Option<(u8, String)> {
        let hint = match code {
            "ORDERPAID" => format!(
                "the customer has already paid for order {number}, so it cannot be closed; to give the money back, refund it: wxpay-ops refund create --out-trade-no {number} …"
            ),
            "ORDERNOTEXIST" => format!(
                "WeChat Pay has no order {number}: it was never placed (check the number); there is nothing to close"
            ),
            _ => return None,
        };
        Some((exit::REFUSED, hint))
    };
    let result = api.block_on(api.client.send(&prepared));
    let already = matches!(&result, Err(e) if e.error.err_code() == Some("ORDERCLOSED"));
    if !already {
        result.map_err(|e| {
            call_failure(
                &format!("closeorder of {number}{}", sub_merchant(&api.client)),
                Endpoint::CloseOrder,
                e,
                &format!("closing again does no harm: it is safe to run again for {number}"),
                Some(&explain),
            )
        })?;
    }
    let mut record = Record::new();
    record.insert("out_trade_no".into(), json!(number));
    record.insert("closed".into(), json!(true));
    record.insert("already_closed".into(), json!(already));
    context.printer.record(&record)?;
    context.printer.status(&if already {
        format!("order {number} was already closed: the customer cannot pay it")
    } else {
        format!("order {number} is closed: the customer can no longer pay it")
    });
    Ok(exit::OK)
}

/// The columns of `order query --from-csv`, in order.
const BATCH_COLUMNS: [&str; 10] = [
    "row",
    "out_trade_no",
    "transaction_id",
    "trade_state",
    "total_fee",
    "cash_fee",
    "time_end",
    "exit_code",
    "error_code",
    "error",
];

/// Which failure decides a batch's exit code: the least trustworthy answer first, then a
/// refusal, then bad input, then a temporary failure (which only running again can fix).
fn severity(code: u8) -> u8 {
    match code {
        exit::VERIFY => 4,
        exit::REFUSED => 3,
        exit::USAGE => 2,
        _ => 1,
    }
}

/// Spaces the starts of queries `1 / rate` seconds apart.
struct Pace {
    interval: Duration,
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl Pace {
    async fn wait(&self) {
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let start = (*next).max(tokio::time::Instant::now());
            *next = start + self.interval;
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// The input of `--from-csv`: a file, or stdin for `-`.
fn open_csv(path: &Path) -> Result<(String, Box<dyn std::io::Read>), Failure> {
    if path == Path::new("-") {
        return Ok(("standard input".into(), Box::new(std::io::stdin())));
    }
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Failure::input(&name, e))?;
    Ok((name, Box::new(file)))
}

/// One batch row's outcome: the order's state, or the failure and its short code.
fn batch_row(
    index: usize,
    number: &str,
    by_transaction: bool,
    outcome: Result<OrderState, (Failure, String)>,
) -> (Record, Result<String, u8>) {
    let mut record = Record::new();
    record.insert("row".into(), json!(index + 1));
    let (key, other) = if by_transaction {
        ("transaction_id", "out_trade_no")
    } else {
        ("out_trade_no", "transaction_id")
    };
    record.insert(key.into(), json!(number));
    match outcome {
        Ok(state) => {
            let found = if by_transaction {
                Some(state.out_trade_no.as_str())
            } else {
                state.transaction_id.as_deref()
            };
            put_text(&mut record, other, found);
            record.insert("trade_state".into(), json!(state.trade_state));
            put_fen(&mut record, "total_fee", state.total_fee);
            put_fen(&mut record, "cash_fee", state.cash_fee);
            put_text(&mut record, "time_end", state.time_end.as_deref());
            record.insert("exit_code".into(), json!(exit::OK));
            (record, Ok(state.trade_state))
        }
        Err((failure, error_code)) => {
            record.insert("exit_code".into(), json!(failure.code));
            record.insert("error_code".into(), json!(error_code));
            record.insert("error".into(), json!(failure.message));
            (record, Err(failure.code))
        }
    }
}

/// A short code for a failed query: WeChat's err_code when it refused, else the layer.
fn error_code(error: &ClientError) -> String {
    match error {
        ClientError::Refused { code, .. } => return code.clone(),
        ClientError::Transport { .. } => "UNREACHABLE",
        ClientError::Status { .. } => "HTTP_ERROR",
        ClientError::Malformed { .. } => "MALFORMED",
        ClientError::Protocol { .. } => "RETURN_FAIL",
        ClientError::MissingSign | ClientError::BadSign(_) => "BAD_SIGN",
        ClientError::Mismatch { .. } => "MISMATCH",
        ClientError::Payload { .. } => "BAD_PAYLOAD",
    }
    .to_owned()
}

fn batch(context: &Context, args: &QueryArgs, path: &Path) -> Result<u8, Failure> {
    let (name, input) = open_csv(path)?;
    // Read strictly: a quote never closed would otherwise hide every row after it.
    let mut records = Records::new(input, b',', 0);
    let mut header = csv::ByteRecord::new();
    match records.read(&mut header) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(Failure::input(&name, "empty: no header line")),
        Err(e) => return Err(Failure::input(&name, e)),
    }
    let headers: Vec<String> = header
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    let find = |column: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').trim() == column)
    };
    let (column, index) = match &args.column {
        Some(column) => (column.as_str(), find(column)),
        None => match find("out_trade_no") {
            Some(i) => ("out_trade_no", Some(i)),
            None => ("transaction_id", find("transaction_id")),
        },
    };
    let index = index.ok_or_else(|| {
        Failure::input(
            &name,
            format!("no column {column:?} (columns: {})", headers.join(", ")),
        )
        .hint("name the column of order numbers with --column NAME; the first row must be a header")
    })?;
    let by_transaction = column == "transaction_id";
    // Each row's number in the column, until the end or the first row that cannot be read.
    let mut record = csv::ByteRecord::new();
    let mut failed = false;
    let mut numbers = std::iter::from_fn(move || {
        if failed {
            return None;
        }
        match records.read(&mut record) {
            Ok(Some(_)) => Some(Ok(record
                .get(index)
                .map(|cell| String::from_utf8_lossy(cell).trim().to_owned())
                .unwrap_or_default())),
            Ok(None) => None,
            Err(e) => {
                failed = true;
                Some(Err(e))
            }
        }
    });
    let api = Api::connect(context, &args.api, false)?;
    if api.dry_run {
        let first = numbers
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| Failure::input(&name, "no order numbers to show a request for"))?;
        let field = if by_transaction {
            "transaction_id"
        } else {
            "out_trade_no"
        };
        let prepared = api.client.prepare(Endpoint::OrderQuery, &[(field, &first)]);
        context.printer.status(
            "dry run: the request for the first order; the others differ only in the number",
        );
        return api.show(&context.printer, &prepared);
    }
    let expected = if path == Path::new("-") {
        None
    } else {
        count_rows(path)
    };
    let mut stream = context.printer.list(&BATCH_COLUMNS).live(expected);
    let pace = args.rate.map(|rate| Pace {
        interval: Duration::from_secs_f64(1.0 / rate),
        next: std::sync::Mutex::new(tokio::time::Instant::now()),
    });
    let client = &api.client;
    let pace = pace.as_ref();
    let name = &name;
    let queries = numbers.enumerate().map(|(row, read)| async move {
        let number = read.as_ref().cloned().unwrap_or_default();
        let outcome = async {
            let invalid = |failure: Failure| (failure, "INVALID_INPUT".to_owned());
            let number = read.map_err(|e| invalid(Failure::input(name, e)))?;
            let number = number.as_str();
            let key = if by_transaction {
                OrderKey::TransactionId(number.to_owned())
            } else {
                OrderKey::OutTradeNo(number.to_owned())
            };
            key.validate()
                .map_err(|e| invalid(Failure::usage(format!("row {}: {e}", row + 1))))?;
            if let Some(pace) = pace {
                pace.wait().await;
            }
            let (field, value) = key.field();
            let prepared = client.prepare(Endpoint::OrderQuery, &[(field, value)]);
            client
                .send(&prepared)
                .await
                .and_then(|answer| lift(OrderState::read(answer)))
                .map_err(|e| {
                    let code = error_code(&e.error);
                    let failure = call_failure(
                        &format!("orderquery of {value}"),
                        Endpoint::OrderQuery,
                        e,
                        QUERY_AGAIN,
                        None,
                    );
                    (failure, code)
                })
        }
        .await;
        batch_row(row, &number, by_transaction, outcome)
    });
    let window = args.concurrency as usize;
    let mut states: BTreeMap<String, u64> = BTreeMap::new();
    let mut worst: Option<u8> = None;
    let mut unmet = 0u64;
    let mut rows = 0u64;
    let written: Result<(), Failure> = api.block_on(async {
        let mut results = if args.unordered {
            futures_util::stream::iter(queries)
                .buffer_unordered(window)
                .boxed_local()
        } else {
            futures_util::stream::iter(queries)
                .buffered(window)
                .boxed_local()
        };
        while let Some((record, outcome)) = results.next().await {
            rows += 1;
            match outcome {
                Ok(state) => {
                    if args.expect.as_ref().is_some_and(|e| *e != state) {
                        unmet += 1;
                    }
                    *states.entry(state).or_default() += 1;
                }
                Err(code) => {
                    let key = record
                        .get("error_code")
                        .and_then(Value::as_str)
                        .unwrap_or("ERROR")
                        .to_owned();
                    *states.entry(key).or_default() += 1;
                    if worst.is_none_or(|w| severity(code) > severity(w)) {
                        worst = Some(code);
                    }
                }
            }
            stream.record(&record)?;
        }
        Ok(())
    });
    let finished = stream.finish(None);
    written?;
    finished?;
    let summary: Vec<String> = states
        .iter()
        .map(|(state, n)| format!("{state} {n}"))
        .collect();
    context.printer.status(&format!(
        "{}: {}",
        super::common::counted(rows, "order"),
        if summary.is_empty() {
            "none".to_owned()
        } else {
            summary.join(", ")
        }
    ));
    if let Some(code) = worst {
        return Ok(code);
    }
    if unmet > 0 {
        context.printer.status(&format!(
            "{unmet} of {} {} not {}",
            super::common::counted(rows, "order"),
            if rows == 1 { "is" } else { "are" },
            args.expect.as_deref().unwrap_or("")
        ));
        return Ok(exit::NEGATIVE);
    }
    Ok(exit::OK)
}

/// The number of data rows of a CSV file, for the progress bar; None if it cannot be read
/// twice (a pipe or a FIFO, even given by path: counting would drain it).
fn count_rows(path: &Path) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record).ok()? {
        rows += 1;
    }
    Some(rows)
}
