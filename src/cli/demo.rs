//! `wxpay-ops demo`: the signing toolkit run end to end on the documentation merchant's data,
//! every result compared with the value WeChat Pay's documentation or SDKs publish.

use super::failure::{Failure, exit};
use super::settings::Context;
use crate::wechat::notify::{decrypt_req_info, encrypt_req_info, verify_payment};
use crate::wechat::paysign::{PayRequest, PayScene, pay_params};
use crate::wechat::sign::{sign_in_place, sign_pairs};
use crate::wechat::{ApiKey, Message, SignType};

/// The key printed in WeChat Pay's own v2 signing documentation.
const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

const DOC_FIELDS: [(&str, &str); 5] = [
    ("appid", "wxd930ea5d5a258f4f"),
    ("mch_id", "10000100"),
    ("device_info", "1000"),
    ("body", "test"),
    ("nonce_str", "ibuaiVcKdpRxkhJA"),
];

/// The official payment notification sample, fields as published.
const NOTIFICATION: [(&str, &str); 19] = [
    ("appid", "wx2421b1c4370ec43b"),
    ("attach", "支付测试"),
    ("bank_type", "CFT"),
    ("fee_type", "CNY"),
    ("is_subscribe", "Y"),
    ("mch_id", "10000100"),
    ("nonce_str", "5d2b6c2a8db53831f7eda20af46e531c"),
    ("openid", "oUpF8uMEb4qRXf22hE3X68TekukE"),
    ("out_trade_no", "1409811653"),
    ("result_code", "SUCCESS"),
    ("return_code", "SUCCESS"),
    ("time_end", "20140903131540"),
    ("total_fee", "1"),
    ("coupon_fee", "10"),
    ("coupon_count", "1"),
    ("coupon_type", "CASH"),
    ("coupon_id", "10000"),
    ("trade_type", "JSAPI"),
    ("transaction_id", "1004400740201409030005092168"),
];

const REFUND_PLAINTEXT: &str = "<root>\n<out_refund_no><![CDATA[R4001312001201707262674894706_4]]></out_refund_no>\n<refund_fee><![CDATA[15]]></refund_fee>\n<refund_id><![CDATA[50000203702017072601461713166]]></refund_id>\n<refund_status><![CDATA[SUCCESS]]></refund_status>\n</root>";

const XXE: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "http://tst.qq.com/xxe_inject/463103c2ee4067e1c4f5318440dc245d">]>
<foo><value>&xxe;</value></foo>"#;

struct Step {
    name: &'static str,
    expected: String,
    got: String,
}

pub fn run(context: &Context) -> Result<u8, Failure> {
    let key = ApiKey::new(DOC_KEY);
    let mut steps = Vec::new();
    let mut step = |name, expected: &str, got: String| {
        steps.push(Step {
            name,
            expected: expected.to_owned(),
            got,
        })
    };

    step(
        "sign official example (MD5)",
        "9A0A8659F005D6984697E2CA0A9CF3B7",
        sign_pairs(DOC_FIELDS, &key, SignType::Md5),
    );
    step(
        "sign official example (HMAC-SHA256)",
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6",
        sign_pairs(DOC_FIELDS, &key, SignType::HmacSha256),
    );

    let request = PayRequest {
        appid: "wxd930ea5d5a258f4f",
        mch_id: "10000100",
        prepay_id: "wx201410272009395522657a690389285100",
        timestamp: 1414561699,
        nonce: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        sign_type: SignType::Md5,
    };
    let pay_sign = |scene, field| -> Result<String, Failure> {
        let fields = pay_params(scene, &request, &key)?;
        Ok(fields
            .into_iter()
            .find(|(name, _)| *name == field)
            .map(|(_, value)| value)
            .unwrap_or_default())
    };
    step(
        "paysign jsapi",
        "FD19D752A746E5F238A6E53BD99EEBD0",
        pay_sign(PayScene::Jsapi, "paySign")?,
    );
    step(
        "paysign app",
        "1F88CC0F1B0560FF6D5EED1FBB7AE9C0",
        pay_sign(PayScene::App, "sign")?,
    );

    let mut notification = Message::from_pairs(NOTIFICATION).expect("valid sample fields");
    sign_in_place(&mut notification, &key, SignType::Md5);
    let verified = verify_payment(notification.to_xml().as_bytes(), &key, None)
        .map(|n| if n.is_authentic() { "valid" } else { "invalid" })
        .unwrap_or("error");
    step(
        "notify verify (official sample)",
        "valid",
        verified.to_owned(),
    );
    notification.set("total_fee", "100");
    let tampered = verify_payment(notification.to_xml().as_bytes(), &key, None)
        .map(|n| if n.is_authentic() { "valid" } else { "invalid" })
        .unwrap_or("error");
    step(
        "notify verify (amount tampered)",
        "invalid",
        tampered.to_owned(),
    );

    let req_info = encrypt_req_info(REFUND_PLAINTEXT.as_bytes(), &key);
    let refund_id = decrypt_req_info(&req_info, &key)
        .ok()
        .and_then(|info| info.get("refund_id").map(str::to_owned))
        .unwrap_or_else(|| "error".into());
    step(
        "notify decrypt (refund req_info)",
        "50000203702017072601461713166",
        refund_id,
    );
    step(
        "XXE attack sample refused",
        "refused",
        match Message::parse(XXE) {
            Ok(_) => "accepted".into(),
            Err(_) => "refused".into(),
        },
    );

    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let result = if s.expected == s.got {
                "ok"
            } else {
                "MISMATCH"
            };
            vec![s.name.to_owned(), s.got.clone(), result.to_owned()]
        })
        .collect();
    context.printer.rows(&["step", "result", "check"], &rows)?;
    let failed = steps.iter().filter(|s| s.expected != s.got).count();
    if failed > 0 {
        return Err(Failure::new(
            exit::VERIFY,
            format!("{failed} demo step(s) differ from the published values"),
        ));
    }
    context.printer.status(
        "all results equal the values published by WeChat Pay and its SDKs (documentation key, mch_id 10000100)",
    );
    Ok(exit::OK)
}
