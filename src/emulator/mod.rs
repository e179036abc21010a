//! A local WeChat Pay v2 server: stateful, signature-checking, fault-injecting.

mod api;
pub mod bills;
pub mod clock;
pub mod cloudpay;
mod control;
pub mod core;
pub mod faults;
pub mod listening;
pub mod login;
pub mod merchant;
pub mod notify;
pub mod outcomes;
pub mod pki;
pub mod server;
pub mod state;
pub mod synth;
pub mod v3;

pub use server::{Emulator, ServeOptions};
#[cfg(test)]
mod tests;

/// Locks shared emulator state. A panic while a lock was held (a bug) must not take every
/// later request down with it, so a poisoned lock is used as it stands.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
