//! `wxpay-ops notify verify`, `wxpay-ops notify decrypt` and `wxpay-ops notify check`.

mod check;
mod v3;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{ApiFlag, describe_source, explain};
use super::failure::{Failure, SIGN_HINT, exit};
use super::settings::{
    ApiV3KeyArgs, Context, KeyArgs, Selected, SignTypeParser, chosen_sign_type, read_input,
};
use crate::output::{Record, record_of};
use crate::wechat::notify::{
    Expectations, ExpectedValue, Rejection, decrypt_envelope, envelope_failure, is_bare_failure,
    reply_for, verify_payment,
};
use crate::wechat::sign::canonical;
use crate::wechat::{Message, SignType};

const VERIFY_AFTER_HELP: &str = "\
Exit 0 when the sign holds and mch_id and appid are this merchant's, even for a notification \
of a failed payment (result_code=FAIL): check `paid`, which is true only for a paid order; a \
failed payment is also warned about on stderr. Exit 4 when the notification must not be \
trusted: send `reply`, which is then a failure naming the cause.

--api v3: FILE is the callback's JSON body, --headers its Wechatpay-* headers; the signature \
is checked as `sign v3 verify` checks it (not a probe, within 5 minutes, the key its serial \
names) and the event shown (id, event_type, resource_type, summary, create_time) with the \
reply to send (reply_status, reply). Exit 0 when it holds; 4 when not, a probe \
(WECHATPAY/SIGNTEST/, to be answered 4xx or 5xx) included.";

const DECRYPT_AFTER_HELP: &str = "\
The envelope around req_info is neither signed nor encrypted: only `fields`, decrypted from \
req_info, is authentic. Exit 0 when req_info decrypts and mch_id and appid are this \
merchant's; 3 when the envelope says return_code=FAIL; 4 when req_info does not decrypt with \
the key or the notification names another merchant or app.

--api v3: the callback's signature is checked first, as `notify verify --api v3` checks it, \
and only then its resource decrypted (AES-256-GCM) with the APIv3 key: --apiv3-key-env or \
--apiv3-key-file, else the profile's apiv3_key_*. `fields` is the decrypted transaction or \
refund. --no-verify decrypts without the signature check, with a warning: the resource is \
still authenticated by the APIv3 key, the event around it is not. Exit 0 when it decrypts \
and its mchid (and appid, where it has one) are this merchant's; 4 when the signature does \
not hold, it is a probe or stale, it does not decrypt (the APIv3 key of this mch_id, not the \
API v2 key), or it names another merchant or app.";

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Verify a payment notification (v2: its fields and sign) or a callback (--api v3: its
    /// signature and event), and show the reply to send
    #[command(after_help = VERIFY_AFTER_HELP)]
    Verify(VerifyArgs),
    /// Decrypt a refund notification's req_info (v2) or a callback's resource (--api v3), and
    /// show the reply to send
    #[command(after_help = DECRYPT_AFTER_HELP)]
    Decrypt(DecryptArgs),
    /// Send your own notify handler the acceptance cases (valid, repeated, forged, foreign,
    /// refund, malformed) and judge its answers
    #[command(after_help = check::CHECK_AFTER_HELP)]
    Check(check::CheckArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The notification body as received (- for stdin)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The API of the notification: v2 (XML, its sign checked with the API key) or v3 (a
    /// JSON callback, its signature checked with WeChat Pay's key; needs --headers)
    #[arg(long, value_enum, default_value_t = ApiFlag::V2)]
    api: ApiFlag,

    /// The sign type of your unified order (MD5 or HMAC-SHA256, any case), for a notification
    /// with no sign_type field (the field always wins) [default: the profile's sign_type, else
    /// by sign length: 32 MD5, 64 HMAC-SHA256]
    #[arg(long, value_parser = SignTypeParser)]
    sign_type: Option<SignType>,

    #[command(flatten)]
    recipient: RecipientArgs,

    #[command(flatten)]
    keys: KeyArgs,

    #[command(flatten)]
    v3: v3::CallbackArgs,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The notification body as received (- for stdin)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The API of the notification: v2 (XML, req_info decrypted with the API key) or v3 (a
    /// JSON callback, its signature checked, its resource decrypted with the APIv3 key)
    #[arg(long, value_enum, default_value_t = ApiFlag::V2)]
    api: ApiFlag,

    #[command(flatten)]
    recipient: RecipientArgs,

    #[command(flatten)]
    keys: KeyArgs,

    #[command(flatten)]
    v3: v3::CallbackArgs,

    #[command(flatten)]
    apiv3_keys: ApiV3KeyArgs,

    /// Decrypt without checking the signature (a warning says so); the resource is still
    /// authenticated by the APIv3 key, the event around it is not
    #[arg(long)]
    no_verify: bool,
}

impl DecryptArgs {
    /// The first flag given that only API v3 takes.
    fn v3_flag(&self) -> Option<&'static str> {
        let apiv3_key = self
            .apiv3_keys
            .source()
            .map(|_| "--apiv3-key-env/--apiv3-key-file");
        let no_verify = self.no_verify.then_some("--no-verify");
        self.v3.given().or(apiv3_key).or(no_verify)
    }
}

/// A flag of API v3 given for an API v2 notification.
fn refuse_v3_flag(flag: Option<&str>) -> Result<(), Failure> {
    match flag {
        Some(flag) => Err(Failure::usage(format!(
            "{flag} is of API v3 callbacks; this is read as an API v2 notification"
        ))
        .hint("pass --api v3 for a JSON callback")),
        None => Ok(()),
    }
}

/// The merchant and app a notification must be addressed to.
#[derive(Debug, Args)]
pub struct RecipientArgs {
    /// The mch_id the notification must name [default: the profile's mch_id]
    #[arg(long, value_name = "MCH_ID")]
    mch_id: Option<String>,

    /// The appid the notification must name [default: the profile's appid]
    #[arg(long, value_name = "APPID")]
    appid: Option<String>,
}

/// The expected mch_id and appid: each flag, else the profile's.
fn expectations_for(args: &RecipientArgs, selected: Option<&Selected>) -> Expectations {
    let pick = |flag: &Option<String>, option: &str, from_profile: fn(&Selected) -> &str| match (
        flag, selected,
    ) {
        (Some(value), _) => Some(ExpectedValue {
            value: value.clone(),
            by: format!("--{option}"),
        }),
        (None, Some(s)) => Some(ExpectedValue {
            value: from_profile(s).to_owned(),
            by: format!("profile {:?}", s.name),
        }),
        (None, None) => None,
    };
    Expectations {
        mch_id: pick(&args.mch_id, "mch-id", |s| &s.profile.mch_id),
        appid: pick(&args.appid, "appid", |s| &s.profile.appid),
    }
}

/// A notification for another merchant or app, in words; `None` for a bad sign.
fn describe(expectations: &Expectations, rejection: &Rejection) -> Option<String> {
    let by = expectations.origin(rejection)?;
    let Rejection::Foreign {
        field,
        expected,
        received,
    } = rejection
    else {
        return None;
    };
    Some(if received.is_empty() {
        format!("it has no {field}; expected {expected:?}, the {field} of {by}")
    } else {
        format!("{field} {received:?} is not {expected:?}, the {field} of {by}")
    })
}

/// A note, when some field could not be checked for want of an expected value.
fn unchecked_note(expectations: &Expectations) -> Option<String> {
    let unchecked = expectations.recipient().unchecked();
    if unchecked.is_empty() {
        return None;
    }
    let flags: Vec<String> = unchecked
        .iter()
        .map(|field| format!("--{}", field.replace('_', "-")))
        .collect();
    Some(format!(
        "{} not checked: no profile and no {} gives the expected value; a notification for \
         another merchant or app would pass",
        unchecked.join(" and "),
        flags.join(" or ")
    ))
}

pub fn run(context: &Context, command: NotifyCommand) -> Result<u8, Failure> {
    match command {
        NotifyCommand::Verify(args) => run_verify(context, args),
        NotifyCommand::Decrypt(args) => run_decrypt(context, args),
        NotifyCommand::Check(args) => check::run(context, args),
    }
}

/// Prints warnings only for a command that succeeds: a failure is an error line and a hint.
fn warn_all(context: &Context, warnings: &[String]) {
    for warning in warnings {
        context.printer.warn(warning);
    }
}

fn run_verify(context: &Context, args: VerifyArgs) -> Result<u8, Failure> {
    if args.api == ApiFlag::V3 {
        return v3::run_verify(context, args);
    }
    refuse_v3_flag(args.v3.given())?;
    let (name, bytes) = read_input(&args.file)?;
    let selected = context.profile_for(&args.keys)?;
    let key = context.api_key(&args.keys, selected.as_ref())?;
    let fallback = chosen_sign_type(args.sign_type, selected.as_ref());
    let notification =
        verify_payment(&bytes, &key, fallback).map_err(|e| Failure::xml(&name, e))?;
    let message = &notification.message;
    if message.get("sign").is_none() && message.get("req_info").is_some() {
        return Err(Failure::usage(format!(
            "{name} is a refund notification, which carries no sign"
        ))
        .hint("decrypt it with `wxpay-ops notify decrypt`"));
    }

    let expectations = expectations_for(&args.recipient, selected.as_ref());
    let rejections = notification.rejections(&expectations.recipient());
    let valid = rejections.is_empty();
    let mut notes: Vec<String> = rejections
        .iter()
        .map(|rejection| {
            describe(&expectations, rejection).unwrap_or_else(|| match &notification.verification {
                Ok(_) => "its sign does not match".to_owned(),
                Err(e) => e.to_string(),
            })
        })
        .collect();
    let problems = notes.clone();
    // Only an authentic notification's codes mean anything.
    let failure = if valid { notification.failure() } else { None };
    let mut warnings = Vec::new();
    if let Some(failure) = &failure {
        warnings.push(format!(
            "{name} reports a failed payment ({failure}): the sign holds, but the order is not \
             paid; `reply` still acknowledges it so that WeChat Pay stops resending"
        ));
    }
    warnings.extend(unchecked_note(&expectations));
    notes.extend(warnings.iter().cloned());

    let mut record = Record::new();
    record.insert("valid".into(), json!(valid));
    record.insert("paid".into(), json!(valid && failure.is_none()));
    record.insert("reported_failure".into(), json!(failure));
    let (sign_type, source) = match &notification.verification {
        Ok(v) => (
            Some(v.sign_type.as_str()),
            Some(describe_source(v.source, args.sign_type, selected.as_ref())),
        ),
        Err(_) => (None, None),
    };
    record.insert("sign_type".into(), json!(sign_type));
    record.insert("sign_type_source".into(), json!(source));
    record.insert("fields".into(), json!(message));
    record.insert("reply".into(), json!(reply_for(&rejections)));
    // The hashed string helps find the cause; the sign we would expect is never shown, since
    // printing it would sign forged fields for whoever reads this output.
    explain(&mut record, &canonical(message.pairs()), &key, notes);
    context.printer.record(&record)?;
    if valid {
        warn_all(context, &warnings);
        return Ok(exit::OK);
    }
    let hint = if rejections.contains(&Rejection::Sign) {
        SIGN_HINT
    } else {
        FOREIGN_HINT
    };
    Err(untrusted(&name, &problems, hint))
}

fn run_decrypt(context: &Context, args: DecryptArgs) -> Result<u8, Failure> {
    if args.api == ApiFlag::V3 {
        return v3::run_decrypt(context, args);
    }
    refuse_v3_flag(args.v3_flag())?;
    let (name, bytes) = read_input(&args.file)?;
    let selected = context.profile_for(&args.keys)?;
    let key = context.api_key(&args.keys, selected.as_ref())?;
    let envelope = Message::parse(&bytes).map_err(|e| Failure::xml(&name, e))?;
    let expectations = expectations_for(&args.recipient, selected.as_ref());
    let failure = envelope_failure(&envelope);
    let rejections = expectations.recipient().envelope_mismatches(&envelope);
    let problems: Vec<String> = rejections
        .iter()
        .filter_map(|r| describe(&expectations, r))
        .collect();
    if is_bare_failure(&envelope) {
        if !rejections.is_empty() {
            return Err(untrusted(&name, &problems, FOREIGN_HINT));
        }
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "{name} reports {} and carries no req_info: no refund result",
                failure.unwrap_or_default()
            ),
        )
        .hint(
            "WeChat Pay sent no refund result; check the refund's state in the merchant console",
        ));
    }

    let refund = decrypt_envelope(envelope, &key).map_err(|e| Failure::notify(&name, e))?;
    let extras: Vec<&str> = refund.extra_fields().map(|(field, _)| field).collect();
    let mut notes = problems.clone();
    let mut warnings = Vec::new();
    if !extras.is_empty() {
        warnings.push(format!(
            "{name} carries fields outside req_info ({}): the envelope is not signed, so anyone \
             could have added them; they are under unsigned_extra_fields, and only `fields` is \
             authentic",
            extras.join(", ")
        ));
    }
    if let Some(failure) = &failure {
        notes.push(format!(
            "the envelope reports {failure}; the envelope is not signed"
        ));
    }
    warnings.extend(unchecked_note(&expectations));
    notes.extend(warnings.iter().cloned());
    let mut record = record_of(&refund);
    record.insert("reply".into(), json!(reply_for(&rejections)));
    record.insert("notes".into(), json!(notes));
    context.printer.record(&record)?;
    if !rejections.is_empty() {
        return Err(untrusted(&name, &problems, FOREIGN_HINT));
    }
    if let Some(failure) = failure {
        return Err(Failure::new(
            exit::REFUSED,
            format!("{name} reports {failure}"),
        )
        .hint("the envelope's return_code is not signed; the decrypted fields show the refund as WeChat Pay sent it"));
    }
    warn_all(context, &warnings);
    Ok(exit::OK)
}

const FOREIGN_HINT: &str =
    "check --profile, --mch-id and --appid: this notification was sent to another merchant or app";

/// A notification that must not be trusted, and why.
fn untrusted(name: &str, problems: &[String], hint: &str) -> Failure {
    Failure::new(
        exit::VERIFY,
        format!("{name}: {}; do not trust it", problems.join("; ")),
    )
    .hint(hint)
}
