//! `refund create|query`: mutual TLS with the PEM pair and the .p12, confirmations,
//! idempotent retries with the same out_refund_no, every page of a refund query.

use wxpay_ops::emulator::faults::FaultKind;
use wxpay_ops::emulator::merchant::DEFAULT_MCH_ID;

use crate::order::Shop;

/// A paid order of 1.00 yuan.
fn paid_order(shop: &Shop, out_trade_no: &str) -> String {
    shop.place(out_trade_no, "100");
    shop.pay(out_trade_no)
}

fn refund<'a>(out_trade_no: &'a str, amount: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "refund",
        "create",
        "--out-trade-no",
        out_trade_no,
        "--total",
        "100",
        "--refund",
        amount,
    ];
    args.extend_from_slice(more);
    args
}

#[test]
fn refunds_go_over_mutual_tls_with_the_p12_and_with_the_pem_pair() {
    let mut shop = Shop::new();
    paid_order(&shop, "M1");
    // The emulator's own profile names the .p12.
    let p12 = shop
        .run(&refund(
            "M1",
            "10",
            &["--out-refund-no", "P12REFUND", "--yes"],
        ))
        .expect(0)
        .json();
    assert_eq!(p12["out_refund_no"], "P12REFUND");
    assert_eq!(p12["refund_fee"], 10);
    assert_eq!(p12["refund_yuan"], "0.10");
    assert_eq!(p12["out_refund_no_generated"], false);

    let paths = shop.emulator.client_cert(DEFAULT_MCH_ID).unwrap();
    let (cert, key) = (paths.cert.clone(), paths.key.clone());
    shop.own_config(&format!(
        "cert_pem = \"{}\"\ncert_key_pem = \"{}\"\n",
        cert.display(),
        key.display()
    ));
    let pem = shop
        .run(&refund(
            "M1",
            "0.20yuan",
            &["--out-refund-no", "PEMREFUND", "-y"],
        ))
        .expect(0)
        .json();
    assert_eq!(pem["refund_fee"], 20);
    let refunds = shop.emulator.core().refunds();
    let numbers: Vec<&str> = refunds.iter().map(|r| r.out_refund_no.as_str()).collect();
    assert_eq!(numbers, ["P12REFUND", "PEMREFUND"]);

    // Without a certificate in the profile: refused before anything is sent.
    shop.own_config("");
    let before = shop.requests("/secapi/pay/refund");
    shop.run(&refund("M1", "10", &["--yes"]))
        .expect(2)
        .error_mentions("no merchant API certificate")
        .hint_mentions("cert_p12");
    assert_eq!(shop.requests("/secapi/pay/refund"), before);
}

#[test]
fn the_confirmation_shows_merchant_order_and_amounts_and_declining_sends_nothing() {
    let shop = Shop::new();
    paid_order(&shop, "C1");
    let declined = shop.run_in_terminal(&refund("C1", "30", &["--out-refund-no", "CR1"]), b"no\n");
    let declined = declined.expect(1);
    for shown in [
        DEFAULT_MCH_ID,
        "out_trade_no C1",
        "total 1.00 yuan (100 fen)",
        "0.30 yuan (30 fen) as out_refund_no CR1",
        "Refund 0.30 yuan (30 fen) of order C1?",
        "nothing was sent",
    ] {
        assert!(
            declined.stdout.contains(shown),
            "{shown:?} in:\n{}",
            declined.stdout
        );
    }
    assert_eq!(
        shop.requests("/secapi/pay/refund"),
        0,
        "declining sends nothing"
    );

    shop.run(&refund("C1", "30", &[]))
        .expect(2)
        .error_mentions("refunding order C1 needs confirmation")
        .hint_mentions("--yes");
    assert_eq!(shop.requests("/secapi/pay/refund"), 0);

    let accepted = shop.run_in_terminal(
        &[
            &["--format", "json"][..],
            &refund("C1", "30", &["--out-refund-no", "CR1"]),
        ]
        .concat(),
        b"y\n",
    );
    accepted.expect(0);
    assert_eq!(shop.requests("/secapi/pay/refund"), 1);
    assert_eq!(shop.emulator.core().refunds().len(), 1);
}

#[test]
fn a_generated_refund_number_is_printed_and_a_retry_with_it_refunds_once() {
    let shop = Shop::new();
    let transaction_id = paid_order(&shop, "G1");
    let first = shop
        .run(&[
            "refund",
            "create",
            "--transaction-id",
            &transaction_id,
            "--total",
            "100",
            "--refund",
            "40",
            "--reason",
            "damaged",
            "--yes",
        ])
        .expect(0);
    let json = first.json();
    assert_eq!(json["out_refund_no_generated"], true);
    let number = json["out_refund_no"].as_str().unwrap().to_owned();
    assert!(number.starts_with('R') && number.len() <= 64, "{number}");
    assert!(
        first
            .stderr
            .contains(&format!("pass --out-refund-no {number}")),
        "{}",
        first.stderr
    );
    let again = shop
        .run(&refund("G1", "40", &["--out-refund-no", &number, "--yes"]))
        .expect(0)
        .json();
    assert_eq!(again["refund_id"], json["refund_id"], "the same refund");
    assert_eq!(shop.emulator.core().refunds().len(), 1, "refunded once");
}

/// Runs a refund against a fault; the output and the attempts it made.
fn refund_with_fault(shop: &Shop, kind: FaultKind, count: u32) -> (crate::common::Output, usize) {
    let before = shop.requests("/secapi/pay/refund");
    shop.fault("/secapi/pay/refund", count, kind);
    let out = shop.run(&refund(
        "F1",
        "10",
        &["--out-refund-no", "FR1", "--yes", "-v"],
    ));
    shop.emulator.core().clear_faults();
    (out, shop.requests("/secapi/pay/refund") - before)
}

#[test]
fn refund_faults_resend_only_the_identical_request_and_say_how_to_retry() {
    let shop = Shop::new();
    paid_order(&shop, "F1");
    for kind in [
        FaultKind::Http500,
        FaultKind::Drop,
        FaultKind::Truncate,
        FaultKind::MalformedXml,
    ] {
        let (out, attempts) = refund_with_fault(&shop, kind.clone(), 5);
        let out = out.expect(75);
        assert_eq!(
            attempts, 1,
            "{kind:?}: a refund is not resent after a lost answer"
        );
        assert!(
            out.stderr.contains("may or may not have acted"),
            "{}",
            out.stderr
        );
        out.hint_mentions("safe to run again with --out-refund-no FR1");
    }
    let (out, attempts) = refund_with_fault(&shop, FaultKind::BadSign, 5);
    let out = out.expect(4);
    assert!(out.stdout.is_empty());
    assert_eq!(attempts, 1);
    out.hint_mentions("--out-refund-no FR1");

    let (out, attempts) = refund_with_fault(&shop, FaultKind::SystemError, 5);
    out.expect(75).hint_mentions("--out-refund-no FR1");
    assert_eq!(
        attempts, 3,
        "SYSTEMERROR: the identical request, twice more"
    );

    // The refund went through on one of the earlier attempts; the same number refunds once.
    let (out, attempts) = refund_with_fault(&shop, FaultKind::SystemError, 1);
    assert_eq!(out.expect(0).json()["out_refund_no"], "FR1");
    assert_eq!(attempts, 2);
    let refunds = shop.emulator.core().refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].refund_fee, 10);
}

#[test]
fn refund_query_finds_refunds_by_each_key_and_reads_every_page() {
    let shop = Shop::new();
    let transaction_id = paid_order(&shop, "Q1");
    for n in 0..12 {
        shop.run(&refund(
            "Q1",
            "1",
            &["--out-refund-no", &format!("QR{n:02}"), "--yes"],
        ))
        .expect(0);
    }
    let all = shop
        .run(&[
            "refund",
            "query",
            "--out-trade-no",
            "Q1",
            "--expect",
            "SUCCESS",
        ])
        .expect(0)
        .json();
    let refunds = all["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 12, "two pages of 10 and 2");
    assert_eq!(all["refund_count"], 12);
    let numbers: Vec<&str> = refunds
        .iter()
        .map(|r| r["out_refund_no"].as_str().unwrap())
        .collect();
    assert_eq!(numbers[0], "QR00");
    assert_eq!(numbers[11], "QR11");
    assert_eq!(all["refunded_fee"], 12);
    assert!(
        shop.requests("/pay/refundquery") >= 2,
        "the second page was asked for with offset"
    );
    let by_transaction = shop
        .run(&["refund", "query", "--transaction-id", &transaction_id])
        .expect(0)
        .json();
    assert_eq!(by_transaction["refunds"].as_array().unwrap().len(), 12);
    let one = shop
        .run(&["refund", "query", "--out-refund-no", "QR05"])
        .expect(0)
        .json();
    let refund_id = one["refunds"][0]["refund_id"].as_str().unwrap().to_owned();
    assert_eq!(one["refunds"][0]["refund_status"], "SUCCESS");
    let by_id = shop
        .run(&["refund", "query", "--refund-id", &refund_id])
        .expect(0)
        .json();
    assert_eq!(by_id["refunds"][0]["out_refund_no"], "QR05");

    let csv = shop
        .run(&["--format", "csv", "refund", "query", "--out-trade-no", "Q1"])
        .expect(0);
    let mut reader = csv::Reader::from_reader(csv.stdout.as_bytes());
    assert_eq!(&reader.headers().unwrap()[2], "refund_status");
    assert_eq!(reader.records().count(), 12);

    shop.run(&["refund", "query", "--out-refund-no", "NOPE"])
        .expect(3)
        .error_mentions("REFUNDNOTEXIST");
    shop.run(&[
        "refund",
        "query",
        "--out-trade-no",
        "Q1",
        "--expect",
        "CHANGE",
    ])
    .expect(1);
    shop.run(&["refund", "query"]).expect(2);
    shop.run(&[
        "refund",
        "query",
        "--out-trade-no",
        "Q1",
        "--refund-id",
        "1",
    ])
    .expect(2);
}

#[test]
fn refunds_in_the_sandbox_use_the_sandbox_paths() {
    let shop = Shop::new();
    shop.run(&[
        "order",
        "create",
        "--sandbox",
        "--trade-type",
        "APP",
        "--out-trade-no",
        "SB1",
        "--amount",
        "100",
        "--body",
        "b",
        "--notify-url",
        crate::order::NOTIFY,
    ])
    .expect(0);
    let accepted = shop
        .run(&refund("SB1", "100", &["--sandbox", "--yes"]))
        .expect(0)
        .json();
    assert_eq!(accepted["sandbox"], true);
    assert_eq!(shop.requests("/sandboxnew/secapi/pay/refund"), 1);
    let listed = shop
        .run(&["refund", "query", "--sandbox", "--out-trade-no", "SB1"])
        .expect(0)
        .json();
    assert_eq!(listed["refunds"].as_array().unwrap().len(), 1);
}

/// The next `count` refund requests for `out_refund_no` answer with `err_code`.
fn refuse_refund(shop: &Shop, out_refund_no: &str, err_code: &str, count: u32) {
    shop.emulator
        .core()
        .add_outcome(
            serde_json::from_value(serde_json::json!({
                "out_refund_no": out_refund_no,
                "err_code": err_code,
                "count": count,
            }))
            .unwrap(),
        )
        .unwrap();
}

/// The SHA-256 of each refund request's body the emulator saw since `since` requests.
fn refund_bodies(shop: &Shop, since: usize) -> Vec<String> {
    shop.emulator
        .core()
        .request_log()
        .iter()
        .skip(since)
        .filter(|entry| entry.path == "/secapi/pay/refund")
        .map(|entry| entry.body_sha256.clone())
        .collect()
}

/// Refunds 10 of order `order` as `out_refund_no`: the output, and the bodies sent.
fn refund_once(
    shop: &Shop,
    order: &str,
    out_refund_no: &str,
    more: &[&str],
) -> (crate::common::Output, Vec<String>) {
    let before = shop.emulator.core().request_log().len();
    let mut args = vec!["--out-refund-no", out_refund_no, "--yes"];
    args.extend_from_slice(more);
    let out = shop.run(&refund(order, "10", &args));
    (out, refund_bodies(shop, before))
}

#[test]
fn final_refund_err_codes_are_sent_once_and_say_what_to_do() {
    let shop = Shop::new();
    paid_order(&shop, "E1");
    for (code, exit, hint) in [
        ("NOTENOUGH", 3, "top up the merchant account's balance"),
        (
            "USER_ACCOUNT_ABNORMAL",
            3,
            "refund the customer another way",
        ),
        ("TRADE_OVERDUE", 3, "refund the customer another way"),
        (
            "FREQUENCY_LIMITED",
            75,
            "safe to run again with --out-refund-no",
        ),
        (
            "INVALID_REQ_TOO_MUCH",
            75,
            "safe to run again with --out-refund-no",
        ),
    ] {
        let number = format!("E1-{code}");
        // Outcomes for several requests: a retry would meet the same code and be counted.
        refuse_refund(&shop, &number, code, 5);
        let (out, bodies) = refund_once(&shop, "E1", &number, &[]);
        let out = out.expect(exit);
        assert_eq!(bodies.len(), 1, "{code}: sent once, never retried");
        let error = out
            .stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap();
        assert!(error.contains(code), "{error}");
        out.hint_mentions(hint);
        shop.emulator.core().clear_outcomes();
        assert!(
            shop.emulator
                .core()
                .refunds()
                .iter()
                .all(|r| r.out_refund_no != number),
            "{code}: no refund was made"
        );
    }
    // NOTENOUGH: after topping up, the very same command refunds (once).
    let (out, _) = refund_once(&shop, "E1", "E1-NOTENOUGH", &[]);
    assert_eq!(out.expect(0).json()["out_refund_no"], "E1-NOTENOUGH");
}

#[test]
fn bizerr_need_retry_resends_the_identical_request_a_bounded_number_of_times() {
    let shop = Shop::new();
    paid_order(&shop, "B1");
    // Once: the identical request again, which passes.
    refuse_refund(&shop, "B1-R1", "BIZERR_NEED_RETRY", 1);
    let (out, bodies) = refund_once(&shop, "B1", "B1-R1", &["-v"]);
    let out = out.expect(0);
    assert_eq!(out.json()["out_refund_no"], "B1-R1");
    assert_eq!(bodies.len(), 2, "one retry");
    assert_eq!(
        bodies[0], bodies[1],
        "the retry is the identical request, byte for byte"
    );
    assert!(out.stderr.contains("attempt 1: "), "{}", out.stderr);
    assert!(out.stderr.contains("BIZERR_NEED_RETRY"), "{}", out.stderr);
    let refunds = shop.emulator.core().refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].refund_fee, 10);

    // Persistently: three attempts in all (--retries 2 by default), then exit 75.
    refuse_refund(&shop, "B1-R2", "BIZERR_NEED_RETRY", 10);
    let (out, bodies) = refund_once(&shop, "B1", "B1-R2", &[]);
    let out = out.expect(75);
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "never a changed request"
    );
    out.error_mentions("BIZERR_NEED_RETRY")
        .error_mentions("3 attempts")
        .hint_mentions("safe to run again with --out-refund-no B1-R2");
    assert_eq!(shop.emulator.core().refunds().len(), 1, "nothing refunded");

    // --retries bounds it.
    let (out, bodies) = refund_once(&shop, "B1", "B1-R2", &["--retries", "0"]);
    out.expect(75);
    assert_eq!(bodies.len(), 1);
    shop.emulator.core().clear_outcomes();
    // Run again as the hint says: the same number refunds once.
    let (out, _) = refund_once(&shop, "B1", "B1-R2", &[]);
    out.expect(0);
    assert_eq!(shop.emulator.core().refunds().len(), 2);
}

#[test]
fn refunds_that_end_in_change_or_refundclose_are_warned_about() {
    let shop = Shop::new();
    paid_order(&shop, "W1");
    for (number, status) in [("W1-C", "CHANGE"), ("W1-X", "REFUNDCLOSE")] {
        shop.emulator
            .core()
            .add_outcome(
                serde_json::from_value(serde_json::json!({
                    "out_refund_no": number,
                    "refund_status": status,
                }))
                .unwrap(),
            )
            .unwrap();
        shop.run(&refund("W1", "10", &["--out-refund-no", number, "--yes"]))
            .expect(0);
        let query = shop
            .run(&["refund", "query", "--out-refund-no", number])
            .expect(0);
        assert_eq!(query.json()["refunds"][0]["refund_status"], status);
        let warning = query
            .stderr
            .lines()
            .find(|l| l.starts_with("warning: "))
            .unwrap_or_else(|| panic!("a warning for {status}:\n{}", query.stderr));
        assert!(
            warning.contains(number) && warning.contains(status),
            "{warning}"
        );
        let expect = shop
            .run(&[
                "refund",
                "query",
                "--out-refund-no",
                number,
                "--expect",
                "SUCCESS",
            ])
            .expect(1);
        assert!(expect.stderr.contains("not SUCCESS"), "{}", expect.stderr);
    }
    let change = shop
        .run(&["refund", "query", "--out-refund-no", "W1-C"])
        .stderr;
    assert!(change.contains("merchant console"), "{change}");
    let closed = shop
        .run(&["refund", "query", "--out-refund-no", "W1-X"])
        .stderr;
    assert!(closed.contains("new out_refund_no"), "{closed}");
    // A successful refund of the same order gives no warning.
    shop.run(&refund("W1", "10", &["--out-refund-no", "W1-S", "--yes"]))
        .expect(0);
    let fine = shop
        .run(&[
            "refund",
            "query",
            "--out-refund-no",
            "W1-S",
            "--expect",
            "SUCCESS",
        ])
        .expect(0);
    assert!(!fine.stderr.contains("warning"), "{}", fine.stderr);
}

#[test]
fn a_closed_refund_is_listed_but_counts_no_money() {
    let shop = Shop::new();
    paid_order(&shop, "X1");
    shop.emulator
        .core()
        .add_outcome(
            serde_json::from_value(serde_json::json!({
                "out_refund_no": "X1-A",
                "refund_status": "REFUNDCLOSE",
            }))
            .unwrap(),
        )
        .unwrap();
    shop.run(&refund("X1", "60", &["--out-refund-no", "X1-A", "--yes"]))
        .expect(0);
    shop.run(&refund("X1", "30", &["--out-refund-no", "X1-B", "--yes"]))
        .expect(0);
    let query = shop
        .run(&[
            "--format",
            "json",
            "refund",
            "query",
            "--out-trade-no",
            "X1",
        ])
        .expect(0)
        .json();
    let listed: Vec<(&str, &str, i64)> = query["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["out_refund_no"].as_str().unwrap(),
                r["refund_status"].as_str().unwrap(),
                r["refund_fee"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("X1-A", "REFUNDCLOSE", 60), ("X1-B", "SUCCESS", 30)]
    );
    assert_eq!(query["refunded_fee"], 30, "{query}");
    // What is left to refund is the 70 fen the closed refund never moved.
    shop.run(&refund("X1", "70", &["--out-refund-no", "X1-C", "--yes"]))
        .expect(0);
    shop.run(&refund("X1", "1", &["--out-refund-no", "X1-D", "--yes"]))
        .expect(3);
}

#[test]
fn a_coupon_order_refunds_in_cash_and_coupon_and_the_output_shows_both() {
    let shop = Shop::new();
    shop.place("CP1", "500");
    // The customer pays 500 with a coupon of 100 (a 免充值券, NO_CASH), on the control plane.
    let paid = reqwest::blocking::Client::new()
        .post(format!(
            "{}/__emulator/orders/pay",
            shop.emulator.base_url()
        ))
        .json(&serde_json::json!({"out_trade_no": "CP1", "coupon_fee": 100}))
        .send()
        .unwrap();
    assert_eq!(paid.status().as_u16(), 200);

    let accepted = shop.run(&[
        "refund",
        "create",
        "--out-trade-no",
        "CP1",
        "--total",
        "500",
        "--refund",
        "120",
        "--out-refund-no",
        "CP1-R1",
        "--yes",
    ]);
    let accepted = accepted.expect(0);
    let json = accepted.json();
    // Reference A8: the refund splits in proportion, 120 × 100/500 = 24 in coupon.
    assert_eq!(json["refund_fee"], 120);
    assert_eq!(json["total_fee"], 500);
    assert_eq!(json["settlement_total_fee"], 400);
    assert_eq!(json["cash_fee"], 400);
    assert_eq!(json["cash_refund_fee"], 96);
    assert_eq!(json["settlement_refund_fee"], 96);
    assert_eq!(json["coupon_refund_fee"], 24);
    let coupons = json["coupons"].as_array().unwrap();
    assert_eq!(coupons.len(), 1);
    assert_eq!(coupons[0]["coupon_type"], "NO_CASH");
    assert_eq!(coupons[0]["coupon_refund_fee"], 24);
    assert!(coupons[0]["coupon_refund_id"].is_string());
    assert!(
        accepted
            .stderr
            .contains("0.96 yuan (96 fen) in cash and 0.24 yuan (24 fen) in coupons;"),
        "{}",
        accepted.stderr
    );

    let listed = shop
        .run(&["refund", "query", "--out-trade-no", "CP1"])
        .expect(0)
        .json();
    assert_eq!(listed["total_fee"], 500);
    assert_eq!(listed["settlement_total_fee"], 400);
    let one = &listed["refunds"][0];
    assert_eq!(one["refund_fee"], 120);
    assert_eq!(one["cash_refund_fee"], 96);
    assert_eq!(one["coupon_refund_fee"], 24);
    assert_eq!(one["settlement_refund_fee"], 96);
    assert_eq!(one["coupons"][0]["coupon_type"], "NO_CASH");
    assert_eq!(one["coupons"][0]["coupon_refund_fee"], 24);
    assert_eq!(
        one["extra"],
        serde_json::json!({}),
        "every coupon field is read"
    );

    // The table and CSV, which ops staff read, show the split too.
    let csv = shop
        .run(&[
            "--format",
            "csv",
            "refund",
            "query",
            "--out-refund-no",
            "CP1-R1",
        ])
        .expect(0);
    let mut reader = csv::Reader::from_reader(csv.stdout.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| &row[headers.iter().position(|h| h == name).unwrap()];
    assert_eq!(cell("refund_fee"), "120");
    assert_eq!(cell("cash_refund_fee"), "96");
    assert_eq!(cell("coupon_refund_fee"), "24");
    assert_eq!(cell("settlement_refund_fee"), "96");

    // The refund that completes the order takes what is left of the coupon: 76 of 380.
    let rest = shop
        .run(&[
            "refund",
            "create",
            "--out-trade-no",
            "CP1",
            "--total",
            "500",
            "--refund",
            "380",
            "--out-refund-no",
            "CP1-R2",
            "--yes",
        ])
        .expect(0)
        .json();
    assert_eq!(rest["coupon_refund_fee"], 76);
    assert_eq!(rest["cash_refund_fee"], 304);
}

/// A signed SUCCESS that lists no refund meets no expectation about refunds.
#[test]
fn an_expectation_about_no_refund_at_all_is_not_met() {
    use wxpay_ops::wechat::sign::set_sign;
    use wxpay_ops::wechat::{ApiKey, Message, SignType};

    let server = crate::common::FakeServer::start(|request| {
        let mut answer = Message::new();
        answer
            .set("return_code", "SUCCESS")
            .set("appid", request.get("appid").unwrap_or(""))
            .set("mch_id", request.get("mch_id").unwrap_or(""))
            .set("nonce_str", "n0nce")
            .set("result_code", "SUCCESS")
            .set("out_trade_no", request.get("out_trade_no").unwrap_or(""))
            .set("transaction_id", "4200000000000000000000000001")
            .set("total_fee", "100")
            .set("cash_fee", "100")
            .set("refund_fee", "0")
            .set("refund_count", "0");
        set_sign(
            &mut answer,
            &ApiKey::new(crate::common::DOC_KEY),
            SignType::Md5,
        );
        answer.to_xml()
    });
    let env = crate::common::Env::new();
    env.write_config(&format!(
        "[profiles.doc]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_env = \"TEST_API_KEY\"\napi_base = \"{}\"\n",
        server.base_url
    ));
    let query = [
        "refund",
        "query",
        "--out-trade-no",
        "Z1",
        "--format",
        "json",
    ];
    let listed = env.run(&query).expect(0).json();
    assert_eq!(listed["refunds"].as_array().unwrap().len(), 0, "{listed}");
    let mut expecting = query.to_vec();
    expecting.extend(["--expect", "SUCCESS"]);
    let out = env.run(&expecting).expect(1);
    assert!(out.stderr.contains("no refund"), "{}", out.stderr);
}
