//! Cloud pay on the emulator: `order create --cloud` through the real binary, the callback
//! to a cloud function with its retries, and the same orders seen through the v2 API.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;
use wxpay_ops::emulator::cloudpay::CloudFunction;
use wxpay_ops::emulator::merchant::{DEFAULT_APPIDS, DEFAULT_MCH_ID};
use wxpay_ops::emulator::notify::{Attempt, NotificationKind};
use wxpay_ops::emulator::state::PayOptions;
use wxpay_ops::wechat::notify_build::CLOUD_PROVIDER_MCH_ID;

use crate::common::{Env, Reply, serve_http};
use crate::order::{OPENID, Shop};

const ENV_ID: &str = "test-123";
const FUNCTION: &str = "pay_cb";
const ACK: &str = r#"{"errcode":0,"errmsg":""}"#;

/// A cloud function on loopback: answers from a script of replies (the last repeats),
/// each after a pause, and keeps the events it was sent.
struct Function {
    url: String,
    events: Arc<Mutex<Vec<Value>>>,
}

impl Function {
    fn start(replies: Vec<(u16, &'static str, Duration)>) -> Function {
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let kept = events.clone();
        let mut served = 0;
        let base = serve_http(move |body| {
            let event = serde_json::from_slice(body).expect("the event is JSON");
            kept.lock().unwrap().push(event);
            let (status, reply, pause) = replies[served.min(replies.len() - 1)];
            served += 1;
            std::thread::sleep(pause);
            Reply::Answer(status, reply.to_owned())
        });
        Function {
            url: format!("{base}/{FUNCTION}"),
            events,
        }
    }

    fn answering(status: u16, reply: &'static str) -> Function {
        Function::start(vec![(status, reply, Duration::ZERO)])
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }
}

/// The attempts to reach cloud functions, once `count` of them are logged (or after ten
/// seconds), with a moment more to show that no further one comes.
fn cloud_attempts(shop: &Shop, count: usize) -> Vec<Attempt> {
    let attempts = || -> Vec<Attempt> {
        let all = shop.emulator.core().notifier.attempts();
        all.into_iter()
            .filter(|a| a.cloud_function.is_some())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while attempts().len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    attempts()
}

fn give(shop: &Shop, url: &str) {
    shop.emulator
        .core()
        .add_cloud_function(CloudFunction {
            env_id: ENV_ID.into(),
            name: FUNCTION.into(),
            url: url.into(),
        })
        .unwrap();
}

fn create(shop: &Shop, out_trade_no: &str, extra: &[&str]) -> crate::common::Output {
    let mut args = vec![
        "order",
        "create",
        "--cloud",
        ENV_ID,
        "--function",
        FUNCTION,
        "--out-trade-no",
        out_trade_no,
        "--amount",
        "1.50yuan",
        "--body",
        "Shop-Tea",
        "--openid",
        OPENID,
    ];
    args.extend_from_slice(extra);
    shop.run(&args)
}

fn pay(shop: &Shop, out_trade_no: &str) {
    shop.emulator
        .core()
        .pay(DEFAULT_MCH_ID, out_trade_no, &PayOptions::default())
        .unwrap();
}

#[test]
fn order_create_cloud_prints_a_payment_whose_paysign_paysign_reproduces() {
    let shop = Shop::new();
    let function = Function::answering(200, ACK);
    give(&shop, &function.url);
    let out = create(&shop, "C1", &[]).expect(0);
    assert!(
        out.stderr.contains("cloud-pay order C1 placed"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("test-123/pay_cb"), "{}", out.stderr);
    let payment = out.json();
    let keys: Vec<&str> = payment
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
    assert_eq!(payment["appId"], DEFAULT_APPIDS[0]);
    assert_eq!(payment["signType"], "MD5");
    let prepay_id = payment["package"]
        .as_str()
        .unwrap()
        .strip_prefix("prepay_id=")
        .unwrap();

    // `paysign jsapi` with the same fields and the profile's key gives the same paySign.
    let again = shop
        .run(&[
            "paysign",
            "jsapi",
            "--prepay-id",
            prepay_id,
            "--appid",
            payment["appId"].as_str().unwrap(),
            "--timestamp",
            payment["timeStamp"].as_str().unwrap(),
            "--nonce",
            payment["nonceStr"].as_str().unwrap(),
            "--sign-type",
            "MD5",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(again["paySign"], payment["paySign"]);
    assert_eq!(again["package"], payment["package"]);

    // Table and CSV show the same object.
    let csv = create(&shop, "C1", &["--format", "csv"]).expect(0);
    let mut lines = csv.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("appId,timeStamp,nonceStr,package,signType,paySign")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .contains(&format!("prepay_id={prepay_id}"))
    );
    let table = create(&shop, "C1", &["--format", "table"]).expect(0);
    assert!(table.stdout.contains("paySign"), "{}", table.stdout);

    // The v2 API sees the cloud order: orderquery with the merchant's own profile.
    let state = shop
        .run(&["order", "query", "--out-trade-no", "C1", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(state["trade_state"], "NOTPAY");
    assert_eq!(state["total_fee"], 150);
    pay(&shop, "C1");
    let state = shop
        .run(&["order", "query", "--out-trade-no", "C1", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(state["trade_state"], "SUCCESS");

    // The function got the payment event in camelCase, unsigned, and acknowledged it once.
    let attempts = cloud_attempts(&shop, 1);
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(attempts[0].accepted, "{attempts:?}");
    assert_eq!(attempts[0].kind, NotificationKind::Payment);
    assert_eq!(attempts[0].url, function.url);
    let events = function.events();
    let event = &events[0];
    assert_eq!(event["outTradeNo"], "C1");
    assert_eq!(event["returnCode"], "SUCCESS");
    assert_eq!(event["resultCode"], "SUCCESS");
    assert_eq!(event["totalFee"], 150);
    assert_eq!(event["cashFee"], 150);
    assert_eq!(event["subMchId"], DEFAULT_MCH_ID);
    assert_eq!(event["mchId"], CLOUD_PROVIDER_MCH_ID);
    assert_eq!(event["subAppid"], DEFAULT_APPIDS[0]);
    assert_eq!(event["subOpenid"], OPENID);
    assert_eq!(event["transactionId"], state["transaction_id"]);
    assert!(event.get("sign").is_none() && event.get("out_trade_no").is_none());
}

#[test]
fn the_function_is_called_again_until_it_answers_errcode_0() {
    let shop = Shop::new();
    // A non-zero errcode, HTTP 500, a timeout (the emulator waits 3 s), the notify_url's
    // XML reply: each is no acknowledgement. Then errcode 0 ends the retries.
    let function = Function::start(vec![
        (200, r#"{"errcode":-1,"errmsg":"not yet"}"#, Duration::ZERO),
        (500, ACK, Duration::ZERO),
        (200, ACK, Duration::from_millis(3500)),
        (
            200,
            "<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>",
            Duration::ZERO,
        ),
        (200, ACK, Duration::ZERO),
    ]);
    give(&shop, &function.url);
    create(&shop, "C2", &["-q"]).expect(0);
    pay(&shop, "C2");
    let attempts = cloud_attempts(&shop, 5);
    let accepted: Vec<bool> = attempts.iter().map(|a| a.accepted).collect();
    assert_eq!(accepted, [false, false, false, false, true], "{attempts:?}");
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    for (attempt, says) in attempts.iter().zip([
        "errcode -1 is not 0",
        "HTTP 500",
        "delivery failed",
        "not a JSON object with errcode",
        "errcode 0, accepted",
    ]) {
        assert!(attempt.outcome.contains(says), "{attempt:?}");
        assert_eq!(attempt.cloud_function.as_deref(), Some("test-123/pay_cb"));
    }
    let events = function.events();
    assert_eq!(events.len(), 5);
    assert!(
        events.windows(2).all(|w| w[0] == w[1]),
        "a retry repeats the event"
    );

    // The control plane lists the attempts, with the function named.
    let listed: Value = reqwest::blocking::get(format!(
        "{}/__emulator/notifications",
        shop.emulator.base_url()
    ))
    .unwrap()
    .json()
    .unwrap();
    let named = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["cloud_function"] == "test-123/pay_cb")
        .count();
    assert_eq!(named, 5);
}

#[test]
fn a_function_given_late_gets_the_retries_and_refund_callbacks_go_to_theirs() {
    let shop = Shop::new();
    create(&shop, "C3", &["-q"]).expect(0);
    pay(&shop, "C3");
    let missing = cloud_attempts(&shop, 2);
    assert!(
        missing[0]
            .outcome
            .contains("no cloud function test-123/pay_cb"),
        "{missing:?}"
    );
    assert!(!missing[0].accepted && missing[0].url.is_empty());

    // Given on the control plane, the function gets the next retry.
    let function = Function::answering(200, ACK);
    let http = reqwest::blocking::Client::new();
    let control = format!("{}/__emulator/cloud-functions", shop.emulator.base_url());
    let listed: Value = http
        .post(&control)
        .body(json!({"env_id": ENV_ID, "name": FUNCTION, "url": function.url}).to_string())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed[0]["url"], function.url.as_str());
    let refused = http
        .post(&control)
        .body(json!({"env_id": ENV_ID, "name": "x", "url": "http://example.com/"}).to_string())
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    let deadline = Instant::now() + Duration::from_secs(10);
    while function.events().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(function.events()[0]["outTradeNo"], "C3");

    // A cloud refund names its own function for the result.
    let refunds = Function::answering(200, ACK);
    http.post(&control)
        .body(json!({"env_id": ENV_ID, "name": "refund_cb", "url": refunds.url}).to_string())
        .send()
        .unwrap();
    let answer: Value = http
        .post(format!("{}/__cloudpay/refund", shop.emulator.base_url()))
        .body(
            json!({
                "subMchId": DEFAULT_MCH_ID, "nonceStr": "n1", "outTradeNo": "C3",
                "outRefundNo": "C3-R1", "totalFee": 150, "refundFee": 50,
                "envId": ENV_ID, "functionName": "refund_cb",
            })
            .to_string(),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["resultCode"], "SUCCESS", "{answer}");
    assert_eq!(answer["refundFee"], 50);
    let deadline = Instant::now() + Duration::from_secs(10);
    while refunds.events().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let event = &refunds.events()[0];
    assert_eq!(event["outRefundNo"], "C3-R1");
    assert_eq!(event["refundStatus"], "SUCCESS");
    assert_eq!(event["refundFee"], 50);
    assert_eq!(event["subMchId"], DEFAULT_MCH_ID);
    assert!(
        event.get("reqInfo").is_none(),
        "the cloud decrypts: {event}"
    );

    // v2 refundquery sees the cloud refund.
    let refunded = shop
        .run(&[
            "refund",
            "query",
            "--out-trade-no",
            "C3",
            "--format",
            "json",
        ])
        .expect(0)
        .stdout;
    assert!(refunded.contains("C3-R1"), "{refunded}");
}

#[test]
fn query_and_close_answer_in_cloud_pays_shape() {
    let shop = Shop::new();
    shop.emulator.core().allow_early_close(true);
    create(&shop, "C4", &["-q"]).expect(0);
    let http = reqwest::blocking::Client::new();
    let call = |operation: &str, body: Value| -> Value {
        http.post(format!(
            "{}/__cloudpay/{operation}",
            shop.emulator.base_url()
        ))
        .body(body.to_string())
        .send()
        .unwrap()
        .json()
        .unwrap()
    };
    let query = call(
        "queryOrder",
        json!({"subMchId": DEFAULT_MCH_ID, "outTradeNo": "C4", "nonceStr": "n"}),
    );
    assert_eq!(query["returnCode"], "SUCCESS");
    assert_eq!(query["tradeState"], "NOTPAY");
    assert_eq!(query["totalFee"], 150);
    assert_eq!(query["mchId"], CLOUD_PROVIDER_MCH_ID);
    let closed = call(
        "closeOrder",
        json!({"subMchId": DEFAULT_MCH_ID, "outTradeNo": "C4", "nonceStr": "n"}),
    );
    assert_eq!(closed["resultCode"], "SUCCESS", "{closed}");
    let state = shop
        .run(&["order", "query", "--out-trade-no", "C4", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(state["trade_state"], "CLOSED");
    // An order the cloud does not know of is refused in its shape.
    let unknown = call(
        "queryOrder",
        json!({"subMchId": DEFAULT_MCH_ID, "outTradeNo": "NONE", "nonceStr": "n"}),
    );
    assert_eq!(unknown["resultCode"], "FAIL");
    assert_eq!(unknown["errCode"], "ORDERNOTEXIST");
    // The cloud-pay requests are in the request log.
    assert_eq!(shop.requests("/__cloudpay/queryOrder"), 2);
    assert_eq!(shop.requests("/__cloudpay/unifiedOrder"), 1);
}

#[test]
fn a_cloud_order_is_in_the_days_bill() {
    let shop = Shop::new();
    let clock = &shop.emulator.core().clock;
    let beijing = time::macros::offset!(+8);
    let yesterday = (OffsetDateTime::now_utc().to_offset(beijing) - time::Duration::days(1))
        .replace_time(time::macros::time!(12:00));
    clock.set(yesterday).unwrap();
    create(&shop, "C5", &["-q"]).expect(0);
    pay(&shop, "C5");
    // Ten hours on, yesterday's bill is ready at any hour of today.
    clock
        .set(OffsetDateTime::now_utc() + time::Duration::hours(10))
        .unwrap();
    let bills = shop.env.path("bills").display().to_string();
    shop.run(&[
        "bill",
        "download",
        "--date",
        "yesterday",
        "--bill-dir",
        &bills,
        "-q",
    ])
    .expect(0);
    let bill = walk(&shop.env.path("bills"))
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".ALL.csv"))
        .expect("the bill was saved");
    let text = std::fs::read_to_string(bill).unwrap();
    assert!(text.contains("`C5"), "{text}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn cloud_pay_is_refused_off_the_emulator_and_with_v2_only_flags() {
    let env = Env::new();
    env.doc_profile();
    env.run(&[
        "order",
        "create",
        "--cloud",
        ENV_ID,
        "--function",
        FUNCTION,
        "--out-trade-no",
        "C6",
        "--amount",
        "100",
        "--body",
        "x",
    ])
    .expect(2)
    .error_mentions("names WeChat Pay")
    .hint_mentions("only callable from inside a WeChat cloud function");

    env.run(&[
        "order",
        "create",
        "--cloud",
        ENV_ID,
        "--out-trade-no",
        "C6",
        "--amount",
        "100",
        "--body",
        "x",
    ])
    .expect(2);
    env.run(&[
        "order",
        "create",
        "--cloud",
        ENV_ID,
        "--function",
        FUNCTION,
        "--trade-type",
        "JSAPI",
        "--out-trade-no",
        "C6",
        "--amount",
        "100",
        "--body",
        "x",
    ])
    .expect(2);
    env.run(&[
        "order",
        "create",
        "--out-trade-no",
        "C6",
        "--amount",
        "100",
        "--body",
        "x",
    ])
    .expect(2);
}

#[test]
fn refusals_of_the_emulator_are_exit_3_and_dry_run_sends_nothing() {
    let shop = Shop::new();
    // Without --openid: the emulator has no calling user to take the payer from.
    let mut args = vec![
        "order",
        "create",
        "--cloud",
        ENV_ID,
        "--function",
        FUNCTION,
        "--out-trade-no",
        "C7",
        "--amount",
        "100",
        "--body",
        "x",
    ];
    shop.run(&args)
        .expect(3)
        .error_mentions("PARAM_ERROR JSAPI支付必须传openid");
    args.extend(["--openid", OPENID, "--dry-run", "--format", "json"]);
    let shown = shop.run(&args).expect(0).json();
    assert_eq!(shown["method"], "POST");
    assert!(
        shown["url"]
            .as_str()
            .unwrap()
            .ends_with("/__cloudpay/unifiedOrder")
    );
    assert_eq!(shown["fields"]["subMchId"], DEFAULT_MCH_ID);
    assert_eq!(shown["fields"]["envId"], ENV_ID);
    assert!(shown["fields"].get("sign").is_none());
    assert_eq!(shop.requests("/__cloudpay/unifiedOrder"), 1);
    create(&shop, "C7", &["-q"]).expect(0);
    pay(&shop, "C7");
    create(&shop, "C7", &[])
        .expect(3)
        .error_mentions("ORDERPAID")
        .hint_mentions("already paid");
}
