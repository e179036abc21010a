//! Delivering notifications to `notify_url` on WeChat Pay's retry schedule.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::clock::{Clock, bill_time};
use super::lock;
use crate::wechat::Message;

/// Delays before each retry after a failed delivery (reference A4, current documentation):
/// 15 retries over 24h4m.
pub const RETRY_SCHEDULE_SECS: [u64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

/// Attempts kept for listing: enough for any test, bounded for long-running servers.
pub const MAX_ATTEMPTS_KEPT: usize = 10_000;

/// WeChat waits about five seconds for an answer (v3 documentation; the v2 value is not
/// published).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Payment,
    Refund,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub kind: NotificationKind,
    /// out_trade_no for payments, out_refund_no for refunds.
    pub reference: String,
    pub url: String,
    /// 1 for the first delivery.
    pub attempt: u32,
    pub at: String,
    /// HTTP status and a short reason, or the transport error.
    pub outcome: String,
    pub accepted: bool,
}

#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
    /// Multiplies every retry delay: 1.0 is WeChat's real schedule, 0.001 turns 15 s into 15 ms.
    time_factor: f64,
    attempts: Arc<Mutex<VecDeque<Attempt>>>,
    runtime: tokio::runtime::Handle,
    /// Attempts are stamped with the emulator's time, like everything else it records.
    clock: Clock,
}

/// Only the documented reply counts: an `<xml>` message whose return_code is SUCCESS, with
/// nothing around it. `success`, JSON, an HTML page, another root element or stray text are
/// failures and are retried. (White space between elements stays acceptable: XML parsers,
/// WeChat's most likely too, do not see it.)
pub fn is_accepted(status: u16, body: &[u8]) -> bool {
    status == 200
        && !body.first().is_some_and(u8::is_ascii_whitespace)
        && !body.last().is_some_and(u8::is_ascii_whitespace)
        && Message::parse_with_root(body)
            .is_ok_and(|(root, reply)| root == "xml" && reply.get("return_code") == Some("SUCCESS"))
}

impl Notifier {
    pub fn new(time_factor: f64, runtime: tokio::runtime::Handle, clock: Clock) -> Notifier {
        crate::wechat::transport::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .build()
            .expect("an HTTP client with default settings builds");
        Notifier {
            client,
            time_factor,
            attempts: Arc::default(),
            runtime,
            clock,
        }
    }

    /// The latest attempts (at most `MAX_ATTEMPTS_KEPT`), oldest first.
    pub fn attempts(&self) -> Vec<Attempt> {
        lock(&self.attempts).iter().cloned().collect()
    }

    fn record(&self, attempt: Attempt) {
        let mut attempts = lock(&self.attempts);
        if attempts.len() == MAX_ATTEMPTS_KEPT {
            attempts.pop_front();
        }
        attempts.push_back(attempt);
    }

    /// Delivers in the background until accepted or the schedule runs out.
    pub fn send(&self, kind: NotificationKind, reference: String, url: String, body: String) {
        let notifier = self.clone();
        self.runtime.spawn(async move {
            for attempt in 1..=(RETRY_SCHEDULE_SECS.len() as u32 + 1) {
                let outcome = notifier
                    .client
                    .post(&url)
                    .header("Content-Type", "text/xml")
                    // Every delivery carries a Request-ID (reference A4).
                    .header("Request-ID", crate::wechat::sign::nonce_str())
                    .body(body.clone())
                    .send()
                    .await;
                let (outcome, accepted) = match outcome {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let reply = response.bytes().await.unwrap_or_default();
                        let accepted = is_accepted(status, &reply);
                        let reason = if accepted {
                            "accepted"
                        } else {
                            "reply is not the SUCCESS XML"
                        };
                        (format!("HTTP {status}: {reason}"), accepted)
                    }
                    Err(e) => (format!("delivery failed: {e}"), false),
                };
                notifier.record(Attempt {
                    kind,
                    reference: reference.clone(),
                    url: url.clone(),
                    attempt,
                    at: bill_time(notifier.clock.now()),
                    outcome,
                    accepted,
                });
                let Some(delay) = RETRY_SCHEDULE_SECS.get(attempt as usize - 1) else {
                    break;
                };
                if accepted {
                    break;
                }
                let scaled = Duration::from_secs_f64(*delay as f64 * notifier.time_factor);
                tokio::time::sleep(scaled).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_success_xml_counts() {
        let ok = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>";
        assert!(is_accepted(200, ok));
        assert!(is_accepted(
            200,
            b"<xml><return_code>SUCCESS</return_code></xml>"
        ));
        assert!(!is_accepted(500, ok));
        for bad in [
            &b"success"[..],
            b"SUCCESS",
            b"{\"return_code\":\"SUCCESS\",\"return_msg\":\"OK\"}",
            b"<html><body>ok</body></html>",
            b"<xml><return_code><![CDATA[FAIL]]></return_code></xml>",
            b"<xml><return_code>SUCCESS</return_code></xml>trailing",
            b"<xml><return_code>SUCCESS</return_code></xml>\n",
            b"<root><return_code>SUCCESS</return_code></root>",
            b"<xml><return_code>SUCCESS</return_code>\\n</xml>",
            b"",
        ] {
            assert!(!is_accepted(200, bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_schedule_totals_24_hours_4_minutes() {
        assert_eq!(RETRY_SCHEDULE_SECS.iter().sum::<u64>(), 24 * 3600 + 4 * 60);
    }
}
