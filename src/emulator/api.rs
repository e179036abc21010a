//! The WeChat Pay v2 endpoints: checks in the order the real server applies them (transport,
//! merchant, signature, fields, business rules) and answers in the real wire shape.

use time::{Duration, OffsetDateTime};

use super::bills::{
    FundFlowAccount, RefundDay, Scope, day_rows, fund_flow_net, merge_booked, moves_funds,
    rows_before, write_fund_flow, write_trade_bill,
};
use super::core::{Body, Call, Core, Reply, Request};
use super::faults::FaultKind;
use super::lock;
use super::outcomes::Subject;
use super::state::{
    Account, COUPON_TYPE, Order, PayOptions, Refund, RefundStatus, Refusal, TradeState, refuse,
};
use super::synth::SyntheticDay;
use crate::bill::format::BillType;
use crate::bill::format::TradeRow;
use crate::time::{api_time, bill_time, parse_api_time, parse_bill_date};
use crate::wechat::sign::{canonical, nonce_str, set_sign, verify};
use crate::wechat::xml::{FieldKind, XmlError};
use crate::wechat::{ApiKey, Fen, Message, SignType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    UnifiedOrder,
    OrderQuery,
    CloseOrder,
    Refund,
    RefundQuery,
    DownloadBill,
    DownloadFundFlow,
    GetSignKey,
}

impl Endpoint {
    /// The endpoint and whether it is the `/sandboxnew` variant.
    pub(super) fn route(path: &str) -> Option<(Endpoint, bool)> {
        let (rest, sandbox) = match path.strip_prefix("/sandboxnew") {
            Some(rest) => (rest, true),
            None => (path, false),
        };
        let endpoint = match rest {
            "/pay/unifiedorder" => Endpoint::UnifiedOrder,
            "/pay/orderquery" => Endpoint::OrderQuery,
            "/pay/closeorder" => Endpoint::CloseOrder,
            "/secapi/pay/refund" => Endpoint::Refund,
            // Some SDKs use this path for the sandbox refund (reference A7).
            "/pay/refund" if sandbox => Endpoint::Refund,
            "/pay/refundquery" => Endpoint::RefundQuery,
            "/pay/downloadbill" => Endpoint::DownloadBill,
            "/pay/downloadfundflow" => Endpoint::DownloadFundFlow,
            "/pay/getsignkey" if sandbox => Endpoint::GetSignKey,
            _ => return None,
        };
        Some((endpoint, sandbox))
    }

    fn needs_client_certificate(self) -> bool {
        matches!(self, Endpoint::Refund | Endpoint::DownloadFundFlow)
    }

    /// downloadbill words its protocol errors in English (reference A6.5).
    fn is_bill(self) -> bool {
        self == Endpoint::DownloadBill
    }
}

/// `return_code=FAIL`, unsigned: the protocol layer refused the request.
fn protocol_fail(message: &str) -> Reply {
    let mut answer = Message::new();
    answer.set("return_code", "FAIL").set("return_msg", message);
    Reply::xml(&answer)
}

/// downloadbill failures carry a numeric error_code for two of them.
fn bill_fail(message: &str, error_code: Option<&str>) -> Reply {
    let mut answer = Message::new();
    answer.set("return_code", "FAIL").set("return_msg", message);
    if let Some(code) = error_code {
        answer.set("error_code", code);
    }
    Reply::xml(&answer)
}

/// Transport-level failure messages. downloadbill's are documented (A6.5); the others are
/// the descriptions of the official error table (REQUIRE_POST_METHOD, POST_DATA_EMPTY,
/// NOT_UTF8, XML_FORMAT_ERROR); UNCONFIRMED which field real servers put them in.
fn transport_fail(endpoint: Endpoint, error: TransportError) -> Reply {
    let message = match (endpoint.is_bill(), error) {
        (true, TransportError::NotPost) => "require POST method",
        (true, TransportError::Empty) => "empty post data",
        (true, _) => "data format error",
        (false, TransportError::NotPost) => "请使用post方法",
        (false, TransportError::Empty) => "post数据为空",
        (false, TransportError::NotUtf8) => "编码格式错误",
        (false, TransportError::Malformed) => "XML格式错误",
    };
    protocol_fail(message)
}

#[derive(Debug, Clone, Copy)]
enum TransportError {
    NotPost,
    Empty,
    NotUtf8,
    Malformed,
}

/// The sub-merchant a service provider's request is for, checked against the merchants
/// file: (sub_mch_id, or empty for a merchant's own request; sub_appid). A service provider
/// trades only for its sub-merchants, so its trade requests need sub_mch_id; bills may
/// leave it out. The messages are what integrators report from real servers (受理关系不存在
/// for a sub-merchant not bound to the service provider); UNCONFIRMED in the reference.
fn sub_merchant(
    endpoint: Endpoint,
    merchant: &super::merchant::Merchant,
    message: &Message,
) -> Result<(String, Option<String>), Reply> {
    if endpoint == Endpoint::GetSignKey {
        return Ok((String::new(), None));
    }
    let bill = endpoint.is_bill();
    let sub_appid = message.non_empty("sub_appid");
    let Some(sub_mch_id) = message.non_empty("sub_mch_id") else {
        let trade = !matches!(
            endpoint,
            Endpoint::DownloadBill | Endpoint::DownloadFundFlow
        );
        if (merchant.is_service_provider() && trade) || sub_appid.is_some() {
            return Err(protocol_fail(if bill {
                "missing parameter"
            } else {
                "缺少参数sub_mch_id"
            }));
        }
        return Ok((String::new(), None));
    };
    let sub = merchant.sub_merchant(sub_mch_id).ok_or_else(|| {
        protocol_fail(if bill {
            "invalid parameter"
        } else {
            "受理关系不存在"
        })
    })?;
    if let Some(appid) = sub_appid
        && !sub.sub_appids.iter().any(|a| a == appid)
    {
        return Err(protocol_fail(if bill {
            "invalid parameter"
        } else {
            "sub_mch_id与sub_appid不匹配"
        }));
    }
    Ok((sub_mch_id.to_owned(), sub_appid.map(str::to_owned)))
}

/// Byte lengths of the String(n) fields (WeChat counts UTF-8 bytes: a Chinese body of 43
/// characters is already too long for String(128)).
const MAX_LENGTHS: [(&str, usize); 25] = [
    ("appid", 32),
    ("mch_id", 32),
    ("nonce_str", 32),
    ("device_info", 32),
    ("body", 128),
    ("detail", 6000),
    ("attach", 127),
    ("out_trade_no", 32),
    ("fee_type", 16),
    ("spbill_create_ip", 64),
    ("time_start", 14),
    ("time_expire", 14),
    ("goods_tag", 32),
    ("notify_url", 256),
    ("trade_type", 16),
    ("product_id", 32),
    ("openid", 128),
    ("scene_info", 256),
    ("transaction_id", 32),
    ("out_refund_no", 64),
    ("refund_desc", 80),
    ("refund_id", 32),
    ("sub_mch_id", 32),
    ("sub_appid", 32),
    ("sub_openid", 128),
];

fn lack(name: &str) -> Refusal {
    refuse("LACK_PARAMS", format!("缺少参数{name}"))
}

fn param_error(description: impl Into<String>) -> Refusal {
    refuse("PARAM_ERROR", description)
}

fn required<'m>(message: &'m Message, name: &str) -> Result<&'m str, Refusal> {
    message.non_empty(name).ok_or_else(|| lack(name))
}

fn check_lengths(message: &Message) -> Result<(), Refusal> {
    for (name, max) in MAX_LENGTHS {
        if message.get(name).is_some_and(|v| v.len() > max) {
            return Err(param_error(format!("{name}参数长度有误")));
        }
    }
    Ok(())
}

fn is_trade_no(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b))
}

/// Amounts are `Int` fields (32-bit in the official SDKs); the cap also keeps the sums of a
/// day's bill far from overflowing.
const MAX_AMOUNT_FEN: i64 = i32::MAX as i64;

fn amount(message: &Message, name: &str) -> Result<i64, Refusal> {
    let text = required(message, name)?;
    match Fen::parse_api(text) {
        Ok(Fen(value)) if (1..=MAX_AMOUNT_FEN).contains(&value) => Ok(value),
        _ => Err(param_error(format!("{name}参数格式错误"))),
    }
}

impl Core {
    pub(super) fn dispatch(&self, request: &Request<'_>, fault: Option<&FaultKind>) -> Reply {
        let Some((endpoint, sandbox)) = Endpoint::route(request.path) else {
            return Reply::text(404, "Not Found");
        };
        let call = match self.authenticate(endpoint, sandbox, request) {
            Ok(call) => call,
            Err(reply) => return reply,
        };
        if endpoint == Endpoint::GetSignKey {
            return self.get_sign_key(&call);
        }
        if let Some(FaultKind::SystemError) = fault {
            // downloadbill has no err_code: its failures are protocol-level (reference A6.5).
            if endpoint == Endpoint::DownloadBill {
                return bill_fail("SYSTEMERROR", None);
            }
            return self.answer(&call, Err(refuse("SYSTEMERROR", "系统错误")), false);
        }
        if let Some(refusal) = self.outcome_for(endpoint, &call) {
            return self.answer(&call, Err(refusal), endpoint == Endpoint::RefundQuery);
        }
        let now = self.clock.now();
        let bill_creating = matches!(fault, Some(FaultKind::BillCreating));
        let mut reply = match endpoint {
            Endpoint::UnifiedOrder => {
                let result = self.unified_order(&call, now, None);
                self.answer(&call, result, false)
            }
            Endpoint::OrderQuery => {
                let result = self.order_query(&call, now);
                self.answer(&call, result, false)
            }
            Endpoint::CloseOrder => {
                let result = self.close_order(&call, now);
                self.answer(&call, result, false)
            }
            Endpoint::Refund => {
                let result = self.refund(&call, now, None);
                self.answer(&call, result, false)
            }
            Endpoint::RefundQuery => {
                let result = self.refund_query(&call, now);
                self.answer(&call, result, true)
            }
            Endpoint::DownloadBill => self.download_bill(&call, now, bill_creating),
            Endpoint::DownloadFundFlow => self.download_fund_flow(&call, now, bill_creating),
            Endpoint::GetSignKey => unreachable!("answered above"),
        };
        match fault {
            Some(FaultKind::BadSign) => corrupt_sign(&mut reply),
            Some(FaultKind::ForeignAnswer) => {
                resign(&mut reply, &call.key, call.sign_type, |answer| {
                    readdress(answer, &call.message)
                })
            }
            Some(FaultKind::Md5Answer) => resign(&mut reply, &call.key, SignType::Md5, |answer| {
                answer.set("sign_type", "MD5");
            }),
            _ => {}
        }
        reply
    }

    /// The err_code asked for on the control plane, if this request is about an order or a
    /// refund that one is waiting for.
    pub(super) fn outcome_for(&self, endpoint: Endpoint, call: &Call<'_>) -> Option<Refusal> {
        if matches!(
            endpoint,
            Endpoint::DownloadBill | Endpoint::DownloadFundFlow | Endpoint::GetSignKey
        ) || lock(&self.outcomes).is_empty()
        {
            return None;
        }
        let m = &call.message;
        let account = &call.account;
        let mut subject = Subject {
            mch_id: &account.mch_id,
            out_trade_no: m.non_empty("out_trade_no").map(str::to_owned),
            out_refund_no: m.non_empty("out_refund_no").map(str::to_owned),
        };
        {
            // A request may name its refund or order by WeChat's number only.
            let ledger = lock(self.ledger(call.sandbox));
            let refund = match (m.non_empty("refund_id"), &subject.out_refund_no) {
                (Some(id), None) => ledger.refund_by_id(id).filter(|r| &r.account() == account),
                (_, Some(no)) => ledger.refund_by_out_no(account, no),
                (None, None) => None,
            };
            if let Some(refund) = refund {
                subject.out_refund_no = Some(refund.out_refund_no.clone());
                subject.out_trade_no = Some(refund.out_trade_no.clone());
            }
            if subject.out_trade_no.is_none()
                && let Some(order) = m
                    .non_empty("transaction_id")
                    .and_then(|id| ledger.order_by_transaction(id))
                    .filter(|o| &o.account() == account)
            {
                subject.out_trade_no = Some(order.out_trade_no.clone());
            }
        }
        lock(&self.outcomes).take_refusal(endpoint, &subject)
    }

    /// Transport, merchant, certificate and signature checks, in the real server's order.
    fn authenticate<'a>(
        &'a self,
        endpoint: Endpoint,
        sandbox: bool,
        request: &Request<'_>,
    ) -> Result<Call<'a>, Reply> {
        if request.method != "POST" {
            return Err(transport_fail(endpoint, TransportError::NotPost));
        }
        if request.body.iter().all(u8::is_ascii_whitespace) {
            return Err(transport_fail(endpoint, TransportError::Empty));
        }
        let message = Message::parse(request.body).map_err(|e| {
            let kind = match e {
                XmlError::NotUtf8(_) => TransportError::NotUtf8,
                _ => TransportError::Malformed,
            };
            transport_fail(endpoint, kind)
        })?;
        let bill = endpoint.is_bill();
        let mch_id = message.non_empty("mch_id").ok_or_else(|| {
            protocol_fail(if bill {
                "missing parameter"
            } else {
                "缺少参数mch_id"
            })
        })?;
        let merchant = self.merchant(mch_id).ok_or_else(|| {
            protocol_fail(if bill {
                "invalid parameter"
            } else {
                "商户号mch_id不存在"
            })
        })?;
        // getsignkey carries no appid.
        let appid = if endpoint == Endpoint::GetSignKey {
            String::new()
        } else {
            let appid = message.non_empty("appid").ok_or_else(|| {
                protocol_fail(if bill {
                    "missing parameter"
                } else {
                    "缺少参数appid"
                })
            })?;
            if !merchant.appids.iter().any(|a| a == appid) {
                return Err(protocol_fail(if bill {
                    "invalid appid"
                } else {
                    "appid和mch_id不匹配"
                }));
            }
            appid.to_owned()
        };
        // UNCONFIRMED: how real servers refuse a missing or foreign client certificate; a
        // protocol-level FAIL is what SDKs surface.
        if endpoint.needs_client_certificate() {
            match request.client_cert_cn {
                None => return Err(protocol_fail("证书不存在，请使用商户API证书双向认证")),
                Some(cn) if cn != merchant.mch_id => {
                    return Err(protocol_fail("证书与商户号不匹配"));
                }
                Some(_) => {}
            }
        }
        let sign_type = match message.non_empty("sign_type") {
            None => SignType::Md5,
            Some(text) => text.parse::<SignType>().map_err(|_| {
                protocol_fail(if bill {
                    "invalid parameter"
                } else {
                    "sign_type参数格式错误"
                })
            })?,
        };
        // getsignkey is MD5-signed (reference A7).
        if endpoint == Endpoint::GetSignKey && sign_type != SignType::Md5 {
            return Err(protocol_fail("sign_type参数格式错误"));
        }
        if endpoint == Endpoint::DownloadFundFlow && sign_type != SignType::HmacSha256 {
            return Err(protocol_fail("sign_type必须为HMAC-SHA256"));
        }
        // getsignkey is signed with the production key; every other sandbox call with the
        // sandbox key it hands out.
        let key = if sandbox && endpoint != Endpoint::GetSignKey {
            merchant.sandbox_key()
        } else {
            merchant.key.clone()
        };
        let sign_ok = merchant.sign_types.contains(&sign_type)
            && verify(&message, &key, Some(sign_type)).is_ok_and(|v| v.valid);
        if !sign_ok {
            return Err(protocol_fail(if bill {
                "SIGN ERROR"
            } else {
                "签名错误"
            }));
        }
        if message.get("nonce_str").is_some_and(|n| n.len() > 32) {
            return Err(protocol_fail(if bill {
                "nonce_str too long"
            } else {
                "nonce_str参数长度有误"
            }));
        }
        let (sub_mch_id, sub_appid) = sub_merchant(endpoint, merchant, &message)?;
        Ok(Call {
            merchant,
            account: Account {
                mch_id: merchant.mch_id.clone(),
                sub_mch_id,
            },
            appid,
            sub_appid,
            sign_type,
            key,
            message,
            sandbox,
        })
    }

    /// A signed answer: the common fields, then either the payload or err_code.
    /// Service-provider answers echo sub_appid and sub_mch_id.
    fn answer(
        &self,
        call: &Call<'_>,
        result: Result<Message, Refusal>,
        alphabetical: bool,
    ) -> Reply {
        Reply::xml(&self.answer_message(call, result, alphabetical))
    }

    /// The message `answer` sends.
    pub(super) fn answer_message(
        &self,
        call: &Call<'_>,
        result: Result<Message, Refusal>,
        alphabetical: bool,
    ) -> Message {
        let mut answer = Message::new();
        answer
            .set("return_code", "SUCCESS")
            .set("return_msg", "OK")
            .set("appid", &call.appid)
            .set("mch_id", &call.merchant.mch_id);
        if let Some(sub_appid) = &call.sub_appid {
            answer.set("sub_appid", sub_appid);
        }
        if !call.account.sub_mch_id.is_empty() {
            answer.set("sub_mch_id", &call.account.sub_mch_id);
        }
        if call.sandbox {
            answer.set("device_info", "sandbox");
        }
        answer.set("nonce_str", &nonce_str()[..16]).set("sign", "");
        match result {
            Ok(payload) => {
                answer.set("result_code", "SUCCESS");
                if call.sandbox {
                    // The sandbox's quirk (reference A2.1).
                    answer.set("err_code", "SUCCESS").set("err_code_des", "ok");
                }
                for field in payload.fields() {
                    // The sandbox's canned device_info stands where the order has none of
                    // its own; one the merchant sent is kept as sent.
                    if call.sandbox && field.name == "device_info" && field.value.is_empty() {
                        continue;
                    }
                    match field.kind {
                        FieldKind::Int => {
                            answer.set_int(&field.name, field.value.parse().unwrap_or(0))
                        }
                        FieldKind::Text => answer.set(&field.name, &field.value),
                    };
                }
            }
            Err(refusal) => {
                answer
                    .set("result_code", "FAIL")
                    .set("err_code", refusal.code)
                    .set("err_code_des", refusal.description);
            }
        }
        if alphabetical {
            answer.sort_by_name();
        }
        set_sign(&mut answer, &call.key, call.sign_type);
        answer
    }

    fn get_sign_key(&self, call: &Call<'_>) -> Reply {
        let mut answer = Message::new();
        answer
            .set("return_code", "SUCCESS")
            .set("return_msg", "ok")
            .set("mch_id", &call.merchant.mch_id)
            .set("sandbox_signkey", call.merchant.sandbox_key().expose());
        Reply::xml(&answer)
    }

    /// A unified order; one placed by cloud pay names the `cloud_function` that gets its
    /// result, and has no notify_url.
    pub(super) fn unified_order(
        &self,
        call: &Call<'_>,
        now: OffsetDateTime,
        cloud_function: Option<&str>,
    ) -> Result<Message, Refusal> {
        let m = &call.message;
        for name in [
            "body",
            "out_trade_no",
            "total_fee",
            "spbill_create_ip",
            "notify_url",
            "trade_type",
        ] {
            if name != "notify_url" || cloud_function.is_none() {
                required(m, name)?;
            }
        }
        check_lengths(m)?;
        let out_trade_no = required(m, "out_trade_no")?;
        if !is_trade_no(out_trade_no) {
            return Err(param_error("out_trade_no参数格式错误"));
        }
        let total_fee = amount(m, "total_fee")?;
        if m.non_empty("fee_type").is_some_and(|f| f != "CNY") {
            return Err(param_error("fee_type参数格式错误"));
        }
        let notify_url = match cloud_function {
            // A cloud-pay order's result goes to its cloud function.
            Some(_) => "",
            None => {
                let url = required(m, "notify_url")?;
                if !crate::wechat::is_http_url(url) || url.contains('?') {
                    return Err(param_error(
                        "notify_url参数格式错误，必须为不带参数的http(s)地址",
                    ));
                }
                url
            }
        };
        let trade_type = required(m, "trade_type")?;
        let condition = match trade_type {
            "JSAPI" => "openid",
            "NATIVE" => "product_id",
            "MWEB" => "scene_info",
            "APP" => "",
            _ => return Err(param_error("trade_type参数格式错误")),
        };
        // In service-provider mode the payer may be named under sub_appid instead
        // (reference A2.1), which needs the sub_appid too (UNCONFIRMED wording).
        let sub_openid = m.non_empty("sub_openid");
        if sub_openid.is_some() && call.sub_appid.is_none() {
            return Err(param_error("sub_openid需与sub_appid一起传"));
        }
        let named_under_sub_appid = condition == "openid" && sub_openid.is_some();
        if !condition.is_empty() && m.non_empty(condition).is_none() && !named_under_sub_appid {
            return Err(param_error(format!("{trade_type}支付必须传{condition}")));
        }
        let parse_time = |name: &str| -> Result<Option<OffsetDateTime>, Refusal> {
            m.non_empty(name)
                .map(|text| {
                    parse_api_time(text).ok_or_else(|| param_error(format!("{name}参数格式错误")))
                })
                .transpose()
        };
        let time_start = parse_time("time_start")?.unwrap_or(now);
        let expires_at = match parse_time("time_expire")? {
            // Five minutes after time_start, and in any case not already past.
            Some(expire) if expire < time_start + Duration::minutes(5) || expire <= now => {
                return Err(param_error("time_expire时间过短，刷卡至少1分钟，其他5分钟"));
            }
            Some(expire) => expire,
            None => now + self.options.unpaid_lifetime,
        };
        let business = m
            .pairs()
            .filter(|(name, _)| !matches!(*name, "nonce_str" | "sign" | "sign_type"));
        let order = Order {
            mch_id: call.merchant.mch_id.clone(),
            sub_mch_id: call.account.sub_mch_id.clone(),
            appid: call.appid.clone(),
            sub_appid: call.sub_appid.clone().unwrap_or_default(),
            out_trade_no: out_trade_no.to_owned(),
            body: m.get("body").unwrap_or("").to_owned(),
            attach: m.get("attach").unwrap_or("").to_owned(),
            device_info: m.get("device_info").unwrap_or("").to_owned(),
            total_fee,
            trade_type: trade_type.to_owned(),
            openid: m.get("openid").unwrap_or("").to_owned(),
            sub_openid: sub_openid.unwrap_or("").to_owned(),
            product_id: m.get("product_id").unwrap_or("").to_owned(),
            notify_url: notify_url.to_owned(),
            cloud_function: cloud_function.map(str::to_owned),
            prepay_id: String::new(),
            sign_type: call.sign_type,
            v3: false,
            created_at: now,
            expires_at,
            state: TradeState::NotPay,
            payment: None,
            fingerprint: canonical(business).string,
        };
        let prepay_id = lock(self.ledger(call.sandbox)).place(order, now)?;
        if call.sandbox {
            // The sandbox plays the payer itself: its orders are paid, and notified, at once
            // (reference A7). A repeated request finds the order paid already.
            let payer = PayOptions {
                coupon_fee: sandbox_coupon(total_fee, trade_type),
                ..PayOptions::default()
            };
            let _ = self.pay_in(true, &call.account, out_trade_no, &payer);
        }
        let mut payload = Message::new();
        if let Some(device) = m.non_empty("device_info") {
            payload.set("device_info", device);
        }
        payload
            .set("prepay_id", &prepay_id)
            .set("trade_type", trade_type);
        match trade_type {
            "NATIVE" => {
                payload.set(
                    "code_url",
                    format!(
                        "weixin://wxpay/bizpayurl?pr={}",
                        &prepay_id[prepay_id.len() - 7..]
                    ),
                );
            }
            "MWEB" => {
                payload.set(
                    "mweb_url",
                    format!("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay_id}&package=1037687096"),
                );
            }
            _ => {}
        }
        Ok(payload)
    }

    pub(super) fn order_query(
        &self,
        call: &Call<'_>,
        now: OffsetDateTime,
    ) -> Result<Message, Refusal> {
        let m = &call.message;
        let transaction_id = m.non_empty("transaction_id");
        let out_trade_no = m.non_empty("out_trade_no");
        if transaction_id.is_none() && out_trade_no.is_none() {
            return Err(lack("out_trade_no"));
        }
        check_lengths(m)?;
        let mut ledger = lock(self.ledger(call.sandbox));
        let order = ledger
            .find(&call.account, transaction_id, out_trade_no, now)
            .ok_or_else(|| refuse("ORDERNOTEXIST", "订单不存在"))?;
        Ok(order_fields(order))
    }

    pub(super) fn close_order(
        &self,
        call: &Call<'_>,
        now: OffsetDateTime,
    ) -> Result<Message, Refusal> {
        let out_trade_no = required(&call.message, "out_trade_no")?;
        lock(self.ledger(call.sandbox)).close(
            &call.account,
            out_trade_no,
            self.close_after(),
            now,
        )?;
        let mut payload = Message::new();
        payload.set("result_msg", "OK");
        Ok(payload)
    }

    /// A refund; one applied for by cloud pay may name the `cloud_function` that gets its
    /// result.
    pub(super) fn refund(
        &self,
        call: &Call<'_>,
        now: OffsetDateTime,
        cloud_function: Option<&str>,
    ) -> Result<Message, Refusal> {
        let m = &call.message;
        let transaction_id = m.non_empty("transaction_id");
        let out_trade_no = m.non_empty("out_trade_no");
        if transaction_id.is_none() && out_trade_no.is_none() {
            return Err(lack("out_trade_no"));
        }
        let out_refund_no = required(m, "out_refund_no")?;
        check_lengths(m)?;
        if !is_trade_no(out_refund_no) {
            return Err(param_error("out_refund_no参数格式错误"));
        }
        let total_fee = amount(m, "total_fee")?;
        let refund_fee = amount(m, "refund_fee")?;
        let refund_account = m
            .non_empty("refund_account")
            .unwrap_or("REFUND_SOURCE_UNSETTLED_FUNDS");
        if !matches!(
            refund_account,
            "REFUND_SOURCE_UNSETTLED_FUNDS" | "REFUND_SOURCE_RECHARGE_FUNDS"
        ) {
            return Err(param_error("refund_account参数格式错误"));
        }
        let refund = lock(self.ledger(call.sandbox)).refund(
            &call.account,
            transaction_id,
            out_trade_no,
            out_refund_no,
            total_fee,
            refund_fee,
            refund_account,
            m.get("notify_url").unwrap_or(""),
            cloud_function,
            call.sign_type,
            now,
        )?;
        let mut payload = Message::new();
        payload
            .set("transaction_id", &refund.transaction_id)
            .set("out_trade_no", &refund.out_trade_no)
            .set("out_refund_no", &refund.out_refund_no)
            .set("refund_id", &refund.refund_id)
            .set("refund_channel", "")
            .set_int("refund_fee", refund.refund_fee)
            .set_int("settlement_refund_fee", refund.settlement_refund_fee())
            .set_int("total_fee", refund.total_fee)
            .set_int("settlement_total_fee", refund.settlement_total_fee())
            .set("fee_type", "CNY")
            .set_int("cash_fee", refund.settlement_total_fee())
            .set_int("cash_refund_fee", refund.settlement_refund_fee());
        if refund.coupon_refund_fee > 0 {
            payload
                .set_int("coupon_refund_fee", refund.coupon_refund_fee)
                .set_int("coupon_refund_count", 1)
                .set("coupon_type_0", COUPON_TYPE)
                .set_int("coupon_refund_fee_0", refund.coupon_refund_fee)
                .set("coupon_refund_id_0", &refund.coupon_id);
        }
        Ok(payload)
    }

    pub(super) fn refund_query(
        &self,
        call: &Call<'_>,
        now: OffsetDateTime,
    ) -> Result<Message, Refusal> {
        let m = &call.message;
        let keys = [
            "refund_id",
            "out_refund_no",
            "transaction_id",
            "out_trade_no",
        ]
        .map(|k| m.non_empty(k));
        if keys.iter().all(Option::is_none) {
            return Err(lack("out_trade_no"));
        }
        check_lengths(m)?;
        let offset = match m.non_empty("offset") {
            None => None,
            Some(text) => Some(
                text.parse::<usize>()
                    .map_err(|_| param_error("offset参数格式错误"))?,
            ),
        };
        let not_found = || refuse("REFUNDNOTEXIST", "退款订单查询失败");
        let (order, refunds) = lock(self.ledger(call.sandbox))
            .query_refunds(&call.account, keys[0], keys[1], keys[2], keys[3], now)
            .ok_or_else(not_found)?;
        const PAGE: usize = 10;
        let start = offset.unwrap_or(0);
        if start >= refunds.len() {
            return Err(not_found());
        }
        let page: &[Refund] = &refunds[start..refunds.len().min(start + PAGE)];
        let mut payload = Message::new();
        let payment = order.payment.as_ref();
        let coupon_fee = payment.map_or(0, |p| p.coupon_fee);
        payload
            .set(
                "transaction_id",
                payment.map(|p| p.transaction_id.as_str()).unwrap_or(""),
            )
            .set("out_trade_no", &order.out_trade_no)
            // Real refund-query answers put these two in CDATA (reference A2).
            .set("total_fee", order.total_fee.to_string())
            .set("cash_fee", (order.total_fee - coupon_fee).to_string());
        if coupon_fee > 0 {
            payload.set_int("settlement_total_fee", order.total_fee - coupon_fee);
        }
        payload
            .set_int("refund_count", page.len() as i64)
            // The order's refunded total, on every page; a closed refund moved nothing, so
            // it is listed below with its status but not counted here.
            .set_int(
                "refund_fee",
                refunds
                    .iter()
                    .filter(|r| r.counts())
                    .map(|r| r.refund_fee)
                    .sum(),
            );
        if offset.is_some() || refunds.len() > PAGE {
            payload.set_int("total_refund_count", refunds.len() as i64);
        }
        for (n, refund) in page.iter().enumerate() {
            payload
                .set(&format!("out_refund_no_{n}"), &refund.out_refund_no)
                .set(&format!("refund_id_{n}"), &refund.refund_id)
                .set(&format!("refund_channel_{n}"), "ORIGINAL")
                .set_int(&format!("refund_fee_{n}"), refund.refund_fee)
                .set_int(
                    &format!("settlement_refund_fee_{n}"),
                    refund.settlement_refund_fee(),
                )
                .set(&format!("refund_status_{n}"), refund.status.as_str())
                .set(&format!("refund_account_{n}"), &refund.refund_account)
                .set(
                    &format!("refund_recv_accout_{n}"),
                    super::state::REFUND_RECEIVED_INTO,
                );
            if refund.coupon_refund_fee > 0 {
                payload
                    .set_int(&format!("coupon_refund_fee_{n}"), refund.coupon_refund_fee)
                    .set_int(&format!("coupon_refund_count_{n}"), 1)
                    .set(&format!("coupon_type_{n}_0"), COUPON_TYPE)
                    .set(&format!("coupon_refund_id_{n}_0"), &refund.coupon_id)
                    .set_int(
                        &format!("coupon_refund_fee_{n}_0"),
                        refund.coupon_refund_fee,
                    );
            }
            if let (RefundStatus::Success, Some(at)) = (refund.status, refund.success_time) {
                payload.set(&format!("refund_success_time_{n}"), bill_time(at));
            }
        }
        Ok(payload)
    }

    /// Checks bill_date against the emulator's clock: malformed, today or later, or older
    /// than three months is invalid; yesterday before 10:00 is still being created.
    fn bill_day(
        &self,
        text: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<time::Date, BillDayError> {
        let day =
            parse_bill_date(text.ok_or(BillDayError::Missing)?).ok_or(BillDayError::Invalid)?;
        let today = now.date();
        if day >= today || day < three_months_before(today) {
            return Err(BillDayError::Invalid);
        }
        let ready_at = day
            .next_day()
            .and_then(|d| d.with_hms(10, 0, 0).ok())
            .map(|d| d.assume_offset(crate::time::BEIJING))
            .ok_or(BillDayError::Invalid)?;
        if now < ready_at {
            return Err(BillDayError::Creating);
        }
        Ok(day)
    }

    pub(super) fn download_bill(
        &self,
        call: &Call<'_>,
        now: OffsetDateTime,
        creating: bool,
    ) -> Reply {
        let m = &call.message;
        let type_text = m.non_empty("bill_type").unwrap_or("ALL");
        let Some(bill_type) = BillType::parse(type_text) else {
            return bill_fail("invalid bill_type", None);
        };
        let gzip = match m.non_empty("tar_type") {
            None => false,
            Some("GZIP") => true,
            Some(_) => return bill_fail("invalid tar_type, Only GZIP supported", None),
        };
        let day = match self.bill_day(m.non_empty("bill_date"), now) {
            Ok(_) if creating => return bill_fail("Bill Creating", None),
            Ok(day) => day,
            Err(BillDayError::Missing) => return bill_fail("missing parameter", None),
            Err(BillDayError::Invalid) => return bill_fail("invalid bill_date", Some("20001")),
            Err(BillDayError::Creating) => return bill_fail("Bill Creating", None),
        };
        // The emulator issues no recharge coupons, so there is never a RECHARGE_REFUND bill.
        if bill_type == BillType::RechargeRefund {
            return bill_fail("No Bill Exist", Some("20002"));
        }
        // A service provider's bill holds its sub-merchants' trades, or one sub-merchant's
        // when the request names it (UNCONFIRMED which of the two real servers give without
        // sub_mch_id; the trade bill's 特约商户号 column exists for the first).
        let scope = Scope {
            mch_id: &call.account.mch_id,
            sub_mch_id: call.message.non_empty("sub_mch_id"),
        };
        let (rows, synthetic) = self.day_sources(call, &scope, day, RefundDay::Applied);
        if synthetic.is_none() && !rows.iter().any(|row| bill_type.includes(row)) {
            return bill_fail("No Bill Exist", Some("20002"));
        }
        let rate = self.options.fee_rate;
        let streamed = synthetic.is_some();
        bill_reply(
            move |out| {
                let synthetic_rows = synthetic.into_iter().flat_map(move |d| d.into_rows(rate));
                write_trade_bill(out, bill_type, synthetic_rows.chain(rows)).map(drop)
            },
            gzip,
            streamed,
        )
    }

    /// The emulator's own rows of a day in `scope`, and the synthetic day of that date if
    /// there is one.
    fn day_sources(
        &self,
        call: &Call<'_>,
        scope: &Scope<'_>,
        day: time::Date,
        refund_day: RefundDay,
    ) -> (Vec<TradeRow>, Option<SyntheticDay>) {
        let rows = day_rows(
            &lock(self.ledger(call.sandbox)),
            scope,
            day,
            self.options.fee_rate,
            refund_day,
        );
        // Synthetic days are production data, a merchant's own trades; the sandbox has only
        // its own trades.
        let synthetic = lock(&self.synthetic)
            .iter()
            .find(|d| {
                !call.sandbox
                    && scope.includes(&d.mch_id, "")
                    && d.date() == Some(day)
                    && d.trades > 0
            })
            .cloned();
        (rows, synthetic)
    }

    pub(super) fn download_fund_flow(
        &self,
        call: &Call<'_>,
        now: OffsetDateTime,
        creating: bool,
    ) -> Reply {
        let m = &call.message;
        let fail = |code: &'static str, description: &str| {
            self.answer(call, Err(refuse(code, description)), false)
        };
        let account = m.non_empty("account_type");
        if !matches!(account, Some("Basic" | "Operation" | "Fees")) {
            return fail(
                "PARAM_ERROR",
                "account_type参数错误，可选值为Basic、Operation、Fees",
            );
        }
        let gzip = match m.non_empty("tar_type") {
            None => false,
            Some("GZIP") => true,
            Some(_) => return fail("PARAM_ERROR", "tar_type参数错误"),
        };
        let day = match self.bill_day(m.non_empty("bill_date"), now) {
            Ok(_) if creating => {
                return fail("BILL_CREATING", "账单生成中，请在上午10点以后再下载");
            }
            Ok(day) => day,
            Err(BillDayError::Missing) => return fail("PARAM_ERROR", "缺少参数bill_date"),
            Err(BillDayError::Invalid) => return fail("PARAM_ERROR", "bill_date参数错误"),
            Err(BillDayError::Creating) => {
                return fail("BILL_CREATING", "账单生成中，请在上午10点以后再下载");
            }
        };
        // Money lands in the account that traded: a sub-merchant's, or the merchant's own.
        let scope = Scope::account(&call.account);
        let (rows, synthetic) = self.day_sources(call, &scope, day, RefundDay::Succeeded);
        // All money of the emulator moves through the Basic account.
        let moved = synthetic.is_some() || rows.iter().any(moves_funds);
        if account != Some("Basic") || !moved {
            return fail("NO_BILL_EXIST", "该日期无资金流水");
        }
        let rate = self.options.fee_rate;
        let book = FundFlowAccount {
            mch_id: call.merchant.mch_id.clone(),
            account: call.account.clone(),
            day,
            opening: self.opening_balance(call, &scope, day),
        };
        let streamed = synthetic.is_some();
        bill_reply(
            move |out| {
                // Rows in the order they were booked, so that the balance runs in it.
                let synthetic_rows = synthetic
                    .into_iter()
                    .flat_map(move |d| d.into_booked_rows(rate));
                write_fund_flow(out, merge_booked(synthetic_rows, rows.into_iter()), &book)
            },
            gzip,
            streamed,
        )
    }
}

impl Core {
    /// The Basic account's balance at the start of `day`: every earlier movement of the
    /// emulator's own trades and of earlier synthetic days. The account starts empty.
    fn opening_balance(&self, call: &Call<'_>, scope: &Scope<'_>, day: time::Date) -> i64 {
        let rate = self.options.fee_rate;
        let earlier = rows_before(&lock(self.ledger(call.sandbox)), scope, day, rate);
        let own = fund_flow_net(earlier.into_iter());
        if call.sandbox {
            return own;
        }
        let earlier_days: Vec<SyntheticDay> = lock(&self.synthetic)
            .iter()
            .filter(|d| scope.includes(&d.mch_id, "") && d.date().is_some_and(|date| date < day))
            .cloned()
            .collect();
        own + earlier_days
            .into_iter()
            .map(|d| self.synthetic_net(d))
            .sum::<i64>()
    }

    /// A synthetic day's net movement, computed from its rows the first time it is needed.
    fn synthetic_net(&self, day: SyntheticDay) -> i64 {
        if let Some(&net) = lock(&self.synthetic_nets).get(&day) {
            return net;
        }
        let net = fund_flow_net(day.clone().into_rows(self.options.fee_rate));
        lock(&self.synthetic_nets).insert(day, net);
        net
    }
}

/// The coupon the sandbox's payer uses: in acceptance case 1003 (reference A7), a JSAPI,
/// APP or NATIVE order of 5.51 is paid with a 0.01 coupon and 5.50 in cash.
fn sandbox_coupon(total_fee: i64, trade_type: &str) -> Option<i64> {
    (total_fee == 551 && matches!(trade_type, "JSAPI" | "APP" | "NATIVE")).then_some(1)
}

enum BillDayError {
    Missing,
    Invalid,
    Creating,
}

/// The same day three calendar months earlier (the last day of that month when shorter):
/// bills older than that are not served by the API (reference A6.2).
fn three_months_before(today: time::Date) -> time::Date {
    let months = today.year() * 12 + today.month() as i32 - 1 - 3;
    let (year, month) = (months.div_euclid(12), months.rem_euclid(12) as u8 + 1);
    let month = time::Month::try_from(month).expect("1 to 12");
    let day = today.day().min(month.length(year));
    time::Date::from_calendar_date(year, month, day).expect("a valid calendar date")
}

/// A bill answer, gzip-compressed on `tar_type=GZIP`. A synthetic day's bill is `streamed`:
/// written as it is sent, never held whole; the emulator's own few rows are rendered at once.
fn bill_reply(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send + 'static,
    gzip: bool,
    streamed: bool,
) -> Reply {
    let body = move |out: &mut dyn std::io::Write| -> std::io::Result<()> {
        if gzip {
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            write(&mut encoder)?;
            encoder.finish().map(drop)
        } else {
            write(out)
        }
    };
    let body = if streamed {
        Body::Stream(Box::new(body))
    } else {
        let mut bytes = Vec::new();
        body(&mut bytes).expect("writing to memory cannot fail");
        Body::Bytes(bytes)
    };
    Reply {
        status: 200,
        content_type: if gzip {
            "application/x-gzip"
        } else {
            "text/plain"
        },
        body,
        headers: Vec::new(),
        transport: None,
    }
}

/// The orderquery payload for an order in its current state.
fn order_fields(order: &Order) -> Message {
    let mut payload = Message::new();
    payload.set("device_info", &order.device_info);
    if let Some(payment) = &order.payment {
        payload
            .set("openid", &payment.openid)
            .set("is_subscribe", &payment.is_subscribe);
        if !order.sub_appid.is_empty() {
            payload
                .set("sub_openid", &payment.sub_openid)
                .set("sub_is_subscribe", "N");
        }
        payload
            .set("trade_type", &order.trade_type)
            .set("bank_type", &payment.bank_type)
            .set_int("total_fee", order.total_fee)
            .set("fee_type", "CNY")
            .set("transaction_id", &payment.transaction_id)
            .set("out_trade_no", &order.out_trade_no)
            .set("attach", &order.attach)
            .set("time_end", api_time(payment.time_end))
            .set("trade_state", order.state.as_str());
        order.set_paid_amounts(&mut payload);
        payload.set("trade_state_desc", order.state.description());
    } else {
        payload
            .set_int("total_fee", order.total_fee)
            .set("out_trade_no", &order.out_trade_no)
            .set("attach", &order.attach)
            .set("trade_state", order.state.as_str())
            .set("trade_state_desc", order.state.description());
    }
    payload
}

/// The answer changed by `change`, then signed again as the fault says.
fn resign(reply: &mut Reply, key: &ApiKey, sign_type: SignType, change: impl FnOnce(&mut Message)) {
    if let Some(Ok(mut answer)) = reply.body.bytes().map(Message::parse) {
        change(&mut answer);
        set_sign(&mut answer, key, sign_type);
        reply.body = Body::Bytes(answer.to_xml().into_bytes());
    }
}

/// Names another order or refund wherever the answer names the request's (an answer that
/// names none, as closeorder's, is given the other one).
fn readdress(answer: &mut Message, request: &Message) {
    for field in [
        "out_trade_no",
        "transaction_id",
        "out_refund_no",
        "refund_id",
    ] {
        let Some(sent) = request.non_empty(field) else {
            continue;
        };
        let indexed = |name: &str| {
            name.strip_prefix(field)
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        let mut named: Vec<(String, String)> = answer
            .pairs()
            .filter(|(name, value)| !value.is_empty() && (*name == field || indexed(name)))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        if named.is_empty() {
            named.push((field.to_owned(), sent.to_owned()));
        }
        for (name, value) in named {
            // The last character changed: the same shape, another number.
            let mut other = value;
            let last = other.pop().unwrap_or('0');
            other.push(if last == '0' { '1' } else { '0' });
            answer.set(&name, other);
        }
    }
}

fn corrupt_sign(reply: &mut Reply) {
    if let Some(Ok(mut answer)) = reply.body.bytes().map(Message::parse)
        && let Some(sign) = answer.get("sign").map(str::to_owned)
    {
        let flipped: String = sign
            .chars()
            .map(|c| if c == '0' { '1' } else { '0' })
            .collect();
        answer.set("sign", flipped);
        reply.body = Body::Bytes(answer.to_xml().into_bytes());
    }
}
