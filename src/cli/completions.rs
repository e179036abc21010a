//! `wxpay-ops completions SHELL`: generated from the same clap definition as the parser.

use clap::Args;
use clap_complete::Shell;

use super::failure::{Failure, exit};
use super::settings::Context;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    shell: Shell,
}

/// The completion script for `shell`, as committed under `completions/`.
pub fn script(shell: Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut super::command(), "wxpay-ops", &mut out);
    String::from_utf8(out).expect("completion scripts are UTF-8")
}

pub fn run(context: &Context, args: CompletionsArgs) -> Result<u8, Failure> {
    context.printer.data(&script(args.shell))?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regenerate with: for s in bash zsh fish powershell elvish; do
    /// cargo run -q -- completions $s > completions/wxpay-ops.$s; done
    #[test]
    fn committed_completions_match_the_cli() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/completions");
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::PowerShell,
            Shell::Elvish,
        ] {
            let path = format!("{dir}/wxpay-ops.{}", shell.to_string().to_lowercase());
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == script(shell),
                "{path} is out of date with the CLI; regenerate it (see this test's doc comment)"
            );
        }
    }
}
