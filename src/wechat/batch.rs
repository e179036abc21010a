//! Many orders queried in one run (`order query --from-csv`): a bounded number of queries in
//! flight, their starts spaced to a rate, each resent by the client where that is safe, and
//! each row's result handed over as it comes, so that a batch of any size runs in flat memory.

use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use thiserror::Error;
use tokio::time::Instant;

use super::api::{OrderKey, OrderState, RequestError};
use super::client::CallError;
use super::gateway::Gateway;

/// The rates a batch may be paced to, in requests per second. The bounds keep the pause
/// between requests sensible: at least one request every 100 s (a slower rate would wait for
/// days), and no faster than any merchant's API quota.
pub const RATES: std::ops::RangeInclusive<f64> = 0.01..=10_000.0;

/// How a batch is paced.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Queries in flight at once; at least 1.
    pub concurrency: usize,
    /// At most this many queries started per second, within [`RATES`].
    pub rate: Option<f64>,
    /// Results in the input's order; otherwise each as it comes.
    pub ordered: bool,
}

/// The column of a batch's input that holds its orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderColumn {
    pub index: usize,
    /// The column holds transaction ids, not out_trade_no.
    pub transaction_ids: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("no column {0:?}")]
pub struct MissingColumn(pub String);

impl OrderColumn {
    /// The column named `name`, else out_trade_no, else transaction_id, in a header whose
    /// names are compared trimmed (and the first without a byte-order mark). A column named
    /// transaction_id holds transaction ids; any other, out_trade_no.
    pub fn find(header: &[String], name: Option<&str>) -> Result<OrderColumn, MissingColumn> {
        let find = |name: &str| {
            let named = |cell: &String| cell.trim_start_matches('\u{feff}').trim() == name;
            header.iter().position(named)
        };
        let (name, index) = match name {
            Some(name) => (name, find(name)),
            None => match find("out_trade_no") {
                Some(index) => ("out_trade_no", Some(index)),
                None => ("transaction_id", find("transaction_id")),
            },
        };
        let index = index.ok_or_else(|| MissingColumn(name.to_owned()))?;
        Ok(OrderColumn {
            index,
            transaction_ids: name == "transaction_id",
        })
    }

    /// The order a cell of the column names.
    pub fn key(&self, cell: &str) -> OrderKey {
        let number = cell.trim().to_owned();
        if self.transaction_ids {
            OrderKey::TransactionId(number)
        } else {
            OrderKey::OutTradeNo(number)
        }
    }
}

/// Why a row has no order state.
#[derive(Debug)]
pub enum RowError<E> {
    /// The input could not give the row's number.
    Unreadable(E),
    /// The number is not one WeChat Pay accepts: nothing was sent.
    Invalid(RequestError),
    /// The query failed.
    Call(CallError),
}

impl<E> RowError<E> {
    /// A short code for the failure: `INVALID_INPUT` for a row that gives no order, else
    /// the call's ([`ClientError::code`](super::client::ClientError::code)).
    pub fn code(&self) -> &str {
        match self {
            RowError::Unreadable(_) | RowError::Invalid(_) => "INVALID_INPUT",
            RowError::Call(e) => e.error.code(),
        }
    }
}

/// One row's result.
#[derive(Debug)]
pub struct RowResult<E> {
    /// The row's place in the input, from 1.
    pub row: usize,
    /// The order asked about; none when the row could not be read.
    pub key: Option<OrderKey>,
    pub outcome: Result<OrderState, RowError<E>>,
}

/// Spaces the starts of queries `1 / rate` seconds apart.
struct Pace {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    fn new(rate: f64) -> Pace {
        Pace {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let start = (*next).max(Instant::now());
            *next = start + self.interval;
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

async fn query<E>(
    gateway: &Gateway,
    key: &OrderKey,
    pace: Option<&Pace>,
) -> Result<OrderState, RowError<E>> {
    key.validate().map_err(RowError::Invalid)?;
    if let Some(pace) = pace {
        pace.wait().await;
    }
    let outgoing = gateway.order_query(key);
    gateway.call(&outgoing).await.map_err(RowError::Call)
}

/// Queries the order of each row, handing each result to `each` as it comes (in the input's
/// order when `pacing.ordered`). One failed row does not stop the others; an error from
/// `each` stops the batch and is returned.
pub async fn query_orders<I, E, X>(
    gateway: &Gateway,
    rows: I,
    pacing: Pacing,
    mut each: impl FnMut(RowResult<E>) -> Result<(), X>,
) -> Result<(), X>
where
    I: Iterator<Item = Result<OrderKey, E>>,
{
    let pace = pacing.rate.map(Pace::new);
    let pace = pace.as_ref();
    let queries = rows.enumerate().map(|(index, read)| async move {
        let (key, outcome) = match read {
            Ok(key) => {
                let outcome = query(gateway, &key, pace).await;
                (Some(key), outcome)
            }
            Err(e) => (None, Err(RowError::Unreadable(e))),
        };
        RowResult {
            row: index + 1,
            key,
            outcome,
        }
    });
    let window = pacing.concurrency.max(1);
    let queries = futures_util::stream::iter(queries);
    let mut results = if pacing.ordered {
        queries.buffered(window).boxed_local()
    } else {
        queries.buffer_unordered(window).boxed_local()
    };
    while let Some(result) = results.next().await {
        each(result)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::client::{Client, ClientOptions, RetryPolicy};
    use crate::wechat::{ApiKey, SignType};

    /// A client of a server that is not there: every query fails, once, at once.
    fn unreachable() -> Gateway {
        Gateway::V2(
            Client::new(ClientOptions {
                timeout: Duration::from_secs(2),
                retry: RetryPolicy {
                    attempts: 1,
                    ..RetryPolicy::default()
                },
                ..ClientOptions::new(
                    "http://127.0.0.1:9",
                    "1900000100",
                    "wx8888888888888888",
                    ApiKey::new("ServiceProviderKey0123456789abcd"),
                    SignType::Md5,
                )
            })
            .unwrap(),
        )
    }

    fn run(rows: Vec<Result<OrderKey, &'static str>>, pacing: Pacing) -> Vec<String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = unreachable();
        let mut seen = Vec::new();
        let done: Result<(), ()> =
            runtime.block_on(query_orders(&client, rows.into_iter(), pacing, |result| {
                let what = match &result.outcome {
                    Ok(_) => "ok".to_owned(),
                    Err(RowError::Unreadable(e)) => format!("unreadable {e}"),
                    Err(error) => error.code().to_owned(),
                };
                let number = result.key.map(|k| k.field().1.to_owned());
                seen.push(format!("{} {number:?} {what}", result.row));
                Ok(())
            }));
        done.unwrap();
        seen
    }

    #[test]
    fn the_order_column_is_named_or_found() {
        let header: Vec<String> = ["\u{feff}name", " transaction_id ", "out_trade_no"]
            .map(str::to_owned)
            .into();
        let found = |name| OrderColumn::find(&header, name);
        let by_number = found(None).unwrap();
        assert_eq!(by_number.index, 2);
        assert_eq!(by_number.key(" T1 "), OrderKey::OutTradeNo("T1".into()));
        let by_id = found(Some("transaction_id")).unwrap();
        assert_eq!(by_id.index, 1);
        assert_eq!(by_id.key("42"), OrderKey::TransactionId("42".into()));
        assert_eq!(found(Some("name")).unwrap().index, 0, "without its BOM");
        assert_eq!(found(Some("id")), Err(MissingColumn("id".into())));
        let ids_only = ["transaction_id".to_owned()];
        assert!(OrderColumn::find(&ids_only, None).unwrap().transaction_ids);
        assert_eq!(
            OrderColumn::find(&[], None),
            Err(MissingColumn("transaction_id".into()))
        );
    }

    #[test]
    fn every_row_gets_a_result_in_the_input_order() {
        let rows = vec![
            Ok(OrderKey::OutTradeNo("T1".into())),
            Err("line 3: bad quote"),
            Ok(OrderKey::TransactionId("not valid".into())),
            Ok(OrderKey::OutTradeNo("T2".into())),
        ];
        let pacing = Pacing {
            concurrency: 3,
            rate: None,
            ordered: true,
        };
        assert_eq!(
            run(rows, pacing),
            [
                "1 Some(\"T1\") UNREACHABLE",
                "2 None unreadable line 3: bad quote",
                "3 Some(\"not valid\") INVALID_INPUT",
                "4 Some(\"T2\") UNREACHABLE",
            ]
        );
    }

    #[test]
    fn a_rate_spaces_the_starts() {
        let rows = (0..4)
            .map(|n| Ok(OrderKey::OutTradeNo(format!("T{n}"))))
            .collect();
        let pacing = Pacing {
            concurrency: 4,
            rate: Some(50.0),
            ordered: false,
        };
        let started = std::time::Instant::now();
        let mut seen = run(rows, pacing);
        // Four starts 20 ms apart: the last one 60 ms after the first.
        assert!(started.elapsed() >= Duration::from_millis(60));
        seen.sort();
        assert_eq!(seen.len(), 4);
        assert!(seen.iter().all(|s| s.ends_with("UNREACHABLE")), "{seen:?}");
    }
}
