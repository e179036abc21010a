//! The WeChat Pay v2 protocol core: no printing, no environment, typed errors.

pub mod api;
pub mod client;
pub mod money;
pub mod notify;
pub mod paysign;
pub mod secret;
pub mod sign;
pub mod transport;
pub mod xml;

pub use money::{BillAmount, Fen};
pub use secret::ApiKey;
pub use sign::SignType;
pub use xml::Message;

/// An absolute http(s) URL with a host, as `api_base` and `notify_url` must be.
pub fn is_http_url(url: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .filter_map(|scheme| url.strip_prefix(scheme))
        .any(|rest| {
            !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
        })
}

/// Upper-case hex, the form every v2 signature takes.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02X}");
            out
        })
}
