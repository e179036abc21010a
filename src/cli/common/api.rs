//! What every command that calls WeChat Pay shares: the client built from the profile and
//! flags, `--dry-run`, confirmations, and the wording of failures (with whether it is safe to
//! run the command again).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::cli::failure::{Failure, SIGN_HINT, exit};
use crate::cli::settings::{Context, KeyArgs, Selected};
use crate::config::check::{plain_http_warning, timeout_range, usable_timeout};
use crate::config::client::{ClientSetupError, MutualTls};
use crate::output::{Format, Printer, Record};
use crate::wechat::api::{Endpoint, Retry, err_code_meaning, parse_amount};
use crate::wechat::client::{
    CallAttempt, CallError, Client, ClientError, ClientOptions, Prepared, RetryPolicy,
};
use crate::wechat::sandbox::KeyCache;
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
    pub client: Client,
    runtime: tokio::runtime::Runtime,
    pub dry_run: bool,
    pub sandbox: bool,
    /// The profile's notify_url, for orders.
    pub notify_url: Option<String>,
}

impl Api {
    /// Builds the client. `certificate`: the command calls `/secapi/*`, so the merchant
    /// certificate is loaded (unless nothing will be sent).
    pub fn connect(context: &Context, args: &ApiArgs, certificate: bool) -> Result<Api, Failure> {
        let selected = context.select()?;
        let profile = &selected.profile;
        let key = context.api_key(&args.keys, Some(&selected))?;
        let mutual_tls = if certificate && !args.dry_run {
            MutualTls::Secapi
        } else {
            MutualTls::Never
        };
        let setup = client_options(context, &selected, key, mutual_tls)?;
        let (timeout, connect_timeout) = args.timeouts(&selected)?;
        let options = ClientOptions {
            sub_mch_id: (args.sub_mch_id.clone()).or_else(|| profile.sub_mch_id.clone()),
            sub_appid: (args.sub_appid.clone()).or_else(|| profile.sub_appid.clone()),
            timeout,
            connect_timeout,
            retry: RetryPolicy {
                attempts: args.retries + 1,
                ..RetryPolicy::default()
            },
            on_attempt: context.verbose.then(verbose_observer),
            ..setup
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::new(exit::TEMPORARY, format!("cannot start: {e}")))?;
        let sandbox = args.sandbox || profile.sandbox;
        let mut client = build(options)?;
        if sandbox {
            client = sandboxed(context, &runtime, client, args.dry_run)?;
        }
        Ok(Api {
            client,
            runtime,
            dry_run: args.dry_run,
            sandbox,
            notify_url: selected.profile.notify_url.clone(),
        })
    }

    /// `--dry-run`: the signed request and where it would go. JSON and CSV get a record;
    /// a terminal gets the request line and the XML as they would be sent.
    pub fn show(&self, printer: &Printer, prepared: &Prepared) -> Result<u8, Failure> {
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
        printer.status("dry run: nothing was sent");
        Ok(exit::OK)
    }

    pub fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }
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
            "attempt {}: POST {}: {outcome}{next}",
            attempt.number, attempt.url
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
        ClientError::MissingSign
        | ClientError::BadSign(_)
        | ClientError::Mismatch { .. }
        | ClientError::Payload { .. } => Failure::new(
            exit::VERIFY,
            format!("{what}: {error}; nothing in it was used{unknown_fate}"),
        )
        .hint(format!(
            "check that the key is this mch_id's API v2 key and that sign_type matches; if they are, \
             something between you and WeChat Pay changed the answer; {again}"
        )),
        ClientError::Refused { code, description } => {
            let (meaning, retry) = err_code_meaning(code);
            let mut message = format!("{what}: WeChat Pay refused: {code} {description}");
            if !meaning.is_empty() {
                message.push_str(&format!(" ({meaning})"));
            }
            message.push_str(&attempts);
            if let Some((code, hint)) = explain.and_then(|explain| explain(code)) {
                return Failure::new(code, message).hint(hint);
            }
            match retry {
                Retry::Now => Failure::new(exit::TEMPORARY, message)
                    .hint(format!("it may pass in a while; {again}")),
                Retry::Later => Failure::new(exit::TEMPORARY, message).hint(format!(
                    "wait a minute or more before trying again; {again}"
                )),
                Retry::Never => Failure::new(exit::REFUSED, message)
                    .hint("sent again unchanged, it gets the same answer"),
            }
        }
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
pub fn sub_merchant(client: &Client) -> String {
    match &client.sub_mch_id {
        Some(sub) => format!(" for sub-merchant {sub}"),
        None => String::new(),
    }
}
