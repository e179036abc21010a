//! `wxpay-ops ledger report|export`: what the ledger holds, for people and for other engines.

mod export;
mod report;

use clap::Subcommand;

use super::failure::Failure;
use super::settings::Context;

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
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
        LedgerCommand::Report(args) => report::run(context, args),
        LedgerCommand::Export(args) => export::run(context, args),
    }
}
