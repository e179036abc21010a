//! `wxpay-ops openid --code CODE`: the user behind a code of `wx.login()`, through
//! code2Session (jscode2session), as a mini program's backend asks before unifiedorder.

use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::common::api::{parse_seconds, timeouts, tls, tls_failure};
use super::failure::{Failure, exit};
use super::settings::{Context, Selected};
use crate::output::{Format, Record};
use crate::wechat::api::Pairs;
use crate::wechat::login::{
    DEFAULT_LOGIN_BASE, LoginError, LoginOptions, LoginRequest, PATH, RATE_LIMITED, SYSTEM_BUSY,
    code2session, errcode_meaning, is_temporary,
};
use crate::wechat::shown_url;

#[derive(Debug, Args)]
#[command(after_help = "\
Calls code2Session (GET /sns/jscode2session) on the profile's login_base \
(https://api.weixin.qq.com unless set; the emulator's profile names the emulator) with the \
profile's appid and AppSecret (app_secret_env, app_secret_file or app_secret_cmd). A code is \
valid for 5 minutes and once, so the request is never sent twice.

Prints appid, openid and unionid (null unless the app is bound to an open-platform account); \
session_key only with --show-session-key. Exit 3 for an errcode WeChat will repeat, 75 for \
-1 (busy), 45011 (the minute's quota) and network failures, 2 for local problems.")]
pub struct OpenidArgs {
    /// The code wx.login() gave the mini program
    #[arg(long, value_name = "CODE")]
    code: String,

    /// Show the session_key too; it is hidden otherwise, and must never reach the mini program
    #[arg(long)]
    show_session_key: bool,

    /// Print the request (the AppSecret masked) and where it would go; send nothing
    #[arg(long)]
    dry_run: bool,

    /// Seconds for the whole request [default: the profile's timeout, else 15]
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    timeout: Option<Duration>,

    /// Seconds to open the connection [default: the profile's connect_timeout, else 5]
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    connect_timeout: Option<Duration>,
}

pub fn run(context: &Context, args: OpenidArgs) -> Result<u8, Failure> {
    let code = args.code.trim();
    if code.is_empty() || code.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(Failure::usage(format!(
            "--code {:?} is not a code of wx.login: it is one word",
            args.code
        ))
        .hint("pass the code the mini program got from wx.login(), as it is"));
    }
    let selected = context.select()?;
    let profile = &selected.profile;
    let base = login_base(context, &selected)?;
    let secret = selected.app_secret(&context.printer)?;
    let request = LoginRequest {
        base: &base,
        appid: &profile.appid,
        secret: &secret,
        js_code: code,
    };
    if args.dry_run {
        return show(context, &request);
    }
    let options = login_options(&selected, &args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::TEMPORARY, format!("cannot start: {e}")))?;
    let result = runtime.block_on(code2session(&request, options));
    if context.verbose {
        // The endpoint only: the query holds the AppSecret, and the answer the session_key.
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(error) => error.to_string(),
        };
        context.printer.status(&format!(
            "attempt 1: GET {}{PATH} (appid {}): {outcome}",
            shown_url(base.trim_end_matches('/')),
            profile.appid
        ));
    }
    let session = result.map_err(|error| failure(&selected, error))?;
    if !args.show_session_key {
        session.session_key.conceal();
    }
    let mut record = Record::new();
    record.insert("appid".into(), json!(profile.appid));
    record.insert("openid".into(), json!(session.openid));
    record.insert("unionid".into(), json!(session.unionid));
    if args.show_session_key {
        record.insert("session_key".into(), json!(session.session_key.expose()));
    }
    context.printer.record(&record)?;
    Ok(exit::OK)
}

/// The profile's login host, checked: the real one unless the profile names another.
fn login_base(context: &Context, selected: &Selected) -> Result<String, Failure> {
    let base = selected.profile.effective_login_base().map_err(|e| {
        Failure::usage(format!("profile {:?}: login_base {e}", selected.name))
            .hint(format!("login_base looks like {DEFAULT_LOGIN_BASE}"))
    })?;
    if let Some(warning) = crate::config::check::plain_http_warning(base) {
        context.printer.warn(&format!("login_base {warning}"));
    }
    Ok(base.to_owned())
}

/// TLS and timeouts for the call: flag, else the profile's, else the default.
fn login_options(selected: &Selected, args: &OpenidArgs) -> Result<LoginOptions, Failure> {
    let tls = tls(selected)?;
    let (timeout, connect_timeout) = timeouts(selected, args.timeout, args.connect_timeout)?;
    Ok(LoginOptions {
        tls: Some(tls),
        timeout,
        connect_timeout,
    })
}

/// `--dry-run`: the request line, and with JSON or CSV its fields, the AppSecret masked.
fn show(context: &Context, request: &LoginRequest<'_>) -> Result<u8, Failure> {
    let printer = &context.printer;
    let url = request.shown_url();
    match printer.format(Format::Json) {
        Format::Table => printer.data(&format!("GET {url}\n"))?,
        _ => {
            let mut record = Record::new();
            record.insert("method".into(), json!("GET"));
            record.insert("url".into(), json!(url));
            record.insert("fields".into(), json!(Pairs(&request.shown_fields())));
            printer.record(&record)?;
        }
    }
    printer.status("dry run: nothing was sent");
    Ok(exit::OK)
}

/// A failed login in words: what WeChat said and what to do, with the exit code for it.
fn failure(selected: &Selected, error: LoginError) -> Failure {
    const WHAT: &str = "code2Session";
    let appid = &selected.profile.appid;
    match error {
        LoginError::Http(error) => {
            if let Some(tls) = error.tls_failure() {
                return tls_failure(WHAT, &tls);
            }
            let hint = if error.never_sent() {
                "nothing was sent, so the code is unused: run it again; check the network and login_base"
            } else {
                "the code may have been used by this request: if running it again is refused with \
                 40163, the mini program must call wx.login() again; check the network, login_base and --timeout"
            };
            Failure::new(exit::TEMPORARY, format!("{WHAT}: {error}")).hint(hint)
        }
        LoginError::Malformed { .. } => Failure::new(exit::TEMPORARY, format!("{WHAT}: {error}"))
            .hint("check login_base: it must be WeChat's API host (https://api.weixin.qq.com) or the emulator's"),
        LoginError::Refused { errcode, errmsg } => {
            let meaning = errcode_meaning(errcode).unwrap_or("not a code this command knows");
            let message = format!(
                "{WHAT} refused: errcode {errcode}, {meaning} (WeChat said: {errmsg})"
            );
            let code = if is_temporary(errcode) {
                exit::TEMPORARY
            } else {
                exit::REFUSED
            };
            let profile = &selected.name;
            let hint = match errcode {
                SYSTEM_BUSY => "run it again in a moment; the code is good for 5 minutes".to_owned(),
                RATE_LIMITED => {
                    "wait a minute: the limit is 100 logins a minute per user".to_owned()
                }
                40029 => format!(
                    "ask the mini program for a fresh code: wx.login() gives one valid for 5 minutes, for its own AppID, which must be {appid} (the profile's appid)"
                ),
                40163 => "the mini program must call wx.login() again; a code works once".to_owned(),
                40013 => format!(
                    "check appid in profile {profile:?}: it must be the mini program's AppID"
                ),
                40125 => format!(
                    "check the AppSecret of profile {profile:?} (app_secret_env, app_secret_file or app_secret_cmd): it must be {appid}'s, from mp.weixin.qq.com, 开发管理 → 开发设置; resetting it there replaces the old one"
                ),
                40226 => "WeChat blocks this user's login: nothing in the request can change that".to_owned(),
                _ => "sent again unchanged, it gets the same answer".to_owned(),
            };
            Failure::new(code, message).hint(hint)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::wechat::client::ClientError;

    fn selected() -> Selected {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[profiles.app]\nmch_id = \"1900000109\"\nappid = \"wx2421b1c4370ec43b\"\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        let (name, profile) = config.profile(None).unwrap();
        let (name, profile) = (name.to_owned(), profile.clone());
        Selected {
            config,
            name,
            profile,
        }
    }

    #[test]
    fn errcodes_map_to_exit_codes_with_their_meaning() {
        let selected = selected();
        for (errcode, code, words) in [
            (40163, exit::REFUSED, "call wx.login again"),
            (40029, exit::REFUSED, "not valid"),
            (40125, exit::REFUSED, "AppSecret"),
            (40013, exit::REFUSED, "AppID"),
            (40226, exit::REFUSED, "high-risk"),
            (SYSTEM_BUSY, exit::TEMPORARY, "busy"),
            (RATE_LIMITED, exit::TEMPORARY, "100 a minute"),
            (99999, exit::REFUSED, "not a code this command knows"),
        ] {
            let failure = failure(
                &selected,
                LoginError::Refused {
                    errcode,
                    errmsg: "said".into(),
                },
            );
            assert_eq!(failure.code, code, "{errcode}");
            assert!(failure.message.contains(&format!("errcode {errcode}")));
            assert!(failure.message.contains(words), "{}", failure.message);
            assert!(failure.hint.is_some(), "{errcode}");
        }
        let malformed = LoginError::Malformed {
            url: "u".into(),
            problem: "it is not JSON",
        };
        assert_eq!(failure(&selected, malformed).code, exit::TEMPORARY);
        let status = LoginError::Http(ClientError::Status {
            url: "u".into(),
            status: 502,
        });
        let status = failure(&selected, status);
        assert_eq!(status.code, exit::TEMPORARY);
        assert!(status.hint.unwrap().contains("40163"));
    }
}
