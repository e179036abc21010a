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

    /// Calls a bill endpoint: the bill's bytes, or the refusal WeChat sent as XML instead.
    pub async fn download(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<Vec<u8>, ClientError> {
        let (url, body) = self.post(path, fields).await?;
        // Bills are not XML; failures are (even with tar_type=GZIP), and start with "<xml>".
        if !body.starts_with(b"<xml>") {
            return Ok(body);
        }
        let answer =
            Message::parse(&body).map_err(|source| ClientError::Malformed { url, source })?;
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
