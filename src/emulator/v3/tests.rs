//! The emulator's v3 orders, driven as a merchant drives them: requests signed with the
//! default merchant's key, answers checked with the emulator's WeChat Pay public key.

use serde_json::{Value, json};

use super::*;
use crate::emulator::core::{EmulatorOptions, Request};
use crate::emulator::merchant::DEFAULT_API_KEY;
use crate::emulator::state::PayOptions;
use crate::wechat::sign::sign_in_place;
use crate::wechat::v3::{SignedHeaders, authorization, check_answer};
use crate::wechat::{ApiKey, Message};

const APPID: &str = "wx2421b1c4370ec43b";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";

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
        ..EmulatorOptions::default()
    };
    Fixture {
        core: Core::new(options, runtime.handle().clone()),
        _runtime: runtime,
    }
}

struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Whether the emulator's WeChat Pay key signed it, as a client checks it.
    fn verified(&self, now: i64) -> bool {
        let text: String = (self.headers.iter())
            .map(|(name, value)| format!("{name}: {value}\n"))
            .collect();
        let key = VerifyKey::public_key(WECHATPAY_PUBLIC_KEY.as_bytes(), WECHATPAY_PUBLIC_KEY_ID)
            .unwrap();
        check_answer(&SignedHeaders::parse(&text), &self.body, &[key], now).is_ok()
    }
}

impl Fixture {
    /// Signatures are made and checked with this machine's time, not the emulator's clock.
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    /// A request signed by the default merchant, `tamper` applied to the body after signing.
    fn call(&self, method: &str, url: &str, body: &str, tamper: impl Fn(&str) -> String) -> Answer {
        self.call_signed_at(self.now() as u64, method, url, body, tamper)
    }

    fn call_signed_at(
        &self,
        timestamp: u64,
        method: &str,
        url: &str,
        body: &str,
        tamper: impl Fn(&str) -> String,
    ) -> Answer {
        let key = MerchantKey::from_pem(DEFAULT_MERCHANT_PRIVATE_KEY.as_bytes()).unwrap();
        let nonce = nonce_str();
        let signature = key.sign(&request_message(
            method,
            url,
            timestamp,
            &nonce,
            body.as_bytes(),
        ));
        let header = authorization(
            DEFAULT_MCH_ID,
            DEFAULT_MERCHANT_SERIAL,
            timestamp,
            &nonce,
            &signature,
        );
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let body = tamper(body);
        let reply = self.core.v3(&V3Request {
            method,
            path,
            query,
            authorization: Some(&header),
            body: body.as_bytes(),
            origin: "https://127.0.0.1:8788",
        });
        Answer {
            status: reply.status,
            headers: reply.headers,
            body: reply.body.into_vec().unwrap(),
        }
    }

    fn send(&self, method: &str, url: &str, body: &str) -> Answer {
        self.call(method, url, body, str::to_owned)
    }

    fn v2(&self, fields: &[(&str, &str)]) -> Message {
        let mut message = Message::new();
        message
            .set("appid", APPID)
            .set("mch_id", DEFAULT_MCH_ID)
            .set("nonce_str", "n1");
        for (name, value) in fields {
            message.set(name, *value);
        }
        sign_in_place(&mut message, &ApiKey::new(DEFAULT_API_KEY), SignType::Md5);
        let body = message.to_xml();
        let reply = self.core.handle(&Request {
            method: "POST",
            path: "/pay/orderquery",
            body: body.as_bytes(),
            client_cert_cn: None,
        });
        Message::parse(&reply.body.into_vec().unwrap()).unwrap()
    }
}

fn jsapi_order(out_trade_no: &str) -> String {
    json!({
        "appid": APPID,
        "mchid": DEFAULT_MCH_ID,
        "description": "Image形象店-深圳腾大-QQ公仔",
        "out_trade_no": out_trade_no,
        "notify_url": "https://www.weixin.qq.com/wxpay/pay.php",
        "amount": { "total": 100, "currency": "CNY" },
        "payer": { "openid": OPENID },
    })
    .to_string()
}

#[test]
fn an_order_placed_on_v3_is_paid_and_queried_on_both_apis() {
    let f = fixture();
    let placed = f.send("POST", "/v3/pay/transactions/jsapi", &jsapi_order("V3-1"));
    assert_eq!(
        placed.status,
        200,
        "{}",
        String::from_utf8_lossy(&placed.body)
    );
    assert!(placed.verified(f.now()));
    let prepay_id = placed.json()["prepay_id"].as_str().unwrap().to_owned();
    assert!(prepay_id.starts_with("wx"), "{prepay_id}");
    // The same request again: the same order, as v2 answers a repeat.
    let again = f.send("POST", "/v3/pay/transactions/jsapi", &jsapi_order("V3-1"));
    assert_eq!(again.json()["prepay_id"], prepay_id.as_str());

    let url = format!("/v3/pay/transactions/out-trade-no/V3-1?mchid={DEFAULT_MCH_ID}");
    let unpaid = f.send("GET", &url, "");
    assert_eq!(unpaid.json()["trade_state"], "NOTPAY");
    f.core
        .pay(DEFAULT_MCH_ID, "V3-1", &PayOptions::default())
        .unwrap();
    let paid = f.send("GET", &url, "");
    assert!(paid.verified(f.now()));
    let paid = paid.json();
    assert_eq!(paid["trade_state"], "SUCCESS");
    assert_eq!(paid["amount"]["total"], 100);
    assert_eq!(paid["payer"]["openid"], OPENID);
    assert!(paid["success_time"].as_str().unwrap().ends_with("+08:00"));
    let id = paid["transaction_id"].as_str().unwrap();
    let by_id = f.send(
        "GET",
        &format!("/v3/pay/transactions/id/{id}?mchid={DEFAULT_MCH_ID}"),
        "",
    );
    assert_eq!(by_id.json()["out_trade_no"], "V3-1");
    // The same order through v2.
    let v2 = f.v2(&[("out_trade_no", "V3-1")]);
    assert_eq!(v2.get("trade_state"), Some("SUCCESS"));
    assert_eq!(v2.get("transaction_id"), Some(id));
}

#[test]
fn native_and_h5_answer_their_urls_and_close_is_a_signed_204() {
    let f = fixture();
    let mut order: Value = serde_json::from_str(&jsapi_order("V3-N")).unwrap();
    order.as_object_mut().unwrap().remove("payer");
    let native = f.send("POST", "/v3/pay/transactions/native", &order.to_string());
    assert!(
        native.json()["code_url"]
            .as_str()
            .unwrap()
            .starts_with("weixin://wxpay/bizpayurl?pr=")
    );
    order["out_trade_no"] = json!("V3-H");
    order["scene_info"] = json!({ "payer_client_ip": "127.0.0.1", "h5_info": { "type": "Wap" } });
    let h5 = f.send("POST", "/v3/pay/transactions/h5", &order.to_string());
    assert!(
        h5.json()["h5_url"]
            .as_str()
            .unwrap()
            .starts_with("https://wx.tenpay.com/")
    );
    let body = json!({ "mchid": DEFAULT_MCH_ID }).to_string();
    let closed = f.send(
        "POST",
        "/v3/pay/transactions/out-trade-no/V3-N/close",
        &body,
    );
    assert_eq!(closed.status, 204);
    assert!(closed.body.is_empty());
    assert!(closed.verified(f.now()));
    let url = format!("/v3/pay/transactions/out-trade-no/V3-N?mchid={DEFAULT_MCH_ID}");
    assert_eq!(f.send("GET", &url, "").json()["trade_state"], "CLOSED");
}

#[test]
fn refusals_are_v3_errors_unsigned() {
    let f = fixture();
    // A body changed after signing: 401 SIGN_ERROR, unsigned.
    let tampered = f.call(
        "POST",
        "/v3/pay/transactions/jsapi",
        &jsapi_order("V3-T"),
        |b| b.replace("\"total\":100", "\"total\":1"),
    );
    assert_eq!(tampered.status, 401);
    assert_eq!(tampered.json()["code"], "SIGN_ERROR");
    assert!(
        !tampered
            .headers
            .iter()
            .any(|(name, _)| *name == "Wechatpay-Signature")
    );
    // No Authorization at all.
    let bare = f.core.v3(&V3Request {
        method: "GET",
        path: "/v3/pay/transactions/out-trade-no/X",
        query: "mchid=1900000109",
        authorization: None,
        body: b"",
        origin: "https://127.0.0.1:8788",
    });
    assert_eq!(bare.status, 401);
    // An order that does not exist; a JSAPI order without a payer; a paid order closed.
    let url = format!("/v3/pay/transactions/out-trade-no/NONE?mchid={DEFAULT_MCH_ID}");
    let missing = f.send("GET", &url, "");
    assert_eq!(
        (missing.status, missing.json()["code"].clone()),
        (404, json!("ORDER_NOT_EXIST"))
    );
    let mut order: Value = serde_json::from_str(&jsapi_order("V3-P")).unwrap();
    order.as_object_mut().unwrap().remove("payer");
    let no_payer = f.send("POST", "/v3/pay/transactions/jsapi", &order.to_string());
    assert_eq!(
        (no_payer.status, no_payer.json()["code"].clone()),
        (400, json!("PARAM_ERROR"))
    );
    f.send("POST", "/v3/pay/transactions/jsapi", &jsapi_order("V3-P"));
    f.core
        .pay(DEFAULT_MCH_ID, "V3-P", &PayOptions::default())
        .unwrap();
    let body = json!({ "mchid": DEFAULT_MCH_ID }).to_string();
    let paid = f.send(
        "POST",
        "/v3/pay/transactions/out-trade-no/V3-P/close",
        &body,
    );
    assert_eq!(
        (paid.status, paid.json()["code"].clone()),
        (400, json!("ORDER_PAID"))
    );
    // The same order number with another amount: the v2 rule, worded in v3.
    let changed = jsapi_order("V3-P").replace("\"total\":100", "\"total\":200");
    let reused = f.send("POST", "/v3/pay/transactions/jsapi", &changed);
    assert!(
        reused.status >= 400,
        "{}",
        String::from_utf8_lossy(&reused.body)
    );
    // A path it does not serve.
    assert_eq!(f.send("GET", "/v3/marketing/favor/stocks", "").status, 404);
}

#[test]
fn the_signature_window_is_this_machines_time_whatever_the_emulators_clock() {
    let f = fixture();
    // Business time moved a day on: requests signed now still pass, and answers are signed now.
    f.core.clock.advance(time::Duration::days(1)).unwrap();
    let placed = f.send("POST", "/v3/pay/transactions/jsapi", &jsapi_order("V3-W"));
    assert_eq!(placed.status, 200);
    assert!(placed.verified(f.now()));
    // Signed six minutes ago: outside the 5-minute window (B1).
    let url = "/v3/pay/transactions/out-trade-no/V3-W?mchid=1900000109";
    let stale = f.call_signed_at(f.now() as u64 - 360, "GET", url, "", str::to_owned);
    assert_eq!(stale.status, 401);
    assert_eq!(stale.json()["code"], "SIGN_ERROR");
}

#[test]
fn an_order_number_with_an_escaped_character_is_found() {
    let f = fixture();
    let placed = f.send("POST", "/v3/pay/transactions/jsapi", &jsapi_order("V3|1"));
    assert_eq!(
        placed.status,
        200,
        "{}",
        String::from_utf8_lossy(&placed.body)
    );
    let url = format!("/v3/pay/transactions/out-trade-no/V3%7C1?mchid={DEFAULT_MCH_ID}");
    let found = f.send("GET", &url, "");
    assert_eq!(found.json()["out_trade_no"], "V3|1");
    // Escapes that do not make UTF-8: no such resource.
    let url = format!("/v3/pay/transactions/out-trade-no/V3%FF1?mchid={DEFAULT_MCH_ID}");
    let refused = f.send("GET", &url, "");
    assert_eq!(
        (refused.status, refused.json()["code"].clone()),
        (404, json!("NOT_FOUND"))
    );
}
