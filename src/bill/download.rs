//! Downloading one day's bill into a folder: streamed to a temporary file while it is hashed,
//! decompressed (gzip is recognised by its magic bytes, never by what was asked) and parsed;
//! renamed into place only once it is whole and reads as a bill.

use std::convert::Infallible;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;
use time::{Date, OffsetDateTime};

use super::format::BillType;
use super::parse::{BillError, ParseError, Parser, Report};
use crate::fsutil::{FileError, WriteError, write_atomic};
use crate::wechat::api::Endpoint;
use crate::wechat::client::{BillBody, Client, ClientError, RetryPolicy};
use crate::wechat::gateway::Gateway;
use crate::wechat::v3::client::{V3Client, V3Prepared};

/// The longest a bill may take to arrive: the largest bill (a few hundred MB) arrives well
/// within it, and a longer wait would leave a scheduled job hanging.
pub const MAX_TIMEOUT_SECS: u64 = 3600;

/// What to download: a trade bill of a type, or a fund-flow bill of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Trade(BillType),
    FundFlow(FundAccount),
}

/// The accounts a fund-flow bill is of, spelled as the API wants them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundAccount {
    Basic,
    Operation,
    Fees,
}

impl FundAccount {
    pub const ACCOUNTS: [FundAccount; 3] = [
        FundAccount::Basic,
        FundAccount::Operation,
        FundAccount::Fees,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FundAccount::Basic => "Basic",
            FundAccount::Operation => "Operation",
            FundAccount::Fees => "Fees",
        }
    }
}

impl Source {
    /// The type in file names and the manifest: `ALL`, `fundflow-Basic` …
    pub fn label(self) -> String {
        match self {
            Source::Trade(t) => t.as_str().to_owned(),
            Source::FundFlow(a) => format!("fundflow-{}", a.as_str()),
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Source::Trade(_) => "/pay/downloadbill",
            Source::FundFlow(_) => "/pay/downloadfundflow",
        }
    }

    fn fields(self, date: Date, gzip: bool) -> Vec<(&'static str, String)> {
        let mut fields = vec![("bill_date", crate::time::bill_date(date))];
        match self {
            Source::Trade(t) => fields.push(("bill_type", t.as_str().to_owned())),
            Source::FundFlow(a) => fields.push(("account_type", a.as_str().to_owned())),
        }
        if gzip {
            fields.push(("tar_type", "GZIP".to_owned()));
        }
        fields
    }
}

impl Source {
    /// The v3 request that applies for the bill (B6): `bill_date` as `YYYY-MM-DD`, account
    /// types in capitals.
    fn v3_apply(self, date: Date, gzip: bool) -> V3Prepared {
        let (path, kind) = match self {
            Source::Trade(t) => ("/v3/bill/tradebill", format!("bill_type={}", t.as_str())),
            Source::FundFlow(a) => (
                "/v3/bill/fundflowbill",
                format!("account_type={}", a.as_str().to_ascii_uppercase()),
            ),
        };
        let tar = if gzip { "&tar_type=GZIP" } else { "" };
        V3Prepared {
            endpoint: Endpoint::DownloadBill,
            method: "GET",
            path: format!("{path}?bill_date={}&{kind}{tar}", iso(date)),
            body: String::new(),
            binding: Vec::new(),
        }
    }
}

/// `YYYY-MM-DD`, as file names and the manifest write them.
pub fn iso(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Every day from `from` to `to`, both included.
pub fn days(from: Date, to: Date) -> impl Iterator<Item = Date> {
    std::iter::successors(Some(from), |day| day.next_day()).take_while(move |day| *day <= to)
}

/// `DIR/<mch_id>/<YYYY-MM-DD>.<type>.csv`
pub fn bill_path(dir: &Path, mch_id: &str, date: Date, source: Source) -> PathBuf {
    dir.join(mch_id).join(bill_file_name(date, source))
}

/// `<YYYY-MM-DD>.<type>.csv`, the name of a bill in its merchant's folder.
pub fn bill_file_name(date: Date, source: Source) -> String {
    format!("{}.{}.csv", iso(date), source.label())
}

/// Why a date cannot be asked for (reference A6.2, A6.7).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DateRefusal {
    #[error(
        "{0} has not ended yet in Beijing time; its bill is made from 09:00 the next day, ready after 10:00"
    )]
    NotOver(String),
    #[error(
        "{date} is older than the API serves (the last 3 months, from {oldest}); older bills are in the merchant console"
    )]
    TooOld { date: String, oldest: String },
}

/// The same day three calendar months earlier (the last day of that month when shorter).
pub fn oldest_bill_date(today: Date) -> Date {
    let months = today.year() * 12 + i32::from(u8::from(today.month())) - 1 - 3;
    let (year, month) = (months.div_euclid(12), months.rem_euclid(12) as u8 + 1);
    let month = time::Month::try_from(month).expect("1 to 12");
    let day = today.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).expect("a valid calendar date")
}

/// Whether WeChat Pay can have a bill of `date` at `now`: the day must be over in Beijing
/// time and no older than three months.
pub fn check_date(date: Date, now: OffsetDateTime) -> Result<(), DateRefusal> {
    let today = crate::time::day_of(now);
    if date >= today {
        return Err(DateRefusal::NotOver(iso(date)));
    }
    let oldest = oldest_bill_date(today);
    if date < oldest {
        return Err(DateRefusal::TooOld {
            date: iso(date),
            oldest: iso(oldest),
        });
    }
    Ok(())
}

/// A bill on disk, as WeChat Pay served it (decompressed).
#[derive(Debug, Clone)]
pub struct SavedBill {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub gzip: bool,
    pub report: Report,
    pub source_url: String,
}

/// What asking for a day's bill gave: the bill, or word that the day has none.
#[derive(Debug)]
pub enum Downloaded {
    Saved(Box<SavedBill>),
    /// `No Bill Exist` / `NO_BILL_EXIST`: the day has no bill; not an error.
    NoBill {
        source_url: String,
    },
}

#[derive(Debug, Error)]
pub enum DownloadError {
    #[error(
        "the bill is not ready yet (Bill Creating): WeChat Pay makes it from 09:00 the next day, Beijing time"
    )]
    Creating,
    #[error("{0}")]
    Temporary(String),
    #[error("WeChat Pay refused the request: {0}")]
    Refused(String),
    #[error("the answer's sign does not verify; it may not come from WeChat Pay")]
    BadSign,
    /// API v3: the apply answer's signature does not check out (B2).
    #[error("the answer's signature does not verify: {0}; it may not come from WeChat Pay")]
    Unverified(crate::wechat::v3::AnswerError),
    /// API v3: a verified answer about the bill that does not say what B6 says it does.
    #[error("the bill's answer from WeChat Pay {0}")]
    BadAnswer(String),
    /// API v3: the bill's SHA-1 is not the one the signed answer gave (B6).
    #[error(
        "the bill's SHA-1 is {received}, not the {expected} WeChat Pay's signed answer gave: it was changed or cut on the way"
    )]
    HashMismatch { expected: String, received: String },
    #[error("the bill WeChat Pay sent does not read as a bill: {0}")]
    Bill(BillError),
    #[error("{0}")]
    File(FileError),
    /// The TLS handshake failed: nothing was sent, and the same certificates fail again.
    #[error("the TLS handshake failed: {0}; the request was not sent")]
    Tls(String),
}

impl DownloadError {
    /// Worth trying again later: not ready, a network fault, a server fault, a cut body.
    pub fn is_temporary(&self) -> bool {
        match self {
            DownloadError::Creating | DownloadError::Temporary(_) => true,
            DownloadError::Bill(e) => matches!(
                e,
                BillError::CutMidLine { .. } | BillError::NoSummary { .. } | BillError::Gzip { .. }
            ),
            DownloadError::Refused(_)
            | DownloadError::BadSign
            | DownloadError::Unverified(_)
            | DownloadError::BadAnswer(_)
            | DownloadError::HashMismatch { .. }
            | DownloadError::File(_)
            | DownloadError::Tls(_) => false,
        }
    }
}

/// The answer WeChat Pay gave instead of a bill, sorted by what to do about it.
fn classify(error: ClientError) -> Result<Downloaded, DownloadError> {
    if let Some(tls) = error.tls_failure() {
        return Err(DownloadError::Tls(tls));
    }
    let words = |text: &str| text.to_ascii_lowercase().replace('_', " ");
    match error {
        ClientError::Protocol { message } => {
            let said = words(&message);
            if said.contains("no bill exist") {
                // The URL is what was asked; the caller knows it.
                Ok(Downloaded::NoBill {
                    source_url: String::new(),
                })
            } else if said.contains("bill creating") {
                Err(DownloadError::Creating)
            } else if said.contains("system error")
                || said.contains("systemerror")
                || said.contains("compressgzip error")
            {
                Err(DownloadError::Temporary(format!(
                    "WeChat Pay had a fault: {message}"
                )))
            } else {
                Err(DownloadError::Refused(message))
            }
        }
        ClientError::Refused { code, description } => match code.as_str() {
            "NO_BILL_EXIST" => Ok(Downloaded::NoBill {
                source_url: String::new(),
            }),
            "BILL_CREATING" => Err(DownloadError::Creating),
            "SYSTEMERROR" => Err(DownloadError::Temporary(format!(
                "WeChat Pay had a fault: SYSTEMERROR {description}"
            ))),
            _ => Err(DownloadError::Refused(format!("{code} {description}"))),
        },
        // v3's names for the same answers (reference B5).
        ClientError::RefusedV3 {
            status,
            code,
            message,
        } => match code.as_str() {
            "NO_STATEMENT_EXIST" => Ok(Downloaded::NoBill {
                source_url: String::new(),
            }),
            "STATEMENT_CREATING" => Err(DownloadError::Creating),
            _ if status >= 500 || status == 429 => Err(DownloadError::Temporary(format!(
                "WeChat Pay had a fault: HTTP {status} {code} {message}"
            ))),
            _ => Err(DownloadError::Refused(format!("{code} {message}"))),
        },
        // An answer that is unsigned, or signed for another merchant, is as untrustworthy as
        // one whose sign fails.
        ClientError::BadSign(_) | ClientError::MissingSign | ClientError::Mismatch { .. } => {
            Err(DownloadError::BadSign)
        }
        ClientError::Unverified(e) => Err(DownloadError::Unverified(e)),
        ClientError::Status { status, .. } if status < 500 => {
            Err(DownloadError::Refused(error.to_string()))
        }
        other @ (ClientError::Transport { .. }
        | ClientError::Status { .. }
        | ClientError::Malformed { .. }
        | ClientError::Payload { .. }) => Err(DownloadError::Temporary(other.to_string())),
    }
}

/// How often to try a bill, `retries` + 1 times in all, and how long to wait between tries:
/// about half a second, doubling each time without a cap, so that a few retries span the
/// minutes a bill may take to be made.
pub fn retry_policy(retries: u32) -> RetryPolicy {
    RetryPolicy {
        attempts: retries + 1,
        base_delay: Duration::from_millis(500),
        max_delay: Duration::MAX,
    }
}

/// Told how much of a bill has arrived: the bytes so far, and all of them when the server
/// said how many (Content-Length).
pub type OnBytes = Arc<dyn Fn(u64, Option<u64>) + Send + Sync>;

/// Downloads one bill to `path`, trying again on temporary faults.
pub async fn fetch(
    gateway: &Gateway,
    source: Source,
    date: Date,
    gzip: bool,
    path: &Path,
    retry: RetryPolicy,
    on_bytes: Option<OnBytes>,
) -> Result<Downloaded, DownloadError> {
    let mut attempt = 1;
    loop {
        let once = match gateway {
            Gateway::V2(client) => {
                fetch_once(client, source, date, gzip, path, on_bytes.clone()).await
            }
            Gateway::V3(client) => {
                fetch_once_v3(client, source, date, gzip, path, on_bytes.clone()).await
            }
        };
        match once {
            Err(e) if e.is_temporary() && attempt < retry.attempts.max(1) => {
                attempt += 1;
                tokio::time::sleep(retry.delay(attempt)).await;
            }
            other => return other,
        }
    }
}

async fn fetch_once(
    client: &Client,
    source: Source,
    date: Date,
    gzip: bool,
    path: &Path,
    on_bytes: Option<OnBytes>,
) -> Result<Downloaded, DownloadError> {
    let fields = source.fields(date, gzip);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body = match client.download_stream(source.endpoint(), &fields).await {
        Ok(body) => body,
        Err(error) => return asked_at(classify(error), client.bill_url(source.endpoint())),
    };
    save_blocking(path, body, on_bytes, None).await
}

/// API v3 (B6): apply for the bill (a signed, verified JSON answer with the file's SHA-1 and
/// where to get it), then download it; the decompressed bill must have that SHA-1, or it is
/// not saved.
async fn fetch_once_v3(
    client: &V3Client,
    source: Source,
    date: Date,
    gzip: bool,
    path: &Path,
    on_bytes: Option<OnBytes>,
) -> Result<Downloaded, DownloadError> {
    let apply = source.v3_apply(date, gzip);
    let answer = match client.send(&apply).await {
        Ok(answer) => answer.unwrap_or_default(),
        Err(failed) => return asked_at(classify(failed.error), client.shown_url(&apply)),
    };
    let text = |name: &str| answer.get(name).and_then(serde_json::Value::as_str);
    // Verified, yet not B6's answer: asking again gets the same.
    let malformed = |problem: &str| DownloadError::BadAnswer(problem.to_owned());
    if !text("hash_type").is_some_and(|t| t.eq_ignore_ascii_case("SHA1")) {
        return Err(malformed("has no hash_type SHA1"));
    }
    let expected = text("hash_value")
        .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| malformed("has no hash_value of 40 hex digits"))?
        .to_ascii_lowercase();
    let url = text("download_url").ok_or_else(|| malformed("has no download_url"))?;
    let body = match client.download_stream(url).await {
        // Recorded as where the bill was asked for: the download URL's token is good once.
        Ok(body) => body.shown_as(client.shown_url(&apply)),
        Err(ClientError::Payload { problem, .. }) => {
            return Err(malformed(&format!("gives a download_url that {problem}")));
        }
        Err(error) => return classify(error),
    };
    save_blocking(path, body, on_bytes, Some(expected)).await
}

/// A day without a bill, named by the URL it was asked at (a refusal does not say).
fn asked_at(
    outcome: Result<Downloaded, DownloadError>,
    source_url: String,
) -> Result<Downloaded, DownloadError> {
    outcome.map(|outcome| match outcome {
        Downloaded::NoBill { .. } => Downloaded::NoBill { source_url },
        saved => saved,
    })
}

async fn save_blocking(
    path: &Path,
    body: BillBody,
    on_bytes: Option<OnBytes>,
    sha1: Option<String>,
) -> Result<Downloaded, DownloadError> {
    let path = path.to_owned();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || save(&path, body, &runtime, on_bytes, sha1))
        .await
        .map_err(|e| DownloadError::Temporary(format!("the download stopped: {e}")))?
        .map(|saved| Downloaded::Saved(Box::new(saved)))
}

/// Streams the body into a temporary file beside `path`; renamed into place only when the
/// whole bill has arrived, parsed and (given `sha1`) has that SHA-1 decompressed, so a
/// failure leaves nothing under `path`.
fn save(
    path: &Path,
    mut body: BillBody,
    runtime: &tokio::runtime::Handle,
    on_bytes: Option<OnBytes>,
    sha1: Option<String>,
) -> Result<SavedBill, DownloadError> {
    let source_url = body.url().to_owned();
    let size = body.content_length();
    let written = write_atomic(path, |out| {
        let mut sink = Sink::new(out, sha1.is_some());
        let mut received = 0u64;
        while let Some(chunk) = runtime.block_on(body.chunk()).map_err(|e| {
            DownloadError::Temporary(format!(
                "the connection broke after {received} bytes of the bill: {e}"
            ))
        })? {
            received += chunk.len() as u64;
            if let Some(on_bytes) = &on_bytes {
                on_bytes(received, size);
            }
            sink.write(&chunk).map_err(|e| sink_error(path, e))?;
        }
        let (finished, gzip) = sink.finish().map_err(|e| sink_error(path, e))?;
        if let (Some(expected), Some(received)) = (&sha1, &finished.sha1)
            && expected != received
        {
            return Err(DownloadError::HashMismatch {
                expected: expected.clone(),
                received: received.clone(),
            });
        }
        Ok((finished, gzip))
    });
    let (checked, gzip) = written.map_err(|e| match e {
        WriteError::File(e) => DownloadError::File(e),
        WriteError::Inner(e) => e,
    })?;
    Ok(SavedBill {
        path: path.to_owned(),
        bytes: checked.bytes,
        sha256: checked.sha256,
        gzip,
        report: checked.report,
        source_url,
    })
}

/// Why writing the bill stopped: the file, or the bill itself.
enum SinkError {
    Io(io::Error),
    Bill(BillError),
}

fn sink_error(path: &Path, error: SinkError) -> DownloadError {
    match error {
        SinkError::Io(e) => DownloadError::File(FileError::new(path, e)),
        SinkError::Bill(e) => DownloadError::Bill(e),
    }
}

/// The bytes of the bill as it will be on disk: written, hashed and parsed as they pass.
struct Checked<'w> {
    out: &'w mut dyn Write,
    hasher: Sha256,
    /// API v3's check of the bill (B6), when asked for: SHA-1 from ring, as rustls brings it.
    sha1: Option<ring::digest::Context>,
    bytes: u64,
    parser: Parser,
    /// A parse error, kept while an `io::Error` carries the news through the gzip decoder.
    failed: Option<BillError>,
}

struct Finished {
    bytes: u64,
    sha256: String,
    /// Lower-case hex.
    sha1: Option<String>,
    report: Report,
}

fn ignore(_: &super::parse::BillRecord<'_>) -> Result<(), Infallible> {
    Ok(())
}

impl<'w> Checked<'w> {
    fn new(out: &'w mut dyn Write, sha1: bool) -> Self {
        Checked {
            out,
            hasher: Sha256::new(),
            sha1: sha1.then(|| ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY)),
            bytes: 0,
            parser: Parser::new(),
            failed: None,
        }
    }

    fn take(&mut self, data: &[u8]) -> Result<(), SinkError> {
        self.out.write_all(data).map_err(SinkError::Io)?;
        self.hasher.update(data);
        if let Some(sha1) = &mut self.sha1 {
            sha1.update(data);
        }
        self.bytes += data.len() as u64;
        self.parser
            .feed(data, &mut ignore)
            .map_err(|e| SinkError::Bill(bill_error(e)))
    }

    fn finish(mut self) -> Result<Finished, SinkError> {
        let report = self
            .parser
            .finish(&mut ignore)
            .map_err(|e| SinkError::Bill(bill_error(e)))?;
        let hex = |bytes: &[u8]| crate::wechat::hex_upper(bytes).to_lowercase();
        Ok(Finished {
            bytes: self.bytes,
            sha256: hex(&self.hasher.finalize()),
            sha1: self.sha1.map(|sha1| hex(sha1.finish().as_ref())),
            report,
        })
    }
}

fn bill_error(error: ParseError<Infallible>) -> BillError {
    match error {
        ParseError::Bill(e) => e,
        ParseError::Visit(never) => match never {},
    }
}

/// For the gzip decoder, which writes its output into an `io::Write`.
impl Write for Checked<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.take(data) {
            Ok(()) => Ok(data.len()),
            Err(SinkError::Io(e)) => Err(e),
            Err(SinkError::Bill(e)) => {
                self.failed = Some(e);
                Err(io::Error::other("not a bill"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The body on its way to disk: plain, or gzip decompressed, decided by the first bytes.
struct Sink<'w> {
    /// The first bytes, until there are enough to decide.
    head: Vec<u8>,
    state: State<'w>,
}

enum State<'w> {
    Undecided(Checked<'w>),
    Plain(Checked<'w>),
    Gzip(Box<flate2::write::GzDecoder<Checked<'w>>>),
    /// Only while deciding.
    Deciding,
}

impl<'w> Sink<'w> {
    fn new(out: &'w mut dyn Write, sha1: bool) -> Self {
        Sink {
            head: Vec::new(),
            state: State::Undecided(Checked::new(out, sha1)),
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), SinkError> {
        match &mut self.state {
            State::Undecided(_) => {
                self.head.extend_from_slice(data);
                if self.head.len() < GZIP_MAGIC.len() {
                    return Ok(());
                }
                self.decide()
            }
            State::Plain(out) => out.take(data),
            State::Gzip(decoder) => gunzip(decoder, |d| d.write_all(data)),
            State::Deciding => unreachable!("only while deciding"),
        }
    }

    /// Picks plain or gzip from the first bytes, and passes them on.
    fn decide(&mut self) -> Result<(), SinkError> {
        let State::Undecided(mut out) = std::mem::replace(&mut self.state, State::Deciding) else {
            unreachable!("decided once");
        };
        let head = std::mem::take(&mut self.head);
        if head.starts_with(&GZIP_MAGIC) {
            let mut decoder = Box::new(flate2::write::GzDecoder::new(out));
            let written = gunzip(&mut decoder, |d| d.write_all(&head));
            self.state = State::Gzip(decoder);
            written
        } else {
            let written = out.take(&head);
            self.state = State::Plain(out);
            written
        }
    }

    /// Ends the bill; returns what was written and whether it came gzip-compressed.
    fn finish(mut self) -> Result<(Finished, bool), SinkError> {
        if matches!(self.state, State::Undecided(_)) {
            self.decide()?;
        }
        match self.state {
            State::Plain(out) => out.finish().map(|f| (f, false)),
            State::Gzip(mut decoder) => {
                gunzip(&mut decoder, |d| d.try_finish())?;
                let out = decoder.finish().map_err(|e| gzip_failure(None, e))?;
                out.finish().map(|f| (f, true))
            }
            State::Undecided(_) | State::Deciding => unreachable!("decided above"),
        }
    }
}

/// Runs a step of the gzip decoder, telling a damaged stream from a bill that does not parse.
fn gunzip<'w>(
    decoder: &mut flate2::write::GzDecoder<Checked<'w>>,
    step: impl FnOnce(&mut flate2::write::GzDecoder<Checked<'w>>) -> io::Result<()>,
) -> Result<(), SinkError> {
    let result = step(decoder);
    if let Some(failed) = decoder.get_mut().failed.take() {
        return Err(SinkError::Bill(failed));
    }
    let line = decoder.get_ref().parser.lines();
    result.map_err(|e| gzip_failure(Some(line), e))
}

fn gzip_failure(line: Option<u64>, source: io::Error) -> SinkError {
    SinkError::Bill(BillError::Gzip {
        line: line.unwrap_or(0),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn dates_today_in_the_future_or_older_than_three_months_are_refused() {
        // 01:00 Beijing on 2026-11-21 is still 2026-11-20 in UTC: the day is Beijing's.
        let now = datetime!(2026-11-20 17:00 UTC);
        assert!(check_date(date!(2026 - 11 - 20), now).is_ok());
        assert_eq!(
            check_date(date!(2026 - 11 - 21), now),
            Err(DateRefusal::NotOver("2026-11-21".into()))
        );
        assert!(check_date(date!(2026 - 12 - 01), now).is_err());
        assert!(check_date(date!(2026 - 08 - 21), now).is_ok());
        let too_old = check_date(date!(2026 - 08 - 20), now).unwrap_err();
        assert!(too_old.to_string().contains("from 2026-08-21"), "{too_old}");
        assert_eq!(
            oldest_bill_date(date!(2026 - 05 - 31)),
            date!(2026 - 02 - 28)
        );
    }

    #[test]
    fn ranges_hold_every_day_once() {
        let range: Vec<Date> = days(date!(2026 - 12 - 30), date!(2027 - 01 - 02)).collect();
        assert_eq!(range.len(), 4);
        assert_eq!(range[2], date!(2027 - 01 - 01));
        assert_eq!(
            days(date!(2026 - 12 - 30), date!(2026 - 12 - 30)).count(),
            1
        );
        assert_eq!(days(Date::MAX, Date::MAX).count(), 1);
    }

    #[test]
    fn files_are_named_by_merchant_date_and_type() {
        let path = bill_path(
            Path::new("/b"),
            "10000100",
            date!(2026 - 11 - 20),
            Source::FundFlow(FundAccount::Basic),
        );
        assert_eq!(path, Path::new("/b/10000100/2026-11-20.fundflow-Basic.csv"));
        assert_eq!(
            Source::Trade(BillType::All).fields(date!(2026 - 11 - 20), true),
            [
                ("bill_date", "20261120".to_owned()),
                ("bill_type", "ALL".to_owned()),
                ("tar_type", "GZIP".to_owned())
            ]
        );
    }

    fn sink_bytes(pieces: &[&[u8]]) -> Result<(Vec<u8>, Finished, bool), SinkError> {
        let mut file = Vec::new();
        let (finished, gzip) = {
            let mut sink = Sink::new(&mut file, true);
            for piece in pieces {
                sink.write(piece)?;
            }
            sink.finish()?
        };
        Ok((file, finished, gzip))
    }

    #[test]
    fn the_sink_keeps_the_decompressed_bytes_and_checks_them() {
        let bill = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/real/bill.ALL.probe.csv"
        ))
        .unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&bill).unwrap();
        let gzip = encoder.finish().unwrap();
        for (input, compressed) in [(&bill, false), (&gzip, true)] {
            let pieces: Vec<&[u8]> = input
                .chunks(1)
                .take(3)
                .chain(input[3..].chunks(777))
                .collect();
            let (file, finished, gzip) = sink_bytes(&pieces).unwrap_or_else(|_| panic!());
            assert_eq!(file, bill);
            assert_eq!(gzip, compressed);
            assert_eq!(finished.bytes, bill.len() as u64);
            assert_eq!(finished.report.rows, 45);
            assert_eq!(
                finished.sha256,
                crate::wechat::hex_upper(&Sha256::digest(&bill)).to_lowercase()
            );
            // API v3's hash_value is the SHA-1 of the decompressed bill (B6).
            let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &bill);
            assert_eq!(
                finished.sha1.as_deref(),
                Some(
                    crate::wechat::hex_upper(sha1.as_ref())
                        .to_lowercase()
                        .as_str()
                )
            );
        }
        // A gzip stream that ends early, and a plain bill cut mid-line.
        for cut in [&gzip[..gzip.len() - 30], &bill[..bill.len() - 30]] {
            match sink_bytes(&[cut]) {
                Err(SinkError::Bill(BillError::Gzip { .. } | BillError::CutMidLine { .. })) => {}
                Err(SinkError::Bill(other)) => panic!("{other}"),
                _ => panic!("a cut bill was accepted"),
            }
        }
    }

    #[test]
    fn refusals_are_sorted_by_what_to_do() {
        let protocol = |m: &str| classify(ClientError::Protocol { message: m.into() });
        assert!(matches!(
            protocol("No Bill Exist"),
            Ok(Downloaded::NoBill { .. })
        ));
        assert!(matches!(
            protocol("NO Bill Exist"),
            Ok(Downloaded::NoBill { .. })
        ));
        assert!(matches!(
            protocol("Bill Creating"),
            Err(DownloadError::Creating)
        ));
        assert!(protocol("SYSTEMERROR").unwrap_err().is_temporary());
        assert!(!protocol("invalid bill_date").unwrap_err().is_temporary());
        let refused = |code: &str| {
            classify(ClientError::Refused {
                code: code.into(),
                description: String::new(),
            })
        };
        assert!(matches!(
            refused("NO_BILL_EXIST"),
            Ok(Downloaded::NoBill { .. })
        ));
        assert!(matches!(
            refused("BILL_CREATING"),
            Err(DownloadError::Creating)
        ));
        assert!(refused("SYSTEMERROR").unwrap_err().is_temporary());
        assert!(!refused("PARAM_ERROR").unwrap_err().is_temporary());
    }
}
