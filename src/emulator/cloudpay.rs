//! Cloud pay (云支付, reference cloudpay.md): `cloud.cloudPay.*` of a WeChat cloud function,
//! served at `POST /__cloudpay/<operation>` (unifiedOrder, queryOrder, closeOrder, refund,
//! queryRefund) over the same state as the v2 API, and the payment and refund callbacks to
//! cloud functions, which the emulator knows as local URLs.
//!
//! The real channel is private to WeChat's cloud: a cloud function calls it through
//! wx-server-sdk, with no certificate and no sign, and nothing else can reach it. Its paths
//! here are the emulator's own. The merchant is `subMchId`, and the cloud environment is
//! the service provider; the emulator books the order in the merchant's own account, so that
//! the merchant's v2 orderquery, refunds and bills see it, as its merchant console does
//! (UNCONFIRMED whether the real v2 API of a sub-merchant answers for such orders).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::api::Endpoint;
use super::core::{Body, Call, Core, LogEntry, Reply};
use super::faults::FaultKind;
use super::lock;
use super::notify::NotificationKind;
use super::state::{Account, Order, Refund, Refusal, refuse};
use crate::time::{BEIJING, bill_time};
use crate::wechat::cloudpay::{Operation, RequestPayment, snake_case, to_json};
use crate::wechat::notify_build::{CLOUD_PROVIDER_MCH_ID, PaidOrder};
use crate::wechat::sign::nonce_str;
use crate::wechat::{Message, SignType};

pub use crate::wechat::cloudpay::PREFIX;

const JSON: &str = "application/json";

/// A cloud function given to the emulator: the environment and name cloud pay is told
/// (`envId`, `functionName`), and the local URL the emulator posts its callbacks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudFunction {
    pub env_id: String,
    pub name: String,
    pub url: String,
}

impl CloudFunction {
    /// `ENV/NAME`, as attempts and orders name it.
    pub fn key(&self) -> String {
        function_key(&self.env_id, &self.name)
    }

    /// `ENV/NAME=URL`, as `emulator serve --cloud-function` takes it.
    pub fn parse(spec: &str) -> Result<CloudFunction, String> {
        let shape =
            || format!("{spec:?} is not ENV/NAME=URL, e.g. test-123/pay_cb=http://127.0.0.1:9000/");
        let (function, url) = spec.split_once('=').ok_or_else(shape)?;
        let (env_id, name) = function.split_once('/').ok_or_else(shape)?;
        let function = CloudFunction {
            env_id: env_id.to_owned(),
            name: name.to_owned(),
            url: url.to_owned(),
        };
        function.check()?;
        Ok(function)
    }

    fn check(&self) -> Result<(), String> {
        for (what, value) in [("env_id", &self.env_id), ("name", &self.name)] {
            if !is_name(value) {
                return Err(format!(
                    "{what} {value:?} must be 1 to 64 letters, digits, _ or -"
                ));
            }
        }
        if !crate::wechat::is_http_url(&self.url) {
            return Err(format!("url {:?} is not an http(s) URL", self.url));
        }
        Ok(())
    }
}

fn function_key(env_id: &str, name: &str) -> String {
    format!("{env_id}/{name}")
}

/// A cloud environment id or function name (UNCONFIRMED: WeChat's own rules are not
/// published; this is what fits in a path and a log line).
fn is_name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The cloud functions the emulator knows, `ENV/NAME` → URL; the notifier looks each up at
/// every attempt.
#[derive(Debug, Clone, Default)]
pub struct CloudFunctions(Arc<Mutex<BTreeMap<String, CloudFunction>>>);

impl CloudFunctions {
    pub fn url(&self, key: &str) -> Option<String> {
        lock(&self.0).get(key).map(|f| f.url.clone())
    }

    pub fn list(&self) -> Vec<CloudFunction> {
        lock(&self.0).values().cloned().collect()
    }
}

/// An answer of the channel itself: `returnCode` FAIL, nothing signed.
fn protocol_fail(message: &str) -> Value {
    json!({ "returnCode": "FAIL", "returnMsg": message })
}

fn json_reply(status: u16, value: &Value) -> Reply {
    Reply {
        status,
        content_type: JSON,
        body: Body::Bytes(value.to_string().into_bytes()),
        headers: Vec::new(),
        transport: None,
    }
}

/// Request fields the cloud fills in itself (reference: "mch_id, appid, sign and sign_type
/// are not filled in"); given anyway, they are ignored (UNCONFIRMED: whether WeChat's cloud
/// refuses them instead).
const FILLED_BY_THE_CLOUD: [&str; 4] = ["mchId", "appid", "sign", "signType"];

/// A request's JSON as the v2 message it stands for: camelCase names to snake_case, numbers
/// to their digits, objects (sceneInfo) to their JSON text; null is left out.
fn to_message(request: &Map<String, Value>) -> Result<Message, String> {
    let pairs = request
        .iter()
        .filter(|(name, value)| {
            !FILLED_BY_THE_CLOUD.contains(&name.as_str())
                && !matches!(name.as_str(), "functionName" | "envId")
                && !value.is_null()
        })
        .map(|(name, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (snake_case(name), text)
        });
    Message::from_pairs(pairs).map_err(|e| e.to_string())
}

fn endpoint(operation: Operation) -> Endpoint {
    match operation {
        Operation::UnifiedOrder => Endpoint::UnifiedOrder,
        Operation::QueryOrder => Endpoint::OrderQuery,
        Operation::CloseOrder => Endpoint::CloseOrder,
        Operation::Refund => Endpoint::Refund,
        Operation::QueryRefund => Endpoint::RefundQuery,
    }
}

/// The cloud function a request names: required for unifiedOrder, optional (both or
/// neither) for refund, ignored elsewhere.
fn named_function(
    operation: Operation,
    request: &Map<String, Value>,
) -> Result<Option<String>, Refusal> {
    let field = |name: &str| {
        request
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let (name, env) = (field("functionName"), field("envId"));
    match (operation, name, env) {
        (Operation::UnifiedOrder | Operation::Refund, Some(name), Some(env)) => {
            for (what, value) in [("functionName", name), ("envId", env)] {
                if !is_name(value) {
                    return Err(refuse("PARAM_ERROR", format!("{what}参数格式错误")));
                }
            }
            Ok(Some(function_key(env, name)))
        }
        (Operation::Refund, None, None) => Ok(None),
        (Operation::UnifiedOrder | Operation::Refund, None, _) => {
            Err(refuse("LACK_PARAMS", "缺少参数functionName"))
        }
        (Operation::UnifiedOrder | Operation::Refund, _, None) => {
            Err(refuse("LACK_PARAMS", "缺少参数envId"))
        }
        _ => Ok(None),
    }
}

impl Core {
    /// Gives the emulator a cloud function, replacing one of the same `ENV/NAME`. Its URL
    /// must be on this machine unless notifications may go elsewhere (`--allow-remote`).
    pub fn add_cloud_function(&self, function: CloudFunction) -> Result<(), String> {
        function.check()?;
        if !self.options.allow_remote_notify && !crate::wechat::is_loopback_url(&function.url) {
            return Err(format!(
                "url {:?} is not a loopback address; start the emulator with --allow-remote \
                 to call functions elsewhere",
                function.url
            ));
        }
        lock(&self.notifier.cloud_functions.0).insert(function.key(), function);
        Ok(())
    }

    pub fn cloud_functions(&self) -> Vec<CloudFunction> {
        self.notifier.cloud_functions.list()
    }

    pub fn clear_cloud_functions(&self) {
        lock(&self.notifier.cloud_functions.0).clear();
    }

    /// `POST /__cloudpay/<operation>`: injected faults first, as for every endpoint, then the
    /// answer; every request is logged.
    pub fn cloud_pay(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        self.settle();
        let fault = lock(&self.faults).take(path);
        let (mut reply, mch_id) = match &fault {
            Some(FaultKind::Http500) => (Reply::text(500, "Internal Server Error"), None),
            Some(FaultKind::Http503) => (Reply::text(503, "Service Unavailable"), None),
            Some(FaultKind::MalformedXml) => {
                let mut cut = json_reply(200, &json!({}));
                cut.body = Body::Bytes(br#"{"returnCode":"SUCCESS","retu"#.to_vec());
                (cut, None)
            }
            _ => self.cloud_call(method, path, body, fault.as_ref()),
        };
        if matches!(
            fault,
            Some(FaultKind::Drop | FaultKind::Truncate | FaultKind::Delay { .. })
        ) {
            reply.transport = fault.clone();
        }
        let answer: Option<Map<String, Value>> = reply
            .body
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok());
        let text = |a: &Map<String, Value>, name: &str| {
            a.get(name).and_then(Value::as_str).unwrap_or("").to_owned()
        };
        let outcome = match &answer {
            Some(a) if text(a, "returnCode") == "FAIL" => format!("FAIL {}", text(a, "returnMsg")),
            Some(a) if text(a, "resultCode") == "FAIL" => format!("FAIL {}", text(a, "errCode")),
            Some(_) if reply.status == 200 => "SUCCESS".to_owned(),
            _ => format!("HTTP {}", reply.status),
        };
        self.record(LogEntry {
            at: bill_time(self.clock.now().to_offset(BEIJING)),
            method: method.to_owned(),
            path: path.to_owned(),
            mch_id: mch_id.unwrap_or_default(),
            outcome,
            fault,
            body_sha256: crate::wechat::hex_upper(&Sha256::digest(body)).to_lowercase(),
        });
        reply
    }

    /// The answer to a delivered request, and the merchant it was for.
    fn cloud_call(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        fault: Option<&FaultKind>,
    ) -> (Reply, Option<String>) {
        let Some(operation) = Operation::from_path(path) else {
            let known: Vec<String> = Operation::ALL.iter().map(|op| op.path()).collect();
            let message = format!(
                "no cloud pay operation {path}; there are {}",
                known.join(", ")
            );
            return (json_reply(404, &protocol_fail(&message)), None);
        };
        // The channel's own failures, in v2's words (reference A0; UNCONFIRMED for the
        // private channel, whose answers are not published).
        if method != "POST" {
            return (json_reply(200, &protocol_fail("请使用post方法")), None);
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return (json_reply(200, &protocol_fail("post数据为空")), None);
        }
        let Ok(request) = serde_json::from_slice::<Map<String, Value>>(body) else {
            return (json_reply(200, &protocol_fail("JSON格式错误")), None);
        };
        // A JavaScript caller may write the number as a number: its digits are the same
        // merchant, as every other field's are (`to_message`).
        let sub_mch_id = match request.get("subMchId") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            _ => return (json_reply(200, &protocol_fail("缺少参数sub_mch_id")), None),
        };
        let sub_mch_id = sub_mch_id.as_str();
        let mch_id = Some(sub_mch_id.to_owned());
        // The merchant must be one the cloud environment (the service provider) serves: in
        // the emulator, any merchant of its merchants file.
        let Some(merchant) = self.merchant(sub_mch_id) else {
            return (json_reply(200, &protocol_fail("受理关系不存在")), mch_id);
        };
        // The mini program: given, or the merchant's first app, as the calling function's
        // environment would name it.
        let appid = match request.get("subAppid").and_then(Value::as_str) {
            None | Some("") => merchant.appids[0].clone(),
            Some(given) if merchant.appids.iter().any(|a| a == given) => given.to_owned(),
            Some(_) => {
                return (
                    json_reply(200, &protocol_fail("sub_mch_id与sub_appid不匹配")),
                    mch_id,
                );
            }
        };
        let mut message = match to_message(&request) {
            Ok(message) => message,
            Err(e) => return (json_reply(200, &protocol_fail(&e)), mch_id),
        };
        message.remove("sub_mch_id");
        message.remove("sub_appid");
        // The order is booked under the merchant's own app (the cloud is the service provider,
        // the mini program the sub-app): its payer there, `subOpenid`, is the order's openid.
        if let Some(payer) = message.remove("sub_openid")
            && message.non_empty("openid").is_none()
        {
            message.set("openid", payer);
        }
        message.set("appid", &appid).set("mch_id", &merchant.mch_id);
        // Cloud pay is for mini programs: JSAPI, the default (UNCONFIRMED whether WeChat
        // takes other trade types on this channel).
        if operation == Operation::UnifiedOrder && message.non_empty("trade_type").is_none() {
            message.set("trade_type", "JSAPI");
        }
        let call = Call {
            merchant,
            account: Account::direct(&merchant.mch_id),
            appid,
            sub_appid: None,
            sign_type: SignType::Md5,
            key: merchant.key.clone(),
            message,
            sandbox: false,
        };
        let result = self.cloud_result(operation, &call, &request, fault);
        let mut answer = self.answer_message(&call, result, operation == Operation::QueryRefund);
        answer.remove("sign_type");
        let mut json = cloud_answer(&answer);
        if operation == Operation::UnifiedOrder
            && let Some(prepay_id) = answer.get("prepay_id")
        {
            // The emulator's clock, so that a moved clock moves timeStamp too.
            let timestamp = self.clock.now().unix_timestamp().max(0) as u64;
            match RequestPayment::new(&call.appid, prepay_id, timestamp, &nonce_str(), &call.key) {
                Ok(payment) => {
                    json.insert("payment".into(), json!(payment));
                }
                Err(e) => return (json_reply(500, &protocol_fail(&e.to_string())), mch_id),
            }
        }
        (json_reply(200, &Value::Object(json)), mch_id)
    }

    fn cloud_result(
        &self,
        operation: Operation,
        call: &Call<'_>,
        request: &Map<String, Value>,
        fault: Option<&FaultKind>,
    ) -> Result<Message, Refusal> {
        if let Some(FaultKind::SystemError) = fault {
            return Err(refuse("SYSTEMERROR", "系统错误"));
        }
        let function = named_function(operation, request)?;
        if operation == Operation::UnifiedOrder && call.message.get("trade_type") != Some("JSAPI") {
            return Err(refuse("PARAM_ERROR", "trade_type参数格式错误"));
        }
        if let Some(refusal) = self.outcome_for(endpoint(operation), call) {
            return Err(refusal);
        }
        let now = self.clock.now();
        match operation {
            Operation::UnifiedOrder => self.unified_order(call, now, function.as_deref()),
            Operation::QueryOrder => self.order_query(call, now),
            Operation::CloseOrder => self.close_order(call, now),
            Operation::Refund => self.refund(call, now, function.as_deref()),
            Operation::QueryRefund => self.refund_query(call, now),
        }
    }

    /// The payment callback of a cloud-pay order: the payment notification's fields as cloud
    /// pay's event, from the one builder `notify check --cloud` also sends.
    pub(super) fn notify_cloud_payment(&self, order: &Order, function: &str, paid: &PaidOrder) {
        self.notifier.send_to_cloud_function(
            NotificationKind::Payment,
            order.out_trade_no.clone(),
            function.to_owned(),
            paid.cloud_event(CLOUD_PROVIDER_MCH_ID).to_string(),
        );
    }

    /// The refund callback of a cloud-pay refund: the refund notification's fields,
    /// decrypted, in camelCase (UNCONFIRMED: reference cloudpay.md).
    pub(super) fn notify_cloud_refund(&self, refund: &Refund, function: &str) {
        let mut message = Message::new();
        message
            .set("return_code", "SUCCESS")
            .set("appid", &refund.appid)
            .set("mch_id", &refund.mch_id)
            .set("nonce_str", nonce_str());
        for (name, value) in refund.result().fields() {
            message.set(name, value);
        }
        self.notifier.send_to_cloud_function(
            NotificationKind::Refund,
            refund.out_refund_no.clone(),
            function.to_owned(),
            Value::Object(callback_event(&message)).to_string(),
        );
    }
}

/// A v2 answer as cloud pay's: camelCase, the cloud environment as the service provider
/// (`mchId`), the merchant as `subMchId`, the mini program as `subAppid`.
fn cloud_answer(answer: &Message) -> Map<String, Value> {
    let mut json = Map::new();
    let appid = answer.get("appid").unwrap_or_default().to_owned();
    for (name, value) in to_json(answer) {
        if name == "mchId" {
            json.insert("mchId".into(), json!(CLOUD_PROVIDER_MCH_ID));
            json.insert("subAppid".into(), json!(appid));
            json.insert("subMchId".into(), value);
        } else {
            json.insert(name, value);
        }
    }
    json
}

/// A notification's fields as the callback event a cloud function gets: camelCase, amounts
/// as numbers, no sign (the channel is private), the cloud environment as the service
/// provider and the merchant's app and payer under sub_ (as in WeChat's published sample,
/// where appid and subAppid are one app).
fn callback_event(message: &Message) -> Map<String, Value> {
    let mut event = cloud_answer(message);
    event.remove("sign");
    event.remove("signType");
    if let Some(openid) = message.get("openid") {
        event.insert("subOpenid".into(), json!(openid));
        event.insert(
            "subIsSubscribe".into(),
            json!(message.get("is_subscribe").unwrap_or("N")),
        );
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::core::{EmulatorOptions, Request};
    use crate::emulator::merchant::{DEFAULT_API_KEY, DEFAULT_APPIDS, DEFAULT_MCH_ID};
    use crate::emulator::state::PayOptions;
    use crate::wechat::ApiKey;
    use crate::wechat::sign::{sign_in_place, verify};

    struct Fixture {
        core: Core,
        _runtime: tokio::runtime::Runtime,
    }

    fn fixture() -> Fixture {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let options = EmulatorOptions {
            allow_early_close: true,
            refund_delay: time::Duration::ZERO,
            ..EmulatorOptions::default()
        };
        Fixture {
            core: Core::new(options, runtime.handle().clone()),
            _runtime: runtime,
        }
    }

    impl Fixture {
        fn call(&self, operation: Operation, request: Value) -> Value {
            let reply =
                self.core
                    .cloud_pay("POST", &operation.path(), request.to_string().as_bytes());
            assert_eq!(reply.status, 200);
            assert_eq!(reply.content_type, JSON);
            serde_json::from_slice(reply.body.bytes().unwrap()).unwrap()
        }

        fn order(&self, out_trade_no: &str) -> Value {
            self.call(
                Operation::UnifiedOrder,
                json!({
                    "functionName": "pay_cb",
                    "envId": "test-123",
                    "subMchId": DEFAULT_MCH_ID,
                    "nonceStr": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                    "body": "Shop-Tea",
                    "outTradeNo": out_trade_no,
                    "totalFee": 100,
                    "spbillCreateIp": "127.0.0.1",
                    "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                }),
            )
        }

        fn order_with(&self, out_trade_no: &str, payer: (&str, Value), mch_id: Value) -> Value {
            let mut request = json!({
                "functionName": "pay_cb",
                "envId": "test-123",
                "subMchId": mch_id,
                "subAppid": DEFAULT_APPIDS[0],
                "nonceStr": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                "body": "Shop-Tea",
                "outTradeNo": out_trade_no,
                "totalFee": 100,
                "spbillCreateIp": "127.0.0.1",
            });
            request[payer.0] = payer.1;
            self.call(Operation::UnifiedOrder, request)
        }

        /// v2 orderquery, signed with the merchant's key.
        fn v2_query(&self, out_trade_no: &str) -> Message {
            let mut message = Message::new();
            message
                .set("appid", DEFAULT_APPIDS[0])
                .set("mch_id", DEFAULT_MCH_ID)
                .set("nonce_str", "ibuaiVcKdpRxkhJA")
                .set("out_trade_no", out_trade_no);
            sign_in_place(&mut message, &ApiKey::new(DEFAULT_API_KEY), SignType::Md5);
            let reply = self.core.handle(&Request {
                method: "POST",
                path: "/pay/orderquery",
                body: message.to_xml().as_bytes(),
                client_cert_cn: None,
            });
            Message::parse(reply.body.bytes().unwrap()).unwrap()
        }
    }

    #[test]
    fn the_payer_as_sub_openid_and_the_merchant_as_a_number_are_taken() {
        let f = fixture();
        let payer = ("subOpenid", json!("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"));
        let answer = f.order_with("C7", payer, json!(DEFAULT_MCH_ID));
        assert_eq!(answer["resultCode"], "SUCCESS", "{answer}");
        let payer = ("openid", json!("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"));
        let number: u64 = DEFAULT_MCH_ID.parse().unwrap();
        let answer = f.order_with("C8", payer, json!(number));
        assert_eq!(answer["resultCode"], "SUCCESS", "{answer}");
        assert_eq!(answer["subMchId"], DEFAULT_MCH_ID);
    }

    #[test]
    fn unified_order_answers_in_camel_case_with_a_payment_signed_by_the_merchant() {
        let f = fixture();
        let answer = f.order("C1");
        assert_eq!(answer["returnCode"], "SUCCESS");
        assert_eq!(answer["resultCode"], "SUCCESS");
        assert_eq!(answer["mchId"], CLOUD_PROVIDER_MCH_ID);
        assert_eq!(answer["subMchId"], DEFAULT_MCH_ID);
        assert_eq!(answer["subAppid"], DEFAULT_APPIDS[0]);
        assert_eq!(answer["appid"], DEFAULT_APPIDS[0]);
        assert_eq!(answer["tradeType"], "JSAPI");
        let prepay_id = answer["prepayId"].as_str().unwrap();
        for snake in ["return_code", "mch_id", "prepay_id", "sign_type"] {
            assert!(answer.get(snake).is_none(), "{snake}");
        }
        let payment: RequestPayment = serde_json::from_value(answer["payment"].clone()).unwrap();
        assert_eq!(payment.package, format!("prepay_id={prepay_id}"));
        assert_eq!(payment.app_id, DEFAULT_APPIDS[0]);
        assert_eq!(payment.sign_type, "MD5");
        assert_eq!(
            payment.time_stamp,
            f.core.clock.now().unix_timestamp().to_string()
        );
        assert!(payment.verifies(&ApiKey::new(DEFAULT_API_KEY)));

        // The same state as v2: the merchant's own orderquery sees the order.
        let v2 = f.v2_query("C1");
        assert_eq!(v2.get("result_code"), Some("SUCCESS"), "{v2:?}");
        assert_eq!(v2.get("trade_state"), Some("NOTPAY"));
        assert!(
            verify(&v2, &ApiKey::new(DEFAULT_API_KEY), None)
                .unwrap()
                .valid
        );
        let orders = f.core.orders();
        assert_eq!(orders[0].cloud_function.as_deref(), Some("test-123/pay_cb"));
        assert_eq!(orders[0].notify_url, "");
    }

    #[test]
    fn the_required_fields_are_refused_as_v2_refuses_them() {
        let f = fixture();
        let base = json!({
            "functionName": "pay_cb",
            "envId": "test-123",
            "subMchId": DEFAULT_MCH_ID,
            "body": "Shop-Tea",
            "outTradeNo": "C1",
            "totalFee": 100,
            "spbillCreateIp": "127.0.0.1",
            "openid": "o1",
        });
        for (remove, code, description) in [
            ("body", "LACK_PARAMS", "缺少参数body"),
            ("outTradeNo", "LACK_PARAMS", "缺少参数out_trade_no"),
            ("totalFee", "LACK_PARAMS", "缺少参数total_fee"),
            ("spbillCreateIp", "LACK_PARAMS", "缺少参数spbill_create_ip"),
            ("functionName", "LACK_PARAMS", "缺少参数functionName"),
            ("envId", "LACK_PARAMS", "缺少参数envId"),
            ("openid", "PARAM_ERROR", "JSAPI支付必须传openid"),
        ] {
            let mut request = base.clone();
            request.as_object_mut().unwrap().remove(remove);
            let answer = f.call(Operation::UnifiedOrder, request);
            assert_eq!(answer["returnCode"], "SUCCESS", "{remove}");
            assert_eq!(answer["resultCode"], "FAIL", "{remove}");
            assert_eq!(answer["errCode"], code, "{remove}");
            assert_eq!(answer["errCodeDes"], description, "{remove}");
            assert!(answer.get("payment").is_none());
        }
        for (change, value, description) in [
            ("totalFee", json!(0), "total_fee参数格式错误"),
            ("outTradeNo", json!("C 1"), "out_trade_no参数格式错误"),
            ("tradeType", json!("NATIVE"), "trade_type参数格式错误"),
            ("envId", json!("a/b"), "envId参数格式错误"),
        ] {
            let mut request = base.clone();
            request[change] = value;
            let answer = f.call(Operation::UnifiedOrder, request);
            assert_eq!(answer["errCode"], "PARAM_ERROR", "{change}");
            assert_eq!(answer["errCodeDes"], description, "{change}");
        }
        // The channel's own refusals come before any field is read.
        for (request, message) in [
            (json!({"body": "x"}), "缺少参数sub_mch_id"),
            (json!({"subMchId": "1234"}), "受理关系不存在"),
            (
                json!({"subMchId": DEFAULT_MCH_ID, "subAppid": "wx0000000000000000"}),
                "sub_mch_id与sub_appid不匹配",
            ),
        ] {
            let answer = f.call(Operation::UnifiedOrder, request);
            assert_eq!(answer, protocol_fail(message));
        }
        let reply = f.core.cloud_pay("GET", "/__cloudpay/unifiedOrder", b"");
        assert_eq!(reply.status, 200);
        let reply = f.core.cloud_pay("POST", "/__cloudpay/nothing", b"{}");
        assert_eq!(reply.status, 404);
        let reply = f
            .core
            .cloud_pay("POST", "/__cloudpay/queryOrder", b"<xml/>");
        let answer: Value = serde_json::from_slice(reply.body.bytes().unwrap()).unwrap();
        assert_eq!(answer, protocol_fail("JSON格式错误"));
        // Each request is in the request log.
        let log = f.core.request_log();
        assert!(log.iter().any(|e| e.path == "/__cloudpay/unifiedOrder"
            && e.outcome == "FAIL LACK_PARAMS"
            && e.mch_id == DEFAULT_MCH_ID));
    }

    #[test]
    fn query_close_and_refund_answer_in_the_same_shape() {
        let f = fixture();
        f.order("C1");
        let query = |no: &str| {
            f.call(
                Operation::QueryOrder,
                json!({"subMchId": DEFAULT_MCH_ID, "outTradeNo": no}),
            )
        };
        let unpaid = query("C1");
        assert_eq!(unpaid["tradeState"], "NOTPAY");
        assert_eq!(unpaid["totalFee"], 100);
        assert_eq!(unpaid["subMchId"], DEFAULT_MCH_ID);
        assert_eq!(query("C9")["errCode"], "ORDERNOTEXIST");

        f.core
            .pay(DEFAULT_MCH_ID, "C1", &PayOptions::default())
            .unwrap();
        let paid = query("C1");
        assert_eq!(paid["tradeState"], "SUCCESS");
        assert_eq!(paid["cashFee"], 100);
        assert!(paid["transactionId"].as_str().unwrap().starts_with("4200"));
        let closed = f.call(
            Operation::CloseOrder,
            json!({"subMchId": DEFAULT_MCH_ID, "outTradeNo": "C1"}),
        );
        assert_eq!(closed["errCode"], "ORDERPAID");

        let refund = f.call(
            Operation::Refund,
            json!({
                "subMchId": DEFAULT_MCH_ID, "outTradeNo": "C1", "outRefundNo": "C1-R1",
                "totalFee": 100, "refundFee": 30, "nonceStr": "x",
                "functionName": "refund_cb", "envId": "test-123",
            }),
        );
        assert_eq!(refund["resultCode"], "SUCCESS", "{refund}");
        assert_eq!(refund["refundFee"], 30);
        assert_eq!(refund["outRefundNo"], "C1-R1");
        assert_eq!(
            f.core.refunds()[0].cloud_function.as_deref(),
            Some("test-123/refund_cb")
        );
        let refunds = f.call(
            Operation::QueryRefund,
            json!({"subMchId": DEFAULT_MCH_ID, "outTradeNo": "C1"}),
        );
        assert_eq!(refunds["refundCount"], 1);
        assert_eq!(refunds["refundFee0"], 30);
        assert_eq!(refunds["outRefundNo0"], "C1-R1");
        // refundFee names the cloud function in both or neither.
        let half = f.call(
            Operation::Refund,
            json!({
                "subMchId": DEFAULT_MCH_ID, "outTradeNo": "C1", "outRefundNo": "C1-R2",
                "totalFee": 100, "refundFee": 30, "functionName": "refund_cb",
            }),
        );
        assert_eq!(half["errCodeDes"], "缺少参数envId");

        f.order("C2");
        let closed = f.call(
            Operation::CloseOrder,
            json!({"subMchId": DEFAULT_MCH_ID, "outTradeNo": "C2"}),
        );
        assert_eq!(closed["resultCode"], "SUCCESS", "{closed}");
        assert_eq!(query("C2")["tradeState"], "CLOSED");
    }

    #[test]
    fn the_callback_event_is_the_notification_in_camel_case_without_sign() {
        let mut message = Message::new();
        message
            .set("appid", DEFAULT_APPIDS[0])
            .set("bank_type", "CFT")
            .set("is_subscribe", "N")
            .set("mch_id", DEFAULT_MCH_ID)
            .set("nonce_str", "n")
            .set("openid", "o1")
            .set("out_trade_no", "C1")
            .set("result_code", "SUCCESS")
            .set("return_code", "SUCCESS")
            .set("time_end", "20261120120000")
            .set_int("total_fee", 100)
            .set_int("cash_fee", 100)
            .set("transaction_id", "4200")
            .set("sign", "ABC");
        let event = Value::Object(callback_event(&message));
        assert_eq!(
            event,
            json!({
                "appid": DEFAULT_APPIDS[0],
                "bankType": "CFT",
                "isSubscribe": "N",
                "mchId": CLOUD_PROVIDER_MCH_ID,
                "subAppid": DEFAULT_APPIDS[0],
                "subMchId": DEFAULT_MCH_ID,
                "nonceStr": "n",
                "openid": "o1",
                "outTradeNo": "C1",
                "resultCode": "SUCCESS",
                "returnCode": "SUCCESS",
                "timeEnd": "20261120120000",
                "totalFee": 100,
                "cashFee": 100,
                "transactionId": "4200",
                "subOpenid": "o1",
                "subIsSubscribe": "N",
            })
        );
    }

    #[test]
    fn only_errcode_zero_acknowledges() {
        assert!(crate::wechat::notify_build::cloud_ack(200, br#"{"errcode":0,"errmsg":""}"#).0);
        assert!(crate::wechat::notify_build::cloud_ack(200, br#"{"errcode":0}"#).0);
        for (status, body) in [
            (500, &br#"{"errcode":0}"#[..]),
            (200, br#"{"errcode":1,"errmsg":"later"}"#),
            (200, br#"{"errcode":"0"}"#),
            (200, br#"{"errmsg":""}"#),
            (200, b"SUCCESS"),
            (200, b"<xml><return_code>SUCCESS</return_code></xml>"),
            (200, b""),
        ] {
            let (accepted, reason) = crate::wechat::notify_build::cloud_ack(status, body);
            assert!(!accepted, "{status} {}", String::from_utf8_lossy(body));
            assert!(!reason.is_empty());
        }
    }

    #[test]
    fn functions_are_env_slash_name_and_a_url_on_this_machine() {
        let f = fixture();
        let function = CloudFunction::parse("test-123/pay_cb=http://127.0.0.1:9000/cb").unwrap();
        assert_eq!(function.key(), "test-123/pay_cb");
        assert_eq!(function.url, "http://127.0.0.1:9000/cb");
        f.core.add_cloud_function(function).unwrap();
        assert_eq!(
            f.core
                .notifier
                .cloud_functions
                .url("test-123/pay_cb")
                .as_deref(),
            Some("http://127.0.0.1:9000/cb")
        );
        for bad in [
            "pay_cb=http://127.0.0.1/",
            "test/pay_cb",
            "te st/pay_cb=http://127.0.0.1/",
            "test/=http://127.0.0.1/",
            "test/pay_cb=ftp://127.0.0.1/",
        ] {
            assert!(CloudFunction::parse(bad).is_err(), "{bad}");
        }
        let remote = CloudFunction::parse("test/cb=http://example.com/").unwrap();
        assert!(f.core.add_cloud_function(remote).is_err());
        f.core.clear_cloud_functions();
        assert!(f.core.cloud_functions().is_empty());
    }
}
