//! `order create|query|close` and `order query --from-csv`, the real binary against an
//! in-process emulator: every flag, local refusals, faults and the attempts they cost.

use std::path::PathBuf;

use serde_json::Value;
use wxpay_ops::emulator::core::EmulatorOptions;
use wxpay_ops::emulator::faults::{Fault, FaultKind};
use wxpay_ops::emulator::merchant::{
    DEFAULT_API_KEY, DEFAULT_APPIDS, DEFAULT_MCH_ID, Merchant, SERVICE_PROVIDER_API_KEY,
    SERVICE_PROVIDER_APPID, SERVICE_PROVIDER_MCH_ID, SUB_APPID, SUB_MCH_ID,
};
use wxpay_ops::emulator::state::PayOptions;
use wxpay_ops::emulator::{Emulator, ServeOptions};
use wxpay_ops::wechat::paysign::{PayRequest, PayScene, pay_params};
use wxpay_ops::wechat::sign::verify;
use wxpay_ops::wechat::{ApiKey, Message, SignType};

use crate::common::{Env, Output};

pub const NOTIFY: &str = "http://127.0.0.1:9/notify";
pub const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";

/// An emulator, a clean home, and the profile the emulator wrote for its merchant (HTTPS,
/// its CA, the .p12).
pub struct Shop {
    pub emulator: Emulator,
    pub env: Env,
    pub config: PathBuf,
}

impl Shop {
    pub fn new() -> Shop {
        Shop::with_merchants(vec![Merchant::default_merchant()])
    }

    /// A shop whose emulator knows these merchants; the profile is the first one's.
    pub fn with_merchants(merchants: Vec<Merchant>) -> Shop {
        let emulator = Emulator::start(ServeOptions {
            core: EmulatorOptions {
                merchants,
                notify_time_factor: 0.001,
                refund_delay: time::Duration::ZERO,
                ..EmulatorOptions::default()
            },
            ..ServeOptions::default()
        })
        .expect("the emulator starts on free ports");
        let config = emulator.profile().to_owned();
        Shop {
            emulator,
            env: Env::new(),
            config,
        }
    }

    /// Runs wxpay-ops with this shop's config, checking that no key of the emulator's
    /// merchant (production or sandbox) is printed.
    pub fn run(&self, args: &[&str]) -> Output {
        self.checked(self.env.run(&self.with_config(args)))
    }

    pub fn run_in_terminal(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.checked(
            self.env
                .run_in_terminal(&self.with_config(args), Some(stdin)),
        )
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.checked(
            self.env
                .run_with_stdin(&self.with_config(args), Some(stdin)),
        )
    }

    fn with_config<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        all
    }

    fn checked(&self, output: Output) -> Output {
        for (mch_id, key) in [
            (DEFAULT_MCH_ID, DEFAULT_API_KEY),
            (SERVICE_PROVIDER_MCH_ID, SERVICE_PROVIDER_API_KEY),
        ] {
            // The emulator's sandbox key (merchant.rs): md5 of this, lower-case hex.
            use md5::{Digest, Md5};
            let digest = Md5::digest(format!("sandbox:{mch_id}:{key}"));
            let sandbox_key: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            for shown in [&output.stdout, &output.stderr] {
                assert!(!shown.contains(key), "the API key leaked:\n{shown}");
                assert!(
                    !shown.contains(&sandbox_key),
                    "the sandbox key leaked:\n{shown}"
                );
            }
        }
        let apiv3_key = wxpay_ops::emulator::v3::DEFAULT_MERCHANT_APIV3_KEY;
        for shown in [&output.stdout, &output.stderr] {
            assert!(!shown.contains(apiv3_key), "the APIv3 key leaked:\n{shown}");
        }
        output
    }

    /// How many requests went to a path ending with `path`.
    pub fn requests(&self, path: &str) -> usize {
        self.emulator
            .core()
            .request_log()
            .iter()
            .filter(|entry| entry.path.ends_with(path))
            .count()
    }

    pub fn fault(&self, path: &str, count: u32, kind: FaultKind) {
        self.emulator
            .core()
            .add_fault(Fault {
                path: path.into(),
                count,
                kind,
            })
            .unwrap();
    }

    /// A NATIVE order of `amount` fen, placed with the CLI.
    pub fn place(&self, out_trade_no: &str, amount: &str) {
        self.run(&[
            "order",
            "create",
            "--trade-type",
            "NATIVE",
            "--out-trade-no",
            out_trade_no,
            "--amount",
            amount,
            "--body",
            "Shop-Coffee",
            "--notify-url",
            NOTIFY,
        ])
        .expect(0);
    }

    /// Moves the emulator's clock on, as time passing would.
    pub fn later(&self, by: time::Duration) {
        self.emulator.core().clock.advance(by).unwrap();
    }

    pub fn pay(&self, out_trade_no: &str) -> String {
        let order = self
            .emulator
            .core()
            .pay(DEFAULT_MCH_ID, out_trade_no, &PayOptions::default())
            .unwrap();
        order.payment.unwrap().transaction_id
    }

    /// A config of our own in the home folder, for profiles the emulator does not write.
    pub fn own_config(&mut self, extra: &str) {
        let dir = self.emulator.cert_dir().to_str().unwrap().to_owned();
        let text = format!(
            "[profiles.own]\nmch_id = \"{DEFAULT_MCH_ID}\"\nappid = \"{}\"\napi_key_env = \"EMULATOR_KEY\"\n\
             api_base = \"{}\"\nca_cert = \"{dir}/ca_cert.pem\"\n{extra}\n",
            DEFAULT_APPIDS[0],
            self.emulator.tls_base_url(),
        );
        self.config = self.env.write_config(&text);
        self.env.set("EMULATOR_KEY", DEFAULT_API_KEY);
    }
}

/// A batch's JSON: one document, an array of rows.
fn parse_rows(stdout: &str) -> Vec<Value> {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn create_prints_the_prepay_result_and_pay_parameters_for_each_trade_type() {
    let shop = Shop::new();
    let jsapi = shop
        .run(&[
            "order",
            "create",
            "--trade-type",
            "jsapi",
            "--out-trade-no",
            "J1",
            "--amount",
            "12.34yuan",
            "--body",
            "Shop-Tea",
            "--openid",
            OPENID,
            "--notify-url",
            NOTIFY,
            "--attach",
            "table 4",
        ])
        .expect(0)
        .json();
    assert_eq!(jsapi["total_fee"], 1234);
    assert_eq!(jsapi["total_yuan"], "12.34");
    assert_eq!(jsapi["trade_type"], "JSAPI");
    let prepay_id = jsapi["prepay_id"].as_str().unwrap();
    let pay = &jsapi["pay_params"];
    assert_eq!(pay["package"], format!("prepay_id={prepay_id}"));
    // The paySign is the one the published algorithm gives for these fields.
    let timestamp: u64 = pay["timeStamp"].as_str().unwrap().parse().unwrap();
    let expected = pay_params(
        PayScene::Jsapi,
        &PayRequest {
            appid: DEFAULT_APPIDS[0],
            mch_id: DEFAULT_MCH_ID,
            prepay_id,
            timestamp,
            nonce: pay["nonceStr"].as_str().unwrap(),
            sign_type: SignType::Md5,
        },
        &ApiKey::new(DEFAULT_API_KEY),
    )
    .unwrap();
    assert_eq!(pay["paySign"], expected.last().unwrap().1);
    let order = shop.emulator.core().orders();
    let placed = order.iter().find(|o| o.out_trade_no == "J1").unwrap();
    assert_eq!(
        (placed.total_fee, placed.attach.as_str()),
        (1234, "table 4")
    );

    let mini = shop
        .run(&[
            "order",
            "create",
            "--trade-type",
            "JSAPI",
            "--out-trade-no",
            "J2",
            "--amount",
            "1",
            "--body",
            "b",
            "--openid",
            OPENID,
            "--notify-url",
            NOTIFY,
            "--pay-scene",
            "mini",
        ])
        .expect(0)
        .json();
    assert!(mini["pay_params"].get("appId").is_none(), "{mini}");
    assert!(mini["pay_params"]["paySign"].is_string());

    let app = shop
        .run(&[
            "order",
            "create",
            "--trade-type",
            "APP",
            "--out-trade-no",
            "A1",
            "--amount",
            "5",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
        ])
        .expect(0)
        .json();
    assert_eq!(app["pay_params"]["partnerid"], DEFAULT_MCH_ID);
    assert_eq!(app["pay_params"]["package"], "Sign=WXPay");

    let mweb = shop
        .run(&[
            "order",
            "create",
            "--trade-type",
            "MWEB",
            "--out-trade-no",
            "M1",
            "--amount",
            "5",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
            "--scene-info",
            r#"{"h5_info":{"type":"Wap","wap_url":"https://shop.example","wap_name":"Shop"}}"#,
        ])
        .expect(0)
        .json();
    assert!(mweb["mweb_url"].as_str().unwrap().starts_with("https://"));
    assert!(mweb["pay_params"].is_null());

    // With --expire-in, time_expire is sent; --expire-at repeats exactly.
    let expiring = shop
        .run(&[
            "order",
            "create",
            "--trade-type",
            "APP",
            "--out-trade-no",
            "E1",
            "--amount",
            "5",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
            "--expire-in",
            "30m",
        ])
        .expect(0)
        .json();
    let at = expiring["time_expire"].as_str().unwrap().to_owned();
    assert_eq!(at.len(), 14);
    let again = shop
        .run(&[
            "order",
            "create",
            "--trade-type",
            "APP",
            "--out-trade-no",
            "E1",
            "--amount",
            "5",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
            "--expire-at",
            &at,
        ])
        .expect(0)
        .json();
    assert_eq!(again["prepay_id"], expiring["prepay_id"], "the same order");
}

#[test]
fn native_orders_draw_their_qr_code_on_a_terminal_and_into_a_png() {
    let shop = Shop::new();
    let png = shop.env.path("qr.png");
    let json = shop
        .run(&[
            "order",
            "create",
            "--trade-type",
            "NATIVE",
            "--out-trade-no",
            "N1",
            "--amount",
            "100",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
            "--qr-png",
            png.to_str().unwrap(),
        ])
        .expect(0)
        .json();
    assert!(
        json["code_url"]
            .as_str()
            .unwrap()
            .starts_with("weixin://wxpay/bizpayurl?pr=")
    );
    let image = std::fs::read(&png).unwrap();
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"));
    let width = u32::from_be_bytes(image[16..20].try_into().unwrap());
    assert!(
        width >= 21 * 8,
        "at least a version-1 code at 8 px a module: {width}"
    );
    assert!(!json.to_string().contains('█'), "no drawing in JSON");

    let terminal = shop.run_in_terminal(
        &[
            "order",
            "create",
            "--trade-type",
            "NATIVE",
            "--out-trade-no",
            "N2",
            "--amount",
            "100",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
        ],
        b"",
    );
    let terminal = terminal.expect(0);
    assert!(terminal.stdout.contains("code_url"), "{}", terminal.stdout);
    assert!(
        terminal.stdout.lines().filter(|l| l.contains('█')).count() > 10,
        "{}",
        terminal.stdout
    );
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let shop = Shop::new();
    let create = |no: &str, amount: &str, more: &[&str]| {
        let mut args = vec![
            "order",
            "create",
            "--trade-type",
            "NATIVE",
            "--out-trade-no",
            no,
            "--amount",
            amount,
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
        ];
        args.extend_from_slice(more);
        shop.run(&args)
    };
    create("has space", "1", &[])
        .expect(2)
        .error_mentions("out_trade_no")
        .hint_mentions("nothing was sent");
    create("订单1", "1", &[])
        .expect(2)
        .error_mentions("out_trade_no");
    create(&"x".repeat(33), "1", &[]).expect(2);
    create("T1", "0", &[])
        .expect(2)
        .error_mentions("not more than zero");
    create("T1", "-5", &[]).expect(2);
    create("T1", "1.5", &[])
        .expect(2)
        .error_mentions("12.34yuan");
    create("T1", "0.001yuan", &[])
        .expect(2)
        .error_mentions("fen");
    create("T1", "1", &["--trade-type", "JSAPI"]).expect(2);
    shop.run(&[
        "order",
        "create",
        "--trade-type",
        "JSAPI",
        "--out-trade-no",
        "T1",
        "--amount",
        "1",
        "--body",
        "b",
        "--notify-url",
        NOTIFY,
    ])
    .expect(2)
    .error_mentions("openid");
    shop.run(&[
        "order",
        "create",
        "--trade-type",
        "MWEB",
        "--out-trade-no",
        "T1",
        "--amount",
        "1",
        "--body",
        "b",
        "--notify-url",
        NOTIFY,
    ])
    .expect(2)
    .error_mentions("scene_info");
    create("T1", "1", &["--expire-in", "1m"])
        .expect(2)
        .error_mentions("5m");
    shop.run(&["order", "query", "--out-trade-no", "a/b"])
        .expect(2);
    shop.run(&["order", "close", "--out-trade-no", "a b", "--yes"])
        .expect(2);
    shop.run(&[
        "refund",
        "create",
        "--out-trade-no",
        "T1",
        "--total",
        "100",
        "--refund",
        "101",
        "--yes",
    ])
    .expect(2)
    .error_mentions("larger than the order");
    shop.run(&[
        "refund",
        "create",
        "--out-trade-no",
        "T1",
        "--total",
        "100",
        "--refund",
        "0",
        "--yes",
    ])
    .expect(2);
    assert!(
        shop.emulator.core().request_log().is_empty(),
        "nothing was sent"
    );
}

#[test]
fn query_shows_state_amounts_and_times_and_expect_gives_exit_1() {
    let shop = Shop::new();
    shop.place("Q1", "250");
    let unpaid = shop
        .run(&["order", "query", "--out-trade-no", "Q1"])
        .expect(0)
        .json();
    assert_eq!(unpaid["trade_state"], "NOTPAY");
    assert_eq!(unpaid["total_fee"], 250);
    assert!(unpaid["paid_at"].is_null());
    let unmet = shop.run(&[
        "order",
        "query",
        "--out-trade-no",
        "Q1",
        "--expect",
        "success",
    ]);
    let unmet = unmet.expect(1);
    assert_eq!(unmet.json()["trade_state"], "NOTPAY");
    assert!(
        unmet.stderr.contains("NOTPAY, not SUCCESS"),
        "{}",
        unmet.stderr
    );

    let transaction_id = shop.pay("Q1");
    let paid = shop
        .run(&[
            "order",
            "query",
            "--transaction-id",
            &transaction_id,
            "--expect",
            "SUCCESS",
        ])
        .expect(0)
        .json();
    assert_eq!(paid["out_trade_no"], "Q1");
    assert_eq!(paid["cash_fee"], 250);
    assert!(paid["paid_at"].as_str().unwrap().ends_with("+08:00"));
    // Fields we have no name for are kept.
    assert_eq!(paid["extra"]["fee_type"], "CNY");

    shop.run(&["order", "query", "--out-trade-no", "NOPE"])
        .expect(3)
        .error_mentions("ORDERNOTEXIST");
    shop.run(&["order", "query", "--expect", "SUCCESS"])
        .expect(2);
    shop.run(&["order", "query", "--out-trade-no", "Q1", "--expect", "DONE"])
        .expect(2);
    let table = shop
        .run(&["--format", "csv", "order", "query", "--out-trade-no", "Q1"])
        .expect(0);
    let mut reader = csv::Reader::from_reader(table.stdout.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let state = header.iter().position(|h| h == "trade_state").unwrap();
    assert_eq!(&row[state], "SUCCESS");
}

#[test]
fn close_asks_on_a_terminal_and_explains_paid_and_unknown_orders() {
    let shop = Shop::new();
    shop.place("C1", "100");
    // WeChat Pay closes an order no sooner than 5 minutes after it was placed.
    shop.later(time::Duration::minutes(5));
    let before = shop.requests("/pay/closeorder");
    shop.run(&["order", "close", "--out-trade-no", "C1"])
        .expect(2)
        .error_mentions("confirmation")
        .hint_mentions("--yes");
    let declined = shop.run_in_terminal(&["order", "close", "--out-trade-no", "C1"], b"n\n");
    let declined = declined.expect(1);
    assert!(
        declined.stdout.contains("Close order C1?"),
        "{}",
        declined.stdout
    );
    assert!(
        declined.stdout.contains("nothing was sent"),
        "{}",
        declined.stdout
    );
    assert_eq!(
        shop.requests("/pay/closeorder"),
        before,
        "declining sends nothing"
    );

    let accepted = shop.run_in_terminal(
        &["--format", "json", "order", "close", "--out-trade-no", "C1"],
        b"y\n",
    );
    accepted.expect(0);
    assert_eq!(shop.requests("/pay/closeorder"), before + 1);
    let state = shop
        .run(&["order", "query", "--out-trade-no", "C1"])
        .expect(0)
        .json();
    assert_eq!(state["trade_state"], "CLOSED");

    let again = shop
        .run(&["order", "close", "--out-trade-no", "C1", "--yes"])
        .expect(0);
    assert_eq!(again.json()["already_closed"], true);
    assert!(again.stderr.contains("already closed"), "{}", again.stderr);

    shop.place("C2", "100");
    shop.pay("C2");
    shop.run(&["order", "close", "--out-trade-no", "C2", "--yes"])
        .expect(3)
        .error_mentions("ORDERPAID")
        .hint_mentions("already paid")
        .hint_mentions("refund create --out-trade-no C2");
    shop.run(&["order", "close", "--out-trade-no", "C3", "-y"])
        .expect(3)
        .error_mentions("ORDERNOTEXIST")
        .hint_mentions("never placed");
}

#[test]
fn an_order_closed_within_five_minutes_is_refused_unless_the_emulator_allows_it() {
    let shop = Shop::new();
    shop.place("E1", "100");
    shop.run(&["order", "close", "--out-trade-no", "E1", "--yes"])
        .expect(3)
        .error_mentions("TRADE_STATE_ERROR")
        .hint_mentions("no sooner than 5 minutes after it was placed");
    let state = shop
        .run(&["order", "query", "--out-trade-no", "E1"])
        .expect(0)
        .json();
    assert_eq!(state["trade_state"], "NOTPAY");

    // Tests that must close at once switch the rule off on the control plane.
    let settings = format!("{}/__emulator/settings", shop.emulator.base_url());
    let http = reqwest::blocking::Client::new();
    let switched: Value = http
        .post(&settings)
        .body(r#"{"allow_early_close": true}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        switched,
        serde_json::json!({"allow_early_close": true, "v3_signing": "public_key", "v3_probe": false})
    );
    let shown: Value = http.get(&settings).send().unwrap().json().unwrap();
    assert_eq!(shown["allow_early_close"], true);
    shop.run(&["order", "close", "--out-trade-no", "E1", "--yes"])
        .expect(0);
    let refused = http
        .post(&settings)
        .body(r#"{"early": true}"#)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
}

#[test]
fn dry_run_prints_the_signed_request_and_sends_nothing() {
    let shop = Shop::new();
    let key = ApiKey::new(DEFAULT_API_KEY);
    let check = |args: &[&str], path: &str| -> Value {
        let out = shop.run(args).expect(0);
        assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
        let json = out.json();
        assert!(json["url"].as_str().unwrap().ends_with(path), "{json}");
        let message = Message::parse(json["body"].as_str().unwrap().as_bytes()).unwrap();
        assert!(verify(&message, &key, Some(SignType::Md5)).unwrap().valid);
        json
    };
    let create = check(
        &[
            "order",
            "create",
            "--trade-type",
            "NATIVE",
            "--out-trade-no",
            "D1",
            "--amount",
            "1yuan",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
            "--dry-run",
        ],
        "/pay/unifiedorder",
    );
    assert_eq!(create["fields"]["total_fee"], "100");
    assert_eq!(create["fields"]["product_id"], "D1");
    check(
        &["order", "query", "--out-trade-no", "D1", "--dry-run"],
        "/pay/orderquery",
    );
    check(
        &["order", "close", "--out-trade-no", "D1", "--dry-run"],
        "/pay/closeorder",
    );
    let refund = check(
        &[
            "refund",
            "create",
            "--out-trade-no",
            "D1",
            "--total",
            "100",
            "--refund",
            "1",
            "--dry-run",
        ],
        "/secapi/pay/refund",
    );
    assert_eq!(refund["client_certificate"], true);
    check(
        &["refund", "query", "--out-trade-no", "D1", "--dry-run"],
        "/pay/refundquery",
    );
    assert!(shop.emulator.core().request_log().is_empty());

    // On a terminal: the request line, then the XML as it would be sent.
    let terminal = shop.run_in_terminal(
        &["order", "query", "--out-trade-no", "D1", "--dry-run"],
        b"",
    );
    let terminal = terminal.expect(0);
    assert!(
        terminal.stdout.contains("POST https://127.0.0.1:"),
        "{}",
        terminal.stdout
    );
    assert!(
        terminal
            .stdout
            .contains("<out_trade_no><![CDATA[D1]]></out_trade_no>"),
        "{}",
        terminal.stdout
    );
}

/// Runs an order query against a fault and returns the output and the attempts it made.
fn query_with_fault(shop: &Shop, kind: FaultKind, count: u32, more: &[&str]) -> (Output, usize) {
    let before = shop.requests("/pay/orderquery");
    shop.fault("/pay/orderquery", count, kind);
    let mut args = vec!["order", "query", "--out-trade-no", "F1", "-v"];
    args.extend_from_slice(more);
    let out = shop.run(&args);
    shop.emulator.core().clear_faults();
    (out, shop.requests("/pay/orderquery") - before)
}

#[test]
fn query_faults_give_the_right_exit_code_and_attempts() {
    let shop = Shop::new();
    shop.place("F1", "100");
    let (out, attempts) = query_with_fault(&shop, FaultKind::Http500, 5, &[]);
    out.expect(75).hint_mentions("safe to run again");
    assert_eq!(attempts, 3, "a query is retried: 1 + 2 retries");

    let (out, attempts) = query_with_fault(&shop, FaultKind::Drop, 5, &[]);
    let out = out.expect(75);
    assert_eq!(attempts, 3);
    assert!(
        out.stderr.contains("attempt 1:") && out.stderr.contains("attempt 3:"),
        "{}",
        out.stderr
    );

    let (out, attempts) = query_with_fault(&shop, FaultKind::Truncate, 5, &["--retries", "1"]);
    out.expect(75);
    assert_eq!(attempts, 2);

    let (out, attempts) = query_with_fault(
        &shop,
        FaultKind::Delay { ms: 3000 },
        5,
        &["--timeout", "0.3", "--retries", "0"],
    );
    let out = out.expect(75);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    assert_eq!(attempts, 1);

    let (out, attempts) = query_with_fault(&shop, FaultKind::MalformedXml, 5, &[]);
    out.expect(75);
    assert_eq!(
        attempts, 1,
        "an answer that came whole but garbled is not resent"
    );

    let (out, attempts) = query_with_fault(&shop, FaultKind::BadSign, 5, &[]);
    let out = out.expect(4);
    assert!(
        out.stdout.is_empty(),
        "nothing printed as valid: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("sign does not verify"),
        "{}",
        out.stderr
    );
    assert_eq!(attempts, 1);

    let (out, attempts) = query_with_fault(&shop, FaultKind::SystemError, 5, &[]);
    out.expect(75).hint_mentions("safe to run again");
    assert_eq!(attempts, 3);

    // A passing SYSTEMERROR: the second attempt answers.
    let (out, attempts) = query_with_fault(&shop, FaultKind::SystemError, 1, &[]);
    assert_eq!(out.expect(0).json()["trade_state"], "NOTPAY");
    assert_eq!(attempts, 2);
}

#[test]
fn changes_are_resent_only_after_systemerror() {
    let shop = Shop::new();
    let create = |no: &str| {
        shop.run(&[
            "order",
            "create",
            "--trade-type",
            "APP",
            "--out-trade-no",
            no,
            "--amount",
            "5",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
        ])
    };
    for kind in [FaultKind::Http500, FaultKind::Drop, FaultKind::Truncate] {
        let before = shop.requests("/pay/unifiedorder");
        shop.fault("/pay/unifiedorder", 5, kind.clone());
        let out = create("U1").expect(75);
        shop.emulator.core().clear_faults();
        assert_eq!(
            shop.requests("/pay/unifiedorder") - before,
            1,
            "{kind:?} is not resent"
        );
        assert!(
            out.stderr.contains("may or may not have acted"),
            "{}",
            out.stderr
        );
        out.hint_mentions("safe to run again with --out-trade-no U1");
    }
    let before = shop.requests("/pay/unifiedorder");
    shop.fault("/pay/unifiedorder", 1, FaultKind::SystemError);
    create("U1").expect(0);
    assert_eq!(shop.requests("/pay/unifiedorder") - before, 2);

    shop.place("U2", "100");
    shop.later(time::Duration::minutes(5));
    let before = shop.requests("/pay/closeorder");
    shop.fault("/pay/closeorder", 5, FaultKind::SystemError);
    shop.run(&["order", "close", "--out-trade-no", "U2", "--yes"])
        .expect(75)
        .hint_mentions("safe to run again");
    assert_eq!(shop.requests("/pay/closeorder") - before, 3);
    shop.fault("/pay/closeorder", 1, FaultKind::BadSign);
    shop.run(&["order", "close", "--out-trade-no", "U2", "--yes"])
        .expect(4);
}

#[test]
fn the_backup_host_takes_over_when_the_first_cannot_be_reached() {
    let mut shop = Shop::new();
    // Nothing listens on a port we just had and gave back.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cert = shop
        .emulator
        .client_cert(DEFAULT_MCH_ID)
        .unwrap()
        .p12
        .clone();
    shop.own_config(&format!(
        "backup_api_base = \"{}\"\ncert_p12 = \"{}\"\n",
        shop.emulator.tls_base_url(),
        cert.display()
    ));
    // The first api_base line is the profile's own; the backup comes after it.
    let text = std::fs::read_to_string(&shop.config).unwrap().replacen(
        &format!("api_base = \"{}\"", shop.emulator.tls_base_url()),
        &format!("api_base = \"https://{closed}\""),
        1,
    );
    std::fs::write(&shop.config, text).unwrap();
    let out = shop
        .run(&[
            "order",
            "create",
            "--trade-type",
            "APP",
            "--out-trade-no",
            "B1",
            "--amount",
            "5",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
            "-v",
        ])
        .expect(0);
    assert!(
        out.stderr.contains(&format!(
            "attempt 1: POST https://{closed}/pay/unifiedorder: request to https://{closed}/pay/unifiedorder \
             failed: could not connect: connection refused; retrying in 0 ms"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "attempt 2: POST {}/pay/unifiedorder: ok",
            shop.emulator.tls_base_url()
        )),
        "{}",
        out.stderr
    );
    shop.run(&["order", "query", "--out-trade-no", "B1"])
        .expect(0);
}

#[test]
fn timeouts_come_from_the_profile_and_the_flags() {
    let mut shop = Shop::new();
    shop.own_config("timeout = 0.3\n");
    shop.place("T1", "100");
    shop.fault("/pay/orderquery", 5, FaultKind::Delay { ms: 2000 });
    let out = shop
        .run(&["order", "query", "--out-trade-no", "T1", "--retries", "0"])
        .expect(75);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    // The flag wins over the profile.
    shop.run(&[
        "order",
        "query",
        "--out-trade-no",
        "T1",
        "--retries",
        "0",
        "--timeout",
        "10",
    ])
    .expect(0);
    shop.run(&["order", "query", "--out-trade-no", "T1", "--timeout", "0"])
        .expect(2);
    // An unusable profile timeout is refused, not silently replaced by the default.
    shop.emulator.core().clear_faults();
    let before = shop.emulator.core().request_log().len();
    shop.own_config("timeout = -1\n");
    shop.run(&["order", "query", "--out-trade-no", "T1"])
        .expect(2)
        .error_mentions("timeout = -1")
        .hint_mentions("--timeout");
    shop.run(&["order", "query", "--out-trade-no", "T1", "--timeout", "5"])
        .expect(0);
    assert_eq!(shop.emulator.core().request_log().len(), before + 1);
}

#[test]
fn the_sandbox_fetches_its_key_once_and_caches_it_privately() {
    let shop = Shop::new();
    shop.run(&[
        "order",
        "query",
        "--out-trade-no",
        "S1",
        "--sandbox",
        "--dry-run",
    ])
    .expect(2)
    .error_mentions("not cached");
    assert_eq!(shop.requests("/getsignkey"), 0);
    let order = shop
        .run(&[
            "order",
            "create",
            "--sandbox",
            "--trade-type",
            "APP",
            "--out-trade-no",
            "S1",
            "--amount",
            "101",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
        ])
        .expect(0)
        .json();
    assert_eq!(order["sandbox"], true);
    assert_eq!(shop.requests("/sandboxnew/pay/unifiedorder"), 1);
    let cache = shop
        .env
        .path(".cache/wxpay-ops/sandbox")
        .join(format!("{DEFAULT_MCH_ID}.json"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The sandbox pays its own orders at once.
    let state = shop
        .run(&[
            "order",
            "query",
            "--sandbox",
            "--out-trade-no",
            "S1",
            "--expect",
            "SUCCESS",
        ])
        .expect(0)
        .json();
    assert_eq!(state["total_fee"], 101);
    assert_eq!(shop.requests("/getsignkey"), 1, "the cached key is used");
    let dry = shop
        .run(&[
            "order",
            "query",
            "--sandbox",
            "--out-trade-no",
            "S1",
            "--dry-run",
        ])
        .expect(0)
        .json();
    assert!(
        dry["url"]
            .as_str()
            .unwrap()
            .ends_with("/sandboxnew/pay/orderquery")
    );
    // Production knows nothing of sandbox orders.
    shop.run(&["order", "query", "--out-trade-no", "S1"])
        .expect(3);
}

#[test]
fn a_profile_may_be_a_sandbox_one_and_a_service_provider_one() {
    let mut shop = Shop::new();
    shop.own_config(
        "sandbox = true\nsub_mch_id = \"1230000109\"\nsub_appid = \"wx8888888888888888\"\n",
    );
    let dry = |args: &[&str]| shop.run(args).expect(0).json();
    // The first sandbox call fetches the key (a dry run cannot); then dry runs sign with it.
    shop.run(&["order", "query", "--out-trade-no", "P0"])
        .expect(3);
    let query = dry(&["order", "query", "--out-trade-no", "P1", "--dry-run"]);
    assert_eq!(query["sandbox"], true);
    assert_eq!(query["fields"]["sub_mch_id"], "1230000109");
    assert_eq!(query["fields"]["sub_appid"], "wx8888888888888888");
    let create = dry(&[
        "order",
        "create",
        "--trade-type",
        "JSAPI",
        "--out-trade-no",
        "P1",
        "--amount",
        "1",
        "--body",
        "b",
        "--notify-url",
        NOTIFY,
        "--sub-openid",
        "oSub",
        "--dry-run",
    ]);
    assert_eq!(create["fields"]["sub_openid"], "oSub");
    assert_eq!(create["fields"]["sub_mch_id"], "1230000109");
    let flagged = dry(&[
        "order",
        "query",
        "--out-trade-no",
        "P1",
        "--dry-run",
        "--sub-mch-id",
        "1240000109",
    ]);
    assert_eq!(
        flagged["fields"]["sub_mch_id"], "1240000109",
        "the flag wins"
    );
    let refund = dry(&["refund", "query", "--out-refund-no", "R1", "--dry-run"]);
    assert_eq!(refund["fields"]["sub_mch_id"], "1230000109");
}

#[test]
fn batch_queries_stream_in_input_order_and_one_failure_does_not_stop_them() {
    let shop = Shop::new();
    let mut csv = String::from("\u{feff}name,out_trade_no\n");
    for n in 0..30 {
        let no = format!("B{n:03}");
        shop.place(&no, "100");
        if n % 3 == 0 {
            shop.pay(&no);
        }
        csv.push_str(&format!("row {n},{no}\n"));
    }
    csv.push_str("bad,not valid\nmissing,NOPE\n");
    let file = shop.env.path("orders.csv");
    std::fs::write(&file, &csv).unwrap();
    let file = file.to_str().unwrap();
    let out = shop.run(&["order", "query", "--from-csv", file, "--concurrency", "4"]);
    let out = out.expect(3);
    let rows = parse_rows(&out.stdout);
    assert_eq!(rows.len(), 32);
    // --format jsonl: the same rows, one object per line.
    let lines = shop
        .run(&["--format", "jsonl", "order", "query", "--from-csv", file])
        .expect(3);
    let lines: Vec<Value> = (lines.stdout.lines())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines, rows);
    // --format table is a table (drawn once the rows are in), not CSV.
    let table = shop
        .run(&["--format", "table", "order", "query", "--from-csv", file])
        .expect(3)
        .stdout;
    assert!(!table.starts_with("row,"), "{table}");
    assert!(
        table.contains("trade_state") && table.contains("| SUCCESS"),
        "{table}"
    );
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row["row"], index + 1, "input order");
    }
    assert_eq!(rows[0]["trade_state"], "SUCCESS");
    assert_eq!(rows[1]["trade_state"], "NOTPAY");
    assert_eq!(rows[30]["error_code"], "INVALID_INPUT");
    assert_eq!(rows[30]["exit_code"], 2);
    assert_eq!(rows[31]["error_code"], "ORDERNOTEXIST");
    assert_eq!(rows[31]["exit_code"], 3);
    assert_eq!(
        out.stderr.trim(),
        "32 orders: INVALID_INPUT 1, NOTPAY 20, ORDERNOTEXIST 1, SUCCESS 10",
        "only the summary: no progress bar off a terminal"
    );

    let unordered = shop
        .run(&[
            "--format",
            "csv",
            "order",
            "query",
            "--from-csv",
            file,
            "--unordered",
            "--rate",
            "200/s",
        ])
        .expect(3);
    let mut reader = csv::Reader::from_reader(unordered.stdout.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "row",
            "out_trade_no",
            "transaction_id",
            "trade_state",
            "total_fee",
            "cash_fee",
            "time_end",
            "exit_code",
            "error_code",
            "error"
        ]
    );
    let mut seen: Vec<u32> = reader
        .records()
        .map(|r| r.unwrap()[0].parse().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, (1..=32).collect::<Vec<_>>());

    // By transaction id, from stdin, all found: exit 0, or 1 when --expect is not met.
    let paid: Vec<String> = rows
        .iter()
        .filter_map(|r| r["transaction_id"].as_str().map(str::to_owned))
        .collect();
    let input = format!("transaction_id\n{}\n", paid.join("\n"));
    let all = shop.run_with_stdin(
        &["order", "query", "--from-csv", "-", "--expect", "SUCCESS"],
        input.as_bytes(),
    );
    assert_eq!(parse_rows(&all.expect(0).stdout).len(), 10);
    let some = "out_trade_no\nB000\nB001\n";
    shop.run_with_stdin(
        &["order", "query", "--from-csv", "-", "--expect", "SUCCESS"],
        some.as_bytes(),
    )
    .expect(1);
    // --column names another column; a missing one is named with the columns there are.
    let named = "id,x\nB000,1\n";
    shop.run_with_stdin(
        &["order", "query", "--from-csv", "-", "--column", "id"],
        named.as_bytes(),
    )
    .expect(0);
    shop.run_with_stdin(
        &["order", "query", "--from-csv", "-", "--column", "nope"],
        named.as_bytes(),
    )
    .expect(2)
    .error_mentions("columns: id, x");
}

#[test]
fn batch_exit_codes_follow_the_worst_failure() {
    let shop = Shop::new();
    shop.place("W1", "100");
    let input = b"out_trade_no\nW1\nW1\nW1\n";
    shop.fault("/pay/orderquery", 3, FaultKind::Http503);
    let out = shop.run_with_stdin(
        &[
            "order",
            "query",
            "--from-csv",
            "-",
            "--concurrency",
            "1",
            "--retries",
            "0",
        ],
        input,
    );
    let out = out.expect(75);
    let rows = parse_rows(&out.stdout);
    assert!(
        rows.iter().all(|r| r["error_code"] == "HTTP_ERROR"),
        "{rows:?}"
    );
    shop.fault("/pay/orderquery", 1, FaultKind::BadSign);
    let out = shop
        .run_with_stdin(
            &["order", "query", "--from-csv", "-", "--concurrency", "1"],
            input,
        )
        .expect(4);
    let rows = parse_rows(&out.stdout);
    assert_eq!(rows[0]["error_code"], "BAD_SIGN");
    assert_eq!(rows[1]["trade_state"], "NOTPAY", "the batch went on");
    // A dry run shows the first order's request and sends nothing.
    let before = shop.emulator.core().request_log().len();
    let dry = shop
        .run_with_stdin(&["order", "query", "--from-csv", "-", "--dry-run"], input)
        .expect(0);
    assert_eq!(dry.json()["fields"]["out_trade_no"], "W1");
    assert_eq!(shop.emulator.core().request_log().len(), before);
}

#[test]
fn help_lists_the_exit_codes_the_api_commands_give() {
    let out = Env::new().run(&["--help"]).expect(0);
    for code in ["  1 ", "  3 ", "  75 "] {
        assert!(out.stdout.contains(code), "{}", out.stdout);
    }
    assert!(
        out.stdout.contains("order query --expect"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_payer_without_enough_balance_is_a_refusal_sent_once() {
    let shop = Shop::new();
    shop.emulator
        .core()
        .add_outcome(
            serde_json::from_value(serde_json::json!({
                "out_trade_no": "NE1",
                "err_code": "NOTENOUGH",
                "count": 5,
            }))
            .unwrap(),
        )
        .unwrap();
    let out = shop
        .run(&[
            "order",
            "create",
            "--trade-type",
            "NATIVE",
            "--out-trade-no",
            "NE1",
            "--amount",
            "100",
            "--body",
            "b",
            "--notify-url",
            NOTIFY,
        ])
        .expect(3)
        .error_mentions("NOTENOUGH")
        .hint_mentions("pay another way");
    assert!(out.stdout.is_empty());
    assert_eq!(
        shop.requests("/pay/unifiedorder"),
        1,
        "a final err_code is never resent"
    );
}

/// A profile for the emulator's service provider, acting for its sub-merchant, and one
/// that names no sub-merchant (`bare`).
fn service_provider_config(shop: &mut Shop) {
    let ca = shop.emulator.ca_cert().to_str().unwrap().to_owned();
    let p12 = shop
        .emulator
        .client_cert(SERVICE_PROVIDER_MCH_ID)
        .unwrap()
        .p12
        .clone();
    let common = format!(
        "mch_id = \"{SERVICE_PROVIDER_MCH_ID}\"\nappid = \"{SERVICE_PROVIDER_APPID}\"\n\
         api_key_env = \"SP_KEY\"\napi_base = \"{}\"\nca_cert = \"{ca}\"\ncert_p12 = \"{}\"\n",
        shop.emulator.tls_base_url(),
        p12.display()
    );
    let text = format!(
        "default_profile = \"sp\"\n[profiles.sp]\n{common}sub_mch_id = \"{SUB_MCH_ID}\"\n\
         sub_appid = \"{SUB_APPID}\"\n[profiles.bare]\n{common}"
    );
    shop.config = shop.env.write_config(&text);
    shop.env.set("SP_KEY", SERVICE_PROVIDER_API_KEY);
}

#[test]
fn a_service_provider_places_queries_and_refunds_orders_for_its_sub_merchant() {
    let mut shop = Shop::with_merchants(vec![Merchant::default_service_provider()]);
    service_provider_config(&mut shop);
    shop.run(&["config", "check"]).expect(0);
    let created = shop
        .run(&[
            "order",
            "create",
            "--trade-type",
            "JSAPI",
            "--out-trade-no",
            "SP1",
            "--amount",
            "300",
            "--body",
            "Shop-Tea",
            "--sub-openid",
            "oSubPayer",
            "--notify-url",
            NOTIFY,
        ])
        .expect(0)
        .json();
    // The front end pays in the sub-merchant's app.
    assert_eq!(created["pay_params"]["appId"], SUB_APPID);
    let orders = shop.emulator.core().orders();
    assert_eq!(orders[0].sub_mch_id, SUB_MCH_ID);
    assert_eq!(orders[0].sub_appid, SUB_APPID);
    assert_eq!(orders[0].sub_openid, "oSubPayer");

    let paid = shop
        .emulator
        .core()
        .pay(
            SERVICE_PROVIDER_MCH_ID,
            "SP1",
            &PayOptions {
                sub_mch_id: Some(SUB_MCH_ID.into()),
                ..PayOptions::default()
            },
        )
        .unwrap();
    let transaction_id = paid.payment.unwrap().transaction_id;
    let state = shop
        .run(&[
            "order",
            "query",
            "--out-trade-no",
            "SP1",
            "--expect",
            "SUCCESS",
        ])
        .expect(0)
        .json();
    assert_eq!(state["transaction_id"], transaction_id.as_str());
    assert_eq!(state["total_fee"], 300);
    // Over mutual TLS with the service provider's certificate.
    let refund = shop
        .run(&[
            "refund",
            "create",
            "--out-trade-no",
            "SP1",
            "--total",
            "300",
            "--refund",
            "100",
            "--out-refund-no",
            "SP1-R1",
            "--yes",
        ])
        .expect(0)
        .json();
    assert_eq!(refund["refund_fee"], 100);
    assert_eq!(shop.emulator.core().refunds()[0].sub_mch_id, SUB_MCH_ID);
    let refunds = shop
        .run(&["refund", "query", "--transaction-id", &transaction_id])
        .expect(0)
        .json();
    assert_eq!(refunds["refunds"][0]["out_refund_no"], "SP1-R1");
    assert_eq!(refunds["refunds"][0]["refund_status"], "SUCCESS");

    // Another sub-merchant's number: the emulator refuses (受理关系不存在), and says which.
    let before = shop.requests("/pay/orderquery");
    shop.run(&[
        "order",
        "query",
        "--out-trade-no",
        "SP1",
        "--sub-mch-id",
        "1900000999",
    ])
    .expect(3)
    .error_mentions("for sub-merchant 1900000999")
    .error_mentions("受理关系不存在")
    .error_mentions("not bound to the service provider")
    .hint_mentions("check sub_mch_id");
    assert_eq!(shop.requests("/pay/orderquery"), before + 1, "sent once");
    let refunds_before = shop.requests("/secapi/pay/refund");
    shop.run(&[
        "refund",
        "create",
        "--out-trade-no",
        "SP1",
        "--total",
        "300",
        "--refund",
        "100",
        "--out-refund-no",
        "SP1-R2",
        "--yes",
        "--sub-mch-id",
        "1900000999",
    ])
    .expect(3)
    .error_mentions("受理关系不存在")
    .hint_mentions("check sub_mch_id");
    assert_eq!(shop.requests("/secapi/pay/refund"), refunds_before + 1);
    shop.run(&[
        "order",
        "query",
        "--out-trade-no",
        "SP1",
        "--sub-appid",
        "wx0000000000000000",
    ])
    .expect(3)
    .error_mentions("sub_mch_id与sub_appid不匹配")
    .hint_mentions("check sub_appid");
    shop.run(&[
        "--profile",
        "bare",
        "order",
        "query",
        "--out-trade-no",
        "SP1",
    ])
    .expect(3)
    .error_mentions("缺少参数sub_mch_id")
    .hint_mentions("set sub_mch_id in the profile");
}

/// Answers every request with `answer`: a server whose signed answers are for someone else.
fn answering(answer: Message) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serve = move |stream: std::net::TcpStream| -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        reader.read_exact(&mut vec![0; length])?;
        let xml = answer.to_xml();
        write!(
            &stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )
    };
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8).flatten() {
            let _ = serve(stream);
        }
    });
    base
}

#[test]
fn an_answer_for_another_sub_merchant_is_refused() {
    let mut answer = Message::from_pairs([
        ("return_code", "SUCCESS"),
        ("return_msg", "OK"),
        ("appid", SERVICE_PROVIDER_APPID),
        ("mch_id", SERVICE_PROVIDER_MCH_ID),
        ("sub_mch_id", "1900000999"),
        ("nonce_str", "5K8264ILTKCH16CQ"),
        ("result_code", "SUCCESS"),
        ("out_trade_no", "SP1"),
        ("trade_state", "SUCCESS"),
        ("total_fee", "300"),
    ])
    .unwrap();
    wxpay_ops::wechat::sign::sign_in_place(
        &mut answer,
        &ApiKey::new(SERVICE_PROVIDER_API_KEY),
        SignType::Md5,
    );
    let base = answering(answer);
    let mut env = Env::new();
    env.set("SP_KEY", SERVICE_PROVIDER_API_KEY);
    let config = env.write_config(&format!(
        "[profiles.sp]\nmch_id = \"{SERVICE_PROVIDER_MCH_ID}\"\nappid = \"{SERVICE_PROVIDER_APPID}\"\n\
         api_key_env = \"SP_KEY\"\napi_base = \"{base}\"\nsub_mch_id = \"{SUB_MCH_ID}\"\n"
    ));
    let out = env
        .run(&[
            "--config",
            config.to_str().unwrap(),
            "order",
            "query",
            "--out-trade-no",
            "SP1",
        ])
        .expect(4)
        .error_mentions("names sub_mch_id \"1900000999\", not \"1900000201\"")
        .error_mentions("nothing in it was used");
    assert!(out.stdout.is_empty(), "nothing printed as if it were valid");
    assert!(!out.stderr.contains(SERVICE_PROVIDER_API_KEY));
}

/// A batch of one is "1 order", not "1 orders".
#[test]
fn a_batch_of_one_counts_one_order() {
    let shop = Shop::new();
    shop.place("S001", "100");
    let file = shop.env.path("one.csv");
    std::fs::write(&file, "out_trade_no\nS001\n").unwrap();
    let file = file.to_str().unwrap();
    let out = shop
        .run(&["order", "query", "--from-csv", file, "--expect", "SUCCESS"])
        .expect(1);
    assert_eq!(
        out.stderr.trim(),
        "1 order: NOTPAY 1\n1 of 1 order is not SUCCESS",
        "{}",
        out.stderr
    );
}

#[test]
fn the_emulators_profile_places_the_guides_order_as_written() {
    // The guide's command, with no --notify-url: the generated profile gives one.
    let shop = Shop::new();
    let out = shop.run(&[
        "order",
        "create",
        "--trade-type",
        "JSAPI",
        "--out-trade-no",
        "20261120-0001",
        "--amount",
        "12.50yuan",
        "--body",
        "Shop-Coffee",
        "--openid",
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    ]);
    let out = out.expect(0);
    assert!(out.stdout.contains("prepay_id"), "{}", out.stdout);
    let profile = std::fs::read_to_string(&shop.config).unwrap();
    assert!(profile.contains("notify_url = \"http://127.0.0.1:8080/wxpay/notify\""));
}

#[test]
fn a_missing_ca_cert_names_the_profile_key_that_pointed_at_it() {
    let shop = Shop::new();
    // As after the emulator restarted with a fresh folder: the old CA file is gone.
    let ca = shop.config.parent().unwrap().join("ca_cert.pem");
    std::fs::remove_file(&ca).unwrap();
    shop.run(&["order", "query", "--out-trade-no", "X1"])
        .expect(2)
        .error_mentions("ca_cert")
        .error_mentions("No such file or directory")
        .hint_mentions("names this file as ca_cert");
}
