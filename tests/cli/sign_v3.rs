//! `sign v3`, `sign v3 verify` and `paysign --api v3` through the binary, on the published
//! vectors of the v3 reference (B1, B2, B4).

use crate::common::{Env, set_mode};

const DOC_PRIVATE_KEY: &str = include_str!("../../src/wechat/v3/testdata/doc_private_key.pem");
const WECHATPAY_PUBLIC_KEY: &str =
    include_str!("../../src/wechat/v3/testdata/wechatpay_public_key.pem");
const NONCE: &str = "593BEC0C930BF1AFEB40B4A08C8FB242";
const B1_BODY: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1900007291","description":"Image形象店-深圳腾大-QQ公仔","out_trade_no":"1217752501201407033233368018","notify_url":"https://www.weixin.qq.com/wxpay/pay.php","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}"#;
const B1_SIGNATURE: &str = "jnks4dlrPw3ZX+ozVvSK39oa0t7OMBsg83BHAwd8BRdUFiVaQNTLTvci+wURgP1OQBbKYhFGvt7iqYpDSTQkp7Uq1sltaQKyncCyrA1g88m5bsKERQfPyT0ahSwKTYJ1CAn9QiJuSJRq1QsQs07eehbU/k9BCS51jTyc1Jpsi2H77HF9f/BnjXAOP3/sPObg6V5Ee4EzwLox684hhuMuIwHo7D8KFk3LIHOKDcNI4It1aCXydFWNpNK+SG86VUDe5kwoDpw4Ulqfu9z8OFDGbDs9TCxEv8iqQzbpxOlEVoOe2kalSYM5kApQb3nZcxdUtoE0liJGW3RGUNE0t4v01A==";

/// The documentation's private key in the test's folder, mode 0600.
fn private_key(env: &Env) -> String {
    let path = env.path("apiclient_key.pem");
    std::fs::write(&path, DOC_PRIVATE_KEY).unwrap();
    set_mode(&path, 0o600);
    path.display().to_string()
}

#[test]
fn the_official_request_signature_and_its_header_from_flags_and_from_a_profile() {
    let env = Env::new();
    let key = private_key(&env);
    std::fs::write(env.path("body.json"), B1_BODY).unwrap();
    let body = env.path("body.json").display().to_string();
    let request = [
        "sign",
        "v3",
        "--method",
        "POST",
        "--url",
        "/v3/pay/transactions/jsapi",
        "--body",
        &body,
        "--timestamp",
        "1554208460",
        "--nonce",
        NONCE,
    ];
    let flags = [
        "--private-key",
        &key,
        "--serial",
        "5157f09efdc096de15ebe81a47057a72",
        "--mch-id",
        "1900007291",
    ];
    let out = env
        .run(&[&request[..], &flags[..]].concat())
        .expect(0)
        .json();
    assert_eq!(out["signature"], B1_SIGNATURE);
    assert_eq!(
        out["authorization"],
        format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1900007291\",nonce_str=\"{NONCE}\",timestamp=\"1554208460\",serial_no=\"5157F09EFDC096DE15EBE81A47057A72\",signature=\"{B1_SIGNATURE}\""
        ),
        "the header is pasted as it is: its nonce is not hidden as a key-shaped word"
    );
    // The same from a profile, the body from stdin, and the five lines explained.
    env.write_config(
        "[profiles.shop]\nmch_id = \"1900007291\"\nappid = \"wxd678efh567hg6787\"\n\
         api_key_env = \"TEST_API_KEY\"\nprivate_key_pem = \"../../apiclient_key.pem\"\n\
         cert_serial = \"5157F09EFDC096DE15EBE81A47057A72\"\n",
    );
    let mut from_stdin = request.to_vec();
    from_stdin[7] = "-";
    from_stdin.push("--explain");
    let out = env
        .run_with_stdin(&from_stdin, Some(B1_BODY.as_bytes()))
        .expect(0)
        .json();
    assert_eq!(out["signature"], B1_SIGNATURE);
    // The line ends shown as `\n`, as the printer shows every control character.
    let lines = out["string_to_sign"].as_str().unwrap();
    assert!(
        lines.starts_with(r"POST\n/v3/pay/transactions/jsapi\n1554208460\n"),
        "{lines}"
    );
    assert!(lines.ends_with(r"}\n"), "{lines}");
    assert!(
        out["notes"].to_string().contains("apiclient_cert.pem"),
        "{out}"
    );
    // Nothing of the key is ever printed.
    let pem_line = DOC_PRIVATE_KEY.lines().nth(1).unwrap();
    assert!(!out.to_string().contains(pem_line));
}

/// With this nonce the signature holds a run of 32 letters and digits between two `+`, the
/// shape of an API key: the header is still printed whole, as it must be pasted.
#[test]
fn a_signature_with_a_key_shaped_run_is_printed_whole_in_the_header() {
    let env = Env::new();
    let key = private_key(&env);
    let args = [
        "sign",
        "v3",
        "--method",
        "GET",
        "--url",
        "/v3/certificates",
        "--timestamp",
        "1554208460",
        "--nonce",
        "N23",
        "--private-key",
        &key,
        "--serial",
        "1A",
        "--mch-id",
        "1900000109",
    ];
    let out = env.run(&args).expect(0).json();
    let signature = out["signature"].as_str().unwrap();
    assert!(!out.to_string().contains("hidden"), "{out}");
    assert!(
        out["authorization"]
            .as_str()
            .unwrap()
            .ends_with(&format!("signature=\"{signature}\"")),
        "{out}"
    );
}

#[test]
fn what_cannot_be_signed_is_refused_with_the_remedy() {
    let env = Env::new();
    let key = private_key(&env);
    let base = [
        "sign",
        "v3",
        "--private-key",
        &key,
        "--serial",
        "1A",
        "--mch-id",
        "1900007291",
    ];
    let run = |extra: &[&str]| env.run(&[&base[..], extra].concat());
    run(&["--method", "post", "--url", "/v3/x"])
        .expect(2)
        .hint_mentions("--method POST");
    run(&[
        "--method",
        "GET",
        "--url",
        "https://api.mch.weixin.qq.com/v3/certificates",
    ])
    .expect(2)
    .hint_mentions("path and query only");
    set_mode(&env.path("apiclient_key.pem"), 0o644);
    run(&["--method", "GET", "--url", "/v3/certificates"])
        .expect(2)
        .error_mentions("readable by other users")
        .hint_mentions("chmod 600");
    set_mode(&env.path("apiclient_key.pem"), 0o600);
    std::fs::write(env.path("apiclient_key.pem"), WECHATPAY_PUBLIC_KEY).unwrap();
    run(&["--method", "GET", "--url", "/v3/certificates"])
        .expect(2)
        .error_mentions("apiclient_key.pem")
        .hint_mentions("BEGIN PRIVATE KEY");
    std::fs::write(env.path("apiclient_key.pem"), DOC_PRIVATE_KEY).unwrap();
    // A quote in the merchant number would add a pair to the header; a line end in the URL a
    // line to the signed text.
    let get = ["--method", "GET", "--url", "/v3/certificates"];
    let injected = [
        "sign",
        "v3",
        "--private-key",
        &key,
        "--serial",
        "1A",
        "--mch-id",
        "1\",signature=\"AAAA",
    ];
    env.run(&[&injected[..], &get[..]].concat())
        .expect(2)
        .error_mentions("not a merchant number");
    run(&["--method", "GET", "--url", "/v3/a\nb"])
        .expect(2)
        .error_mentions("not a path as sent");
    // A folder, or a device that never ends, where the key file belongs: refused before read.
    for path in [env.path("").display().to_string(), "/dev/zero".to_owned()] {
        let args = [
            "sign",
            "v3",
            "--private-key",
            &path,
            "--serial",
            "1A",
            "--mch-id",
            "1",
        ];
        env.run(&[&args[..], &get[..]].concat())
            .expect(2)
            .error_mentions("not a regular file");
    }
    // No profile and no key.
    env.run(&["sign", "v3", "--method", "GET", "--url", "/v3/certificates"])
        .expect(2)
        .hint_mentions("--private-key");
}

const B2_TIMESTAMP: i64 = 1722850421;
const B2_BODY: &str = r#"{"code_url":"weixin://wxpay/bizpayurl?pr=JyC91EIz1"}"#;
const B2_SIGNATURE: &str = "mfI1CPqvBrgcXfgXMFjdNIhBf27ACE2YyeWsWV9ZI7T7RU0vHvbQpu9Z32ogzc+k8ZC5n3kz7h70eWKjgqNdKQF0eRp8mVKlmfzMLBVHbssB9jEZEDXThOX1XFqX7s7ymia1hoHQxQagPGzkdWxtlZPZ4ZPvr1RiqkgAu6Is8MZgXXrRoBKqjmSdrP1N7uxzJ/cjfSiis9FiLjuADoqmQ1P7p2N876YPAol7Rn0+GswwAwxldbdLrmVSjfytfSBJFqTMHn4itojgxSWWN1byuckQt8hSTEv/Lg97QoeGniYP17T80pJeQyL3b+295FPHSO2AtvCgyIbKMZ0BALilAA==";
const KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";

fn headers(signature: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nWechatpay-Nonce: d824f2e086d3c1df967785d13fcd22ef\r\n\
         Wechatpay-Signature: {signature}\r\nWechatpay-Timestamp: {B2_TIMESTAMP}\r\n\
         Wechatpay-Serial: {KEY_ID}\r\nWechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048\r\n"
    )
}

#[test]
fn a_real_answer_verifies_and_a_changed_stale_or_probing_one_does_not() {
    let env = Env::new();
    std::fs::write(env.path("pub_key.pem"), WECHATPAY_PUBLIC_KEY).unwrap();
    std::fs::write(env.path("headers.txt"), headers(B2_SIGNATURE)).unwrap();
    std::fs::write(env.path("body.json"), B2_BODY).unwrap();
    let at = (B2_TIMESTAMP + 60).to_string();
    let pub_key = env.path("pub_key.pem").display().to_string();
    let verify = [
        "sign",
        "v3",
        "verify",
        "--headers",
        "headers.txt",
        "--body",
        "body.json",
        "--public-key",
        &pub_key,
        "--public-key-id",
        KEY_ID,
    ];
    let run = |extra: &[&str]| env.run(&[&verify[..], extra].concat());
    let out = run(&["--at", &at]).expect(0).json();
    assert_eq!(out["valid"], true);
    assert_eq!(out["serial"], KEY_ID);
    assert_eq!(out["age_seconds"], 60);
    // One byte of the body changed.
    std::fs::write(env.path("body.json"), B2_BODY.replace("Iz1", "Iz2")).unwrap();
    let out = run(&["--at", &at]).expect(4).hint_mentions("byte for byte");
    assert_eq!(out.json()["valid"], false);
    std::fs::write(env.path("body.json"), B2_BODY).unwrap();
    // Now is years after the answer.
    run(&[])
        .expect(4)
        .error_mentions("5 minutes")
        .hint_mentions("--at");
    std::fs::write(
        env.path("headers.txt"),
        headers(&format!("WECHATPAY/SIGNTEST/{B2_SIGNATURE}")),
    )
    .unwrap();
    run(&["--at", &at])
        .expect(4)
        .error_mentions("probe")
        .hint_mentions("4xx or 5xx");
    // A signature header given twice, the good one last: refused, not the last one taken.
    let twice = format!("Wechatpay-Signature: AAAA\n{}", headers(B2_SIGNATURE));
    std::fs::write(env.path("headers.txt"), twice).unwrap();
    run(&["--at", &at]).expect(4).error_mentions("given twice");
    // The profile's key, when no flag names one; a serial it has no key for.
    std::fs::write(
        env.path("headers.txt"),
        headers(B2_SIGNATURE).replace(KEY_ID, "PUB_KEY_ID_99"),
    )
    .unwrap();
    env.write_config(&format!(
        "[profiles.shop]\nmch_id = \"1900007291\"\nappid = \"wxd678efh567hg6787\"\n\
         api_key_env = \"TEST_API_KEY\"\nwechatpay_public_key_pem = \"{pub_key}\"\n\
         wechatpay_public_key_id = \"{KEY_ID}\"\n"
    ));
    env.run(&[
        "sign",
        "v3",
        "verify",
        "--headers",
        "headers.txt",
        "--body",
        "body.json",
        "--at",
        &at,
    ])
    .expect(4)
    .error_mentions("PUB_KEY_ID_99");
}

#[test]
fn the_official_v3_pay_signs_through_paysign() {
    let env = Env::new();
    let key = private_key(&env);
    let args = |scene: &'static str| {
        vec![
            "paysign",
            scene,
            "--api",
            "v3",
            "--prepay-id",
            "wx201410272009395522657a690389285100",
            "--appid",
            "wx2421b1c4370ec43b",
            "--mch-id",
            "1900000109",
            "--timestamp",
            "1554208460",
            "--nonce",
            NONCE,
            "--private-key",
            &key,
        ]
    };
    let jsapi = env.run(&args("jsapi")).expect(0).json();
    assert_eq!(jsapi["signType"], "RSA");
    assert!(
        jsapi["paySign"]
            .as_str()
            .unwrap()
            .starts_with("mI35pfNEQV6777ke/1T+LJLQDNTm7yeo")
    );
    let app = env.run(&args("app")).expect(0).json();
    assert!(
        app["sign"]
            .as_str()
            .unwrap()
            .starts_with("gXx9KhTP6IooKV1SuG3OCGlBIgZbKtub")
    );
    env.run(&[&args("jsapi")[..], &["--sign-type", "MD5"]].concat())
        .expect(2)
        .hint_mentions("--api v2");
    env.run(&[&args("jsapi")[..], &["--key-env", "TEST_API_KEY"]].concat())
        .expect(2)
        .error_mentions("--key-env is of API v2");
    let v2 = [
        "paysign",
        "jsapi",
        "--api",
        "v2",
        "--prepay-id",
        "wx1",
        "--appid",
        "wx2421b1c4370ec43b",
    ];
    env.run(&[&v2[..], &["--private-key", &key]].concat())
        .expect(2)
        .error_mentions("--private-key is of API v3");
}

/// A `sign v3` that works in `env`, for the tests that run every command.
pub(crate) fn working_sign(env: &Env) -> Vec<String> {
    let key = private_key(env);
    let args = ["sign", "v3", "--method", "GET", "--url", "/v3/certificates"];
    let flags = [
        "--private-key",
        &key,
        "--serial",
        "1A",
        "--mch-id",
        "1900000109",
    ];
    [&args[..], &flags[..]]
        .concat()
        .iter()
        .map(|w| (*w).to_owned())
        .collect()
}

/// A `sign v3 verify` of B2's real answer that holds, for the tests that run every command.
pub(crate) fn working_verify(env: &Env) -> Vec<String> {
    let file = |name: &str, text: &str| {
        std::fs::write(env.path(name), text).unwrap();
        env.path(name).display().to_string()
    };
    let (headers, body) = (
        file("v3-headers.txt", &headers(B2_SIGNATURE)),
        file("v3-body.json", B2_BODY),
    );
    let key = file("v3-pub_key.pem", WECHATPAY_PUBLIC_KEY);
    let at = (B2_TIMESTAMP + 1).to_string();
    let args = [
        "sign",
        "v3",
        "verify",
        "--headers",
        &headers,
        "--body",
        &body,
    ];
    let flags = ["--public-key", &key, "--public-key-id", KEY_ID, "--at", &at];
    [&args[..], &flags[..]]
        .concat()
        .iter()
        .map(|w| (*w).to_owned())
        .collect()
}

#[test]
fn paysign_follows_the_profile_s_api_unless_told() {
    let env = Env::new();
    private_key(&env);
    let profile = |extra: &str| {
        env.write_config(&format!(
            "[profiles.shop]\nmch_id = \"1900000109\"\nappid = \"wx2421b1c4370ec43b\"\n\
             api_key_env = \"TEST_API_KEY\"\nprivate_key_pem = \"../../apiclient_key.pem\"\n{extra}"
        ));
    };
    let args = [
        "paysign",
        "jsapi",
        "--prepay-id",
        "wx201410272009395522657a690389285100",
    ];
    let sign_type =
        |extra: &[&str]| env.run(&[&args[..], extra].concat()).expect(0).json()["signType"].clone();
    // A profile that names v3 keys signs v3, unless api_version or --api says v2.
    profile("");
    assert_eq!(sign_type(&[]), "RSA");
    assert_eq!(sign_type(&["--api", "v2"]), "MD5");
    profile("api_version = 2\n");
    assert_eq!(sign_type(&[]), "MD5");
    assert_eq!(sign_type(&["--api", "v3"]), "RSA");
    profile("api_version = 4\n");
    env.run(&args).expect(2).error_mentions("api_version 4");
}

/// One plain HTTP/1.1 request to `addr`; the status, the headers as `curl -i` shows them, and
/// the body.
fn http(
    addr: std::net::SocketAddr,
    method: &str,
    url: &str,
    authorization: &str,
    body: &str,
) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {url} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\n\
         Content-Type: application/json\r\nAccept: application/json\r\nUser-Agent: test\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

#[test]
fn the_emulator_answers_a_v3_order_signed_by_sign_v3_and_its_answer_verifies() {
    let shop = crate::order::Shop::new();
    let order = serde_json::json!({
        "appid": "wx2421b1c4370ec43b",
        "mchid": "1900000109",
        "description": "Shop-Coffee",
        "out_trade_no": "V3-E2E-1",
        "notify_url": "https://shop.example.com/wxpay/notify",
        "amount": { "total": 1250, "currency": "CNY" },
        "payer": { "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" },
    })
    .to_string();
    std::fs::write(shop.env.path("order.json"), &order).unwrap();
    let body_file = shop.env.path("order.json").display().to_string();
    let url = "/v3/pay/transactions/jsapi";
    // The emulator's profile names the v3 keys: sign v3 needs no flag.
    let signed = shop
        .run(&[
            "sign", "v3", "--method", "POST", "--url", url, "--body", &body_file,
        ])
        .expect(0)
        .json();
    let header = signed["authorization"].as_str().unwrap();
    let addr = shop.emulator.http_addr();
    let (status, headers, body) = http(addr, "POST", url, header, &order);
    assert_eq!(status, 200, "{headers}\n{body}");
    let prepay_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["prepay_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Its answer checks with the emulator's WeChat Pay public key, as the profile names it.
    std::fs::write(shop.env.path("headers.txt"), &headers).unwrap();
    std::fs::write(shop.env.path("answer.json"), &body).unwrap();
    let headers_file = shop.env.path("headers.txt").display().to_string();
    let answer_file = shop.env.path("answer.json").display().to_string();
    let verify = [
        "sign",
        "v3",
        "verify",
        "--headers",
        &headers_file,
        "--body",
        &answer_file,
    ];
    let out = shop.run(&verify).expect(0).json();
    assert_eq!(out["valid"], true);
    // The same request with the body changed after signing: refused as WeChat refuses it.
    let changed = order.replace("1250", "1");
    let (status, _, body) = http(addr, "POST", url, header, &changed);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("SIGN_ERROR"), "{body}");
    // The front end's v3 pay parameters for that order; the order is the same on v2.
    let pay = ["paysign", "jsapi", "--api", "v3", "--prepay-id", &prepay_id];
    assert_eq!(shop.run(&pay).expect(0).json()["signType"], "RSA");
    let query = ["order", "query", "--out-trade-no", "V3-E2E-1"];
    assert_eq!(shop.run(&query).expect(0).json()["trade_state"], "NOTPAY");
}
