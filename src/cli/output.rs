//! The one printer: data to stdout as table, JSON or CSV; status and warnings to stderr.

use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;
use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};
use serde_json::{Map, Value};

use super::failure::Failure;
use super::scrub;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    /// JSON lines: one compact object per line.
    Jsonl,
}

impl Format {
    /// JSON, as one document or one object per line.
    pub fn is_json(self) -> bool {
        matches!(self, Format::Json | Format::Jsonl)
    }
}

/// An ordered record; JSON keeps the order, table and CSV show it as rows or columns.
pub type Record = Map<String, Value>;

pub struct Printer {
    requested: Option<Format>,
    quiet: bool,
}

impl Printer {
    pub fn new(requested: Option<Format>, quiet: bool) -> Self {
        Printer { requested, quiet }
    }

    /// The format in use: the requested one, else a table for a person at a terminal and
    /// `scripted` for a pipe or file.
    pub fn format(&self, scripted: Format) -> Format {
        self.requested.unwrap_or(if io::stdout().is_terminal() {
            Format::Table
        } else {
            scripted
        })
    }

    /// Prints one record: a two-column table, a JSON object, or a CSV header and row.
    /// Nested objects are shown as `outer.inner` rows or columns outside JSON.
    pub fn record(&self, record: &Record) -> Result<(), Failure> {
        self.record_as(record, self.format(Format::Json))
    }

    /// Prints a record meant to be pasted into code: JSON unless --format says otherwise.
    pub fn paste(&self, record: &Record) -> Result<(), Failure> {
        self.record_as(record, self.requested.unwrap_or(Format::Json))
    }

    fn record_as(&self, record: &Record, format: Format) -> Result<(), Failure> {
        let text = match format {
            Format::Json => json(&scrubbed(&Value::Object(record.clone()))),
            Format::Jsonl => json_line(&scrubbed(&Value::Object(record.clone()))),
            Format::Table => table(
                None,
                flatten(record)
                    .into_iter()
                    .map(|(key, value)| vec![key, value]),
            ),
            Format::Csv => {
                let (header, row): (Vec<_>, Vec<_>) = flatten(record).into_iter().unzip();
                csv_text(&header, &[row])
            }
        };
        self.write(&text)
    }

    /// Prints rows under named columns; JSON gets an array of objects.
    pub fn rows(&self, columns: &[&str], rows: &[Vec<String>]) -> Result<(), Failure> {
        let objects = || {
            rows.iter().map(|row| {
                Value::Object(
                    columns
                        .iter()
                        .zip(row)
                        .map(|(c, v)| (c.to_string(), Value::String(scrub::value(v))))
                        .collect(),
                )
            })
        };
        let text = match self.format(Format::Json) {
            Format::Json => json(&objects().collect::<Vec<_>>()),
            Format::Jsonl => objects().map(|object| json_line(&object)).collect(),
            Format::Table => table(
                Some(columns.iter().map(|c| c.to_string()).collect()),
                rows.iter()
                    .map(|row| row.iter().map(|v| scrub::value(v)).collect()),
            ),
            Format::Csv => {
                let header: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
                csv_text(&header, rows)
            }
        };
        self.write(&text)
    }

    /// Prints records with the same keys: a JSON array of objects whose values keep their
    /// types, or one table or CSV row per record.
    pub fn records(&self, columns: &[&str], records: &[Record]) -> Result<(), Failure> {
        self.write(&render_records(self.format(Format::Json), columns, records))
    }

    /// Starts a stream of rows under `columns`, for outputs too long to hold: a CSV header
    /// and rows, JSON lines, or a JSON object `{"<name>": [rows…], "summary": …}` written
    /// element by element. Every cell is scrubbed as it goes. A table cannot stream: the
    /// caller shows something else there (a table is written as CSV).
    pub fn row_stream(
        &self,
        format: Format,
        name: &str,
        columns: &[&str],
    ) -> Result<RowStream, Failure> {
        let buffered = StdoutPipe::new;
        let mut sink = match format {
            Format::Csv | Format::Table => Sink::Csv(buffered()),
            Format::Json => Sink::Json(buffered()),
            Format::Jsonl => Sink::Jsonl(buffered()),
        };
        match &mut sink {
            Sink::Csv(out) => {
                let header: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
                out.write_all(csv_text(&header, &[]).as_bytes())
            }
            Sink::Json(out) => write!(out, "{{{}:[", json_string(name)),
            Sink::Jsonl(_) => Ok(()),
        }
        .map_err(stdout_failure)?;
        Ok(RowStream {
            sink,
            keys: columns.iter().map(|c| json_string(c) + ":").collect(),
            rows: 0,
            line: Vec::new(),
        })
    }

    /// Writes a block of text (a script, a path) to stdout, scrubbed; a closed pipe ends the
    /// program quietly.
    pub fn data(&self, text: &str) -> Result<(), Failure> {
        self.write(&scrub::block(text))
    }

    /// The one place that writes to stdout; everything reaching it has been scrubbed.
    fn write(&self, text: &str) -> Result<(), Failure> {
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    Failure::closed_stdout()
                } else {
                    Failure::usage(format!("cannot write to standard output: {e}"))
                }
            })
    }

    /// Asks a person at the terminal to confirm, even under -q: `details` (one line each),
    /// then the question. Only `y` or `yes` confirms; anything else, or end of input, declines.
    pub fn confirm(&self, details: &[String], question: &str) -> Result<bool, Failure> {
        let mut stderr = io::stderr().lock();
        let mut prompt = String::new();
        for line in details {
            prompt.push_str(&format!("  {}\n", scrub::prose(line)));
        }
        prompt.push_str(&format!("{} [y/N] ", scrub::prose(question)));
        let _ = stderr
            .write_all(prompt.as_bytes())
            .and_then(|()| stderr.flush());
        let mut answer = String::new();
        io::stdin()
            .read_line(&mut answer)
            .map_err(|e| Failure::usage(format!("cannot read the answer: {e}")))?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }

    /// A stream of records under fixed columns, each written and flushed the moment it comes
    /// (a JSON array element by element, JSON lines, or CSV with its header first, every cell
    /// scrubbed), for results that arrive at the pace of the network, such as a batch of
    /// queries a script follows. A table, for a person, is drawn once the last record is in.
    /// With `expected` rows and a terminal on stderr (and no -q), a progress bar counts them
    /// there. Long local streams, where throughput counts, use [`Printer::row_stream`].
    pub fn record_stream(
        &self,
        columns: &[&str],
        expected: Option<u64>,
    ) -> Result<RecordStream<'_>, Failure> {
        let format = self.format(Format::Json);
        let progress = self.shows_progress().then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                expected,
                indicatif::ProgressDrawTarget::stderr(),
            );
            let template = if expected.is_some() {
                "{bar:30} {pos}/{len} {per_sec} {eta}"
            } else {
                "{spinner} {pos} {per_sec}"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style.with_key(
                    "per_sec",
                    |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                        let _ = out.write_str(&rate(state.per_sec()));
                    },
                ));
            }
            bar
        });
        let stream = RecordStream {
            printer: self,
            format,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            progress,
            rows: std::cell::Cell::new(0),
            held: std::cell::RefCell::new(Vec::new()),
        };
        if format == Format::Csv {
            stream.emit(csv_text(&stream.columns, &[]))?;
        }
        Ok(stream)
    }

    /// Whether a progress bar may be drawn: a person is watching stderr and did not pass -q.
    pub fn shows_progress(&self) -> bool {
        !self.quiet && io::stderr().is_terminal()
    }

    /// Data that must not mix with stdout's (which already carries a file), so it goes to
    /// stderr; not status, so -q does not silence it. Scrubbed as [`Printer::data`].
    pub fn data_to_stderr(&self, text: &str) {
        eprint!("{}", scrub::block(text));
    }

    /// Progress and status for people, silenced by -q.
    pub fn status(&self, message: &str) {
        if !self.quiet {
            eprintln!("{}", scrub::prose(message));
        }
    }

    /// The one status line that may show a key: the emulator's built-in merchant key, which
    /// is public test data that a developer's backend needs. Control characters are still
    /// escaped.
    pub fn status_showing_test_key(&self, message: &str) {
        if !self.quiet {
            eprintln!("{}", scrub::escape_controls(message, ""));
        }
    }

    pub fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!("warning: {}", scrub::prose(message));
        }
    }

    /// An error, its cause and its remedy, printed even under -q.
    pub fn failure(&self, failure: &Failure) {
        if !failure.message.is_empty() {
            eprintln!("error: {}", scrub::prose(&failure.message));
            if let Some(hint) = &failure.hint {
                eprintln!("hint: {}", scrub::prose(hint));
            }
        }
    }
}

/// Records written one by one as they come; see [`Printer::record_stream`].
pub struct RecordStream<'a> {
    printer: &'a Printer,
    format: Format,
    columns: Vec<String>,
    progress: Option<indicatif::ProgressBar>,
    rows: std::cell::Cell<u64>,
    /// The records of a table, drawn at the end.
    held: std::cell::RefCell<Vec<Record>>,
}

impl RecordStream<'_> {
    /// Writes one row: the record's values under the stream's columns (missing ones null).
    pub fn row(&self, record: &Record) -> Result<(), Failure> {
        let line: Record = self
            .columns
            .iter()
            .map(|c| (c.clone(), record.get(c).cloned().unwrap_or(Value::Null)))
            .collect();
        let first = self.rows.get() == 0;
        self.rows.set(self.rows.get() + 1);
        let text = match self.format {
            Format::Json | Format::Jsonl => {
                let object = serde_json::to_string(&scrubbed(&Value::Object(line)))
                    .expect("JSON values always serialize");
                match self.format {
                    Format::Json if first => format!("[\n{object}"),
                    Format::Json => format!(",\n{object}"),
                    _ => format!("{object}\n"),
                }
            }
            Format::Csv => {
                let row: Vec<String> = line.values().map(plain).collect();
                csv_text(&[], &[row])
            }
            Format::Table => {
                self.held.borrow_mut().push(line);
                String::new()
            }
        };
        if !text.is_empty() {
            self.emit(text)?;
        }
        if let Some(bar) = &self.progress {
            bar.inc(1);
        }
        Ok(())
    }

    fn emit(&self, text: String) -> Result<(), Failure> {
        match &self.progress {
            Some(bar) => bar.suspend(|| self.printer.write(&text)),
            None => self.printer.write(&text),
        }
    }

    /// Takes the progress bar off the terminal, and ends the output: closes the JSON array,
    /// or draws the table.
    pub fn finish(&self) -> Result<(), Failure> {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        match self.format {
            Format::Json if self.rows.get() == 0 => self.printer.write("[]\n"),
            Format::Json => self.printer.write("\n]\n"),
            Format::Table => {
                let columns: Vec<&str> = self.columns.iter().map(String::as_str).collect();
                let held = self.held.take();
                self.printer
                    .write(&render_records(Format::Table, &columns, &held))
            }
            Format::Jsonl | Format::Csv => Ok(()),
        }
    }
}

/// One value of a streamed row: text (scrubbed, quoted in JSON), or a number already
/// formatted by us (written bare in JSON).
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    Text(&'a str),
    Number(&'a str),
}

/// Rows written as they come; see [`Printer::row_stream`].
pub struct RowStream {
    sink: Sink,
    /// `"column":`, ready for JSON.
    keys: Vec<String>,
    rows: u64,
    /// A CSV line being put together.
    line: Vec<u8>,
}

enum Sink {
    /// CSV with the csv crate's quoting (only where needed), written here: a row of short
    /// cells is a few copies, which a general CSV writer's per-field state machine is not.
    Csv(StdoutPipe),
    /// A JSON object whose `{"name":[` is written; rows are the array's elements.
    Json(StdoutPipe),
    Jsonl(StdoutPipe),
}

impl RowStream {
    pub fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), Failure> {
        // One look at the loaded keys per row, so that short plain cells need no copy.
        let shortest_key = crate::wechat::secret::shortest_loaded();
        let first = self.rows == 0;
        self.rows += 1;
        let written = match &mut self.sink {
            Sink::Csv(out) => {
                let line = &mut self.line;
                line.clear();
                for (index, cell) in cells.iter().enumerate() {
                    if index > 0 {
                        line.push(b',');
                    }
                    match cell {
                        Cell::Number(text) => line.extend_from_slice(text.as_bytes()),
                        Cell::Text(text) if scrub::is_plain_csv(text, shortest_key) => {
                            line.extend_from_slice(text.as_bytes());
                        }
                        Cell::Text(text) => csv_field(line, &scrub::csv_cell(text))
                            .expect("writing to memory cannot fail"),
                    }
                }
                line.push(b'\n');
                out.write_all(line)
            }
            Sink::Json(out) => out
                .write_all(if first { b"\n" } else { b",\n" })
                .and_then(|()| json_object(out, &self.keys, cells, shortest_key)),
            Sink::Jsonl(out) => json_object(out, &self.keys, cells, shortest_key)
                .and_then(|()| out.write_all(b"\n")),
        };
        written.map_err(stdout_failure)
    }

    /// Ends the stream: JSON closes the array and adds `"summary"`; JSON lines end with a
    /// `{"summary": …}` line; CSV has nothing more.
    pub fn finish(self, summary: Option<&Record>) -> Result<(), Failure> {
        let summary = summary.map(|s| scrubbed(&Value::Object(s.clone())));
        let written = match self.sink {
            Sink::Csv(out) => out.finish(),
            Sink::Json(mut out) => {
                let mut ending = String::from(if self.rows > 0 { "\n]" } else { "]" });
                if let Some(summary) = summary {
                    ending.push_str(",\"summary\":");
                    ending.push_str(&serde_json::to_string(&summary).expect("JSON serializes"));
                }
                ending.push_str("}\n");
                out.write_all(ending.as_bytes()).and_then(|()| out.finish())
            }
            Sink::Jsonl(mut out) => {
                let ending = summary
                    .map(|summary| json_line(&serde_json::json!({ "summary": summary })))
                    .unwrap_or_default();
                out.write_all(ending.as_bytes()).and_then(|()| out.finish())
            }
        };
        written.map_err(stdout_failure)
    }
}

/// Standard output written by a thread of its own, so that the system calls that copy a long
/// stream out overlap with making the next rows. Bytes gather in blocks; a few blocks in
/// flight keep memory flat.
pub struct StdoutPipe {
    block: Vec<u8>,
    full: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    writer: Option<std::thread::JoinHandle<io::Result<()>>>,
}

const PIPE_BLOCK: usize = 1 << 18;

impl StdoutPipe {
    fn new() -> StdoutPipe {
        let (full, blocks) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (spare, empty) = std::sync::mpsc::sync_channel(4);
        let writer = std::thread::spawn(move || {
            let mut stdout = io::stdout().lock();
            for mut block in blocks {
                stdout.write_all(&block)?;
                block.clear();
                // The maker may be gone or have blocks enough; either way this one can go.
                let _ = spare.try_send(block);
            }
            stdout.flush()
        });
        StdoutPipe {
            block: Vec::with_capacity(PIPE_BLOCK),
            full: Some(full),
            empty,
            writer: Some(writer),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let fresh = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PIPE_BLOCK));
        let block = std::mem::replace(&mut self.block, fresh);
        let sent = self.full.as_ref().map(|full| full.send(block));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writer stopped: its error says why.
            _ => self.join(),
        }
    }

    fn join(&mut self) -> io::Result<()> {
        self.full = None;
        match self.writer.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result.and(Err(io::ErrorKind::BrokenPipe.into())),
            Some(Err(_)) => Err(io::Error::other("the output thread failed")),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    /// Writes what is left and waits for the writer.
    fn finish(mut self) -> io::Result<()> {
        if !self.block.is_empty() {
            self.send()?;
        }
        self.full = None;
        match self.writer.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(io::Error::other("the output thread failed")),
        }
    }
}

impl Drop for StdoutPipe {
    /// A stream left unfinished (an error stopped it) still gets out what it had.
    fn drop(&mut self) {
        if self.writer.is_some() {
            if !self.block.is_empty() {
                let _ = self.send();
            }
            self.full = None;
            if let Some(writer) = self.writer.take() {
                let _ = writer.join();
            }
        }
    }
}

impl Write for StdoutPipe {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.block.extend_from_slice(data);
        if self.block.len() >= PIPE_BLOCK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Standard output for what a command writes as a file to `-` (see
/// [`crate::fsutil::route_stdout`]): each line scrubbed as [`Printer::data`] scrubs a block.
/// A stream that is not text (a PNG) goes as it is from its first line that is not UTF-8 on,
/// since escaping its bytes would break it, and a terminal is no place for it anyway.
pub fn scrubbed_stdout() -> Box<dyn Write> {
    Box::new(ScrubbedLines {
        out: io::stdout().lock(),
        pending: Vec::new(),
        binary: false,
    })
}

struct ScrubbedLines<W: Write> {
    out: W,
    pending: Vec<u8>,
    binary: bool,
}

impl<W: Write> ScrubbedLines<W> {
    fn emit(&mut self, end: usize) -> io::Result<()> {
        let line: Vec<u8> = self.pending.drain(..end).collect();
        if !self.binary {
            match std::str::from_utf8(&line) {
                Ok(text) => return self.out.write_all(scrub::block(text).as_bytes()),
                Err(_) => self.binary = true,
            }
        }
        self.out.write_all(&line)
    }
}

impl<W: Write> Write for ScrubbedLines<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        while let Some(at) = memchr::memchr(b'\n', &self.pending) {
            self.emit(at + 1)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let rest = self.pending.len();
        self.emit(rest)?;
        self.out.flush()
    }
}

/// One row as a compact JSON object.
fn json_object(
    out: &mut impl Write,
    keys: &[String],
    cells: &[Cell<'_>],
    shortest_key: usize,
) -> io::Result<()> {
    out.write_all(b"{")?;
    for (index, (key, cell)) in keys.iter().zip(cells).enumerate() {
        if index > 0 {
            out.write_all(b",")?;
        }
        out.write_all(key.as_bytes())?;
        match cell {
            Cell::Number(number) => out.write_all(number.as_bytes())?,
            Cell::Text(text) => {
                serde_json::to_writer(&mut *out, &scrub::value_cow(text, shortest_key))?
            }
        }
    }
    out.write_all(b"}")
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

/// One CSV field, quoted as the csv crate quotes (a delimiter, quote or line end inside).
fn csv_field(out: &mut impl Write, text: &str) -> io::Result<()> {
    if !text
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        return out.write_all(text.as_bytes());
    }
    out.write_all(b"\"")?;
    out.write_all(text.replace('"', "\"\"").as_bytes())?;
    out.write_all(b"\"")
}

fn stdout_failure(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::closed_stdout()
    } else {
        Failure::usage(format!("cannot write to standard output: {e}"))
    }
}

/// Lays out a table for the terminal: as wide as `COLUMNS` or the terminal says, unwrapped
/// when neither gives a width (a pseudo-terminal of 0 columns, under `script` or `docker -t`,
/// would otherwise squeeze every column to one character). No column is narrower than its
/// longest word, so signs, fingerprints and XML replies stay on one line to be copied.
fn table(header: Option<Vec<String>>, rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut table = Table::new();
    table.load_style(if utf8_locale() {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_FULL_CONDENSED
    });
    match terminal_width() {
        Some(width) => table
            .set_width(width)
            .set_content_arrangement(ContentArrangement::Dynamic),
        None => table.set_content_arrangement(ContentArrangement::Disabled),
    };
    if let Some(header) = header {
        table.set_header(header);
    }
    for row in rows {
        table.add_row(row);
    }
    let longest_word = |text: String| text.split_whitespace().map(str::len).max().unwrap_or(0);
    let longest_words: Vec<usize> = (0..table.column_count())
        .map(|index| {
            let header = table
                .header()
                .and_then(|header| header.cell_iter().nth(index))
                .map(|cell| cell.content());
            table
                .column_cells_iter(index)
                .flatten()
                .map(|cell| cell.content())
                .chain(header)
                .map(longest_word)
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (column, longest) in table.column_iter_mut().zip(longest_words) {
        // The constraint counts the cell's padding, one space on each side.
        let width = u16::try_from(longest + 2).unwrap_or(u16::MAX);
        column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(width)));
    }
    format!("{table}\n")
}

/// `COLUMNS` when set to a width, else the terminal's own width; none when neither is known.
fn terminal_width() -> Option<u16> {
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|columns| columns.trim().parse::<u16>().ok());
    // A fresh table reports the terminal's width when stdout is one.
    from_env
        .or_else(|| Table::new().width())
        .filter(|&columns| columns > 0)
}

/// Box-drawing characters only where the locale says the terminal speaks UTF-8 (`LANG=C`,
/// or no locale at all, gets ASCII).
fn utf8_locale() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
        .is_some_and(|locale| {
            let locale = locale.to_ascii_lowercase();
            locale.contains("utf-8") || locale.contains("utf8")
        })
}

/// Records as [`Printer::records`] prints them, for a file a command writes.
pub fn render_records(format: Format, columns: &[&str], records: &[Record]) -> String {
    let cells = || {
        records.iter().map(|record| {
            columns
                .iter()
                .map(|c| record.get(*c).map(plain).unwrap_or_default())
                .collect::<Vec<_>>()
        })
    };
    match format {
        Format::Json => json(&scrubbed(&Value::Array(
            records.iter().cloned().map(Value::Object).collect(),
        ))),
        Format::Jsonl => records
            .iter()
            .map(|record| json_line(&scrubbed(&Value::Object(record.clone()))))
            .collect(),
        Format::Table => table(
            Some(columns.iter().map(|c| c.to_string()).collect()),
            cells(),
        ),
        Format::Csv => {
            let header: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
            csv_text(&header, &cells().collect::<Vec<_>>())
        }
    }
}

/// A JSON document as a command writes it to a file: pretty, every string scrubbed as
/// printed ones are.
pub fn render_json(value: &Value) -> String {
    json(&scrubbed(value))
}

/// A copy of a JSON value with every string scrubbed.
fn scrubbed(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(scrub::value(text)),
        Value::Array(items) => Value::Array(items.iter().map(scrubbed).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), scrubbed(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialize");
    text.push('\n');
    text
}

fn json_line(value: &Value) -> String {
    let mut text = serde_json::to_string(value).expect("JSON values always serialize");
    text.push('\n');
    text
}

/// CSV of a header (none when empty) and rows.
fn csv_text(header: &[String], rows: &[Vec<String>]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = (!header.is_empty()).then_some(header);
    let written = header
        .into_iter()
        .chain(rows.iter().map(Vec::as_slice))
        .try_for_each(|row| writer.write_record(row.iter().map(|cell| scrub::csv_cell(cell))));
    written.expect("writing CSV to memory cannot fail");
    let bytes = writer.into_inner().expect("flushing to memory cannot fail");
    String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8")
}

/// Flattens nested objects to `outer.inner`; arrays become one line per element.
/// A rate as people read it: whole units a second (`234/s`), one decimal below 10 (`2.5/s`).
pub fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second <= 0.0 {
        "0/s".to_owned()
    } else if per_second < 9.95 {
        format!("{per_second:.1}/s")
    } else {
        format!("{per_second:.0}/s")
    }
}

fn flatten(record: &Record) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in record {
        match value {
            Value::Object(inner) => {
                for (inner_key, inner_value) in flatten(inner) {
                    out.push((format!("{key}.{inner_key}"), inner_value));
                }
            }
            other => out.push((key.clone(), plain(other))),
        }
    }
    out
}

fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => scrub::value(s),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join("\n"),
        Value::Object(map) => flatten(map)
            .into_iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_are_rounded() {
        assert_eq!(super::rate(234.1391), "234/s");
        assert_eq!(super::rate(9.96), "10/s");
        assert_eq!(super::rate(2.46), "2.5/s");
        assert_eq!(super::rate(0.0), "0/s");
        assert_eq!(super::rate(f64::NAN), "0/s");
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn flattening_for_tables_and_csv() {
        let record = json!({
            "valid": true,
            "fields": {"appid": "wx1", "total_fee": 1},
            "omitted": [{"field": "sign", "reason": "never signed"}]
        });
        let flat = flatten(record.as_object().unwrap());
        assert_eq!(
            flat,
            vec![
                ("valid".to_owned(), "true".to_owned()),
                ("fields.appid".to_owned(), "wx1".to_owned()),
                ("fields.total_fee".to_owned(), "1".to_owned()),
                (
                    "omitted".to_owned(),
                    "field: sign, reason: never signed".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn streamed_csv_fields_are_quoted_as_the_csv_crate_quotes() {
        for text in [
            "plain",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "cr\r",
            "",
            "商品,名",
        ] {
            let mut ours = Vec::new();
            csv_field(&mut ours, &scrub::csv_cell(text)).unwrap();
            ours.push(b'\n');
            let theirs = csv_text(&[text.to_owned(), "x".into()], &[]);
            let theirs = theirs.split_once(",x").unwrap().0.to_owned() + "\n";
            assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{text:?}");
        }
    }

    #[test]
    fn files_written_to_stdout_are_scrubbed_line_by_line_unless_binary() {
        let key = crate::wechat::ApiKey::new("ScrubbedLinesTestKey0123456789ab");
        let mut text = ScrubbedLines {
            out: Vec::new(),
            pending: Vec::new(),
            binary: false,
        };
        let written = format!("a,{}\nb,\u{1b}]0;x\u{7}\nlast", key.expose());
        text.write_all(written.as_bytes()).unwrap();
        text.flush().unwrap();
        assert_eq!(
            String::from_utf8(text.out).unwrap(),
            "a,<API key>\nb,\\u{1b}]0;x\\u{7}\nlast"
        );
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\n\x00";
        let mut binary = ScrubbedLines {
            out: Vec::new(),
            pending: Vec::new(),
            binary: false,
        };
        binary.write_all(png).unwrap();
        binary.flush().unwrap();
        assert_eq!(binary.out, png);
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let text = csv_text(&["a".into(), "b".into()], &[vec!["x,y".into(), "z".into()]]);
        assert_eq!(text, "a,b\n\"x,y\",z\n");
    }
}
