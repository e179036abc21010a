//! `wxpay-ops ledger …`: the ledger of bills, reconcile runs and their differences.

mod differences;
mod export;
mod import;
mod report;

use clap::Subcommand;

use super::failure::Failure;
use super::settings::Context;

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Import bills already on disk into the ledger: their facts, and a trade bill's rows
    #[command(after_help = import::AFTER_HELP)]
    Import(import::ImportArgs),
    /// The differences still open, oldest first: their age, amounts, and what would close them
    #[command(after_help = differences::OPEN_AFTER_HELP)]
    Open(differences::OpenArgs),
    /// Close an open difference by hand, saying why; the OS user is recorded with the note
    Resolve(differences::ResolveArgs),
    /// Everything the ledger knows of one order: its bill rows, its differences and the runs
    /// that found and closed them
    #[command(after_help = differences::SHOW_AFTER_HELP)]
    Show(differences::ShowArgs),
    /// A month day by day: payments, refunds, fees, net settlement, differences found and
    /// still open; with --chart, a PNG of it to paste into a mail
    #[command(after_help = report::AFTER_HELP)]
    Report(report::ReportArgs),
    /// A month's bill rows and differences as CSV files for DuckDB, Spark or a warehouse
    #[command(after_help = export::AFTER_HELP)]
    Export(export::ExportArgs),
}

pub fn run(context: &Context, command: LedgerCommand) -> Result<u8, Failure> {
    match command {
        LedgerCommand::Import(args) => import::run(context, args),
        LedgerCommand::Open(args) => differences::open(context, args),
        LedgerCommand::Resolve(args) => differences::resolve(context, args),
        LedgerCommand::Show(args) => differences::show(context, args),
        LedgerCommand::Report(args) => report::run(context, args),
        LedgerCommand::Export(args) => export::run(context, args),
    }
}
