//! The WeChat Pay API v3 endpoints (reference B1–B6): orders, refunds, bills, certificates and
//! callbacks, over the same state as v2: an order placed on either API is queried, closed and
//! refunded on the other. A v3 request is
//! authenticated by its `Authorization` header (the merchant's RSA signature), then read into
//! the fields of its v2 counterpart, so that one set of business rules (lengths, amounts,
//! expiry, repeated order numbers) judges both; the answer is JSON, signed with the emulator's
//! WeChat Pay key, and a refusal is v3's error JSON, unsigned as real servers send it.
//!
//! Merchants' v3 keys are WeChat's published documentation key (the default merchant) and a
//! few shipped ones ([`credentials`]).

use std::sync::OnceLock;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::api::Endpoint as V2Endpoint;
use super::core::{Body, Call, Core, Reply};
use super::faults::FaultKind;
use super::lock;
use super::merchant::DEFAULT_MCH_ID;
use super::state::{Account, Order, REFUND_RECEIVED_INTO, Refund, RefundStatus, Refusal};
use crate::time::{api_time, rfc3339};
use crate::wechat::ApiV3Key;
use crate::wechat::sign::nonce_str;
use crate::wechat::v3::notify::encrypt;
use crate::wechat::v3::{
    Authorization, MerchantKey, SCHEME, VerifyKey, WINDOW_SECONDS, answer_message, request_message,
};
use crate::wechat::{Message, SignType};

/// The ID of the emulator's WeChat Pay public key, which names it in `Wechatpay-Serial`.
pub const WECHATPAY_PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0119000001092026120700000001";

/// The emulator's WeChat Pay public key, for a merchant's profile (`wechatpay_public_key_pem`).
pub const WECHATPAY_PUBLIC_KEY: &str = include_str!("keys/wechatpay_public_key.pem");

/// The default merchant's v3 private key: WeChat Pay's own documentation key, so that the
/// official vectors hold against the emulator.
pub const DEFAULT_MERCHANT_PRIVATE_KEY: &str =
    include_str!("../wechat/v3/testdata/doc_private_key.pem");

/// The default merchant's APIv3 key (APIv3密钥), which encrypts its v3 callbacks.
pub const DEFAULT_MERCHANT_APIV3_KEY: &str = "EmulatorV3Key0123456789abcdefABC";

/// The serial of the default merchant's API certificate, as its requests name it.
pub const DEFAULT_MERCHANT_SERIAL: &str = "4F1E7D9C2A6B3E8F0D5C7A9B1E3F5D7C";

/// The emulator's WeChat Pay private key, for `notify check --api v3`, whose callbacks a
/// handler set up against the emulator verifies with [`WECHATPAY_PUBLIC_KEY`].
pub fn wechatpay_signing_key() -> MerchantKey {
    MerchantKey::from_pem(include_bytes!("keys/wechatpay_private_key.pem"))
        .expect("the emulator's key is a PKCS#8 RSA key")
}

fn wechatpay_key() -> &'static MerchantKey {
    static KEY: OnceLock<MerchantKey> = OnceLock::new();
    KEY.get_or_init(wechatpay_signing_key)
}

/// The second platform certificate's key, which signs after a rotation.
fn rotated_key() -> &'static MerchantKey {
    static KEY: OnceLock<MerchantKey> = OnceLock::new();
    KEY.get_or_init(|| {
        MerchantKey::from_pem(include_bytes!("keys/wechatpay_platform_key_2.pem"))
            .expect("the emulator's second key is a PKCS#8 RSA key")
    })
}

/// The emulator's platform certificates (B2's legacy mode; keys/README.md): the first over
/// the same key pair as the public key, the second over another, for a rotation.
pub const PLATFORM_CERTIFICATES: [(&str, &str); 2] = [
    (
        "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC",
        include_str!("keys/wechatpay_platform_cert_1.pem"),
    ),
    (
        "3C21F8A6B09E5D47C2A0E9F4D1B8C6A57E3F2D19",
        include_str!("keys/wechatpay_platform_cert_2.pem"),
    ),
];

/// Both certificates' validity, as the files hold it.
const PLATFORM_EFFECTIVE: &str = "2026-01-01T08:00:00+08:00";
const PLATFORM_EXPIRES: &str = "2126-01-01T08:00:00+08:00";

/// Which key signs the emulator's v3 answers and callbacks, and which serial names it (B2's
/// two modes); switched on the control plane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum V3Signing {
    /// The WeChat Pay public key: `Wechatpay-Serial` is its key ID.
    #[default]
    PublicKey,
    /// Platform certificate 1, over the same key: its serial.
    Certificate,
    /// After a rotation: platform certificate 2, another key; `/v3/certificates` lists both.
    RotatedCertificate,
}

impl V3Signing {
    fn signer(self) -> (&'static MerchantKey, &'static str) {
        match self {
            V3Signing::PublicKey => (wechatpay_key(), WECHATPAY_PUBLIC_KEY_ID),
            V3Signing::Certificate => (wechatpay_key(), PLATFORM_CERTIFICATES[0].0),
            V3Signing::RotatedCertificate => (rotated_key(), PLATFORM_CERTIFICATES[1].0),
        }
    }

    /// The certificates `/v3/certificates` lists: during a rotation, old and new.
    fn certificates(self) -> &'static [(&'static str, &'static str)] {
        match self {
            V3Signing::RotatedCertificate => &PLATFORM_CERTIFICATES,
            _ => &PLATFORM_CERTIFICATES[..1],
        }
    }
}

/// The v3 keys of the merchants after the default one, in their order (keys/README.md): RSA
/// keys cannot be made here (ring cannot), so a few are made once and shipped.
const MERCHANT_KEYS: [(&str, &str); 3] = [
    (
        "6A1C3E5B7D9F2B4D6F8A1C3E5B7D9F21",
        include_str!("keys/merchant_v3_key_1.pem"),
    ),
    (
        "6A1C3E5B7D9F2B4D6F8A1C3E5B7D9F22",
        include_str!("keys/merchant_v3_key_2.pem"),
    ),
    (
        "6A1C3E5B7D9F2B4D6F8A1C3E5B7D9F23",
        include_str!("keys/merchant_v3_key_3.pem"),
    ),
];

/// A merchant's API v3 credentials on the emulator.
#[derive(Clone)]
pub struct V3Credentials {
    /// The merchant's private key, PEM, which its profile names.
    pub private_key_pem: &'static str,
    /// Its API certificate's serial, which its requests name.
    pub serial: String,
    /// What its requests are checked with.
    pub public: VerifyKey,
    /// Its APIv3 key, which encrypts its callbacks and certificates.
    pub apiv3_key: ApiV3Key,
}

/// The v3 credentials of each merchant that has them: the default merchant WeChat Pay's
/// documentation key, the next ones a shipped key each, with an APIv3 key derived from the
/// merchant's API key (as the sandbox key is, so that a restart keeps it).
pub fn credentials(
    merchants: &[crate::emulator::merchant::Merchant],
) -> Vec<(String, V3Credentials)> {
    let mut pool = MERCHANT_KEYS.iter();
    let mut found = Vec::new();
    for merchant in merchants {
        let (serial, pem, apiv3_key) = if merchant.mch_id == DEFAULT_MCH_ID {
            let key = ApiV3Key::new(DEFAULT_MERCHANT_APIV3_KEY);
            (DEFAULT_MERCHANT_SERIAL, DEFAULT_MERCHANT_PRIVATE_KEY, key)
        } else if let Some((serial, pem)) = pool.next() {
            (*serial, *pem, merchant.apiv3_key())
        } else {
            continue;
        };
        let public = MerchantKey::from_pem(pem.as_bytes())
            .expect("the emulator's merchant keys are PKCS#8 RSA keys")
            .verify_key(serial);
        let credentials = V3Credentials {
            private_key_pem: pem,
            serial: serial.to_owned(),
            public,
            apiv3_key,
        };
        found.push((merchant.mch_id.clone(), credentials));
    }
    found
}

/// What a v3 request is answered with: JSON (None: a 204), signed; or a bill file, as is.
enum Answered {
    Json(Option<Value>),
    File(Reply),
}

/// A v3 request as the server received it.
pub struct V3Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
    /// `scheme://host` the request came to, for the URLs an answer gives.
    pub origin: &'a str,
}

/// A v3 refusal: the HTTP status and the error JSON's code and message.
struct V3Error {
    status: u16,
    code: &'static str,
    message: String,
}

fn error(status: u16, code: &'static str, message: impl Into<String>) -> V3Error {
    V3Error {
        status,
        code,
        message: message.into(),
    }
}

fn sign_error(message: &str) -> V3Error {
    error(401, "SIGN_ERROR", message)
}

fn param_error(message: impl Into<String>) -> V3Error {
    error(400, "PARAM_ERROR", message)
}

/// The v3 status and code of a v2 refusal of the same request (B5).
fn of_refusal(refusal: Refusal) -> V3Error {
    let (status, code) = match refusal.code {
        "ORDERPAID" => (400, "ORDER_PAID"),
        "ORDERCLOSED" => (400, "ORDER_CLOSED"),
        "ORDERNOTEXIST" => (404, "ORDER_NOT_EXIST"),
        "OUT_TRADE_NO_USED" => (403, "OUT_TRADE_NO_USED"),
        // UNCONFIRMED: v3 has no code of its own for these refund refusals; its refund page
        // answers business-rule refusals as INVALID_REQUEST.
        "INVALID_REQUEST" | "ERROR" | "TRADE_OVERDUE" | "TRADE_STATE_ERROR" => {
            (400, "INVALID_REQUEST")
        }
        "USER_ACCOUNT_ABNORMAL" => (403, "USER_ACCOUNT_ABNORMAL"),
        "BIZERR_NEED_RETRY" => (500, "BIZ_ERR_NEED_RETRY"),
        "NOAUTH" => (403, "NO_AUTH"),
        "REFUNDNOTEXIST" => (404, "RESOURCE_NOT_EXISTS"),
        "NOTENOUGH" => (403, "NOT_ENOUGH"),
        "FREQUENCY_LIMITED" => (429, "FREQUENCY_LIMITED"),
        "SYSTEMERROR" => (500, "SYSTEM_ERROR"),
        "BANKERROR" => (500, "BANK_ERROR"),
        _ => (400, "PARAM_ERROR"),
    };
    error(status, code, refusal.description)
}

/// What a v3 request is about; the order numbers as the path names them, percent-decoded
/// (an out_trade_no may hold `|` and `*`, which clients encode).
enum Route {
    Prepay(&'static str),
    QueryByOutTradeNo(String),
    QueryById(String),
    Close(String),
    Refund,
    RefundQuery(String),
    Bill(bills::Kind),
    BillFile,
    Certificates,
}

fn route(method: &str, path: &str) -> Option<Route> {
    match (method, path) {
        ("GET", "/v3/bill/tradebill") => return Some(Route::Bill(bills::Kind::Trade)),
        ("GET", "/v3/bill/fundflowbill") => return Some(Route::Bill(bills::Kind::FundFlow)),
        ("GET", bills::FILE_PATH) => return Some(Route::BillFile),
        ("GET", "/v3/certificates") => return Some(Route::Certificates),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/v3/refund/domestic/refunds") {
        return match (method, rest) {
            ("POST", "") => Some(Route::Refund),
            ("GET", rest) => {
                let number = rest
                    .strip_prefix('/')
                    .filter(|n| !n.is_empty() && !n.contains('/'))?;
                Some(Route::RefundQuery(decoded(number)?))
            }
            _ => None,
        };
    }
    let rest = path.strip_prefix("/v3/pay/transactions/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", [kind]) => ["jsapi", "app", "h5", "native"]
            .into_iter()
            .find(|k| k == kind)
            .map(Route::Prepay),
        ("GET", ["out-trade-no", number]) => Some(Route::QueryByOutTradeNo(decoded(number)?)),
        ("GET", ["id", id]) => Some(Route::QueryById(decoded(id)?)),
        ("POST", ["out-trade-no", number, "close"]) => Some(Route::Close(decoded(number)?)),
        _ => None,
    }
}

/// A path segment with its `%XX` escapes decoded; none when they do not make UTF-8.
fn decoded(segment: &str) -> Option<String> {
    let text = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()?;
    Some(text.into_owned())
}

/// The query's `mchid`, which v3 queries name the merchant by.
fn query_mch_id(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "mchid")
        .map(|(_, value)| value.into_owned())
}

impl Core {
    /// A merchant's v3 credentials; None for one without (beyond the shipped keys).
    pub fn v3_credentials(&self, mch_id: &str) -> Option<&V3Credentials> {
        (self.v3_credentials.iter())
            .find(|(id, _)| id == mch_id)
            .map(|(_, credentials)| credentials)
    }

    /// Answers a v3 request, with the fault injected for its path if one is pending; every
    /// request is logged, as v2's are.
    pub fn v3(&self, request: &V3Request<'_>) -> Reply {
        self.settle();
        let fault = lock(&self.faults).take(request.path);
        let early = match &fault {
            Some(FaultKind::Http500) => Some(Reply::text(500, "Internal Server Error")),
            Some(FaultKind::Http503) => Some(Reply::text(503, "Service Unavailable")),
            Some(FaultKind::SystemError) => {
                Some(error_reply(&error(500, "SYSTEM_ERROR", "系统错误")))
            }
            _ => None,
        };
        let (mut reply, mch_id) = match early {
            Some(reply) => (reply, String::new()),
            None => match self.v3_answer(request, fault == Some(FaultKind::BillCreating)) {
                Ok((Answered::File(reply), mch_id)) => (reply, mch_id),
                Ok((Answered::Json(mut answer), mch_id)) => {
                    match (&fault, &mut answer) {
                        (Some(FaultKind::ForeignAnswer), Some(answer)) => foreign(answer),
                        (Some(FaultKind::WrongHash), Some(answer)) => wrong_hash(answer),
                        _ => {}
                    }
                    let mut bytes = answer.map(|a| a.to_string().into_bytes());
                    if let (Some(FaultKind::MalformedXml), Some(bytes)) = (&fault, &mut bytes) {
                        bytes.truncate(bytes.len() / 2);
                    }
                    let signing = *lock(&self.notifier.v3_signing);
                    let mut reply = signed_reply(bytes, OffsetDateTime::now_utc(), signing);
                    if fault == Some(FaultKind::BadSign) {
                        corrupt_signature(&mut reply);
                    }
                    (reply, mch_id)
                }
                Err((e, mch_id)) => (error_reply(&e), mch_id),
            },
        };
        let outcome = match reply.status {
            200..300 => "SUCCESS".to_owned(),
            status => {
                let code = (reply.body.bytes())
                    .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                    .and_then(|v| v["code"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                format!("HTTP {status} {code}").trim_end().to_owned()
            }
        };
        if matches!(
            fault,
            Some(FaultKind::Drop | FaultKind::Truncate | FaultKind::Delay { .. })
        ) {
            reply.transport = fault.clone();
        }
        let call = (request.method, request.path, request.body);
        self.log_call(call, mch_id, outcome, fault);
        reply
    }

    /// The answer's JSON (None: a 204) and the merchant, or the refusal.
    fn v3_answer(
        &self,
        request: &V3Request<'_>,
        creating: bool,
    ) -> Result<(Answered, String), (V3Error, String)> {
        let Some(route) = route(request.method, request.path) else {
            return Err((error(404, "NOT_FOUND", "请求的资源不存在"), String::new()));
        };
        let auth = self
            .authenticate_v3(request)
            .map_err(|e| (e, String::new()))?;
        let mch_id = auth.mch_id.clone();
        let fail = |e: V3Error| (e, mch_id.clone());
        let merchant = self.merchant(&auth.mch_id).expect("authenticated");
        let account = Account::direct(&merchant.mch_id);
        let now = self.clock.now();
        let bill_call = |message| Call {
            merchant,
            account: account.clone(),
            appid: merchant.appids.first().cloned().unwrap_or_default(),
            sub_appid: None,
            sign_type: SignType::HmacSha256,
            key: merchant.key.clone(),
            message,
            sandbox: false,
        };
        // An outcome set on the control plane refuses the request as it would v2's (B5's
        // statuses for v2's err_codes).
        let outcome = |endpoint: V2Endpoint, fields: &[(&str, &str)]| {
            let mut message = Message::new();
            for (name, value) in fields {
                message.set(name, *value);
            }
            match self.outcome_for(endpoint, &bill_call(message)) {
                Some(refusal) => Err(fail(of_refusal(refusal))),
                None => Ok(()),
            }
        };
        let answer = match route {
            Route::Bill(kind) => {
                let query = request.query;
                let applied = self.apply_for_bill(bill_call, kind, query, request.origin, creating);
                Some(applied.map_err(fail)?)
            }
            Route::Certificates => {
                let signing = *lock(&self.notifier.v3_signing);
                let credentials = self.v3_credentials(&auth.mch_id).expect("authenticated");
                Some(certificates(&credentials.apiv3_key, signing).map_err(fail)?)
            }
            Route::BillFile => {
                let file = self.bill_file(bill_call, &account, request.query);
                return Ok((Answered::File(file.map_err(fail)?), mch_id));
            }
            Route::Prepay(kind) => {
                let message = prepay_message(kind, request.body, &auth.mch_id).map_err(fail)?;
                let appid = message.get("appid").unwrap_or("").to_owned();
                if !merchant.appids.contains(&appid) {
                    return Err(fail(error(
                        400,
                        "APPID_MCHID_NOT_MATCH",
                        "appid和mch_id不匹配",
                    )));
                }
                let call = Call {
                    merchant,
                    account: account.clone(),
                    appid,
                    sub_appid: None,
                    sign_type: SignType::Md5,
                    key: merchant.key.clone(),
                    message,
                    sandbox: false,
                };
                let out_trade_no = call.message.get("out_trade_no").unwrap_or("").to_owned();
                outcome(V2Endpoint::UnifiedOrder, &[("out_trade_no", &out_trade_no)])?;
                let placed = self
                    .unified_order(&call, now, None)
                    .map_err(|r| fail(of_refusal(r)))?;
                lock(self.ledger(false)).mark_v3_order(&account, &out_trade_no);
                let field = |name: &str| placed.get(name).unwrap_or("").to_owned();
                Some(match kind {
                    "native" => json!({ "code_url": field("code_url") }),
                    "h5" => json!({ "h5_url": field("mweb_url") }),
                    _ => json!({ "prepay_id": field("prepay_id") }),
                })
            }
            Route::QueryByOutTradeNo(_) | Route::QueryById(_) => {
                if query_mch_id(request.query).as_deref() != Some(auth.mch_id.as_str()) {
                    return Err(fail(param_error("mchid与请求头中的商户号不一致，或未传入")));
                }
                let (id, number) = match &route {
                    Route::QueryById(id) => (Some(id.as_str()), None),
                    Route::QueryByOutTradeNo(number) => (None, Some(number.as_str())),
                    _ => unreachable!("matched above"),
                };
                let named = match (id, number) {
                    (Some(id), _) => ("transaction_id", id),
                    (_, number) => ("out_trade_no", number.unwrap_or_default()),
                };
                outcome(V2Endpoint::OrderQuery, &[named])?;
                let mut ledger = lock(self.ledger(false));
                let order = ledger
                    .find(&account, id, number, now)
                    .ok_or_else(|| fail(error(404, "ORDER_NOT_EXIST", "订单不存在")))?;
                Some(transaction(order))
            }
            Route::Close(number) => {
                let body: Value = serde_json::from_slice(request.body)
                    .map_err(|_| fail(param_error("请求体不是JSON")))?;
                if body["mchid"].as_str() != Some(auth.mch_id.as_str()) {
                    return Err(fail(param_error("mchid与请求头中的商户号不一致，或未传入")));
                }
                outcome(V2Endpoint::CloseOrder, &[("out_trade_no", &number)])?;
                lock(self.ledger(false))
                    .close(&account, &number, self.close_after(), now)
                    .map_err(|r| fail(of_refusal(r)))?;
                None
            }
            Route::Refund => {
                let message = refund_message(request.body).map_err(fail)?;
                let out_refund_no = message.get("out_refund_no").unwrap_or("").to_owned();
                let call = Call {
                    merchant,
                    account: account.clone(),
                    appid: merchant.appids.first().cloned().unwrap_or_default(),
                    sub_appid: None,
                    sign_type: SignType::Md5,
                    key: merchant.key.clone(),
                    message,
                    sandbox: false,
                };
                if let Some(refusal) = self.outcome_for(V2Endpoint::Refund, &call) {
                    return Err(fail(of_refusal(refusal)));
                }
                self.refund(&call, now, None)
                    .map_err(|r| fail(of_refusal(r)))?;
                let mut ledger = lock(self.ledger(false));
                ledger.mark_v3_refund(&account, &out_refund_no);
                let refund = ledger
                    .refund_by_out_no(&account, &out_refund_no)
                    .expect("the refund just made");
                Some(refund_json(refund))
            }
            Route::RefundQuery(number) => {
                outcome(V2Endpoint::RefundQuery, &[("out_refund_no", &number)])?;
                let ledger = lock(self.ledger(false));
                // UNCONFIRMED: B5 lists both RESOURCE_NOT_EXISTS and REFUND_NOT_EXISTS for
                // 404; the refund page's own table names the first.
                let refund = ledger
                    .refund_by_out_no(&account, &number)
                    .ok_or_else(|| fail(error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")))?;
                Some(refund_json(refund))
            }
        };
        Ok((Answered::Json(answer), mch_id))
    }

    /// The merchant's signature on the request (B1): the scheme, the five pairs, a merchant
    /// with a v3 key, its certificate's serial, a timestamp within 5 minutes, the signature.
    fn authenticate_v3(&self, request: &V3Request<'_>) -> Result<Authorization, V3Error> {
        let header = request
            .authorization
            .ok_or_else(|| sign_error("Http头缺少Authorization"))?;
        let auth = Authorization::parse(header).ok_or_else(|| {
            sign_error("Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》")
        })?;
        if self.merchant(&auth.mch_id).is_none() {
            return Err(error(400, "MCH_NOT_EXISTS", "商户号不存在"));
        }
        // UNCONFIRMED wording of these refusals; their status and code are B1's.
        let key = &(self.v3_credentials(&auth.mch_id))
            .ok_or_else(|| sign_error("商户未开通API v3或未上传API证书"))?
            .public;
        if !auth.serial.eq_ignore_ascii_case(&key.serial) {
            return Err(sign_error("商户证书序列号有误"));
        }
        let at: i64 = auth
            .timestamp
            .parse()
            .map_err(|_| sign_error("Authorization中的timestamp格式错误"))?;
        // Against this machine's clock, not the emulator's: that one plays business time (a
        // bill's day, an order's expiry) and may be moved; signatures are made with the real
        // time by the client, as they are checked with it by WeChat Pay.
        let real_now = OffsetDateTime::now_utc().unix_timestamp();
        if (real_now - at).unsigned_abs() >= WINDOW_SECONDS.unsigned_abs() {
            return Err(sign_error("请求的时间戳已过期"));
        }
        let url = match request.query {
            "" => request.path.to_owned(),
            query => format!("{}?{query}", request.path),
        };
        let message = request_message(request.method, &url, at as u64, &auth.nonce, request.body);
        if !key.verifies(&message, &auth.signature) {
            return Err(sign_error("签名错误"));
        }
        Ok(auth)
    }
}

/// A prepay request's JSON read into the fields of v2's unified order, whose rules then
/// judge it (B4 against A2).
fn prepay_message(kind: &str, body: &[u8], mch_id: &str) -> Result<Message, V3Error> {
    let body: Value =
        serde_json::from_slice(body).map_err(|_| param_error("请求体不是合法的JSON"))?;
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str);
    let need = |pointer: &'static str| {
        text(pointer).ok_or_else(|| param_error(format!("缺少参数 {pointer}")))
    };
    if need("/mchid")? != mch_id {
        return Err(param_error("mchid与请求头中的商户号不一致"));
    }
    let total = body
        .pointer("/amount/total")
        .and_then(Value::as_i64)
        .ok_or_else(|| param_error("缺少参数 /amount/total"))?;
    let trade_type = match kind {
        "jsapi" => "JSAPI",
        "app" => "APP",
        "h5" => "MWEB",
        _ => "NATIVE",
    };
    let mut message = Message::new();
    message
        .set("appid", need("/appid")?)
        .set("mch_id", mch_id)
        .set("body", need("/description")?)
        .set("out_trade_no", need("/out_trade_no")?)
        .set_int("total_fee", total)
        .set("fee_type", text("/amount/currency").unwrap_or("CNY"))
        .set("notify_url", need("/notify_url")?)
        .set("trade_type", trade_type)
        .set(
            "spbill_create_ip",
            text("/scene_info/payer_client_ip").unwrap_or("127.0.0.1"),
        );
    for (field, pointer) in [("attach", "/attach"), ("openid", "/payer/openid")] {
        if let Some(value) = text(pointer) {
            message.set(field, value);
        }
    }
    if trade_type == "JSAPI" && text("/payer/openid").is_none() {
        return Err(param_error("JSAPI下单需要传入 /payer/openid"));
    }
    match trade_type {
        // v3 has no product_id: its native order is the order itself.
        "NATIVE" => {
            message.set("product_id", need("/out_trade_no")?);
        }
        "MWEB" => {
            let info = body
                .pointer("/scene_info/h5_info")
                .and_then(Value::as_object)
                .ok_or_else(|| param_error("H5下单需要传入 /scene_info/h5_info"))?;
            // B4's H5Info; v3 refuses a field it does not know (B5, 270924358).
            const FIELDS: [&str; 5] = ["type", "app_name", "app_url", "bundle_id", "package_name"];
            if let Some(unknown) = info.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                return Err(param_error(format!(
                    "/scene_info/h5_info/{unknown} 不是合法的参数"
                )));
            }
            if !matches!(
                info.get("type").and_then(Value::as_str),
                Some("iOS" | "Android" | "Wap")
            ) {
                return Err(param_error(
                    "/scene_info/h5_info/type 应为 iOS、Android 或 Wap",
                ));
            }
            message.set("scene_info", json!({ "h5_info": info }).to_string());
        }
        _ => {}
    }
    if let Some(expire) = text("/time_expire") {
        let at = crate::time::parse_rfc3339(expire)
            .ok_or_else(|| param_error("time_expire格式错误，应为RFC3339格式"))?;
        message.set("time_expire", api_time(at));
    }
    Ok(message)
}

/// A refund request's JSON read into the fields of v2's refund (B4 against A2.4).
fn refund_message(body: &[u8]) -> Result<Message, V3Error> {
    let body: Value =
        serde_json::from_slice(body).map_err(|_| param_error("请求体不是合法的JSON"))?;
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str);
    let fen = |pointer: &'static str| {
        (body.pointer(pointer).and_then(Value::as_i64))
            .ok_or_else(|| param_error(format!("缺少参数 {pointer}")))
    };
    let mut message = Message::new();
    for (field, pointer) in [
        ("transaction_id", "/transaction_id"),
        ("out_trade_no", "/out_trade_no"),
        ("out_refund_no", "/out_refund_no"),
        ("refund_desc", "/reason"),
        ("notify_url", "/notify_url"),
    ] {
        if let Some(value) = text(pointer) {
            message.set(field, value);
        }
    }
    if text("/amount/currency") != Some("CNY") {
        return Err(param_error("缺少参数 /amount/currency，或不是CNY"));
    }
    message
        .set_int("total_fee", fen("/amount/total")?)
        .set_int("refund_fee", fen("/amount/refund")?);
    match text("/funds_account") {
        None => {}
        Some("AVAILABLE") => {
            message.set("refund_account", "REFUND_SOURCE_RECHARGE_FUNDS");
        }
        Some(_) => return Err(param_error("funds_account参数格式错误")),
    }
    Ok(message)
}

/// A refund as v3 describes it (B4's Refund); the emulator's coupons are all no-cash
/// discounts (免充值, `DISCOUNT`), so the payer's and the settlement amounts are the same.
fn refund_json(refund: &Refund) -> Value {
    let status = match refund.status {
        RefundStatus::Processing => "PROCESSING",
        RefundStatus::Success => "SUCCESS",
        RefundStatus::Change => "ABNORMAL",
        RefundStatus::RefundClose => "CLOSED",
    };
    let funds_account = match refund.refund_account.as_str() {
        "REFUND_SOURCE_RECHARGE_FUNDS" => "AVAILABLE",
        _ => "UNSETTLED",
    };
    let mut value = json!({
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": refund.transaction_id,
        "out_trade_no": refund.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": REFUND_RECEIVED_INTO,
        "create_time": rfc3339(refund.created_at),
        "status": status,
        "funds_account": funds_account,
        "amount": {
            "total": refund.total_fee,
            "refund": refund.refund_fee,
            "payer_total": refund.settlement_total_fee(),
            "payer_refund": refund.settlement_refund_fee(),
            "settlement_total": refund.settlement_total_fee(),
            "settlement_refund": refund.settlement_refund_fee(),
            "discount_refund": refund.coupon_refund_fee,
            "currency": "CNY",
        },
        "promotion_detail": [],
    });
    if let Some(at) = refund.success_time {
        value["success_time"] = json!(rfc3339(at));
    }
    if refund.coupon_refund_fee > 0 {
        value["promotion_detail"] = json!([{
            "promotion_id": refund.coupon_id,
            "scope": "GLOBAL",
            "type": "DISCOUNT",
            "amount": refund.coupon_fee,
            "refund_amount": refund.coupon_refund_fee,
        }]);
    }
    value
}

/// An order as v3 describes it (B4's Transaction): an unpaid order with the fields B4 lists
/// for one (UNCONFIRMED subset), a paid one with its payment.
fn transaction(order: &Order) -> Value {
    let mut value = json!({
        "appid": order.appid,
        "mchid": order.mch_id,
        "out_trade_no": order.out_trade_no,
        "trade_state": order.state.as_str(),
        "trade_state_desc": order.state.description(),
        "amount": { "total": order.total_fee, "currency": "CNY" },
    });
    if let Some(payment) = &order.payment {
        value["trade_type"] = json!(order.trade_type);
        value["attach"] = json!(order.attach);
        value["transaction_id"] = json!(payment.transaction_id);
        value["bank_type"] = json!(payment.bank_type);
        value["success_time"] = json!(rfc3339(payment.time_end));
        value["payer"] = json!({ "openid": payment.openid });
        value["amount"]["payer_total"] = json!(order.total_fee - payment.coupon_fee);
        value["amount"]["payer_currency"] = json!("CNY");
        // The emulator's coupons are no-cash (免充值): funded by the merchant (B4's NOCASH).
        value["promotion_detail"] = if payment.coupon_fee > 0 {
            json!([{
                "coupon_id": payment.coupon_id,
                "name": "免充值代金券",
                "scope": "GLOBAL",
                "type": "NOCASH",
                "amount": payment.coupon_fee,
                "wechatpay_contribute": 0,
                "merchant_contribute": payment.coupon_fee,
                "other_contribute": 0,
                "currency": "CNY",
            }])
        } else {
            json!([])
        };
    }
    value
}

/// The `foreign_answer` fault: an answer about another order or refund, each number it names
/// changed.
fn foreign(answer: &mut Value) {
    for field in [
        "out_trade_no",
        "transaction_id",
        "out_refund_no",
        "refund_id",
    ] {
        if let Some(Value::String(number)) = answer.get_mut(field) {
            number.push_str("-OTHER");
        }
    }
}

/// The `wrong_hash` fault: a bill's SHA-1 with its first digit changed.
fn wrong_hash(answer: &mut Value) {
    if let Some(Value::String(hash)) = answer.get_mut("hash_value") {
        let first = if hash.starts_with('0') { "1" } else { "0" };
        hash.replace_range(..1, first);
    }
}

/// The `bad_sign` fault: the signature's Base64 kept well formed, its bytes changed.
fn corrupt_signature(reply: &mut Reply) {
    for (name, value) in &mut reply.headers {
        if *name == "Wechatpay-Signature" {
            let first = if value.starts_with('A') { "B" } else { "A" };
            value.replace_range(..1, first);
        }
    }
}

/// The B2 headers of an answer or a callback, signed at `now` (this machine's time, which the
/// client checks with, whatever the emulator's clock says) with the key `signing` names; a
/// callback is signed again at each delivery, as its timestamp must be fresh.
pub(super) fn signature_headers(
    body: &[u8],
    now: OffsetDateTime,
    signing: V3Signing,
) -> Vec<(&'static str, String)> {
    let (key, serial) = signing.signer();
    let timestamp = now.unix_timestamp().to_string();
    let nonce = nonce_str();
    let signature = key.sign(&answer_message(&timestamp, &nonce, body));
    vec![
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Signature", signature),
        ("Wechatpay-Serial", serial.to_owned()),
        ("Wechatpay-Signature-Type", SCHEME.to_owned()),
        ("Request-ID", request_id()),
    ]
}

/// A 2xx answer signed as WeChat Pay signs them (B2): a 204 when there is no body.
fn signed_reply(body: Option<Vec<u8>>, now: OffsetDateTime, signing: V3Signing) -> Reply {
    let status = if body.is_some() { 200 } else { 204 };
    let bytes = body.unwrap_or_default();
    Reply {
        status,
        content_type: "application/json",
        headers: signature_headers(&bytes, now, signing),
        body: Body::Bytes(bytes),
        transport: None,
    }
}

/// `/v3/certificates` (B2): the platform certificates of `signing`, each encrypted with the
/// merchant's APIv3 key as a callback's resource is (B3, associated_data `certificate`).
fn certificates(key: &ApiV3Key, signing: V3Signing) -> Result<Value, V3Error> {
    let mut data = Vec::new();
    for (serial, pem) in signing.certificates() {
        let sealed = encrypt(key, "certificate", "certificate", pem)
            .map_err(|_| error(500, "SYSTEM_ERROR", "系统错误"))?;
        data.push(json!({
            "serial_no": serial,
            "effective_time": PLATFORM_EFFECTIVE,
            "expire_time": PLATFORM_EXPIRES,
            "encrypt_certificate": {
                "algorithm": sealed.algorithm,
                "nonce": sealed.nonce,
                "associated_data": sealed.associated_data,
                "ciphertext": sealed.ciphertext,
            },
        }));
    }
    Ok(json!({ "data": data }))
}

/// A callback's body (B4): the event, with `resource` encrypted by the merchant's APIv3 key.
fn callback(
    key: &ApiV3Key,
    event_type: &str,
    summary: &str,
    original_type: &str,
    resource: &Value,
    now: OffsetDateTime,
) -> Option<String> {
    let sealed = encrypt(key, original_type, original_type, &resource.to_string()).ok()?;
    let body = json!({
        "id": format!("EV-{}", nonce_str().to_uppercase()),
        "create_time": rfc3339(now),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": sealed,
    });
    Some(body.to_string())
}

/// TRANSACTION.SUCCESS for a paid order placed on v3 (B4): the Transaction, encrypted.
pub(super) fn payment_callback(
    order: &Order,
    key: &ApiV3Key,
    now: OffsetDateTime,
) -> Option<String> {
    let transaction = transaction(order);
    callback(
        key,
        "TRANSACTION.SUCCESS",
        "支付成功",
        "transaction",
        &transaction,
        now,
    )
}

/// REFUND.SUCCESS, REFUND.CLOSED or REFUND.ABNORMAL for a refund made on v3 (B4), with the
/// refund's fields as the callback has them; None while it is processing.
pub(super) fn refund_callback(
    refund: &Refund,
    key: &ApiV3Key,
    now: OffsetDateTime,
) -> Option<String> {
    let (event_type, summary) = match refund.status {
        RefundStatus::Success => ("REFUND.SUCCESS", "退款成功"),
        RefundStatus::RefundClose => ("REFUND.CLOSED", "退款关闭"),
        RefundStatus::Change => ("REFUND.ABNORMAL", "退款异常"),
        RefundStatus::Processing => return None,
    };
    let full = refund_json(refund);
    let mut resource = json!({
        "mchid": refund.mch_id,
        "transaction_id": refund.transaction_id,
        "out_trade_no": refund.out_trade_no,
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "refund_status": full["status"],
        "user_received_account": REFUND_RECEIVED_INTO,
        "amount": {
            "total": refund.total_fee,
            "refund": refund.refund_fee,
            "payer_total": refund.settlement_total_fee(),
            "payer_refund": refund.settlement_refund_fee(),
        },
    });
    if let Some(at) = refund.success_time {
        resource["success_time"] = json!(rfc3339(at));
    }
    callback(key, event_type, summary, "refund", &resource, now)
}

/// A refusal: v3's error JSON, not signed (B5).
fn error_reply(e: &V3Error) -> Reply {
    Reply {
        status: e.status,
        content_type: "application/json",
        headers: vec![("Request-ID", request_id())],
        body: Body::Bytes(
            json!({ "code": e.code, "message": e.message })
                .to_string()
                .into_bytes(),
        ),
        transport: None,
    }
}

fn request_id() -> String {
    nonce_str().to_uppercase()
}

pub mod bills;
#[cfg(test)]
mod tests;
