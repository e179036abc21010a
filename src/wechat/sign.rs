//! API v2 signatures (reference A1): MD5 or HMAC-SHA256 over the sorted non-empty fields.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

use super::secret::ApiKey;
use super::xml::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignType {
    /// The protocol default when a request carries no `sign_type`.
    #[default]
    Md5,
    HmacSha256,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignError {
    #[error("unknown sign type {0:?}; WeChat Pay v2 accepts MD5 or HMAC-SHA256")]
    UnknownSignType(String),
    #[error("the message has no sign field")]
    MissingSign,
    #[error(
        "the sign has {0} characters and the message declares no sign_type; expected 32 (MD5) or 64 (HMAC-SHA256)"
    )]
    UnrecognisedLength(usize),
}

impl SignType {
    pub fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::HmacSha256 => "HMAC-SHA256",
        }
    }

    /// The length of a hex signature of this type.
    pub fn sign_len(self) -> usize {
        match self {
            SignType::Md5 => 32,
            SignType::HmacSha256 => 64,
        }
    }

    /// Parses a sign type a person wrote (a flag, a config file) in any ASCII case. A message's
    /// own `sign_type` field is parsed exactly with `from_str` instead: WeChat Pay compares it
    /// exactly and answers `sign_type参数格式错误` to `md5`.
    pub fn parse_any_case(text: &str) -> Result<SignType, SignError> {
        [SignType::Md5, SignType::HmacSha256]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| SignError::UnknownSignType(text.to_owned()))
    }

    fn from_sign_len(len: usize) -> Option<SignType> {
        [SignType::Md5, SignType::HmacSha256]
            .into_iter()
            .find(|t| t.sign_len() == len)
    }
}

impl FromStr for SignType {
    type Err = SignError;

    /// Accepts the wire spellings exactly; WeChat itself refuses `md5` or `HMAC_SHA256`.
    fn from_str(text: &str) -> Result<Self, SignError> {
        match text {
            "MD5" => Ok(SignType::Md5),
            "HMAC-SHA256" => Ok(SignType::HmacSha256),
            other => Err(SignError::UnknownSignType(other.to_owned())),
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a field took no part in the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Omission {
    /// `sign` itself is never signed.
    SignField,
    /// Empty values are left out, as if absent.
    Empty,
}

impl Omission {
    pub fn reason(self) -> &'static str {
        match self {
            Omission::SignField => "the signature itself is never signed",
            Omission::Empty => "empty values are left out",
        }
    }
}

/// The string that is hashed, before `&key=` is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    pub string: String,
    pub omitted: Vec<(String, Omission)>,
}

/// Sorts byte-wise, skips `sign` and empty values, and joins `name=value` with `&`; values are
/// used raw (no URL or XML escaping, no trimming).
pub fn canonical<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Canonical {
    let mut included = Vec::new();
    let mut omitted = Vec::new();
    for (name, value) in pairs {
        if name == "sign" {
            omitted.push((name.to_owned(), Omission::SignField));
        } else if value.is_empty() {
            omitted.push((name.to_owned(), Omission::Empty));
        } else {
            included.push((name, value));
        }
    }
    included.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let string = included
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    Canonical { string, omitted }
}

impl Canonical {
    /// The hashed string as it can be shown: the key appended as the signer appends it, but
    /// named by its fingerprint.
    pub fn masked(&self, key: &ApiKey) -> String {
        format!("{}&key=<API key sha256:{}>", self.string, key.fingerprint())
    }
}

/// Hashes a canonical string with the key appended, giving the upper-case hex sign.
pub fn sign_canonical(canonical: &str, key: &ApiKey, sign_type: SignType) -> String {
    let mut data = String::with_capacity(canonical.len() + 40);
    data.push_str(canonical);
    data.push_str("&key=");
    data.push_str(key.expose());
    match sign_type {
        SignType::Md5 => super::hex_upper(&Md5::digest(data.as_bytes())),
        SignType::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(data.as_bytes());
            super::hex_upper(&mac.finalize().into_bytes())
        }
    }
}

pub fn sign_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    key: &ApiKey,
    sign_type: SignType,
) -> String {
    sign_canonical(&canonical(pairs).string, key, sign_type)
}

/// Signs every field of `message` except `sign`.
pub fn sign_message(message: &Message, key: &ApiKey, sign_type: SignType) -> String {
    sign_pairs(message.pairs(), key, sign_type)
}

/// Sets `sign` on a request, declaring `sign_type` first when it is not the MD5 default.
pub fn sign_in_place(message: &mut Message, key: &ApiKey, sign_type: SignType) {
    if sign_type != SignType::Md5 {
        message.set("sign_type", sign_type.as_str());
    }
    set_sign(message, key, sign_type);
}

/// Sets `sign` (in place, if the message already has the field) without declaring the
/// sign type, as WeChat Pay signs its answers.
pub fn set_sign(message: &mut Message, key: &ApiKey, sign_type: SignType) {
    let sign = sign_message(message, key, sign_type);
    message.set("sign", sign);
}

/// Where the sign type used for a verification came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignTypeSource {
    /// The message's own `sign_type` field.
    Declared,
    /// Given by the caller: the request's sign type, a command-line flag or a profile. The
    /// caller knows which and names it.
    Given,
    /// Neither: inferred from the length of `sign` (32 → MD5, 64 → HMAC-SHA256).
    InferredFromLength,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub valid: bool,
    pub sign_type: SignType,
    pub source: SignTypeSource,
    pub received: String,
    pub expected: String,
    pub canonical: Canonical,
}

/// Checks the `sign` of a received message. The sign type is the message's own `sign_type`
/// when present, else `given`, else inferred from the sign's length.
pub fn verify(
    message: &Message,
    key: &ApiKey,
    given: Option<SignType>,
) -> Result<Verification, SignError> {
    let received = message.non_empty("sign").ok_or(SignError::MissingSign)?;
    let (sign_type, source) = match (message.non_empty("sign_type"), given) {
        (Some(declared), _) => (declared.parse()?, SignTypeSource::Declared),
        (None, Some(given)) => (given, SignTypeSource::Given),
        (None, None) => (
            SignType::from_sign_len(received.len())
                .ok_or(SignError::UnrecognisedLength(received.len()))?,
            SignTypeSource::InferredFromLength,
        ),
    };
    Ok(check_sign(message, key, received, sign_type, source))
}

/// Checks the `sign` of an answer to a request of ours with the type the request was signed
/// with. The answer's own `sign_type` has no say: whoever forged it would declare the weaker
/// MD5, and WeChat Pay signs its answers as the request was signed.
pub fn verify_as(
    message: &Message,
    key: &ApiKey,
    sign_type: SignType,
) -> Result<Verification, SignError> {
    let received = message.non_empty("sign").ok_or(SignError::MissingSign)?;
    Ok(check_sign(
        message,
        key,
        received,
        sign_type,
        SignTypeSource::Given,
    ))
}

fn check_sign(
    message: &Message,
    key: &ApiKey,
    received: &str,
    sign_type: SignType,
    source: SignTypeSource,
) -> Verification {
    let canonical = canonical(message.pairs());
    let expected = sign_canonical(&canonical.string, key, sign_type);
    let valid = bool::from(expected.as_bytes().ct_eq(received.as_bytes()));
    Verification {
        valid,
        sign_type,
        source,
        received: received.to_owned(),
        expected,
        canonical,
    }
}

/// What commonly makes a sign differ from the one WeChat Pay computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pitfall {
    /// A parameter named `key`, mistaken for the way to pass the API key.
    KeyParameter,
    /// A value with white space at either end (named), which is signed untrimmed.
    Untrimmed(String),
    /// The signs agree but for letter case.
    LetterCase,
    /// The signs differ in length (received, expected): the sign types differ.
    Length(usize, usize),
    /// Same length, sign type inferred from it: something in what was signed differs.
    Content,
    /// Parameters signed with HMAC-SHA256 that do not declare it: WeChat Pay checks a message
    /// without a sign_type field as MD5.
    UndeclaredHmac,
    /// The same, seen in a received message: a 64-character sign and no sign_type field.
    UndeclaredLongSign,
}

impl Pitfall {
    /// The pitfalls in the values of a message to sign or verify.
    pub fn in_values(message: &Message) -> Vec<Pitfall> {
        let key = message.get("key").map(|_| Pitfall::KeyParameter);
        let untrimmed = message
            .pairs()
            .filter(|(name, value)| *name != "sign" && !value.is_empty() && value.trim() != *value)
            .map(|(name, _)| Pitfall::Untrimmed(name.to_owned()));
        key.into_iter().chain(untrimmed).collect()
    }

    /// The pitfall of signing `message` with `sign_type`, if there is one.
    pub fn in_signing(message: &Message, sign_type: SignType) -> Option<Pitfall> {
        (sign_type == SignType::HmacSha256 && message.non_empty("sign_type").is_none())
            .then_some(Pitfall::UndeclaredHmac)
    }

    /// The pitfall in a received message's sign, if there is one.
    pub fn in_received(message: &Message) -> Option<Pitfall> {
        let long = message
            .non_empty("sign")
            .is_some_and(|sign| sign.len() == SignType::HmacSha256.sign_len());
        (long && message.non_empty("sign_type").is_none()).then_some(Pitfall::UndeclaredLongSign)
    }

    /// What the received and expected signs of a failed verification tell of its cause.
    pub fn in_mismatch(verification: &Verification) -> Option<Pitfall> {
        let Verification {
            received, expected, ..
        } = verification;
        if verification.valid {
            None
        } else if received.eq_ignore_ascii_case(expected) {
            Some(Pitfall::LetterCase)
        } else if received.len() != expected.len() {
            Some(Pitfall::Length(received.len(), expected.len()))
        } else if verification.source == SignTypeSource::InferredFromLength {
            Some(Pitfall::Content)
        } else {
            None
        }
    }
}

impl fmt::Display for Pitfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pitfall::KeyParameter => f.write_str(
                "a parameter named key is signed like any other; the API key is appended as \
                 &key= by the signer, never passed as a parameter",
            ),
            Pitfall::Untrimmed(name) => write!(
                f,
                "{name} has leading or trailing white space; it is signed as is, never trimmed"
            ),
            Pitfall::LetterCase => {
                f.write_str("the signs differ only in letter case; WeChat Pay signs in upper case")
            }
            Pitfall::Length(received, expected) => write!(
                f,
                "the received sign has {received} characters and the expected {expected}: the \
                 sign types differ"
            ),
            Pitfall::Content => {
                f.write_str("the key, a field value, or a missing or extra field differs")
            }
            Pitfall::UndeclaredHmac => f.write_str(
                "the parameters carry no sign_type field, so WeChat Pay will check this sign as \
                 MD5 and answer 签名错误: add sign_type=HMAC-SHA256 to the parameters",
            ),
            Pitfall::UndeclaredLongSign => f.write_str(
                "the message carries no sign_type field, so WeChat Pay checks its 64-character \
                 sign as MD5 and answers 签名错误: add sign_type=HMAC-SHA256 to the message",
            ),
        }
    }
}

/// A nonce of 32 letters and digits from the operating system's CSPRNG-seeded generator.
pub fn nonce_str() -> String {
    use rand::RngExt;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn doc_example() -> Message {
        Message::from_pairs([
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ])
        .unwrap()
    }

    #[test]
    fn official_worked_example() {
        let key = ApiKey::new(DOC_KEY);
        let message = doc_example();
        assert_eq!(
            canonical(message.pairs()).string,
            "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
        );
        assert_eq!(
            sign_message(&message, &key, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            sign_message(&message, &key, SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn wechatpy_vectors() {
        let key = ApiKey::new(DOC_KEY);
        let pairs = [("test1", "test1"), ("test2", "test2")];
        assert_eq!(
            sign_pairs(pairs, &key, SignType::Md5),
            "1E3A8D73B5A4AEE787C0F68B5DAB8520"
        );
        assert_eq!(
            sign_pairs(pairs, &key, SignType::HmacSha256),
            "EDAC6D70D2FDF5A2382F8204FC96A1918017E46ACC5297F565ED1A7610ACF659"
        );
    }

    #[test]
    fn yansongda_vector_drops_empty_values() {
        let pairs = [("name", "yansongda"), ("age", "29"), ("foo", "")];
        let canonical = canonical(pairs);
        assert_eq!(canonical.string, "age=29&name=yansongda");
        assert_eq!(canonical.omitted, vec![("foo".to_owned(), Omission::Empty)]);
        assert_eq!(
            sign_pairs(pairs, &ApiKey::new("yansongda"), SignType::Md5),
            "3213848AED2C380749FD1D559555881D"
        );
    }

    #[test]
    fn skit_xml_verifies_and_infers_md5_from_length() {
        let xml = b"<xml><appid>wxd930ea5d5a258f4f</appid><mch_id>10000100</mch_id><device_info>1000</device_info><body>test</body><nonce_str>ibuaiVcKdpRxkhJA</nonce_str><sign>9A0A8659F005D6984697E2CA0A9CF3B7</sign></xml>";
        let message = Message::parse(xml).unwrap();
        let verification = verify(&message, &ApiKey::new(DOC_KEY), None).unwrap();
        assert!(verification.valid);
        assert_eq!(verification.sign_type, SignType::Md5);
        assert_eq!(verification.source, SignTypeSource::InferredFromLength);
    }

    #[test]
    fn real_notification_resigned_with_the_doc_key() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/real/paysuccess.notification.sample.xml"
        );
        let mut message = Message::parse(&std::fs::read(path).unwrap()).unwrap();
        let key = ApiKey::new(DOC_KEY);
        // The sample's own sign is a placeholder and must not verify.
        assert!(!verify(&message, &key, None).unwrap().valid);
        assert_eq!(
            sign_message(&message, &key, SignType::Md5),
            "F3F481B732273AFA2839E877583F311D"
        );
        message.set("sign", "F3F481B732273AFA2839E877583F311D");
        assert!(verify(&message, &key, None).unwrap().valid);
    }

    #[test]
    fn declared_sign_type_wins_and_tampering_is_caught() {
        let key = ApiKey::new(DOC_KEY);
        let mut message = doc_example();
        sign_in_place(&mut message, &key, SignType::HmacSha256);
        assert_eq!(message.get("sign_type"), Some("HMAC-SHA256"));
        let verification = verify(&message, &key, Some(SignType::Md5)).unwrap();
        assert!(verification.valid);
        assert_eq!(verification.source, SignTypeSource::Declared);
        message.set("body", "tampered");
        assert!(!verify(&message, &key, None).unwrap().valid);
        message.set("sign_type", "SHA1");
        assert_eq!(
            verify(&message, &key, None),
            Err(SignError::UnknownSignType("SHA1".into()))
        );
    }

    #[test]
    fn people_may_write_any_case_but_messages_must_be_exact() {
        for text in ["MD5", "md5", "Md5"] {
            assert_eq!(SignType::parse_any_case(text), Ok(SignType::Md5));
        }
        for text in ["HMAC-SHA256", "hmac-sha256", "Hmac-Sha256"] {
            assert_eq!(SignType::parse_any_case(text), Ok(SignType::HmacSha256));
        }
        for text in ["HMAC_SHA256", "SHA256", "", "md5 "] {
            assert!(SignType::parse_any_case(text).is_err(), "{text:?}");
        }
        assert!("md5".parse::<SignType>().is_err());
        let key = ApiKey::new(DOC_KEY);
        let mut message = doc_example();
        message.set("sign_type", "md5");
        set_sign(&mut message, &key, SignType::Md5);
        assert_eq!(
            verify(&message, &key, None),
            Err(SignError::UnknownSignType("md5".into()))
        );
    }

    #[test]
    fn unknown_length_without_declared_type_is_an_error() {
        let message = Message::from_pairs([("a", "b"), ("sign", "ABC")]).unwrap();
        assert_eq!(
            verify(&message, &ApiKey::new(DOC_KEY), None),
            Err(SignError::UnrecognisedLength(3))
        );
        let unsigned = Message::from_pairs([("a", "b")]).unwrap();
        assert_eq!(
            verify(&unsigned, &ApiKey::new(DOC_KEY), None),
            Err(SignError::MissingSign)
        );
    }

    #[test]
    fn sorting_is_bytewise_so_uppercase_comes_first() {
        let canonical = canonical([("nonceStr", "n"), ("appId", "a"), ("Zeta", "z")]);
        assert_eq!(canonical.string, "Zeta=z&appId=a&nonceStr=n");
    }

    #[test]
    fn nonces_are_32_alphanumerics_and_differ() {
        let (a, b) = (nonce_str(), nonce_str());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_masked_string_names_the_key_by_fingerprint() {
        let key = ApiKey::new(DOC_KEY);
        let shown = canonical(doc_example().pairs()).masked(&key);
        assert!(shown.ends_with(&format!("&key=<API key sha256:{}>", key.fingerprint())));
        assert!(!shown.contains(DOC_KEY));
    }

    #[test]
    fn pitfalls_in_values() {
        let message =
            Message::from_pairs([("key", "x"), ("body", " test"), ("sign", " S"), ("a", "")])
                .unwrap();
        assert_eq!(
            Pitfall::in_values(&message),
            vec![Pitfall::KeyParameter, Pitfall::Untrimmed("body".into())]
        );
        assert!(Pitfall::in_values(&doc_example()).is_empty());
        assert_eq!(
            Pitfall::Untrimmed("body".into()).to_string(),
            "body has leading or trailing white space; it is signed as is, never trimmed"
        );
    }

    #[test]
    fn pitfalls_in_a_mismatch() {
        let key = ApiKey::new(DOC_KEY);
        let mut message = doc_example();
        let sign = sign_message(&message, &key, SignType::Md5);
        let with_sign = |message: &Message, sign: &str, given| {
            let mut message = message.clone();
            message.set("sign", sign);
            verify(&message, &key, given).unwrap()
        };
        assert_eq!(
            Pitfall::in_mismatch(&with_sign(&message, &sign, None)),
            None
        );
        assert_eq!(
            Pitfall::in_mismatch(&with_sign(&message, &sign.to_lowercase(), None)),
            Some(Pitfall::LetterCase)
        );
        assert_eq!(
            Pitfall::in_mismatch(&with_sign(&message, &sign, Some(SignType::HmacSha256))),
            Some(Pitfall::Length(32, 64))
        );
        assert_eq!(
            Pitfall::Length(32, 64).to_string(),
            "the received sign has 32 characters and the expected 64: the sign types differ"
        );
        message.set("body", "other");
        assert_eq!(
            Pitfall::in_mismatch(&with_sign(&message, &sign, None)),
            Some(Pitfall::Content)
        );
        assert_eq!(
            Pitfall::in_mismatch(&with_sign(&message, &sign, Some(SignType::Md5))),
            None
        );
    }

    #[test]
    fn pitfalls_of_an_undeclared_hmac_sign() {
        let mut message = doc_example();
        assert_eq!(
            Pitfall::in_signing(&message, SignType::HmacSha256),
            Some(Pitfall::UndeclaredHmac)
        );
        assert_eq!(Pitfall::in_signing(&message, SignType::Md5), None);
        message.set("sign", "A".repeat(64));
        assert_eq!(
            Pitfall::in_received(&message),
            Some(Pitfall::UndeclaredLongSign)
        );
        message.set("sign_type", "HMAC-SHA256");
        assert_eq!(Pitfall::in_signing(&message, SignType::HmacSha256), None);
        assert_eq!(Pitfall::in_received(&message), None);
        let mut md5 = doc_example();
        md5.set("sign", "A".repeat(32));
        assert_eq!(Pitfall::in_received(&md5), None);
    }
}
