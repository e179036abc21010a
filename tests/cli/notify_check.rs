//! `notify check`: the acceptance cases, sent by the real binary to notify handlers and cloud
//! functions written here as small local HTTP servers, one correct and one careless of each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use wxpay_ops::emulator::merchant::{DEFAULT_API_KEY, DEFAULT_APPIDS, DEFAULT_MCH_ID};
use wxpay_ops::wechat::notify::{
    REPLY_SUCCESS, Recipient, decrypt_refund, reply_fail, verify_payment,
};
use wxpay_ops::wechat::{ApiKey, Message};

use crate::common::{Reply, serve_http};
use crate::order::Shop;

/// The orders a shop's handler knows: amount, and how many times each was shipped.
#[derive(Default)]
struct Orders {
    amounts: HashMap<String, i64>,
    shipped: HashMap<String, u32>,
    /// Every body received, in order.
    received: Vec<Vec<u8>>,
}

type Shared = Arc<Mutex<Orders>>;

fn orders(known: &[(&str, i64)]) -> Shared {
    let mut orders = Orders::default();
    for (number, amount) in known {
        orders.amounts.insert((*number).to_owned(), *amount);
    }
    Arc::new(Mutex::new(orders))
}

fn success() -> Reply {
    Reply::Answer(200, REPLY_SUCCESS.to_owned())
}

fn fail(reason: &str) -> Reply {
    Reply::Answer(200, reply_fail(reason))
}

/// How the careless handler differs from the correct one.
#[derive(Clone, Copy, PartialEq)]
enum Care {
    Correct,
    /// Skips the sign check, and acknowledges before it compares the amount.
    Careless,
}

/// A notify handler as a merchant writes it: parse, verify the sign, check mch_id and appid,
/// find the order, compare the amount, then mark it paid once and acknowledge. A refund
/// notification is acknowledged when its req_info decrypts and names a known order.
fn handler(care: Care, orders: Shared) -> String {
    let key = ApiKey::new(DEFAULT_API_KEY);
    serve_http(move |body| {
        let mut orders = orders.lock().unwrap();
        orders.received.push(body.to_vec());
        let Ok(message) = Message::parse(body) else {
            return fail("not a notification");
        };
        let recipient = Recipient {
            mch_id: Some(DEFAULT_MCH_ID),
            appid: Some(DEFAULT_APPIDS[0]),
        };
        if message.get("req_info").is_some() {
            return match decrypt_refund(body, &key) {
                Ok(refund)
                    if recipient.mismatches(&refund.envelope).is_empty()
                        && orders
                            .amounts
                            .contains_key(refund.info.get("out_trade_no").unwrap_or("")) =>
                {
                    success()
                }
                _ => fail("req_info"),
            };
        }
        let notification = verify_payment(body, &key, None).unwrap();
        if care == Care::Correct && !notification.is_authentic() {
            return fail("签名失败");
        }
        if !recipient.mismatches(&message).is_empty() {
            return fail("mch_id");
        }
        let number = message.get("out_trade_no").unwrap_or("").to_owned();
        let Some(&amount) = orders.amounts.get(&number) else {
            return fail("unknown order");
        };
        let paid: i64 = message.get("total_fee").unwrap_or("").parse().unwrap_or(-1);
        if care == Care::Correct && paid != amount {
            return fail("total_fee");
        }
        // Shipped once, however often the notification comes.
        orders.shipped.entry(number).or_insert(1);
        // The careless handler compares the amount only after acknowledging (and then
        // refuses to ship, but WeChat Pay has been told all is well).
        success()
    })
}

fn check(shop: &Shop, url: &str, extra: &[&str]) -> crate::common::Output {
    let mut args = vec!["notify", "check", url, "--format", "json"];
    args.extend_from_slice(extra);
    shop.run(&args)
}

fn verdicts(json: &Value) -> Vec<(u64, String)> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|case| {
            (
                case["case"].as_u64().unwrap(),
                case["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn failed(json: &Value) -> Vec<u64> {
    verdicts(json)
        .into_iter()
        .filter(|(_, verdict)| verdict == "fail")
        .map(|(case, _)| case)
        .collect()
}

/// A `notify check` that works: a correct handler that knows the order, which `numbers` and
/// `writes` run with their own flags.
pub(crate) fn working_check(out_trade_no: &str) -> Vec<String> {
    let url = handler(Care::Correct, orders(&[(out_trade_no, 2500)]));
    [
        "notify",
        "check",
        &url,
        "--out-trade-no",
        out_trade_no,
        "--order-amount",
        "2500",
    ]
    .iter()
    .map(|w| (*w).to_owned())
    .collect()
}

const ORDER: &[&str] = &["--out-trade-no", "SHOP-1001", "--order-amount", "2500"];

#[test]
fn a_correct_handler_passes_all_seven_cases() {
    let shop = Shop::new();
    let orders = orders(&[("SHOP-1001", 2500)]);
    let url = handler(Care::Correct, orders.clone()) + "/notify";
    let out = check(&shop, &url, ORDER).expect(0);
    let json = out.json();
    assert_eq!(
        verdicts(&json),
        (1..=7).map(|n| (n, "pass".to_owned())).collect::<Vec<_>>(),
        "{json:#}"
    );
    assert!(out.stderr.contains("7 of 7 cases hold"), "{}", out.stderr);
    // Case 2 says what the check cannot see, and where to look.
    let note = json[1]["note"].as_str().unwrap();
    assert!(
        note.contains("cannot see") && note.contains("log"),
        "{note}"
    );
    assert!(note.contains("SHOP-1001"), "{note}");
    // Case 7 sent the real XXE sample as it is, and then a valid notification.
    let orders = orders.lock().unwrap();
    let xxe = std::fs::read(crate::common::real_fixture(
        "invalid.xxe_injection.sample.xml",
    ))
    .unwrap();
    assert!(orders.received.contains(&xxe));
    assert!(orders.received.contains(&Vec::new()));
    assert_eq!(orders.shipped.get("SHOP-1001"), Some(&1));
    let sent = json[6]["sent"].as_array().unwrap();
    let what: Vec<&str> = sent.iter().map(|s| s["what"].as_str().unwrap()).collect();
    assert_eq!(what, ["empty", "truncated", "XXE", "then valid"]);
    assert_eq!(sent[3]["acknowledged"], true);
    // Case 2 sent case 1's notification again, byte for byte.
    let valid: Vec<&Vec<u8>> = orders
        .received
        .iter()
        .filter(|body| body.windows(9).any(|w| w == b"SHOP-1001"))
        .collect();
    assert_eq!(valid[0], valid[1]);
}

#[test]
fn a_careless_handler_fails_the_sign_and_amount_cases_exactly() {
    let shop = Shop::new();
    let url = handler(Care::Careless, orders(&[("SHOP-1001", 2500)]));
    let out = check(&shop, &url, ORDER).expect(1);
    let json = out.json();
    assert_eq!(failed(&json), [3, 4], "{json:#}");
    assert!(
        out.stderr.contains("5 of 7 cases hold; failed: 3, 4"),
        "{}",
        out.stderr
    );
    assert!(json[2]["note"].as_str().unwrap().contains("sign"));
    assert!(json[3]["note"].as_str().unwrap().contains("total_fee 1"));
    assert_eq!(json[3]["got"], "SUCCESS");
}

#[test]
fn the_table_shows_case_expected_got_and_verdict() {
    let shop = Shop::new();
    let url = handler(Care::Careless, orders(&[("SHOP-1001", 2500)]));
    let mut args = vec!["notify", "check", &url, "--format", "table", "--only", "3"];
    args.extend_from_slice(ORDER);
    let out = shop.run(&args).expect(1);
    let header = out.stdout.lines().find(|l| l.contains("expected")).unwrap();
    for column in ["case", "expected", "got", "verdict"] {
        assert!(header.contains(column), "{}", out.stdout);
    }
    assert!(out.stdout.contains("3 wrong sign"), "{}", out.stdout);
    assert!(out.stdout.contains("fail"), "{}", out.stdout);
    assert!(
        out.stderr.contains("case 3: it acknowledged"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_handler_that_dies_on_the_xxe_payload_fails_case_7() {
    let shop = Shop::new();
    let url = serve_http(|body| {
        if body.windows(7).any(|w| w == b"<!DOCTY") {
            Reply::Die
        } else if body.is_empty() {
            // A server error is counted as no SUCCESS.
            Reply::Answer(500, "Internal Server Error".to_owned())
        } else {
            fail("bad")
        }
    });
    let mut args = vec!["--only", "7"];
    args.extend_from_slice(ORDER);
    let json = check(&shop, &url, &args).expect(1).json();
    assert_eq!(failed(&json), [7]);
    let note = json[0]["note"].as_str().unwrap();
    assert!(note.contains("XXE"), "{note}");
    let sent = json[0]["sent"].as_array().unwrap();
    assert_eq!(sent[0]["status"], 500);
    assert_eq!(sent[3]["status"], Value::Null);
}

/// A handler that is not there fails every case: the cases that want no SUCCESS are not
/// passed by silence.
#[test]
fn a_handler_that_is_not_running_fails_every_case() {
    let shop = Shop::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/notify");
    let json = check(&shop, &url, ORDER).expect(1).json();
    assert_eq!(failed(&json), [1, 2, 3, 4, 5, 6, 7]);
    assert!(
        json[2]["got"].as_str().unwrap().contains("cannot connect"),
        "{json:#}"
    );
}

#[test]
fn server_errors_on_malformed_bodies_are_counted_as_no_success() {
    let shop = Shop::new();
    let orders = orders(&[("SHOP-1001", 2500)]);
    let correct = handler(Care::Correct, orders);
    let proxy = serve_http(move |body| {
        if Message::parse(body).is_err() {
            return Reply::Answer(500, String::new());
        }
        let answer = reqwest::blocking::Client::new()
            .post(&correct)
            .body(body.to_vec())
            .send()
            .unwrap()
            .text()
            .unwrap();
        Reply::Answer(200, answer)
    });
    let mut args = vec!["--only", "7"];
    args.extend_from_slice(ORDER);
    let json = check(&shop, &proxy, &args).expect(0).json();
    assert_eq!(json[0]["verdict"], "pass");
    assert!(json[0]["note"].as_str().unwrap().contains("HTTP 5xx"));
}

#[test]
fn a_slow_handler_fails_case_1_after_the_timeout() {
    let shop = Shop::new();
    let url = serve_http(|_| {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        success()
    });
    let mut args = vec!["--only", "1", "--timeout", "0.5"];
    args.extend_from_slice(ORDER);
    let json = check(&shop, &url, &args).expect(1).json();
    assert_eq!(json[0]["verdict"], "fail");
    assert!(
        json[0]["got"]
            .as_str()
            .unwrap()
            .starts_with("no answer in 0.5")
    );
}

#[test]
fn from_order_reports_the_emulators_order_with_its_real_fields() {
    let shop = Shop::new();
    shop.place("SHOP-2002", "1234");
    let transaction_id = shop.pay("SHOP-2002");
    let orders = orders(&[("SHOP-2002", 1234)]);
    let url = handler(Care::Correct, orders.clone());
    let json = check(&shop, &url, &["--from-order", "SHOP-2002", "--only", "1"])
        .expect(0)
        .json();
    assert_eq!(json[0]["verdict"], "pass");
    let first = Message::parse(&orders.lock().unwrap().received[0]).unwrap();
    assert_eq!(first.get("transaction_id"), Some(transaction_id.as_str()));
    assert_eq!(first.get("total_fee"), Some("1234"));
    assert_eq!(first.get("trade_type"), Some("NATIVE"));
}

#[test]
fn from_order_of_an_unknown_order_is_the_servers_refusal() {
    let shop = Shop::new();
    let url = handler(Care::Correct, orders(&[]));
    check(&shop, &url, &["--from-order", "NO-SUCH-ORDER"])
        .expect(3)
        .error_mentions("ORDERNOTEXIST");
}

#[test]
fn only_loopback_or_a_named_host_is_sent_to() {
    let shop = Shop::new();
    let mut args = vec!["notify", "check", "https://shop.example.com/notify"];
    args.extend_from_slice(ORDER);
    shop.run(&args)
        .expect(2)
        .error_mentions("shop.example.com is not this machine")
        .hint_mentions("--allow-host");
    // The refund URL is held to the same rule.
    let url = handler(Care::Correct, orders(&[]));
    let mut args = vec![
        "notify",
        "check",
        &url,
        "--refund-url",
        "http://10.1.2.3/refund",
    ];
    args.extend_from_slice(ORDER);
    shop.run(&args).expect(2).error_mentions("10.1.2.3");
}

#[test]
fn an_order_must_be_named_and_cases_exist() {
    let shop = Shop::new();
    let url = handler(Care::Correct, orders(&[]));
    shop.run(&["notify", "check", &url])
        .expect(2)
        .error_mentions("which order")
        .hint_mentions("--from-order");
    shop.run(&["notify", "check", &url, "--only", "8"])
        .expect(2);
    let mut args = vec!["notify", "check", &url, "--cloud", "--only", "4"];
    args.extend_from_slice(ORDER);
    shop.run(&args).expect(2).error_mentions("cases 1 to 3");
}

/// A cloud function served locally: `{"errcode": 0}` for an event of a known order, once
/// processed or again. The careless one answers a repeated event with an error and
/// crashes (HTTP 500) on an event it cannot read.
fn cloud_function(care: Care, orders: Shared) -> String {
    serve_http(move |body| {
        let mut orders = orders.lock().unwrap();
        orders.received.push(body.to_vec());
        let answer = |errcode: i64, errmsg: &str| {
            Reply::Answer(
                200,
                serde_json::json!({ "errcode": errcode, "errmsg": errmsg }).to_string(),
            )
        };
        let event: Option<(String, i64)> =
            serde_json::from_slice::<Value>(body).ok().and_then(|e| {
                Some((
                    e["outTradeNo"].as_str()?.to_owned(),
                    e["totalFee"].as_i64()?,
                ))
            });
        let Some((number, fee)) = event else {
            return match care {
                Care::Correct => answer(1, "not a payment event"),
                Care::Careless => Reply::Answer(500, "TypeError".to_owned()),
            };
        };
        if orders.amounts.get(&number) != Some(&fee) {
            return answer(1, "unknown order");
        }
        if orders.shipped.contains_key(&number) && care == Care::Careless {
            return answer(1, "already paid");
        }
        orders.shipped.entry(number).or_insert(1);
        answer(0, "")
    })
}

#[test]
fn a_correct_cloud_function_passes_all_three_cases() {
    let shop = Shop::new();
    let orders = orders(&[("SHOP-1001", 2500)]);
    let url = cloud_function(Care::Correct, orders.clone());
    let mut args = vec!["--cloud"];
    args.extend_from_slice(ORDER);
    let out = check(&shop, &url, &args).expect(0);
    let json = out.json();
    assert_eq!(
        verdicts(&json),
        [(1, "pass".into()), (2, "pass".into()), (3, "pass".into())],
        "{json:#}"
    );
    assert!(out.stderr.contains("3 of 3 cases hold"));
    let event: Value = serde_json::from_slice(&orders.lock().unwrap().received[0]).unwrap();
    assert_eq!(event["totalFee"], 2500);
    assert_eq!(event["subMchId"], DEFAULT_MCH_ID);
    assert_eq!(event["subAppid"], DEFAULT_APPIDS[0]);
    assert!(event.get("sign").is_none());
}

#[test]
fn a_careless_cloud_function_fails_the_repeat_and_the_malformed_case() {
    let shop = Shop::new();
    let url = cloud_function(Care::Careless, orders(&[("SHOP-1001", 2500)]));
    let mut args = vec!["--cloud"];
    args.extend_from_slice(ORDER);
    let json = check(&shop, &url, &args).expect(1).json();
    assert_eq!(failed(&json), [2, 3], "{json:#}");
    assert_eq!(json[1]["got"], "HTTP 200 errcode 1 already paid");
    assert!(json[2]["note"].as_str().unwrap().contains("crashed"));
}
