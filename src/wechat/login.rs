//! Mini-program login, code2Session: `GET /sns/jscode2session` turns the code `wx.login()`
//! gave the mini program into the user's openid (and unionid, when the app is bound to an
//! open-platform account) and the session_key (reference cloudpay.md, "Login").

use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use super::client::ClientError;
use super::secret::{AppSecret, SessionKey};
use super::shown_url;
use super::transport::one_off_client;

/// Where code2Session answers, when a profile names no other `login_base`.
pub const DEFAULT_LOGIN_BASE: &str = "https://api.weixin.qq.com";
pub const PATH: &str = "/sns/jscode2session";
/// The only grant_type code2Session knows.
pub const GRANT_TYPE: &str = "authorization_code";

/// The errcode of a request that reached no usable answer: "system busy, try again".
pub const SYSTEM_BUSY: i64 = -1;
/// The per-user minute quota (100 logins a minute).
pub const RATE_LIMITED: i64 = 45011;

/// What an errcode of code2Session means, in words a developer can act on; None for codes
/// the documentation does not list for it.
pub fn errcode_meaning(errcode: i64) -> Option<&'static str> {
    Some(match errcode {
        SYSTEM_BUSY => "WeChat is busy: try again in a moment",
        40029 => {
            "the code is not valid: it is not a code of wx.login for this AppID, or it is older than 5 minutes"
        }
        40163 => "the code was already used: call wx.login again",
        RATE_LIMITED => {
            "too many logins: the limit is 100 a minute per user; try again in a minute"
        }
        40226 => "a high-risk user: WeChat blocks this user's login",
        40013 => "the AppID is not valid",
        40125 => "the AppSecret is not valid for this AppID",
        40002 => "the grant_type is not valid: it must be authorization_code",
        41002 => "the request has no appid",
        41004 => "the request has no secret",
        41008 => "the request has no js_code",
        _ => return None,
    })
}

/// Whether the same request may pass later: the system was busy, or the minute's quota ran
/// out. Every other errcode answers the same request the same way.
pub fn is_temporary(errcode: i64) -> bool {
    matches!(errcode, SYSTEM_BUSY | RATE_LIMITED)
}

#[derive(Debug, Error)]
pub enum LoginError {
    /// Network, timeout, TLS, or an HTTP status other than 200.
    #[error(transparent)]
    Http(ClientError),
    /// An answer that is neither a session nor an errcode. Its body is never quoted: it may
    /// hold a session_key.
    #[error("the answer from {url} is not a code2Session answer: {problem}")]
    Malformed { url: String, problem: &'static str },
    /// `{"errcode": N, "errmsg": "..."}`.
    #[error("WeChat refused the login: errcode {errcode} ({errmsg})")]
    Refused { errcode: i64, errmsg: String },
}

/// A user's session, as code2Session answers it.
#[derive(Debug, Clone)]
pub struct Session {
    pub openid: String,
    /// Only when the app is bound to an open-platform account (微信开放平台).
    pub unionid: Option<String>,
    pub session_key: SessionKey,
}

/// One code2Session request: where it goes, and for which app.
pub struct LoginRequest<'a> {
    pub base: &'a str,
    pub appid: &'a str,
    pub secret: &'a AppSecret,
    pub js_code: &'a str,
}

impl LoginRequest<'_> {
    /// The URL as sent, with the AppSecret in its query string.
    fn url(&self) -> String {
        self.url_with(self.secret.expose())
    }

    /// The URL as it may be shown: the AppSecret masked, and credentials in the base too.
    pub fn shown_url(&self) -> String {
        shown_url(&self.url_with("********")).into_owned()
    }

    /// The query's fields in order, the secret masked, for `--dry-run`.
    pub fn shown_fields(&self) -> [(&'static str, &str); 4] {
        [
            ("appid", self.appid),
            ("secret", "********"),
            ("js_code", self.js_code),
            ("grant_type", GRANT_TYPE),
        ]
    }

    fn url_with(&self, secret: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("appid", self.appid)
            .append_pair("secret", secret)
            .append_pair("js_code", self.js_code)
            .append_pair("grant_type", GRANT_TYPE)
            .finish();
        format!("{}{PATH}?{query}", self.base.trim_end_matches('/'))
    }
}

/// How to reach the login host.
pub struct LoginOptions {
    /// TLS with a custom CA (the emulator's); the system roots otherwise.
    pub tls: Option<rustls::ClientConfig>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

/// Calls code2Session once. A code is used up by the first request that reaches WeChat, so
/// a request whose answer was lost is never sent again: a resent code would be refused
/// with 40163 and say nothing of the first one.
pub async fn code2session(
    request: &LoginRequest<'_>,
    options: LoginOptions,
) -> Result<Session, LoginError> {
    let shown = request.shown_url();
    let transport = |source| {
        LoginError::Http(ClientError::Transport {
            url: shown.clone(),
            source,
        })
    };
    let http =
        one_off_client(options.tls, options.timeout, options.connect_timeout).map_err(transport)?;
    // reqwest names the URL in its errors; ours is shown without the secret, and its own
    // is taken out of the error for good measure.
    let response = http
        .get(request.url())
        .send()
        .await
        .map_err(|e| transport(e.without_url()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(LoginError::Http(ClientError::Status { url: shown, status }));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| transport(e.without_url()))?;
    decode(&body, &shown)
}

#[derive(Deserialize)]
struct Answer {
    openid: Option<String>,
    session_key: Option<String>,
    unionid: Option<String>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// Reads an answer: an errcode other than 0 is a refusal; otherwise openid and session_key
/// must be there. Empty strings count as missing.
pub fn decode(body: &[u8], url: &str) -> Result<Session, LoginError> {
    let malformed = |problem| LoginError::Malformed {
        url: url.to_owned(),
        problem,
    };
    let answer: Answer = serde_json::from_slice(body).map_err(|_| malformed("it is not JSON"))?;
    if let Some(errcode) = answer.errcode.filter(|code| *code != 0) {
        return Err(LoginError::Refused {
            errcode,
            errmsg: answer.errmsg.unwrap_or_default(),
        });
    }
    let present = |value: Option<String>| value.filter(|v| !v.is_empty());
    let session_key = present(answer.session_key).map(SessionKey::new);
    let openid = present(answer.openid).ok_or_else(|| malformed("it has no openid"))?;
    let session_key = session_key.ok_or_else(|| malformed("it has no session_key"))?;
    Ok(Session {
        openid,
        unionid: present(answer.unionid),
        session_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_the_secret_and_the_shown_one_does_not() {
        let secret = AppSecret::new("0123456789abcdef0123456789abcdef");
        let request = LoginRequest {
            base: "https://u:p@api.weixin.qq.com/",
            appid: "wx2421b1c4370ec43b",
            secret: &secret,
            js_code: "0a1 b&c",
        };
        assert_eq!(
            request.url(),
            "https://u:p@api.weixin.qq.com/sns/jscode2session?appid=wx2421b1c4370ec43b&secret=0123456789abcdef0123456789abcdef&js_code=0a1+b%26c&grant_type=authorization_code"
        );
        let shown = request.shown_url();
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(!shown.contains("u:p"), "{shown}");
        assert!(shown.contains("secret=********"), "{shown}");
    }

    #[test]
    fn answers_are_sessions_or_refusals() {
        let session = decode(
            br#"{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","session_key":"tiihtNczf5v6AKRyjwEUhQ==","unionid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE"}"#,
            "u",
        )
        .unwrap();
        assert_eq!(session.openid, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
        assert_eq!(
            session.unionid.as_deref(),
            Some("oGZUI0egBJY1zhBYw2KhdUfwVJJE")
        );
        assert_eq!(session.session_key.expose(), "tiihtNczf5v6AKRyjwEUhQ==");

        let unbound = decode(br#"{"openid":"o1","session_key":"k","errcode":0}"#, "u").unwrap();
        assert_eq!(unbound.unionid, None);

        let refused = decode(br#"{"errcode":40163,"errmsg":"code been used"}"#, "u").unwrap_err();
        assert!(
            matches!(&refused, LoginError::Refused { errcode: 40163, errmsg } if errmsg == "code been used"),
            "{refused}"
        );
        for (body, problem) in [
            (&b"<xml/>"[..], "it is not JSON"),
            (
                br#"{"session_key":"secret-session-key"}"#,
                "it has no openid",
            ),
            (
                br#"{"openid":"o1","session_key":""}"#,
                "it has no session_key",
            ),
        ] {
            let error = decode(body, "u").unwrap_err();
            assert!(
                matches!(&error, LoginError::Malformed { problem: p, .. } if *p == problem),
                "{error}"
            );
            assert!(!error.to_string().contains("secret-session-key"), "{error}");
        }
    }

    #[test]
    fn only_busy_and_the_quota_are_temporary() {
        assert!(is_temporary(SYSTEM_BUSY) && is_temporary(RATE_LIMITED));
        for code in [40029, 40163, 40226, 40013, 40125] {
            assert!(!is_temporary(code), "{code}");
            assert!(errcode_meaning(code).is_some(), "{code}");
        }
        assert_eq!(errcode_meaning(12345), None);
    }
}
