//! `wxpay-ops refund create|query`.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::api::{
    Api, ApiArgs, api_time_after, call_failure, confirmed, extra, put_fen, put_text, put_yuan,
    sub_merchant,
};
use super::failure::{Failure, exit};
use super::output::{Format, Record};
use super::settings::Context;
use crate::wechat::Fen;
use crate::wechat::api::{
    CouponRefund, Endpoint, OrderKey, RefundAccepted, RefundItem, RefundKey, RefundList,
    RefundRequest, parse_amount,
};
use crate::wechat::client::CallError;
use crate::wechat::sign::nonce_str;

const CREATE_AFTER_HELP: &str = "\
A refund is identified by its out_refund_no: WeChat Pay makes each one's refund once, so running \
the same command again with the same --out-refund-no never refunds twice. Without \
--out-refund-no one is generated and printed first; reuse it to retry. Exit 0 when WeChat Pay \
accepted the refund (it completes later: see `refund query`); 1 when you decline; 3 when WeChat \
Pay refuses it; 4 when the answer does not verify; 75 when it may pass later (SYSTEMERROR after \
retries, FREQUENCY_LIMITED, INVALID_REQ_TOO_MUCH, no answer).";

const QUERY_AFTER_HELP: &str = "\
Lists every refund, all pages. Exit 0; 1 when --expect names a status some refund does not \
have, or the answer lists no refund; 3 when WeChat Pay has no such refund (REFUNDNOTEXIST). A refund in CHANGE (the money \
could not reach the payer's card) or REFUNDCLOSE (it failed) is warned about on stderr.";

#[derive(Debug, Subcommand)]
pub enum RefundCommand {
    /// Refund all or part of a paid order (over mutual TLS with the merchant certificate)
    #[command(after_help = CREATE_AFTER_HELP)]
    Create(CreateArgs),
    /// The refunds of an order, or one refund, with their status
    #[command(after_help = QUERY_AFTER_HELP)]
    Query(QueryArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Account {
    /// Unsettled funds (the default)
    Unsettled,
    /// The recharge (basic) account
    Recharge,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("order").required(true).args(["out_trade_no", "transaction_id"]))]
pub struct CreateArgs {
    /// The order's number (yours)
    #[arg(long, value_name = "NO")]
    out_trade_no: Option<String>,

    /// The order's WeChat transaction number
    #[arg(long, value_name = "ID")]
    transaction_id: Option<String>,

    /// This refund's number, up to 64 letters, digits, _ - | * @ [default: generated and printed]
    #[arg(long, value_name = "NO")]
    out_refund_no: Option<String>,

    /// The order's total, as paid: in fen (100), or in yuan when written so (1.00yuan)
    #[arg(long, value_name = "AMOUNT")]
    total: String,

    /// How much to refund, at most the total
    #[arg(long, value_name = "AMOUNT")]
    refund: String,

    /// Shown to the customer (refund_desc, up to 80 bytes)
    #[arg(long)]
    reason: Option<String>,

    /// Where WeChat Pay sends the refund result [default: the one set in the merchant console]
    #[arg(long, value_name = "URL")]
    notify_url: Option<String>,

    /// Which funds the refund comes from
    #[arg(long, value_enum)]
    refund_account: Option<Account>,

    /// Refund without asking
    #[arg(long, short = 'y')]
    yes: bool,

    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("key").required(true)
    .args(["refund_id", "out_refund_no", "transaction_id", "out_trade_no"]))]
pub struct QueryArgs {
    /// WeChat's refund number
    #[arg(long, value_name = "ID")]
    refund_id: Option<String>,

    /// Your refund number
    #[arg(long, value_name = "NO")]
    out_refund_no: Option<String>,

    /// The order's WeChat transaction number: all its refunds
    #[arg(long, value_name = "ID")]
    transaction_id: Option<String>,

    /// The order's number: all its refunds
    #[arg(long, value_name = "NO")]
    out_trade_no: Option<String>,

    /// Exit 1 unless every refund listed has this status (SUCCESS, PROCESSING, REFUNDCLOSE,
    /// CHANGE)
    #[arg(long, value_name = "STATUS", value_parser = parse_status)]
    expect: Option<String>,

    #[command(flatten)]
    api: ApiArgs,
}

const REFUND_STATUSES: [&str; 4] = ["SUCCESS", "PROCESSING", "REFUNDCLOSE", "CHANGE"];

fn parse_status(text: &str) -> Result<String, String> {
    let status = text.to_ascii_uppercase();
    if REFUND_STATUSES.contains(&status.as_str()) {
        Ok(status)
    } else {
        Err(format!(
            "{text:?} is not a refund status ({})",
            REFUND_STATUSES.join(", ")
        ))
    }
}

pub fn run(context: &Context, command: RefundCommand) -> Result<u8, Failure> {
    match command {
        RefundCommand::Create(args) => create(context, args),
        RefundCommand::Query(args) => query(context, args),
    }
}

fn refused_locally(error: impl std::fmt::Display) -> Failure {
    Failure::usage(error.to_string()).hint("nothing was sent: WeChat Pay would refuse it too")
}

fn amount(flag: &str, text: &str) -> Result<Fen, Failure> {
    parse_amount(text).map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

/// A new refund number: R, the Beijing time to the second, and 8 random characters.
fn new_refund_no() -> String {
    format!(
        "R{}{}",
        api_time_after(std::time::Duration::ZERO),
        &nonce_str()[..8]
    )
}

fn money(fen: Fen) -> String {
    format!("{} yuan ({} fen)", fen.yuan(), fen.0)
}

fn create(context: &Context, args: CreateArgs) -> Result<u8, Failure> {
    let total_fee = amount("--total", &args.total)?;
    let refund_fee = amount("--refund", &args.refund)?;
    let order = match (&args.out_trade_no, &args.transaction_id) {
        (_, Some(id)) => OrderKey::TransactionId(id.clone()),
        (Some(number), None) => OrderKey::OutTradeNo(number.clone()),
        (None, None) => unreachable!("clap requires one of them"),
    };
    let generated = args.out_refund_no.is_none();
    let out_refund_no = args.out_refund_no.clone().unwrap_or_else(new_refund_no);
    let request = RefundRequest {
        order,
        out_refund_no: out_refund_no.clone(),
        total_fee,
        refund_fee,
        refund_desc: args.reason.clone(),
        notify_url: args.notify_url.clone(),
        refund_account: args.refund_account.map(|account| {
            match account {
                Account::Unsettled => "REFUND_SOURCE_UNSETTLED_FUNDS",
                Account::Recharge => "REFUND_SOURCE_RECHARGE_FUNDS",
            }
            .to_owned()
        }),
    };
    request.validate().map_err(refused_locally)?;
    if let Some(url) = &request.notify_url
        && !crate::wechat::is_http_url(url)
    {
        return Err(Failure::usage(format!(
            "--notify-url {url:?} is not an http(s) URL"
        )));
    }
    let api = Api::connect(context, &args.api, true)?;
    let fields = request.fields();
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let prepared = api.client.prepare(Endpoint::Refund, &pairs);
    if api.dry_run {
        return api.show(&context.printer, &prepared);
    }
    let (order_field, order_number) = request.order.field();
    let details = [
        format!(
            "merchant: {} (appid {}){}",
            api.client.mch_id,
            api.client.appid,
            sub_merchant(&api.client)
        ),
        format!(
            "order:    {order_field} {order_number}, total {}",
            money(total_fee)
        ),
        format!(
            "refund:   {} as out_refund_no {out_refund_no}",
            money(refund_fee)
        ),
    ];
    let question = format!(
        "Refund {} of order {order_number}? The money goes back to the customer.",
        money(refund_fee)
    );
    let action = format!("refunding order {order_number}");
    if !confirmed(&context.printer, args.yes, &action, &details, &question)? {
        return Ok(exit::NEGATIVE);
    }
    if generated {
        context.printer.status(&format!(
            "refund number {out_refund_no} (generated): to retry this same refund, pass --out-refund-no {out_refund_no}"
        ));
    }
    let again = format!(
        "it is safe to run again with --out-refund-no {out_refund_no}: WeChat Pay makes each out_refund_no's refund only once"
    );
    // Reference A2.10. Final codes: sent once; the same request gets the same answer until
    // the cause is fixed. FREQUENCY_LIMITED and INVALID_REQ_TOO_MUCH may pass later, so exit
    // 75, but are not resent at once: that would only prolong the block.
    let explain = |code: &str| -> Option<(u8, String)> {
        let another_way = "WeChat Pay will not make this refund: refund the customer another way (cash, bank transfer)";
        Some(match code {
            "NOTENOUGH" => (
                exit::REFUSED,
                format!(
                    "the merchant account has not enough funds for this refund: top up the merchant account's balance, then run the same command again (--out-refund-no {out_refund_no}); to refund from the recharge account instead, use a new --out-refund-no with --refund-account recharge"
                ),
            ),
            "USER_ACCOUNT_ABNORMAL" => (
                exit::REFUSED,
                format!("the customer's WeChat account is closed or abnormal; {another_way}"),
            ),
            "TRADE_OVERDUE" => (
                exit::REFUSED,
                format!("the order was paid more than a year ago; {another_way}"),
            ),
            "ORDERNOTEXIST" => (
                exit::REFUSED,
                format!(
                    "WeChat Pay has no paid order {order_number}: check the number; an unpaid order has nothing to refund"
                ),
            ),
            "FREQUENCY_LIMITED" => (
                exit::TEMPORARY,
                format!(
                    "refunds of orders older than about two months are rate limited: wait, then refund more slowly; {again}"
                ),
            ),
            "INVALID_REQ_TOO_MUCH" => (
                exit::TEMPORARY,
                format!(
                    "after too many invalid refund requests WeChat Pay blocks refunds for about a minute: fix those, wait a minute; {again}"
                ),
            ),
            _ => return None,
        })
    };
    let accepted = api
        .block_on(api.client.send(&prepared))
        .and_then(|answer| {
            RefundAccepted::read(answer).map_err(|error| CallError { error, attempts: 1 })
        })
        .map_err(|e| {
            call_failure(
                &format!(
                    "refund {out_refund_no} of {order_number}{}",
                    sub_merchant(&api.client)
                ),
                Endpoint::Refund,
                e,
                &again,
                Some(&explain),
            )
        })?;
    let mut record = Record::new();
    record.insert("out_refund_no".into(), json!(accepted.out_refund_no));
    record.insert("out_refund_no_generated".into(), json!(generated));
    record.insert("refund_id".into(), json!(accepted.refund_id));
    put_text(
        &mut record,
        "out_trade_no",
        accepted.out_trade_no.as_deref(),
    );
    put_text(
        &mut record,
        "transaction_id",
        accepted.transaction_id.as_deref(),
    );
    put_fen(&mut record, "refund_fee", Some(accepted.refund_fee));
    put_yuan(&mut record, "refund_yuan", Some(accepted.refund_fee));
    put_fen(
        &mut record,
        "settlement_refund_fee",
        accepted.settlement_refund_fee,
    );
    put_fen(&mut record, "total_fee", accepted.total_fee);
    put_fen(
        &mut record,
        "settlement_total_fee",
        accepted.settlement_total_fee,
    );
    put_fen(&mut record, "cash_fee", accepted.cash_fee);
    put_fen(&mut record, "cash_refund_fee", accepted.cash_refund_fee);
    put_fen(&mut record, "coupon_refund_fee", accepted.coupon_refund_fee);
    record.insert("coupons".into(), coupons(&accepted.coupons));
    record.insert("sandbox".into(), json!(api.sandbox));
    record.insert("extra".into(), extra(&accepted.extra));
    context.printer.record(&record)?;
    let split = match accepted.coupon_refund_fee.filter(|f| f.0 > 0) {
        Some(coupon) => format!(
            ": {} in cash and {} in coupons",
            money(
                accepted
                    .cash_refund_fee
                    .unwrap_or(Fen(accepted.refund_fee.0 - coupon.0))
            ),
            money(coupon)
        ),
        None => String::new(),
    };
    context.printer.status(&format!(
        "WeChat Pay accepted refund {out_refund_no} of {}{split}; it completes later: wxpay-ops refund query --out-refund-no {out_refund_no}",
        money(accepted.refund_fee)
    ));
    Ok(exit::OK)
}

fn query(context: &Context, args: QueryArgs) -> Result<u8, Failure> {
    let key = match (
        &args.refund_id,
        &args.out_refund_no,
        &args.transaction_id,
        &args.out_trade_no,
    ) {
        (Some(id), ..) => RefundKey::RefundId(id.clone()),
        (_, Some(number), ..) => RefundKey::OutRefundNo(number.clone()),
        (_, _, Some(id), _) => RefundKey::TransactionId(id.clone()),
        (_, _, _, Some(number)) => RefundKey::OutTradeNo(number.clone()),
        _ => unreachable!("clap requires one of them"),
    };
    key.validate().map_err(refused_locally)?;
    let api = Api::connect(context, &args.api, false)?;
    let (field, value) = key.field();
    let prepared = api.client.prepare(Endpoint::RefundQuery, &[(field, value)]);
    if api.dry_run {
        return api.show(&context.printer, &prepared);
    }
    let explain = |code: &str| -> Option<(u8, String)> {
        (code == "REFUNDNOTEXIST").then(|| {
            (exit::REFUSED, format!(
                "WeChat Pay has no refund for {field} {value}: check the number (a refund just made can take a moment to appear)"
            ))
        })
    };
    let list = api
        .block_on(api.client.refund_query_all(&prepared, &key))
        .map_err(|e| {
            call_failure(
                &format!("refundquery of {value}{}", sub_merchant(&api.client)),
                Endpoint::RefundQuery,
                e,
                "a query changes nothing: it is safe to run again",
                Some(&explain),
            )
        })?;
    print_refunds(context, &list)?;
    for refund in &list.refunds {
        match refund.refund_status.as_str() {
            "CHANGE" => context.printer.warn(&format!(
                "refund {} is CHANGE: the money could not reach the customer's card (frozen or cancelled); it must be handled by hand in the merchant console",
                refund.out_refund_no
            )),
            "REFUNDCLOSE" => context.printer.warn(&format!(
                "refund {} is REFUNDCLOSE: it failed and no money moved; refunding again needs a new out_refund_no",
                refund.out_refund_no
            )),
            _ => {}
        }
    }
    if let Some(expected) = &args.expect {
        // An expectation about no refund at all is not met: a script checking that a refund
        // succeeded must not pass on an answer that lists none.
        if list.refunds.is_empty() {
            context.printer.status(&format!(
                "the answer lists no refund, so none is {expected}"
            ));
            return Ok(exit::NEGATIVE);
        }
        let unmet = list
            .refunds
            .iter()
            .filter(|r| r.refund_status != *expected)
            .count();
        if unmet > 0 {
            context.printer.status(&format!(
                "{unmet} of {} {} not {expected}",
                super::common::counted(list.refunds.len(), "refund"),
                if list.refunds.len() == 1 { "is" } else { "are" }
            ));
            return Ok(exit::NEGATIVE);
        }
    }
    Ok(exit::OK)
}

/// Each coupon's share of a refund, for JSON (and a line each in a table).
fn coupons(coupons: &[CouponRefund]) -> Value {
    Value::Array(
        coupons
            .iter()
            .map(|coupon| {
                json!({
                    "coupon_type": coupon.coupon_type,
                    "coupon_refund_id": coupon.coupon_refund_id,
                    "coupon_refund_fee": coupon.coupon_refund_fee.0,
                })
            })
            .collect(),
    )
}

fn refund_record(refund: &RefundItem) -> Record {
    let mut record = Record::new();
    record.insert("out_refund_no".into(), json!(refund.out_refund_no));
    record.insert("refund_id".into(), json!(refund.refund_id));
    record.insert("refund_status".into(), json!(refund.refund_status));
    put_fen(&mut record, "refund_fee", Some(refund.refund_fee));
    put_yuan(&mut record, "refund_yuan", Some(refund.refund_fee));
    put_fen(
        &mut record,
        "settlement_refund_fee",
        refund.settlement_refund_fee,
    );
    put_fen(
        &mut record,
        "cash_refund_fee",
        Some(refund.cash_refund_fee()),
    );
    put_fen(&mut record, "coupon_refund_fee", refund.coupon_refund_fee);
    record.insert("coupons".into(), coupons(&refund.coupons));
    put_text(
        &mut record,
        "refund_channel",
        refund.refund_channel.as_deref(),
    );
    put_text(
        &mut record,
        "refund_account",
        refund.refund_account.as_deref(),
    );
    put_text(
        &mut record,
        "refund_recv_account",
        refund.refund_recv_account.as_deref(),
    );
    put_text(
        &mut record,
        "refund_success_time",
        refund.refund_success_time.as_deref(),
    );
    record.insert("extra".into(), extra(&refund.extra));
    record
}

/// JSON gets the order with its refunds; a table or CSV one row per refund.
fn print_refunds(context: &Context, list: &RefundList) -> Result<(), Failure> {
    if context.printer.format(Format::Json).is_json() {
        let mut record = Record::new();
        put_text(&mut record, "out_trade_no", list.out_trade_no.as_deref());
        put_text(
            &mut record,
            "transaction_id",
            list.transaction_id.as_deref(),
        );
        put_fen(&mut record, "total_fee", list.total_fee);
        put_fen(&mut record, "cash_fee", list.cash_fee);
        put_fen(
            &mut record,
            "settlement_total_fee",
            list.settlement_total_fee,
        );
        put_fen(&mut record, "refunded_fee", list.refund_fee);
        record.insert("refund_count".into(), json!(list.refunds.len()));
        record.insert(
            "refunds".into(),
            Value::Array(
                list.refunds
                    .iter()
                    .map(|r| Value::Object(refund_record(r)))
                    .collect(),
            ),
        );
        record.insert("extra".into(), extra(&list.extra));
        return context.printer.record(&record);
    }
    // Ops staff need the split: cash back to the payer, the coupons' share, and what is
    // settled (the bills' 退款金额).
    const COLUMNS: [&str; 10] = [
        "out_refund_no",
        "refund_id",
        "refund_status",
        "refund_fee",
        "refund_yuan",
        "cash_refund_fee",
        "coupon_refund_fee",
        "settlement_refund_fee",
        "refund_success_time",
        "refund_recv_account",
    ];
    let fen = |fen: Option<Fen>| fen.map(|f| f.0.to_string()).unwrap_or_default();
    let rows: Vec<Vec<String>> = list
        .refunds
        .iter()
        .map(|refund| {
            vec![
                refund.out_refund_no.clone(),
                refund.refund_id.clone(),
                refund.refund_status.clone(),
                refund.refund_fee.0.to_string(),
                refund.refund_fee.yuan(),
                refund.cash_refund_fee().0.to_string(),
                fen(refund.coupon_refund_fee),
                fen(refund.settlement_refund_fee),
                refund.refund_success_time.clone().unwrap_or_default(),
                refund.refund_recv_account.clone().unwrap_or_default(),
            ]
        })
        .collect();
    context.printer.rows(&COLUMNS, &rows)
}
