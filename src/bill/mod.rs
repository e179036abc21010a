//! WeChat Pay bill files (reference A6): the exact byte format, shared by the emulator that
//! writes bills and the parser that reads them.

pub mod format;
