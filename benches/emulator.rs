//! Emulator benchmarks, with their own data (a placed order; a synthetic day).
//!
//! cargo bench --bench emulator
//!
//! Settings by environment: BENCH_SECONDS (default 5) and BENCH_CONCURRENCY (default 32) for
//! the orderquery round trips; BENCH_BILL_TRADES (default 10000000) for the streamed bill.

use std::time::{Duration, Instant};

use wxpay_ops::emulator::merchant::{DEFAULT_API_KEY, DEFAULT_APPIDS, DEFAULT_MCH_ID};
use wxpay_ops::emulator::synth::SyntheticDay;
use wxpay_ops::emulator::{Emulator, ServeOptions};
use wxpay_ops::wechat::sign::{nonce_str, sign_in_place, verify};
use wxpay_ops::wechat::{ApiKey, Message, SignType};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn signed(fields: &[(&str, &str)]) -> String {
    let mut message = Message::new();
    message
        .set("appid", DEFAULT_APPIDS[0])
        .set("mch_id", DEFAULT_MCH_ID)
        .set("nonce_str", nonce_str());
    for (name, value) in fields {
        message.set(name, *value);
    }
    sign_in_place(&mut message, &ApiKey::new(DEFAULT_API_KEY), SignType::Md5);
    message.to_xml()
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn orderquery_round_trips(emulator: &Emulator, runtime: &tokio::runtime::Runtime) {
    let seconds = setting("BENCH_SECONDS", 5);
    let concurrency = setting("BENCH_CONCURRENCY", 32);
    let base = emulator.base_url();
    let client = reqwest::Client::new();
    runtime.block_on(async {
        let order = signed(&[
            ("body", "bench"),
            ("out_trade_no", "BENCH1"),
            ("total_fee", "1"),
            ("spbill_create_ip", "127.0.0.1"),
            ("notify_url", "http://127.0.0.1:9/n"),
            ("trade_type", "NATIVE"),
            ("product_id", "P"),
        ]);
        client
            .post(format!("{base}/pay/unifiedorder"))
            .body(order)
            .send()
            .await
            .expect("unifiedorder");
    });
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let results = runtime.block_on(async {
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let client = client.clone();
                let url = format!("{base}/pay/orderquery");
                tokio::spawn(async move {
                    let key = ApiKey::new(DEFAULT_API_KEY);
                    let mut latencies = Vec::new();
                    while Instant::now() < deadline {
                        let sent = Instant::now();
                        let body = client
                            .post(&url)
                            .body(signed(&[("out_trade_no", "BENCH1")]))
                            .send()
                            .await
                            .expect("orderquery")
                            .bytes()
                            .await
                            .expect("orderquery body");
                        let answer = Message::parse(&body).expect("XML answer");
                        assert!(verify(&answer, &key, None).expect("signed").valid);
                        assert_eq!(answer.get("trade_state"), Some("NOTPAY"));
                        latencies.push(sent.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.expect("worker"));
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = results;
    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "orderquery: {} signed round trips in {elapsed:.1} s with {concurrency} concurrent clients = {:.0}/s \
         (p50 {:?}, p99 {:?}); every answer's sign verified",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(0.5),
        percentile(0.99),
    );
}

fn streamed_bill(emulator: &Emulator, runtime: &tokio::runtime::Runtime) {
    let trades = setting("BENCH_BILL_TRADES", 10_000_000);
    emulator
        .core()
        .add_synthetic_day(SyntheticDay {
            mch_id: DEFAULT_MCH_ID.into(),
            appid: DEFAULT_APPIDS[0].into(),
            bill_date: "20261120".into(),
            trades,
            seed: 1,
        })
        .expect("synthetic day");
    emulator
        .core()
        .clock
        .set(wxpay_ops::time::parse_api_time("20261121120000").expect("time"))
        .expect("a time the clock accepts");
    let before = peak_rss_mib();
    let started = Instant::now();
    let (bytes, lines, last_line) = runtime.block_on(async {
        let mut response = reqwest::Client::new()
            .post(format!("{}/pay/downloadbill", emulator.base_url()))
            .body(signed(&[("bill_date", "20261120"), ("bill_type", "ALL")]))
            .send()
            .await
            .expect("downloadbill");
        let (mut bytes, mut lines) = (0u64, 0u64);
        let mut tail = Vec::new();
        while let Some(chunk) = response.chunk().await.expect("bill chunk") {
            bytes += chunk.len() as u64;
            lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            tail.extend_from_slice(&chunk);
            if tail.len() > 4096 {
                tail.drain(..tail.len() - 4096);
            }
        }
        let text = String::from_utf8_lossy(&tail).into_owned();
        let last = text
            .trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned();
        (bytes, lines, last)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let rows = lines - 3;
    let summary_count: u64 = last_line
        .trim_start_matches('`')
        .split(",`")
        .next()
        .and_then(|n| n.parse().ok())
        .expect("summary line");
    assert_eq!(summary_count, rows, "the summary counts every row");
    println!(
        "downloadbill: {trades} synthetic trades = {rows} rows, {:.0} MiB streamed in {elapsed:.1} s ({:.0} MiB/s, {:.0} rows/s)",
        bytes as f64 / 1048576.0,
        bytes as f64 / 1048576.0 / elapsed,
        rows as f64 / elapsed,
    );
    if let (Some(before), Some(after)) = (before, peak_rss_mib()) {
        println!(
            "  peak memory of the process: {before:.0} MiB before, {after:.0} MiB after (flat: the bill is never held)"
        );
    }
}

fn main() {
    // `cargo test --benches` runs this binary with --bench absent; only measure when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let emulator = Emulator::start(ServeOptions::default()).expect("emulator");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    orderquery_round_trips(&emulator, &runtime);
    streamed_bill(&emulator, &runtime);
}
