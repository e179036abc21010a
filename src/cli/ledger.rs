//! `wxpay-ops ledger …`: the ledger of bills, reconcile runs and their differences.

mod import;

use clap::Subcommand;

use super::failure::Failure;
use super::settings::Context;

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Import bills already on disk into the ledger: their facts, and a trade bill's rows
    #[command(after_help = import::AFTER_HELP)]
    Import(import::ImportArgs),
}

pub fn run(context: &Context, command: LedgerCommand) -> Result<u8, Failure> {
    match command {
        LedgerCommand::Import(args) => import::run(context, args),
    }
}
