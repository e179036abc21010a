//! `wxpay-ops sign` and `wxpay-ops sign verify`; API v3's in `sign v3`.

mod v3;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{chosen_sign_type_by, describe_source, explain};
use super::failure::{Failure, SIGN_HINT, exit};
use super::settings::{Context, KeyArgs, SignTypeParser, chosen_sign_type, read_input};
use crate::output::Record;
use crate::wechat::params::{ParamsError, parse_pairs, parse_parameters};
use crate::wechat::sign::{Pitfall, SignError, SignType, canonical, sign_canonical, verify};
use crate::wechat::xml::Message;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SignArgs {
    /// Parameters as name=value (e.g. appid=wx… mch_id=… body=…), or - alone to read a JSON
    /// object or an XML message from stdin
    #[arg(value_name = "NAME=VALUE")]
    fields: Vec<String>,

    /// Read the parameters from a JSON object or an XML message (- for stdin)
    #[arg(long, short, value_name = "FILE", conflicts_with = "fields")]
    file: Option<PathBuf>,

    /// MD5 or HMAC-SHA256, in any case. The parameters' own sign_type field wins (a different
    /// --sign-type is an error) [default: the profile's sign_type, else MD5]
    #[arg(long, value_parser = SignTypeParser)]
    sign_type: Option<SignType>,

    /// Show the exact string that was hashed (key masked), what was left out and why
    #[arg(long)]
    explain: bool,

    #[command(flatten)]
    keys: KeyArgs,

    #[command(subcommand)]
    command: Option<SignCommand>,
}

#[derive(Debug, Subcommand)]
enum SignCommand {
    /// Check the sign of a captured message; exit 0 when it holds, 4 when not
    Verify(VerifyArgs),
    /// API v3: sign a request (the Authorization header), or check WeChat Pay's signature on
    /// an answer or callback
    V3(Box<v3::V3Args>),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The XML message as received (- for stdin)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// MD5 or HMAC-SHA256, in any case, for a message with no sign_type field (the field
    /// always wins) [default: the profile's sign_type, else by sign length: 32 MD5, 64
    /// HMAC-SHA256]
    #[arg(long, value_parser = SignTypeParser)]
    sign_type: Option<SignType>,

    /// Also show the sign expected for these fields. It is a valid sign for whatever the
    /// message says: use it to find a bug, never paste it into a message
    #[arg(long)]
    explain: bool,

    #[command(flatten)]
    keys: KeyArgs,
}

pub fn run(context: &Context, args: SignArgs) -> Result<u8, Failure> {
    match args.command {
        Some(SignCommand::Verify(verify_args)) => return run_verify(context, verify_args),
        Some(SignCommand::V3(v3_args)) => return v3::run(context, *v3_args),
        None => {}
    }
    let stdin = Path::new("-");
    let file = match args.fields.as_slice() {
        [dash] if dash == "-" => Some(stdin),
        _ if args.fields.len() > 1 && args.fields.iter().any(|f| f == "-") => {
            return Err(
                Failure::usage("- (standard input) cannot be mixed with NAME=VALUE")
                    .hint("pass either NAME=VALUE arguments or - alone"),
            );
        }
        _ => args.file.as_deref(),
    };
    let message = match file {
        Some(path) => {
            if path == stdin && std::io::stdin().is_terminal() {
                context
                    .printer
                    .status("reading parameters from standard input (Ctrl-D to end)");
            }
            let (name, bytes) = read_input(path)?;
            parse_parameters(&bytes).map_err(|e| params_failure(&name, e))?
        }
        None if args.fields.is_empty() => {
            return Err(Failure::usage("no parameters to sign").hint(
                "pass NAME=VALUE arguments, or --file FILE with a JSON object or an XML message",
            ));
        }
        None => parse_pairs(&args.fields).map_err(|e| params_failure("parameters", e))?,
    };
    let selected = context.profile_for(&args.keys)?;
    let key = context.api_key(&args.keys, selected.as_ref())?;
    let declared = match message.non_empty("sign_type") {
        Some(text) => Some(
            text.parse::<SignType>()
                .map_err(|e| sign_error(e).named("parameters"))?,
        ),
        None => None,
    };
    let (sign_type, source) = match (declared, args.sign_type) {
        (Some(declared), Some(flag)) if declared != flag => {
            return Err(Failure::usage(format!(
                "the parameters declare sign_type={declared} but --sign-type {flag} was given"
            ))
            .hint("WeChat Pay verifies with the declared sign_type; drop one of the two"));
        }
        (Some(declared), _) => (declared, "the parameters' sign_type field".to_owned()),
        (None, flag) => chosen_sign_type_by(flag, selected.as_ref()).unwrap_or((
            SignType::Md5,
            "the protocol default: no sign_type field, --sign-type or profile sign_type".into(),
        )),
    };
    let canonical = canonical(message.pairs());
    let sign = sign_canonical(&canonical.string, &key, sign_type);

    let mut notes = notes_on_values(&message);
    if let Some(pitfall) = Pitfall::in_signing(&message, sign_type) {
        warn_note(context, &mut notes, pitfall);
    }
    let mut record = Record::new();
    record.insert("sign".into(), json!(sign));
    record.insert("sign_type".into(), json!(sign_type.as_str()));
    record.insert("sign_type_source".into(), json!(source));
    if args.explain {
        explain(&mut record, &canonical, &key, notes);
    }
    context.printer.record(&record)?;
    Ok(exit::OK)
}

fn run_verify(context: &Context, args: VerifyArgs) -> Result<u8, Failure> {
    let (name, bytes) = read_input(&args.file)?;
    let message = Message::parse(&bytes).map_err(|e| Failure::xml(&name, e))?;
    let selected = context.profile_for(&args.keys)?;
    let key = context.api_key(&args.keys, selected.as_ref())?;
    let fallback = chosen_sign_type(args.sign_type, selected.as_ref());
    let verification = verify(&message, &key, fallback).map_err(|e| sign_error(e).named(&name))?;

    let mut record = Record::new();
    record.insert("valid".into(), json!(verification.valid));
    record.insert("sign_type".into(), json!(verification.sign_type.as_str()));
    record.insert(
        "sign_type_source".into(),
        json!(describe_source(
            verification.source,
            args.sign_type,
            selected.as_ref()
        )),
    );
    record.insert("received".into(), json!(verification.received));
    // The expected sign signs whatever fields the message carries: shown to whoever reads
    // this output, it would make a forged message verify. Only a developer asks for it.
    if args.explain {
        record.insert("expected".into(), json!(verification.expected));
        if !verification.valid {
            context.printer.warn(
                "`expected` is a valid sign for these fields as they are: use it to find the \
                 cause, and never paste it into a message, or a forged message would verify",
            );
        }
    }
    let mut notes = notes_on_values(&message);
    if let Some(pitfall) = Pitfall::in_received(&message) {
        warn_note(context, &mut notes, pitfall);
    }
    notes.extend(Pitfall::in_mismatch(&verification).map(|p| p.to_string()));
    explain(&mut record, &verification.canonical, &key, notes);
    context.printer.record(&record)?;
    if verification.valid {
        Ok(exit::OK)
    } else {
        Err(Failure::new(
            exit::VERIFY,
            format!("{name}: the signature does not match"),
        )
        .hint(SIGN_HINT))
    }
}

/// A sign error; a message's sign_type in the wrong case gets the exact spelling as a hint.
pub fn sign_error(error: SignError) -> Failure {
    let exact = match &error {
        SignError::UnknownSignType(text) => SignType::parse_any_case(text).ok(),
        _ => None,
    };
    let failure = Failure::from(error);
    match exact {
        Some(exact) => failure.hint(format!(
            "WeChat Pay compares a message's sign_type exactly and refuses any other spelling \
             (sign_type参数格式错误): write sign_type={exact}"
        )),
        None => failure,
    }
}

fn notes_on_values(message: &Message) -> Vec<String> {
    Pitfall::in_values(message)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A pitfall that the command warns of as well as noting it.
fn warn_note(context: &Context, notes: &mut Vec<String>, pitfall: Pitfall) {
    let note = pitfall.to_string();
    context.printer.warn(&note);
    notes.push(note);
}

/// A message to sign that could not be read, worded; the file's name is `name`.
fn params_failure(name: &str, error: ParamsError) -> Failure {
    match error {
        ParamsError::NotPair(_) => Failure::usage(error.to_string())
            .hint("write each parameter as name=value, e.g. body=test"),
        ParamsError::Xml(e) => Failure::xml(name, e),
        ParamsError::Empty => Failure::input(name, error).hint(
            "give a JSON object or an XML message, e.g. echo '{\"body\":\"test\"}' | wxpay-ops sign -",
        ),
        ParamsError::NotInteger(_) => Failure::input(name, error)
            .hint("amounts are integer fen; put any other exact text in a JSON string"),
        ParamsError::NotText { .. } => Failure::input(name, error)
            .hint("put the exact text to sign in a JSON string, e.g. \"detail\": \"{…}\""),
        ParamsError::NotUtf8 | ParamsError::UnknownShape | ParamsError::Json(_) => {
            Failure::input(name, error)
        }
    }
}
