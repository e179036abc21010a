//! The typed merchant API (reference A2): requests checked before they are signed, answers
//! read into typed values with every field WeChat added and we do not know kept aside.

use std::collections::HashSet;
use std::time::Duration;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use thiserror::Error;
use time::OffsetDateTime;

use super::Fen;
use super::client::{CallError, Client, ClientError, Prepared};
use super::paysign::PayScene;
use super::sign::nonce_str;
use super::xml::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    UnifiedOrder,
    OrderQuery,
    CloseOrder,
    Refund,
    RefundQuery,
    /// A trade bill: on v2 the bill itself, on v3 the answer that says where it is (B6).
    DownloadBill,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::UnifiedOrder => "/pay/unifiedorder",
            Endpoint::OrderQuery => "/pay/orderquery",
            Endpoint::CloseOrder => "/pay/closeorder",
            Endpoint::Refund => "/secapi/pay/refund",
            Endpoint::RefundQuery => "/pay/refundquery",
            Endpoint::DownloadBill => "/pay/downloadbill",
        }
    }

    /// The API's name, as WeChat's documentation and our messages call it.
    pub fn name(self) -> &'static str {
        &self.path()[self.path().rfind('/').map_or(0, |i| i + 1)..]
    }

    /// Queries change nothing, so any of them may be sent again at any time.
    pub fn is_query(self) -> bool {
        matches!(
            self,
            Endpoint::OrderQuery | Endpoint::RefundQuery | Endpoint::DownloadBill
        )
    }

    pub fn needs_client_certificate(self) -> bool {
        self.path().starts_with("/secapi/")
    }

    /// Whether sending the identical request again is safe and useful after `error`
    /// (reference A2.10).
    pub fn may_resend_after(self, error: &ClientError) -> bool {
        match error {
            // The same certificates fail the same handshake again.
            _ if error.tls_failure().is_some() => false,
            // The connection never opened: WeChat Pay saw nothing.
            _ if error.never_sent() => true,
            // A lost or garbled answer leaves a change's fate unknown; only a query may go again.
            ClientError::Transport { .. } | ClientError::Status { status: 500.., .. } => {
                self.is_query()
            }
            ClientError::Refused { code, .. } => self.retries_on(code),
            _ => false,
        }
    }

    /// The err_codes after which WeChat asks for the identical request again: SYSTEMERROR
    /// everywhere, and BIZERR_NEED_RETRY for refunds (same out_refund_no).
    pub fn retries_on(self, code: &str) -> bool {
        code == "SYSTEMERROR" || (self == Endpoint::Refund && code == "BIZERR_NEED_RETRY")
    }
}

/// What an err_code says about sending the same request again (reference A2.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The identical request may go again at once (it is retried automatically).
    Now,
    /// The identical request may go again, but not before a while.
    Later,
    /// Sending it again gets the same answer.
    Never,
}

/// The meaning of an err_code and whether the request may be repeated (reference A2.10).
pub fn err_code_meaning(code: &str) -> (&'static str, Retry) {
    use Retry::*;
    match code {
        "SYSTEMERROR" => (
            "WeChat Pay had an internal error or timeout; the outcome is unknown",
            Now,
        ),
        "BIZERR_NEED_RETRY" => (
            "WeChat Pay was busy with this refund and rejected the concurrent request",
            Now,
        ),
        "FREQUENCY_LIMITED" => (
            "refunds of orders older than about two months are rate limited",
            Later,
        ),
        "INVALID_REQ_TOO_MUCH" => (
            "too many invalid requests; WeChat Pay blocks them for about a minute",
            Later,
        ),
        "NOTENOUGH" => (
            "not enough balance: the payer's for an order, the merchant's refundable funds for a refund",
            Never,
        ),
        "ORDERPAID" => ("the order is already paid", Never),
        "ORDERCLOSED" => ("the order is closed", Never),
        "ORDERNOTEXIST" => (
            "WeChat Pay has no such order (never placed successfully, or the number is wrong)",
            Never,
        ),
        "OUT_TRADE_NO_USED" => (
            "this out_trade_no was already used with other parameters",
            Never,
        ),
        "REFUNDNOTEXIST" => ("WeChat Pay has no refund for these numbers", Never),
        "TRADE_OVERDUE" => (
            "the order was paid more than a year ago and can no longer be refunded",
            Never,
        ),
        "USER_ACCOUNT_ABNORMAL" => (
            "the payer's account is closed or abnormal; the refund must be made outside WeChat Pay",
            Never,
        ),
        "ERROR" => ("a business error; see the description", Never),
        "TRADE_STATE_ERROR" => ("the order's state does not allow this", Never),
        "NOAUTH" => ("this merchant has no permission for this API", Never),
        "APPID_NOT_EXIST" | "MCHID_NOT_EXIST" | "APPID_MCHID_NOT_MATCH" => {
            ("the appid and mch_id do not belong together", Never)
        }
        "LACK_PARAMS" | "PARAM_ERROR" | "INVALID_TRANSACTIONID" | "INVALID_REQUEST" => {
            ("a parameter is missing or wrong", Never)
        }
        "SIGNERROR" => ("the request's sign is wrong", Never),
        "BANK_ERROR" => ("the bank had a fault; the outcome is unknown", Now),
        "STATEMENT_CREATING" => ("the bill is not ready yet", Later),
        "NO_STATEMENT_EXIST" => ("there is no bill for that day", Never),
        "RESOURCE_NOT_EXISTS" => ("WeChat Pay has no such thing", Never),
        "RESOURCE_ALREADY_EXISTS" => ("it already exists", Never),
        "ACCOUNT_ERROR" => ("the payer's account is abnormal", Never),
        "RULE_LIMIT" | "TRADE_ERROR" | "REQUEST_BLOCKED" => {
            ("WeChat Pay's rules refuse this trade", Never)
        }
        "XML_FORMAT_ERROR" | "REQUIRE_POST_METHOD" | "POST_DATA_EMPTY" | "NOT_UTF8" => {
            ("the request is malformed", Never)
        }
        _ => ("", Never),
    }
}

/// The v2 name of a v3 error code that means the same refusal (reference B5 against A2.10);
/// a code v2 has no name for is its own.
pub fn v2_err_code(v3: &str) -> &str {
    match v3 {
        "ORDER_NOT_EXIST" => "ORDERNOTEXIST",
        "ORDER_PAID" => "ORDERPAID",
        "ORDER_CLOSED" => "ORDERCLOSED",
        "NOT_ENOUGH" => "NOTENOUGH",
        "SYSTEM_ERROR" => "SYSTEMERROR",
        "BIZ_ERR_NEED_RETRY" => "BIZERR_NEED_RETRY",
        "SIGN_ERROR" => "SIGNERROR",
        "REFUND_NOT_EXISTS" => "REFUNDNOTEXIST",
        "NO_AUTH" => "NOAUTH",
        "MCH_NOT_EXISTS" => "MCHID_NOT_EXIST",
        "RATELIMIT_EXCEEDED" => "FREQUENCY_LIMITED",
        other => other,
    }
}

/// A request refused before it is signed: WeChat Pay would refuse it too.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("{field} {value:?} must be 1 to {max} characters of letters, digits and _ - | * @")]
    BadNumber {
        field: &'static str,
        value: String,
        max: usize,
    },
    #[error("{field} is {len} bytes long; WeChat Pay accepts at most {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("a JSAPI order needs the payer's openid (or sub_openid with a sub_appid)")]
    JsapiWithoutOpenid,
    #[error("an MWEB (H5) order needs scene_info")]
    MwebWithoutSceneInfo,
    #[error("the refund of {refund} fen is larger than the order's total of {total} fen")]
    RefundAboveTotal { refund: i64, total: i64 },
    #[error("{field} {url:?} is not an http(s) URL")]
    NotHttpUrl { field: &'static str, url: String },
    #[error("notify_url {0:?} has a query string, which WeChat Pay does not allow")]
    QueryInNotifyUrl(String),
    #[error("an order must stay open at least 5 minutes: WeChat Pay refuses shorter orders")]
    ExpiresTooSoon,
    #[error("{field} {value:?} is not a time yyyyMMddHHmmss")]
    BadTime { field: &'static str, value: String },
}

/// Why a typed amount could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AmountError {
    #[error("{0:?} is not an amount: write fen as a whole number (1234), or yuan as 12.34yuan")]
    NotAnAmount(String),
    #[error("{0:?} has decimals but no unit: write 1234 for fen, or 12.34yuan for yuan")]
    Ambiguous(String),
    #[error("{0:?} is less than one fen apart: WeChat Pay counts whole fen")]
    FractionOfFen(String),
    #[error("{0:?} is not more than zero")]
    NotPositive(String),
    #[error("{0:?} is larger than WeChat Pay accepts (21474836.47 yuan)")]
    TooLarge(String),
}

/// Amounts are Int fields, 32-bit in WeChat's own SDKs.
const MAX_AMOUNT_FEN: i64 = i32::MAX as i64;

/// Reads an amount as people type it: whole fen (`1234`), or yuan when written so
/// (`12.34yuan`, `12.34元`). A decimal without a unit is refused rather than guessed.
pub fn parse_amount(text: &str) -> Result<Fen, AmountError> {
    let trimmed = text.trim();
    let (number, yuan) = match trimmed
        .strip_suffix("yuan")
        .or_else(|| trimmed.strip_suffix('元'))
    {
        Some(number) => (number.trim_end(), true),
        None => (
            trimmed.strip_suffix("fen").unwrap_or(trimmed).trim_end(),
            false,
        ),
    };
    let not_amount = || AmountError::NotAnAmount(text.to_owned());
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(not_amount());
    }
    if digits.contains('.') && !yuan {
        return Err(AmountError::Ambiguous(text.to_owned()));
    }
    let places = if yuan { 2 } else { 0 };
    let significant = fraction.trim_end_matches('0');
    if significant.len() > places {
        return Err(AmountError::FractionOfFen(text.to_owned()));
    }
    let too_large = || AmountError::TooLarge(text.to_owned());
    let whole: i64 = if whole.is_empty() {
        0
    } else if whole.len() > 12 {
        return Err(too_large());
    } else {
        whole.parse().map_err(|_| not_amount())?
    };
    let cents: i64 = format!("{significant:0<places$}")
        .get(..places)
        .filter(|s| !s.is_empty())
        .map_or(Ok(0), str::parse)
        .map_err(|_| not_amount())?;
    let fen = whole * 10_i64.pow(places as u32) + cents;
    if negative || fen == 0 {
        return Err(AmountError::NotPositive(text.to_owned()));
    }
    if fen > MAX_AMOUNT_FEN {
        return Err(too_large());
    }
    Ok(Fen(fen))
}

/// out_trade_no, out_refund_no: letters, digits and `_-|*@` (reference A2.1, A2.4).
pub fn check_number(field: &'static str, value: &str, max: usize) -> Result<(), RequestError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b);
    if value.is_empty() || value.len() > max || !value.bytes().all(allowed) {
        return Err(RequestError::BadNumber {
            field,
            value: value.to_owned(),
            max,
        });
    }
    Ok(())
}

fn check_length(field: &'static str, value: &str, max: usize) -> Result<(), RequestError> {
    if value.len() > max {
        return Err(RequestError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeType {
    Jsapi,
    Native,
    App,
    Mweb,
}

impl TradeType {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeType::Jsapi => "JSAPI",
            TradeType::Native => "NATIVE",
            TradeType::App => "APP",
            TradeType::Mweb => "MWEB",
        }
    }

    /// Where the front end pays an order of this type with pay parameters (reference A3):
    /// a JSAPI order in `jsapi` (the WeChat browser, or a mini program), an APP order in the
    /// app. NATIVE and MWEB orders are paid through their code_url and mweb_url instead.
    pub fn pay_scene(self, jsapi: PayScene) -> Option<PayScene> {
        match self {
            TradeType::Jsapi => Some(jsapi),
            TradeType::App => Some(PayScene::App),
            TradeType::Native | TradeType::Mweb => None,
        }
    }
}

/// The shortest time an order may stay open (reference A2.1, time_expire).
pub const MIN_ORDER_LIFETIME: Duration = Duration::from_secs(300);

/// time_expire for an order that closes `after` from `now`, as the protocol writes it.
pub fn time_expire_after(after: Duration, now: OffsetDateTime) -> Result<String, RequestError> {
    if after < MIN_ORDER_LIFETIME {
        return Err(RequestError::ExpiresTooSoon);
    }
    Ok(crate::time::api_time(now + after))
}

/// notify_url: an absolute http(s) URL (reference A2.1, A2.4).
fn check_url(field: &'static str, url: &str) -> Result<(), RequestError> {
    if !super::is_http_url(url) {
        return Err(RequestError::NotHttpUrl {
            field,
            url: url.to_owned(),
        });
    }
    check_length(field, url, 256)
}

/// `/pay/unifiedorder` (reference A2.1).
#[derive(Debug, Clone)]
pub struct UnifiedOrder {
    pub trade_type: TradeType,
    pub out_trade_no: String,
    pub total_fee: Fen,
    pub body: String,
    pub notify_url: String,
    pub spbill_create_ip: String,
    pub openid: Option<String>,
    /// The payer under `sub_appid`, in service-provider mode.
    pub sub_openid: Option<String>,
    pub product_id: Option<String>,
    pub attach: Option<String>,
    /// yyyyMMddHHmmss, Beijing time.
    pub time_expire: Option<String>,
    pub scene_info: Option<String>,
}

impl UnifiedOrder {
    /// The refusals WeChat Pay would answer with, made before anything is sent.
    pub fn validate(&self) -> Result<(), RequestError> {
        check_url("notify_url", &self.notify_url)?;
        if self.notify_url.contains('?') {
            return Err(RequestError::QueryInNotifyUrl(self.notify_url.clone()));
        }
        if let Some(at) = &self.time_expire
            && crate::time::parse_api_time(at).is_none()
        {
            return Err(RequestError::BadTime {
                field: "time_expire",
                value: at.clone(),
            });
        }
        check_number("out_trade_no", &self.out_trade_no, 32)?;
        check_length("body", &self.body, 128)?;
        for (field, value, max) in [
            ("attach", &self.attach, 127),
            ("openid", &self.openid, 128),
            ("sub_openid", &self.sub_openid, 128),
            ("product_id", &self.product_id, 32),
            ("scene_info", &self.scene_info, 256),
        ] {
            if let Some(value) = value {
                check_length(field, value, max)?;
            }
        }
        match self.trade_type {
            TradeType::Jsapi if self.openid.is_none() && self.sub_openid.is_none() => {
                Err(RequestError::JsapiWithoutOpenid)
            }
            TradeType::Mweb if self.scene_info.is_none() => Err(RequestError::MwebWithoutSceneInfo),
            _ => Ok(()),
        }
    }

    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("body", self.body.clone()),
            ("out_trade_no", self.out_trade_no.clone()),
            ("total_fee", self.total_fee.0.to_string()),
            ("spbill_create_ip", self.spbill_create_ip.clone()),
            ("notify_url", self.notify_url.clone()),
            ("trade_type", self.trade_type.as_str().to_owned()),
        ];
        for (name, value) in [
            ("openid", self.openid.as_ref()),
            ("sub_openid", self.sub_openid.as_ref()),
            ("product_id", self.product_id()),
            ("attach", self.attach.as_ref()),
            ("time_expire", self.time_expire.as_ref()),
            ("scene_info", self.scene_info.as_ref()),
        ] {
            if let Some(value) = value {
                fields.push((name, value.clone()));
            }
        }
        fields
    }

    /// A NATIVE order needs a product_id (reference A2.1): the out_trade_no unless one is
    /// given.
    fn product_id(&self) -> Option<&String> {
        match self.trade_type {
            TradeType::Native => Some(self.product_id.as_ref().unwrap_or(&self.out_trade_no)),
            _ => self.product_id.as_ref(),
        }
    }
}

/// The states of an order (reference A2.2, trade_state).
pub const TRADE_STATES: [&str; 8] = [
    "SUCCESS",
    "REFUND",
    "NOTPAY",
    "CLOSED",
    "REVOKED",
    "USERPAYING",
    "PAYERROR",
    "ACCEPT",
];

/// The statuses of a refund (reference A2.5, refund_status_$n).
pub const REFUND_STATUSES: [&str; 4] = ["SUCCESS", "PROCESSING", "REFUNDCLOSE", "CHANGE"];

/// An order, by one of its two numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderKey {
    OutTradeNo(String),
    TransactionId(String),
}

impl OrderKey {
    pub fn field(&self) -> (&'static str, &str) {
        match self {
            OrderKey::OutTradeNo(number) => ("out_trade_no", number),
            OrderKey::TransactionId(id) => ("transaction_id", id),
        }
    }

    pub fn validate(&self) -> Result<(), RequestError> {
        match self {
            OrderKey::OutTradeNo(number) => check_number("out_trade_no", number, 32),
            OrderKey::TransactionId(id) => check_number("transaction_id", id, 32),
        }
    }
}

/// `/secapi/pay/refund` (reference A2.4).
#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub order: OrderKey,
    pub out_refund_no: String,
    pub total_fee: Fen,
    pub refund_fee: Fen,
    pub refund_desc: Option<String>,
    pub notify_url: Option<String>,
    pub refund_account: Option<RefundAccount>,
}

/// Which funds a refund comes from (reference A2.4, refund_account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundAccount {
    /// Unsettled funds, the default.
    Unsettled,
    /// The recharge (basic) account.
    Recharge,
}

impl RefundAccount {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundAccount::Unsettled => "REFUND_SOURCE_UNSETTLED_FUNDS",
            RefundAccount::Recharge => "REFUND_SOURCE_RECHARGE_FUNDS",
        }
    }
}

/// A new refund number: R, the Beijing time to the second, and 8 random characters.
pub fn new_out_refund_no() -> String {
    let now = crate::time::api_time(crate::time::now());
    format!("R{now}{}", &nonce_str()[..8])
}

impl RefundRequest {
    pub fn validate(&self) -> Result<(), RequestError> {
        self.order.validate()?;
        check_number("out_refund_no", &self.out_refund_no, 64)?;
        if self.refund_fee > self.total_fee {
            return Err(RequestError::RefundAboveTotal {
                refund: self.refund_fee.0,
                total: self.total_fee.0,
            });
        }
        if let Some(desc) = &self.refund_desc {
            check_length("refund_desc", desc, 80)?;
        }
        if let Some(url) = &self.notify_url {
            check_url("notify_url", url)?;
        }
        Ok(())
    }

    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let (key, value) = self.order.field();
        let mut fields = vec![
            (key, value.to_owned()),
            ("out_refund_no", self.out_refund_no.clone()),
            ("total_fee", self.total_fee.0.to_string()),
            ("refund_fee", self.refund_fee.0.to_string()),
        ];
        for (name, value) in [
            ("refund_desc", self.refund_desc.as_deref()),
            ("notify_url", self.notify_url.as_deref()),
            (
                "refund_account",
                self.refund_account.map(RefundAccount::as_str),
            ),
        ] {
            if let Some(value) = value {
                fields.push((name, value.to_owned()));
            }
        }
        fields
    }
}

/// A refund, or an order's refunds, by one of four numbers (reference A2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundKey {
    RefundId(String),
    OutRefundNo(String),
    TransactionId(String),
    OutTradeNo(String),
}

impl RefundKey {
    pub fn field(&self) -> (&'static str, &str) {
        match self {
            RefundKey::RefundId(v) => ("refund_id", v),
            RefundKey::OutRefundNo(v) => ("out_refund_no", v),
            RefundKey::TransactionId(v) => ("transaction_id", v),
            RefundKey::OutTradeNo(v) => ("out_trade_no", v),
        }
    }

    pub fn validate(&self) -> Result<(), RequestError> {
        let (field, value) = self.field();
        check_number(field, value, if field == "out_refund_no" { 64 } else { 32 })
    }
}

/// Fields of an answer that every API has; everything else is payload.
const ENVELOPE: [&str; 12] = [
    "return_code",
    "return_msg",
    "appid",
    "mch_id",
    "sub_appid",
    "sub_mch_id",
    "nonce_str",
    "sign",
    "sign_type",
    "result_code",
    // The sandbox answers success with err_code=SUCCESS (reference A2.1).
    "err_code",
    "err_code_des",
];

/// Unknown fields, as received.
pub type Extra = Vec<(String, String)>;

/// Name-value pairs printed as one object, in their order: `extra`, pay parameters.
pub struct Pairs<'a, K, V>(pub &'a [(K, V)]);

impl<K: AsRef<str>, V: AsRef<str>> Serialize for Pairs<'_, K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
    }
}

/// Reads an answer's payload, remembering what was read, so that the rest is kept.
struct Reader {
    message: Message,
    read: HashSet<String>,
}

impl Reader {
    fn new(message: Message) -> Reader {
        Reader {
            read: ENVELOPE.iter().map(|s| s.to_string()).collect(),
            message,
        }
    }

    fn text(&mut self, name: &str) -> Option<String> {
        self.read.insert(name.to_owned());
        self.message.non_empty(name).map(str::to_owned)
    }

    fn required(&mut self, name: &str) -> Result<String, ClientError> {
        self.text(name).ok_or_else(|| ClientError::Payload {
            field: name.to_owned(),
            problem: "is missing".into(),
        })
    }

    fn fen(&mut self, name: &str) -> Result<Option<Fen>, ClientError> {
        self.text(name)
            .map(|text| {
                Fen::parse_api(&text).map_err(|_| ClientError::Payload {
                    field: name.to_owned(),
                    problem: format!("{text:?} is not an amount in fen"),
                })
            })
            .transpose()
    }

    fn required_fen(&mut self, name: &str) -> Result<Fen, ClientError> {
        self.fen(name)?.ok_or_else(|| ClientError::Payload {
            field: name.to_owned(),
            problem: "is missing".into(),
        })
    }

    fn count(&mut self, name: &str) -> Result<Option<usize>, ClientError> {
        self.text(name)
            .map(|text| {
                text.parse().map_err(|_| ClientError::Payload {
                    field: name.to_owned(),
                    problem: format!("{text:?} is not a count"),
                })
            })
            .transpose()
    }

    /// The coupons counted by `count_field`: `coupon_type{infix}_$m`,
    /// `coupon_refund_id{infix}_$m` and `coupon_refund_fee{infix}_$m` (infix `_$n` in a
    /// refund query, where $n is the refund).
    fn coupons(
        &mut self,
        count_field: &str,
        infix: &str,
    ) -> Result<Vec<CouponRefund>, ClientError> {
        let count = self.count(count_field)?.unwrap_or(0);
        if count > MAX_COUPONS {
            return Err(ClientError::Payload {
                field: count_field.to_owned(),
                problem: format!("is {count}; a refund has at most {MAX_COUPONS} coupons"),
            });
        }
        (0..count)
            .map(|m| {
                Ok(CouponRefund {
                    coupon_type: self.text(&format!("coupon_type{infix}_{m}")),
                    coupon_refund_id: self.text(&format!("coupon_refund_id{infix}_{m}")),
                    coupon_refund_fee: self
                        .required_fen(&format!("coupon_refund_fee{infix}_{m}"))?,
                })
            })
            .collect()
    }

    /// The fields nobody read, in the order received; empty ones included, as received.
    fn rest(&self) -> Extra {
        self.message
            .pairs()
            .filter(|(name, _)| !self.read.contains(*name))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }
}

/// The unified order's answer: what the front end needs to pay.
#[derive(Debug, Clone)]
pub struct Prepay {
    pub trade_type: String,
    /// None for v3's NATIVE orders, whose answer is the code_url alone.
    pub prepay_id: Option<String>,
    pub code_url: Option<String>,
    pub mweb_url: Option<String>,
    pub extra: Extra,
}

impl Prepay {
    pub fn read(answer: Message) -> Result<Prepay, ClientError> {
        let mut r = Reader::new(answer);
        Ok(Prepay {
            trade_type: r.required("trade_type")?,
            prepay_id: Some(r.required("prepay_id")?),
            code_url: r.text("code_url"),
            mweb_url: r.text("mweb_url"),
            extra: r.rest(),
        })
    }
}

/// An order as `/pay/orderquery` reports it (reference A2.2).
#[derive(Debug, Clone)]
pub struct OrderState {
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    pub trade_state: String,
    pub trade_state_desc: Option<String>,
    pub trade_type: Option<String>,
    pub total_fee: Option<Fen>,
    pub cash_fee: Option<Fen>,
    pub settlement_total_fee: Option<Fen>,
    pub coupon_fee: Option<Fen>,
    /// yyyyMMddHHmmss, Beijing time; once paid.
    pub time_end: Option<String>,
    pub openid: Option<String>,
    pub bank_type: Option<String>,
    pub attach: Option<String>,
    pub extra: Extra,
}

/// As `order query` prints it (docs/reference.md): the answer's fields, with the amount in
/// yuan and the payment time in RFC 3339 beside them.
impl Serialize for OrderState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let paid_at = (self.time_end.as_deref())
            .and_then(crate::time::parse_api_time)
            .and_then(|time| {
                time.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            });
        let mut out = serializer.serialize_struct("OrderState", 16)?;
        out.serialize_field("out_trade_no", &self.out_trade_no)?;
        out.serialize_field("transaction_id", &self.transaction_id)?;
        out.serialize_field("trade_state", &self.trade_state)?;
        out.serialize_field("trade_state_desc", &self.trade_state_desc)?;
        out.serialize_field("trade_type", &self.trade_type)?;
        out.serialize_field("total_fee", &self.total_fee)?;
        out.serialize_field("total_yuan", &self.total_fee.map(Fen::yuan))?;
        out.serialize_field("cash_fee", &self.cash_fee)?;
        out.serialize_field("settlement_total_fee", &self.settlement_total_fee)?;
        out.serialize_field("coupon_fee", &self.coupon_fee)?;
        out.serialize_field("time_end", &self.time_end)?;
        out.serialize_field("paid_at", &paid_at)?;
        out.serialize_field("openid", &self.openid)?;
        out.serialize_field("bank_type", &self.bank_type)?;
        out.serialize_field("attach", &self.attach)?;
        out.serialize_field("extra", &Pairs(&self.extra))?;
        out.end()
    }
}

impl OrderState {
    pub fn read(answer: Message) -> Result<OrderState, ClientError> {
        let mut r = Reader::new(answer);
        Ok(OrderState {
            out_trade_no: r.required("out_trade_no")?,
            transaction_id: r.text("transaction_id"),
            trade_state: r.required("trade_state")?,
            trade_state_desc: r.text("trade_state_desc"),
            trade_type: r.text("trade_type"),
            total_fee: r.fen("total_fee")?,
            cash_fee: r.fen("cash_fee")?,
            settlement_total_fee: r.fen("settlement_total_fee")?,
            coupon_fee: r.fen("coupon_fee")?,
            time_end: r.text("time_end"),
            openid: r.text("openid"),
            bank_type: r.text("bank_type"),
            attach: r.text("attach"),
            extra: r.rest(),
        })
    }
}

/// A refund WeChat Pay accepted (not yet finished: see `refund query`).
#[derive(Debug, Clone)]
pub struct RefundAccepted {
    pub transaction_id: Option<String>,
    pub out_trade_no: Option<String>,
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: Fen,
    /// Less the non-cash coupons' share (reference A8).
    pub settlement_refund_fee: Option<Fen>,
    pub total_fee: Option<Fen>,
    pub settlement_total_fee: Option<Fen>,
    pub cash_fee: Option<Fen>,
    pub cash_refund_fee: Option<Fen>,
    /// The coupons' share of refund_fee; refund_fee less this is cash (reference A2.4).
    pub coupon_refund_fee: Option<Fen>,
    /// Each coupon's share (`coupon_type_$n`, `coupon_refund_id_$n`, `coupon_refund_fee_$n`).
    pub coupons: Vec<CouponRefund>,
    pub extra: Extra,
}

impl RefundAccepted {
    pub fn read(answer: Message) -> Result<RefundAccepted, ClientError> {
        let mut r = Reader::new(answer);
        Ok(RefundAccepted {
            transaction_id: r.text("transaction_id"),
            out_trade_no: r.text("out_trade_no"),
            out_refund_no: r.required("out_refund_no")?,
            refund_id: r.required("refund_id")?,
            refund_fee: r.required_fen("refund_fee")?,
            settlement_refund_fee: r.fen("settlement_refund_fee")?,
            total_fee: r.fen("total_fee")?,
            settlement_total_fee: r.fen("settlement_total_fee")?,
            cash_fee: r.fen("cash_fee")?,
            cash_refund_fee: r.fen("cash_refund_fee")?,
            coupon_refund_fee: r.fen("coupon_refund_fee")?,
            coupons: r.coupons("coupon_refund_count", "")?,
            extra: r.rest(),
        })
    }
}

/// One coupon's share of a refund.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CouponRefund {
    /// `CASH` (pre-funded) or `NO_CASH` (免充值券, funded by the merchant).
    pub coupon_type: Option<String>,
    pub coupon_refund_id: Option<String>,
    pub coupon_refund_fee: Fen,
}

/// A refund has a handful of coupons at most; a count beyond this is not a real answer.
const MAX_COUPONS: usize = 100;

/// One refund of a refund query (`_$n` fields).
#[derive(Debug, Clone)]
pub struct RefundItem {
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_status: String,
    pub refund_fee: Fen,
    pub settlement_refund_fee: Option<Fen>,
    pub coupon_refund_fee: Option<Fen>,
    /// Each coupon's share (`coupon_*_$n_$m`).
    pub coupons: Vec<CouponRefund>,
    pub refund_channel: Option<String>,
    pub refund_account: Option<String>,
    /// WeChat's spelling: `refund_recv_accout`.
    pub refund_recv_account: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time; once succeeded.
    pub refund_success_time: Option<String>,
    /// This refund's other `_$n` and `_$n_$m` fields, under their full names.
    pub extra: Extra,
}

/// As `refund query` prints each refund (docs/reference.md): with the amount in yuan and the
/// cash share beside them.
impl Serialize for RefundItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("RefundItem", 14)?;
        out.serialize_field("out_refund_no", &self.out_refund_no)?;
        out.serialize_field("refund_id", &self.refund_id)?;
        out.serialize_field("refund_status", &self.refund_status)?;
        out.serialize_field("refund_fee", &self.refund_fee)?;
        out.serialize_field("refund_yuan", &self.refund_fee.yuan())?;
        out.serialize_field("settlement_refund_fee", &self.settlement_refund_fee)?;
        out.serialize_field("cash_refund_fee", &self.cash_refund_fee())?;
        out.serialize_field("coupon_refund_fee", &self.coupon_refund_fee)?;
        out.serialize_field("coupons", &self.coupons)?;
        out.serialize_field("refund_channel", &self.refund_channel)?;
        out.serialize_field("refund_account", &self.refund_account)?;
        out.serialize_field("refund_recv_account", &self.refund_recv_account)?;
        out.serialize_field("refund_success_time", &self.refund_success_time)?;
        out.serialize_field("extra", &Pairs(&self.extra))?;
        out.end()
    }
}

impl RefundItem {
    /// What goes back to the payer as money: the refund less its coupons' share (WeChat's
    /// field notes: 退款金额-代金券或立减优惠退款金额为现金). A refund query has no
    /// cash_refund_fee_$n of its own.
    pub fn cash_refund_fee(&self) -> Fen {
        Fen(self.refund_fee.0 - self.coupon_refund_fee.map_or(0, |f| f.0))
    }
}

/// An order's refunds, all pages put together (reference A2.5).
#[derive(Debug, Clone)]
pub struct RefundList {
    pub transaction_id: Option<String>,
    pub out_trade_no: Option<String>,
    pub total_fee: Option<Fen>,
    pub cash_fee: Option<Fen>,
    pub settlement_total_fee: Option<Fen>,
    /// The order's refunded total, as WeChat reports it.
    pub refund_fee: Option<Fen>,
    pub refunds: Vec<RefundItem>,
    pub extra: Extra,
}

/// As `refund query` prints it in JSON (docs/reference.md): the order, then its refunds.
impl Serialize for RefundList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("RefundList", 9)?;
        out.serialize_field("out_trade_no", &self.out_trade_no)?;
        out.serialize_field("transaction_id", &self.transaction_id)?;
        out.serialize_field("total_fee", &self.total_fee)?;
        out.serialize_field("cash_fee", &self.cash_fee)?;
        out.serialize_field("settlement_total_fee", &self.settlement_total_fee)?;
        out.serialize_field("refunded_fee", &self.refund_fee)?;
        out.serialize_field("refund_count", &self.refunds.len())?;
        out.serialize_field("refunds", &self.refunds)?;
        out.serialize_field("extra", &Pairs(&self.extra))?;
        out.end()
    }
}

/// An order has at most 50 refunds; a query answers 10 per page.
const MAX_REFUNDS: usize = 50;
const MAX_PAGES: usize = MAX_REFUNDS / 10 + 1;

struct RefundPage {
    list: RefundList,
    total_refund_count: Option<usize>,
}

/// The refund index of a `name_$n` or `name_$n_$m` field.
fn refund_index(name: &str) -> Option<usize> {
    let mut parts = name.rsplit('_');
    let last = parts.next()?;
    let before = parts.next()?;
    let number = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    match (number(last), number(before)) {
        (Some(_), Some(n)) if name.starts_with("coupon_") => Some(n),
        (Some(n), _) => Some(n),
        _ => None,
    }
}

impl RefundPage {
    fn read(answer: Message) -> Result<RefundPage, ClientError> {
        let mut r = Reader::new(answer);
        let count = r.count("refund_count")?.unwrap_or(0);
        if count > MAX_REFUNDS {
            return Err(ClientError::Payload {
                field: "refund_count".into(),
                problem: format!("is {count}; an order has at most {MAX_REFUNDS} refunds"),
            });
        }
        let total_refund_count = r.count("total_refund_count")?;
        let mut refunds = Vec::with_capacity(count);
        for n in 0..count {
            let field = |name: &str| format!("{name}_{n}");
            refunds.push(RefundItem {
                out_refund_no: r.required(&field("out_refund_no"))?,
                refund_id: r.required(&field("refund_id"))?,
                refund_status: r.required(&field("refund_status"))?,
                refund_fee: r.required_fen(&field("refund_fee"))?,
                settlement_refund_fee: r.fen(&field("settlement_refund_fee"))?,
                coupon_refund_fee: r.fen(&field("coupon_refund_fee"))?,
                coupons: r.coupons(&field("coupon_refund_count"), &format!("_{n}"))?,
                refund_channel: r.text(&field("refund_channel")),
                refund_account: r.text(&field("refund_account")),
                refund_recv_account: r.text(&field("refund_recv_accout")),
                refund_success_time: r.text(&field("refund_success_time")),
                extra: Vec::new(),
            });
        }
        let mut list = RefundList {
            transaction_id: r.text("transaction_id"),
            out_trade_no: r.text("out_trade_no"),
            total_fee: r.fen("total_fee")?,
            cash_fee: r.fen("cash_fee")?,
            settlement_total_fee: r.fen("settlement_total_fee")?,
            refund_fee: r.fen("refund_fee")?,
            refunds,
            extra: Vec::new(),
        };
        for (name, value) in r.rest() {
            match refund_index(&name).and_then(|n| list.refunds.get_mut(n)) {
                Some(refund) => refund.extra.push((name, value)),
                None => list.extra.push((name, value)),
            }
        }
        Ok(RefundPage {
            list,
            total_refund_count,
        })
    }
}

impl Client {
    /// Every page of a refund query: the first as `first` was prepared, then `offset`
    /// pages while WeChat says there are more.
    pub async fn refund_query_all(
        &self,
        first: &Prepared,
        key: &RefundKey,
    ) -> Result<RefundList, CallError> {
        let RefundPage {
            mut list,
            total_refund_count,
        } = self.send_and_read(first, RefundPage::read).await?;
        let Some(total) = total_refund_count else {
            return Ok(list);
        };
        let total = total.min(MAX_REFUNDS);
        let (field, value) = key.field();
        for _ in 1..MAX_PAGES {
            if list.refunds.len() >= total {
                break;
            }
            let offset = list.refunds.len().to_string();
            let next = self.prepare(
                Endpoint::RefundQuery,
                &[(field, value), ("offset", &offset)],
            );
            let more = self.send_and_read(&next, RefundPage::read).await?.list;
            if more.refunds.is_empty() {
                break;
            }
            list.refunds.extend(more.refunds);
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_fen_unless_written_in_yuan() {
        assert_eq!(parse_amount("1234"), Ok(Fen(1234)));
        assert_eq!(parse_amount("12.34yuan"), Ok(Fen(1234)));
        assert_eq!(parse_amount("12.3yuan"), Ok(Fen(1230)));
        assert_eq!(parse_amount("12yuan"), Ok(Fen(1200)));
        assert_eq!(parse_amount("0.01元"), Ok(Fen(1)));
        assert_eq!(parse_amount("12.340yuan"), Ok(Fen(1234)));
        assert_eq!(parse_amount("7fen"), Ok(Fen(7)));
        assert!(matches!(
            parse_amount("12.34"),
            Err(AmountError::Ambiguous(_))
        ));
        assert!(matches!(
            parse_amount("0.001yuan"),
            Err(AmountError::FractionOfFen(_))
        ));
        assert!(matches!(
            parse_amount("0"),
            Err(AmountError::NotPositive(_))
        ));
        assert!(matches!(
            parse_amount("0.00yuan"),
            Err(AmountError::NotPositive(_))
        ));
        assert!(matches!(
            parse_amount("-5"),
            Err(AmountError::NotPositive(_))
        ));
        assert!(matches!(
            parse_amount("99999999999999999999"),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            parse_amount("2147483648"),
            Err(AmountError::TooLarge(_))
        ));
        for garbage in ["", "yuan", "1e3", "12,34", "abc", ".", "1.2.3yuan", "٣"] {
            assert!(
                matches!(parse_amount(garbage), Err(AmountError::NotAnAmount(_))),
                "{garbage}"
            );
        }
    }

    #[test]
    fn local_refusals() {
        assert!(check_number("out_trade_no", "T-1_a|b*c@d", 32).is_ok());
        for bad in ["", "has space", "订单1", "a/b", &"x".repeat(33)] {
            assert!(check_number("out_trade_no", bad, 32).is_err(), "{bad}");
        }
        let refund = RefundRequest {
            order: OrderKey::OutTradeNo("T1".into()),
            out_refund_no: "R1".into(),
            total_fee: Fen(100),
            refund_fee: Fen(101),
            refund_desc: None,
            notify_url: None,
            refund_account: None,
        };
        assert_eq!(
            refund.validate(),
            Err(RequestError::RefundAboveTotal {
                refund: 101,
                total: 100
            })
        );
        let order = UnifiedOrder {
            trade_type: TradeType::Jsapi,
            out_trade_no: "T1".into(),
            total_fee: Fen(1),
            body: "b".into(),
            notify_url: "https://x/n".into(),
            spbill_create_ip: "127.0.0.1".into(),
            openid: None,
            sub_openid: None,
            product_id: None,
            attach: None,
            time_expire: None,
            scene_info: None,
        };
        assert_eq!(order.validate(), Err(RequestError::JsapiWithoutOpenid));
    }

    fn native(notify_url: &str) -> UnifiedOrder {
        UnifiedOrder {
            trade_type: TradeType::Native,
            out_trade_no: "T1".into(),
            total_fee: Fen(1),
            body: "b".into(),
            notify_url: notify_url.into(),
            spbill_create_ip: "127.0.0.1".into(),
            openid: None,
            sub_openid: None,
            product_id: None,
            attach: None,
            time_expire: None,
            scene_info: None,
        }
    }

    #[test]
    fn an_order_is_checked_as_wechat_pay_checks_it() {
        let order = native("https://shop.example.com/notify");
        assert_eq!(order.validate(), Ok(()));
        let product_id = |order: &UnifiedOrder| {
            let fields = order.fields();
            let found = fields.iter().find(|(name, _)| *name == "product_id");
            found.map(|(_, value)| value.clone())
        };
        assert_eq!(
            product_id(&order).as_deref(),
            Some("T1"),
            "NATIVE needs one"
        );
        let given = UnifiedOrder {
            product_id: Some("P7".into()),
            ..order.clone()
        };
        assert_eq!(product_id(&given).as_deref(), Some("P7"));
        let app = UnifiedOrder {
            trade_type: TradeType::App,
            ..order.clone()
        };
        assert_eq!(product_id(&app), None);

        assert!(matches!(
            native("shop.example.com/notify").validate(),
            Err(RequestError::NotHttpUrl {
                field: "notify_url",
                ..
            })
        ));
        assert!(matches!(
            native("https://shop.example.com/notify?id=1").validate(),
            Err(RequestError::QueryInNotifyUrl(_))
        ));
        let bad_time = UnifiedOrder {
            time_expire: Some("2026-01-01".into()),
            ..order
        };
        assert!(matches!(
            bad_time.validate(),
            Err(RequestError::BadTime {
                field: "time_expire",
                ..
            })
        ));
    }

    #[test]
    fn an_order_stays_open_at_least_five_minutes() {
        let now = time::macros::datetime!(2026-11-21 04:00:00 UTC);
        assert_eq!(
            time_expire_after(Duration::from_secs(299), now),
            Err(RequestError::ExpiresTooSoon)
        );
        // Beijing time, as the protocol writes it.
        assert_eq!(
            time_expire_after(Duration::from_secs(300), now).as_deref(),
            Ok("20261121120500")
        );
    }

    #[test]
    fn only_jsapi_and_app_orders_take_pay_parameters() {
        let mini = PayScene::MiniProgram;
        assert_eq!(TradeType::Jsapi.pay_scene(mini), Some(mini));
        assert_eq!(TradeType::App.pay_scene(mini), Some(PayScene::App));
        assert_eq!(TradeType::Native.pay_scene(mini), None);
        assert_eq!(TradeType::Mweb.pay_scene(mini), None);
    }

    #[test]
    fn a_refund_names_its_account_and_a_reachable_notify_url() {
        let refund = RefundRequest {
            order: OrderKey::TransactionId("4200000001".into()),
            out_refund_no: new_out_refund_no(),
            total_fee: Fen(100),
            refund_fee: Fen(100),
            refund_desc: None,
            notify_url: Some("ftp://x".into()),
            refund_account: Some(RefundAccount::Recharge),
        };
        assert!(matches!(
            refund.validate(),
            Err(RequestError::NotHttpUrl { .. })
        ));
        let refund = RefundRequest {
            notify_url: None,
            ..refund
        };
        assert_eq!(
            refund.validate(),
            Ok(()),
            "a generated out_refund_no is valid"
        );
        assert!(refund.out_refund_no.starts_with('R') && refund.out_refund_no.len() == 23);
        let fields = refund.fields();
        assert!(fields.contains(&("refund_account", "REFUND_SOURCE_RECHARGE_FUNDS".into())));
        assert!(fields.contains(&("transaction_id", "4200000001".into())));
    }

    #[test]
    fn refund_pages_keep_coupon_and_unknown_fields_with_their_refund() {
        let answer = Message::from_pairs([
            ("return_code", "SUCCESS"),
            ("result_code", "SUCCESS"),
            ("out_trade_no", "T1"),
            ("total_fee", "500"),
            ("refund_count", "2"),
            ("out_refund_no_0", "R0"),
            ("refund_id_0", "5000"),
            ("refund_status_0", "SUCCESS"),
            ("refund_fee_0", "120"),
            ("coupon_refund_fee_0", "20"),
            ("coupon_refund_count_0", "1"),
            ("coupon_type_0_0", "NO_CASH"),
            ("coupon_refund_id_0_0", "100000100"),
            ("coupon_refund_fee_0_0", "20"),
            ("coupon_new_0_0", "z"),
            ("out_refund_no_1", "R1"),
            ("refund_id_1", "5001"),
            ("refund_status_1", "CHANGE"),
            ("refund_fee_1", "10"),
            ("new_field_1", "x"),
            ("brand_new", "y"),
        ])
        .unwrap();
        let page = RefundPage::read(answer).unwrap();
        let refunds = &page.list.refunds;
        assert_eq!(refunds.len(), 2);
        assert_eq!(refunds[0].coupon_refund_fee, Some(Fen(20)));
        assert_eq!(refunds[0].cash_refund_fee(), Fen(100));
        assert_eq!(
            refunds[0].coupons,
            vec![CouponRefund {
                coupon_type: Some("NO_CASH".into()),
                coupon_refund_id: Some("100000100".into()),
                coupon_refund_fee: Fen(20),
            }]
        );
        assert_eq!(
            refunds[0].extra,
            vec![("coupon_new_0_0".to_owned(), "z".to_owned())]
        );
        assert_eq!(refunds[1].coupons, vec![]);
        assert_eq!(refunds[1].cash_refund_fee(), Fen(10));
        assert_eq!(
            refunds[1].extra,
            vec![("new_field_1".to_owned(), "x".to_owned())]
        );
        assert_eq!(
            page.list.extra,
            vec![("brand_new".to_owned(), "y".to_owned())]
        );
        // A refund the count promises but the answer lacks is a payload error.
        let short = Message::from_pairs([("refund_count", "1")]).unwrap();
        assert!(matches!(
            RefundPage::read(short),
            Err(ClientError::Payload { .. })
        ));
    }

    #[test]
    fn answers_print_in_the_documented_shape() {
        // The keys in order, as docs/reference.md lists them.
        let keys = |value: serde_json::Value| -> Vec<String> {
            value.as_object().unwrap().keys().cloned().collect()
        };
        let listed =
            |keys: &str| -> Vec<String> { keys.split_whitespace().map(String::from).collect() };
        let order = OrderState::read(
            Message::from_pairs([
                ("out_trade_no", "T1"),
                ("trade_state", "SUCCESS"),
                ("total_fee", "1234"),
                ("time_end", "20141110163345"),
                ("fee_type", "CNY"),
            ])
            .unwrap(),
        )
        .unwrap();
        let printed = serde_json::to_value(&order).unwrap();
        assert_eq!(printed["total_fee"], 1234);
        assert_eq!(printed["total_yuan"], "12.34");
        assert_eq!(printed["paid_at"], "2014-11-10T16:33:45+08:00");
        assert_eq!(printed["cash_fee"], serde_json::Value::Null);
        assert_eq!(printed["extra"], serde_json::json!({"fee_type": "CNY"}));
        assert_eq!(
            keys(printed),
            listed(
                "out_trade_no transaction_id trade_state trade_state_desc trade_type total_fee \
                 total_yuan cash_fee settlement_total_fee coupon_fee time_end paid_at openid \
                 bank_type attach extra"
            )
        );

        let refund = RefundItem {
            out_refund_no: "R1".into(),
            refund_id: "5000".into(),
            refund_status: "SUCCESS".into(),
            refund_fee: Fen(120),
            settlement_refund_fee: None,
            coupon_refund_fee: Some(Fen(20)),
            coupons: vec![CouponRefund {
                coupon_type: Some("NO_CASH".into()),
                coupon_refund_id: None,
                coupon_refund_fee: Fen(20),
            }],
            refund_channel: None,
            refund_account: None,
            refund_recv_account: None,
            refund_success_time: None,
            extra: vec![("refund_new_0".into(), "x".into())],
        };
        let list = RefundList {
            transaction_id: None,
            out_trade_no: Some("T1".into()),
            total_fee: Some(Fen(500)),
            cash_fee: None,
            settlement_total_fee: None,
            refund_fee: Some(Fen(120)),
            refunds: vec![refund],
            extra: Vec::new(),
        };
        let printed = serde_json::to_value(&list).unwrap();
        assert_eq!(printed["refunded_fee"], 120);
        assert_eq!(printed["refund_count"], 1);
        let refund = &printed["refunds"][0];
        assert_eq!(refund["refund_yuan"], "1.20");
        assert_eq!(refund["cash_refund_fee"], 100);
        assert_eq!(
            refund["coupons"],
            serde_json::json!([{"coupon_type": "NO_CASH", "coupon_refund_id": null, "coupon_refund_fee": 20}])
        );
        assert_eq!(refund["extra"], serde_json::json!({"refund_new_0": "x"}));
        assert_eq!(
            keys(printed),
            listed(
                "out_trade_no transaction_id total_fee cash_fee settlement_total_fee \
                 refunded_fee refund_count refunds extra"
            )
        );
    }

    #[test]
    fn a_refund_answer_keeps_each_coupon_share() {
        let answer = Message::from_pairs([
            ("out_refund_no", "R1"),
            ("refund_id", "5000"),
            ("refund_fee", "120"),
            ("settlement_refund_fee", "96"),
            ("cash_refund_fee", "96"),
            ("coupon_refund_fee", "24"),
            ("coupon_refund_count", "2"),
            ("coupon_type_0", "NO_CASH"),
            ("coupon_refund_id_0", "1000000100"),
            ("coupon_refund_fee_0", "20"),
            ("coupon_type_1", "CASH"),
            ("coupon_refund_fee_1", "4"),
        ])
        .unwrap();
        let accepted = RefundAccepted::read(answer).unwrap();
        assert_eq!(accepted.coupon_refund_fee, Some(Fen(24)));
        let shares: Vec<(Option<&str>, i64)> = accepted
            .coupons
            .iter()
            .map(|c| (c.coupon_type.as_deref(), c.coupon_refund_fee.0))
            .collect();
        assert_eq!(shares, [(Some("NO_CASH"), 20), (Some("CASH"), 4)]);
        assert_eq!(accepted.coupons[1].coupon_refund_id, None);
        assert!(accepted.extra.is_empty(), "{:?}", accepted.extra);
        // A count the fields do not bear out is a payload error, not a silent gap.
        let short = Message::from_pairs([
            ("out_refund_no", "R1"),
            ("refund_id", "5000"),
            ("refund_fee", "120"),
            ("coupon_refund_count", "1"),
        ])
        .unwrap();
        assert!(matches!(
            RefundAccepted::read(short),
            Err(ClientError::Payload { field, .. }) if field == "coupon_refund_fee_0"
        ));
    }

    #[test]
    fn only_safe_requests_are_resent() {
        let refused = |code: &str| ClientError::Refused {
            code: code.into(),
            description: String::new(),
        };
        let status = ClientError::Status {
            url: String::new(),
            status: 500,
        };
        assert!(Endpoint::OrderQuery.may_resend_after(&status));
        assert!(!Endpoint::Refund.may_resend_after(&status));
        assert!(!Endpoint::UnifiedOrder.may_resend_after(&status));
        for endpoint in [
            Endpoint::UnifiedOrder,
            Endpoint::Refund,
            Endpoint::CloseOrder,
        ] {
            assert!(endpoint.may_resend_after(&refused("SYSTEMERROR")));
            assert!(!endpoint.may_resend_after(&refused("NOTENOUGH")));
            assert!(!endpoint.may_resend_after(&refused("FREQUENCY_LIMITED")));
        }
        assert!(Endpoint::Refund.may_resend_after(&refused("BIZERR_NEED_RETRY")));
        assert!(!Endpoint::OrderQuery.may_resend_after(&refused("BIZERR_NEED_RETRY")));
        assert!(!Endpoint::OrderQuery.may_resend_after(&ClientError::MissingSign));
        assert_eq!(Endpoint::Refund.name(), "refund");
    }
}
