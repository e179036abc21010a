//! The API v2 key, held so that it cannot be printed by accident.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Length of every API v2 key issued in the merchant console.
pub const API_KEY_LEN: usize = 32;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyShapeError {
    #[error("the API key has {0} characters; an API v2 key has exactly 32")]
    Length(usize),
    #[error("the API key contains characters other than ASCII letters and digits")]
    Charset,
    #[error("the API key has white space or a byte-order mark around it ({0} characters with it)")]
    Padded(usize),
}

/// Every key this process has held, so that output can be scrubbed of a key wherever it
/// appears, also inside a longer word or in text that never passed through an `ApiKey`.
static LOADED: RwLock<Vec<String>> = RwLock::new(Vec::new());

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
        remember(&key);
        ApiKey(key)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Checks the shape of a console-issued key (32 ASCII letters or digits).
    pub fn check_shape(&self) -> Result<(), KeyShapeError> {
        let length = self.0.chars().count();
        let trimmed = self
            .0
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        if trimmed.len() != self.0.len() && trimmed.chars().count() == API_KEY_LEN {
            return Err(KeyShapeError::Padded(length));
        }
        if length != API_KEY_LEN {
            return Err(KeyShapeError::Length(length));
        }
        if !self.0.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyShapeError::Charset);
        }
        Ok(())
    }

    /// Replaces every occurrence of the key in `text`, for output built from user input
    /// that might contain it (a key pasted as a parameter, say).
    pub fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if !self.0.is_empty() && text.contains(&self.0) {
            text.replace(&self.0, "<API key>").into()
        } else {
            text.into()
        }
    }

    /// A short one-way fingerprint, so two people can tell whether they hold the same key
    /// without either of them showing it.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        super::hex_upper(&digest[..4]).to_lowercase()
    }
}

fn remember(key: &str) {
    let key = key.trim();
    if key.chars().count() < MIN_REMEMBERED_LEN {
        return;
    }
    // A poisoned lock still holds every key remembered so far; keep using it.
    let mut loaded = LOADED.write().unwrap_or_else(|e| e.into_inner());
    if !loaded.iter().any(|known| known == key) {
        loaded.push(key.to_owned());
    }
}

/// The length in bytes of the shortest key loaded (`usize::MAX` when none is): text shorter
/// than this cannot contain one, which lets a stream of many short values skip the search.
pub fn shortest_loaded() -> usize {
    let loaded = LOADED.read().unwrap_or_else(|e| e.into_inner());
    loaded.iter().map(String::len).min().unwrap_or(usize::MAX)
}

/// Replaces every key this process has loaded, wherever it appears in `text`.
pub fn redact_loaded(text: &str) -> Cow<'_, str> {
    let loaded = LOADED.read().unwrap_or_else(|e| e.into_inner());
    let mut text = Cow::Borrowed(text);
    for key in loaded.iter() {
        if text.contains(key.as_str()) {
            text = Cow::Owned(text.replace(key.as_str(), "<API key>"));
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
