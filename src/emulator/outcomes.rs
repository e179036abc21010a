//! Business outcomes on demand: the next requests about a given order or refund answer with
//! a chosen err_code, and a refund ends in CHANGE or REFUNDCLOSE instead of SUCCESS.

use serde::{Deserialize, Serialize};

use super::api::Endpoint;
use super::state::{Refund, RefundStatus, Refusal, refuse};

/// An err_code the emulator answers on demand, the endpoints that return it (reference A2.1
/// to A2.5 and the A2.10 catalogue), and its err_code_des. The descriptions are the
/// 描述 column of the official error tables; `系统错误` is also seen in real answers. Which
/// exact text real servers put in err_code_des for the others is UNCONFIRMED.
struct Catalogued {
    code: &'static str,
    description: &'static str,
    endpoints: &'static [Endpoint],
}

const ALL_TRADE_APIS: &[Endpoint] = &[
    Endpoint::UnifiedOrder,
    Endpoint::OrderQuery,
    Endpoint::CloseOrder,
    Endpoint::Refund,
    Endpoint::RefundQuery,
];

const CATALOGUE: &[Catalogued] = &[
    Catalogued {
        code: "SYSTEMERROR",
        description: "系统错误",
        endpoints: ALL_TRADE_APIS,
    },
    Catalogued {
        code: "NOAUTH",
        description: "商户无此接口权限",
        endpoints: ALL_TRADE_APIS,
    },
    // The user's balance at unifiedorder, the merchant's refundable balance at refund.
    Catalogued {
        code: "NOTENOUGH",
        description: "余额不足",
        endpoints: &[Endpoint::UnifiedOrder, Endpoint::Refund],
    },
    Catalogued {
        code: "BIZERR_NEED_RETRY",
        description: "退款业务流程错误，需要商户触发重试来解决",
        endpoints: &[Endpoint::Refund],
    },
    Catalogued {
        code: "FREQUENCY_LIMITED",
        description: "频率限制",
        endpoints: &[Endpoint::Refund],
    },
    Catalogued {
        code: "INVALID_REQ_TOO_MUCH",
        description: "无效请求过多",
        endpoints: &[Endpoint::Refund],
    },
    Catalogued {
        code: "USER_ACCOUNT_ABNORMAL",
        description: "退款请求失败",
        endpoints: &[Endpoint::Refund],
    },
    Catalogued {
        code: "TRADE_OVERDUE",
        description: "订单已经超过退款期限",
        endpoints: &[Endpoint::Refund],
    },
    Catalogued {
        code: "ERROR",
        description: "业务错误",
        endpoints: &[Endpoint::Refund],
    },
    Catalogued {
        code: "TRADE_STATE_ERROR",
        description: "订单状态错误",
        endpoints: &[Endpoint::CloseOrder],
    },
];

/// The err_codes `err_code` may name.
pub fn known_err_codes() -> Vec<&'static str> {
    CATALOGUE.iter().map(|c| c.code).collect()
}

/// What a control request asks for: an err_code for the next `count` requests about an
/// order or a refund, or how a refund ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Only requests of this merchant; any merchant when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_refund_no: Option<String>,
    /// Only requests to this endpoint (e.g. "/secapi/pay/refund"); else every endpoint that
    /// can return the err_code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<RefundStatus>,
    /// How many matching requests answer with the err_code.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// An outcome that passed its checks, with what it matches worked out.
#[derive(Debug)]
struct Pending {
    outcome: Outcome,
    endpoints: Vec<Endpoint>,
    refusal: Option<Refusal>,
}

/// What a request is about: its order and refund numbers, as far as they are known.
#[derive(Debug, Default)]
pub(super) struct Subject<'a> {
    pub mch_id: &'a str,
    pub out_trade_no: Option<String>,
    pub out_refund_no: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct Outcomes {
    pending: Vec<Pending>,
}

impl Outcomes {
    /// Checks an outcome against the reference and keeps it.
    pub fn add(&mut self, outcome: Outcome) -> Result<(), String> {
        let by_refund = match (&outcome.out_trade_no, &outcome.out_refund_no) {
            (Some(_), None) => false,
            (None, Some(_)) => true,
            _ => return Err("give exactly one of out_trade_no and out_refund_no".into()),
        };
        if outcome.count == 0 {
            return Err("count must be at least 1".into());
        }
        let pending = match (&outcome.err_code, outcome.refund_status) {
            (Some(code), None) => {
                let entry = CATALOGUE.iter().find(|c| c.code == code).ok_or_else(|| {
                    format!(
                        "err_code {code:?} is not one the emulator answers on demand; \
                         known: {}",
                        known_err_codes().join(", ")
                    )
                })?;
                let mut endpoints = entry.endpoints.to_vec();
                if by_refund {
                    // A refund number names a refund request or a refund query.
                    endpoints.retain(|e| matches!(e, Endpoint::Refund | Endpoint::RefundQuery));
                }
                if let Some(path) = &outcome.path {
                    let (endpoint, _) = Endpoint::route(path)
                        .ok_or_else(|| format!("path {path:?} is no WeChat Pay endpoint"))?;
                    endpoints.retain(|e| *e == endpoint);
                }
                if endpoints.is_empty() {
                    return Err(format!(
                        "WeChat Pay does not answer {code} to {} (reference A2)",
                        match (&outcome.path, by_refund) {
                            (Some(path), _) => path.as_str(),
                            (None, true) => "requests by out_refund_no",
                            (None, false) => "these requests",
                        }
                    ));
                }
                Pending {
                    endpoints,
                    refusal: Some(refuse(entry.code, entry.description)),
                    outcome,
                }
            }
            (None, Some(RefundStatus::Change | RefundStatus::RefundClose)) => {
                if !by_refund {
                    return Err("refund_status needs out_refund_no".into());
                }
                if outcome.path.is_some() || outcome.count != 1 {
                    return Err("refund_status takes neither path nor count".into());
                }
                Pending {
                    endpoints: Vec::new(),
                    refusal: None,
                    outcome,
                }
            }
            (None, Some(_)) => return Err("refund_status must be CHANGE or REFUNDCLOSE".into()),
            _ => return Err("give exactly one of err_code and refund_status".into()),
        };
        self.pending.push(pending);
        Ok(())
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }

    pub fn pending(&self) -> Vec<Outcome> {
        self.pending.iter().map(|p| p.outcome.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes one use of the first err_code outcome matching a request to `endpoint`.
    pub(super) fn take_refusal(
        &mut self,
        endpoint: Endpoint,
        subject: &Subject<'_>,
    ) -> Option<Refusal> {
        let index = self.pending.iter().position(|p| {
            let o = &p.outcome;
            p.refusal.is_some()
                && p.endpoints.contains(&endpoint)
                && o.mch_id.as_deref().is_none_or(|m| m == subject.mch_id)
                && matches_number(&o.out_trade_no, &subject.out_trade_no)
                && matches_number(&o.out_refund_no, &subject.out_refund_no)
        })?;
        let pending = &mut self.pending[index];
        let refusal = pending.refusal.clone();
        pending.outcome.count -= 1;
        if pending.outcome.count == 0 {
            self.pending.remove(index);
        }
        refusal
    }

    /// How a refund that is due ends: the status asked for, taken once, or SUCCESS.
    pub(super) fn take_ending(&mut self, refund: &Refund) -> RefundStatus {
        let index = self.pending.iter().position(|p| {
            let o = &p.outcome;
            o.refund_status.is_some()
                && o.out_refund_no.as_deref() == Some(refund.out_refund_no.as_str())
                && o.mch_id.as_deref().is_none_or(|m| m == refund.mch_id)
        });
        match index {
            Some(index) => self
                .pending
                .remove(index)
                .outcome
                .refund_status
                .expect("checked"),
            None => RefundStatus::Success,
        }
    }
}

/// An outcome without the number matches whatever the request is about; with it, only
/// requests about that number.
fn matches_number(wanted: &Option<String>, given: &Option<String>) -> bool {
    match wanted {
        None => true,
        Some(wanted) => given.as_deref() == Some(wanted.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(json: &str) -> Outcome {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn only_codes_the_reference_gives_for_an_endpoint_are_accepted() {
        let mut outcomes = Outcomes::default();
        for good in [
            r#"{"out_trade_no":"T1","err_code":"NOTENOUGH"}"#,
            r#"{"out_refund_no":"R1","err_code":"BIZERR_NEED_RETRY","count":2}"#,
            r#"{"out_trade_no":"T1","err_code":"SYSTEMERROR","path":"/pay/orderquery"}"#,
            r#"{"out_refund_no":"R1","refund_status":"REFUNDCLOSE"}"#,
        ] {
            assert_eq!(outcomes.add(outcome(good)), Ok(()), "{good}");
        }
        for bad in [
            r#"{"out_trade_no":"T1","err_code":"BIZERR_NEED_RETRY","path":"/pay/orderquery"}"#,
            r#"{"out_refund_no":"R1","err_code":"TRADE_STATE_ERROR"}"#,
            r#"{"out_trade_no":"T1","err_code":"ORDERPAID"}"#,
            r#"{"out_trade_no":"T1","err_code":"SYSTEMERROR","path":"/nope"}"#,
            r#"{"out_trade_no":"T1","out_refund_no":"R1","err_code":"SYSTEMERROR"}"#,
            r#"{"err_code":"SYSTEMERROR"}"#,
            r#"{"out_trade_no":"T1","refund_status":"CHANGE"}"#,
            r#"{"out_refund_no":"R1","refund_status":"SUCCESS"}"#,
            r#"{"out_refund_no":"R1","refund_status":"CHANGE","count":2}"#,
            r#"{"out_refund_no":"R1","err_code":"ERROR","refund_status":"CHANGE"}"#,
            r#"{"out_trade_no":"T1","err_code":"SYSTEMERROR","count":0}"#,
        ] {
            assert!(outcomes.add(outcome(bad)).is_err(), "{bad}");
        }
        assert_eq!(outcomes.pending().len(), 4);
    }

    #[test]
    fn refusals_apply_to_the_next_n_matching_requests() {
        let mut outcomes = Outcomes::default();
        outcomes
            .add(outcome(
                r#"{"out_refund_no":"R1","mch_id":"1","err_code":"BIZERR_NEED_RETRY","count":2}"#,
            ))
            .unwrap();
        let about = |mch_id, refund: &str| Subject {
            mch_id,
            out_trade_no: Some("T1".into()),
            out_refund_no: Some(refund.into()),
        };
        assert_eq!(
            outcomes.take_refusal(Endpoint::Refund, &about("2", "R1")),
            None
        );
        assert_eq!(
            outcomes.take_refusal(Endpoint::Refund, &about("1", "R2")),
            None
        );
        assert_eq!(
            outcomes.take_refusal(Endpoint::OrderQuery, &about("1", "R1")),
            None
        );
        for _ in 0..2 {
            let refusal = outcomes
                .take_refusal(Endpoint::Refund, &about("1", "R1"))
                .unwrap();
            assert_eq!(refusal.code, "BIZERR_NEED_RETRY");
        }
        assert_eq!(
            outcomes.take_refusal(Endpoint::Refund, &about("1", "R1")),
            None
        );
        assert!(outcomes.is_empty());
    }
}
