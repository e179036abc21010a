//! wxpay-ops: WeChat Pay API v2 merchant operations.

pub mod wechat;
