//! `wxpay-ops notify verify` and `wxpay-ops notify decrypt`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::failure::{Failure, SIGN_HINT, exit};
use super::output::Record;
use super::settings::{Context, KeyArgs, parse_sign_type, read_input};
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
    #[arg(long, value_parser = parse_sign_type)]
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
    let selected = context.select_optional()?;
    let key = context.api_key(&args.keys, selected.as_ref())?;
    let notification =
        verify_payment(&bytes, &key, args.sign_type).map_err(|e| Failure::notify(&name, e))?;
    let verification = &notification.verification;
    let message = &notification.message;

    // A notification for another merchant is not ours even if someone signed it correctly.
    let mch_id_problem = selected.as_ref().and_then(|s| {
        let got = message.get("mch_id").unwrap_or("");
        (got != s.profile.mch_id).then(|| {
            format!(
                "mch_id {got:?} is not profile {:?}'s {:?}",
                s.name, s.profile.mch_id
            )
        })
    });
    let valid = verification.valid && mch_id_problem.is_none();
    let reply = if valid {
        REPLY_SUCCESS.to_owned()
    } else {
        reply_fail("签名失败")
    };

    let mut record = Record::new();
    record.insert("valid".into(), json!(valid));
    record.insert("sign_type".into(), json!(verification.sign_type.as_str()));
    record.insert(
        "sign_type_source".into(),
        json!(verification.source.describe()),
    );
    record.insert("fields".into(), fields_value(message, &key));
    record.insert("reply".into(), json!(reply));
    if !valid {
        record.insert("expected_sign".into(), json!(verification.expected));
        explain(
            &mut record,
            &verification.canonical,
            &key,
            mch_id_problem.iter().cloned().collect(),
        );
    }
    context.printer.record(&record)?;
    match (verification.valid, mch_id_problem) {
        (true, None) => Ok(exit::OK),
        (true, Some(problem)) => Err(Failure::new(exit::VERIFY, format!("{name}: {problem}"))
            .hint("check --profile: this notification was sent to another merchant")),
        (false, _) => Err(Failure::new(
            exit::VERIFY,
            format!("{name}: the notification's sign does not match; do not trust it"),
        )
        .hint(SIGN_HINT)),
    }
}

fn run_decrypt(context: &Context, args: DecryptArgs) -> Result<u8, Failure> {
    let (name, bytes) = read_input(&args.file)?;
    let selected = context.select_optional()?;
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
