//! wxpay-ops: WeChat Pay API v2 merchant operations.

pub mod bill;
pub mod cli;
pub mod config;
pub mod demo;
pub mod emulator;
pub mod fsutil;
pub mod ledger;
pub mod output;
pub mod reconcile;
pub mod time;
pub mod toml_error;
pub mod wechat;
