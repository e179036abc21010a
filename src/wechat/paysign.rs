//! Client-side pay parameters (reference A3): what the front end hands to WeChat to pay.

use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

use super::client::Client;
use super::secret::ApiKey;
use super::sign::{SignType, nonce_str, sign_pairs};
use super::v3::MerchantKey;

/// Timestamps as the pay SDKs read them: seconds since 1970, ten digits (2001 to 2286).
pub const TIMESTAMPS: std::ops::Range<u64> = 1_000_000_000..10_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayScene {
    /// `wx.requestPayment`: signed with `appId`, which the call itself does not take.
    MiniProgram,
    /// `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`.
    Jsapi,
    /// The APP OpenSDK `PayReq`, all-lowercase names and `package=Sign=WXPay`.
    App,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PaySignError {
    #[error(
        "prepay_id {0:?} already starts with \"prepay_id=\"; pass the bare id, the package field adds the prefix"
    )]
    PrefixedPrepayId(String),
    #[error("prepay_id {0:?} is not a prepay id (1 to 64 letters, digits, _ or -)")]
    BadPrepayId(String),
    #[error("nonce {0:?} must be 1 to 32 letters or digits")]
    BadNonce(String),
    #[error("timestamp {0} is not a time in seconds since 1970 (10 digits)")]
    BadTimestamp(u64),
    #[error("appid {0:?} is not an AppID (letters and digits, e.g. wx2421b1c4370ec43b)")]
    BadAppid(String),
    #[error("mch_id {0:?} is not a merchant number (digits)")]
    BadMchId(String),
}

pub struct PayRequest<'a> {
    pub appid: &'a str,
    pub mch_id: &'a str,
    pub prepay_id: &'a str,
    pub timestamp: u64,
    pub nonce: &'a str,
    pub sign_type: SignType,
}

/// The parameter object in the field order of WeChat's own documentation, sign included.
pub fn pay_params(
    scene: PayScene,
    request: &PayRequest<'_>,
    key: &ApiKey,
) -> Result<Vec<(&'static str, String)>, PaySignError> {
    validate(scene, request)?;
    let fields = unsigned(scene, request, request.sign_type.as_str());
    let sign = sign_pairs(
        fields.iter().map(|(k, v)| (*k, v.as_str())),
        key,
        request.sign_type,
    );
    Ok(signed(scene, fields, sign))
}

/// The API v3 parameter object (B4): `signType` RSA, signed with the merchant's private key
/// over four lines, `appId`, `timeStamp`, `nonceStr` and `package` (APP: the bare prepay id in
/// the package's place). `request.sign_type` is not used.
pub fn pay_params_v3(
    scene: PayScene,
    request: &PayRequest<'_>,
    key: &MerchantKey,
) -> Result<Vec<(&'static str, String)>, PaySignError> {
    validate(scene, request)?;
    let fields = unsigned(scene, request, "RSA");
    let value = |name: &str| -> &str {
        (fields.iter().find(|(k, _)| *k == name)).map_or("", |(_, v)| v.as_str())
    };
    let lines = match scene {
        PayScene::MiniProgram | PayScene::Jsapi => ["appId", "timeStamp", "nonceStr", "package"],
        PayScene::App => ["appid", "timestamp", "noncestr", "prepayid"],
    };
    let message: String = lines
        .iter()
        .map(|name| format!("{}\n", value(name)))
        .collect();
    let sign = key.sign(message.as_bytes());
    Ok(signed(scene, fields, sign))
}

/// The fields the front end is given, but the sign, whose type is `sign_type`.
fn unsigned(
    scene: PayScene,
    request: &PayRequest<'_>,
    sign_type: &str,
) -> Vec<(&'static str, String)> {
    let timestamp = request.timestamp.to_string();
    match scene {
        PayScene::MiniProgram | PayScene::Jsapi => vec![
            ("appId", request.appid.to_owned()),
            ("timeStamp", timestamp),
            ("nonceStr", request.nonce.to_owned()),
            ("package", format!("prepay_id={}", request.prepay_id)),
            ("signType", sign_type.to_owned()),
        ],
        PayScene::App => vec![
            ("appid", request.appid.to_owned()),
            ("partnerid", request.mch_id.to_owned()),
            ("prepayid", request.prepay_id.to_owned()),
            ("package", "Sign=WXPay".to_owned()),
            ("noncestr", request.nonce.to_owned()),
            ("timestamp", timestamp),
        ],
    }
}

/// The fields with their sign, as the scene's call takes them: `wx.requestPayment` does not
/// take the `appId` it is signed with.
fn signed(
    scene: PayScene,
    mut fields: Vec<(&'static str, String)>,
    sign: String,
) -> Vec<(&'static str, String)> {
    match scene {
        PayScene::MiniProgram => {
            fields.retain(|(name, _)| *name != "appId");
            fields.push(("paySign", sign));
        }
        PayScene::Jsapi => fields.push(("paySign", sign)),
        PayScene::App => fields.push(("sign", sign)),
    }
    fields
}

impl Client {
    /// The front end's pay parameters for `prepay_id`, signed with this client's key (the
    /// sandbox key in the sandbox), timed now. In service-provider mode the front end is the
    /// sub-merchant's app: its AppID, and (APP) its merchant number as partnerid
    /// (UNCONFIRMED: the v2 partner docs are not in our reference; this is what the SDKs that
    /// support partner APP pay send).
    pub fn pay_params(
        &self,
        scene: PayScene,
        prepay_id: &str,
    ) -> Result<Vec<(&'static str, String)>, PaySignError> {
        // A clock before 1970 gives 0, which validation refuses.
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let nonce = nonce_str();
        let request = PayRequest {
            appid: self.sub_appid.as_deref().unwrap_or(&self.appid),
            mch_id: self.sub_mch_id.as_deref().unwrap_or(&self.mch_id),
            prepay_id,
            timestamp,
            nonce: &nonce,
            sign_type: self.sign_type,
        };
        pay_params(scene, &request, self.key())
    }
}

fn validate(scene: PayScene, request: &PayRequest<'_>) -> Result<(), PaySignError> {
    let appid = request.appid;
    if appid.is_empty() || appid.len() > 32 || !appid.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(PaySignError::BadAppid(appid.to_owned()));
    }
    let mch_id = request.mch_id;
    if scene == PayScene::App
        && (mch_id.is_empty() || mch_id.len() > 32 || !mch_id.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(PaySignError::BadMchId(mch_id.to_owned()));
    }
    let id = request.prepay_id;
    if id.starts_with("prepay_id=") {
        return Err(PaySignError::PrefixedPrepayId(id.to_owned()));
    }
    let id_ok = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    if id.is_empty() || id.len() > 64 || !id.bytes().all(id_ok) {
        return Err(PaySignError::BadPrepayId(id.to_owned()));
    }
    let nonce = request.nonce;
    if nonce.is_empty() || nonce.len() > 32 || !nonce.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(PaySignError::BadNonce(nonce.to_owned()));
    }
    if !TIMESTAMPS.contains(&request.timestamp) {
        return Err(PaySignError::BadTimestamp(request.timestamp));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn request(sign_type: SignType) -> PayRequest<'static> {
        PayRequest {
            appid: "wxd930ea5d5a258f4f",
            mch_id: "10000100",
            prepay_id: "wx201410272009395522657a690389285100",
            timestamp: 1414561699,
            nonce: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
            sign_type,
        }
    }

    fn get<'a>(fields: &'a [(&str, String)], name: &str) -> &'a str {
        &fields.iter().find(|(k, _)| *k == name).unwrap().1
    }

    #[test]
    fn a_service_provider_signs_for_its_sub_merchants_app() {
        use crate::wechat::client::ClientOptions;
        let client = Client::new(ClientOptions {
            sub_mch_id: Some("1900000109".into()),
            sub_appid: Some("wx8888888888888888".into()),
            ..ClientOptions::new(
                "https://api.example.com",
                "10000100",
                "wxd930ea5d5a258f4f",
                ApiKey::new(DOC_KEY),
                SignType::Md5,
            )
        })
        .unwrap();
        let prepay_id = "wx201410272009395522657a690389285100";
        let app = client.pay_params(PayScene::App, prepay_id).unwrap();
        assert_eq!(get(&app, "appid"), "wx8888888888888888");
        assert_eq!(get(&app, "partnerid"), "1900000109");
        let request = PayRequest {
            appid: "wx8888888888888888",
            mch_id: "1900000109",
            prepay_id,
            timestamp: get(&app, "timestamp").parse().unwrap(),
            nonce: get(&app, "noncestr"),
            sign_type: SignType::Md5,
        };
        let again = pay_params(PayScene::App, &request, &ApiKey::new(DOC_KEY)).unwrap();
        assert_eq!(
            get(&app, "sign"),
            get(&again, "sign"),
            "signed with the client's key"
        );
    }

    #[test]
    fn jsapi_md5_and_hmac_vectors() {
        let key = ApiKey::new(DOC_KEY);
        let md5 = pay_params(PayScene::Jsapi, &request(SignType::Md5), &key).unwrap();
        assert_eq!(get(&md5, "paySign"), "FD19D752A746E5F238A6E53BD99EEBD0");
        assert_eq!(
            get(&md5, "package"),
            "prepay_id=wx201410272009395522657a690389285100"
        );
        let hmac = pay_params(PayScene::Jsapi, &request(SignType::HmacSha256), &key).unwrap();
        assert_eq!(
            get(&hmac, "paySign"),
            "FC7A79E4918B4FFA96E836F5AD4A510F31241FB46C14C971D6D7B4F8E15AF262"
        );
        assert_eq!(get(&hmac, "signType"), "HMAC-SHA256");
    }

    #[test]
    fn app_vector_with_lowercase_names() {
        let fields = pay_params(
            PayScene::App,
            &request(SignType::Md5),
            &ApiKey::new(DOC_KEY),
        )
        .unwrap();
        let names: Vec<_> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "appid",
                "partnerid",
                "prepayid",
                "package",
                "noncestr",
                "timestamp",
                "sign"
            ]
        );
        assert_eq!(get(&fields, "sign"), "1F88CC0F1B0560FF6D5EED1FBB7AE9C0");
        assert_eq!(get(&fields, "package"), "Sign=WXPay");
    }

    #[test]
    fn official_mini_program_example_signs_appid_but_omits_it() {
        let request = PayRequest {
            appid: "wxd678efh567hg6787",
            mch_id: "unused",
            prepay_id: "wx2017033010242291fcfe0db70013231072",
            timestamp: 1490840662,
            nonce: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
            sign_type: SignType::Md5,
        };
        let key = ApiKey::new("qazwsxedcrfvtgbyhnujmikolp111111");
        let fields = pay_params(PayScene::MiniProgram, &request, &key).unwrap();
        assert_eq!(get(&fields, "paySign"), "22D9B4E54AB1950F51E0649E8810ACD6");
        assert!(fields.iter().all(|(k, _)| *k != "appId"));
    }

    #[test]
    fn bad_inputs_are_named() {
        let key = ApiKey::new(DOC_KEY);
        let mut bad = request(SignType::Md5);
        bad.prepay_id = "prepay_id=wx1";
        assert!(matches!(
            pay_params(PayScene::Jsapi, &bad, &key),
            Err(PaySignError::PrefixedPrepayId(_))
        ));
        let mut bad = request(SignType::Md5);
        bad.nonce = "has space";
        assert!(matches!(
            pay_params(PayScene::App, &bad, &key),
            Err(PaySignError::BadNonce(_))
        ));
        let mut bad = request(SignType::Md5);
        bad.appid = "";
        assert!(matches!(
            pay_params(PayScene::Jsapi, &bad, &key),
            Err(PaySignError::BadAppid(_))
        ));
        bad.appid = "wx1&signType=x";
        assert!(matches!(
            pay_params(PayScene::Jsapi, &bad, &key),
            Err(PaySignError::BadAppid(_))
        ));
        let mut bad = request(SignType::Md5);
        bad.mch_id = "";
        assert!(matches!(
            pay_params(PayScene::App, &bad, &key),
            Err(PaySignError::BadMchId(_))
        ));
        let mut bad = request(SignType::Md5);
        bad.timestamp = 1414561699000;
        assert!(matches!(
            pay_params(PayScene::App, &bad, &key),
            Err(PaySignError::BadTimestamp(_))
        ));
    }
}
