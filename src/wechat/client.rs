//! Calling the v2 API: sign the request, POST it, and check the answer's layers in the
//! documented order (reference A0): the transport, `return_code`, the sign and the merchant,
//! then `result_code`; the payload is the typed API's to read (`api.rs`).

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::api::Endpoint;
use super::sign::{SignType, Verification, nonce_str, sign_in_place, verify_as};
use super::transport::install_crypto_provider;
use super::xml::{Message, XmlError};
use super::{ApiKey, shown_url};

/// Where WeChat Pay's API v2 answers, when a profile names no other.
pub const DEFAULT_API_BASE: &str = "https://api.mch.weixin.qq.com";

#[derive(Debug, Error)]
pub enum ClientError {
    /// Network, timeout, TLS: nothing is known about the request's fate.
    #[error("request to {url} failed: {}", transport_reason(source))]
    Transport { url: String, source: reqwest::Error },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("the answer from {url} is not a WeChat Pay message: {source}")]
    Malformed { url: String, source: XmlError },
    /// `return_code=FAIL`: refused at the protocol layer (签名错误, 参数格式错误 …).
    #[error("WeChat Pay refused the request: {message}")]
    Protocol { message: String },
    #[error("the answer carries no sign; it may not come from WeChat Pay")]
    MissingSign,
    #[error("the answer's sign does not verify; it may not come from WeChat Pay")]
    BadSign(Box<Verification>),
    /// A correctly signed answer addressed to another merchant or app.
    #[error("{}", mismatch(field, expected, received))]
    Mismatch {
        field: &'static str,
        expected: String,
        received: String,
    },
    /// A signed `result_code=FAIL`: the business layer refused (ORDERPAID, NOTENOUGH …).
    #[error("WeChat Pay refused the request: {code} {description}")]
    Refused { code: String, description: String },
    /// A verified answer whose payload is not what the protocol promises.
    #[error("the answer's {field} {problem}")]
    Payload { field: String, problem: String },
    /// A v3 refusal: a non-2xx answer carrying v3's error JSON (reference B5), unsigned.
    #[error("WeChat Pay refused the request: HTTP {status} {code} {message}")]
    RefusedV3 {
        status: u16,
        code: String,
        message: String,
    },
    /// A v3 answer whose WeChat Pay signature does not check out (reference B2).
    #[error("the answer's signature does not verify: {0}; it may not come from WeChat Pay")]
    Unverified(super::v3::AnswerError),
}

fn mismatch(field: &str, expected: &str, received: &str) -> String {
    match (expected.is_empty(), received.is_empty()) {
        (true, _) => format!("the answer names {field} {received:?}, which the request did not"),
        (false, true) => format!("the answer names no {field}, not {expected:?}"),
        (false, false) => format!("the answer names {field} {received:?}, not {expected:?}"),
    }
}

/// What happened, in a few words: reqwest's top-level message leaves the cause out, and
/// the innermost one (rustls's, say) can run to a paragraph with a link.
fn transport_reason(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let causes = std::iter::successors(std::error::Error::source(error), |e| e.source());
    let io_kind = causes
        .clone()
        .find_map(|e| e.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    use std::io::ErrorKind::*;
    let what = match io_kind {
        Some(ConnectionRefused) => "connection refused".to_owned(),
        Some(ConnectionReset | ConnectionAborted | BrokenPipe) => {
            "the connection was reset".to_owned()
        }
        Some(UnexpectedEof) => "the connection closed before the whole answer arrived".to_owned(),
        _ => match causes.last() {
            Some(cause) => {
                let text = cause.to_string();
                text.split(": https://").next().unwrap_or(&text).to_owned()
            }
            // reqwest names the URL, credentials and all.
            None => {
                let text = error.to_string();
                match error.url() {
                    Some(url) => text.replace(url.as_str(), &shown_url(url.as_str())),
                    None => text,
                }
            }
        },
    };
    if error.is_connect() {
        format!("could not connect: {what}")
    } else {
        what
    }
}

fn describe_tls(error: &rustls::Error) -> String {
    use rustls::AlertDescription as Alert;
    match error {
        rustls::Error::InvalidCertificate(why) => format!(
            "the server's certificate is not trusted ({why:?}): ca_cert, or the system's roots, do not vouch for it"
        ),
        rustls::Error::AlertReceived(
            alert @ (Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateRequired
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::AccessDenied),
        ) => format!("the server refused the client certificate ({alert:?})"),
        // What rustls and others send when a certificate's signature does not check out
        // against the CA they know of that name.
        rustls::Error::AlertReceived(alert @ (Alert::DecryptError | Alert::HandshakeFailure)) => {
            format!(
                "the server ended the handshake ({alert:?}); most often it does not accept the client certificate"
            )
        }
        other => other.to_string(),
    }
}

impl ClientError {
    /// Whether WeChat Pay cannot have acted on the request: the connection never opened.
    pub fn never_sent(&self) -> bool {
        matches!(self, ClientError::Transport { source, .. } if source.is_connect())
    }

    /// What failed in the TLS handshake, when that is why the call failed: the server's
    /// certificate is not trusted, or the server refused ours. WeChat Pay reads a request
    /// only once the handshake is done, so such a request was never acted on.
    pub fn tls_failure(&self) -> Option<String> {
        let ClientError::Transport { source, .. } = self else {
            return None;
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source);
        while let Some(error) = cause {
            if let Some(tls) = error.downcast_ref::<rustls::Error>() {
                return Some(describe_tls(tls));
            }
            // rustls's error arrives inside an io::Error (inside another, at times), whose
            // source() skips the error it holds.
            cause = match error.downcast_ref::<std::io::Error>() {
                Some(io) => io
                    .get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static)),
                None => error.source(),
            };
        }
        None
    }

    /// Whether the answer was lost on the way or garbled: the request's fate is unknown.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            ClientError::Transport { .. }
                | ClientError::Status { .. }
                | ClientError::Malformed { .. }
        )
    }

    /// A short code for the failure: WeChat's err_code when it refused, else the layer that
    /// failed.
    pub fn code(&self) -> &str {
        match self {
            ClientError::Refused { code, .. } | ClientError::RefusedV3 { code, .. } => code,
            ClientError::Transport { .. } => "UNREACHABLE",
            ClientError::Status { .. } => "HTTP_ERROR",
            ClientError::Malformed { .. } => "MALFORMED",
            ClientError::Protocol { .. } => "RETURN_FAIL",
            ClientError::MissingSign | ClientError::BadSign(_) | ClientError::Unverified(_) => {
                "BAD_SIGN"
            }
            ClientError::Mismatch { .. } => "MISMATCH",
            ClientError::Payload { .. } => "BAD_PAYLOAD",
        }
    }

    /// The refusal's err_code, for a business-layer refusal: a v3 code by the name v2 gives
    /// the same refusal, so that one rule reads both.
    pub fn err_code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { code, .. } => Some(code),
            ClientError::RefusedV3 { code, .. } => Some(super::api::v2_err_code(code)),
            _ => None,
        }
    }
}

/// A call that failed, and how many times the identical request was sent.
#[derive(Debug, Error)]
#[error("{error}")]
pub struct CallError {
    pub error: ClientError,
    pub attempts: u32,
}

/// How often, and how far apart, an identical request is sent again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included; at least 1.
    pub attempts: u32,
    /// The first pause; each later one doubles, up to `max_delay`, with jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `next` (2 for the first retry): half of the doubled delay
    /// fixed, half random ("equal jitter"), so that many clients that failed together do not
    /// come back together.
    pub fn delay(&self, next: u32) -> Duration {
        use rand::RngExt;
        let doubled = self
            .base_delay
            .saturating_mul(1 << next.saturating_sub(2).min(16))
            .min(self.max_delay);
        let half = doubled / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }
}

/// One attempt of a call, as shown by `-v`.
#[derive(Debug)]
pub struct CallAttempt<'a> {
    pub number: u32,
    pub method: &'a str,
    pub url: &'a str,
    /// None when the answer passed every layer.
    pub error: Option<&'a ClientError>,
    /// The pause before the next attempt, when there is one.
    pub retry_in: Option<Duration>,
}

pub type AttemptObserver = Arc<dyn Fn(&CallAttempt<'_>) + Send + Sync>;

/// A signed request, ready to send (or to show, for `--dry-run`).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub endpoint: Endpoint,
    pub url: String,
    pub message: Message,
}

pub struct Client {
    http: reqwest::Client,
    /// For `/secapi/*`: with the merchant certificate, when one was given.
    secure_http: Option<reqwest::Client>,
    base: String,
    backup: Option<String>,
    path_prefix: String,
    pub mch_id: String,
    pub appid: String,
    pub sub_mch_id: Option<String>,
    pub sub_appid: Option<String>,
    key: ApiKey,
    pub sign_type: SignType,
    retry: RetryPolicy,
    on_attempt: Option<AttemptObserver>,
}

pub struct ClientOptions {
    pub base: String,
    /// Where to go when `base` cannot be reached (reference A0: api2.mch.weixin.qq.com).
    pub backup_base: Option<String>,
    pub mch_id: String,
    pub appid: String,
    /// Service-provider mode: the sub-merchant every request is made for.
    pub sub_mch_id: Option<String>,
    pub sub_appid: Option<String>,
    pub key: ApiKey,
    pub sign_type: SignType,
    /// TLS with a custom CA or a client certificate; the system roots otherwise.
    pub tls: Option<rustls::ClientConfig>,
    /// TLS for `/secapi/*`, with the merchant certificate; `tls` when not given.
    pub secure_tls: Option<rustls::ClientConfig>,
    /// The whole of one attempt, connection to last byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    pub on_attempt: Option<AttemptObserver>,
}

/// A whole request, and its connection: short enough for cron, long enough for a slow day.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl ClientOptions {
    /// Options for one merchant, with the defaults a cron job wants: 5 s to connect, 15 s
    /// for a whole attempt (WeChat's own SDKs wait 5 s and 10 s), three attempts where a
    /// retry is safe.
    pub fn new(
        base: impl Into<String>,
        mch_id: impl Into<String>,
        appid: impl Into<String>,
        key: ApiKey,
        sign_type: SignType,
    ) -> ClientOptions {
        ClientOptions {
            base: base.into(),
            backup_base: None,
            mch_id: mch_id.into(),
            appid: appid.into(),
            sub_mch_id: None,
            sub_appid: None,
            key,
            sign_type,
            tls: None,
            secure_tls: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            on_attempt: None,
        }
    }
}

impl Client {
    pub fn new(options: ClientOptions) -> Result<Client, reqwest::Error> {
        install_crypto_provider();
        let build = |tls: Option<rustls::ClientConfig>| {
            let mut builder = reqwest::Client::builder()
                .timeout(options.timeout)
                .connect_timeout(options.connect_timeout);
            if let Some(tls) = tls {
                builder = builder.tls_backend_preconfigured(tls);
            }
            builder.build()
        };
        let secure_http = options.secure_tls.map(|tls| build(Some(tls))).transpose()?;
        Ok(Client {
            http: build(options.tls)?,
            secure_http,
            base: options.base.trim_end_matches('/').to_owned(),
            backup: options
                .backup_base
                .map(|b| b.trim_end_matches('/').to_owned()),
            path_prefix: String::new(),
            mch_id: options.mch_id,
            appid: options.appid,
            sub_mch_id: options.sub_mch_id,
            sub_appid: options.sub_appid,
            key: options.key,
            sign_type: options.sign_type,
            retry: options.retry,
            on_attempt: options.on_attempt,
        })
    }

    /// This client for the sandbox (reference A7): the `/sandboxnew` paths, signed with the
    /// sandbox key ([`Client::sandbox_key`] fetches it).
    pub fn into_sandbox(self, sandbox_key: ApiKey) -> Client {
        Client {
            key: sandbox_key,
            path_prefix: "/sandboxnew".into(),
            ..self
        }
    }

    /// The server requests go to, as configured (credentials included: not for showing).
    pub fn api_base(&self) -> &str {
        &self.base
    }

    /// The key requests are signed with.
    pub(super) fn key(&self) -> &ApiKey {
        &self.key
    }

    /// The signed request: appid, mch_id, a fresh nonce_str, the fields, sign_type, sign.
    pub fn request(&self, fields: &[(impl AsRef<str>, impl AsRef<str>)]) -> Message {
        let mut message = Message::new();
        message
            .set("appid", &self.appid)
            .set("mch_id", &self.mch_id)
            .set("nonce_str", nonce_str());
        if let Some(sub_appid) = &self.sub_appid {
            message.set("sub_appid", sub_appid);
        }
        if let Some(sub_mch_id) = &self.sub_mch_id {
            message.set("sub_mch_id", sub_mch_id);
        }
        for (name, value) in fields {
            message.set(name.as_ref(), value.as_ref());
        }
        sign_in_place(&mut message, &self.key, self.sign_type);
        message
    }

    /// Signs a request for `endpoint`; nothing is sent.
    pub fn prepare(
        &self,
        endpoint: Endpoint,
        fields: &[(impl AsRef<str>, impl AsRef<str>)],
    ) -> Prepared {
        Prepared {
            endpoint,
            url: self.url(&self.base, endpoint),
            message: self.request(fields),
        }
    }

    fn url(&self, base: &str, endpoint: Endpoint) -> String {
        format!("{base}{}{}", self.path_prefix, endpoint.path())
    }

    /// Sends a prepared request until an answer passes every layer, or a failure is final.
    /// A retry resends the very same signed bytes, so it can never carry changed parameters;
    /// it is made only where reference A2.10 says the identical request is safe: after an
    /// err_code that asks for it, after a connection that never opened (nothing was sent),
    /// and for queries, which change nothing, after any transport failure. A connection that
    /// never opened moves to the backup host, when there is one.
    pub async fn send(&self, prepared: &Prepared) -> Result<Message, CallError> {
        let body = prepared.message.to_xml();
        let endpoint = prepared.endpoint;
        let http = match (&self.secure_http, endpoint.needs_client_certificate()) {
            (Some(secure), true) => secure,
            _ => &self.http,
        };
        let mut url = prepared.url.clone();
        let attempts = self.retry.attempts.max(1);
        let mut number = 1;
        loop {
            let result = self.attempt(http, &url, body.clone()).await;
            let result = result
                .and_then(|answer| self.business(answer))
                .and_then(|answer| bound(&prepared.message, answer));
            let error = match result {
                Ok(answer) => {
                    self.observe(number, &url, None, None);
                    return Ok(answer);
                }
                Err(error) => error,
            };
            if number >= attempts || !endpoint.may_resend_after(&error) {
                self.observe(number, &url, Some(&error), None);
                return Err(CallError {
                    error,
                    attempts: number,
                });
            }
            // The other host is tried at once; the same one after a pause.
            let next = match &self.backup {
                Some(backup) if error.never_sent() || endpoint.is_query() => {
                    let on_backup = url.starts_with(backup.as_str());
                    Some(self.url(if on_backup { &self.base } else { backup }, endpoint))
                }
                _ => None,
            };
            let pause = match next {
                Some(_) => Duration::ZERO,
                None => self.retry.delay(number + 1),
            };
            self.observe(number, &url, Some(&error), Some(pause));
            if let Some(next) = next {
                url = next;
            }
            tokio::time::sleep(pause).await;
            number += 1;
        }
    }

    /// Sends a prepared request and reads the answer's payload with `read` (`Prepay::read`,
    /// `OrderState::read` …).
    pub async fn send_and_read<T>(
        &self,
        prepared: &Prepared,
        read: impl FnOnce(Message) -> Result<T, ClientError>,
    ) -> Result<T, CallError> {
        let answer = self.send(prepared).await?;
        read(answer).map_err(|error| CallError { error, attempts: 1 })
    }

    fn observe(
        &self,
        number: u32,
        url: &str,
        error: Option<&ClientError>,
        retry_in: Option<Duration>,
    ) {
        if let Some(observer) = &self.on_attempt {
            observer(&CallAttempt {
                number,
                method: "POST",
                url: &shown_url(url),
                error,
                retry_in,
            });
        }
    }

    /// One POST, and the answer's protocol, sign and merchant layers.
    async fn attempt(
        &self,
        http: &reqwest::Client,
        url: &str,
        body: String,
    ) -> Result<Message, ClientError> {
        self.check(exchange(http, url, body).await?)
    }

    /// The business layer of a verified answer: `result_code=FAIL` is a refusal.
    fn business(&self, answer: Message) -> Result<Message, ClientError> {
        match answer.get("result_code") {
            Some("SUCCESS") => Ok(answer),
            Some("FAIL") => Err(ClientError::Refused {
                code: answer.get("err_code").unwrap_or("").to_owned(),
                description: answer.get("err_code_des").unwrap_or("").to_owned(),
            }),
            other => Err(ClientError::Payload {
                field: "result_code".into(),
                problem: match other {
                    None => "is missing".into(),
                    Some(value) => format!("is {value:?}, neither SUCCESS nor FAIL"),
                },
            }),
        }
    }

    /// The sandbox key (reference A7): `/sandboxnew/pay/getsignkey`, signed with this
    /// client's (production) key, MD5 whatever the profile says. The answer carries no sign
    /// to verify, so only its merchant and shape are checked; over HTTPS the server's
    /// certificate vouches for it.
    pub async fn sandbox_key(&self) -> Result<ApiKey, CallError> {
        let mut message = Message::new();
        message
            .set("mch_id", &self.mch_id)
            .set("nonce_str", nonce_str());
        sign_in_place(&mut message, &self.key, SignType::Md5);
        let url = format!("{}/sandboxnew/pay/getsignkey", self.base);
        let once = async {
            let answer = exchange(&self.http, &url, message.to_xml()).await?;
            if answer.get("return_code") != Some("SUCCESS") {
                return Err(ClientError::Protocol {
                    // Failures may say retmsg instead of return_msg (reference A7).
                    message: answer
                        .non_empty("return_msg")
                        .or_else(|| answer.non_empty("retmsg"))
                        .unwrap_or("(no return_msg)")
                        .to_owned(),
                });
            }
            self.same("mch_id", &self.mch_id, answer.get("mch_id"))?;
            let key = answer.get("sandbox_signkey").unwrap_or("");
            let key = ApiKey::new(key);
            key.check_shape().map_err(|problem| ClientError::Payload {
                field: "sandbox_signkey".into(),
                problem: problem.to_string(),
            })?;
            Ok(key)
        };
        let result = once.await;
        self.observe(1, &url, result.as_ref().err(), None);
        result.map_err(|error| CallError { error, attempts: 1 })
    }

    /// Calls an XML endpoint once. The answer is returned once its sign and merchant hold;
    /// whether the business succeeded (`result_code`) is the caller's to read.
    pub async fn call(&self, path: &str, fields: &[(&str, &str)]) -> Result<Message, ClientError> {
        let url = format!("{}{path}", self.base);
        let body = self.request(fields).to_xml();
        self.check(exchange(&self.http, &url, body).await?)
    }

    /// The URL of a bill endpoint, as [`Client::download_stream`] sends to it, to be shown
    /// and recorded: credentials in api_base are masked.
    pub fn bill_url(&self, path: &str) -> String {
        shown_url(&format!("{}{path}", self.base)).into_owned()
    }

    /// Calls a bill endpoint: the bill's bytes, or the refusal WeChat sent as XML instead.
    /// Holds the whole bill; [`Client::download_stream`] is for bills of any size.
    pub async fn download(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<Vec<u8>, ClientError> {
        let mut body = self.download_stream(path, fields).await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = body.chunk().await? {
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Calls a bill endpoint and hands back the bill as it arrives, never whole; a refusal
    /// WeChat sent as XML instead (even with tar_type=GZIP, failures are plain XML starting
    /// with `<xml>`) is the error.
    pub async fn download_stream(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<BillBody, ClientError> {
        let target = format!("{}{path}", self.base);
        let url = self.bill_url(path);
        let transport = |url: &str| {
            let url = url.to_owned();
            move |source| ClientError::Transport { url, source }
        };
        let mut response = self
            .http
            .post(&target)
            .header("Content-Type", "text/xml")
            .body(self.request(fields).to_xml())
            .send()
            .await
            .map_err(transport(&url))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(ClientError::Status { url, status });
        }
        // Taken before the start is read, which the response counts off it.
        let size = response.content_length();
        // Enough of the start to tell a bill from an XML refusal.
        let mut head = Vec::new();
        while head.len() < XML_START.len() {
            match response.chunk().await.map_err(transport(&url))? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => break,
            }
        }
        if !head.starts_with(XML_START) {
            return Ok(BillBody {
                url,
                response,
                head: Some(head.into()),
                size,
            });
        }
        while let Some(chunk) = response.chunk().await.map_err(transport(&url))? {
            head.extend_from_slice(&chunk);
            if head.len() > MAX_REFUSAL_BYTES {
                break;
            }
        }
        let answer =
            Message::parse(&head).map_err(|source| ClientError::Malformed { url, source })?;
        let answer = self.check(answer)?;
        Err(ClientError::Refused {
            code: answer.get("err_code").unwrap_or("").to_owned(),
            description: answer.get("err_code_des").unwrap_or("").to_owned(),
        })
    }

    fn check(&self, answer: Message) -> Result<Message, ClientError> {
        if answer.get("return_code") != Some("SUCCESS") {
            return Err(ClientError::Protocol {
                message: answer
                    .get("return_msg")
                    .unwrap_or("(no return_msg)")
                    .to_owned(),
            });
        }
        // WeChat signs its answer with the request's sign type; every request of this client
        // is signed with `self.sign_type`.
        let verification =
            verify_as(&answer, &self.key, self.sign_type).map_err(|_| ClientError::MissingSign)?;
        if !verification.valid {
            return Err(ClientError::BadSign(Box::new(verification)));
        }
        // Signed with our key, but possibly an answer to another request of ours, replayed.
        self.same("mch_id", &self.mch_id, answer.get("mch_id"))?;
        self.same("appid", &self.appid, answer.get("appid"))?;
        // Service-provider answers echo the sub-merchant (UNCONFIRMED whether always, so a
        // missing echo passes). One that names another sub-merchant, or any sub-merchant
        // when we asked for none, answers someone else's request.
        if let Some(received) = answer.non_empty("sub_mch_id") {
            self.same(
                "sub_mch_id",
                self.sub_mch_id.as_deref().unwrap_or(""),
                Some(received),
            )?;
        }
        // sub_appid is checked only against one we sent: whether WeChat fills in a
        // sub-merchant's AppID unasked is UNCONFIRMED.
        if let (Some(sub_appid), Some(received)) = (&self.sub_appid, answer.non_empty("sub_appid"))
        {
            self.same("sub_appid", sub_appid, Some(received))?;
        }
        Ok(answer)
    }

    fn same(
        &self,
        field: &'static str,
        expected: &str,
        received: Option<&str>,
    ) -> Result<(), ClientError> {
        if received == Some(expected) {
            return Ok(());
        }
        Err(ClientError::Mismatch {
            field,
            expected: expected.to_owned(),
            received: received.unwrap_or("").to_owned(),
        })
    }
}

/// The numbers that name what a request is about. An answer that names another order or
/// refund, however well signed, answers another request of ours (replayed, or crossed on the
/// way), and nothing in it may be used.
const SUBJECT_FIELDS: [&str; 4] = [
    "out_trade_no",
    "transaction_id",
    "out_refund_no",
    "refund_id",
];

/// The answer, when each number the request sent comes back unchanged wherever the answer
/// names it: as itself, or in a refund list as `out_refund_no_0`, `refund_id_1` …. An answer
/// that leaves one out passes (closeorder names no order); the merchant and app are checked
/// with the sign, in [`Client::check`].
fn bound(request: &Message, answer: Message) -> Result<Message, ClientError> {
    for field in SUBJECT_FIELDS {
        let Some(sent) = request.non_empty(field) else {
            continue;
        };
        let named = answer.pairs().filter(|(name, value)| {
            !value.is_empty() && (*name == field || is_indexed(name, field))
        });
        for (_, received) in named {
            if received != sent {
                return Err(ClientError::Mismatch {
                    field,
                    expected: sent.to_owned(),
                    received: received.to_owned(),
                });
            }
        }
    }
    Ok(answer)
}

/// Whether `name` is `field_N`, an entry of a list in the answer.
fn is_indexed(name: &str, field: &str) -> bool {
    name.strip_prefix(field)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

/// One POST of an XML message and its answer parsed, nothing checked yet: the transport,
/// the HTTP status and the XML are the first layers of every call.
async fn exchange(
    http: &reqwest::Client,
    target: &str,
    body: String,
) -> Result<Message, ClientError> {
    let url = &*shown_url(target);
    let transport = |source| ClientError::Transport {
        url: url.to_owned(),
        source,
    };
    let response = http
        .post(target)
        .header("Content-Type", "text/xml")
        .body(body)
        .send()
        .await
        .map_err(transport)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ClientError::Status {
            url: url.to_owned(),
            status,
        });
    }
    let bytes = response.bytes().await.map_err(transport)?;
    Message::parse(&bytes).map_err(|source| ClientError::Malformed {
        url: url.to_owned(),
        source,
    })
}

/// How a refusal starts; a bill never does.
const XML_START: &[u8] = b"<xml>";
/// A refusal is a few hundred bytes; more than this is not one.
const MAX_REFUSAL_BYTES: usize = 64 * 1024;

/// A bill arriving from WeChat Pay, piece by piece.
pub struct BillBody {
    url: String,
    response: reqwest::Response,
    head: Option<bytes::Bytes>,
    size: Option<u64>,
}

impl BillBody {
    /// A bill whose body is `response`'s, from `url` (credentials masked).
    pub(crate) fn new(url: String, response: reqwest::Response) -> BillBody {
        BillBody {
            url,
            size: response.content_length(),
            response,
            head: None,
        }
    }

    /// The same bill, recorded as coming from `url`.
    pub fn shown_as(self, url: String) -> BillBody {
        BillBody { url, ..self }
    }

    /// Where the bill came from, for the record (the request's fields travel in the body).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The size of the bill on the wire, when the server said (Content-Length).
    pub fn content_length(&self) -> Option<u64> {
        self.size
    }

    /// The next piece of the bill; `None` at its end. A connection cut before the end is an
    /// error, never a short bill.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, ClientError> {
        if let Some(head) = self.head.take().filter(|head| !head.is_empty()) {
            return Ok(Some(head));
        }
        self.response
            .chunk()
            .await
            .map_err(|source| ClientError::Transport {
                url: self.url.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ServiceProviderKey0123456789abcd";

    fn client(sub_mch_id: Option<&str>, sub_appid: Option<&str>) -> Client {
        Client::new(ClientOptions {
            sub_mch_id: sub_mch_id.map(str::to_owned),
            sub_appid: sub_appid.map(str::to_owned),
            ..ClientOptions::new(
                "http://127.0.0.1:9",
                "1900000100",
                "wx8888888888888888",
                ApiKey::new(KEY),
                SignType::Md5,
            )
        })
        .unwrap()
    }

    /// A correctly signed answer for the service provider, with these fields added.
    fn answer(fields: &[(&str, &str)]) -> Message {
        let mut message = Message::from_pairs([
            ("return_code", "SUCCESS"),
            ("appid", "wx8888888888888888"),
            ("mch_id", "1900000100"),
            ("nonce_str", "n"),
            ("result_code", "SUCCESS"),
        ])
        .unwrap();
        for (name, value) in fields {
            message.set(name, *value);
        }
        sign_in_place(&mut message, &ApiKey::new(KEY), SignType::Md5);
        message
    }

    fn mismatched_field(result: Result<Message, ClientError>) -> Option<&'static str> {
        match result {
            Err(ClientError::Mismatch { field, .. }) => Some(field),
            Ok(_) => None,
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn an_echoed_sub_merchant_must_be_the_one_asked_for() {
        let sub = client(Some("1900000201"), Some("wxd678efh567hg6999"));
        let echo = [
            ("sub_mch_id", "1900000201"),
            ("sub_appid", "wxd678efh567hg6999"),
        ];
        assert_eq!(mismatched_field(sub.check(answer(&echo))), None);
        assert_eq!(mismatched_field(sub.check(answer(&[]))), None, "no echo");
        let other = [("sub_mch_id", "1900000999")];
        assert_eq!(
            mismatched_field(sub.check(answer(&other))),
            Some("sub_mch_id")
        );
        let other_app = [
            ("sub_mch_id", "1900000201"),
            ("sub_appid", "wx0000000000000000"),
        ];
        assert_eq!(
            mismatched_field(sub.check(answer(&other_app))),
            Some("sub_appid")
        );

        // A request for no sub-merchant gets no sub-merchant's answer.
        let direct = client(None, None);
        let error = direct
            .check(answer(&[("sub_mch_id", "1900000201")]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the answer names sub_mch_id \"1900000201\", which the request did not"
        );
        assert_eq!(
            mismatched_field(direct.check(answer(&[("sub_mch_id", "")]))),
            None
        );
    }
}
