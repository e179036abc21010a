//! `notify verify --api v3` and `notify decrypt --api v3` through the binary, on callbacks
//! built here as WeChat Pay builds them: the resource sealed with ring's AES-256-GCM and an
//! APIv3 key, `TIMESTAMP\nNONCE\nBODY\n` signed with the documentation's private key, whose
//! public half stands in for the WeChat Pay public key. None of it passes through our own
//! encoder or signer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::common::{APIV3_KEY, DOC_KEY, Env, OTHER_APIV3_KEY, assert_no_key, set_mode};

const DOC_PRIVATE_KEY: &str = include_str!("../../src/wechat/v3/testdata/doc_private_key.pem");
const KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
const MCH_ID: &str = "1900000109";
const APPID: &str = "wx2421b1c4370ec43b";

const TRANSACTION: &str = r#"{"mchid":"1900000109","appid":"wx2421b1c4370ec43b","out_trade_no":"1217752501201407033233368018","transaction_id":"4200000891202103228088184743","trade_type":"JSAPI","trade_state":"SUCCESS","trade_state_desc":"支付成功","bank_type":"OTHERS","attach":"","success_time":"2021-03-22T10:29:05+08:00","payer":{"openid":"o4GgauJP_mgWEWictzA15WT15XXX"},"amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}"#;

const REFUND: &str = r#"{"mchid":"1900000109","transaction_id":"4200000891202103228088184743","out_trade_no":"1217752501201407033233368018","refund_id":"50000000382019052709732678859","out_refund_no":"1217752501201407033233368019","refund_status":"ABNORMAL","user_received_account":"招商银行信用卡0403","amount":{"total":100,"refund":40,"payer_total":100,"payer_refund":40}}"#;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Base64(ciphertext ‖ tag) of `plaintext`, as WeChat Pay encrypts a resource.
fn seal(key: &str, nonce: &str, aad: &str, plaintext: &str) -> String {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.as_bytes()).unwrap());
    let nonce = Nonce::try_assume_unique_for_key(nonce.as_bytes()).unwrap();
    let mut sealed = plaintext.as_bytes().to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut sealed)
        .unwrap();
    BASE64.encode(sealed)
}

/// The documentation key's RSA signature, Base64.
fn rsa_sign(message: &[u8]) -> String {
    let der: String = DOC_PRIVATE_KEY
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let pair = RsaKeyPair::from_pkcs8(&BASE64.decode(der).unwrap()).unwrap();
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message,
        &mut signature,
    )
    .unwrap();
    BASE64.encode(signature)
}

/// A callback of `event_type` around `plaintext`, sealed with `key` and signed at
/// `timestamp`, written to `headers.txt` and `body.json`; the body is returned.
fn callback(env: &Env, event_type: &str, plaintext: &str, key: &str, timestamp: i64) -> String {
    let (original_type, summary) = if event_type.starts_with("REFUND.") {
        ("refund", "退款异常")
    } else {
        ("transaction", "支付成功")
    };
    let nonce = "fdasflkja484";
    let body = serde_json::json!({
        "id": "EV-2018022511223320873",
        "create_time": "2015-05-20T13:29:35+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": seal(key, nonce, original_type, plaintext),
            "associated_data": original_type,
            "nonce": nonce,
        }
    })
    .to_string();
    let header_nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
    let signed = format!("{timestamp}\n{header_nonce}\n{body}\n");
    write_headers(env, timestamp, &rsa_sign(signed.as_bytes()));
    std::fs::write(env.path("body.json"), &body).unwrap();
    body
}

fn write_headers(env: &Env, timestamp: i64, signature: &str) {
    std::fs::write(
        env.path("headers.txt"),
        format!(
            "Request-ID: 08F78BB5AF0610D302\nWechatpay-Nonce: 5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n\
             Wechatpay-Signature: {signature}\nWechatpay-Timestamp: {timestamp}\n\
             Wechatpay-Serial: {KEY_ID}\nWechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048\n"
        ),
    )
    .unwrap();
}

/// The public half of the documentation key, as the merchant console gives WeChat Pay's.
fn public_key(env: &Env) -> String {
    let pem = rcgen::KeyPair::from_pem(DOC_PRIVATE_KEY)
        .unwrap()
        .public_key_pem();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    std::fs::write(env.path("pub_key.pem"), pem).unwrap();
    env.path("pub_key.pem").display().to_string()
}

/// An APIv3 key in a file of mode 0600.
fn key_file(env: &Env, name: &str, key: &str) -> String {
    std::fs::write(env.path(name), format!("{key}\n")).unwrap();
    set_mode(&env.path(name), 0o600);
    env.path(name).display().to_string()
}

fn env_with_keys() -> (Env, String) {
    let mut env = Env::new();
    env.set("TEST_APIV3_KEY", APIV3_KEY);
    let public_key = public_key(&env);
    (env, public_key)
}

#[track_caller]
fn run(env: &Env, args: &[&str], code: i32) -> crate::common::Output {
    let out = env.run(args);
    assert_no_key(args, &out);
    out.expect(code)
}

#[test]
fn a_signed_transaction_callback_verifies_and_decrypts_with_flags_or_a_profile() {
    let (env, public_key) = env_with_keys();
    callback(
        &env,
        "TRANSACTION.SUCCESS",
        TRANSACTION,
        APIV3_KEY,
        now() - 10,
    );
    let keys = ["--public-key", &public_key, "--public-key-id", KEY_ID];
    let verify = [
        &[
            "notify",
            "verify",
            "--api",
            "v3",
            "--headers",
            "headers.txt",
            "body.json",
        ][..],
        &keys,
    ]
    .concat();
    let out = run(&env, &verify, 0).json();
    assert_eq!(out["valid"], true);
    assert_eq!(out["id"], "EV-2018022511223320873");
    assert_eq!(out["event_type"], "TRANSACTION.SUCCESS");
    assert_eq!(out["resource_type"], "encrypt-resource");
    assert_eq!(out["summary"], "支付成功");
    assert_eq!(out["create_time"], "2015-05-20T13:29:35+08:00");
    assert_eq!(out["serial"], KEY_ID);
    assert_eq!(out["reply_status"], 200);
    assert_eq!(out["reply"], r#"{"code":"SUCCESS","message":"成功"}"#);
    assert!(out.get("fields").is_none(), "verify does not decrypt");

    let decrypt = [
        &[
            "notify",
            "decrypt",
            "--api",
            "v3",
            "--headers",
            "headers.txt",
            "body.json",
        ][..],
        &keys,
        &[
            "--apiv3-key-env",
            "TEST_APIV3_KEY",
            "--mch-id",
            MCH_ID,
            "--appid",
            APPID,
        ],
    ]
    .concat();
    let out = run(&env, &decrypt, 0);
    assert_eq!(out.stderr, "", "nothing to warn about");
    let out = out.json();
    assert_eq!(out["valid"], true);
    let fields = &out["fields"];
    assert_eq!(fields["out_trade_no"], "1217752501201407033233368018");
    assert_eq!(fields["transaction_id"], "4200000891202103228088184743");
    assert_eq!(fields["trade_state"], "SUCCESS");
    assert_eq!(fields["amount"]["total"], 100);
    assert_eq!(fields["payer"]["openid"], "o4GgauJP_mgWEWictzA15WT15XXX");
    assert_eq!(fields["success_time"], "2021-03-22T10:29:05+08:00");
    assert_eq!(out["reply_status"], 200);

    // The same from a profile: its public key and ID, its APIv3 key file, its mch_id.
    let apiv3_key_file = key_file(&env, "apiv3.key", APIV3_KEY);
    env.write_config(&format!(
        "[profiles.shop]\nmch_id = \"{MCH_ID}\"\nappid = \"{APPID}\"\napi_key_env = \"TEST_API_KEY\"\n\
         wechatpay_public_key_pem = \"{public_key}\"\nwechatpay_public_key_id = \"{KEY_ID}\"\n\
         apiv3_key_file = \"{apiv3_key_file}\"\n"
    ));
    let from_profile = [
        "notify",
        "decrypt",
        "--api",
        "v3",
        "--headers",
        "headers.txt",
        "body.json",
    ];
    let out = run(&env, &from_profile, 0).json();
    assert_eq!(out["fields"]["amount"]["total"], 100);
    // Where the key comes from and its fingerprint, never the key.
    let shown = run(&env, &["config", "show"], 0).json();
    let apiv3_key = shown["apiv3_key"].as_str().unwrap();
    assert!(
        apiv3_key.starts_with(&format!("******** from file {apiv3_key_file} (sha256 ")),
        "{apiv3_key}"
    );
    let checks = run(&env, &["config", "check", "--format", "json"], 0).json();
    let row = (checks.as_array().unwrap().iter())
        .find(|row| row["check"] == "apiv3_key")
        .unwrap();
    assert_eq!(row["status"], "ok");
    assert!(
        row["detail"].as_str().unwrap().contains("(sha256 "),
        "{row}"
    );

    // A refund that did not succeed is authentic, and warned about.
    callback(&env, "REFUND.ABNORMAL", REFUND, APIV3_KEY, now());
    let out = run(&env, &from_profile, 0);
    assert!(
        out.stderr.contains("refund_status=\"ABNORMAL\""),
        "{}",
        out.stderr
    );
    let out = out.json();
    assert_eq!(out["event_type"], "REFUND.ABNORMAL");
    assert_eq!(
        out["fields"]["out_refund_no"],
        "1217752501201407033233368019"
    );
    assert_eq!(out["fields"]["refund_status"], "ABNORMAL");
    assert_eq!(out["fields"]["amount"]["refund"], 40);
}

#[test]
fn a_changed_probing_stale_or_foreign_callback_or_a_wrong_apiv3_key_is_refused() {
    let (env, public_key) = env_with_keys();
    let timestamp = now();
    let body = callback(
        &env,
        "TRANSACTION.SUCCESS",
        TRANSACTION,
        APIV3_KEY,
        timestamp,
    );
    let keys = ["--public-key", &public_key, "--public-key-id", KEY_ID];
    let line = |command: &'static str| {
        let mut line = vec![
            "notify",
            command,
            "--api",
            "v3",
            "--headers",
            "headers.txt",
            "body.json",
        ];
        line.extend(keys);
        line.extend(["--apiv3-key-env", "TEST_APIV3_KEY", "--mch-id", MCH_ID]);
        if command == "verify" {
            line.truncate(line.len() - 4);
        }
        line
    };

    // One character of the envelope changed: still JSON, no longer what was signed.
    std::fs::write(env.path("body.json"), body.replace("支付成功", "支付失败")).unwrap();
    for command in ["verify", "decrypt"] {
        let out = run(&env, &line(command), 4)
            .error_mentions("signature does not match")
            .hint_mentions("byte for byte")
            .json();
        assert_eq!(out["valid"], false);
        assert!(
            (out["problem"].as_str().unwrap()).starts_with("the signature does not match"),
            "{out}"
        );
        assert_eq!(out["reply_status"], 401);
        assert_eq!(out["reply"], r#"{"code":"FAIL","message":"失败"}"#);
        assert!(out.get("fields").is_none(), "never decrypted: {out}");
    }
    std::fs::write(env.path("body.json"), &body).unwrap();

    // A probe: answered 4xx or 5xx.
    write_headers(
        &env,
        timestamp,
        "WECHATPAY/SIGNTEST/9rp3Vd8EMyDjfEx0wE4m0m8vwg==",
    );
    for command in ["verify", "decrypt"] {
        run(&env, &line(command), 4)
            .error_mentions("probe")
            .hint_mentions("4xx or 5xx");
    }

    // Stale: checked six minutes later.
    callback(
        &env,
        "TRANSACTION.SUCCESS",
        TRANSACTION,
        APIV3_KEY,
        timestamp,
    );
    let later = (timestamp + 6 * 60).to_string();
    for command in ["verify", "decrypt"] {
        run(&env, &[&line(command)[..], &["--at", &later]].concat(), 4)
            .error_mentions("5 minutes")
            .hint_mentions("--at");
    }

    // Signed by WeChat Pay, sealed with another APIv3 key than this merchant's.
    callback(
        &env,
        "TRANSACTION.SUCCESS",
        TRANSACTION,
        OTHER_APIV3_KEY,
        timestamp,
    );
    let out = run(&env, &line("decrypt"), 4)
        .error_mentions("does not decrypt")
        .hint_mentions("not the API v2 key");
    let out = out.json();
    assert_eq!(out["valid"], true);
    assert_eq!(out["reply_status"], 400);
    assert!(out.get("fields").is_none(), "{out}");

    // Authentic, but for another merchant.
    callback(
        &env,
        "TRANSACTION.SUCCESS",
        TRANSACTION,
        APIV3_KEY,
        timestamp,
    );
    let mut other = line("decrypt");
    *other.last_mut().unwrap() = "1900000110";
    let out = run(&env, &other, 4)
        .error_mentions("\"1900000109\" is not \"1900000110\"")
        .hint_mentions("--mch-id")
        .json();
    assert_eq!(out["reply_status"], 400);
}

#[test]
fn without_a_key_or_with_flags_of_the_other_api_the_command_says_what_to_pass() {
    let (env, public_key) = env_with_keys();
    callback(&env, "TRANSACTION.SUCCESS", TRANSACTION, APIV3_KEY, now());
    let keys = ["--public-key", &public_key, "--public-key-id", KEY_ID];
    let decrypt = [
        &[
            "notify",
            "decrypt",
            "--api",
            "v3",
            "--headers",
            "headers.txt",
            "body.json",
        ][..],
        &keys,
        &["--mch-id", MCH_ID],
    ]
    .concat();
    // No key to check the signature with: an error, and no record.
    let out = run(
        &env,
        &[
            "notify",
            "verify",
            "--api",
            "v3",
            "--headers",
            "headers.txt",
            "body.json",
        ],
        2,
    )
    .error_mentions("no WeChat Pay key")
    .hint_mentions("--public-key");
    assert_eq!(out.stdout, "");
    // No APIv3 key: no flag, no config file.
    run(&env, &decrypt, 2)
        .error_mentions("no APIv3 key: no --apiv3-key-env or --apiv3-key-file")
        .hint_mentions("--apiv3-key-env VAR");
    // A profile with no APIv3 key source: its keys named.
    env.write_config(&format!(
        "[profiles.shop]\nmch_id = \"{MCH_ID}\"\nappid = \"{APPID}\"\napi_key_env = \"TEST_API_KEY\"\n"
    ));
    run(&env, &decrypt, 2)
        .error_mentions("no APIv3 key source")
        .hint_mentions("apiv3_key_env, apiv3_key_file or apiv3_key_cmd");
    // The API v2 key is no APIv3 key (the same length: only the decryption can tell).
    let mut env = env;
    env.set("V2_KEY", DOC_KEY);
    run(
        &env,
        &[&decrypt[..], &["--apiv3-key-env", "V2_KEY"]].concat(),
        4,
    )
    .hint_mentions("not the API v2 key");
    // No headers.
    run(
        &env,
        &[
            "notify",
            "verify",
            "--api",
            "v3",
            "body.json",
            "--public-key",
            &public_key,
            "--public-key-id",
            KEY_ID,
        ],
        2,
    )
    .error_mentions("--headers");
    // Flags of one API given to the other.
    run(
        &env,
        &["notify", "verify", "--headers", "headers.txt", "body.json"],
        2,
    )
    .hint_mentions("--api v3");
    run(
        &env,
        &[
            &decrypt[..],
            &[
                "--apiv3-key-env",
                "TEST_APIV3_KEY",
                "--key-env",
                "TEST_API_KEY",
            ],
        ]
        .concat(),
        2,
    )
    .error_mentions("--key-env is of API v2");
    // An API v2 notification given as v3.
    std::fs::write(
        env.path("v2.xml"),
        "<xml><return_code>SUCCESS</return_code></xml>",
    )
    .unwrap();
    run(
        &env,
        &[
            "notify",
            "verify",
            "--api",
            "v3",
            "--headers",
            "headers.txt",
            "v2.xml",
        ],
        2,
    )
    .error_mentions("XML")
    .hint_mentions("leave out --api v3");
}

#[test]
fn no_verify_decrypts_with_a_warning_and_the_apiv3_key_is_never_shown() {
    let (env, _) = env_with_keys();
    // A merchant who pasted the APIv3 key into attach: hidden as every loaded secret is.
    let leaky = TRANSACTION.replace(r#""attach":"""#, &format!(r#""attach":"{APIV3_KEY}""#));
    callback(
        &env,
        "TRANSACTION.SUCCESS",
        &leaky,
        APIV3_KEY,
        1_600_000_000,
    );
    let key_file = key_file(&env, "apiv3.key", APIV3_KEY);
    let args = [
        "notify",
        "decrypt",
        "--api",
        "v3",
        "body.json",
        "--no-verify",
        "--apiv3-key-file",
        &key_file,
        "--mch-id",
        MCH_ID,
        "--appid",
        APPID,
    ];
    let out = run(&env, &args, 0);
    assert!(
        out.stderr.contains("not verified (--no-verify)"),
        "{}",
        out.stderr
    );
    let out = out.json();
    assert_eq!(out["valid"], serde_json::Value::Null);
    assert_eq!(out["fields"]["attach"], "<APIv3 key>");
    assert_eq!(
        out["fields"]["transaction_id"],
        "4200000891202103228088184743"
    );
}

/// A `notify verify` or `notify decrypt` (`command`) of a v3 callback that holds, every key
/// by flag, for the tests that run every command.
pub(crate) fn working(env: &Env, command: &str) -> Vec<String> {
    let public_key = public_key(env);
    let timestamp = 1_700_000_000;
    callback(
        env,
        "TRANSACTION.SUCCESS",
        TRANSACTION,
        APIV3_KEY,
        timestamp,
    );
    let key_file = key_file(env, "apiv3.key", APIV3_KEY);
    let at = (timestamp + 1).to_string();
    let mut line = vec![
        "notify",
        command,
        "--api",
        "v3",
        "--headers",
        "headers.txt",
        "body.json",
        "--public-key",
        &public_key,
        "--public-key-id",
        KEY_ID,
        "--at",
        &at,
    ];
    if command == "decrypt" {
        line.extend([
            "--apiv3-key-file",
            &key_file,
            "--mch-id",
            MCH_ID,
            "--appid",
            APPID,
        ]);
    }
    line.iter().map(|w| (*w).to_owned()).collect()
}
