//! The merchants the emulator knows: from a small TOML file, or the built-in default.

use std::collections::BTreeMap;
use std::path::Path;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::wechat::{ApiKey, AppSecret, SignType};

/// The built-in merchant, printed by `emulator serve` so a developer can point a backend at it.
pub const DEFAULT_MCH_ID: &str = "1900000109";
pub const DEFAULT_APPIDS: [&str; 2] = ["wx2421b1c4370ec43b", "wxd930ea5d5a258f4f"];
pub const DEFAULT_API_KEY: &str = "EmulatorKey0123456789abcdefABCDE";
/// The AppSecrets of the built-in merchant's two AppIDs, in the order of `DEFAULT_APPIDS`:
/// public test data, like its key. Both apps are bound to its open-platform account, so a
/// user logging in to either gets one unionid.
pub const DEFAULT_APP_SECRETS: [&str; 2] = [
    "a5f1c3e0b2d94f6e8c7b1a0d9e8f7c6b",
    "4d3c2b1a0f9e8d7c6b5a49382716f5e4",
];

/// A service provider (服务商) for tests of service-provider mode, with one sub-merchant.
/// Not among the built-in merchants; add it with `Merchant::default_service_provider()` or
/// a merchants file.
pub const SERVICE_PROVIDER_MCH_ID: &str = "1900000100";
pub const SERVICE_PROVIDER_APPID: &str = "wx8888888888888888";
pub const SERVICE_PROVIDER_API_KEY: &str = "ServiceProviderKey0123456789abcd";
pub const SUB_MCH_ID: &str = "1900000201";
pub const SUB_APPID: &str = "wxd678efh567hg6999";

#[derive(Debug, Clone)]
pub struct Merchant {
    pub mch_id: String,
    pub appids: Vec<String>,
    pub key: ApiKey,
    pub sign_types: Vec<SignType>,
    /// Where refund results go when a refund request names no notify_url: the URL a merchant
    /// sets in the console.
    pub refund_notify_url: Option<String>,
    /// A service provider's sub-merchants (特约商户); empty for an ordinary merchant.
    pub sub_merchants: Vec<SubMerchant>,
    /// The AppSecret of each AppID (of `appids` or a sub-merchant's `sub_appids`) that users
    /// can log in to (code2Session); an AppID without one refuses every secret.
    pub app_secrets: BTreeMap<String, AppSecret>,
    /// The AppIDs bound to the merchant's open-platform account (微信开放平台): code2Session
    /// answers them with a unionid, one per user across all of them.
    pub open_platform_appids: Vec<String>,
}

/// A sub-merchant bound to a service provider, and the AppIDs bound to it (sub_appid).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubMerchant {
    pub sub_mch_id: String,
    #[serde(default)]
    pub sub_appids: Vec<String>,
}

impl Merchant {
    pub fn default_merchant() -> Merchant {
        Merchant {
            mch_id: DEFAULT_MCH_ID.into(),
            appids: DEFAULT_APPIDS.map(String::from).to_vec(),
            key: ApiKey::new(DEFAULT_API_KEY),
            sign_types: vec![SignType::Md5, SignType::HmacSha256],
            refund_notify_url: None,
            sub_merchants: Vec::new(),
            app_secrets: DEFAULT_APPIDS
                .iter()
                .zip(DEFAULT_APP_SECRETS)
                .map(|(appid, secret)| (appid.to_string(), AppSecret::new(secret)))
                .collect(),
            open_platform_appids: DEFAULT_APPIDS.map(String::from).to_vec(),
        }
    }

    /// The service provider of `SERVICE_PROVIDER_MCH_ID`, with the sub-merchant `SUB_MCH_ID`.
    pub fn default_service_provider() -> Merchant {
        Merchant {
            mch_id: SERVICE_PROVIDER_MCH_ID.into(),
            appids: vec![SERVICE_PROVIDER_APPID.into()],
            key: ApiKey::new(SERVICE_PROVIDER_API_KEY),
            sign_types: vec![SignType::Md5, SignType::HmacSha256],
            refund_notify_url: None,
            sub_merchants: vec![SubMerchant {
                sub_mch_id: SUB_MCH_ID.into(),
                sub_appids: vec![SUB_APPID.into()],
            }],
            app_secrets: BTreeMap::new(),
            open_platform_appids: Vec::new(),
        }
    }

    /// Every AppID of the merchant: its own, and its sub-merchants'.
    pub fn all_appids(&self) -> impl Iterator<Item = &str> {
        self.appids.iter().map(String::as_str).chain(
            self.sub_merchants
                .iter()
                .flat_map(|sub| sub.sub_appids.iter().map(String::as_str)),
        )
    }

    /// A service provider trades for its sub-merchants, never for itself.
    pub fn is_service_provider(&self) -> bool {
        !self.sub_merchants.is_empty()
    }

    pub fn sub_merchant(&self, sub_mch_id: &str) -> Option<&SubMerchant> {
        self.sub_merchants
            .iter()
            .find(|s| s.sub_mch_id == sub_mch_id)
    }

    /// The APIv3 key of a merchant after the default one: fixed per merchant, as the sandbox
    /// key is, so that its files stay good across restarts.
    pub fn apiv3_key(&self) -> crate::wechat::ApiV3Key {
        let digest = Md5::digest(format!("apiv3:{}:{}", self.mch_id, self.key.expose()));
        crate::wechat::ApiV3Key::new(crate::wechat::hex_upper(&digest).to_lowercase())
    }

    /// The key `/sandboxnew/pay/getsignkey` hands out: fixed per merchant, so that a client
    /// may cache it as real clients do.
    pub fn sandbox_key(&self) -> ApiKey {
        let digest = Md5::digest(format!("sandbox:{}:{}", self.mch_id, self.key.expose()));
        ApiKey::new(crate::wechat::hex_upper(&digest).to_lowercase())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantsFile {
    merchants: Vec<MerchantEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantEntry {
    mch_id: String,
    appids: Vec<String>,
    api_key: String,
    #[serde(default)]
    sign_types: Option<Vec<String>>,
    #[serde(default)]
    refund_notify_url: Option<String>,
    /// Makes the merchant a service provider with these sub-merchants.
    #[serde(default)]
    sub_merchants: Vec<SubMerchant>,
    /// `[merchants.app_secrets]`: AppID = "AppSecret".
    #[serde(default)]
    app_secrets: BTreeMap<String, String>,
    #[serde(default)]
    open_platform_appids: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MerchantsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

/// Reads `[[merchants]]` tables: mch_id, appids, api_key, optional sign_types,
/// refund_notify_url, open_platform_appids, `[merchants.app_secrets]` and
/// `[[merchants.sub_merchants]]`.
pub fn load_merchants(path: &Path) -> Result<Vec<Merchant>, MerchantsError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| MerchantsError::Read {
        path: name.clone(),
        source,
    })?;
    let invalid = |message: String| MerchantsError::Invalid {
        path: name.clone(),
        message,
    };
    let file: MerchantsFile =
        toml::from_str(&text).map_err(|e| invalid(crate::toml_error::one_line(&text, &e)))?;
    if file.merchants.is_empty() {
        return Err(invalid("no [[merchants]] entries".into()));
    }
    let merchants = file
        .merchants
        .into_iter()
        .map(|entry| {
            let key = ApiKey::new(entry.api_key);
            key.check_shape()
                .map_err(|e| invalid(format!("merchant {}: api_key {e}", entry.mch_id)))?;
            if entry.appids.is_empty() {
                return Err(invalid(format!("merchant {} has no appids", entry.mch_id)));
            }
            if entry.sub_merchants.iter().any(|s| s.sub_mch_id.is_empty()) {
                return Err(invalid(format!(
                    "merchant {} has a sub-merchant without sub_mch_id",
                    entry.mch_id
                )));
            }
            let sign_types = match entry.sign_types {
                None => vec![SignType::Md5, SignType::HmacSha256],
                Some(names) => names
                    .iter()
                    .map(|n| n.parse::<SignType>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| invalid(format!("merchant {}: {e}", entry.mch_id)))?,
            };
            let mut merchant = Merchant {
                mch_id: entry.mch_id,
                appids: entry.appids,
                key,
                sign_types,
                refund_notify_url: entry.refund_notify_url,
                sub_merchants: entry.sub_merchants,
                app_secrets: BTreeMap::new(),
                open_platform_appids: Vec::new(),
            };
            let foreign = |appid: &String, what: &str| {
                invalid(format!(
                    "merchant {}: {what} names {appid:?}, which is none of its appids or sub_appids",
                    merchant.mch_id
                ))
            };
            for (appid, secret) in entry.app_secrets {
                if !merchant.all_appids().any(|own| own == appid) {
                    return Err(foreign(&appid, "app_secrets"));
                }
                let secret = AppSecret::new(secret);
                secret.check_shape().map_err(|e| {
                    invalid(format!(
                        "merchant {}: the AppSecret of {appid} {e}",
                        merchant.mch_id
                    ))
                })?;
                merchant.app_secrets.insert(appid, secret);
            }
            for appid in &entry.open_platform_appids {
                if !merchant.all_appids().any(|own| own == appid) {
                    return Err(foreign(appid, "open_platform_appids"));
                }
            }
            merchant.open_platform_appids = entry.open_platform_appids;
            Ok(merchant)
        })
        .collect::<Result<Vec<_>, _>>()?;
    apps_agree(&merchants).map_err(invalid)?;
    Ok(merchants)
}

/// An AppID is one app, whichever merchants it is bound to: one AppSecret, and one
/// open-platform account at most.
fn apps_agree(merchants: &[Merchant]) -> Result<(), String> {
    for (index, merchant) in merchants.iter().enumerate() {
        for earlier in &merchants[..index] {
            for (appid, secret) in &merchant.app_secrets {
                if let Some(other) = earlier.app_secrets.get(appid)
                    && !other.matches(secret.expose())
                {
                    return Err(format!(
                        "merchants {} and {} give {appid} different AppSecrets; an app has one",
                        earlier.mch_id, merchant.mch_id
                    ));
                }
            }
            if let Some(appid) = merchant
                .open_platform_appids
                .iter()
                .find(|appid| earlier.open_platform_appids.contains(appid))
            {
                return Err(format!(
                    "merchants {} and {} both bind {appid} to their open-platform account; an app is bound to one",
                    earlier.mch_id, merchant.mch_id
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_merchant_key_has_the_real_shape() {
        let merchant = Merchant::default_merchant();
        assert_eq!(merchant.key.check_shape(), Ok(()));
        assert_eq!(merchant.sandbox_key().check_shape(), Ok(()));
        assert_ne!(merchant.sandbox_key().expose(), merchant.key.expose());
    }

    #[test]
    fn the_sample_file_loads() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/emulator-merchants.sample.toml"
        );
        let merchants = load_merchants(Path::new(path)).unwrap();
        assert_eq!(merchants.len(), 3);
        assert_eq!(merchants[0].key.expose(), DEFAULT_API_KEY);
        let provider = Merchant::default_service_provider();
        assert_eq!(merchants[2].mch_id, provider.mch_id);
        assert_eq!(merchants[2].key.expose(), provider.key.expose());
        assert_eq!(merchants[2].sub_merchants, provider.sub_merchants);
        assert!(!merchants[0].is_service_provider());
        let builtin = Merchant::default_merchant();
        assert_eq!(
            merchants[0].open_platform_appids,
            builtin.open_platform_appids
        );
        for (appid, secret) in &builtin.app_secrets {
            assert!(merchants[0].app_secrets[appid].matches(secret.expose()));
            assert_eq!(secret.check_shape(), Ok(()));
        }
    }

    #[test]
    fn app_secrets_and_open_platform_bindings_belong_to_the_merchants_apps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        let entry = |mch_id: &str, extra: &str| {
            format!(
                "[[merchants]]\nmch_id = \"{mch_id}\"\nappids = [\"wx2421b1c4370ec43b\"]\n\
                 api_key = \"192006250b4c09247ec02edce69f6a2d\"\n{extra}\n"
            )
        };
        let secret =
            |value: &str| format!("[merchants.app_secrets]\nwx2421b1c4370ec43b = \"{value}\"\n");
        let load = |text: String| {
            std::fs::write(&path, text).unwrap();
            load_merchants(&path).map_err(|e| e.to_string())
        };
        let one = load(entry(
            "10000100",
            &format!(
                "open_platform_appids = [\"wx2421b1c4370ec43b\"]\n{}",
                secret("0123456789abcdef0123456789abcdef")
            ),
        ))
        .unwrap();
        assert!(
            one[0].app_secrets["wx2421b1c4370ec43b"].matches("0123456789abcdef0123456789abcdef")
        );
        for (text, needle) in [
            (
                entry(
                    "1",
                    "[merchants.app_secrets]\nwx0000000000000000 = \"0123456789abcdef0123456789abcdef\"\n",
                ),
                "app_secrets names \"wx0000000000000000\"",
            ),
            (
                entry("1", "open_platform_appids = [\"wx0000000000000000\"]"),
                "open_platform_appids names",
            ),
            (entry("1", &secret("short")), "has 5 characters, not 32"),
            (
                entry("1", &secret("0123456789abcdef0123456789abcdef"))
                    + &entry("2", &secret("fedcba9876543210fedcba9876543210")),
                "different AppSecrets",
            ),
            (
                entry("1", "open_platform_appids = [\"wx2421b1c4370ec43b\"]")
                    + &entry("2", "open_platform_appids = [\"wx2421b1c4370ec43b\"]"),
                "both bind",
            ),
        ] {
            let error = load(text).unwrap_err();
            assert!(error.contains(needle), "{error}");
            assert!(!error.contains("0123456789abcdef0123"), "{error}");
        }
    }

    #[test]
    fn merchants_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "[[merchants]]\nmch_id = \"10000100\"\nappids = [\"wx2421b1c4370ec43b\"]\napi_key = \"192006250b4c09247ec02edce69f6a2d\"\nsign_types = [\"MD5\"]\n",
        )
        .unwrap();
        let merchants = load_merchants(&path).unwrap();
        assert_eq!(merchants[0].sign_types, vec![SignType::Md5]);
        std::fs::write(
            &path,
            "[[merchants]]\nmch_id = \"1\"\nappids = [\"wx1\"]\napi_key = \"short\"\n",
        )
        .unwrap();
        assert!(
            load_merchants(&path)
                .unwrap_err()
                .to_string()
                .contains("32")
        );
    }
}
