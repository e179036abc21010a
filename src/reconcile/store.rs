//! The export side held compactly: one 40-byte entry per payment or refund, the keys
//! interned in one arena, and an open-addressing index of hashes. A day of ten million
//! orders peaks at about 770 MiB in all, and nothing is allocated per row.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use crate::time::stamp::Stamp;

/// What an entry is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum EntryKind {
    /// A payment, on 商户订单号.
    Payment = 0,
    /// A refund, on 商户退款单号.
    Refund = 1,
    /// The refunds of an order, summed, on 商户订单号: for exports without refund numbers.
    OrderRefund = 2,
}

/// What the shop says of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderStatus {
    Paid = 0,
    Refunded = 1,
    Closed = 2,
    Unpaid = 3,
}

impl OrderStatus {
    /// Whether the shop says money came in.
    pub fn charged(self) -> bool {
        matches!(self, OrderStatus::Paid | OrderStatus::Refunded)
    }

    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::Paid => "paid",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Closed => "closed",
            OrderStatus::Unpaid => "unpaid",
        }
    }
}

/// Flags an entry collects as the bills are read.
pub mod flag {
    /// A bill row of the day matched it.
    pub const SEEN: u16 = 1;
    /// A second bill row of the day had its key.
    pub const BILL_DUPLICATE: u16 = 1 << 1;
    /// The export has its key twice.
    pub const EXPORT_DUPLICATE: u16 = 1 << 2;
    /// The bill's amount differs (the bill's side is kept apart).
    pub const AMOUNT: u16 = 1 << 3;
    /// Found in the previous day's bill.
    pub const PREVIOUS_BILL: u16 = 1 << 4;
    /// Found in the next day's bill.
    pub const NEXT_BILL: u16 = 1 << 5;
    /// A refund whose export row gives no refund time: dated by its payment.
    pub const UNDATED: u16 = 1 << 6;
    /// The refunds of an order: the first refund in the bill was the export's amount, and
    /// is counted by this flag rather than kept apart.
    pub const FIRST_AS_EXPORTED: u16 = 1 << 7;
}

/// One payment or refund of the export.
#[derive(Debug)]
pub struct Entry {
    pub hash: u64,
    /// Where its key is in the arena.
    pub key: u32,
    pub time: Stamp,
    pub line: u32,
    pub kind: EntryKind,
    pub status: OrderStatus,
    pub flags: AtomicU16,
    /// Fen: the payment's amount, or the refund's.
    pub amount: i64,
    /// Where the bill row that matched it is, as the matcher packs it; `u64::MAX` until one
    /// has.
    pub first_bill: AtomicU64,
}

impl Entry {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hash: u64,
        key: u32,
        time: Stamp,
        line: u32,
        kind: EntryKind,
        status: OrderStatus,
        flags: u16,
        amount: i64,
    ) -> Entry {
        Entry {
            hash,
            key,
            time,
            line,
            kind,
            status,
            flags: flags.into(),
            amount,
            first_bill: AtomicU64::new(u64::MAX),
        }
    }

    pub fn flags(&self) -> u16 {
        self.flags.load(Ordering::Relaxed)
    }

    /// Sets `bits`, returning the flags as they were.
    pub fn set(&self, bits: u16) -> u16 {
        self.flags.fetch_or(bits, Ordering::Relaxed)
    }

    /// Notes the bill row that matched it first (by time, on whichever thread), as the
    /// matcher packs a row's place.
    pub fn seen_by(&self, place: u64) {
        self.first_bill.store(place, Ordering::Relaxed);
    }

    /// Notes a bill row that matched it, keeping the least place (the first in the file).
    pub fn seen_first(&self, place: u64) {
        self.first_bill.fetch_min(place, Ordering::Relaxed);
    }

    /// The place of the bill row noted.
    pub fn first_bill(&self) -> Option<u64> {
        match self.first_bill.load(Ordering::Relaxed) {
            u64::MAX => None,
            place => Some(place),
        }
    }
}

/// Asks the CPU to bring `address` into the cache: a hint that never faults.
#[inline]
fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never dereferences the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch(address.cast::<i8>(), _MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Asks Linux to back a large, not yet touched allocation with 2 MiB pages: the index and
/// the entries are read at random, and with 4 KiB pages nearly every lookup would also miss
/// the TLB. Only the whole 2 MiB pages inside the allocation can be huge; the advice is a
/// hint, and its failure (no transparent huge pages here) changes nothing but speed.
pub fn advise_huge_pages<T>(memory: &[T]) {
    const HUGE: usize = 2 << 20;
    let start = memory.as_ptr() as usize;
    let end = start + std::mem::size_of_val(memory);
    let (aligned_start, aligned_end) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
    if aligned_end > aligned_start {
        // SAFETY: the range lies inside `memory`, which this process owns; MADV_HUGEPAGE
        // changes how pages are backed, never their contents.
        let _ = unsafe {
            rustix::mm::madvise(
                aligned_start as *mut std::ffi::c_void,
                aligned_end - aligned_start,
                rustix::mm::Advice::LinuxHugepage,
            )
        };
    }
}

const SEED: u64 = 0x5f3c_9a1e_77d2_4b03;

pub fn key_hash(kind: EntryKind, key: &[u8]) -> u64 {
    let mut hasher = foldhash::quality::FixedState::with_seed(SEED).build_hasher();
    hasher.write_u8(kind as u8);
    hasher.write(key);
    hasher.finish()
}

/// 8 MiB chunks of entries: large enough for most of each to lie on huge pages (in unit
/// tests, chunks of 16, so that appending and sharing out chunks are tested).
const CHUNK_BITS: u32 = if cfg!(test) { 4 } else { 18 };
const CHUNK: usize = 1 << CHUNK_BITS;

/// A vector grown in fixed chunks, so that growing never copies or doubles ten million
/// entries (a doubling `Vec` would briefly hold 1.5 times its size twice over).
///
/// An element's index is its chunk and its place in the chunk. Appending another
/// `Chunked` moves its chunks whole, so the indexes skip the rest of a last chunk that was
/// not full: they stay in insertion order, but are not dense.
#[derive(Debug)]
pub struct Chunked<T> {
    chunks: Vec<Vec<T>>,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked { chunks: Vec::new() }
    }
}

impl<T> Chunked<T> {
    pub fn push(&mut self, value: T) -> usize {
        if self.chunks.last().is_none_or(|chunk| chunk.len() == CHUNK) {
            let mut chunk = Vec::with_capacity(CHUNK);
            advise_huge_pages(chunk.spare_capacity_mut());
            self.chunks.push(chunk);
        }
        let last = self.chunks.len() - 1;
        let chunk = &mut self.chunks[last];
        chunk.push(value);
        (last << CHUNK_BITS) | (chunk.len() - 1)
    }

    /// Moves `other`'s elements behind these, and returns how far their indexes moved: an
    /// element at `i` there is at `i` plus that here. Nothing is copied.
    pub fn append(&mut self, other: Chunked<T>) -> usize {
        let shift = self.chunks.len();
        self.chunks.extend(other.chunks);
        shift << CHUNK_BITS
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.iter().all(Vec::is_empty)
    }

    pub fn get(&self, index: usize) -> &T {
        &self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }

    pub fn get_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }

    /// Hints the CPU to load element `index`.
    #[inline]
    pub fn prefetch(&self, index: usize) {
        prefetch(std::ptr::from_ref(self.get(index)).cast());
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// The chunks, each with the index of its first element.
    pub fn chunks(&self) -> impl Iterator<Item = (usize, &[T])> {
        (self.chunks.iter().enumerate()).map(|(c, chunk)| (c << CHUNK_BITS, chunk.as_slice()))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flatten()
    }
}

/// The elements of some of a [`Chunked`]'s chunks with their indexes, in insertion order.
pub fn indexed<'a, T>(chunks: &'a [(usize, &'a [T])]) -> impl Iterator<Item = (usize, &'a T)> {
    (chunks.iter()).flat_map(|&(base, chunk)| {
        chunk
            .iter()
            .enumerate()
            .map(move |(i, value)| (base + i, value))
    })
}

const BLOCK_BITS: u32 = 23;
const BLOCK: usize = 1 << BLOCK_BITS;
/// Keys are at most this long (out_trade_no and out_refund_no are at most 64).
pub const MAX_KEY: usize = 255;

/// Keys, each stored once as a length byte and its bytes, in 8 MiB blocks; a key is named
/// by a u32 (block and offset), so the arena holds up to 4 GiB of keys.
#[derive(Debug, Default)]
pub struct Arena {
    blocks: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("more than 4 GiB of order numbers")]
pub struct ArenaFull;

impl Arena {
    /// Stores the keys back to back (a refund keeps its order number after its own), and
    /// returns where.
    pub fn push(&mut self, keys: &[&[u8]]) -> Result<u32, ArenaFull> {
        let needed: usize = keys.iter().map(|k| 1 + k.len()).sum();
        if self
            .blocks
            .last()
            .is_none_or(|block| block.len() + needed > BLOCK)
        {
            if self.blocks.len() >= 1 << (32 - BLOCK_BITS) {
                return Err(ArenaFull);
            }
            let mut block = Vec::with_capacity(BLOCK);
            advise_huge_pages(block.spare_capacity_mut());
            self.blocks.push(block);
        }
        let index = self.blocks.len() - 1;
        let block = &mut self.blocks[index];
        let at = block.len();
        for key in keys {
            debug_assert!(key.len() <= MAX_KEY);
            block.push(key.len() as u8);
            block.extend_from_slice(key);
        }
        Ok(((index as u32) << BLOCK_BITS) | at as u32)
    }

    /// Takes over another arena's blocks; keys that were at `at` there are at
    /// `moved.moved(at)` here.
    pub fn append(&mut self, other: Arena) -> Result<Moved, ArenaFull> {
        let shift = self.blocks.len() as u32;
        if self.blocks.len() + other.blocks.len() > 1 << (32 - BLOCK_BITS) {
            return Err(ArenaFull);
        }
        self.blocks.extend(other.blocks);
        Ok(Moved(shift))
    }

    /// The `nth` key stored at `at`.
    pub fn get(&self, at: u32, nth: usize) -> &[u8] {
        let block = &self.blocks[(at >> BLOCK_BITS) as usize];
        let mut offset = (at as usize) & (BLOCK - 1);
        for _ in 0..nth {
            offset += 1 + block[offset] as usize;
        }
        let len = block[offset] as usize;
        &block[offset + 1..offset + 1 + len]
    }

    /// Hints the CPU to load the key at `at`.
    #[inline]
    pub fn prefetch(&self, at: u32) {
        let block = &self.blocks[(at >> BLOCK_BITS) as usize];
        if let Some(byte) = block.get((at as usize) & (BLOCK - 1)) {
            prefetch(std::ptr::from_ref(byte));
        }
    }
}

/// How far an appended arena's blocks moved.
#[derive(Debug, Clone, Copy)]
pub struct Moved(u32);

impl Moved {
    pub fn moved(self, at: u32) -> u32 {
        at + (self.0 << BLOCK_BITS)
    }
}

/// Open addressing on the entries' hashes: each slot holds the top 32 bits of a hash and
/// the entry's index + 1, so most probes settle without touching an entry.
///
/// The slots are parts (a power of two of them) chosen by the hash's top bits, each probed
/// on its own, so that threads can fill one part each.
#[derive(Debug, Default)]
pub struct Index {
    slots: Vec<u64>,
    /// Slots per part, less one.
    mask: usize,
    /// log2 of the number of parts.
    bits: u32,
}

/// One part of an [`Index`], to fill.
pub struct IndexPart<'a> {
    slots: &'a mut [u64],
    mask: usize,
}

impl Index {
    /// A table of `counts.len()` parts (a power of two) for `counts[p]` entries in part `p`.
    /// Each part is probed on its own, so each is kept at most 70 % full: a full part would
    /// never end a probe.
    pub fn with_capacity(counts: &[usize]) -> Index {
        debug_assert!(counts.len().is_power_of_two());
        let most = counts.iter().copied().max().unwrap_or(0);
        let part = (most * 10 / 7 + 1).next_power_of_two().max(8);
        // Zeroed by the kernel as the pages are first touched, not written here (a calloc),
        // so the advice still finds them untouched.
        let slots = vec![0; part * counts.len()];
        advise_huge_pages(&slots);
        Index {
            slots,
            mask: part - 1,
            bits: counts.len().trailing_zeros(),
        }
    }

    /// Which of `2^bits` parts a hash is in.
    pub fn part_of(hash: u64, bits: u32) -> usize {
        hash.checked_shr(64 - bits).unwrap_or(0) as usize
    }

    fn part_start(&self, hash: u64) -> usize {
        Index::part_of(hash, self.bits) * (self.mask + 1)
    }

    /// The parts, to fill at once.
    pub fn parts(&mut self) -> Vec<IndexPart<'_>> {
        let mask = self.mask;
        self.slots
            .chunks_mut(mask + 1)
            .map(|slots| IndexPart { slots, mask })
            .collect()
    }

    /// Hints the CPU to load the slot of `hash`, for lookups done in batches.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        let at = self.part_start(hash) + (hash as usize & self.mask);
        prefetch(std::ptr::from_ref(&self.slots[at]).cast());
    }

    /// The first entry whose hash has the same top bits, for prefetching.
    #[inline]
    pub fn first(&self, hash: u64) -> Option<usize> {
        self.candidates(hash).next()
    }

    /// The entries whose hash has the same top bits, in probe order.
    pub fn candidates(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let part = &self.slots[self.part_start(hash)..][..=self.mask];
        probe(part, self.mask, hash)
    }
}

fn probe(slots: &[u64], mask: usize, hash: u64) -> impl Iterator<Item = usize> + '_ {
    let tag = hash >> 32;
    let mut at = hash as usize & mask;
    std::iter::from_fn(move || {
        loop {
            let slot = slots[at];
            if slot == 0 {
                return None;
            }
            at = (at + 1) & mask;
            if slot >> 32 == tag {
                return Some((slot & 0xffff_ffff) as usize - 1);
            }
        }
    })
}

impl IndexPart<'_> {
    /// Adds entry `index` unless an entry with the same key (`same`) is there already,
    /// which is returned instead.
    pub fn insert_new(
        &mut self,
        hash: u64,
        index: usize,
        same: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        if let Some(first) = probe(self.slots, self.mask, hash).find(|&i| same(i)) {
            return Some(first);
        }
        let mut at = hash as usize & self.mask;
        while self.slots[at] != 0 {
            at = (at + 1) & self.mask;
        }
        self.slots[at] = ((hash >> 32) << 32) | (index as u64 + 1);
        None
    }

    /// Hints the CPU to load the slot of `hash`.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        prefetch(std::ptr::from_ref(&self.slots[hash as usize & self.mask]).cast());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_keeps_keys_and_pairs() {
        let mut arena = Arena::default();
        let a = arena.push(&[b"T1"]).unwrap();
        let b = arena.push(&[b"R1", b"T1"]).unwrap();
        assert_eq!(arena.get(a, 0), b"T1");
        assert_eq!(arena.get(b, 0), b"R1");
        assert_eq!(arena.get(b, 1), b"T1");
    }

    #[test]
    fn index_finds_what_was_inserted_even_on_equal_tags() {
        let mut index = Index::with_capacity(&[3, 1]);
        let mut parts = index.parts();
        let [low, high] = &mut parts[..] else {
            unreachable!("two parts")
        };
        let different = |_| false;
        // Equal tags, different keys: both kept; the same key: the first is found.
        assert_eq!(low.insert_new(0x2AAA_0000_0000_0001, 0, different), None);
        assert_eq!(low.insert_new(0x2AAA_0000_0000_0001, 1, different), None);
        assert_eq!(
            low.insert_new(0x2AAA_0000_0000_0001, 5, |i| i == 1),
            Some(1)
        );
        assert_eq!(high.insert_new(0xBBBB_0000_0000_0001, 2, different), None);
        let found: Vec<_> = index.candidates(0x2AAA_0000_0000_0001).collect();
        assert_eq!(found, vec![0, 1]);
        assert_eq!(
            index.candidates(0xBBBB_0000_0000_0001).collect::<Vec<_>>(),
            [2]
        );
        assert_eq!(index.candidates(0xCCCC_0000_0000_0001).count(), 0);
    }

    #[test]
    fn chunked_keeps_its_indexes_when_appended() {
        let mut first = Chunked::default();
        for i in 0..70_000u32 {
            first.push(i);
        }
        assert_eq!(*first.get(69_999), 69_999);
        let mut second = Chunked::default();
        let at = second.push(7u32);
        let shift = first.append(second);
        assert_eq!(*first.get(shift + at), 7);
        assert_eq!(first.len(), 70_001);
        let chunks: Vec<_> = first.chunks().collect();
        let indexed: Vec<_> = indexed(&chunks).map(|(i, v)| (i, *v)).collect();
        assert_eq!(indexed.len(), 70_001);
        assert_eq!(indexed[69_999], (69_999, 69_999));
        assert_eq!(indexed[70_000], (shift + at, 7));
        assert!(indexed.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
