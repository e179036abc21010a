use crate::common::Env;

const FIXED: [&str; 6] = [
    "--prepay-id",
    "wx201410272009395522657a690389285100",
    "--timestamp",
    "1414561699",
    "--nonce",
    "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
];

fn paysign(env: &Env, scene: &str, extra: &[&str]) -> crate::common::Output {
    let mut args = vec!["paysign", scene];
    args.extend(FIXED);
    args.extend(extra);
    env.run(&args)
}

#[test]
fn jsapi_and_app_parameters_from_the_profile_match_the_vectors() {
    let env = Env::new();
    env.doc_profile();
    let jsapi = paysign(&env, "jsapi", &[]).expect(0).json();
    assert_eq!(jsapi["appId"], "wxd930ea5d5a258f4f");
    assert_eq!(jsapi["timeStamp"], "1414561699");
    assert_eq!(
        jsapi["package"],
        "prepay_id=wx201410272009395522657a690389285100"
    );
    assert_eq!(jsapi["signType"], "MD5");
    assert_eq!(jsapi["paySign"], "FD19D752A746E5F238A6E53BD99EEBD0");

    let hmac = paysign(&env, "jsapi", &["--sign-type", "HMAC-SHA256"])
        .expect(0)
        .json();
    assert_eq!(
        hmac["paySign"],
        "FC7A79E4918B4FFA96E836F5AD4A510F31241FB46C14C971D6D7B4F8E15AF262"
    );

    let app = paysign(&env, "app", &[]).expect(0).json();
    let keys: Vec<_> = app.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
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
    assert_eq!(app["partnerid"], "10000100");
    assert_eq!(app["sign"], "1F88CC0F1B0560FF6D5EED1FBB7AE9C0");
}

/// The official `wx.requestPayment` example; its key comes from $MINI_KEY.
const OFFICIAL_MINI: [&str; 12] = [
    "paysign",
    "mini",
    "--appid",
    "wxd678efh567hg6787",
    "--prepay-id",
    "wx2017033010242291fcfe0db70013231072",
    "--timestamp",
    "1490840662",
    "--nonce",
    "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    "--key-env",
    "MINI_KEY",
];

#[test]
fn mini_program_object_omits_appid_but_signs_it() {
    let env = Env::new();
    let out = env.run(&OFFICIAL_MINI).expect(2);
    assert!(out.stderr.contains("MINI_KEY"));

    let mut env = Env::new();
    env.set("MINI_KEY", "qazwsxedcrfvtgbyhnujmikolp111111");
    let out = env.run(&OFFICIAL_MINI).expect(0);
    assert!(out.stderr.contains("appId=wxd678efh567hg6787"));
    let json = out.json();
    assert_eq!(json["paySign"], "22D9B4E54AB1950F51E0649E8810ACD6");
    assert!(json.get("appId").is_none());
}

#[test]
fn random_nonce_and_current_timestamp_by_default() {
    let env = Env::new();
    env.doc_profile();
    let a = env
        .run(&["paysign", "jsapi", "--prepay-id", "wx1"])
        .expect(0)
        .json();
    let b = env
        .run(&["paysign", "jsapi", "--prepay-id", "wx1", "-q"])
        .expect(0)
        .json();
    assert_ne!(a["nonceStr"], b["nonceStr"]);
    assert_eq!(a["timeStamp"].as_str().unwrap().len(), 10);
}

#[test]
fn bad_inputs() {
    let env = Env::new();
    env.doc_profile();
    env.run(&["paysign", "jsapi", "--prepay-id", "prepay_id=wx1"])
        .expect(2)
        .error_mentions("bare id");
    env.run(&[
        "paysign",
        "jsapi",
        "--prepay-id",
        "wx1",
        "--nonce",
        "has space",
    ])
    .expect(2)
    .error_mentions("nonce");
    env.run(&[
        "paysign",
        "jsapi",
        "--prepay-id",
        "wx1",
        "--timestamp",
        "1414561699000",
    ])
    .expect(2)
    .error_mentions("timestamp");
    env.run(&["paysign", "wap", "--prepay-id", "wx1"]).expect(2);
    env.run(&["paysign", "jsapi", "--prepay-id", "wx1", "--appid", ""])
        .expect(2)
        .error_mentions("appid");
    let bare = Env::new();
    bare.run(&[
        "paysign",
        "app",
        "--prepay-id",
        "wx1",
        "--appid",
        "wx1",
        "--key-env",
        "TEST_API_KEY",
    ])
    .expect(2)
    .error_mentions("mch_id");
}
