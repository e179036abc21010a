//! A local WeChat Pay v2 server.

pub mod pki;
