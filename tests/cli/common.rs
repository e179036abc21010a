//! Runs the real binary in a clean environment and checks every output for leaked keys.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The documentation key, and a second merchant's key: neither may ever be printed.
pub const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";
pub const OTHER_KEY: &str = "Zq8xW3vN5mL2kJ7hG4fD9sA1pO6iU0yT";
/// Two mini programs' AppSecrets, held to the same rule.
pub const APP_SECRET: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
pub const OTHER_APP_SECRET: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
/// APIv3 keys, which decrypt v3 callbacks.
pub const APIV3_KEY: &str = "Ap1v3TestKeyOf32CharactersXyZ012";
pub const OTHER_APIV3_KEY: &str = "0therApiV3KeyOf32CharactersQwErT";
pub const TEST_KEYS: [&str; 6] = [
    DOC_KEY,
    OTHER_KEY,
    APP_SECRET,
    OTHER_APP_SECRET,
    APIV3_KEY,
    OTHER_APIV3_KEY,
];

pub fn real_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/real")
        .join(name)
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The error line names something and a hint follows, as every failure must.
    #[track_caller]
    pub fn error_mentions(self, needle: &str) -> Self {
        assert!(
            self.stderr.starts_with("error: ") && self.stderr.contains(needle),
            "stderr should be an error mentioning {needle:?}:\n{}",
            self.stderr
        );
        assert!(
            self.stderr
                .lines()
                .all(|l| l.starts_with("error: ") || l.starts_with("hint: ")),
            "a failure is one error line and hints, nothing else:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn hint_mentions(self, needle: &str) -> Self {
        let hint = self.stderr.lines().find(|l| l.starts_with("hint: "));
        assert!(
            hint.is_some_and(|h| h.contains(needle)),
            "stderr should have a hint mentioning {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// A temporary home with its own config folder; nothing inherited from the real user.
pub struct Env {
    pub dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
    /// A run that takes longer is killed and fails the test.
    time_limit: Option<Duration>,
    /// The umask the binary runs with, when not the test's own.
    umask: Option<u32>,
    /// The window size of [`Env::run_in_terminal`]'s terminal, in columns, when not 0.
    terminal_columns: Option<u16>,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            vars: vec![("TEST_API_KEY".into(), DOC_KEY.into())],
            time_limit: None,
            umask: None,
            terminal_columns: None,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("xdg/wxpay-ops/config.toml")
    }

    /// Writes the default config file with mode 0600.
    pub fn write_config(&self, text: &str) -> PathBuf {
        let path = self.config_path();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        set_mode(&path, 0o600);
        path
    }

    /// A profile for the documentation merchant, key from $TEST_API_KEY.
    pub fn doc_profile(&self) -> PathBuf {
        self.write_config(
            "[profiles.doc]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_env = \"TEST_API_KEY\"\n",
        )
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.push((name.into(), value.into()));
    }

    pub fn time_limit(&mut self, limit: Duration) {
        self.time_limit = Some(limit);
    }

    pub fn umask(&mut self, mask: u32) {
        self.umask = Some(mask);
    }

    /// Gives [`Env::run_in_terminal`]'s terminal a window this many columns wide.
    pub fn terminal_columns(&mut self, columns: u16) {
        self.terminal_columns = Some(columns);
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    /// The binary with these arguments in this environment, for a test that runs it itself
    /// (to signal it, say); stdin is empty, stdout and stderr are piped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wxpay-ops"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in &self.vars {
            command.env(name, value);
        }
        command
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut command = self.command(args);
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        if let Some(mask) = self.umask {
            use std::os::unix::process::CommandExt;
            // SAFETY: umask(2) is async-signal-safe and touches no memory of the parent.
            unsafe {
                command.pre_exec(move || {
                    rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().expect("the binary runs");
        let watchdog = self
            .time_limit
            .map(|limit| Watchdog::start(child.id(), limit));
        if let Some(input) = stdin {
            // A command that exits without reading all of its input closes the pipe.
            match child.stdin.take().unwrap().write_all(input) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.unwrap(),
            }
        }
        let output = child.wait_with_output().unwrap();
        if let Some(watchdog) = watchdog {
            assert!(
                !watchdog.stop(),
                "{args:?} ran longer than {:?} and was killed",
                self.time_limit.unwrap()
            );
        }
        let result = Output {
            code: output
                .status
                .code()
                .expect("exited, not killed by a signal"),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        };
        assert_no_key(args, &result);
        result
    }
}

impl Env {
    /// Runs the binary on a pseudo-terminal, as a person at a terminal does: util-linux
    /// `script` gives it one, of 0 columns since the test has no terminal of its own (as under
    /// CI or `docker -t`), unless [`Env::terminal_columns`] sizes it. stdout and stderr both
    /// arrive as the terminal's output, with CRLF line ends turned back into LF.
    pub fn run_in_terminal(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let binary = env!("CARGO_BIN_EXE_wxpay-ops");
        let mut line = std::iter::once(binary)
            .chain(args.iter().copied())
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(columns) = self.terminal_columns {
            line = format!("stty cols {columns} rows 50 && exec {line}");
        }
        let mut command = Command::new("script");
        command
            .args(["-qec", &line, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in &self.vars {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("script(1) from util-linux runs");
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(bytes).unwrap();
        }
        drop(input);
        let output = child.wait_with_output().unwrap();
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap().replace("\r\n", "\n");
        let result = Output {
            code: output
                .status
                .code()
                .expect("exited, not killed by a signal"),
            stdout: text(output.stdout),
            stderr: text(output.stderr),
        };
        assert_no_key(args, &result);
        result
    }
}

/// Kills a process that outlives its time limit.
struct Watchdog {
    done: mpsc::Sender<()>,
    fired: std::thread::JoinHandle<bool>,
}

impl Watchdog {
    fn start(pid: u32, limit: Duration) -> Watchdog {
        let (done, finished) = mpsc::channel();
        let fired = std::thread::spawn(move || {
            let late = finished.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout);
            if late {
                let pid = rustix::process::Pid::from_raw(pid as i32).expect("a child's pid");
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            late
        });
        Watchdog { done, fired }
    }

    /// Whether the process had to be killed.
    fn stop(self) -> bool {
        let _ = self.done.send(());
        self.fired.join().unwrap()
    }
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// The suite-wide guarantee: no test key appears in any output of any command we run.
#[track_caller]
pub fn assert_no_key(args: &[&str], output: &Output) {
    for key in TEST_KEYS {
        assert!(
            !output.stdout.contains(key) && !output.stderr.contains(key),
            "an API key, APIv3 key or AppSecret leaked in the output of {args:?}:\nstdout:\n{}\nstderr:\n{}",
            output.stdout,
            output.stderr
        );
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// What a test's HTTP handler does with a request.
pub enum Reply {
    /// Answers with this status and body.
    Answer(u16, String),
    /// Closes the connection without an answer, and goes on serving.
    Close,
    /// Closes the connection without an answer, and stops serving: later connections are
    /// refused, as a crashed handler's are.
    Die,
}

/// A local HTTP server for handlers written in the tests: on loopback over plain HTTP, one
/// request per connection, each request's body handed to `handle`. It serves until the test
/// ends or `handle` says [`Reply::Die`]. Its base URL, `http://127.0.0.1:PORT`.
pub fn serve_http(mut handle: impl FnMut(&[u8]) -> Reply + Send + 'static) -> String {
    serve_http_with_headers(move |_, body| handle(body))
}

/// As [`serve_http`], the handler given the request's header lines too.
pub fn serve_http_with_headers(
    mut handle: impl FnMut(&str, &[u8]) -> Reply + Send + 'static,
) -> String {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(&stream);
            let mut length = 0;
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            match handle(&head, &body) {
                Reply::Answer(status, text) => {
                    let _ = write!(
                        &stream,
                        "HTTP/1.1 {status} Answer\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                }
                Reply::Close => {}
                Reply::Die => break,
            }
        }
    });
    base_url
}

/// A WeChat Pay server of one answer: on loopback over plain HTTP, it answers every request
/// with what `answer` makes of the request's XML, for answers the emulator never gives. It
/// serves until the test ends.
pub struct FakeServer {
    pub base_url: String,
}

impl FakeServer {
    pub fn start(
        answer: impl Fn(&wxpay_ops::wechat::Message) -> String + Send + 'static,
    ) -> FakeServer {
        let base_url = serve_http(move |body| match wxpay_ops::wechat::Message::parse(body) {
            Ok(request) => Reply::Answer(200, answer(&request)),
            Err(_) => Reply::Close,
        });
        FakeServer { base_url }
    }
}

/// Runs a shell command as the unprivileged user `nobody`, for tests that need another user
/// to have made something; None (with a note on stderr) when the tests do not run as root.
pub fn as_nobody(script: &str) -> Option<()> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: running as another user needs root (runuser -u nobody)");
        return None;
    }
    let status = Command::new("runuser")
        .args(["-u", "nobody", "--", "sh", "-ec", script])
        .status()
        .expect("runuser runs");
    assert!(status.success(), "as nobody: {script}");
    Some(())
}
