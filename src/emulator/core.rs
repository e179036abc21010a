//! The emulator's state and request handling, independent of the HTTP server around it.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::Duration;

use super::clock::Clock;
use super::faults::{Fault, FaultKind, Faults};
use super::lock;
use super::merchant::Merchant;
use super::notify::{NotificationKind, Notifier};
use super::outcomes::{Outcome, Outcomes};
use super::state::{Account, Ledger, Order, PayOptions, Refund, RefundStatus, Refusal};
use super::synth::{MAX_SYNTHETIC_TRADES, SyntheticDay};
use crate::bill::format::FeeRate;
use crate::time::{BEIJING, bill_time};
use crate::wechat::{ApiKey, Message, SignType};

/// What the emulated server is: its merchants and the rules it runs them by (fees,
/// notification schedule, refund and order lifetimes). How it listens is [`super::ServeOptions`].
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    pub merchants: Vec<Merchant>,
    /// The fee rate of bills (60 = 0.60%, the common rate).
    pub fee_rate: FeeRate,
    /// Multiplies notification retry delays; 1.0 is the real schedule.
    pub notify_time_factor: f64,
    /// How long (emulator time) a refund stays PROCESSING before it succeeds.
    pub refund_delay: Duration,
    /// How long an unpaid order lives without time_expire (reference A8: 7 days).
    pub unpaid_lifetime: Duration,
    /// Whether notifications may go to another machine; otherwise only loopback notify_urls
    /// are sent to, and others are logged as refused.
    pub allow_remote_notify: bool,
    /// Whether closeorder may close an order within 5 minutes of its creation, which WeChat
    /// Pay refuses; for tests that close at once. The control plane switches it too.
    pub allow_early_close: bool,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            merchants: vec![Merchant::default_merchant()],
            fee_rate: FeeRate(60),
            notify_time_factor: 1.0,
            refund_delay: Duration::seconds(5),
            unpaid_lifetime: Duration::days(7),
            allow_remote_notify: false,
            allow_early_close: false,
        }
    }
}

pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
    /// The common name of a verified client certificate, on the TLS listener.
    pub client_cert_cn: Option<&'a str>,
}

/// Writes a body too large to hold in memory (a synthetic day's bill) as it is sent.
pub type BodyWriter = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

pub enum Body {
    Bytes(Vec<u8>),
    Stream(BodyWriter),
}

impl Body {
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Bytes(bytes) => Some(bytes),
            Body::Stream(_) => None,
        }
    }

    /// The whole body in memory, running a stream to its end.
    pub fn into_vec(self) -> io::Result<Vec<u8>> {
        match self {
            Body::Bytes(bytes) => Ok(bytes),
            Body::Stream(write) => {
                let mut out = Vec::new();
                write(&mut out)?;
                Ok(out)
            }
        }
    }
}

/// What the server sends back; `transport` faults are carried out by the server.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
    /// Headers beside Content-Type: an API v3 answer's signature.
    pub headers: Vec<(&'static str, String)>,
    pub transport: Option<FaultKind>,
}

impl Reply {
    pub fn xml(message: &Message) -> Reply {
        Reply::text(200, message.to_xml())
    }

    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            content_type: "text/plain",
            body: Body::Bytes(body.into()),
            headers: Vec::new(),
            transport: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub at: String,
    pub method: String,
    pub path: String,
    pub mch_id: String,
    pub outcome: String,
    pub fault: Option<FaultKind>,
    /// Of the request body, so that a test can tell a resent request from a changed one.
    pub body_sha256: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutcomeError {
    #[error("{0}")]
    Invalid(String),
    #[error("refund {out_refund_no} has already ended in {status}")]
    RefundEnded {
        out_refund_no: String,
        status: &'static str,
    },
}

pub struct Core {
    pub options: EmulatorOptions,
    pub clock: Clock,
    pub(super) ledger: Mutex<Ledger>,
    /// The `/sandboxnew` paths' own orders and refunds, apart from production's.
    sandbox_ledger: Mutex<Ledger>,
    pub(super) faults: Mutex<Faults>,
    /// Locked after a ledger when both are needed, never before.
    pub(super) outcomes: Mutex<Outcomes>,
    log: Mutex<VecDeque<LogEntry>>,
    pub(super) synthetic: Mutex<Vec<SyntheticDay>>,
    /// What each synthetic day adds to the Basic account, worked out once: later fund-flow
    /// bills carry it in their balance.
    pub(super) synthetic_nets: Mutex<HashMap<SyntheticDay, i64>>,
    /// See `Options::allow_early_close`; switched on the control plane.
    allow_early_close: AtomicBool,
    pub notifier: Notifier,
    /// Mini-program login: the codes minted and the users they belong to.
    pub(super) logins: Mutex<super::login::Logins>,
    /// API v3 bills applied for, by their download URL's token.
    pub(super) v3_bills: Mutex<HashMap<String, super::v3::bills::Applied>>,
    /// Each merchant's v3 credentials, when it has them.
    pub(super) v3_credentials: Vec<(String, super::v3::V3Credentials)>,
}

/// How long after its creation an order may be closed (reference A2.3, A8).
pub const CLOSE_AFTER: Duration = Duration::minutes(5);

/// The request log keeps the latest entries only, so a long benchmark cannot fill memory.
const MAX_LOG_ENTRIES: usize = 10_000;

/// A request that passed transport, merchant and signature checks.
pub(super) struct Call<'a> {
    pub merchant: &'a Merchant,
    /// The merchant, or in service-provider mode the sub-merchant, the request trades for.
    pub account: Account,
    pub appid: String,
    pub sub_appid: Option<String>,
    pub sign_type: SignType,
    pub key: ApiKey,
    pub message: Message,
    pub sandbox: bool,
}

impl Core {
    /// A core whose notifications are delivered on `runtime`.
    pub fn new(options: EmulatorOptions, runtime: tokio::runtime::Handle) -> Core {
        let clock = Clock::default();
        let notifier = Notifier::new(
            options.notify_time_factor,
            runtime,
            clock.clone(),
            options.allow_remote_notify,
        );
        let ledger = Ledger::default();
        let sandbox_ledger = ledger.sharing_numbers();
        Core {
            v3_credentials: super::v3::credentials(&options.merchants),
            allow_early_close: AtomicBool::new(options.allow_early_close),
            options,
            clock,
            ledger: Mutex::new(ledger),
            sandbox_ledger: Mutex::new(sandbox_ledger),
            faults: Mutex::default(),
            outcomes: Mutex::default(),
            log: Mutex::default(),
            synthetic: Mutex::default(),
            synthetic_nets: Mutex::default(),
            notifier,
            logins: Mutex::default(),
            v3_bills: Mutex::default(),
        }
    }

    /// Whether closeorder may close an order at once, rather than 5 minutes after its
    /// creation.
    pub fn early_close_allowed(&self) -> bool {
        self.allow_early_close.load(Ordering::Relaxed)
    }

    pub fn allow_early_close(&self, allow: bool) {
        self.allow_early_close.store(allow, Ordering::Relaxed);
    }

    /// The least age at which closeorder closes an order.
    pub(super) fn close_after(&self) -> Duration {
        if self.early_close_allowed() {
            Duration::ZERO
        } else {
            CLOSE_AFTER
        }
    }

    pub fn merchant(&self, mch_id: &str) -> Option<&Merchant> {
        self.options.merchants.iter().find(|m| m.mch_id == mch_id)
    }

    pub fn add_fault(&self, fault: Fault) -> Result<(), &'static str> {
        lock(&self.faults).add(fault)
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    pub fn pending_faults(&self) -> Vec<Fault> {
        lock(&self.faults).pending().to_vec()
    }

    /// Asks for a business outcome (see `Outcome`). A refund that has already ended cannot
    /// be told how to end.
    pub fn add_outcome(&self, outcome: Outcome) -> Result<(), OutcomeError> {
        if outcome.refund_status.is_some()
            && let Some(no) = &outcome.out_refund_no
        {
            let ended = lock(&self.ledger)
                .refunds()
                .iter()
                .find(|r| {
                    &r.out_refund_no == no
                        && outcome.mch_id.as_ref().is_none_or(|m| m == &r.mch_id)
                        && r.status != RefundStatus::Processing
                })
                .map(|r| r.status);
            if let Some(status) = ended {
                return Err(OutcomeError::RefundEnded {
                    out_refund_no: no.clone(),
                    status: status.as_str(),
                });
            }
        }
        lock(&self.outcomes)
            .add(outcome)
            .map_err(OutcomeError::Invalid)
    }

    pub fn pending_outcomes(&self) -> Vec<Outcome> {
        lock(&self.outcomes).pending()
    }

    pub fn clear_outcomes(&self) {
        lock(&self.outcomes).clear();
    }

    pub fn request_log(&self) -> Vec<LogEntry> {
        lock(&self.log).iter().cloned().collect()
    }

    /// Adds a synthetic day whose bill is computed as it is downloaded; a day given again
    /// replaces the earlier one.
    pub fn add_synthetic_day(&self, day: SyntheticDay) -> Result<(), String> {
        if !(1..=MAX_SYNTHETIC_TRADES).contains(&day.trades) {
            return Err(format!("trades must be 1 to {MAX_SYNTHETIC_TRADES}"));
        }
        if day.date().is_none() {
            return Err(format!(
                "bill_date {:?} is not a date (yyyyMMdd)",
                day.bill_date
            ));
        }
        let merchant = self
            .merchant(&day.mch_id)
            .ok_or_else(|| format!("no merchant {:?} in this emulator", day.mch_id))?;
        if !merchant.appids.contains(&day.appid) {
            return Err(format!(
                "appid {:?} is not bound to mch_id {}",
                day.appid, day.mch_id
            ));
        }
        let mut days = lock(&self.synthetic);
        days.retain(|d| {
            (d.mch_id.as_str(), d.bill_date.as_str())
                != (day.mch_id.as_str(), day.bill_date.as_str())
        });
        days.push(day);
        Ok(())
    }

    pub fn synthetic_days(&self) -> Vec<SyntheticDay> {
        lock(&self.synthetic).clone()
    }

    pub(super) fn ledger(&self, sandbox: bool) -> &Mutex<Ledger> {
        if sandbox {
            &self.sandbox_ledger
        } else {
            &self.ledger
        }
    }

    pub fn orders(&self) -> Vec<Order> {
        let mut ledger = lock(&self.ledger);
        ledger.expire_all(self.clock.now());
        ledger.orders().cloned().collect()
    }

    pub fn refunds(&self) -> Vec<Refund> {
        self.settle();
        lock(&self.ledger).refunds().to_vec()
    }

    /// Completes the refunds that are due, and notifies them. Unpaid orders expire lazily,
    /// whenever one is looked up or listed.
    pub fn settle(&self) {
        let now = self.clock.now();
        for sandbox in [false, true] {
            let settled = lock(self.ledger(sandbox)).settle_refunds(
                self.options.refund_delay,
                now,
                |refund| lock(&self.outcomes).take_ending(refund),
            );
            for refund in settled {
                self.notify_refund(&refund, sandbox);
            }
        }
    }

    /// The user pays an order, and WeChat notifies the merchant.
    pub fn pay(
        &self,
        mch_id: &str,
        out_trade_no: &str,
        options: &PayOptions,
    ) -> Result<Order, Refusal> {
        let account = Account {
            mch_id: mch_id.to_owned(),
            sub_mch_id: options.sub_mch_id.clone().unwrap_or_default(),
        };
        self.pay_in(false, &account, out_trade_no, options)
    }

    pub(super) fn pay_in(
        &self,
        sandbox: bool,
        account: &Account,
        out_trade_no: &str,
        options: &PayOptions,
    ) -> Result<Order, Refusal> {
        let order =
            lock(self.ledger(sandbox)).pay(account, out_trade_no, options, self.clock.now())?;
        self.notify_payment(&order, sandbox);
        Ok(order)
    }

    pub fn fail_payment(&self, mch_id: &str, out_trade_no: &str) -> Result<(), Refusal> {
        self.fail_payment_of(&Account::direct(mch_id), out_trade_no)
    }

    /// The payment of an order of `account` (a sub-merchant's, in service-provider mode) fails.
    pub fn fail_payment_of(&self, account: &Account, out_trade_no: &str) -> Result<(), Refusal> {
        lock(&self.ledger).fail(account, out_trade_no, self.clock.now())
    }

    fn notify_payment(&self, order: &Order, sandbox: bool) {
        let (Some(paid), Some(merchant)) = (order.paid_order(), self.merchant(&order.mch_id))
        else {
            return;
        };
        let key = if sandbox {
            merchant.sandbox_key()
        } else {
            merchant.key.clone()
        };
        if let Some(function) = &order.cloud_function {
            return self.notify_cloud_payment(order, function, &paid);
        }
        let reference = order.out_trade_no.clone();
        if order.v3 {
            let key = self.v3_credentials(&order.mch_id).map(|c| &c.apiv3_key);
            let now = self.clock.now();
            if let Some(body) = key.and_then(|key| super::v3::payment_callback(order, key, now)) {
                let url = order.notify_url.clone();
                self.notifier
                    .send_v3(NotificationKind::Payment, reference, url, body);
            }
            return;
        }
        let message = paid.notification(&key, order.sign_type);
        self.notifier.send(
            NotificationKind::Payment,
            reference,
            order.notify_url.clone(),
            message.to_xml(),
        );
    }

    fn notify_refund(&self, refund: &Refund, sandbox: bool) {
        if let Some(function) = &refund.cloud_function {
            return self.notify_cloud_refund(refund, function);
        }
        let Some(merchant) = self.merchant(&refund.mch_id) else {
            return;
        };
        let key = if sandbox {
            merchant.sandbox_key()
        } else {
            merchant.key.clone()
        };
        let url = match (&refund.notify_url, &merchant.refund_notify_url) {
            (url, _) if !url.is_empty() => url.clone(),
            (_, Some(console)) => console.clone(),
            _ => return,
        };
        if refund.v3 {
            let key = self.v3_credentials(&refund.mch_id).map(|c| &c.apiv3_key);
            let now = self.clock.now();
            if let Some(body) = key.and_then(|key| super::v3::refund_callback(refund, key, now)) {
                let reference = refund.out_refund_no.clone();
                self.notifier
                    .send_v3(NotificationKind::Refund, reference, url, body);
            }
            return;
        }
        let message = refund.result().notification(&key);
        self.notifier.send(
            NotificationKind::Refund,
            refund.out_refund_no.clone(),
            url,
            message.to_xml(),
        );
    }

    /// Handles one request: faults first, then the endpoint; every request is logged.
    pub fn handle(&self, request: &Request<'_>) -> Reply {
        self.settle();
        let fault = lock(&self.faults).take(request.path);
        let reply = match &fault {
            Some(FaultKind::Http500) => Reply::text(500, "Internal Server Error"),
            Some(FaultKind::Http503) => Reply::text(503, "Service Unavailable"),
            Some(FaultKind::MalformedXml) => Reply::text(
                200,
                "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[O",
            ),
            _ => {
                let mut reply = self.dispatch(request, fault.as_ref());
                if matches!(
                    fault,
                    Some(FaultKind::Drop | FaultKind::Truncate | FaultKind::Delay { .. })
                ) {
                    reply.transport = fault.clone();
                }
                reply
            }
        };
        self.log(request, &reply, fault);
        reply
    }

    fn log(&self, request: &Request<'_>, reply: &Reply, fault: Option<FaultKind>) {
        let mch_id = Message::parse(request.body)
            .ok()
            .and_then(|m| m.get("mch_id").map(str::to_owned))
            .unwrap_or_default();
        let outcome = match reply.body.bytes().map(Message::parse) {
            None => "streamed bill".to_owned(),
            Some(Ok(answer)) => match (answer.get("return_code"), answer.get("result_code")) {
                (Some("FAIL"), _) => format!("FAIL {}", answer.get("return_msg").unwrap_or("")),
                (_, Some("FAIL")) => format!("FAIL {}", answer.get("err_code").unwrap_or("")),
                _ => "SUCCESS".to_owned(),
            },
            Some(Err(_)) if reply.status == 200 => "bill data".to_owned(),
            Some(Err(_)) => format!("HTTP {}", reply.status),
        };
        self.log_call(
            (request.method, request.path, request.body),
            mch_id,
            outcome,
            fault,
        );
    }

    /// Logs a request (its method, path and body) with its merchant and outcome.
    pub(super) fn log_call(
        &self,
        (method, path, body): (&str, &str, &[u8]),
        mch_id: String,
        outcome: String,
        fault: Option<FaultKind>,
    ) {
        self.record(LogEntry {
            at: bill_time(self.clock.now().to_offset(BEIJING)),
            method: method.to_owned(),
            path: path.to_owned(),
            mch_id,
            outcome,
            fault,
            body_sha256: crate::wechat::hex_upper(&Sha256::digest(body)).to_lowercase(),
        });
    }

    /// Adds an entry to the request log, dropping the oldest beyond its limit.
    pub(super) fn record(&self, entry: LogEntry) {
        let mut log = lock(&self.log);
        if log.len() == MAX_LOG_ENTRIES {
            log.pop_front();
        }
        log.push_back(entry);
    }
}
