//! What every command that calls WeChat Pay shares: the client built from the profile and
//! flags, `--dry-run`, confirmations, and the wording of failures (with whether it is safe to
//! run the command again).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::cli::common::ApiFlag;
pub use crate::cli::common::call_failure::{call_failure, tls_failure};
use crate::cli::common::v3_client::{no_partner_on_v3, on_v3_only, v3_client};
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Context, KeyArgs, Selected};
use crate::config::check::{plain_http_warning, timeout_range, usable_timeout};
use crate::config::client::{ClientSetupError, MutualTls};
use crate::output::{Format, Printer, Record};
use crate::wechat::ApiVersion;
use crate::wechat::api::{Endpoint, parse_amount};
use crate::wechat::client::{CallAttempt, Client, ClientOptions, Prepared, RetryPolicy};
use crate::wechat::gateway::{Gateway, Outgoing};
use crate::wechat::sandbox::KeyCache;
use crate::wechat::v3::client::{V3Client, V3Prepared};
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
pub(crate) fn verbose_observer() -> Arc<dyn Fn(&CallAttempt<'_>) + Send + Sync> {
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
