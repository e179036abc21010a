//! WeChat Pay bill files (reference A6): the exact byte format, shared by the emulator that
//! writes bills and the parser that reads them; the download of bills into a folder with a
//! manifest, and the sums of the downloaded days.

pub mod download;
pub mod fetch;
pub mod format;
pub mod layout;
pub mod manifest;
pub mod parse;
pub mod summary;

#[cfg(test)]
mod tests;
