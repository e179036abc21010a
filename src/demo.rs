//! The demo job: the signing toolkit checked against published values, then a merchant's
//! day against an in-process emulator, on loopback only: orders of every trade type, payments,
//! a refund over mutual TLS, a closed order, a cloud-pay order whose cloud function (the
//! demo's own) acknowledges the second call, the next morning's bill download, and the
//! reconciliation of that bill against the shop's own export, in which one difference of each
//! category was planted. Each step comes with the command a merchant would type to do the same
//! against WeChat Pay. The CLI renders what it returns; nothing here prints.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use thiserror::Error;
use time::Date;
use time::macros::date;

use crate::bill::download::{Downloaded, Source, bill_path, check_date, fetch};
use crate::bill::format::BillType;
use crate::config::certs::read_p12;
use crate::emulator::core::EmulatorOptions;
use crate::emulator::merchant::{DEFAULT_API_KEY, DEFAULT_APPIDS, DEFAULT_MCH_ID};
use crate::emulator::server::ServeError;
use crate::emulator::state::PayOptions;
use crate::emulator::synth::EXPORT_HEADER;
use crate::emulator::v3::{
    DEFAULT_MERCHANT_APIV3_KEY, DEFAULT_MERCHANT_PRIVATE_KEY, DEFAULT_MERCHANT_SERIAL,
    WECHATPAY_PUBLIC_KEY, WECHATPAY_PUBLIC_KEY_ID,
};
use crate::emulator::{Emulator, ServeOptions};
use crate::fsutil::{WriteError, create_private_dir_all, write_atomic};
use crate::ledger::bills::{BillFile, BillWriter, Mode, Recorded as BillRecorded};
use crate::ledger::report::month_report;
use crate::ledger::runs::{Inputs, NewRun, Recorded as RunRecorded};
use crate::ledger::{Ledger, LedgerError};
use crate::output::counted;
use crate::reconcile::bill::{Files, reconcile_files};
use crate::reconcile::export::{Mapping, ReadOptions};
use crate::reconcile::report::{fine_yuan, mapping_json, summary_json, yuan};
use crate::reconcile::watch::Watch;
use crate::reconcile::{Category, Options as ReconcileOptions, Reconciled, Reconciliation};
use crate::time::stamp::Day;
use crate::time::{YearMonth, bill_time, parse_api_time};
use crate::wechat::api::{
    OrderKey, OrderState, Prepay, RefundAccepted, RefundRequest, TradeType, UnifiedOrder,
};
use crate::wechat::client::{Client, ClientOptions, RetryPolicy};
use crate::wechat::gateway::{Answer, Gateway, Outgoing};
use crate::wechat::notify::{
    Recipient, decrypt_refund, decrypt_req_info, encrypt_req_info, reply_fail, reply_for,
    verify_payment,
};
use crate::wechat::paysign::{PayRequest, PayScene, pay_params, pay_params_v3};
use crate::wechat::sign::{sign_in_place, sign_pairs};
use crate::wechat::transport::tls_config;
use crate::wechat::v3::client::{V3Client, V3Options};
use crate::wechat::v3::notify::{Callback, Reply as V3Reply, decrypt_json, mismatches};
use crate::wechat::v3::{MerchantKey, SignedHeaders, VerifyKey, check_answer};
use crate::wechat::{ApiKey, ApiV3Key, ApiVersion, Fen, Message, SignType};

/// One line of the demo's report.
pub struct Step {
    pub name: String,
    /// What a merchant types to do the same against WeChat Pay; none for local checks.
    pub command: Option<String>,
    pub result: String,
    pub ok: bool,
}

impl Step {
    /// The step's commands (most have one, some none), each as the words a POSIX shell reads
    /// in it, quoted as typed: what [`shell_word`] quotes, and `;` between commands.
    pub fn commands(&self) -> Vec<Vec<&str>> {
        let Some(line) = &self.command else {
            return Vec::new();
        };
        let (mut commands, mut words) = (Vec::new(), Vec::new());
        let (mut start, mut quoted, mut escaped) = (0, false, false);
        for (at, c) in line.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if !quoted => escaped = true,
                '\'' => quoted = !quoted,
                ' ' | ';' if !quoted => {
                    words.extend((start < at).then(|| &line[start..at]));
                    start = at + 1;
                    if c == ';' {
                        commands.push(std::mem::take(&mut words));
                    }
                }
                _ => {}
            }
        }
        words.extend((start < line.len()).then(|| &line[start..]));
        commands.push(words);
        commands
    }
}

fn check(name: &str, expected: &str, got: String) -> Step {
    Step {
        name: name.to_owned(),
        command: None,
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
/// and answers exactly as WeChat Pay requires; on API v3, checks each callback's signature
/// and decrypts its resource.
async fn notify_url(key: ApiKey, received: Arc<Mutex<Received>>) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/wxpay/notify", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (key, received) = (key.clone(), received.clone());
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (key, received) = (key.clone(), received.clone());
                async move {
                    let headers: String = (request.headers().iter())
                        .map(|(name, value)| {
                            format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes()))
                        })
                        .collect();
                    let body = request
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    if body.trim_ascii_start().starts_with(b"{") {
                        let (status, reply) = v3_callback(&headers, &body, &received);
                        let mut response = hyper::Response::new(Full::new(Bytes::from(reply)));
                        *response.status_mut() = hyper::StatusCode::from_u16(status)
                            .unwrap_or(hyper::StatusCode::BAD_REQUEST);
                        return Ok::<_, Infallible>(response);
                    }
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

/// A v3 callback, as the merchant's backend takes it (B2, B3): the signature checked with
/// the emulator's WeChat Pay public key, the resource decrypted with the APIv3 key, the
/// merchant checked; the status and body to answer.
fn v3_callback(headers: &str, body: &[u8], received: &Mutex<Received>) -> (u16, &'static str) {
    let public = VerifyKey::public_key(WECHATPAY_PUBLIC_KEY.as_bytes(), WECHATPAY_PUBLIC_KEY_ID);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let verified = public
        .is_ok_and(|key| check_answer(&SignedHeaders::parse(headers), body, &[key], now).is_ok());
    if !verified {
        return (V3Reply::Unverified.status(), V3Reply::Unverified.body());
    }
    let apiv3_key = ApiV3Key::new(DEFAULT_MERCHANT_APIV3_KEY);
    let ours = Recipient {
        mch_id: Some(DEFAULT_MCH_ID),
        appid: None,
    };
    let taken = Callback::parse(body).ok().and_then(|callback| {
        let fields = decrypt_json(&apiv3_key, &callback.resource).ok()?;
        mismatches(&ours, &fields)
            .is_empty()
            .then_some((callback, fields))
    });
    let Some((callback, fields)) = taken else {
        return (V3Reply::Refused.status(), V3Reply::Refused.body());
    };
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let mut received = received.lock().expect("received lock");
    if callback.event_type == "TRANSACTION.SUCCESS" {
        received.payments.push(text("out_trade_no"));
    } else if callback.event_type.starts_with("REFUND.") {
        received.refunds.push(text("refund_status"));
    }
    (V3Reply::Success.status(), V3Reply::Success.body())
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

/// The demo's day of trade, Beijing time, and its bill.
const DAY: &str = "2026-11-20";
const DAY_API: &str = "20261120";
const BILL_DATE: Date = date!(2026 - 11 - 20);
/// The next morning, after 10:00, when WeChat Pay serves the day's bill.
const NEXT_MORNING: &str = "20261121100500";
/// The name of the shop's export in the demo's folder, as the printed commands call it.
const EXPORT_FILE: &str = "orders.csv";

/// A day whose bill the demo downloads, records in the ledger and reconciles.
struct BillDay {
    iso: &'static str,
    api: &'static str,
    date: Date,
    /// After 10:00 the next morning, when WeChat Pay serves the day's bill.
    served: &'static str,
    /// The shop's export of the day in the demo's folder.
    export: &'static str,
}

const FIRST_DAY: BillDay = BillDay {
    iso: DAY,
    api: DAY_API,
    date: BILL_DATE,
    served: NEXT_MORNING,
    export: EXPORT_FILE,
};

/// The day after: the cross-day payment of the first day (paid 00:00:03) and the cloud-pay
/// order are in its bill; the shop's export of it has only the cloud-pay order.
const SECOND_DAY: BillDay = BillDay {
    iso: "2026-11-21",
    api: "20261121",
    date: date!(2026 - 11 - 21),
    served: "20261122100500",
    export: "orders-1121.csv",
};

/// The month of both days, for the month report.
const MONTH: &str = "2026-11";
/// Who the ledger records as having run the demo's reconciliations.
const DEMO_USER: &str = "wxpay-ops demo";
const SHOP: &str = "Demo Cafe";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
const SCENE_INFO: &str =
    r#"{"h5_info":{"type":"Wap","wap_url":"https://m.example.com","wap_name":"Demo Cafe"}}"#;

/// What becomes of an order at WeChat Pay; times are `yyyyMMddHHmmss`, Beijing time.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Paid {
        at: &'static str,
    },
    /// Paid, then partly refunded.
    Refunded {
        paid: &'static str,
        refund: i64,
        at: &'static str,
    },
    Closed {
        at: &'static str,
    },
    /// The customer never pays.
    Unpaid,
}

/// How the shop's own export records an order.
#[derive(Debug, Clone, Copy)]
enum Recorded {
    /// As WeChat Pay has it.
    Agrees,
    /// Not at all.
    Omitted,
    /// With another amount, in fen.
    Amount(i64),
    /// With another status.
    Status(&'static str),
    /// Twice.
    Twice,
    /// Paid at another time (`yyyy-MM-dd HH:mm:ss`).
    PaidAt(&'static str),
}

/// One order of the day: how it is placed, what becomes of it, what the shop's export says,
/// and the difference the reconciliation must find for it.
struct Planned {
    out_trade_no: &'static str,
    trade_type: TradeType,
    fee: i64,
    item: &'static str,
    placed: &'static str,
    fate: Fate,
    shop: Recorded,
    planted: Option<(Category, &'static str)>,
}

static ORDERS: [Planned; 10] = [
    Planned {
        out_trade_no: "DEMO1120-01",
        trade_type: TradeType::Jsapi,
        fee: 1800,
        item: "Latte",
        placed: "20261120090000",
        fate: Fate::Paid {
            at: "20261120090110",
        },
        shop: Recorded::Agrees,
        planted: None,
    },
    Planned {
        out_trade_no: "DEMO1120-02",
        trade_type: TradeType::Native,
        fee: 2500,
        item: "Coffee beans 250g",
        placed: "20261120093000",
        fate: Fate::Refunded {
            paid: "20261120093205",
            refund: 1000,
            at: "20261120153000",
        },
        shop: Recorded::Agrees,
        planted: None,
    },
    Planned {
        out_trade_no: "DEMO1120-03",
        trade_type: TradeType::App,
        fee: 880,
        item: "Croissant",
        placed: "20261120101500",
        fate: Fate::Paid {
            at: "20261120101540",
        },
        shop: Recorded::Amount(800),
        planted: Some((
            Category::AmountMismatch,
            "the shop recorded 8.00 for an order of 8.80",
        )),
    },
    Planned {
        out_trade_no: "DEMO1120-04",
        trade_type: TradeType::Mweb,
        fee: 1299,
        item: "Gift card",
        placed: "20261120110200",
        fate: Fate::Paid {
            at: "20261120110330",
        },
        shop: Recorded::Status("UNPAID"),
        planted: Some((
            Category::StatusMismatch,
            "paid, but the shop still marks it unpaid",
        )),
    },
    Planned {
        out_trade_no: "DEMO1120-05",
        trade_type: TradeType::Jsapi,
        fee: 600,
        item: "Green tea",
        placed: "20261120122000",
        fate: Fate::Closed {
            at: "20261120125000",
        },
        shop: Recorded::Agrees,
        planted: None,
    },
    Planned {
        out_trade_no: "DEMO1120-06",
        trade_type: TradeType::Native,
        fee: 4500,
        item: "Grinder",
        placed: "20261120134000",
        fate: Fate::Paid {
            at: "20261120134112",
        },
        shop: Recorded::Omitted,
        planted: Some((
            Category::MissingInExport,
            "paid, but the shop never recorded it",
        )),
    },
    Planned {
        out_trade_no: "DEMO1120-07",
        trade_type: TradeType::App,
        fee: 350,
        item: "Espresso",
        placed: "20261120140500",
        fate: Fate::Paid {
            at: "20261120140520",
        },
        shop: Recorded::Twice,
        planted: Some((Category::Duplicate, "the shop exported it twice")),
    },
    Planned {
        out_trade_no: "DEMO1120-08",
        trade_type: TradeType::Mweb,
        fee: 1500,
        item: "Cheesecake",
        placed: "20261120164500",
        fate: Fate::Unpaid,
        shop: Recorded::Status("PAID"),
        planted: Some((
            Category::MissingInBill,
            "never paid, but the shop marks it paid",
        )),
    },
    Planned {
        out_trade_no: "DEMO1120-09",
        trade_type: TradeType::Jsapi,
        fee: 2000,
        item: "Mug",
        placed: "20261120181000",
        fate: Fate::Paid {
            at: "20261120181102",
        },
        shop: Recorded::Agrees,
        planted: None,
    },
    Planned {
        out_trade_no: "DEMO1120-10",
        trade_type: TradeType::Native,
        fee: 990,
        item: "Beans to go",
        placed: "20261120235940",
        fate: Fate::Paid {
            at: "20261121000003",
        },
        shop: Recorded::PaidAt("2026-11-20 23:59:58"),
        planted: Some((
            Category::CrossDay,
            "the shop dates it 23:59:58; WeChat Pay took it at 00:00:03, in the next day's bill",
        )),
    },
];

impl Planned {
    fn paid_at(&self) -> Option<&'static str> {
        match self.fate {
            Fate::Paid { at } | Fate::Refunded { paid: at, .. } => Some(at),
            Fate::Closed { .. } | Fate::Unpaid => None,
        }
    }

    fn refund_no(&self) -> String {
        format!("{}-R1", self.out_trade_no)
    }

    fn body(&self) -> String {
        format!("{SHOP}-{}", self.item)
    }

    /// The order; a NATIVE one names its product on v2 only (v3 has no product_id).
    fn unified_order(&self, notify_url: &str, api: ApiVersion) -> UnifiedOrder {
        let only = |trade_type: TradeType, value: &str| {
            (self.trade_type == trade_type).then(|| value.to_owned())
        };
        UnifiedOrder {
            trade_type: self.trade_type,
            out_trade_no: self.out_trade_no.to_owned(),
            total_fee: Fen(self.fee),
            body: self.body(),
            notify_url: notify_url.to_owned(),
            spbill_create_ip: "127.0.0.1".to_owned(),
            openid: only(TradeType::Jsapi, OPENID),
            sub_openid: None,
            product_id: only(TradeType::Native, self.out_trade_no)
                .filter(|_| api == ApiVersion::V2),
            attach: None,
            time_expire: None,
            scene_info: only(TradeType::Mweb, SCENE_INFO),
        }
    }

    /// `order create` as the merchant would type it (notify_url from the profile).
    fn create_command(&self) -> String {
        let mut command = format!(
            "wxpay-ops order create --trade-type {} --out-trade-no {} --amount {} --body {}",
            self.trade_type.as_str(),
            self.out_trade_no,
            self.fee,
            shell_word(&self.body())
        );
        match self.trade_type {
            TradeType::Jsapi => command += &format!(" --openid {OPENID}"),
            TradeType::Mweb => command += &format!(" --scene-info {}", shell_word(SCENE_INFO)),
            TradeType::Native | TradeType::App => {}
        }
        command
    }

    /// The order's rows in the shop's export: out_trade_no, status, amount, refund_amount,
    /// paid_at (the order's time when it was not paid).
    fn export_rows(&self) -> Vec<[String; 5]> {
        let (status, refund) = match self.fate {
            Fate::Paid { .. } => ("PAID", 0),
            Fate::Refunded { refund, .. } => ("REFUNDED", refund),
            Fate::Closed { .. } => ("CLOSED", 0),
            Fate::Unpaid => ("UNPAID", 0),
        };
        let time = |api: &str| parse_api_time(api).map(bill_time).unwrap_or_default();
        let mut row = [
            self.out_trade_no.to_owned(),
            status.to_owned(),
            Fen(self.fee).yuan(),
            Fen(refund).yuan(),
            time(self.paid_at().unwrap_or(self.placed)),
        ];
        let mut copies = 1;
        match self.shop {
            Recorded::Agrees => {}
            Recorded::Omitted => copies = 0,
            Recorded::Twice => copies = 2,
            Recorded::Amount(fee) => row[2] = Fen(fee).yuan(),
            Recorded::Status(status) => row[1] = status.to_owned(),
            Recorded::PaidAt(at) => row[4] = at.to_owned(),
        }
        vec![row; copies]
    }
}

/// A word as a POSIX shell reads it back.
fn shell_word(text: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-_./:@=,+".contains(&b);
    if !text.is_empty() && text.bytes().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// One difference the demo planted in the shop's export.
#[derive(Debug, Clone)]
pub struct Planted {
    pub category: Category,
    pub out_trade_no: String,
    pub how: &'static str,
}

/// The day's reconciliation, as the `reconcile` command has it before rendering.
pub struct DayReconciled {
    pub reconciled: crate::reconcile::Reconciled,
    pub bill: PathBuf,
    pub export_path: PathBuf,
}

/// A merchant's day on the emulator: every step, the differences planted in the export,
/// and the reconciliation, when the day got that far.
pub struct MerchantDay {
    pub steps: Vec<Step>,
    pub planted: Vec<Planted>,
    pub reconciled: Option<DayReconciled>,
}

/// Where the day's files go, and how its export is read (as `reconcile` reads one without
/// flags or profile).
pub struct DayOptions<'a> {
    /// Where the bill is downloaded and the export written; nothing is written elsewhere.
    pub folder: &'a Path,
    pub mapping: &'a Mapping,
    pub read_options: &'a ReadOptions,
    pub cutoff_window: u32,
    /// The API the merchant's day runs on.
    pub api: ApiVersion,
}

/// What kept the demo from running at all (its steps never began).
#[derive(Debug, Error)]
pub enum DemoError {
    #[error("the emulator did not start: {0}")]
    Emulator(#[from] ServeError),
    #[error("cannot start the network runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the demo's notify_url cannot listen: {0}")]
    NotifyUrl(std::io::Error),
    #[error("the emulator's client certificate: {0}")]
    Certificate(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A failed step was recorded; the steps after it cannot run.
struct Halt;

/// A merchant's day against a fresh in-process emulator, on loopback only: orders of every
/// trade type placed through the typed client, most paid on the control plane, one refunded
/// over mutual TLS and one closed; then, the next morning, the day's bill downloaded, the
/// shop's export written with one difference of each category, and the two reconciled.
pub fn merchant_day(options: &DayOptions<'_>) -> Result<MerchantDay, DemoError> {
    let emulator = Emulator::start(ServeOptions {
        core: EmulatorOptions {
            notify_time_factor: 0.01,
            refund_delay: time::Duration::ZERO,
            ..EmulatorOptions::default()
        },
        ..ServeOptions::default()
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)?;
    let key = ApiKey::new(DEFAULT_API_KEY);
    let received = Arc::new(Mutex::new(Received::default()));
    let notify = runtime
        .block_on(notify_url(key.clone(), received.clone()))
        .map_err(DemoError::NotifyUrl)?;
    let gateway = match options.api {
        ApiVersion::V2 => Gateway::V2(merchant_client(&emulator, key)?),
        ApiVersion::V3 => Gateway::V3(merchant_v3_client(&emulator)?),
    };
    let mut day = Shop {
        api: options.api,
        gateway,
        emulator: &emulator,
        notify,
        received,
        ledger: None,
        steps: Vec::new(),
    };
    let planted = ORDERS
        .iter()
        .filter_map(|o| {
            o.planted.map(|(category, how)| Planted {
                category,
                out_trade_no: o.out_trade_no.to_owned(),
                how,
            })
        })
        .collect();
    let reconciled = runtime
        .block_on(day.trade_and_download(options.folder))
        .and_then(|bill| day.reconcile(options, bill))
        .ok();
    if reconciled.is_some() {
        // Its steps say how far it got.
        let _ = runtime
            .block_on(day.second_day(options))
            .and_then(|()| day.month_report());
    }
    Ok(MerchantDay {
        steps: day.steps,
        planted,
        reconciled,
    })
}

/// The merchant's client, as the emulator's profile sets it up: the HTTPS API, the
/// emulator's CA, and the merchant certificate (apiclient_cert.p12) for /secapi.
fn merchant_client(emulator: &Emulator, key: ApiKey) -> Result<Client, DemoError> {
    let certificate = |e: &dyn std::fmt::Display| DemoError::Certificate(e.to_string());
    let paths = emulator
        .client_cert(DEFAULT_MCH_ID)
        .ok_or_else(|| certificate(&"none was issued"))?;
    let identity = read_p12(&paths.p12, DEFAULT_MCH_ID).map_err(|e| certificate(&e))?;
    let ca = std::fs::read(emulator.ca_cert()).map_err(|e| certificate(&e))?;
    let tls = |identity| tls_config(Some(&ca), identity).map_err(|e| certificate(&e));
    Ok(Client::new(ClientOptions {
        tls: Some(tls(None)?),
        secure_tls: Some(tls(Some(identity.identity()))?),
        timeout: Duration::from_secs(10),
        ..ClientOptions::new(
            emulator.tls_base_url(),
            DEFAULT_MCH_ID,
            DEFAULT_APPIDS[0],
            key,
            SignType::Md5,
        )
    })?)
}

/// The merchant's v3 client, as the emulator's profile sets it up: the HTTPS API and the
/// emulator's CA, requests signed with the merchant's RSA key (WeChat Pay's documentation
/// key), answers checked with the emulator's WeChat Pay public key.
fn merchant_v3_client(emulator: &Emulator) -> Result<V3Client, DemoError> {
    let certificate = |e: &dyn std::fmt::Display| DemoError::Certificate(e.to_string());
    let ca = std::fs::read(emulator.ca_cert()).map_err(|e| certificate(&e))?;
    let key = MerchantKey::from_pem(DEFAULT_MERCHANT_PRIVATE_KEY.as_bytes())
        .map_err(|e| certificate(&e))?;
    let public = VerifyKey::public_key(WECHATPAY_PUBLIC_KEY.as_bytes(), WECHATPAY_PUBLIC_KEY_ID)
        .map_err(|e| certificate(&e))?;
    Ok(V3Client::new(V3Options {
        base: emulator.tls_base_url(),
        mch_id: DEFAULT_MCH_ID.to_owned(),
        appid: DEFAULT_APPIDS[0].to_owned(),
        key,
        serial: DEFAULT_MERCHANT_SERIAL.to_owned(),
        wechatpay_keys: vec![public],
        refresh: None,
        tls: Some(tls_config(Some(&ca), None).map_err(|e| certificate(&e))?),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        retry: RetryPolicy::default(),
        on_attempt: None,
    })?)
}

/// What happens at a moment of the day.
#[derive(Debug, Clone, Copy)]
enum Event {
    Place,
    Pay,
    Refund,
    Close,
}

/// The day's events, in time order.
fn timeline() -> Vec<(&'static str, Event, &'static Planned)> {
    let mut events = Vec::new();
    for order in &ORDERS {
        events.push((order.placed, Event::Place, order));
        match order.fate {
            Fate::Paid { at } => events.push((at, Event::Pay, order)),
            Fate::Refunded { paid, at, .. } => {
                events.push((paid, Event::Pay, order));
                events.push((at, Event::Refund, order));
            }
            Fate::Closed { at } => events.push((at, Event::Close, order)),
            Fate::Unpaid => {}
        }
    }
    events.sort_by_key(|(at, _, _)| *at);
    events
}

/// `HH:mm:ss` of an API time, for step names.
fn clock_time(api: &str) -> String {
    format!("{}:{}:{}", &api[8..10], &api[10..12], &api[12..14])
}

/// The merchant's side of the day: its client and notify_url, and the steps so far.
struct Shop<'a> {
    emulator: &'a Emulator,
    /// The API the merchant's day runs on, and its client.
    api: ApiVersion,
    gateway: Gateway,
    notify: String,
    received: Arc<Mutex<Received>>,
    /// The merchant's ledger, once the first bill is recorded in it.
    ledger: Option<Ledger>,
    steps: Vec<Step>,
}

impl Shop<'_> {
    fn record(
        &mut self,
        name: String,
        command: Option<String>,
        result: String,
        ok: bool,
    ) -> Result<(), Halt> {
        self.steps.push(Step {
            name,
            command,
            result,
            ok,
        });
        if ok { Ok(()) } else { Err(Halt) }
    }

    fn fail<T>(
        &mut self,
        name: String,
        command: Option<String>,
        error: impl std::fmt::Display,
    ) -> Result<T, Halt> {
        let _ = self.record(name, command, format!("error: {error}"), false);
        Err(Halt)
    }

    fn set_clock(&mut self, api: &str) -> Result<(), Halt> {
        let set = parse_api_time(api)
            .ok_or_else(|| format!("{api} is not a time"))
            .and_then(|at| {
                self.emulator
                    .core()
                    .clock
                    .set(at)
                    .map_err(|e| e.to_string())
            });
        match set {
            Ok(_) => Ok(()),
            Err(e) => self.fail(format!("emulator clock to {api}"), None, e),
        }
    }

    /// A command as the merchant types it, on the API the day runs on.
    fn typed(&self, command: String) -> String {
        match self.api {
            ApiVersion::V2 => command,
            ApiVersion::V3 => format!("{command} --api v3"),
        }
    }

    async fn send<T: Answer>(&self, outgoing: Outgoing) -> Result<T, String> {
        self.gateway
            .call(&outgoing)
            .await
            .map_err(|e| e.to_string())
    }

    async fn query(&self, out_trade_no: &str) -> Result<OrderState, String> {
        let key = OrderKey::OutTradeNo(out_trade_no.to_owned());
        self.send(self.gateway.order_query(&key)).await
    }

    /// The day's trade, then the next morning's bill download; returns the bill's path.
    async fn trade_and_download(&mut self, folder: &Path) -> Result<PathBuf, Halt> {
        for (at, event, order) in timeline() {
            self.set_clock(at)?;
            match event {
                Event::Place => self.place(at, order).await?,
                Event::Pay => self.pay(at, order).await?,
                Event::Refund => self.refund(at, order).await?,
                Event::Close => self.close(at, order).await?,
            }
        }
        self.notifications().await?;
        self.cloud_pay().await?;
        self.download(folder, &FIRST_DAY).await
    }

    async fn place(&mut self, at: &str, order: &Planned) -> Result<(), Halt> {
        let name = format!(
            "{} order create {} {}",
            clock_time(at),
            order.trade_type.as_str(),
            order.out_trade_no
        );
        let command = Some(self.typed(order.create_command()));
        let request = order.unified_order(&self.notify, self.api);
        let outgoing = match self.gateway.unified_order(&request) {
            Ok(outgoing) => outgoing,
            Err(e) => return self.fail(name, command, e),
        };
        let placed: Result<Prepay, String> = self.send(outgoing).await;
        let prepay = match placed {
            Ok(prepay) => prepay,
            Err(e) => return self.fail(name, command, e),
        };
        // What the front end needs: a QR code's URL for NATIVE, a page's for MWEB.
        let (result, ok) = match order.trade_type {
            TradeType::Native => (
                format!("code_url {}", prepay.code_url.clone().unwrap_or_default()),
                prepay.code_url.is_some(),
            ),
            TradeType::Mweb => ("mweb_url received".to_owned(), prepay.mweb_url.is_some()),
            TradeType::Jsapi | TradeType::App => {
                let id = prepay.prepay_id.clone().unwrap_or_default();
                (format!("prepay_id {id}"), prepay.prepay_id.is_some())
            }
        };
        let ok = ok && prepay.trade_type == order.trade_type.as_str();
        self.record(name, command, result, ok)?;
        if order.trade_type == TradeType::Jsapi && order.out_trade_no == ORDERS[0].out_trade_no {
            self.pay_sign(prepay.prepay_id.as_deref().unwrap_or_default())?;
        }
        Ok(())
    }

    /// The JSAPI pay parameters the page hands to WeixinJSBridge, with their paySign: MD5 on
    /// v2, RSA with the merchant's key on v3 (checked with its public half).
    fn pay_sign(&mut self, prepay_id: &str) -> Result<(), Halt> {
        let request = PayRequest {
            appid: DEFAULT_APPIDS[0],
            mch_id: DEFAULT_MCH_ID,
            prepay_id,
            timestamp: 1_795_000_000,
            nonce: "wxpayopsdemo",
            sign_type: SignType::Md5,
        };
        let (pay_sign, ok) = match self.api {
            ApiVersion::V2 => {
                let key = ApiKey::new(DEFAULT_API_KEY);
                let sign = pay_field(pay_params(PayScene::Jsapi, &request, &key), "paySign");
                let ok = sign.len() == 32 && sign.bytes().all(|b| b.is_ascii_hexdigit());
                (sign, ok)
            }
            ApiVersion::V3 => {
                match MerchantKey::from_pem(DEFAULT_MERCHANT_PRIVATE_KEY.as_bytes()) {
                    Ok(key) => {
                        let params = pay_params_v3(PayScene::Jsapi, &request, &key);
                        let sign = pay_field(params, "paySign");
                        let message = format!(
                            "{}\n1795000000\nwxpayopsdemo\nprepay_id={prepay_id}\n",
                            DEFAULT_APPIDS[0]
                        );
                        let ok = key.verify_key("").verifies(message.as_bytes(), &sign);
                        (sign, ok)
                    }
                    Err(e) => (e.to_string(), false),
                }
            }
        };
        let command = format!("wxpay-ops paysign jsapi --prepay-id {prepay_id}");
        self.record(
            format!("paysign jsapi for {}", ORDERS[0].out_trade_no),
            Some(self.typed(command)),
            format!("paySign={pay_sign}"),
            ok,
        )
    }

    /// The customer pays (the emulator's control plane), and the merchant queries the order.
    async fn pay(&mut self, at: &str, order: &Planned) -> Result<(), Halt> {
        let name = format!(
            "{} customer pays {} ({})",
            clock_time(at),
            order.out_trade_no,
            Fen(order.fee).yuan()
        );
        let command = Some(self.typed(format!(
            "wxpay-ops order query --out-trade-no {} --expect SUCCESS",
            order.out_trade_no
        )));
        let core = self.emulator.core();
        let paid_at = PayOptions {
            time_end: Some(at.to_owned()),
            ..PayOptions::default()
        };
        if let Err(refusal) = core.pay(DEFAULT_MCH_ID, order.out_trade_no, &paid_at) {
            return self.fail(name, command, refusal.description);
        }
        match self.query(order.out_trade_no).await {
            Ok(state) => {
                let ok = state.trade_state == "SUCCESS"
                    && state.total_fee == Some(Fen(order.fee))
                    && state.time_end.as_deref() == Some(at);
                let result = format!(
                    "{}, transaction_id {}",
                    state.trade_state,
                    state.transaction_id.unwrap_or_default()
                );
                self.record(name, command, result, ok)
            }
            Err(e) => self.fail(name, command, e),
        }
    }

    async fn refund(&mut self, at: &str, order: &Planned) -> Result<(), Halt> {
        let Fate::Refunded { refund, .. } = order.fate else {
            return Ok(());
        };
        let how = match self.api {
            ApiVersion::V2 => "over mutual TLS (apiclient_cert.p12)",
            ApiVersion::V3 => "signed with apiclient_key.pem",
        };
        let name = format!(
            "{} refund {} of {} {how}",
            clock_time(at),
            Fen(refund).yuan(),
            order.out_trade_no
        );
        let command = Some(self.typed(format!(
            "wxpay-ops refund create --out-trade-no {} --out-refund-no {} --total {} --refund {refund} --yes",
            order.out_trade_no,
            order.refund_no(),
            order.fee
        )));
        let request = RefundRequest {
            order: OrderKey::OutTradeNo(order.out_trade_no.to_owned()),
            out_refund_no: order.refund_no(),
            total_fee: Fen(order.fee),
            refund_fee: Fen(refund),
            refund_desc: None,
            notify_url: Some(self.notify.clone()),
            refund_account: None,
        };
        let outgoing = match self.gateway.refund(&request) {
            Ok(outgoing) => outgoing,
            Err(e) => return self.fail(name, command, e),
        };
        let accepted: Result<RefundAccepted, String> = self.send(outgoing).await;
        match accepted {
            Ok(accepted) => {
                let ok = accepted.refund_fee == Fen(refund);
                let result = format!("accepted, refund_id {}", accepted.refund_id);
                self.record(name, command, result, ok)
            }
            Err(e) => self.fail(name, command, e),
        }
    }

    async fn close(&mut self, at: &str, order: &Planned) -> Result<(), Halt> {
        let name = format!(
            "{} order close {} (never paid)",
            clock_time(at),
            order.out_trade_no
        );
        let command = Some(self.typed(format!(
            "wxpay-ops order close --out-trade-no {} --yes",
            order.out_trade_no
        )));
        let closed: Result<(), String> = self
            .send(self.gateway.close_order(order.out_trade_no))
            .await;
        let state = match closed {
            Ok(_) => self.query(order.out_trade_no).await,
            Err(e) => Err(e),
        };
        match state {
            Ok(state) => {
                let ok = state.trade_state == "CLOSED";
                self.record(name, command, state.trade_state, ok)
            }
            Err(e) => self.fail(name, command, e),
        }
    }

    /// Every payment notified to the notify_url and verified there, and the refund's
    /// notification decrypted.
    async fn notifications(&mut self) -> Result<(), Halt> {
        let payments: Vec<&str> = ORDERS
            .iter()
            .filter(|o| o.paid_at().is_some())
            .map(|o| o.out_trade_no)
            .collect();
        let refunds = ORDERS
            .iter()
            .filter(|o| matches!(o.fate, Fate::Refunded { .. }))
            .count();
        let all_in = wait_for(&self.received, |r| {
            payments.iter().all(|p| r.payments.iter().any(|n| n == p))
                && r.refunds.iter().filter(|s| *s == "SUCCESS").count() >= refunds
        })
        .await;
        let (paid, refunded) = {
            let received = self.received.lock().expect("received lock");
            let paid = payments
                .iter()
                .filter(|p| received.payments.iter().any(|n| n == *p))
                .count();
            (paid, received.refunds.len())
        };
        self.record(
            "notify_url: payment notifications verified, refund notifications decrypted".to_owned(),
            Some(match self.api {
                ApiVersion::V2 => {
                    "wxpay-ops notify verify payment.xml; wxpay-ops notify decrypt refund.xml"
                        .to_owned()
                }
                ApiVersion::V3 => {
                    "wxpay-ops notify decrypt --api v3 --headers headers.txt callback.json"
                        .to_owned()
                }
            }),
            match self.api {
                ApiVersion::V2 => format!(
                    "{paid} payments (sign valid, answered SUCCESS), {refunded} refund (SUCCESS)"
                ),
                ApiVersion::V3 => format!(
                    "{paid} payments (signature valid, resource decrypted, answered 200), {refunded} refund (SUCCESS)"
                ),
            },
            all_in,
        )
    }

    /// The next morning: the day's ALL bill, streamed into `folder` as `bill download` keeps
    /// bills (`<folder>/<mch_id>/<date>.ALL.csv`), and recorded in the ledger with its rows
    /// (`--import`).
    async fn download(&mut self, folder: &Path, day: &BillDay) -> Result<PathBuf, Halt> {
        self.set_clock(day.served)?;
        let name = format!(
            "next morning {}: bill download {} (ALL)",
            clock_time(day.served),
            day.iso
        );
        let command = Some(self.typed(format!(
            "wxpay-ops bill download --date {} --import",
            day.iso
        )));
        if let Err(refusal) = check_date(day.date, self.emulator.core().clock.now()) {
            return self.fail(name, command, refusal);
        }
        let source = Source::Trade(BillType::All);
        let path = bill_path(folder, DEFAULT_MCH_ID, day.date, source);
        if let Some(parent) = path.parent()
            && let Err(e) = create_private_dir_all(parent)
        {
            return self.fail(name, command, e);
        }
        let retry = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(200),
            ..RetryPolicy::default()
        };
        let saved = match fetch(&self.gateway, source, day.date, false, &path, retry, None).await {
            Ok(Downloaded::Saved(saved)) => saved,
            Ok(Downloaded::NoBill { .. }) => return self.fail(name, command, "No Bill Exist"),
            Err(e) => return self.fail(name, command, e),
        };
        let cloud = u64::from(CLOUD_PAID.starts_with(day.api));
        let payments = ORDERS
            .iter()
            .filter(|o| o.paid_at().is_some_and(|at| at.starts_with(day.api)))
            .count() as u64
            + cloud;
        let refunds = ORDERS
            .iter()
            .filter(|o| matches!(o.fate, Fate::Refunded { at, .. } if at.starts_with(day.api)))
            .count() as u64;
        let report = &saved.report;
        let recorded = match self.record_bill(folder, &saved.path) {
            Ok(recorded) => recorded,
            Err(e) => return self.fail(name, command, e),
        };
        let ok = report.rows == payments + refunds
            && report.is_consistent()
            && recorded.imported
            && recorded.rows == report.rows;
        let result = format!(
            "{} rows ({}, {}), {} bytes, summary row {}; in the ledger with its rows",
            report.rows,
            counted(payments, "payment"),
            counted(refunds, "refund"),
            saved.bytes,
            if report.is_consistent() {
                "matches the rows"
            } else {
                "does not match the rows"
            }
        );
        self.record(name, command, result, ok)?;
        Ok(saved.path)
    }

    /// The merchant's ledger, where `bill download` places it: beside the bills.
    fn ledger(&mut self, folder: &Path) -> Result<&mut Ledger, LedgerError> {
        let ledger = match self.ledger.take() {
            Some(ledger) => ledger,
            None => Ledger::open(&crate::ledger::default_path(folder, DEFAULT_MCH_ID))?,
        };
        Ok(self.ledger.insert(ledger))
    }

    /// Records a saved bill and imports its rows, as `bill download --import` does.
    fn record_bill(&mut self, folder: &Path, bill: &Path) -> Result<BillRecorded, String> {
        let file = BillFile::find(bill).map_err(|e| e.to_string())?;
        let ledger = self.ledger(folder).map_err(|e| e.to_string())?;
        let mut writer =
            BillWriter::new(ledger, Some(DEFAULT_MCH_ID)).map_err(|e| e.to_string())?;
        let recorded = writer
            .record(&file, Mode::Import)
            .map_err(|e| e.to_string())?;
        writer.commit().map_err(|e| e.to_string())?;
        Ok(recorded)
    }

    /// The shop's export of the day, with the planted differences, then the reconciliation,
    /// which must find exactly those.
    fn reconcile(
        &mut self,
        options: &DayOptions<'_>,
        bill: PathBuf,
    ) -> Result<DayReconciled, Halt> {
        let rows: Vec<[String; 5]> = ORDERS.iter().flat_map(Planned::export_rows).collect();
        let planted = ORDERS.iter().filter(|o| o.planted.is_some()).count();
        let described = format!(
            "{} rows, one difference of each category planted ({planted})",
            rows.len()
        );
        let export_path = self.write_export(options.folder, &FIRST_DAY, &rows, described)?;
        let (reconciled, _) =
            self.reconcile_day(options, &FIRST_DAY, &bill, &export_path, |outcome, run| {
                let (result, ok) = judge(outcome);
                let open = run.differences - run.superseded;
                (
                    format!("{result}; recorded as run {}, {open} open", run.run),
                    ok,
                )
            })?;
        Ok(DayReconciled {
            reconciled,
            bill,
            export_path,
        })
    }

    /// The shop's export of `day` in the demo's folder, as a step.
    fn write_export(
        &mut self,
        folder: &Path,
        day: &BillDay,
        rows: &[[String; 5]],
        described: String,
    ) -> Result<PathBuf, Halt> {
        let export_path = folder.join(day.export);
        let written = write_atomic(&export_path, |out| {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(EXPORT_HEADER)?;
            for row in rows {
                writer.write_record(row)?;
            }
            writer.flush().map_err(csv::Error::from)
        });
        let name = format!("the shop's own order export of {}: {}", day.iso, day.export);
        match written {
            Ok(()) => self.record(name, None, described, true)?,
            Err(WriteError::File(e)) => return self.fail(name, None, e),
            Err(WriteError::Inner(e)) => return self.fail(name, None, e),
        }
        Ok(export_path)
    }

    /// Reconciles `day`'s bill against the shop's export as `reconcile` does: watching for the
    /// open differences of other days, and recording the run in the ledger. The step's result
    /// is what `judge` makes of it; the reconciliation is returned even when that is not the
    /// expected one, since its report says what differs.
    fn reconcile_day(
        &mut self,
        options: &DayOptions<'_>,
        day: &BillDay,
        bill: &Path,
        export_path: &Path,
        judge: impl FnOnce(&Reconciliation, &RunRecorded) -> (String, bool),
    ) -> Result<(Reconciled, RunRecorded), Halt> {
        let name = format!("reconcile {}: the bill against {}", day.iso, day.export);
        let command = Some(format!(
            "wxpay-ops reconcile --date {} --export {}",
            day.iso, day.export
        ));
        let watched = self
            .ledger(options.folder)
            .and_then(|ledger| ledger.watched(Some(DEFAULT_MCH_ID), Day::of_date(day.date)));
        let watch = match watched {
            Ok(keys) => (!keys.is_empty()).then(|| Arc::new(Watch::new(keys))),
            Err(e) => return self.fail(name, command, e),
        };
        let files = Files {
            bill,
            export: export_path,
            previous_bill: None,
            next_bill: None,
        };
        let reconcile_options = ReconcileOptions {
            day: Day::of_date(day.date),
            mch_id: Some(DEFAULT_MCH_ID.to_owned()),
            cutoff_window: options.cutoff_window,
            previous_bill: false,
            next_bill: false,
            threads: options.read_options.threads,
            watch,
        };
        let known = match self
            .ledger(options.folder)
            .and_then(|l| l.known_files(&files))
        {
            Ok(known) => known,
            Err(e) => return self.fail(name, command, e),
        };
        let started_at = self.emulator.core().clock.now();
        let (reconciled, inputs) = Inputs::hash_beside(&files, Some(&known), || {
            reconcile_files(
                &files,
                options.mapping,
                options.read_options,
                reconcile_options,
            )
        });
        let reconciled = match reconciled {
            Ok(reconciled) => reconciled,
            Err(e) => return self.fail(name, command, e),
        };
        let inputs = match inputs.expect("hashed, since the ledger is known") {
            Ok(inputs) => inputs,
            Err(e) => return self.fail(name, command, e),
        };
        let summary = summary_json(&reconciled, bill, day.export);
        let mapping = mapping_json(options.mapping, options.read_options, options.cutoff_window);
        let run = NewRun {
            mch_id: Some(DEFAULT_MCH_ID),
            started_at,
            user: DEMO_USER,
            inputs: &inputs,
            mapping: &mapping,
            summary: &summary,
            outcome: &reconciled.outcome,
        };
        let now = self.emulator.core().clock.now();
        let recorded = self
            .ledger(options.folder)
            .and_then(|ledger| ledger.record_run(&run, now));
        let recorded = match recorded {
            Ok(recorded) => recorded,
            Err(e) => return self.fail(name, command, e),
        };
        let (result, ok) = judge(&reconciled.outcome, &recorded);
        // The report is shown even when it is not the expected one: it says what differs.
        let _ = self.record(name, command, result, ok);
        Ok((reconciled, recorded))
    }

    /// The second day: its bill the morning after, the shop's export of it, and the
    /// reconciliation, which finds the first day's cross-day payment in this day's bill and
    /// closes that difference with its other half; then what is still open.
    async fn second_day(&mut self, options: &DayOptions<'_>) -> Result<(), Halt> {
        let day = &SECOND_DAY;
        let bill = self.download(options.folder, day).await?;
        let cross_day = (ORDERS.iter())
            .find(|o| matches!(o.planted, Some((Category::CrossDay, _))))
            .map_or("", |o| o.out_trade_no);
        let time = |api: &str| parse_api_time(api).map(bill_time).unwrap_or_default();
        let rows = [[
            CLOUD_ORDER.to_owned(),
            "PAID".to_owned(),
            Fen(CLOUD_FEE).yuan(),
            Fen(0).yuan(),
            time(CLOUD_PAID),
        ]];
        let described = format!(
            "1 row, {CLOUD_ORDER}; {cross_day} is in the export of {}, which dated it 23:59:58",
            FIRST_DAY.iso
        );
        let export_path = self.write_export(options.folder, day, &rows, described)?;
        self.reconcile_day(options, day, &bill, &export_path, |outcome, run| {
            judge_second_day(outcome, run, cross_day)
        })?;
        self.open_differences()
    }

    /// `ledger open`: what the second day left open, which is every planted difference of the
    /// first day but the cross-day one.
    fn open_differences(&mut self) -> Result<(), Halt> {
        let name = "ledger open: the differences still open".to_owned();
        let command = Some("wxpay-ops ledger open".to_owned());
        let today = SECOND_DAY.date.next_day().unwrap_or(SECOND_DAY.date);
        let open =
            match (self.ledger.as_ref()).map(|l| l.open_differences(today, Some(DEFAULT_MCH_ID))) {
                Some(Ok(open)) => open,
                Some(Err(e)) => return self.fail(name, command, e),
                None => return self.fail(name, command, "no ledger"),
            };
        let mut found: Vec<String> = (open.iter())
            .map(|d| {
                format!(
                    "{} {}",
                    d.difference.category.name(),
                    d.difference.out_trade_no
                )
            })
            .collect();
        let mut expected: Vec<String> = (ORDERS.iter())
            .filter_map(|o| o.planted.map(|(c, _)| (c, o.out_trade_no)))
            .filter(|(category, _)| *category != Category::CrossDay)
            .map(|(category, order)| format!("{} {order}", category.name()))
            .collect();
        found.sort();
        expected.sort();
        let result = format!(
            "{} open, all of {}: {}",
            found.len(),
            FIRST_DAY.iso,
            found.join(", ")
        );
        self.record(name, command, result, found == expected)
    }

    /// `ledger report --month`: both days' bills and runs, as finance reads the month.
    fn month_report(&mut self) -> Result<(), Halt> {
        let name = format!("ledger report --month {MONTH}");
        let command = Some(format!(
            "wxpay-ops ledger report --month {MONTH} --chart {MONTH}.png"
        ));
        let report = match self
            .ledger
            .as_ref()
            .map(|l| month_report(l, DEFAULT_MCH_ID, YearMonth::of(BILL_DATE)))
        {
            Some(Ok(report)) => report,
            Some(Err(e)) => return self.fail(name, command, e),
            None => return self.fail(name, command, "no ledger"),
        };
        let total = &report.total;
        let differences = &report.differences;
        let (with_figures, reconciled) = report.known_days();
        let result = format!(
            "{with_figures} days: {} {} yuan, {} {} yuan, fees {} yuan, net {} yuan; differences {} found, {} closed, {} open",
            counted(total.payment_count, "payment"),
            yuan(total.payment_fen),
            counted(total.refund_count, "refund"),
            yuan(total.refund_fen),
            fine_yuan(total.fee_units),
            fine_yuan(total.net_units()),
            differences.found,
            differences.closed,
            differences.open,
        );
        // Counted here from the plan, not from the ledger.
        let paid: i64 = ORDERS
            .iter()
            .filter(|o| o.paid_at().is_some())
            .map(|o| o.fee)
            .sum();
        let payments = ORDERS.iter().filter(|o| o.paid_at().is_some()).count() as u64 + 1;
        let refunded: i64 = (ORDERS.iter())
            .filter_map(|o| match o.fate {
                Fate::Refunded { refund, .. } => Some(refund),
                _ => None,
            })
            .sum();
        let planted = ORDERS.iter().filter(|o| o.planted.is_some()).count() as u64;
        let ok = (with_figures, reconciled) == (2, 2)
            && total.payment_count == payments
            && total.payment_fen == i128::from(paid + CLOUD_FEE)
            && total.refund_fen == i128::from(refunded)
            // Day one's planted ones and day two's other half of the cross-day payment.
            && differences.found == planted + 1
            && differences.closed == 2
            && differences.open == planted - 1;
        self.record(name, command, result, ok)
    }
}

/// Whether the second day's run found only the other half of the first day's cross-day
/// payment, and closed both.
fn judge_second_day(
    outcome: &Reconciliation,
    run: &RunRecorded,
    cross_day: &str,
) -> (String, bool) {
    let found: Vec<String> = (outcome.differences.iter())
        .map(|d| format!("{} {}", d.category.name(), d.out_trade_no))
        .collect();
    let matched = outcome.category(Category::Matched).count;
    let closed: Vec<String> = (run.closed.iter())
        .map(|c| format!("{}'s difference #{}", c.day, c.id))
        .collect();
    let ok = outcome.differences.len() == 1
        && outcome.differences[0].out_trade_no == cross_day
        && matched == 1
        && run.closed.len() == 1
        && run.closed[0].day == FIRST_DAY.iso
        && run.closed[0].with.is_some();
    let result = format!(
        "{} ({}), {matched} matched; run {} closed {} with it: the payment WeChat Pay booked at 00:00:03",
        counted(found.len() as u64, "difference"),
        found.join(", "),
        run.run,
        if closed.is_empty() {
            "nothing".to_owned()
        } else {
            closed.join(", ")
        }
    );
    (result, ok)
}

/// The cloud-pay order: early the next morning, so that it stays out of the reconciled
/// day's bill; its cloud function is the demo's own, and acknowledges the second call.
const CLOUD_ORDER: &str = "DEMO1121-C1";
const CLOUD_PLACED: &str = "20261121083000";
const CLOUD_PAID: &str = "20261121083040";
const CLOUD_ENV: &str = "demo-cafe";
const CLOUD_FUNCTION: &str = "pay_callback";
const CLOUD_FEE: i64 = 1200;

/// A cloud function for the payment callback, as the shop would deploy one: it marks the
/// order paid and answers `{"errcode": 0}`, except that the first call fails (as a function
/// that times out on a cold start would), so that WeChat calls again.
async fn cloud_function() -> std::io::Result<String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/{CLOUD_FUNCTION}", listener.local_addr()?);
    let calls = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let calls = calls.clone();
            let service = service_fn(move |_request: hyper::Request<hyper::body::Incoming>| {
                let call = calls.fetch_add(1, Ordering::Relaxed) + 1;
                async move {
                    let answer = if call == 1 {
                        r#"{"errcode":1,"errmsg":"cold start: try again"}"#
                    } else {
                        r#"{"errcode":0,"errmsg":""}"#
                    };
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(answer))))
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Ok(url)
}

impl Shop<'_> {
    /// One cloud-pay order: placed as a cloud function places it (`order create --cloud`
    /// here), paid, and the payment result called into the shop's cloud function, which
    /// acknowledges the second attempt.
    async fn cloud_pay(&mut self) -> Result<(), Halt> {
        use crate::emulator::cloudpay::CloudFunction;
        use crate::wechat::cloudpay::{CloudOptions, CloudOrder, unified_order};
        self.set_clock(CLOUD_PLACED)?;
        let name = format!(
            "{} cloud pay: order create {CLOUD_ORDER} (next day)",
            clock_time(CLOUD_PLACED)
        );
        let command = Some(format!(
            "wxpay-ops order create --cloud {CLOUD_ENV} --function {CLOUD_FUNCTION} --out-trade-no {CLOUD_ORDER} --amount {CLOUD_FEE} --body {} --openid {OPENID}",
            shell_word(&format!("{SHOP}-Cake"))
        ));
        let function = match cloud_function().await {
            Ok(url) => CloudFunction {
                env_id: CLOUD_ENV.to_owned(),
                name: CLOUD_FUNCTION.to_owned(),
                url,
            },
            Err(e) => return self.fail(name, command, e),
        };
        if let Err(e) = self.emulator.core().add_cloud_function(function.clone()) {
            return self.fail(name, command, e);
        }
        let ca = match std::fs::read(self.emulator.ca_cert()) {
            Ok(ca) => ca,
            Err(e) => return self.fail(name, command, e),
        };
        let tls = match tls_config(Some(&ca), None) {
            Ok(tls) => tls,
            Err(e) => return self.fail(name, command, e),
        };
        let options = CloudOptions {
            base: self.emulator.tls_base_url(),
            tls: Some(tls),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        };
        let order = CloudOrder {
            env_id: CLOUD_ENV.to_owned(),
            function_name: CLOUD_FUNCTION.to_owned(),
            sub_mch_id: DEFAULT_MCH_ID.to_owned(),
            sub_appid: Some(DEFAULT_APPIDS[0].to_owned()),
            out_trade_no: CLOUD_ORDER.to_owned(),
            total_fee: Fen(CLOUD_FEE),
            body: format!("{SHOP}-Cake"),
            openid: Some(OPENID.to_owned()),
            spbill_create_ip: "127.0.0.1".to_owned(),
            attach: None,
        };
        let placed = match unified_order(options, &order).await {
            Ok(placed) => placed,
            Err(e) => return self.fail(name, command, e),
        };
        let ok = placed.payment.verifies(&ApiKey::new(DEFAULT_API_KEY));
        self.record(
            name,
            command,
            format!(
                "payment for wx.requestPayment, paySign={}",
                placed.payment.pay_sign
            ),
            ok,
        )?;

        self.set_clock(CLOUD_PAID)?;
        let name = format!(
            "{} customer pays {CLOUD_ORDER} ({})",
            clock_time(CLOUD_PAID),
            Fen(CLOUD_FEE).yuan()
        );
        let paid_at = PayOptions {
            time_end: Some(CLOUD_PAID.to_owned()),
            ..PayOptions::default()
        };
        if let Err(refusal) = self
            .emulator
            .core()
            .pay(DEFAULT_MCH_ID, CLOUD_ORDER, &paid_at)
        {
            return self.fail(name, None, refusal.description);
        }
        // WeChat calls the function until it answers errcode 0.
        let key = function.key();
        let mut attempts = Vec::new();
        for _ in 0..500 {
            attempts = (self.emulator.core().notifier.attempts().into_iter())
                .filter(|a| a.cloud_function.as_deref() == Some(key.as_str()))
                .collect();
            if attempts.iter().any(|a| a.accepted) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.record(
            name,
            None,
            format!("paid; WeChat calls {key} with the result"),
            true,
        )?;
        for attempt in &attempts {
            let then = if attempt.accepted {
                "no more calls"
            } else {
                "WeChat calls again"
            };
            self.record(
                format!("cloud function {key}, attempt {}", attempt.attempt),
                None,
                format!("{}; {then}", attempt.outcome),
                attempt.accepted == (attempt.attempt == 2),
            )?;
        }
        if attempts.len() != 2 {
            let name = format!("cloud function {key}: acknowledged at the second attempt");
            let got = format!("{} attempts", attempts.len());
            return self.record(name, None, got, false);
        }
        Ok(())
    }
}

/// Whether the reconciliation found exactly the planted differences, and every other
/// payment and refund of the day matched.
fn judge(outcome: &Reconciliation) -> (String, bool) {
    let key = |category: Category, order: &str| format!("{} {order}", category.name());
    let mut expected: Vec<String> = ORDERS
        .iter()
        .filter_map(|o| o.planted.map(|(category, _)| key(category, o.out_trade_no)))
        .collect();
    let mut found: Vec<String> = outcome
        .differences
        .iter()
        .map(|d| key(d.category, &d.out_trade_no))
        .collect();
    expected.sort();
    found.sort();
    let agreeing = ORDERS
        .iter()
        .filter(|o| o.planted.is_none() && o.paid_at().is_some_and(|at| at.starts_with(DAY_API)));
    let matched = agreeing
        .map(|o| 1 + u64::from(matches!(o.fate, Fate::Refunded { .. })))
        .sum::<u64>();
    let found_matched = outcome.category(Category::Matched).count;
    if found == expected && found_matched == matched {
        return (
            format!(
                "{} differences, exactly the planted ones; {matched} payments and refunds matched",
                found.len()
            ),
            true,
        );
    }
    let missed: Vec<&String> = expected.iter().filter(|e| !found.contains(e)).collect();
    let unexpected: Vec<&String> = found.iter().filter(|f| !expected.contains(f)).collect();
    (
        format!(
            "not the planted differences: missed {missed:?}, unexpected {unexpected:?}; {found_matched} matched, expected {matched}"
        ),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bill::download::iso;
    use crate::time::bill_date;

    #[test]
    fn the_day_is_written_one_way() {
        assert_eq!(iso(BILL_DATE), DAY);
        assert_eq!(bill_date(BILL_DATE), DAY_API);
        assert!(NEXT_MORNING > "20261121100000" && NEXT_MORNING.starts_with("20261121"));
        for day in [&FIRST_DAY, &SECOND_DAY] {
            assert_eq!(iso(day.date), day.iso);
            assert_eq!(bill_date(day.date), day.api);
            let next = bill_date(day.date.next_day().unwrap());
            assert!(day.served > format!("{next}100000").as_str() && day.served.starts_with(&next));
            assert!(day.iso.starts_with(MONTH));
        }
        // What the second day's bill holds: the cross-day payment and the cloud-pay order.
        let cross_day = ORDERS
            .iter()
            .find(|o| matches!(o.planted, Some((Category::CrossDay, _))))
            .unwrap();
        assert!(cross_day.paid_at().unwrap().starts_with(SECOND_DAY.api));
        assert!(CLOUD_PAID.starts_with(SECOND_DAY.api));
    }

    #[test]
    fn every_order_happens_in_order_and_each_category_is_planted_once() {
        for order in &ORDERS {
            let later: Vec<&str> = match order.fate {
                Fate::Paid { at } | Fate::Closed { at } => vec![at],
                Fate::Refunded { paid, at, .. } => vec![paid, at],
                Fate::Unpaid => vec![],
            };
            let mut times = vec![order.placed];
            times.extend(later);
            assert!(times.iter().all(|t| parse_api_time(t).is_some()));
            assert!(times.is_sorted(), "{}", order.out_trade_no);
            assert!(order.placed.starts_with(DAY_API));
            assert!(
                order
                    .unified_order("http://127.0.0.1/n", ApiVersion::V2)
                    .validate()
                    .is_ok()
            );
        }
        let mut planted: Vec<Category> = ORDERS
            .iter()
            .filter_map(|o| o.planted)
            .map(|p| p.0)
            .collect();
        planted.sort();
        let others: Vec<Category> = Category::ALL[1..].to_vec();
        assert_eq!(planted, others);
    }

    #[test]
    fn a_steps_commands_are_the_words_the_shell_reads() {
        let step = |command: &str| Step {
            name: String::new(),
            command: Some(command.to_owned()),
            result: String::new(),
            ok: true,
        };
        let quoted = format!("a {} {}; b c", shell_word("it's a b"), shell_word("x;y"));
        assert_eq!(
            step(&quoted).commands(),
            [vec!["a", r"'it'\''s a b'", "'x;y'"], vec!["b", "c"]]
        );
        for order in &ORDERS {
            let command = step(&order.create_command());
            let words = command.commands();
            assert_eq!(words.len(), 1);
            assert_eq!(Some(words[0].join(" ")), command.command);
        }
        let mweb = step(&ORDERS[3].create_command());
        assert_eq!(
            mweb.commands()[0].last(),
            Some(&shell_word(SCENE_INFO).as_str())
        );
        assert!(check("x", "y", "y".into()).commands().is_empty());
    }

    #[test]
    fn commands_quote_what_the_shell_would_split() {
        assert_eq!(shell_word("DEMO1120-01"), "DEMO1120-01");
        assert_eq!(shell_word("Demo Cafe-Latte"), "'Demo Cafe-Latte'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
