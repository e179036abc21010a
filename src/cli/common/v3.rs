//! What the commands that check WeChat Pay's API v3 signature share (`sign v3 verify`,
//! `notify verify|decrypt --api v3`): the keys to check with, the time to check at, reading
//! the headers and body, and the wording of a signature that does not hold.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Selected, read_input};
use crate::config::v3::{read_platform_certificates, read_public_key};
use crate::wechat::v3::{AnswerError, SignedHeaders, VerifyKey};

/// The WeChat Pay keys that check an answer or callback, and the time it is checked at.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct CheckArgs {
    /// The WeChat Pay public key, pub_key.pem [default: the profile's
    /// wechatpay_public_key_pem]
    #[arg(long, value_name = "FILE", requires = "public_key_id")]
    public_key: Option<PathBuf>,
    /// The public key's ID, PUB_KEY_ID_… [default: the profile's wechatpay_public_key_id]
    #[arg(long, value_name = "ID", requires = "public_key")]
    public_key_id: Option<String>,
    /// A file of WeChat Pay platform certificates (PEM), each named by its serial; repeat
    /// for several files
    #[arg(long, value_name = "FILE")]
    platform_cert: Vec<PathBuf>,
    /// Check the 5-minute window against this time (seconds since 1970) instead of now: for
    /// an answer or callback captured earlier
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(0..10_000_000_000))]
    at: Option<i64>,
}

impl CheckArgs {
    /// Whether the keys must come from a profile, no flag giving one.
    pub fn needs_profile(&self) -> bool {
        self.public_key.is_none() && self.platform_cert.is_empty()
    }

    /// Whether any of these flags was given, for the commands where they do not apply.
    pub fn given(&self) -> Option<&'static str> {
        if self.public_key.is_some() {
            Some("--public-key")
        } else if !self.platform_cert.is_empty() {
            Some("--platform-cert")
        } else if self.at.is_some() {
            Some("--at")
        } else {
            None
        }
    }

    /// The platform certificates and the public key the flags name, else the profile's
    /// WeChat Pay public key.
    pub fn keys(&self, selected: Option<&Selected>) -> Result<Vec<VerifyKey>, Failure> {
        let mut keys = Vec::new();
        for path in &self.platform_cert {
            keys.extend(read_platform_certificates(path)?);
        }
        if let (Some(path), Some(id)) = (&self.public_key, &self.public_key_id) {
            keys.push(read_public_key(path, id)?);
        }
        if !keys.is_empty() {
            return Ok(keys);
        }
        let Some(Selected {
            config,
            name,
            profile,
        }) = selected
        else {
            return Err(Failure::usage(
                "no WeChat Pay key to check with: no --public-key or --platform-cert, and no profile",
            )
            .hint("pass --public-key pub_key.pem --public-key-id PUB_KEY_ID_…, or --platform-cert FILE"));
        };
        Ok(config.wechatpay_keys(name, profile)?)
    }

    /// `--at`, else now, in seconds since 1970.
    pub fn now(&self) -> i64 {
        self.at
            .unwrap_or_else(|| crate::time::now().unix_timestamp())
    }
}

/// A signed answer or callback as received: the names given for its headers and body, the
/// signature headers, and the body's bytes.
pub(crate) struct Received {
    pub headers_name: String,
    pub headers: SignedHeaders,
    pub body_name: String,
    pub body: Vec<u8>,
}

/// Reads the headers (none when not given: a callback decrypted unchecked) and the body;
/// only one of them may be standard input.
pub(crate) fn read_received(headers: Option<&Path>, body: &Path) -> Result<Received, Failure> {
    let stdin = Path::new("-");
    if headers == Some(stdin) && body == stdin {
        return Err(
            Failure::usage("the headers and the body cannot both be standard input")
                .hint("save one of them to a file"),
        );
    }
    let (headers_name, headers) = match headers {
        Some(path) => {
            let (name, text) = read_input(path)?;
            (name, SignedHeaders::parse(&String::from_utf8_lossy(&text)))
        }
        None => ("no headers".to_owned(), SignedHeaders::default()),
    };
    let (body_name, body) = read_input(body)?;
    Ok(Received {
        headers_name,
        headers,
        body_name,
        body,
    })
}

impl Received {
    /// Seconds from its Wechatpay-Timestamp to `now`, when it has one.
    pub fn age(&self, now: i64) -> Option<i64> {
        (self.headers.timestamp.as_deref())
            .and_then(|t| t.parse::<i64>().ok())
            .map(|t| now.saturating_sub(t))
    }

    /// A signature that does not hold, in words, with what to do: exit 4.
    pub fn failure(&self, error: &AnswerError) -> Failure {
        let (headers, body) = (&self.headers_name, &self.body_name);
        let hint = match error {
            AnswerError::MissingHeader(_) => format!("give every Wechatpay-* header as received in {headers}, one per line; an error answer (4xx, 5xx) is not signed"),
            AnswerError::Duplicated(_) => format!("give each Wechatpay-* header of {headers} once, as received"),
            AnswerError::NotBase64 => format!("copy the Wechatpay-Signature line of {headers} whole, as received"),
            AnswerError::SignatureType(_) => "only WECHATPAY2-SHA256-RSA2048 is checked here".to_owned(),
            AnswerError::Probe => "answer it with HTTP 4xx or 5xx: a notify handler that accepts it accepts forged callbacks".to_owned(),
            AnswerError::BadTimestamp(_) => format!("check the Wechatpay-Timestamp line of {headers}"),
            AnswerError::Stale { .. } => "check this machine's clock; for an answer or callback captured earlier pass --at with a time within 5 minutes of it".to_owned(),
            AnswerError::UnknownSerial { .. } => "a PUB_KEY_ID_… serial needs the WeChat Pay public key of that ID; a hex serial, the platform certificate of that serial (platform certificates rotate: download them again)".to_owned(),
            AnswerError::Mismatch => format!("check that {body} holds the body byte for byte as received (not re-serialized, no added line end), and that the key is WeChat Pay's of that serial"),
        };
        Failure::new(exit::VERIFY, format!("{headers}: {error}")).hint(hint)
    }
}
