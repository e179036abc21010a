use serde_json::Value;
use wxpay_ops::wechat::sign::set_sign;
use wxpay_ops::wechat::{ApiKey, Message, SignType};

use crate::common::{DOC_KEY, Env, real_fixture};

fn resigned_notification(env: &Env) -> std::path::PathBuf {
    let text = std::fs::read_to_string(real_fixture("paysuccess.notification.sample.xml")).unwrap();
    let path = env.path("notification.xml");
    std::fs::write(
        &path,
        text.replace(
            "B552ED6B279343CB493C5DD0D78AB241",
            "F3F481B732273AFA2839E877583F311D",
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_valid_payment_notification_shows_fields_and_the_success_reply() {
    let env = Env::new();
    let path = resigned_notification(&env);
    let out = env
        .run(&[
            "notify",
            "verify",
            path.to_str().unwrap(),
            "--key-env",
            "TEST_API_KEY",
        ])
        .expect(0)
        .json();
    assert_eq!(out["valid"], true);
    assert_eq!(out["fields"]["attach"], "支付测试");
    assert_eq!(out["fields"]["total_fee"], "1");
    assert_eq!(
        out["reply"],
        "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
    );
}

#[test]
fn the_placeholder_sign_of_the_official_sample_is_refused_with_4() {
    let env = Env::new();
    let path = real_fixture("paysuccess.notification.sample.xml");
    let out = env
        .run(&[
            "notify",
            "verify",
            path.to_str().unwrap(),
            "--key-env",
            "TEST_API_KEY",
        ])
        .expect(4)
        .error_mentions("do not trust it");
    let json = out.json();
    assert_eq!(json["valid"], false);
    assert!(json["reply"].as_str().unwrap().contains("FAIL"));
}

#[test]
fn a_notification_for_another_merchant_is_refused() {
    let env = Env::new();
    env.write_config(
        "[profiles.other]\nmch_id = \"1900000109\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"TEST_API_KEY\"\n",
    );
    let path = resigned_notification(&env);
    env.run(&["notify", "verify", path.to_str().unwrap()])
        .expect(4)
        .error_mentions("1900000109");
}

#[test]
fn table_and_csv_formats_flatten_the_fields() {
    let env = Env::new();
    let path = resigned_notification(&env);
    let csv = env
        .run(&[
            "notify",
            "verify",
            path.to_str().unwrap(),
            "--key-env",
            "TEST_API_KEY",
            "--format",
            "csv",
        ])
        .expect(0)
        .stdout;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&row[column("fields.out_trade_no")], "1409811653");
    assert_eq!(&row[column("valid")], "true");
    let table = env
        .run(&[
            "notify",
            "verify",
            path.to_str().unwrap(),
            "--key-env",
            "TEST_API_KEY",
            "--format",
            "table",
        ])
        .expect(0)
        .stdout;
    assert!(table.contains("fields.transaction_id"));
}

/// Reference Appendix 3: the WxJava plaintext encrypted with the documentation key.
const APPENDIX_3: &str = "4gS8kbcHysCW7bHqyEU0M9umdFVGKPOUBs+y0jA3Blg38QNZN+Ke24ZVdDi+UNeVAWsJuOJibMtOg0xUQPkJeMciCQysLCjHDLsa2ZuUjYeEuYUy2mRGagZt+o63AmqazCOpMIMWsQyJ1E1GKPpu4PnVO1GCIKDY8KeJPfKxrsNq7qvOEJh8DdMfO6BlGqSFalUHJ4+oV/CmpC59BHda9uzUyI41qfDPxbZYeu6QQG6xHpEPFyIbrm+Kx7BlKTUQ7HiJy1hTtXWRqJxg6QCPsQJl8R8LxOO1op72+t79jiKsw3Y4jkohUYNjaz3K3khOfMCcWH+Vp4YRKKyMGtzqcpyMhzrllcJLINwiF1/fkSjUJPesFGmbGg/dT5WIVkg2R+HtCoFCBKZilVK+8g5ZYpgXRWRhqp3Gw+0xdK3xWe8AyvXUOLULHfLVx9JAqMukyG6yu6kHksGHbhDASGyOhliWyGP6UN6F/8uSUgcdTEEvZn37H9y4++1zLZfDShydUj8RH68A4ehjvkIsTIjA8xjtzwa6nz9Zm1/elohtPQWq1Rsr8ogUAtWfz8pOW46RmJEbdhs0Xj9oeHn+d+lmRFf8aPaprZvWwEgRUsBo0AK1SBA5Bnc91SkId7nYP8CD/Lr6hqAKzYF/5Wf9+75v0iSQ7c2RA8xEW/rkyJ2JW8v+y8Gvh7eVLcDtqCwGCTlDmQkNZKVjpCmIcn5X0yE2MuEzSnuf/h1k9rIawNuQloxQXzDdbKEa7t0lJm0S1gpD2Fgkh0WjhEs1161QcrC5yHph5INg6uoxHQRmbePFvtP8GsdUSex1pyEhGh0HYcWqWH5U5WBshQx8y5UlHPjzjJ8mFKYlkQQZVDg3MqP06njro+tMtOVyA8RXpdvU4TgtKCDsfNnEsuBJTwE82wuAixblpPmiI/7QfCe/zixYAOStAV9YtXcrJlhbqAyO1M5+31uYTcnNWKXLUpEsU12PEbYMHXOPX0nMFrRE8Go4dDRpx+TNV7PqAoRka31LO7wMeROC6/qXmThgOTHAj9iEQGNw4U7+ikJhsHkXTdUvycJibCH4pohj+14j7FERSSfu";

fn refund_envelope(req_info: &str) -> Vec<u8> {
    format!(
        "<xml><return_code>SUCCESS</return_code><appid><![CDATA[wx2421b1c4370ec43b]]></appid><mch_id><![CDATA[10000100]]></mch_id><nonce_str><![CDATA[TeqClE3i0mvn3DrK]]></nonce_str><req_info><![CDATA[{req_info}]]></req_info></xml>"
    )
    .into_bytes()
}

#[test]
fn decrypts_the_appendix_3_refund_notification() {
    let env = Env::new();
    let out = env
        .run_with_stdin(
            &["notify", "decrypt", "-", "--key-env", "TEST_API_KEY"],
            Some(&refund_envelope(APPENDIX_3)),
        )
        .expect(0)
        .json();
    assert_eq!(out["fields"]["refund_id"], "50000203702017072601461713166");
    assert_eq!(out["fields"]["refund_recv_accout"], "用户零钱");
    assert_eq!(out["envelope"]["mch_id"], "10000100");
    assert!(out["envelope"].get("req_info").is_none());
    assert!(out["reply"].as_str().unwrap().contains("SUCCESS"));
}

#[test]
fn wrong_key_missing_req_info_and_garbage() {
    let mut env = Env::new();
    env.set("OTHER", crate::common::OTHER_KEY);
    env.run_with_stdin(
        &["notify", "decrypt", "-", "--key-env", "OTHER"],
        Some(&refund_envelope(APPENDIX_3)),
    )
    .expect(4)
    .error_mentions("could not be decrypted")
    .hint_mentions("API v2 key");
    env.run_with_stdin(
        &["notify", "decrypt", "-", "--key-env", "TEST_API_KEY"],
        Some(b"<xml><return_code>SUCCESS</return_code></xml>"),
    )
    .expect(2)
    .error_mentions("req_info");
    env.run_with_stdin(
        &["notify", "decrypt", "-", "--key-env", "TEST_API_KEY"],
        Some(&refund_envelope("not base64!")),
    )
    .expect(4)
    .error_mentions("Base64");
    env.run_with_stdin(
        &["notify", "decrypt", "-", "--key-env", "TEST_API_KEY"],
        Some(&refund_envelope("")),
    )
    .expect(2)
    .error_mentions("req_info field is empty")
    .hint_mentions("notify verify");
    assert_ne!(DOC_KEY, crate::common::OTHER_KEY);
}

#[test]
fn unverifiable_notifications_are_failures_with_the_fail_reply() {
    let env = Env::new();
    let no_sign = b"<xml><return_code>SUCCESS</return_code><mch_id>10000100</mch_id></xml>";
    let out = env
        .run_with_stdin(
            &["notify", "verify", "-", "--key-env", "TEST_API_KEY"],
            Some(no_sign),
        )
        .expect(4)
        .error_mentions("no sign field");
    assert!(out.json()["reply"].as_str().unwrap().contains("FAIL"));
    assert!(out.json().get("expected_sign").is_none());
    let odd_type = b"<xml><sign_type>SHA1</sign_type><sign>ABC</sign></xml>";
    env.run_with_stdin(
        &["notify", "verify", "-", "--key-env", "TEST_API_KEY"],
        Some(odd_type),
    )
    .expect(4)
    .error_mentions("SHA1");
    env.run_with_stdin(
        &["notify", "verify", "-", "--key-env", "TEST_API_KEY"],
        Some(&refund_envelope(APPENDIX_3)),
    )
    .expect(2)
    .hint_mentions("notify decrypt");
}

#[test]
fn the_profile_sign_type_and_appid_are_enforced() {
    let env = Env::new();
    env.write_config(
        "[profiles.hmac]\nmch_id = \"10000100\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"TEST_API_KEY\"\nsign_type = \"HMAC-SHA256\"\n",
    );
    // Correctly MD5-signed, but this merchant signs with HMAC-SHA256: the sender does not
    // get to pick the algorithm.
    let path = resigned_notification(&env);
    env.run(&["notify", "verify", path.to_str().unwrap()])
        .expect(4)
        .error_mentions("does not match");
    env.write_config(
        "[profiles.other_app]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_env = \"TEST_API_KEY\"\n",
    );
    env.run(&["notify", "verify", path.to_str().unwrap()])
        .expect(4)
        .error_mentions("appid");
}

/// The official sample's fields with some changed, signed (MD5) with the documentation key.
fn signed_notification(env: &Env, changes: &[(&str, &str)]) -> std::path::PathBuf {
    let bytes = std::fs::read(real_fixture("paysuccess.notification.sample.xml")).unwrap();
    let mut message = Message::parse(&bytes).unwrap();
    for (name, value) in changes {
        message.set(name, *value);
    }
    set_sign(&mut message, &ApiKey::new(DOC_KEY), SignType::Md5);
    let path = env.path("signed.xml");
    std::fs::write(&path, message.to_xml()).unwrap();
    path
}

fn verify(env: &Env, path: &std::path::Path, extra: &[&str]) -> crate::common::Output {
    let mut args = vec!["notify", "verify", path.to_str().unwrap()];
    args.extend(extra);
    env.run(&args)
}

const KEY_FLAG: [&str; 2] = ["--key-env", "TEST_API_KEY"];
const SAMPLE_RECIPIENT: [&str; 4] = ["--mch-id", "10000100", "--appid", "wx2421b1c4370ec43b"];

#[test]
fn the_expected_sign_is_never_shown_in_any_format() {
    let env = Env::new();
    let path = real_fixture("paysuccess.notification.sample.xml");
    for format in ["json", "table", "csv"] {
        let out = verify(
            &env,
            &path,
            &[&KEY_FLAG[..], &["--format", format]].concat(),
        )
        .expect(4)
        .error_mentions("does not match");
        assert!(
            !out.stdout.contains("F3F481B732273AFA2839E877583F311D"),
            "{format}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn without_a_profile_the_recipient_check_is_flagged_or_made_with_flags() {
    let env = Env::new();
    let path = resigned_notification(&env);
    let out = verify(&env, &path, &KEY_FLAG).expect(0);
    assert!(
        out.stderr.starts_with(
            "warning: mch_id and appid not checked: no profile and no --mch-id or --appid"
        ),
        "{}",
        out.stderr
    );
    assert!(out.json()["notes"].to_string().contains("not checked"));

    let out = verify(&env, &path, &[&KEY_FLAG[..], &SAMPLE_RECIPIENT].concat()).expect(0);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert_eq!(out.json()["notes"], serde_json::json!([]));

    let out = verify(
        &env,
        &path,
        &[&KEY_FLAG[..], &["--mch-id", "10000100"]].concat(),
    )
    .expect(0);
    assert!(
        out.stderr.starts_with("warning: appid not checked"),
        "{}",
        out.stderr
    );

    let out = verify(
        &env,
        &path,
        &[&KEY_FLAG[..], &["--appid", "wxd930ea5d5a258f4f"]].concat(),
    )
    .expect(4)
    .error_mentions(
        "appid \"wx2421b1c4370ec43b\" is not \"wxd930ea5d5a258f4f\", the appid of --appid",
    )
    .hint_mentions("--appid");
    assert!(
        out.json()["reply"]
            .as_str()
            .unwrap()
            .contains("appid不匹配")
    );
}

#[test]
fn flags_override_the_profile_recipient() {
    let env = Env::new();
    env.write_config(
        "[profiles.other]\nmch_id = \"1900000109\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"TEST_API_KEY\"\n",
    );
    let path = resigned_notification(&env);
    let out = verify(&env, &path, &[]).expect(4).error_mentions(
        "mch_id \"10000100\" is not \"1900000109\", the mch_id of profile \"other\"",
    );
    assert!(
        out.json()["reply"]
            .as_str()
            .unwrap()
            .contains("mch_id不匹配")
    );
    let out = verify(&env, &path, &["--mch-id", "10000100"]).expect(0);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn the_failure_reply_names_what_was_wrong() {
    let env = Env::new();
    env.doc_profile();
    // Well signed, but for the sample's appid, not this profile's.
    let path = resigned_notification(&env);
    let out = verify(&env, &path, &[]).expect(4).json();
    assert_eq!(
        out["reply"],
        "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[appid不匹配]]></return_msg></xml>"
    );
    // A bad sign stays 签名失败, whatever else is wrong.
    let out = verify(
        &env,
        &real_fixture("paysuccess.notification.sample.xml"),
        &[],
    )
    .expect(4)
    .json();
    assert!(
        out["reply"]
            .as_str()
            .unwrap()
            .contains("<![CDATA[签名失败]]>")
    );
}

fn keys(value: &Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn json_output_has_one_shape_valid_or_not() {
    let env = Env::new();
    let good = verify(
        &env,
        &resigned_notification(&env),
        &[&KEY_FLAG[..], &SAMPLE_RECIPIENT].concat(),
    )
    .expect(0)
    .json();
    let bad = verify(
        &env,
        &real_fixture("paysuccess.notification.sample.xml"),
        &KEY_FLAG,
    )
    .expect(4)
    .json();
    let unsigned = env
        .run_with_stdin(
            &["notify", "verify", "-", "--key-env", "TEST_API_KEY"],
            Some(b"<xml><return_code>SUCCESS</return_code><mch_id>10000100</mch_id></xml>"),
        )
        .expect(4)
        .json();
    let shape = [
        "valid",
        "paid",
        "reported_failure",
        "sign_type",
        "sign_type_source",
        "fields",
        "reply",
        "string_to_sign",
        "omitted",
        "key_fingerprint",
        "notes",
    ];
    for out in [&good, &bad, &unsigned] {
        assert_eq!(keys(out), shape, "{out:#}");
        assert!(out["notes"].is_array(), "{out:#}");
        assert!(
            out["string_to_sign"]
                .as_str()
                .unwrap()
                .contains("&key=<API key sha256:")
        );
    }
    assert_eq!(good["notes"], serde_json::json!([]));
    assert_eq!(good["paid"], true);
    assert_eq!(bad["paid"], false);
    assert!(unsigned["sign_type"].is_null());
}

#[test]
fn a_signed_failed_payment_is_valid_but_not_paid() {
    let env = Env::new();
    let path = signed_notification(
        &env,
        &[
            ("result_code", "FAIL"),
            ("err_code", "ORDERCLOSED"),
            ("err_code_des", "订单已关闭"),
        ],
    );
    let out = verify(&env, &path, &[&KEY_FLAG[..], &SAMPLE_RECIPIENT].concat()).expect(0);
    assert!(
        out.stderr.starts_with("warning: ") && out.stderr.contains("failed payment"),
        "{}",
        out.stderr
    );
    let json = out.json();
    assert_eq!(json["valid"], true);
    assert_eq!(json["paid"], false);
    assert_eq!(
        json["reported_failure"],
        "result_code=FAIL, err_code=ORDERCLOSED: 订单已关闭"
    );
    assert!(json["notes"].to_string().contains("ORDERCLOSED"));
    assert!(json["reply"].as_str().unwrap().contains("SUCCESS"));

    let path = signed_notification(&env, &[("return_code", "FAIL"), ("return_msg", "系统繁忙")]);
    let json = verify(&env, &path, &[&KEY_FLAG[..], &SAMPLE_RECIPIENT].concat())
        .expect(0)
        .json();
    assert_eq!(json["paid"], false);
    assert_eq!(json["reported_failure"], "return_code=FAIL: 系统繁忙");
}

fn envelope_with(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut envelope = Message::new();
    envelope
        .set("return_code", "SUCCESS")
        .set("appid", "wx2421b1c4370ec43b")
        .set("mch_id", "10000100")
        .set("nonce_str", "TeqClE3i0mvn3DrK")
        .set("req_info", APPENDIX_3);
    for (name, value) in fields {
        envelope.set(name, *value);
    }
    envelope.to_xml().into_bytes()
}

fn decrypt(env: &Env, body: &[u8], extra: &[&str]) -> crate::common::Output {
    let mut args = vec!["notify", "decrypt", "-"];
    args.extend(extra);
    env.run_with_stdin(&args, Some(body))
}

#[test]
fn decrypt_checks_the_envelope_recipient() {
    let env = Env::new();
    env.write_config(
        "[profiles.other]\nmch_id = \"1900000109\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"TEST_API_KEY\"\n",
    );
    let out = decrypt(&env, &envelope_with(&[]), &[])
        .expect(4)
        .error_mentions("mch_id \"10000100\" is not \"1900000109\"")
        .hint_mentions("--mch-id");
    assert!(
        out.json()["reply"]
            .as_str()
            .unwrap()
            .contains("mch_id不匹配")
    );
    let out = decrypt(
        &env,
        &envelope_with(&[]),
        &["--mch-id", "10000100", "--appid", "wxd930ea5d5a258f4f"],
    )
    .expect(4)
    .error_mentions("appid");
    assert!(
        out.json()["reply"]
            .as_str()
            .unwrap()
            .contains("appid不匹配")
    );
    let out = decrypt(&env, &envelope_with(&[]), &["--mch-id", "10000100"]).expect(0);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert!(out.json()["reply"].as_str().unwrap().contains("SUCCESS"));

    // Without a profile the check is not made, and that is said.
    std::fs::remove_file(env.config_path()).unwrap();
    let out = decrypt(&env, &envelope_with(&[]), &KEY_FLAG).expect(0);
    assert!(
        out.stderr
            .starts_with("warning: mch_id and appid not checked"),
        "{}",
        out.stderr
    );
}

#[test]
fn decrypt_reports_a_fail_envelope() {
    let env = Env::new();
    let flags = [&KEY_FLAG[..], &SAMPLE_RECIPIENT].concat();
    let out = decrypt(
        &env,
        &envelope_with(&[("return_code", "FAIL"), ("return_msg", "系统繁忙")]),
        &flags,
    )
    .expect(3)
    .error_mentions("return_code=FAIL: 系统繁忙");
    let json = out.json();
    assert_eq!(json["reported_failure"], "return_code=FAIL: 系统繁忙");
    assert_eq!(json["fields"]["refund_status"], "SUCCESS");
    decrypt(
        &env,
        b"<xml><return_code>FAIL</return_code><return_msg>oops</return_msg></xml>",
        &flags,
    )
    .expect(3)
    .error_mentions("return_code=FAIL: oops");
    decrypt(
        &env,
        b"<xml><return_code>FAIL</return_code><mch_id>1900000109</mch_id></xml>",
        &flags,
    )
    .expect(4)
    .error_mentions("mch_id \"1900000109\" is not \"10000100\"");
    decrypt(&env, &envelope_with(&[("appid", "")]), &flags)
        .expect(4)
        .error_mentions("it has no appid; expected \"wx2421b1c4370ec43b\", the appid of --appid");
}

#[test]
fn decrypt_sets_unsigned_envelope_fields_apart() {
    let env = Env::new();
    let flags = [&KEY_FLAG[..], &SAMPLE_RECIPIENT].concat();
    let out = decrypt(
        &env,
        &envelope_with(&[("refund_fee", "99999"), ("paid", "yes")]),
        &flags,
    )
    .expect(0);
    assert!(
        out.stderr.starts_with(
            "warning: standard input carries fields outside req_info (refund_fee, paid)"
        ),
        "{}",
        out.stderr
    );
    let json = out.json();
    assert_eq!(json["unsigned_extra_fields"]["refund_fee"], "99999");
    assert!(json["envelope"].get("refund_fee").is_none());
    assert_eq!(json["envelope"]["mch_id"], "10000100");
    assert_eq!(json["fields"]["refund_fee"], "15");
    assert!(json["notes"].to_string().contains("unsigned_extra_fields"));

    let plain = decrypt(&env, &envelope_with(&[]), &flags).expect(0).json();
    assert_eq!(keys(&plain), keys(&json));
    assert_eq!(plain["unsigned_extra_fields"], serde_json::json!({}));
    assert_eq!(plain["notes"], serde_json::json!([]));
}
