//! `wxpay-ops completions SHELL`, and the completion engine that the printed scripts call.
//!
//! Completion is dynamic (clap_complete's `CompleteEnv`): the script a shell sources only
//! registers a function, which runs `wxpay-ops` again with the words typed so far, and the binary
//! answers from the same clap definition that parses real command lines. The static scripts of
//! `clap_complete::generate` were dropped: as of clap_complete 4.6.11, bash's never completes past
//! the first word when the binary's name has a hyphen (clap-rs/clap#6421: its state names and
//! case labels escape the `-` differently), and fish's offers no positional values, such as
//! `paysign mini|jsapi|app`.

use clap::{Args, ValueEnum};
use clap_complete::CompleteEnv;
use clap_complete::env::{self, EnvCompleter};

use super::failure::{Failure, exit};
use super::settings::Context;

/// The variable by which a script asks the binary for completions. It is our own name, not
/// clap's default `COMPLETE`, so that an unrelated `COMPLETE` in someone's environment cannot
/// turn a command into a completion answer.
const VAR: &str = "WXPAY_OPS_COMPLETE";

/// The command that is completed, and the program that the scripts call, found on PATH. A name
/// rather than this binary's path, so that the scripts are the same on every machine.
const BIN: &str = "wxpay-ops";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

impl Shell {
    fn completer(self) -> &'static dyn EnvCompleter {
        match self {
            Shell::Bash => &env::Bash,
            Shell::Zsh => &env::Zsh,
            Shell::Fish => &env::Fish,
            Shell::Powershell => &env::Powershell,
            Shell::Elvish => &env::Elvish,
        }
    }
}

/// Answers, then exits, when a completion script called us; otherwise returns at once. It must
/// run before anything is printed.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(super::command)
        .var(VAR)
        .bin(BIN)
        .completer(BIN)
        .complete();
}

/// The script that registers `shell`'s completion of `wxpay-ops`, as committed under
/// `completions/`.
pub fn script(shell: Shell) -> String {
    let mut out = Vec::new();
    shell
        .completer()
        .write_registration(VAR, BIN, BIN, BIN, &mut out)
        .expect("writing to memory cannot fail");
    String::from_utf8(out).expect("completion scripts are UTF-8")
}

pub fn run(context: &Context, args: CompletionsArgs) -> Result<u8, Failure> {
    context.printer.data(&script(args.shell))?;
    Ok(exit::OK)
}
