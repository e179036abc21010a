//! `wxpay-ops notify verify` and `wxpay-ops notify decrypt`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::failure::{Failure, SIGN_HINT, exit};
use super::output::Record;
use super::settings::{Context, KeyArgs, SignTypeParser, chosen_sign_type, read_input};
use super::sign::explain;
use crate::wechat::notify::{REPLY_SUCCESS, decrypt_refund, reply_fail, verify_payment};
use crate::wechat::{ApiKey, Message, SignType};

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Verify a payment notification: its fields, whether its sign holds, and the reply to send
    Verify(VerifyArgs),
    /// Decrypt a refund notification's req_info and show the reply to send
    Decrypt(DecryptArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The notification body as received (- for stdin)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The sign type of your unified order, when the notification declares none
    /// [default: by sign length]
    #[arg(long, value_parser = SignTypeParser)]
    sign_type: Option<SignType>,

    #[command(flatten)]
    keys: KeyArgs,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The notification body as received (- for stdin)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    #[command(flatten)]
    keys: KeyArgs,
}

pub fn run(context: &Context, command: NotifyCommand) -> Result<u8, Failure> {
    match command {
        NotifyCommand::Verify(args) => run_verify(context, args),
        NotifyCommand::Decrypt(args) => run_decrypt(context, args),
    }
}

fn fields_value(message: &Message, key: &ApiKey) -> Value {
    Value::Object(
        message
            .pairs()
            .map(|(name, value)| (name.to_owned(), json!(key.redact(value))))
            .collect(),
    )
}

fn run_verify(context: &Context, args: VerifyArgs) -> Result<u8, Failure> {
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

    let mut problems = Vec::new();
    match &notification.verification {
        Ok(v) if !v.valid => problems.push("its sign does not match".to_owned()),
        Ok(_) => {}
        Err(e) => problems.push(e.to_string()),
    }
    // A notification for another merchant or app is not ours, however well it is signed.
    if let Some(s) = &selected {
        for (field, expected) in [("mch_id", &s.profile.mch_id), ("appid", &s.profile.appid)] {
            let got = message.get(field).unwrap_or("");
            if got != expected {
                problems.push(format!(
                    "{field} {got:?} is not profile {:?}'s {expected:?}",
                    s.name
                ));
            }
        }
    }
    let valid = problems.is_empty();

    let mut record = Record::new();
    record.insert("valid".into(), json!(valid));
    if let Ok(verification) = &notification.verification {
        record.insert("sign_type".into(), json!(verification.sign_type.as_str()));
        record.insert(
            "sign_type_source".into(),
            json!(verification.source.describe()),
        );
    }
    record.insert("fields".into(), fields_value(message, &key));
    let reply = if valid {
        REPLY_SUCCESS.to_owned()
    } else {
        reply_fail("签名失败")
    };
    record.insert("reply".into(), json!(reply));
    if !valid {
        // The hashed string helps find the cause; the sign we would expect is never shown,
        // since printing it would sign forged fields for whoever reads this output.
        if let Ok(verification) = &notification.verification {
            explain(&mut record, &verification.canonical, &key, problems.clone());
        } else {
            record.insert("notes".into(), json!(problems));
        }
    }
    context.printer.record(&record)?;
    if valid {
        return Ok(exit::OK);
    }
    let sign_problem = !notification.is_authentic();
    Err(Failure::new(
        exit::VERIFY,
        format!("{name}: {}; do not trust it", problems.join("; ")),
    )
    .hint(if sign_problem {
        SIGN_HINT
    } else {
        "check --profile: this notification was sent to another merchant or app"
    }))
}

fn run_decrypt(context: &Context, args: DecryptArgs) -> Result<u8, Failure> {
    let (name, bytes) = read_input(&args.file)?;
    let selected = context.profile_for(&args.keys)?;
    let key = context.api_key(&args.keys, selected.as_ref())?;
    let refund = decrypt_refund(&bytes, &key).map_err(|e| Failure::notify(&name, e))?;
    let mut envelope = refund.envelope.clone();
    envelope.remove("req_info");

    let mut record = Record::new();
    record.insert("decrypted".into(), json!(true));
    record.insert("envelope".into(), fields_value(&envelope, &key));
    record.insert("fields".into(), fields_value(&refund.info, &key));
    record.insert("reply".into(), json!(REPLY_SUCCESS));
    context.printer.record(&record)?;
    Ok(exit::OK)
}
