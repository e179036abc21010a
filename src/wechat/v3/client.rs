//! Calling API v3 (reference B1, B2, B5): each request signed with the merchant's RSA key,
//! each 2xx answer's signature checked with WeChat Pay's key before anything in it is read,
//! the answer bound to the request, and a refusal read from v3's error JSON. A 5xx or 429 is
//! sent again with the same body (freshly signed), as B5 allows; the rest follows the v2
//! client's rules for what may be sent again ([`Endpoint::may_resend_after`]).

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use serde_json::Value;

use super::certs::{self, PlatformCert};
use super::{
    AnswerError, MerchantKey, SignedHeaders, VerifyKey, authorization, check_answer,
    request_message,
};
use crate::wechat::ApiV3Key;
use crate::wechat::api::Endpoint;
use crate::wechat::client::{
    AttemptObserver, BillBody, CallAttempt, CallError, ClientError, RetryPolicy,
};
use crate::wechat::shown_url;
use crate::wechat::sign::nonce_str;
use crate::wechat::transport::install_crypto_provider;

/// Where WeChat Pay lists its platform certificates (B2).
pub const CERTIFICATES_PATH: &str = "/v3/certificates";

/// A refusal is a few hundred bytes of JSON; more than this is not one.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// An answer's body is a few kilobytes; a bill is fetched by another path.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

pub struct V3Options {
    pub base: String,
    pub mch_id: String,
    pub appid: String,
    pub key: MerchantKey,
    /// The serial of the merchant's API certificate, which names `key` to WeChat Pay.
    pub serial: String,
    /// WeChat Pay's public key, or its platform certificates: what answers are checked with.
    pub wechatpay_keys: Vec<VerifyKey>,
    /// Platform-certificate mode: how to fetch the certificates again when an answer names
    /// a serial not among the keys.
    pub refresh: Option<CertRefresh>,
    pub tls: Option<rustls::ClientConfig>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    pub on_attempt: Option<AttemptObserver>,
}

/// Where fetched platform certificates are cached, and the APIv3 key that opens them.
pub struct CertRefresh {
    pub apiv3_key: ApiV3Key,
    pub dir: PathBuf,
}

pub struct V3Client {
    http: reqwest::Client,
    base: String,
    pub mch_id: String,
    pub appid: String,
    key: MerchantKey,
    serial: String,
    /// Grows when platform certificates are fetched again, during a call.
    wechatpay_keys: RwLock<Vec<VerifyKey>>,
    refresh: Option<CertRefresh>,
    retry: RetryPolicy,
    on_attempt: Option<AttemptObserver>,
}

/// A request ready to sign and send (or to show, for `--dry-run`).
#[derive(Debug, Clone)]
pub struct V3Prepared {
    pub endpoint: Endpoint,
    pub method: &'static str,
    /// The path from `/v3/` with its query, as sent and signed.
    pub path: String,
    /// The JSON body; empty for a GET.
    pub body: String,
    /// Top-level fields the answer must repeat when it names them (the merchant, the app,
    /// the order or refund asked about), as v2 binds its answers.
    pub binding: Vec<(&'static str, String)>,
}

/// A signed request's headers, as they go out.
#[derive(Debug, Clone)]
pub struct Signed {
    pub url: String,
    pub authorization: String,
}

impl V3Client {
    pub fn new(options: V3Options) -> Result<V3Client, reqwest::Error> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("wxpay-ops/", env!("CARGO_PKG_VERSION")));
        if let Some(tls) = options.tls {
            builder = builder.tls_backend_preconfigured(tls);
        }
        Ok(V3Client {
            http: builder.build()?,
            base: options.base.trim_end_matches('/').to_owned(),
            mch_id: options.mch_id,
            appid: options.appid,
            key: options.key,
            serial: options.serial,
            wechatpay_keys: RwLock::new(options.wechatpay_keys),
            refresh: options.refresh,
            retry: options.retry,
            on_attempt: options.on_attempt,
        })
    }

    /// Where a request goes, credentials in api_base masked: for messages and records.
    pub fn shown_url(&self, prepared: &V3Prepared) -> String {
        shown_url(&format!("{}{}", self.base, prepared.path)).into_owned()
    }

    /// The key requests and pay parameters are signed with.
    pub(crate) fn key(&self) -> &MerchantKey {
        &self.key
    }

    /// The request's URL and `Authorization` header, signed now with a fresh nonce.
    pub fn sign(&self, prepared: &V3Prepared) -> Signed {
        let timestamp = crate::time::now().unix_timestamp().max(0) as u64;
        let nonce = nonce_str();
        let message = request_message(
            prepared.method,
            &prepared.path,
            timestamp,
            &nonce,
            prepared.body.as_bytes(),
        );
        let signature = self.key.sign(&message);
        Signed {
            url: format!("{}{}", self.base, prepared.path),
            authorization: authorization(&self.mch_id, &self.serial, timestamp, &nonce, &signature),
        }
    }

    /// Sends a request until an answer passes every check, or a failure is final: the
    /// answer's JSON (None for a 204).
    pub async fn send(&self, prepared: &V3Prepared) -> Result<Option<Value>, CallError> {
        let attempts = self.retry.attempts.max(1);
        let mut number = 1;
        loop {
            let signed = self.sign(prepared);
            let (status, result) = self.attempt(prepared, &signed).await;
            let error = match result.and_then(|answer| bound(prepared, answer)) {
                Ok(answer) => {
                    self.observe(prepared, number, &signed.url, None, None);
                    return Ok(answer);
                }
                Err(error) => error,
            };
            let again = match status {
                Some(status) => status >= 500 || status == 429,
                None => prepared.endpoint.may_resend_after(&error),
            };
            if number >= attempts || !again {
                self.observe(prepared, number, &signed.url, Some(&error), None);
                return Err(CallError {
                    error,
                    attempts: number,
                });
            }
            let pause = self.retry.delay(number + 1);
            self.observe(prepared, number, &signed.url, Some(&error), Some(pause));
            tokio::time::sleep(pause).await;
            number += 1;
        }
    }

    /// Downloads a bill from the `download_url` a verified bill answer gave (B6): a GET
    /// signed over the URL's path and query, whose answer is the file, unsigned (its SHA-1 is
    /// the caller's to check). The request goes to api_base with that path and query, never
    /// to a host named in an answer: WeChat's download URLs are on api_base's host (B6), and
    /// the merchant's signature is not sent where data says.
    pub async fn download_stream(&self, download_url: &str) -> Result<BillBody, ClientError> {
        let path = reqwest::Url::parse(download_url)
            .ok()
            .filter(|url| url.path().starts_with("/v3/"))
            .map(|url| match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            })
            .ok_or_else(|| {
                payload(
                    "download_url",
                    format!("is not a WeChat Pay URL (a path from /v3/): {download_url:?}"),
                )
            })?;
        let prepared = V3Prepared {
            endpoint: Endpoint::DownloadBill,
            method: "GET",
            path,
            body: String::new(),
            binding: Vec::new(),
        };
        let signed = self.sign(&prepared);
        let url = shown_url(&signed.url).into_owned();
        let transport = |source| ClientError::Transport {
            url: url.clone(),
            source,
        };
        let response = (self.http.get(&signed.url))
            .header("Authorization", &signed.authorization)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = read_bounded(response, MAX_ERROR_BYTES)
                .await
                .map_err(transport)?
                .unwrap_or_default();
            return Err(refusal(&url, status, &body));
        }
        Ok(BillBody::new(url, response))
    }

    /// One exchange: the HTTP status when one came back, and the checked answer. An answer
    /// signed under a serial the client does not know fetches the platform certificates again
    /// once (when it can), and is checked again with them.
    async fn attempt(
        &self,
        prepared: &V3Prepared,
        signed: &Signed,
    ) -> (Option<u16>, Result<Option<Value>, ClientError>) {
        let (headers, body) = match self.exchange(prepared, signed).await {
            (status, Ok(received)) => {
                if let Some(status) = status.filter(|s| !(200..300).contains(s)) {
                    let url = shown_url(&signed.url).into_owned();
                    return (Some(status), Err(refusal(&url, status, &received.1)));
                }
                received
            }
            (status, Err(e)) => return (status, Err(e)),
        };
        let mut checked = self.check(&headers, &body);
        if matches!(checked, Err(AnswerError::UnknownSerial { .. }))
            && let Some(refresh) = &self.refresh
            && !prepared.path.starts_with(CERTIFICATES_PATH)
        {
            // A fetch that fails leaves the answer unverified, as it was: its request was
            // acted on (a 2xx came back), so the fetch's own failure must not stand for the
            // request's and have it sent again.
            if let Ok(certs) = self.download_certificates(&refresh.apiv3_key).await {
                // The cache is a convenience: a folder that cannot be written leaves the
                // certificates in memory for this run.
                let _ = certs::cache(&refresh.dir, &certs);
                checked = self.check(&headers, &body);
            }
        }
        if let Err(e) = checked {
            return (None, Err(ClientError::Unverified(e)));
        }
        (None, json_object(&body))
    }

    /// The answer checked with the keys the client has.
    fn check(&self, headers: &SignedHeaders, body: &[u8]) -> Result<(), AnswerError> {
        let now = crate::time::now().unix_timestamp();
        let keys = self
            .wechatpay_keys
            .read()
            .unwrap_or_else(|e| e.into_inner());
        check_answer(headers, body, &keys, now).map(drop)
    }

    /// Fetches `/v3/certificates` (B2), decrypts the certificates with the APIv3 key, checks
    /// the answer's signature with them (or the keys already held), and adds them to the keys
    /// answers are checked with.
    pub async fn download_certificates(
        &self,
        apiv3_key: &ApiV3Key,
    ) -> Result<Vec<PlatformCert>, ClientError> {
        let prepared = Self::certificates_request();
        let url = format!("{}{}", self.base, prepared.path);
        let fetched = self.fetch_certificates(&prepared, apiv3_key).await;
        // Shown with -v, as every request is: a refresh is one more request.
        self.observe(&prepared, 1, &url, fetched.as_ref().err(), None);
        fetched
    }

    /// `GET /v3/certificates`; signed only, so the endpoint is not consulted.
    fn certificates_request() -> V3Prepared {
        V3Prepared {
            endpoint: Endpoint::OrderQuery,
            method: "GET",
            path: CERTIFICATES_PATH.to_owned(),
            body: String::new(),
            binding: Vec::new(),
        }
    }

    async fn fetch_certificates(
        &self,
        prepared: &V3Prepared,
        apiv3_key: &ApiV3Key,
    ) -> Result<Vec<PlatformCert>, ClientError> {
        let signed = self.sign(prepared);
        let url = shown_url(&signed.url).into_owned();
        let (headers, body) = match self.exchange(prepared, &signed).await {
            (Some(status), Ok((_, body))) if !(200..300).contains(&status) => {
                return Err(refusal(&url, status, &body));
            }
            (_, Ok(received)) => received,
            (_, Err(e)) => return Err(e),
        };
        let answer = json_object(&body)?.unwrap_or_default();
        let now = crate::time::now().unix_timestamp();
        // Only certificates valid now, as WeChat's SDKs take them.
        let certs: Vec<PlatformCert> = certs::read_answer(&answer, apiv3_key)
            .map_err(|e| payload("data", e.to_string()))?
            .into_iter()
            .filter(|cert| {
                certs::describe(cert.pem.as_bytes())
                    .is_some_and(|described| described.valid_at(now))
            })
            .collect();
        let mut keys: Vec<VerifyKey> = (self.wechatpay_keys.read())
            .map(|keys| keys.clone())
            .unwrap_or_else(|e| e.into_inner().clone());
        for cert in &certs {
            let key = VerifyKey::certificates(cert.pem.as_bytes())
                .map_err(|e| payload("data", e.to_string()))?;
            keys.retain(|known| known.serial != cert.serial);
            keys.extend(key);
        }
        check_answer(&headers, &body, &keys, now).map_err(ClientError::Unverified)?;
        *self
            .wechatpay_keys
            .write()
            .unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(certs)
    }

    /// One request and its answer, read but not checked: the status, the signature headers
    /// and the body.
    async fn exchange(
        &self,
        prepared: &V3Prepared,
        signed: &Signed,
    ) -> (Option<u16>, Result<(SignedHeaders, Vec<u8>), ClientError>) {
        let url = shown_url(&signed.url).into_owned();
        let transport = |source| ClientError::Transport {
            url: url.clone(),
            source,
        };
        let mut request = self
            .http
            .request(
                reqwest::Method::from_bytes(prepared.method.as_bytes())
                    .expect("a method of the typed API"),
                &signed.url,
            )
            .header("Authorization", &signed.authorization)
            .header("Accept", "application/json");
        if !prepared.body.is_empty() {
            request = request
                .header("Content-Type", "application/json")
                .body(prepared.body.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (None, Err(transport(e))),
        };
        let status = response.status().as_u16();
        let headers = signed_headers(response.headers());
        let limit = if response.status().is_success() {
            MAX_ANSWER_BYTES
        } else {
            MAX_ERROR_BYTES
        };
        match read_bounded(response, limit).await {
            Ok(Some(body)) => (Some(status), Ok((headers, body))),
            Ok(None) => {
                let problem = format!("is over {limit} bytes, more than any answer");
                (Some(status), Err(payload("body", problem)))
            }
            Err(e) => (None, Err(transport(e))),
        }
    }

    fn observe(
        &self,
        prepared: &V3Prepared,
        number: u32,
        url: &str,
        error: Option<&ClientError>,
        retry_in: Option<Duration>,
    ) {
        if let Some(observer) = &self.on_attempt {
            observer(&CallAttempt {
                number,
                method: prepared.method,
                url: &shown_url(url),
                error,
                retry_in,
            });
        }
    }
}

/// A verified answer's body: None when empty (a 204), else a JSON object.
fn json_object(body: &[u8]) -> Result<Option<Value>, ClientError> {
    if body.is_empty() {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(Some(value)),
        Ok(_) => Err(payload("body", "is not a JSON object".into())),
        Err(e) => Err(payload("body", format!("is not JSON: {e}"))),
    }
}

fn payload(field: &str, problem: String) -> ClientError {
    ClientError::Payload {
        field: field.into(),
        problem,
    }
}

/// The Wechatpay-* headers of an answer; one given twice is noted, as a text parse does.
fn signed_headers(headers: &reqwest::header::HeaderMap) -> SignedHeaders {
    let lines: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("wechatpay-"))
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    SignedHeaders::parse(&lines.join("\n"))
}

/// The body, unless it runs past `limit` bytes (None).
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// A non-2xx answer: v3's error JSON (`code`, `message`) when it is one, the bare status
/// otherwise.
fn refusal(url: &str, status: u16, body: &[u8]) -> ClientError {
    let error: Option<Value> = serde_json::from_slice(body).ok();
    let text = |name: &str| {
        let value = error.as_ref()?.get(name)?.as_str()?;
        Some(value.to_owned())
    };
    match text("code") {
        Some(code) => ClientError::RefusedV3 {
            status,
            code,
            message: text("message").unwrap_or_default(),
        },
        None => ClientError::Status {
            url: url.to_owned(),
            status,
        },
    }
}

/// The answer, when every field it shares with the request's binding repeats it.
fn bound(prepared: &V3Prepared, answer: Option<Value>) -> Result<Option<Value>, ClientError> {
    let Some(value) = &answer else {
        return Ok(answer);
    };
    for (field, expected) in &prepared.binding {
        let received = match value.get(*field) {
            None | Some(Value::Null) => continue,
            Some(Value::String(text)) if text.is_empty() => continue,
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        };
        if received != *expected {
            return Err(ClientError::Mismatch {
                field,
                expected: expected.clone(),
                received,
            });
        }
    }
    Ok(answer)
}
