//! The printed completion scripts, sourced by real shells, complete the real binary.
//!
//! Each shell sources what `wxpay-ops completions SHELL` prints and is asked what it offers for a
//! few partly typed lines. The scripts call `wxpay-ops` back through PATH, so PATH starts with
//! the folder of the binary under test. A missing shell fails the test in CI, which installs
//! bash, zsh and fish (`.ci/run`), and skips it elsewhere with a note.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::Env;

const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "powershell", "elvish"];

struct Case {
    /// What is typed before TAB.
    line: &'static str,
    /// Words that must be offered.
    offers: &'static [&'static str],
    /// Whether nothing else may be offered (a value list, not files).
    only: bool,
}

const CASES: [Case; 4] = [
    Case {
        line: "wxpay-ops ",
        offers: &["sign", "paysign", "notify", "config", "emulator", "demo"],
        only: false,
    },
    Case {
        line: "wxpay-ops paysign ",
        offers: &["mini", "jsapi", "app"],
        only: false,
    },
    Case {
        line: "wxpay-ops emulator ",
        offers: &["serve", "export"],
        only: false,
    },
    Case {
        line: "wxpay-ops sign --sign-type ",
        offers: &["MD5", "HMAC-SHA256"],
        only: true,
    },
];

/// Asks `complete` for each case and checks what the shell offers.
fn check_cases(shell: &str, complete: impl Fn(&str) -> Vec<String>) {
    for case in CASES {
        let offered = complete(case.line);
        for word in case.offers {
            assert!(
                offered.iter().any(|o| o == word),
                "{shell}: `{}<TAB>` should offer {word:?}; it offered {offered:?}",
                case.line
            );
        }
        if case.only {
            assert_eq!(
                offered.len(),
                case.offers.len(),
                "{shell}: `{}<TAB>` should offer only {:?}; it offered {offered:?}",
                case.line,
                case.offers
            );
        }
    }
}

#[test]
fn bash_completes_subcommands_and_values() {
    let Some(bash) = installed("bash") else {
        return;
    };
    let session = Session::new("bash");
    // Sets up the variables that bash gives a completion function, then calls the function that
    // the script registered for wxpay-ops, as a TAB would.
    let driver = session.write(
        "complete.bash",
        r#"source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMP_TYPE=9
spec=$(complete -p wxpay-ops) || exit 3
function=${spec##* -F }
function=${function%% *}
"$function" wxpay-ops "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#,
    );
    check_cases("bash", |line| {
        let mut words: Vec<&str> = line.split_whitespace().collect();
        // The word being completed is the empty one after the last space.
        words.push("");
        let mut command = session.command(&bash);
        command
            .args(["--noprofile", "--norc"])
            .arg(&driver)
            .arg(&session.script)
            .args(words);
        lines(&session.output(command))
    });
}

#[test]
fn zsh_completes_subcommands_and_values() {
    let Some(zsh) = installed("zsh") else {
        return;
    };
    let session = Session::new("zsh");
    // zsh completes only inside its line editor, so an outer zsh runs an interactive one in a
    // pseudo-terminal (zpty), types the line and a TAB, and reads until the inner shell is done.
    // In there, compadd prints each match it is given instead of adding it, and the completion
    // system's own collecting calls (-O, -A, -D) pass through.
    let setup = session.write(
        "setup.zsh",
        r#"PS1= RPS1=
autoload -Uz compinit && compinit -u -D
source $1
compadd() {
    if (( ${@[(I)-[OAD]]} )); then
        builtin compadd "$@"
        return
    fi
    local -a found
    builtin compadd -O found "$@"
    (( $#found )) && print -rl -- "<match>"${^found}
}
capture_done() { print -r -- '<end>'; exit }
comppostfuncs=(capture_done)
"#,
    );
    let driver = session.write(
        "drive.zsh",
        r#"zmodload zsh/zpty || exit 3
zpty inner zsh -f -i
zpty -w inner "source ${(q)1} ${(q)2}"
zpty -w -n inner "$3"$'\t'
zpty -r inner out '*<end>*'
print -r -- "$out"
zpty -d inner
"#,
    );
    check_cases("zsh", |line| {
        let mut command = session.command(&zsh);
        command
            .arg("-f")
            .arg(&driver)
            .arg(&setup)
            .arg(&session.script)
            .arg(line);
        let output = session.output(command);
        output
            .lines()
            .filter_map(|l| l.split_once("<match>"))
            .map(|(_, word)| word.trim_end().to_owned())
            .collect()
    });
}

#[test]
fn fish_completes_subcommands_and_values() {
    let Some(fish) = installed("fish") else {
        return;
    };
    let session = Session::new("fish");
    check_cases("fish", |line| {
        let mut command = session.command(&fish);
        command
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(&session.script)
            .arg(line);
        // fish prints each candidate, then a TAB and its description.
        lines(&session.output(command))
            .into_iter()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect()
    });
}

/// The committed scripts are what the binary prints; they are regenerated with the loop in
/// DEVELOPMENT.md.
#[test]
fn committed_scripts_are_what_the_binary_prints() {
    let env = Env::new();
    for shell in SHELLS {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("completions/wxpay-ops.{shell}"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let printed = env.run(&["completions", shell]).expect(0).stdout;
        assert!(
            committed == printed,
            "{} differs from `wxpay-ops completions {shell}`; regenerate completions/ (DEVELOPMENT.md, Generated files)",
            path.display()
        );
    }
}

/// The scripts ask for completions through a variable of the tool's own; clap's generic
/// `COMPLETE`, which anyone may have set, leaves commands alone.
#[test]
fn a_stray_complete_variable_leaves_commands_alone() {
    let mut env = Env::new();
    env.set("COMPLETE", "bash");
    let out = env.run(&["completions", "fish"]).expect(0);
    assert!(
        out.stdout.contains("WXPAY_OPS_COMPLETE=fish"),
        "{}",
        out.stdout
    );
}

/// The shell's path on PATH, or None after a note when it is missing outside CI.
fn installed(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not installed; CI must install it (.ci/run does, with apt-get)"
        );
        eprintln!("note: {name} is not installed, so its completion test is skipped");
    }
    found
}

/// A temporary home holding the shell's script, as `wxpay-ops completions SHELL` prints it.
struct Session {
    env: Env,
    script: PathBuf,
}

impl Session {
    fn new(shell: &str) -> Session {
        let env = Env::new();
        let printed = env.run(&["completions", shell]).expect(0).stdout;
        let script = env.path(&format!("wxpay-ops.{shell}"));
        std::fs::write(&script, printed).unwrap();
        Session { env, script }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.env.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The shell in a clean environment, in the temporary home, with the binary under test first
    /// on PATH.
    fn command(&self, shell: &Path) -> Command {
        let binary = Path::new(env!("CARGO_BIN_EXE_wxpay-ops"));
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(binary.parent().unwrap().to_path_buf())
                .chain(std::env::split_paths(&inherited)),
        )
        .unwrap();
        let mut command = Command::new(shell);
        command
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.env.dir.path())
            .current_dir(self.env.dir.path());
        command
    }

    /// Runs `command` to its end, or fails after a minute (a shell that waits for input would
    /// otherwise hang the suite).
    fn output(&self, mut command: Command) -> String {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the shell starts");
        let stdout = drain(child.stdout.take().unwrap());
        let stderr = drain(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("{command:?} did not finish within a minute");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
        assert!(
            status.success(),
            "{command:?} failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stdout
    }
}

/// Reads a child's stream on a thread, so that a full pipe cannot stall the child.
fn drain(mut stream: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn lines(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
