//! `wxpay-ops paysign mini|jsapi|app`.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use serde_json::json;

use super::common::{ApiFlag, merchant_key};
use super::failure::{Failure, exit};
use super::settings::{Context, KeyArgs, SignTypeParser, sign_type};
use crate::output::Record;
use crate::wechat::paysign::{PayRequest, PayScene, pay_params, pay_params_v3};
use crate::wechat::sign::nonce_str;
use crate::wechat::{ApiVersion, SignType};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scene {
    /// wx.requestPayment in a mini program
    Mini,
    /// WeixinJSBridge.invoke('getBrandWCPayRequest', …) in the WeChat browser
    Jsapi,
    /// PayReq of the APP OpenSDK
    App,
}

#[derive(Debug, Args)]
pub struct PaysignArgs {
    #[arg(value_enum)]
    scene: Scene,

    /// The prepay_id from the unified order answer (without "prepay_id=")
    #[arg(long, value_name = "ID")]
    prepay_id: String,

    /// AppID the order was placed with [default: the profile's appid]
    #[arg(long)]
    appid: Option<String>,

    /// Merchant number, for APP's partnerid [default: the profile's mch_id]
    #[arg(long)]
    mch_id: Option<String>,

    /// Seconds since 1970, ten digits [default: now]; fix it for reproducible test fixtures
    #[arg(long, value_parser = clap::value_parser!(u64).range(crate::wechat::paysign::TIMESTAMPS))]
    timestamp: Option<u64>,

    /// Nonce of up to 32 letters and digits [default: random]
    #[arg(long)]
    nonce: Option<String>,

    /// MD5 or HMAC-SHA256; must match the unified order's [default: profile, else MD5]
    #[arg(long, value_parser = SignTypeParser)]
    sign_type: Option<SignType>,

    /// The API the order was placed on: v2 signs with the API key, v3 with the merchant's
    /// private key (signType RSA) [default: the profile's api_version, else v3 when it names
    /// v3 keys, else v2]
    #[arg(long, value_enum)]
    api: Option<ApiFlag>,

    /// v3: the merchant's private key, apiclient_key.pem (mode 0600) [default: the profile's
    /// private_key_pem, else cert_key_pem]
    #[arg(long, value_name = "FILE")]
    private_key: Option<std::path::PathBuf>,

    #[command(flatten)]
    keys: KeyArgs,
}

pub fn run(context: &Context, args: PaysignArgs) -> Result<u8, Failure> {
    let selected = context.profile_for(&args.keys)?;
    let from_profile = |pick: fn(&crate::config::Profile) -> &String| {
        selected.as_ref().map(|s| pick(&s.profile).clone())
    };
    let appid = args
        .appid
        .clone()
        .or_else(|| from_profile(|p| &p.appid))
        .ok_or_else(|| Failure::usage("no appid").hint("pass --appid, or use a profile"))?;
    let scene = match args.scene {
        Scene::Mini => PayScene::MiniProgram,
        Scene::Jsapi => PayScene::Jsapi,
        Scene::App => PayScene::App,
    };
    let mch_id = match (args.mch_id.clone(), scene) {
        (Some(mch_id), _) => mch_id,
        (None, PayScene::App) => from_profile(|p| &p.mch_id).ok_or_else(|| {
            Failure::usage("APP pay parameters need the mch_id (partnerid)")
                .hint("pass --mch-id, or use a profile")
        })?,
        (None, _) => String::new(),
    };
    let timestamp = match args.timestamp {
        Some(timestamp) => timestamp,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Failure::usage("the system clock is before 1970"))?
            .as_secs(),
    };
    let nonce = args.nonce.clone().unwrap_or_else(nonce_str);
    let request = PayRequest {
        appid: &appid,
        mch_id: &mch_id,
        prepay_id: &args.prepay_id,
        timestamp,
        nonce: &nonce,
        sign_type: sign_type(args.sign_type, selected.as_ref()),
    };
    let fields = match ApiFlag::resolve(args.api, selected.as_ref()) {
        ApiVersion::V2 => {
            if args.private_key.is_some() {
                return Err(Failure::usage(
                    "--private-key is of API v3; v2 pay parameters are signed with the API key",
                )
                .hint("drop --private-key, or pass --api v3"));
            }
            let key = context.api_key(&args.keys, selected.as_ref())?;
            pay_params(scene, &request, &key)?
        }
        ApiVersion::V3 => {
            // A flag of the other API would be dropped without a word.
            let v2_flag = args.sign_type.map(|_| "--sign-type").or(args.keys.given());
            if let Some(flag) = v2_flag {
                return Err(Failure::usage(format!(
                    "{flag} is of API v2; v3 pay parameters are signed with RSA"
                ))
                .hint(format!("drop {flag}, or pass --api v2")));
            }
            let key = merchant_key(args.private_key.as_deref(), selected.as_ref())?;
            pay_params_v3(scene, &request, &key)?
        }
    };
    let record: Record = fields
        .into_iter()
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect();
    context.printer.paste(&record)?;
    if matches!(scene, PayScene::MiniProgram) {
        context.printer.status(&format!(
            "paySign covers appId={appid}, which wx.requestPayment does not take: it must be this mini program's AppID"
        ));
    }
    Ok(exit::OK)
}
