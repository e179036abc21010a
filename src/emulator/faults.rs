//! Faults injected into the next N matching requests.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// HTTP 500 with a short text body.
    Http500,
    /// HTTP 503 with a short text body.
    Http503,
    /// Answer normally after this many milliseconds.
    Delay { ms: u64 },
    /// Close the connection without answering.
    Drop,
    /// Send the headers and half the body, then close.
    Truncate,
    /// A body that is not well-formed XML.
    MalformedXml,
    /// A normal answer whose sign does not verify.
    BadSign,
    /// A correctly signed answer about another order or refund: each of out_trade_no,
    /// transaction_id, out_refund_no and refund_id that the request named is named otherwise.
    ForeignAnswer,
    /// A correctly signed answer, but signed with MD5 and declaring `sign_type=MD5`, whatever
    /// the request was signed with.
    Md5Answer,
    /// A signed `result_code=FAIL`, `err_code=SYSTEMERROR` answer.
    SystemError,
    /// downloadbill's `Bill Creating` (fund-flow: BILL_CREATING; v3: STATEMENT_CREATING).
    BillCreating,
    /// API v3 bills: a correctly signed apply answer whose `hash_value` is not the SHA-1 of
    /// the file its download_url serves.
    WrongHash,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Matches requests whose path ends with this (e.g. "/pay/orderquery"); empty for all.
    #[serde(default)]
    pub path: String,
    /// How many matching requests it applies to.
    #[serde(default = "one")]
    pub count: u32,
    pub kind: FaultKind,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Default)]
pub struct Faults {
    pending: Vec<Fault>,
}

impl Faults {
    pub fn add(&mut self, fault: Fault) -> Result<(), &'static str> {
        if fault.count == 0 {
            return Err("count must be at least 1");
        }
        self.pending.push(fault);
        Ok(())
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Takes one use of the first fault matching `path`.
    pub fn take(&mut self, path: &str) -> Option<FaultKind> {
        let index = self
            .pending
            .iter()
            .position(|f| path.ends_with(f.path.as_str()))?;
        let fault = &mut self.pending[index];
        fault.count -= 1;
        let kind = fault.kind.clone();
        if fault.count == 0 {
            self.pending.remove(index);
        }
        Some(kind)
    }

    pub fn pending(&self) -> &[Fault] {
        &self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_to_the_next_n_matching_requests() {
        let mut faults = Faults::default();
        faults
            .add(Fault {
                path: "/pay/orderquery".into(),
                count: 2,
                kind: FaultKind::Http503,
            })
            .unwrap();
        assert!(
            faults
                .add(Fault {
                    path: String::new(),
                    count: 0,
                    kind: FaultKind::Drop
                })
                .is_err()
        );
        assert_eq!(faults.take("/pay/unifiedorder"), None);
        assert_eq!(
            faults.take("/sandboxnew/pay/orderquery"),
            Some(FaultKind::Http503)
        );
        assert_eq!(faults.take("/pay/orderquery"), Some(FaultKind::Http503));
        assert_eq!(faults.take("/pay/orderquery"), None);
        let parsed: Fault = serde_json::from_str(r#"{"kind":{"delay":{"ms":5}}}"#).unwrap();
        assert_eq!(parsed.count, 1);
        assert_eq!(parsed.kind, FaultKind::Delay { ms: 5 });
    }
}
