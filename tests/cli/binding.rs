//! Answers bound to their request: a correctly signed answer about another order or refund,
//! or signed with another sign type than the request, is refused (exit 4); an api_base that
//! is plain http to another machine is warned about, and credentials in it are never shown.

use wxpay_ops::emulator::faults::FaultKind;
use wxpay_ops::emulator::merchant::{DEFAULT_API_KEY, DEFAULT_APPIDS, DEFAULT_MCH_ID};

use crate::common::Output;
use crate::order::Shop;

/// Exit 4, naming the field, what came back and what was asked.
#[track_caller]
fn refused(out: Output, field: &str, received: &str, sent: &str) {
    let out = out.expect(4);
    let named = format!("the answer names {field} \"{received}\", not \"{sent}\"");
    assert!(out.stderr.contains(&named), "{named}:\n{}", out.stderr);
    assert!(
        out.stdout.is_empty(),
        "nothing of it was used:\n{}",
        out.stdout
    );
}

#[test]
fn a_signed_answer_about_another_order_or_refund_is_refused() {
    let shop = Shop::new();
    shop.place("B1", "100");
    let transaction_id = shop.pay("B1");
    shop.place("C1", "100");
    // Old enough to be closed (5 minutes).
    shop.later(time::Duration::minutes(5));

    shop.fault("/pay/orderquery", 1, FaultKind::ForeignAnswer);
    refused(
        shop.run(&["order", "query", "--out-trade-no", "B1"]),
        "out_trade_no",
        "B0",
        "B1",
    );
    shop.fault("/pay/orderquery", 1, FaultKind::ForeignAnswer);
    // The fault changes the last character: 0 to 1, anything else to 0.
    let (head, last) = transaction_id.split_at(transaction_id.len() - 1);
    let other = format!("{head}{}", if last == "0" { "1" } else { "0" });
    refused(
        shop.run(&["order", "query", "--transaction-id", &transaction_id]),
        "transaction_id",
        &other,
        &transaction_id,
    );

    std::fs::write(shop.env.path("orders.csv"), "out_trade_no\nB1\n").unwrap();
    shop.fault("/pay/orderquery", 1, FaultKind::ForeignAnswer);
    let batch = shop
        .run(&["order", "query", "--from-csv", "orders.csv"])
        .expect(4);
    assert!(
        batch.stdout.contains("the answer names out_trade_no"),
        "{}",
        batch.stdout
    );

    shop.fault("/secapi/pay/refund", 1, FaultKind::ForeignAnswer);
    let refund = [
        "refund",
        "create",
        "--out-trade-no",
        "B1",
        "--total",
        "100",
        "--refund",
        "10",
        "--out-refund-no",
        "RF1",
        "--yes",
    ];
    refused(shop.run(&refund), "out_trade_no", "B0", "B1");
    // The refund itself went through, and its own answer is used.
    shop.run(&refund).expect(0);

    shop.fault("/pay/refundquery", 1, FaultKind::ForeignAnswer);
    refused(
        shop.run(&["refund", "query", "--out-refund-no", "RF1"]),
        "out_refund_no",
        "RF0",
        "RF1",
    );

    shop.fault("/pay/closeorder", 1, FaultKind::ForeignAnswer);
    refused(
        shop.run(&["order", "close", "--out-trade-no", "C1", "--yes"]),
        "out_trade_no",
        "C0",
        "C1",
    );
}

#[test]
fn an_answer_is_verified_with_the_sign_type_of_its_request_not_its_own() {
    let mut shop = Shop::new();
    shop.own_config("sign_type = \"HMAC-SHA256\"");
    shop.place("M1", "100");
    shop.run(&["order", "query", "--out-trade-no", "M1"])
        .expect(0);
    // Signed with MD5 and saying so, to a request signed with HMAC-SHA256.
    shop.fault("/pay/orderquery", 1, FaultKind::Md5Answer);
    let out = shop
        .run(&["order", "query", "--out-trade-no", "M1"])
        .expect(4);
    assert!(
        out.stderr.contains("sign does not verify"),
        "{}",
        out.stderr
    );
}

#[test]
fn plain_http_to_another_machine_is_warned_about_and_credentials_are_masked() {
    let shop = Shop::new();
    let config = |base: &str| {
        format!(
            "[profiles.own]\nmch_id = \"{DEFAULT_MCH_ID}\"\nappid = \"{}\"\napi_key_env = \"EMULATOR_KEY\"\napi_base = \"{base}\"\n",
            DEFAULT_APPIDS[0]
        )
    };
    let mut env = crate::common::Env::new();
    env.set("EMULATOR_KEY", DEFAULT_API_KEY);
    let secret = "s3cr3t-pw";
    env.write_config(&config(&format!("http://ops:{secret}@pay.example.com")));
    let no_secret = |out: &Output| {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "the password was shown:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    };

    let dry = env
        .run(&[
            "order",
            "query",
            "--out-trade-no",
            "H1",
            "--dry-run",
            "--format",
            "json",
        ])
        .expect(0);
    no_secret(&dry);
    assert_eq!(
        dry.json()["url"],
        "http://***@pay.example.com/pay/orderquery"
    );
    assert!(
        dry.stderr.contains("plain http:// to another machine"),
        "{}",
        dry.stderr
    );

    let shown = env.run(&["config", "show", "--format", "json"]).expect(0);
    no_secret(&shown);
    assert_eq!(shown.json()["api_base"], "http://***@pay.example.com");

    let checked = env.run(&["config", "check", "--format", "json"]);
    no_secret(&checked);
    let rows = checked.json();
    let api_base = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["check"] == "api_base")
        .unwrap()
        .clone();
    assert_eq!(api_base["status"], "warn", "{api_base}");
    assert!(
        api_base["detail"]
            .as_str()
            .unwrap()
            .contains("plain http://"),
        "{api_base}"
    );

    // The emulator on loopback, reached with credentials in the URL: no warning, and the
    // manifest records the URL without them.
    let loopback = shop
        .emulator
        .base_url()
        .replace("http://", &format!("http://ops:{secret}@"));
    env.write_config(&config(&loopback));
    let day = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8))
        - time::Duration::days(2);
    let day = format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    );
    let out = env
        .run(&["bill", "download", "--date", &day, "--bill-dir", "bills"])
        .expect(0);
    no_secret(&out);
    assert!(!out.stderr.contains("plain http"), "{}", out.stderr);
    let manifest = std::fs::read_to_string(
        env.path("bills")
            .join(DEFAULT_MCH_ID)
            .join("manifest.jsonl"),
    )
    .unwrap();
    assert!(!manifest.contains(secret), "{manifest}");
    assert!(manifest.contains("http://***@127.0.0.1"), "{manifest}");
}
