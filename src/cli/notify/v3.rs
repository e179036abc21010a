//! `notify verify --api v3` and `notify decrypt --api v3`: API v3 callbacks, their signature
//! checked with WeChat Pay's key as `sign v3 verify` checks it, their resource decrypted with
//! the APIv3 key.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::{
    DecryptArgs, FOREIGN_HINT, VerifyArgs, describe, expectations_for, unchecked_note, untrusted,
};
use crate::cli::common::v3::{CheckArgs, Received, read_received};
use crate::cli::failure::{APIV3_KEY_HINT, Failure, exit};
use crate::cli::settings::{Context, Selected};
use crate::output::Record;
use crate::wechat::v3::notify::{
    Callback, CallbackError, DecryptError, Reply, decrypt_json, mismatches, unsuccessful,
};
use crate::wechat::v3::{AnswerError, check_answer};

/// The headers of an API v3 callback and the keys that check its signature.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "API v3 (--api v3)")]
pub struct CallbackArgs {
    /// The callback's headers as received, one `Name: value` per line (Wechatpay-Timestamp,
    /// -Nonce, -Signature, -Serial)
    #[arg(long, value_name = "FILE")]
    headers: Option<PathBuf>,
    #[command(flatten)]
    check: CheckArgs,
}

impl CallbackArgs {
    /// The first flag given that only API v3 takes.
    pub fn given(&self) -> Option<&'static str> {
        match self.headers {
            Some(_) => Some("--headers"),
            None => self.check.given(),
        }
    }
}

/// A callback as received, parsed, and the outcome of the check of its signature.
struct Examined {
    received: Received,
    callback: Result<Callback, CallbackError>,
    /// `None` when it was not checked (`--no-verify`).
    verified: Option<Result<(), AnswerError>>,
    now: i64,
}

/// Reads the callback and checks its signature, unless `verify` is false.
fn examine(
    args: &CallbackArgs,
    body: &Path,
    selected: Option<&Selected>,
    verify: bool,
) -> Result<Examined, Failure> {
    if verify && args.headers.is_none() {
        return Err(Failure::usage(
            "--api v3 needs --headers FILE: the callback's Wechatpay-* headers as received",
        )
        .hint("save the request's headers, one `Name: value` per line, as your web framework logs them"));
    }
    let received = read_received(args.headers.as_deref(), body)?;
    let callback = Callback::parse(&received.body);
    // A body that is not even JSON is not a v3 callback at all, signed or not.
    if let Err(error @ (CallbackError::Xml | CallbackError::TooLarge(_))) = &callback {
        let failure = Failure::input(&received.body_name, error);
        return Err(match error {
            CallbackError::Xml => failure.hint("an API v2 notification: leave out --api v3"),
            _ => failure,
        });
    }
    let now = args.check.now();
    // A missing key is a usage error, found before any record is printed.
    let verified = if verify {
        let keys = args.check.keys(selected)?;
        Some(check_answer(&received.headers, &received.body, &keys, now).map(|_| ()))
    } else {
        None
    };
    Ok(Examined {
        received,
        callback,
        verified,
        now,
    })
}

impl Examined {
    /// The event and the signature's outcome, the first part of both commands' records.
    fn record(&self) -> Record {
        let mut record = Record::new();
        let headers = &self.received.headers;
        let verified = self.verified.as_ref().map(Result::is_ok);
        record.insert("valid".into(), json!(verified));
        record.insert(
            "problem".into(),
            json!(
                self.verified
                    .as_ref()
                    .and_then(|v| v.as_ref().err())
                    .map(ToString::to_string)
            ),
        );
        record.insert("serial".into(), json!(headers.serial));
        record.insert("timestamp".into(), json!(headers.timestamp));
        record.insert("age_seconds".into(), json!(self.received.age(self.now)));
        let callback = self.callback.as_ref().ok();
        record.insert("id".into(), json!(callback.map(|c| &c.id)));
        record.insert(
            "create_time".into(),
            json!(callback.map(|c| &c.create_time)),
        );
        record.insert("event_type".into(), json!(callback.map(|c| &c.event_type)));
        record.insert(
            "resource_type".into(),
            json!(callback.map(|c| &c.resource_type)),
        );
        record.insert("summary".into(), json!(callback.map(|c| &c.summary)));
        record
    }

    /// The callback, once its signature holds (or was not checked); else the record with the
    /// reply that refuses it is printed, and the failure returned.
    fn trusted(self, context: &Context) -> Result<(Callback, Record), Failure> {
        let mut record = self.record();
        if let Some(Err(error)) = &self.verified {
            reply(&mut record, Reply::Unverified);
            context.printer.record(&record)?;
            return Err(self.received.failure(error));
        }
        let callback = self.callback.map_err(|e| {
            Failure::input(&self.received.body_name, e)
                .hint("give the body of an API v3 callback; an API answer is checked with `wxpay-ops sign v3 verify`")
        })?;
        Ok((callback, record))
    }
}

fn reply(record: &mut Record, reply: Reply) {
    record.insert("reply_status".into(), json!(reply.status()));
    record.insert("reply".into(), json!(reply.body()));
}

/// An API v2 flag, which an API v3 callback has no use for.
fn refuse_v2_flag(flag: Option<&str>) -> Result<(), Failure> {
    match flag {
        Some(flag) => Err(Failure::usage(format!(
            "{flag} is of API v2 notifications; an API v3 callback is checked with WeChat Pay's key and decrypted with the APIv3 key"
        ))
        .hint(format!("drop {flag}, or leave out --api v3"))),
        None => Ok(()),
    }
}

pub fn run_verify(context: &Context, args: VerifyArgs) -> Result<u8, Failure> {
    refuse_v2_flag(args.sign_type.map(|_| "--sign-type").or(args.keys.given()))?;
    if args.recipient.mch_id.is_some() || args.recipient.appid.is_some() {
        return Err(Failure::usage(
            "--mch-id and --appid are checked in the decrypted resource of an API v3 callback, which `notify verify` does not decrypt",
        )
        .hint("check them with `wxpay-ops notify decrypt --api v3`"));
    }
    let selected = if args.v3.check.needs_profile() {
        context.select_optional()?
    } else {
        None
    };
    let examined = examine(&args.v3, &args.file, selected.as_ref(), true)?;
    let (_, mut record) = examined.trusted(context)?;
    reply(&mut record, Reply::Success);
    context.printer.record(&record)?;
    Ok(exit::OK)
}

pub fn run_decrypt(context: &Context, args: DecryptArgs) -> Result<u8, Failure> {
    refuse_v2_flag(args.keys.given())?;
    let verify = !args.no_verify;
    // The profile gives what no flag does: the keys, the APIv3 key, the expected mch_id.
    let needs_profile = verify && args.v3.check.needs_profile()
        || args.apiv3_keys.source().is_none()
        || args.recipient.mch_id.is_none();
    let selected = if needs_profile {
        context.select_optional()?
    } else {
        None
    };
    let examined = examine(&args.v3, &args.file, selected.as_ref(), verify)?;
    let name = examined.received.body_name.clone();
    let (callback, mut record) = examined.trusted(context)?;
    let key = context.apiv3_key(&args.apiv3_keys, selected.as_ref())?;
    let fields = match decrypt_json(&key, &callback.resource) {
        Ok(fields) => fields,
        Err(error) => {
            reply(&mut record, Reply::Refused);
            context.printer.record(&record)?;
            return Err(decrypt_failure(&name, error, verify));
        }
    };
    let expectations = expectations_for(&args.recipient, selected.as_ref());
    let rejections = mismatches(&expectations.recipient(), &fields);
    let problems: Vec<String> = (rejections.iter())
        .filter_map(|r| describe(&expectations, r))
        .collect();
    let mut warnings = Vec::new();
    if !verify {
        warnings.push(format!(
            "{name} was not verified (--no-verify): its resource decrypted with the APIv3 key, \
             which authenticates it, but id, event_type, summary and create_time around it \
             are unchecked"
        ));
    }
    if let Some((field, state)) = unsuccessful(&callback.event_type, &fields) {
        warnings.push(format!(
            "{} reports {field}={state:?}: not a success; `reply` still acknowledges it so that WeChat Pay stops resending",
            callback.event_type
        ));
    }
    warnings.extend(unchecked_note(&expectations));
    record.insert("fields".into(), json!(fields));
    reply(
        &mut record,
        if rejections.is_empty() {
            Reply::Success
        } else {
            Reply::Refused
        },
    );
    let mut notes = problems.clone();
    notes.extend(warnings.iter().cloned());
    record.insert("notes".into(), json!(notes));
    context.printer.record(&record)?;
    if !rejections.is_empty() {
        return Err(untrusted(&name, &problems, FOREIGN_HINT));
    }
    for warning in &warnings {
        context.printer.warn(warning);
    }
    Ok(exit::OK)
}

fn decrypt_failure(name: &str, error: DecryptError, verified: bool) -> Failure {
    let hint = match error {
        DecryptError::Authentication | DecryptError::KeyLength(_) => APIV3_KEY_HINT,
        _ if verified => {
            "do not trust it: its signature holds, but its resource is not what WeChat Pay encrypts"
        }
        _ => "do not trust it: its resource is not what WeChat Pay encrypts",
    };
    Failure::new(exit::VERIFY, format!("{name}: {error}")).hint(hint)
}
