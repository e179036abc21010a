//! `wxpay-ops refund create|query`.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::common::api::{
    Api, ApiArgs, amount, call_failure, confirmed, expected, record, refused_locally, sub_merchant,
};
use super::common::counted;
use super::failure::{Failure, exit};
use super::settings::Context;
use crate::output::Format;
use crate::wechat::Fen;
use crate::wechat::api::{
    Endpoint, OrderKey, Pairs, REFUND_STATUSES, RefundAccepted, RefundAccount, RefundKey,
    RefundList, RefundRequest, RequestError, new_out_refund_no,
};
use crate::wechat::v3::api::V3OrderError;

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
    Create(RefundCreateArgs),
    /// The refunds of an order, or one refund, with their status
    #[command(after_help = QUERY_AFTER_HELP)]
    Query(RefundQueryArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AccountArg {
    /// Unsettled funds (the default)
    Unsettled,
    /// The recharge (basic) account
    Recharge,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("order").required(true).args(["out_trade_no", "transaction_id"]))]
pub struct RefundCreateArgs {
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
    refund_account: Option<AccountArg>,

    /// Refund without asking
    #[arg(long, short = 'y')]
    yes: bool,

    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("key").required(true)
    .args(["refund_id", "out_refund_no", "transaction_id", "out_trade_no"]))]
pub struct RefundQueryArgs {
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
    #[arg(long, value_name = "STATUS", value_parser = expected(&REFUND_STATUSES, "refund status"))]
    expect: Option<String>,

    #[command(flatten)]
    api: ApiArgs,
}

pub fn run(context: &Context, command: RefundCommand) -> Result<u8, Failure> {
    match command {
        RefundCommand::Create(args) => create(context, args),
        RefundCommand::Query(args) => query(context, args),
    }
}

/// A request API v3 cannot carry as it stands (what v2's rules refuse was refused before).
fn v3_refusal(error: V3OrderError) -> Failure {
    match error {
        V3OrderError::Request(e) => refused_locally(e),
        V3OrderError::RefundKey(_) => Failure::usage(error.to_string())
            .hint("pass --out-refund-no, or --api v2 to find refunds by the order"),
        other => Failure::usage(other.to_string()).hint("or pass --api v2"),
    }
}

fn money(fen: Fen) -> String {
    format!("{} yuan ({} fen)", fen.yuan(), fen.0)
}

/// The refund the flags describe, checked as WeChat Pay checks it.
fn refund_request(args: &RefundCreateArgs) -> Result<RefundRequest, Failure> {
    let total_fee = amount("--total", &args.total)?;
    let refund_fee = amount("--refund", &args.refund)?;
    let order = match (&args.out_trade_no, &args.transaction_id) {
        (_, Some(id)) => OrderKey::TransactionId(id.clone()),
        (Some(number), None) => OrderKey::OutTradeNo(number.clone()),
        (None, None) => unreachable!("clap requires one of them"),
    };
    let request = RefundRequest {
        order,
        out_refund_no: (args.out_refund_no.clone()).unwrap_or_else(new_out_refund_no),
        total_fee,
        refund_fee,
        refund_desc: args.reason.clone(),
        notify_url: args.notify_url.clone(),
        refund_account: args.refund_account.map(|account| match account {
            AccountArg::Unsettled => RefundAccount::Unsettled,
            AccountArg::Recharge => RefundAccount::Recharge,
        }),
    };
    request.validate().map_err(|e| match e {
        RequestError::NotHttpUrl { url, .. } => {
            Failure::usage(format!("--notify-url {url:?} is not an http(s) URL"))
        }
        other => refused_locally(other),
    })?;
    Ok(request)
}

fn create(context: &Context, args: RefundCreateArgs) -> Result<u8, Failure> {
    let request = refund_request(&args)?;
    let api = Api::connect(context, &args.api, true)?;
    let prepared = api.gateway.refund(&request).map_err(v3_refusal)?;
    if api.dry_run {
        return api.show(&context.printer, &prepared);
    }
    let (order_field, order_number) = request.order.field();
    let out_refund_no = &request.out_refund_no;
    let details = [
        format!(
            "merchant: {} (appid {}){}",
            api.gateway.mch_id(),
            api.gateway.appid(),
            sub_merchant(&api.gateway)
        ),
        format!(
            "order:    {order_field} {order_number}, total {}",
            money(request.total_fee)
        ),
        format!(
            "refund:   {} as out_refund_no {out_refund_no}",
            money(request.refund_fee)
        ),
    ];
    let question = format!(
        "Refund {} of order {order_number}? The money goes back to the customer.",
        money(request.refund_fee)
    );
    let action = format!("refunding order {order_number}");
    if !confirmed(&context.printer, args.yes, &action, &details, &question)? {
        return Ok(exit::NEGATIVE);
    }
    let generated = args.out_refund_no.is_none();
    if generated {
        context.printer.status(&format!(
            "refund number {out_refund_no} (generated): to retry this same refund, pass --out-refund-no {out_refund_no}"
        ));
    }
    let accepted = api
        .block_on(api.gateway.call::<RefundAccepted>(&prepared))
        .map_err(|e| {
            let what = format!(
                "refund {out_refund_no} of {order_number}{}",
                sub_merchant(&api.gateway)
            );
            let again = refund_again(out_refund_no);
            let explain = |code: &str| refund_explain(code, &request);
            call_failure(&what, Endpoint::Refund, e, &again, Some(&explain))
        })?;
    print_accepted(context, &accepted, generated, api.sandbox)
}

fn refund_again(out_refund_no: &str) -> String {
    format!(
        "it is safe to run again with --out-refund-no {out_refund_no}: WeChat Pay makes each out_refund_no's refund only once"
    )
}

/// Reference A2.10. Final codes: sent once; the same request gets the same answer until
/// the cause is fixed. FREQUENCY_LIMITED and INVALID_REQ_TOO_MUCH may pass later, so exit
/// 75, but are not resent at once: that would only prolong the block.
fn refund_explain(code: &str, request: &RefundRequest) -> Option<(u8, String)> {
    let out_refund_no = &request.out_refund_no;
    let order_number = request.order.field().1;
    let again = refund_again(out_refund_no);
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
}

/// The accepted refund on stdout, and on stderr what it comes to and how to follow it.
fn print_accepted(
    context: &Context,
    accepted: &RefundAccepted,
    generated: bool,
    sandbox: bool,
) -> Result<u8, Failure> {
    context.printer.record(&record(json!({
        "out_refund_no": accepted.out_refund_no,
        "out_refund_no_generated": generated,
        "refund_id": accepted.refund_id,
        "out_trade_no": accepted.out_trade_no,
        "transaction_id": accepted.transaction_id,
        "refund_fee": accepted.refund_fee,
        "refund_yuan": accepted.refund_fee.yuan(),
        "settlement_refund_fee": accepted.settlement_refund_fee,
        "total_fee": accepted.total_fee,
        "settlement_total_fee": accepted.settlement_total_fee,
        "cash_fee": accepted.cash_fee,
        "cash_refund_fee": accepted.cash_refund_fee,
        "coupon_refund_fee": accepted.coupon_refund_fee,
        "coupons": accepted.coupons,
        "sandbox": sandbox,
        "extra": Pairs(&accepted.extra),
    })))?;
    let split = match accepted.coupon_refund_fee.filter(|f| f.0 > 0) {
        Some(coupon) => {
            let cash = (accepted.cash_refund_fee).unwrap_or(Fen(accepted.refund_fee.0 - coupon.0));
            format!(": {} in cash and {} in coupons", money(cash), money(coupon))
        }
        None => String::new(),
    };
    let number = &accepted.out_refund_no;
    context.printer.status(&format!(
        "WeChat Pay accepted refund {number} of {}{split}; it completes later: wxpay-ops refund query --out-refund-no {number}",
        money(accepted.refund_fee)
    ));
    Ok(exit::OK)
}

fn query(context: &Context, args: RefundQueryArgs) -> Result<u8, Failure> {
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
    let prepared = api.gateway.refund_query(&key).map_err(v3_refusal)?;
    if api.dry_run {
        return api.show(&context.printer, &prepared);
    }
    let explain = |code: &str| -> Option<(u8, String)> {
        matches!(code, "REFUNDNOTEXIST" | "RESOURCE_NOT_EXISTS").then(|| {
            (exit::REFUSED, format!(
                "WeChat Pay has no refund for {field} {value}: check the number (a refund just made can take a moment to appear)"
            ))
        })
    };
    let list = api
        .block_on(api.gateway.refunds(&prepared, &key))
        .map_err(|e| {
            let what = format!("refundquery of {value}{}", sub_merchant(&api.gateway));
            let again = "a query changes nothing: it is safe to run again";
            call_failure(&what, Endpoint::RefundQuery, e, again, Some(&explain))
        })?;
    print_refunds(context, &list)?;
    warn_unfinished(context, &list);
    Ok(expectation(context, &list, args.expect.as_deref()))
}

/// Refunds that need a person: CHANGE (the money could not reach the payer's card) and
/// REFUNDCLOSE (it failed).
fn warn_unfinished(context: &Context, list: &RefundList) {
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
}

/// `--expect`: exit 1 unless every refund listed has the status.
fn expectation(context: &Context, list: &RefundList, expect: Option<&str>) -> u8 {
    let Some(expected) = expect else {
        return exit::OK;
    };
    // An expectation about no refund at all is not met: a script checking that a refund
    // succeeded must not pass on an answer that lists none.
    if list.refunds.is_empty() {
        context.printer.status(&format!(
            "the answer lists no refund, so none is {expected}"
        ));
        return exit::NEGATIVE;
    }
    let unmet = (list.refunds.iter())
        .filter(|r| r.refund_status != expected)
        .count();
    if unmet == 0 {
        return exit::OK;
    }
    let count = list.refunds.len();
    context.printer.status(&format!(
        "{unmet} of {} {} not {expected}",
        counted(count, "refund"),
        if count == 1 { "is" } else { "are" }
    ));
    exit::NEGATIVE
}

/// JSON gets the order with its refunds; a table or CSV one row per refund.
fn print_refunds(context: &Context, list: &RefundList) -> Result<(), Failure> {
    if context.printer.format(Format::Json).is_json() {
        return Ok(context.printer.record(list)?);
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
    Ok(context.printer.records(&COLUMNS, &list.refunds)?)
}
