//! `notify check --api v3`: the acceptance cases, sent by the real binary to v3 notify
//! handlers written here as small local HTTP servers, one correct and one careless, both set up
//! as a merchant sets one up against the emulator (its WeChat Pay public key, the profile's
//! APIv3 key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use wxpay_ops::emulator::merchant::{DEFAULT_APPIDS, DEFAULT_MCH_ID};
use wxpay_ops::emulator::v3::{
    DEFAULT_MERCHANT_APIV3_KEY, WECHATPAY_PUBLIC_KEY, WECHATPAY_PUBLIC_KEY_ID,
};
use wxpay_ops::wechat::ApiV3Key;
use wxpay_ops::wechat::notify::Recipient;
use wxpay_ops::wechat::v3::notify::{Callback, decrypt_json, mismatches};
use wxpay_ops::wechat::v3::{SignedHeaders, VerifyKey, check_answer};

use crate::common::{Reply, serve_http_with_headers};
use crate::order::Shop;

#[derive(Clone, Copy, PartialEq)]
enum Care {
    Correct,
    /// Decrypts and compares, but never checks the signature or its timestamp.
    Careless,
}

/// A v3 notify handler as a merchant writes it: verify the signature (headers, timestamp,
/// key), decrypt the resource, check mchid and appid, find the order and compare the amount;
/// 204 when taken, 4xx otherwise.
fn handler(care: Care, known: &[(&str, i64)]) -> String {
    let amounts: HashMap<String, i64> = known.iter().map(|(n, a)| ((*n).to_owned(), *a)).collect();
    let shipped: Arc<Mutex<Vec<String>>> = Arc::default();
    let public =
        VerifyKey::public_key(WECHATPAY_PUBLIC_KEY.as_bytes(), WECHATPAY_PUBLIC_KEY_ID).unwrap();
    let apiv3_key = ApiV3Key::new(DEFAULT_MERCHANT_APIV3_KEY);
    let refuse = |status: u16| Reply::Answer(status, r#"{"code":"FAIL","message":"失败"}"#.into());
    serve_http_with_headers(move |head, body| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let headers = SignedHeaders::parse(head);
        if care == Care::Correct
            && check_answer(&headers, body, std::slice::from_ref(&public), now).is_err()
        {
            return refuse(401);
        }
        let Ok(callback) = Callback::parse(body) else {
            return refuse(400);
        };
        let Ok(fields) = decrypt_json(&apiv3_key, &callback.resource) else {
            return refuse(400);
        };
        let recipient = Recipient {
            mch_id: Some(DEFAULT_MCH_ID),
            appid: Some(DEFAULT_APPIDS[0]),
        };
        if !mismatches(&recipient, &fields).is_empty() {
            return refuse(400);
        }
        let number = fields["out_trade_no"].as_str().unwrap_or("").to_owned();
        let Some(&amount) = amounts.get(&number) else {
            return refuse(404);
        };
        if callback.event_type == "TRANSACTION.SUCCESS" {
            if fields["amount"]["total"].as_i64() != Some(amount) {
                return refuse(400);
            }
            shipped.lock().unwrap().push(number);
        }
        Reply::Answer(204, String::new())
    })
}

fn check(shop: &Shop, url: &str) -> crate::common::Output {
    shop.run(&[
        "notify",
        "check",
        url,
        "--api",
        "v3",
        "--format",
        "json",
        "--out-trade-no",
        "SHOP-3001",
        "--order-amount",
        "2500",
    ])
}

fn failed(json: &Value) -> Vec<u64> {
    (json.as_array().unwrap().iter())
        .filter(|case| case["verdict"] == "fail")
        .map(|case| case["case"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_correct_v3_handler_passes_all_eight_cases() {
    let shop = Shop::new();
    let url = handler(Care::Correct, &[("SHOP-3001", 2500)]);
    let out = check(&shop, &url).expect(0);
    let json = out.json();
    assert_eq!(json.as_array().unwrap().len(), 8, "{json}");
    assert_eq!(failed(&json), Vec::<u64>::new(), "{json}");
    assert!(out.stderr.contains("8 of 8 cases hold"), "{}", out.stderr);
    assert_eq!(json[0]["sent"][0]["status"], 204);
}

#[test]
fn a_handler_that_skips_the_signature_fails_exactly_the_signature_cases() {
    let shop = Shop::new();
    let url = handler(Care::Careless, &[("SHOP-3001", 2500)]);
    let json = check(&shop, &url).expect(1).json();
    // The changed body, the probe and the stale timestamp are taken by a handler that only
    // decrypts; the amount and the foreign resource are still caught.
    assert_eq!(failed(&json), vec![3, 4, 5], "{json}");
    let probe = json[3]["note"].as_str().unwrap();
    assert!(probe.contains("WECHATPAY/SIGNTEST/"), "{probe}");
}

#[test]
fn a_handler_with_another_apiv3_key_fails_the_valid_cases() {
    let shop = Shop::new();
    let url = handler(Care::Correct, &[("SHOP-3001", 2500)]);
    std::fs::write(
        shop.env.path("other.key"),
        "EmulatorV3Key0123456789abcdefXYZ",
    )
    .unwrap();
    crate::common::set_mode(&shop.env.path("other.key"), 0o600);
    let json = shop
        .run(&[
            "notify",
            "check",
            &url,
            "--api",
            "v3",
            "--format",
            "json",
            "--out-trade-no",
            "SHOP-3001",
            "--order-amount",
            "2500",
            "--apiv3-key-file",
            "other.key",
        ])
        .expect(1)
        .json();
    assert_eq!(failed(&json), vec![1, 2, 8], "{json}");
    let note = json[0]["note"].as_str().unwrap();
    assert!(note.contains("APIv3 key"), "{note}");
}
