//! `emulator serve` as a process: what it prints, what it refuses, how it stops, and how it
//! holds up when clients misbehave.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{DOC_KEY, Env, Output, assert_no_key, set_mode};

/// A running `emulator serve`, started in a clean environment whose temporary folder is the
/// test's own.
struct Serving {
    args: Vec<String>,
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: BufReader<ChildStderr>,
}

impl Serving {
    /// Starts `wxpay-ops ARGS` (under `sh -c PREFIX` when a prefix such as `umask 000` is
    /// given, or through `wrapper`, a command that execs the rest).
    fn start(env: &Env, args: &[&str], shell_prefix: Option<&str>, wrapper: &[&str]) -> Serving {
        let binary = env!("CARGO_BIN_EXE_wxpay-ops");
        let mut command = match (shell_prefix, wrapper) {
            (Some(prefix), _) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("{prefix} && exec \"$0\" \"$@\""))
                    .arg(binary);
                c
            }
            (None, [program, rest @ ..]) => {
                let mut c = Command::new(program);
                c.args(rest).arg(binary);
                c
            }
            (None, []) => Command::new(binary),
        };
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", env.dir.path())
            .env("TMPDIR", env.dir.path())
            .env("XDG_CONFIG_HOME", env.path("xdg"))
            .current_dir(env.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the binary runs");
        Serving {
            args: args.iter().map(|a| a.to_string()).collect(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            stderr: BufReader::new(child.stderr.take().unwrap()),
            child,
        }
    }

    /// The one JSON object `--format json` prints once the emulator listens.
    fn listening(&mut self) -> Value {
        serde_json::Deserializer::from_reader(&mut self.stdout)
            .into_iter::<Value>()
            .next()
            .expect("serve printed a JSON object before ending")
            .expect("serve's stdout is JSON")
    }

    /// Stderr up to and including the line that contains `needle`.
    fn stderr_until(&mut self, needle: &str) -> String {
        let mut seen = String::new();
        while !seen.contains(needle) {
            let mut line = String::new();
            assert!(
                self.stderr.read_line(&mut line).unwrap() > 0,
                "serve ended early:\n{seen}"
            );
            seen.push_str(&line);
        }
        seen
    }

    /// Sends `signal` (a `kill` name such as TERM), waits for the exit, and returns what was
    /// printed after `listening`, checked for leaked keys.
    fn stop(mut self, signal: &str) -> Output {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        let mut output = Output {
            code: status.code().expect("exited, not killed by a signal"),
            stdout: String::new(),
            stderr: String::new(),
        };
        self.stdout.read_to_string(&mut output.stdout).unwrap();
        self.stderr.read_to_string(&mut output.stderr).unwrap();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        assert_no_key(&args, &output);
        output
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FREE_PORTS: [&str; 4] = ["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"];

fn json_serve<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--format", "json", "emulator", "serve"];
    args.extend(FREE_PORTS);
    args.extend(extra);
    args
}

fn http() -> reqwest::blocking::Client {
    wxpay_ops::wechat::transport::install_crypto_provider();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn path_of(value: &Value) -> PathBuf {
    PathBuf::from(value.as_str().expect("a path"))
}

#[test]
fn format_json_prints_one_object_with_everything_a_script_needs() {
    let env = Env::new();
    let mut args = json_serve(&["-q"]);
    args.extend(["--merchants", "merchants.toml"]);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("emulator-merchants.sample.toml"),
        env.path("merchants.toml"),
    )
    .unwrap();
    let mut serving = Serving::start(&env, &args, None, &[]);
    let info = serving.listening();
    let port = info["http_port"].as_u64().unwrap();
    assert_ne!(port, 0);
    assert_eq!(info["base_url"], format!("http://127.0.0.1:{port}"));
    assert_eq!(
        info["tls_base_url"],
        format!("https://127.0.0.1:{}", info["tls_port"])
    );
    assert!(info["control_token"].is_null());
    let control: Value = http()
        .get(info["control_url"].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let served: Vec<&Value> = control["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["mch_id"])
        .collect();
    let listed: Vec<&Value> = info["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["mch_id"])
        .collect();
    assert_eq!(listed, served);
    assert_eq!(listed, ["1900000109", "10000100", "1900000100"]);
    let cert_dir = path_of(&info["cert_dir"]);
    for path in [
        &info["ca_cert"],
        &info["profile"],
        &info["merchants"][1]["cert_p12"],
    ] {
        assert!(path_of(path).starts_with(&cert_dir), "{path}");
        assert!(path_of(path).is_file(), "{path}");
    }
    assert_eq!(info["merchants"][0]["appids"][1], "wxd930ea5d5a258f4f");
    let text = info.to_string();
    assert!(
        !text.contains("api_key") && !text.contains("EmulatorKey") && !text.contains(DOC_KEY),
        "no API key in the record: {text}"
    );
    let stopped = serving.stop("INT");
    assert_eq!(stopped.code, 0);
    assert_eq!(
        stopped.stdout.trim(),
        "",
        "exactly one JSON object on stdout"
    );
    assert_eq!(stopped.stderr, "", "-q leaves stderr empty");
    assert!(!cert_dir.exists());
}

#[test]
fn sigterm_and_sighup_remove_the_temporary_folder_and_keep_keeps_it() {
    let env = Env::new();
    for signal in ["TERM", "HUP"] {
        let mut serving = Serving::start(&env, &json_serve(&[]), None, &[]);
        let info = serving.listening();
        let cert_dir = path_of(&info["cert_dir"]);
        assert!(cert_dir.join("1900000109/apiclient_key.pem").is_file());
        assert_eq!(info["cert_dir_removed_on_exit"], true);
        let stopped = serving.stop(signal);
        assert_eq!(stopped.code, 0, "{signal}: {}", stopped.stderr);
        assert!(stopped.stderr.contains(&format!("stopped by SIG{signal}")));
        assert!(!cert_dir.exists(), "{signal} left {}", cert_dir.display());
    }

    let mut serving = Serving::start(&env, &json_serve(&["--keep"]), None, &[]);
    let info = serving.listening();
    let cert_dir = path_of(&info["cert_dir"]);
    assert_eq!(info["cert_dir_removed_on_exit"], false);
    let stopped = serving.stop("TERM");
    assert_eq!(stopped.code, 0);
    assert!(cert_dir.join("ca_cert.pem").is_file(), "--keep keeps it");
    assert!(
        stopped
            .stderr
            .contains(&format!("kept in {}", cert_dir.display())),
        "{}",
        stopped.stderr
    );
}

#[test]
fn listen_alone_puts_the_tls_listener_on_a_free_port_of_the_same_address() {
    let env = Env::new();
    let mut serving = Serving::start(
        &env,
        &[
            "--format",
            "json",
            "emulator",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ],
        None,
        &[],
    );
    let info = serving.listening();
    let tls_port = info["tls_port"].as_u64().unwrap();
    assert_ne!(tls_port, 8788, "not the default port it never asked for");
    assert!(
        info["tls_base_url"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    assert_eq!(serving.stop("INT").code, 0);
}

#[test]
fn other_addresses_than_loopback_need_allow_remote_and_then_a_control_token() {
    let env = Env::new();
    for (flag, other) in [("--listen", "--tls-listen"), ("--tls-listen", "--listen")] {
        env.run(&["emulator", "serve", flag, "0.0.0.0:0", other, "127.0.0.1:0"])
            .expect(2)
            .error_mentions("not a loopback address")
            .hint_mentions("--allow-remote");
    }

    let mut serving = Serving::start(
        &env,
        &[
            "--format",
            "table",
            "emulator",
            "serve",
            "--allow-remote",
            "--listen",
            "0.0.0.0:0",
        ],
        None,
        &[],
    );
    let banner = serving.stderr_until("press Ctrl-C");
    let token = banner
        .lines()
        .find_map(|line| {
            line.strip_prefix("control token (send it as Authorization: Bearer TOKEN): ")
        })
        .unwrap_or_else(|| panic!("no control token printed:\n{banner}"))
        .to_owned();
    let port = banner
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://0.0.0.0:"))
        .unwrap()
        .to_owned();
    let control = format!("http://127.0.0.1:{port}/__emulator/orders");
    let http = http();
    let status = |request: reqwest::blocking::RequestBuilder| request.send().unwrap().status();
    assert_eq!(status(http.get(&control)).as_u16(), 401);
    assert_eq!(status(http.get(&control).bearer_auth(&token)).as_u16(), 200);
    assert_eq!(serving.stop("INT").code, 0);
}

#[test]
fn serve_reads_merchants_from_its_own_flag_and_refuses_the_global_config() {
    let mut env = Env::new();
    for args in [
        ["--config", "merchants.toml", "emulator", "serve"],
        ["emulator", "serve", "--config", "merchants.toml"],
    ] {
        env.run(&args)
            .expect(2)
            .error_mentions("--config")
            .hint_mentions("--merchants");
    }
    // Its help offers no --config among its options, only the sentence on --merchants.
    let help = env.run(&["emulator", "serve", "--help"]).expect(0).stdout;
    assert!(help.contains("--merchants <FILE>"), "{help}");
    assert!(
        !help
            .lines()
            .any(|line| line.trim_start().starts_with("--config")),
        "{help}"
    );
    // WXPAY_OPS_CONFIG, set for the other commands, is neither read nor refused.
    env.set("WXPAY_OPS_CONFIG", "elsewhere.toml");
    env.run(&["emulator", "serve", "--merchants", "missing.toml"])
        .expect(2)
        .error_mentions("missing.toml");
}

#[test]
fn folders_for_keys_are_private_even_under_umask_000() {
    let env = Env::new();
    let cert_dir = env.path("certs/emulator");
    let mut args = json_serve(&["--cert-dir"]);
    let cert_dir_text = cert_dir.to_str().unwrap().to_owned();
    args.push(&cert_dir_text);
    for args in [json_serve(&[]), args] {
        let mut serving = Serving::start(&env, &args, Some("umask 000"), &[]);
        let info = serving.listening();
        let dir = path_of(&info["cert_dir"]);
        for folder in [dir.clone(), dir.join("1900000109")] {
            assert_eq!(mode(&folder), 0o700, "{}", folder.display());
        }
        assert_eq!(mode(&path_of(&info["profile"])), 0o600);
        assert_eq!(serving.stop("INT").code, 0);
    }

    // A folder that others can enter is refused, not silently changed.
    let open = env.path("open");
    std::fs::create_dir(&open).unwrap();
    set_mode(&open, 0o755);
    env.run(&["emulator", "serve", "--cert-dir", "open"])
        .expect(2)
        .error_mentions("0755")
        .hint_mentions("chmod 700");
    assert_eq!(mode(&open), 0o755);
    assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0);
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn out_of_file_descriptors_the_accept_loop_waits_instead_of_spinning() {
    let env = Env::new();
    let mut serving = Serving::start(&env, &json_serve(&[]), None, &["prlimit", "--nofile=64:64"]);
    let info = serving.listening();
    let address = info["base_url"].as_str().unwrap().replace("http://", "");
    // More connections than the emulator may hold files: the rest wait in the backlog and
    // every accept fails with EMFILE.
    let held: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(&address).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let pid = serving.child.id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    // A spinning loop burns a whole core: about 100 ticks a second. Waiting between failed
    // accepts costs next to nothing.
    assert!(
        used < 30,
        "{used} ticks of CPU in a second while out of files"
    );
    drop(held);
    let answer = http()
        .get(info["control_url"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(
        answer.status().as_u16(),
        200,
        "it serves again once files are free"
    );
    assert_eq!(serving.stop("TERM").code, 0);
}

#[test]
fn a_service_providers_sub_merchants_are_listed_in_the_banner_and_the_record() {
    let env = Env::new();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("emulator-merchants.sample.toml"),
        env.path("merchants.toml"),
    )
    .unwrap();
    let mut args = json_serve(&["-q"]);
    args.extend(["--merchants", "merchants.toml"]);
    let mut serving = Serving::start(&env, &args, None, &[]);
    let info = serving.listening();
    let merchants = info["merchants"].as_array().unwrap();
    assert_eq!(merchants[0]["sub_merchants"], serde_json::json!([]));
    let provider = merchants
        .iter()
        .find(|m| m["mch_id"] == "1900000100")
        .unwrap();
    assert_eq!(
        provider["sub_merchants"],
        serde_json::json!([{"sub_mch_id": "1900000201", "sub_appids": ["wxd678efh567hg6999"]}])
    );
    assert_eq!(serving.stop("INT").code, 0);

    let mut args: Vec<&str> = vec!["emulator", "serve"];
    args.extend(FREE_PORTS);
    args.extend(["--merchants", "merchants.toml"]);
    let mut serving = Serving::start(&env, &args, None, &[]);
    let banner = serving.stderr_until("wxpay-ops profile for it");
    let provider = banner
        .split("merchant mch_id=")
        .find(|part| part.starts_with("1900000100 "))
        .unwrap_or_else(|| panic!("the service provider in:\n{banner}"));
    assert!(provider.contains("(service provider"), "{banner}");
    assert!(
        provider.contains("sub-merchant sub_mch_id=1900000201 sub_appids=wxd678efh567hg6999"),
        "{banner}"
    );
    let ordinary = banner
        .split("merchant mch_id=")
        .find(|part| part.starts_with("1900000109 "))
        .unwrap();
    assert!(!ordinary.contains("sub-merchant"), "{banner}");
    assert_eq!(serving.stop("TERM").code, 0);
}

#[test]
fn cloud_functions_are_given_on_the_command_line_and_listed() {
    let env = Env::new();
    let mut args = json_serve(&["-q"]);
    args.extend([
        "--cloud-function",
        "test-123/pay_cb=http://127.0.0.1:9000/pay",
        "--cloud-function",
        "test-123/refund_cb=http://localhost:9000/refund",
    ]);
    let mut serving = Serving::start(&env, &args, None, &[]);
    let info = serving.listening();
    assert_eq!(
        info["cloud_functions"],
        serde_json::json!([
            {"env_id": "test-123", "name": "pay_cb", "url": "http://127.0.0.1:9000/pay"},
            {"env_id": "test-123", "name": "refund_cb", "url": "http://localhost:9000/refund"},
        ])
    );
    let cloudpay = info["cloudpay_url"].as_str().unwrap();
    assert!(cloudpay.ends_with("/__cloudpay/"), "{cloudpay}");
    let listed: Value = http()
        .get(format!(
            "{}cloud-functions",
            info["control_url"].as_str().unwrap()
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed, info["cloud_functions"]);
    assert_eq!(serving.stop("INT").code, 0);

    let mut args: Vec<&str> = vec!["emulator", "serve"];
    args.extend(FREE_PORTS);
    args.extend([
        "--cloud-function",
        "test-123/pay_cb=http://127.0.0.1:9000/pay",
    ]);
    let mut serving = Serving::start(&env, &args, None, &[]);
    let banner = serving.stderr_until("wxpay-ops profile for it");
    assert!(
        banner.contains(
            "cloud function test-123/pay_cb (cloud pay's callbacks): http://127.0.0.1:9000/pay"
        ),
        "{banner}"
    );
    assert!(banner.contains("/__cloudpay/<operation>"), "{banner}");
    assert_eq!(serving.stop("TERM").code, 0);

    // Malformed, and off this machine without --allow-remote: refused before serving.
    let refused = env
        .run(&[
            "emulator",
            "serve",
            "--cloud-function",
            "pay_cb=http://127.0.0.1/",
        ])
        .expect(2);
    assert!(
        refused.stderr.contains("ENV/NAME=URL"),
        "{}",
        refused.stderr
    );
    let mut args: Vec<&str> = vec!["emulator", "serve"];
    args.extend(FREE_PORTS);
    args.extend(["--cloud-function", "t/f=http://example.com/f"]);
    env.run(&args).expect(2).error_mentions(
        "--cloud-function t/f: url \"http://example.com/f\" is not a loopback address",
    );
}
