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

/// Runs the binary as `Env::run` does, under a umask of 000.
fn run_with_open_umask(env: &Env, args: &[&str]) -> crate::common::Output {
    let output = std::process::Command::new("sh")
        .args([
            "-c",
            "umask 000; exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_wxpay-ops"),
        ])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.dir.path())
        .env("XDG_CONFIG_HOME", env.path("xdg"))
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let result = crate::common::Output {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    crate::common::assert_no_key(args, &result);
    result
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_makes_private_folders_whatever_the_umask() {
    let env = Env::new();
    run_with_open_umask(&env, &["config", "init"]).expect(0);
    assert_eq!(mode_of(&env.path("xdg")), 0o700);
    assert_eq!(mode_of(&env.path("xdg/wxpay-ops")), 0o700);
    assert_eq!(mode_of(&env.config_path()), 0o600);

    // The same through --config, several folders deep.
    run_with_open_umask(&env, &["--config", "a/b/wx.toml", "config", "init"]).expect(0);
    assert_eq!(mode_of(&env.path("a")), 0o700);
    assert_eq!(mode_of(&env.path("a/b")), 0o700);
    assert_eq!(mode_of(&env.path("a/b/wx.toml")), 0o600);
}

#[test]
fn init_writes_through_a_symlink_and_names_a_missing_target_folder() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("xdg/wxpay-ops")).unwrap();
    std::fs::create_dir(env.path("dotfiles")).unwrap();
    std::os::unix::fs::symlink(env.path("dotfiles/wxpay.toml"), env.config_path()).unwrap();
    env.run(&["config", "init"]).expect(0);
    assert!(
        env.config_path()
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(env.path("dotfiles/wxpay.toml"))
            .unwrap()
            .contains("[profiles.shop]")
    );
    env.run(&["config", "init"])
        .expect(2)
        .error_mentions("already exists");

    let dangling = env.path("xdg/wxpay-ops/elsewhere.toml");
    std::os::unix::fs::symlink(env.path("gone/wx.toml"), &dangling).unwrap();
    env.run(&["--config", dangling.to_str().unwrap(), "config", "init"])
        .expect(2)
        .error_mentions(&format!("{}: the folder", dangling.display()))
        .hint_mentions("mkdir -p");
}

fn command_profile(command: &str) -> String {
    format!(
        "[profiles.cmd]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_cmd = {command:?}\n"
    )
}

#[test]
fn key_commands_are_refused_from_files_others_can_change() {
    let env = Env::new();
    let path = env.write_config(&command_profile(&format!("echo {DOC_KEY}")));
    env.run(&["sign", "a=b"]).expect(0);

    set_mode(&path, 0o666);
    env.run(&["sign", "a=b"])
        .expect(2)
        .error_mentions("writable by group or others (mode 666)")
        .hint_mentions(&format!("chmod go-w {}", path.display()));
    env.run(&["config", "check"]).expect(2);
    // Only the command is refused: a key given by flag still works with the file open.
    env.run(&["sign", "--key-env", "TEST_API_KEY", "a=b"])
        .expect(0);

    set_mode(&path, 0o600);
    let folder = path.parent().unwrap();
    set_mode(folder, 0o777);
    env.run(&["sign", "a=b"])
        .expect(2)
        .error_mentions(&format!("{} is writable", folder.display()))
        .hint_mentions(&format!("chmod go-w {}", folder.display()));
    set_mode(folder, 0o755);
    env.run(&["sign", "a=b"]).expect(0);
}

#[test]
fn what_a_key_command_says_on_stderr_is_shown_scrubbed_never_raw() {
    let env = Env::new();
    // A vault tool that chats, and echoes the key where it should not.
    env.write_config(&command_profile(&format!(
        "echo 'vault: unlocked' >&2; echo {DOC_KEY} >&2; printf '\\033]0;owned\\007\\n' >&2; echo {DOC_KEY}"
    )));
    let out = env.run(&["sign", "a=b"]).expect(0);
    let warning = out
        .stderr
        .lines()
        .find(|l| l.starts_with("warning: api_key_cmd said"))
        .unwrap_or_else(|| panic!("no warning:\n{}", out.stderr));
    assert!(warning.contains("vault: unlocked"), "{warning}");
    assert!(!out.stderr.contains('\u{1b}'), "{}", out.stderr);
    env.run(&["-q", "sign", "a=b"]).expect(0);

    env.write_config(&command_profile(&format!(
        "echo {DOC_KEY} >&2; echo 'vault: token expired' >&2; exit 1"
    )));
    env.run(&["sign", "a=b"])
        .expect(2)
        .error_mentions("exit status: 1")
        .error_mentions("it said:")
        .error_mentions("vault: token expired");
}

#[test]
fn a_missing_config_named_explicitly_is_an_error_even_with_a_key_flag() {
    let mut env = Env::new();
    let signed = ["sign", "--key-env", "TEST_API_KEY", "a=b"];
    let mut named = vec!["--config", "missing.toml"];
    named.extend(signed);
    env.run(&named)
        .expect(2)
        .error_mentions("no config file at missing.toml")
        .hint_mentions("config init");
    env.set("WXPAY_OPS_CONFIG", "also-missing.toml");
    env.run(&signed)
        .expect(2)
        .error_mentions("also-missing.toml");
    // Without a file named, a key flag needs no config file.
    Env::new().run(&signed).expect(0);
}

#[test]
fn a_merchant_number_written_as_a_number_asks_to_be_quoted() {
    let env = Env::new();
    env.write_config(
        "[profiles.x]\nmch_id = 10000100\nappid = \"wxd930ea5d5a258f4f\"\napi_key_env = \"TEST_API_KEY\"\n",
    );
    env.run(&["config", "show"])
        .expect(2)
        .error_mentions("line 2: mch_id is a number")
        .hint_mentions("quote it: mch_id = \"10000100\"");
}

#[test]
fn show_and_check_know_the_api_keys_of_a_profile() {
    let env = Env::new();
    env.write_config(
        "default_profile = \"sp\"\n\
         [profiles.sp]\nmch_id = \"1900000100\"\nappid = \"wx8888888888888888\"\napi_key_env = \"TEST_API_KEY\"\n\
         backup_api_base = \"https://api2.mch.weixin.qq.com\"\ntimeout = 30\nconnect_timeout = 2.5\nsandbox = true\n\
         sub_mch_id = \"1900000201\"\nsub_appid = \"wxd678efe567de6999\"\nbill_dir = \"bills\"\n\
         [profiles.plain]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_env = \"TEST_API_KEY\"\n\
         [profiles.bad]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_env = \"TEST_API_KEY\"\n\
         backup_api_base = \"api2.mch.weixin.qq.com\"\ntimeout = 0\nconnect_timeout = -5\n\
         sub_mch_id = \"1900-0201\"\nsub_appid = \"wx8888\"\n",
    );
    let shown = env.run(&["config", "show"]).expect(0).json();
    assert_eq!(shown["backup_api_base"], "https://api2.mch.weixin.qq.com");
    assert_eq!(shown["timeout"], 30.0);
    assert_eq!(shown["connect_timeout"], 2.5);
    assert_eq!(shown["sandbox"], true);
    assert_eq!(shown["sub_mch_id"], "1900000201");
    assert_eq!(shown["sub_appid"], "wxd678efe567de6999");
    let bill_dir = shown["bill_dir"].as_str().unwrap();
    assert!(
        bill_dir.ends_with("wxpay-ops/bills"),
        "relative to the file: {bill_dir}"
    );
    let plain = env.run(&["-p", "plain", "config", "show"]).expect(0).json();
    assert_eq!(plain["timeout"], 15.0, "the default the API commands use");
    assert_eq!(plain["connect_timeout"], 5.0);
    assert_eq!(plain["sandbox"], false);
    assert_eq!(plain["sub_mch_id"], serde_json::Value::Null);
    assert_eq!(plain["backup_api_base"], serde_json::Value::Null);

    let status = |rows: &serde_json::Value, name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["check"] == name)
            .map(|r| r["status"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let good = env.run(&["config", "check"]).expect(0).json();
    for name in [
        "backup_api_base",
        "timeout",
        "connect_timeout",
        "sandbox",
        "sub_mch_id",
        "sub_appid",
    ] {
        assert_eq!(status(&good, name), ["ok"], "{name}");
    }
    let out = env
        .run(&["-p", "bad", "config", "check"])
        .expect(2)
        .error_mentions("fails 5 check");
    let bad = out.json();
    for name in [
        "backup_api_base",
        "timeout",
        "connect_timeout",
        "sub_mch_id",
        "sub_appid",
    ] {
        assert_eq!(status(&bad, name), ["fail"], "{name}");
    }
}

/// `config show` prints the profile's [reconcile] mapping, its keys and values, not a flag
/// saying that there is one; in a table too, one row a key.
#[test]
fn show_prints_the_reconcile_mapping() {
    let env = Env::new();
    env.write_config(
        "[profiles.shop]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_env = \"TEST_API_KEY\"\n\
         [profiles.shop.reconcile]\norder_column = \"订单号\"\namount_unit = \"fen\"\npaid_values = [\"已支付\", \"PAID\"]\n\
         [profiles.plain]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_env = \"TEST_API_KEY\"\n",
    );
    let shown = env.run(&["-p", "shop", "config", "show"]).expect(0).json();
    assert_eq!(
        shown["reconcile"],
        serde_json::json!({
            "order_column": "订单号",
            "amount_unit": "fen",
            "paid_values": ["已支付", "PAID"],
        }),
        "only the keys the file sets: {shown}"
    );
    assert!(shown.get("reconcile_mapping").is_none(), "{shown}");
    let table = env
        .run(&["-p", "shop", "--format", "table", "config", "show"])
        .expect(0)
        .stdout;
    assert!(
        table.contains("reconcile.order_column") && table.contains("订单号"),
        "{table}"
    );
    let plain = env.run(&["-p", "plain", "config", "show"]).expect(0).json();
    assert_eq!(plain["reconcile"], serde_json::Value::Null);
}
