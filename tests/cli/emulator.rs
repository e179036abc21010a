//! The emulator over the network: mutual TLS, notifications, the control plane, transport
//! faults, and `emulator serve` as a process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wxpay_ops::config::certs::{identity_from_pem, read_p12};
use wxpay_ops::emulator::core::EmulatorOptions;
use wxpay_ops::emulator::merchant::{DEFAULT_API_KEY, DEFAULT_MCH_ID};
use wxpay_ops::emulator::notify::NotificationKind;
use wxpay_ops::emulator::state::PayOptions;
use wxpay_ops::emulator::{Emulator, ServeOptions};
use wxpay_ops::wechat::notify::decrypt_refund;
use wxpay_ops::wechat::sign::{sign_in_place, verify};
use wxpay_ops::wechat::transport::{Identity, tls_config};
use wxpay_ops::wechat::{ApiKey, Message, SignType};

const APPID: &str = "wx2421b1c4370ec43b";
const SUCCESS_REPLY: &str = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>";

fn start() -> Emulator {
    Emulator::start(ServeOptions {
        core: EmulatorOptions {
            notify_time_factor: 0.001,
            refund_delay: time::Duration::ZERO,
            ..EmulatorOptions::default()
        },
        ..ServeOptions::default()
    })
    .expect("the emulator starts on free ports")
}

fn signed(fields: &[(&str, &str)], sign_type: SignType) -> String {
    let mut message = Message::new();
    message
        .set("appid", APPID)
        .set("mch_id", DEFAULT_MCH_ID)
        .set("nonce_str", "ibuaiVcKdpRxkhJA");
    for (name, value) in fields {
        message.set(name, *value);
    }
    sign_in_place(&mut message, &ApiKey::new(DEFAULT_API_KEY), sign_type);
    message.to_xml()
}

fn client(emulator: &Emulator, identity: Option<Identity>) -> reqwest::blocking::Client {
    let ca = std::fs::read(emulator.ca_cert()).unwrap();
    let tls = tls_config(Some(&ca), identity).unwrap();
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn post(client: &reqwest::blocking::Client, url: &str, body: String) -> Message {
    let response = client
        .post(url)
        .body(body)
        .send()
        .expect("the emulator answers");
    let bytes = response.bytes().unwrap();
    Message::parse(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
}

fn place_order(emulator: &Emulator, out_trade_no: &str, notify_url: &str) {
    let http = client(emulator, None);
    let answer = post(
        &http,
        &format!("{}/pay/unifiedorder", emulator.base_url()),
        signed(
            &[
                ("body", "test"),
                ("out_trade_no", out_trade_no),
                ("total_fee", "100"),
                ("spbill_create_ip", "127.0.0.1"),
                ("notify_url", notify_url),
                ("trade_type", "NATIVE"),
                ("product_id", "P1"),
            ],
            SignType::Md5,
        ),
    );
    assert_eq!(answer.get("result_code"), Some("SUCCESS"), "{answer:?}");
}

fn refund_request(out_refund_no: &str, notify_url: &str) -> String {
    signed(
        &[
            ("out_trade_no", "T1"),
            ("out_refund_no", out_refund_no),
            ("total_fee", "100"),
            ("refund_fee", "10"),
            ("notify_url", notify_url),
        ],
        SignType::HmacSha256,
    )
}

#[test]
fn refunds_over_mutual_tls_with_the_pem_pair_and_the_p12_and_not_without() {
    let emulator = start();
    place_order(&emulator, "T1", "http://127.0.0.1:9/n");
    emulator
        .core()
        .pay(DEFAULT_MCH_ID, "T1", &PayOptions::default())
        .unwrap();
    let url = format!("{}/secapi/pay/refund", emulator.tls_base_url());
    let paths = emulator.client_cert(DEFAULT_MCH_ID).unwrap();

    let pem = client(
        &emulator,
        Some(identity_from_pem(&paths.cert, &paths.key).unwrap()),
    );
    let answer = post(&pem, &url, refund_request("R1", ""));
    assert_eq!(answer.get("result_code"), Some("SUCCESS"), "{answer:?}");
    assert!(
        verify(
            &answer,
            &ApiKey::new(DEFAULT_API_KEY),
            Some(SignType::HmacSha256)
        )
        .unwrap()
        .valid
    );

    let p12 = read_p12(&paths.p12, DEFAULT_MCH_ID).unwrap();
    let with_p12 = client(&emulator, Some(p12.identity()));
    let answer = post(&with_p12, &url, refund_request("R2", ""));
    assert_eq!(answer.get("result_code"), Some("SUCCESS"), "{answer:?}");

    let anonymous = client(&emulator, None);
    let answer = post(&anonymous, &url, refund_request("R3", ""));
    assert_eq!(answer.get("return_code"), Some("FAIL"));
    assert!(answer.get("return_msg").unwrap().contains("证书"));
    // The plain listener has no TLS at all, so no certificate either.
    let answer = post(
        &anonymous,
        &format!("{}/secapi/pay/refund", emulator.base_url()),
        refund_request("R4", ""),
    );
    assert_eq!(answer.get("return_code"), Some("FAIL"));
    assert_eq!(emulator.core().refunds().len(), 2);
}

/// A notify_url that answers from a script of replies (the last one repeats) and keeps what
/// it was sent: each body, and each request's header lines.
pub struct Receiver {
    pub url: String,
    bodies: Arc<Mutex<Vec<String>>>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    pub fn start(replies: Vec<(u16, &'static str)>) -> Receiver {
        Receiver::start_on("127.0.0.1:0", replies)
    }

    /// On `0.0.0.0`, the URL is `http://0.0.0.0:PORT/notify`: Linux connects it to this
    /// machine, yet it is no loopback address.
    fn start_on(address: &str, replies: Vec<(u16, &'static str)>) -> Receiver {
        let listener = TcpListener::bind(address).unwrap();
        let url = format!("http://{}/notify", listener.local_addr().unwrap());
        let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let (kept, kept_heads) = (bodies.clone(), heads.clone());
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                kept_heads.lock().unwrap().push(head);
                kept.lock().unwrap().push(String::from_utf8(body).unwrap());
                let (status, reply) = replies[n.min(replies.len() - 1)];
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        Receiver { url, bodies, heads }
    }

    /// The header lines of the requests so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    pub fn wait_for(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let bodies = self.bodies.lock().unwrap().clone();
            if bodies.len() >= count || Instant::now() > deadline {
                return bodies;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn a_payment_notification_is_delivered_refused_retried_and_logged() {
    let emulator = start();
    // "success" in plain text and HTTP 500 are both refusals; only the XML reply counts.
    let receiver = Receiver::start(vec![
        (200, "success"),
        (500, SUCCESS_REPLY),
        (200, SUCCESS_REPLY),
    ]);
    place_order(&emulator, "T1", &receiver.url);
    emulator
        .core()
        .pay(DEFAULT_MCH_ID, "T1", &PayOptions::default())
        .unwrap();
    let bodies = receiver.wait_for(3);
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "retries repeat the same notification"
    );
    let notification = Message::parse(bodies[0].as_bytes()).unwrap();
    assert_eq!(notification.get("out_trade_no"), Some("T1"));
    assert_eq!(notification.get("result_code"), Some("SUCCESS"));
    assert!(
        verify(&notification, &ApiKey::new(DEFAULT_API_KEY), None)
            .unwrap()
            .valid
    );

    // Give the notifier a moment to log the last attempt, then check no fourth comes.
    std::thread::sleep(Duration::from_millis(300));
    let attempts = emulator.core().notifier.attempts();
    let accepted: Vec<bool> = attempts.iter().map(|a| a.accepted).collect();
    assert_eq!(accepted, [false, false, true]);
    assert_eq!(attempts[2].attempt, 3);
    assert!(attempts[0].outcome.contains("HTTP 200"));
    assert!(attempts[1].outcome.contains("HTTP 500"));
    assert_eq!(receiver.bodies.lock().unwrap().len(), 3);
}

/// Places and pays order T1, then refunds 10 fen of it (R1) over mutual TLS with the PEM pair.
fn pay_and_refund(emulator: &Emulator, notify_url: &str) -> Message {
    pay_and_refund_to(emulator, "http://127.0.0.1:9/n", notify_url)
}

fn pay_and_refund_to(emulator: &Emulator, pay_notify_url: &str, notify_url: &str) -> Message {
    place_order(emulator, "T1", pay_notify_url);
    emulator
        .core()
        .pay(DEFAULT_MCH_ID, "T1", &PayOptions::default())
        .unwrap();
    let paths = emulator.client_cert(DEFAULT_MCH_ID).unwrap();
    let tls = client(
        emulator,
        Some(identity_from_pem(&paths.cert, &paths.key).unwrap()),
    );
    let url = format!("{}/secapi/pay/refund", emulator.tls_base_url());
    post(&tls, &url, refund_request("R1", notify_url))
}

#[test]
fn a_refund_notification_carries_encrypted_req_info() {
    let emulator = start();
    let receiver = Receiver::start(vec![(200, SUCCESS_REPLY)]);
    let answer = pay_and_refund(&emulator, &receiver.url);
    assert_eq!(answer.get("result_code"), Some("SUCCESS"), "{answer:?}");
    let bodies = receiver.wait_for(1);
    let refund = decrypt_refund(bodies[0].as_bytes(), &ApiKey::new(DEFAULT_API_KEY)).unwrap();
    assert_eq!(refund.info.get("out_refund_no"), Some("R1"));
    assert_eq!(refund.info.get("refund_status"), Some("SUCCESS"));
    assert_eq!(refund.info.get("refund_fee"), Some("10"));
    assert!(
        refund.envelope.get("sign").is_none(),
        "refund notifications are not signed"
    );
    std::thread::sleep(Duration::from_millis(100));
    let kinds: Vec<NotificationKind> = emulator
        .core()
        .notifier
        .attempts()
        .iter()
        .map(|a| a.kind)
        .collect();
    assert!(kinds.contains(&NotificationKind::Refund));
}

#[test]
fn control_plane_over_http() {
    let emulator = start();
    place_order(&emulator, "T1", "http://127.0.0.1:9/n");
    let http = reqwest::blocking::Client::new();
    let control = format!("{}/__emulator", emulator.base_url());
    let paid: serde_json::Value = http
        .post(format!("{control}/orders/pay"))
        .body(r#"{"out_trade_no":"T1","openid":"oUser","bank_type":"CMB_DEBIT","time_end":"20261120101010"}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(paid["state"], "SUCCESS");
    assert_eq!(paid["payment"]["bank_type"], "CMB_DEBIT");
    let again = http
        .post(format!("{control}/orders/pay"))
        .body(r#"{"out_trade_no":"T1"}"#)
        .send()
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    let orders: serde_json::Value = http
        .get(format!("{control}/orders"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(orders.as_array().unwrap().len(), 1);
    let clock: serde_json::Value = http
        .post(format!("{control}/clock"))
        .body(r#"{"set":"20301231235959"}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(clock["now"].as_str().unwrap().starts_with("2030123123595"));
    for body in [
        r#"{"advance_seconds":1,"set":"x"}"#,
        r#"{"set":"99991231235959"}"#,
        r#"{"advance_seconds":9223372036854775807}"#,
    ] {
        let bad = http
            .post(format!("{control}/clock"))
            .body(body)
            .send()
            .unwrap();
        assert_eq!(bad.status().as_u16(), 400, "{body}");
    }
    let zero = http
        .post(format!("{control}/faults"))
        .body(r#"{"count":0,"kind":"drop"}"#)
        .send()
        .unwrap();
    assert_eq!(zero.status().as_u16(), 400);
    http.post(format!("{control}/faults"))
        .body(r#"{"count":5,"kind":"drop"}"#)
        .send()
        .unwrap();
    let cleared = http.delete(format!("{control}/faults")).send().unwrap();
    assert_eq!(cleared.status().as_u16(), 200);
    assert!(emulator.core().pending_faults().is_empty());
    let requests: serde_json::Value = http
        .get(format!("{control}/requests"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(requests[0]["path"], "/pay/unifiedorder");
    assert_eq!(requests[0]["outcome"], "SUCCESS");
    let unknown = http.get(format!("{control}/nope")).send().unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    for operation in ["pay", "fail"] {
        let no_order = http
            .post(format!("{control}/orders/{operation}"))
            .body(r#"{"out_trade_no":"NOPE"}"#)
            .send()
            .unwrap();
        assert_eq!(no_order.status().as_u16(), 404, "{operation}");
        let error: serde_json::Value = no_order.json().unwrap();
        assert!(error["error"].as_str().unwrap().contains("ORDERNOTEXIST"));
    }
}

#[test]
fn the_control_plane_needs_the_token_on_both_listeners_when_one_is_set() {
    let token = "wxemu-0123abcd-4567ef01";
    let emulator = Emulator::start(ServeOptions {
        control_token: Some(token.to_owned()),
        ..ServeOptions::default()
    })
    .unwrap();
    let http = client(&emulator, None);
    for base in [emulator.base_url(), emulator.tls_base_url()] {
        let control = format!("{base}/__emulator/orders");
        let status =
            |request: reqwest::blocking::RequestBuilder| request.send().unwrap().status().as_u16();
        assert_eq!(status(http.get(&control)), 401, "{base}: no token");
        assert_eq!(
            status(http.get(&control).bearer_auth("wxemu-0123abcd-4567ef02")),
            401,
            "{base}: wrong token"
        );
        assert_eq!(
            status(http.get(&control).header("Authorization", token)),
            401,
            "{base}: not a bearer"
        );
        assert_eq!(status(http.get(&control).bearer_auth(token)), 200, "{base}");
        assert_eq!(
            status(
                http.post(format!("{base}/__emulator/orders/pay"))
                    .body(r#"{"out_trade_no":"T1"}"#)
            ),
            401,
            "{base}: refused before the operation"
        );
    }
    // The WeChat Pay API itself needs no token: its requests are signed.
    place_order(&emulator, "T1", "http://127.0.0.1:9/n");
}

#[test]
fn notifications_go_to_other_hosts_only_when_allowed() {
    let receiver = Receiver::start_on("0.0.0.0:0", vec![(200, SUCCESS_REPLY)]);
    let emulator = start();
    let answer = pay_and_refund_to(&emulator, &receiver.url, &receiver.url);
    assert_eq!(answer.get("result_code"), Some("SUCCESS"), "{answer:?}");
    // The order and the refund are accepted, as WeChat Pay accepts any http(s) URL; the
    // deliveries are refused and logged.
    let deadline = Instant::now() + Duration::from_secs(10);
    let attempts = loop {
        let attempts = emulator.core().notifier.attempts();
        if attempts.len() >= 2 || Instant::now() > deadline {
            break attempts;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let kinds: Vec<NotificationKind> = attempts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [NotificationKind::Payment, NotificationKind::Refund]);
    for attempt in &attempts {
        assert!(attempt.refused && !attempt.accepted, "{attempt:?}");
        assert!(attempt.outcome.contains("--allow-remote"), "{attempt:?}");
        assert_eq!(attempt.url, receiver.url);
    }
    assert!(receiver.bodies.lock().unwrap().is_empty());

    let allowed = Emulator::start(ServeOptions {
        core: EmulatorOptions {
            notify_time_factor: 0.001,
            refund_delay: time::Duration::ZERO,
            allow_remote_notify: true,
            ..EmulatorOptions::default()
        },
        ..ServeOptions::default()
    })
    .unwrap();
    pay_and_refund_to(&allowed, &receiver.url, &receiver.url);
    assert_eq!(receiver.wait_for(2).len(), 2);
    assert!(
        allowed
            .core()
            .notifier
            .attempts()
            .iter()
            .all(|a| !a.refused)
    );
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let emulator = Emulator::start(ServeOptions {
        header_read_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    })
    .unwrap();
    let plain = emulator.base_url().replace("http://", "");
    let tls = emulator.tls_base_url().replace("https://", "");
    // Half a request on the plain listener; nothing at all (not even a TLS hello) on the other.
    for (address, sent) in [
        (&plain, "POST /pay/orderquery HTTP/1.1\r\nHost: x\r\n"),
        (&tls, ""),
    ] {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.write_all(sent.as_bytes()).unwrap();
        // A generous guard against hanging; the server is expected to close long before.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut rest = Vec::new();
        let closed = match stream.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "{address}: the server kept the connection open");
    }
    // And the server still serves.
    let info = reqwest::blocking::get(format!("{}/__emulator", emulator.base_url())).unwrap();
    assert_eq!(info.status().as_u16(), 200);
}

#[test]
fn connections_over_the_cap_wait_until_others_close() {
    let emulator = Emulator::start(ServeOptions {
        max_connections: 2,
        ..ServeOptions::default()
    })
    .unwrap();
    let address = emulator.base_url().replace("http://", "");
    let request =
        format!("GET /__emulator HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let answered = |stream: &mut std::net::TcpStream, wait: Duration| {
        stream.set_read_timeout(Some(wait)).unwrap();
        let mut first = [0; 12];
        stream.read_exact(&mut first).is_ok() && first.starts_with(b"HTTP/1.1 200")
    };
    // Two kept-alive connections, one per listener, each answered once: both places are
    // taken, the two listeners counted together.
    let (plain, tls) = (client(&emulator, None), client(&emulator, None));
    for (http, base) in [
        (&plain, emulator.base_url()),
        (&tls, emulator.tls_base_url()),
    ] {
        let answer = http.get(format!("{base}/__emulator")).send().unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{base}");
        // Read to the end, so that the connection goes back to the client's pool, open.
        answer.bytes().unwrap();
    }
    let mut waiting = std::net::TcpStream::connect(&address).unwrap();
    waiting.write_all(request.as_bytes()).unwrap();
    assert!(
        !answered(&mut waiting, Duration::from_millis(500)),
        "a third connection was served while two were open"
    );
    drop(plain);
    drop(tls);
    assert!(
        answered(&mut waiting, Duration::from_secs(30)),
        "the waiting connection is served once the others close"
    );
}

#[test]
fn transport_faults_reach_the_client() {
    let emulator = start();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let control = format!("{}/__emulator/faults", emulator.base_url());
    let url = format!("{}/pay/orderquery", emulator.base_url());
    let query = || signed(&[("out_trade_no", "none")], SignType::Md5);
    let inject = |kind: &str| {
        let response = http
            .post(&control)
            .body(format!(r#"{{"path":"/pay/orderquery","kind":{kind}}}"#))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    };
    inject(r#""drop""#);
    assert!(
        http.post(&url).body(query()).send().is_err(),
        "a dropped connection is an error"
    );
    inject(r#""truncate""#);
    let truncated = http.post(&url).body(query()).send().and_then(|r| r.bytes());
    assert!(
        truncated.is_err(),
        "a body short of its Content-Length is an error"
    );
    inject(r#"{"delay":{"ms":300}}"#);
    let started = Instant::now();
    let delayed = http.post(&url).body(query()).send().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(delayed.status().as_u16(), 200);
    inject(r#""http500""#);
    assert_eq!(
        http.post(&url)
            .body(query())
            .send()
            .unwrap()
            .status()
            .as_u16(),
        500
    );
    let normal = Message::parse(
        &http
            .post(&url)
            .body(query())
            .send()
            .unwrap()
            .bytes()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(normal.get("err_code"), Some("ORDERNOTEXIST"));
}

#[test]
fn serve_runs_until_ctrl_c() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wxpay-ops"))
        .args([
            "emulator",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("press Ctrl-C") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve ended early:\n{seen}"
        );
        seen.push_str(&line);
    }
    assert!(seen.contains("http://127.0.0.1:"));
    assert!(seen.contains(&format!("api_key={DEFAULT_API_KEY}")));
    let base = seen
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let info: serde_json::Value = reqwest::blocking::get(format!("{base}/__emulator"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(info["merchants"][0]["mch_id"], DEFAULT_MCH_ID);
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped"));
}

#[test]
fn export_writes_the_merchant_csv_and_what_reconciliation_must_find() {
    let env = crate::common::Env::new();
    let out = env.path("orders.csv");
    let expected = env
        .run(&[
            "emulator",
            "export",
            "--day",
            "20261120:3000:7",
            "-o",
            out.to_str().unwrap(),
            "--missing-in-export",
            "2",
            "--missing-in-bill",
            "1",
            "--amount-mismatch",
            "3",
            "--status-mismatch",
            "1",
            "--cross-day",
            "2",
            "--duplicate",
            "1",
        ])
        .expect(0)
        .json();
    assert_eq!(expected["differences"]["amount_mismatch"], 3);
    assert_eq!(expected["day"]["trades"], 3000);
    let text = std::fs::read_to_string(&out).unwrap();
    // The order numbers behind each count: absent from the file, or in it as they differ.
    let listed = &expected["difference_orders"];
    let lines_of = |number: &str| {
        text.lines()
            .filter(|line| line.split(',').next() == Some(number))
            .count()
    };
    for (kind, count, lines) in [
        ("missing_in_export", 2, 0),
        ("missing_in_bill", 1, 1),
        ("amount_mismatch", 3, 1),
        ("status_mismatch", 1, 1),
        ("cross_day", 2, 1),
        ("duplicate", 1, 2),
    ] {
        let numbers = listed[kind].as_array().unwrap();
        assert_eq!(numbers.len(), count, "{kind}");
        assert_eq!(expected["differences"][kind], count, "{kind}");
        for number in numbers {
            assert_eq!(lines_of(number.as_str().unwrap()), lines, "{kind} {number}");
        }
    }
    assert!(text.starts_with("out_trade_no,status,amount,refund_amount,paid_at\n"));
    assert_eq!(
        text.lines().count() as u64 - 1,
        expected["export_rows"].as_u64().unwrap()
    );

    // An impossible request names the problem and leaves no file behind (the flag's old
    // spelling still works).
    let refused = env.path("refused.csv");
    env.run(&[
        "emulator",
        "export",
        "--day",
        "20261120:100",
        "-o",
        refused.to_str().unwrap(),
        "--near-midnight",
        "11",
    ])
    .expect(2)
    .error_mentions("cross_day");
    assert!(!refused.exists());
    let leftovers = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0, "no temporary file is left behind");
    // The day takes every form of a date argument.
    let dashed = env
        .run(&[
            "emulator",
            "export",
            "--day",
            "2026-11-20:100",
            "-o",
            "x.csv",
        ])
        .expect(0)
        .json();
    assert_eq!(dashed["day"]["bill_date"], "20261120");
}

#[test]
fn the_client_reads_every_layer_of_an_answer() {
    use wxpay_ops::emulator::faults::{Fault, FaultKind};
    use wxpay_ops::wechat::client::{Client, ClientError, ClientOptions};
    let emulator = start();
    let options = |key: &str| ClientOptions {
        timeout: Duration::from_secs(5),
        ..ClientOptions::new(
            emulator.base_url(),
            DEFAULT_MCH_ID,
            APPID,
            ApiKey::new(key),
            SignType::HmacSha256,
        )
    };
    let client = Client::new(options(DEFAULT_API_KEY)).unwrap();
    let wrong_key = Client::new(options("00000000000000000000000000000000")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let query = [("out_trade_no", "none")];
    runtime.block_on(async {
        let answer = client.call("/pay/orderquery", &query).await.unwrap();
        assert_eq!(answer.get("err_code"), Some("ORDERNOTEXIST"));
        match wrong_key.call("/pay/orderquery", &query).await {
            Err(ClientError::Protocol { message }) => assert_eq!(message, "签名错误"),
            other => panic!("{:?}", other.map(|m| m.to_xml())),
        }
        let fault = |kind| {
            emulator
                .core()
                .add_fault(Fault {
                    path: "/pay/orderquery".into(),
                    count: 1,
                    kind,
                })
                .unwrap()
        };
        fault(FaultKind::BadSign);
        assert!(matches!(
            client.call("/pay/orderquery", &query).await,
            Err(ClientError::BadSign(_))
        ));
        fault(FaultKind::Http503);
        assert!(matches!(
            client.call("/pay/orderquery", &query).await,
            Err(ClientError::Status { status: 503, .. })
        ));
        fault(FaultKind::MalformedXml);
        assert!(matches!(
            client.call("/pay/orderquery", &query).await,
            Err(ClientError::Malformed { .. })
        ));
        match client
            .download("/pay/downloadbill", &[("bill_date", "20000101")])
            .await
        {
            Err(ClientError::Protocol { message }) => assert_eq!(message, "invalid bill_date"),
            other => panic!("{:?}", other.map(|b| b.len())),
        }
    });
}

#[test]
fn the_profile_the_emulator_writes_passes_config_check() {
    let emulator = start();
    let env = crate::common::Env::new();
    let profile = emulator.profile().to_str().unwrap();
    let rows = env
        .run(&["--config", profile, "config", "check"])
        .expect(0)
        .json();
    let rows = rows.as_array().unwrap();
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    let api_base = rows.iter().find(|r| r["check"] == "api_base").unwrap();
    assert_eq!(api_base["detail"], emulator.tls_base_url());
}

#[test]
fn a_truncated_synthetic_bill_is_cut_without_rendering_it_whole() {
    use wxpay_ops::emulator::synth::SyntheticDay;
    let emulator = start();
    emulator
        .core()
        .add_synthetic_day(SyntheticDay {
            mch_id: DEFAULT_MCH_ID.into(),
            appid: APPID.into(),
            bill_date: "20261120".into(),
            trades: 50_000_000,
            seed: 1,
        })
        .unwrap();
    emulator
        .core()
        .clock
        .set(wxpay_ops::time::parse_api_time("20261121120000").unwrap())
        .unwrap();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    http.post(format!("{}/__emulator/faults", emulator.base_url()))
        .body(r#"{"path":"/pay/downloadbill","kind":"truncate"}"#)
        .send()
        .unwrap();
    // Rendering fifty million trades whole would send nothing for minutes; the stream is cut
    // after its first chunk instead.
    let mut response = http
        .post(format!("{}/pay/downloadbill", emulator.base_url()))
        .body(signed(&[("bill_date", "20261120")], SignType::Md5))
        .send()
        .unwrap();
    let mut received = 0;
    let mut buffer = [0u8; 8192];
    let ended = loop {
        match response.read(&mut buffer) {
            Ok(0) => break Ok(()),
            Ok(n) => received += n,
            Err(e) => break Err(e),
        }
    };
    assert!(ended.is_err(), "the body ends in an error, not a clean end");
    assert!(
        (1..1 << 20).contains(&received),
        "{received} bytes before the cut"
    );
}

#[test]
fn refunds_without_a_notify_url_go_to_the_merchant_console_url() {
    let receiver = Receiver::start(vec![(200, SUCCESS_REPLY)]);
    let mut merchant = wxpay_ops::emulator::merchant::Merchant::default_merchant();
    merchant.refund_notify_url = Some(receiver.url.clone());
    let emulator = Emulator::start(ServeOptions {
        core: EmulatorOptions {
            merchants: vec![merchant],
            refund_delay: time::Duration::ZERO,
            ..EmulatorOptions::default()
        },
        ..ServeOptions::default()
    })
    .unwrap();
    pay_and_refund(&emulator, "");
    let bodies = receiver.wait_for(1);
    let refund = decrypt_refund(bodies[0].as_bytes(), &ApiKey::new(DEFAULT_API_KEY)).unwrap();
    assert_eq!(refund.info.get("out_refund_no"), Some("R1"));
}

#[test]
fn business_outcomes_over_the_control_plane() {
    let emulator = start();
    let http = reqwest::blocking::Client::new();
    let control = format!("{}/__emulator/outcomes", emulator.base_url());
    let post_outcome = |body: &str| {
        let response = http.post(&control).body(body.to_owned()).send().unwrap();
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().unwrap())
    };
    let (status, pending) = post_outcome(
        r#"{"out_refund_no":"R1","err_code":"BIZERR_NEED_RETRY","path":"/secapi/pay/refund"}"#,
    );
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending[0]["err_code"], "BIZERR_NEED_RETRY");
    assert_eq!(pending[0]["count"], 1);
    let (status, pending) = post_outcome(r#"{"out_refund_no":"R1","refund_status":"CHANGE"}"#);
    assert_eq!(status, 200, "{pending}");
    for (body, why) in [
        (
            r#"{"out_trade_no":"T1","err_code":"BIZERR_NEED_RETRY","path":"/pay/orderquery"}"#,
            "orderquery never answers BIZERR_NEED_RETRY",
        ),
        (
            r#"{"out_trade_no":"T1","err_code":"MADE_UP"}"#,
            "unknown code",
        ),
        (
            r#"{"out_trade_no":"T1","refund_status":"CHANGE"}"#,
            "needs a refund",
        ),
        (
            r#"{"out_trade_no":"T1","err_code":"ERROR","colour":1}"#,
            "unknown field",
        ),
    ] {
        let (status, error) = post_outcome(body);
        assert_eq!(status, 400, "{why}: {error}");
        assert!(error["error"].as_str().is_some());
    }

    let receiver = Receiver::start(vec![(200, SUCCESS_REPLY)]);
    let refused = pay_and_refund(&emulator, &receiver.url);
    assert_eq!(refused.get("err_code"), Some("BIZERR_NEED_RETRY"));
    assert_eq!(
        refused.get("err_code_des"),
        Some("退款业务流程错误，需要商户触发重试来解决")
    );
    assert!(
        verify(&refused, &ApiKey::new(DEFAULT_API_KEY), None)
            .unwrap()
            .valid,
        "a business refusal is signed"
    );
    // The retry with the same out_refund_no goes through, and the refund ends in CHANGE.
    let paths = emulator.client_cert(DEFAULT_MCH_ID).unwrap();
    let tls = client(
        &emulator,
        Some(identity_from_pem(&paths.cert, &paths.key).unwrap()),
    );
    let url = format!("{}/secapi/pay/refund", emulator.tls_base_url());
    let retried = post(&tls, &url, refund_request("R1", &receiver.url));
    assert_eq!(retried.get("result_code"), Some("SUCCESS"), "{retried:?}");
    let bodies = receiver.wait_for(1);
    let refund = decrypt_refund(bodies[0].as_bytes(), &ApiKey::new(DEFAULT_API_KEY)).unwrap();
    assert_eq!(refund.info.get("refund_status"), Some("CHANGE"));
    assert_eq!(refund.info.get("success_time"), None);

    let listed: serde_json::Value = http.get(&control).send().unwrap().json().unwrap();
    assert_eq!(listed, serde_json::json!([]), "both outcomes were used");
    let (status, error) = post_outcome(r#"{"out_refund_no":"R1","refund_status":"REFUNDCLOSE"}"#);
    assert_eq!(status, 409, "{error}");
    post_outcome(r#"{"out_trade_no":"T1","err_code":"SYSTEMERROR","count":3}"#);
    let cleared = http.delete(&control).send().unwrap();
    assert_eq!(cleared.status().as_u16(), 200);
    assert!(emulator.core().pending_outcomes().is_empty());
}

#[test]
fn a_coupon_refund_notification_carries_the_settled_amounts() {
    let emulator = start();
    let receiver = Receiver::start(vec![(200, SUCCESS_REPLY)]);
    let http = client(&emulator, None);
    let placed = post(
        &http,
        &format!("{}/pay/unifiedorder", emulator.base_url()),
        signed(
            &[
                ("body", "test"),
                ("out_trade_no", "C1"),
                ("total_fee", "500"),
                ("spbill_create_ip", "127.0.0.1"),
                ("notify_url", "http://127.0.0.1:9/n"),
                ("trade_type", "NATIVE"),
                ("product_id", "P1"),
            ],
            SignType::Md5,
        ),
    );
    assert_eq!(placed.get("result_code"), Some("SUCCESS"));
    let paid = http
        .post(format!("{}/__emulator/orders/pay", emulator.base_url()))
        .body(r#"{"out_trade_no":"C1","coupon_fee":100}"#)
        .send()
        .unwrap();
    assert_eq!(paid.status().as_u16(), 200);
    let paths = emulator.client_cert(DEFAULT_MCH_ID).unwrap();
    let tls = client(
        &emulator,
        Some(identity_from_pem(&paths.cert, &paths.key).unwrap()),
    );
    let answer = post(
        &tls,
        &format!("{}/secapi/pay/refund", emulator.tls_base_url()),
        signed(
            &[
                ("out_trade_no", "C1"),
                ("out_refund_no", "CR1"),
                ("total_fee", "500"),
                ("refund_fee", "120"),
                ("notify_url", &receiver.url),
            ],
            SignType::Md5,
        ),
    );
    assert_eq!(answer.get("coupon_refund_fee"), Some("24"), "{answer:?}");
    let bodies = receiver.wait_for(1);
    let refund = decrypt_refund(bodies[0].as_bytes(), &ApiKey::new(DEFAULT_API_KEY)).unwrap();
    for (name, value) in [
        ("total_fee", "500"),
        ("settlement_total_fee", "400"),
        ("refund_fee", "120"),
        ("settlement_refund_fee", "96"),
        ("refund_status", "SUCCESS"),
    ] {
        assert_eq!(refund.info.get(name), Some(value), "{name}");
    }
}

/// Parses an attempt's `at` (Beijing time, `yyyy-MM-dd HH:mm:ss`).
fn attempt_time(at: &str) -> time::PrimitiveDateTime {
    time::PrimitiveDateTime::parse(
        at,
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .unwrap()
}

#[test]
fn moving_the_clock_releases_notification_retries_in_order() {
    use wxpay_ops::emulator::notify::RETRY_SCHEDULE_SECS;
    // The real schedule: without moving the clock the second attempt would come in 15 s.
    let emulator = Emulator::start(ServeOptions {
        core: EmulatorOptions {
            notify_time_factor: 1.0,
            ..EmulatorOptions::default()
        },
        ..ServeOptions::default()
    })
    .unwrap();
    let receiver = Receiver::start(vec![(500, "busy")]);
    place_order(&emulator, "T1", &receiver.url);
    emulator
        .core()
        .pay(DEFAULT_MCH_ID, "T1", &PayOptions::default())
        .unwrap();
    let attempts = || emulator.core().notifier.attempts();
    let settle = |count: usize| {
        receiver.wait_for(count);
        // Give the notifier a moment to log the last attempt, and to make any it should not.
        std::thread::sleep(Duration::from_millis(300));
        attempts()
    };
    assert_eq!(settle(1).len(), 1);

    let http = reqwest::blocking::Client::new();
    let advance = |seconds: u64| {
        let moved = http
            .post(format!("{}/__emulator/clock", emulator.base_url()))
            .body(format!(r#"{{"advance_seconds":{seconds}}}"#))
            .send()
            .unwrap();
        assert_eq!(moved.status().as_u16(), 200);
    };
    // Three hours cover the retries due at 15 s, 30 s, 1 min … up to 2 h 4 min (the tenth
    // attempt); the eleventh falls due at 3 h 4 min.
    advance(3 * 3600);
    let after_3h = settle(10);
    assert_eq!(after_3h.len(), 10, "{after_3h:#?}");
    advance(24 * 3600);
    let all = settle(16);
    assert_eq!(all.len(), 16, "the first delivery and 15 retries");
    assert_eq!(receiver.bodies.lock().unwrap().len(), 16);
    let numbers: Vec<u32> = all.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, (1..=16).collect::<Vec<_>>());
    let gaps: Vec<i64> = all
        .windows(2)
        .map(|w| (attempt_time(&w[1].at) - attempt_time(&w[0].at)).whole_seconds())
        .collect();
    let schedule: Vec<i64> = RETRY_SCHEDULE_SECS.iter().map(|&s| s as i64).collect();
    assert_eq!(
        gaps, schedule,
        "each attempt is stamped with the emulator time it was due"
    );
    assert!(all.iter().all(|a| !a.accepted));
    advance(48 * 3600);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(attempts().len(), 16, "the schedule has run out");
}

#[test]
fn a_retry_accepted_after_a_clock_jump_ends_the_schedule() {
    let emulator = Emulator::start(ServeOptions {
        core: EmulatorOptions {
            notify_time_factor: 1.0,
            ..EmulatorOptions::default()
        },
        ..ServeOptions::default()
    })
    .unwrap();
    let receiver = Receiver::start(vec![(500, "busy"), (500, "busy"), (200, SUCCESS_REPLY)]);
    place_order(&emulator, "T1", &receiver.url);
    emulator
        .core()
        .pay(DEFAULT_MCH_ID, "T1", &PayOptions::default())
        .unwrap();
    receiver.wait_for(1);
    emulator
        .core()
        .clock
        .advance(time::Duration::hours(24))
        .unwrap();
    receiver.wait_for(3);
    std::thread::sleep(Duration::from_millis(300));
    let accepted: Vec<bool> = emulator
        .core()
        .notifier
        .attempts()
        .iter()
        .map(|a| a.accepted)
        .collect();
    assert_eq!(accepted, [false, false, true]);
}

#[test]
fn service_provider_notifications_carry_the_sub_merchant() {
    use wxpay_ops::emulator::merchant::{
        Merchant, SERVICE_PROVIDER_API_KEY, SERVICE_PROVIDER_APPID, SERVICE_PROVIDER_MCH_ID,
        SUB_APPID, SUB_MCH_ID,
    };
    let emulator = Emulator::start(ServeOptions {
        core: EmulatorOptions {
            merchants: vec![
                Merchant::default_merchant(),
                Merchant::default_service_provider(),
            ],
            notify_time_factor: 0.001,
            refund_delay: time::Duration::ZERO,
            ..EmulatorOptions::default()
        },
        ..ServeOptions::default()
    })
    .unwrap();
    let key = ApiKey::new(SERVICE_PROVIDER_API_KEY);
    let provider_signed = |fields: &[(&str, &str)]| {
        let mut message = Message::new();
        message
            .set("appid", SERVICE_PROVIDER_APPID)
            .set("mch_id", SERVICE_PROVIDER_MCH_ID)
            .set("sub_mch_id", SUB_MCH_ID)
            .set("sub_appid", SUB_APPID)
            .set("nonce_str", "ibuaiVcKdpRxkhJA");
        for (name, value) in fields {
            message.set(name, *value);
        }
        sign_in_place(&mut message, &key, SignType::Md5);
        message.to_xml()
    };
    let payments = Receiver::start(vec![(200, SUCCESS_REPLY)]);
    let refunds = Receiver::start(vec![(200, SUCCESS_REPLY)]);
    let placed = post(
        &client(&emulator, None),
        &format!("{}/pay/unifiedorder", emulator.base_url()),
        provider_signed(&[
            ("body", "test"),
            ("out_trade_no", "S1"),
            ("total_fee", "100"),
            ("spbill_create_ip", "127.0.0.1"),
            ("notify_url", &payments.url),
            ("trade_type", "JSAPI"),
            ("sub_openid", "oSubPayer"),
        ]),
    );
    assert_eq!(placed.get("result_code"), Some("SUCCESS"), "{placed:?}");
    let http = reqwest::blocking::Client::new();
    let paid = http
        .post(format!("{}/__emulator/orders/pay", emulator.base_url()))
        .body(format!(
            r#"{{"mch_id":"{SERVICE_PROVIDER_MCH_ID}","sub_mch_id":"{SUB_MCH_ID}","out_trade_no":"S1"}}"#
        ))
        .send()
        .unwrap();
    assert_eq!(paid.status().as_u16(), 200);
    let notification = Message::parse(payments.wait_for(1)[0].as_bytes()).unwrap();
    assert!(verify(&notification, &key, None).unwrap().valid);
    for (name, value) in [
        ("mch_id", SERVICE_PROVIDER_MCH_ID),
        ("sub_mch_id", SUB_MCH_ID),
        ("sub_appid", SUB_APPID),
        ("sub_openid", "oSubPayer"),
        ("sub_is_subscribe", "N"),
    ] {
        assert_eq!(notification.get(name), Some(value), "{name}");
    }

    let paths = emulator.client_cert(SERVICE_PROVIDER_MCH_ID).unwrap();
    let tls = client(
        &emulator,
        Some(identity_from_pem(&paths.cert, &paths.key).unwrap()),
    );
    let refund = post(
        &tls,
        &format!("{}/secapi/pay/refund", emulator.tls_base_url()),
        provider_signed(&[
            ("out_trade_no", "S1"),
            ("out_refund_no", "SR1"),
            ("total_fee", "100"),
            ("refund_fee", "100"),
            ("notify_url", &refunds.url),
        ]),
    );
    assert_eq!(refund.get("sub_mch_id"), Some(SUB_MCH_ID), "{refund:?}");
    let notified = decrypt_refund(refunds.wait_for(1)[0].as_bytes(), &key).unwrap();
    assert_eq!(notified.envelope.get("sub_mch_id"), Some(SUB_MCH_ID));
    assert_eq!(notified.envelope.get("sub_appid"), Some(SUB_APPID));
    assert_eq!(notified.info.get("out_refund_no"), Some("SR1"));
}
