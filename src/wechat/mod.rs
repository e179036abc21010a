//! The WeChat Pay v2 protocol core: no printing, no environment, typed errors.

pub mod api;
pub mod batch;
pub mod client;
pub mod cloudpay;
#[cfg(test)]
pub(crate) mod fuzz_tests;
pub mod gateway;
pub mod login;
pub mod money;
pub mod notify;
pub mod notify_build;
pub mod notify_check;
pub mod params;
pub mod paysign;
pub mod sandbox;
pub mod secret;
pub mod sign;
pub mod transport;
pub mod v3;
pub mod xml;

pub use money::{BillAmount, Fen};
pub use secret::{ApiKey, ApiV3Key, AppSecret};
pub use sign::SignType;
pub use xml::Message;

/// The two APIs of WeChat Pay: v2 (signed XML, the API key) and v3 (JSON, RSA signatures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V2,
    V3,
}

/// An absolute http(s) URL with a host, as `api_base` and `notify_url` must be.
pub fn is_http_url(url: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .filter_map(|scheme| url.strip_prefix(scheme))
        .any(|rest| {
            !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
        })
}

/// The scheme and the authority (`user:pass@host:port`) of a URL, and the rest.
fn split_authority(url: &str) -> Option<(&str, &str, &str)> {
    let at = url.find("://")? + 3;
    let (scheme, rest) = url.split_at(at);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    Some((scheme, authority, path))
}

/// Whether `url` names this machine: a loopback address, or `localhost`.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback()),
        None => false,
    }
}

/// Whether requests to `url` would travel unencrypted over a network: plain `http://` to a
/// host other than this machine. Signed requests cannot be forged there, but they can be
/// read, and answers held back or replayed.
pub fn is_plain_http_remote(url: &str) -> bool {
    let Some(("http://", authority, _)) = split_authority(url) else {
        return false;
    };
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

/// A URL as it may be shown: credentials in it (`https://user:pass@host`) replaced by `***`.
pub fn shown_url(url: &str) -> std::borrow::Cow<'_, str> {
    match split_authority(url) {
        Some((scheme, authority, rest)) if authority.contains('@') => {
            let host = authority.rsplit('@').next().unwrap_or("");
            format!("{scheme}***@{host}{rest}").into()
        }
        _ => url.into(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_local() {
        for local in [
            "http://127.0.0.1:8080/n",
            "http://127.1.2.3/n",
            "https://localhost/n",
            "http://LOCALHOST:9/n",
            "http://[::1]:80/n",
            "http://[::ffff:127.0.0.1]/n",
            "http://0x7f000001/n",
        ] {
            assert!(is_loopback_url(local), "{local}");
        }
        for remote in [
            "http://10.0.0.1/n",
            "http://0.0.0.0/n",
            "http://example.com/n",
            "http://localhost.example.com/n",
            "http://127.0.0.1.nip.io/n",
            "http://[::]/n",
            "not a url",
        ] {
            assert!(!is_loopback_url(remote), "{remote}");
        }
    }

    #[test]
    fn plain_http_is_flagged_only_off_this_machine() {
        for remote in [
            "http://api.example.com",
            "http://10.0.0.2:8080/pay",
            "http://user:pw@api.example.com",
            "http://[2001:db8::1]:80",
        ] {
            assert!(is_plain_http_remote(remote), "{remote}");
        }
        for local in [
            "https://api.mch.weixin.qq.com",
            "http://127.0.0.1:8787",
            "http://localhost/x",
            "http://[::1]:8787",
            "http://u:p@127.0.0.1",
        ] {
            assert!(!is_plain_http_remote(local), "{local}");
        }
    }

    #[test]
    fn credentials_in_a_url_are_masked() {
        assert_eq!(
            shown_url("https://user:pa@ss@api.example.com/pay?x=@"),
            "https://***@api.example.com/pay?x=@"
        );
        assert_eq!(
            shown_url("https://api.example.com/a@b"),
            "https://api.example.com/a@b"
        );
        assert_eq!(shown_url("not a url"), "not a url");
    }
}
