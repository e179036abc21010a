//! The merchant's own order export: whatever CSV the shop system writes, read through a
//! column mapping into compact entries (see [`super::store`]).
//!
//! An export is either one row per order (its status says paid, refunded, closed or
//! unpaid; a refunded order may give its refund number, amount and time) or one row per
//! transaction, with a type column saying payment or refund. It may be UTF-8, UTF-8 with a
//! byte order mark, or GBK/GB18030 as Excel saves it in China; the encoding and the
//! delimiter (comma, tab, semicolon) are detected unless given.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use thiserror::Error;

use super::MAX_ORDER_FEN;
use super::records::{MAX_RECORD, RecordError, Records};
use super::reference;
use super::store::{
    Arena, ArenaFull, Chunked, Entry, EntryKind, Index, IndexPart, MAX_KEY, OrderStatus, flag,
    key_hash,
};
use super::time_format::TimeFormat;
use crate::time::stamp::{NO_TIME, Stamp};

/// How many bad lines are kept to show; all of them are counted.
pub(super) const BAD_LINES_KEPT: usize = 20;
/// The head of the file read to detect its encoding and delimiter.
pub(super) const SNIFF: usize = 64 * 1024;
/// The problem of an amount beyond [`super::MAX_ORDER_FEN`].
pub(super) const TOO_LARGE: &str =
    "is more than one WeChat Pay order can carry (21474836.47 yuan, total_fee's 32 bits of fen)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// GB18030, which reads GBK and GB2312 too.
    Gb18030,
}

impl Encoding {
    pub fn parse(text: &str) -> Option<Encoding> {
        match text.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "utf8" => Some(Encoding::Utf8),
            "gbk" | "gb2312" | "gb18030" | "cp936" => Some(Encoding::Gb18030),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Gb18030 => "gb18030",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Fen,
    Yuan,
}

/// Which columns hold what, and which values mean what.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub order: String,
    pub amount: String,
    pub unit: Unit,
    /// Required for one row per order; optional for one row per transaction.
    pub status: Option<String>,
    pub paid_values: Vec<String>,
    pub refunded_values: Vec<String>,
    pub closed_values: Vec<String>,
    pub unpaid_values: Vec<String>,
    /// The paid time's column; `None`: the export has no times, and cross-day hints are off.
    pub time: Option<String>,
    /// The time column was not named by anyone: used only if the export has it.
    pub time_if_present: bool,
    pub time_format: TimeFormat,
    /// Seconds east of UTC of the export's times.
    pub zone: i32,
    pub refund_no: Option<String>,
    pub refund_amount: Option<String>,
    /// The refund amount column was not named by anyone: used only if the export has it.
    pub refund_amount_if_present: bool,
    pub refund_time: Option<String>,
    /// One row per transaction: the column that says payment or refund.
    pub type_column: Option<String>,
    pub payment_types: Vec<String>,
    pub refund_types: Vec<String>,
}

impl Default for Mapping {
    /// What `reconcile` reads unless told otherwise, and what `wxpay-ops emulator export`
    /// writes: one row per order, `out_trade_no,status,amount,refund_amount,paid_at`, yuan,
    /// Beijing time; the refund amount and the time only if the export has those columns.
    fn default() -> Mapping {
        let strings = |values: &[&str]| values.iter().map(|v| v.to_string()).collect();
        Mapping {
            order: "out_trade_no".into(),
            amount: "amount".into(),
            unit: Unit::Yuan,
            status: Some("status".into()),
            paid_values: strings(&["PAID", "SUCCESS"]),
            refunded_values: strings(&["REFUNDED", "REFUND"]),
            closed_values: strings(&["CLOSED", "REVOKED"]),
            unpaid_values: strings(&["UNPAID", "NOTPAY"]),
            time: Some("paid_at".into()),
            time_if_present: true,
            time_format: TimeFormat::parse("%Y-%m-%d %H:%M:%S")
                .expect("a fixed, valid time format"),
            zone: crate::time::BEIJING_SECONDS,
            refund_no: None,
            refund_amount: Some("refund_amount".into()),
            refund_amount_if_present: true,
            refund_time: None,
            type_column: None,
            payment_types: strings(&["payment", "pay", "支付"]),
            refund_types: strings(&["refund", "退款"]),
        }
    }
}

impl Unit {
    pub fn parse(text: &str) -> Option<Unit> {
        match text {
            "fen" => Some(Unit::Fen),
            "yuan" => Some(Unit::Yuan),
            _ => None,
        }
    }
}

/// A delimiter by name or as itself: comma, tab, semicolon; `None` for anything else.
pub fn parse_delimiter(text: &str) -> Option<u8> {
    match text {
        "comma" | "," => Some(b','),
        "tab" | "\t" | "\\t" => Some(b'\t'),
        "semicolon" | ";" => Some(b';'),
        _ => None,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    pub encoding: Option<Encoding>,
    pub delimiter: Option<u8>,
    pub skip_bad_lines: bool,
    /// Threads to read and index with; 0 or 1 reads on the calling thread alone.
    pub threads: usize,
}

impl ReadOptions {
    pub fn threads(&self) -> usize {
        self.threads.max(1)
    }
}

/// A line of the export that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {value:?} {problem}")]
pub struct BadLine {
    pub line: u64,
    pub column: String,
    pub value: String,
    pub problem: String,
}

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    #[error("the export is empty: no header line")]
    NoHeader,
    #[error("the export has a header and no rows")]
    NoRows,
    #[error("no column {name:?} for the {role} (columns found: {found})")]
    MissingColumn {
        role: &'static str,
        name: String,
        found: String,
    },
    #[error(
        "the header names column {name:?} twice (columns {first} and {second}), and the mapping uses it"
    )]
    DuplicateColumn {
        name: String,
        first: usize,
        second: usize,
    },
    #[error(transparent)]
    Records(#[from] RecordError),
    #[error("{0}")]
    Bad(BadLine),
    #[error("line {line}: {problem}")]
    Encoding { line: u64, problem: String },
    #[error(transparent)]
    TooLarge(#[from] ArenaFull),
}

/// One repeat of a key the export already had.
#[derive(Debug, Clone, Copy)]
pub struct Repeat {
    /// The first entry with the key.
    pub first: usize,
    /// The repeating entry (folded into the first).
    pub again: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ExportInfo {
    pub encoding: Option<Encoding>,
    pub bom: bool,
    pub delimiter: u8,
    pub header: Vec<String>,
    pub rows: u64,
    pub skipped: u64,
    pub bad_lines: Vec<BadLine>,
    /// Whether refunds may be keyed by their refund number.
    pub refund_numbers: bool,
    /// One row per transaction: the refund rows of an order without refund numbers add up.
    pub transactions: bool,
    /// The default time column, which the export lacks: cross-day hints are off.
    pub absent_time_column: Option<String>,
}

/// The export, indexed by key.
#[derive(Debug, Default)]
pub struct Export {
    pub entries: Chunked<Entry>,
    pub arena: Arena,
    pub index: Index,
    pub repeats: Vec<Repeat>,
    pub info: ExportInfo,
}

/// An entry folded into another: a duplicate, or a further refund row of an order.
pub const FOLDED: u16 = 1 << 8;

impl Export {
    /// The entry with this key, if any.
    pub fn find(&self, kind: EntryKind, hash: u64, key: &[u8]) -> Option<usize> {
        self.index.candidates(hash).find(|&i| {
            let entry = self.entries.get(i);
            entry.hash == hash && entry.kind == kind && self.arena.get(entry.key, 0) == key
        })
    }

    /// The key of an entry (its refund number for a refund), and its order number.
    pub fn keys(&self, entry: &Entry) -> (&[u8], &[u8]) {
        let key = self.arena.get(entry.key, 0);
        match entry.kind {
            EntryKind::Refund => (key, self.arena.get(entry.key, 1)),
            EntryKind::Payment | EntryKind::OrderRefund => (key, key),
        }
    }

    /// Indexes the entries; repeats are folded into the first entry with their key (refund
    /// rows of one order without refund numbers add up instead). A large export's index is
    /// filled by up to `threads` threads, a part of the table each.
    fn build_index(&mut self, threads: usize) {
        let parallel = self.entries.len() >= PARALLEL_ENTRIES;
        // A power of two of parts, one per thread.
        let bits = if parallel { threads.ilog2() } else { 0 };
        let mut counts = vec![0; 1 << bits];
        for entry in self.entries.iter() {
            counts[Index::part_of(entry.hash, bits)] += 1;
        }
        let mut index = Index::with_capacity(&counts);
        let parts = index.parts();
        let this = &*self;
        let folds: Vec<Repeat> = std::thread::scope(|scope| {
            let mut parts = parts.into_iter().enumerate();
            let first = parts.next().expect("at least one part");
            let later: Vec<_> = parts
                .map(|(p, slots)| scope.spawn(move || this.fill_part(slots, p, bits)))
                .collect();
            let mut folds = this.fill_part(first.1, 0, bits);
            for part in later {
                folds.extend(part.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
            folds
        });
        self.index = index;
        let mut repeats = Vec::new();
        for repeat in folds {
            let again = self.entries.get(repeat.again);
            again.set(FOLDED);
            if again.kind == EntryKind::OrderRefund && self.info.transactions {
                let amount = again.amount;
                self.entries.get_mut(repeat.first).amount += amount;
            } else {
                self.entries.get(repeat.first).set(flag::EXPORT_DUPLICATE);
                repeats.push(repeat);
            }
        }
        // In the order of the file, as one thread would have found them.
        repeats.sort_unstable_by_key(|r| r.again);
        self.repeats = repeats;
    }

    /// Indexes the entries whose hash falls in `part` (of `2^bits`), returning the repeats
    /// of a key.
    fn fill_part(&self, mut slots: IndexPart<'_>, part: usize, bits: u32) -> Vec<Repeat> {
        let mut repeats = Vec::new();
        for (base, chunk) in self.entries.chunks() {
            for (offset, entry) in chunk.iter().enumerate() {
                // The slot of an entry ahead is loaded while this one is inserted.
                if let Some(ahead) = chunk.get(offset + 32)
                    && Index::part_of(ahead.hash, bits) == part
                {
                    slots.prefetch(ahead.hash);
                }
                if Index::part_of(entry.hash, bits) != part {
                    continue;
                }
                let key = self.arena.get(entry.key, 0);
                let same = |j: usize| {
                    let other = self.entries.get(j);
                    other.hash == entry.hash
                        && other.kind == entry.kind
                        && self.arena.get(other.key, 0) == key
                };
                let i = base + offset;
                if let Some(first) = slots.insert_new(entry.hash, i, same) {
                    repeats.push(Repeat { first, again: i });
                }
            }
        }
        repeats
    }
}

/// Exports of fewer entries are indexed on one thread.
const PARALLEL_ENTRIES: usize = if cfg!(test) { 4 } else { 1 << 16 };

/// The columns of the mapping, found in the header.
pub(super) struct Columns {
    pub order: usize,
    pub amount: usize,
    pub status: Option<usize>,
    pub time: Option<usize>,
    pub refund_no: Option<usize>,
    pub refund_amount: Option<usize>,
    pub refund_time: Option<usize>,
    pub type_column: Option<usize>,
    pub names: Vec<String>,
    /// The number of leading fields that hold every mapped column.
    pub needed: usize,
    /// The default time column, not in the header.
    pub absent_time_column: Option<String>,
}

/// The header's column names, trimmed (of a byte order mark too: some tools write two).
pub(super) fn header_names(record: &csv::ByteRecord) -> Vec<String> {
    (record.iter())
        .map(|name| {
            let name = String::from_utf8_lossy(name);
            name.trim_start_matches('\u{feff}').trim().to_owned()
        })
        .collect()
}

/// Finds the mapping's columns in the header: by exact name, else ignoring ASCII case. A
/// name the header has twice is refused, as either could be meant.
pub(super) fn find_columns(header: &[String], mapping: &Mapping) -> Result<Columns, ExportError> {
    let position = |role: &'static str, name: &str| {
        let exact: Vec<usize> = (0..header.len()).filter(|&i| header[i] == name).collect();
        let found = if exact.is_empty() {
            (0..header.len())
                .filter(|&i| header[i].eq_ignore_ascii_case(name))
                .collect()
        } else {
            exact
        };
        match found[..] {
            [] => Err(ExportError::MissingColumn {
                role,
                name: name.to_owned(),
                found: header.join(", "),
            }),
            [one] => Ok(one),
            [first, second, ..] => Err(ExportError::DuplicateColumn {
                name: name.to_owned(),
                first: first + 1,
                second: second + 1,
            }),
        }
    };
    let optional =
        |role, name: &Option<String>| name.as_deref().map(|n| position(role, n)).transpose();
    // A default column the export lacks is not used.
    let if_present = |role, name: &Option<String>, if_present: bool| match optional(role, name) {
        Err(ExportError::MissingColumn { .. }) if if_present => Ok(None),
        other => other,
    };
    let type_column = optional("transaction type", &mapping.type_column)?;
    let status = match (&mapping.status, type_column) {
        (Some(name), _) => Some(position("status", name)?),
        (None, Some(_)) => None,
        (None, None) => {
            return Err(ExportError::MissingColumn {
                role: "status",
                name: String::new(),
                found: header.join(", "),
            });
        }
    };
    let order = position("order number", &mapping.order)?;
    let amount = position("amount", &mapping.amount)?;
    let time = if_present("paid time", &mapping.time, mapping.time_if_present)?;
    let mut columns = Columns {
        order,
        amount,
        status,
        time,
        refund_no: optional("refund number", &mapping.refund_no)?,
        refund_amount: if_present(
            "refund amount",
            &mapping.refund_amount,
            mapping.refund_amount_if_present,
        )?,
        refund_time: optional("refund time", &mapping.refund_time)?,
        type_column,
        names: header.to_vec(),
        needed: 0,
        absent_time_column: match (&mapping.time, time) {
            (Some(name), None) => Some(name.clone()),
            _ => None,
        },
    };
    let c = &columns;
    let optional = [
        c.status,
        c.time,
        c.refund_no,
        c.refund_amount,
        c.refund_time,
    ];
    columns.needed = 1 + [c.order, c.amount]
        .into_iter()
        .chain(optional.into_iter().chain([c.type_column]).flatten())
        .max()
        .unwrap_or(0);
    Ok(columns)
}

/// Reads a whole export on one thread. `source` is any reader (a file, stdin).
pub fn read_export(
    mut source: impl Read,
    mapping: &Mapping,
    options: &ReadOptions,
) -> Result<Export, ExportError> {
    let mut head = Vec::with_capacity(SNIFF);
    (&mut source).take(SNIFF as u64).read_to_end(&mut head)?;
    let shape = Shape::sniff(&head, options)?;
    let (mut export, _) = shape.read_part(io::Cursor::new(head).chain(source), mapping, options)?;
    export.finish(options.threads())?;
    Ok(export)
}

/// A row of an export with a cell equal to a key: its line, and its cells under the header's
/// names (a cell past the header's last is named by its column number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRow {
    pub line: u64,
    pub cells: Vec<(String, String)>,
}

/// The rows of an export that have a cell equal to `key` (surrounding white space aside), read
/// as reconcile reads the file: encoding, byte order mark, delimiter and quotes. For `ledger
/// show`, which has only the order number, not the run's mapping of the columns.
pub fn rows_naming(
    mut source: impl Read,
    key: &str,
    options: &ReadOptions,
) -> Result<Vec<NamedRow>, ExportError> {
    let mut head = Vec::with_capacity(SNIFF);
    (&mut source).take(SNIFF as u64).read_to_end(&mut head)?;
    let shape = Shape::sniff(&head, options)?;
    let mut records = Records::new(
        decoded(io::Cursor::new(head).chain(source), shape)?,
        shape.delimiter,
        0,
    );
    let mut record = csv::ByteRecord::new();
    let mut header: Option<Vec<String>> = None;
    let mut found = Vec::new();
    while let Some(line) = records.read(&mut record)? {
        let text = |cell: &[u8]| String::from_utf8_lossy(cell.trim_ascii()).into_owned();
        let Some(names) = &header else {
            header = Some(record.iter().map(text).collect());
            continue;
        };
        if !record
            .iter()
            .any(|cell| cell.trim_ascii() == key.as_bytes())
        {
            continue;
        }
        let cells = (record.iter().enumerate())
            .map(|(i, cell)| {
                let name = names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("column {}", i + 1));
                (name, text(cell))
            })
            .collect();
        found.push(NamedRow { line, cells });
    }
    Ok(found)
}

/// Exports smaller than this are read on one thread (in unit tests, nearly every one is
/// split, to test the joining).
const PARALLEL_BYTES: u64 = if cfg!(test) { 256 } else { 8 << 20 };

/// Reads an export file; a large one in as many parts as there are threads, each parsed on
/// its own (behind a copy of the header line) and joined in order.
///
/// A part starts at a line start, which is a row start only if the cut is outside quotes.
/// That is known once the part before it is read: a part that ends inside a quoted cell
/// reports the quote as never closed (or a row it cut short as bad). Then the parts after
/// the cut are worthless, and the file is read again on one thread; so is a file with any
/// error, so that the error is the one a single reader meets first.
pub fn read_export_file(
    path: &Path,
    mapping: &Mapping,
    options: &ReadOptions,
) -> Result<Export, ExportError> {
    let mut file = File::open(path)?;
    let metadata = file.metadata()?;
    let len = metadata.len();
    // Parts of at least half the size read on one thread, whatever --threads says.
    let threads = options
        .threads()
        .min((len / (PARALLEL_BYTES / 2)).max(1) as usize);
    if threads < 2 || !metadata.is_file() || len < PARALLEL_BYTES {
        return read_export(file, mapping, options);
    }
    let mut head = Vec::with_capacity(SNIFF);
    (&mut file).take(SNIFF as u64).read_to_end(&mut head)?;
    let shape = Shape::sniff(&head, options)?;
    // Each later part is read behind a copy of the header, which must be the first line
    // as a line and as the csv reader's first record: not blank (the reader would skip
    // it), no quote (a quoted line break would make it more), no carriage return inside
    // (which would end it sooner).
    let header = match memchr::memchr(b'\n', &head) {
        Some(end) => {
            let line = &head[shape.bom..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let plain =
                !line.trim_ascii().is_empty() && !line.contains(&b'"') && !line.contains(&b'\r');
            if !plain {
                return read_export(File::open(path)?, mapping, options);
            }
            head[..=end].to_vec()
        }
        None => return read_export(File::open(path)?, mapping, options),
    };
    let mut starts = vec![0];
    for k in 1..threads as u64 {
        match line_start_after(&mut file, len * k / threads as u64)? {
            Some(cut) if cut > *starts.last().unwrap_or(&0) && cut < len => starts.push(cut),
            _ => {}
        }
    }
    let ends: Vec<u64> = starts.iter().skip(1).copied().chain([len]).collect();
    let read_part = |k: usize| -> Result<(Export, u64), ExportError> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(starts[k]))?;
        let bytes = file.take(ends[k] - starts[k]);
        if k == 0 {
            shape.read_part(bytes, mapping, options)
        } else {
            shape.read_part(io::Cursor::new(&header).chain(bytes), mapping, options)
        }
    };
    let parts: Vec<_> = std::thread::scope(|scope| {
        let later: Vec<_> = (1..starts.len())
            .map(|k| scope.spawn(move || read_part(k)))
            .collect();
        let first = read_part(0);
        std::iter::once(first)
            .chain(
                later
                    .into_iter()
                    .map(|part| part.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
            )
            .collect()
    });
    let mut export: Option<Export> = None;
    // Lines before the part; a later part's line 1 is the copied header.
    let mut lines_before: u64 = 0;
    for (k, part) in parts.into_iter().enumerate() {
        let shift = lines_before.saturating_sub(u64::from(k > 0));
        match part {
            Ok((part, lines)) => {
                lines_before = shift + lines;
                match &mut export {
                    None => export = Some(part),
                    Some(export) => export.append(part, shift)?,
                }
            }
            // A part that failed may have been cut inside a quoted cell, which makes
            // its last row look wrong: whatever the error, one thread reads the file again
            // and says what is really wrong, and where.
            Err(_) => return read_export(File::open(path)?, mapping, options),
        }
    }
    let mut export = export.expect("at least one part");
    export.finish(threads)?;
    Ok(export)
}

/// The offset of the first line that starts at or after `at`.
fn line_start_after(file: &mut File, at: u64) -> io::Result<Option<u64>> {
    file.seek(SeekFrom::Start(at))?;
    let mut window = vec![0; SNIFF];
    let mut read = 0;
    while read < window.len() {
        match file.read(&mut window[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(memchr::memchr(b'\n', &window[..read]).map(|i| at + i as u64 + 1))
}

/// What the head of an export says: its encoding, byte order mark and delimiter.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub encoding: Encoding,
    /// The length of the byte order mark.
    pub bom: usize,
    pub delimiter: u8,
}

impl Shape {
    pub(super) fn sniff(head: &[u8], options: &ReadOptions) -> Result<Shape, ExportError> {
        if head.iter().all(u8::is_ascii_whitespace) {
            return Err(ExportError::NoHeader);
        }
        let (encoding, bom) = detect_encoding(head, head.len() == SNIFF, options.encoding)?;
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| detect_delimiter(&head[bom..]));
        Ok(Shape {
            encoding,
            bom,
            delimiter,
        })
    }

    /// Reads the rows of `raw` (header first), returning the export without its index and
    /// the number of line ends read.
    fn read_part(
        &self,
        raw: impl Read,
        mapping: &Mapping,
        options: &ReadOptions,
    ) -> Result<(Export, u64), ExportError> {
        let mut export = Export {
            info: ExportInfo {
                encoding: Some(self.encoding),
                bom: self.bom > 0,
                delimiter: self.delimiter,
                ..ExportInfo::default()
            },
            ..Export::default()
        };
        let lines = read_rows(decoded(raw, *self)?, mapping, options, &mut export)?;
        Ok((export, lines))
    }
}

/// The text of an export as UTF-8: past its byte order mark, decoded from GB18030 if it is.
pub(super) fn decoded<'a>(mut raw: impl Read + 'a, shape: Shape) -> io::Result<Box<dyn Read + 'a>> {
    io::copy(&mut (&mut raw).take(shape.bom as u64), &mut io::sink())?;
    Ok(match shape.encoding {
        Encoding::Utf8 => Box::new(raw),
        Encoding::Gb18030 => Box::new(Decoded::new(raw)),
    })
}

impl Export {
    /// Joins the entries of a later part of the same file, whose lines come `shift` lines
    /// further down.
    fn append(&mut self, other: Export, shift: u64) -> Result<(), ExportError> {
        let blocks = self.arena.append(other.arena)?;
        let mut entries = other.entries;
        for entry in entries.iter_mut() {
            entry.line = u32::try_from(u64::from(entry.line) + shift).map_err(|_| ArenaFull)?;
            entry.key = blocks.moved(entry.key);
        }
        self.entries.append(entries);
        let info = &mut self.info;
        info.rows += other.info.rows;
        info.skipped += other.info.skipped;
        for mut bad in other.info.bad_lines {
            if info.bad_lines.len() < BAD_LINES_KEPT {
                bad.line += shift;
                info.bad_lines.push(bad);
            }
        }
        Ok(())
    }

    /// Refuses an export of no rows, and indexes the rest.
    fn finish(&mut self, threads: usize) -> Result<(), ExportError> {
        if self.info.rows == 0 {
            return Err(ExportError::NoRows);
        }
        self.build_index(threads);
        Ok(())
    }
}

/// Reads the header and the rows into `export`, returning the number of line ends read.
///
/// Lines without a quote are split at the delimiter where they lie, which is several times
/// faster than the csv reader; from the first line with a quote (a quoted field may hold a
/// delimiter or a line break) or a lone carriage return on, the csv reader takes the rest.
fn read_rows(
    mut source: impl Read,
    mapping: &Mapping,
    options: &ReadOptions,
    export: &mut Export,
) -> Result<u64, ExportError> {
    let delimiter = export.info.delimiter;
    let mut buffer = vec![0; 1 << 20];
    let (mut start, mut end, mut eof) = (0, 0, false);
    // Bytes before this one hold no quote and no lone carriage return.
    let mut plain_until = 0;
    let mut lines = 0u64;
    let mut columns = None;
    let mut ends = Vec::new();
    loop {
        let line_end = match memchr::memchr(b'\n', &buffer[start..end]) {
            Some(at) => start + at + 1,
            None if eof && start == end => break,
            None if eof => end,
            None => {
                buffer.copy_within(start..end, 0);
                end -= start;
                start = 0;
                plain_until = 0;
                // A line of nearly the whole buffer is left to the csv reader.
                if buffer.len() - end < 4096 {
                    break;
                }
                match source.read(&mut buffer[end..]).map_err(read_error)? {
                    0 => eof = true,
                    n => end += n,
                }
                continue;
            }
        };
        if plain_until < line_end {
            plain_until = plain_end(&buffer[..end], start);
            if plain_until < line_end {
                break;
            }
        }
        let line = &buffer[start..line_end];
        start = line_end;
        let number = lines + 1;
        if line.ends_with(b"\n") {
            lines += 1;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        // The csv reader skips empty lines too.
        if text.is_empty() {
            continue;
        }
        // As the csv reader counts a record: its cells' bytes and one per cell.
        if text.len() + 1 > MAX_RECORD {
            return Err(RecordError::TooLong { line: number }.into());
        }
        match &columns {
            None => {
                let mut record = csv::ByteRecord::new();
                for field in text.split(|&b| b == delimiter) {
                    record.push_field(field);
                }
                columns = Some(read_header(&record, mapping, export)?);
            }
            Some(columns) => {
                let line = Plain::split(text, delimiter, columns.needed, &mut ends);
                add_row(columns, &line, number, mapping, options, export)?;
            }
        }
    }
    let rest = io::Cursor::new(&buffer[start..end]).chain(source);
    Ok(lines + read_csv_rows(rest, lines, columns, mapping, options, export)?)
}

/// Where, from `from` on, the first quote or carriage return not ending a line is (the
/// end of `bytes` if there is none).
fn plain_end(bytes: &[u8], mut from: usize) -> usize {
    while let Some(at) = memchr::memchr2(b'"', b'\r', &bytes[from..]) {
        let at = from + at;
        if bytes[at] == b'"' || bytes.get(at + 1) != Some(&b'\n') {
            return at;
        }
        from = at + 2;
    }
    bytes.len()
}

/// The fields of one line of the export.
trait Fields {
    /// Field `i`, if the line has that many.
    fn get(&self, i: usize) -> Option<&[u8]>;
    /// How many fields the line has.
    fn count(&self) -> usize;
    /// Whether every field is empty or white space.
    fn is_blank(&self) -> bool;
}

impl Fields for csv::ByteRecord {
    fn get(&self, i: usize) -> Option<&[u8]> {
        self.get(i)
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn is_blank(&self) -> bool {
        self.iter().all(|field| field.trim_ascii().is_empty())
    }
}

/// A line without quotes, split at the delimiter as far as the mapped columns go.
struct Plain<'a> {
    text: &'a [u8],
    delimiter: u8,
    /// Where the fields end: as many as the mapping needs, or all the line has.
    ends: &'a [u32],
}

impl<'a> Plain<'a> {
    fn split(text: &'a [u8], delimiter: u8, needed: usize, ends: &'a mut Vec<u32>) -> Self {
        ends.clear();
        // Eight bytes at a time: fields are too short for memchr's per-call cost to pay off.
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let mut found = |word: u64, base: usize| {
            let delimiters = word ^ (ONES * u64::from(delimiter));
            // The high bit of each zero byte, exactly (no carry crosses a byte).
            let mut zero = !(((delimiters & !HIGHS) + !HIGHS) | delimiters) & HIGHS;
            while zero != 0 {
                ends.push((base + zero.trailing_zeros() as usize / 8) as u32);
                zero &= zero - 1;
            }
            ends.len() >= needed
        };
        let words = text.chunks_exact(8);
        let tail = words.remainder();
        let mut done = false;
        for (i, word) in words.enumerate() {
            if found(
                u64::from_le_bytes(word.try_into().expect("eight bytes")),
                i * 8,
            ) {
                done = true;
                break;
            }
        }
        if !done && !tail.is_empty() {
            let mut padded = [0u8; 8];
            padded[..tail.len()].copy_from_slice(tail);
            // Padding that reads as the delimiter is no field end.
            padded[tail.len()..].fill(!delimiter);
            found(u64::from_le_bytes(padded), text.len() - tail.len());
        }
        // The line's last field, if it ended before the mapped columns did.
        if ends.len() < needed {
            ends.push(text.len() as u32);
        }
        ends.truncate(needed);
        Plain {
            text,
            delimiter,
            ends,
        }
    }
}

impl Fields for Plain<'_> {
    #[inline]
    fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize + 1,
        };
        Some(&self.text[start..end])
    }

    fn count(&self) -> usize {
        1 + memchr::memchr_iter(self.delimiter, self.text).count()
    }

    fn is_blank(&self) -> bool {
        (self.text.iter()).all(|&b| b == self.delimiter || b.is_ascii_whitespace())
    }
}

/// Reads rows with the csv reader, from line `offset + 1` on (the header first, if
/// `columns` is not found yet), returning the number of line ends read.
fn read_csv_rows(
    source: impl Read,
    offset: u64,
    mut columns: Option<Columns>,
    mapping: &Mapping,
    options: &ReadOptions,
    export: &mut Export,
) -> Result<u64, ExportError> {
    let mut records = Records::new(source, export.info.delimiter, offset);
    let mut record = csv::ByteRecord::new();
    while let Some(line) = records.read(&mut record).map_err(records_error)? {
        match &columns {
            None => columns = Some(read_header(&record, mapping, export)?),
            Some(columns) => add_row(columns, &record, line, mapping, options, export)?,
        }
    }
    if columns.is_none() {
        return Err(ExportError::NoHeader);
    }
    Ok(records.newlines())
}

fn read_header(
    record: &csv::ByteRecord,
    mapping: &Mapping,
    export: &mut Export,
) -> Result<Columns, ExportError> {
    let header = header_names(record);
    let columns = find_columns(&header, mapping)?;
    export.info.header = header;
    export.info.refund_numbers = columns.refund_no.is_some();
    export.info.transactions = columns.type_column.is_some();
    export.info.absent_time_column = columns.absent_time_column.clone();
    Ok(columns)
}

fn add_row(
    columns: &Columns,
    record: &impl Fields,
    line: u64,
    mapping: &Mapping,
    options: &ReadOptions,
    export: &mut Export,
) -> Result<(), ExportError> {
    if record.is_blank() {
        return Ok(());
    }
    export.info.rows += 1;
    let rows = Rows { mapping, columns };
    match rows.add(record, line, export) {
        Ok(()) => Ok(()),
        Err(Problem::Bad(bad)) if options.skip_bad_lines => {
            let info = &mut export.info;
            info.skipped += 1;
            if info.bad_lines.len() < BAD_LINES_KEPT {
                info.bad_lines.push(*bad);
            }
            Ok(())
        }
        Err(Problem::Bad(bad)) => Err(ExportError::Bad(*bad)),
        Err(Problem::Full(full)) => Err(full.into()),
    }
}

/// A read error; bytes the decoder refused name their line.
fn read_error(error: io::Error) -> ExportError {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<NotEncoded>())
    {
        Some(not) => ExportError::Encoding {
            line: not.line,
            problem: "bytes that are not GBK/GB18030".to_owned(),
        },
        None => ExportError::Io(error),
    }
}

/// The record reader's error; the decoder's, read as [`read_error`] does.
pub(super) fn records_error(error: RecordError) -> ExportError {
    match error {
        RecordError::Io(e) => read_error(e),
        other => ExportError::Records(other),
    }
}

/// Boxed, so that the results of the per-field steps stay two words wide.
enum Problem {
    Bad(Box<BadLine>),
    Full(ArenaFull),
}

struct Rows<'a> {
    mapping: &'a Mapping,
    columns: &'a Columns,
}

impl Rows<'_> {
    fn bad(&self, line: u64, column: usize, value: &[u8], problem: impl Into<String>) -> Problem {
        Problem::Bad(Box::new(BadLine {
            line,
            column: self.columns.names[column].clone(),
            value: String::from_utf8_lossy(value).into_owned(),
            problem: problem.into(),
        }))
    }

    #[inline]
    fn field<'r>(
        &self,
        record: &'r impl Fields,
        column: usize,
        line: u64,
    ) -> Result<&'r [u8], Problem> {
        match record.get(column) {
            Some(field) => Ok(field.trim_ascii()),
            None => Err(self.missing(record.count(), column, line)),
        }
    }

    #[cold]
    fn missing(&self, fields: usize, column: usize, line: u64) -> Problem {
        self.bad(
            line,
            column,
            b"",
            format!(
                "is missing: the line has {fields} fields and the header {}",
                self.columns.names.len()
            ),
        )
    }

    fn key<'r>(
        &self,
        record: &'r impl Fields,
        column: usize,
        line: u64,
    ) -> Result<&'r [u8], Problem> {
        let key = self.field(record, column, line)?;
        if key.is_empty() {
            return Err(self.bad(line, column, key, "is empty"));
        }
        if key.len() > MAX_KEY {
            return Err(self.bad(line, column, key, "is longer than 255 bytes"));
        }
        if std::str::from_utf8(key).is_err() {
            return Err(self.bad(
                line,
                column,
                key,
                "is not UTF-8: give the export's encoding with --encoding gbk",
            ));
        }
        Ok(key)
    }

    /// An amount; `None` for an empty cell.
    fn amount(
        &self,
        record: &impl Fields,
        column: usize,
        line: u64,
    ) -> Result<Option<i64>, Problem> {
        let text = self.field(record, column, line)?;
        if text.is_empty() {
            return Ok(None);
        }
        match parse_amount(text, self.mapping.unit) {
            Some(value) if value.unsigned_abs() <= MAX_ORDER_FEN as u128 => Ok(Some(value as i64)),
            Some(_) => Err(self.bad(line, column, text, TOO_LARGE)),
            None => Err(self.bad(line, column, text, not_an_amount(self.mapping.unit))),
        }
    }

    /// A time; [`NO_TIME`] for an empty cell.
    fn time(&self, record: &impl Fields, column: usize, line: u64) -> Result<Stamp, Problem> {
        let text = self.field(record, column, line)?;
        if text.is_empty() {
            return Ok(NO_TIME);
        }
        self.mapping
            .time_format
            .stamp(text, self.mapping.zone)
            .ok_or_else(|| {
                self.bad(
                    line,
                    column,
                    text,
                    "is not a time in the export's time format",
                )
            })
    }

    fn status(&self, text: &[u8], column: usize, line: u64) -> Result<OrderStatus, Problem> {
        let is = |values: &[String]| {
            values
                .iter()
                .any(|v| v.as_bytes().eq_ignore_ascii_case(text))
        };
        let m = self.mapping;
        if is(&m.paid_values) {
            Ok(OrderStatus::Paid)
        } else if is(&m.refunded_values) {
            Ok(OrderStatus::Refunded)
        } else if is(&m.closed_values) {
            Ok(OrderStatus::Closed)
        } else if is(&m.unpaid_values) {
            Ok(OrderStatus::Unpaid)
        } else {
            Err(self.bad(
                line,
                column,
                text,
                "is no status the mapping knows (paid, refunded, closed or unpaid values)",
            ))
        }
    }

    fn add(&self, record: &impl Fields, line: u64, export: &mut Export) -> Result<(), Problem> {
        let c = self.columns;
        let order = self.key(record, c.order, line)?;
        let line32 = u32::try_from(line).map_err(|_| Problem::Full(ArenaFull))?;
        let refund_row = match c.type_column {
            None => false,
            Some(column) => {
                let text = self.field(record, column, line)?;
                let is = |values: &[String]| {
                    values
                        .iter()
                        .any(|v| v.as_bytes().eq_ignore_ascii_case(text))
                };
                if is(&self.mapping.payment_types) {
                    false
                } else if is(&self.mapping.refund_types) {
                    true
                } else {
                    return Err(self.bad(
                        line,
                        column,
                        text,
                        "is neither a payment nor a refund type of the mapping",
                    ));
                }
            }
        };
        let status_text = match c.status {
            Some(column) => Some((self.field(record, column, line)?, column)),
            None => None,
        };
        let status = match status_text {
            // A per-transaction row's type says what its empty status would.
            Some((text, column)) if !(text.is_empty() && c.type_column.is_some()) => {
                self.status(text, column, line)?
            }
            _ if refund_row => OrderStatus::Refunded,
            _ => OrderStatus::Paid,
        };
        let Some(amount) = self.amount(record, c.amount, line)? else {
            let unit = not_an_amount(self.mapping.unit);
            return Err(self.bad(line, c.amount, b"", unit));
        };
        let time = match c.time {
            Some(column) => self.time(record, column, line)?,
            None => NO_TIME,
        };
        let refund = match c.refund_amount {
            Some(column) => self.amount(record, column, line)?.map(i64::abs),
            None => None,
        };
        let refund = if refund_row {
            Some(refund.unwrap_or(amount.abs()))
        } else {
            let refunded = status == OrderStatus::Refunded || refund.is_some_and(|r| r > 0);
            refunded.then(|| refund.unwrap_or(amount))
        };
        // Every cell is read before anything is kept: a bad line adds nothing.
        let refund = match refund {
            Some(amount) => Some((amount, self.refund_details(record, line, time)?)),
            None => None,
        };
        let mut order_at = None;
        if !refund_row {
            let at = export.arena.push(&[order]).map_err(Problem::Full)?;
            order_at = Some(at);
            export.entries.push(Entry::new(
                key_hash(EntryKind::Payment, order),
                at,
                time,
                line32,
                EntryKind::Payment,
                status,
                0,
                amount,
            ));
        }
        let Some((amount, (number, time, undated))) = refund else {
            return Ok(());
        };
        let (kind, key, at) = match number {
            Some(number) => (
                EntryKind::Refund,
                number,
                export.arena.push(&[number, order]).map_err(Problem::Full)?,
            ),
            None => (
                EntryKind::OrderRefund,
                order,
                match order_at {
                    Some(at) => at,
                    None => export.arena.push(&[order]).map_err(Problem::Full)?,
                },
            ),
        };
        export.entries.push(Entry::new(
            key_hash(kind, key),
            at,
            time,
            line32,
            kind,
            OrderStatus::Refunded,
            if undated { flag::UNDATED } else { 0 },
            amount,
        ));
        Ok(())
    }

    /// A refund's number (if the export gives one), its time, and whether that time is its
    /// payment's (`paid`) for want of its own.
    fn refund_details<'r>(
        &self,
        record: &'r impl Fields,
        line: u64,
        paid: Stamp,
    ) -> Result<(Option<&'r [u8]>, Stamp, bool), Problem> {
        let c = self.columns;
        let number = match c.refund_no {
            Some(column) if !self.field(record, column, line)?.is_empty() => {
                Some(self.key(record, column, line)?)
            }
            _ => None,
        };
        let time = match c.refund_time {
            Some(column) => self.time(record, column, line)?,
            None => NO_TIME,
        };
        Ok(match time {
            NO_TIME => (number, paid, true),
            time => (number, time, false),
        })
    }
}

pub(super) fn not_an_amount(unit: Unit) -> &'static str {
    match unit {
        Unit::Fen => "is not an amount in fen (a whole number)",
        Unit::Yuan => "is not an amount in yuan (at most 2 decimals)",
    }
}

/// An exact amount in fen, as [`reference::parse_amount`] reads it: the usual shape
/// (digits, and in yuan a point and two decimals) in one short pass, anything else by the
/// reference's own rules.
pub fn parse_amount(text: &[u8], unit: Unit) -> Option<i128> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let usual = match digits {
        [whole @ .., b'.', tens, ones] if unit == Unit::Yuan => whole_number(whole)
            .zip(whole_number(&[*tens, *ones]))
            .map(|(whole, cents)| whole * 100 + cents),
        _ if unit == Unit::Fen => whole_number(digits),
        _ => None,
    };
    match usual {
        Some(value) => Some(i128::from(if negative { -value } else { value })),
        None => reference::parse_amount(text, unit),
    }
}

/// 1 to 16 digits and nothing else.
fn whole_number(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0, |value, &b| {
        let digit = b.wrapping_sub(b'0');
        (digit < 10).then(|| value * 10 + i64::from(digit))
    })
}

/// The encoding and the length of a byte order mark. Without a mark, valid UTF-8 is UTF-8
/// and anything else that reads as GB18030 is GB18030.
fn detect_encoding(
    head: &[u8],
    cut: bool,
    given: Option<Encoding>,
) -> Result<(Encoding, usize), ExportError> {
    if head.starts_with(b"\xEF\xBB\xBF") {
        return match given {
            Some(given) => Ok((given, 3)),
            // Some tools put a UTF-8 mark before text they wrote in GBK.
            None if !is_utf8(&head[3..], cut) && is_gb18030(&head[3..], cut) => {
                Err(ExportError::Encoding {
                    line: 1,
                    problem: "this looks like GBK behind a UTF-8 byte order mark: pass --encoding gbk, or save the export as UTF-8"
                        .into(),
                })
            }
            None => Ok((Encoding::Utf8, 3)),
        };
    }
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") || head.contains(&0) {
        return Err(ExportError::Encoding {
            line: 1,
            problem: "UTF-16 or binary data, not a CSV export in UTF-8 or GBK".into(),
        });
    }
    if let Some(given) = given {
        return Ok((given, 0));
    }
    if is_utf8(head, cut) {
        return Ok((Encoding::Utf8, 0));
    }
    let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut out = vec![
        0;
        decoder
            .max_utf8_buffer_length(head.len())
            .unwrap_or(SNIFF * 4)
    ];
    let (result, _, written) = decoder.decode_to_utf8_without_replacement(head, &mut out, !cut);
    match result {
        encoding_rs::DecoderResult::Malformed(..) => Err(ExportError::Encoding {
            line: 1 + memchr::memchr_iter(b'\n', &out[..written]).count() as u64,
            problem: "neither UTF-8 nor GBK/GB18030; save the export as UTF-8 or give --encoding"
                .into(),
        }),
        _ => Ok((Encoding::Gb18030, 0)),
    }
}

/// Whether `head` is UTF-8, but for a character that a `cut` may have cut short.
fn is_utf8(head: &[u8], cut: bool) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => cut && e.error_len().is_none(),
    }
}

fn is_gb18030(head: &[u8], cut: bool) -> bool {
    let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut out = vec![
        0;
        decoder
            .max_utf8_buffer_length(head.len())
            .unwrap_or(SNIFF * 4)
    ];
    let (result, _, _) = decoder.decode_to_utf8_without_replacement(head, &mut out, !cut);
    !matches!(result, encoding_rs::DecoderResult::Malformed(..))
}

/// The delimiter that splits the header line most: comma, tab or semicolon.
fn detect_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut counts = [(b',', 0), (b'\t', 0), (b';', 0)];
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, n) in &mut counts {
                if *d == b {
                    *n += 1;
                }
            }
        }
    }
    counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map_or(b',', |(d, _)| *d)
}

#[derive(Debug)]
struct NotEncoded {
    line: u64,
}

impl std::fmt::Display for NotEncoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: not GBK/GB18030", self.line)
    }
}

impl std::error::Error for NotEncoded {}

/// GB18030 bytes in, UTF-8 out; a malformed sequence is an error naming its line.
struct Decoded<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// The decoder has had its last input: it must not be called again.
    finished: bool,
    lines: u64,
}

impl<R: Read> Decoded<R> {
    fn new(inner: R) -> Self {
        Decoded {
            inner,
            decoder: encoding_rs::GB18030.new_decoder_without_bom_handling(),
            input: vec![0; 1 << 16],
            start: 0,
            end: 0,
            eof: false,
            finished: false,
            lines: 0,
        }
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.len() < 4 {
            return Err(io::Error::other(
                "decoding needs room for a whole character",
            ));
        }
        loop {
            if self.finished {
                return Ok(0);
            }
            if self.start == self.end && !self.eof {
                self.end = self.inner.read(&mut self.input)?;
                self.start = 0;
                self.eof = self.end == 0;
            }
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.start..self.end],
                out,
                self.eof,
            );
            self.start += read;
            self.lines += memchr::memchr_iter(b'\n', &out[..written]).count() as u64;
            match result {
                encoding_rs::DecoderResult::Malformed(..) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        NotEncoded {
                            line: self.lines + 1,
                        },
                    ));
                }
                encoding_rs::DecoderResult::OutputFull => return Ok(written),
                encoding_rs::DecoderResult::InputEmpty if self.eof => {
                    self.finished = true;
                    return Ok(written);
                }
                encoding_rs::DecoderResult::InputEmpty if written > 0 => return Ok(written),
                encoding_rs::DecoderResult::InputEmpty => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::stamp::format_stamp;

    fn read(bytes: &[u8], mapping: &Mapping, options: &ReadOptions) -> Result<Export, ExportError> {
        read_export(bytes, mapping, options)
    }

    const ORDERS: &str = "out_trade_no,status,amount,refund_amount,paid_at\n\
        T1,PAID,6.00,0.00,2026-11-20 08:00:00\n\
        T2,REFUNDED,10,2.5,2026-11-20 09:00:00\n\
        T3,CLOSED,1.00,0.00,\n\
        T1,PAID,6.00,0.00,2026-11-20 08:00:00\n";

    #[test]
    fn quoted_lines_after_plain_ones_keep_their_line_numbers() {
        // Plain lines are split directly; the quoted one (with a line break inside) and all
        // after it go to the csv reader, whose line numbers continue the count.
        let text = "out_trade_no,status,amount,refund_amount,paid_at,note\r\n\
            T1,PAID,6.00,0.00,2026-11-20 08:00:00,\r\n\
            \r\n\
            \"T,2\",PAID,1.00,0.00,2026-11-20 09:00:00,\"a\nb\"\n\
            T3,PAID,x,0.00,2026-11-20 10:00:00,";
        let error = read(
            text.as_bytes(),
            &Mapping::default(),
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("line 6, column amount"),
            "{error}"
        );
        let text = text.replace(",x,", ",3,");
        let export = read(
            text.as_bytes(),
            &Mapping::default(),
            &ReadOptions::default(),
        )
        .unwrap();
        let lines: Vec<u32> = export.entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 4, 6]);
        assert_eq!(export.keys(export.entries.get(1)).0, b"T,2");
    }

    #[test]
    fn one_row_per_order() {
        let export = read(
            ORDERS.as_bytes(),
            &Mapping::default(),
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(export.info.rows, 4);
        assert_eq!(export.info.delimiter, b',');
        let t2 = export
            .find(
                EntryKind::Payment,
                key_hash(EntryKind::Payment, b"T2"),
                b"T2",
            )
            .unwrap();
        assert_eq!(export.entries.get(t2).amount, 1000);
        assert_eq!(
            format_stamp(export.entries.get(t2).time),
            "2026-11-20 09:00:00"
        );
        let refund = export
            .find(
                EntryKind::OrderRefund,
                key_hash(EntryKind::OrderRefund, b"T2"),
                b"T2",
            )
            .unwrap();
        assert_eq!(export.entries.get(refund).amount, 250);
        let t3 = export
            .find(
                EntryKind::Payment,
                key_hash(EntryKind::Payment, b"T3"),
                b"T3",
            )
            .unwrap();
        assert_eq!(export.entries.get(t3).status, OrderStatus::Closed);
        assert_eq!(export.repeats.len(), 1);
        assert_eq!(export.entries.get(export.repeats[0].again).line, 5);
        assert!(
            export
                .find(
                    EntryKind::Payment,
                    key_hash(EntryKind::Payment, b"T9"),
                    b"T9"
                )
                .is_none()
        );
    }

    #[test]
    fn gbk_tabs_and_quotes() {
        let text = "订单号\t状态\t金额\t支付时间\n\"A,1\"\t已支付\t1.5\t2026/11/20 10:00\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        let mapping = Mapping {
            order: "订单号".into(),
            status: Some("状态".into()),
            amount: "金额".into(),
            time: Some("支付时间".into()),
            paid_values: vec!["已支付".into()],
            refund_amount: None,
            time_format: TimeFormat::parse("%Y/%m/%d %H:%M").unwrap(),
            ..Mapping::default()
        };
        let export = read(&gbk, &mapping, &ReadOptions::default()).unwrap();
        assert_eq!(export.info.encoding, Some(Encoding::Gb18030));
        assert_eq!(export.info.delimiter, b'\t');
        let found = export.find(
            EntryKind::Payment,
            key_hash(EntryKind::Payment, b"A,1"),
            b"A,1",
        );
        assert_eq!(export.entries.get(found.unwrap()).amount, 150);
        // The same file as UTF-8 with a byte order mark.
        let bom = format!("\u{feff}{text}");
        let export = read(bom.as_bytes(), &mapping, &ReadOptions::default()).unwrap();
        assert_eq!(
            (export.info.encoding, export.info.bom),
            (Some(Encoding::Utf8), true)
        );
    }

    #[test]
    fn bad_input_names_line_column_and_value() {
        let bad = ORDERS.replace("10,2.5", "10,2.555");
        let error = read(bad.as_bytes(), &Mapping::default(), &ReadOptions::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 3, column refund_amount: \"2.555\" is not an amount in yuan (at most 2 decimals)"
        );
        let skipping = ReadOptions {
            skip_bad_lines: true,
            ..ReadOptions::default()
        };
        let export = read(bad.as_bytes(), &Mapping::default(), &skipping).unwrap();
        assert_eq!((export.info.skipped, export.info.bad_lines[0].line), (1, 3));
        let error = read(
            b"id,amount\n1,2\n",
            &Mapping::default(),
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("columns found: id, amount"),
            "{error}"
        );
        assert!(matches!(
            read(b"", &Mapping::default(), &ReadOptions::default()),
            Err(ExportError::NoHeader)
        ));
        assert!(matches!(
            read(
                b"out_trade_no,status,amount,refund_amount,paid_at\n",
                &Mapping::default(),
                &ReadOptions::default()
            ),
            Err(ExportError::NoRows)
        ));
        let utf16 = b"\xFF\xFEo\0u\0t\0";
        assert!(matches!(
            read(utf16, &Mapping::default(), &ReadOptions::default()),
            Err(ExportError::Encoding { .. })
        ));
        let time = ORDERS.replace("2026-11-20 09:00:00", "20/11/2026");
        let error = read(
            time.as_bytes(),
            &Mapping::default(),
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("line 3, column paid_at: \"20/11/2026\""),
            "{error}"
        );
    }

    #[test]
    fn one_row_per_transaction_with_refund_numbers() {
        let text = "type;order;refund_no;amount;time\n\
            pay;T1;;6.00;2026-11-20 08:00:00\n\
            refund;T1;R1;-1.00;2026-11-20 09:00:00\n\
            refund;T1;R2;-2.00;2026-11-20 09:30:00\n";
        let mapping = Mapping {
            order: "order".into(),
            status: None,
            time: Some("time".into()),
            refund_amount: None,
            refund_no: Some("refund_no".into()),
            type_column: Some("type".into()),
            payment_types: vec!["pay".into()],
            refund_types: vec!["refund".into()],
            ..Mapping::default()
        };
        let export = read(text.as_bytes(), &mapping, &ReadOptions::default()).unwrap();
        assert_eq!(export.info.delimiter, b';');
        let r2 = export
            .find(EntryKind::Refund, key_hash(EntryKind::Refund, b"R2"), b"R2")
            .unwrap();
        let entry = export.entries.get(r2);
        assert_eq!((entry.amount, export.keys(entry).1), (200, &b"T1"[..]));
    }

    #[test]
    fn keys_all_in_one_half_of_the_table_are_found() {
        // Each half of the table is probed on its own: one that took every key must still
        // have room, or inserting and looking up would never end.
        let high = |key: &String| key_hash(EntryKind::Payment, key.as_bytes()) >> 63 == 1;
        let mut keys = (0..).map(|n| format!("O{n}")).filter(high);
        let orders: Vec<String> = keys.by_ref().take(40).collect();
        let mut text = String::from("out_trade_no,status,amount,refund_amount,paid_at\n");
        for order in &orders {
            text += &format!("{order},PAID,1.00,0.00,2026-11-20 08:00:00\n");
        }
        let export = read(
            text.as_bytes(),
            &Mapping::default(),
            &ReadOptions::default(),
        )
        .unwrap();
        for order in &orders {
            let hash = key_hash(EntryKind::Payment, order.as_bytes());
            assert!(
                export
                    .find(EntryKind::Payment, hash, order.as_bytes())
                    .is_some()
            );
        }
        let missing = keys.next().unwrap();
        let hash = key_hash(EntryKind::Payment, missing.as_bytes());
        assert_eq!(
            export.find(EntryKind::Payment, hash, missing.as_bytes()),
            None
        );
    }

    #[test]
    fn amounts_are_exact() {
        for (text, unit, fen) in [
            ("12.3", Unit::Yuan, Some(1230)),
            ("1,234.56", Unit::Yuan, Some(123_456)),
            ("-0.01", Unit::Yuan, Some(-1)),
            ("7", Unit::Yuan, Some(700)),
            ("6.000", Unit::Yuan, Some(600)),
            ("0.001", Unit::Yuan, None),
            ("1.", Unit::Yuan, None),
            ("", Unit::Yuan, None),
            ("1e3", Unit::Yuan, None),
            ("600", Unit::Fen, Some(600)),
            ("6.00", Unit::Fen, None),
            ("1,234", Unit::Fen, None),
            ("+5", Unit::Yuan, Some(500)),
            ("1.05", Unit::Yuan, Some(105)),
            ("0.10", Unit::Yuan, Some(10)),
            ("1.2300", Unit::Yuan, Some(123)),
            ("1.2301", Unit::Yuan, None),
            (".5", Unit::Yuan, None),
            ("1.2.3", Unit::Yuan, None),
            ("1.2,3", Unit::Yuan, None),
            ("-", Unit::Yuan, None),
            (
                "9999999999999999.99",
                Unit::Yuan,
                Some(999_999_999_999_999_999),
            ),
            // Any number of digits: the caller refuses an amount no order carries.
            ("12345678901234567", Unit::Fen, Some(12_345_678_901_234_567)),
            // Thousands separators only in groups of three, so a decimal comma is refused.
            ("197,24", Unit::Yuan, None),
            ("1,2345", Unit::Yuan, None),
            ("12,345,678.9", Unit::Yuan, Some(1_234_567_890)),
            (",123", Unit::Yuan, None),
            ("0,123", Unit::Yuan, None),
        ] {
            assert_eq!(parse_amount(text.as_bytes(), unit), fen, "{text}");
        }
    }
}
