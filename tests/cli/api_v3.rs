//! `order` and `refund` on API v3 (`--api v3`) through the binary against the emulator: the
//! same records and exit codes as on v2, over the same orders (an order placed on one API is
//! queried, closed and refunded on the other), every answer's signature checked and bound to
//! its request, and v3's refusals mapped to the same exit codes.

use serde_json::Value;
use wxpay_ops::emulator::faults::FaultKind;

use crate::emulator::Receiver;
use crate::order::{NOTIFY, OPENID, Shop};

fn query(shop: &Shop, api: &str, out_trade_no: &str) -> Value {
    shop.run(&[
        "order",
        "query",
        "--api",
        api,
        "--out-trade-no",
        out_trade_no,
    ])
    .expect(0)
    .json()
}

/// The fields both APIs give of an order, which must agree.
const SAME: [&str; 10] = [
    "out_trade_no",
    "transaction_id",
    "trade_state",
    "trade_type",
    "total_fee",
    "total_yuan",
    "cash_fee",
    "time_end",
    "paid_at",
    "openid",
];

#[track_caller]
fn agree(v2: &Value, v3: &Value) {
    for field in SAME {
        assert_eq!(v2[field], v3[field], "{field}:\nv2 {v2}\nv3 {v3}");
    }
}

#[test]
fn an_order_placed_on_one_api_is_queried_and_closed_on_the_other() {
    let shop = Shop::new();
    shop.place("V2-ORDER", "100");
    let on_v3 = query(&shop, "v3", "V2-ORDER");
    assert_eq!(on_v3["trade_state"], "NOTPAY");
    agree(&query(&shop, "v2", "V2-ORDER"), &on_v3);

    let created = shop
        .run(&[
            "order",
            "create",
            "--api",
            "v3",
            "--trade-type",
            "JSAPI",
            "--out-trade-no",
            "V3-ORDER",
            "--amount",
            "12.50yuan",
            "--body",
            "Shop-Coffee",
            "--openid",
            OPENID,
            "--notify-url",
            NOTIFY,
            "--expire-in",
            "2h",
        ])
        .expect(0)
        .json();
    assert_eq!(created["total_fee"], 1250);
    assert!(created["prepay_id"].as_str().unwrap().starts_with("wx"));
    assert_eq!(created["pay_params"]["signType"], "RSA");
    assert_eq!(
        created["pay_params"]["package"],
        format!("prepay_id={}", created["prepay_id"].as_str().unwrap())
    );
    let on_v2 = query(&shop, "v2", "V3-ORDER");
    assert_eq!(on_v2["total_fee"], 1250);
    agree(&on_v2, &query(&shop, "v3", "V3-ORDER"));

    // A NATIVE order's answer on v3 is its code_url alone.
    let native = shop
        .run(&[
            "order",
            "create",
            "--api",
            "v3",
            "--trade-type",
            "NATIVE",
            "--out-trade-no",
            "V3-NATIVE",
            "--amount",
            "1",
            "--body",
            "Tea",
            "--notify-url",
            NOTIFY,
        ])
        .expect(0)
        .json();
    assert!(
        native["code_url"]
            .as_str()
            .unwrap()
            .starts_with("weixin://")
    );
    assert_eq!(native["prepay_id"], Value::Null);

    // Closed on v3 (an empty 204, signed), seen closed on v2; closing again is no error.
    shop.emulator.core().allow_early_close(true);
    let close = [
        "order",
        "close",
        "--api",
        "v3",
        "--out-trade-no",
        "V2-ORDER",
        "--yes",
    ];
    let closed = shop.run(&close).expect(0).json();
    assert_eq!(closed["closed"], true);
    assert_eq!(closed["already_closed"], false);
    assert_eq!(query(&shop, "v2", "V2-ORDER")["trade_state"], "CLOSED");
    assert_eq!(shop.run(&close).expect(0).json()["already_closed"], true);

    // The emulator's clock plays business time: moved on, v3 signatures still hold, as they
    // are made and checked with this machine's time.
    shop.later(time::Duration::minutes(6));
    assert_eq!(query(&shop, "v3", "V3-ORDER")["trade_state"], "NOTPAY");
}

#[test]
fn a_paid_order_is_refunded_on_v3_and_both_apis_agree_on_the_money() {
    let shop = Shop::new();
    shop.place("PAID-1", "1000");
    let transaction_id = shop.pay("PAID-1");
    let v3 = query(&shop, "v3", "PAID-1");
    assert_eq!(v3["transaction_id"], transaction_id.as_str());
    assert_eq!(v3["trade_state"], "SUCCESS");
    agree(&query(&shop, "v2", "PAID-1"), &v3);
    let by_id = shop
        .run(&[
            "order",
            "query",
            "--api",
            "v3",
            "--transaction-id",
            &transaction_id,
        ])
        .expect(0)
        .json();
    assert_eq!(by_id["out_trade_no"], "PAID-1");

    let refund = shop
        .run(&[
            "refund",
            "create",
            "--api",
            "v3",
            "--transaction-id",
            &transaction_id,
            "--total",
            "1000",
            "--refund",
            "300",
            "--out-refund-no",
            "RF-1",
            "--yes",
        ])
        .expect(0)
        .json();
    assert_eq!(refund["refund_fee"], 300);
    assert_eq!(refund["out_trade_no"], "PAID-1");
    let refund_id = refund["refund_id"].as_str().unwrap().to_owned();
    let on_v3 = shop
        .run(&["refund", "query", "--api", "v3", "--out-refund-no", "RF-1"])
        .expect(0)
        .json();
    let on_v2 = shop
        .run(&["refund", "query", "--api", "v2", "--out-refund-no", "RF-1"])
        .expect(0)
        .json();
    for listed in [&on_v3, &on_v2] {
        let first = &listed["refunds"][0];
        assert_eq!(first["refund_id"], refund_id.as_str(), "{listed}");
        assert_eq!(first["refund_fee"], 300);
        assert_eq!(first["cash_refund_fee"], 300);
        assert_eq!(listed["total_fee"], 1000);
    }
    // v3's statuses in v2's words, so that --expect reads the same on both.
    assert_eq!(
        on_v3["refunds"][0]["refund_status"],
        on_v2["refunds"][0]["refund_status"]
    );
    // Refunding more than is left is refused by the business rules, as on v2.
    shop.run(&[
        "refund",
        "create",
        "--api",
        "v3",
        "--out-trade-no",
        "PAID-1",
        "--total",
        "1000",
        "--refund",
        "800",
        "--out-refund-no",
        "RF-2",
        "--yes",
    ])
    .expect(3)
    .error_mentions("HTTP 400 INVALID_REQUEST");
    // v3 finds a refund by its number only.
    shop.run(&["refund", "query", "--api", "v3", "--out-trade-no", "PAID-1"])
        .expect(2)
        .error_mentions("out_refund_no only");
}

#[test]
fn a_coupon_and_an_h5_order_read_the_same_on_both_apis() {
    let shop = Shop::new();
    shop.place("COUPON-1", "1000");
    let options = wxpay_ops::emulator::state::PayOptions {
        coupon_fee: Some(150),
        ..Default::default()
    };
    (shop.emulator.core())
        .pay(
            wxpay_ops::emulator::merchant::DEFAULT_MCH_ID,
            "COUPON-1",
            &options,
        )
        .unwrap();
    let (v2, v3) = (
        query(&shop, "v2", "COUPON-1"),
        query(&shop, "v3", "COUPON-1"),
    );
    agree(&v2, &v3);
    assert_eq!(v3["coupon_fee"], 150, "{v3}");
    assert_eq!(v2["coupon_fee"], v3["coupon_fee"]);
    assert_eq!(v3["cash_fee"], 850);

    // v2's h5_info (wap_url, wap_name) goes out in v3's names, which the emulator checks.
    let scene =
        r#"{"h5_info":{"type":"Wap","wap_url":"https://shop.example.com","wap_name":"Shop"}}"#;
    let h5 = shop
        .run(&[
            "order",
            "create",
            "--api",
            "v3",
            "--trade-type",
            "MWEB",
            "--out-trade-no",
            "H5-1",
            "--amount",
            "100",
            "--body",
            "Tea",
            "--notify-url",
            NOTIFY,
            "--scene-info",
            scene,
        ])
        .expect(0)
        .json();
    let url = h5["mweb_url"].as_str().unwrap();
    assert!(url.contains("prepay_id="), "{url}");
    assert!(
        h5["prepay_id"].as_str().is_some_and(|id| url.contains(id)),
        "{h5}"
    );
}

#[test]
fn outcomes_set_on_the_control_plane_refuse_v3_requests_as_v3_would() {
    use wxpay_ops::emulator::outcomes::Outcome;
    let shop = Shop::new();
    shop.place("OC-1", "1000");
    shop.pay("OC-1");
    let outcome = |err_code: &str, count| Outcome {
        out_trade_no: Some("OC-1".into()),
        path: Some("/secapi/pay/refund".into()),
        err_code: Some(err_code.into()),
        count,
        ..Outcome::default()
    };
    // BIZERR_NEED_RETRY is v3's 500 BIZ_ERR_NEED_RETRY: sent again with the same out_refund_no.
    shop.emulator
        .core()
        .add_outcome(outcome("BIZERR_NEED_RETRY", 1))
        .unwrap();
    let refund = [
        "refund",
        "create",
        "--api",
        "v3",
        "--out-trade-no",
        "OC-1",
        "--total",
        "1000",
        "--refund",
        "100",
        "--out-refund-no",
        "OC-R1",
        "--yes",
    ];
    assert_eq!(shop.run(&refund).expect(0).json()["refund_fee"], 100);
    assert_eq!(shop.requests("/v3/refund/domestic/refunds"), 2);
    // NOAUTH is 403 NO_AUTH: final.
    shop.emulator
        .core()
        .add_outcome(outcome("NOAUTH", 1))
        .unwrap();
    let again = [
        "refund",
        "create",
        "--api",
        "v3",
        "--out-trade-no",
        "OC-1",
        "--total",
        "1000",
        "--refund",
        "100",
        "--out-refund-no",
        "OC-R2",
        "--yes",
    ];
    shop.run(&again)
        .expect(3)
        .error_mentions("HTTP 403 NO_AUTH");
}

#[test]
fn an_answer_that_does_not_verify_or_is_about_another_order_is_not_used() {
    let shop = Shop::new();
    shop.place("T1", "100");
    let path = "/v3/pay/transactions/out-trade-no/T1";
    for (kind, says) in [
        (FaultKind::BadSign, "signature does not verify"),
        (
            FaultKind::ForeignAnswer,
            "the answer names out_trade_no \"T1-OTHER\", not \"T1\"",
        ),
        (FaultKind::MalformedXml, "is not JSON"),
    ] {
        shop.fault(path, 1, kind);
        let out = shop
            .run(&["order", "query", "--api", "v3", "--out-trade-no", "T1"])
            .expect(4)
            .error_mentions(says);
        assert!(
            out.stdout.is_empty(),
            "nothing of it is printed: {}",
            out.stdout
        );
    }
    // A key ID other than the one answers name: nothing verifies them.
    let profile = std::fs::read_to_string(&shop.config).unwrap();
    let other = profile.replace("PUB_KEY_ID_0119", "PUB_KEY_ID_0999");
    assert_ne!(profile, other);
    let mut shop = shop;
    let dir = shop.config.parent().unwrap().to_owned();
    shop.config = dir.join("other-key-id.toml");
    std::fs::write(&shop.config, other).unwrap();
    shop.run(&["order", "query", "--api", "v3", "--out-trade-no", "T1"])
        .expect(4)
        .error_mentions("no key for Wechatpay-Serial PUB_KEY_ID_0119");
}

#[test]
fn refusals_and_faults_keep_the_exit_codes_of_v2() {
    let shop = Shop::new();
    shop.run(&["order", "query", "--api", "v3", "--out-trade-no", "NOPE"])
        .expect(3)
        .error_mentions("HTTP 404 ORDER_NOT_EXIST");
    // 5xx is sent again with the same body, then given up as temporary.
    shop.place("F1", "100");
    let path = "/v3/pay/transactions/out-trade-no/F1";
    shop.fault(path, 5, FaultKind::SystemError);
    shop.run(&[
        "order",
        "query",
        "--api",
        "v3",
        "--out-trade-no",
        "F1",
        "--retries",
        "1",
    ])
    .expect(75)
    .error_mentions("HTTP 500 SYSTEM_ERROR")
    .error_mentions("(2 attempts)");
    shop.emulator.core().clear_faults();
    shop.fault(path, 1, FaultKind::Http503);
    assert_eq!(query(&shop, "v3", "F1")["trade_state"], "NOTPAY");
    // A request signed under another certificate serial: v3's SIGN_ERROR, and where to look.
    let profile = std::fs::read_to_string(&shop.config).unwrap();
    let mut shop = shop;
    let dir = shop.config.parent().unwrap().to_owned();
    shop.config = dir.join("other-serial.toml");
    let wrong = profile.replace("4F1E7D9C2A6B3E8F0D5C7A9B1E3F5D7C", "0123456789ABCDEF");
    assert_ne!(profile, wrong);
    std::fs::write(&shop.config, wrong).unwrap();
    shop.run(&["order", "query", "--api", "v3", "--out-trade-no", "F1"])
        .expect(3)
        .error_mentions("HTTP 401 SIGN_ERROR")
        .hint_mentions("cert_serial");
}

#[test]
fn a_dry_run_shows_the_signed_v3_request_and_sends_nothing() {
    let shop = Shop::new();
    let before = shop.requests("/v3/pay/transactions/out-trade-no/D%7C1");
    let shown = shop
        .run(&[
            "order",
            "query",
            "--api",
            "v3",
            "--out-trade-no",
            "D|1",
            "--dry-run",
        ])
        .expect(0)
        .json();
    assert_eq!(shown["method"], "GET");
    let url = shown["url"].as_str().unwrap();
    assert!(
        url.ends_with("/v3/pay/transactions/out-trade-no/D%7C1?mchid=1900000109"),
        "{url}"
    );
    let authorization = shown["authorization"].as_str().unwrap();
    assert!(
        authorization.starts_with("WECHATPAY2-SHA256-RSA2048 mchid=\"1900000109\""),
        "{authorization}"
    );
    assert_eq!(
        shop.requests("/v3/pay/transactions/out-trade-no/D%7C1"),
        before
    );
}

#[test]
fn what_v3_has_no_place_for_is_refused_before_anything_is_sent() {
    let shop = Shop::new();
    shop.run(&[
        "order",
        "query",
        "--api",
        "v3",
        "--out-trade-no",
        "S1",
        "--sandbox",
    ])
    .expect(2)
    .error_mentions("for API v2");
    shop.run(&[
        "order",
        "create",
        "--api",
        "v3",
        "--trade-type",
        "NATIVE",
        "--out-trade-no",
        "P1",
        "--amount",
        "1",
        "--body",
        "Tea",
        "--notify-url",
        NOTIFY,
        "--product-id",
        "SKU1",
    ])
    .expect(2)
    .error_mentions("no product_id");
    assert_eq!(shop.requests("/v3/pay/transactions/native"), 0);
}

/// Saves the `n`th request the receiver got as headers and body files; their names.
fn saved(shop: &Shop, receiver: &Receiver, n: usize) -> (String, String) {
    let bodies = receiver.wait_for(n + 1);
    let head = receiver.heads()[n].clone();
    let (headers, body) = (format!("cb{n}.headers"), format!("cb{n}.json"));
    std::fs::write(shop.env.path(&headers), head).unwrap();
    std::fs::write(shop.env.path(&body), &bodies[n]).unwrap();
    (headers, body)
}

#[test]
fn an_order_and_a_refund_made_on_v3_are_called_back_on_v3_and_retried() {
    let shop = Shop::new();
    // The handler refuses the first callback: it comes again, signed again.
    let receiver = Receiver::start(vec![(500, "{}"), (204, ""), (200, "")]);
    let url = receiver.url.clone();
    shop.run(&[
        "order",
        "create",
        "--api",
        "v3",
        "--trade-type",
        "NATIVE",
        "--out-trade-no",
        "CB-1",
        "--amount",
        "880",
        "--body",
        "Tea",
        "--notify-url",
        &url,
    ])
    .expect(0);
    let transaction_id = shop.pay("CB-1");
    let (headers, body) = saved(&shop, &receiver, 1);
    let verified = shop
        .run(&[
            "notify",
            "decrypt",
            "--api",
            "v3",
            "--headers",
            &headers,
            &body,
        ])
        .expect(0)
        .json();
    assert_eq!(verified["event_type"], "TRANSACTION.SUCCESS");
    assert_eq!(verified["fields"]["out_trade_no"], "CB-1");
    assert_eq!(
        verified["fields"]["transaction_id"],
        transaction_id.as_str()
    );
    assert_eq!(verified["fields"]["amount"]["total"], 880);
    let first = receiver.heads()[0].clone();
    let signature = |head: &str| {
        head.lines()
            .find(|l| l.to_ascii_lowercase().starts_with("wechatpay-signature:"))
            .map(str::to_owned)
    };
    assert!(signature(&first).is_some());
    assert_ne!(
        signature(&first),
        signature(&receiver.heads()[1]),
        "signed at each delivery"
    );

    // A refund made on v3 is called back as REFUND.SUCCESS, to the refund's notify_url.
    shop.run(&[
        "refund",
        "create",
        "--api",
        "v3",
        "--out-trade-no",
        "CB-1",
        "--total",
        "880",
        "--refund",
        "80",
        "--out-refund-no",
        "CB-R1",
        "--notify-url",
        &url,
        "--yes",
    ])
    .expect(0);
    // The refund completes at the emulator's next request.
    shop.run(&["refund", "query", "--api", "v3", "--out-refund-no", "CB-R1"])
        .expect(0);
    let (headers, body) = saved(&shop, &receiver, 2);
    let refund = shop
        .run(&[
            "notify",
            "decrypt",
            "--api",
            "v3",
            "--headers",
            &headers,
            &body,
        ])
        .expect(0)
        .json();
    assert_eq!(refund["event_type"], "REFUND.SUCCESS");
    assert_eq!(refund["fields"]["out_refund_no"], "CB-R1");
    assert_eq!(refund["fields"]["refund_status"], "SUCCESS");
    assert_eq!(refund["fields"]["amount"]["refund"], 80);
    // Another APIv3 key does not decrypt it.
    std::fs::write(
        shop.env.path("other.key"),
        "EmulatorV3Key0123456789abcdefXYZ",
    )
    .unwrap();
    crate::common::set_mode(&shop.env.path("other.key"), 0o600);
    shop.run(&[
        "notify",
        "decrypt",
        "--api",
        "v3",
        "--headers",
        &headers,
        &body,
        "--apiv3-key-file",
        "other.key",
    ])
    .expect(4)
    .error_mentions("does not decrypt");
}

#[test]
fn a_probe_comes_before_the_callback_when_asked_for_and_verify_calls_it_one() {
    let shop = Shop::new();
    (shop.emulator.core().notifier.v3_probe).store(true, std::sync::atomic::Ordering::Relaxed);
    // A handler that refuses the probe (401), then takes the callback.
    let receiver = Receiver::start(vec![(401, "{}"), (204, "")]);
    let url = receiver.url.clone();
    shop.run(&[
        "order",
        "create",
        "--api",
        "v3",
        "--trade-type",
        "NATIVE",
        "--out-trade-no",
        "PROBE-1",
        "--amount",
        "100",
        "--body",
        "Tea",
        "--notify-url",
        &url,
    ])
    .expect(0);
    shop.pay("PROBE-1");
    let (headers, body) = saved(&shop, &receiver, 0);
    shop.run(&[
        "notify",
        "verify",
        "--api",
        "v3",
        "--headers",
        &headers,
        &body,
    ])
    .expect(4)
    .error_mentions("probe");
    let (headers, body) = saved(&shop, &receiver, 1);
    shop.run(&[
        "notify",
        "verify",
        "--api",
        "v3",
        "--headers",
        &headers,
        &body,
    ])
    .expect(0);
    let attempts = shop.emulator.core().notifier.attempts();
    let probe = attempts.iter().find(|a| a.probe).unwrap();
    assert!(!probe.accepted, "{}", probe.outcome);
    assert!(
        probe.outcome.contains("refused, as it must be"),
        "{}",
        probe.outcome
    );
}

mod bills {
    use serde_json::Value;
    use time::{Date, Duration, OffsetDateTime};
    use wxpay_ops::emulator::faults::FaultKind;
    use wxpay_ops::emulator::merchant::{DEFAULT_APPIDS, DEFAULT_MCH_ID};
    use wxpay_ops::emulator::synth::SyntheticDay;

    use crate::order::Shop;

    const TRADES: u64 = 300;
    const SEED: u64 = 5;

    /// Two days ago in Beijing, a day whose bills are ready on both clocks.
    fn day() -> Date {
        (OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8)) - Duration::days(2)).date()
    }

    fn iso(date: Date) -> String {
        let (y, m, d) = (date.year(), u8::from(date.month()), date.day());
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// A shop with a synthetic day of trades.
    fn shop() -> Shop {
        let shop = Shop::new();
        shop.emulator
            .core()
            .add_synthetic_day(SyntheticDay {
                mch_id: DEFAULT_MCH_ID.into(),
                appid: DEFAULT_APPIDS[0].into(),
                bill_date: iso(day()).replace('-', ""),
                trades: TRADES,
                seed: SEED,
            })
            .unwrap();
        shop
    }

    fn download(shop: &Shop, api: &str, folder: &str, extra: &[&str]) -> crate::common::Output {
        let date = iso(day());
        let mut args = vec![
            "--format",
            "json",
            "bill",
            "download",
            "--api",
            api,
            "--date",
            &date,
            "--bill-dir",
            folder,
        ];
        args.extend_from_slice(extra);
        shop.run(&args)
    }

    fn bill_file(shop: &Shop, folder: &str, label: &str) -> std::path::PathBuf {
        (shop.env.path(folder).join(DEFAULT_MCH_ID)).join(format!("{}.{label}.csv", iso(day())))
    }

    #[test]
    fn a_days_bills_are_the_same_files_on_both_apis_and_reconcile_the_same() {
        let shop = shop();
        download(&shop, "v2", "v2", &[]).expect(0);
        let row = download(&shop, "v3", "v3", &["--gzip"]).expect(0).json();
        assert_eq!(row[0]["outcome"], "saved", "{row}");
        let (v2, v3) = (bill_file(&shop, "v2", "ALL"), bill_file(&shop, "v3", "ALL"));
        assert_eq!(std::fs::read(&v2).unwrap(), std::fs::read(&v3).unwrap());
        // The fund-flow bill too, which v3 asks for without the merchant certificate.
        for (api, folder) in [("v2", "v2"), ("v3", "v3")] {
            let date = iso(day());
            shop.run(&[
                "bill",
                "fundflow",
                "--account-type",
                "Basic",
                "--api",
                api,
                "--date",
                &date,
                "--bill-dir",
                folder,
            ])
            .expect(0);
        }
        assert_eq!(
            std::fs::read(bill_file(&shop, "v2", "fundflow-Basic")).unwrap(),
            std::fs::read(bill_file(&shop, "v3", "fundflow-Basic")).unwrap()
        );

        // The migration check: the same export against either bill, the same report.
        let day = format!("{}:{TRADES}:{SEED}", iso(day()));
        shop.env
            .run(&[
                "emulator",
                "export",
                "--day",
                &day,
                "-o",
                "export.csv",
                "--missing-in-export",
                "2",
                "--amount-mismatch",
                "1",
            ])
            .expect(0);
        let reconcile = |bill: &std::path::Path| -> Value {
            let bill = bill.display().to_string();
            let out = shop.run(&[
                "--format",
                "json",
                "reconcile",
                "--bill",
                &bill,
                "--export",
                "export.csv",
                "--no-ledger",
            ]);
            out.expect(1).json()
        };
        let (from_v2, from_v3) = (reconcile(&v2), reconcile(&v3));
        assert_eq!(from_v2, from_v3);
        assert!(
            from_v2.to_string().contains("missing_in_export"),
            "{from_v2}"
        );
    }

    #[test]
    fn a_bill_whose_sha1_is_not_the_signed_one_is_not_saved() {
        let shop = shop();
        shop.fault("/v3/bill/tradebill", 1, FaultKind::WrongHash);
        let out = download(&shop, "v3", "bills", &["--retries", "0"])
            .expect(4)
            .error_mentions("SHA-1");
        assert_eq!(out.json()[0]["outcome"], "failed");
        let folder = shop.env.path("bills").join(DEFAULT_MCH_ID);
        let left: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "manifest.jsonl")
            .collect();
        assert!(left.is_empty(), "nothing but the manifest: {left:?}");
        // Asked again, the bill and its hash agree, and it is saved.
        download(&shop, "v3", "bills", &[]).expect(0);
        assert!(bill_file(&shop, "bills", "ALL").exists());
    }

    #[test]
    fn a_day_without_a_bill_or_not_ready_yet_is_told_as_on_v2() {
        let shop = shop();
        let before =
            (OffsetDateTime::now_utc() - Duration::days(5)).to_offset(time::macros::offset!(+8));
        let date = iso(before.date());
        let row = shop
            .run(&[
                "--format",
                "json",
                "bill",
                "download",
                "--api",
                "v3",
                "--date",
                &date,
                "--bill-dir",
                "bills",
            ])
            .expect(0)
            .json();
        assert_eq!(row[0]["outcome"], "no_bill");
        shop.fault("/v3/bill/tradebill", 1, FaultKind::BillCreating);
        download(&shop, "v3", "bills", &["--retries", "0"])
            .expect(75)
            .error_mentions("not ready yet");
    }
}

/// The emulator's profile in platform-certificate mode: no WeChat Pay public key, a folder of
/// platform certificates; the emulator signing with its certificate.
fn platform_certificate_shop() -> Shop {
    let mut shop = Shop::new();
    let profile = std::fs::read_to_string(&shop.config).unwrap();
    let profile: String = (profile.lines())
        .filter(|line| !line.starts_with("wechatpay_public_key"))
        .map(|line| format!("{line}\n"))
        .collect::<String>()
        + "platform_cert_dir = \"platform\"\n";
    shop.config = shop.config.parent().unwrap().join("platform.toml");
    std::fs::write(&shop.config, profile).unwrap();
    crate::common::set_mode(&shop.config, 0o600);
    let signing = wxpay_ops::emulator::v3::V3Signing::Certificate;
    *shop.emulator.core().notifier.v3_signing.lock().unwrap() = signing;
    shop
}

#[test]
fn platform_certificates_are_downloaded_listed_and_fetched_again_on_a_rotation() {
    let shop = platform_certificate_shop();
    shop.place("PC-1", "100");
    // Nothing cached yet: the first answer names a serial the client does not have, and the
    // certificates are fetched then.
    assert_eq!(query(&shop, "v3", "PC-1")["trade_state"], "NOTPAY");
    let downloaded = shop
        .run(&["--format", "json", "certs", "download"])
        .expect(0)
        .json();
    let first = "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC";
    assert_eq!(downloaded[0]["serial"], first);
    assert_eq!(downloaded[0]["new"], false, "fetched by the query already");
    let file = std::path::PathBuf::from(downloaded[0]["file"].as_str().unwrap());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // WeChat Pay rotates: answers come signed under the new certificate, which the client
    // fetches when it meets its serial, and keeps.
    // A copy under another name is listed, and not used.
    std::fs::copy(&file, file.with_file_name("copy.pem")).unwrap();
    let listed = shop
        .run(&["--format", "json", "certs", "list"])
        .expect(0)
        .json();
    let copy = (listed.as_array().unwrap().iter())
        .find(|cert| cert["file"].as_str().unwrap().ends_with("copy.pem"))
        .unwrap();
    assert_eq!(copy["used"], false);
    std::fs::remove_file(file.with_file_name("copy.pem")).unwrap();

    let rotated = wxpay_ops::emulator::v3::V3Signing::RotatedCertificate;
    *shop.emulator.core().notifier.v3_signing.lock().unwrap() = rotated;
    assert_eq!(query(&shop, "v3", "PC-1")["trade_state"], "NOTPAY");
    let listed = shop
        .run(&["--format", "json", "certs", "list"])
        .expect(0)
        .json();
    let serials: Vec<&str> = (listed.as_array().unwrap().iter())
        .map(|cert| cert["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["3C21F8A6B09E5D47C2A0E9F4D1B8C6A57E3F2D19", first]);
    assert_eq!(listed[0]["valid_now"], true);
    assert_eq!(listed[0]["used"], true);
    assert_eq!(listed[0]["not_after"], "2126-01-01T08:00:00+08:00");

    // A certificates answer whose signature does not verify is refused, nothing is cached;
    // and when the fetch a new serial needs fails, the answer stays unverified (exit 4) and
    // its request is not sent again.
    shop.fault("/v3/certificates", 5, FaultKind::BadSign);
    shop.run(&["certs", "download", "--dir", "unsigned"])
        .expect(4)
        .error_mentions("signature does not verify");
    assert!(!shop.env.path("unsigned").exists());
    let cached = shop.config.parent().unwrap().join("platform");
    std::fs::remove_dir_all(&cached).unwrap();
    let before = shop.requests("/v3/pay/transactions/out-trade-no/PC-1");
    shop.run(&[
        "order",
        "query",
        "--api",
        "v3",
        "--out-trade-no",
        "PC-1",
        "--retries",
        "2",
    ])
    .expect(4)
    .error_mentions("no key for Wechatpay-Serial");
    assert_eq!(
        shop.requests("/v3/pay/transactions/out-trade-no/PC-1"),
        before + 1
    );
    shop.emulator.core().clear_faults();

    // A certificates answer that does not open under the APIv3 key is refused, and nothing
    // is cached from it.
    std::fs::write(
        shop.env.path("other.key"),
        "EmulatorV3Key0123456789abcdefXYZ",
    )
    .unwrap();
    crate::common::set_mode(&shop.env.path("other.key"), 0o600);
    shop.run(&[
        "certs",
        "download",
        "--dir",
        "elsewhere",
        "--apiv3-key-file",
        "other.key",
    ])
    .expect(4)
    .error_mentions("does not decrypt");
    assert!(
        !shop
            .env
            .path("elsewhere")
            .join(format!("{first}.pem"))
            .exists()
    );
}

#[test]
fn a_merchant_of_the_merchants_file_gets_v3_credentials_of_its_own() {
    use wxpay_ops::emulator::merchant::{DEFAULT_API_KEY, DEFAULT_APPIDS, Merchant};
    let second = Merchant {
        mch_id: "1900000110".into(),
        key: wxpay_ops::wechat::ApiKey::new(DEFAULT_API_KEY.replace("E", "F")),
        ..Merchant::default_merchant()
    };
    let mut shop = Shop::with_merchants(vec![Merchant::default_merchant(), second]);
    let credentials = shop
        .emulator
        .core()
        .v3_credentials("1900000110")
        .unwrap()
        .clone();
    let folder = shop.emulator.cert_dir().join("1900000110");
    let dir = shop.emulator.cert_dir().to_owned();
    let profile = format!(
        "[profiles.second]\nmch_id = \"1900000110\"\nappid = \"{}\"\napi_base = \"{}\"\n\
         ca_cert = \"{}/ca_cert.pem\"\nprivate_key_pem = \"{}\"\ncert_serial = \"{}\"\n\
         wechatpay_public_key_pem = \"{}/wechatpay_public_key.pem\"\n\
         wechatpay_public_key_id = \"{}\"\napiv3_key_file = \"{}\"\n",
        DEFAULT_APPIDS[0],
        shop.emulator.tls_base_url(),
        dir.display(),
        folder.join("apiclient_v3_key.pem").display(),
        credentials.serial,
        dir.display(),
        wxpay_ops::emulator::v3::WECHATPAY_PUBLIC_KEY_ID,
        folder.join("apiv3_key").display(),
    );
    shop.config = shop.env.write_config(&profile);
    assert_ne!(
        credentials.serial,
        wxpay_ops::emulator::v3::DEFAULT_MERCHANT_SERIAL
    );
    let receiver = Receiver::start(vec![(204, "")]);
    let url = receiver.url.clone();
    shop.run(&[
        "order",
        "create",
        "--api",
        "v3",
        "--trade-type",
        "NATIVE",
        "--out-trade-no",
        "M2-1",
        "--amount",
        "100",
        "--body",
        "Tea",
        "--notify-url",
        &url,
    ])
    .expect(0);
    (shop.emulator.core())
        .pay(
            "1900000110",
            "M2-1",
            &wxpay_ops::emulator::state::PayOptions::default(),
        )
        .unwrap();
    let (headers, body) = saved(&shop, &receiver, 0);
    let decrypted = shop
        .run(&[
            "notify",
            "decrypt",
            "--api",
            "v3",
            "--headers",
            &headers,
            &body,
        ])
        .expect(0)
        .json();
    assert_eq!(decrypted["fields"]["mchid"], "1900000110");
    // Its APIv3 key is its own: the default merchant's does not open its callback.
    let other = shop
        .emulator
        .cert_dir()
        .join("1900000109")
        .join("apiv3_key");
    let other = other.display().to_string();
    shop.run(&[
        "notify",
        "decrypt",
        "--api",
        "v3",
        "--headers",
        &headers,
        &body,
        "--apiv3-key-file",
        &other,
    ])
    .expect(4);
}
