//! Profiles: where the config file is, what a profile holds, and where its secrets come from.

pub mod certs;
pub mod check;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Deserializer};
use thiserror::Error;

use crate::wechat::secret::KeyShapeError;
use crate::wechat::{ApiKey, SignType};

/// A config file larger than this is certainly not a config file.
const MAX_CONFIG_BYTES: u64 = 1 << 20;
const MAX_KEY_FILE_BYTES: u64 = 4096;

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
    #[error("profile {profile:?} has no API key source")]
    NoKeySource { profile: String },
    #[error("profile {profile:?} sets more than one API key source ({sources})")]
    SeveralKeySources { profile: String, sources: String },
    #[error("environment variable {0} is not set")]
    KeyEnvUnset(String),
    #[error("api_key_cmd `{command}` failed ({status})")]
    KeyCommandFailed { command: String, status: String },
    #[error("{path} is readable by other users (mode {mode:o}) and holds an API key")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("the API key from {source_name} is unusable: {problem}")]
    KeyShape {
        source_name: String,
        problem: KeyShapeError,
    },
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
    #[serde(default, deserialize_with = "sign_type")]
    pub sign_type: Option<SignType>,
    pub api_base: Option<String>,
    pub cert_pem: Option<PathBuf>,
    pub cert_key_pem: Option<PathBuf>,
    pub cert_p12: Option<PathBuf>,
    pub cert_p12_password: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub notify_url: Option<String>,
}

fn inline_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ApiKey>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(ApiKey::new))
}

fn sign_type<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SignType>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|text| SignType::parse_any_case(&text).map_err(serde::de::Error::custom))
        .transpose()
}

/// Where an API key is read from, for display (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env(String),
    File(PathBuf),
    Command(String),
    Inline(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env(name) => write!(f, "environment variable {name}"),
            KeySource::File(path) => write!(f, "file {}", path.display()),
            KeySource::Command(cmd) => write!(f, "command `{cmd}`"),
            KeySource::Inline(path) => write!(f, "api_key in {}", path.display()),
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

#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    default_profile: Option<String>,
    profiles: BTreeMap<String, Profile>,
    mode: Option<u32>,
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
        Config::parse(path, &text, file_mode(&metadata))
    }

    fn parse(path: &Path, text: &str, mode: Option<u32>) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: one_line(text, &e),
        })?;
        Ok(Config {
            path: path.to_owned(),
            default_profile: file.default_profile,
            profiles: file.profiles,
            mode,
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
        let mut sources = Vec::new();
        if let Some(var) = &profile.api_key_env {
            sources.push(KeySource::Env(var.clone()));
        }
        if let Some(path) = &profile.api_key_file {
            sources.push(KeySource::File(self.resolve(path)));
        }
        if let Some(cmd) = &profile.api_key_cmd {
            sources.push(KeySource::Command(cmd.clone()));
        }
        if profile.api_key.is_some() {
            sources.push(KeySource::Inline(self.path.clone()));
        }
        match sources.len() {
            0 => Err(ConfigError::NoKeySource {
                profile: name.to_owned(),
            }),
            1 => Ok(sources.remove(0)),
            _ => Err(ConfigError::SeveralKeySources {
                profile: name.to_owned(),
                sources: sources
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    pub fn api_key(&self, name: &str, profile: &Profile) -> Result<ApiKey, ConfigError> {
        let source = self.key_source(name, profile)?;
        if let (KeySource::Inline(path), Some(mode)) = (&source, self.mode)
            && mode & 0o077 != 0
        {
            return Err(ConfigError::TooOpen {
                path: path.clone(),
                mode: mode & 0o777,
            });
        }
        let key = match &source {
            KeySource::Inline(_) => profile.api_key.clone().expect("inline source has a key"),
            other => read_key(other)?,
        };
        checked(key, &source)
    }
}

/// "line L, column C: message", in place of toml's multi-line report with a source snippet.
pub(crate) fn one_line(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end().replace('\n', "; ");
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// Reads a key from an environment variable, a file, or a command; never the inline one.
pub fn read_key(source: &KeySource) -> Result<ApiKey, ConfigError> {
    let key = match source {
        KeySource::Env(var) => {
            std::env::var(var).map_err(|_| ConfigError::KeyEnvUnset(var.clone()))?
        }
        KeySource::File(path) => read_key_file(path)?,
        KeySource::Command(command) => run_key_command(command)?,
        KeySource::Inline(_) => unreachable!("inline keys are read with the config file"),
    };
    checked(ApiKey::new(key.trim_end_matches(['\r', '\n'])), source)
}

fn checked(key: ApiKey, source: &KeySource) -> Result<ApiKey, ConfigError> {
    key.check_shape().map_err(|problem| ConfigError::KeyShape {
        source_name: source.to_string(),
        problem,
    })?;
    Ok(key)
}

fn read_key_file(path: &Path) -> Result<String, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if let Some(mode) = file_mode(&metadata)
        && mode & 0o077 != 0
    {
        return Err(ConfigError::TooOpen {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    if metadata.len() > MAX_KEY_FILE_BYTES {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            message: "a key file holds one 32-character key, this one is larger than 4 KiB".into(),
        });
    }
    std::fs::read_to_string(path).map_err(read_error)
}

fn run_key_command(command: &str) -> Result<String, ConfigError> {
    // The command's stderr goes to the user (a password prompt, a vault error); its stdout is
    // the key and is never shown.
    let output = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| ConfigError::KeyCommandFailed {
            command: command.to_owned(),
            status: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(ConfigError::KeyCommandFailed {
            command: command.to_owned(),
            status: output.status.to_string(),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| ConfigError::KeyCommandFailed {
        command: command.to_owned(),
        status: "its output is not UTF-8".into(),
    })
}

#[cfg(unix)]
fn file_mode(metadata: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(metadata.permissions().mode())
}

#[cfg(not(unix))]
fn file_mode(_: &std::fs::Metadata) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/wxpay/config.toml"), text, Some(0o600))
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
        let open = Config::parse(Path::new("/tmp/c.toml"), &text, Some(0o644)).unwrap();
        let (name, profile) = open.profile(None).unwrap();
        let err = open.api_key(name, profile).unwrap_err();
        assert!(matches!(err, ConfigError::TooOpen { mode: 0o644, .. }));
        assert!(!format!("{open:?}{err}").contains("192006250b4c"));
        let closed = Config::parse(Path::new("/tmp/c.toml"), &text, Some(0o600)).unwrap();
        let (name, profile) = closed.profile(None).unwrap();
        assert!(closed.api_key(name, profile).is_ok());
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
}
