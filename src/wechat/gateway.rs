//! One merchant API over either protocol: a command asks for an operation (query an order,
//! close it, place it), gets a request it can show (`--dry-run`) or send, and reads the answer
//! into the same typed value, whether v2's signed XML or v3's signed JSON carried it.

use serde_json::Value;

use super::api::{
    Endpoint, OrderKey, OrderState, Prepay, RefundAccepted, RefundKey, RefundList, RefundRequest,
    UnifiedOrder,
};
use super::client::{CallError, Client, ClientError, Prepared};
use super::paysign::{PayRequest, PayScene, PaySignError, pay_params_v3};
use super::sign::nonce_str;
use super::v3::api::{self as v3api, V3OrderError};
use super::v3::client::{V3Client, V3Prepared};
use super::xml::Message;

// One per command, never in a collection: boxing a variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Gateway {
    V2(Client),
    V3(V3Client),
}

/// A request ready to send, or to show.
#[derive(Debug, Clone)]
pub enum Outgoing {
    V2(Prepared),
    V3(V3Prepared),
}

impl Outgoing {
    pub fn endpoint(&self) -> Endpoint {
        match self {
            Outgoing::V2(prepared) => prepared.endpoint,
            Outgoing::V3(prepared) => prepared.endpoint,
        }
    }
}

/// A typed answer, read from either protocol's.
pub trait Answer: Sized {
    fn from_v2(answer: Message) -> Result<Self, ClientError>;
    /// `answer` is None for a 204.
    fn from_v3(answer: Option<Value>, request: &V3Prepared) -> Result<Self, ClientError>;
}

fn no_body() -> ClientError {
    ClientError::Payload {
        field: "body".into(),
        problem: "is missing".into(),
    }
}

impl Answer for OrderState {
    fn from_v2(answer: Message) -> Result<Self, ClientError> {
        OrderState::read(answer)
    }
    fn from_v3(answer: Option<Value>, _: &V3Prepared) -> Result<Self, ClientError> {
        v3api::order_state(&answer.ok_or_else(no_body)?)
    }
}

impl Answer for Prepay {
    fn from_v2(answer: Message) -> Result<Self, ClientError> {
        Prepay::read(answer)
    }
    fn from_v3(answer: Option<Value>, request: &V3Prepared) -> Result<Self, ClientError> {
        v3api::prepay_answer(&answer.ok_or_else(no_body)?, request)
    }
}

impl Answer for RefundAccepted {
    fn from_v2(answer: Message) -> Result<Self, ClientError> {
        RefundAccepted::read(answer)
    }
    fn from_v3(answer: Option<Value>, _: &V3Prepared) -> Result<Self, ClientError> {
        v3api::refund_accepted(&answer.ok_or_else(no_body)?)
    }
}

/// An answer whose only news is that the call succeeded (a close).
impl Answer for () {
    fn from_v2(_: Message) -> Result<Self, ClientError> {
        Ok(())
    }
    fn from_v3(_: Option<Value>, _: &V3Prepared) -> Result<Self, ClientError> {
        Ok(())
    }
}

impl Gateway {
    pub fn mch_id(&self) -> &str {
        match self {
            Gateway::V2(client) => &client.mch_id,
            Gateway::V3(client) => &client.mch_id,
        }
    }

    pub fn appid(&self) -> &str {
        match self {
            Gateway::V2(client) => &client.appid,
            Gateway::V3(client) => &client.appid,
        }
    }

    /// The sub-merchant requests are made for, in service-provider mode (v2 only).
    pub fn sub_mch_id(&self) -> Option<&str> {
        match self {
            Gateway::V2(client) => client.sub_mch_id.as_deref(),
            Gateway::V3(_) => None,
        }
    }

    pub fn order_query(&self, key: &OrderKey) -> Outgoing {
        match self {
            Gateway::V2(client) => {
                Outgoing::V2(client.prepare(Endpoint::OrderQuery, &[key.field()]))
            }
            Gateway::V3(client) => Outgoing::V3(v3api::order_query(key, &client.mch_id)),
        }
    }

    pub fn close_order(&self, out_trade_no: &str) -> Outgoing {
        match self {
            Gateway::V2(client) => Outgoing::V2(
                client.prepare(Endpoint::CloseOrder, &[("out_trade_no", out_trade_no)]),
            ),
            Gateway::V3(client) => Outgoing::V3(v3api::close_order(out_trade_no, &client.mch_id)),
        }
    }

    /// The order, checked as WeChat Pay checks it (and, on v3, as v3 can carry it).
    pub fn unified_order(&self, order: &UnifiedOrder) -> Result<Outgoing, V3OrderError> {
        order.validate()?;
        match self {
            Gateway::V2(client) => Ok(Outgoing::V2(
                client.prepare(Endpoint::UnifiedOrder, &order.fields()),
            )),
            Gateway::V3(client) => Ok(Outgoing::V3(v3api::prepay(
                order,
                &client.mch_id,
                &client.appid,
            )?)),
        }
    }

    pub fn refund(&self, request: &RefundRequest) -> Result<Outgoing, V3OrderError> {
        request.validate()?;
        match self {
            Gateway::V2(client) => Ok(Outgoing::V2(
                client.prepare(Endpoint::Refund, &request.fields()),
            )),
            Gateway::V3(_) => Ok(Outgoing::V3(v3api::refund(request)?)),
        }
    }

    pub fn refund_query(&self, key: &RefundKey) -> Result<Outgoing, V3OrderError> {
        key.validate()?;
        match self {
            Gateway::V2(client) => Ok(Outgoing::V2(
                client.prepare(Endpoint::RefundQuery, &[key.field()]),
            )),
            Gateway::V3(_) => Ok(Outgoing::V3(v3api::refund_query(key)?)),
        }
    }

    /// The refunds a refund query finds: on v2 every page of the order's refunds, on v3
    /// the one refund asked for.
    pub async fn refunds(
        &self,
        outgoing: &Outgoing,
        key: &RefundKey,
    ) -> Result<RefundList, CallError> {
        match (self, outgoing) {
            (Gateway::V2(client), Outgoing::V2(prepared)) => {
                client.refund_query_all(prepared, key).await
            }
            (Gateway::V3(client), Outgoing::V3(prepared)) => {
                let answer = client.send(prepared).await?.ok_or_else(no_body);
                answer
                    .and_then(|answer| v3api::refund_list(&answer))
                    .map_err(|error| CallError { error, attempts: 1 })
            }
            _ => unreachable!("a request is sent by the gateway that prepared it"),
        }
    }

    /// Whether a refusal saying the order is already closed can be taken as the order's
    /// state: v2's comes signed; v3's refusals are not (B5), so a verified query must say
    /// CLOSED too.
    pub async fn closed_for_sure(&self, out_trade_no: &str) -> bool {
        match self {
            Gateway::V2(_) => true,
            Gateway::V3(_) => {
                let query = self.order_query(&OrderKey::OutTradeNo(out_trade_no.to_owned()));
                let state: Result<OrderState, CallError> = self.call(&query).await;
                state.is_ok_and(|state| state.trade_state == "CLOSED")
            }
        }
    }

    /// Sends the request and reads its answer.
    pub async fn call<T: Answer>(&self, outgoing: &Outgoing) -> Result<T, CallError> {
        let read = |result: Result<T, ClientError>, attempts| {
            result.map_err(|error| CallError { error, attempts })
        };
        match (self, outgoing) {
            (Gateway::V2(client), Outgoing::V2(prepared)) => {
                let answer = client.send(prepared).await?;
                read(T::from_v2(answer), 1)
            }
            (Gateway::V3(client), Outgoing::V3(prepared)) => {
                let answer = client.send(prepared).await?;
                read(T::from_v3(answer, prepared), 1)
            }
            _ => unreachable!("a request is sent by the gateway that prepared it"),
        }
    }

    /// The pay parameters the front end needs for a prepay id, signed as this API signs them:
    /// v2 with the API key and the profile's sign type, v3 with the merchant's RSA key.
    pub fn pay_params(
        &self,
        scene: PayScene,
        prepay_id: &str,
    ) -> Result<Vec<(&'static str, String)>, PaySignError> {
        match self {
            Gateway::V2(client) => client.pay_params(scene, prepay_id),
            Gateway::V3(client) => {
                let nonce = nonce_str();
                let request = PayRequest {
                    appid: &client.appid,
                    mch_id: &client.mch_id,
                    prepay_id,
                    timestamp: crate::time::now().unix_timestamp().max(0) as u64,
                    nonce: &nonce,
                    sign_type: super::SignType::HmacSha256,
                };
                pay_params_v3(scene, &request, client.key())
            }
        }
    }
}
