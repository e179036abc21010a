//! Profiles: where the config file is, what a profile holds, and where its secrets come from.

pub mod certs;
pub mod check;
pub mod client;
#[cfg(test)]
mod fuzz_tests;
pub mod v3;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};
use thiserror::Error;

use crate::wechat::secret::KeyShapeError;
use crate::wechat::{ApiKey, ApiV3Key, ApiVersion, AppSecret, SignType};

/// A config file larger than this is certainly not a config file.
const MAX_CONFIG_BYTES: u64 = 1 << 20;
const MAX_KEY_FILE_BYTES: u64 = 4096;
/// An `api_key_cmd` (or `app_secret_cmd`) that has not printed the secret by then is stopped.
pub const KEY_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// The last lines of a key command's stderr that are kept for an error or a warning.
const KEY_COMMAND_STDERR_LINES: usize = 5;

/// The commented template `config init` writes, also the documentation of every key.
pub const TEMPLATE: &str = include_str!("../../sample-config.toml");

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("no config file at {0}")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is larger than 1 MiB; it is not a wxpay-ops config file")]
    TooLarge { path: PathBuf },
    #[error("{path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path} is not valid: line {line}: {key} is a number, and it must be a string")]
    Unquoted {
        path: PathBuf,
        line: usize,
        key: String,
        value: String,
    },
    #[error("no profile named {name:?} in {path} (profiles: {available})")]
    UnknownProfile {
        name: String,
        path: PathBuf,
        available: String,
    },
    #[error("{path} has {count} profiles and no default_profile")]
    NoDefaultProfile { path: PathBuf, count: usize },
    #[error("{path} has no profiles")]
    NoProfiles { path: PathBuf },
    #[error("profile {profile:?} has no {secret} source")]
    NoKeySource { secret: Secret, profile: String },
    #[error("profile {profile:?} sets more than one {secret} source ({sources})")]
    SeveralKeySources {
        secret: Secret,
        profile: String,
        sources: String,
    },
    #[error("environment variable {0} is not set")]
    KeyEnvUnset(String),
    #[error("{}_cmd `{command}` failed ({status}){}", secret.field(), said(stderr))]
    KeyCommandFailed {
        secret: Secret,
        command: String,
        status: String,
        /// The last lines of its stderr, control characters escaped.
        stderr: String,
    },
    #[error("{}_cmd `{command}` printed no {secret} within {} s and was stopped", secret.field(), timeout.as_secs())]
    KeyCommandTimedOut {
        secret: Secret,
        command: String,
        timeout: Duration,
    },
    #[error("{}_cmd in {config} is refused: {path} {problem} (mode {mode:o})", secret.field())]
    KeyCommandUnsafe {
        secret: Secret,
        config: PathBuf,
        path: PathBuf,
        mode: u32,
        problem: Unsafe,
    },
    #[error("{path} is readable by other users (mode {mode:o}) and holds an {secret}")]
    TooOpen {
        secret: Secret,
        path: PathBuf,
        mode: u32,
    },
    #[error("the {secret} from {source_name} {problem}")]
    KeyShape {
        secret: Secret,
        source_name: String,
        problem: KeyShapeError,
    },
}

/// The secrets a profile holds. Each comes from exactly one of `<field>_env`, `<field>_file`,
/// `<field>_cmd` and the inline `<field>`, under the same rules; only the API key is needed
/// by every API command, the AppSecret only by `openid`, the APIv3 key only to decrypt API v3
/// callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    ApiKey,
    ApiV3Key,
    AppSecret,
}

impl Secret {
    /// The profile key its sources are named after.
    pub fn field(self) -> &'static str {
        match self {
            Secret::ApiKey => "api_key",
            Secret::ApiV3Key => "apiv3_key",
            Secret::AppSecret => "app_secret",
        }
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Secret::ApiKey => "API key",
            Secret::ApiV3Key => "APIv3 key",
            Secret::AppSecret => "AppSecret",
        })
    }
}

/// The type that holds one kind of profile secret, and where a profile names its sources.
pub trait ProfileSecret: Clone {
    const SECRET: Secret;
    /// Holds a value read from a source (and remembers it for scrubbing).
    fn hold(value: String) -> Self;
    fn check_shape(&self) -> Result<(), KeyShapeError>;
    fn redact<'a>(&self, text: &'a str) -> Cow<'a, str>;
    /// A short one-way fingerprint, to tell two secrets apart without showing either.
    fn fingerprint(&self) -> String;
    fn sources(profile: &Profile) -> Sources<'_, Self>;
}

/// The source keys of one secret in a profile, as written.
pub struct Sources<'a, T> {
    pub env: Option<&'a String>,
    pub file: Option<&'a PathBuf>,
    pub cmd: Option<&'a String>,
    pub inline: Option<&'a T>,
}

impl ProfileSecret for ApiKey {
    const SECRET: Secret = Secret::ApiKey;

    fn hold(value: String) -> Self {
        ApiKey::new(value)
    }

    fn check_shape(&self) -> Result<(), KeyShapeError> {
        ApiKey::check_shape(self)
    }

    fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        ApiKey::redact(self, text)
    }

    fn fingerprint(&self) -> String {
        ApiKey::fingerprint(self)
    }

    fn sources(profile: &Profile) -> Sources<'_, Self> {
        Sources {
            env: profile.api_key_env.as_ref(),
            file: profile.api_key_file.as_ref(),
            cmd: profile.api_key_cmd.as_ref(),
            inline: profile.api_key.as_ref(),
        }
    }
}

impl ProfileSecret for ApiV3Key {
    const SECRET: Secret = Secret::ApiV3Key;

    fn hold(value: String) -> Self {
        ApiV3Key::new(value)
    }

    fn check_shape(&self) -> Result<(), KeyShapeError> {
        ApiV3Key::check_shape(self)
    }

    fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        ApiV3Key::redact(self, text)
    }

    fn fingerprint(&self) -> String {
        ApiV3Key::fingerprint(self)
    }

    fn sources(profile: &Profile) -> Sources<'_, Self> {
        Sources {
            env: profile.apiv3_key_env.as_ref(),
            file: profile.apiv3_key_file.as_ref(),
            cmd: profile.apiv3_key_cmd.as_ref(),
            inline: profile.apiv3_key.as_ref(),
        }
    }
}

impl ProfileSecret for AppSecret {
    const SECRET: Secret = Secret::AppSecret;

    fn hold(value: String) -> Self {
        AppSecret::new(value)
    }

    fn check_shape(&self) -> Result<(), KeyShapeError> {
        AppSecret::check_shape(self)
    }

    fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        AppSecret::redact(self, text)
    }

    fn fingerprint(&self) -> String {
        AppSecret::fingerprint(self)
    }

    fn sources(profile: &Profile) -> Sources<'_, Self> {
        Sources {
            env: profile.app_secret_env.as_ref(),
            file: profile.app_secret_file.as_ref(),
            cmd: profile.app_secret_cmd.as_ref(),
            inline: profile.app_secret.as_ref(),
        }
    }
}

fn said(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; it said: {stderr}")
    }
}

/// Why a config file or its folder may not run commands: someone else could change it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unsafe {
    #[error("is writable by group or others")]
    Writable,
    #[error("belongs to another user (uid {0})")]
    NotYours(u32),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// One merchant account. Paths are relative to the config file's folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub mch_id: String,
    pub appid: String,
    pub api_key_env: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub api_key_cmd: Option<String>,
    #[serde(default, deserialize_with = "inline_key")]
    pub api_key: Option<ApiKey>,
    /// The APIv3 key, which decrypts API v3 callbacks; the same sources as the key.
    pub apiv3_key_env: Option<String>,
    pub apiv3_key_file: Option<PathBuf>,
    pub apiv3_key_cmd: Option<String>,
    #[serde(default, deserialize_with = "inline_apiv3_key")]
    pub apiv3_key: Option<ApiV3Key>,
    /// The mini program's AppSecret, for `openid` (code2Session); the same sources as the key.
    pub app_secret_env: Option<String>,
    pub app_secret_file: Option<PathBuf>,
    pub app_secret_cmd: Option<String>,
    #[serde(default, deserialize_with = "inline_app_secret")]
    pub app_secret: Option<AppSecret>,
    /// Where code2Session is called: https://api.weixin.qq.com unless set (the emulator's
    /// profile sets its own).
    pub login_base: Option<String>,
    #[serde(default, deserialize_with = "sign_type")]
    pub sign_type: Option<SignType>,
    /// 2 or 3: the API the profile's commands use unless `--api` says otherwise.
    #[serde(default, deserialize_with = "api_version")]
    pub api_version: Option<ApiVersion>,
    pub api_base: Option<String>,
    pub cert_pem: Option<PathBuf>,
    pub cert_key_pem: Option<PathBuf>,
    pub cert_p12: Option<PathBuf>,
    pub cert_p12_password: Option<String>,
    pub ca_cert: Option<PathBuf>,
    /// API v3: the merchant's private key (apiclient_key.pem, mode 0600); else cert_key_pem.
    pub private_key_pem: Option<PathBuf>,
    /// API v3: the merchant certificate's serial (hex); else read from cert_pem.
    pub cert_serial: Option<String>,
    /// API v3: the WeChat Pay public key (pub_key.pem) and its ID (`PUB_KEY_ID_…`), which
    /// check WeChat Pay's answers and callbacks.
    pub wechatpay_public_key_pem: Option<PathBuf>,
    pub wechatpay_public_key_id: Option<String>,
    /// API v3, platform-certificate mode: the folder where `certs download` caches WeChat
    /// Pay's platform certificates, one `<serial>.pem` each, and answers are checked with.
    pub platform_cert_dir: Option<PathBuf>,
    pub notify_url: Option<String>,
    /// Tried when api_base cannot be reached (WeChat's is https://api2.mch.weixin.qq.com).
    pub backup_api_base: Option<String>,
    /// Seconds for a whole API request, and for its connection.
    pub timeout: Option<f64>,
    pub connect_timeout: Option<f64>,
    /// Use the `/sandboxnew` paths and the sandbox key.
    #[serde(default)]
    pub sandbox: bool,
    /// Service-provider mode: the sub-merchant, and its AppID, every request is made for.
    pub sub_mch_id: Option<String>,
    pub sub_appid: Option<String>,
    /// Where `bill download` keeps bills, under a folder per mch_id.
    pub bill_dir: Option<PathBuf>,
    /// The merchant's ledger database; else `<bill_dir>/<mch_id>/ledger.sqlite3`.
    pub ledger: Option<PathBuf>,
    /// How `reconcile` reads this merchant's own order export.
    pub reconcile: Option<crate::reconcile::settings::MappingSettings>,
}

fn inline_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ApiKey>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(ApiKey::new))
}

fn inline_apiv3_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ApiV3Key>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(ApiV3Key::new))
}

fn inline_app_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AppSecret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(AppSecret::new))
}

fn api_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ApiVersion>, D::Error> {
    match Option::<i64>::deserialize(d)? {
        None => Ok(None),
        Some(2) => Ok(Some(ApiVersion::V2)),
        Some(3) => Ok(Some(ApiVersion::V3)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "api_version {other}: WeChat Pay's APIs are 2 (XML, the API key) and 3 (JSON, RSA)"
        ))),
    }
}

impl Profile {
    /// The API a command uses: the flag, else `api_version`, else v3 when the profile names
    /// v3 credentials (it can then do both, and v3 is the current one), else v2.
    pub fn api_version(&self, flag: Option<ApiVersion>) -> ApiVersion {
        let names_v3 = self.private_key_pem.is_some()
            || self.cert_serial.is_some()
            || self.wechatpay_public_key_pem.is_some()
            || self.platform_cert_dir.is_some();
        flag.or(self.api_version).unwrap_or(if names_v3 {
            ApiVersion::V3
        } else {
            ApiVersion::V2
        })
    }
}

fn sign_type<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SignType>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|text| SignType::parse_any_case(&text).map_err(serde::de::Error::custom))
        .transpose()
}

/// Where a secret is read from, for display (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env(String),
    File(PathBuf),
    Command(String),
    /// The secret's own key (`api_key`, `apiv3_key`, `app_secret`) in this config file.
    Inline(Secret, PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env(name) => write!(f, "environment variable {name}"),
            KeySource::File(path) => write!(f, "file {}", path.display()),
            KeySource::Command(cmd) => write!(f, "command `{cmd}`"),
            KeySource::Inline(secret, path) => {
                write!(f, "{} in {}", secret.field(), path.display())
            }
        }
    }
}

/// The config file's location, in the documented order of precedence: an explicit path
/// (flag or WXPAY_OPS_CONFIG, resolved by the caller), then the XDG and platform folders.
pub fn default_path() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(dirs::config_dir)
        .map(|dir| dir.join("wxpay-ops").join("config.toml"))
}

/// A file's permission bits and owner, as read when it was loaded.
#[derive(Debug, Clone, Copy)]
struct Access {
    mode: u32,
    uid: u32,
}

impl Access {
    fn of(metadata: &std::fs::Metadata) -> Access {
        Access {
            mode: metadata.mode() & 0o7777,
            uid: metadata.uid(),
        }
    }

    /// The rule ssh applies to its config files: yours (or root's), and writable by no one else.
    fn unsafe_to_trust(self) -> Option<Unsafe> {
        if self.uid != rustix::process::geteuid().as_raw() && self.uid != 0 {
            Some(Unsafe::NotYours(self.uid))
        } else if self.mode & 0o022 != 0 {
            Some(Unsafe::Writable)
        } else {
            None
        }
    }
}

/// A secret, and what its command said on stderr while succeeding (control characters
/// escaped, the secret itself masked), for the caller to show as a warning.
#[derive(Debug)]
pub struct Loaded<T> {
    pub key: T,
    pub stderr: Option<String>,
}

pub type LoadedKey = Loaded<ApiKey>;

#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    default_profile: Option<String>,
    profiles: BTreeMap<String, Profile>,
    access: Option<Access>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read_error = |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let metadata = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::NotFound(path.to_owned()));
            }
            other => other.map_err(read_error)?,
        };
        if metadata.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        Config::parse(path, &text, Some(Access::of(&metadata)))
    }

    fn parse(path: &Path, text: &str, access: Option<Access>) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            unquoted(path, text, &e).unwrap_or_else(|| ConfigError::Invalid {
                path: path.to_owned(),
                message: crate::toml_error::one_line(text, &e),
            })
        })?;
        Ok(Config {
            path: path.to_owned(),
            default_profile: file.default_profile,
            profiles: file.profiles,
            access,
        })
    }

    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    /// Picks a profile: the one named, else `default_profile`, else the only one.
    pub fn profile(&self, name: Option<&str>) -> Result<(&str, &Profile), ConfigError> {
        let wanted = name.or(self.default_profile.as_deref());
        match wanted {
            Some(name) => self
                .profiles
                .get_key_value(name)
                .map(|(k, v)| (k.as_str(), v))
                .ok_or_else(|| ConfigError::UnknownProfile {
                    name: name.to_owned(),
                    path: self.path.clone(),
                    available: self.profile_names().collect::<Vec<_>>().join(", "),
                }),
            None => match self.profiles.len() {
                0 => Err(ConfigError::NoProfiles {
                    path: self.path.clone(),
                }),
                1 => {
                    let (k, v) = self.profiles.iter().next().expect("one profile");
                    Ok((k.as_str(), v))
                }
                count => Err(ConfigError::NoDefaultProfile {
                    path: self.path.clone(),
                    count,
                }),
            },
        }
    }

    /// A path from the file, relative to the file's folder, with `~/` expanded.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if let Ok(rest) = path.strip_prefix("~")
            && let Some(home) = dirs::home_dir()
        {
            return home.join(rest);
        }
        match self.path.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        }
    }

    /// Where the profile's key comes from; exactly one source must be set.
    pub fn key_source(&self, name: &str, profile: &Profile) -> Result<KeySource, ConfigError> {
        self.secret_source::<ApiKey>(name, profile)
    }

    /// Where one of the profile's secrets comes from; exactly one source must be set
    /// ([`ConfigError::NoKeySource`] when none is).
    pub fn secret_source<T: ProfileSecret>(
        &self,
        name: &str,
        profile: &Profile,
    ) -> Result<KeySource, ConfigError> {
        let given = T::sources(profile);
        let mut sources = Vec::new();
        if let Some(var) = given.env {
            sources.push(KeySource::Env(var.clone()));
        }
        if let Some(path) = given.file {
            sources.push(KeySource::File(self.resolve(path)));
        }
        if let Some(cmd) = given.cmd {
            sources.push(KeySource::Command(cmd.clone()));
        }
        if given.inline.is_some() {
            sources.push(KeySource::Inline(T::SECRET, self.path.clone()));
        }
        match sources.len() {
            0 => Err(ConfigError::NoKeySource {
                secret: T::SECRET,
                profile: name.to_owned(),
            }),
            1 => Ok(sources.remove(0)),
            _ => Err(ConfigError::SeveralKeySources {
                secret: T::SECRET,
                profile: name.to_owned(),
                sources: sources
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    pub fn api_key(&self, name: &str, profile: &Profile) -> Result<LoadedKey, ConfigError> {
        self.secret(name, profile)
    }

    /// Loads the profile's secrets that need nothing run, only so that they are hidden in
    /// everything printed or written, for a command that reads the profile but uses them not
    /// (reconcile reads its mapping; only `openid` uses the AppSecret): a key pasted into an
    /// export cell must not come out raw. A command is not run for this, since it may ask
    /// for a password or cost a call; an inline secret is remembered as the file is read;
    /// one that cannot be read is the error of the commands that use it.
    pub fn remember_secrets(&self, name: &str, profile: &Profile) {
        fn remember<T: ProfileSecret>(config: &Config, name: &str, profile: &Profile) {
            if let Ok(source @ (KeySource::Env(_) | KeySource::File(_))) =
                config.secret_source::<T>(name, profile)
            {
                let _ = read_secret::<T>(&source);
            }
        }
        remember::<ApiKey>(self, name, profile);
        remember::<ApiV3Key>(self, name, profile);
        remember::<AppSecret>(self, name, profile);
    }

    /// The APIv3 key, which only the decryption of API v3 callbacks needs.
    pub fn apiv3_key(
        &self,
        name: &str,
        profile: &Profile,
    ) -> Result<Loaded<ApiV3Key>, ConfigError> {
        self.secret(name, profile)
    }

    pub fn app_secret(
        &self,
        name: &str,
        profile: &Profile,
    ) -> Result<Loaded<AppSecret>, ConfigError> {
        self.secret(name, profile)
    }

    /// Reads one of the profile's secrets from its one source: an inline one only from a
    /// file no one else can read, a command only from a file and folder no one else can
    /// write.
    pub fn secret<T: ProfileSecret>(
        &self,
        name: &str,
        profile: &Profile,
    ) -> Result<Loaded<T>, ConfigError> {
        let source = self.secret_source::<T>(name, profile)?;
        match &source {
            KeySource::Inline(_, path) => {
                if let Some(access) = self.access
                    && access.mode & 0o077 != 0
                {
                    return Err(ConfigError::TooOpen {
                        secret: T::SECRET,
                        path: path.clone(),
                        mode: access.mode & 0o777,
                    });
                }
                let key = T::sources(profile)
                    .inline
                    .cloned()
                    .expect("an inline source has a value");
                Ok(Loaded {
                    key: checked(key, &source)?,
                    stderr: None,
                })
            }
            KeySource::Command(_) => {
                self.check_may_run_commands(T::SECRET)?;
                read_secret(&source)
            }
            other => read_secret(other),
        }
    }

    /// Whoever can change the file, or swap it through its folder, chooses the command we
    /// run: both must be the user's and writable by no one else, as ssh requires.
    fn check_may_run_commands(&self, secret: Secret) -> Result<(), ConfigError> {
        let refuse = |path: &Path, access: Access, problem| ConfigError::KeyCommandUnsafe {
            secret,
            config: self.path.clone(),
            path: path.to_owned(),
            mode: access.mode & 0o777,
            problem,
        };
        if let Some(access) = self.access
            && let Some(problem) = access.unsafe_to_trust()
        {
            return Err(refuse(&self.path, access, problem));
        }
        let read_error = |source| ConfigError::Read {
            path: self.path.clone(),
            source,
        };
        // The folder that holds the file itself, wherever a symlink put it.
        let real = std::fs::canonicalize(&self.path).map_err(read_error)?;
        let folder = real.parent().unwrap_or(Path::new("/"));
        let access = Access::of(&std::fs::metadata(folder).map_err(read_error)?);
        match access.unsafe_to_trust() {
            Some(problem) => Err(refuse(folder, access, problem)),
            None => Ok(()),
        }
    }
}

/// A string field written as a bare number (`mch_id = 10000100`), for the "quote it" hint.
fn unquoted(path: &Path, text: &str, error: &toml::de::Error) -> Option<ConfigError> {
    let message = error.message();
    let number = message.starts_with("invalid type: integer")
        || message.starts_with("invalid type: floating point");
    if !number || !message.contains("expected a string") {
        return None;
    }
    let span = error.span()?;
    let value = text.get(span.clone())?.trim();
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let key = text[line_start..span.start]
        .trim_end()
        .strip_suffix('=')?
        .trim();
    let bare_key = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    bare_key.then(|| ConfigError::Unquoted {
        path: path.to_owned(),
        line: text[..span.start].matches('\n').count() + 1,
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// Reads an API key from an environment variable, a file, or a command; never the inline
/// one. A command is run as it is: whether the config file may run commands is checked by
/// [`Config::api_key`].
pub fn read_key(source: &KeySource) -> Result<LoadedKey, ConfigError> {
    read_secret(source)
}

/// Reads a secret from an environment variable, a file, or a command, as [`read_key`] does.
pub fn read_secret<T: ProfileSecret>(source: &KeySource) -> Result<Loaded<T>, ConfigError> {
    let (key, stderr) = match source {
        KeySource::Env(var) => (
            std::env::var(var).map_err(|_| ConfigError::KeyEnvUnset(var.clone()))?,
            None,
        ),
        KeySource::File(path) => (read_key_file(T::SECRET, path)?, None),
        KeySource::Command(command) => {
            let output = run_key_command(T::SECRET, command, KEY_COMMAND_TIMEOUT)?;
            (output.stdout, output.stderr)
        }
        KeySource::Inline(..) => unreachable!("inline secrets are read with the config file"),
    };
    let key = checked(
        T::hold(key.trim_end_matches(['\r', '\n']).to_owned()),
        source,
    )?;
    // A command that echoes the secret to stderr as well must not get it shown as a warning.
    let stderr = stderr.map(|text| key.redact(&text).into_owned());
    Ok(Loaded { key, stderr })
}

fn checked<T: ProfileSecret>(key: T, source: &KeySource) -> Result<T, ConfigError> {
    key.check_shape().map_err(|problem| ConfigError::KeyShape {
        secret: T::SECRET,
        source_name: source.to_string(),
        problem,
    })?;
    Ok(key)
}

fn read_key_file(secret: Secret, path: &Path) -> Result<String, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    let mode = metadata.mode();
    if mode & 0o077 != 0 {
        return Err(ConfigError::TooOpen {
            secret,
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    if metadata.len() > MAX_KEY_FILE_BYTES {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            message: format!(
                "a {} file holds one 32-character secret, this one is larger than 4 KiB",
                secret.field()
            ),
        });
    }
    std::fs::read_to_string(path).map_err(read_error)
}

struct KeyCommandOutput {
    stdout: String,
    /// Its stderr's last lines, if it wrote any.
    stderr: Option<String>,
}

/// Runs an `api_key_cmd` (or `app_secret_cmd`) with the terminal as its stdin, so that it can
/// prompt; its stdout is the secret and is never shown; its stderr is kept for an error or a
/// warning, never passed through, since a command may print the secret there too.
fn run_key_command(
    secret: Secret,
    command: &str,
    timeout: Duration,
) -> Result<KeyCommandOutput, ConfigError> {
    let failed = |status: String, stderr: String| ConfigError::KeyCommandFailed {
        secret,
        command: command.to_owned(),
        status,
        stderr,
    };
    let timed_out = || ConfigError::KeyCommandTimedOut {
        secret,
        command: command.to_owned(),
        timeout,
    };
    let deadline = Instant::now() + timeout;
    let mut child = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string(), String::new()))?;
    let stdout = read_in_background(child.stdout.take(), MAX_KEY_FILE_BYTES);
    let stderr = read_in_background(child.stderr.take(), MAX_KEY_FILE_BYTES * 16);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Killing `sh` leaves a process it started running on its own; the pipes it
                // holds are not waited for.
                let _ = child.kill();
                let _ = child.wait();
                return Err(timed_out());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(failed(e.to_string(), String::new())),
        }
    };
    // The pipes close when the command ends, unless it left something running that holds them.
    let collect = |output: mpsc::Receiver<Vec<u8>>| {
        output
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| timed_out())
    };
    let stderr = tail(&collect(stderr)?);
    if !status.success() {
        return Err(failed(status.to_string(), stderr));
    }
    let stdout = collect(stdout)?;
    if stdout.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(failed(
            "its output is larger than 4 KiB; it should print one 32-character secret".into(),
            stderr,
        ));
    }
    let stdout = String::from_utf8(stdout)
        .map_err(|_| failed("its output is not UTF-8".into(), stderr.clone()))?;
    Ok(KeyCommandOutput {
        stdout,
        stderr: (!stderr.is_empty()).then_some(stderr),
    })
}

/// Reads a pipe to its end on a thread, keeping at most `limit` + 1 bytes and draining the
/// rest, so that a chatty command never blocks on a full pipe.
fn read_in_background(
    pipe: Option<impl Read + Send + 'static>,
    limit: u64,
) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = pipe.by_ref().take(limit + 1).read_to_end(&mut kept);
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            let _ = sender.send(kept);
        });
    } else {
        let _ = sender.send(Vec::new());
    }
    receiver
}

/// The last few non-blank lines, trimmed, joined on one line, control characters escaped.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let start = lines.len().saturating_sub(KEY_COMMAND_STDERR_LINES);
    lines[start..]
        .join(" | ")
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    /// A file of the current user's with this mode.
    fn mine(mode: u32) -> Option<Access> {
        Some(Access {
            mode,
            uid: rustix::process::geteuid().as_raw(),
        })
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/wxpay/config.toml"), text, mine(0o600))
    }

    const ONE: &str = r#"
[profiles.shop]
mch_id = "10000100"
appid = "wx2421b1c4370ec43b"
api_key_file = "keys/shop.key"
sign_type = "HMAC-SHA256"
"#;

    #[test]
    fn truncated_and_garbage_config_files_are_errors_not_panics() {
        for cut in 0..TEMPLATE.len() {
            if TEMPLATE.is_char_boundary(cut) {
                let _ = parse(&TEMPLATE[..cut]).and_then(|c| c.profile(None).map(|_| ()));
            }
        }
        for garbage in [
            "[[[",
            "profiles = 3",
            "[profiles.a]\nmch_id = 1",
            "\u{0}",
            "default_profile = [\"a\"]",
        ] {
            assert!(parse(garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn the_template_parses_and_names_a_default_profile() {
        let config = parse(TEMPLATE).unwrap();
        assert!(config.profile(None).is_ok());
    }

    #[test]
    fn single_profile_is_the_default_and_paths_are_relative_to_the_file() {
        let config = parse(ONE).unwrap();
        let (name, profile) = config.profile(None).unwrap();
        assert_eq!(name, "shop");
        assert_eq!(profile.sign_type, Some(SignType::HmacSha256));
        assert_eq!(
            config.key_source(name, profile).unwrap(),
            KeySource::File("/etc/wxpay/keys/shop.key".into())
        );
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let err = parse(&format!("{ONE}api_kee = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("api_kee"), "{err}");
        assert!(err.contains("line 7, column 1"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn bad_sign_type_is_an_error() {
        let err = parse(&ONE.replace("HMAC-SHA256", "SHA1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SHA1"), "{err}");
    }

    #[test]
    fn profile_selection_errors() {
        let two = format!("{ONE}\n[profiles.other]\nmch_id = \"1\"\nappid = \"wx1\"\n");
        let config = parse(&two).unwrap();
        assert!(matches!(
            config.profile(None),
            Err(ConfigError::NoDefaultProfile { .. })
        ));
        assert!(matches!(
            config.profile(Some("nope")),
            Err(ConfigError::UnknownProfile { .. })
        ));
        let (_, other) = config.profile(Some("other")).unwrap();
        assert!(matches!(
            config.key_source("other", other),
            Err(ConfigError::NoKeySource { .. })
        ));
    }

    #[test]
    fn inline_key_in_an_open_file_is_refused_and_never_shown() {
        let text = ONE.replace(
            "api_key_file = \"keys/shop.key\"",
            "api_key = \"192006250b4c09247ec02edce69f6a2d\"",
        );
        let open = Config::parse(Path::new("/tmp/c.toml"), &text, mine(0o644)).unwrap();
        let (name, profile) = open.profile(None).unwrap();
        let err = open.api_key(name, profile).unwrap_err();
        assert!(matches!(err, ConfigError::TooOpen { mode: 0o644, .. }));
        assert!(!format!("{open:?}{err}").contains("192006250b4c"));
        let closed = Config::parse(Path::new("/tmp/c.toml"), &text, mine(0o600)).unwrap();
        let (name, profile) = closed.profile(None).unwrap();
        assert!(closed.api_key(name, profile).is_ok());
    }

    #[test]
    fn the_apiv3_key_has_the_keys_sources_and_rules() {
        const KEY: &str = "Kp3rT8vW2xY6zA1bC5dE9fG4hJ7kL0mN";
        let inline = format!("{ONE}apiv3_key = \"{KEY}\"\n");
        let open = Config::parse(Path::new("/tmp/c.toml"), &inline, mine(0o640)).unwrap();
        let (name, profile) = open.profile(None).unwrap();
        let err = open.apiv3_key(name, profile).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::TooOpen {
                    secret: Secret::ApiV3Key,
                    mode: 0o640,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("holds an APIv3 key"), "{err}");
        assert!(!format!("{open:?}{err}").contains(&KEY[..12]));
        let closed = parse(&inline).unwrap();
        let (name, profile) = closed.profile(None).unwrap();
        let loaded = closed.apiv3_key(name, profile).unwrap();
        assert_eq!(loaded.key.expose(), KEY);
        assert_eq!(
            closed
                .secret_source::<ApiV3Key>(name, profile)
                .unwrap()
                .to_string(),
            "apiv3_key in /etc/wxpay/config.toml"
        );
        // Its own sources: the API key's file is not read for it.
        let config = parse(ONE).unwrap();
        let (name, profile) = config.profile(None).unwrap();
        assert!(matches!(
            config.apiv3_key(name, profile),
            Err(ConfigError::NoKeySource {
                secret: Secret::ApiV3Key,
                ..
            })
        ));
        let two = format!("{inline}apiv3_key_env = \"WXPAY_OPS_TEST_NEVER_SET\"\n");
        let config = parse(&two).unwrap();
        let (name, profile) = config.profile(None).unwrap();
        assert!(matches!(
            config.apiv3_key(name, profile),
            Err(ConfigError::SeveralKeySources {
                secret: Secret::ApiV3Key,
                ..
            })
        ));
        let err = read_secret::<ApiV3Key>(&KeySource::Command("echo testMchAPIv3Key0".into()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the APIv3 key from command `echo testMchAPIv3Key0` has 16 characters, not 32"
        );
    }

    #[test]
    fn the_app_secret_has_the_keys_sources_and_rules() {
        const SECRET: &str = "a5f1c3e0b2d94f6e8c7b1a0d9e8f7c6b";
        let inline = format!("{ONE}app_secret = \"{SECRET}\"\n");
        let open = Config::parse(Path::new("/tmp/c.toml"), &inline, mine(0o640)).unwrap();
        let (name, profile) = open.profile(None).unwrap();
        let err = open.app_secret(name, profile).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::TooOpen {
                    secret: Secret::AppSecret,
                    mode: 0o640,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("holds an AppSecret"), "{err}");
        assert!(!format!("{open:?}{err}").contains(&SECRET[..12]));
        let closed = parse(&inline).unwrap();
        let (name, profile) = closed.profile(None).unwrap();
        assert!(
            closed
                .app_secret(name, profile)
                .unwrap()
                .key
                .matches(SECRET)
        );
        assert_eq!(
            closed
                .secret_source::<AppSecret>(name, profile)
                .unwrap()
                .to_string(),
            "app_secret in /etc/wxpay/config.toml"
        );

        let config = parse(ONE).unwrap();
        let (name, profile) = config.profile(None).unwrap();
        let err = config.app_secret(name, profile).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::NoKeySource {
                    secret: Secret::AppSecret,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("no AppSecret source"), "{err}");

        let two = format!("{inline}app_secret_env = \"WXPAY_OPS_TEST_NEVER_SET\"\n");
        let config = parse(&two).unwrap();
        let (name, profile) = config.profile(None).unwrap();
        let err = config.app_secret(name, profile).unwrap_err();
        assert!(
            matches!(&err, ConfigError::SeveralKeySources { secret: Secret::AppSecret, sources, .. } if sources.contains("app_secret in")),
            "{err}"
        );
        let err = read_secret::<AppSecret>(&KeySource::Command("echo short".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the AppSecret from command `echo short` has 5 characters, not 32"
        );
        let err = run_key_command(Secret::AppSecret, "exit 4", KEY_COMMAND_TIMEOUT)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("app_secret_cmd `exit 4` failed"),
            "{err}"
        );
    }

    #[test]
    fn several_sources_and_bad_key_shapes() {
        let text = ONE.replace(
            "sign_type",
            "api_key_env = \"WXPAY_OPS_TEST_NEVER_SET\"\nsign_type",
        );
        let config = parse(&text).unwrap();
        let (name, profile) = config.profile(None).unwrap();
        assert!(matches!(
            config.api_key(name, profile),
            Err(ConfigError::SeveralKeySources { .. })
        ));
        let err = read_key(&KeySource::Command("printf short".into())).unwrap_err();
        assert!(matches!(err, ConfigError::KeyShape { .. }), "{err}");
        let key = read_key(&KeySource::Command(
            "echo 192006250b4c09247ec02edce69f6a2d".into(),
        ));
        assert!(key.is_ok());
        assert!(matches!(
            read_key(&KeySource::Command("exit 3".into())),
            Err(ConfigError::KeyCommandFailed { .. })
        ));
        assert!(matches!(
            read_key(&KeySource::Env("WXPAY_OPS_TEST_NEVER_SET".into())),
            Err(ConfigError::KeyEnvUnset(_))
        ));
    }

    #[test]
    fn numbers_where_strings_belong_get_a_quote_it_error() {
        let text = ONE.replace("\"10000100\"", "10000100");
        let err = parse(&text).unwrap_err();
        let ConfigError::Unquoted {
            line, key, value, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(
            (*line, key.as_str(), value.as_str()),
            (3, "mch_id", "10000100")
        );
        assert!(err.to_string().contains("mch_id is a number"), "{err}");
        let err = parse(&ONE.replace("\"wx2421b1c4370ec43b\"", "2421")).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Unquoted { key, .. } if key == "appid"),
            "{err}"
        );
        // Other type errors keep toml's own message.
        let err = parse(&ONE.replace("\"10000100\"", "true")).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
    }

    /// A config in its own folder whose profile gets the key from `command`.
    fn command_config(command: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "[profiles.x]\nmch_id = \"10000100\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_cmd = {command:?}\n"
            ),
        )
        .unwrap();
        (dir, path)
    }

    fn load_key(path: &Path) -> Result<LoadedKey, ConfigError> {
        let config = Config::load(path)?;
        let (name, profile) = config.profile(None)?;
        config.api_key(name, profile)
    }

    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn secrets_are_remembered_from_files_but_no_command_is_run_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let key = "RememberedFromAFile0123456789abc";
        std::fs::write(dir.path().join("shop.key"), key).unwrap();
        chmod(&dir.path().join("shop.key"), 0o600);
        let ran = dir.path().join("ran");
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "[profiles.x]\nmch_id = \"10000100\"\nappid = \"wx2421b1c4370ec43b\"\n\
                 api_key_file = \"shop.key\"\napp_secret_cmd = \"touch {}\"\n",
                ran.display()
            ),
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        let (name, profile) = config.profile(None).unwrap();
        config.remember_secrets(name, profile);
        let shown = crate::wechat::secret::redact_loaded(key);
        assert!(!shown.contains(key), "{shown}");
        assert!(!ran.exists());
    }

    #[test]
    fn key_commands_only_run_from_files_and_folders_no_one_else_can_write() {
        let (dir, path) = command_config(&format!("echo {DOC_KEY}"));
        chmod(dir.path(), 0o700);
        chmod(&path, 0o644);
        assert!(load_key(&path).is_ok());

        chmod(&path, 0o666);
        let err = load_key(&path).unwrap_err();
        assert!(
            matches!(&err, ConfigError::KeyCommandUnsafe { path: p, mode: 0o666, problem: Unsafe::Writable, .. } if p == &path),
            "{err}"
        );
        assert!(err.to_string().contains("mode 666"), "{err}");

        chmod(&path, 0o600);
        chmod(dir.path(), 0o777);
        let err = load_key(&path).unwrap_err();
        assert!(
            matches!(&err, ConfigError::KeyCommandUnsafe { path: p, mode: 0o777, .. } if p == dir.path()),
            "{err}"
        );
        chmod(dir.path(), 0o775);
        assert!(load_key(&path).is_err(), "group-writable is as open");

        // A symlink does not hide where the file really is.
        chmod(dir.path(), 0o700);
        let open = tempfile::tempdir().unwrap();
        chmod(open.path(), 0o777);
        let real = open.path().join("real.toml");
        std::fs::rename(&path, &real).unwrap();
        std::os::unix::fs::symlink(&real, &path).unwrap();
        assert!(matches!(
            load_key(&path),
            Err(ConfigError::KeyCommandUnsafe { .. })
        ));
    }

    #[test]
    fn a_config_of_another_user_runs_no_command() {
        let (_dir, path) = command_config(&format!("echo {DOC_KEY}"));
        if !rustix::process::geteuid().is_root() {
            // Only root can give a file away; the rule is the same one the mode test checks.
            return;
        }
        let nobody = rustix::process::Uid::from_raw(65534);
        rustix::fs::chown(&path, Some(nobody), None).unwrap();
        assert!(matches!(
            load_key(&path),
            Err(ConfigError::KeyCommandUnsafe {
                problem: Unsafe::NotYours(65534),
                ..
            })
        ));
    }

    #[test]
    fn an_open_config_may_still_name_a_variable_or_a_file() {
        let (_dir, path) = command_config("unused");
        std::fs::write(
            &path,
            "[profiles.x]\nmch_id = \"10000100\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"WXPAY_OPS_TEST_NEVER_SET\"\n",
        )
        .unwrap();
        chmod(&path, 0o666);
        assert!(matches!(load_key(&path), Err(ConfigError::KeyEnvUnset(_))));
    }

    #[test]
    fn a_hanging_key_command_is_stopped() {
        let started = Instant::now();
        let err = run_key_command(Secret::ApiKey, "sleep 30", Duration::from_millis(200))
            .err()
            .unwrap();
        assert!(
            matches!(err, ConfigError::KeyCommandTimedOut { .. }),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        // A command that exits but leaves a child holding its output is stopped too.
        let err = run_key_command(
            Secret::ApiKey,
            &format!("(sleep 30; echo late) & echo {DOC_KEY}"),
            Duration::from_millis(300),
        )
        .err()
        .unwrap();
        assert!(
            matches!(err, ConfigError::KeyCommandTimedOut { .. }),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn key_command_stderr_is_kept_short_and_never_shows_the_key() {
        let loaded = read_key(&KeySource::Command(format!(
            "echo {DOC_KEY} >&2; echo 'vault: unlocked' >&2; echo {DOC_KEY}"
        )))
        .unwrap();
        let stderr = loaded.stderr.unwrap();
        assert!(!stderr.contains(DOC_KEY), "{stderr}");
        assert!(stderr.contains("vault: unlocked"), "{stderr}");
        let quiet = read_key(&KeySource::Command(format!("echo {DOC_KEY}"))).unwrap();
        assert!(quiet.stderr.is_none());

        let err = read_key(&KeySource::Command(
            "for n in 1 2 3 4 5 6 7; do echo line$n >&2; done; printf 'bad\\033]0;owned\\007\\n' >&2; exit 3"
                .into(),
        ))
        .unwrap_err();
        let ConfigError::KeyCommandFailed { stderr, .. } = &err else {
            panic!("{err}");
        };
        assert!(
            !stderr.contains("line3") && stderr.contains("line4"),
            "{stderr}"
        );
        assert!(!stderr.chars().any(char::is_control), "{stderr:?}");
        assert!(err.to_string().contains("it said: line4"), "{err}");
    }
}
