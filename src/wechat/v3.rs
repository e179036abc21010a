//! API v3 signatures (reference B1, B2, B4): the merchant's RSA signature of a request and of
//! the client-side pay parameters, and the check of WeChat Pay's signature on an answer or a
//! callback; the callbacks themselves are in [`notify`]. RSA and AES-GCM come from `ring`,
//! which rustls already brings into the build.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::SystemRandom;
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use thiserror::Error;
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

pub mod api;
pub mod certs;
pub mod client;
pub mod notify;

/// The scheme of the `Authorization` header and of `Wechatpay-Signature-Type`.
pub const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// How far an answer's or callback's `Wechatpay-Timestamp` may be from now (B2).
pub const WINDOW_SECONDS: i64 = 5 * 60;

/// The start of the deliberately invalid signature of WeChat's probe callbacks (B2).
pub const PROBE_PREFIX: &str = "WECHATPAY/SIGNTEST/";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("no PEM block in it: {expected}")]
    NoPem { expected: &'static str },
    #[error(
        "it is DER (binary); the PEM form is expected, as `openssl pkey -inform der` writes it"
    )]
    Der,
    #[error("its PEM block does not end (no -----END line): the file is cut short")]
    Unterminated,
    #[error("its RSA key is {bits} bits; WeChat Pay's keys are 2048 bits or more")]
    Weak { bits: usize },
    #[error("its {label} block is not a key ring can use: {reason}")]
    Unusable { label: String, reason: String },
    #[error("it holds an encrypted private key; WeChat Pay's apiclient_key.pem is not encrypted")]
    Encrypted,
    #[error("its key is not RSA (WeChat Pay's keys are RSA, 2048 bits)")]
    NotRsa,
}

/// The merchant's API private key (`apiclient_key.pem`), which signs requests and pay
/// parameters. Never printed: it has no `Debug`, `Display` or `Serialize`.
pub struct MerchantKey {
    pair: RsaKeyPair,
}

impl MerchantKey {
    /// A PEM file's key: PKCS#8 (`PRIVATE KEY`, as the merchant console gives it) or PKCS#1
    /// (`RSA PRIVATE KEY`, as WeChat's documentation prints its test key).
    pub fn from_pem(bytes: &[u8]) -> Result<MerchantKey, KeyError> {
        // OpenSSL's traditional encrypted form keeps the RSA PRIVATE KEY label.
        if String::from_utf8_lossy(bytes).contains("Proc-Type: 4,ENCRYPTED") {
            return Err(KeyError::Encrypted);
        }
        let blocks: Vec<Pem> = Pem::iter_from_buffer(bytes).map_while(Result::ok).collect();
        let unusable = |label: &str, e: ring::error::KeyRejected| KeyError::Unusable {
            label: label.to_owned(),
            reason: e.to_string(),
        };
        for pem in &blocks {
            let pair = match pem.label.as_str() {
                "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&pem.contents),
                "RSA PRIVATE KEY" => RsaKeyPair::from_der(&pem.contents),
                "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
                "EC PRIVATE KEY" => return Err(KeyError::NotRsa),
                _ => continue,
            };
            return pair.map(|pair| MerchantKey { pair }).map_err(|e| {
                match e.to_string().as_str() {
                    "WrongAlgorithm" => KeyError::NotRsa,
                    _ => unusable(&pem.label, e),
                }
            });
        }
        Err(no_pem(bytes, "-----BEGIN PRIVATE KEY-----"))
    }

    /// Base64 of the RSASSA-PKCS1-v1_5 SHA-256 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        // PKCS#1 v1.5 is deterministic: the random source is not used, and cannot fail for a
        // buffer of the modulus' length.
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("a buffer of the modulus' length");
        BASE64.encode(signature)
    }

    /// The public half (PKCS#1 `RSAPublicKey` DER), to match it with a certificate.
    pub fn public_der(&self) -> &[u8] {
        self.pair.public().as_ref()
    }

    /// The public half, named by `serial`: what checks this key's signatures.
    pub fn verify_key(&self, serial: &str) -> VerifyKey {
        VerifyKey {
            serial: serial.to_owned(),
            public_der: self.public_der().to_vec(),
        }
    }

    /// Whether `key` (a certificate's, say) is this key's public half.
    pub fn is_pair_of(&self, key: &VerifyKey) -> bool {
        self.public_der() == key.public_der
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("method {0:?}: WeChat Pay signs the method as sent, in capitals")]
    Method(String),
    #[error("URL {0:?} has a scheme and host; the signature covers the path and query only")]
    Absolute(String),
    #[error(
        "URL {0:?} is not a path as sent: it starts with /, and spaces and control characters in it are percent-encoded"
    )]
    Url(String),
    #[error("mchid {0:?} is not a merchant number (digits)")]
    MchId(String),
    #[error("nonce {0:?} must be 1 to 32 letters or digits")]
    Nonce(String),
}

/// Refuses what cannot be the method, URL line, nonce or merchant of a request WeChat Pay
/// checks: each is a line of the signed text or a quoted value of the header, so a line end
/// or a quote in one would sign or send something else.
pub fn check_request(
    method: &str,
    url: &str,
    nonce: &str,
    mch_id: &str,
) -> Result<(), RequestError> {
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(RequestError::Method(method.to_owned()));
    }
    if url.contains("://") {
        return Err(RequestError::Absolute(url.to_owned()));
    }
    if !url.starts_with('/') || url.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(RequestError::Url(url.to_owned()));
    }
    if mch_id.is_empty() || mch_id.len() > 32 || !mch_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RequestError::MchId(mch_id.to_owned()));
    }
    if nonce.is_empty() || nonce.len() > 32 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(RequestError::Nonce(nonce.to_owned()));
    }
    Ok(())
}

/// Why a file holds no usable PEM block: binary, cut short, an old-style encrypted key, or
/// no block of the kind `expected`.
fn no_pem(bytes: &[u8], expected: &'static str) -> KeyError {
    let text = String::from_utf8_lossy(bytes);
    if bytes.first() == Some(&0x30) {
        KeyError::Der
    } else if text.contains("Proc-Type: 4,ENCRYPTED") {
        KeyError::Encrypted
    } else if text.contains("-----BEGIN ") && !text.contains("-----END ") {
        KeyError::Unterminated
    } else {
        KeyError::NoPem { expected }
    }
}

/// The five lines a request's signature covers (B1), each ended by `\n`: the method, the
/// path with its query as sent, the timestamp, the nonce and the body (empty for a GET).
pub fn request_message(
    method: &str,
    url: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut message = format!("{method}\n{url}\n{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// Why a request's five lines may not be what WeChat Pay rebuilds from the request as it
/// arrives: the causes of its 401 SIGN_ERROR that can be seen in the lines themselves.
pub fn request_pitfalls(method: &str, url: &str, body: &[u8]) -> Vec<String> {
    let mut notes = Vec::new();
    if !url.starts_with("/v3/") {
        notes.push(format!(
            "the URL line is {url:?}: WeChat Pay signs the path from /v3/ with its query, as sent"
        ));
    }
    if matches!(method, "GET" | "DELETE") && !body.is_empty() {
        notes.push(format!(
            "a {method} is sent without a body and signed with an empty body line; this one signs {} bytes",
            body.len()
        ));
    }
    if body.ends_with(b"\n") {
        notes.push(
            "the body ends with a line end, which is signed as part of it: send exactly these bytes, or sign the body without it"
                .to_owned(),
        );
    }
    if body.first().is_some_and(u8::is_ascii_whitespace) {
        notes.push("the body starts with white space, which is signed as part of it".to_owned());
    }
    notes.push(
        "serial_no is the serial of the merchant's API certificate (apiclient_cert.pem), not a platform certificate's or the public key's ID"
            .to_owned(),
    );
    notes.push(format!(
        "the timestamp must be within {} minutes of WeChat Pay's clock, and the body line the exact bytes sent (not the JSON re-serialized)",
        WINDOW_SECONDS / 60
    ));
    notes
}

/// The `Authorization` header's value for a signed request (B1), pairs in the order of the
/// Go SDK.
pub fn authorization(
    mch_id: &str,
    serial: &str,
    timestamp: u64,
    nonce: &str,
    signature: &str,
) -> String {
    format!(
        "{SCHEME} mchid=\"{mch_id}\",nonce_str=\"{nonce}\",timestamp=\"{timestamp}\",serial_no=\"{serial}\",signature=\"{signature}\""
    )
}

/// The five pairs of a request's `Authorization` header (B1), as the server reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    pub mch_id: String,
    pub nonce: String,
    pub timestamp: String,
    pub serial: String,
    pub signature: String,
}

impl Authorization {
    /// The pairs of `WECHATPAY2-SHA256-RSA2048 k="v",…`, in any order; `None` for another
    /// scheme, a pair missing or given twice.
    pub fn parse(header: &str) -> Option<Authorization> {
        let pairs = header.strip_prefix(SCHEME)?.strip_prefix(' ')?;
        let mut auth = Authorization::default();
        let mut seen = Vec::new();
        for pair in pairs.split(',') {
            let (name, value) = pair.trim().split_once('=')?;
            let value = value.strip_prefix('"')?.strip_suffix('"')?.to_owned();
            let field = match name {
                "mchid" => &mut auth.mch_id,
                "nonce_str" => &mut auth.nonce,
                "timestamp" => &mut auth.timestamp,
                "serial_no" => &mut auth.serial,
                "signature" => &mut auth.signature,
                _ => continue,
            };
            if seen.contains(&name) {
                return None;
            }
            seen.push(name);
            *field = value;
        }
        (seen.len() == 5).then_some(auth)
    }
}

/// The three lines WeChat Pay's signature on an answer or a callback covers (B2).
pub fn answer_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// A key that checks WeChat Pay's signatures, with the serial that names it in
/// `Wechatpay-Serial`: a platform certificate's serial (uppercase hex), or the public key's
/// `PUB_KEY_ID_…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyKey {
    pub serial: String,
    /// PKCS#1 `RSAPublicKey` DER.
    public_der: Vec<u8>,
}

impl VerifyKey {
    /// The WeChat Pay public key (`PUBLIC KEY` PEM, as the merchant console gives it), named
    /// by its ID.
    pub fn public_key(pem: &[u8], key_id: &str) -> Result<VerifyKey, KeyError> {
        let block = Pem::iter_from_buffer(pem)
            .map_while(Result::ok)
            .find(|pem| pem.label == "PUBLIC KEY")
            .ok_or_else(|| no_pem(pem, "-----BEGIN PUBLIC KEY-----"))?;
        let public_der = rsa_of_spki(&block.contents)?;
        Ok(VerifyKey {
            serial: key_id.to_owned(),
            public_der,
        })
    }

    /// Every platform certificate of a PEM file, each named by its serial.
    pub fn certificates(pem: &[u8]) -> Result<Vec<VerifyKey>, KeyError> {
        let mut keys = Vec::new();
        for block in Pem::iter_from_buffer(pem).map_while(Result::ok) {
            if block.label != "CERTIFICATE" {
                continue;
            }
            let (_, cert) =
                X509Certificate::from_der(&block.contents).map_err(|e| KeyError::Unusable {
                    label: block.label.clone(),
                    reason: e.to_string(),
                })?;
            keys.push(VerifyKey {
                serial: serial_hex(cert.tbs_certificate.raw_serial()),
                public_der: rsa_of_spki(cert.public_key().raw)?,
            });
        }
        if keys.is_empty() {
            return Err(no_pem(pem, "-----BEGIN CERTIFICATE-----"));
        }
        Ok(keys)
    }

    /// Whether `signature` (Base64) is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &str) -> bool {
        let Ok(signature) = BASE64.decode(signature.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.public_der)
            .verify(message, &signature)
            .is_ok()
    }
}

/// A certificate's serial as WeChat Pay writes it (`serial_no`, `Wechatpay-Serial`): uppercase
/// hex of the number, without the 00 byte DER puts before a number whose top bit is set.
pub fn serial_hex(raw: &[u8]) -> String {
    let first = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    super::hex_upper(&raw[first..])
}

/// Whether `text` is a serial as [`serial_hex`] writes one: uppercase hex, at most 64 digits.
pub fn is_serial(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// The RSA key inside a SubjectPublicKeyInfo, checked to be one: of 2048 bits or more.
fn rsa_of_spki(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let unusable = |reason: String| KeyError::Unusable {
        label: "PUBLIC KEY".to_owned(),
        reason,
    };
    let (_, spki) = SubjectPublicKeyInfo::from_der(der).map_err(|e| unusable(e.to_string()))?;
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) if rsa.key_size() < 2048 => Err(KeyError::Weak {
            bits: rsa.key_size(),
        }),
        Ok(PublicKey::RSA(_)) => Ok(spki.subject_public_key.data.into_owned()),
        Ok(_) => Err(KeyError::NotRsa),
        Err(e) => Err(unusable(e.to_string())),
    }
}

/// The signature headers of an answer or a callback (B2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedHeaders {
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub signature: Option<String>,
    pub serial: Option<String>,
    pub signature_type: Option<String>,
    /// A Wechatpay-* header given twice: which of the two counts is up to whatever reads
    /// them, so the answer is refused.
    pub duplicated: Option<String>,
}

impl SignedHeaders {
    /// From header lines (`Name: value`, names in any case), as curl -i or a proxy log shows
    /// them; other lines (a status line, other headers) are passed over.
    pub fn parse(text: &str) -> SignedHeaders {
        let mut headers = SignedHeaders::default();
        for line in text.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let field = match name.trim().to_ascii_lowercase().as_str() {
                "wechatpay-timestamp" => &mut headers.timestamp,
                "wechatpay-nonce" => &mut headers.nonce,
                "wechatpay-signature" => &mut headers.signature,
                "wechatpay-serial" => &mut headers.serial,
                "wechatpay-signature-type" => &mut headers.signature_type,
                _ => continue,
            };
            if field.replace(value.trim().to_owned()).is_some() && headers.duplicated.is_none() {
                headers.duplicated = Some(name.trim().to_owned());
            }
        }
        headers
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AnswerError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {0} header is given twice")]
    Duplicated(String),
    #[error("Wechatpay-Signature is not Base64: the header was cut or changed on the way")]
    NotBase64,
    #[error("Wechatpay-Signature-Type is {0:?}, not {SCHEME}")]
    SignatureType(String),
    #[error(
        "a probe: WeChat Pay sent this callback with a signature that is meant to fail (it starts with {PROBE_PREFIX}); answer it with a 4xx or 5xx and WeChat sends it again, signed"
    )]
    Probe,
    #[error("Wechatpay-Timestamp {0:?} is not a time in seconds")]
    BadTimestamp(String),
    #[error(
        "Wechatpay-Timestamp is {age} s from now; WeChat Pay's answers are refused beyond {WINDOW_SECONDS} s (a replay, or this machine's clock)"
    )]
    Stale { age: i64 },
    #[error("no key for Wechatpay-Serial {serial}: the keys given are {known}")]
    UnknownSerial { serial: String, known: String },
    #[error(
        "the signature does not match: the body or headers were changed, or it was signed with another key"
    )]
    Mismatch,
}

/// What a checked answer was checked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub serial: String,
    /// Seconds from `Wechatpay-Timestamp` to now (negative: in the future).
    pub age: i64,
}

/// Checks WeChat Pay's signature on an answer or a callback: the headers all there, the
/// signature type, not a probe, the timestamp within the window of `now`, the key the serial
/// names among `keys`, and the signature of `TIMESTAMP\nNONCE\nBODY\n`.
pub fn check_answer(
    headers: &SignedHeaders,
    body: &[u8],
    keys: &[VerifyKey],
    now: i64,
) -> Result<Checked, AnswerError> {
    if let Some(name) = &headers.duplicated {
        return Err(AnswerError::Duplicated(name.clone()));
    }
    let need = |value: &Option<String>, name| value.clone().ok_or(AnswerError::MissingHeader(name));
    let timestamp = need(&headers.timestamp, "Wechatpay-Timestamp")?;
    let nonce = need(&headers.nonce, "Wechatpay-Nonce")?;
    let signature = need(&headers.signature, "Wechatpay-Signature")?;
    let serial = need(&headers.serial, "Wechatpay-Serial")?;
    if let Some(kind) = &headers.signature_type
        && kind != SCHEME
    {
        return Err(AnswerError::SignatureType(kind.clone()));
    }
    if signature.starts_with(PROBE_PREFIX) {
        return Err(AnswerError::Probe);
    }
    let at: i64 = timestamp
        .parse()
        .map_err(|_| AnswerError::BadTimestamp(timestamp.clone()))?;
    let age = now.saturating_sub(at);
    if age.unsigned_abs() >= WINDOW_SECONDS.unsigned_abs() {
        return Err(AnswerError::Stale { age });
    }
    let key = keys
        .iter()
        .find(|k| k.serial.eq_ignore_ascii_case(&serial))
        .ok_or_else(|| AnswerError::UnknownSerial {
            serial: serial.clone(),
            known: keys
                .iter()
                .map(|k| k.serial.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    if BASE64.decode(signature.trim()).is_err() {
        return Err(AnswerError::NotBase64);
    }
    if !key.verifies(&answer_message(&timestamp, &nonce, body), &signature) {
        return Err(AnswerError::Mismatch);
    }
    Ok(Checked {
        serial: key.serial.clone(),
        age,
    })
}

#[cfg(test)]
mod tests;
