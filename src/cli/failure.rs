//! The one place that turns errors into an exit code, an `error:` line and a `hint:`.

use crate::config::v3::V3Error;
use crate::config::{ConfigError, Secret};
use crate::fsutil::FileError;
use crate::output::{PrintError, Printer};
use crate::wechat::notify::NotifyError;
use crate::wechat::paysign::PaySignError;
use crate::wechat::sign::SignError;
use crate::wechat::xml::XmlError;

/// Exit codes, documented in `--help`, the README and docs/reference.md.
pub mod exit {
    pub const OK: u8 = 0;
    /// A negative answer that is not an error (reconcile differences, an unmet --expect).
    pub const NEGATIVE: u8 = 1;
    pub const USAGE: u8 = 2;
    /// WeChat Pay refused the request.
    pub const REFUSED: u8 = 3;
    /// A signature or notification that does not check out.
    pub const VERIFY: u8 = 4;
    /// Temporary: try again later.
    pub const TEMPORARY: u8 = 75;
}

/// Only the codes that some command of this build can give.
/// Only the codes that some command of this build can give, each with the commands that give
/// it (a test runs every command named here in backticks).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success; a balanced day for `reconcile`
  1   not met, declined or differing: `order query --expect`, `refund query --expect`, a
      confirmation, `reconcile` differences
  2   usage, config or local input error; nothing was sent (every command)
  3   WeChat Pay refused (result_code or return_code FAIL): `order`, `refund`, `bill`,
      `notify decrypt`; an errcode of code2Session: `openid`
  4   a sign that does not check out: `sign verify`, `notify verify`, `notify decrypt`, `order`,
      `bill`; a demo step not as expected: `demo`
  75  try again later (network, timeout, SYSTEMERROR, Bill Creating; a busy or rate-limited
      login; a ledger another wxpay-ops held too long): `order`, `refund`, `bill`, `openid`,
      `ledger import`, `demo`";

pub const SIGN_HINT: &str = "check that the key is the API v2 key (API密钥) of this mch_id, that sign_type matches the \
     one used to sign, and run `wxpay-ops sign --explain` on the same fields";

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(exit::USAGE, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Puts the input's name in front of the message.
    pub fn named(mut self, name: &str) -> Self {
        self.message = format!("{name}: {}", self.message);
        self
    }

    /// The reader of stdout went away (`| head`): stop quietly, successfully.
    pub fn closed_stdout() -> Self {
        Failure::new(exit::OK, "")
    }

    /// Prints the failure on stderr, even under -q; a closed stdout says nothing.
    pub fn print(&self, printer: &Printer) {
        if !self.message.is_empty() {
            printer.error(&self.message, self.hint.as_deref());
        }
    }

    /// An input (file or stdin) that could not be used, named.
    pub fn input(name: &str, error: impl std::fmt::Display) -> Self {
        Failure::usage(format!("{name}: {error}"))
    }

    pub fn xml(name: &str, error: XmlError) -> Self {
        let hint = match &error {
            XmlError::Dtd | XmlError::Entity(_) => {
                Some("WeChat Pay never sends DTDs or entities; treat this message as an attack")
            }
            XmlError::Duplicate(_) => Some("each parameter may appear once; remove the repeat"),
            XmlError::Empty | XmlError::Malformed { .. } => {
                Some("expected a WeChat Pay message: <xml><name><![CDATA[value]]></name>…</xml>")
            }
            XmlError::Nested(_) | XmlError::TrailingContent(_) => Some(
                "a WeChat Pay message is one flat <xml> element of fields; pass one message as received",
            ),
            XmlError::NotUtf8(_) => Some(
                "WeChat Pay messages are UTF-8; convert the file first, e.g. iconv -f GBK -t UTF-8",
            ),
            _ => None,
        };
        let failure = Failure::input(name, error);
        match hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        let hint = match &error {
            ConfigError::NotFound(_) => {
                Some("run `wxpay-ops config init` to create it, or pass --config FILE".to_owned())
            }
            ConfigError::Invalid { .. } => Some(
                "every key is described in the template `wxpay-ops config init` writes".to_owned(),
            ),
            ConfigError::UnknownProfile { .. } | ConfigError::NoDefaultProfile { .. } => {
                Some("pass --profile NAME, or set default_profile in the file".to_owned())
            }
            ConfigError::NoProfiles { .. } => {
                Some("add a [profiles.NAME] table; see `wxpay-ops config init`".to_owned())
            }
            ConfigError::TooOpen { path, .. } => Some(format!(
                "run `chmod 600 {}`, as ssh requires of a private key",
                path.display()
            )),
            ConfigError::Unquoted { key, value, .. } => {
                Some(format!("quote it: {key} = \"{value}\""))
            }
            _ => secret_hint(&error),
        };
        Failure {
            code: exit::USAGE,
            message: error.to_string(),
            hint,
        }
    }
}

/// Where the APIv3 key is, and what it is not: the commonest mistake is the API v2 key.
pub const APIV3_KEY_HINT: &str = "use the 32-character APIv3 key (APIv3密钥) of this mch_id, set in the merchant console, \
     账户中心 → API安全; not the API v2 key";

/// What to do about a secret (the API key, the AppSecret) that cannot be used.
fn secret_hint(error: &ConfigError) -> Option<String> {
    match error {
        ConfigError::NoKeySource {
            secret: Secret::ApiKey,
            ..
        } => Some(
            "set one of api_key_env, api_key_file or api_key_cmd in the profile, or pass --key-env / --key-file"
                .to_owned(),
        ),
        ConfigError::NoKeySource {
            secret: Secret::ApiV3Key,
            ..
        } => Some(
            "set one of apiv3_key_env, apiv3_key_file or apiv3_key_cmd in the profile, or pass --apiv3-key-env / --apiv3-key-file"
                .to_owned(),
        ),
        ConfigError::NoKeySource {
            secret: Secret::AppSecret,
            ..
        } => Some(
            "set one of app_secret_env, app_secret_file or app_secret_cmd in the profile; the AppSecret is on mp.weixin.qq.com, 开发管理 → 开发设置"
                .to_owned(),
        ),
        ConfigError::SeveralKeySources { secret, .. } => {
            let field = secret.field();
            Some(format!(
                "keep exactly one of {field}_env, {field}_file, {field}_cmd, {field}"
            ))
        }
        ConfigError::KeyEnvUnset(var) => Some(format!("export {var}=… before running")),
        ConfigError::KeyShape {
            secret: Secret::ApiKey,
            ..
        } => Some(
            "use the 32-character API v2 key (API密钥) from the merchant console, 账户中心 → API安全; \
             not the APIv3 key and not the AppSecret"
                .to_owned(),
        ),
        ConfigError::KeyShape {
            secret: Secret::ApiV3Key,
            ..
        } => Some(APIV3_KEY_HINT.to_owned()),
        ConfigError::KeyShape {
            secret: Secret::AppSecret,
            ..
        } => Some(
            "use the mini program's 32-character AppSecret (小程序密钥) from mp.weixin.qq.com, 开发管理 → 开发设置; \
             not the API key"
                .to_owned(),
        ),
        ConfigError::KeyCommandTimedOut { secret, .. } => Some(format!(
            "the command must print the {secret} without waiting for anything; run it by hand to see where it stops"
        )),
        ConfigError::KeyCommandUnsafe {
            secret,
            path,
            problem,
            ..
        } => Some(match problem {
            crate::config::Unsafe::Writable => format!(
                "run `chmod go-w {}`: whoever can change it chooses the command wxpay-ops runs, so ssh refuses the same",
                path.display()
            ),
            crate::config::Unsafe::NotYours(_) => format!(
                "keep a config with {}_cmd in a folder of your own, in a file you own (or root owns); {} is not",
                secret.field(),
                path.display()
            ),
        }),
        _ => None,
    }
}

impl From<FileError> for Failure {
    fn from(error: FileError) -> Self {
        if error.is_closed_stdout() {
            return Failure::closed_stdout();
        }
        let hint = error.hint();
        let failure = Failure::usage(error.to_string());
        match hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    }
}

impl From<PrintError> for Failure {
    fn from(error: PrintError) -> Self {
        match error {
            PrintError::Closed => Failure::closed_stdout(),
            PrintError::Write(e) => Failure::usage(format!("cannot write to standard output: {e}")),
        }
    }
}

impl From<SignError> for Failure {
    fn from(error: SignError) -> Self {
        let hint = match &error {
            SignError::UnknownSignType(_) => "use MD5 or HMAC-SHA256, spelled exactly so",
            SignError::MissingSign => "verify a message as received, with its <sign> element",
            SignError::UnrecognisedLength(_) => "pass --sign-type MD5 or --sign-type HMAC-SHA256",
        };
        Failure::usage(error.to_string()).hint(hint)
    }
}

impl From<V3Error> for Failure {
    fn from(error: V3Error) -> Self {
        let hint = match &error {
            V3Error::NoPrivateKey { .. } => "set private_key_pem to the merchant's apiclient_key.pem in the profile (cert_key_pem serves too), or pass --private-key FILE".to_owned(),
            V3Error::NoSerial { .. } | V3Error::BadSerial(_) => "set cert_serial to the serial the merchant console shows for the API certificate (or cert_pem, to read it from apiclient_cert.pem), or pass --serial".to_owned(),
            V3Error::NoPublicKey { .. } | V3Error::BadKeyId(_) => "set wechatpay_public_key_pem and wechatpay_public_key_id (PUB_KEY_ID_…) as the merchant console gives them, or pass --public-key FILE --public-key-id ID, or --platform-cert FILE".to_owned(),
            V3Error::TooOpen { path, .. } => format!(
                "run `chmod 600 {}`, as ssh requires of a private key",
                path.display()
            ),
            V3Error::Read { .. } | V3Error::TooLarge(_) | V3Error::NotAFile(_) => "check the path: it is read as the profile or the flag names it, relative to the config file's folder".to_owned(),
            V3Error::Key { .. } => "give the PEM file as the merchant console downloads it (apiclient_key.pem: -----BEGIN PRIVATE KEY-----; pub_key.pem: -----BEGIN PUBLIC KEY-----)".to_owned(),
            V3Error::Certificate(_) => "check cert_pem with `wxpay-ops config check`, or set cert_serial".to_owned(),
        };
        Failure::usage(error.to_string()).hint(hint)
    }
}

impl From<PaySignError> for Failure {
    fn from(error: PaySignError) -> Self {
        Failure::usage(error.to_string())
    }
}

impl Failure {
    pub fn notify(name: &str, error: NotifyError) -> Self {
        match error {
            NotifyError::Xml(e) => Failure::xml(name, e),
            NotifyError::Base64 | NotifyError::Decrypt | NotifyError::DecryptedXml(_) => {
                Failure::new(exit::VERIFY, format!("{name}: {error}")).hint(
                    "do not trust it; a refund notification decrypts only with the API v2 key of the mch_id it was sent to",
                )
            }
            other @ (NotifyError::MissingField(_) | NotifyError::EmptyField(_)) => {
                Failure::input(name, other).hint(
                    "refund notifications carry req_info; a payment notification is checked with `wxpay-ops notify verify`",
                )
            }
        }
    }
}
