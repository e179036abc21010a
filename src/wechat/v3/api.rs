//! The typed merchant API on v3 (reference B4): the requests v2's typed requests become, and
//! v3's answers read into the same typed values v2's are read into, so that a command prints
//! the same record whichever API it spoke. Amounts stay in fen; times are read from RFC 3339
//! into the protocol's `yyyyMMddHHmmss` in Beijing time, as v2 gives them.

use serde_json::{Map, Value, json};

use super::client::V3Prepared;
use crate::wechat::Fen;
use crate::wechat::api::{
    CouponRefund, Endpoint, Extra, OrderKey, OrderState, Prepay, RefundAccepted, RefundAccount,
    RefundItem, RefundKey, RefundList, RefundRequest, RequestError, TradeType, UnifiedOrder,
};
use crate::wechat::client::ClientError;

/// Characters left as they are in a path segment; an order number's `|`, `*` and `@` are
/// escaped, as the SDKs escape them.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

fn prepared(
    endpoint: Endpoint,
    method: &'static str,
    path: String,
    body: Option<Value>,
    binding: Vec<(&'static str, String)>,
) -> V3Prepared {
    V3Prepared {
        endpoint,
        method,
        path,
        body: body.map(|b| b.to_string()).unwrap_or_default(),
        binding,
    }
}

/// `GET /v3/pay/transactions/{id|out-trade-no}/…?mchid=`.
pub fn order_query(key: &OrderKey, mch_id: &str) -> V3Prepared {
    let (kind, field, number) = match key {
        OrderKey::OutTradeNo(number) => ("out-trade-no", "out_trade_no", number),
        OrderKey::TransactionId(id) => ("id", "transaction_id", id),
    };
    let mchid: String = form_urlencoded::byte_serialize(mch_id.as_bytes()).collect();
    let path = format!(
        "/v3/pay/transactions/{kind}/{}?mchid={mchid}",
        segment(number)
    );
    // Not the appid: a merchant's orders are placed under any of its apps, and the query
    // names only the merchant.
    let binding = vec![("mchid", mch_id.to_owned()), (field, number.clone())];
    prepared(Endpoint::OrderQuery, "GET", path, None, binding)
}

/// `POST /v3/pay/transactions/out-trade-no/{no}/close`: 204, no body.
pub fn close_order(out_trade_no: &str, mch_id: &str) -> V3Prepared {
    let path = format!(
        "/v3/pay/transactions/out-trade-no/{}/close",
        segment(out_trade_no)
    );
    let body = json!({ "mchid": mch_id });
    prepared(Endpoint::CloseOrder, "POST", path, Some(body), Vec::new())
}

/// Why an order v2 can place cannot be placed on v3 as it stands.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum V3OrderError {
    #[error(
        "API v3 has no product_id: a NATIVE order's QR code is the order itself; leave --product-id out"
    )]
    ProductId,
    #[error("service-provider orders (sub_mch_id) are not made on API v3 by this tool yet")]
    Partner,
    #[error("scene_info {0:?} is not JSON, or (H5) has no h5_info object")]
    SceneInfo(String),
    #[error(
        "API v3 finds a refund by its out_refund_no only, not by {0}; to list an order's refunds, use API v2"
    )]
    RefundKey(&'static str),
    #[error(transparent)]
    Request(#[from] RequestError),
}

/// `POST /v3/pay/transactions/{jsapi|app|h5|native}` for the order v2 would place (B4): the
/// same numbers, amount, texts and expiry; `scene_info` carries the payer's IP and, for H5, v2's
/// `h5_info`.
pub fn prepay(order: &UnifiedOrder, mch_id: &str, appid: &str) -> Result<V3Prepared, V3OrderError> {
    order.validate()?;
    if order.sub_openid.is_some() {
        return Err(V3OrderError::Partner);
    }
    if order.product_id.is_some() {
        return Err(V3OrderError::ProductId);
    }
    let mut body = json!({
        "appid": appid,
        "mchid": mch_id,
        "description": order.body,
        "out_trade_no": order.out_trade_no,
        "notify_url": order.notify_url,
        "amount": { "total": order.total_fee.0, "currency": "CNY" },
        "scene_info": { "payer_client_ip": order.spbill_create_ip },
    });
    if let Some(at) = &order.time_expire {
        let at = crate::time::parse_api_time(at).ok_or_else(|| RequestError::BadTime {
            field: "time_expire",
            value: at.clone(),
        })?;
        body["time_expire"] = json!(crate::time::rfc3339(at));
    }
    if let Some(attach) = &order.attach {
        body["attach"] = json!(attach);
    }
    if let Some(openid) = &order.openid {
        body["payer"] = json!({ "openid": openid });
    }
    if let Some(scene_info) = &order.scene_info {
        let refused = || V3OrderError::SceneInfo(scene_info.clone());
        let v2: Value = serde_json::from_str(scene_info).map_err(|_| refused())?;
        let h5_info = v2.get("h5_info").and_then(Value::as_object).map(h5_info);
        match (h5_info, order.trade_type) {
            (Some(h5_info), _) => body["scene_info"]["h5_info"] = h5_info,
            (None, TradeType::Mweb) => return Err(refused()),
            (None, _) => {}
        }
        if let Some(store_info) = v2.get("store_info").filter(|s| s.is_object()) {
            body["scene_info"]["store_info"] = store_info.clone();
        }
    }
    let kind = match order.trade_type {
        TradeType::Jsapi => "jsapi",
        TradeType::App => "app",
        TradeType::Mweb => "h5",
        TradeType::Native => "native",
    };
    let path = format!("/v3/pay/transactions/{kind}");
    Ok(prepared(
        Endpoint::UnifiedOrder,
        "POST",
        path,
        Some(body),
        Vec::new(),
    ))
}

/// `POST /v3/refund/domestic/refunds` for the refund v2 would make (B4): the same numbers and
/// amounts; v2's recharge funds are v3's `AVAILABLE` account.
pub fn refund(request: &RefundRequest) -> Result<V3Prepared, V3OrderError> {
    request.validate()?;
    let (field, number) = request.order.field();
    let mut body = json!({
        field: number,
        "out_refund_no": request.out_refund_no,
        "amount": {
            "refund": request.refund_fee.0,
            "total": request.total_fee.0,
            "currency": "CNY",
        },
    });
    if let Some(reason) = &request.refund_desc {
        body["reason"] = json!(reason);
    }
    if let Some(url) = &request.notify_url {
        body["notify_url"] = json!(url);
    }
    if request.refund_account == Some(RefundAccount::Recharge) {
        body["funds_account"] = json!("AVAILABLE");
    }
    let binding = vec![
        ("out_refund_no", request.out_refund_no.clone()),
        (field, number.to_owned()),
    ];
    let path = "/v3/refund/domestic/refunds".to_owned();
    Ok(prepared(
        Endpoint::Refund,
        "POST",
        path,
        Some(body),
        binding,
    ))
}

/// `GET /v3/refund/domestic/refunds/{out_refund_no}`: v3 has no query by the order.
pub fn refund_query(key: &RefundKey) -> Result<V3Prepared, V3OrderError> {
    let RefundKey::OutRefundNo(number) = key else {
        return Err(V3OrderError::RefundKey(key.field().0));
    };
    let path = format!("/v3/refund/domestic/refunds/{}", segment(number));
    let binding = vec![("out_refund_no", number.clone())];
    Ok(prepared(Endpoint::RefundQuery, "GET", path, None, binding))
}

/// v2's h5_info (A2.1: `type` IOS|Android|Wap, `app_name`, `bundle_id`, `package_name`,
/// `wap_url`, `wap_name`) in v3's names (B4: `type` iOS|Android|Wap, `app_name`, `app_url`,
/// `bundle_id`, `package_name`); v3 refuses fields it does not know.
fn h5_info(v2: &Map<String, Value>) -> Value {
    let mut v3 = Map::new();
    for (from, to) in [
        ("type", "type"),
        ("app_name", "app_name"),
        ("wap_name", "app_name"),
        ("app_url", "app_url"),
        ("wap_url", "app_url"),
        ("bundle_id", "bundle_id"),
        ("package_name", "package_name"),
    ] {
        if let Some(value) = v2.get(from) {
            let value = match value.as_str() {
                Some(kind) if to == "type" && kind.eq_ignore_ascii_case("ios") => json!("iOS"),
                _ => value.clone(),
            };
            v3.entry(to).or_insert(value);
        }
    }
    Value::Object(v3)
}

fn missing(field: &str) -> ClientError {
    payload(field, "is missing".into())
}

fn payload(field: &str, problem: String) -> ClientError {
    ClientError::Payload {
        field: field.to_owned(),
        problem,
    }
}

/// Reads a v3 answer's fields by JSON pointer, remembering the top-level ones read, so that
/// the rest is kept as v2 keeps unknown fields.
struct JsonReader<'a> {
    answer: &'a Map<String, Value>,
    read: Vec<String>,
}

impl<'a> JsonReader<'a> {
    fn new(answer: &'a Value) -> Result<JsonReader<'a>, ClientError> {
        let answer = answer
            .as_object()
            .ok_or_else(|| payload("body", "is not a JSON object".into()))?;
        Ok(JsonReader {
            answer,
            read: Vec::new(),
        })
    }

    fn value(&mut self, pointer: &str) -> Option<&'a Value> {
        let top = pointer[1..].split('/').next().unwrap_or("");
        if !self.read.iter().any(|read| read == top) {
            self.read.push(top.to_owned());
        }
        let mut value = self.answer.get(top)?;
        for part in pointer[1..].split('/').skip(1) {
            value = value.get(part)?;
        }
        Some(value)
    }

    fn text(&mut self, pointer: &'static str) -> Option<String> {
        match self.value(pointer)? {
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            _ => None,
        }
    }

    fn required(&mut self, pointer: &'static str) -> Result<String, ClientError> {
        self.text(pointer).ok_or_else(|| missing(&pointer[1..]))
    }

    /// An amount in fen: a whole number from 0 up.
    fn fen(&mut self, pointer: &'static str) -> Result<Option<Fen>, ClientError> {
        match self.value(pointer) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_i64()
                .filter(|fen| (0..=i64::from(i32::MAX)).contains(fen))
                .map(|fen| Some(Fen(fen)))
                .ok_or_else(|| payload(&pointer[1..], format!("{value} is not an amount in fen"))),
        }
    }

    /// An RFC 3339 time, as the protocol's `yyyyMMddHHmmss` in Beijing time.
    fn time(&mut self, pointer: &'static str) -> Result<Option<String>, ClientError> {
        let Some(text) = self.text(pointer) else {
            return Ok(None);
        };
        crate::time::parse_rfc3339(&text)
            .map(|at| Some(crate::time::api_time(at)))
            .ok_or_else(|| payload(&pointer[1..], format!("{text:?} is not an RFC 3339 time")))
    }

    /// The top-level fields not read, as text (objects and lists as their JSON).
    fn rest(&self, known: &[&str]) -> Extra {
        self.answer
            .iter()
            .filter(|(name, _)| !self.read.contains(name) && !known.contains(&name.as_str()))
            .map(|(name, value)| {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (name.clone(), text)
            })
            .collect()
    }
}

/// The fields every v3 answer about an order names, checked by the client's binding.
const ORDER_ENVELOPE: [&str; 2] = ["appid", "mchid"];

/// A Transaction (B4) as the order state v2's orderquery gives.
pub fn order_state(answer: &Value) -> Result<OrderState, ClientError> {
    let mut r = JsonReader::new(answer)?;
    let total_fee = r.fen("/amount/total")?;
    let cash_fee = r.fen("/amount/payer_total")?;
    // v2's coupon_fee: what the discounts paid, when any did (B4 promotion_detail).
    let promotions = r.value("/promotion_detail").and_then(Value::as_array);
    let coupon_fee = match promotions.filter(|p| !p.is_empty()) {
        Some(promotions) => {
            let mut sum = 0i64;
            for promotion in promotions {
                let amount = (promotion.get("amount").and_then(Value::as_i64))
                    .filter(|fen| *fen >= 0)
                    .ok_or_else(|| payload("promotion_detail", "has no amount in fen".into()))?;
                sum = sum.saturating_add(amount);
            }
            Some(Fen(sum))
        }
        None => None,
    };
    Ok(OrderState {
        out_trade_no: r.required("/out_trade_no")?,
        transaction_id: r.text("/transaction_id"),
        trade_state: r.required("/trade_state")?,
        trade_state_desc: r.text("/trade_state_desc"),
        trade_type: r.text("/trade_type"),
        total_fee,
        cash_fee,
        settlement_total_fee: None,
        coupon_fee,
        time_end: r.time("/success_time")?,
        openid: r.text("/payer/openid"),
        bank_type: r.text("/bank_type"),
        attach: r.text("/attach"),
        extra: r.rest(&ORDER_ENVELOPE),
    })
}

/// A prepay answer (B4): `prepay_id` for JSAPI and APP, `code_url` for NATIVE, `h5_url` for
/// H5 (whose query carries the prepay id).
pub fn prepay_answer(answer: &Value, request: &V3Prepared) -> Result<Prepay, ClientError> {
    let mut r = JsonReader::new(answer)?;
    let kind = request.path.rsplit('/').next().unwrap_or("");
    let (trade_type, prepay_id, code_url, mweb_url) = match kind {
        "native" => ("NATIVE", None, Some(r.required("/code_url")?), None),
        "h5" => {
            let url = r.required("/h5_url")?;
            let prepay_id = reqwest::Url::parse(&url).ok().and_then(|u| {
                (u.query_pairs())
                    .find(|(name, _)| name == "prepay_id")
                    .map(|(_, id)| id.into_owned())
            });
            ("MWEB", prepay_id, None, Some(url))
        }
        "app" => ("APP", Some(r.required("/prepay_id")?), None, None),
        _ => ("JSAPI", Some(r.required("/prepay_id")?), None, None),
    };
    Ok(Prepay {
        trade_type: trade_type.to_owned(),
        prepay_id,
        code_url,
        mweb_url,
        extra: r.rest(&[]),
    })
}

/// A Refund's amounts and discounts, in v2's words.
struct RefundAmounts {
    refund: Fen,
    total: Option<Fen>,
    payer_total: Option<Fen>,
    payer_refund: Option<Fen>,
    settlement_total: Option<Fen>,
    settlement_refund: Option<Fen>,
    discount_refund: Option<Fen>,
    coupons: Vec<CouponRefund>,
}

fn refund_amounts(r: &mut JsonReader<'_>) -> Result<RefundAmounts, ClientError> {
    let refund = r
        .fen("/amount/refund")?
        .ok_or_else(|| missing("amount/refund"))?;
    let mut coupons = Vec::new();
    for promotion in (r.value("/promotion_detail").and_then(Value::as_array))
        .into_iter()
        .flatten()
    {
        let text = |name: &str| {
            promotion
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let fee = (promotion.get("refund_amount").and_then(Value::as_i64))
            .filter(|fen| *fen >= 0)
            .ok_or_else(|| payload("promotion_detail", "has no refund_amount in fen".into()))?;
        coupons.push(CouponRefund {
            coupon_type: text("type"),
            coupon_refund_id: text("promotion_id"),
            coupon_refund_fee: Fen(fee),
        });
    }
    Ok(RefundAmounts {
        refund,
        total: r.fen("/amount/total")?,
        payer_total: r.fen("/amount/payer_total")?,
        payer_refund: r.fen("/amount/payer_refund")?,
        settlement_total: r.fen("/amount/settlement_total")?,
        settlement_refund: r.fen("/amount/settlement_refund")?,
        discount_refund: r.fen("/amount/discount_refund")?.filter(|fee| fee.0 > 0),
        coupons,
    })
}

/// A Refund (B4) as v2's refund answer: the refund accepted.
pub fn refund_accepted(answer: &Value) -> Result<RefundAccepted, ClientError> {
    let mut r = JsonReader::new(answer)?;
    let amounts = refund_amounts(&mut r)?;
    Ok(RefundAccepted {
        transaction_id: r.text("/transaction_id"),
        out_trade_no: r.text("/out_trade_no"),
        out_refund_no: r.required("/out_refund_no")?,
        refund_id: r.required("/refund_id")?,
        refund_fee: amounts.refund,
        settlement_refund_fee: amounts.settlement_refund,
        total_fee: amounts.total,
        settlement_total_fee: amounts.settlement_total,
        cash_fee: amounts.payer_total,
        cash_refund_fee: amounts.payer_refund,
        coupon_refund_fee: amounts.discount_refund,
        coupons: amounts.coupons,
        extra: r.rest(&[]),
    })
}

/// v2's refund_status for v3's status, where the meaning is the same (A2.11 against B4):
/// CLOSED is REFUNDCLOSE, ABNORMAL is CHANGE.
fn refund_status(status: &str) -> String {
    match status {
        "CLOSED" => "REFUNDCLOSE",
        "ABNORMAL" => "CHANGE",
        other => other,
    }
    .to_owned()
}

/// A Refund (B4) as v2's refund query gives it: the order, and this one refund.
pub fn refund_list(answer: &Value) -> Result<RefundList, ClientError> {
    let mut r = JsonReader::new(answer)?;
    let amounts = refund_amounts(&mut r)?;
    let success_time = r
        .time("/success_time")?
        .as_deref()
        .and_then(|at| crate::time::parse_api_time(at).map(crate::time::bill_time));
    let refund = RefundItem {
        out_refund_no: r.required("/out_refund_no")?,
        refund_id: r.required("/refund_id")?,
        refund_status: refund_status(&r.required("/status")?),
        refund_fee: amounts.refund,
        settlement_refund_fee: amounts.settlement_refund,
        coupon_refund_fee: amounts.discount_refund,
        coupons: amounts.coupons,
        refund_channel: r.text("/channel"),
        refund_account: r.text("/funds_account"),
        refund_recv_account: r.text("/user_received_account"),
        refund_success_time: success_time,
        extra: Vec::new(),
    };
    let transaction_id = r.text("/transaction_id");
    let out_trade_no = r.text("/out_trade_no");
    Ok(RefundList {
        transaction_id,
        out_trade_no,
        total_fee: amounts.total,
        cash_fee: amounts.payer_total,
        settlement_total_fee: amounts.settlement_total,
        // v3 answers for one refund and does not give the order's refunded total.
        refund_fee: None,
        refunds: vec![refund],
        extra: r.rest(&[]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_transaction_reads_as_v2_reads_an_order() {
        // B4's sample answer (SKIT GetPayTransactionByOutTradeNumberResponse.json).
        let answer: Value = serde_json::from_str(r#"{"amount":{"currency":"CNY","payer_currency":"CNY","payer_total":1,"total":1},"appid":"wxdace645e0bc2cXXX","attach":"","bank_type":"OTHERS","mchid":"1900006XXX","out_trade_no":"44_2126281063_5504","payer":{"openid":"o4GgauJP_mgWEWictzA15WT15XXX"},"promotion_detail":[],"success_time":"2021-03-22T10:29:05+08:00","trade_state":"SUCCESS","trade_state_desc":"支付成功","trade_type":"JSAPI","transaction_id":"4200000891202103228088184743"}"#).unwrap();
        let state = order_state(&answer).unwrap();
        assert_eq!(state.out_trade_no, "44_2126281063_5504");
        assert_eq!(state.trade_state, "SUCCESS");
        assert_eq!(state.total_fee, Some(Fen(1)));
        assert_eq!(state.cash_fee, Some(Fen(1)));
        assert_eq!(state.coupon_fee, None);
        assert_eq!(state.time_end.as_deref(), Some("20210322102905"));
        assert_eq!(state.attach, None);
        assert_eq!(
            state.openid.as_deref(),
            Some("o4GgauJP_mgWEWictzA15WT15XXX")
        );
        assert!(state.extra.is_empty(), "{:?}", state.extra);
    }

    #[test]
    fn a_time_beijing_cannot_tell_is_refused_not_a_panic() {
        let answer = json!({"out_trade_no": "A1", "trade_state": "SUCCESS",
            "success_time": "9999-12-31T23:59:59-12:00"});
        assert!(matches!(
            order_state(&answer),
            Err(ClientError::Payload { .. })
        ));
    }

    #[test]
    fn a_time_in_another_offset_is_given_in_beijing_time() {
        let answer = json!({"out_trade_no": "A1", "trade_state": "SUCCESS",
            "success_time": "2021-03-22T02:29:05Z", "scene_info": {"device_id": "013467007045764"}});
        let state = order_state(&answer).unwrap();
        assert_eq!(state.time_end.as_deref(), Some("20210322102905"));
        assert_eq!(
            state.extra,
            vec![(
                "scene_info".to_owned(),
                r#"{"device_id":"013467007045764"}"#.to_owned()
            )]
        );
    }

    #[test]
    fn bad_amounts_and_times_are_refused_not_guessed() {
        for answer in [
            json!({"out_trade_no": "A1", "trade_state": "NOTPAY", "amount": {"total": -1}}),
            json!({"out_trade_no": "A1", "trade_state": "NOTPAY", "amount": {"total": "100"}}),
            json!({"out_trade_no": "A1", "trade_state": "NOTPAY", "amount": {"total": 1.5}}),
            json!({"out_trade_no": "A1", "trade_state": "SUCCESS", "success_time": "20210322102905"}),
            json!({"trade_state": "SUCCESS"}),
            json!(["not an object"]),
        ] {
            assert!(
                matches!(order_state(&answer), Err(ClientError::Payload { .. })),
                "{answer}"
            );
        }
    }

    #[test]
    fn discounts_are_the_coupon_fee() {
        let answer = json!({"out_trade_no": "A1", "trade_state": "SUCCESS",
            "amount": {"total": 100, "payer_total": 70},
            "promotion_detail": [{"amount": 20}, {"amount": 10}]});
        let state = order_state(&answer).unwrap();
        assert_eq!(state.coupon_fee, Some(Fen(30)));
        assert_eq!(state.cash_fee, Some(Fen(70)));
    }

    fn order(trade_type: TradeType) -> UnifiedOrder {
        UnifiedOrder {
            trade_type,
            out_trade_no: "1217752501201407033233368018".into(),
            total_fee: Fen(100),
            body: "Image形象店-深圳腾大-QQ公仔".into(),
            notify_url: "https://www.weixin.qq.com/wxpay/pay.php".into(),
            spbill_create_ip: "127.0.0.1".into(),
            openid: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()),
            sub_openid: None,
            product_id: None,
            attach: None,
            time_expire: Some("20261207180000".into()),
            scene_info: None,
        }
    }

    #[test]
    fn a_jsapi_order_becomes_b4s_body() {
        let request = prepay(&order(TradeType::Jsapi), "1900007291", "wxd678efh567hg6787").unwrap();
        assert_eq!(request.path, "/v3/pay/transactions/jsapi");
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["amount"], json!({"total": 100, "currency": "CNY"}));
        assert_eq!(body["payer"]["openid"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
        assert_eq!(body["time_expire"], "2026-12-07T18:00:00+08:00");
        assert_eq!(body["description"], "Image形象店-深圳腾大-QQ公仔");
    }

    #[test]
    fn what_v3_cannot_carry_is_refused_before_sending() {
        let mut native = order(TradeType::Native);
        native.product_id = Some("P1".into());
        assert_eq!(
            prepay(&native, "1", "wx1").unwrap_err(),
            V3OrderError::ProductId
        );
        let mut h5 = order(TradeType::Mweb);
        h5.scene_info = Some("{\"h5_info\": 3}".into());
        assert!(matches!(
            prepay(&h5, "1", "wx1"),
            Err(V3OrderError::SceneInfo(_))
        ));
    }

    #[test]
    fn v2s_scene_info_is_sent_in_v3s_names() {
        let mut h5 = order(TradeType::Mweb);
        h5.scene_info = Some(
            r#"{"h5_info":{"type":"Wap","wap_url":"https://shop.example.com","wap_name":"Shop"}}"#
                .into(),
        );
        let body: Value = serde_json::from_str(&prepay(&h5, "1", "wx1").unwrap().body).unwrap();
        assert_eq!(
            body["scene_info"]["h5_info"],
            json!({"type": "Wap", "app_url": "https://shop.example.com", "app_name": "Shop"})
        );
        let mut ios = order(TradeType::Mweb);
        ios.scene_info =
            Some(r#"{"h5_info":{"type":"IOS","app_name":"Shop","bundle_id":"com.shop"}}"#.into());
        let body: Value = serde_json::from_str(&prepay(&ios, "1", "wx1").unwrap().body).unwrap();
        assert_eq!(body["scene_info"]["h5_info"]["type"], "iOS");
        let mut store = order(TradeType::Native);
        store.scene_info = Some(r#"{"store_info":{"id":"SZ001","name":"Nanshan"}}"#.into());
        let body: Value = serde_json::from_str(&prepay(&store, "1", "wx1").unwrap().body).unwrap();
        assert_eq!(body["scene_info"]["store_info"]["id"], "SZ001");
        assert_eq!(body["scene_info"]["payer_client_ip"], "127.0.0.1");
    }

    #[test]
    fn a_refund_reads_as_v2_reads_one_with_its_status_in_v2s_words() {
        let answer = json!({"refund_id": "50000000382019052709732678859",
            "out_refund_no": "1217752501201407033233368018", "transaction_id": "1217752501201407033233368018",
            "out_trade_no": "1217752501201407033233368018", "channel": "ORIGINAL",
            "user_received_account": "招商银行信用卡0403", "success_time": "2020-12-01T16:18:12+08:00",
            "create_time": "2020-12-01T16:18:12+08:00", "status": "CLOSED", "funds_account": "UNSETTLED",
            "amount": {"total": 100, "refund": 100, "payer_total": 90, "payer_refund": 90,
                "settlement_refund": 100, "settlement_total": 100, "discount_refund": 10, "currency": "CNY"},
            "promotion_detail": [{"promotion_id": "109519", "scope": "SINGLE", "type": "DISCOUNT",
                "amount": 5, "refund_amount": 10}]});
        let list = refund_list(&answer).unwrap();
        let refund = &list.refunds[0];
        assert_eq!(refund.refund_status, "REFUNDCLOSE");
        assert_eq!(refund.refund_fee, Fen(100));
        assert_eq!(refund.coupon_refund_fee, Some(Fen(10)));
        assert_eq!(refund.cash_refund_fee(), Fen(90));
        assert_eq!(
            refund.refund_success_time.as_deref(),
            Some("2020-12-01 16:18:12")
        );
        assert_eq!(
            refund.coupons[0].coupon_refund_id.as_deref(),
            Some("109519")
        );
        assert_eq!(list.cash_fee, Some(Fen(90)));
        assert_eq!(
            list.extra,
            vec![(
                "create_time".to_owned(),
                "2020-12-01T16:18:12+08:00".to_owned()
            )]
        );
        let accepted = refund_accepted(&answer).unwrap();
        assert_eq!(accepted.cash_refund_fee, Some(Fen(90)));
        assert!(
            accepted
                .extra
                .iter()
                .any(|(k, v)| k == "status" && v == "CLOSED")
        );
    }

    #[test]
    fn a_refund_finds_its_order_by_either_number_and_a_query_by_its_own_only() {
        let request = RefundRequest {
            order: OrderKey::TransactionId("4200000001".into()),
            out_refund_no: "R1".into(),
            total_fee: Fen(100),
            refund_fee: Fen(30),
            refund_desc: Some("broken cup".into()),
            notify_url: None,
            refund_account: Some(RefundAccount::Recharge),
        };
        let prepared = refund(&request).unwrap();
        let body: Value = serde_json::from_str(&prepared.body).unwrap();
        assert_eq!(body["transaction_id"], "4200000001");
        assert_eq!(
            body["amount"],
            json!({"refund": 30, "total": 100, "currency": "CNY"})
        );
        assert_eq!(body["funds_account"], "AVAILABLE");
        assert_eq!(body["reason"], "broken cup");
        assert_eq!(
            refund_query(&RefundKey::OutTradeNo("A1".into())).unwrap_err(),
            V3OrderError::RefundKey("out_trade_no")
        );
        assert_eq!(
            refund_query(&RefundKey::OutRefundNo("R|1".into()))
                .unwrap()
                .path,
            "/v3/refund/domestic/refunds/R%7C1"
        );
    }

    #[test]
    fn order_numbers_are_escaped_in_the_path() {
        let request = order_query(&OrderKey::OutTradeNo("A|B*C@1".into()), "1230000109");
        assert_eq!(
            request.path,
            "/v3/pay/transactions/out-trade-no/A%7CB%2AC%401?mchid=1230000109"
        );
    }
}
