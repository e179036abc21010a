//! WeChat Pay bill files (reference A6): the exact byte format, shared by the emulator that
//! writes bills and the parser that reads them; the download of bills into a folder with a
//! manifest.

pub mod download;
pub mod format;
pub mod layout;
pub mod manifest;
pub mod parse;

#[cfg(test)]
mod tests;
