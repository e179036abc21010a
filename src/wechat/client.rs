//! Calling the v2 API: sign the request, POST it, and check the answer's layers in the
//! documented order (return_code, then the sign, then result_code for the caller).

use std::time::Duration;

use thiserror::Error;

use super::ApiKey;
use super::sign::{SignType, Verification, nonce_str, sign_in_place, verify};
use super::transport::install_crypto_provider;
use super::xml::{Message, XmlError};

#[derive(Debug, Error)]
pub enum ClientError {
    /// Network, timeout, TLS: nothing is known about the request's fate.
    #[error("request to {url} failed: {source}")]
    Transport { url: String, source: reqwest::Error },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("the answer from {url} is not a WeChat Pay message: {source}")]
    Malformed { url: String, source: XmlError },
    /// `return_code=FAIL`: refused at the protocol layer (签名错误, 参数格式错误 …).
    #[error("WeChat Pay refused the request: {message}")]
    Protocol { message: String },
    #[error("the answer's sign does not verify; it may not come from WeChat Pay")]
    BadSign(Box<Verification>),
    /// A signed `result_code=FAIL` where a bill was expected (fund-flow bills).
    #[error("WeChat Pay refused the request: {code} {description}")]
    Refused { code: String, description: String },
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    pub mch_id: String,
    pub appid: String,
    key: ApiKey,
    pub sign_type: SignType,
}

pub struct ClientOptions {
    pub base: String,
    pub mch_id: String,
    pub appid: String,
    pub key: ApiKey,
    pub sign_type: SignType,
    /// TLS with a custom CA or a client certificate; the system roots otherwise.
    pub tls: Option<rustls::ClientConfig>,
    pub timeout: Duration,
}

impl Client {
    pub fn new(options: ClientOptions) -> Result<Client, reqwest::Error> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder().timeout(options.timeout);
        if let Some(tls) = options.tls {
            builder = builder.tls_backend_preconfigured(tls);
        }
        Ok(Client {
            http: builder.build()?,
            base: options.base.trim_end_matches('/').to_owned(),
            mch_id: options.mch_id,
            appid: options.appid,
            key: options.key,
            sign_type: options.sign_type,
        })
    }

    /// The signed request: appid, mch_id, a fresh nonce_str, the fields, sign_type, sign.
    pub fn request(&self, fields: &[(&str, &str)]) -> Message {
        let mut message = Message::new();
        message
            .set("appid", &self.appid)
            .set("mch_id", &self.mch_id)
            .set("nonce_str", nonce_str());
        for (name, value) in fields {
            message.set(name, *value);
        }
        sign_in_place(&mut message, &self.key, self.sign_type);
        message
    }

    async fn post(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<(String, Vec<u8>), ClientError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .post(&url)
            .header("Content-Type", "text/xml")
            .body(self.request(fields).to_xml())
            .send()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(ClientError::Status { url, status });
        }
        let body = response
            .bytes()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?;
        Ok((url, body.to_vec()))
    }

    /// Calls an XML endpoint. The answer is returned once its sign holds; whether the
    /// business succeeded (`result_code`) is the caller's to read.
    pub async fn call(&self, path: &str, fields: &[(&str, &str)]) -> Result<Message, ClientError> {
        let (url, body) = self.post(path, fields).await?;
        let answer =
            Message::parse(&body).map_err(|source| ClientError::Malformed { url, source })?;
        self.check(answer)
    }

    /// The URL of an endpoint, as requests are sent to it.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
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
        let url = format!("{}{path}", self.base);
        let transport = |url: &str| {
            let url = url.to_owned();
            move |source| ClientError::Transport { url, source }
        };
        let mut response = self
            .http
            .post(&url)
            .header("Content-Type", "text/xml")
            .body(self.request(fields).to_xml())
            .send()
            .await
            .map_err(transport(&url))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(ClientError::Status { url, status });
        }
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
        // WeChat signs its answer with the request's sign type and does not declare it.
        let verification = verify(&answer, &self.key, Some(self.sign_type)).map_err(|_| {
            ClientError::Protocol {
                message: "the answer carries no usable sign".into(),
            }
        })?;
        if !verification.valid {
            return Err(ClientError::BadSign(Box::new(verification)));
        }
        Ok(answer)
    }
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
}

impl BillBody {
    /// Where the bill came from, for the record (the request's fields travel in the body).
    pub fn url(&self) -> &str {
        &self.url
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
