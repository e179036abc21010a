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
