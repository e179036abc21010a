//! Where commands write files: `-`, devices, symlinks, missing folders.

use std::os::unix::fs::{FileTypeExt, symlink};

use crate::common::Env;

const HEADER: &str = "out_trade_no,status,amount,refund_amount,paid_at\n";

fn export(env: &Env, output: &str) -> crate::common::Output {
    env.run(&[
        "emulator",
        "export",
        "--day",
        "20261120:200:3",
        "-o",
        output,
    ])
}

#[test]
fn export_through_a_symlink_replaces_the_target_and_keeps_the_link() {
    let env = Env::new();
    std::fs::create_dir(env.path("data")).unwrap();
    let target = env.path("data/orders.csv");
    std::fs::write(&target, "old").unwrap();
    let link = env.path("orders.csv");
    symlink("data/orders.csv", &link).unwrap();

    let expected = export(&env, link.to_str().unwrap()).expect(0).json();
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.starts_with(HEADER), "{text}");
    assert_eq!(
        text.lines().count() as u64 - 1,
        expected["export_rows"].as_u64().unwrap()
    );
    assert_eq!(std::fs::read_dir(env.path("data")).unwrap().count(), 1);
}

#[test]
fn export_to_a_device_writes_it_in_place() {
    let env = Env::new();
    export(&env, "/dev/null").expect(0).json();
    let null = std::fs::metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device());
}

#[test]
fn export_to_stdout_keeps_stdout_for_the_csv() {
    let env = Env::new();
    for output in ["-", "/dev/stdout"] {
        let out = export(&env, output).expect(0);
        assert!(out.stdout.starts_with(HEADER), "{}", out.stdout);
        let counts: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap();
        assert_eq!(
            out.stdout.lines().count() as u64 - 1,
            counts["export_rows"].as_u64().unwrap(),
            "{output}"
        );
    }
    assert!(!env.path("-").exists());
}

#[test]
fn export_into_a_missing_folder_names_the_file_and_says_what_to_do() {
    let env = Env::new();
    let out = export(&env, "reports/nov/orders.csv")
        .expect(2)
        .error_mentions("reports/nov/orders.csv: the folder reports/nov does not exist")
        .hint_mentions("mkdir -p reports/nov");
    assert!(!out.stderr.contains(".tmp"), "{}", out.stderr);
}
