//! `wxpay-ops sign v3` and `wxpay-ops sign v3 verify`: API v3's RSA signatures.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli::common::merchant_key;
use crate::cli::common::v3::{CheckArgs, read_received};
use crate::cli::failure::{Failure, exit};
use crate::cli::settings::{Context, read_input};
use crate::config::v3::{MerchantSigner, serial_of};
use crate::output::Record;
use crate::wechat::paysign::TIMESTAMPS;
use crate::wechat::sign::nonce_str;
use crate::wechat::v3::{
    RequestError, answer_message, authorization, check_answer, check_request, request_message,
    request_pitfalls,
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
    #[command(flatten)]
    check: CheckArgs,
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
    let received = read_received(Some(&args.headers), &args.body)?;
    let selected = if args.check.needs_profile() {
        context.select_optional()?
    } else {
        None
    };
    let keys = args.check.keys(selected.as_ref())?;
    let now = args.check.now();
    let headers = &received.headers;
    let checked = check_answer(headers, &received.body, &keys, now);
    let mut record = Record::new();
    record.insert("valid".into(), json!(checked.is_ok()));
    record.insert("serial".into(), json!(headers.serial));
    record.insert("timestamp".into(), json!(headers.timestamp));
    record.insert("age_seconds".into(), json!(received.age(now)));
    record.insert(
        "problem".into(),
        json!(checked.as_ref().err().map(ToString::to_string)),
    );
    if args.explain {
        let message = answer_message(
            headers.timestamp.as_deref().unwrap_or(""),
            headers.nonce.as_deref().unwrap_or(""),
            &received.body,
        );
        record.insert(
            "string_to_sign".into(),
            json!(String::from_utf8_lossy(&message)),
        );
    }
    context.printer.record(&record)?;
    match checked {
        Ok(_) => Ok(exit::OK),
        Err(error) => Err(received.failure(&error)),
    }
}
