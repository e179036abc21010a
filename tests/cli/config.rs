use std::os::unix::fs::PermissionsExt;

use wxpay_ops::emulator::pki::MerchantPki;

use crate::common::{DOC_KEY, Env, set_mode};

#[test]
fn init_writes_a_private_template_once() {
    let env = Env::new();
    env.run(&["config", "init"]).expect(0);
    let path = env.config_path();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("[profiles.shop]")
    );
    env.run(&["config", "init"])
        .expect(2)
        .error_mentions("already exists")
        .hint_mentions("--force");
    env.run(&["config", "init", "--force"]).expect(0);

    let explicit = env.path("elsewhere/wx.toml");
    env.run(&["--config", explicit.to_str().unwrap(), "config", "init"])
        .expect(0);
    assert!(explicit.exists());
}

#[test]
fn path_prints_the_resolved_file() {
    let env = Env::new();
    let out = env.run(&["config", "path"]).expect(0);
    assert_eq!(out.stdout.trim(), env.config_path().to_str().unwrap());
    assert!(out.stderr.contains("does not exist"));
    let json = env
        .run(&["config", "path", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(json["exists"], false);
}

#[test]
fn show_masks_the_key_and_names_its_source() {
    let env = Env::new();
    env.write_config(&format!(
        "[profiles.doc]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key = \"{DOC_KEY}\"\ncert_p12 = \"c.p12\"\ncert_p12_password = \"secret-pass\"\n"
    ));
    let out = env.run(&["config", "show"]).expect(0);
    assert!(!out.stdout.contains("secret-pass"));
    let json = out.json();
    assert!(
        json["api_key"]
            .as_str()
            .unwrap()
            .starts_with("******** from api_key in")
    );
    assert_eq!(json["cert_p12_password"], "********");
    assert!(
        json["cert_p12"]
            .as_str()
            .unwrap()
            .ends_with("wxpay-ops/c.p12")
    );
}

#[test]
fn check_passes_for_a_complete_profile_with_a_pem_pair_or_p12() {
    let env = Env::new();
    let certs = env.path("xdg/wxpay-ops/cert");
    MerchantPki::generate("1900000109")
        .unwrap()
        .write_to(&certs)
        .unwrap();
    env.write_config(
        "default_profile = \"pem\"\n\
         [profiles.pem]\nmch_id = \"1900000109\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"TEST_API_KEY\"\n\
         cert_pem = \"cert/apiclient_cert.pem\"\ncert_key_pem = \"cert/apiclient_key.pem\"\n\
         [profiles.p12]\nmch_id = \"1900000109\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"TEST_API_KEY\"\n\
         cert_p12 = \"cert/apiclient_cert.p12\"\n\
         [profiles.wrong]\nmch_id = \"10000100\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"TEST_API_KEY\"\n\
         cert_p12 = \"cert/apiclient_cert.p12\"\ncert_p12_password = \"1900000109\"\n",
    );
    let rows = env.run(&["config", "check"]).expect(0).json();
    let rows = rows.as_array().unwrap();
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    let cert = rows.iter().find(|r| r["check"] == "certificate").unwrap();
    assert!(cert["detail"].as_str().unwrap().contains("1900000109"));

    env.run(&["-p", "p12", "config", "check"]).expect(0);
    let out = env
        .run(&["--profile", "wrong", "config", "check"])
        .expect(2)
        .error_mentions("fails 1 check");
    assert!(out.stdout.contains("not for mch_id 10000100"));
}

#[test]
fn check_reports_every_problem_at_once() {
    let mut env = Env::new();
    env.set("SHORT", "short");
    env.write_config(
        "[profiles.bad]\nmch_id = \"12ab\"\nappid = \"wechat\"\napi_key_env = \"SHORT\"\ncert_pem = \"nope.pem\"\n",
    );
    let out = env.run(&["config", "check", "--format", "csv"]).expect(2);
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    let failed: Vec<String> = reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[1] == "fail")
        .map(|r| r[0].to_owned())
        .collect();
    assert_eq!(failed, ["mch_id", "appid", "api_key", "certificate"]);
}

#[test]
fn bad_files_are_named_with_the_line() {
    let env = Env::new();
    env.write_config(
        "[profiles.x]\nmch_id = \"10000100\"\nappid = \"wx2421b1c4370ec43b\"\napi_kee = \"x\"\n",
    );
    env.run(&["config", "show"])
        .expect(2)
        .error_mentions("api_kee")
        .error_mentions("line 4, column 1");
    env.write_config("[profiles.x\n");
    env.run(&["config", "show"])
        .expect(2)
        .error_mentions("line 1");
    env.write_config("[profiles.x]\nmch_id = \"1\"\nappid = \"wx1\"\nsign_type = \"sha1\"\n");
    env.run(&["config", "show"])
        .expect(2)
        .error_mentions("sha1");
    env.run(&["--config", "missing.toml", "config", "show"])
        .expect(2)
        .error_mentions("missing.toml")
        .hint_mentions("config init");
    env.write_config("[profiles.x]\nmch_id = \"1\"\nappid = \"wx1\"\n");
    env.run(&["--profile", "y", "config", "show"])
        .expect(2)
        .error_mentions("no profile named \"y\"");
}

#[test]
fn inline_key_in_a_readable_file_is_refused_like_ssh_does() {
    let env = Env::new();
    let path = env.write_config(&format!(
        "[profiles.doc]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key = \"{DOC_KEY}\"\n"
    ));
    env.run(&["sign", "a=b"]).expect(0);
    set_mode(&path, 0o644);
    env.run(&["sign", "a=b"])
        .expect(2)
        .error_mentions("readable by other users")
        .hint_mentions("chmod 600");
    env.run(&["config", "check"]).expect(2);
}

#[test]
fn key_file_and_key_command_sources() {
    let env = Env::new();
    let key_file = env.path("key");
    std::fs::write(&key_file, format!("{DOC_KEY}\n")).unwrap();
    set_mode(&key_file, 0o600);
    env.write_config(&format!(
        "default_profile = \"file\"\n\
         [profiles.file]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_file = \"{}\"\n\
         [profiles.cmd]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_cmd = \"cat {}\"\n\
         [profiles.failing]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_cmd = \"exit 7\"\n",
        key_file.display(),
        key_file.display()
    ));
    let args = ["sign", "test1=test1", "test2=test2"];
    let expected = "1E3A8D73B5A4AEE787C0F68B5DAB8520";
    assert_eq!(env.run(&args).expect(0).json()["sign"], expected);
    let mut cmd = vec!["-p", "cmd"];
    cmd.extend(args);
    assert_eq!(env.run(&cmd).expect(0).json()["sign"], expected);
    let mut failing = vec!["-p", "failing"];
    failing.extend(args);
    env.run(&failing).expect(2).error_mentions("exit 7");
    set_mode(&key_file, 0o644);
    env.run(&args).expect(2).hint_mentions("chmod 600");
}
