//! What `emulator serve --format json` prints once it listens (docs/reference.md), so that a
//! script listening on port 0 learns its ports, files and merchants. Never an API key or an
//! AppSecret: scripts read those from their own merchants file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::cloudpay::{CloudFunction, PREFIX as CLOUDPAY_PREFIX};
use super::merchant::{Merchant, SubMerchant};
use super::pki::ClientPaths;
use super::server::{APIV3_KEY_FILE, CONTROL_PREFIX, Emulator, V3_KEY_FILE};

#[derive(Debug, Serialize)]
pub struct Listening<'a> {
    base_url: String,
    tls_base_url: String,
    http_port: u16,
    tls_port: u16,
    control_url: String,
    control_token: Option<&'a str>,
    cloudpay_url: String,
    ca_cert: String,
    profile: String,
    cert_dir: String,
    cert_dir_removed_on_exit: bool,
    merchants: Vec<Listed<'a>>,
    cloud_functions: Vec<CloudFunction>,
}

/// A merchant, with the files a backend needs to act as it.
#[derive(Debug, Serialize)]
struct Listed<'a> {
    mch_id: &'a str,
    appids: &'a [String],
    /// A service provider's sub-merchants (empty for an ordinary merchant): the sub_mch_id
    /// and sub_appid values its requests may name.
    sub_merchants: &'a [SubMerchant],
    cert_pem: Option<String>,
    cert_key_pem: Option<String>,
    cert_p12: Option<String>,
    /// For a backend's login (code2Session): where each AppSecret is, never the secret.
    app_secret_files: BTreeMap<&'a str, Option<String>>,
    /// API v3: the merchant's private key, its certificate serial and its APIv3 key's file
    /// (null for a merchant without v3 credentials).
    private_key_pem: Option<String>,
    cert_serial: Option<&'a str>,
    apiv3_key_file: Option<String>,
    /// The apps that answer a login with a unionid.
    open_platform_appids: &'a [String],
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

impl Emulator {
    /// What it prints once it listens; `control_token` is the one the control plane needs.
    pub fn listening<'a>(&'a self, control_token: Option<&'a str>) -> Listening<'a> {
        let base_url = self.base_url();
        Listening {
            tls_base_url: self.tls_base_url(),
            http_port: self.http_addr().port(),
            tls_port: self.https_addr().port(),
            control_url: format!("{base_url}{CONTROL_PREFIX}/"),
            control_token,
            cloudpay_url: format!("{base_url}{CLOUDPAY_PREFIX}/"),
            ca_cert: shown(self.ca_cert()),
            profile: shown(self.profile()),
            cert_dir: shown(self.cert_dir()),
            cert_dir_removed_on_exit: self.is_temporary(),
            merchants: (self.core().options.merchants.iter())
                .map(|merchant| self.listed(merchant))
                .collect(),
            cloud_functions: self.core().cloud_functions(),
            base_url,
        }
    }

    fn listed<'a>(&'a self, merchant: &'a Merchant) -> Listed<'a> {
        let certs = self.client_cert(&merchant.mch_id);
        let v3 = self.core().v3_credentials(&merchant.mch_id);
        let folder = self.cert_dir().join(&merchant.mch_id);
        let path = |pick: fn(&ClientPaths) -> &Path| certs.map(|c| shown(pick(c)));
        Listed {
            mch_id: &merchant.mch_id,
            appids: &merchant.appids,
            sub_merchants: &merchant.sub_merchants,
            cert_pem: path(|c| &c.cert),
            cert_key_pem: path(|c| &c.key),
            cert_p12: path(|c| &c.p12),
            app_secret_files: (merchant.app_secrets.keys())
                .map(|appid| (appid.as_str(), self.app_secret_file(appid).map(shown)))
                .collect(),
            open_platform_appids: &merchant.open_platform_appids,
            private_key_pem: v3.map(|_| shown(&folder.join(V3_KEY_FILE))),
            cert_serial: v3.map(|c| c.serial.as_str()),
            apiv3_key_file: v3.map(|_| shown(&folder.join(APIV3_KEY_FILE))),
        }
    }
}
