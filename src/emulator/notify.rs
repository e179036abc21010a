//! Delivering notifications to `notify_url` on WeChat Pay's retry schedule.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::clock::Clock;
use super::cloudpay::CloudFunctions;
use super::lock;
use crate::time::bill_time;
use crate::wechat::is_loopback_url;
use crate::wechat::notify::is_success_reply;
use crate::wechat::notify_build::cloud_ack;

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

/// A cloud function runs for at most its timeout, 3 s unless configured otherwise
/// (UNCONFIRMED how long WeChat waits for the payment callback itself).
const CLOUD_FUNCTION_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// `ENV/NAME` when the notification is a cloud-pay callback event to a cloud function;
    /// `url` is then the function's local URL at the attempt (empty while none is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_function: Option<String>,
    /// 1 for the first delivery.
    pub attempt: u32,
    /// When the attempt fell due by the emulator's clock (Beijing time): the notification
    /// time, then the retry schedule from there.
    pub at: String,
    /// HTTP status and a short reason, or the transport error.
    pub outcome: String,
    pub accepted: bool,
    /// Not sent: the emulator keeps notifications on this machine unless told otherwise.
    pub refused: bool,
    /// A v3 probe (B2): the callback sent first with a signature meant to fail; `accepted`
    /// says the handler took it, which it must not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub probe: bool,
}

#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
    /// Multiplies every retry delay: 1.0 is WeChat's real schedule, 0.001 turns 15 s into 15 ms.
    /// Moving the emulator's clock also releases the retries it passes.
    time_factor: f64,
    attempts: Arc<Mutex<VecDeque<Attempt>>>,
    runtime: tokio::runtime::Handle,
    /// Attempts are stamped with the emulator's time, like everything else it records.
    clock: Clock,
    /// Whether notify_url may name another machine (`emulator serve --allow-remote`).
    allow_remote: bool,
    /// The cloud functions given to the emulator, looked up at each attempt.
    pub cloud_functions: CloudFunctions,
    /// Which key signs v3 answers and callbacks; shared with the server's v3 answers.
    pub v3_signing: Arc<Mutex<super::v3::V3Signing>>,
    /// Whether each v3 callback is first sent as a probe (B2), as WeChat Pay does at times.
    pub v3_probe: Arc<std::sync::atomic::AtomicBool>,
}

/// Where a notification goes, and what acknowledges it.
#[derive(Debug, Clone)]
enum Destination {
    /// The merchant's notify_url: signed XML, acknowledged by the SUCCESS reply.
    NotifyUrl(String),
    /// The merchant's notify_url, for an order or refund made on API v3: JSON signed in the
    /// headers at each delivery, acknowledged by a 200 or 204 (B4).
    V3NotifyUrl(String),
    /// The same, with a probe signature (`WECHATPAY/SIGNTEST/…`) that the handler must refuse.
    V3Probe(String),
    /// A cloud function (`ENV/NAME`): the callback event as JSON, acknowledged by
    /// `{"errcode": 0}`.
    CloudFunction(String),
}

impl Notifier {
    pub fn new(
        time_factor: f64,
        runtime: tokio::runtime::Handle,
        clock: Clock,
        allow_remote: bool,
    ) -> Notifier {
        crate::wechat::transport::install_crypto_provider();
        let mut client = reqwest::Client::builder().timeout(DELIVERY_TIMEOUT);
        if !allow_remote {
            // A loopback notify_url must not reach another machine through a redirect or a
            // proxy from the environment either.
            client = client
                .no_proxy()
                .redirect(reqwest::redirect::Policy::custom(|attempt| {
                    if attempt.previous().len() < 10 && is_loopback_url(attempt.url().as_str()) {
                        attempt.follow()
                    } else {
                        attempt.stop()
                    }
                }));
        }
        let client = client
            .build()
            .expect("an HTTP client with default settings builds");
        Notifier {
            client,
            time_factor,
            attempts: Arc::default(),
            runtime,
            clock,
            allow_remote,
            cloud_functions: CloudFunctions::default(),
            v3_signing: Arc::default(),
            v3_probe: Arc::default(),
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
        if self.keeps_local(kind, &reference, &url) {
            self.deliver(kind, reference, Destination::NotifyUrl(url), body);
        }
    }

    /// Delivers an API v3 callback, as [`Notifier::send`] does a v2 notification.
    pub fn send_v3(&self, kind: NotificationKind, reference: String, url: String, body: String) {
        if self.keeps_local(kind, &reference, &url) {
            self.deliver(kind, reference, Destination::V3NotifyUrl(url), body);
        }
    }

    /// Whether `url` may be sent to; a refusal is recorded as the attempt.
    fn keeps_local(&self, kind: NotificationKind, reference: &str, url: &str) -> bool {
        // WeChat Pay takes any well-formed http(s) notify_url (reference A1), so the order or
        // refund itself is accepted as the real server would accept it; keeping notifications
        // on this machine is the emulator's own rule, against being used to reach other hosts,
        // so it is applied here, where the emulator would reach out, and logged where the
        // developer looks for deliveries.
        if !self.allow_remote && !is_loopback_url(url) {
            self.record(Attempt {
                kind,
                reference: reference.to_owned(),
                url: url.to_owned(),
                cloud_function: None,
                attempt: 1,
                at: bill_time(self.clock.now()),
                outcome: "refused: notify_url is not a loopback address; \
                          start the emulator with --allow-remote to send notifications elsewhere"
                    .to_owned(),
                accepted: false,
                refused: true,
                probe: false,
            });
            return false;
        }
        true
    }

    /// Delivers a cloud-pay callback event to the cloud function `ENV/NAME`, on the same
    /// schedule: until it answers `{"errcode": 0}` or the schedule runs out. The function's
    /// URL is looked up at each attempt, so one given late still gets the retries.
    pub fn send_to_cloud_function(
        &self,
        kind: NotificationKind,
        reference: String,
        function: String,
        event: String,
    ) {
        self.deliver(kind, reference, Destination::CloudFunction(function), event);
    }

    fn deliver(
        &self,
        kind: NotificationKind,
        reference: String,
        destination: Destination,
        body: String,
    ) {
        let notifier = self.clone();
        self.runtime.spawn(async move {
            // Each retry falls due by the emulator's clock, counted from when the attempt
            // before it was due, so that moving the clock ahead releases every attempt of
            // the schedule it passes, in order, as WeChat would have made them.
            let mut due = notifier.clock.now();
            if let Destination::V3NotifyUrl(url) = &destination
                && notifier.v3_probe.load(std::sync::atomic::Ordering::Relaxed)
            {
                let probe = Destination::V3Probe(url.clone());
                let (url, outcome, taken) = notifier.attempt(&probe, &body).await;
                let verdict = if taken {
                    "taken: the handler does not check signatures"
                } else {
                    "refused, as it must be"
                };
                notifier.record(Attempt {
                    kind,
                    reference: reference.clone(),
                    url,
                    cloud_function: None,
                    attempt: 0,
                    at: bill_time(due),
                    outcome: format!("probe (WECHATPAY/SIGNTEST/): {outcome}: {verdict}"),
                    accepted: taken,
                    refused: false,
                    probe: true,
                });
            }
            for attempt in 1..=(RETRY_SCHEDULE_SECS.len() as u32 + 1) {
                notifier.clock.wait_until(due).await;
                let (url, outcome, accepted) = notifier.attempt(&destination, &body).await;
                notifier.record(Attempt {
                    kind,
                    reference: reference.clone(),
                    url,
                    cloud_function: match &destination {
                        Destination::CloudFunction(function) => Some(function.clone()),
                        _ => None,
                    },
                    attempt,
                    at: bill_time(due),
                    outcome,
                    accepted,
                    refused: false,
                    probe: false,
                });
                let Some(delay) = RETRY_SCHEDULE_SECS.get(attempt as usize - 1) else {
                    break;
                };
                if accepted {
                    break;
                }
                let scaled =
                    time::Duration::checked_seconds_f64(*delay as f64 * notifier.time_factor);
                match scaled.and_then(|by| due.checked_add(by)) {
                    Some(next) => due = next,
                    None => break,
                }
            }
        });
    }

    /// One delivery: the URL it went to, what came of it, and whether that acknowledges it.
    async fn attempt(&self, destination: &Destination, body: &str) -> (String, String, bool) {
        let (url, content_type, timeout) = match destination {
            Destination::NotifyUrl(url) => (url.clone(), "text/xml", DELIVERY_TIMEOUT),
            Destination::V3NotifyUrl(url) | Destination::V3Probe(url) => {
                (url.clone(), "application/json", DELIVERY_TIMEOUT)
            }
            Destination::CloudFunction(function) => match self.cloud_functions.url(function) {
                Some(url) => (url, "application/json", CLOUD_FUNCTION_TIMEOUT),
                // WeChat would find no such function and call again later; so does the
                // emulator, and a function given meanwhile gets the next attempt.
                None => {
                    let outcome = format!(
                        "no cloud function {function} is given to the emulator \
                         (emulator serve --cloud-function, or POST /__emulator/cloud-functions)"
                    );
                    return (String::new(), outcome, false);
                }
            },
        };
        let mut request = self
            .client
            .post(&url)
            .header("Content-Type", content_type)
            .timeout(timeout);
        match destination {
            Destination::V3NotifyUrl(_) | Destination::V3Probe(_) => {
                // This machine's time: the handler checks the timestamp with its own clock.
                let (now, signing) = (time::OffsetDateTime::now_utc(), *lock(&self.v3_signing));
                let probe = matches!(destination, Destination::V3Probe(_));
                for (name, value) in super::v3::signature_headers(body.as_bytes(), now, signing) {
                    let value = match name {
                        "Wechatpay-Signature" if probe => {
                            format!(
                                "{}{}",
                                crate::wechat::v3::PROBE_PREFIX,
                                crate::wechat::sign::nonce_str()
                            )
                        }
                        _ => value,
                    };
                    request = request.header(name, value);
                }
            }
            // Every delivery carries a Request-ID (reference A4).
            _ => request = request.header("Request-ID", crate::wechat::sign::nonce_str()),
        }
        let sent = request.body(body.to_owned()).send().await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return (url, format!("delivery failed: {e}"), false),
        };
        let status = response.status().as_u16();
        let reply = response.bytes().await.unwrap_or_default();
        let (accepted, reason) = match destination {
            Destination::NotifyUrl(_) => {
                let accepted = is_success_reply(status, &reply);
                let reason = if accepted {
                    "accepted".to_owned()
                } else {
                    "reply is not the SUCCESS XML".to_owned()
                };
                (accepted, reason)
            }
            Destination::V3NotifyUrl(_) | Destination::V3Probe(_) => match status {
                200 | 204 => (true, "accepted".to_owned()),
                _ => (false, "not a 200 or 204".to_owned()),
            },
            Destination::CloudFunction(_) => cloud_ack(status, &reply),
        };
        (url, format!("HTTP {status}: {reason}"), accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_totals_24_hours_4_minutes() {
        assert_eq!(RETRY_SCHEDULE_SECS.iter().sum::<u64>(), 24 * 3600 + 4 * 60);
    }
}
