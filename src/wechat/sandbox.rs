//! The sandbox key cache. The sandbox signs with a key of its own, fetched with the production
//! key ([`Client::sandbox_key`]); it is kept in a private file so that every command does not
//! fetch it again, and so that `--dry-run` can show a sandbox request without sending one.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::ApiKey;
use super::client::Client;
use crate::fsutil::FileError;

/// How long a fetched sandbox key is used. Its lifetime is undocumented (reference A7):
/// EasyWeChat keeps it 24 hours, which real sandboxes evidently allow.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A cache file larger than this is not ours.
const MAX_FILE_BYTES: u64 = 4096;

#[derive(Serialize, Deserialize)]
struct CachedKey {
    api_base: String,
    mch_id: String,
    /// Of the production key it was fetched with: a new key fetches a new sandbox key.
    key_fingerprint: String,
    sandbox_key: String,
    expires_at: u64,
}

/// One merchant's cached sandbox key: `wxpay-ops/sandbox/MCH_ID.json` in the user's cache
/// folder, mode 0600.
#[derive(Debug, Clone)]
pub struct KeyCache {
    path: PathBuf,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl KeyCache {
    /// The cache of `mch_id` under `cache_dir`; none for an mch_id that is no safe file name.
    pub fn new(cache_dir: &Path, mch_id: &str) -> Option<KeyCache> {
        let safe = !mch_id.is_empty() && mch_id.bytes().all(|b| b.is_ascii_alphanumeric());
        safe.then(|| KeyCache {
            path: cache_dir
                .join("wxpay-ops")
                .join("sandbox")
                .join(format!("{mch_id}.json")),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cached sandbox key of `production` (a client with the production key), when it
    /// is this merchant's, from this key and server, unexpired, and in a file no one else can
    /// read.
    pub fn load(&self, production: &Client) -> Option<ApiKey> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(&self.path).ok()?;
        if metadata.mode() & 0o077 != 0 || metadata.len() > MAX_FILE_BYTES {
            return None;
        }
        let cached: CachedKey = serde_json::from_slice(&std::fs::read(&self.path).ok()?).ok()?;
        let fits = cached.api_base == production.api_base()
            && cached.mch_id == production.mch_id
            && cached.key_fingerprint == production.key().fingerprint()
            && cached.expires_at > now_secs();
        fits.then(|| ApiKey::new(cached.sandbox_key))
    }

    /// Keeps `sandbox_key`, fetched by `production`, for [`KEY_LIFETIME`].
    pub fn store(&self, production: &Client, sandbox_key: &ApiKey) -> Result<(), FileError> {
        let record = CachedKey {
            api_base: production.api_base().to_owned(),
            mch_id: production.mch_id.clone(),
            key_fingerprint: production.key().fingerprint(),
            sandbox_key: sandbox_key.expose().to_owned(),
            expires_at: now_secs() + KEY_LIFETIME.as_secs(),
        };
        let json = serde_json::to_vec(&record).expect("the record serializes");
        if let Some(dir) = self.path.parent() {
            crate::fsutil::create_private_dir_all(dir)?;
        }
        crate::fsutil::write_private(&self.path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::SignType;
    use crate::wechat::client::ClientOptions;
    use std::os::unix::fs::PermissionsExt;

    fn client(base: &str, key: &str) -> Client {
        Client::new(ClientOptions::new(
            base,
            "1900000100",
            "wx8888888888888888",
            ApiKey::new(key),
            SignType::Md5,
        ))
        .unwrap()
    }

    const KEY: &str = "ProductionKey0123456789abcdefghi";
    const SANDBOX: &str = "SandboxKey0123456789abcdefghijkl";

    #[test]
    fn a_cached_key_serves_only_its_merchant_key_and_server() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(dir.path(), "1900000100").unwrap();
        let production = client("https://api.example.com", KEY);
        assert!(cache.load(&production).is_none(), "nothing cached yet");
        cache.store(&production, &ApiKey::new(SANDBOX)).unwrap();
        let mode = std::fs::metadata(cache.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(cache.load(&production).unwrap().expose(), SANDBOX);

        let other_key = client("https://api.example.com", &KEY.replace('P', "Q"));
        assert!(cache.load(&other_key).is_none(), "another production key");
        let other_server = client("https://api2.example.com", KEY);
        assert!(cache.load(&other_server).is_none(), "another server");

        // A file others can read is not trusted.
        std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(cache.load(&production).is_none());
    }

    #[test]
    fn an_expired_key_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(dir.path(), "1900000100").unwrap();
        let production = client("https://api.example.com", KEY);
        cache.store(&production, &ApiKey::new(SANDBOX)).unwrap();
        let text = std::fs::read_to_string(cache.path()).unwrap();
        let mut cached: CachedKey = serde_json::from_str(&text).unwrap();
        cached.expires_at = now_secs() - 1;
        let json = serde_json::to_vec(&cached).unwrap();
        crate::fsutil::write_private(cache.path(), &json).unwrap();
        assert!(cache.load(&production).is_none());
    }

    #[test]
    fn only_a_plain_merchant_number_names_a_file() {
        let dir = Path::new("/cache");
        assert!(KeyCache::new(dir, "1900000100").is_some());
        for unsafe_name in ["", "../x", "19/00", "a.b"] {
            assert!(KeyCache::new(dir, unsafe_name).is_none(), "{unsafe_name}");
        }
    }
}
