//! v3's two-step bills (reference B6): the apply answers the file's SHA-1 and a short-lived
//! download URL; the download serves the file, unsigned. Both steps go through v2's bill
//! rules (the day's window, "Bill Creating" before 10:00, no bill on a day without trades),
//! so a day's bill is the same file on both APIs.

use std::io::Write;

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::{V3Error, error, param_error};
use crate::emulator::core::{Body, Call, Core, Reply};
use crate::emulator::lock;
use crate::emulator::state::Account;
use crate::wechat::Message;
use crate::wechat::sign::nonce_str;

/// How long a download URL serves its file. UNCONFIRMED: B6 says only that it is
/// short-lived (a stale one is 400 INVALID_REQUEST); five minutes, as a request's timestamp.
const URL_LIFETIME: Duration = Duration::minutes(5);

/// The path of the download URLs.
pub const FILE_PATH: &str = "/v3/billdownload/file";

/// A bill applied for, which its download URL's token names.
#[derive(Debug, Clone)]
pub struct Applied {
    mch_id: String,
    /// The v2 request for the same bill, tar_type as asked.
    fields: Vec<(&'static str, String)>,
    fund_flow: bool,
    expires: OffsetDateTime,
}

/// Which bill: the trade bill or the fund-flow bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Trade,
    FundFlow,
}

fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A SHA-1 writer, for the bill as it is rendered.
struct Sha1(ring::digest::Context);

impl Write for Sha1 {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.update(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A v2 bill refusal (an XML answer where a bill was asked for) in v3's words (B5's bill
/// table); None when the reply is a bill.
fn refusal_of(reply: &Reply) -> Option<V3Error> {
    let bytes = reply.body.bytes()?;
    if !bytes.starts_with(b"<xml>") {
        return None;
    }
    let answer = Message::parse(bytes).ok()?;
    // v2 says it in return_msg (downloadbill) or err_code and err_code_des (fund flow).
    let (code, description) = match answer.get("return_code") {
        Some("FAIL") => {
            let message = answer.get("return_msg").unwrap_or("");
            (message, message)
        }
        _ => (
            answer.get("err_code").unwrap_or(""),
            answer.get("err_code_des").unwrap_or(""),
        ),
    };
    let said = code.to_ascii_lowercase().replace('_', " ");
    Some(if said.contains("no bill exist") {
        error(400, "NO_STATEMENT_EXIST", "该日期没有账单")
    } else if said.contains("bill creating") {
        error(
            400,
            "STATEMENT_CREATING",
            "账单生成中，请在次日10点以后再下载",
        )
    } else if said.contains("bill date") || description.contains("bill_date") {
        error(400, "INVALID_REQUEST", "bill_date参数错误")
    } else {
        param_error(description)
    })
}

impl Core {
    /// The apply (B6): checked as v2 checks the same bill, answered with its SHA-1 (over the
    /// file decompressed) and a download URL on the server the request came to.
    pub(super) fn apply_for_bill<'m>(
        &self,
        call_of: impl Fn(Message) -> Call<'m>,
        kind: Kind,
        query: &str,
        origin: &str,
        creating: bool,
    ) -> Result<Value, V3Error> {
        let date = query_value(query, "bill_date").unwrap_or_default();
        let day = time::Date::parse(
            &date,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| {
            error(
                400,
                "INVALID_REQUEST",
                "bill_date参数错误，格式为YYYY-MM-DD",
            )
        })?;
        let gzip = match query_value(query, "tar_type").as_deref() {
            None => false,
            Some("GZIP") => true,
            Some(_) => return Err(param_error("tar_type参数错误")),
        };
        let mut fields = vec![("bill_date", crate::time::bill_date(day))];
        match kind {
            Kind::Trade => {
                let bill_type = query_value(query, "bill_type").unwrap_or_else(|| "ALL".into());
                fields.push(("bill_type", bill_type));
            }
            Kind::FundFlow => {
                let account = match query_value(query, "account_type").as_deref() {
                    None | Some("BASIC") => "Basic",
                    Some("OPERATION") => "Operation",
                    Some("FEES") => "Fees",
                    Some(_) => return Err(param_error("account_type参数错误")),
                };
                fields.push(("account_type", account.to_owned()));
            }
        }
        let call = call_of(message(&fields));
        let now = self.clock.now();
        let reply = self.bill(&call, kind, now, creating);
        if let Some(refused) = refusal_of(&reply) {
            return Err(refused);
        }
        let mut sha1 = Sha1(ring::digest::Context::new(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        ));
        match reply.body {
            Body::Bytes(bytes) => sha1.0.update(&bytes),
            Body::Stream(write) => {
                write(&mut sha1).map_err(|_| error(500, "SYSTEM_ERROR", "系统错误"))?
            }
        }
        let hash = crate::wechat::hex_upper(sha1.0.finish().as_ref()).to_lowercase();
        if gzip {
            fields.push(("tar_type", "GZIP".to_owned()));
        }
        let token = nonce_str();
        let applied = Applied {
            mch_id: call.account.mch_id.clone(),
            fields,
            fund_flow: kind == Kind::FundFlow,
            expires: now + URL_LIFETIME,
        };
        let mut applied_bills = lock(&self.v3_bills);
        // A long-running emulator keeps only the URLs still good.
        applied_bills.retain(|_, earlier| now < earlier.expires);
        applied_bills.insert(token.clone(), applied);
        drop(applied_bills);
        Ok(json!({
            "hash_type": "SHA1",
            "hash_value": hash,
            "download_url": format!("{origin}{FILE_PATH}?token={token}"),
        }))
    }

    /// The download (B6): the file of a bill applied for by this merchant, while its URL
    /// lasts; not signed.
    pub(super) fn bill_file<'m>(
        &self,
        call_of: impl Fn(Message) -> Call<'m>,
        account: &Account,
        query: &str,
    ) -> Result<Reply, V3Error> {
        let now = self.clock.now();
        let applied = query_value(query, "token")
            .and_then(|token| lock(&self.v3_bills).get(&token).cloned())
            .filter(|applied| applied.mch_id == account.mch_id && now < applied.expires)
            .ok_or_else(|| error(400, "INVALID_REQUEST", "下载链接已失效，请重新申请账单"))?;
        let call = call_of(message(&applied.fields));
        let kind = if applied.fund_flow {
            Kind::FundFlow
        } else {
            Kind::Trade
        };
        let reply = self.bill(&call, kind, now, false);
        match refusal_of(&reply) {
            Some(refused) => Err(refused),
            None => Ok(reply),
        }
    }

    fn bill(&self, call: &Call<'_>, kind: Kind, now: OffsetDateTime, creating: bool) -> Reply {
        match kind {
            Kind::Trade => self.download_bill(call, now, creating),
            Kind::FundFlow => self.download_fund_flow(call, now, creating),
        }
    }
}

fn message(fields: &[(&'static str, String)]) -> Message {
    let mut message = Message::new();
    for (name, value) in fields {
        message.set(name, value);
    }
    message
}
