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

use super::clock::{NO_TIME, Stamp, TimeFormat};
use super::store::{
    Arena, ArenaFull, Chunked, Entry, Index, IndexHalf, Kind, MAX_KEY, Status, flag, key_hash,
};

/// How many bad lines are kept to show; all of them are counted.
const BAD_LINES_KEPT: usize = 20;
/// The head of the file read to detect its encoding and delimiter.
const SNIFF: usize = 64 * 1024;

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
    pub time: String,
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

impl Mapping {
    /// The columns of `wxpay-ops emulator export` (one row per order, yuan, Beijing time):
    /// what the tests, the benchmark and the demo reconcile against.
    pub fn emulator_export() -> Mapping {
        let strings = |values: &[&str]| values.iter().map(|v| v.to_string()).collect();
        Mapping {
            order: "out_trade_no".into(),
            amount: "amount".into(),
            unit: Unit::Yuan,
            status: Some("status".into()),
            paid_values: strings(&["PAID"]),
            refunded_values: strings(&["REFUNDED"]),
            closed_values: strings(&["CLOSED"]),
            unpaid_values: strings(&["UNPAID"]),
            time: "paid_at".into(),
            time_format: TimeFormat::parse("%Y-%m-%d %H:%M:%S")
                .expect("a fixed, valid time format"),
            zone: crate::reconcile::clock::BEIJING_OFFSET,
            refund_no: None,
            refund_amount: Some("refund_amount".into()),
            refund_amount_if_present: false,
            refund_time: None,
            type_column: None,
            payment_types: vec![],
            refund_types: vec![],
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub encoding: Option<Encoding>,
    pub delimiter: Option<u8>,
    pub skip_bad_lines: bool,
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
    #[error("{0}")]
    Bad(BadLine),
    #[error("line {line}: {problem}")]
    Encoding { line: u64, problem: String },
    #[error("line {line}: {message}")]
    Csv { line: u64, message: String },
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
    pub fn find(&self, kind: Kind, hash: u64, key: &[u8]) -> Option<usize> {
        self.index.candidates(hash).find(|&i| {
            let entry = self.entries.get(i);
            entry.hash == hash && entry.kind == kind && self.arena.get(entry.key, 0) == key
        })
    }

    /// The key of an entry (its refund number for a refund), and its order number.
    pub fn keys(&self, entry: &Entry) -> (&[u8], &[u8]) {
        let key = self.arena.get(entry.key, 0);
        match entry.kind {
            Kind::Refund => (key, self.arena.get(entry.key, 1)),
            Kind::Payment | Kind::OrderRefund => (key, key),
        }
    }

    /// Indexes the entries; repeats are folded into the first entry with their key (refund
    /// rows of one order without refund numbers add up instead). A large export's index is
    /// filled by two threads, a half each.
    fn build_index(&mut self) {
        let high = (self.entries.iter())
            .filter(|e| Index::half(e.hash) == 1)
            .count();
        let mut index = Index::with_capacity(self.entries.len() - high, high);
        let [low, high] = index.halves();
        let folds = if self.entries.len() >= PARALLEL_ENTRIES {
            std::thread::scope(|scope| {
                let high = scope.spawn(|| self.fill_half(high, 1));
                let mut folds = self.fill_half(low, 0);
                folds.extend(high.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
                folds
            })
        } else {
            let mut folds = self.fill_half(low, 0);
            folds.extend(self.fill_half(high, 1));
            folds
        };
        self.index = index;
        let mut repeats = Vec::new();
        for repeat in folds {
            let again = self.entries.get(repeat.again);
            again.set(FOLDED);
            if again.kind == Kind::OrderRefund && self.info.transactions {
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

    /// Indexes the entries whose hash falls in `half`, returning the repeats of a key.
    fn fill_half(&self, mut slots: IndexHalf<'_>, half: usize) -> Vec<Repeat> {
        let mut repeats = Vec::new();
        for (base, chunk) in self.entries.chunks() {
            for (offset, entry) in chunk.iter().enumerate() {
                // The slot of an entry ahead is loaded while this one is inserted.
                if let Some(ahead) = chunk.get(offset + 32)
                    && Index::half(ahead.hash) == half
                {
                    slots.prefetch(ahead.hash);
                }
                if Index::half(entry.hash) != half {
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
struct Columns {
    order: usize,
    amount: usize,
    status: Option<usize>,
    time: usize,
    refund_no: Option<usize>,
    refund_amount: Option<usize>,
    refund_time: Option<usize>,
    type_column: Option<usize>,
    names: Vec<String>,
    /// The number of leading fields that hold every mapped column.
    needed: usize,
}

impl Columns {
    fn find(header: &[String], mapping: &Mapping) -> Result<Columns, ExportError> {
        let position = |role: &'static str, name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .or_else(|| header.iter().position(|h| h.eq_ignore_ascii_case(name)))
                .ok_or_else(|| ExportError::MissingColumn {
                    role,
                    name: name.to_owned(),
                    found: header.join(", "),
                })
        };
        let optional =
            |role, name: &Option<String>| name.as_deref().map(|n| position(role, n)).transpose();
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
        let mut columns = Columns {
            order: position("order number", &mapping.order)?,
            amount: position("amount", &mapping.amount)?,
            status,
            time: position("paid time", &mapping.time)?,
            refund_no: optional("refund number", &mapping.refund_no)?,
            refund_amount: match optional("refund amount", &mapping.refund_amount) {
                Err(ExportError::MissingColumn { .. }) if mapping.refund_amount_if_present => None,
                other => other?,
            },
            refund_time: optional("refund time", &mapping.refund_time)?,
            type_column,
            names: header.to_vec(),
            needed: 0,
        };
        let c = &columns;
        let optional = [c.status, c.refund_no, c.refund_amount, c.refund_time];
        columns.needed = 1 + [c.order, c.amount, c.time]
            .into_iter()
            .chain(optional.into_iter().chain([c.type_column]).flatten())
            .max()
            .unwrap_or(0);
        Ok(columns)
    }
}

/// Reads a whole export. `source` is any reader (a file, stdin).
pub fn read_export(
    mut source: impl Read,
    mapping: &Mapping,
    options: &ReadOptions,
) -> Result<Export, ExportError> {
    let mut head = Vec::with_capacity(SNIFF);
    (&mut source).take(SNIFF as u64).read_to_end(&mut head)?;
    let shape = Shape::sniff(&head, options)?;
    let (mut export, _) = shape.read_part(io::Cursor::new(head).chain(source), mapping, options)?;
    export.finish()?;
    Ok(export)
}

/// Exports smaller than this are read on one thread (in unit tests, nearly every one is
/// split, to test the joining).
const PARALLEL_BYTES: u64 = if cfg!(test) { 1024 } else { 8 << 20 };

/// Reads an export file, a large one as two halves on two threads: each half is parsed on
/// its own (the second one behind a copy of the header line) and the two are joined.
pub fn read_export_file(
    path: &Path,
    mapping: &Mapping,
    options: &ReadOptions,
) -> Result<Export, ExportError> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < PARALLEL_BYTES {
        return read_export(file, mapping, options);
    }
    let mut head = Vec::with_capacity(SNIFF);
    (&mut file).take(SNIFF as u64).read_to_end(&mut head)?;
    let shape = Shape::sniff(&head, options)?;
    // The header line, without quotes (a quoted newline would make it more than a line).
    let header = match memchr::memchr(b'\n', &head) {
        Some(end) if !head[..end].contains(&b'"') => head[..=end].to_vec(),
        _ => return read_export(File::open(path)?, mapping, options),
    };
    let Some(split) = line_start_after(&mut file, len / 2)? else {
        return read_export(File::open(path)?, mapping, options);
    };
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| -> Result<_, ExportError> {
            let mut file = File::open(path)?;
            file.seek(SeekFrom::Start(split))?;
            let raw = io::Cursor::new(&header).chain(file.take(len - split));
            shape.read_part(raw, mapping, options)
        });
        let first = File::open(path)
            .map_err(ExportError::from)
            .and_then(|file| {
                let mut quotes = Quotes::new(file.take(split));
                let part = shape.read_part(&mut quotes, mapping, options)?;
                Ok((part, quotes.count))
            });
        let second = second
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (first, second)
    });
    let ((mut export, lines), quotes) = first?;
    if quotes % 2 == 1 {
        // The middle falls inside a quoted field: read it whole instead.
        return read_export(File::open(path)?, mapping, options);
    }
    // The second half's line 1 is the copied header; its line 2 follows the first half.
    let shift = lines - 1;
    let (part, _) = second.map_err(|e| e.shifted(shift))?;
    export.append(part, shift)?;
    export.finish()?;
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

/// Counts the quote characters that pass, to tell whether a cut falls inside a quoted
/// field (a quote byte is never part of a multi-byte GBK or UTF-8 character).
struct Quotes<R> {
    inner: R,
    count: u64,
}

impl<R> Quotes<R> {
    fn new(inner: R) -> Self {
        Quotes { inner, count: 0 }
    }
}

impl<R: Read> Read for Quotes<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += memchr::memchr_iter(b'"', &buf[..n]).count() as u64;
        Ok(n)
    }
}

/// What the head of an export says: its encoding, byte order mark and delimiter.
#[derive(Debug, Clone, Copy)]
struct Shape {
    encoding: Encoding,
    bom: usize,
    delimiter: u8,
}

impl Shape {
    fn sniff(head: &[u8], options: &ReadOptions) -> Result<Shape, ExportError> {
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
    /// the number of lines read.
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
        let lines = match self.encoding {
            Encoding::Utf8 => {
                let mut raw = raw;
                io::copy(&mut (&mut raw).take(self.bom as u64), &mut io::sink())?;
                read_rows(raw, mapping, options, &mut export)?
            }
            Encoding::Gb18030 => read_rows(Decoded::new(raw), mapping, options, &mut export)?,
        };
        Ok((export, lines))
    }
}

impl ExportError {
    /// The error with its line numbers moved down by `lines`.
    fn shifted(mut self, lines: u64) -> ExportError {
        match &mut self {
            ExportError::Bad(bad) => bad.line += lines,
            ExportError::Encoding { line, .. } | ExportError::Csv { line, .. } => *line += lines,
            _ => {}
        }
        self
    }
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
    fn finish(&mut self) -> Result<(), ExportError> {
        if self.info.rows == 0 {
            return Err(ExportError::NoRows);
        }
        self.build_index();
        Ok(())
    }
}

/// Reads the header and the rows into `export`, returning the number of lines read.
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
    // A finished decoder must not be read again.
    let unread = if eof { 0 } else { u64::MAX };
    let rest = io::Cursor::new(&buffer[start..end]).chain(source.take(unread));
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
/// `columns` is not found yet), returning the number of lines read.
fn read_csv_rows(
    source: impl Read,
    offset: u64,
    mut columns: Option<Columns>,
    mapping: &Mapping,
    options: &ReadOptions,
    export: &mut Export,
) -> Result<u64, ExportError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(export.info.delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(LineCounter::new(source));
    let mut record = csv::ByteRecord::new();
    loop {
        let read = reader.read_byte_record(&mut record);
        let start = match &read {
            Ok(_) => record.position().map(csv::Position::byte),
            Err(e) => e.position().map(csv::Position::byte),
        };
        let line = offset + reader.get_mut().line_at(start.unwrap_or(0));
        if !read.map_err(|e| csv_error(e, line))? {
            break;
        }
        match &columns {
            None => columns = Some(read_header(&record, mapping, export)?),
            Some(columns) => add_row(columns, &record, line, mapping, options, export)?,
        }
    }
    if columns.is_none() {
        return Err(ExportError::NoHeader);
    }
    Ok(reader.get_ref().newlines)
}

/// Tells the line a csv record starts on. The csv crate's own count is one behind after
/// each CRLF, and puts a record after blank lines on the first of them.
struct LineCounter<R> {
    inner: R,
    /// Bytes read from offset `kept_from` on: the csv reader reads ahead of its records.
    kept: Vec<u8>,
    kept_from: u64,
    /// Where in `kept` the last record began, and the line ends before it.
    at: usize,
    newlines_before: u64,
    /// Line ends read in all.
    newlines: u64,
}

impl<R> LineCounter<R> {
    fn new(inner: R) -> Self {
        LineCounter {
            inner,
            kept: Vec::new(),
            kept_from: 0,
            at: 0,
            newlines_before: 0,
            newlines: 0,
        }
    }

    /// The line (from 1) of the first byte at or after offset `start` that is not a line
    /// end: where the record the csv reader began reading at `start` is. Records are
    /// asked for in order.
    fn line_at(&mut self, start: u64) -> u64 {
        let upto = usize::try_from(start.saturating_sub(self.kept_from))
            .unwrap_or(usize::MAX)
            .clamp(self.at, self.kept.len());
        self.newlines_before +=
            memchr::memchr_iter(b'\n', &self.kept[self.at..upto]).count() as u64;
        self.at = upto;
        // Forget what is behind, now and then rather than on every record.
        if self.at > (1 << 20) && self.at > self.kept.len() / 2 {
            self.kept.drain(..self.at);
            self.kept_from += self.at as u64;
            self.at = 0;
        }
        let blank = (self.kept[self.at..].iter())
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .filter(|&&b| b == b'\n')
            .count() as u64;
        1 + self.newlines_before + blank
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

fn read_header(
    record: &csv::ByteRecord,
    mapping: &Mapping,
    export: &mut Export,
) -> Result<Columns, ExportError> {
    let header: Vec<String> = record
        .iter()
        .map(|name| String::from_utf8_lossy(name).trim().to_owned())
        .collect();
    let columns = Columns::find(&header, mapping)?;
    export.info.header = header;
    export.info.refund_numbers = columns.refund_no.is_some();
    export.info.transactions = columns.type_column.is_some();
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

/// A csv reader's error, on `line`.
fn csv_error(error: csv::Error, line: u64) -> ExportError {
    match error.into_kind() {
        csv::ErrorKind::Io(e) => read_error(e),
        csv::ErrorKind::Utf8 { err, .. } => ExportError::Encoding {
            line,
            problem: err.to_string(),
        },
        other => ExportError::Csv {
            line,
            message: format!("{other:?}"),
        },
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

    fn amount(&self, record: &impl Fields, column: usize, line: u64) -> Result<i64, Problem> {
        let text = self.field(record, column, line)?;
        parse_amount(text, self.mapping.unit).ok_or_else(|| {
            let unit = match self.mapping.unit {
                Unit::Fen => "is not an amount in fen (a whole number)",
                Unit::Yuan => "is not an amount in yuan (at most 2 decimals)",
            };
            self.bad(line, column, text, unit)
        })
    }

    fn time(
        &self,
        record: &impl Fields,
        column: usize,
        line: u64,
        needed: bool,
    ) -> Result<Stamp, Problem> {
        let text = self.field(record, column, line)?;
        if text.is_empty() && !needed {
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

    fn status(&self, record: &impl Fields, column: usize, line: u64) -> Result<Status, Problem> {
        let text = self.field(record, column, line)?;
        let is = |values: &[String]| {
            values
                .iter()
                .any(|v| v.as_bytes().eq_ignore_ascii_case(text))
        };
        let m = self.mapping;
        if is(&m.paid_values) {
            Ok(Status::Paid)
        } else if is(&m.refunded_values) {
            Ok(Status::Refunded)
        } else if is(&m.closed_values) {
            Ok(Status::Closed)
        } else if is(&m.unpaid_values) {
            Ok(Status::Unpaid)
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
        let status = match c.status {
            Some(column) => self.status(record, column, line)?,
            None if refund_row => Status::Refunded,
            None => Status::Paid,
        };
        let amount = self.amount(record, c.amount, line)?;
        let time = self.time(record, c.time, line, status.charged())?;
        if !refund_row {
            let refund = match c.refund_amount {
                Some(column) => Some(self.amount(record, column, line)?.abs()),
                None => None,
            };
            let refunded = status == Status::Refunded || refund.is_some_and(|r| r > 0);
            let at = export.arena.push(&[order]).map_err(Problem::Full)?;
            export.entries.push(Entry {
                hash: key_hash(Kind::Payment, order),
                key: at,
                time,
                line: line32,
                kind: Kind::Payment,
                status,
                flags: 0.into(),
                amount,
            });
            if refunded {
                self.add_refund(
                    record,
                    line,
                    order,
                    Some(at),
                    refund.unwrap_or(amount),
                    time,
                    export,
                )?;
            }
        } else {
            let refund = match c.refund_amount {
                Some(column) => self.amount(record, column, line)?,
                None => amount,
            };
            self.add_refund(record, line, order, None, refund.abs(), time, export)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn add_refund(
        &self,
        record: &impl Fields,
        line: u64,
        order: &[u8],
        order_at: Option<u32>,
        amount: i64,
        paid: Stamp,
        export: &mut Export,
    ) -> Result<(), Problem> {
        let c = self.columns;
        let number = match c.refund_no {
            Some(column) if !self.field(record, column, line)?.is_empty() => {
                Some(self.key(record, column, line)?)
            }
            _ => None,
        };
        let (time, undated) = match c.refund_time {
            Some(column) => match self.time(record, column, line, false)? {
                NO_TIME => (paid, true),
                time => (time, false),
            },
            None => (paid, true),
        };
        let (kind, key, at) = match number {
            Some(number) => (
                Kind::Refund,
                number,
                export.arena.push(&[number, order]).map_err(Problem::Full)?,
            ),
            None => (
                Kind::OrderRefund,
                order,
                match order_at {
                    Some(at) => at,
                    None => export.arena.push(&[order]).map_err(Problem::Full)?,
                },
            ),
        };
        export.entries.push(Entry {
            hash: key_hash(kind, key),
            key: at,
            time,
            line: line as u32,
            kind,
            status: Status::Refunded,
            flags: (if undated { flag::UNDATED } else { 0 }).into(),
            amount,
        });
        Ok(())
    }
}

/// An exact amount in fen: whole fen, or yuan with at most two decimals. A leading `+` or
/// `-`, and thousands separators in yuan, are accepted; floats never enter.
pub fn parse_amount(text: &[u8], unit: Unit) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let yuan = unit == Unit::Yuan;
    // The usual shape first: digits, then a point and two decimals in yuan.
    let usual = match digits {
        [whole @ .., b'.', tens, ones] if yuan => whole_number(whole)
            .zip(whole_number(&[*tens, *ones]))
            .map(|(whole, cents)| whole * 100 + cents),
        _ if !yuan => whole_number(digits),
        _ => None,
    };
    if let Some(value) = usual {
        return Some(if negative { -value } else { value });
    }
    let mut value: i64 = 0;
    // Bytes before the decimal point, separators included; then fraction digits kept.
    let mut whole = 0;
    let mut places: Option<u32> = None;
    for &b in digits {
        match (b, places) {
            (b'0'..=b'9', None) => {
                value = value * 10 + i64::from(b - b'0');
                whole += 1;
            }
            (b',', None) if yuan => whole += 1,
            (b'.', None) if yuan => places = Some(0),
            // Two decimals at most, then only zeros.
            (b'0'..=b'9', Some(kept)) if kept < 2 => {
                value = value * 10 + i64::from(b - b'0');
                places = Some(kept + 1);
            }
            (b'0', Some(_)) => {}
            _ => return None,
        }
        if whole > 16 {
            return None;
        }
    }
    if whole == 0 || digits.last() == Some(&b'.') {
        return None;
    }
    if yuan {
        value = value.checked_mul(10i64.pow(2 - places.unwrap_or(0)))?;
    }
    Some(if negative { -value } else { value })
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
            None | Some(Encoding::Utf8) => Ok((Encoding::Utf8, 3)),
            Some(Encoding::Gb18030) => Err(ExportError::Encoding {
                line: 1,
                problem:
                    "--encoding gbk was given, but the file starts with a UTF-8 byte order mark"
                        .into(),
            }),
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
    match std::str::from_utf8(head) {
        Ok(_) => return Ok((Encoding::Utf8, 0)),
        // Cut inside a character by the end of the sniffed head.
        Err(e) if cut && e.error_len().is_none() => return Ok((Encoding::Utf8, 0)),
        Err(_) => {}
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
                encoding_rs::DecoderResult::InputEmpty if written > 0 || self.eof => {
                    return Ok(written);
                }
                encoding_rs::DecoderResult::InputEmpty => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::clock::format_stamp;

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
            &Mapping::emulator_export(),
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
            &Mapping::emulator_export(),
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
            &Mapping::emulator_export(),
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(export.info.rows, 4);
        assert_eq!(export.info.delimiter, b',');
        let t2 = export
            .find(Kind::Payment, key_hash(Kind::Payment, b"T2"), b"T2")
            .unwrap();
        assert_eq!(export.entries.get(t2).amount, 1000);
        assert_eq!(
            format_stamp(export.entries.get(t2).time),
            "2026-11-20 09:00:00"
        );
        let refund = export
            .find(Kind::OrderRefund, key_hash(Kind::OrderRefund, b"T2"), b"T2")
            .unwrap();
        assert_eq!(export.entries.get(refund).amount, 250);
        let t3 = export
            .find(Kind::Payment, key_hash(Kind::Payment, b"T3"), b"T3")
            .unwrap();
        assert_eq!(export.entries.get(t3).status, Status::Closed);
        assert_eq!(export.repeats.len(), 1);
        assert_eq!(export.entries.get(export.repeats[0].again).line, 5);
        assert!(
            export
                .find(Kind::Payment, key_hash(Kind::Payment, b"T9"), b"T9")
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
            time: "支付时间".into(),
            paid_values: vec!["已支付".into()],
            refund_amount: None,
            time_format: TimeFormat::parse("%Y/%m/%d %H:%M").unwrap(),
            ..Mapping::emulator_export()
        };
        let export = read(&gbk, &mapping, &ReadOptions::default()).unwrap();
        assert_eq!(export.info.encoding, Some(Encoding::Gb18030));
        assert_eq!(export.info.delimiter, b'\t');
        let found = export.find(Kind::Payment, key_hash(Kind::Payment, b"A,1"), b"A,1");
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
        let error = read(
            bad.as_bytes(),
            &Mapping::emulator_export(),
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 3, column refund_amount: \"2.555\" is not an amount in yuan (at most 2 decimals)"
        );
        let skipping = ReadOptions {
            skip_bad_lines: true,
            ..ReadOptions::default()
        };
        let export = read(bad.as_bytes(), &Mapping::emulator_export(), &skipping).unwrap();
        assert_eq!((export.info.skipped, export.info.bad_lines[0].line), (1, 3));
        let error = read(
            b"id,amount\n1,2\n",
            &Mapping::emulator_export(),
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("columns found: id, amount"),
            "{error}"
        );
        assert!(matches!(
            read(b"", &Mapping::emulator_export(), &ReadOptions::default()),
            Err(ExportError::NoHeader)
        ));
        assert!(matches!(
            read(
                b"out_trade_no,status,amount,refund_amount,paid_at\n",
                &Mapping::emulator_export(),
                &ReadOptions::default()
            ),
            Err(ExportError::NoRows)
        ));
        let utf16 = b"\xFF\xFEo\0u\0t\0";
        assert!(matches!(
            read(utf16, &Mapping::emulator_export(), &ReadOptions::default()),
            Err(ExportError::Encoding { .. })
        ));
        let time = ORDERS.replace("2026-11-20 09:00:00", "20/11/2026");
        let error = read(
            time.as_bytes(),
            &Mapping::emulator_export(),
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
            time: "time".into(),
            refund_amount: None,
            refund_no: Some("refund_no".into()),
            type_column: Some("type".into()),
            payment_types: vec!["pay".into()],
            refund_types: vec!["refund".into()],
            ..Mapping::emulator_export()
        };
        let export = read(text.as_bytes(), &mapping, &ReadOptions::default()).unwrap();
        assert_eq!(export.info.delimiter, b';');
        let r2 = export
            .find(Kind::Refund, key_hash(Kind::Refund, b"R2"), b"R2")
            .unwrap();
        let entry = export.entries.get(r2);
        assert_eq!((entry.amount, export.keys(entry).1), (200, &b"T1"[..]));
    }

    #[test]
    fn keys_all_in_one_half_of_the_table_are_found() {
        // Each half of the table is probed on its own: one that took every key must still
        // have room, or inserting and looking up would never end.
        let high = |key: &String| key_hash(Kind::Payment, key.as_bytes()) >> 63 == 1;
        let mut keys = (0..).map(|n| format!("O{n}")).filter(high);
        let orders: Vec<String> = keys.by_ref().take(40).collect();
        let mut text = String::from("out_trade_no,status,amount,refund_amount,paid_at\n");
        for order in &orders {
            text += &format!("{order},PAID,1.00,0.00,2026-11-20 08:00:00\n");
        }
        let export = read(
            text.as_bytes(),
            &Mapping::emulator_export(),
            &ReadOptions::default(),
        )
        .unwrap();
        for order in &orders {
            let hash = key_hash(Kind::Payment, order.as_bytes());
            assert!(export.find(Kind::Payment, hash, order.as_bytes()).is_some());
        }
        let missing = keys.next().unwrap();
        let hash = key_hash(Kind::Payment, missing.as_bytes());
        assert_eq!(export.find(Kind::Payment, hash, missing.as_bytes()), None);
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
            ("12345678901234567", Unit::Fen, None),
        ] {
            assert_eq!(parse_amount(text.as_bytes(), unit), fen, "{text}");
        }
    }
}
