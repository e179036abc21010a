//! The real `wxpay-ops` binary, run as users run it.

mod bill;
mod binding;
mod certs;
mod cloudpay;
mod common;
mod completions;
mod config;
mod docs;
mod emulator;
mod folders;
mod fuzz;
mod general;
mod ledger;
mod login;
mod notify;
mod notify_check;
mod numbers;
mod order;
mod output;
mod paysign;
mod reconcile;
mod reconcile_strict;
mod refund;
mod serve;
mod sign;
mod writes;
