//! The real `wxpay-ops` binary, run as users run it.

mod common;
mod completions;
mod config;
mod emulator;
mod fuzz;
mod general;
mod notify;
mod output;
mod paysign;
mod serve;
mod sign;
mod writes;
