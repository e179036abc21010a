//! Cloud pay (云支付): `cloud.cloudPay.*` in a WeChat cloud function. The v2 calls, with the
//! merchant in `subMchId`, as camelCase JSON over a private channel of WeChat's cloud, with no
//! certificate and no sign from the caller (reference cloudpay.md, "Cloud pay").
//!
//! That channel is reachable only from inside a cloud function; nothing outside WeChat's
//! cloud can call it. The emulator serves the same JSON at `/__cloudpay/<operation>`
//! (`POST /__cloudpay/unifiedOrder` …), a path of its own, so that a developer's tests and
//! `order create --cloud` can place cloud-pay orders locally. This module holds that shape,
//! shared by the emulator and the client, and the client's call.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use thiserror::Error;

use super::client::ClientError;
use super::paysign::{PayRequest, PayScene, pay_params};
use super::sign::{SignType, nonce_str};
use super::transport::one_off_client;
use super::xml::FieldKind;
use super::{ApiKey, Fen, Message, shown_url};

/// The prefix of the emulator's cloud-pay paths; WeChat Pay has no path under it.
pub const PREFIX: &str = "/__cloudpay";

/// The calls of `cloud.cloudPay` the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    UnifiedOrder,
    QueryOrder,
    CloseOrder,
    Refund,
    QueryRefund,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::UnifiedOrder,
        Operation::QueryOrder,
        Operation::CloseOrder,
        Operation::Refund,
        Operation::QueryRefund,
    ];

    /// The method's name in wx-server-sdk (`cloud.cloudPay.unifiedOrder`).
    pub fn name(self) -> &'static str {
        match self {
            Operation::UnifiedOrder => "unifiedOrder",
            Operation::QueryOrder => "queryOrder",
            Operation::CloseOrder => "closeOrder",
            Operation::Refund => "refund",
            Operation::QueryRefund => "queryRefund",
        }
    }

    /// The emulator's path for it: `/__cloudpay/unifiedOrder`.
    pub fn path(self) -> String {
        format!("{PREFIX}/{}", self.name())
    }

    pub fn from_path(path: &str) -> Option<Operation> {
        let name = path.strip_prefix(PREFIX)?.strip_prefix('/')?;
        Operation::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// `out_trade_no` → `outTradeNo`, as cloud pay names the v2 fields (`coupon_fee_0` →
/// `couponFee0`).
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `outTradeNo` → `out_trade_no`: the v2 name of a cloud-pay parameter.
pub fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a v2 field is a number in cloud pay's JSON: an `Int` field, or an amount or a
/// count (`total_fee`, `refund_fee_0`, `coupon_count`) even where v2 wraps it in CDATA, as
/// refundquery does. (The published callback sample has `"totalFee": 1`; UNCONFIRMED for
/// the answers, where the JSON SDKs read both.)
fn is_number(name: &str, value: &str, kind: FieldKind) -> bool {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
    value.parse::<i64>().is_ok()
        && (kind == FieldKind::Int || base.ends_with("fee") || base.ends_with("count"))
}

/// The fields of a v2 message as cloud pay's JSON: camelCase names, amounts as numbers.
pub fn to_json(message: &Message) -> Map<String, Value> {
    message
        .fields()
        .iter()
        .map(|field| {
            let value = if is_number(&field.name, &field.value, field.kind) {
                json!(field.value.parse::<i64>().expect("checked above"))
            } else {
                json!(field.value)
            };
            (camel_case(&field.name), value)
        })
        .collect()
}

/// Whether `api_base` is WeChat Pay itself, where no cloud-pay path exists: cloud pay is
/// only callable from inside a WeChat cloud function.
pub fn is_wechat_host(base: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base) else {
        return false;
    };
    url.host_str().is_some_and(|host| {
        let host = host.to_ascii_lowercase();
        ["qq.com", "tenpay.com", "weixin.com", "wechat.com"]
            .iter()
            .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")))
    })
}

/// A cloud-pay order, as `CloudPay.unifiedOrder` takes it.
#[derive(Debug, Clone)]
pub struct CloudOrder {
    /// The cloud environment of the function that receives the payment result.
    pub env_id: String,
    pub function_name: String,
    /// The merchant (the cloud environment is the service provider).
    pub sub_mch_id: String,
    /// The mini program; WeChat's cloud knows it from the calling function's environment.
    pub sub_appid: Option<String>,
    pub out_trade_no: String,
    pub total_fee: Fen,
    pub body: String,
    /// The payer; inside a real cloud function WeChat takes it from the calling user
    /// (UNCONFIRMED), the emulator has no calling user and needs it.
    pub openid: Option<String>,
    pub spbill_create_ip: String,
    pub attach: Option<String>,
}

impl CloudOrder {
    /// The JSON the call sends, with a fresh nonceStr.
    pub fn to_json(&self) -> Value {
        let mut fields = json!({
            "functionName": self.function_name,
            "envId": self.env_id,
            "subMchId": self.sub_mch_id,
            "nonceStr": nonce_str(),
            "body": self.body,
            "outTradeNo": self.out_trade_no,
            "totalFee": self.total_fee.0,
            "spbillCreateIp": self.spbill_create_ip,
            "tradeType": "JSAPI",
        });
        for (name, value) in [
            ("subAppid", &self.sub_appid),
            ("openid", &self.openid),
            ("attach", &self.attach),
        ] {
            if let Some(value) = value {
                fields[name] = json!(value);
            }
        }
        fields
    }
}

/// What `wx.requestPayment` takes, as the unifiedOrder answer's `payment` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestPayment {
    pub app_id: String,
    pub time_stamp: String,
    pub nonce_str: String,
    pub package: String,
    pub sign_type: String,
    pub pay_sign: String,
}

impl RequestPayment {
    /// The payment object for `prepay_id`: the JSAPI pay parameters (`paysign jsapi`), signed
    /// with the merchant's key. `wx.requestPayment` takes them without appId, which the sign
    /// covers all the same.
    pub fn new(
        appid: &str,
        prepay_id: &str,
        timestamp: u64,
        nonce: &str,
        key: &ApiKey,
    ) -> Result<RequestPayment, super::paysign::PaySignError> {
        let request = PayRequest {
            appid,
            mch_id: "",
            prepay_id,
            timestamp,
            nonce,
            sign_type: SignType::Md5,
        };
        let fields = pay_params(PayScene::Jsapi, &request, key)?;
        let field = |name: &str| {
            fields
                .iter()
                .find(|(field, _)| *field == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        Ok(RequestPayment {
            app_id: field("appId"),
            time_stamp: field("timeStamp"),
            nonce_str: field("nonceStr"),
            package: field("package"),
            sign_type: field("signType"),
            pay_sign: field("paySign"),
        })
    }

    /// The prepay_id in `package` (`prepay_id=…`).
    pub fn prepay_id(&self) -> Option<&str> {
        self.package.strip_prefix("prepay_id=")
    }

    /// Whether paySign is the one `key` gives these fields.
    pub fn verifies(&self, key: &ApiKey) -> bool {
        let (Some(prepay_id), Ok(timestamp), Ok(SignType::Md5)) = (
            self.prepay_id(),
            self.time_stamp.parse::<u64>(),
            self.sign_type.parse::<SignType>(),
        ) else {
            return false;
        };
        RequestPayment::new(&self.app_id, prepay_id, timestamp, &self.nonce_str, key)
            .is_ok_and(|expected| expected.pay_sign == self.pay_sign)
    }
}

#[derive(Debug, Error)]
pub enum CloudPayError {
    #[error(
        "{} is WeChat Pay itself: cloud pay is only callable from inside a WeChat cloud function",
        shown_url(base)
    )]
    WeChatHost { base: String },
    /// Network, timeout, TLS, or an HTTP status other than 200 and 404.
    #[error(transparent)]
    Http(ClientError),
    #[error("{url} does not serve cloud pay (HTTP 404): it is not the wxpay-ops emulator")]
    NotServed { url: String },
    #[error("the answer from {url} is not cloud pay's JSON: {problem}")]
    Malformed { url: String, problem: String },
    /// `returnCode` FAIL.
    #[error("cloud pay refused the request: {message}")]
    Protocol { message: String },
    /// `resultCode` FAIL.
    #[error("cloud pay refused the request: {code} {description}")]
    Refused { code: String, description: String },
}

/// Where and how to call.
pub struct CloudOptions {
    /// The emulator's base URL (a profile's api_base).
    pub base: String,
    /// TLS with a custom CA (the emulator's); the system roots otherwise.
    pub tls: Option<rustls::ClientConfig>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl CloudOptions {
    /// The URL of an operation, as it may be shown (credentials masked).
    pub fn shown_url(&self, operation: Operation) -> String {
        shown_url(&self.url(operation)).into_owned()
    }

    fn url(&self, operation: Operation) -> String {
        format!("{}{}", self.base.trim_end_matches('/'), operation.path())
    }
}

/// Calls one operation once: the answer when both its layers say SUCCESS.
pub async fn call(
    options: CloudOptions,
    operation: Operation,
    request: &Value,
) -> Result<Map<String, Value>, CloudPayError> {
    if is_wechat_host(&options.base) {
        return Err(CloudPayError::WeChatHost { base: options.base });
    }
    let shown = options.shown_url(operation);
    let transport = |source| {
        CloudPayError::Http(ClientError::Transport {
            url: shown.clone(),
            source,
        })
    };
    let http = one_off_client(
        options.tls.clone(),
        options.timeout,
        options.connect_timeout,
    )
    .map_err(transport)?;
    let response = http
        .post(options.url(operation))
        .header("Content-Type", "application/json")
        .body(request.to_string())
        .send()
        .await
        .map_err(|e| transport(e.without_url()))?;
    match response.status().as_u16() {
        200 => {}
        404 => return Err(CloudPayError::NotServed { url: shown }),
        status => {
            return Err(CloudPayError::Http(ClientError::Status {
                url: shown,
                status,
            }));
        }
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| transport(e.without_url()))?;
    read_answer(&body, &shown)
}

/// An answer's layers: `returnCode`, then `resultCode`.
pub fn read_answer(body: &[u8], url: &str) -> Result<Map<String, Value>, CloudPayError> {
    let malformed = |problem: &str| CloudPayError::Malformed {
        url: url.to_owned(),
        problem: problem.to_owned(),
    };
    let answer: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| malformed("it is not a JSON object"))?;
    let text = |name: &str| answer.get(name).and_then(Value::as_str).unwrap_or_default();
    match text("returnCode") {
        "SUCCESS" => {}
        "FAIL" => {
            return Err(CloudPayError::Protocol {
                message: text("returnMsg").to_owned(),
            });
        }
        _ => return Err(malformed("it has no returnCode")),
    }
    if text("resultCode") == "FAIL" {
        return Err(CloudPayError::Refused {
            code: text("errCode").to_owned(),
            description: text("errCodeDes").to_owned(),
        });
    }
    Ok(answer)
}

/// A placed cloud-pay order: its prepay_id and the payment object.
#[derive(Debug, Clone)]
pub struct CloudPrepay {
    pub prepay_id: String,
    pub payment: RequestPayment,
}

impl CloudPrepay {
    pub fn read(answer: &Map<String, Value>, url: &str) -> Result<CloudPrepay, CloudPayError> {
        let malformed = |problem: &str| CloudPayError::Malformed {
            url: url.to_owned(),
            problem: problem.to_owned(),
        };
        let payment: RequestPayment = answer
            .get("payment")
            .cloned()
            .and_then(|value| serde_json::from_value(value).ok())
            .ok_or_else(|| malformed("it has no payment object"))?;
        let prepay_id = answer
            .get("prepayId")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("it has no prepayId"))?;
        if payment.prepay_id() != Some(prepay_id) {
            return Err(malformed("its payment's package is not its prepayId's"));
        }
        Ok(CloudPrepay {
            prepay_id: prepay_id.to_owned(),
            payment,
        })
    }
}

/// Places a cloud-pay order.
pub async fn unified_order(
    options: CloudOptions,
    order: &CloudOrder,
) -> Result<CloudPrepay, CloudPayError> {
    let url = options.shown_url(Operation::UnifiedOrder);
    let answer = call(options, Operation::UnifiedOrder, &order.to_json()).await?;
    CloudPrepay::read(&answer, &url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_between_the_two_cases() {
        for (snake, camel) in [
            ("out_trade_no", "outTradeNo"),
            ("sub_mch_id", "subMchId"),
            ("spbill_create_ip", "spbillCreateIp"),
            ("appid", "appid"),
            ("openid", "openid"),
            ("return_code", "returnCode"),
        ] {
            assert_eq!(camel_case(snake), camel);
            assert_eq!(snake_case(camel), snake);
        }
        assert_eq!(camel_case("coupon_refund_fee_0"), "couponRefundFee0");
    }

    #[test]
    fn amounts_are_numbers_and_the_rest_text() {
        let mut message = Message::new();
        message
            .set("out_trade_no", "0042")
            .set_int("cash_fee", 100)
            .set("total_fee", "100")
            .set("refund_fee_0", "30")
            .set("coupon_count", "1")
            .set("transaction_id", "4200000001")
            .set("fee_type", "CNY");
        let json = Value::Object(to_json(&message));
        assert_eq!(
            json,
            json!({
                "outTradeNo": "0042",
                "cashFee": 100,
                "totalFee": 100,
                "refundFee0": 30,
                "couponCount": 1,
                "transactionId": "4200000001",
                "feeType": "CNY",
            })
        );
    }

    #[test]
    fn operations_have_one_path_each() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_path(&op.path()), Some(op));
        }
        assert_eq!(Operation::UnifiedOrder.path(), "/__cloudpay/unifiedOrder");
        assert_eq!(Operation::from_path("/__cloudpay/unifiedorder"), None);
        assert_eq!(Operation::from_path("/__cloudpayunifiedOrder"), None);
    }

    #[test]
    fn wechat_hosts_are_refused_and_others_tried() {
        for host in [
            "https://api.mch.weixin.qq.com",
            "https://api2.mch.weixin.qq.com/",
            "https://API.MCH.WEIXIN.QQ.COM",
        ] {
            assert!(is_wechat_host(host), "{host}");
        }
        for host in [
            "https://127.0.0.1:8788",
            "https://pay.example.com",
            "nonsense",
        ] {
            assert!(!is_wechat_host(host), "{host}");
        }
    }

    #[test]
    fn the_order_is_camel_case_json_without_sign() {
        let order = CloudOrder {
            env_id: "test-123".into(),
            function_name: "pay_cb".into(),
            sub_mch_id: "1900000109".into(),
            sub_appid: Some("wx2421b1c4370ec43b".into()),
            out_trade_no: "C1".into(),
            total_fee: Fen(100),
            body: "Shop-Tea".into(),
            openid: None,
            spbill_create_ip: "127.0.0.1".into(),
            attach: None,
        };
        let json = order.to_json();
        assert_eq!(json["envId"], "test-123");
        assert_eq!(json["functionName"], "pay_cb");
        assert_eq!(json["subMchId"], "1900000109");
        assert_eq!(json["totalFee"], 100);
        assert_eq!(json["tradeType"], "JSAPI");
        assert_eq!(json["nonceStr"].as_str().unwrap().len(), 32);
        for absent in ["sign", "signType", "mchId", "appid", "openid", "attach"] {
            assert!(json.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn a_payment_verifies_with_its_key_only() {
        let key = ApiKey::new("EmulatorKey0123456789abcdefABCDE");
        let payment = RequestPayment::new(
            "wx2421b1c4370ec43b",
            "wx201410272009395522657a690389285100",
            1_795_000_000,
            "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
            &key,
        )
        .unwrap();
        assert_eq!(
            payment.package,
            "prepay_id=wx201410272009395522657a690389285100"
        );
        assert_eq!(payment.sign_type, "MD5");
        assert_eq!(payment.time_stamp, "1795000000");
        assert!(payment.verifies(&key));
        assert!(!payment.verifies(&ApiKey::new("192006250b4c09247ec02edce69f6a2d")));
        let tampered = RequestPayment {
            time_stamp: "1795000001".into(),
            ..payment.clone()
        };
        assert!(!tampered.verifies(&key));
        let json = serde_json::to_value(&payment).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "appId",
                "timeStamp",
                "nonceStr",
                "package",
                "signType",
                "paySign"
            ]
        );
    }

    #[test]
    fn answers_are_read_layer_by_layer() {
        let refused = read_answer(
            r#"{"returnCode":"SUCCESS","resultCode":"FAIL","errCode":"ORDERPAID","errCodeDes":"该订单已支付"}"#.as_bytes(),
            "u",
        )
        .unwrap_err();
        assert!(
            matches!(&refused, CloudPayError::Refused { code, .. } if code == "ORDERPAID"),
            "{refused}"
        );
        let protocol = read_answer(
            r#"{"returnCode":"FAIL","returnMsg":"受理关系不存在"}"#.as_bytes(),
            "u",
        )
        .unwrap_err();
        assert!(matches!(protocol, CloudPayError::Protocol { .. }));
        for bad in [&b"<xml/>"[..], b"[]", b"{}"] {
            assert!(matches!(
                read_answer(bad, "u"),
                Err(CloudPayError::Malformed { .. })
            ));
        }
        let ok = read_answer(br#"{"returnCode":"SUCCESS","resultCode":"SUCCESS"}"#, "u").unwrap();
        assert_eq!(ok["resultCode"], "SUCCESS");
    }
}
