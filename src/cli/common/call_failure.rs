//! A failed call in words: what happened, whether WeChat Pay may have acted, whether it is
//! safe to run the command again, and the exit code, for v2's and v3's refusals alike.

use crate::cli::failure::{Failure, SIGN_HINT, exit};
use crate::wechat::api::{Endpoint, Retry, err_code_meaning, v2_err_code};
use crate::wechat::client::{CallError, ClientError};

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
        ClientError::Transport { .. }
        | ClientError::Status { .. }
        | ClientError::Malformed { .. } => Failure::new(
            exit::TEMPORARY,
            format!("{what}: {error}{attempts}{unknown_fate}"),
        )
        .hint(format!(
            "{again}; check the network, api_base and --timeout"
        )),
        ClientError::Protocol { message } => {
            let (meaning, hint) = protocol_refusal(message);
            let meaning = meaning.map(|m| format!(" ({m})")).unwrap_or_default();
            Failure::new(exit::REFUSED, format!("{what}: {error}{meaning}")).hint(hint)
        }
        ClientError::Mismatch { .. }
        | ClientError::Payload { .. }
        | ClientError::MissingSign
        | ClientError::BadSign(_)
        | ClientError::Unverified(_) => Failure::new(
            exit::VERIFY,
            format!("{what}: {error}; nothing in it was used{unknown_fate}"),
        )
        .hint(format!("{}; {again}", unverified_hint(error))),
        ClientError::Refused { code, description } => {
            let (_, retry) = err_code_meaning(code);
            let said = format!("{code} {description}");
            refused(what, code, &said, retry, &attempts, again, explain)
        }
        ClientError::RefusedV3 {
            status,
            code,
            message,
        } => {
            let canonical = v2_err_code(code);
            let retry = match status {
                500.. => Retry::Now,
                429 => Retry::Later,
                _ => err_code_meaning(canonical).1,
            };
            let said = format!("HTTP {status} {code} {message}");
            let failure = refused(what, canonical, &said, retry, &attempts, again, explain);
            match canonical {
                "SIGNERROR" => failure.hint(v3_sign_hint(message)),
                _ => failure,
            }
        }
    }
}

/// Why an answer was not used, and where to look.
fn unverified_hint(error: &ClientError) -> &'static str {
    match error {
        ClientError::MissingSign | ClientError::BadSign(_) => {
            "check that the key is this mch_id's API v2 key and that sign_type matches; if they are, something between you and WeChat Pay changed the answer"
        }
        ClientError::Unverified(_) => {
            "check that wechatpay_public_key_pem and wechatpay_public_key_id (or the platform certificates) are WeChat Pay's for this merchant, and this machine's clock; if they are right, something between you and WeChat Pay changed the answer"
        }
        _ => {
            "the answer is signed, but it is not the answer to this request as WeChat Pay gives it: something between you and WeChat Pay (a proxy, a cache) changed or mixed up answers"
        }
    }
}

/// What v3's 401 SIGN_ERROR usually means.
fn v3_sign_hint(message: &str) -> &'static str {
    // UNCONFIRMED wording: the emulator's, as integrators quote the real one.
    if message.contains("时间戳") {
        "this machine's clock is 5 minutes or more off WeChat Pay's: set it right (NTP), then run again"
    } else {
        "check that private_key_pem is the key of the certificate cert_serial names, and that both are this mch_id's; `wxpay-ops sign v3 --explain` shows what is signed"
    }
}

/// A refusal in words: what WeChat Pay said, what its code means, and whether to run again.
fn refused(
    what: &str,
    code: &str,
    said: &str,
    retry: Retry,
    attempts: &str,
    again: &str,
    explain: Option<&Explain<'_>>,
) -> Failure {
    let (meaning, _) = err_code_meaning(code);
    let mut message = format!("{what}: WeChat Pay refused: {said}");
    if !meaning.is_empty() {
        message.push_str(&format!(" ({meaning})"));
    }
    message.push_str(attempts);
    if let Some((code, hint)) = explain.and_then(|explain| explain(code)) {
        return Failure::new(code, message).hint(hint);
    }
    match retry {
        Retry::Now => {
            Failure::new(exit::TEMPORARY, message).hint(format!("it may pass in a while; {again}"))
        }
        Retry::Later => Failure::new(exit::TEMPORARY, message).hint(format!(
            "wait a minute or more before trying again; {again}"
        )),
        Retry::Never => Failure::new(exit::REFUSED, message)
            .hint("sent again unchanged, it gets the same answer"),
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
