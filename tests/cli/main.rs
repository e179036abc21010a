//! The real `wxpay-ops` binary, run as users run it.

mod common;
mod config;
mod emulator;
mod general;
mod notify;
mod paysign;
mod serve;
mod sign;
