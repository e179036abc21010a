//! CSV records as a shop's export holds them: read by the csv crate, with what the crate
//! leaves to its caller: the line each record starts on, a bound on a record's size, and a
//! quote left open at the end of the input.
//!
//! The csv crate reads a field whose opening quote is never closed to the end of the input
//! without complaint: one stray quote would swallow every row after it, and a day would
//! reconcile as balanced with those rows unread. [`Records`] refuses such an input, and a
//! record of more than [`MAX_RECORD`], naming the line; memory stays bounded by that size.

use std::io::{self, Read};

use thiserror::Error;

/// A record (its cells' bytes plus one per cell) may hold this much. An order export's row
/// is a few hundred bytes; a megabyte is generous, and bounds what a bad quote can swallow.
pub const MAX_RECORD: usize = 1 << 20;

/// The csv reader's buffer: what it may read beyond the record it is in.
const BUFFER: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum RecordError {
    /// The source failed (a decoder's error is passed on as it came).
    #[error("cannot read: {0}")]
    Io(io::Error),
    #[error(
        "line {line}: a row of more than 1 MiB, which no order export has: a quote on this line may open a cell that never closes"
    )]
    TooLong { line: u64 },
    #[error(
        "line {line}: a quote opens a cell here that is never closed, so the rest of the file would be read as that one cell"
    )]
    OpenQuote { line: u64 },
    #[error("line {line}: {message}")]
    Csv { line: u64, message: String },
}

/// Reads records one at a time, each with the line it starts on.
pub struct Records<R> {
    reader: csv::Reader<Tracked<R>>,
    delimiter: u8,
    /// Lines before the first byte of the source.
    offset: u64,
    /// Where the record being read began (the parser's position after the last one).
    next_start: u64,
    /// The first byte of the last record read, to look for an open quote at the end.
    last_record: Option<u64>,
}

impl<R: Read> Records<R> {
    /// Records of `source`, whose first byte is on line `offset + 1`.
    pub fn new(source: R, delimiter: u8, offset: u64) -> Records<R> {
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(BUFFER)
            .from_reader(Tracked::new(source));
        Records {
            reader,
            delimiter,
            offset,
            next_start: 0,
            last_record: None,
        }
    }

    /// Reads the next record into `record`, returning the line it starts on; `None` at the
    /// end of the input.
    pub fn read(&mut self, record: &mut csv::ByteRecord) -> Result<Option<u64>, RecordError> {
        self.reader.get_mut().record_start = self.next_start;
        let read = self.reader.read_byte_record(record);
        let start = match &read {
            Ok(true) => record
                .position()
                .map_or(self.next_start, csv::Position::byte),
            _ => self.next_start,
        };
        self.next_start = self.reader.position().byte();
        if let Ok(false) = read {
            let tracked = self.reader.get_mut();
            if let Some(first) = self.last_record.take()
                && let Some(quote) = open_quote(tracked.kept_from(first), self.delimiter)
            {
                let (_, line) = tracked.locate(first + quote as u64);
                return Err(RecordError::OpenQuote {
                    line: self.offset + line - 1,
                });
            }
            return Ok(None);
        }
        let (first, line) = self.reader.get_mut().locate(start);
        let line = self.offset + line - 1;
        match read {
            Ok(_) => {
                if record.as_slice().len() + record.len() > MAX_RECORD {
                    return Err(RecordError::TooLong { line });
                }
                self.last_record = Some(first);
                Ok(Some(line))
            }
            Err(error) => Err(match error.into_kind() {
                csv::ErrorKind::Io(e) if e.get_ref().is_some_and(|e| e.is::<Overlong>()) => {
                    RecordError::TooLong { line }
                }
                csv::ErrorKind::Io(e) => RecordError::Io(e),
                other => RecordError::Csv {
                    line,
                    message: format!("{other:?}"),
                },
            }),
        }
    }

    /// Line ends read in all.
    pub fn newlines(&self) -> u64 {
        self.reader.get_ref().newlines - 1
    }
}

/// Where a quoted cell left open at the end of `record` opens, if one is. `record` starts
/// at the start of a record; quotes are read as the csv crate reads them (RFC 4180): a quote
/// opens a cell only as the cell's first byte, two quotes in a quoted cell are one, and a
/// quote inside an unquoted cell is a plain character.
pub fn open_quote(record: &[u8], delimiter: u8) -> Option<usize> {
    #[derive(PartialEq)]
    enum State {
        CellStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let ends_record = |b: u8| b == b'\r' || b == b'\n';
    let mut state = State::CellStart;
    let mut opened = 0;
    for (at, &b) in record.iter().enumerate() {
        state = match state {
            State::CellStart if b == b'"' => {
                opened = at;
                State::Quoted
            }
            State::CellStart | State::Unquoted if b == delimiter || ends_record(b) => {
                State::CellStart
            }
            State::CellStart | State::Unquoted => State::Unquoted,
            State::Quoted if b == b'"' => State::QuoteInQuoted,
            State::Quoted => State::Quoted,
            State::QuoteInQuoted if b == b'"' => State::Quoted,
            State::QuoteInQuoted if b == delimiter || ends_record(b) => State::CellStart,
            State::QuoteInQuoted => State::Unquoted,
        };
    }
    (state == State::Quoted).then_some(opened)
}

/// The reader's refusal of a record that has outgrown [`MAX_RECORD`] by far.
#[derive(Debug)]
struct Overlong;

impl std::fmt::Display for Overlong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record of more than 1 MiB")
    }
}

impl std::error::Error for Overlong {}

/// The source as the csv reader sees it: counts line ends, keeps the bytes of the record
/// being read (to tell its line and see its quotes), and stops a record that outgrows
/// any that [`MAX_RECORD`] allows (a cell's bytes appear at most twice over in the source,
/// doubled quotes; a delimiter once), so memory stays bounded.
struct Tracked<R> {
    inner: R,
    /// Bytes read from offset `kept_from` on.
    kept: Vec<u8>,
    kept_from: u64,
    /// Line ends before `kept_from`.
    newlines_before: u64,
    /// Line ends read in all.
    newlines: u64,
    /// Where the record being read began.
    record_start: u64,
    /// Whether the blank line put first was read.
    started: bool,
}

impl<R> Tracked<R> {
    fn new(inner: R) -> Self {
        Tracked {
            inner,
            kept: Vec::new(),
            kept_from: 0,
            newlines_before: 0,
            newlines: 0,
            record_start: 0,
            started: false,
        }
    }

    /// The offset and the line (from 1) of the first byte at or after offset `start` that
    /// is not a line end: where the record the csv reader began at `start` is (it places a
    /// record after blank lines on the first of them). Asked for in order; what lies before
    /// `start` is forgotten now and then.
    fn locate(&mut self, start: u64) -> (u64, u64) {
        let upto = usize::try_from(start.saturating_sub(self.kept_from))
            .unwrap_or(usize::MAX)
            .min(self.kept.len());
        if upto > BUFFER && upto > self.kept.len() / 2 {
            self.newlines_before += memchr::memchr_iter(b'\n', &self.kept[..upto]).count() as u64;
            self.kept.drain(..upto);
            self.kept_from += upto as u64;
        }
        let at = usize::try_from(start.saturating_sub(self.kept_from))
            .unwrap_or(usize::MAX)
            .min(self.kept.len());
        let blank = self.kept[at..]
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let line_ends = memchr::memchr_iter(b'\n', &self.kept[..at + blank]).count() as u64;
        (
            self.kept_from + (at + blank) as u64,
            1 + self.newlines_before + line_ends,
        )
    }

    /// The bytes kept from offset `from` on.
    fn kept_from(&self, from: u64) -> &[u8] {
        let at = usize::try_from(from.saturating_sub(self.kept_from)).unwrap_or(usize::MAX);
        self.kept.get(at..).unwrap_or_default()
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let in_record = (self.kept_from + self.kept.len() as u64).saturating_sub(self.record_start);
        if in_record > (2 * MAX_RECORD + 2 + BUFFER) as u64 {
            return Err(io::Error::other(Overlong));
        }
        // The csv crate drops a byte order mark from the first bytes it reads, wherever they
        // are. A blank line first (which it skips, and which the lines told leave out) keeps
        // a U+FEFF in a row where it is, so that a reader started mid-file reads as one
        // started at the top does.
        let n = match self.started {
            false if !buf.is_empty() => {
                self.started = true;
                buf[0] = b'\n';
                1
            }
            _ => self.inner.read(buf)?,
        };
        self.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8]) -> Result<Vec<(u64, Vec<String>)>, String> {
        let mut records = Records::new(text, b',', 0);
        let mut record = csv::ByteRecord::new();
        let mut out = Vec::new();
        while let Some(line) = records.read(&mut record).map_err(|e| e.to_string())? {
            let cells = record
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            out.push((line, cells));
        }
        Ok(out)
    }

    #[test]
    fn lines_count_crlf_blank_lines_and_quoted_line_breaks() {
        let read = all(b"a,b\r\n\r\n\"x\r\ny\",2\r\nc,3").unwrap();
        let lines: Vec<u64> = read.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [1, 3, 5]);
        assert_eq!(read[1].1, ["x\r\ny", "2"]);
    }

    #[test]
    fn a_quote_never_closed_is_refused_with_its_line() {
        let text = b"h1,h2\nX1,\"customer said \"\"hi\nT1,1.00\nT2,2.00\n";
        assert_eq!(
            all(text).unwrap_err(),
            "line 2: a quote opens a cell here that is never closed, so the rest of the file would be read as that one cell"
        );
        // Closed, or a quote inside an unquoted cell: fine.
        assert!(all(b"h\n\"a\"\"b\"\n12\" pizza,x\n").is_ok());
        assert!(all(b"h\n\"a\nb\"").is_ok());
    }

    #[test]
    fn open_quote_reads_quotes_as_the_csv_crate_does() {
        for (text, open) in [
            (&b"a,\"b"[..], Some(2)),
            (b"a,\"b\"", None),
            (b"a,\"b\"\"", Some(2)),
            (b"a,\"b\"c\"", None),
            (b"a,b\"c", None),
            (b"a,", None),
            (b"\"", Some(0)),
            (b"x\n\"", Some(2)),
            (b"x\r\"y", Some(2)),
            (b"\"a\",\"b", Some(4)),
        ] {
            assert_eq!(
                open_quote(text, b','),
                open,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn an_overlong_record_is_refused_in_bounded_memory() {
        let mut text = b"h\nok\n\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', 3 * MAX_RECORD));
        text.extend_from_slice(b"\"\nafter\n");
        assert_eq!(
            all(&text).unwrap_err(),
            "line 3: a row of more than 1 MiB, which no order export has: a quote on this line may open a cell that never closes"
        );
        // Just over the bound in cells, and just under.
        for (len, ok) in [(MAX_RECORD - 1, true), (MAX_RECORD, false)] {
            let mut text = b"h\n".to_vec();
            text.extend(std::iter::repeat_n(b'y', len));
            assert_eq!(all(&text).is_ok(), ok, "{len}");
        }
    }
}
