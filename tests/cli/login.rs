//! Mini-program login: codes minted on the emulator's control plane, exchanged by
//! `wxpay-ops openid` through code2Session, as a backend does before unifiedorder.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wxpay_ops::emulator::core::EmulatorOptions;
use wxpay_ops::emulator::faults::{Fault, FaultKind};
use wxpay_ops::emulator::login::{LOGINS_PER_MINUTE, PATH};
use wxpay_ops::emulator::merchant::Merchant;
use wxpay_ops::emulator::{Emulator, ServeOptions};
use wxpay_ops::wechat::{ApiKey, AppSecret};

use crate::common::{APP_SECRET, DOC_KEY, Env, OTHER_APP_SECRET, Output, set_mode};

/// Two apps of the shop, bound to its open-platform account, and an unbound app of another
/// merchant.
const APP: &str = "wx2421b1c4370ec43b";
const SECOND_APP: &str = "wxd930ea5d5a258f4f";
const UNBOUND_APP: &str = "wx1234567890abcdef";

struct Login {
    emulator: Emulator,
    env: Env,
    http: reqwest::blocking::Client,
}

impl Login {
    fn start() -> Login {
        let mut shop = Merchant::default_merchant();
        shop.app_secrets = [
            (APP.to_owned(), AppSecret::new(APP_SECRET)),
            (SECOND_APP.to_owned(), AppSecret::new(OTHER_APP_SECRET)),
        ]
        .into();
        shop.open_platform_appids = vec![APP.into(), SECOND_APP.into()];
        let mut other = Merchant::default_merchant();
        other.mch_id = "10000100".into();
        other.appids = vec![UNBOUND_APP.into()];
        other.key = ApiKey::new(DOC_KEY);
        other.app_secrets = [(UNBOUND_APP.to_owned(), AppSecret::new(APP_SECRET))].into();
        other.open_platform_appids = Vec::new();
        let emulator = Emulator::start(ServeOptions {
            core: EmulatorOptions {
                merchants: vec![shop, other],
                ..EmulatorOptions::default()
            },
            ..ServeOptions::default()
        })
        .expect("the emulator starts on free ports");
        Login {
            emulator,
            env: Env::new(),
            http: reqwest::blocking::Client::new(),
        }
    }

    /// `POST /__emulator/login`: a code for a user of `appid`, as wx.login gives one.
    fn mint(&self, appid: &str, openid: Option<&str>) -> Value {
        let mut body = json!({ "appid": appid });
        if let Some(openid) = openid {
            body["openid"] = json!(openid);
        }
        let response = self
            .http
            .post(format!("{}/__emulator/login", self.emulator.base_url()))
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().unwrap()
    }

    fn control(&self, path: &str, body: Value) {
        let response = self
            .http
            .post(format!("{}/__emulator{path}", self.emulator.base_url()))
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().unwrap());
    }

    /// A profile beside the emulator's own (so that its relative paths hold), for another
    /// app or another AppSecret file.
    fn profile(&self, name: &str, appid: &str, secret_file: &str) -> PathBuf {
        let generated = std::fs::read_to_string(self.emulator.profile()).unwrap();
        let text = generated
            .replace(
                &format!("appid = \"{APP}\""),
                &format!("appid = \"{appid}\""),
            )
            .replace(
                &format!("app_secret_file = \"{APP}.app_secret\""),
                &format!("app_secret_file = \"{secret_file}\""),
            );
        let path = self.emulator.cert_dir().join(name);
        std::fs::write(&path, text).unwrap();
        set_mode(&path, 0o600);
        path
    }

    fn run_with(&self, config: &std::path::Path, args: &[&str]) -> Output {
        let mut all = vec!["--config", config.to_str().unwrap()];
        all.extend_from_slice(args);
        self.env.run(&all)
    }

    /// `openid` with the emulator's own profile (the shop's first app).
    fn openid(&self, args: &[&str]) -> Output {
        self.run_with(self.emulator.profile(), &[&["openid"], args].concat())
    }

    fn logins(&self) -> usize {
        self.emulator
            .core()
            .request_log()
            .iter()
            .filter(|entry| entry.path == PATH)
            .count()
    }
}

fn code(minted: &Value) -> &str {
    minted["code"].as_str().unwrap()
}

#[test]
fn a_code_gives_the_users_openid_once() {
    let login = Login::start();
    let minted = login.mint(APP, None);
    let out = login
        .openid(&["--code", code(&minted), "--format", "json"])
        .expect(0);
    let answer = out.json();
    assert_eq!(answer["appid"], APP);
    assert_eq!(answer["openid"], minted["openid"]);
    assert_eq!(answer["unionid"], minted["unionid"]);
    assert!(answer["unionid"].as_str().unwrap().starts_with('o'));
    assert!(answer.get("session_key").is_none(), "{answer}");

    login
        .openid(&["--code", code(&minted)])
        .expect(3)
        .error_mentions("errcode 40163")
        .error_mentions("the code was already used: call wx.login again")
        .hint_mentions("wx.login() again");
    assert_eq!(login.logins(), 2);
}

#[test]
fn unknown_and_expired_codes_are_invalid() {
    let login = Login::start();
    login
        .openid(&["--code", "0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p"])
        .expect(3)
        .error_mentions("errcode 40029")
        .hint_mentions("fresh code");

    let fresh = login.mint(APP, None);
    let stale = login.mint(APP, None);
    login.control("/clock", json!({ "advance_seconds": 240 }));
    login.openid(&["--code", code(&fresh)]).expect(0);
    login.control("/clock", json!({ "advance_seconds": 61 }));
    login
        .openid(&["--code", code(&stale)])
        .expect(3)
        .error_mentions("errcode 40029")
        .error_mentions("older than 5 minutes");
}

#[test]
fn a_wrong_app_secret_or_an_unknown_appid_is_refused() {
    let login = Login::start();
    let wrong = login.emulator.cert_dir().join("wrong.app_secret");
    std::fs::write(&wrong, OTHER_APP_SECRET).unwrap();
    set_mode(&wrong, 0o600);
    let config = login.profile("wrong-secret.toml", APP, "wrong.app_secret");
    let minted = login.mint(APP, None);
    login
        .run_with(&config, &["openid", "--code", code(&minted)])
        .expect(3)
        .error_mentions("errcode 40125")
        .hint_mentions("app_secret_file");

    let config = login.profile(
        "unknown-app.toml",
        "wx9999999999999999",
        &format!("{APP}.app_secret"),
    );
    login
        .run_with(&config, &["openid", "--code", code(&minted)])
        .expect(3)
        .error_mentions("errcode 40013")
        .hint_mentions("appid");
    // Neither used the code.
    login.openid(&["--code", code(&minted)]).expect(0);
}

#[test]
fn a_user_keeps_an_openid_per_app_and_one_unionid_across_the_bound_apps() {
    let login = Login::start();
    let exchange = |config: &std::path::Path, minted: &Value| {
        login
            .run_with(
                config,
                &["openid", "--code", code(minted), "--format", "json"],
            )
            .expect(0)
            .json()
    };
    let first = exchange(login.emulator.profile(), &login.mint(APP, None));
    let openid = first["openid"].as_str().unwrap();
    let again = exchange(login.emulator.profile(), &login.mint(APP, Some(openid)));
    assert_eq!(again["openid"], openid);
    assert_eq!(again["unionid"], first["unionid"]);

    let second_app = login.profile(
        "second-app.toml",
        SECOND_APP,
        &format!("{SECOND_APP}.app_secret"),
    );
    let elsewhere = exchange(&second_app, &login.mint(SECOND_APP, Some(openid)));
    assert_eq!(elsewhere["appid"], SECOND_APP);
    assert_ne!(elsewhere["openid"], openid, "an openid is per app");
    assert_eq!(elsewhere["unionid"], first["unionid"]);

    let someone_else = exchange(login.emulator.profile(), &login.mint(APP, None));
    assert_ne!(someone_else["openid"], openid);
    assert_ne!(someone_else["unionid"], first["unionid"]);

    let unbound = login.profile(
        "unbound.toml",
        UNBOUND_APP,
        &format!("{UNBOUND_APP}.app_secret"),
    );
    let answer = exchange(&unbound, &login.mint(UNBOUND_APP, Some(openid)));
    assert!(answer["unionid"].is_null(), "{answer}");
    assert!(answer["openid"].as_str().unwrap().starts_with('o'));
}

/// A login host of one answer, on loopback: it keeps each request line it is sent.
fn fake_login_host(answer: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            kept.lock().unwrap().push(line.trim_end().to_owned());
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let _ = write!(
                &stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (base, seen)
}

#[test]
fn the_session_key_is_shown_only_when_asked() {
    const SESSION_KEY: &str = "HyVFkGl5F5OQWJZZaNzBBg==";
    let (base, seen) = fake_login_host(
        r#"{"session_key":"HyVFkGl5F5OQWJZZaNzBBg==","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}"#,
    );
    let mut env = Env::new();
    env.set("TEST_APP_SECRET", APP_SECRET);
    env.write_config(&format!(
        "[profiles.app]\nmch_id = \"1900000109\"\nappid = \"{APP}\"\n\
         api_key_env = \"TEST_API_KEY\"\napp_secret_env = \"TEST_APP_SECRET\"\nlogin_base = \"{base}\"\n"
    ));
    let hidden = env
        .run(&["-v", "openid", "--code", "CODE1", "--format", "json"])
        .expect(0);
    let answer = hidden.json();
    assert_eq!(answer["openid"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
    assert!(answer["unionid"].is_null());
    assert!(answer.get("session_key").is_none());
    assert!(
        hidden.stderr.contains("attempt 1: GET ") && hidden.stderr.contains(": ok"),
        "{}",
        hidden.stderr
    );
    for shown in [&hidden.stdout, &hidden.stderr] {
        assert!(!shown.contains(SESSION_KEY), "{shown}");
    }
    let table = env
        .run(&["-v", "openid", "--code", "CODE2", "--format", "table"])
        .expect(0);
    assert!(!format!("{}{}", table.stdout, table.stderr).contains(SESSION_KEY));

    let shown = env
        .run(&[
            "openid",
            "--code",
            "CODE3",
            "--show-session-key",
            "--format",
            "json",
        ])
        .expect(0);
    assert_eq!(shown.json()["session_key"], SESSION_KEY);

    // What went out: the profile's appid and AppSecret, the code, the one grant_type.
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[2],
        format!(
            "GET {PATH}?appid={APP}&secret={APP_SECRET}&js_code=CODE3&grant_type=authorization_code HTTP/1.1"
        )
    );

    // An answer that is no session is a failure to try again, its body never quoted.
    let (base, _) = fake_login_host(r#"{"session_key":"HyVFkGl5F5OQWJZZaNzBBg=="}"#);
    env.write_config(&format!(
        "[profiles.app]\nmch_id = \"1900000109\"\nappid = \"{APP}\"\n\
         api_key_env = \"TEST_API_KEY\"\napp_secret_env = \"TEST_APP_SECRET\"\nlogin_base = \"{base}\"\n"
    ));
    let out = env
        .run(&["openid", "--code", "CODE4"])
        .expect(75)
        .error_mentions("it has no openid");
    assert!(!out.stderr.contains(SESSION_KEY), "{}", out.stderr);
}

#[test]
fn dry_run_shows_the_request_with_the_secret_masked_and_sends_nothing() {
    let login = Login::start();
    let minted = login.mint(APP, None);
    let out = login
        .openid(&["--code", code(&minted), "--dry-run", "--format", "json"])
        .expect(0);
    let request = out.json();
    assert_eq!(request["method"], "GET");
    let url = request["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "{}{PATH}?appid={APP}&secret=********&js_code=",
            login.emulator.tls_base_url()
        )),
        "{url}"
    );
    assert_eq!(request["fields"]["secret"], "********");
    assert_eq!(request["fields"]["js_code"], code(&minted));
    assert_eq!(request["fields"]["grant_type"], "authorization_code");
    assert!(out.stderr.contains("dry run: nothing was sent"));
    let table = login
        .openid(&["--code", code(&minted), "--dry-run", "--format", "table"])
        .expect(0);
    assert!(table.stdout.starts_with("GET https://"), "{}", table.stdout);
    assert_eq!(login.logins(), 0);
    login.openid(&["--code", code(&minted)]).expect(0);
}

#[test]
fn busy_rate_limited_and_unreachable_hosts_are_temporary() {
    let login = Login::start();
    let fault = |kind| {
        login
            .emulator
            .core()
            .add_fault(Fault {
                path: PATH.into(),
                count: 1,
                kind,
            })
            .unwrap()
    };
    let minted = login.mint(APP, None);
    fault(FaultKind::SystemError);
    login
        .openid(&["--code", code(&minted)])
        .expect(75)
        .error_mentions("errcode -1")
        .hint_mentions("again in a moment");
    fault(FaultKind::Http503);
    login
        .openid(&["--code", code(&minted)])
        .expect(75)
        .error_mentions("HTTP 503")
        .hint_mentions("40163");

    // A user's hundred logins of the minute, then one more.
    let openid = minted["openid"].as_str().unwrap().to_owned();
    let core = login.emulator.core();
    for _ in 0..LOGINS_PER_MINUTE {
        let minted = core.mint_login_code(APP, Some(&openid)).unwrap();
        let answer: Value = login
            .http
            .get(format!(
                "{}{PATH}?appid={APP}&secret={APP_SECRET}&js_code={}&grant_type=authorization_code",
                login.emulator.base_url(),
                minted.code
            ))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(answer.get("errcode").is_none(), "{answer}");
    }
    login
        .openid(&["--code", code(&minted)])
        .expect(75)
        .error_mentions("errcode 45011")
        .hint_mentions("wait a minute");

    // Nothing listens on the port of a stopped listener.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut env = Env::new();
    env.set("TEST_APP_SECRET", APP_SECRET);
    env.write_config(&format!(
        "[profiles.app]\nmch_id = \"1900000109\"\nappid = \"{APP}\"\napi_key_env = \"TEST_API_KEY\"\n\
         app_secret_env = \"TEST_APP_SECRET\"\nlogin_base = \"http://127.0.0.1:{port}\"\n"
    ));
    env.run(&["openid", "--code", "CODE"])
        .expect(75)
        .error_mentions("could not connect")
        .hint_mentions("nothing was sent");
}

#[test]
fn the_emulators_profile_names_the_secret_file_and_config_check_reads_it() {
    let login = Login::start();
    let profile = std::fs::read_to_string(login.emulator.profile()).unwrap();
    assert!(
        profile.contains(&format!("app_secret_file = \"{APP}.app_secret\"")),
        "{profile}"
    );
    assert!(
        profile.contains(&format!(
            "login_base = \"{}\"",
            login.emulator.tls_base_url()
        )),
        "{profile}"
    );
    assert!(!profile.contains(APP_SECRET), "{profile}");
    let file = login.emulator.app_secret_file(APP).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let checks = login
        .run_with(
            login.emulator.profile(),
            &["config", "check", "--format", "json"],
        )
        .expect(0)
        .json();
    let row = |name: &str| {
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {checks}"))
    };
    assert_eq!(row("app_secret")["status"], "ok");
    assert!(
        row("app_secret")["detail"]
            .as_str()
            .unwrap()
            .contains(".app_secret")
    );
    assert_eq!(row("login_base")["status"], "ok");
    let shown = login
        .run_with(
            login.emulator.profile(),
            &["config", "show", "--format", "json"],
        )
        .expect(0)
        .json();
    assert!(
        shown["app_secret"]
            .as_str()
            .unwrap()
            .starts_with("******** from file "),
        "{shown}"
    );
    assert_eq!(shown["login_base"], login.emulator.tls_base_url());
}

#[test]
fn the_app_secret_follows_the_api_keys_rules() {
    let env = Env::new();
    env.doc_profile();
    env.run(&["openid", "--code", "CODE"])
        .expect(2)
        .error_mentions("no AppSecret source")
        .hint_mentions("app_secret_env");

    let config = env.write_config(&format!(
        "[profiles.app]\nmch_id = \"1900000109\"\nappid = \"{APP}\"\napi_key_env = \"TEST_API_KEY\"\n\
         app_secret = \"{APP_SECRET}\"\n"
    ));
    set_mode(&config, 0o644);
    env.run(&["openid", "--code", "CODE"])
        .expect(2)
        .error_mentions("holds an AppSecret")
        .hint_mentions("chmod 600");
    let checks = env.run(&["config", "check", "--format", "json"]).expect(2);
    assert!(checks.stdout.contains("app_secret"), "{}", checks.stdout);

    env.write_config(&format!(
        "[profiles.app]\nmch_id = \"1900000109\"\nappid = \"{APP}\"\napi_key_env = \"TEST_API_KEY\"\n\
         app_secret_cmd = \"echo {DOC_KEY}x\"\n"
    ));
    env.run(&["openid", "--code", "CODE"])
        .expect(2)
        .error_mentions("has 33 characters, not 32")
        .hint_mentions("AppSecret (小程序密钥)");
    env.run(&["openid", "--code", " "])
        .expect(2)
        .error_mentions("--code");
}
