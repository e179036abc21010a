//! What every command that calls WeChat Pay shares: the client built from the profile and
//! flags, `--dry-run`, confirmations, and the wording of failures (with whether it is safe to
//! run the command again).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::cli::common::ApiFlag;
use crate::cli::failure::{Failure, SIGN_HINT, exit};
use crate::cli::settings::{ApiV3KeyArgs, Context, KeyArgs, Selected};
use crate::config::check::{plain_http_warning, timeout_range, usable_timeout};
use crate::config::client::{ClientSetupError, MutualTls};
use crate::output::{Format, Printer, Record};
use crate::wechat::ApiVersion;
use crate::wechat::api::{Endpoint, Retry, err_code_meaning, parse_amount, v2_err_code};
use crate::wechat::client::{
    CallAttempt, CallError, Client, ClientError, ClientOptions, Prepared, RetryPolicy,
};
use crate::wechat::gateway::{Gateway, Outgoing};
use crate::wechat::sandbox::KeyCache;
use crate::wechat::v3::client::{CertRefresh, V3Client, V3Options, V3Prepared};
use crate::wechat::{ApiKey, Fen, shown_url};

/// The flags of every API command.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Print the signed request and the URL it would go to; send nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Use the sandbox: /sandboxnew paths, signed with the sandbox key [default: the profile's
    /// sandbox]
    #[arg(long)]
    sandbox: bool,

    /// Seconds for a whole request [default: the profile's timeout, else 15]
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    timeout: Option<Duration>,

    /// Seconds to open a connection [default: the profile's connect_timeout, else 5]
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    connect_timeout: Option<Duration>,

    /// Retries where one is safe (SYSTEMERROR; a query's lost answer), 0 to 10
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    retries: u32,

    /// Service-provider mode: the sub-merchant [default: the profile's sub_mch_id]
    #[arg(long, value_name = "MCH_ID")]
    sub_mch_id: Option<String>,

    /// Service-provider mode: the sub-merchant's AppID [default: the profile's sub_appid]
    #[arg(long, value_name = "APPID")]
    sub_appid: Option<String>,

    /// The API to speak [default: the profile's api_version, else v3 when it names v3 keys]
    #[arg(long, value_enum)]
    api: Option<ApiFlag>,

    #[command(flatten)]
    keys: KeyArgs,
}

impl ApiArgs {
    /// The key flags, for a command that checks a signature itself.
    pub fn keys(&self) -> &KeyArgs {
        &self.keys
    }

    /// The request and connection timeouts: the flags, else the profile's, else the
    /// defaults.
    pub fn timeouts(&self, selected: &Selected) -> Result<(Duration, Duration), Failure> {
        timeouts(selected, self.timeout, self.connect_timeout)
    }
}

pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| usable_timeout(*s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{text:?} is not {}", timeout_range()))
}

/// The request and connection timeouts: each flag, else the profile's, else the default.
pub fn timeouts(
    selected: &Selected,
    request: Option<Duration>,
    connect: Option<Duration>,
) -> Result<(Duration, Duration), Failure> {
    (selected.profile.timeouts(request, connect)).map_err(|e| {
        Failure::usage(format!("profile {:?}: {e}", selected.name)).hint(format!(
            "fix {} in {}, or pass --{}",
            e.key,
            selected.config.path.display(),
            e.key.replace('_', "-")
        ))
    })
}

/// The options of a client for the profile: the one setup of every command that calls
/// WeChat Pay. A plain http:// server on another machine is warned about on every call, since
/// nothing else would tell.
pub fn client_options(
    context: &Context,
    selected: &Selected,
    key: ApiKey,
    mutual_tls: MutualTls,
) -> Result<ClientOptions, Failure> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let options = (selected.config)
        .client_options(&selected.profile, key, mutual_tls, now)
        .map_err(|e| setup_failure(selected, e))?;
    for url in std::iter::once(&options.base).chain(&options.backup_base) {
        if let Some(warning) = plain_http_warning(url) {
            context.printer.warn(&format!("api_base {warning}"));
        }
    }
    Ok(options)
}

/// TLS trusting the profile's ca_cert, for a call outside the v2 client.
pub fn tls(selected: &Selected) -> Result<rustls::ClientConfig, Failure> {
    (selected.config)
        .tls(&selected.profile)
        .map_err(|e| setup_failure(selected, e))
}

fn setup_failure(selected: &Selected, error: ClientSetupError) -> Failure {
    let name = &selected.name;
    let check = "run `wxpay-ops config check` to check the certificate";
    match error {
        ClientSetupError::NotHttp { .. } => Failure::usage(format!("profile {name:?}: {error}"))
            .hint("api_base and backup_api_base look like https://api.mch.weixin.qq.com"),
        ClientSetupError::ReadCa { path, source } => {
            Failure::input(&format!("ca_cert {}", path.display()), source).hint(format!(
                "the profile {name:?} names this file as ca_cert in {}; fix the path, or for the emulator use the profile it wrote at its last start",
                selected.config.path.display()
            ))
        }
        ClientSetupError::BadCa(_) => Failure::usage(error.to_string()),
        ClientSetupError::NoCertificate => Failure::usage(format!(
            "profile {name:?} has no merchant API certificate, which refunds need (mutual TLS)"
        ))
        .hint("set cert_p12, or cert_pem and cert_key_pem, in the profile (see `wxpay-ops config init`)"),
        ClientSetupError::Certificate(_) => {
            Failure::usage(format!("{error}; the request was not sent")).hint(format!(
                "{check}; renew it in the merchant console when it has expired"
            ))
        }
        ClientSetupError::Identity(_) => {
            Failure::usage(format!("profile {name:?}: {error}")).hint(check)
        }
    }
}

pub fn build(options: ClientOptions) -> Result<Client, Failure> {
    Client::new(options).map_err(|e| Failure::usage(format!("cannot set up HTTPS: {e}")))
}

/// A client ready for one command, and what the command needs to know about it.
pub struct Api {
    pub gateway: Gateway,
    runtime: tokio::runtime::Runtime,
    pub dry_run: bool,
    pub sandbox: bool,
    /// The profile's notify_url, for orders.
    pub notify_url: Option<String>,
}

impl Api {
    /// Builds the client of the API the flags and profile choose. `certificate`: the command
    /// calls `/secapi/*` on v2, so the merchant certificate is loaded (unless nothing will be
    /// sent).
    pub fn connect(context: &Context, args: &ApiArgs, certificate: bool) -> Result<Api, Failure> {
        let selected = context.select()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::new(exit::TEMPORARY, format!("cannot start: {e}")))?;
        let (gateway, sandbox) = match ApiFlag::resolve(args.api, Some(&selected)) {
            ApiVersion::V2 => {
                let sandbox = args.sandbox || selected.profile.sandbox;
                let client = connect_v2(context, args, &selected, certificate)?;
                let client = match sandbox {
                    true => sandboxed(context, &runtime, client, args.dry_run)?,
                    false => client,
                };
                (Gateway::V2(client), sandbox)
            }
            ApiVersion::V3 => (Gateway::V3(connect_v3(context, args, &selected)?), false),
        };
        Ok(Api {
            gateway,
            runtime,
            dry_run: args.dry_run,
            sandbox,
            notify_url: selected.profile.notify_url.clone(),
        })
    }

    /// `--dry-run`: the signed request and where it would go. JSON and CSV get a record;
    /// a terminal gets the request line and the body as they would be sent.
    pub fn show(&self, printer: &Printer, outgoing: &Outgoing) -> Result<u8, Failure> {
        match (&self.gateway, outgoing) {
            (_, Outgoing::V2(prepared)) => self.show_v2(printer, prepared)?,
            (Gateway::V3(client), Outgoing::V3(prepared)) => show_v3(printer, client, prepared)?,
            (Gateway::V2(_), Outgoing::V3(_)) => unreachable!("v3 requests come from v3"),
        }
        printer.status("dry run: nothing was sent");
        Ok(exit::OK)
    }

    fn show_v2(&self, printer: &Printer, prepared: &Prepared) -> Result<(), Failure> {
        let certificate = prepared.endpoint.needs_client_certificate();
        let url = shown_url(&prepared.url);
        let xml = prepared.message.to_xml();
        if printer.format(Format::Json) == Format::Table {
            let mutual = if certificate {
                "  (mutual TLS with the merchant certificate)"
            } else {
                ""
            };
            printer.data(&format!("POST {url}{mutual}\n\n{xml}\n"))?;
        } else {
            // JSON escapes control characters, so the line breaks between elements
            // (insignificant to XML) are left out; `fields` has the values as signed.
            printer.record(&record(json!({
                "method": "POST",
                "url": url,
                "client_certificate": certificate,
                "sandbox": self.sandbox,
                "body": xml.replace(">\n<", "><"),
                "fields": prepared.message,
            })))?;
        }
        Ok(())
    }

    pub fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }
}

fn retry_policy(args: &ApiArgs) -> RetryPolicy {
    RetryPolicy {
        attempts: args.retries + 1,
        ..RetryPolicy::default()
    }
}

fn connect_v2(
    context: &Context,
    args: &ApiArgs,
    selected: &Selected,
    certificate: bool,
) -> Result<Client, Failure> {
    let profile = &selected.profile;
    let key = context.api_key(&args.keys, Some(selected))?;
    let mutual_tls = if certificate && !args.dry_run {
        MutualTls::Secapi
    } else {
        MutualTls::Never
    };
    let setup = client_options(context, selected, key, mutual_tls)?;
    let (timeout, connect_timeout) = args.timeouts(selected)?;
    build(ClientOptions {
        sub_mch_id: (args.sub_mch_id.clone()).or_else(|| profile.sub_mch_id.clone()),
        sub_appid: (args.sub_appid.clone()).or_else(|| profile.sub_appid.clone()),
        timeout,
        connect_timeout,
        retry: retry_policy(args),
        on_attempt: context.verbose.then(verbose_observer),
        ..setup
    })
}

/// The v3 client of an API command, after refusing the v2 flags it has no place for.
fn connect_v3(context: &Context, args: &ApiArgs, selected: &Selected) -> Result<V3Client, Failure> {
    if args.sandbox {
        return Err(on_v3_only("--sandbox"));
    }
    if args.sub_mch_id.is_some() || args.sub_appid.is_some() {
        return Err(no_partner_on_v3());
    }
    let timeouts = args.timeouts(selected)?;
    v3_client(context, selected, &args.keys, timeouts, retry_policy(args))
}

fn on_v3_only(what: &str) -> Failure {
    Failure::usage(format!("{what} is for API v2: API v3 has none"))
        .hint("pass --api v2, or leave it out")
}

fn no_partner_on_v3() -> Failure {
    Failure::usage(
        "service-provider mode (sub_mch_id, sub_appid) is not made on API v3 by this tool yet",
    )
    .hint("pass --api v2 for a sub-merchant's orders and bills")
}

/// The v3 client for a profile: the merchant's private key and certificate serial, WeChat
/// Pay's key, and the profile's server and TLS trust. v3 has no sandbox, and
/// service-provider paths are other endpoints, so both are refused rather than quietly left
/// out, as are the API v2 key flags.
pub fn v3_client(
    context: &Context,
    selected: &Selected,
    keys: &KeyArgs,
    (timeout, connect_timeout): (Duration, Duration),
    retry: RetryPolicy,
) -> Result<V3Client, Failure> {
    let profile = &selected.profile;
    if profile.sandbox {
        return Err(on_v3_only(&format!(
            "the sandbox (profile {:?} has sandbox = true)",
            selected.name
        )));
    }
    if profile.sub_mch_id.is_some() || profile.sub_appid.is_some() {
        return Err(no_partner_on_v3());
    }
    if let Some(flag) = keys.given() {
        return Err(on_v3_only(&format!("{flag} (the API v2 key)")));
    }
    let base = profile.effective_api_base().to_owned();
    if !crate::wechat::is_http_url(&base) {
        return Err(
            Failure::usage(format!("api_base {base:?} is not an http(s) URL"))
                .hint(format!("fix api_base in profile {:?}", selected.name)),
        );
    }
    if let Some(warning) = plain_http_warning(&base) {
        context.printer.warn(&format!("api_base {warning}"));
    }
    let config = &selected.config;
    let options = V3Options {
        refresh: cert_refresh(context, selected)?,
        base,
        mch_id: profile.mch_id.clone(),
        appid: profile.appid.clone(),
        key: config.merchant_key(&selected.name, profile)?,
        serial: config.merchant_serial(&selected.name, profile)?,
        wechatpay_keys: config.wechatpay_keys(&selected.name, profile)?,
        tls: Some(tls(selected)?),
        timeout,
        connect_timeout,
        retry,
        on_attempt: context.verbose.then(verbose_observer),
    };
    V3Client::new(options).map_err(|e| Failure::usage(format!("cannot set up HTTPS: {e}")))
}

/// Platform-certificate mode: where certificates are cached, and the APIv3 key that opens
/// them when an answer names a serial not cached yet; None without a platform_cert_dir or an
/// APIv3 key.
fn cert_refresh(context: &Context, selected: &Selected) -> Result<Option<CertRefresh>, Failure> {
    let profile = &selected.profile;
    let Some(dir) = &profile.platform_cert_dir else {
        return Ok(None);
    };
    let named = profile.apiv3_key_env.is_some()
        || profile.apiv3_key_file.is_some()
        || profile.apiv3_key_cmd.is_some()
        || profile.apiv3_key.is_some();
    if !named {
        return Ok(None);
    }
    Ok(Some(CertRefresh {
        apiv3_key: context.apiv3_key(&ApiV3KeyArgs::default(), Some(selected))?,
        dir: selected.config.resolve(dir),
    }))
}

/// A v3 request as it would go: the method, URL, `Authorization` header and body.
fn show_v3(printer: &Printer, client: &V3Client, prepared: &V3Prepared) -> Result<(), Failure> {
    let signed = client.sign(prepared);
    let url = shown_url(&signed.url);
    let method = prepared.method;
    if printer.format(Format::Json) == Format::Table {
        printer.data(&format!(
            "{method} {url}\nAuthorization: {}\n\n{}\n",
            signed.authorization, prepared.body
        ))?;
    } else {
        printer.record(&record(json!({
            "method": method,
            "url": url,
            "authorization": signed.authorization,
            "body": prepared.body,
        })))?;
    }
    Ok(())
}

/// `-v`: one line per attempt on stderr.
fn verbose_observer() -> Arc<dyn Fn(&CallAttempt<'_>) + Send + Sync> {
    let printer = Printer::new(None, false);
    Arc::new(move |attempt: &CallAttempt<'_>| {
        let outcome = match attempt.error {
            None => "ok".to_owned(),
            Some(error) => error.to_string(),
        };
        let next = match attempt.retry_in {
            Some(pause) => format!("; retrying in {} ms", pause.as_millis()),
            None => String::new(),
        };
        printer.status(&format!(
            "attempt {}: {} {}: {outcome}{next}",
            attempt.number, attempt.method, attempt.url
        ));
    })
}

/// The sandbox client: requests go to `/sandboxnew/…`, signed with the sandbox key, which is
/// fetched with the production key and cached in the user's cache folder.
fn sandboxed(
    context: &Context,
    runtime: &tokio::runtime::Runtime,
    production: Client,
    dry_run: bool,
) -> Result<Client, Failure> {
    let cache = dirs::cache_dir().and_then(|dir| KeyCache::new(&dir, &production.mch_id));
    let key = match cache.as_ref().and_then(|cache| cache.load(&production)) {
        Some(key) => key,
        None if dry_run => {
            return Err(Failure::usage(
                "--dry-run in the sandbox needs the sandbox key, which is not cached yet, and fetching it would send a request",
            )
            .hint("run the command once without --dry-run; the sandbox key is cached for 24 hours"));
        }
        None => {
            let key = runtime.block_on(production.sandbox_key()).map_err(|e| {
                call_failure(
                    "getsignkey (the sandbox key)",
                    Endpoint::OrderQuery,
                    e,
                    "fetching the sandbox key changes nothing: it is safe to run again",
                    None,
                )
            })?;
            if let Some(Err(e)) = cache.map(|cache| cache.store(&production, &key)) {
                let warning = format!("the sandbox key is not cached: {e}");
                context.printer.warn(&warning);
            }
            key
        }
    };
    Ok(production.into_sandbox(key))
}

/// Asks before a change, on a terminal; elsewhere only `--yes` lets it go ahead. Ok(false)
/// when a person declined.
pub fn confirmed(
    printer: &Printer,
    yes: bool,
    action: &str,
    details: &[String],
    question: &str,
) -> Result<bool, Failure> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{action} needs confirmation, and there is no terminal to ask on; nothing was sent"
        ))
        .hint("pass --yes to go ahead without asking"));
    }
    let yes = (printer.confirm(details, question))
        .map_err(|e| Failure::usage(format!("cannot read the answer: {e}")))?;
    if !yes {
        printer.status("declined: nothing was sent");
    }
    Ok(yes)
}

/// The value parser of `--expect`: one of `states`, the protocol's words for `what`, in any
/// ASCII case.
pub fn expected(
    states: &'static [&'static str],
    what: &'static str,
) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync + 'static {
    move |text| {
        let state = text.to_ascii_uppercase();
        if states.contains(&state.as_str()) {
            Ok(state)
        } else {
            Err(format!("{text:?} is not a {what} ({})", states.join(", ")))
        }
    }
}

/// An amount flag: fen (1234), or yuan when written so (12.34yuan).
pub fn amount(flag: &str, text: &str) -> Result<Fen, Failure> {
    parse_amount(text).map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

/// A request refused before it was signed.
pub fn refused_locally(error: impl std::fmt::Display) -> Failure {
    Failure::usage(error.to_string()).hint("nothing was sent: WeChat Pay would refuse it too")
}

/// A command's own words for an err_code: its exit code and hint, when it has them.
pub type Explain<'a> = dyn Fn(&str) -> Option<(u8, String)> + 'a;

/// A failed call in words: what happened, whether WeChat Pay may have acted, and whether
/// running the command again is safe (`again` says how, for this command). `explain` gives
/// the command's own words for an err_code, when it has them.
pub fn call_failure(
    what: &str,
    endpoint: Endpoint,
    failed: CallError,
    again: &str,
    explain: Option<&Explain<'_>>,
) -> Failure {
    let attempts = if failed.attempts > 1 {
        format!(" ({} attempts)", failed.attempts)
    } else {
        String::new()
    };
    let error = &failed.error;
    let unknown_fate = if endpoint.is_query() || error.never_sent() {
        ""
    } else {
        "; WeChat Pay may or may not have acted on it"
    };
    if let Some(tls) = error.tls_failure() {
        return tls_failure(what, &tls);
    }
    match error {
        ClientError::Transport { .. } | ClientError::Status { .. } | ClientError::Malformed { .. } => {
            Failure::new(
                exit::TEMPORARY,
                format!("{what}: {error}{attempts}{unknown_fate}"),
            )
            .hint(format!("{again}; check the network, api_base and --timeout"))
        }
        ClientError::Protocol { message } => {
            let (meaning, hint) = protocol_refusal(message);
            let meaning = meaning.map(|m| format!(" ({m})")).unwrap_or_default();
            Failure::new(exit::REFUSED, format!("{what}: {error}{meaning}")).hint(hint)
        }
        ClientError::Mismatch { .. } | ClientError::Payload { .. } => Failure::new(
            exit::VERIFY,
            format!("{what}: {error}; nothing in it was used{unknown_fate}"),
        )
        .hint(format!(
            "the answer is signed, but it is not the answer to this request as WeChat Pay gives it: something between you and WeChat Pay (a proxy, a cache) changed or mixed up answers; {again}"
        )),
        ClientError::MissingSign | ClientError::BadSign(_) => Failure::new(
            exit::VERIFY,
            format!("{what}: {error}; nothing in it was used{unknown_fate}"),
        )
        .hint(format!(
            "check that the key is this mch_id's API v2 key and that sign_type matches; if they are, \
             something between you and WeChat Pay changed the answer; {again}"
        )),
        ClientError::Unverified(_) => Failure::new(
            exit::VERIFY,
            format!("{what}: {error}; nothing in it was used{unknown_fate}"),
        )
        .hint(format!(
            "check that wechatpay_public_key_pem and wechatpay_public_key_id (or the platform certificates) are WeChat Pay's for this merchant, and this machine's clock; if they are right, something between you and WeChat Pay changed the answer; {again}"
        )),
        ClientError::Refused { code, description } => {
            let (_, retry) = err_code_meaning(code);
            let said = format!("{code} {description}");
            refused(what, code, &said, retry, &attempts, again, explain)
        }
        ClientError::RefusedV3 {
            status,
            code,
            message,
        } => {
            let canonical = v2_err_code(code);
            let retry = match status {
                500.. => Retry::Now,
                429 => Retry::Later,
                _ => err_code_meaning(canonical).1,
            };
            let said = format!("HTTP {status} {code} {message}");
            let failure = refused(what, canonical, &said, retry, &attempts, again, explain);
            match canonical {
                // UNCONFIRMED wording: the emulator's, as integrators quote the real one.
                "SIGNERROR" if message.contains("时间戳") => failure.hint(
                    "this machine's clock is 5 minutes or more off WeChat Pay's: set it right (NTP), then run again",
                ),
                "SIGNERROR" => failure.hint(
                    "check that private_key_pem is the key of the certificate cert_serial names, and that both are this mch_id's; `wxpay-ops sign v3 --explain` shows what is signed",
                ),
                _ => failure,
            }
        }
    }
}

/// A refusal in words: what WeChat Pay said, what its code means, and whether to run again.
fn refused(
    what: &str,
    code: &str,
    said: &str,
    retry: Retry,
    attempts: &str,
    again: &str,
    explain: Option<&Explain<'_>>,
) -> Failure {
    let (meaning, _) = err_code_meaning(code);
    let mut message = format!("{what}: WeChat Pay refused: {said}");
    if !meaning.is_empty() {
        message.push_str(&format!(" ({meaning})"));
    }
    message.push_str(attempts);
    if let Some((code, hint)) = explain.and_then(|explain| explain(code)) {
        return Failure::new(code, message).hint(hint);
    }
    match retry {
        Retry::Now => {
            Failure::new(exit::TEMPORARY, message).hint(format!("it may pass in a while; {again}"))
        }
        Retry::Later => Failure::new(exit::TEMPORARY, message).hint(format!(
            "wait a minute or more before trying again; {again}"
        )),
        Retry::Never => Failure::new(exit::REFUSED, message)
            .hint("sent again unchanged, it gets the same answer"),
    }
}

/// A failed TLS handshake: no temporary fault, since the same certificates fail again, and
/// nothing was sent.
pub fn tls_failure(what: &str, reason: &str) -> Failure {
    Failure::usage(format!(
        "{what}: the TLS handshake failed: {reason}; the request was not sent"
    ))
    .hint("check ca_cert and the merchant certificate (cert_p12, or cert_pem and cert_key_pem) with `wxpay-ops config check`")
}

/// What a `return_code=FAIL` answer's return_msg means, where we know, and the remedy. The
/// service-provider texts are the emulator's, as integrators report them from real servers
/// (UNCONFIRMED in the reference).
fn protocol_refusal(return_msg: &str) -> (Option<&'static str>, String) {
    const UNCHANGED: &str = "sent again unchanged, it gets the same answer";
    if return_msg.contains("签名") {
        (None, SIGN_HINT.to_owned())
    } else if return_msg.contains("受理关系不存在") {
        (
            Some("this sub-merchant is not bound to the service provider"),
            format!(
                "check sub_mch_id (the profile's, or --sub-mch-id): it must be a sub-merchant of the profile's mch_id, the service provider; {UNCHANGED}"
            ),
        )
    } else if return_msg.contains("sub_appid不匹配") {
        (
            Some("the sub_appid does not belong to this sub-merchant"),
            format!(
                "check sub_appid (the profile's, or --sub-appid): it must be an AppID bound to the sub_mch_id; {UNCHANGED}"
            ),
        )
    } else if return_msg.contains("缺少参数sub_mch_id") {
        (
            Some("a service provider trades only for a sub-merchant, and no sub_mch_id was sent"),
            "set sub_mch_id in the profile, or pass --sub-mch-id".to_owned(),
        )
    } else {
        (None, format!("fix the request: {UNCHANGED}"))
    }
}

/// A record from a `json!` object, its keys in the order written.
pub fn record(object: Value) -> Record {
    match object {
        Value::Object(fields) => fields,
        other => unreachable!("a record is an object, not {other}"),
    }
}

/// " for sub-merchant N" in service-provider mode, to say whose order a message is about.
pub fn sub_merchant(gateway: &Gateway) -> String {
    match gateway.sub_mch_id() {
        Some(sub) => format!(" for sub-merchant {sub}"),
        None => String::new(),
    }
}
