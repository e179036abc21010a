//! Settings resolution in one place: flag > environment > profile > default.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use clap::builder::{PossibleValue, TypedValueParser};

use super::failure::Failure;
use crate::config::{
    Config, ConfigError, KeySource, Loaded, Profile, ProfileSecret, default_path, read_secret,
};
use crate::output::Printer;
use crate::wechat::{ApiKey, ApiV3Key, AppSecret, SignType};

/// The largest message, notification or parameter file read from a file or stdin.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// The value parser of every day argument: yyyy-MM-dd, yyyyMMdd, today or yesterday, counted
/// from the current Beijing day.
pub fn parse_day(text: &str) -> Result<time::Date, String> {
    crate::time::parse_day_arg(text, crate::time::today()).map_err(|e| e.to_string())
}

/// The value parser of every month argument: yyyy-MM, yyyyMM, this or last, counted from the
/// current Beijing day.
pub fn parse_month(text: &str) -> Result<crate::time::YearMonth, String> {
    crate::time::parse_month_arg(text, crate::time::today()).map_err(|e| e.to_string())
}

pub struct Context {
    pub config: Option<PathBuf>,
    pub profile: Option<String>,
    pub printer: Printer,
    /// `-v`: show each attempt of an API call on stderr.
    pub verbose: bool,
}

/// Where to take the API key from instead of the profile.
#[derive(Debug, Clone, Default, Args)]
pub struct KeyArgs {
    /// Read the API key from this environment variable instead of the profile
    #[arg(long, value_name = "VAR", conflicts_with = "key_file")]
    key_env: Option<String>,
    /// Read the API key from this file (mode 0600) instead of the profile
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

impl KeyArgs {
    fn source(&self) -> Option<KeySource> {
        source_of(&self.key_env, &self.key_file)
    }

    /// The flag given, for the commands that have no use for the API key.
    pub fn given(&self) -> Option<&'static str> {
        match (&self.key_env, &self.key_file) {
            (Some(_), _) => Some("--key-env"),
            (None, Some(_)) => Some("--key-file"),
            (None, None) => None,
        }
    }
}

/// Where to take the APIv3 key from instead of the profile.
#[derive(Debug, Clone, Default, Args)]
pub struct ApiV3KeyArgs {
    /// Read the APIv3 key from this environment variable instead of the profile
    #[arg(long, value_name = "VAR", conflicts_with = "apiv3_key_file")]
    apiv3_key_env: Option<String>,
    /// Read the APIv3 key from this file (mode 0600) instead of the profile
    #[arg(long, value_name = "FILE")]
    apiv3_key_file: Option<PathBuf>,
}

impl ApiV3KeyArgs {
    pub fn source(&self) -> Option<KeySource> {
        source_of(&self.apiv3_key_env, &self.apiv3_key_file)
    }
}

/// A secret's source flags, the variable before the file.
fn source_of(env: &Option<String>, file: &Option<PathBuf>) -> Option<KeySource> {
    match (env, file) {
        (Some(var), _) => Some(KeySource::Env(var.clone())),
        (None, Some(path)) => Some(KeySource::File(path.clone())),
        (None, None) => None,
    }
}

/// A profile picked from the config file.
pub struct Selected {
    pub config: Config,
    pub name: String,
    pub profile: Profile,
}

impl Selected {
    /// The mini program's AppSecret, which only `openid` needs.
    pub fn app_secret(&self, printer: &Printer) -> Result<AppSecret, Failure> {
        Ok(shown(
            printer,
            self.config.app_secret(&self.name, &self.profile)?,
        ))
    }
}

/// The secret, once what its command said on stderr is shown as a warning.
fn shown<T: ProfileSecret>(printer: &Printer, loaded: Loaded<T>) -> T {
    if let Some(stderr) = &loaded.stderr {
        printer.warn(&format!(
            "{}_cmd said on stderr: {stderr}",
            T::SECRET.field()
        ));
    }
    loaded.key
}

impl Context {
    pub fn config_path(&self) -> Result<PathBuf, Failure> {
        self.config.clone().or_else(default_path).ok_or_else(|| {
            Failure::usage("cannot find a config folder for this user").hint("pass --config FILE")
        })
    }

    pub fn load_config(&self) -> Result<Config, Failure> {
        Ok(Config::load(&self.config_path()?)?)
    }

    pub fn select(&self) -> Result<Selected, Failure> {
        let config = self.load_config()?;
        let (name, profile) = config.profile(self.profile.as_deref())?;
        let (name, profile) = (name.to_owned(), profile.clone());
        config.remember_secrets(&name, &profile);
        Ok(Selected {
            config,
            name,
            profile,
        })
    }

    /// The profile when a config file is there to give one; none when no file exists and
    /// none was asked for, so that commands given a key by flag work without a config file.
    pub fn select_optional(&self) -> Result<Option<Selected>, Failure> {
        let explicit = self.config.is_some() || self.profile.is_some();
        let path = self.config_path()?;
        if !explicit && !path.exists() {
            return Ok(None);
        }
        self.select().map(Some)
    }

    /// The profile for a command that needs a key. When the key is given by flag, a config
    /// file that cannot be used is only warned about: the flag is all the command needs. A
    /// file named with --config or WXPAY_OPS_CONFIG that is not there is still an error, since
    /// a mistyped name would otherwise drop the profile's checks without a word.
    pub fn profile_for(&self, keys: &KeyArgs) -> Result<Option<Selected>, Failure> {
        if let Some(path) = &self.config
            && let Err(e) = std::fs::metadata(path)
            && e.kind() == std::io::ErrorKind::NotFound
        {
            return Err(ConfigError::NotFound(path.clone()).into());
        }
        match self.select_optional() {
            Err(failure) if keys.source().is_some() => {
                self.printer
                    .warn(&format!("not using the config file: {}", failure.message));
                Ok(None)
            }
            other => other,
        }
    }

    /// The API key from `--key-env`/`--key-file`, else from the profile.
    pub fn api_key(&self, keys: &KeyArgs, selected: Option<&Selected>) -> Result<ApiKey, Failure> {
        self.secret(keys.source(), ["--key-env", "--key-file"], selected)
    }

    /// The APIv3 key from `--apiv3-key-env`/`--apiv3-key-file`, else from the profile.
    pub fn apiv3_key(
        &self,
        keys: &ApiV3KeyArgs,
        selected: Option<&Selected>,
    ) -> Result<ApiV3Key, Failure> {
        self.secret(
            keys.source(),
            ["--apiv3-key-env", "--apiv3-key-file"],
            selected,
        )
    }

    /// A secret from the source its flags name, else from the profile.
    fn secret<T: ProfileSecret>(
        &self,
        source: Option<KeySource>,
        [env, file]: [&str; 2],
        selected: Option<&Selected>,
    ) -> Result<T, Failure> {
        if let Some(source) = source {
            return Ok(shown(&self.printer, read_secret(&source)?));
        }
        match selected {
            Some(s) => Ok(shown(&self.printer, s.config.secret(&s.name, &s.profile)?)),
            None => Err(Failure::usage(format!(
                "no {}: no {env} or {file}, and no config file at {}",
                T::SECRET,
                self.config_path()?.display()
            ))
            .hint(format!(
                "pass {env} VAR or {file} FILE, or run `wxpay-ops config init`"
            ))),
        }
    }
}

/// A file that could not be written, named as the user gave it, with the remedy.
/// The sign type someone chose: the flag, else the profile's.
pub fn chosen_sign_type(flag: Option<SignType>, selected: Option<&Selected>) -> Option<SignType> {
    flag.or_else(|| selected.and_then(|s| s.profile.sign_type))
}

/// The sign type to sign with: the one chosen, else the protocol default MD5.
pub fn sign_type(flag: Option<SignType>, selected: Option<&Selected>) -> SignType {
    chosen_sign_type(flag, selected).unwrap_or_default()
}

/// Opens a file named on the command line; a missing one says where it was looked for.
pub fn open_input(path: &Path) -> Result<std::fs::File, Failure> {
    std::fs::File::open(path).map_err(|e| {
        let failure = Failure::input(&path.display().to_string(), &e);
        match e.kind() {
            std::io::ErrorKind::NotFound => failure.hint(format!(
                "check the path (a relative one is taken from {}), or give - to read standard input",
                std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string())
            )),
            _ => failure,
        }
    })
}

/// Reads a file, or standard input for `-`, refusing anything over the input limit.
pub fn read_input(arg: &Path) -> Result<(String, Vec<u8>), Failure> {
    let (name, reader): (String, Box<dyn Read>) = if arg == Path::new("-") {
        ("standard input".to_owned(), Box::new(std::io::stdin()))
    } else {
        (arg.display().to_string(), Box::new(open_input(arg)?))
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::input(&name, e))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Failure::input(&name, "larger than the 1 MiB input limit"));
    }
    Ok((name, bytes))
}

/// A `--sign-type` value, in any ASCII case.
pub fn parse_sign_type(text: &str) -> Result<SignType, String> {
    SignType::parse_any_case(text).map_err(|e| e.to_string())
}

/// `--sign-type`'s value parser: [`parse_sign_type`], plus the list of names, which a plain
/// function cannot give clap, so that `--help` and shell completion can offer them.
#[derive(Debug, Clone, Copy)]
pub struct SignTypeParser;

impl TypedValueParser for SignTypeParser {
    type Value = SignType;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<SignType, clap::Error> {
        parse_sign_type.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let names = [SignType::Md5, SignType::HmacSha256].map(SignType::as_str);
        Some(Box::new(names.into_iter().map(PossibleValue::new)))
    }
}
