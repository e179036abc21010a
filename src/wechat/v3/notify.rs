//! API v3 callbacks (reference B3, B4): the JSON body WeChat Pay posts to `notify_url`, the
//! AES-256-GCM `resource` inside it, and the reply. The signature on the callback is checked
//! with [`super::check_answer`], before anything here is trusted.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::wechat::ApiV3Key;
use crate::wechat::notify::{Recipient, Rejection};

/// The only `resource.algorithm` of API v3 callbacks.
pub const ALGORITHM: &str = "AEAD_AES_256_GCM";

/// The largest callback body parsed. Callbacks are a few kilobytes (a transaction with many
/// promotion details stays far below this); a larger body is not WeChat Pay's.
pub const MAX_CALLBACK_BYTES: usize = 256 * 1024;

/// The APIv3 key is 32 bytes, which makes the cipher AES-256.
const KEY_LEN: usize = 32;

/// GCM's tag, appended to the ciphertext before Base64.
const TAG_LEN: usize = 16;

/// What a notify handler answers a callback (B4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Taken. Newer documents accept an empty 200 or 204, older ones ask for a body: a 200
    /// with the body satisfies both.
    Success,
    /// Its signature does not hold, or it is a probe: WeChat Pay sends it again, signed.
    Unverified,
    /// Authentic, but not taken: it does not decrypt, or names another merchant.
    Refused,
}

impl Reply {
    /// The HTTP status; any 4xx or 5xx makes WeChat Pay send the callback again on its
    /// schedule.
    pub fn status(self) -> u16 {
        match self {
            Reply::Success => 200,
            Reply::Unverified => 401,
            Reply::Refused => 400,
        }
    }

    pub fn body(self) -> &'static str {
        match self {
            Reply::Success => r#"{"code":"SUCCESS","message":"成功"}"#,
            Reply::Unverified | Reply::Refused => r#"{"code":"FAIL","message":"失败"}"#,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CallbackError {
    #[error("it is {0} bytes, more than the {MAX_CALLBACK_BYTES} of any API v3 callback")]
    TooLarge(usize),
    #[error("it is XML: an API v2 notification, not an API v3 callback (JSON)")]
    Xml,
    #[error("it is not an API v3 callback: {0}")]
    Json(String),
}

/// A callback body (B4), as WeChat Pay posts it: the event, and its encrypted resource.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Callback {
    pub id: String,
    #[serde(default)]
    pub create_time: String,
    pub event_type: String,
    #[serde(default)]
    pub resource_type: String,
    #[serde(default)]
    pub summary: String,
    pub resource: Resource,
}

/// The encrypted part of a callback (B3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Resource {
    pub algorithm: String,
    pub ciphertext: String,
    /// The AAD; may be empty.
    #[serde(default)]
    pub associated_data: String,
    pub nonce: String,
    #[serde(default)]
    pub original_type: String,
}

impl Callback {
    /// Parses a callback body; never panics, whatever the bytes.
    pub fn parse(body: &[u8]) -> Result<Callback, CallbackError> {
        if body.len() > MAX_CALLBACK_BYTES {
            return Err(CallbackError::TooLarge(body.len()));
        }
        if body.trim_ascii_start().starts_with(b"<") {
            return Err(CallbackError::Xml);
        }
        serde_json::from_slice(body).map_err(|e| CallbackError::Json(e.to_string()))
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecryptError {
    #[error("resource.algorithm is {0:?}, not {ALGORITHM}")]
    Algorithm(String),
    // The real APIv3 key is 32 bytes. Some SDK tests (B3 vectors 4 and 5) use 16-byte keys,
    // which would make the cipher AES-128: refused rather than guessed at.
    #[error("the APIv3 key is {0} bytes; it is 32, which makes the cipher AES-256")]
    KeyLength(usize),
    #[error("resource.nonce is {0} bytes, not 12")]
    Nonce(usize),
    #[error("resource.ciphertext is not Base64")]
    Base64,
    #[error("resource.ciphertext is {0} bytes, shorter than the 16-byte tag it must end with")]
    TooShort(usize),
    #[error(
        "resource does not decrypt: the APIv3 key is not this merchant's, or the callback was changed"
    )]
    Authentication,
    #[error("the decrypted resource is not UTF-8 text")]
    NotUtf8,
    #[error("the decrypted resource is not a JSON object: {0}")]
    NotJson(String),
}

/// Decrypts a resource's ciphertext (Base64 of ciphertext ‖ tag) with AES-256-GCM: the key
/// is the APIv3 key's bytes, the IV the nonce's, the AAD `associated_data`'s. The plaintext
/// is text: JSON for a callback, a PEM certificate for `/v3/certificates`.
pub fn decrypt(key: &ApiV3Key, resource: &Resource) -> Result<String, DecryptError> {
    if resource.algorithm != ALGORITHM {
        return Err(DecryptError::Algorithm(resource.algorithm.clone()));
    }
    let key = key.expose().as_bytes();
    if key.len() != KEY_LEN {
        return Err(DecryptError::KeyLength(key.len()));
    }
    let nonce = <[u8; NONCE_LEN]>::try_from(resource.nonce.as_bytes())
        .map_err(|_| DecryptError::Nonce(resource.nonce.len()))?;
    let mut sealed = BASE64
        .decode(resource.ciphertext.trim())
        .map_err(|_| DecryptError::Base64)?;
    if sealed.len() < TAG_LEN {
        return Err(DecryptError::TooShort(sealed.len()));
    }
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| DecryptError::KeyLength(key.len()))?,
    );
    let plaintext = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(resource.associated_data.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| DecryptError::Authentication)?;
    String::from_utf8(plaintext.to_vec()).map_err(|_| DecryptError::NotUtf8)
}

/// Encrypts `plaintext` as WeChat Pay encrypts a callback's resource (B3): AES-256-GCM with
/// the APIv3 key, a fresh 12-character nonce, `associated_data` as the AAD.
pub fn encrypt(
    key: &ApiV3Key,
    original_type: &str,
    associated_data: &str,
    plaintext: &str,
) -> Result<Resource, DecryptError> {
    let bytes = key.expose().as_bytes();
    let sealing = UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| DecryptError::KeyLength(bytes.len()))?;
    let nonce = crate::wechat::sign::nonce_str()[..NONCE_LEN].to_owned();
    let iv = <[u8; NONCE_LEN]>::try_from(nonce.as_bytes()).expect("nonce_str is ASCII");
    let mut sealed = plaintext.as_bytes().to_vec();
    sealing
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(associated_data.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| DecryptError::Authentication)?;
    Ok(Resource {
        algorithm: ALGORITHM.to_owned(),
        ciphertext: BASE64.encode(sealed),
        associated_data: associated_data.to_owned(),
        nonce,
        original_type: original_type.to_owned(),
    })
}

/// Decrypts a callback's resource to the JSON object it holds (a transaction, a refund).
pub fn decrypt_json(
    key: &ApiV3Key,
    resource: &Resource,
) -> Result<Map<String, Value>, DecryptError> {
    let text = decrypt(key, resource)?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(DecryptError::NotJson("not an object".to_owned())),
        Err(e) => Err(DecryptError::NotJson(e.to_string())),
    }
}

/// The fields of a decrypted resource that name another merchant or app than `recipient`:
/// `mchid` (API v3's spelling of mch_id), and `appid` where the resource has one (a refund's
/// has none). Named as in API v2, so that one wording serves both.
pub fn mismatches(recipient: &Recipient, fields: &Map<String, Value>) -> Vec<Rejection> {
    let expected = [
        ("mch_id", "mchid", recipient.mch_id, true),
        ("appid", "appid", recipient.appid, false),
    ];
    expected
        .into_iter()
        .filter_map(|(field, key, expected, required)| {
            let expected = expected?;
            let received = match fields.get(key) {
                Some(Value::String(value)) => value.clone(),
                Some(other) => other.to_string(),
                None if required => String::new(),
                None => return None,
            };
            (received != expected).then(|| Rejection::Foreign {
                field,
                expected: expected.to_owned(),
                received,
            })
        })
        .collect()
}

/// The state an authentic callback reports when it is not a success, with the field that
/// holds it: `trade_state` of a `TRANSACTION.*` resource, `refund_status` of a `REFUND.*` one
/// (`ABNORMAL`, `CLOSED`). Other events are not judged.
pub fn unsuccessful(
    event_type: &str,
    fields: &Map<String, Value>,
) -> Option<(&'static str, String)> {
    let field = match event_type.split_once('.') {
        Some(("TRANSACTION", _)) => "trade_state",
        Some(("REFUND", _)) => "refund_status",
        _ => return None,
    };
    let state = match fields.get(field) {
        Some(Value::String(state)) => state.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    (state != "SUCCESS").then_some((field, state))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wechat::v3::VerifyKey;

    fn resource(nonce: &str, associated_data: &str, ciphertext: &str) -> Resource {
        Resource {
            algorithm: ALGORITHM.to_owned(),
            ciphertext: ciphertext.to_owned(),
            associated_data: associated_data.to_owned(),
            nonce: nonce.to_owned(),
            original_type: String::new(),
        }
    }

    const JAVA_KEY: &str = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";

    fn vector_1() -> Resource {
        resource(
            "uluk4a9R25RW",
            "associatedData",
            "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=",
        )
    }

    fn vector_3() -> Resource {
        serde_json::from_str(include_str!("testdata/transaction_resource.json")).unwrap()
    }

    proptest! {
        /// What the emulator encrypts, the B3-checked decryption reads back; with another
        /// AAD or key it does not decrypt.
        #[test]
        fn encrypted_resources_decrypt_with_the_same_key_and_aad_only(
            text in "\\PC{0,200}",
            aad in "[a-z]{0,12}",
        ) {
            let key = ApiV3Key::new(JAVA_KEY);
            let sealed = encrypt(&key, "transaction", &aad, &text).unwrap();
            prop_assert_eq!(sealed.nonce.len(), 12);
            prop_assert_eq!(decrypt(&key, &sealed).unwrap(), text);
            let other_aad = Resource { associated_data: format!("{aad}x"), ..sealed.clone() };
            prop_assert_eq!(decrypt(&key, &other_aad), Err(DecryptError::Authentication));
            let other_key = ApiV3Key::new("b7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb");
            prop_assert_eq!(decrypt(&other_key, &sealed), Err(DecryptError::Authentication));
        }
    }

    /// B3 vector 1 (wechatpay-java).
    #[test]
    fn the_java_vector_decrypts() {
        let key = ApiV3Key::new(JAVA_KEY);
        assert_eq!(decrypt(&key, &vector_1()).unwrap(), "message");
        // Not a JSON object: the callback path says so instead of failing later.
        assert!(matches!(
            decrypt_json(&key, &vector_1()),
            Err(DecryptError::NotJson(_))
        ));
    }

    /// B3 vector 2: a platform certificate of `/v3/certificates`, a PEM text.
    #[test]
    fn the_certificate_vector_decrypts_to_its_certificate() {
        let resource: Resource =
            serde_json::from_str(include_str!("testdata/certificate_resource.json")).unwrap();
        let pem = decrypt(&ApiV3Key::new(JAVA_KEY), &resource).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        let keys = VerifyKey::certificates(pem.as_bytes()).unwrap();
        assert_eq!(keys[0].serial, "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC");
    }

    /// B3 vector 3 (EasyWeChat): a TRANSACTION resource.
    #[test]
    fn the_transaction_vector_decrypts_to_its_json() {
        let key = ApiV3Key::new("5YI2YwEdV56hCsNEoOGEeL17vRFcz3i6");
        let text = decrypt(&key, &vector_3()).unwrap();
        assert_eq!(text, include_str!("testdata/transaction_plaintext.json"));
        let fields = decrypt_json(&key, &vector_3()).unwrap();
        assert_eq!(fields["transaction_id"], "1217752501201407033233368018");
        assert_eq!(fields["amount"]["total"], 100);
        assert_eq!(fields["trade_type"], "MICROPAY");
    }

    #[test]
    fn a_wrong_key_or_a_changed_byte_fails_authentication() {
        let wrong = ApiV3Key::new("5YI2YwEdV56hCsNEoOGEeL17vRFcz3i7");
        assert_eq!(
            decrypt(&wrong, &vector_3()),
            Err(DecryptError::Authentication)
        );
        let key = ApiV3Key::new("5YI2YwEdV56hCsNEoOGEeL17vRFcz3i6");
        let mut sealed = BASE64.decode(&vector_3().ciphertext).unwrap();
        for at in [0, sealed.len() / 2, sealed.len() - 1] {
            sealed[at] ^= 1;
            let changed = Resource {
                ciphertext: BASE64.encode(&sealed),
                ..vector_3()
            };
            assert_eq!(
                decrypt(&key, &changed),
                Err(DecryptError::Authentication),
                "byte {at}"
            );
            sealed[at] ^= 1;
        }
        // The AAD and the nonce are authenticated too.
        let other_aad = Resource {
            associated_data: "refund".to_owned(),
            ..vector_3()
        };
        assert_eq!(decrypt(&key, &other_aad), Err(DecryptError::Authentication));
        let other_nonce = Resource {
            nonce: "katvtHDDPxkx".to_owned(),
            ..vector_3()
        };
        assert_eq!(
            decrypt(&key, &other_nonce),
            Err(DecryptError::Authentication)
        );
    }

    /// B3 vectors 4 and 5 use 16-byte keys (AES-128, in SDK tests only): refused.
    #[test]
    fn a_16_byte_key_is_refused() {
        let key = ApiV3Key::new("testAPIv3Key0000");
        let vector_4 = resource(
            "wCq51qZv4Yfg",
            "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
            "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC",
        );
        assert_eq!(decrypt(&key, &vector_4), Err(DecryptError::KeyLength(16)));
    }

    #[test]
    fn malformed_resources_are_named() {
        let key = ApiV3Key::new(JAVA_KEY);
        let with = |change: fn(&mut Resource)| {
            let mut resource = vector_1();
            change(&mut resource);
            decrypt(&key, &resource)
        };
        assert_eq!(
            with(|r| r.algorithm = "AEAD_AES_128_GCM".to_owned()),
            Err(DecryptError::Algorithm("AEAD_AES_128_GCM".to_owned()))
        );
        assert_eq!(
            with(|r| r.nonce = "short".to_owned()),
            Err(DecryptError::Nonce(5))
        );
        assert_eq!(
            with(|r| r.ciphertext = "not base64!".to_owned()),
            Err(DecryptError::Base64)
        );
        assert_eq!(
            with(|r| r.ciphertext = "AAAA".to_owned()),
            Err(DecryptError::TooShort(3))
        );
    }

    #[test]
    fn callback_bodies_are_parsed_or_refused() {
        let body = r#"{"id":"EV-2018022511223320873","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"支付成功","resource":{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"c2VhbGVk","associated_data":"transaction","nonce":"katvtHDDPxkw"}}"#;
        let callback = Callback::parse(body.as_bytes()).unwrap();
        assert_eq!(callback.id, "EV-2018022511223320873");
        assert_eq!(callback.event_type, "TRANSACTION.SUCCESS");
        assert_eq!(callback.summary, "支付成功");
        assert_eq!(callback.resource.associated_data, "transaction");
        assert_eq!(
            Callback::parse(b" <xml><return_code>SUCCESS</return_code></xml>"),
            Err(CallbackError::Xml)
        );
        assert!(matches!(
            Callback::parse(br#"{"id":"EV-1","event_type":"TRANSACTION.SUCCESS"}"#),
            Err(CallbackError::Json(e)) if e.contains("resource")
        ));
        let large = vec![b' '; MAX_CALLBACK_BYTES + 1];
        assert_eq!(
            Callback::parse(&large),
            Err(CallbackError::TooLarge(MAX_CALLBACK_BYTES + 1))
        );
        let deep = "[".repeat(100_000);
        assert!(Callback::parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn a_resource_of_another_merchant_or_app_is_named() {
        let fields = |text: &str| match serde_json::from_str(text).unwrap() {
            Value::Object(fields) => fields,
            _ => unreachable!(),
        };
        let ours = Recipient {
            mch_id: Some("1230000109"),
            appid: Some("wxd678efh567hg6787"),
        };
        let transaction = fields(include_str!("testdata/transaction_plaintext.json"));
        assert_eq!(mismatches(&ours, &transaction), vec![]);
        let theirs = Recipient {
            mch_id: Some("1900000109"),
            ..ours
        };
        assert_eq!(
            mismatches(&theirs, &transaction),
            vec![Rejection::Foreign {
                field: "mch_id",
                expected: "1900000109".to_owned(),
                received: "1230000109".to_owned(),
            }]
        );
        // A refund names no appid, and a resource without mchid is not this merchant's.
        let refund = fields(r#"{"mchid":"1230000109","out_refund_no":"R1"}"#);
        assert_eq!(mismatches(&ours, &refund), vec![]);
        assert_eq!(mismatches(&ours, &fields("{}")).len(), 1);
        assert_eq!(mismatches(&Recipient::default(), &fields("{}")), vec![]);
    }

    #[test]
    fn a_refund_or_transaction_that_did_not_succeed_is_named() {
        let fields = |text: &str| match serde_json::from_str(text).unwrap() {
            Value::Object(fields) => fields,
            _ => unreachable!(),
        };
        let abnormal = fields(r#"{"refund_status":"ABNORMAL"}"#);
        assert_eq!(
            unsuccessful("REFUND.ABNORMAL", &abnormal),
            Some(("refund_status", "ABNORMAL".to_owned()))
        );
        assert_eq!(
            unsuccessful("REFUND.SUCCESS", &fields(r#"{"refund_status":"SUCCESS"}"#)),
            None
        );
        assert_eq!(
            unsuccessful("TRANSACTION.SUCCESS", &fields("{}")),
            Some(("trade_state", String::new()))
        );
        assert_eq!(unsuccessful("PAYSCORE.USER_CONFIRM", &abnormal), None);
    }

    proptest! {
        /// Any bytes give a callback or an error, and any resource a plaintext or an error.
        #[test]
        fn any_body_or_resource_is_handled_without_a_panic(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            nonce in ".{0,16}",
            aad in ".{0,8}",
            ciphertext in "[A-Za-z0-9+/=]{0,64}",
        ) {
            let _ = Callback::parse(&body);
            let text = String::from_utf8_lossy(&body);
            let _ = Callback::parse(format!(r#"{{"id":"1","event_type":"{text}","resource":{text}}}"#).as_bytes());
            let key = ApiV3Key::new(JAVA_KEY);
            let _ = decrypt_json(&key, &resource(&nonce, &aad, &ciphertext));
        }
    }
}
