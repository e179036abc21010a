//! The API v2 key, the APIv3 key, the mini program's AppSecret and the session_key of a login,
//! held so that none of them can be printed by accident.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Length of every API v2 key issued in the merchant console.
pub const API_KEY_LEN: usize = 32;

/// What is wrong with a 32-character secret (an API v2 key, an AppSecret), worded to follow
/// the secret's name: "the AppSecret from file … has 5 characters, not 32".
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyShapeError {
    #[error("has {0} characters, not 32")]
    Length(usize),
    #[error("contains characters other than ASCII letters and digits")]
    Charset,
    #[error("has white space or a byte-order mark around it ({0} characters with it)")]
    Padded(usize),
}

/// Every secret this process has held, with the label that replaces it, so that output can
/// be scrubbed of it wherever it appears, also inside a longer word or in text that never
/// passed through its type.
static LOADED: RwLock<Vec<(String, &'static str)>> = RwLock::new(Vec::new());

const API_KEY_LABEL: &str = "<API key>";
const APIV3_KEY_LABEL: &str = "<APIv3 key>";
const APP_SECRET_LABEL: &str = "<AppSecret>";
const SESSION_KEY_LABEL: &str = "<session_key>";

/// Shorter values are not remembered: hiding a short word everywhere would garble output,
/// and no real key is that short.
const MIN_REMEMBERED_LEN: usize = 16;

/// An API v2 key. Debug and Display are masked; only the signing code reads the value.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Holds a key and remembers it for [`redact_loaded`].
    pub fn new(key: impl Into<String>) -> Self {
        let key = key.into();
        remember(&key, API_KEY_LABEL);
        ApiKey(key)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Checks the shape of a console-issued key (32 ASCII letters or digits).
    pub fn check_shape(&self) -> Result<(), KeyShapeError> {
        check_shape(&self.0)
    }

    /// Replaces every occurrence of the key in `text`, for output built from user input
    /// that might contain it (a key pasted as a parameter, say).
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        redact(&self.0, text, API_KEY_LABEL)
    }

    /// A short one-way fingerprint, so two people can tell whether they hold the same key
    /// without either of them showing it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }
}

/// The APIv3 key (APIv3密钥, set in the merchant console, 账户中心 → API安全), which decrypts
/// the `resource` of API v3 callbacks (AES-256-GCM): 32 ASCII letters and digits, a secret of
/// its own beside the API v2 key. Held, masked and scrubbed as the API key is.
#[derive(Clone)]
pub struct ApiV3Key(String);

impl ApiV3Key {
    /// Holds a key and remembers it for [`redact_loaded`].
    pub fn new(key: impl Into<String>) -> Self {
        let key = key.into();
        remember(&key, APIV3_KEY_LABEL);
        ApiV3Key(key)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The console takes 32 ASCII letters and digits, as for the API v2 key.
    pub fn check_shape(&self) -> Result<(), KeyShapeError> {
        check_shape(&self.0)
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        redact(&self.0, text, APIV3_KEY_LABEL)
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }
}

/// A mini program's AppSecret (小程序密钥, from mp.weixin.qq.com → 开发管理 → 开发设置), which
/// code2Session needs beside the AppID. Held, masked and scrubbed as the API key is.
#[derive(Clone)]
pub struct AppSecret(String);

impl AppSecret {
    /// Holds an AppSecret and remembers it for [`redact_loaded`].
    pub fn new(secret: impl Into<String>) -> Self {
        let secret = secret.into();
        remember(&secret, APP_SECRET_LABEL);
        AppSecret(secret)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// AppSecrets are 32 characters, like API v2 keys: in practice lower-case hex, which is
    /// not documented, so only the key's rule (ASCII letters and digits) is applied.
    pub fn check_shape(&self) -> Result<(), KeyShapeError> {
        check_shape(&self.0)
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        redact(&self.0, text, APP_SECRET_LABEL)
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    /// Whether `given` is this secret, compared in constant time.
    pub fn matches(&self, given: &str) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.0.as_bytes().ct_eq(given.as_bytes()))
    }
}

/// The session_key code2Session answers with: the key of the user's session, which must
/// never reach the mini program. Not remembered for scrubbing until [`SessionKey::conceal`],
/// since a command asked to show it must be able to.
#[derive(Clone)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn new(key: impl Into<String>) -> Self {
        SessionKey(key.into())
    }

    /// The value, for the one place that shows it on request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Hides it from everything printed from now on, as a loaded key is.
    pub fn conceal(&self) {
        remember(&self.0, SESSION_KEY_LABEL);
    }
}

fn check_shape(secret: &str) -> Result<(), KeyShapeError> {
    let length = secret.chars().count();
    let trimmed = secret.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if trimmed.len() != secret.len() && trimmed.chars().count() == API_KEY_LEN {
        return Err(KeyShapeError::Padded(length));
    }
    if length != API_KEY_LEN {
        return Err(KeyShapeError::Length(length));
    }
    if !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyShapeError::Charset);
    }
    Ok(())
}

fn redact<'a>(secret: &str, text: &'a str, label: &str) -> Cow<'a, str> {
    if !secret.is_empty() && text.contains(secret) {
        text.replace(secret, label).into()
    } else {
        text.into()
    }
}

fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    super::hex_upper(&digest[..4]).to_lowercase()
}

fn remember(secret: &str, label: &'static str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_REMEMBERED_LEN {
        return;
    }
    // A poisoned lock still holds every secret remembered so far; keep using it.
    let mut loaded = LOADED.write().unwrap_or_else(|e| e.into_inner());
    if !loaded.iter().any(|(known, _)| known == secret) {
        loaded.push((secret.to_owned(), label));
    }
}

/// The length in bytes of the shortest secret loaded (`usize::MAX` when none is): text
/// shorter than this cannot contain one, which lets a stream of many short values skip the
/// search.
pub fn shortest_loaded() -> usize {
    let loaded = LOADED.read().unwrap_or_else(|e| e.into_inner());
    loaded
        .iter()
        .map(|(secret, _)| secret.len())
        .min()
        .unwrap_or(usize::MAX)
}

/// Replaces every secret this process has loaded, wherever it appears in `text`, with its
/// label (`<API key>`, `<APIv3 key>`, `<AppSecret>`, `<session_key>`).
pub fn redact_loaded(text: &str) -> Cow<'_, str> {
    let loaded = LOADED.read().unwrap_or_else(|e| e.into_inner());
    let mut text = Cow::Borrowed(text);
    for (secret, label) in loaded.iter() {
        if text.contains(secret.as_str()) {
            text = Cow::Owned(text.replace(secret.as_str(), label));
        }
    }
    text
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(********)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "******** (sha256 {})", self.fingerprint())
    }
}

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key(********)")
    }
}

impl fmt::Display for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "******** (sha256 {})", self.fingerprint())
    }
}

impl fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSecret(********)")
    }
}

impl fmt::Display for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "******** (sha256 {})", self.fingerprint())
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(********)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d");
        for shown in [format!("{key:?}"), format!("{key}")] {
            assert!(!shown.contains("192006250b4c"), "{shown}");
        }
        assert_eq!(key.fingerprint().len(), 8);
        assert_eq!(
            key.redact("a=192006250b4c09247ec02edce69f6a2d&b"),
            "a=<API key>&b"
        );
    }

    #[test]
    fn every_loaded_key_is_redacted_wherever_it_appears() {
        let _key = ApiKey::new("Zq8xW3vN5mL2kJ7hG4fD9sA1pO6iU0yT");
        let _short = ApiKey::new("yansongda");
        assert_eq!(
            redact_loaded("xZq8xW3vN5mL2kJ7hG4fD9sA1pO6iU0yTx and yansongda"),
            "x<API key>x and yansongda"
        );
    }

    #[test]
    fn app_secrets_and_session_keys_are_masked_and_scrubbed_with_their_own_label() {
        let secret = AppSecret::new("a1b2c3d4e5f60718293a4b5c6d7e8f90");
        for shown in [format!("{secret:?}"), format!("{secret}")] {
            assert!(!shown.contains("a1b2c3d4e5f6"), "{shown}");
        }
        assert!(secret.matches("a1b2c3d4e5f60718293a4b5c6d7e8f90"));
        assert!(!secret.matches("a1b2c3d4e5f60718293a4b5c6d7e8f9"));
        assert_eq!(
            redact_loaded("secret=a1b2c3d4e5f60718293a4b5c6d7e8f90&x"),
            "secret=<AppSecret>&x"
        );
        let session = SessionKey::new("HyVFkGl5F5OQWJZZaNzBBg==");
        assert!(!format!("{session:?}").contains("HyVF"));
        assert_eq!(
            redact_loaded("HyVFkGl5F5OQWJZZaNzBBg=="),
            "HyVFkGl5F5OQWJZZaNzBBg==",
            "shown until concealed"
        );
        session.conceal();
        assert_eq!(
            redact_loaded("k=HyVFkGl5F5OQWJZZaNzBBg=="),
            "k=<session_key>"
        );
    }

    #[test]
    fn apiv3_keys_are_masked_and_scrubbed_with_their_own_label() {
        let key = ApiV3Key::new("Kp3rT8vW2xY6zA1bC5dE9fG4hJ7kL0mN");
        for shown in [format!("{key:?}"), format!("{key}")] {
            assert!(!shown.contains("Kp3rT8vW"), "{shown}");
        }
        assert_eq!(key.check_shape(), Ok(()));
        assert_eq!(
            redact_loaded("k=Kp3rT8vW2xY6zA1bC5dE9fG4hJ7kL0mN;"),
            "k=<APIv3 key>;"
        );
        assert_eq!(
            ApiV3Key::new("testAPIv3Key0000").check_shape(),
            Err(KeyShapeError::Length(16))
        );
    }

    #[test]
    fn shape_check() {
        assert_eq!(
            ApiKey::new("192006250b4c09247ec02edce69f6a2d").check_shape(),
            Ok(())
        );
        assert_eq!(
            ApiKey::new("short").check_shape(),
            Err(KeyShapeError::Length(5))
        );
        assert_eq!(
            ApiKey::new(" 192006250b4c09247ec02edce69f6a2d").check_shape(),
            Err(KeyShapeError::Padded(33))
        );
        assert_eq!(
            ApiKey::new("192006250b4c09247ec02edce69f6a2!").check_shape(),
            Err(KeyShapeError::Charset)
        );
    }
}
