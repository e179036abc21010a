//! A local WeChat Pay v2 server: stateful, signature-checking, fault-injecting.

mod api;
pub mod bills;
pub mod clock;
mod control;
pub mod core;
pub mod faults;
pub mod merchant;
pub mod notify;
pub mod pki;
pub mod server;
pub mod state;
pub mod synth;

pub use server::{Emulator, ServeOptions};
#[cfg(test)]
mod tests;
