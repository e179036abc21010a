//! What every API command shares: the client built from the profile and flags, the sandbox
//! key cache, `--dry-run`, confirmations, and the wording of failures (with whether it is
//! safe to run the command again).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::failure::{Failure, SIGN_HINT, exit};
use super::output::{Format, Printer, Record};
use super::settings::{Context, KeyArgs, Selected};
use crate::config::certs::{usable_identity_from_p12, usable_identity_from_pem};
use crate::config::check::{timeout_range, usable_timeout};
use crate::wechat::api::{Endpoint, Extra, Retry, err_code_meaning};
use crate::wechat::client::{
    Attempt, CallError, Client, ClientError, ClientOptions, Prepared, RetryPolicy,
};
use crate::wechat::transport::tls_config;
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

pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| usable_timeout(*s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{text:?} is not {}", timeout_range()))
}

/// A timeout from the profile: a flag wins; an unusable value is refused rather than
/// silently replaced by the default.
pub fn profile_seconds(
    selected: &Selected,
    name: &str,
    flag: Option<Duration>,
    value: Option<f64>,
    default: Duration,
) -> Result<Duration, Failure> {
    match (flag, value) {
        (Some(flag), _) => Ok(flag),
        (None, None) => Ok(default),
        (None, Some(seconds)) if usable_timeout(seconds) => Ok(Duration::from_secs_f64(seconds)),
        (None, Some(seconds)) => Err(Failure::usage(format!(
            "profile {:?}: {name} = {seconds} is not {}",
            selected.name,
            timeout_range()
        ))
        .hint(format!(
            "fix {name} in {}, or pass --{}",
            selected.config.path.display(),
            name.replace('_', "-")
        ))),
    }
}

/// A client ready for one command, and what the command needs to know about it.
pub struct Api {
    pub client: Client,
    pub runtime: tokio::runtime::Runtime,
    pub dry_run: bool,
    pub sandbox: bool,
    /// The key requests are signed with (the sandbox key in the sandbox).
    pub key: ApiKey,
    /// The profile's notify_url, for orders.
    pub notify_url: Option<String>,
}

impl Api {
    /// Builds the client. `certificate`: the command calls `/secapi/*`, so the merchant
    /// certificate is loaded (unless nothing will be sent).
    pub fn connect(context: &Context, args: &ApiArgs, certificate: bool) -> Result<Api, Failure> {
        let selected = context.select()?;
        let profile = &selected.profile;
        let production_key = context.api_key(&args.keys, Some(&selected))?;
        let base = profile
            .api_base
            .clone()
            .unwrap_or_else(|| crate::wechat::client::DEFAULT_API_BASE.to_owned());
        for url in std::iter::once(&base).chain(&profile.backup_api_base) {
            if !crate::wechat::is_http_url(url) {
                return Err(Failure::usage(format!(
                    "profile {:?}: {:?} is not an http(s) URL",
                    selected.name,
                    shown_url(url)
                ))
                .hint("api_base and backup_api_base look like https://api.mch.weixin.qq.com"));
            }
            warn_if_plain_http(&context.printer, url);
        }
        let ca = ca_cert(&selected)?;
        let tls =
            tls_config(ca.as_deref(), None).map_err(|e| Failure::usage(format!("ca_cert: {e}")))?;
        let secure_tls = if certificate && !args.dry_run {
            let identity = identity(&selected)?;
            Some(tls_config(ca.as_deref(), Some(identity)).map_err(|e| {
                Failure::usage(format!("profile {:?}: {e}", selected.name))
                    .hint("run `wxpay-ops config check` to check the certificate")
            })?)
        } else {
            None
        };
        let verbose = context.verbose.then(verbose_observer);
        let options = ClientOptions {
            backup_base: profile.backup_api_base.clone(),
            sub_mch_id: args
                .sub_mch_id
                .clone()
                .or_else(|| profile.sub_mch_id.clone()),
            sub_appid: args.sub_appid.clone().or_else(|| profile.sub_appid.clone()),
            tls: Some(tls),
            secure_tls,
            timeout: profile_seconds(
                &selected,
                "timeout",
                args.timeout,
                profile.timeout,
                crate::wechat::client::DEFAULT_TIMEOUT,
            )?,
            connect_timeout: profile_seconds(
                &selected,
                "connect_timeout",
                args.connect_timeout,
                profile.connect_timeout,
                crate::wechat::client::DEFAULT_CONNECT_TIMEOUT,
            )?,
            retry: RetryPolicy {
                attempts: args.retries + 1,
                ..RetryPolicy::default()
            },
            on_attempt: verbose,
            ..ClientOptions::new(
                base,
                profile.mch_id.clone(),
                profile.appid.clone(),
                production_key,
                super::settings::sign_type(None, Some(&selected)),
            )
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::new(exit::TEMPORARY, format!("cannot start: {e}")))?;
        let sandbox = args.sandbox || profile.sandbox;
        let (client, key) = if sandbox {
            sandbox_client(context, &runtime, options, args.dry_run)?
        } else {
            let key = options.key.clone();
            (build(options)?, key)
        };
        Ok(Api {
            client,
            runtime,
            dry_run: args.dry_run,
            sandbox,
            key,
            notify_url: selected.profile.notify_url.clone(),
        })
    }

    /// `--dry-run`: the signed request and where it would go. JSON and CSV get a record;
    /// a terminal gets the request line and the XML as they would be sent.
    pub fn show(&self, printer: &Printer, prepared: &Prepared) -> Result<u8, Failure> {
        let certificate = prepared.endpoint.needs_client_certificate();
        let url = shown_url(&prepared.url);
        match printer.format(Format::Json) {
            Format::Table => printer.data(&format!(
                "POST {}{}\n\n{}\n",
                url,
                if certificate {
                    "  (mutual TLS with the merchant certificate)"
                } else {
                    ""
                },
                prepared.message.to_xml()
            ))?,
            _ => {
                let mut record = Record::new();
                record.insert("method".into(), json!("POST"));
                record.insert("url".into(), json!(url));
                record.insert("client_certificate".into(), json!(certificate));
                record.insert("sandbox".into(), json!(self.sandbox));
                // JSON escapes control characters, so the line breaks between elements
                // (insignificant to XML) are left out; `fields` has the values as signed.
                record.insert(
                    "body".into(),
                    json!(prepared.message.to_xml().replace(">\n<", "><")),
                );
                record.insert(
                    "fields".into(),
                    Value::Object(
                        prepared
                            .message
                            .pairs()
                            .map(|(name, value)| (name.to_owned(), json!(value)))
                            .collect(),
                    ),
                );
                printer.record(&record)?;
            }
        }
        printer.status("dry run: nothing was sent");
        Ok(exit::OK)
    }

    pub fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }
}

/// The profile's ca_cert, read, when it names one.
pub fn ca_cert(selected: &Selected) -> Result<Option<Vec<u8>>, Failure> {
    let Some(path) = &selected.profile.ca_cert else {
        return Ok(None);
    };
    let path = selected.config.resolve(path);
    let pem = std::fs::read(&path).map_err(|e| {
        Failure::input(&format!("ca_cert {}", path.display()), e).hint(format!(
            "the profile {:?} names this file as ca_cert in {}; fix the path, or for the emulator use the profile it wrote at its last start",
            selected.name,
            selected.config.path.display()
        ))
    })?;
    Ok(Some(pem))
}

/// Requests to a plain http:// api_base on another machine travel unencrypted: said on every
/// call, since nothing else would tell.
pub fn warn_if_plain_http(printer: &Printer, url: &str) {
    if let Some(warning) = crate::config::check::plain_http_warning(url) {
        printer.warn(&format!("api_base {warning}"));
    }
}

pub fn build(options: ClientOptions) -> Result<Client, Failure> {
    Client::new(options).map_err(|e| Failure::usage(format!("cannot set up HTTPS: {e}")))
}

/// `-v`: one line per attempt on stderr.
fn verbose_observer() -> Arc<dyn Fn(&Attempt<'_>) + Send + Sync> {
    let printer = Printer::new(None, false);
    Arc::new(move |attempt: &Attempt<'_>| {
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

/// The merchant certificate of a profile: the PEM pair, else the .p12 (password: the mch_id
/// unless set).
pub fn identity(selected: &Selected) -> Result<crate::wechat::transport::Identity, Failure> {
    let profile = &selected.profile;
    let resolve = |path: &PathBuf| selected.config.resolve(path);
    // Checked before anything is sent: an expired certificate, another merchant's or a key
    // that is not its own fails the handshake with little to say why.
    let named = |e: crate::config::certs::CertError| {
        Failure::usage(format!("{e}; the request was not sent"))
            .hint("run `wxpay-ops config check` to check the certificate; renew it in the merchant console when it has expired")
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mch_id = &profile.mch_id;
    match (&profile.cert_pem, &profile.cert_key_pem, &profile.cert_p12) {
        (Some(cert), Some(key), _) => {
            usable_identity_from_pem(&resolve(cert), &resolve(key), mch_id, now).map_err(named)
        }
        (_, _, Some(p12)) => {
            let password = profile.cert_p12_password.as_deref().unwrap_or(mch_id);
            usable_identity_from_p12(&resolve(p12), password, mch_id, now).map_err(named)
        }
        _ => Err(Failure::usage(format!(
            "profile {:?} has no merchant API certificate, which refunds need (mutual TLS)",
            selected.name
        ))
        .hint("set cert_p12, or cert_pem and cert_key_pem, in the profile (see `wxpay-ops config init`)")),
    }
}

/// How long a fetched sandbox key is used. Its lifetime is undocumented (reference A7):
/// EasyWeChat keeps it 24 hours, which real sandboxes evidently allow.
const SANDBOX_KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Serialize, Deserialize)]
struct CachedKey {
    api_base: String,
    mch_id: String,
    /// Of the production key it was fetched with: a new key fetches a new sandbox key.
    key_fingerprint: String,
    sandbox_key: String,
    expires_at: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn sandbox_cache_file(mch_id: &str) -> Option<PathBuf> {
    let safe = mch_id.bytes().all(|b| b.is_ascii_alphanumeric());
    dirs::cache_dir().filter(|_| safe).map(|dir| {
        dir.join("wxpay-ops")
            .join("sandbox")
            .join(format!("{mch_id}.json"))
    })
}

/// The cached sandbox key, when it is this merchant's, from this key and server, unexpired,
/// and in a file no one else can read.
fn cached_sandbox_key(path: &Path, options: &ClientOptions) -> Option<ApiKey> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    if metadata.mode() & 0o077 != 0 || metadata.len() > 4096 {
        return None;
    }
    let cached: CachedKey = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let fits = cached.api_base == options.base
        && cached.mch_id == options.mch_id
        && cached.key_fingerprint == options.key.fingerprint()
        && cached.expires_at > now_secs();
    fits.then(|| ApiKey::new(cached.sandbox_key))
}

/// The sandbox client: requests go to `/sandboxnew/…`, signed with the sandbox key, which is
/// fetched with the production key and cached in the user's cache folder (mode 0600).
fn sandbox_client(
    context: &Context,
    runtime: &tokio::runtime::Runtime,
    mut options: ClientOptions,
    dry_run: bool,
) -> Result<(Client, ApiKey), Failure> {
    let cache = sandbox_cache_file(&options.mch_id);
    let key = match cache
        .as_deref()
        .and_then(|p| cached_sandbox_key(p, &options))
    {
        Some(key) => key,
        None if dry_run => {
            return Err(Failure::usage(
                "--dry-run in the sandbox needs the sandbox key, which is not cached yet, and fetching it would send a request",
            )
            .hint("run the command once without --dry-run; the sandbox key is cached for 24 hours"));
        }
        None => {
            let production = build(ClientOptions {
                on_attempt: options.on_attempt.clone(),
                tls: options.tls.clone(),
                ..ClientOptions::new(
                    options.base.clone(),
                    options.mch_id.clone(),
                    options.appid.clone(),
                    options.key.clone(),
                    options.sign_type,
                )
            })?;
            let key = runtime.block_on(production.sandbox_key()).map_err(|e| {
                call_failure(
                    "getsignkey (the sandbox key)",
                    Endpoint::OrderQuery,
                    e,
                    "fetching the sandbox key changes nothing: it is safe to run again",
                    None,
                )
            })?;
            if let Some(path) = &cache {
                let record = CachedKey {
                    api_base: options.base.clone(),
                    mch_id: options.mch_id.clone(),
                    key_fingerprint: options.key.fingerprint(),
                    sandbox_key: key.expose().to_owned(),
                    expires_at: now_secs() + SANDBOX_KEY_LIFETIME.as_secs(),
                };
                let json = serde_json::to_vec(&record).expect("the record serializes");
                let written = path
                    .parent()
                    .map_or(Ok(()), crate::fsutil::create_private_dir_all)
                    .and_then(|()| crate::fsutil::write_private(path, &json));
                if let Err(e) = written {
                    context
                        .printer
                        .warn(&format!("the sandbox key is not cached: {e}"));
                }
            }
            key
        }
    };
    options.key = key.clone();
    options.path_prefix = "/sandboxnew".into();
    Ok((build(options)?, key))
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
    let yes = printer.confirm(details, question)?;
    if !yes {
        printer.status("declined: nothing was sent");
    }
    Ok(yes)
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

/// Amount fields: integer fen, and yuan for people.
pub fn put_fen(record: &mut Record, name: &str, fen: Option<Fen>) {
    record.insert(name.into(), fen.map_or(Value::Null, |f| json!(f.0)));
}

pub fn put_yuan(record: &mut Record, name: &str, fen: Option<Fen>) {
    record.insert(name.into(), fen.map_or(Value::Null, |f| json!(f.yuan())));
}

pub fn put_text(record: &mut Record, name: &str, value: Option<&str>) {
    record.insert(name.into(), value.map_or(Value::Null, |v| json!(v)));
}

/// The fields WeChat sent that we do not know, as an object.
pub fn extra(fields: &Extra) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|(name, value)| (name.clone(), json!(value)))
            .collect(),
    )
}

/// Now plus `after`, as the protocol writes times: yyyyMMddHHmmss, Beijing time.
pub fn api_time_after(after: Duration) -> String {
    crate::time::api_time(crate::time::now() + after)
}

/// A protocol time (yyyyMMddHHmmss, Beijing) as RFC 3339, for scripts.
pub fn rfc3339(api_time: &str) -> Option<String> {
    crate::time::parse_api_time(api_time)?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// " for sub-merchant N" in service-provider mode, to say whose order a message is about.
pub fn sub_merchant(client: &Client) -> String {
    match &client.sub_mch_id {
        Some(sub) => format!(" for sub-merchant {sub}"),
        None => String::new(),
    }
}
