//! Mini-program login: codes minted on the control plane (what `wx.login()` gives a mini
//! program), and code2Session, `GET /sns/jscode2session`, which a merchant's backend calls
//! with the code to learn the user's openid (reference cloudpay.md, "Login").
//!
//! A user is one person across apps: the same user gets the same openid each time they log
//! in to an app, a different openid in each app, and, in the apps bound to one merchant's
//! open-platform account (`open_platform_appids`), one unionid.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::core::{Body, Core, LogEntry, Reply};
use super::faults::FaultKind;
use super::lock;
use crate::time::{BEIJING, api_time, bill_time};
use crate::wechat::AppSecret;
use crate::wechat::login::{GRANT_TYPE, RATE_LIMITED, SYSTEM_BUSY};

pub use crate::wechat::login::PATH;

/// A code is valid this long after `wx.login()` gave it, and once.
pub const CODE_LIFETIME: Duration = Duration::minutes(5);
/// code2Session's quota: logins per user in any minute (errcode 45011 beyond it).
pub const LOGINS_PER_MINUTE: usize = 100;

/// WeChat's answers are JSON, declared so (UNCONFIRMED: the exact header of this endpoint).
const JSON: &str = "application/json; encoding=utf-8";

/// The control plane's `POST /__emulator/login` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginCode {
    pub appid: String,
    /// The user: an openid they have in any app of the emulator, or one of the caller's own
    /// choosing for a new user; a new user when absent.
    pub openid: Option<String>,
}

/// A code minted for a user, and who the user is in that app.
#[derive(Debug, Clone, Serialize)]
pub struct Minted {
    pub code: String,
    pub openid: String,
    /// When the app is bound to an open-platform account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// yyyyMMddHHmmss, Beijing time, on the emulator's clock.
    pub expires_at: String,
}

#[derive(Debug, Default)]
pub struct Logins {
    codes: HashMap<String, Code>,
    users: Vec<User>,
    /// Every openid handed out or chosen, to its user.
    by_openid: HashMap<String, usize>,
}

#[derive(Debug)]
struct Code {
    appid: String,
    user: usize,
    issued: OffsetDateTime,
    used: bool,
}

#[derive(Debug, Default)]
struct User {
    /// AppID → openid.
    openids: HashMap<String, String>,
    /// Open-platform account (the mch_id of the merchant that binds the app) → unionid.
    unionids: HashMap<String, String>,
    /// When code2Session answered this user, within the last minute.
    logins: VecDeque<OffsetDateTime>,
}

impl Logins {
    fn new_user(&mut self) -> usize {
        self.users.push(User::default());
        self.users.len() - 1
    }

    fn openid(&mut self, user: usize, appid: &str) -> String {
        if let Some(openid) = self.users[user].openids.get(appid) {
            return openid.clone();
        }
        let openid = wechat_id();
        self.adopt(user, appid, openid.clone());
        openid
    }

    fn adopt(&mut self, user: usize, appid: &str, openid: String) {
        self.by_openid.insert(openid.clone(), user);
        self.users[user].openids.insert(appid.to_owned(), openid);
    }

    fn unionid(&mut self, user: usize, platform: &str) -> String {
        self.users[user]
            .unionids
            .entry(platform.to_owned())
            .or_insert_with(wechat_id)
            .clone()
    }

    /// Forgets codes that can no longer be used, so that minting many keeps memory flat:
    /// an expired code answers as an unknown one does.
    fn forget_expired(&mut self, now: OffsetDateTime) {
        self.codes
            .retain(|_, code| now - code.issued <= CODE_LIFETIME);
    }
}

/// An id in the shape of WeChat's openids and unionids: "o" and 27 URL-safe characters.
fn wechat_id() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::rng();
    std::iter::once('o')
        .chain((0..27).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])))
        .collect()
}

/// A code as wx.login gives them: 32 letters and digits.
fn new_code() -> String {
    crate::wechat::sign::nonce_str()
}

/// A session_key: 16 random bytes in base64, as WeChat's are.
fn new_session_key() -> String {
    use base64::Engine;
    use rand::RngExt;
    let bytes: [u8; 16] = rand::rng().random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An openid a caller may choose for a new user: what fits in a URL and a database column.
fn is_openid_shaped(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What the emulator knows of an app: its AppSecret (when set), the merchant it is
/// listed under, and the open-platform account it is bound to.
struct App<'a> {
    secret: Option<&'a AppSecret>,
    mch_id: &'a str,
    platform: Option<&'a str>,
}

impl Core {
    fn app(&self, appid: &str) -> Option<App<'_>> {
        let merchants = &self.options.merchants;
        let owner = merchants
            .iter()
            .find(|m| m.all_appids().any(|own| own == appid))?;
        Some(App {
            secret: merchants.iter().find_map(|m| m.app_secrets.get(appid)),
            mch_id: &owner.mch_id,
            platform: merchants
                .iter()
                .find(|m| m.open_platform_appids.iter().any(|a| a == appid))
                .map(|m| m.mch_id.as_str()),
        })
    }

    /// A code for a user of `appid`, as `wx.login()` gives one: valid for five minutes of the
    /// emulator's clock, and once. `openid` names the user (see [`LoginCode`]).
    pub fn mint_login_code(&self, appid: &str, openid: Option<&str>) -> Result<Minted, String> {
        let app = self.app(appid).ok_or_else(|| {
            format!(
                "no app {appid:?} in this emulator: name one of the merchants' appids or sub_appids"
            )
        })?;
        if app.secret.is_none() {
            return Err(format!(
                "app {appid} has no AppSecret, so code2Session refuses every login to it: \
                 give it one under [merchants.app_secrets] in the merchants file"
            ));
        }
        if let Some(openid) = openid
            && !is_openid_shaped(openid)
        {
            return Err("openid must be 1 to 64 letters, digits, _ or -".to_owned());
        }
        let now = self.clock.now();
        let mut logins = lock(&self.logins);
        logins.forget_expired(now);
        let user = match openid {
            Some(given) => match logins.by_openid.get(given) {
                Some(&user) => user,
                None => {
                    let user = logins.new_user();
                    logins.adopt(user, appid, given.to_owned());
                    user
                }
            },
            None => logins.new_user(),
        };
        let openid = logins.openid(user, appid);
        let unionid = app.platform.map(|platform| logins.unionid(user, platform));
        let code = new_code();
        logins.codes.insert(
            code.clone(),
            Code {
                appid: appid.to_owned(),
                user,
                issued: now,
                used: false,
            },
        );
        Ok(Minted {
            code,
            openid,
            unionid,
            expires_at: api_time(now + CODE_LIFETIME),
        })
    }

    /// `/sns/jscode2session`: injected faults first, as for every endpoint, then the answer;
    /// logged without its query, which holds the AppSecret.
    pub fn jscode2session(&self, method: &str, query: &str) -> Reply {
        let fault = lock(&self.faults).take(PATH);
        let pairs: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let appid = pairs.get("appid").map_or("", String::as_str);
        let mch_id = self.app(appid).map(|app| app.mch_id.to_owned());
        let (mut reply, outcome) = match &fault {
            Some(FaultKind::Http500) => (Reply::text(500, "Internal Server Error"), None),
            Some(FaultKind::Http503) => (Reply::text(503, "Service Unavailable"), None),
            Some(FaultKind::MalformedXml) => (json(r#"{"session_key":"tiihtNczf5"#), None),
            Some(FaultKind::SystemError) => {
                let (reply, code) = refusal(SYSTEM_BUSY, "system error");
                (reply, Some(code))
            }
            _ => {
                let (reply, outcome) = self.session(method, &pairs);
                (reply, Some(outcome))
            }
        };
        if matches!(
            fault,
            Some(FaultKind::Drop | FaultKind::Truncate | FaultKind::Delay { .. })
        ) {
            reply.transport = fault.clone();
        }
        let outcome = match outcome {
            Some(0) => "SUCCESS".to_owned(),
            Some(errcode) => format!("FAIL errcode {errcode}"),
            None => format!("HTTP {}", reply.status),
        };
        self.record(LogEntry {
            at: bill_time(self.clock.now().to_offset(BEIJING)),
            method: method.to_owned(),
            path: PATH.to_owned(),
            mch_id: mch_id.unwrap_or_default(),
            outcome,
            fault,
            body_sha256: crate::wechat::hex_upper(&Sha256::digest(b"")).to_lowercase(),
        });
        reply
    }

    /// The answer to a well-delivered request, and its errcode (0 for a session). The
    /// order of the checks is UNCONFIRMED: the app and its secret first, as the credentials
    /// of the call, then the request's own fields, then the code.
    fn session(&self, method: &str, pairs: &HashMap<String, String>) -> (Reply, i64) {
        let refuse = |errcode, errmsg| refusal(errcode, errmsg);
        // Parameters go in the query string; POST is answered as GET is (UNCONFIRMED: the
        // documentation shows GET only, and WeChat's other APIs read the query either way).
        if method != "GET" && method != "POST" {
            return (Reply::text(405, "Method Not Allowed"), 405);
        }
        let field = |name: &str| {
            pairs
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        let Some(appid) = field("appid") else {
            return refuse(41002, "appid missing");
        };
        let Some(app) = self.app(appid) else {
            return refuse(40013, "invalid appid");
        };
        let Some(secret) = field("secret") else {
            return refuse(41004, "appsecret missing");
        };
        // An app without an AppSecret in the merchants file refuses every one; the code
        // 40125 is documented for other endpoints, UNCONFIRMED for this one.
        if !app.secret.is_some_and(|own| own.matches(secret)) {
            return refuse(40125, "invalid appsecret");
        }
        let Some(js_code) = field("js_code") else {
            return refuse(41008, "missing code");
        };
        // UNCONFIRMED: integrators report that a request without grant_type is answered as
        // one with it, and a wrong one refused with the general 40002 (invalid grant_type).
        if field("grant_type").is_some_and(|given| given != GRANT_TYPE) {
            return refuse(40002, "invalid grant_type");
        }
        let now = self.clock.now();
        let mut logins = lock(&self.logins);
        let (user, used) = match logins.codes.get(js_code) {
            Some(code) if code.appid == appid && now - code.issued <= CODE_LIFETIME => {
                (code.user, code.used)
            }
            // Unknown, another app's, or expired: the same "invalid code" (expiry is not
            // told apart by WeChat either).
            _ => return refuse(40029, "invalid code"),
        };
        if used {
            return refuse(40163, "code been used");
        }
        let recent = &mut logins.users[user].logins;
        while recent
            .front()
            .is_some_and(|at| now - *at >= Duration::minutes(1))
        {
            recent.pop_front();
        }
        // A refused request leaves its code unused (UNCONFIRMED), so that it can be tried
        // again once the minute is over, within the code's five minutes.
        if recent.len() >= LOGINS_PER_MINUTE {
            return refuse(
                RATE_LIMITED,
                "api minute-quota reach limit  mustslower  retry next minute",
            );
        }
        recent.push_back(now);
        if let Some(code) = logins.codes.get_mut(js_code) {
            code.used = true;
        }
        let openid = logins.openid(user, appid);
        let unionid = app.platform.map(|platform| logins.unionid(user, platform));
        let mut answer = serde_json::json!({
            "session_key": new_session_key(),
            "openid": openid,
        });
        if let Some(unionid) = unionid {
            answer["unionid"] = serde_json::json!(unionid);
        }
        (json(&answer.to_string()), 0)
    }
}

fn json(body: &str) -> Reply {
    Reply {
        status: 200,
        content_type: JSON,
        body: Body::Bytes(body.as_bytes().to_vec()),
        headers: Vec::new(),
        transport: None,
    }
}

/// `{"errcode": N, "errmsg": "… rid: …"}`: WeChat ends its messages with a request id.
fn refusal(errcode: i64, errmsg: &str) -> (Reply, i64) {
    use rand::RngExt;
    let rid: [u8; 12] = rand::rng().random();
    let rid = crate::wechat::hex_upper(&rid).to_lowercase();
    let answer = serde_json::json!({
        "errcode": errcode,
        "errmsg": format!("{errmsg}, rid: {}-{}-{}", &rid[..8], &rid[8..16], &rid[16..]),
    });
    (json(&answer.to_string()), errcode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::core::EmulatorOptions;
    use crate::emulator::merchant::{DEFAULT_APP_SECRETS, DEFAULT_APPIDS, Merchant};
    use serde_json::Value;

    struct Fixture {
        core: Core,
        _runtime: tokio::runtime::Runtime,
    }

    /// The built-in merchant (both apps bound), and the documentation merchant with an
    /// unbound app of its own.
    fn fixture() -> Fixture {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut other = Merchant::default_merchant();
        other.mch_id = "10000100".into();
        other.appids = vec!["wx0000000000000001".into()];
        other.app_secrets = [(
            "wx0000000000000001".to_owned(),
            AppSecret::new("0123456789abcdef0123456789abcdef"),
        )]
        .into();
        other.open_platform_appids = Vec::new();
        let options = EmulatorOptions {
            merchants: vec![Merchant::default_merchant(), other],
            ..EmulatorOptions::default()
        };
        Fixture {
            core: Core::new(options, runtime.handle().clone()),
            _runtime: runtime,
        }
    }

    fn query(appid: &str, secret: &str, code: &str) -> String {
        format!("appid={appid}&secret={secret}&js_code={code}&grant_type=authorization_code")
    }

    impl Fixture {
        fn exchange(&self, appid: &str, secret: &str, code: &str) -> Value {
            let reply = self.core.jscode2session("GET", &query(appid, secret, code));
            assert_eq!(reply.status, 200);
            assert_eq!(reply.content_type, JSON);
            serde_json::from_slice(reply.body.bytes().unwrap()).unwrap()
        }

        fn login(&self, app: usize, openid: Option<&str>) -> (Minted, Value) {
            let minted = self
                .core
                .mint_login_code(DEFAULT_APPIDS[app], openid)
                .unwrap();
            let answer = self.exchange(DEFAULT_APPIDS[app], DEFAULT_APP_SECRETS[app], &minted.code);
            (minted, answer)
        }
    }

    fn errcode(answer: &Value) -> i64 {
        answer["errcode"].as_i64().unwrap_or(0)
    }

    #[test]
    fn a_code_gives_the_users_session_once() {
        let f = fixture();
        let (minted, answer) = f.login(0, None);
        assert_eq!(answer["openid"], minted.openid.as_str());
        assert_eq!(answer["unionid"], minted.unionid.as_deref().unwrap());
        assert_eq!(minted.openid.len(), 28);
        assert!(minted.openid.starts_with('o'));
        assert_eq!(minted.code.len(), 32);
        let session_key = answer["session_key"].as_str().unwrap();
        assert_eq!(session_key.len(), 24, "16 bytes in base64");
        assert!(answer.get("errcode").is_none());

        let again = f.exchange(DEFAULT_APPIDS[0], DEFAULT_APP_SECRETS[0], &minted.code);
        assert_eq!(errcode(&again), 40163, "{again}");
        assert!(
            again["errmsg"]
                .as_str()
                .unwrap()
                .starts_with("code been used, rid: "),
            "{again}"
        );
        let log = f.core.request_log();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].outcome, "SUCCESS");
        assert_eq!(log[1].outcome, "FAIL errcode 40163");
        assert_eq!(log[0].mch_id, "1900000109");
        assert_eq!(log[0].path, PATH);
    }

    #[test]
    fn the_same_user_keeps_an_openid_per_app_and_one_unionid_across_bound_apps() {
        let f = fixture();
        let (first, _) = f.login(0, None);
        let (again, answer) = f.login(0, Some(&first.openid));
        assert_eq!(again.openid, first.openid);
        assert_eq!(answer["openid"], first.openid.as_str());
        // The same person in the merchant's other app: another openid, the same unionid.
        let (other_app, answer) = f.login(1, Some(&first.openid));
        assert_ne!(other_app.openid, first.openid);
        assert_eq!(answer["unionid"], first.unionid.as_deref().unwrap());
        // Another person: other ids.
        let (stranger, _) = f.login(0, None);
        assert_ne!(stranger.openid, first.openid);
        assert_ne!(stranger.unionid, first.unionid);
        // An openid of the caller's choosing is a new user's, and stays theirs.
        let (chosen, _) = f.login(0, Some("test-user_1"));
        assert_eq!(chosen.openid, "test-user_1");
        let (chosen_again, _) = f.login(0, Some("test-user_1"));
        assert_eq!(chosen_again.unionid, chosen.unionid);
    }

    #[test]
    fn an_unbound_app_answers_without_unionid() {
        let f = fixture();
        let minted = f.core.mint_login_code("wx0000000000000001", None).unwrap();
        assert!(minted.unionid.is_none());
        let answer = f.exchange(
            "wx0000000000000001",
            "0123456789abcdef0123456789abcdef",
            &minted.code,
        );
        assert_eq!(answer["openid"], minted.openid.as_str());
        assert!(answer.get("unionid").is_none(), "{answer}");
    }

    #[test]
    fn refusals_in_the_order_of_the_checks() {
        let f = fixture();
        let minted = f.core.mint_login_code(DEFAULT_APPIDS[0], None).unwrap();
        let secret = DEFAULT_APP_SECRETS[0];
        let appid = DEFAULT_APPIDS[0];
        for (query, expected) in [
            (format!("secret={secret}&js_code={}", minted.code), 41002),
            (query("wx9999999999999999", secret, &minted.code), 40013),
            (format!("appid={appid}&js_code={}", minted.code), 41004),
            (query(appid, DEFAULT_APP_SECRETS[1], &minted.code), 40125),
            (format!("appid={appid}&secret={secret}"), 41008),
            (
                format!(
                    "appid={appid}&secret={secret}&js_code={}&grant_type=client_credential",
                    minted.code
                ),
                40002,
            ),
            (
                query(appid, secret, "0123456789abcdefghijklmnopqrstuv"),
                40029,
            ),
            // Another app's code, with that app's secret.
            (
                query(DEFAULT_APPIDS[1], DEFAULT_APP_SECRETS[1], &minted.code),
                40029,
            ),
        ] {
            let reply = f.core.jscode2session("GET", &query);
            let answer: Value = serde_json::from_slice(reply.body.bytes().unwrap()).unwrap();
            assert_eq!(errcode(&answer), expected, "{query}: {answer}");
        }
        // None of them used the code; without grant_type it is accepted.
        let answer = f.core.jscode2session(
            "GET",
            &format!("appid={appid}&secret={secret}&js_code={}", minted.code),
        );
        let answer: Value = serde_json::from_slice(answer.body.bytes().unwrap()).unwrap();
        assert_eq!(answer["openid"], minted.openid.as_str(), "{answer}");
        assert_eq!(f.core.jscode2session("PUT", "").status, 405);
    }

    #[test]
    fn codes_expire_after_five_minutes_of_the_emulators_clock() {
        let f = fixture();
        let fresh = f.core.mint_login_code(DEFAULT_APPIDS[0], None).unwrap();
        let old = f.core.mint_login_code(DEFAULT_APPIDS[0], None).unwrap();
        f.core.clock.advance(Duration::minutes(4)).unwrap();
        let answer = f.exchange(DEFAULT_APPIDS[0], DEFAULT_APP_SECRETS[0], &fresh.code);
        assert_eq!(errcode(&answer), 0, "{answer}");
        f.core.clock.advance(Duration::seconds(61)).unwrap();
        let answer = f.exchange(DEFAULT_APPIDS[0], DEFAULT_APP_SECRETS[0], &old.code);
        assert_eq!(errcode(&answer), 40029, "{answer}");
        // Minting forgets expired codes; they stay invalid.
        f.core.mint_login_code(DEFAULT_APPIDS[0], None).unwrap();
        assert!(!lock(&f.core.logins).codes.contains_key(&old.code));
    }

    #[test]
    fn a_user_logs_in_at_most_a_hundred_times_a_minute() {
        let f = fixture();
        let (first, _) = f.login(0, None);
        for _ in 1..LOGINS_PER_MINUTE {
            let (_, answer) = f.login(0, Some(&first.openid));
            assert_eq!(errcode(&answer), 0, "{answer}");
        }
        let over = f
            .core
            .mint_login_code(DEFAULT_APPIDS[0], Some(&first.openid))
            .unwrap();
        let answer = f.exchange(DEFAULT_APPIDS[0], DEFAULT_APP_SECRETS[0], &over.code);
        assert_eq!(errcode(&answer), RATE_LIMITED, "{answer}");
        // Another user is not held back; the same code passes once the minute is over.
        let (_, answer) = f.login(0, None);
        assert_eq!(errcode(&answer), 0, "{answer}");
        f.core.clock.advance(Duration::seconds(60)).unwrap();
        let answer = f.exchange(DEFAULT_APPIDS[0], DEFAULT_APP_SECRETS[0], &over.code);
        assert_eq!(errcode(&answer), 0, "{answer}");
    }

    #[test]
    fn minting_needs_a_known_app_with_a_secret_and_a_plain_openid() {
        let f = fixture();
        let unknown = f
            .core
            .mint_login_code("wx9999999999999999", None)
            .unwrap_err();
        assert!(unknown.contains("no app"), "{unknown}");
        let f2 = {
            let mut merchant = Merchant::default_merchant();
            merchant.app_secrets.clear();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let core = Core::new(
                EmulatorOptions {
                    merchants: vec![merchant],
                    ..EmulatorOptions::default()
                },
                runtime.handle().clone(),
            );
            Fixture {
                core,
                _runtime: runtime,
            }
        };
        let secretless = f2
            .core
            .mint_login_code(DEFAULT_APPIDS[0], None)
            .unwrap_err();
        assert!(
            secretless.contains("[merchants.app_secrets]"),
            "{secretless}"
        );
        let bad = f
            .core
            .mint_login_code(DEFAULT_APPIDS[0], Some("o a&b"))
            .unwrap_err();
        assert!(bad.contains("openid must be"), "{bad}");
    }

    #[test]
    fn faults_apply_to_login_too() {
        use crate::emulator::faults::Fault;
        let f = fixture();
        let minted = f.core.mint_login_code(DEFAULT_APPIDS[0], None).unwrap();
        for kind in [FaultKind::SystemError, FaultKind::Http503] {
            f.core
                .add_fault(Fault {
                    path: PATH.into(),
                    count: 1,
                    kind,
                })
                .unwrap();
        }
        let busy = f.exchange(DEFAULT_APPIDS[0], DEFAULT_APP_SECRETS[0], &minted.code);
        assert_eq!(errcode(&busy), SYSTEM_BUSY, "{busy}");
        let unavailable = f.core.jscode2session(
            "GET",
            &query(DEFAULT_APPIDS[0], DEFAULT_APP_SECRETS[0], &minted.code),
        );
        assert_eq!(unavailable.status, 503);
        // Neither used the code.
        let answer = f.exchange(DEFAULT_APPIDS[0], DEFAULT_APP_SECRETS[0], &minted.code);
        assert_eq!(errcode(&answer), 0, "{answer}");
        let outcomes: Vec<String> = f
            .core
            .request_log()
            .into_iter()
            .map(|e| e.outcome)
            .collect();
        assert_eq!(outcomes, ["FAIL errcode -1", "HTTP 503", "SUCCESS"]);
    }
}
