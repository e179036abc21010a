//! `order query --from-csv` against the emulator on loopback: orders per second, and the
//! command's peak memory at two batch sizes, to show that it stays flat.
//!
//! cargo bench --bench api
//!
//! Settings by environment: BENCH_ORDERS (default 10000), BENCH_CONCURRENCY (default 16),
//! BENCH_PLAIN=1 to query over plain HTTP instead of HTTPS.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use wxpay_ops::emulator::merchant::{DEFAULT_API_KEY, DEFAULT_APPIDS, DEFAULT_MCH_ID};
use wxpay_ops::emulator::state::PayOptions;
use wxpay_ops::emulator::{Emulator, ServeOptions};
use wxpay_ops::wechat::api::Endpoint;
use wxpay_ops::wechat::client::{Client, ClientOptions};
use wxpay_ops::wechat::{ApiKey, SignType};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Places `count` NATIVE orders (every third one paid) and writes their numbers to a CSV.
fn place_orders(emulator: &Emulator, count: u64, csv: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(ClientOptions::new(
        emulator.base_url(),
        DEFAULT_MCH_ID,
        DEFAULT_APPIDS[0],
        ApiKey::new(DEFAULT_API_KEY),
        SignType::Md5,
    ))
    .unwrap();
    let client = &client;
    runtime.block_on(async {
        futures_util::stream::iter(0..count)
            .map(|n| async move {
                let number = format!("BENCH{n:07}");
                let fields = [
                    ("body", "bench"),
                    ("out_trade_no", number.as_str()),
                    ("total_fee", "100"),
                    ("spbill_create_ip", "127.0.0.1"),
                    ("notify_url", "http://127.0.0.1:9/n"),
                    ("trade_type", "NATIVE"),
                    ("product_id", "P"),
                ];
                let prepared = client.prepare(Endpoint::UnifiedOrder, &fields);
                client.send(&prepared).await.expect("unifiedorder");
            })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
    });
    // Paying notifies a notify_url nobody listens on: the emulator logs and moves on.
    for n in (0..count).step_by(3) {
        emulator
            .core()
            .pay(
                DEFAULT_MCH_ID,
                &format!("BENCH{n:07}"),
                &PayOptions::default(),
            )
            .unwrap();
    }
    let mut text = String::from("out_trade_no\n");
    for n in 0..count {
        text.push_str(&format!("BENCH{n:07}\n"));
    }
    std::fs::write(csv, text).unwrap();
}

/// The peak resident memory (VmHWM) of a running process, in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

struct Run {
    rows: u64,
    seconds: f64,
    peak_mib: f64,
}

/// Runs the real binary over the first `orders` rows of the CSV.
fn run(home: &Path, config: &Path, csv: &Path, orders: u64, concurrency: u64) -> Run {
    let input = home.join(format!("orders-{orders}.csv"));
    let text = std::fs::read_to_string(csv).unwrap();
    let head: Vec<&str> = text.lines().take(orders as usize + 1).collect();
    std::fs::write(&input, head.join("\n") + "\n").unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxpay-ops"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "-q",
            "--format",
            "json",
        ])
        .args(["order", "query", "--from-csv", input.to_str().unwrap()])
        .args(["--concurrency", &concurrency.to_string()])
        .env("HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary runs");
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        let mut rows = 0u64;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            assert!(line.contains("\"trade_state\":\""), "a failed row: {line}");
            rows += 1;
        }
        rows
    });
    let mut peak_mib: f64 = 0.0;
    let status = loop {
        if let Some(mib) = peak_rss_mib(pid) {
            peak_mib = peak_mib.max(mib);
        }
        match child.try_wait().unwrap() {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    assert!(status.success(), "order query --from-csv failed: {status}");
    Run {
        rows: counter.join().unwrap(),
        seconds,
        peak_mib,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this quickly as a smoke test.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let orders = if smoke {
        200
    } else {
        setting("BENCH_ORDERS", 10_000)
    };
    let concurrency = setting("BENCH_CONCURRENCY", 16);
    let plain = std::env::var("BENCH_PLAIN").is_ok_and(|v| v == "1");
    let emulator = Emulator::start(ServeOptions::default()).expect("the emulator starts");
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("orders.csv");
    let placing = Instant::now();
    place_orders(&emulator, orders, &csv);
    eprintln!(
        "placed {orders} orders in {:.1} s",
        placing.elapsed().as_secs_f64()
    );
    let config = if plain {
        // Beside the emulator's profile, whose paths are relative to its folder.
        let path = emulator.cert_dir().join("plain.toml");
        let text = std::fs::read_to_string(emulator.profile())
            .unwrap()
            .replace(&emulator.tls_base_url(), &emulator.base_url());
        std::fs::write(&path, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    } else {
        emulator.profile().to_owned()
    };
    let transport = if plain { "HTTP" } else { "HTTPS" };
    for size in [orders / 10, orders] {
        let result = run(home.path(), &config, &csv, size, concurrency);
        assert_eq!(result.rows, size, "every order has its row");
        println!(
            "order query --from-csv, {size} orders, --concurrency {concurrency}, {transport}: \
             {:.2} s, {:.0} orders/s, peak memory {:.1} MiB",
            result.seconds,
            result.rows as f64 / result.seconds,
            result.peak_mib
        );
    }
}
