use std::process::{Command, Stdio};

use crate::common::Env;

#[test]
fn help_documents_the_exit_codes() {
    let out = Env::new().run(&["--help"]).expect(0);
    for line in [
        "0   success",
        "4   a sign that does not check out",
        "75  try again later",
    ] {
        assert!(out.stdout.contains(line), "{}", out.stdout);
    }
}

/// Each exit code in the help names the commands of this build that give it.
#[test]
fn exit_code_help_names_only_what_exists() {
    let env = Env::new();
    let help = env.run(&["--help"]).expect(0).stdout;
    let codes = &help[help.find("Exit codes:").expect("an exit-code section")..];
    // clap may wrap a long entry; a line that does not start with a code continues the one before.
    let mut entries: Vec<String> = Vec::new();
    for line in codes.lines().skip(1) {
        match entries.last_mut() {
            Some(entry) if !line.trim_start().starts_with(|c: char| c.is_ascii_digit()) => {
                entry.push(' ');
                entry.push_str(line.trim());
            }
            _ => entries.push(line.trim().to_owned()),
        }
    }
    for line in entries
        .iter()
        .filter(|l| !l.contains("success") && !l.contains("every command"))
    {
        let named: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        assert!(!named.is_empty(), "no command named for {line:?}");
        for named in named {
            let (flags, mut args): (Vec<&str>, Vec<&str>) =
                named.split_whitespace().partition(|w| w.starts_with('-'));
            args.push("--help");
            let help = env.run(&args).expect(0).stdout;
            for flag in flags {
                assert!(help.contains(flag), "{named}: no {flag} in\n{help}");
            }
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    env.run(&["--no-such-flag"]).expect(2);
    env.run(&["sign", "verify"]).expect(2);
    env.run(&["completions", "tcsh"]).expect(2);
}

#[test]
fn demo_runs_on_built_in_data() {
    let out = Env::new().run(&["demo"]).expect(0);
    let rows = out.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 15);
    assert!(rows.iter().all(|r| r["check"] == "ok"));
}

#[test]
fn a_closed_stdout_ends_quietly_with_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxpay-ops"))
        .args(["completions", "bash"])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn quiet_silences_status_but_not_data() {
    let env = Env::new();
    let out = env.run(&["-q", "demo"]).expect(0);
    assert!(out.stderr.is_empty());
    assert!(!out.stdout.is_empty());
}
