//! The API v2 key, held so that it cannot be printed by accident.

use std::fmt;

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

/// An API v2 key. Debug and Display are masked; only the signing code reads the value.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
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
