//! Keys a reconciliation watches for another day: the differences the ledger still holds
//! open. A run of one day may see the counterpart of another day's difference in a way that
//! is no difference of its own (matched, or dated out of its scope), so each engine reports,
//! for every watched key it meets, both sides as it saw them: a [`Sighting`].
//!
//! A key is seen in the day's bill by the rows that carry it: a payment by the first payment
//! row of its order; a refund by number by the first refund row of that number; the refunds
//! of an order by every refund row of the order, summed. It is seen in the export by the
//! entry a bill row of the key would match: the payment of its order; the refund of its
//! number, else the refunds of its order (as an export without refund numbers keys them).
//! Adjacent days' bills are not looked at: what they hold is their own day's to see.

use std::collections::HashMap;

use super::Side;
use super::store::{EntryKind, OrderStatus};

/// A payment or refund to look for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatchKey {
    pub kind: EntryKind,
    pub out_trade_no: String,
    /// The refund number of a refund keyed by it; `None` for a payment, and for the refunds
    /// of an order keyed by the order.
    pub out_refund_no: Option<String>,
}

/// The keys watched, found by order number: every bill row carries its order's, so one
/// lookup per row finds any key the row may be.
#[derive(Debug, Default)]
pub struct Watch {
    /// Sorted, each once.
    keys: Vec<WatchKey>,
    by_order: HashMap<Box<str>, Vec<usize>, foldhash::fast::FixedState>,
}

impl Watch {
    pub fn new(keys: impl IntoIterator<Item = WatchKey>) -> Watch {
        let mut keys: Vec<WatchKey> = keys.into_iter().collect();
        keys.sort_unstable();
        keys.dedup();
        let mut by_order: HashMap<Box<str>, Vec<usize>, _> = HashMap::default();
        for (i, key) in keys.iter().enumerate() {
            by_order
                .entry(key.out_trade_no.as_str().into())
                .or_default()
                .push(i);
        }
        Watch { keys, by_order }
    }

    /// The keys, sorted.
    pub fn keys(&self) -> &[WatchKey] {
        &self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys (by their place in [`Watch::keys`]) of this order.
    pub fn of_order(&self, out_trade_no: &str) -> &[usize] {
        self.by_order.get(out_trade_no).map_or(&[], Vec::as_slice)
    }
}

/// How a bill row counts toward a watched key of its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// The key's first row in the file is its bill side.
    First,
    /// The refunds of an order: every row adds to the bill side, which keeps the first
    /// row's time and line.
    Sum,
}

/// Whether a bill row of the key's order (with `out_refund_no` on a refund row) counts
/// toward the key, and how.
pub fn take(key: &WatchKey, out_refund_no: Option<&str>) -> Option<Take> {
    match (key.kind, out_refund_no) {
        (EntryKind::Payment, None) => Some(Take::First),
        (EntryKind::Refund, Some(number)) if key.out_refund_no.as_deref() == Some(number) => {
            Some(Take::First)
        }
        (EntryKind::OrderRefund, Some(_)) => Some(Take::Sum),
        _ => None,
    }
}

/// How the rows of a key add up: the refunds of an order are summed, any other key is its
/// first row.
pub fn take_of(key: &WatchKey) -> Take {
    match key.kind {
        EntryKind::OrderRefund => Take::Sum,
        EntryKind::Payment | EntryKind::Refund => Take::First,
    }
}

/// A watched key as one run saw it: its first bill row of the day (or its refunds summed),
/// and the export's entry, whatever its date and status. Only keys seen on a side are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub key: WatchKey,
    pub bill: Option<Side>,
    pub export: Option<Side>,
    pub export_status: Option<OrderStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: EntryKind, order: &str, refund: Option<&str>) -> WatchKey {
        WatchKey {
            kind,
            out_trade_no: order.into(),
            out_refund_no: refund.map(Into::into),
        }
    }

    #[test]
    fn keys_are_found_by_their_order_once_each() {
        let watch = Watch::new([
            key(EntryKind::Refund, "O1", Some("R1")),
            key(EntryKind::Payment, "O1", None),
            key(EntryKind::Payment, "O1", None),
            key(EntryKind::Payment, "O2", None),
        ]);
        assert_eq!(watch.keys().len(), 3);
        let of_o1: Vec<&WatchKey> = watch
            .of_order("O1")
            .iter()
            .map(|&i| &watch.keys()[i])
            .collect();
        assert_eq!(
            of_o1,
            [
                &key(EntryKind::Payment, "O1", None),
                &key(EntryKind::Refund, "O1", Some("R1"))
            ]
        );
        assert!(watch.of_order("O3").is_empty());
    }

    #[test]
    fn rows_count_toward_the_keys_of_their_kind() {
        let payment = key(EntryKind::Payment, "O1", None);
        let refund = key(EntryKind::Refund, "O1", Some("R1"));
        let refunds = key(EntryKind::OrderRefund, "O1", None);
        assert_eq!(take(&payment, None), Some(Take::First));
        assert_eq!(take(&payment, Some("R1")), None);
        assert_eq!(take(&refund, Some("R1")), Some(Take::First));
        assert_eq!(take(&refund, Some("R2")), None);
        assert_eq!(take(&refund, None), None);
        assert_eq!(take(&refunds, Some("R2")), Some(Take::Sum));
        assert_eq!(take(&refunds, None), None);
    }
}
