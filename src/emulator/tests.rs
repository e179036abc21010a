//! The emulator's answers, request by request, against reference A0–A7.

use time::Duration;

use super::core::{Core, EmulatorOptions, Request};
use super::faults::{Fault, FaultKind};
use super::merchant::{DEFAULT_API_KEY, DEFAULT_MCH_ID, Merchant};
use super::state::PayOptions;
use crate::bill::format::{ALL_HEADER, BOM, SUMMARY_HEADER};
use crate::time::{api_time, parse_api_time};
use crate::wechat::sign::{sign_in_place, verify};
use crate::wechat::xml::FieldKind;
use crate::wechat::{ApiKey, BillAmount, Message, SignType};

const APPID: &str = "wx2421b1c4370ec43b";
const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

struct Fixture {
    core: Core,
    _runtime: tokio::runtime::Runtime,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut options = EmulatorOptions {
        notify_time_factor: 0.0001,
        ..EmulatorOptions::default()
    };
    // The documentation merchant too, so the official samples can be replayed.
    options.merchants.push(Merchant {
        mch_id: "10000100".into(),
        appids: vec![APPID.into()],
        key: ApiKey::new(DOC_KEY),
        sign_types: vec![SignType::Md5, SignType::HmacSha256],
        refund_notify_url: None,
        sub_merchants: Vec::new(),
        app_secrets: Default::default(),
        open_platform_appids: Vec::new(),
    });
    options.merchants.push(Merchant::default_service_provider());
    Fixture {
        core: Core::new(options, runtime.handle().clone()),
        _runtime: runtime,
    }
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn xml(&self) -> Message {
        Message::parse(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Fixture {
    fn raw(&self, method: &str, path: &str, body: &[u8], cn: Option<&str>) -> Answer {
        let reply = self.core.handle(&Request {
            method,
            path,
            body,
            client_cert_cn: cn,
        });
        Answer {
            status: reply.status,
            body: reply.body.into_vec().unwrap(),
        }
    }

    fn signed(&self, fields: &[(&str, &str)], sign_type: SignType, key: &str) -> Vec<u8> {
        let mut message = Message::new();
        message
            .set("appid", APPID)
            .set("mch_id", DEFAULT_MCH_ID)
            .set("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS");
        for (name, value) in fields {
            message.set(name, *value);
        }
        sign_in_place(&mut message, &ApiKey::new(key), sign_type);
        message.to_xml().into_bytes()
    }

    /// Posts a request signed with the default merchant's key; checks the answer's sign.
    fn call_as(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        sign_type: SignType,
        cn: Option<&str>,
    ) -> Message {
        let body = self.signed(fields, sign_type, DEFAULT_API_KEY);
        let answer = self.raw("POST", path, &body, cn).xml();
        if answer.get("return_code") == Some("SUCCESS") {
            let verification = verify(&answer, &ApiKey::new(DEFAULT_API_KEY), None).unwrap();
            assert!(
                verification.valid,
                "the answer's sign must verify: {answer:?}"
            );
            assert_eq!(verification.sign_type, sign_type);
        }
        answer
    }

    fn call(&self, path: &str, fields: &[(&str, &str)]) -> Message {
        self.call_as(path, fields, SignType::Md5, None)
    }

    fn refund_call(&self, fields: &[(&str, &str)]) -> Message {
        self.call_as(
            "/secapi/pay/refund",
            fields,
            SignType::Md5,
            Some(DEFAULT_MCH_ID),
        )
    }

    fn order(&self, out_trade_no: &str, total_fee: &str) -> Message {
        let answer = self.call(
            "/pay/unifiedorder",
            &[
                ("body", "腾讯充值中心-QQ会员充值"),
                ("out_trade_no", out_trade_no),
                ("total_fee", total_fee),
                ("spbill_create_ip", "14.23.150.211"),
                ("notify_url", "http://127.0.0.1:9/notify"),
                ("trade_type", "JSAPI"),
                ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
            ],
        );
        assert_eq!(answer.get("result_code"), Some("SUCCESS"), "{answer:?}");
        answer
    }

    fn pay(&self, out_trade_no: &str) {
        self.core
            .pay(DEFAULT_MCH_ID, out_trade_no, &PayOptions::default())
            .unwrap();
    }

    fn paid_order(&self, out_trade_no: &str, total_fee: &str) {
        self.order(out_trade_no, total_fee);
        self.pay(out_trade_no);
    }
}

fn err_code(answer: &Message) -> (&str, &str) {
    assert_eq!(answer.get("return_code"), Some("SUCCESS"), "{answer:?}");
    assert_eq!(answer.get("result_code"), Some("FAIL"), "{answer:?}");
    (
        answer.get("err_code").unwrap_or(""),
        answer.get("err_code_des").unwrap_or(""),
    )
}

fn return_msg(answer: &Message) -> &str {
    assert_eq!(answer.get("return_code"), Some("FAIL"), "{answer:?}");
    assert!(
        answer.get("sign").is_none(),
        "protocol failures are unsigned"
    );
    answer.get("return_msg").unwrap()
}

#[test]
fn transport_failures_come_first() {
    let f = fixture();
    let good = f.signed(&[("out_trade_no", "1")], SignType::Md5, DEFAULT_API_KEY);
    assert_eq!(
        return_msg(&f.raw("GET", "/pay/orderquery", &good, None).xml()),
        "请使用post方法"
    );
    assert_eq!(
        return_msg(&f.raw("POST", "/pay/orderquery", b"  ", None).xml()),
        "post数据为空"
    );
    assert_eq!(
        return_msg(
            &f.raw("POST", "/pay/orderquery", b"<xml>\xff</xml>", None)
                .xml()
        ),
        "编码格式错误"
    );
    assert_eq!(
        return_msg(&f.raw("POST", "/pay/orderquery", b"<xml><a>", None).xml()),
        "XML格式错误"
    );
    let xxe = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/real/invalid.xxe_injection.sample.xml"
    ))
    .unwrap();
    assert_eq!(
        return_msg(&f.raw("POST", "/pay/unifiedorder", &xxe, None).xml()),
        "XML格式错误"
    );
    assert_eq!(
        return_msg(&f.raw("POST", "/pay/downloadbill", &xxe, None).xml()),
        "data format error"
    );
    assert_eq!(
        return_msg(&f.raw("GET", "/pay/downloadbill", b"", None).xml()),
        "require POST method"
    );
    assert_eq!(f.raw("POST", "/pay/nothing", &good, None).status, 404);
}

#[test]
fn merchant_then_signature_checks() {
    let f = fixture();
    let mut unknown = Message::parse(&f.signed(&[], SignType::Md5, DEFAULT_API_KEY)).unwrap();
    unknown.set("mch_id", "1234567890");
    assert_eq!(
        return_msg(
            &f.raw("POST", "/pay/orderquery", unknown.to_xml().as_bytes(), None)
                .xml()
        ),
        "商户号mch_id不存在"
    );
    let mut foreign = Message::parse(&f.signed(&[], SignType::Md5, DEFAULT_API_KEY)).unwrap();
    foreign.set("appid", "wx0000000000000000");
    assert_eq!(
        return_msg(
            &f.raw("POST", "/pay/orderquery", foreign.to_xml().as_bytes(), None)
                .xml()
        ),
        "appid和mch_id不匹配"
    );
    let wrong_key = f.signed(&[("out_trade_no", "1")], SignType::Md5, DOC_KEY);
    assert_eq!(
        return_msg(&f.raw("POST", "/pay/orderquery", &wrong_key, None).xml()),
        "签名错误"
    );
    let bill = f.signed(&[("bill_date", "20200101")], SignType::Md5, DOC_KEY);
    assert_eq!(
        return_msg(&f.raw("POST", "/pay/downloadbill", &bill, None).xml()),
        "SIGN ERROR"
    );
    // Tampering after signing is caught too.
    let tampered =
        String::from_utf8(f.signed(&[("out_trade_no", "1")], SignType::Md5, DEFAULT_API_KEY))
            .unwrap()
            .replace("<![CDATA[1]]>", "<![CDATA[2]]>");
    assert_eq!(
        return_msg(
            &f.raw("POST", "/pay/orderquery", tampered.as_bytes(), None)
                .xml()
        ),
        "签名错误"
    );
}

#[test]
fn answers_are_signed_with_the_request_sign_type_in_the_real_wire_shape() {
    let f = fixture();
    f.order("A1", "1");
    let answer = f.call_as(
        "/pay/orderquery",
        &[("out_trade_no", "A1")],
        SignType::HmacSha256,
        None,
    );
    assert_eq!(answer.get("sign").unwrap().len(), 64);
    assert_eq!(
        answer.get("sign_type"),
        None,
        "real answers do not echo sign_type"
    );
    let body = f
        .raw(
            "POST",
            "/pay/orderquery",
            &f.signed(&[("out_trade_no", "A1")], SignType::Md5, DEFAULT_API_KEY),
            None,
        )
        .body;
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with("<xml><return_code><![CDATA[SUCCESS]]></return_code>\n<return_msg>"),
        "{text}"
    );
    assert!(
        text.contains("\n<total_fee>1</total_fee>\n"),
        "integers bare: {text}"
    );
    assert!(text.contains("<trade_state><![CDATA[NOTPAY]]></trade_state>"));
    assert!(text.contains("<trade_state_desc><![CDATA[订单未支付]]></trade_state_desc>"));
}

#[test]
fn the_official_unifiedorder_sample_is_accepted_once_signed() {
    let f = fixture();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/real/unifiedorder.sample.xml"
    );
    let mut sample = Message::parse(&std::fs::read(path).unwrap()).unwrap();
    // Its printed sign is a placeholder (reference A1).
    let placeholder = f
        .raw(
            "POST",
            "/pay/unifiedorder",
            sample.to_xml().as_bytes(),
            None,
        )
        .xml();
    assert_eq!(return_msg(&placeholder), "签名错误");
    sample.remove("sign");
    sign_in_place(&mut sample, &ApiKey::new(DOC_KEY), SignType::Md5);
    let answer = f
        .raw(
            "POST",
            "/pay/unifiedorder",
            sample.to_xml().as_bytes(),
            None,
        )
        .xml();
    assert_eq!(answer.get("result_code"), Some("SUCCESS"), "{answer:?}");
    assert!(verify(&answer, &ApiKey::new(DOC_KEY), None).unwrap().valid);
    assert!(answer.get("prepay_id").unwrap().starts_with("wx"));
    assert_eq!(answer.get("trade_type"), Some("JSAPI"));
}

#[test]
fn unifiedorder_field_rules() {
    let f = fixture();
    let base = [
        ("body", "test"),
        ("out_trade_no", "U1"),
        ("total_fee", "1"),
        ("spbill_create_ip", "127.0.0.1"),
        ("notify_url", "https://shop.example/notify"),
        ("trade_type", "NATIVE"),
        ("product_id", "P1"),
    ];
    let with = |changes: &[(&'static str, &'static str)]| {
        let mut fields: Vec<(&str, &str)> = base.to_vec();
        for (name, value) in changes {
            fields.retain(|(n, _)| n != name);
            if !value.is_empty() {
                fields.push((name, value));
            }
        }
        f.call("/pay/unifiedorder", &fields)
    };
    assert_eq!(err_code(&with(&[("body", "")])).0, "LACK_PARAMS");
    assert_eq!(
        err_code(&with(&[("trade_type", "JSAPI")])),
        ("PARAM_ERROR", "JSAPI支付必须传openid")
    );
    assert_eq!(
        err_code(&with(&[("product_id", "")])),
        ("PARAM_ERROR", "NATIVE支付必须传product_id")
    );
    assert_eq!(
        err_code(&with(&[("trade_type", "MWEB")])),
        ("PARAM_ERROR", "MWEB支付必须传scene_info")
    );
    assert_eq!(
        err_code(&with(&[("trade_type", "MICROPAY")])).0,
        "PARAM_ERROR"
    );
    assert_eq!(err_code(&with(&[("total_fee", "0")])).0, "PARAM_ERROR");
    assert_eq!(err_code(&with(&[("total_fee", "1.00")])).0, "PARAM_ERROR");
    assert_eq!(
        err_code(&with(&[("out_trade_no", "bad#no")])).0,
        "PARAM_ERROR"
    );
    assert_eq!(
        err_code(&with(&[("notify_url", "https://a.example/n?x=1")])).0,
        "PARAM_ERROR"
    );
    // 43 Chinese characters are 129 bytes: over String(128).
    let long_body: &'static str = Box::leak("支".repeat(43).into_boxed_str());
    assert_eq!(
        err_code(&with(&[("body", long_body)])),
        ("PARAM_ERROR", "body参数长度有误")
    );
    assert_eq!(
        err_code(&with(&[
            ("time_start", "20301010101010"),
            ("time_expire", "20301010101200")
        ]))
        .1,
        "time_expire时间过短，刷卡至少1分钟，其他5分钟"
    );
    let native = with(&[]);
    assert!(
        native
            .get("code_url")
            .unwrap()
            .starts_with("weixin://wxpay/bizpayurl?pr=")
    );
    let mweb = with(&[
        ("out_trade_no", "U2"),
        ("trade_type", "MWEB"),
        ("scene_info", "{\"h5_info\":{\"type\":\"Wap\"}}"),
    ]);
    assert!(mweb.get("mweb_url").unwrap().contains("prepay_id="));
}

#[test]
fn reusing_an_out_trade_no() {
    let f = fixture();
    let first = f.order("R1", "100");
    let again = f.order("R1", "100");
    assert_eq!(first.get("prepay_id"), again.get("prepay_id"));
    let changed = f.call(
        "/pay/unifiedorder",
        &[
            ("body", "腾讯充值中心-QQ会员充值"),
            ("out_trade_no", "R1"),
            ("total_fee", "200"),
            ("spbill_create_ip", "14.23.150.211"),
            ("notify_url", "http://127.0.0.1:9/notify"),
            ("trade_type", "JSAPI"),
            ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ],
    );
    assert_eq!(err_code(&changed), ("OUT_TRADE_NO_USED", "商户订单号重复"));
    f.pay("R1");
    let paid = f.call(
        "/pay/unifiedorder",
        &[
            ("out_trade_no", "R1"),
            ("body", "x"),
            ("total_fee", "100"),
            ("spbill_create_ip", "1.1.1.1"),
            ("notify_url", "http://127.0.0.1:9/n"),
            ("trade_type", "APP"),
        ],
    );
    assert_eq!(err_code(&paid).0, "ORDERPAID");
}

#[test]
fn order_states_through_query_close_and_payment() {
    let f = fixture();
    assert_eq!(
        err_code(&f.call("/pay/orderquery", &[("out_trade_no", "none")])),
        ("ORDERNOTEXIST", "订单不存在")
    );
    f.order("Q1", "1");
    f.pay("Q1");
    let paid = f.call("/pay/orderquery", &[("out_trade_no", "Q1")]);
    assert_eq!(paid.get("trade_state"), Some("SUCCESS"));
    assert_eq!(paid.get("trade_state_desc"), Some("支付成功"));
    let transaction_id = paid.get("transaction_id").unwrap().to_owned();
    assert_eq!(transaction_id.len(), 28);
    assert_eq!(paid.get("time_end").unwrap().len(), 14);
    // transaction_id wins over out_trade_no.
    let by_id = f.call(
        "/pay/orderquery",
        &[
            ("transaction_id", &transaction_id),
            ("out_trade_no", "other"),
        ],
    );
    assert_eq!(by_id.get("out_trade_no"), Some("Q1"));
    assert_eq!(
        err_code(&f.call("/pay/closeorder", &[("out_trade_no", "Q1")])).0,
        "ORDERPAID"
    );

    f.order("Q2", "1");
    // WeChat Pay closes an order no sooner than 5 minutes after it was placed.
    f.core.clock.advance(Duration::minutes(5)).unwrap();
    let closed = f.call("/pay/closeorder", &[("out_trade_no", "Q2")]);
    assert_eq!(closed.get("result_code"), Some("SUCCESS"));
    assert_eq!(closed.get("result_msg"), Some("OK"));
    assert_eq!(
        err_code(&f.call("/pay/closeorder", &[("out_trade_no", "Q2")])).0,
        "ORDERCLOSED"
    );
    assert_eq!(
        f.call("/pay/orderquery", &[("out_trade_no", "Q2")])
            .get("trade_state"),
        Some("CLOSED")
    );
    assert_eq!(
        err_code(&f.call("/pay/closeorder", &[("out_trade_no", "none")])).0,
        "ORDERNOTEXIST"
    );

    f.order("Q3", "1");
    f.core.fail_payment(DEFAULT_MCH_ID, "Q3").unwrap();
    assert_eq!(
        f.call("/pay/orderquery", &[("out_trade_no", "Q3")])
            .get("trade_state"),
        Some("PAYERROR")
    );
}

#[test]
fn unpaid_orders_expire() {
    let f = fixture();
    let expire = api_time(f.core.clock.now() + Duration::minutes(6));
    let answer = f.call(
        "/pay/unifiedorder",
        &[
            ("body", "b"),
            ("out_trade_no", "E1"),
            ("total_fee", "1"),
            ("spbill_create_ip", "1.1.1.1"),
            ("notify_url", "http://127.0.0.1:9/n"),
            ("trade_type", "APP"),
            ("time_expire", &expire),
        ],
    );
    assert_eq!(answer.get("result_code"), Some("SUCCESS"), "{answer:?}");
    f.order("E2", "1");
    f.core.clock.advance(Duration::minutes(7)).unwrap();
    assert_eq!(
        f.call("/pay/orderquery", &[("out_trade_no", "E1")])
            .get("trade_state"),
        Some("CLOSED")
    );
    assert_eq!(
        f.call("/pay/orderquery", &[("out_trade_no", "E2")])
            .get("trade_state"),
        Some("NOTPAY")
    );
    f.core.clock.advance(Duration::days(7)).unwrap();
    assert_eq!(
        f.call("/pay/orderquery", &[("out_trade_no", "E2")])
            .get("trade_state"),
        Some("CLOSED")
    );
    assert!(
        f.core
            .pay(DEFAULT_MCH_ID, "E2", &PayOptions::default())
            .is_err()
    );
}

fn refund_fields<'a>(
    out_refund_no: &'a str,
    total: &'a str,
    refund: &'a str,
) -> [(&'a str, &'a str); 4] {
    [
        ("out_trade_no", "F1"),
        ("out_refund_no", out_refund_no),
        ("total_fee", total),
        ("refund_fee", refund),
    ]
}

#[test]
fn refunds_need_the_merchant_certificate() {
    let f = fixture();
    f.paid_order("F1", "100");
    let body = f.signed(
        &refund_fields("RF1", "100", "1"),
        SignType::Md5,
        DEFAULT_API_KEY,
    );
    assert!(return_msg(&f.raw("POST", "/secapi/pay/refund", &body, None).xml()).contains("证书"));
    assert!(
        return_msg(
            &f.raw("POST", "/secapi/pay/refund", &body, Some("10000100"))
                .xml()
        )
        .contains("证书")
    );
    assert_eq!(
        f.raw("POST", "/secapi/pay/refund", &body, Some(DEFAULT_MCH_ID))
            .xml()
            .get("result_code"),
        Some("SUCCESS")
    );
}

#[test]
fn refund_rules() {
    let f = fixture();
    f.order("F1", "100");
    assert_eq!(
        err_code(&f.refund_call(&refund_fields("RF0", "100", "1"))).0,
        "ORDERNOTEXIST"
    );
    f.pay("F1");
    let first = f.refund_call(&refund_fields("RF1", "100", "30"));
    assert_eq!(first.get("result_code"), Some("SUCCESS"), "{first:?}");
    assert_eq!(first.get("refund_fee"), Some("30"));
    assert!(
        first
            .fields()
            .iter()
            .any(|x| x.name == "refund_fee" && x.kind == FieldKind::Text)
    );
    let refund_id = first.get("refund_id").unwrap().to_owned();
    // The same out_refund_no is idempotent; with other amounts it is refused.
    assert_eq!(
        f.refund_call(&refund_fields("RF1", "100", "30"))
            .get("refund_id"),
        Some(refund_id.as_str())
    );
    assert_eq!(
        err_code(&f.refund_call(&refund_fields("RF1", "100", "31"))),
        ("ERROR", "订单金额或退款金额与之前请求不一致，请核实后再试")
    );
    assert_eq!(
        err_code(&f.refund_call(&refund_fields("RF2", "99", "1"))).0,
        "PARAM_ERROR"
    );
    assert_eq!(
        f.refund_call(&refund_fields("RF2", "100", "70"))
            .get("result_code"),
        Some("SUCCESS")
    );
    assert_eq!(
        err_code(&f.refund_call(&refund_fields("RF3", "100", "1"))).0,
        "ERROR"
    );
    assert_eq!(
        f.call("/pay/orderquery", &[("out_trade_no", "F1")])
            .get("trade_state"),
        Some("REFUND")
    );

    let query = f.call("/pay/refundquery", &[("out_refund_no", "RF1")]);
    assert_eq!(query.get("refund_status_0"), Some("PROCESSING"));
    f.core.clock.advance(Duration::seconds(6)).unwrap();
    let query = f.call("/pay/refundquery", &[("refund_id", &refund_id)]);
    assert_eq!(query.get("refund_status_0"), Some("SUCCESS"));
    assert_eq!(query.get("refund_count"), Some("1"));
    assert!(query.get("refund_success_time_0").is_some());
}

#[test]
fn at_most_50_refunds_and_refundquery_paging() {
    let f = fixture();
    f.paid_order("F1", "1000");
    let numbers: Vec<String> = (0..51).map(|i| format!("N{i:02}")).collect();
    for (i, no) in numbers.iter().enumerate() {
        let answer = f.refund_call(&refund_fields(no, "1000", "1"));
        if i < 50 {
            assert_eq!(answer.get("result_code"), Some("SUCCESS"), "refund {i}");
        } else {
            assert_eq!(err_code(&answer).0, "ERROR");
        }
    }
    let first_page = f.call("/pay/refundquery", &[("out_trade_no", "F1")]);
    assert_eq!(first_page.get("refund_count"), Some("10"));
    assert_eq!(first_page.get("total_refund_count"), Some("50"));
    let names: Vec<&str> = first_page
        .fields()
        .iter()
        .map(|x| x.name.as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        names, sorted,
        "refund-query answers come in alphabetical order"
    );
    assert!(
        first_page
            .fields()
            .iter()
            .any(|x| x.name == "total_fee" && x.kind == FieldKind::Text)
    );
    let page = f.call(
        "/pay/refundquery",
        &[("out_trade_no", "F1"), ("offset", "40")],
    );
    assert_eq!(page.get("refund_count"), Some("10"));
    assert_eq!(page.get("out_refund_no_0"), Some("N40"));
    let transaction_id = page.get("transaction_id").unwrap().to_owned();
    assert_eq!(
        f.call("/pay/refundquery", &[("transaction_id", &transaction_id)])
            .get("total_refund_count"),
        Some("50")
    );
    assert_eq!(
        err_code(&f.call(
            "/pay/refundquery",
            &[("out_trade_no", "F1"), ("offset", "50")]
        ))
        .0,
        "REFUNDNOTEXIST"
    );
    assert_eq!(
        err_code(&f.call("/pay/refundquery", &[("out_refund_no", "none")])),
        ("REFUNDNOTEXIST", "退款订单查询失败")
    );
}

/// Puts the clock at 12:00 Beijing time on `day` (yyyyMMdd).
fn at_noon(f: &Fixture, day: &str) {
    f.core
        .clock
        .set(parse_api_time(&format!("{day}120000")).unwrap())
        .unwrap();
}

fn bill(f: &Fixture, fields: &[(&str, &str)]) -> Answer {
    let body = f.signed(fields, SignType::Md5, DEFAULT_API_KEY);
    f.raw("POST", "/pay/downloadbill", &body, None)
}

#[test]
fn bill_availability_by_the_emulator_clock() {
    let f = fixture();
    at_noon(&f, "20261120");
    f.paid_order("B1", "600");
    let fail = |fields: &[(&str, &str)]| {
        let answer = bill(&f, fields).xml();
        (
            return_msg(&answer).to_owned(),
            answer.get("error_code").map(str::to_owned),
        )
    };
    f.core
        .clock
        .set(parse_api_time("20261121095959").unwrap())
        .unwrap();
    assert_eq!(fail(&[("bill_date", "20261120")]).0, "Bill Creating");
    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    assert_eq!(bill(&f, &[("bill_date", "20261120")]).status, 200);
    assert_eq!(
        fail(&[("bill_date", "20261119")]),
        ("No Bill Exist".into(), Some("20002".into()))
    );
    for bad in ["20261121", "20271121", "2026112", "20261131", "20260601"] {
        assert_eq!(
            fail(&[("bill_date", bad)]),
            ("invalid bill_date".into(), Some("20001".into())),
            "{bad}"
        );
    }
    assert_eq!(
        fail(&[("bill_date", "20261120"), ("bill_type", "NOPE")]).0,
        "invalid bill_type"
    );
    assert_eq!(
        fail(&[("bill_date", "20261120"), ("tar_type", "ZIP")]).0,
        "invalid tar_type, Only GZIP supported"
    );
    assert_eq!(
        fail(&[("bill_date", "20261120"), ("bill_type", "REFUND")]).0,
        "No Bill Exist"
    );
}

#[test]
fn bills_have_the_real_byte_format_and_a_consistent_summary() {
    let f = fixture();
    at_noon(&f, "20261120");
    f.paid_order("B1", "600");
    f.paid_order("B2", "1");
    f.paid_order("B3", "202");
    f.order("B4", "5");
    f.refund_call(&[
        ("out_trade_no", "B3"),
        ("out_refund_no", "RB3"),
        ("total_fee", "202"),
        ("refund_fee", "101"),
    ]);
    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    let answer = bill(&f, &[("bill_date", "20261120")]);
    let text = String::from_utf8(answer.body.clone()).unwrap();
    assert!(text.starts_with(BOM));
    assert!(text.ends_with("\r\n"));
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "every line ends in CRLF"
    );
    let lines: Vec<&str> = text
        .trim_start_matches(BOM)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines[0], ALL_HEADER.join(","));
    assert_eq!(lines[lines.len() - 2], SUMMARY_HEADER.join(","));
    let rows: Vec<Vec<&str>> = lines[1..lines.len() - 2]
        .iter()
        .map(|l| l.strip_prefix('`').unwrap().split(",`").collect())
        .collect();
    assert_eq!(
        rows.len(),
        4,
        "three payments and one refund; the unpaid order is absent"
    );
    assert!(rows.iter().all(|r| r.len() == 27));
    let sum = |column: usize| -> i64 {
        rows.iter()
            .map(|r| BillAmount::parse(r[column]).unwrap().0)
            .sum()
    };
    let summary: Vec<&str> = lines[lines.len() - 1]
        .strip_prefix('`')
        .unwrap()
        .split(",`")
        .collect();
    assert_eq!(summary[0], "4");
    assert_eq!(BillAmount::parse(summary[1]).unwrap().0, sum(12));
    assert_eq!(BillAmount::parse(summary[2]).unwrap().0, sum(16));
    assert_eq!(BillAmount::parse(summary[4]).unwrap().0, sum(22));
    assert_eq!(BillAmount::parse(summary[5]).unwrap().0, sum(24));
    assert_eq!(BillAmount::parse(summary[6]).unwrap().0, sum(25));
    assert_eq!(summary[1], "8.03");
    assert_eq!(
        summary[4], "0.04000",
        "0.04 + 0.00 + 0.01 charged, 0.01 returned"
    );
    let refund = rows.iter().find(|r| r[9] == "REFUND").unwrap();
    assert_eq!(
        (refund[14].len(), refund[15], refund[16], refund[18]),
        (29, "RB3", "1.01", "ORIGINAL")
    );

    let gz = bill(&f, &[("bill_date", "20261120"), ("tar_type", "GZIP")]);
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&gz.body[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, text);
    let refunds =
        String::from_utf8(bill(&f, &[("bill_date", "20261120"), ("bill_type", "REFUND")]).body)
            .unwrap();
    assert_eq!(
        refunds.matches("\r\n`").count(),
        2,
        "one refund row and the summary"
    );
}

#[test]
fn fund_flow_bills_need_hmac_and_the_certificate() {
    let f = fixture();
    at_noon(&f, "20261120");
    f.paid_order("B1", "600");
    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    let fields = [("bill_date", "20261120"), ("account_type", "Basic")];
    let md5 = f.call_as(
        "/pay/downloadfundflow",
        &fields,
        SignType::Md5,
        Some(DEFAULT_MCH_ID),
    );
    assert!(return_msg(&md5).contains("HMAC-SHA256"));
    let body = f.signed(&fields, SignType::HmacSha256, DEFAULT_API_KEY);
    assert!(
        return_msg(&f.raw("POST", "/pay/downloadfundflow", &body, None).xml()).contains("证书")
    );
    let ok = f.raw("POST", "/pay/downloadfundflow", &body, Some(DEFAULT_MCH_ID));
    let text = String::from_utf8(ok.body).unwrap();
    assert!(text.contains("`交易,`交易,`收入,`6.00"), "{text}");
    assert!(
        text.contains("`扣除交易手续费,`扣除交易手续费,`支出,`0.04"),
        "{text}"
    );
    assert!(text.ends_with("`2,`1,`6.00,`1,`0.04\r\n"), "{text}");
    let none = f.call_as(
        "/pay/downloadfundflow",
        &[("bill_date", "20261119"), ("account_type", "Basic")],
        SignType::HmacSha256,
        Some(DEFAULT_MCH_ID),
    );
    assert_eq!(err_code(&none).0, "NO_BILL_EXIST");
}

#[test]
fn sandbox_uses_the_key_getsignkey_hands_out() {
    let f = fixture();
    let mut request = Message::new();
    request
        .set("mch_id", DEFAULT_MCH_ID)
        .set("nonce_str", "abc");
    sign_in_place(&mut request, &ApiKey::new(DEFAULT_API_KEY), SignType::Md5);
    let answer = f
        .raw(
            "POST",
            "/sandboxnew/pay/getsignkey",
            request.to_xml().as_bytes(),
            None,
        )
        .xml();
    let sandbox_key = answer.get("sandbox_signkey").unwrap().to_owned();
    assert_eq!(sandbox_key.len(), 32);
    let fields = [
        ("body", "b"),
        ("out_trade_no", "S1"),
        ("total_fee", "101"),
        ("spbill_create_ip", "1.1.1.1"),
        ("notify_url", "http://127.0.0.1:9/n"),
        ("trade_type", "APP"),
    ];
    let production = f.signed(&fields, SignType::Md5, DEFAULT_API_KEY);
    assert_eq!(
        return_msg(
            &f.raw("POST", "/sandboxnew/pay/unifiedorder", &production, None)
                .xml()
        ),
        "签名错误"
    );
    let sandbox = f.signed(&fields, SignType::Md5, &sandbox_key);
    let answer = f
        .raw("POST", "/sandboxnew/pay/unifiedorder", &sandbox, None)
        .xml();
    assert_eq!(answer.get("device_info"), Some("sandbox"));
    assert!(
        verify(&answer, &ApiKey::new(&sandbox_key), None)
            .unwrap()
            .valid
    );
    // The sandbox pays its own orders, and keeps them apart from production's.
    let query = f.signed(&[("out_trade_no", "S1")], SignType::Md5, &sandbox_key);
    let paid = f
        .raw("POST", "/sandboxnew/pay/orderquery", &query, None)
        .xml();
    assert_eq!(paid.get("trade_state"), Some("SUCCESS"), "{paid:?}");
    assert_eq!(
        err_code(&f.call("/pay/orderquery", &[("out_trade_no", "S1")])).0,
        "ORDERNOTEXIST"
    );
    let mut hmac = Message::new();
    hmac.set("mch_id", DEFAULT_MCH_ID).set("nonce_str", "abc");
    sign_in_place(
        &mut hmac,
        &ApiKey::new(DEFAULT_API_KEY),
        SignType::HmacSha256,
    );
    let refused = f
        .raw(
            "POST",
            "/sandboxnew/pay/getsignkey",
            hmac.to_xml().as_bytes(),
            None,
        )
        .xml();
    assert_eq!(refused.get("return_code"), Some("FAIL"));
}

#[test]
fn injected_faults() {
    let f = fixture();
    f.order("X1", "1");
    let query = f.signed(&[("out_trade_no", "X1")], SignType::Md5, DEFAULT_API_KEY);
    let add = |kind| {
        f.core
            .add_fault(Fault {
                path: "/pay/orderquery".into(),
                count: 1,
                kind,
            })
            .unwrap()
    };
    add(FaultKind::SystemError);
    let answer = f.raw("POST", "/pay/orderquery", &query, None).xml();
    assert_eq!(err_code(&answer), ("SYSTEMERROR", "系统错误"));
    assert!(
        verify(&answer, &ApiKey::new(DEFAULT_API_KEY), None)
            .unwrap()
            .valid
    );
    add(FaultKind::BadSign);
    let answer = f.raw("POST", "/pay/orderquery", &query, None).xml();
    assert!(
        !verify(&answer, &ApiKey::new(DEFAULT_API_KEY), None)
            .unwrap()
            .valid
    );
    add(FaultKind::Http503);
    assert_eq!(f.raw("POST", "/pay/orderquery", &query, None).status, 503);
    add(FaultKind::MalformedXml);
    assert!(Message::parse(&f.raw("POST", "/pay/orderquery", &query, None).body).is_err());
    // Used up: the next request is normal again, and the log records what happened.
    assert_eq!(
        f.raw("POST", "/pay/orderquery", &query, None)
            .xml()
            .get("result_code"),
        Some("SUCCESS")
    );
    let log = f.core.request_log();
    let faults: Vec<_> = log.iter().filter_map(|e| e.fault.clone()).collect();
    assert_eq!(
        faults,
        [
            FaultKind::SystemError,
            FaultKind::BadSign,
            FaultKind::Http503,
            FaultKind::MalformedXml
        ]
    );
    assert!(log.iter().any(|e| e.outcome == "FAIL SYSTEMERROR"));
}

#[test]
fn a_synthetic_day_streams_a_bill_whose_summary_equals_its_rows() {
    use super::synth::SyntheticDay;
    let f = fixture();
    let day = SyntheticDay {
        mch_id: DEFAULT_MCH_ID.into(),
        appid: APPID.into(),
        bill_date: "20261120".into(),
        trades: 20_000,
        seed: 3,
    };
    assert!(
        f.core
            .add_synthetic_day(SyntheticDay {
                appid: "wx0".into(),
                ..day.clone()
            })
            .is_err()
    );
    assert!(
        f.core
            .add_synthetic_day(SyntheticDay {
                bill_date: "2026-11-20".into(),
                ..day.clone()
            })
            .is_err()
    );
    f.core.add_synthetic_day(day.clone()).unwrap();
    at_noon(&f, "20261120");
    f.paid_order("OWN1", "500");
    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    let text = String::from_utf8(bill(&f, &[("bill_date", "20261120")]).body).unwrap();
    let lines: Vec<&str> = text
        .trim_start_matches(BOM)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .collect();
    let rows = &lines[1..lines.len() - 2];
    let synthetic_rows = day
        .clone()
        .into_rows(crate::bill::format::FeeRate(60))
        .count();
    assert_eq!(
        rows.len(),
        synthetic_rows + 1,
        "the synthetic rows and the emulator's own trade"
    );
    let mut fee = 0i64;
    let mut settled = 0i64;
    for row in rows {
        let fields: Vec<&str> = row.strip_prefix('`').unwrap().split(",`").collect();
        settled += BillAmount::parse(fields[12]).unwrap().0;
        fee += BillAmount::parse(fields[22]).unwrap().0;
    }
    let summary: Vec<&str> = lines[lines.len() - 1]
        .strip_prefix('`')
        .unwrap()
        .split(",`")
        .collect();
    assert_eq!(summary[0], rows.len().to_string());
    assert_eq!(BillAmount::parse(summary[1]).unwrap().0, settled);
    assert_eq!(BillAmount::parse(summary[4]).unwrap().0, fee);
    let gz = bill(&f, &[("bill_date", "20261120"), ("tar_type", "GZIP")]);
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&gz.body[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, text);
}

#[test]
fn a_seeded_day_renders_byte_for_byte() {
    let f = fixture();
    let pay_at = |out_trade_no: &str, transaction_id: &str, time_end: &str| {
        f.core
            .pay(
                DEFAULT_MCH_ID,
                out_trade_no,
                &PayOptions {
                    transaction_id: Some(transaction_id.into()),
                    time_end: Some(time_end.into()),
                    openid: Some("oUpF8uMEb4qRXf22hE3X68TekukE".into()),
                    bank_type: Some("CMB_DEBIT".into()),
                    ..PayOptions::default()
                },
            )
            .unwrap();
    };
    at_noon(&f, "20261120");
    f.order("G1", "600");
    pay_at("G1", "4200000001202611200000000001", "20261120083541");
    f.order("G2", "1");
    pay_at("G2", "4200000001202611200000000002", "20261120093000");
    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    let text = String::from_utf8(bill(&f, &[("bill_date", "20261120")]).body).unwrap();
    let body = "腾讯充值中心-QQ会员充值";
    let expected = format!(
        "\u{feff}{header}\r\n\
         `2026-11-20 08:35:41,`{APPID},`{DEFAULT_MCH_ID},`0,`,`4200000001202611200000000001,`G1,`oUpF8uMEb4qRXf22hE3X68TekukE,`JSAPI,`SUCCESS,`CMB_DEBIT,`CNY,`6.00,`0.00,`0,`0,`0.00,`0.00,`,`,`{body},`,`0.04000,`0.60%,`6.00,`0.00,`\r\n\
         `2026-11-20 09:30:00,`{APPID},`{DEFAULT_MCH_ID},`0,`,`4200000001202611200000000002,`G2,`oUpF8uMEb4qRXf22hE3X68TekukE,`JSAPI,`SUCCESS,`CMB_DEBIT,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`{body},`,`0.00000,`0.60%,`0.01,`0.00,`\r\n\
         {summary}\r\n\
         `2,`6.01,`0.00,`0.00,`0.04000,`6.01,`0.00\r\n",
        header = ALL_HEADER.join(","),
        summary = SUMMARY_HEADER.join(","),
    );
    assert_eq!(text, expected);
}

#[test]
fn hostile_amounts_times_and_sizes_are_refused() {
    let f = fixture();
    let order = |total_fee: &str, extra: (&str, &str)| {
        f.call(
            "/pay/unifiedorder",
            &[
                ("body", "b"),
                ("out_trade_no", total_fee),
                ("total_fee", total_fee),
                ("spbill_create_ip", "1.1.1.1"),
                ("notify_url", "http://127.0.0.1:9/n"),
                ("trade_type", "APP"),
                extra,
            ],
        )
    };
    assert_eq!(
        err_code(&order("2147483648", ("attach", ""))).0,
        "PARAM_ERROR"
    );
    assert_eq!(
        order("2147483647", ("attach", "")).get("result_code"),
        Some("SUCCESS")
    );
    let past = api_time(f.core.clock.now() - Duration::minutes(10));
    assert_eq!(
        err_code(&order("5", ("time_expire", &past))).0,
        "PARAM_ERROR"
    );
    use super::synth::SyntheticDay;
    let huge = SyntheticDay {
        mch_id: DEFAULT_MCH_ID.into(),
        appid: APPID.into(),
        bill_date: "20261120".into(),
        trades: u64::MAX,
        seed: 0,
    };
    assert!(f.core.add_synthetic_day(huge).is_err());
    let before = f.core.clock.now();
    assert!(
        f.core
            .clock
            .set(parse_api_time("99991231235959").unwrap())
            .is_err()
    );
    assert!(f.core.clock.advance(Duration::MAX).is_err());
    assert!((f.core.clock.now() - before).abs() < Duration::seconds(5));
}

#[test]
fn bill_dates_missing_recharge_refunds_and_the_three_month_window() {
    let f = fixture();
    f.core
        .clock
        .set(parse_api_time("20261130120000").unwrap())
        .unwrap();
    let fail = |fields: &[(&str, &str)]| return_msg(&bill(&f, fields).xml()).to_owned();
    assert_eq!(fail(&[("bill_type", "ALL")]), "missing parameter");
    assert_eq!(
        fail(&[("bill_date", "20260829")]),
        "invalid bill_date",
        "three months and a day ago"
    );
    assert_eq!(
        fail(&[("bill_date", "20260830")]),
        "No Bill Exist",
        "three months ago to the day"
    );
    assert_eq!(
        fail(&[("bill_date", "20261120"), ("bill_type", "RECHARGE_REFUND")]),
        "No Bill Exist"
    );
    f.core
        .add_fault(Fault {
            path: "/pay/downloadbill".into(),
            count: 1,
            kind: FaultKind::SystemError,
        })
        .unwrap();
    assert_eq!(
        fail(&[("bill_date", "20261120")]),
        "SYSTEMERROR",
        "downloadbill has no err_code"
    );
}

#[test]
fn refundquery_reports_the_order_refund_total_on_every_page() {
    let f = fixture();
    f.paid_order("F1", "1000");
    for i in 0..12 {
        let no = format!("T{i:02}");
        f.refund_call(&refund_fields(&no, "1000", "2"));
    }
    let second = f.call(
        "/pay/refundquery",
        &[("out_trade_no", "F1"), ("offset", "10")],
    );
    assert_eq!(second.get("refund_count"), Some("2"));
    assert_eq!(second.get("refund_fee"), Some("24"));
}

#[test]
fn fund_flow_lists_refunds_on_the_day_they_succeed_and_covers_synthetic_days() {
    use super::synth::SyntheticDay;
    let options = EmulatorOptions {
        refund_delay: Duration::minutes(10),
        ..EmulatorOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = Fixture {
        core: Core::new(options, runtime.handle().clone()),
        _runtime: runtime,
    };
    f.core
        .clock
        .set(parse_api_time("20261120235500").unwrap())
        .unwrap();
    f.paid_order("F1", "1000");
    f.refund_call(&refund_fields("R1", "1000", "100"));
    f.core
        .clock
        .set(parse_api_time("20261122100000").unwrap())
        .unwrap();
    let flow = |day: &str| {
        let body = f.signed(
            &[("bill_date", day), ("account_type", "Basic")],
            SignType::HmacSha256,
            DEFAULT_API_KEY,
        );
        String::from_utf8(
            f.raw("POST", "/pay/downloadfundflow", &body, Some(DEFAULT_MCH_ID))
                .body,
        )
        .unwrap()
    };
    assert!(
        !flow("20261120").contains("`退款"),
        "applied on the 20th, succeeded on the 21st"
    );
    // 1.00 refunded, of which the returned 0.01 fee (0.60%) comes back to the account.
    assert!(flow("20261121").contains("`退款,`退款,`支出,`0.99"));
    f.core
        .add_synthetic_day(SyntheticDay {
            mch_id: DEFAULT_MCH_ID.into(),
            appid: APPID.into(),
            bill_date: "20261119".into(),
            trades: 1000,
            seed: 1,
        })
        .unwrap();
    let synthetic = flow("20261119");
    assert!(
        synthetic.matches("`交易,`交易,`收入").count() > 800,
        "{}",
        &synthetic[..200]
    );
}

#[test]
fn a_payment_with_a_coupon_settles_the_rest() {
    let f = fixture();
    at_noon(&f, "20261120");
    f.order("C1", "600");
    let options = PayOptions {
        coupon_fee: Some(100),
        ..PayOptions::default()
    };
    f.core.pay(DEFAULT_MCH_ID, "C1", &options).unwrap();
    let query = f.call("/pay/orderquery", &[("out_trade_no", "C1")]);
    assert_eq!(query.get("cash_fee"), Some("500"));
    assert_eq!(query.get("coupon_fee"), Some("100"));
    assert_eq!(query.get("settlement_total_fee"), Some("500"));
    f.order("C2", "600");
    let too_much = PayOptions {
        coupon_fee: Some(600),
        ..PayOptions::default()
    };
    assert_eq!(
        f.core
            .pay(DEFAULT_MCH_ID, "C2", &too_much)
            .unwrap_err()
            .code,
        "PARAM_ERROR"
    );
    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    let text = String::from_utf8(bill(&f, &[("bill_date", "20261120")]).body).unwrap();
    let row = text.lines().find(|l| l.contains("`C1,")).unwrap();
    let fields: Vec<&str> = row
        .trim_end()
        .strip_prefix('`')
        .unwrap()
        .split(",`")
        .collect();
    assert_eq!(
        (fields[12], fields[13], fields[22], fields[24]),
        ("5.00", "1.00", "0.03000", "6.00")
    );
}

/// Splits a bill's data lines into fields; header and summary lines are left out.
fn bill_rows(text: &str) -> Vec<Vec<String>> {
    text.trim_start_matches(BOM)
        .split("\r\n")
        .filter_map(|line| line.strip_prefix('`'))
        .map(|line| line.split(",`").map(str::to_owned).collect())
        .collect()
}

fn outcome(f: &Fixture, json: &str) {
    f.core
        .add_outcome(serde_json::from_str(json).unwrap())
        .unwrap();
}

#[test]
fn business_outcomes_answer_the_chosen_err_code_to_the_next_matching_requests() {
    let f = fixture();
    outcome(&f, r#"{"out_trade_no":"F1","err_code":"NOTENOUGH"}"#);
    let answer = f.call(
        "/pay/unifiedorder",
        &[
            ("body", "b"),
            ("out_trade_no", "F1"),
            ("total_fee", "100"),
            ("spbill_create_ip", "14.23.150.211"),
            ("notify_url", "http://127.0.0.1:9/notify"),
            ("trade_type", "JSAPI"),
            ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ],
    );
    assert_eq!(err_code(&answer), ("NOTENOUGH", "余额不足"));
    assert!(f.core.orders().is_empty(), "a refused order is not placed");
    f.paid_order("F1", "100");

    for (code, description) in [
        (
            "BIZERR_NEED_RETRY",
            "退款业务流程错误，需要商户触发重试来解决",
        ),
        ("FREQUENCY_LIMITED", "频率限制"),
        ("INVALID_REQ_TOO_MUCH", "无效请求过多"),
        ("USER_ACCOUNT_ABNORMAL", "退款请求失败"),
        ("NOTENOUGH", "余额不足"),
        ("SYSTEMERROR", "系统错误"),
    ] {
        outcome(
            &f,
            &format!(r#"{{"out_refund_no":"R1","err_code":"{code}","path":"/secapi/pay/refund"}}"#),
        );
        // call_as checks that the FAIL answer is signed with the request's sign type.
        let answer = f.refund_call(&refund_fields("R1", "100", "10"));
        assert_eq!(err_code(&answer), (code, description));
        assert_eq!(answer.get("appid"), Some(APPID));
    }
    assert!(f.core.refunds().is_empty(), "no refused refund was made");
    // The outcome is used up: the same out_refund_no now refunds, as a retry should.
    let retried = f.refund_call(&refund_fields("R1", "100", "10"));
    assert_eq!(retried.get("result_code"), Some("SUCCESS"), "{retried:?}");

    // Requests naming the order by transaction_id, or the refund by refund_id, match too,
    // and `count` covers that many requests.
    let transaction_id = retried.get("transaction_id").unwrap().to_owned();
    let refund_id = retried.get("refund_id").unwrap().to_owned();
    outcome(
        &f,
        r#"{"out_trade_no":"F1","err_code":"SYSTEMERROR","path":"/pay/orderquery","count":2}"#,
    );
    for _ in 0..2 {
        let query = f.call("/pay/orderquery", &[("transaction_id", &transaction_id)]);
        assert_eq!(err_code(&query), ("SYSTEMERROR", "系统错误"));
    }
    let query = f.call("/pay/orderquery", &[("transaction_id", &transaction_id)]);
    assert_eq!(query.get("trade_state"), Some("REFUND"));
    outcome(&f, r#"{"out_refund_no":"R1","err_code":"SYSTEMERROR"}"#);
    let other = f.call("/pay/orderquery", &[("out_trade_no", "F1")]);
    assert_eq!(
        other.get("result_code"),
        Some("SUCCESS"),
        "an orderquery is no refund request"
    );
    let query = f.call("/pay/refundquery", &[("refund_id", &refund_id)]);
    assert_eq!(err_code(&query).0, "SYSTEMERROR");
    assert!(f.core.pending_outcomes().is_empty());

    // Another merchant's order of the same number is not concerned.
    outcome(
        &f,
        r#"{"out_trade_no":"F1","mch_id":"10000100","err_code":"SYSTEMERROR"}"#,
    );
    let mine = f.call("/pay/orderquery", &[("out_trade_no", "F1")]);
    assert_eq!(mine.get("result_code"), Some("SUCCESS"));
    assert_eq!(f.core.pending_outcomes().len(), 1);
    f.core.clear_outcomes();
    assert!(f.core.pending_outcomes().is_empty());
}

#[test]
fn refunds_end_in_change_or_refundclose_when_told() {
    let f = fixture();
    at_noon(&f, "20261120");
    f.paid_order("F1", "100");
    // Told before the refund exists, and after it is made while it is still PROCESSING.
    outcome(&f, r#"{"out_refund_no":"R1","refund_status":"CHANGE"}"#);
    assert_eq!(
        f.refund_call(&refund_fields("R1", "100", "30"))
            .get("result_code"),
        Some("SUCCESS")
    );
    f.refund_call(&refund_fields("R2", "100", "70"));
    outcome(
        &f,
        r#"{"out_refund_no":"R2","refund_status":"REFUNDCLOSE"}"#,
    );
    f.core.clock.advance(Duration::seconds(6)).unwrap();

    let query = f.call("/pay/refundquery", &[("out_trade_no", "F1")]);
    assert_eq!(query.get("refund_status_0"), Some("CHANGE"));
    assert_eq!(query.get("refund_status_1"), Some("REFUNDCLOSE"));
    for n in 0..2 {
        assert!(
            query.get(&format!("refund_success_time_{n}")).is_none(),
            "only a refund that succeeded has a success time"
        );
    }
    assert!(f.core.pending_outcomes().is_empty());
    let ended = f
        .core
        .add_outcome(
            serde_json::from_str(r#"{"out_refund_no":"R1","refund_status":"REFUNDCLOSE"}"#)
                .unwrap(),
        )
        .unwrap_err();
    assert!(ended.to_string().contains("CHANGE"), "{ended}");

    // A closed refund moved no money: refundquery lists it with its own amount and status,
    // but the order's refunded total leaves it out.
    assert_eq!(query.get("refund_fee_1"), Some("70"));
    assert_eq!(query.get("refund_fee"), Some("30"), "{query:?}");
    // And its 70 fen can be refunded again.
    let again = f.refund_call(&refund_fields("R4", "100", "70"));
    assert_eq!(again.get("result_code"), Some("SUCCESS"), "{again:?}");
    assert_eq!(
        err_code(&f.refund_call(&refund_fields("R5", "100", "1"))).0,
        "ERROR"
    );
    f.core.clock.advance(Duration::seconds(6)).unwrap();
    let query = f.call("/pay/refundquery", &[("out_trade_no", "F1")]);
    assert_eq!(query.get("refund_fee"), Some("100"), "{query:?}");

    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    let text =
        String::from_utf8(bill(&f, &[("bill_date", "20261120"), ("bill_type", "REFUND")]).body)
            .unwrap();
    let statuses: Vec<(String, String)> = bill_rows(&text)
        .into_iter()
        .filter(|r| r.len() == 29)
        .map(|r| (r[17].clone(), r[21].clone()))
        .collect();
    assert_eq!(
        statuses,
        [("R1", "CHANGE"), ("R2", "REFUNDCLOSE"), ("R4", "SUCCESS")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );

    // The ALL bill lists the closed refund with its status, and counts none of it: its
    // 退款金额, 充值券退款金额, 手续费 and 申请退款金额 are zero, and so are its shares of
    // the totals, which hold only R1 and R4.
    let text = String::from_utf8(bill(&f, &[("bill_date", "20261120")]).body).unwrap();
    let rows = bill_rows(&text);
    let closed = rows
        .iter()
        .find(|r| r.len() == 27 && r[15] == "R2")
        .unwrap();
    assert_eq!(closed[19], "REFUNDCLOSE");
    assert_eq!(
        (&*closed[16], &*closed[17], &*closed[22], &*closed[25]),
        ("0.00", "0.00", "0.00000", "0.00")
    );
    let summary = rows.last().unwrap();
    assert_eq!(
        (&*summary[2], &*summary[6]),
        ("1.00", "1.00"),
        "{summary:?}"
    );
    let (_, report) = parsed(&text);
    assert!(report.is_consistent());
    // Nor does the fund flow book it: the day's refunds out are R4's alone.
    let flow = fund_flow(&f, "20261120");
    assert!(
        !flow.contains("`R2\r\n") && !flow.contains("`R1\r\n"),
        "{flow}"
    );
    assert_eq!(flow.matches("`退款,`退款,`支出").count(), 1, "{flow}");
}

/// A bill parsed by the bill parser: its rows' (time, voucher, balance), and its report.
fn parsed(text: &str) -> (Vec<(String, String, String)>, crate::bill::parse::Report) {
    use crate::bill::layout::Column;
    let mut rows = Vec::new();
    let report = crate::bill::parse::read(text.as_bytes(), |record| {
        rows.push((
            record.trade_time().to_owned(),
            record.get(Column::VoucherNo).unwrap_or("").to_owned(),
            record.get(Column::Balance).unwrap_or("").to_owned(),
        ));
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap();
    (rows, report)
}

#[test]
fn a_coupon_order_refunds_cash_and_coupon_in_proportion_everywhere() {
    let f = fixture();
    at_noon(&f, "20261120");
    f.order("F1", "500");
    let coupon = PayOptions {
        coupon_fee: Some(100),
        ..PayOptions::default()
    };
    f.core.pay(DEFAULT_MCH_ID, "F1", &coupon).unwrap();
    let paid = f.call("/pay/orderquery", &[("out_trade_no", "F1")]);
    let coupon_id = paid.get("coupon_id_0").unwrap().to_owned();

    let first = f.refund_call(&refund_fields("R1", "500", "120"));
    assert_eq!(first.get("result_code"), Some("SUCCESS"), "{first:?}");
    for (name, value) in [
        ("refund_fee", "120"),
        ("settlement_refund_fee", "96"),
        ("total_fee", "500"),
        ("settlement_total_fee", "400"),
        ("cash_fee", "400"),
        ("cash_refund_fee", "96"),
        ("coupon_refund_fee", "24"),
        ("coupon_refund_count", "1"),
        ("coupon_type_0", "NO_CASH"),
        ("coupon_refund_fee_0", "24"),
        ("coupon_refund_id_0", &coupon_id),
    ] {
        assert_eq!(first.get(name), Some(value), "{name} in {first:?}");
    }
    // 133 × 100/500 = 26.6: the coupon share is rounded down; the refund that completes
    // the order takes the rest of the coupon (49.4 would be 49; it gets 50).
    f.refund_call(&refund_fields("R2", "500", "133"));
    let last = f.refund_call(&refund_fields("R3", "500", "247"));
    assert_eq!(last.get("coupon_refund_fee"), Some("50"));
    assert_eq!(last.get("settlement_refund_fee"), Some("197"));

    let query = f.call("/pay/refundquery", &[("out_trade_no", "F1")]);
    for (name, value) in [
        ("total_fee", "500"),
        ("cash_fee", "400"),
        ("settlement_total_fee", "400"),
        ("refund_fee", "500"),
        ("refund_fee_0", "120"),
        ("settlement_refund_fee_0", "96"),
        ("coupon_refund_fee_0", "24"),
        ("coupon_refund_count_0", "1"),
        ("coupon_type_0_0", "NO_CASH"),
        ("coupon_refund_id_0_0", &coupon_id),
        ("coupon_refund_fee_0_0", "24"),
        ("settlement_refund_fee_1", "107"),
        ("coupon_refund_fee_1", "26"),
        ("coupon_refund_fee_2", "50"),
    ] {
        assert_eq!(query.get(name), Some(value), "{name} in {query:?}");
    }

    // Without a coupon nothing changes: the settled amounts are the amounts.
    f.paid_order("F2", "300");
    let plain = f.refund_call(&[
        ("out_trade_no", "F2"),
        ("out_refund_no", "P1"),
        ("total_fee", "300"),
        ("refund_fee", "100"),
    ]);
    assert_eq!(plain.get("settlement_refund_fee"), Some("100"));
    assert_eq!(plain.get("cash_fee"), Some("300"));
    assert_eq!(plain.get("coupon_refund_fee"), None);
    let query = f.call("/pay/refundquery", &[("out_refund_no", "P1")]);
    assert_eq!(query.get("settlement_total_fee"), None);
    assert_eq!(query.get("coupon_refund_fee_0"), None);

    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    let text =
        String::from_utf8(bill(&f, &[("bill_date", "20261120"), ("bill_type", "REFUND")]).body)
            .unwrap();
    let rows = bill_rows(&text);
    let r1 = rows
        .iter()
        .find(|r| r.get(17).map(String::as_str) == Some("R1"))
        .unwrap();
    // 退款金额, 充值券退款金额, 手续费 (0.60% of the settled 0.96), 申请退款金额.
    assert_eq!(
        (&*r1[18], &*r1[19], &*r1[24], &*r1[27]),
        ("0.96", "0.24", "-0.01000", "1.20")
    );
    let summary = rows.last().unwrap();
    // 退款总金额 4.00 + 1.00 (P1), 充值券退款总金额, 申请退款总金额 5.00 + 1.00.
    assert_eq!(
        (&*summary[2], &*summary[3], &*summary[6]),
        ("5.00", "1.00", "6.00")
    );
}

/// The fund-flow bill of `day` (yyyyMMdd) for the default merchant, as text.
fn fund_flow(f: &Fixture, day: &str) -> String {
    let body = f.signed(
        &[("bill_date", day), ("account_type", "Basic")],
        SignType::HmacSha256,
        DEFAULT_API_KEY,
    );
    String::from_utf8(
        f.raw("POST", "/pay/downloadfundflow", &body, Some(DEFAULT_MCH_ID))
            .body,
    )
    .unwrap()
}

/// The balance before a fund-flow bill's first row, and after its last.
fn opening_and_closing(text: &str) -> (i64, i64) {
    let rows: Vec<Vec<String>> = bill_rows(text)
        .into_iter()
        .filter(|r| r.len() == 11)
        .collect();
    let fen = |text: &str| BillAmount::parse(text).unwrap().to_fen().unwrap().0;
    let first = &rows[0];
    let signed = if first[5] == "收入" {
        fen(&first[6])
    } else {
        -fen(&first[6])
    };
    (fen(&first[7]) - signed, fen(&rows.last().unwrap()[7]))
}

#[test]
fn fund_flow_balances_carry_over_and_refunds_return_their_fee() {
    use super::synth::SyntheticDay;
    let f = fixture();
    f.core
        .add_synthetic_day(SyntheticDay {
            mch_id: DEFAULT_MCH_ID.into(),
            appid: APPID.into(),
            bill_date: "20261119".into(),
            trades: 500,
            seed: 3,
        })
        .unwrap();
    at_noon(&f, "20261120");
    f.paid_order("B1", "600");
    f.refund_call(&[
        ("out_trade_no", "B1"),
        ("out_refund_no", "R1"),
        ("total_fee", "600"),
        ("refund_fee", "300"),
    ]);
    f.core.clock.advance(Duration::seconds(6)).unwrap();
    at_noon(&f, "20261121");
    f.paid_order("B2", "1000");
    f.core
        .clock
        .set(parse_api_time("20261122100000").unwrap())
        .unwrap();

    let day19 = fund_flow(&f, "20261119");
    let day20 = fund_flow(&f, "20261120");
    let day21 = fund_flow(&f, "20261121");
    let (opening19, closing19) = opening_and_closing(&day19);
    let (opening20, closing20) = opening_and_closing(&day20);
    let (opening21, closing21) = opening_and_closing(&day21);
    assert_eq!(opening19, 0, "the account starts empty");
    assert!(closing19 > 0);
    assert_eq!(
        opening20, closing19,
        "the balance carries over from the day before"
    );
    assert_eq!(opening21, closing20);
    // 6.00 in, 0.04 fee out, then the refund of 3.00 returns 0.02 of the fee (0.60%):
    // 2.98 leaves the account.
    assert_eq!(closing20 - opening20, 600 - 4 - 298);
    assert!(day20.contains("`退款,`退款,`支出,`2.98,`"), "{day20}");
    assert!(day20.contains(&format!(
        "`{DEFAULT_MCH_ID}API,`退款总金额3.00元;含手续费0.02元,`R1"
    )));
    assert!(day20.ends_with("`3,`1,`6.00,`2,`3.02\r\n"), "{day20}");
    assert_eq!(closing21 - opening21, 1000 - 6);

    // The trade bill shows the same returned fee on the refund row.
    let trade = String::from_utf8(bill(&f, &[("bill_date", "20261120")]).body).unwrap();
    let refund_row = bill_rows(&trade)
        .into_iter()
        .find(|r| r.len() == 27 && r[15] == "R1")
        .unwrap();
    assert_eq!(refund_row[22], "-0.02000");
}

mod service_provider {
    use super::*;
    use crate::emulator::merchant::{
        SERVICE_PROVIDER_API_KEY, SERVICE_PROVIDER_APPID, SERVICE_PROVIDER_MCH_ID, SUB_APPID,
        SUB_MCH_ID,
    };

    /// Posts a request of the service provider, as it comes back.
    fn raw(
        f: &Fixture,
        path: &str,
        fields: &[(&str, &str)],
        sign_type: SignType,
        cn: Option<&str>,
    ) -> Answer {
        let mut message = Message::new();
        message
            .set("appid", SERVICE_PROVIDER_APPID)
            .set("mch_id", SERVICE_PROVIDER_MCH_ID)
            .set("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS");
        for (name, value) in fields {
            message.set(name, *value);
        }
        sign_in_place(
            &mut message,
            &ApiKey::new(SERVICE_PROVIDER_API_KEY),
            sign_type,
        );
        f.raw("POST", path, message.to_xml().as_bytes(), cn)
    }

    /// Posts a request of the service provider; checks the sign of a SUCCESS answer.
    fn call(f: &Fixture, path: &str, fields: &[(&str, &str)], cn: Option<&str>) -> Message {
        let answer = raw(f, path, fields, SignType::Md5, cn).xml();
        if answer.get("return_code") == Some("SUCCESS") {
            let key = ApiKey::new(SERVICE_PROVIDER_API_KEY);
            assert!(verify(&answer, &key, None).unwrap().valid, "{answer:?}");
        }
        answer
    }

    fn order_fields<'a>(
        out_trade_no: &'a str,
        sub: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut fields = vec![
            ("body", "服务商测试"),
            ("out_trade_no", out_trade_no),
            ("total_fee", "600"),
            ("spbill_create_ip", "14.23.150.211"),
            ("notify_url", "http://127.0.0.1:9/notify"),
            ("trade_type", "JSAPI"),
        ];
        fields.extend_from_slice(sub);
        fields
    }

    #[test]
    fn sub_merchants_are_checked_echoed_and_billed() {
        let f = fixture();
        at_noon(&f, "20261120");
        let sub = [
            ("sub_mch_id", SUB_MCH_ID),
            ("sub_appid", SUB_APPID),
            ("sub_openid", "oSubUser0000000000000000000"),
        ];
        let placed = call(&f, "/pay/unifiedorder", &order_fields("S1", &sub), None);
        assert_eq!(placed.get("result_code"), Some("SUCCESS"), "{placed:?}");
        assert_eq!(placed.get("sub_mch_id"), Some(SUB_MCH_ID));
        assert_eq!(placed.get("sub_appid"), Some(SUB_APPID));
        assert_eq!(placed.get("mch_id"), Some(SERVICE_PROVIDER_MCH_ID));

        // A bad or unbound sub-merchant, a sub_appid not bound to it, a service provider
        // trading for itself, a direct merchant naming a sub-merchant.
        for (fields, message) in [
            (vec![("sub_mch_id", "1999999999")], "受理关系不存在"),
            (
                vec![("sub_mch_id", SUB_MCH_ID), ("sub_appid", APPID)],
                "sub_mch_id与sub_appid不匹配",
            ),
            (vec![], "缺少参数sub_mch_id"),
        ] {
            let answer = call(
                &f,
                "/pay/orderquery",
                &[&[("out_trade_no", "S1")], &fields[..]].concat(),
                None,
            );
            assert_eq!(return_msg(&answer), message, "{fields:?}");
        }
        let direct = f.call(
            "/pay/orderquery",
            &[("out_trade_no", "S1"), ("sub_mch_id", SUB_MCH_ID)],
        );
        assert_eq!(return_msg(&direct), "受理关系不存在");
        let no_sub_appid = call(
            &f,
            "/pay/unifiedorder",
            &order_fields(
                "S2",
                &[("sub_mch_id", SUB_MCH_ID), ("sub_openid", "oSubUser")],
            ),
            None,
        );
        assert_eq!(err_code(&no_sub_appid).0, "PARAM_ERROR");

        // The sub-merchant's orders are its own: the merchant of the same number has none.
        f.core
            .pay(
                SERVICE_PROVIDER_MCH_ID,
                "S1",
                &PayOptions {
                    sub_mch_id: Some(SUB_MCH_ID.into()),
                    ..PayOptions::default()
                },
            )
            .unwrap();
        assert_eq!(
            err_code(&f.call("/pay/orderquery", &[("out_trade_no", "S1")])).0,
            "ORDERNOTEXIST"
        );
        let query = call(
            &f,
            "/pay/orderquery",
            &[
                ("out_trade_no", "S1"),
                ("sub_mch_id", SUB_MCH_ID),
                ("sub_appid", SUB_APPID),
            ],
            None,
        );
        assert_eq!(query.get("trade_state"), Some("SUCCESS"), "{query:?}");
        assert_eq!(query.get("sub_openid"), Some("oSubUser0000000000000000000"));
        assert_eq!(query.get("sub_is_subscribe"), Some("N"));
        assert_eq!(query.get("sub_mch_id"), Some(SUB_MCH_ID));

        let refund = call(
            &f,
            "/secapi/pay/refund",
            &[
                ("sub_mch_id", SUB_MCH_ID),
                ("out_trade_no", "S1"),
                ("out_refund_no", "SR1"),
                ("total_fee", "600"),
                ("refund_fee", "100"),
            ],
            Some(SERVICE_PROVIDER_MCH_ID),
        );
        assert_eq!(refund.get("result_code"), Some("SUCCESS"), "{refund:?}");
        assert_eq!(refund.get("sub_mch_id"), Some(SUB_MCH_ID));
        let refunds = call(
            &f,
            "/pay/refundquery",
            &[("sub_mch_id", SUB_MCH_ID), ("out_refund_no", "SR1")],
            None,
        );
        assert_eq!(refunds.get("refund_count"), Some("1"), "{refunds:?}");
        f.core.clock.advance(Duration::seconds(6)).unwrap();

        f.core
            .clock
            .set(parse_api_time("20261121100000").unwrap())
            .unwrap();
        let day = [("bill_date", "20261120")];
        let bill = raw(&f, "/pay/downloadbill", &day, SignType::Md5, None);
        let text = String::from_utf8(bill.body).unwrap();
        let rows: Vec<Vec<String>> = bill_rows(&text)
            .into_iter()
            .filter(|r| r.len() == 27)
            .collect();
        assert_eq!(rows.len(), 2, "the payment and the refund: {text}");
        for row in &rows {
            // 公众账号ID, 商户号, 特约商户号
            assert_eq!(
                (&*row[1], &*row[2], &*row[3]),
                (SERVICE_PROVIDER_APPID, SERVICE_PROVIDER_MCH_ID, SUB_MCH_ID)
            );
        }
        // The money is the sub-merchant's: its fund flow has it, the provider's own none.
        let flow = |fields: &[(&str, &str)]| {
            let fields = [
                &[("bill_date", "20261120"), ("account_type", "Basic")],
                fields,
            ]
            .concat();
            raw(
                &f,
                "/pay/downloadfundflow",
                &fields,
                SignType::HmacSha256,
                Some(SERVICE_PROVIDER_MCH_ID),
            )
        };
        let sub_flow = String::from_utf8(flow(&[("sub_mch_id", SUB_MCH_ID)]).body).unwrap();
        assert!(
            sub_flow.contains("`交易,`交易,`收入,`6.00,`6.00"),
            "{sub_flow}"
        );
        assert_eq!(err_code(&flow(&[]).xml()).0, "NO_BILL_EXIST");
    }
}

/// Every fund-flow row's 记账时间 is no earlier than the row before's.
fn assert_booking_order(rows: &[(String, String, String)]) {
    for pair in rows.windows(2) {
        assert!(
            pair[0].0 <= pair[1].0,
            "{:?} is listed before {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn fund_flow_rows_run_in_booking_order_and_the_balance_with_them() {
    let f = fixture();
    at_noon(&f, "20261120");
    f.paid_order("F1", "1000");
    // Applied for at noon, the refund succeeds 5 seconds later: after F2 was paid.
    f.refund_call(&refund_fields("R1", "1000", "300"));
    f.core.clock.advance(Duration::seconds(2)).unwrap();
    f.paid_order("F2", "500");
    f.core.clock.advance(Duration::seconds(10)).unwrap();
    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    let (rows, report) = parsed(&fund_flow(&f, "20261120"));
    assert_booking_order(&rows);
    let vouchers: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(vouchers, ["F1", "F1", "F2", "F2", "R1"]);
    assert_eq!(report.balance_breaks, 0, "{:?}", report.first_balance_break);
    assert!(report.is_consistent());
}

#[test]
fn a_synthetic_day_and_the_emulator_own_trades_are_booked_in_one_time_order() {
    use super::synth::SyntheticDay;
    use crate::bill::format::FeeRate;
    // Several trades a second: a refund, a second after its payment, comes after payments
    // made in between.
    let dense = SyntheticDay {
        mch_id: DEFAULT_MCH_ID.into(),
        appid: APPID.into(),
        bill_date: "20261119".into(),
        trades: 1_000_000,
        seed: 5,
    };
    let booked: Vec<String> = dense
        .clone()
        .into_booked_rows(FeeRate(60))
        .take(20_000)
        .map(|row| super::bills::booked_at(&row).to_owned())
        .collect();
    assert!(booked.windows(2).all(|pair| pair[0] <= pair[1]));
    let listed = dense.clone().into_rows(FeeRate(60)).take(20_000);
    assert!(
        listed
            .map(|row| super::bills::booked_at(&row).to_owned())
            .collect::<Vec<_>>()
            .windows(2)
            .any(|pair| pair[0] > pair[1]),
        "the bill's own order is not the booking order, or this test tests nothing"
    );

    let f = fixture();
    f.core
        .add_synthetic_day(SyntheticDay {
            trades: 2_000,
            bill_date: "20261120".into(),
            ..dense
        })
        .unwrap();
    at_noon(&f, "20261120");
    f.paid_order("OWN1", "500");
    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    let (rows, report) = parsed(&fund_flow(&f, "20261120"));
    assert_booking_order(&rows);
    let own = rows.iter().position(|r| r.1 == "OWN1").unwrap();
    assert!(own > 0 && own < rows.len() - 2, "noon is mid-day");
    assert_eq!(report.balance_breaks, 0, "{:?}", report.first_balance_break);
}

#[test]
fn fund_flow_serial_numbers_are_unique_across_days() {
    let f = fixture();
    let mut serials = std::collections::HashSet::new();
    for day in ["20261119", "20261120"] {
        at_noon(&f, day);
        f.paid_order(&format!("S{day}"), "1000");
    }
    f.core
        .clock
        .set(parse_api_time("20261121100000").unwrap())
        .unwrap();
    for day in ["20261119", "20261120"] {
        let flow = fund_flow(&f, day);
        for row in bill_rows(&flow).into_iter().filter(|r| r.len() == 11) {
            assert_eq!(row[2].len(), 28, "{row:?}");
            assert!(row[2].contains(day), "{row:?}");
            assert!(serials.insert(row[2].clone()), "{} twice", row[2]);
        }
    }
    assert_eq!(serials.len(), 4, "a payment and its fee, each day");
}

/// The sandbox key, fetched as a client would.
fn sandbox_key(f: &Fixture) -> String {
    let mut request = Message::new();
    request
        .set("mch_id", DEFAULT_MCH_ID)
        .set("nonce_str", "abc");
    sign_in_place(&mut request, &ApiKey::new(DEFAULT_API_KEY), SignType::Md5);
    f.raw(
        "POST",
        "/sandboxnew/pay/getsignkey",
        request.to_xml().as_bytes(),
        None,
    )
    .xml()
    .get("sandbox_signkey")
    .unwrap()
    .to_owned()
}

/// A NATIVE order placed (and so paid) in the sandbox, or in production.
fn native_order(f: &Fixture, sandbox: Option<&str>, fields: &[(&str, &str)]) -> Message {
    let mut all = vec![
        ("body", "b"),
        ("spbill_create_ip", "1.1.1.1"),
        ("notify_url", "http://127.0.0.1:9/n"),
        ("trade_type", "NATIVE"),
        ("product_id", "p1"),
    ];
    all.extend_from_slice(fields);
    match sandbox {
        Some(key) => f
            .raw(
                "POST",
                "/sandboxnew/pay/unifiedorder",
                &f.signed(&all, SignType::Md5, key),
                None,
            )
            .xml(),
        None => f.call("/pay/unifiedorder", &all),
    }
}

fn sandbox_query(f: &Fixture, key: &str, out_trade_no: &str) -> Message {
    let query = f.signed(&[("out_trade_no", out_trade_no)], SignType::Md5, key);
    f.raw("POST", "/sandboxnew/pay/orderquery", &query, None)
        .xml()
}

#[test]
fn the_sandbox_pays_case_1003_with_a_coupon_of_one_fen() {
    let f = fixture();
    let key = sandbox_key(&f);
    native_order(
        &f,
        Some(&key),
        &[("out_trade_no", "S551"), ("total_fee", "551")],
    );
    let paid = sandbox_query(&f, &key, "S551");
    assert_eq!(paid.get("trade_state"), Some("SUCCESS"), "{paid:?}");
    for (field, value) in [
        ("total_fee", "551"),
        ("cash_fee", "550"),
        ("settlement_total_fee", "550"),
        ("coupon_fee", "1"),
        ("coupon_count", "1"),
        ("coupon_fee_0", "1"),
    ] {
        assert_eq!(paid.get(field), Some(value), "{field}: {paid:?}");
    }
    assert!(paid.get("coupon_id_0").is_some_and(|id| !id.is_empty()));
    // Other amounts are paid in cash.
    native_order(
        &f,
        Some(&key),
        &[("out_trade_no", "S552"), ("total_fee", "552")],
    );
    let cash = sandbox_query(&f, &key, "S552");
    assert_eq!(cash.get("cash_fee"), Some("552"));
    assert_eq!(cash.get("coupon_fee"), None);
}

#[test]
fn ids_are_unique_as_the_real_service_makes_them() {
    let f = fixture();
    let key = sandbox_key(&f);
    // A sandbox order and a production order have their own code_url.
    let sandbox = native_order(
        &f,
        Some(&key),
        &[("out_trade_no", "U1"), ("total_fee", "1")],
    );
    let production = native_order(&f, None, &[("out_trade_no", "U1"), ("total_fee", "1")]);
    let code_url = |m: &Message| m.get("code_url").unwrap().to_owned();
    assert_ne!(code_url(&sandbox), code_url(&production));
    assert_ne!(sandbox.get("prepay_id"), production.get("prepay_id"));

    // The sandbox's orderquery keeps the device_info the order was placed with; the
    // sandbox's own `sandbox` stands where there is none, as in its unifiedorder answer.
    native_order(
        &f,
        Some(&key),
        &[
            ("out_trade_no", "U2"),
            ("total_fee", "1"),
            ("device_info", "POS7"),
        ],
    );
    assert_eq!(
        sandbox_query(&f, &key, "U2").get("device_info"),
        Some("POS7")
    );
    assert_eq!(sandbox.get("device_info"), Some("sandbox"));
    assert_eq!(
        sandbox_query(&f, &key, "U1").get("device_info"),
        Some("sandbox")
    );

    // Each coupon its own coupon_id, and a refund names the coupon of its order.
    let with_coupon = PayOptions {
        coupon_fee: Some(300),
        ..PayOptions::default()
    };
    let mut coupons = Vec::new();
    for no in ["F1", "F2"] {
        f.order(no, "1000");
        f.core.pay(DEFAULT_MCH_ID, no, &with_coupon).unwrap();
        let query = f.call("/pay/orderquery", &[("out_trade_no", no)]);
        coupons.push(query.get("coupon_id_0").unwrap().to_owned());
    }
    assert_ne!(coupons[0], coupons[1]);
    let refund = f.refund_call(&refund_fields("R1", "1000", "1000"));
    assert_eq!(refund.get("coupon_refund_id_0"), Some(coupons[0].as_str()));
    let query = f.call("/pay/refundquery", &[("out_refund_no", "R1")]);
    assert_eq!(query.get("coupon_refund_id_0_0"), Some(coupons[0].as_str()));
}

#[test]
fn an_order_is_closed_no_sooner_than_five_minutes_after_it_was_placed() {
    let f = fixture();
    f.order("C1", "1");
    let (code, description) = {
        let answer = f.call("/pay/closeorder", &[("out_trade_no", "C1")]);
        let (code, description) = err_code(&answer);
        (code.to_owned(), description.to_owned())
    };
    assert_eq!(code, "TRADE_STATE_ERROR");
    assert!(description.contains("5分钟"), "{description}");
    assert_eq!(
        f.call("/pay/orderquery", &[("out_trade_no", "C1")])
            .get("trade_state"),
        Some("NOTPAY"),
        "the refusal changes nothing"
    );
    f.core.clock.advance(Duration::seconds(299)).unwrap();
    assert_eq!(
        err_code(&f.call("/pay/closeorder", &[("out_trade_no", "C1")])).0,
        "TRADE_STATE_ERROR"
    );
    f.core.clock.advance(Duration::seconds(2)).unwrap();
    let closed = f.call("/pay/closeorder", &[("out_trade_no", "C1")]);
    assert_eq!(closed.get("result_code"), Some("SUCCESS"), "{closed:?}");

    // Tests that close at once switch the rule off.
    f.order("C2", "1");
    f.core.allow_early_close(true);
    let closed = f.call("/pay/closeorder", &[("out_trade_no", "C2")]);
    assert_eq!(closed.get("result_code"), Some("SUCCESS"), "{closed:?}");
    f.core.allow_early_close(false);
    f.order("C3", "1");
    assert_eq!(
        err_code(&f.call("/pay/closeorder", &[("out_trade_no", "C3")])).0,
        "TRADE_STATE_ERROR"
    );
}
