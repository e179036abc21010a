//! The published vectors of reference B1, B2 and B4, and what a check refuses.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::*;
use crate::wechat::paysign::{PayRequest, PayScene, pay_params_v3};
use crate::wechat::sign::SignType;

const DOC_KEY: &str = include_str!("testdata/doc_private_key.pem");
const WECHATPAY_PUBLIC_KEY: &str = include_str!("testdata/wechatpay_public_key.pem");

const TIMESTAMP: u64 = 1554208460;
const NONCE: &str = "593BEC0C930BF1AFEB40B4A08C8FB242";

fn doc_key() -> MerchantKey {
    MerchantKey::from_pem(DOC_KEY.as_bytes()).unwrap()
}

/// B1 vector 1: the official JSAPI order.
#[test]
fn the_official_request_vector_reproduces() {
    let body = r#"{"appid":"wxd678efh567hg6787","mchid":"1900007291","description":"Image形象店-深圳腾大-QQ公仔","out_trade_no":"1217752501201407033233368018","notify_url":"https://www.weixin.qq.com/wxpay/pay.php","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}"#;
    let message = request_message(
        "POST",
        "/v3/pay/transactions/jsapi",
        TIMESTAMP,
        NONCE,
        body.as_bytes(),
    );
    assert_eq!(
        doc_key().sign(&message),
        "jnks4dlrPw3ZX+ozVvSK39oa0t7OMBsg83BHAwd8BRdUFiVaQNTLTvci+wURgP1OQBbKYhFGvt7iqYpDSTQkp7Uq1sltaQKyncCyrA1g88m5bsKERQfPyT0ahSwKTYJ1CAn9QiJuSJRq1QsQs07eehbU/k9BCS51jTyc1Jpsi2H77HF9f/BnjXAOP3/sPObg6V5Ee4EzwLox684hhuMuIwHo7D8KFk3LIHOKDcNI4It1aCXydFWNpNK+SG86VUDe5kwoDpw4Ulqfu9z8OFDGbDs9TCxEv8iqQzbpxOlEVoOe2kalSYM5kApQb3nZcxdUtoE0liJGW3RGUNE0t4v01A=="
    );
}

/// B1 vector 2 and 4: a GET has an empty body line, and the message its five line ends.
#[test]
fn a_get_signs_five_lines_with_an_empty_body() {
    let message = request_message("GET", "/v3/certificates", TIMESTAMP, NONCE, b"");
    assert_eq!(
        message,
        b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
    );
    assert_eq!(
        doc_key().sign(&message),
        "JNEITrKv8DWEtBJGZtxG9ARa+eIZDIn1Ht3MQM5j9jP77TtHdfCqLjpwevfWftBuaGMfEdiu2sWYtLvnZIoLW3FH10OVCBzKncid5xClTwav8JX+uDeGBBX8w64iHvFyuQj8ukZT+F1AFJii8hmXLD8Os90thnL0bfJYLo/4K237TH4dEd44NTH9ElFb/ykrvv9RBs+mCNpy5IUe2Qxhba3d3RiMqhWK2sSr3tsVzQihJ0TPMnjWqoU2W5Y/v3rBFDmLhqe0ZW6A4vyvjmiR0v/8XEI25Py4PNyZXszsdl4j0zLqelUJxGEMUBhYg1LIoDPjYMlA9HV1yKD6+JYZJA=="
    );
    // B1 vector 4: a body's own line end is kept, and one more added.
    let message = request_message(
        "GET",
        "/v3/certificates",
        1624523846,
        "A1B2C3D4E5F6G7",
        b"Hello World!\n",
    );
    assert!(message.ends_with(b"A1B2C3D4E5F6G7\nHello World!\n\n"));
    assert_eq!(
        authorization(
            "1234567890",
            "0123456789ABC",
            1624523846,
            "A1B2C3D4E5F6G7",
            "S"
        ),
        "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567890\",nonce_str=\"A1B2C3D4E5F6G7\",timestamp=\"1624523846\",serial_no=\"0123456789ABC\",signature=\"S\""
    );
}

/// The key as PKCS#1 (`RSA PRIVATE KEY`, as WeChat's pages print it) signs alike.
#[test]
fn the_pkcs1_form_of_the_key_signs_alike() {
    let pem = Pem::iter_from_buffer(DOC_KEY.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    // PrivateKeyInfo: SEQUENCE { INTEGER 0, AlgorithmIdentifier (15 bytes), OCTET STRING
    // { RSAPrivateKey } }: the RSAPrivateKey starts 26 bytes in.
    assert_eq!(&pem.contents[22..26], &[0x04, 0x82, 0x04, 0xa6]);
    let pkcs1 = BASE64.encode(&pem.contents[26..]);
    let lines: Vec<&str> = (0..pkcs1.len())
        .step_by(64)
        .map(|i| &pkcs1[i..(i + 64).min(pkcs1.len())])
        .collect();
    let pem1 = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let key = MerchantKey::from_pem(pem1.as_bytes()).unwrap();
    assert_eq!(key.sign(b"x"), doc_key().sign(b"x"));
    assert_eq!(key.public_der(), doc_key().public_der());
}

#[test]
fn what_is_not_a_usable_private_key_is_said() {
    assert_eq!(
        MerchantKey::from_pem(b"hello").err(),
        Some(KeyError::NoPem {
            expected: "-----BEGIN PRIVATE KEY-----"
        })
    );
    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert_eq!(
        MerchantKey::from_pem(encrypted.as_bytes()).err(),
        Some(KeyError::Encrypted)
    );
    let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert!(matches!(
        MerchantKey::from_pem(garbage.as_bytes()),
        Err(KeyError::Unusable { .. })
    ));
    // A public key where the private one belongs.
    assert!(MerchantKey::from_pem(WECHATPAY_PUBLIC_KEY.as_bytes()).is_err());
    let cut = &DOC_KEY[..DOC_KEY.len() / 2];
    assert_eq!(
        MerchantKey::from_pem(cut.as_bytes()).err(),
        Some(KeyError::Unterminated)
    );
    assert_eq!(
        MerchantKey::from_pem(&[0x30, 0x82, 1, 2]).err(),
        Some(KeyError::Der)
    );
    let traditional = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    assert_eq!(
        MerchantKey::from_pem(traditional.as_bytes()).err(),
        Some(KeyError::Encrypted)
    );
}

/// B4: the official JSAPI and APP pay signs of the documentation's key.
#[test]
fn the_official_pay_sign_vectors_reproduce() {
    let request = PayRequest {
        appid: "wx2421b1c4370ec43b",
        mch_id: "1900000109",
        prepay_id: "wx201410272009395522657a690389285100",
        timestamp: TIMESTAMP,
        nonce: NONCE,
        sign_type: SignType::Md5,
    };
    let get = |fields: &[(&str, String)], name: &str| -> String {
        fields.iter().find(|(k, _)| *k == name).unwrap().1.clone()
    };
    let jsapi = pay_params_v3(PayScene::Jsapi, &request, &doc_key()).unwrap();
    assert_eq!(get(&jsapi, "signType"), "RSA");
    assert_eq!(
        get(&jsapi, "paySign"),
        "mI35pfNEQV6777ke/1T+LJLQDNTm7yeoUJH+j/adPGhmCCi0PbgkvYQTRcXH0uibcLVtvFLdGLpmoYO9FV6lBBsTAjuhh5YOvQi0e2g3e0yytitiNET9FEuqM0pjnKfRW4K6LIZDdbWJv9KhZUx3DrJa5TL7OJ7VdADVivxVySIlPVKjGwuCXzuXSJes0UcILgWQUMyha5/3nYofuHtS7r+KYyMuxD+oJ9VM1Qdxk4UIG59CP5Y3wtYIFybyF3bdu1caHTRRX+DLyMXyYA/IrTmiW01c4RPjpHBX5Dk1sZyY1zVsWNsvMHr2e1NTWtBxKJ+qk5N61J7caYoepHFaxw=="
    );
    // A mini program signs the same four lines; wx.requestPayment takes no appId.
    let mini = pay_params_v3(PayScene::MiniProgram, &request, &doc_key()).unwrap();
    assert_eq!(get(&mini, "paySign"), get(&jsapi, "paySign"));
    assert!(mini.iter().all(|(k, _)| *k != "appId"));
    let app = pay_params_v3(PayScene::App, &request, &doc_key()).unwrap();
    assert_eq!(get(&app, "package"), "Sign=WXPay");
    assert_eq!(get(&app, "partnerid"), "1900000109");
    assert_eq!(
        get(&app, "sign"),
        "gXx9KhTP6IooKV1SuG3OCGlBIgZbKtubCZvnau6khw1iffvNT28IzLbKmztq2xA/RCNbZa1XOsoiuVmAEeTZQicWfhv4P+O4oBRIrx0X9f3cnWFkMBU9alTWs0nyQ1N9fcILOTe0f4kxOhVh+/Xhn5hOiUK7Sz3XA1mcpa3R2NCWf/e+0ow/RDf15iTymOHgDrEkT/gedg/3E0iXfDX3mFicSZhrHESZDOTXcl9RzELREBUFznd/o2NQM99WcL86m23HY0cTy+QGWU4QDmNrbQ9ihmLW71qPb0Cx/d7EQvw/Kyx0A6s64ZQp3hHdcmiRcLnjVXrKCk7LShaCK+lS3Q=="
    );
}

const B2_TIMESTAMP: i64 = 1722850421;
const B2_SIGNATURE: &str = "mfI1CPqvBrgcXfgXMFjdNIhBf27ACE2YyeWsWV9ZI7T7RU0vHvbQpu9Z32ogzc+k8ZC5n3kz7h70eWKjgqNdKQF0eRp8mVKlmfzMLBVHbssB9jEZEDXThOX1XFqX7s7ymia1hoHQxQagPGzkdWxtlZPZ4ZPvr1RiqkgAu6Is8MZgXXrRoBKqjmSdrP1N7uxzJ/cjfSiis9FiLjuADoqmQ1P7p2N876YPAol7Rn0+GswwAwxldbdLrmVSjfytfSBJFqTMHn4itojgxSWWN1byuckQt8hSTEv/Lg97QoeGniYP17T80pJeQyL3b+295FPHSO2AtvCgyIbKMZ0BALilAA==";
const B2_BODY: &[u8] = br#"{"code_url":"weixin://wxpay/bizpayurl?pr=JyC91EIz1"}"#;
const KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";

fn b2_headers() -> SignedHeaders {
    SignedHeaders::parse(&b2_raw())
}

fn b2_raw() -> String {
    format!(
        "HTTP/1.1 200 OK\r\nRequest-ID: 08F4\r\nwechatpay-nonce: d824f2e086d3c1df967785d13fcd22ef\r\n\
         Wechatpay-Signature: {B2_SIGNATURE}\r\nWechatpay-Timestamp: {B2_TIMESTAMP}\r\n\
         Wechatpay-Serial: {KEY_ID}\r\nWechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048\r\n"
    )
}

fn public_key() -> VerifyKey {
    VerifyKey::public_key(WECHATPAY_PUBLIC_KEY.as_bytes(), KEY_ID).unwrap()
}

/// B2 vector 1: a real answer, checked with the real WeChat Pay public key.
#[test]
fn a_real_answer_checks_with_the_wechatpay_public_key() {
    let checked = check_answer(&b2_headers(), B2_BODY, &[public_key()], B2_TIMESTAMP + 10);
    assert_eq!(
        checked,
        Ok(Checked {
            serial: KEY_ID.to_owned(),
            age: 10
        })
    );
}

#[test]
fn a_changed_answer_a_stale_one_a_probe_and_an_unknown_serial_are_refused() {
    let keys = [public_key()];
    let at = B2_TIMESTAMP;
    let check =
        |headers: &SignedHeaders, body: &[u8], now: i64| check_answer(headers, body, &keys, now);
    // One byte of the body changed.
    let changed = br#"{"code_url":"weixin://wxpay/bizpayurl?pr=JyC91EIz2"}"#;
    assert_eq!(
        check(&b2_headers(), changed, at),
        Err(AnswerError::Mismatch)
    );
    // The nonce changed.
    let headers = SignedHeaders {
        nonce: Some("x".into()),
        ..b2_headers()
    };
    assert_eq!(check(&headers, B2_BODY, at), Err(AnswerError::Mismatch));
    // Five minutes either way.
    assert_eq!(
        check(&b2_headers(), B2_BODY, at + 300),
        Err(AnswerError::Stale { age: 300 })
    );
    assert_eq!(
        check(&b2_headers(), B2_BODY, at - 300),
        Err(AnswerError::Stale { age: -300 })
    );
    assert!(check(&b2_headers(), B2_BODY, at + 299).is_ok());
    let probe = SignedHeaders {
        signature: Some(format!("{PROBE_PREFIX}{B2_SIGNATURE}")),
        ..b2_headers()
    };
    assert_eq!(check(&probe, B2_BODY, at), Err(AnswerError::Probe));
    let other = SignedHeaders {
        serial: Some("5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC".into()),
        ..b2_headers()
    };
    assert!(matches!(
        check(&other, B2_BODY, at),
        Err(AnswerError::UnknownSerial { known, .. }) if known == KEY_ID
    ));
    let no_nonce = SignedHeaders {
        nonce: None,
        ..b2_headers()
    };
    assert_eq!(
        check(&no_nonce, B2_BODY, at),
        Err(AnswerError::MissingHeader("Wechatpay-Nonce"))
    );
    let sm2 = SignedHeaders {
        signature_type: Some("WECHATPAY2-SM2-WITH-SM3".into()),
        ..b2_headers()
    };
    assert!(matches!(
        check(&sm2, B2_BODY, at),
        Err(AnswerError::SignatureType(_))
    ));
    let garbage = SignedHeaders {
        signature: Some("not base64!".into()),
        ..b2_headers()
    };
    assert_eq!(check(&garbage, B2_BODY, at), Err(AnswerError::NotBase64));
    // A header given twice is refused, whichever of the two is the good one.
    let twice = format!("Wechatpay-Signature: AAAA\n{}", b2_raw());
    let headers = SignedHeaders::parse(&twice);
    assert!(matches!(
        check(&headers, B2_BODY, at),
        Err(AnswerError::Duplicated(_))
    ));
}

/// What the merchant's key signs, its public half checks: the two halves of the emulator's
/// future answers, and a check that the verifier is not a constant.
#[test]
fn a_signature_checks_only_with_its_own_key() {
    let key = doc_key();
    let public = VerifyKey {
        serial: "DOC".into(),
        public_der: key.public_der().to_vec(),
    };
    let message = answer_message("1554208460", NONCE, b"{}");
    let signature = key.sign(&message);
    assert!(public.verifies(&message, &signature));
    assert!(!public.verifies(b"other", &signature));
    assert!(!public_key().verifies(&message, &signature));
}

/// A platform certificate names its key by its serial, in uppercase hex.
#[test]
fn a_platform_certificate_is_named_by_its_serial() {
    let pair = rcgen::KeyPair::from_pem(DOC_KEY).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    let serial = [0x5D, 0xEA, 0x10, 0xEF, 0x55, 0x87, 0x7E, 0x3C];
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let pem = params.self_signed(&pair).unwrap().pem();
    let keys = VerifyKey::certificates(pem.as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].serial, "5DEA10EF55877E3C");
    let message = answer_message("1", "n", b"");
    assert!(keys[0].verifies(&message, &doc_key().sign(&message)));
    assert!(VerifyKey::certificates(WECHATPAY_PUBLIC_KEY.as_bytes()).is_err());
}

#[test]
fn a_request_that_cannot_be_checked_as_signed_is_refused() {
    let check =
        |method: &str, url: &str, nonce: &str| check_request(method, url, nonce, "1900000109");
    assert_eq!(check("GET", "/v3/certificates", NONCE), Ok(()));
    assert!(matches!(
        check("GET", "/v3/a\nb", NONCE),
        Err(RequestError::Url(_))
    ));
    assert!(matches!(check("GET", "", NONCE), Err(RequestError::Url(_))));
    assert!(matches!(
        check("GET", "v3/a", NONCE),
        Err(RequestError::Url(_))
    ));
    assert!(matches!(
        check_request("GET", "/v3/a", NONCE, "1\",signature=\"AAAA"),
        Err(RequestError::MchId(_))
    ));
    assert!(matches!(
        check_request("GET", "/v3/a", NONCE, ""),
        Err(RequestError::MchId(_))
    ));
    assert!(matches!(
        check("post", "/v3/x", NONCE),
        Err(RequestError::Method(_))
    ));
    assert!(matches!(
        check("", "/v3/x", NONCE),
        Err(RequestError::Method(_))
    ));
    assert!(matches!(
        check(
            "GET",
            "https://api.mch.weixin.qq.com/v3/certificates",
            NONCE
        ),
        Err(RequestError::Absolute(_))
    ));
    assert!(matches!(
        check("GET", "/v3/x", "a-b"),
        Err(RequestError::Nonce(_))
    ));
    assert!(matches!(
        check("GET", "/v3/x", &"a".repeat(33)),
        Err(RequestError::Nonce(_))
    ));
}

#[test]
fn timestamps_at_the_ends_of_the_range_are_stale_not_a_panic() {
    for (header, now) in [(i64::MAX, i64::MIN), (i64::MIN, i64::MAX), (i64::MAX, 0)] {
        let headers = SignedHeaders {
            timestamp: Some(header.to_string()),
            ..b2_headers()
        };
        assert!(matches!(
            check_answer(&headers, B2_BODY, &[public_key()], now),
            Err(AnswerError::Stale { .. })
        ));
    }
}

#[test]
fn an_authorization_header_reads_back_in_any_order() {
    let header = authorization("1900007291", "1DD", TIMESTAMP, NONCE, "c2ln");
    let auth = Authorization::parse(&header).unwrap();
    assert_eq!(
        (
            auth.mch_id.as_str(),
            auth.serial.as_str(),
            auth.timestamp.as_str()
        ),
        ("1900007291", "1DD", "1554208460")
    );
    let java_order = format!(
        "{SCHEME} mchid=\"1\",nonce_str=\"n\",signature=\"s\",timestamp=\"2\",serial_no=\"3\""
    );
    assert_eq!(Authorization::parse(&java_order).unwrap().signature, "s");
    assert_eq!(Authorization::parse("Bearer x"), None);
    assert_eq!(
        Authorization::parse(&header.replace(",signature", ",x")),
        None
    );
    let twice = header.replace("mchid=\"1900007291\"", "mchid=\"1\",mchid=\"2\"");
    assert_eq!(Authorization::parse(&twice), None);
}

#[test]
fn a_serial_drops_only_the_zero_byte_der_puts_before_it() {
    assert_eq!(serial_hex(&[0x00, 0x9A, 0x01]), "9A01");
    assert_eq!(serial_hex(&[0x5D, 0x00]), "5D00");
    assert_eq!(serial_hex(&[0x00]), "00");
    assert_eq!(serial_hex(&[]), "");
}
