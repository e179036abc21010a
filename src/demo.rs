//! The demo job: the signing toolkit checked against published values, then a whole payment
//! flow (order, pay parameters, payment, notification, query, refund over mutual TLS, refund
//! notification, bill) against an in-process emulator. The CLI renders what it returns.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::config::certs::read_p12;
use crate::emulator::clock::parse_api_time;
use crate::emulator::core::Options;
use crate::emulator::merchant::{DEFAULT_API_KEY, DEFAULT_APPIDS, DEFAULT_MCH_ID};
use crate::emulator::state::PayOptions;
use crate::emulator::{Emulator, ServeOptions};
use crate::wechat::client::{Client, ClientOptions};
use crate::wechat::notify::{
    Recipient, decrypt_refund, decrypt_req_info, encrypt_req_info, reply_fail, reply_for,
    verify_payment,
};
use crate::wechat::paysign::{PayRequest, PayScene, pay_params};
use crate::wechat::sign::{sign_in_place, sign_pairs};
use crate::wechat::transport::tls_config;
use crate::wechat::{ApiKey, Message, SignType};

/// One line of the demo's report.
pub struct Step {
    pub name: &'static str,
    pub result: String,
    pub ok: bool,
}

fn check(name: &'static str, expected: &str, got: String) -> Step {
    Step {
        name,
        ok: got == expected,
        result: got,
    }
}

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

/// Every published vector, recomputed.
pub fn published_vectors() -> Vec<Step> {
    let mut steps = Vec::new();
    let mut step = |name, expected: &str, got: String| steps.push(check(name, expected, got));
    let key = ApiKey::new(DOC_KEY);

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
    let pay_sign = |scene, field| pay_field(pay_params(scene, &request, &key), field);
    step(
        "paysign jsapi",
        "FD19D752A746E5F238A6E53BD99EEBD0",
        pay_sign(PayScene::Jsapi, "paySign"),
    );
    step(
        "paysign app",
        "1F88CC0F1B0560FF6D5EED1FBB7AE9C0",
        pay_sign(PayScene::App, "sign"),
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

    steps
}

fn pay_field<E: std::fmt::Display>(
    fields: Result<Vec<(&'static str, String)>, E>,
    name: &str,
) -> String {
    match fields {
        Ok(fields) => fields
            .into_iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value)
            .unwrap_or_default(),
        Err(e) => format!("error: {e}"),
    }
}

/// What the demo's notify_url received, as a merchant backend would record it.
#[derive(Default)]
struct Received {
    payments: Vec<String>,
    refunds: Vec<String>,
}

/// A merchant backend's notify_url: verifies payment notifications, decrypts refund ones,
/// and answers exactly as WeChat Pay requires.
async fn notify_url(key: ApiKey, received: Arc<Mutex<Received>>) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/wxpay/notify", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (key, received) = (key.clone(), received.clone());
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (key, received) = (key.clone(), received.clone());
                async move {
                    let body = request
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let ours = Recipient {
                        mch_id: Some(DEFAULT_MCH_ID),
                        appid: Some(DEFAULT_APPIDS[0]),
                    };
                    let reply = if let Ok(payment) =
                        verify_payment(&body, &key, Some(SignType::Md5))
                        && payment.message.get("req_info").is_none()
                    {
                        let rejections = payment.rejections(&ours);
                        if rejections.is_empty() {
                            let out_trade_no = payment.message.get("out_trade_no").unwrap_or("");
                            let mut received = received.lock().expect("received lock");
                            received.payments.push(out_trade_no.to_owned());
                        }
                        reply_for(&rejections)
                    } else if let Ok(refund) = decrypt_refund(&body, &key) {
                        let rejections = ours.mismatches(&refund.envelope);
                        if rejections.is_empty() {
                            let status = refund.info.get("refund_status").unwrap_or("");
                            let mut received = received.lock().expect("received lock");
                            received.refunds.push(status.to_owned());
                        }
                        reply_for(&rejections)
                    } else {
                        reply_fail("无法识别的通知")
                    };
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(reply))))
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Ok(url)
}

/// Waits (up to five seconds) until `ready` holds for what the notify_url received.
async fn wait_for(received: &Mutex<Received>, ready: impl Fn(&Received) -> bool) -> bool {
    for _ in 0..500 {
        if ready(&received.lock().expect("received lock")) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The whole flow against a fresh in-process emulator, its clock at 2026-11-20 10:00
/// Beijing time so that every run reports the same values.
pub fn emulator_flow() -> Result<Vec<Step>, String> {
    let emulator = Emulator::start(ServeOptions {
        core: Options {
            notify_time_factor: 0.01,
            refund_delay: time::Duration::ZERO,
            ..Options::default()
        },
        ..ServeOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let start = parse_api_time("20261120100000").expect("a valid time");
    emulator
        .core()
        .clock
        .set(start)
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(flow(&emulator))
}

async fn flow(emulator: &Emulator) -> Result<Vec<Step>, String> {
    let key = ApiKey::new(DEFAULT_API_KEY);
    let mut steps = Vec::new();
    let received = Arc::new(Mutex::new(Received::default()));
    let notify = notify_url(key.clone(), received.clone())
        .await
        .map_err(|e| e.to_string())?;
    let client_options = |base: String, tls| ClientOptions {
        tls,
        timeout: Duration::from_secs(10),
        ..ClientOptions::new(
            base,
            DEFAULT_MCH_ID,
            DEFAULT_APPIDS[0],
            key.clone(),
            SignType::Md5,
        )
    };
    let client =
        Client::new(client_options(emulator.base_url(), None)).map_err(|e| e.to_string())?;
    let field = |answer: &Message, name: &str| answer.get(name).unwrap_or("").to_owned();

    let order = client
        .call(
            "/pay/unifiedorder",
            &[
                ("body", "wxpay-ops demo"),
                ("out_trade_no", "DEMO0001"),
                ("total_fee", "100"),
                ("spbill_create_ip", "127.0.0.1"),
                ("notify_url", &notify),
                ("trade_type", "JSAPI"),
                ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
            ],
        )
        .await
        .map_err(|e| e.to_string())?;
    let prepay_id = field(&order, "prepay_id");
    steps.push(Step {
        name: "emulator: unifiedorder JSAPI, answer sign verified",
        ok: field(&order, "result_code") == "SUCCESS" && prepay_id.starts_with("wx"),
        result: prepay_id.clone(),
    });

    let request = PayRequest {
        appid: DEFAULT_APPIDS[0],
        mch_id: DEFAULT_MCH_ID,
        prepay_id: &prepay_id,
        timestamp: 1_795_000_000,
        nonce: "wxpayopsdemo",
        sign_type: SignType::Md5,
    };
    let pay_sign = pay_field(pay_params(PayScene::Jsapi, &request, &key), "paySign");
    steps.push(Step {
        name: "emulator: paysign jsapi for that prepay_id",
        ok: pay_sign.len() == 32,
        result: pay_sign,
    });

    emulator
        .core()
        .pay(DEFAULT_MCH_ID, "DEMO0001", &PayOptions::default())
        .map_err(|e| e.description)?;
    let delivered = wait_for(&received, |r| r.payments.iter().any(|p| p == "DEMO0001")).await;
    steps.push(Step {
        name: "emulator: payment notification to notify_url",
        ok: delivered,
        result: if delivered {
            "sign valid, answered SUCCESS".into()
        } else {
            "not delivered".into()
        },
    });

    let query = client
        .call("/pay/orderquery", &[("out_trade_no", "DEMO0001")])
        .await
        .map_err(|e| e.to_string())?;
    steps.push(check(
        "emulator: orderquery",
        "SUCCESS",
        field(&query, "trade_state"),
    ));

    let certificate = emulator
        .client_cert(DEFAULT_MCH_ID)
        .ok_or("no client certificate")?;
    let identity = read_p12(&certificate.p12, DEFAULT_MCH_ID).map_err(|e| e.to_string())?;
    let ca = std::fs::read(emulator.ca_cert()).map_err(|e| e.to_string())?;
    let tls = tls_config(Some(&ca), Some(identity.identity())).map_err(|e| e.to_string())?;
    let secure = Client::new(client_options(emulator.tls_base_url(), Some(tls)))
        .map_err(|e| e.to_string())?;
    let refund = secure
        .call(
            "/secapi/pay/refund",
            &[
                ("out_trade_no", "DEMO0001"),
                ("out_refund_no", "DEMOREFUND1"),
                ("total_fee", "100"),
                ("refund_fee", "30"),
                ("notify_url", &notify),
            ],
        )
        .await
        .map_err(|e| e.to_string())?;
    steps.push(Step {
        name: "emulator: refund over mutual TLS with apiclient_cert.p12",
        ok: field(&refund, "result_code") == "SUCCESS",
        result: field(&refund, "refund_id"),
    });
    let refunded = wait_for(&received, |r| r.refunds.iter().any(|s| s == "SUCCESS")).await;
    steps.push(Step {
        name: "emulator: refund notification, req_info decrypted",
        ok: refunded,
        result: if refunded {
            "refund_status SUCCESS".into()
        } else {
            "not delivered".into()
        },
    });

    emulator
        .core()
        .clock
        .set(parse_api_time("20261121100000").expect("a valid time"))
        .map_err(|e| e.to_string())?;
    let bill = client
        .download(
            "/pay/downloadbill",
            &[("bill_date", "20261120"), ("bill_type", "ALL")],
        )
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&bill);
    let summary = text.trim_end().lines().last().unwrap_or("").to_owned();
    steps.push(check(
        "emulator: downloadbill 20261120, summary row",
        "`2,`1.00,`0.30,`0.00,`0.01000,`1.00,`0.30",
        summary,
    ));
    Ok(steps)
}
