//! `notify check`: the acceptance cases of a merchant's notify handler. Each case sends the
//! handler notifications as WeChat Pay would (built by [`super::notify_build`]), or broken
//! copies of them, and judges the answers: acknowledged or not, in time, still alive.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use thiserror::Error;

use super::api::OrderState;
use super::notify::is_success_reply;
use super::notify_build::{CLOUD_PROVIDER_MCH_ID, PaidOrder, RefundResult, is_cloud_ack};
use super::sign::nonce_str;
use super::{ApiKey, Fen, Message, SignType, is_loopback_url};

/// WeChat Pay waits about 5 seconds for an answer (reference A4), then counts the delivery as
/// failed and sends it again.
pub const WECHAT_WAIT: Duration = Duration::from_secs(5);

/// The XML external-entity attack of `../shared/fixtures/real/invalid.xxe_injection.sample.xml`,
/// byte for byte (a unit test holds it to the file). A handler whose XML parser resolves
/// external entities fetches the URL in it.
pub const XXE_SAMPLE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM \"http://tst.qq.com/xxe_inject/463103c2ee4067e1c4f5318440dc245d\">]>\n<foo><value>&xxe;</value></foo>\n";

/// What the handler is: a v2 notify URL (XML notifications), a cloud function (JSON events),
/// or a v3 notify URL (signed JSON callbacks, B4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Notify,
    Cloud,
    V3,
}

/// The acceptance cases, numbered as `--only` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Valid,
    Again,
    WrongSign,
    WrongAmount,
    Foreign,
    Refund,
    Malformed,
    CloudValid,
    CloudAgain,
    CloudMalformed,
    V3Valid,
    V3Again,
    V3Changed,
    V3Probe,
    V3Stale,
    V3Amount,
    V3Foreign,
    V3Refund,
}

impl Case {
    pub fn all(mode: Mode) -> &'static [Case] {
        match mode {
            Mode::Notify => &[
                Case::Valid,
                Case::Again,
                Case::WrongSign,
                Case::WrongAmount,
                Case::Foreign,
                Case::Refund,
                Case::Malformed,
            ],
            Mode::Cloud => &[Case::CloudValid, Case::CloudAgain, Case::CloudMalformed],
            Mode::V3 => &[
                Case::V3Valid,
                Case::V3Again,
                Case::V3Changed,
                Case::V3Probe,
                Case::V3Stale,
                Case::V3Amount,
                Case::V3Foreign,
                Case::V3Refund,
            ],
        }
    }

    /// Case `number` (from 1) of `mode`.
    pub fn of(mode: Mode, number: usize) -> Option<Case> {
        Case::all(mode).get(number.checked_sub(1)?).copied()
    }

    pub fn number(self) -> usize {
        Case::all(self.mode())
            .iter()
            .position(|c| *c == self)
            .map_or(0, |i| i + 1)
    }

    pub fn mode(self) -> Mode {
        match self {
            Case::CloudValid | Case::CloudAgain | Case::CloudMalformed => Mode::Cloud,
            Case::V3Valid
            | Case::V3Again
            | Case::V3Changed
            | Case::V3Probe
            | Case::V3Stale
            | Case::V3Amount
            | Case::V3Foreign
            | Case::V3Refund => Mode::V3,
            _ => Mode::Notify,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Case::Valid => "valid payment notification",
            Case::Again => "the same notification again",
            Case::WrongSign => "wrong sign",
            Case::WrongAmount => "amount differs from the order",
            Case::Foreign => "another merchant's mch_id, another appid",
            Case::Refund => "refund notification, under the key and under another key",
            Case::Malformed => "empty body, truncated XML, XXE payload",
            Case::CloudValid => "valid payment event",
            Case::CloudAgain => "the same event again",
            Case::CloudMalformed => "malformed events",
            Case::V3Valid => "valid TRANSACTION.SUCCESS callback",
            Case::V3Again => "the same callback again, signed again",
            Case::V3Changed => "body changed after signing",
            Case::V3Probe => "probe signature (WECHATPAY/SIGNTEST/)",
            Case::V3Stale => "timestamp 10 minutes old",
            Case::V3Amount => "amount differs from the order",
            Case::V3Foreign => "resource under another APIv3 key; another merchant's mchid",
            Case::V3Refund => "REFUND.SUCCESS callback",
        }
    }

    pub fn expected(self) -> &'static str {
        match self {
            Case::Valid => "SUCCESS within 5 s",
            Case::Again => "SUCCESS again",
            Case::WrongSign | Case::WrongAmount => "no SUCCESS",
            Case::Foreign => "no SUCCESS to either",
            Case::Refund => "SUCCESS, then no SUCCESS",
            Case::Malformed => "no SUCCESS; then SUCCESS to a valid one",
            Case::CloudValid => "errcode 0 within 5 s",
            Case::CloudAgain => "errcode 0 again",
            Case::CloudMalformed => "an answer, no crash; then errcode 0 to a valid one",
            Case::V3Valid => "200 or 204 within 5 s",
            Case::V3Again | Case::V3Refund => "200 or 204",
            Case::V3Changed | Case::V3Probe | Case::V3Stale | Case::V3Amount => "4xx or 5xx",
            Case::V3Foreign => "4xx or 5xx to both",
        }
    }
}

/// What the handler did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The SUCCESS reply (a notify URL) or errcode 0 (a cloud function).
    Acknowledged { status: u16 },
    /// An answer that is not the acknowledgement: what it said, shortened.
    Other { status: u16, said: String },
    /// No answer within the timeout.
    Timeout,
    /// No connection, or it broke before the answer.
    Unreachable(String),
}

impl Answer {
    pub fn acknowledged(&self) -> bool {
        matches!(self, Answer::Acknowledged { .. })
    }

    /// An HTTP answer of any kind: the handler is alive.
    pub fn answered(&self) -> bool {
        matches!(self, Answer::Acknowledged { .. } | Answer::Other { .. })
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Acknowledged { status } | Answer::Other { status, .. } => Some(*status),
            Answer::Timeout | Answer::Unreachable(_) => None,
        }
    }
}

/// One request of a case, and its answer.
#[derive(Debug, Clone)]
pub struct Sent {
    /// What was sent, in a few words.
    pub what: &'static str,
    pub answer: Answer,
    pub elapsed: Duration,
}

impl Sent {
    /// The answer in a few words: `SUCCESS`, `HTTP 200 FAIL 签名失败`, `HTTP 500`, …
    pub fn got(&self, mode: Mode) -> String {
        match &self.answer {
            Answer::Acknowledged { .. } if mode == Mode::Cloud => "errcode 0".to_owned(),
            Answer::Acknowledged { status } if mode == Mode::V3 => format!("HTTP {status}"),
            Answer::Acknowledged { .. } => "SUCCESS".to_owned(),
            Answer::Other { status, said } if said.is_empty() => format!("HTTP {status}"),
            Answer::Other { status, said } => format!("HTTP {status} {said}"),
            Answer::Timeout => format!("no answer in {}", seconds(self.elapsed)),
            Answer::Unreachable(reason) => format!("no answer ({reason})"),
        }
    }
}

/// One case's outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub case: Case,
    pub sent: Vec<Sent>,
    pub holds: bool,
    /// Why the case fails, or what else to know about it.
    pub note: Option<String>,
}

impl CaseResult {
    /// One word for the outcome, the same on stderr, in the table and in JSON.
    pub fn verdict(&self) -> &'static str {
        if self.holds { "pass" } else { "fail" }
    }

    /// Every answer, in order, each named by what was sent when the case sent several.
    pub fn got(&self) -> String {
        let mode = self.case.mode();
        match self.sent.as_slice() {
            [one] => one.got(mode),
            many => many
                .iter()
                .map(|sent| format!("{}: {}", sent.what, sent.got(mode)))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

/// As `notify check --format json` prints a case (docs/reference.md).
impl Serialize for CaseResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// One request, as printed under `sent`.
        #[derive(Serialize)]
        struct Shown<'a> {
            what: &'a str,
            status: Option<u16>,
            acknowledged: bool,
            answer: String,
            elapsed_ms: u64,
        }
        let sent: Vec<Shown> = (self.sent.iter())
            .map(|sent| Shown {
                what: sent.what,
                status: sent.answer.status(),
                acknowledged: sent.answer.acknowledged(),
                answer: sent.got(self.case.mode()),
                elapsed_ms: u64::try_from(sent.elapsed.as_millis()).unwrap_or(u64::MAX),
            })
            .collect();
        let mut out = serializer.serialize_struct("CaseResult", 7)?;
        out.serialize_field("case", &self.case.number())?;
        out.serialize_field("name", self.case.name())?;
        out.serialize_field("expected", self.case.expected())?;
        out.serialize_field("got", &self.got())?;
        out.serialize_field("verdict", self.verdict())?;
        out.serialize_field("note", &self.note)?;
        out.serialize_field("sent", &sent)?;
        out.end()
    }
}

/// Whose handler is checked: the merchant and app, and in service-provider mode the
/// sub-merchant and its app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payee {
    pub appid: String,
    pub mch_id: String,
    pub sub_mch_id: Option<String>,
    pub sub_appid: Option<String>,
}

impl Payee {
    /// An order the handler knows only by number and amount, with what WeChat Pay fills in
    /// made up: a transaction_id and a payer, paid now.
    pub fn order(&self, out_trade_no: &str, total_fee: Fen) -> PaidOrder {
        PaidOrder {
            appid: self.appid.clone(),
            mch_id: self.mch_id.clone(),
            sub_mch_id: self.sub_mch_id.clone().unwrap_or_default(),
            sub_appid: self.sub_appid.clone().unwrap_or_default(),
            sub_openid: String::new(),
            openid: "oCHECKnotifyCheckPayer000000".to_owned(),
            is_subscribe: "N".to_owned(),
            out_trade_no: out_trade_no.to_owned(),
            transaction_id: format!("4200{}", digits(24)),
            trade_type: "JSAPI".to_owned(),
            bank_type: "OTHERS".to_owned(),
            total_fee: total_fee.0,
            amounts: vec![("cash_fee".to_owned(), total_fee.0.to_string())],
            time_end: crate::time::api_time(time::OffsetDateTime::now_utc()),
            attach: String::new(),
            device_info: String::new(),
        }
    }

    /// The order as orderquery reported it: its amounts, coupons and whatever else it gives
    /// over what [`Payee::order`] makes up. None when it gives no total_fee to report.
    pub fn queried(&self, state: &OrderState) -> Option<PaidOrder> {
        let total = state.total_fee?;
        let mut order = self.order(&state.out_trade_no, total);
        order.amounts = vec![(
            "cash_fee".to_owned(),
            state.cash_fee.unwrap_or(total).0.to_string(),
        )];
        for (name, value) in [
            ("settlement_total_fee", state.settlement_total_fee),
            ("coupon_fee", state.coupon_fee),
        ] {
            if let Some(value) = value {
                order.amounts.push((name.to_owned(), value.0.to_string()));
            }
        }
        order.amounts.extend(
            (state.extra.iter())
                .filter(|(name, _)| name.starts_with("coupon_"))
                .cloned(),
        );
        for (given, made_up) in [
            (&state.transaction_id, &mut order.transaction_id),
            (&state.trade_type, &mut order.trade_type),
            (&state.time_end, &mut order.time_end),
            (&state.openid, &mut order.openid),
            (&state.bank_type, &mut order.bank_type),
            (&state.attach, &mut order.attach),
        ] {
            if let Some(given) = given.as_ref().filter(|v| !v.is_empty()) {
                made_up.clone_from(given);
            }
        }
        Some(order)
    }
}

#[derive(Debug, Error)]
pub enum TargetError {
    #[error("{0:?} is not an http:// or https:// URL")]
    NotHttp(String),
    #[error(
        "{host} is not this machine: notify check sends validly signed notifications, which a \
         live handler would act on"
    )]
    NotLocal { host: String },
    #[error("cannot set up HTTP: {0}")]
    Client(String),
}

/// Whether the check may send to `url`: a loopback address, or the one host the user named
/// (`allowed_host`, a staging server). A URL that only happens to name another host, such as
/// a profile's production notify_url, is refused.
pub fn check_target(url: &str, allowed_host: Option<&str>) -> Result<(), TargetError> {
    let not_http = || TargetError::NotHttp(super::shown_url(url).into_owned());
    let parsed = reqwest::Url::parse(url).map_err(|_| not_http())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(not_http());
    }
    let host = parsed.host_str().unwrap_or_default();
    if is_loopback_url(url)
        || allowed_host.is_some_and(|allowed| allowed.eq_ignore_ascii_case(host))
    {
        Ok(())
    } else {
        Err(TargetError::NotLocal {
            host: host.to_owned(),
        })
    }
}

/// What a check needs: where to send, the order to report paid, and the keys.
pub struct CheckOptions {
    pub mode: Mode,
    pub url: String,
    /// Where refund notifications go; the payment URL when the same.
    pub refund_url: String,
    pub signer: Signer,
    pub order: PaidOrder,
    /// How long to wait for each answer.
    pub timeout: Duration,
    /// Trusted roots for an https:// handler; the system's when None.
    pub tls: Option<rustls::ClientConfig>,
}

/// What notifications are signed and encrypted with.
pub enum Signer {
    /// v2 notifications and cloud events: the merchant's API key and its orders' sign type.
    V2 { key: ApiKey, sign_type: SignType },
    /// v3 callbacks: WeChat Pay's signing key, as the handler knows its public key, and the
    /// merchant's APIv3 key.
    V3(Box<v3::V3Signer>),
}

pub struct Checker {
    http: reqwest::Client,
    options: CheckOptions,
    /// Case 1's notification, which case 2 sends again as it was.
    first: Option<Vec<u8>>,
}

impl Checker {
    pub fn new(options: CheckOptions) -> Result<Checker, TargetError> {
        super::transport::install_crypto_provider();
        let tls = match options.tls.clone() {
            Some(tls) => tls,
            None => super::transport::tls_config(None, None)
                .map_err(|e| TargetError::Client(e.to_string()))?,
        };
        // No proxy from the environment and no redirect: the check reaches exactly the host
        // it was allowed to, and a redirect is an answer to judge, not a place to go.
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| TargetError::Client(e.to_string()))?;
        Ok(Checker {
            http,
            options,
            first: None,
        })
    }

    pub async fn run(&mut self, case: Case) -> CaseResult {
        if case.mode() == Mode::V3 {
            return self.run_v3(case).await;
        }
        let Signer::V2 { .. } = &self.options.signer else {
            let note = "the v2 cases need the API v2 key".to_owned();
            return result(case, Vec::new(), false, Some(note));
        };
        match case {
            Case::Valid | Case::CloudValid => self.valid(case).await,
            Case::Again | Case::CloudAgain => self.again(case).await,
            Case::WrongSign => self.wrong_sign().await,
            Case::WrongAmount => self.wrong_amount().await,
            Case::Foreign => self.foreign().await,
            Case::Refund => self.refund().await,
            Case::Malformed | Case::CloudMalformed => self.malformed(case).await,
            _ => unreachable!("v3 cases are run above"),
        }
    }

    /// The API v2 key and sign type; the v2 cases run only with them (checked in `run`).
    fn v2(&self) -> (&ApiKey, SignType) {
        match &self.options.signer {
            Signer::V2 { key, sign_type } => (key, *sign_type),
            Signer::V3(_) => unreachable!("checked in run"),
        }
    }

    /// A fresh valid notification (a new nonce_str) or cloud event of the order.
    fn valid_body(&self) -> Vec<u8> {
        let order = &self.options.order;
        match self.options.mode {
            Mode::Notify => {
                let (key, sign_type) = self.v2();
                order.notification(key, sign_type).to_xml().into_bytes()
            }
            Mode::Cloud => order
                .cloud_event(CLOUD_PROVIDER_MCH_ID)
                .to_string()
                .into_bytes(),
            Mode::V3 => self.payment_callback(order).1,
        }
    }

    async fn valid(&mut self, case: Case) -> CaseResult {
        let body = self.valid_body();
        self.first = Some(body.clone());
        let sent = self.send("valid", &self.options.url, body).await;
        let in_time = sent.elapsed <= WECHAT_WAIT;
        let holds = sent.answer.acknowledged() && in_time;
        let note = match (&sent.answer, in_time) {
            (Answer::Acknowledged { .. }, true) => None,
            (Answer::Acknowledged { .. }, false) => Some(format!(
                "acknowledged after {}: WeChat Pay stops waiting at 5 s, counts the delivery \
                 as failed and sends it again; answer first, work afterwards",
                seconds(sent.elapsed)
            )),
            (_, _) => Some(format!(
                "a valid notification was not acknowledged, so WeChat Pay would send it again \
                 for 24 hours; the handler must know order {} with total_fee {}{}",
                order_named(&self.options.order),
                self.options.order.total_fee,
                self.reply_hint()
            )),
        };
        result(case, vec![sent], holds, note)
    }

    async fn again(&mut self, case: Case) -> CaseResult {
        let mut sent = Vec::new();
        let body = match self.first.clone() {
            Some(body) => body,
            None => {
                // Run alone (--only): the first delivery goes now, judged as case 1 would.
                let body = self.valid_body();
                sent.push(self.send("first", &self.options.url, body.clone()).await);
                body
            }
        };
        let again = self.send("again", &self.options.url, body).await;
        let holds = again.answer.acknowledged();
        sent.push(again);
        let seen = match self.options.mode {
            Mode::Notify | Mode::V3 => "transaction_id",
            Mode::Cloud => "transactionId",
        };
        let mut note = format!(
            "This check sees only the answers: whether the handler shipped the order twice is \
             something it cannot see. The handler's own log can show it: for out_trade_no {} \
             (transaction {}) there must be one change to paid and one shipment, and the \
             second delivery must be answered from the stored state; log {seen} with each \
             delivery and look for it twice.",
            self.options.order.out_trade_no, self.options.order.transaction_id
        );
        if !holds {
            note = format!(
                "a repeated delivery was not acknowledged: WeChat Pay delivers a notification \
                 more than once, and without the acknowledgement it keeps resending it; answer a \
                 known, already paid order with the acknowledgement. {note}"
            );
        }
        result(case, sent, holds, Some(note))
    }

    async fn wrong_sign(&mut self) -> CaseResult {
        let mut message = self.options.order.fields();
        // A well-formed sign of the right length, made with a key that is not the merchant's.
        let forged = ApiKey::new(nonce_str());
        super::notify_build::sign_notification(&mut message, &forged, self.v2().1);
        let sent = self
            .send(
                "wrong sign",
                &self.options.url,
                message.to_xml().into_bytes(),
            )
            .await;
        let note = "it acknowledged a notification whose sign does not match: anyone could \
                    report any order paid; verify the sign over every field but sign, with \
                    the API key (`wxpay-ops notify verify` shows the check)";
        self.rejected(Case::WrongSign, vec![sent], note)
    }

    async fn wrong_amount(&mut self) -> CaseResult {
        let order = &self.options.order;
        let changed = another_amount(order);
        let amount = changed.total_fee;
        let (key, sign_type) = self.v2();
        let message = changed.notification(key, sign_type);
        let sent = self
            .send(
                "total_fee changed",
                &self.options.url,
                message.to_xml().into_bytes(),
            )
            .await;
        let note = format!(
            "it acknowledged total_fee {amount} for order {} of {} fen: compare total_fee \
             with the order's own amount before acknowledging or shipping",
            order_named(order),
            order.total_fee
        );
        self.rejected(Case::WrongAmount, vec![sent], &note)
    }

    async fn foreign(&mut self) -> CaseResult {
        let order = &self.options.order;
        let mut sent = Vec::new();
        for (what, changed) in [
            (
                "another mch_id",
                PaidOrder {
                    mch_id: another(&order.mch_id),
                    ..order.clone()
                },
            ),
            (
                "another appid",
                PaidOrder {
                    appid: another(&order.appid),
                    ..order.clone()
                },
            ),
        ] {
            let (key, sign_type) = self.v2();
            let message = changed.notification(key, sign_type);
            sent.push(
                self.send(what, &self.options.url, message.to_xml().into_bytes())
                    .await,
            );
        }
        let note = "it acknowledged a notification for another merchant or app: a sign made \
                    with a key shared between accounts, or leaked, would pay its orders here; \
                    check mch_id and appid are yours";
        self.rejected(Case::Foreign, sent, note)
    }

    async fn refund(&mut self) -> CaseResult {
        let order = &self.options.order;
        let refund = RefundResult {
            appid: order.appid.clone(),
            mch_id: order.mch_id.clone(),
            sub_appid: order.sub_appid.clone(),
            sub_mch_id: order.sub_mch_id.clone(),
            out_refund_no: format!("CHECK{}", &nonce_str()[..12]),
            out_trade_no: order.out_trade_no.clone(),
            refund_account: "REFUND_SOURCE_UNSETTLED_FUNDS".to_owned(),
            refund_fee: order.total_fee,
            refund_id: digits(29),
            refund_recv_accout: "支付用户的零钱".to_owned(),
            refund_request_source: "API".to_owned(),
            refund_status: "SUCCESS".to_owned(),
            settlement_refund_fee: order.total_fee,
            settlement_total_fee: order.total_fee,
            success_time: crate::time::bill_time(time::OffsetDateTime::now_utc()),
            total_fee: order.total_fee,
            transaction_id: order.transaction_id.clone(),
        };
        let url = self.options.refund_url.clone();
        let under_key = refund.notification(self.v2().0).to_xml();
        let valid = self
            .send("under the key", &url, under_key.into_bytes())
            .await;
        let other = refund.notification(&ApiKey::new(nonce_str())).to_xml();
        let forged = self
            .send("under another key", &url, other.into_bytes())
            .await;
        let note = if !valid.answer.acknowledged() {
            Some(format!(
                "a refund notification whose req_info decrypts with the key was not \
                 acknowledged: decrypt req_info with AES-256-ECB under the lower-case MD5 of \
                 the API key (`wxpay-ops notify decrypt` shows it){}",
                self.reply_hint()
            ))
        } else if !forged.answer.answered() {
            Some("no answer to a refund notification under another key".to_owned())
        } else if forged.answer.acknowledged() {
            Some(
                "it acknowledged a refund notification whose req_info does not decrypt with \
                 the key: the envelope is not signed, only a req_info that decrypts is \
                 authentic"
                    .to_owned(),
            )
        } else {
            None
        };
        let holds = note.is_none();
        result(Case::Refund, vec![valid, forged], holds, note)
    }

    async fn malformed(&mut self, case: Case) -> CaseResult {
        let url = self.options.url.clone();
        let mut sent = Vec::new();
        for (what, body) in self.malformed_bodies() {
            sent.push(self.send(what, &url, body).await);
        }
        let next = self.send("then valid", &url, self.valid_body()).await;
        let note = malformed_verdict(case, &sent, &next);
        let holds = note.is_none();
        let note = note.or_else(|| server_errors(case, &sent));
        sent.push(next);
        result(case, sent, holds, note)
    }

    /// An empty body, the valid notification cut in half, and the XXE sample (a notify
    /// URL) or an event without its order (a cloud function).
    fn malformed_bodies(&self) -> Vec<(&'static str, Vec<u8>)> {
        let valid = self.valid_body();
        let truncated = valid[..valid.len() / 2].to_vec();
        let third = match self.options.mode {
            Mode::Notify | Mode::V3 => ("XXE", XXE_SAMPLE.as_bytes().to_vec()),
            Mode::Cloud => {
                let mut event = self.options.order.cloud_event(CLOUD_PROVIDER_MCH_ID);
                if let Some(fields) = event.as_object_mut() {
                    fields.remove("outTradeNo");
                    fields.insert("totalFee".to_owned(), "many".into());
                }
                ("no outTradeNo", event.to_string().into_bytes())
            }
        };
        vec![("empty", Vec::new()), ("truncated", truncated), third]
    }

    /// A case that holds when every request was answered, none with the acknowledgement.
    fn rejected(&self, case: Case, sent: Vec<Sent>, accepted_note: &str) -> CaseResult {
        let note = if let Some(dead) = sent.iter().find(|s| !s.answer.answered()) {
            Some(format!(
                "no answer to the {} notification: the check cannot tell what the handler \
                 would do with it",
                dead.what
            ))
        } else if sent.iter().any(|s| s.answer.acknowledged()) {
            Some(accepted_note.to_owned())
        } else {
            None
        };
        let holds = note.is_none();
        result(case, sent, holds, note)
    }

    fn reply_hint(&self) -> &'static str {
        match self.options.mode {
            Mode::Notify => {
                "; the one acknowledgement is the XML <xml><return_code><![CDATA[SUCCESS]]></return_code>…</xml>, \
                 nothing around it"
            }
            Mode::Cloud => "; the acknowledgement is the JSON {\"errcode\": 0}, errcode a number",
            Mode::V3 => "; the acknowledgement is HTTP 200 or 204",
        }
    }

    async fn send(&self, what: &'static str, url: &str, body: Vec<u8>) -> Sent {
        // Every delivery carries a Request-ID (reference A4).
        let headers = vec![("Request-ID", nonce_str())];
        self.send_with(what, url, headers, body).await
    }

    async fn send_with(
        &self,
        what: &'static str,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Sent {
        let content_type = match self.options.mode {
            Mode::Notify => "text/xml",
            Mode::Cloud | Mode::V3 => "application/json",
        };
        let started = Instant::now();
        let mut request = self.http.post(url).header("Content-Type", content_type);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await;
        let answer = match response {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(reply) => self.judge(status, &reply),
                    Err(e) => broken(e),
                }
            }
            Err(e) => broken(e),
        };
        Sent {
            what,
            answer,
            elapsed: started.elapsed(),
        }
    }

    fn judge(&self, status: u16, reply: &[u8]) -> Answer {
        let acknowledged = match self.options.mode {
            Mode::Notify => is_success_reply(status, reply),
            Mode::Cloud => is_cloud_ack(status, reply),
            // B4: a 200 or 204 takes the callback, whatever its body.
            Mode::V3 => matches!(status, 200 | 204),
        };
        if acknowledged {
            Answer::Acknowledged { status }
        } else {
            Answer::Other {
                status,
                said: said(self.options.mode, reply),
            }
        }
    }
}

fn result(case: Case, sent: Vec<Sent>, holds: bool, note: Option<String>) -> CaseResult {
    CaseResult {
        case,
        sent,
        holds,
        note,
    }
}

/// Why the malformed case fails: no answer to a malformed body, an acknowledgement of one
/// (a notify URL), a crash (a cloud function), or no acknowledgement of the valid
/// notification after them. None when it holds.
fn malformed_verdict(case: Case, broken: &[Sent], next: &Sent) -> Option<String> {
    if let Some(dead) = broken.iter().find(|s| !s.answer.answered()) {
        return Some(format!(
            "no answer to the {} body: the handler must answer every request, whatever it \
             holds",
            dead.what
        ));
    }
    if case == Case::Malformed && broken.iter().any(|s| s.answer.acknowledged()) {
        return Some(
            "it acknowledged a body that is no notification: a handler must parse and verify \
             before it acknowledges"
                .to_owned(),
        );
    }
    if case == Case::CloudMalformed
        && let Some(crash) = broken.iter().find(|s| s.answer.status() >= Some(500))
    {
        return Some(format!(
            "the {} event crashed the function (HTTP {}): check the event's fields before \
             using them",
            crash.what,
            crash.answer.status().unwrap_or_default()
        ));
    }
    (!next.answer.acknowledged()).then(|| {
        "after the malformed bodies the handler no longer acknowledged a valid notification: \
         it may have crashed or be stuck"
            .to_owned()
    })
}

/// A notify handler's server errors on malformed bodies: counted as no SUCCESS, which they
/// are, but worth a word, since an exception on bad input is often one input from a crash.
fn server_errors(case: Case, broken: &[Sent]) -> Option<String> {
    let errors: Vec<&str> = (broken.iter())
        .filter(|s| s.answer.status() >= Some(500))
        .map(|s| s.what)
        .collect();
    (case == Case::Malformed && !errors.is_empty()).then(|| {
        format!(
            "HTTP 5xx for the {} body: counted as no SUCCESS; a FAIL reply is the answer \
             WeChat Pay expects",
            errors.join(", ")
        )
    })
}

fn broken(error: reqwest::Error) -> Answer {
    if error.is_timeout() {
        return Answer::Timeout;
    }
    // The innermost cause says what went wrong (connection refused, a certificate not
    // trusted) without the URL that reqwest's own message repeats.
    let mut cause: &dyn std::error::Error = &error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let stage = if error.is_connect() {
        "cannot connect"
    } else {
        "the connection broke"
    };
    Answer::Unreachable(format!("{stage}: {cause}"))
}

/// What a reply that is not the acknowledgement said: the return_code and return_msg of an
/// XML reply, the errcode and errmsg of a JSON one, else its start.
fn said(mode: Mode, reply: &[u8]) -> String {
    if reply.is_empty() {
        return "empty".to_owned();
    }
    // WeChat Pay's 回调通知注意事项 lists stray characters around the XML among the replies it
    // counts as failed: without this, "got SUCCESS" beside "fail" would make no sense.
    if mode == Mode::Notify && is_success_reply(200, reply.trim_ascii()) {
        return "SUCCESS, with white space around the XML (counted as no reply)".to_owned();
    }
    let parsed = match mode {
        Mode::Notify => Message::parse(reply).ok().and_then(|m| {
            let code = m.get("return_code")?.to_owned();
            Some(format!("{code} {}", m.get("return_msg").unwrap_or("")))
        }),
        Mode::Cloud | Mode::V3 => serde_json::from_slice::<serde_json::Value>(reply)
            .ok()
            .and_then(|answer| {
                let text = |name: &str| answer.get(name).and_then(|m| m.as_str());
                match mode {
                    Mode::V3 => Some(format!(
                        "{} {}",
                        text("code")?,
                        text("message").unwrap_or("")
                    )),
                    _ => {
                        let code = answer.get("errcode")?.to_string();
                        Some(format!("errcode {code} {}", text("errmsg").unwrap_or("")))
                    }
                }
            }),
    };
    let text = parsed.unwrap_or_else(|| String::from_utf8_lossy(reply).into_owned());
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// The order paid with another amount: one fen for an order that costs more, two for a
/// one-fen order, never its own.
fn another_amount(order: &PaidOrder) -> PaidOrder {
    let amount = if order.total_fee > 1 { 1 } else { 2 };
    PaidOrder {
        total_fee: amount,
        amounts: vec![("cash_fee".to_owned(), amount.to_string())],
        ..order.clone()
    }
}

fn order_named(order: &PaidOrder) -> &str {
    &order.out_trade_no
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.1} s", elapsed.as_secs_f64())
}

/// Another merchant's or app's id of the same shape: the last character changed.
fn another(id: &str) -> String {
    let mut chars: Vec<char> = id.chars().collect();
    match chars.last_mut() {
        Some(last) => {
            *last = match *last {
                '9' => '8',
                c if c.is_ascii_digit() => char::from(c as u8 + 1),
                'f' => 'e',
                _ => 'f',
            };
            chars.into_iter().collect()
        }
        None => "1900000109".to_owned(),
    }
}

/// A random number of `count` digits, as WeChat's ids are.
fn digits(count: usize) -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..count)
        .map(|i| {
            let low = if i == 0 { 1 } else { 0 };
            char::from(b'0' + rng.random_range(low..10u8))
        })
        .collect()
}

mod v3;
pub use v3::V3Signer;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_reply_with_white_space_around_it_says_so() {
        let reply = b"<xml><return_code>SUCCESS</return_code></xml>\n";
        assert!(!is_success_reply(200, reply));
        assert!(said(Mode::Notify, reply).contains("white space around the XML"));
        assert_eq!(said(Mode::Notify, b""), "empty");
    }

    #[test]
    fn the_xxe_payload_is_the_real_sample_as_it_is() {
        let sample = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/real/invalid.xxe_injection.sample.xml"
        ))
        .unwrap();
        assert_eq!(XXE_SAMPLE.as_bytes(), sample.as_slice());
    }

    #[test]
    fn only_loopback_or_the_named_host_is_a_target() {
        for ok in [
            "http://127.0.0.1:9/n",
            "http://localhost/n",
            "https://[::1]/n",
        ] {
            assert!(check_target(ok, None).is_ok(), "{ok}");
        }
        assert!(check_target("https://staging.example.com/n", Some("STAGING.example.com")).is_ok());
        for (url, allowed) in [
            ("https://shop.example.com/n", None),
            ("https://shop.example.com/n", Some("staging.example.com")),
            (
                "https://staging.example.com.evil.test/n",
                Some("staging.example.com"),
            ),
            ("http://10.0.0.1/n", None),
        ] {
            assert!(
                matches!(
                    check_target(url, allowed),
                    Err(TargetError::NotLocal { .. })
                ),
                "{url}"
            );
        }
        for bad in ["ftp://127.0.0.1/n", "127.0.0.1:8080/n", "not a url"] {
            assert!(
                matches!(check_target(bad, None), Err(TargetError::NotHttp(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn cases_are_numbered_from_one_per_mode() {
        assert_eq!(Case::of(Mode::Notify, 1), Some(Case::Valid));
        assert_eq!(Case::of(Mode::Notify, 7), Some(Case::Malformed));
        assert_eq!(Case::of(Mode::Notify, 8), None);
        assert_eq!(Case::of(Mode::Notify, 0), None);
        assert_eq!(Case::of(Mode::Cloud, 3), Some(Case::CloudMalformed));
        assert_eq!(Case::of(Mode::Cloud, 4), None);
        for mode in [Mode::Notify, Mode::Cloud] {
            for (index, case) in Case::all(mode).iter().enumerate() {
                assert_eq!(case.number(), index + 1);
            }
        }
    }

    #[test]
    fn another_id_differs_and_keeps_its_shape() {
        for id in [
            "10000100",
            "1900000109",
            "wxd930ea5d5a258f4f",
            "wx2421b1c4370ec43b",
        ] {
            let other = another(id);
            assert_ne!(other, id);
            assert_eq!(other.len(), id.len());
        }
    }

    #[test]
    fn replies_are_shown_short() {
        let fail = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[签名失败]]></return_msg></xml>";
        assert_eq!(said(Mode::Notify, fail.as_bytes()), "FAIL 签名失败");
        assert_eq!(said(Mode::Notify, b""), "empty");
        assert_eq!(said(Mode::Notify, b"success"), "success");
        assert_eq!(
            said(Mode::Cloud, br#"{"errcode": 1, "errmsg": "busy"}"#),
            "errcode 1 busy"
        );
        let long = "x ".repeat(100);
        assert_eq!(said(Mode::Notify, long.as_bytes()).chars().count(), 41);
    }

    #[test]
    fn a_made_up_order_takes_what_orderquery_gives() {
        let payee = Payee {
            appid: "wx2421b1c4370ec43b".into(),
            mch_id: "10000100".into(),
            ..Payee::default()
        };
        let made_up = payee.order("T1", Fen(2500));
        assert_eq!(
            made_up.amounts,
            [("cash_fee".to_owned(), "2500".to_owned())]
        );
        assert!(made_up.transaction_id.starts_with("4200") && made_up.transaction_id.len() == 28);
        assert_eq!(made_up.sub_mch_id, "");
        let answer = Message::from_pairs([
            ("out_trade_no", "T1"),
            ("trade_state", "SUCCESS"),
            ("total_fee", "2500"),
            ("cash_fee", "2400"),
            ("coupon_fee", "100"),
            ("coupon_id_0", "2000000003"),
            ("openid", "oPayer"),
            ("attach", ""),
            ("fee_type", "CNY"),
        ])
        .unwrap();
        let state = OrderState::read(answer).unwrap();
        let queried = payee.queried(&state).unwrap();
        assert_eq!(queried.total_fee, 2500);
        let amounts: Vec<(&str, &str)> = (queried.amounts.iter())
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            amounts,
            [
                ("cash_fee", "2400"),
                ("coupon_fee", "100"),
                ("coupon_id_0", "2000000003")
            ]
        );
        assert_eq!(queried.openid, "oPayer");
        assert_eq!(
            queried.trade_type, "JSAPI",
            "made up where the answer has none"
        );
        let unpriced = OrderState {
            total_fee: None,
            ..state
        };
        assert_eq!(payee.queried(&unpriced), None);
    }

    #[test]
    fn a_case_prints_its_requests_and_one_word_for_its_outcome() {
        let result = CaseResult {
            case: Case::Again,
            sent: vec![Sent {
                what: "again",
                answer: Answer::Other {
                    status: 500,
                    said: String::new(),
                },
                elapsed: Duration::from_millis(12),
            }],
            holds: false,
            note: None,
        };
        let printed = serde_json::to_value(&result).unwrap();
        assert_eq!(printed["case"], 2);
        assert_eq!(printed["got"], "HTTP 500");
        assert_eq!(printed["verdict"], "fail");
        assert_eq!(
            printed["sent"],
            serde_json::json!([{"what": "again", "status": 500, "acknowledged": false, "answer": "HTTP 500", "elapsed_ms": 12}])
        );
        let keys: Vec<&str> = printed
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["case", "name", "expected", "got", "verdict", "note", "sent"]
        );
    }

    #[test]
    fn ids_are_digits() {
        let id = digits(28);
        assert_eq!(id.len(), 28);
        assert!(id.bytes().all(|b| b.is_ascii_digit()) && !id.starts_with('0'));
    }
}
