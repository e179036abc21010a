//! The real `wxpay-ops` binary, run as users run it.

mod common;
mod completions;
mod config;
mod emulator;
mod general;
mod notify;
mod output;
mod paysign;
mod reconcile;
mod serve;
mod sign;
mod writes;
