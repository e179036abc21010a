//! `wxpay-ops sign v3` and `wxpay-ops sign v3 verify`: API v3's RSA signatures.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli::common::merchant_key;
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Context, Selected, read_input};
use crate::config::v3::{MerchantSigner, read_platform_certificates, read_public_key, serial_of};
use crate::output::Record;
use crate::wechat::paysign::TIMESTAMPS;
use crate::wechat::sign::nonce_str;
use crate::wechat::v3::{
    AnswerError, RequestError, SignedHeaders, answer_message, authorization, check_answer,
    check_request, request_message, request_pitfalls,
};

const SIGN_AFTER_HELP: &str = "\
Signs METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n with the merchant's private key (RSA, SHA-256) and \
prints the Authorization header to send with exactly that request. The key is the profile's \
private_key_pem (else cert_key_pem), the serial its cert_serial (else cert_pem's). --explain \
shows the five lines with their line ends and what most often makes WeChat Pay answer 401 \
SIGN_ERROR.";

const VERIFY_AFTER_HELP: &str = "\
Checks WeChat Pay's signature on an API v3 answer or callback: the Wechatpay-* headers, not a \
probe (WECHATPAY/SIGNTEST/), Wechatpay-Timestamp within 5 minutes, the key that \
Wechatpay-Serial names, and the signature of TIMESTAMP\\nNONCE\\nBODY\\n. Exit 0 when it holds, \
4 when not.";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true, after_help = SIGN_AFTER_HELP)]
pub struct V3Args {
    /// The request's method, in capitals as sent: GET, POST, PUT, PATCH or DELETE
    #[arg(long, value_name = "METHOD", required = true)]
    method: Option<String>,
    /// The path and query as sent, from /v3/, no scheme or host (e.g.
    /// /v3/pay/transactions/out-trade-no/1217752501?mchid=1900000109)
    #[arg(long, value_name = "PATH", required = true)]
    url: Option<String>,
    /// The body exactly as sent (- for stdin) [default: none, as for a GET]
    #[arg(long, value_name = "FILE")]
    body: Option<PathBuf>,
    /// Seconds since 1970, ten digits [default: now]; fix it to reproduce a signature
    #[arg(long, value_parser = clap::value_parser!(u64).range(TIMESTAMPS))]
    timestamp: Option<u64>,
    /// Nonce of up to 32 letters and digits [default: random]
    #[arg(long)]
    nonce: Option<String>,
    /// Show the five signed lines with their line ends, and what to check when WeChat Pay
    /// answers 401 SIGN_ERROR
    #[arg(long)]
    explain: bool,
    /// The merchant's private key, apiclient_key.pem (mode 0600) [default: the profile's
    /// private_key_pem, else cert_key_pem]
    #[arg(long, value_name = "FILE")]
    private_key: Option<PathBuf>,
    /// The merchant certificate's serial, hex [default: the profile's cert_serial, else
    /// cert_pem's]
    #[arg(long, value_name = "HEX")]
    serial: Option<String>,
    /// The merchant number [default: the profile's mch_id]
    #[arg(long, value_name = "MCH_ID")]
    mch_id: Option<String>,
    #[command(subcommand)]
    command: Option<V3Command>,
}

#[derive(Debug, Subcommand)]
enum V3Command {
    /// Check WeChat Pay's signature on an API v3 answer or callback; exit 0 when it holds, 4
    /// when not
    #[command(after_help = VERIFY_AFTER_HELP)]
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The headers as received, one `Name: value` per line (as `curl -i` or a log shows them)
    #[arg(long, value_name = "FILE")]
    headers: PathBuf,
    /// The body exactly as received (- for stdin); an empty file for a 204
    #[arg(long, value_name = "FILE")]
    body: PathBuf,
    /// The WeChat Pay public key, pub_key.pem [default: the profile's
    /// wechatpay_public_key_pem]
    #[arg(long, value_name = "FILE", requires = "public_key_id")]
    public_key: Option<PathBuf>,
    /// The public key's ID, PUB_KEY_ID_… [default: the profile's wechatpay_public_key_id]
    #[arg(long, value_name = "ID", requires = "public_key")]
    public_key_id: Option<String>,
    /// A file of WeChat Pay platform certificates (PEM), each named by its serial; repeat
    /// for several files
    #[arg(long, value_name = "FILE")]
    platform_cert: Vec<PathBuf>,
    /// Check the 5-minute window against this time (seconds since 1970) instead of now: for
    /// an answer captured earlier
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(0..10_000_000_000))]
    at: Option<i64>,
    /// Also show the three signed lines with their line ends
    #[arg(long)]
    explain: bool,
}

pub fn run(context: &Context, args: V3Args) -> Result<u8, Failure> {
    if let Some(V3Command::Verify(verify)) = args.command {
        return run_verify(context, verify);
    }
    let (Some(method), Some(url)) = (args.method.as_deref(), args.url.as_deref()) else {
        return Err(Failure::usage("--method and --url are required"));
    };
    let body = match &args.body {
        Some(path) => read_input(path)?.1,
        None => Vec::new(),
    };
    let nonce = args.nonce.clone().unwrap_or_else(nonce_str);
    let signer = signer(context, &args)?;
    check_request(method, url, &nonce, &signer.mch_id).map_err(|e| {
        let hint = match &e {
            RequestError::Method(m) => format!("pass --method {}", m.to_ascii_uppercase()),
            RequestError::Absolute(_) => {
                "sign the path and query only, from /v3/, exactly as sent".to_owned()
            }
            RequestError::Url(_) => {
                "give the path and query exactly as sent, e.g. /v3/certificates".to_owned()
            }
            RequestError::Nonce(_) => "leave --nonce out for a random one".to_owned(),
            RequestError::MchId(_) => "pass --mch-id with the merchant number".to_owned(),
        };
        Failure::usage(e.to_string()).hint(hint)
    })?;
    let timestamp = args
        .timestamp
        .unwrap_or_else(|| crate::time::now().unix_timestamp() as u64);
    let message = request_message(method, url, timestamp, &nonce, &body);
    let signature = signer.key.sign(&message);
    let mut record = Record::new();
    let header = authorization(
        &signer.mch_id,
        &signer.serial,
        timestamp,
        &nonce,
        &signature,
    );
    record.insert("authorization".into(), json!(header));
    record.insert("signature".into(), json!(signature));
    record.insert("mch_id".into(), json!(signer.mch_id));
    record.insert("serial_no".into(), json!(signer.serial));
    record.insert("timestamp".into(), json!(timestamp));
    record.insert("nonce".into(), json!(nonce));
    if args.explain {
        record.insert(
            "string_to_sign".into(),
            json!(String::from_utf8_lossy(&message)),
        );
        record.insert("notes".into(), json!(request_pitfalls(method, url, &body)));
    }
    context.printer.record(&record)?;
    Ok(exit::OK)
}

/// The merchant's key, serial and number: each flag, else the profile's.
fn signer(context: &Context, args: &V3Args) -> Result<MerchantSigner, Failure> {
    let complete = args.private_key.is_some() && args.serial.is_some() && args.mch_id.is_some();
    let selected = if complete {
        None
    } else {
        context.select_optional()?
    };
    let no_profile = || {
        Failure::usage("no profile to take the merchant's serial or mch_id from")
            .hint("pass --private-key apiclient_key.pem --serial HEX --mch-id MCH_ID, or use a profile with private_key_pem")
    };
    let key = merchant_key(args.private_key.as_deref(), selected.as_ref())?;
    let serial = match (&args.serial, &selected) {
        (Some(serial), _) => serial_of(serial)?,
        (None, Some(s)) => s.config.merchant_serial(&s.name, &s.profile)?,
        (None, None) => return Err(no_profile()),
    };
    let mch_id = match (&args.mch_id, &selected) {
        (Some(mch_id), _) => mch_id.clone(),
        (None, Some(s)) => s.profile.mch_id.clone(),
        (None, None) => return Err(no_profile()),
    };
    Ok(MerchantSigner {
        mch_id,
        serial,
        key,
    })
}

fn run_verify(context: &Context, args: VerifyArgs) -> Result<u8, Failure> {
    if args.headers == Path::new("-") && args.body == Path::new("-") {
        return Err(
            Failure::usage("--headers and --body cannot both be standard input")
                .hint("save one of them to a file"),
        );
    }
    let (headers_name, headers) = read_input(&args.headers)?;
    let headers = SignedHeaders::parse(&String::from_utf8_lossy(&headers));
    let (body_name, body) = read_input(&args.body)?;
    let mut keys = Vec::new();
    for path in &args.platform_cert {
        keys.extend(read_platform_certificates(path)?);
    }
    match (&args.public_key, &args.public_key_id) {
        (Some(path), Some(id)) => keys.push(read_public_key(path, id)?),
        _ if keys.is_empty() => {
            let selected = context.select_optional()?;
            let Some(Selected {
                config,
                name,
                profile,
            }) = &selected
            else {
                return Err(Failure::usage("no WeChat Pay key to check with: no --public-key or --platform-cert, and no profile")
                    .hint("pass --public-key pub_key.pem --public-key-id PUB_KEY_ID_…, or --platform-cert FILE"));
            };
            keys.extend(config.wechatpay_keys(name, profile)?);
        }
        _ => {}
    }
    let now = args
        .at
        .unwrap_or_else(|| crate::time::now().unix_timestamp());
    let checked = check_answer(&headers, &body, &keys, now);
    let mut record = Record::new();
    record.insert("valid".into(), json!(checked.is_ok()));
    record.insert("serial".into(), json!(headers.serial));
    record.insert("timestamp".into(), json!(headers.timestamp));
    record.insert(
        "age_seconds".into(),
        json!(
            headers
                .timestamp
                .as_deref()
                .and_then(|t| t.parse::<i64>().ok())
                .map(|t| now.saturating_sub(t))
        ),
    );
    record.insert(
        "problem".into(),
        json!(checked.as_ref().err().map(ToString::to_string)),
    );
    if args.explain {
        let message = answer_message(
            headers.timestamp.as_deref().unwrap_or(""),
            headers.nonce.as_deref().unwrap_or(""),
            &body,
        );
        record.insert(
            "string_to_sign".into(),
            json!(String::from_utf8_lossy(&message)),
        );
    }
    context.printer.record(&record)?;
    match checked {
        Ok(_) => Ok(exit::OK),
        Err(error) => Err(answer_failure(&headers_name, &body_name, error)),
    }
}

fn answer_failure(headers: &str, body: &str, error: AnswerError) -> Failure {
    let hint = match &error {
        AnswerError::MissingHeader(_) => format!("give every Wechatpay-* header of the answer in {headers}, one per line; an error answer (4xx, 5xx) is not signed"),
        AnswerError::Duplicated(_) => format!("give each Wechatpay-* header of {headers} once, as received"),
        AnswerError::NotBase64 => format!("copy the Wechatpay-Signature line of {headers} whole, as received"),
        AnswerError::SignatureType(_) => "only WECHATPAY2-SHA256-RSA2048 is checked here".to_owned(),
        AnswerError::Probe => "answer it with HTTP 4xx or 5xx: a notify handler that accepts it accepts forged callbacks".to_owned(),
        AnswerError::BadTimestamp(_) => format!("check the Wechatpay-Timestamp line of {headers}"),
        AnswerError::Stale { .. } => "check this machine's clock; for an answer captured earlier pass --at with a time within 5 minutes of it".to_owned(),
        AnswerError::UnknownSerial { .. } => "a PUB_KEY_ID_… serial needs the WeChat Pay public key of that ID; a hex serial, the platform certificate of that serial (platform certificates rotate: download them again)".to_owned(),
        AnswerError::Mismatch => format!("check that {body} holds the body byte for byte as received (not re-serialized, no added line end), and that the key is WeChat Pay's of that serial"),
    };
    Failure::new(exit::VERIFY, format!("{headers}: {error}")).hint(hint)
}
