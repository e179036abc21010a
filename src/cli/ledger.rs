//! `wxpay-ops ledger …`: what the ledger keeps across days.

mod differences;

use clap::Subcommand;

use super::failure::Failure;
use super::settings::Context;

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// The differences still open, oldest first: their age, amounts, and what would close them
    #[command(after_help = differences::OPEN_AFTER_HELP)]
    Open(differences::OpenArgs),
    /// Close an open difference by hand, saying why; the OS user is recorded with the note
    Resolve(differences::ResolveArgs),
    /// Everything the ledger knows of one order: its bill rows, its differences and the runs
    /// that found and closed them
    #[command(after_help = differences::SHOW_AFTER_HELP)]
    Show(differences::ShowArgs),
}

pub fn run(context: &Context, command: LedgerCommand) -> Result<u8, Failure> {
    match command {
        LedgerCommand::Open(args) => differences::open(context, args),
        LedgerCommand::Resolve(args) => differences::resolve(context, args),
        LedgerCommand::Show(args) => differences::show(context, args),
    }
}
