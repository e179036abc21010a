//! The one printer: data to stdout as table, JSON or CSV; status, warnings and errors to
//! stderr. Its own layer, beside the commands rather than one of them, as ripgrep keeps its
//! printer: it knows how to write, never what a failure means or which exit code it gets.

use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;
use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::wechat::secret::shortest_loaded;

pub mod scrub;

/// A count and its noun, singular for one: `1 order`, `2 orders`.
pub fn counted(n: impl std::fmt::Display, noun: &str) -> String {
    let n = n.to_string();
    if n == "1" {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod fuzz_tests;

/// Why a write to stdout failed. A closed stdout is its own case, since the reader going
/// away (`| head`) is how a pipeline ends rather than an error.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("standard output is closed")]
    Closed,
    #[error(transparent)]
    Write(io::Error),
}

impl From<io::Error> for PrintError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            PrintError::Closed
        } else {
            PrintError::Write(error)
        }
    }
}

// The derive keeps clap here: `--format` takes exactly these names, and a mirror enum in cli
// with a mapping would repeat the four names and their help for no reader's benefit. The
// layers that must not know clap are the core's (wechat, bill, reconcile), not the printer.
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

/// What `value` serializes to, as a record. Whatever is printed as a record is a struct or a
/// map with text keys, so anything else is a bug of ours.
pub fn record_of(value: &impl Serialize) -> Record {
    match serde_json::to_value(value) {
        Ok(Value::Object(record)) => record,
        other => panic!("a record serializes to a JSON object, not {other:?}"),
    }
}

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
    /// `record` is anything that serializes to an object: a [`Record`], or a type whose fields
    /// are its documented schema.
    pub fn record(&self, record: &impl Serialize) -> Result<(), PrintError> {
        self.record_as(record_of(record), self.format(Format::Json))
    }

    /// Prints a record meant to be pasted into code: JSON unless --format says otherwise.
    pub fn paste(&self, record: &impl Serialize) -> Result<(), PrintError> {
        self.record_as(record_of(record), self.requested.unwrap_or(Format::Json))
    }

    fn record_as(&self, record: Record, format: Format) -> Result<(), PrintError> {
        let text = match format {
            Format::Json => json(&scrubbed(&Value::Object(record))),
            Format::Jsonl => json_line(&scrubbed(&Value::Object(record))),
            Format::Table => key_value_table(terminal_width(), flatten(&record)),
            Format::Csv => {
                let (header, row): (Vec<String>, Vec<String>) =
                    flatten(&record).into_iter().unzip();
                let columns: Vec<&str> = header.iter().map(String::as_str).collect();
                return self.rows(&columns, [row]);
            }
        };
        self.write(&text)
    }

    /// Starts a list under `columns`, written to stdout as its rows come; see [`List`].
    pub fn list(&self, columns: &[&str]) -> List {
        let mut list = List::new(StdoutPipe::default(), self.format(Format::Json), columns);
        list.progress_allowed = self.shows_progress();
        list
    }

    /// Prints rows of text under `columns`, as a [`List`].
    pub fn rows<R, S>(
        &self,
        columns: &[&str],
        rows: impl IntoIterator<Item = R>,
    ) -> Result<(), PrintError>
    where
        R: AsRef<[S]>,
        S: AsRef<str>,
    {
        let mut list = self.list(columns);
        for row in rows {
            let cells: Vec<Cell> = row
                .as_ref()
                .iter()
                .map(|text| Cell::Text(text.as_ref()))
                .collect();
            list.row(&cells)?;
        }
        list.finish(None)
    }

    /// Prints records as a [`List`]: each one's values under `columns`, keeping their types.
    pub fn records(
        &self,
        columns: &[&str],
        records: impl IntoIterator<Item = impl Serialize>,
    ) -> Result<(), PrintError> {
        let mut list = self.list(columns);
        for record in records {
            list.record(&record_of(&record))?;
        }
        list.finish(None)
    }

    /// Writes a block of text (a script, a path) to stdout, scrubbed; a closed pipe is
    /// [`PrintError::Closed`].
    pub fn data(&self, text: &str) -> Result<(), PrintError> {
        self.write(&scrub::block(text))
    }

    /// Writes scrubbed text to stdout, as [`StdoutPipe`] writes a list.
    fn write(&self, text: &str) -> Result<(), PrintError> {
        let mut stdout = io::stdout().lock();
        (stdout.write_all(text.as_bytes()))
            .and_then(|()| stdout.flush())
            .map_err(PrintError::from)
    }

    /// Asks a person at the terminal to confirm, even under -q: `details` (one line each),
    /// then the question. Only `y` or `yes` confirms; anything else, or end of input, declines.
    pub fn confirm(&self, details: &[String], question: &str) -> io::Result<bool> {
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
        io::stdin().read_line(&mut answer)?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
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

    /// An error and its remedy, printed even under -q.
    pub fn error(&self, message: &str, hint: Option<&str>) {
        eprintln!("error: {}", scrub::prose(message));
        if let Some(hint) = hint {
            eprintln!("hint: {}", scrub::prose(hint));
        }
    }
}

/// A list of rows under fixed columns: the one way every command prints a list, each row
/// written as it comes, so that a list of any length prints in flat memory. One JSON shape:
/// `--format json` is one array, written element by element (a list made
/// [`List::with_summary`] is the object `{"<name>": [rows…], "summary": {…}}`); `jsonl` is
/// one object per line (and the summary a last `{"summary": {…}}` line); CSV is a header and a
/// line per row. Every object has the list's columns in order, numbers as numbers, absent as
/// null, and every cell is scrubbed as it goes. Only a table, whose widths need every row, is
/// held until [`List::finish`].
pub struct List<W: Write = StdoutPipe> {
    out: W,
    format: Format,
    columns: Vec<String>,
    /// `"column":`, ready for JSON.
    keys: Vec<String>,
    /// The JSON name of the rows beside a summary.
    summary_name: Option<String>,
    /// Whether the opening (CSV header, JSON bracket) is written.
    started: bool,
    rows: u64,
    /// A CSV line being put together.
    line: Vec<u8>,
    /// The rows of a table, drawn at the end.
    held: Vec<Vec<String>>,
    /// Rows come at the pace of the network: each goes out at once.
    live: bool,
    progress_allowed: bool,
    progress: Option<indicatif::ProgressBar>,
}

/// One value of a row.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Text: scrubbed, and a string in JSON.
    Text(&'a str),
    /// A number already formatted by us, bare in JSON.
    Number(&'a str),
    /// Any other JSON value (null, a boolean, a number, a nested one): as it is in JSON,
    /// plain in tables and CSV.
    Json(&'a Value),
}

impl<'a> Cell<'a> {
    fn of(value: &'a Value) -> Cell<'a> {
        match value {
            Value::String(text) => Cell::Text(text),
            other => Cell::Json(other),
        }
    }

    /// As a table shows it.
    fn shown(self) -> String {
        match self {
            Cell::Text(text) => scrub::value(text),
            Cell::Number(number) => number.to_owned(),
            Cell::Json(value) => plain(value),
        }
    }
}

impl<W: Write> List<W> {
    fn new(out: W, format: Format, columns: &[&str]) -> Self {
        List {
            out,
            format,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            keys: columns.iter().map(|c| json_string(c) + ":").collect(),
            summary_name: None,
            started: false,
            rows: 0,
            line: Vec::new(),
            held: Vec::new(),
            live: false,
            progress_allowed: false,
            progress: None,
        }
    }

    /// A list that ends with a summary (given to [`List::finish`]); in JSON its rows are
    /// under `name`.
    pub fn with_summary(mut self, name: &str) -> Self {
        self.summary_name = Some(name.to_owned());
        self
    }

    /// A list whose rows come at the pace of the network (a batch of queries that a script
    /// follows): each is written and flushed the moment it comes, and with `expected` rows and
    /// a person watching stderr (no -q), a progress bar counts them there.
    pub fn live(mut self, expected: Option<u64>) -> Self {
        self.live = true;
        if self.progress_allowed {
            self.progress = Some(progress_bar(expected));
        }
        self
    }

    /// Writes one row: a value per column.
    pub fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), PrintError> {
        self.start()?;
        // One look at the loaded keys per row, so that short plain cells need no copy.
        let shortest_key = shortest_loaded();
        let first = self.rows == 0;
        self.rows += 1;
        let out = &mut self.out;
        let written = match self.format {
            Format::Csv => {
                csv_line(&mut self.line, cells, shortest_key);
                out.write_all(&self.line)
            }
            Format::Json => out
                .write_all(if first { b"\n" } else { b",\n" })
                .and_then(|()| json_object(out, &self.keys, cells, shortest_key)),
            Format::Jsonl => json_object(out, &self.keys, cells, shortest_key)
                .and_then(|()| out.write_all(b"\n")),
            Format::Table => {
                self.held
                    .push(cells.iter().map(|cell| cell.shown()).collect());
                Ok(())
            }
        };
        written.map_err(PrintError::from)?;
        if self.live {
            self.flush()?;
            if let Some(bar) = &self.progress {
                bar.inc(1);
            }
        }
        Ok(())
    }

    /// Writes a record's values under the list's columns (a missing one null).
    pub fn record(&mut self, record: &Record) -> Result<(), PrintError> {
        static NULL: Value = Value::Null;
        let cells: Vec<Cell> = (self.columns.iter())
            .map(|column| Cell::of(record.get(column).unwrap_or(&NULL)))
            .collect();
        self.row(&cells)
    }

    /// Ends the list: closes the JSON (with the summary of a list made
    /// [`List::with_summary`]), or draws the table, and takes any progress bar away.
    pub fn finish(mut self, summary: Option<&Record>) -> Result<(), PrintError> {
        self.end(summary)
    }

    fn start(&mut self) -> Result<(), PrintError> {
        if std::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        let opening = match (self.format, &self.summary_name) {
            (Format::Csv, _) => {
                let header: Vec<Cell> = self.columns.iter().map(|c| Cell::Text(c)).collect();
                csv_line(&mut self.line, &header, shortest_loaded());
                &self.line[..]
            }
            (Format::Json, None) => b"[",
            (Format::Json, Some(name)) => &format!("{{{}:[", json_string(name)).into_bytes(),
            (Format::Jsonl | Format::Table, _) => b"",
        };
        self.out.write_all(opening).map_err(PrintError::from)
    }

    fn end(&mut self, summary: Option<&Record>) -> Result<(), PrintError> {
        debug_assert!(summary.is_none() || self.summary_name.is_some());
        self.start()?;
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        let summary = summary.map(|s| scrubbed(&Value::Object(s.clone())));
        let ending = match self.format {
            Format::Json => {
                let mut ending = String::from(if self.rows > 0 { "\n]" } else { "]" });
                if self.summary_name.is_some() {
                    ending.push_str(",\"summary\":");
                    ending.push_str(&serde_json::to_string(&summary).expect("JSON serializes"));
                    ending.push('}');
                }
                ending + "\n"
            }
            Format::Jsonl => summary
                .map(|summary| json_line(&serde_json::json!({ "summary": summary })))
                .unwrap_or_default(),
            Format::Csv => String::new(),
            Format::Table => table(
                terminal_width(),
                Some(self.columns.clone()),
                std::mem::take(&mut self.held),
            ),
        };
        self.out
            .write_all(ending.as_bytes())
            .map_err(PrintError::from)?;
        self.flush()
    }

    /// Everything written so far goes out, with any progress bar off the terminal meanwhile.
    fn flush(&mut self) -> Result<(), PrintError> {
        let out = &mut self.out;
        match &self.progress {
            Some(bar) => bar.suspend(|| out.flush()),
            None => out.flush(),
        }
        .map_err(PrintError::from)
    }
}

fn progress_bar(expected: Option<u64>) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(expected, indicatif::ProgressDrawTarget::stderr());
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
}

/// Standard output for a list: bytes gather in a block, and a long list's full blocks go to
/// a thread of its own, so that the system calls that copy them out overlap with making the
/// next rows; a few blocks in flight keep memory flat. A short list never starts the thread.
#[derive(Default)]
pub struct StdoutPipe {
    block: Vec<u8>,
    writer: Option<Writer>,
}

struct Writer {
    full: std::sync::mpsc::SyncSender<Vec<u8>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

const PIPE_BLOCK: usize = 1 << 18;

impl Writer {
    fn start() -> Writer {
        let (full, blocks) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (spare, empty) = std::sync::mpsc::sync_channel(4);
        let thread = std::thread::spawn(move || {
            let mut stdout = io::stdout().lock();
            for mut block in blocks {
                stdout.write_all(&block)?;
                block.clear();
                // The maker may be gone or have blocks enough; either way this one can go.
                let _ = spare.try_send(block);
            }
            stdout.flush()
        });
        Writer {
            full,
            empty,
            thread,
        }
    }
}

impl StdoutPipe {
    /// Hands the block to the writer thread, starting it the first time.
    fn send(&mut self) -> io::Result<()> {
        let writer = self.writer.get_or_insert_with(Writer::start);
        let fresh = (writer.empty.try_recv()).unwrap_or_else(|_| Vec::with_capacity(PIPE_BLOCK));
        let block = std::mem::replace(&mut self.block, fresh);
        match writer.full.send(block) {
            Ok(()) => Ok(()),
            // The writer stopped: its error says why.
            Err(_) => self.join().and(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    /// Waits for the writer thread to write what it was given, and end.
    fn join(&mut self) -> io::Result<()> {
        let Some(Writer { full, thread, .. }) = self.writer.take() else {
            return Ok(());
        };
        // The thread ends when no more blocks can come.
        drop(full);
        thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the output thread failed")))
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

    /// Everything written so far is out when this returns.
    fn flush(&mut self) -> io::Result<()> {
        if self.writer.is_some() {
            if !self.block.is_empty() {
                self.send()?;
            }
            return self.join();
        }
        let mut stdout = io::stdout().lock();
        stdout.write_all(&self.block)?;
        self.block.clear();
        stdout.flush()
    }
}

impl Drop for StdoutPipe {
    /// A list left unfinished (an error stopped it) still gets out what it had.
    fn drop(&mut self) {
        let _ = self.flush();
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
            Cell::Json(value) => serde_json::to_writer(&mut *out, &scrubbed(value))?,
        }
    }
    out.write_all(b"}")
}

/// One CSV line of cells, in `line`: the csv crate's quoting (only where needed), written
/// here, since a row of short cells is then a few copies, which a general CSV writer's
/// per-field state machine is not.
fn csv_line(line: &mut Vec<u8>, cells: &[Cell<'_>], shortest_key: usize) {
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
            Cell::Text(text) => csv_field(line, &scrub::csv_cell(text)),
            Cell::Json(value) => csv_field(line, &scrub::csv_cell(&plain(value))),
        }
    }
    line.push(b'\n');
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

/// One CSV field, quoted as the csv crate quotes (a delimiter, quote or line end inside).
fn csv_field(out: &mut Vec<u8>, text: &str) {
    if !text
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        return out.extend_from_slice(text.as_bytes());
    }
    out.push(b'"');
    out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
    out.push(b'"');
}

/// Lays out a table `width` columns wide at most (see [`terminal_width`]), unwrapped when
/// there is no width (a pseudo-terminal of 0 columns, under `script` or `docker -t`,
/// would otherwise squeeze every column to one character). Free text wraps at its words, and
/// no column is narrower than its longest word, so that identifiers, amounts, signs and XML
/// replies stay whole to be copied. Rows whose words cannot stand side by side in that width
/// are shown one by one instead, each as a table of column and value.
fn table(width: Option<u16>, header: Option<Vec<String>>, rows: Vec<Vec<String>>) -> String {
    // In bytes, never less than a terminal's width of the word, so that no word is split.
    let longest_word = |text: &String| text.split_whitespace().map(str::len).max();
    let columns = header.as_ref().or(rows.first()).map_or(0, Vec::len);
    let longest: Vec<usize> = (0..columns)
        .map(|index| {
            (header.iter().chain(&rows))
                .filter_map(|row| row.get(index).and_then(longest_word))
                .max()
                .unwrap_or(0)
        })
        .collect();
    // A space either side of each column, a border after it, and one before the first.
    let needed = longest.iter().map(|longest| longest + 3).sum::<usize>() + 1;
    if let Some(header) = header.as_ref().filter(|header| header.len() > 2)
        && width.is_some_and(|width| needed > usize::from(width))
    {
        // Each row on its own, without its empty cells.
        let card = |row: Vec<String>| {
            header
                .iter()
                .cloned()
                .zip(row)
                .filter(|(_, v)| !v.is_empty())
        };
        return rows
            .into_iter()
            .map(|row| key_value_table(width, card(row)))
            .collect();
    }
    let mut table = Table::new();
    table.load_style(if utf8_locale() {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_FULL_CONDENSED
    });
    match width {
        Some(width) => table
            .set_width(width)
            .set_content_arrangement(ContentArrangement::Dynamic),
        None => table.set_content_arrangement(ContentArrangement::Disabled),
    };
    if let Some(header) = header {
        table.set_header(header);
    }
    table.add_rows(rows);
    for (column, longest) in table.column_iter_mut().zip(longest) {
        // The constraint counts the cell's padding, one space on each side.
        let width = u16::try_from(longest + 2).unwrap_or(u16::MAX);
        column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(width)));
    }
    format!("{table}\n")
}

/// A table of two columns, names and values.
fn key_value_table(
    width: Option<u16>,
    pairs: impl IntoIterator<Item = (String, String)>,
) -> String {
    let rows = pairs.into_iter().map(|(key, value)| vec![key, value]);
    table(width, None, rows.collect())
}

/// `COLUMNS` when set to a width, else the terminal's own width; none when neither is known.
pub fn terminal_width() -> Option<u16> {
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
    let mut list = List::new(Vec::new(), format, columns);
    let written: Result<(), PrintError> = records.iter().try_for_each(|r| list.record(r));
    written
        .and_then(|()| list.end(None))
        .expect("writing to memory cannot fail");
    String::from_utf8(list.out).expect("scrubbed UTF-8 is UTF-8")
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

fn json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialize");
    text.push('\n');
    text
}

fn json_line(value: &Value) -> String {
    let mut text = serde_json::to_string(value).expect("JSON values always serialize");
    text.push('\n');
    text
}

/// A rate as people read it: whole units a second (`234/s`), one decimal below 10 (`2.5/s`).
fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second <= 0.0 {
        "0/s".to_owned()
    } else if per_second < 9.95 {
        format!("{per_second:.1}/s")
    } else {
        format!("{per_second:.0}/s")
    }
}

/// Flattens nested objects to `outer.inner`; arrays become one line per element.
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
            csv_field(&mut ours, &scrub::csv_cell(text));
            ours.push(b'\n');
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer
                .write_record([scrub::csv_cell(text), "x".into()])
                .unwrap();
            let theirs = String::from_utf8(writer.into_inner().unwrap()).unwrap();
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
    fn tables_fit_their_width_and_never_split_a_word() {
        let header: Vec<String> = ["category", "out_trade_no", "amount", "note"]
            .map(String::from)
            .into();
        let rows: Vec<Vec<String>> = (0..4)
            .map(|i| {
                let note = "a note of free text that wraps at its spaces ".repeat(i);
                vec![
                    "missing_in_export".into(),
                    format!("SYN2026112000000000{i:02}"),
                    format!("{i}.00"),
                    note,
                ]
            })
            .collect();
        for width in 40..=140 {
            let text = table(Some(width), Some(header.clone()), rows.clone());
            for line in text.lines() {
                assert!(
                    line.chars().count() <= usize::from(width),
                    "{width}:\n{text}"
                );
            }
            assert!(text.contains("SYN202611200000000003"), "{width}:\n{text}");
        }
        let note = rows[3][3].trim().to_owned();
        assert!(table(None, Some(header), rows).contains(&note), "unwrapped");
    }

    fn listed(format: Format, summary: Option<&str>) -> String {
        let mut list = List::new(Vec::new(), format, &["no", "fen", "note"]);
        if let Some(name) = summary {
            list = list.with_summary(name);
        }
        let row = json!({"no": "A1", "fen": 1800, "note": "x,y"});
        list.record(row.as_object().unwrap()).unwrap();
        list.row(&[
            Cell::Text("=1"),
            Cell::Number("-5"),
            Cell::Json(&Value::Null),
        ])
        .unwrap();
        let total = json!({"rows": 2});
        list.end(summary.and(total.as_object())).unwrap();
        String::from_utf8(list.out).unwrap()
    }

    #[test]
    fn a_list_has_one_shape_in_each_format() {
        let rows = json!([
            {"no": "A1", "fen": 1800, "note": "x,y"},
            {"no": "=1", "fen": -5, "note": null}
        ]);
        let json: Value = serde_json::from_str(&listed(Format::Json, None)).unwrap();
        assert_eq!(json, rows);
        let json: Value = serde_json::from_str(&listed(Format::Json, Some("records"))).unwrap();
        assert_eq!(json, json!({"records": rows, "summary": {"rows": 2}}));
        let lines: Vec<Value> = (listed(Format::Jsonl, Some("records")).lines())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines[..2], rows.as_array().unwrap()[..]);
        assert_eq!(lines[2], json!({"summary": {"rows": 2}}));
        assert_eq!(
            listed(Format::Csv, None),
            "no,fen,note\nA1,1800,\"x,y\"\n'=1,-5,\n"
        );
        let table = listed(Format::Table, None);
        assert!(table.contains("A1") && !table.contains("'=1"), "{table}");
    }

    /// A reader that went away, or a full disk.
    struct Refusing(io::ErrorKind);

    impl Write for Refusing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(self.0.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(self.0.into())
        }
    }

    #[test]
    fn a_closed_stdout_is_told_apart_from_other_write_errors() {
        let written = |kind| {
            let mut list = List::new(Refusing(kind), Format::Jsonl, &["a"]);
            list.row(&[Cell::Text("x")])
        };
        assert!(matches!(
            written(io::ErrorKind::BrokenPipe),
            Err(PrintError::Closed)
        ));
        assert!(matches!(
            written(io::ErrorKind::StorageFull),
            Err(PrintError::Write(e)) if e.kind() == io::ErrorKind::StorageFull
        ));
    }

    #[test]
    fn an_empty_list_is_still_a_document() {
        let empty = |format, summary: Option<&str>| {
            let mut list = List::new(Vec::new(), format, &["a"]);
            if let Some(name) = summary {
                list = list.with_summary(name);
            }
            list.end(None).unwrap();
            String::from_utf8(list.out).unwrap()
        };
        assert_eq!(empty(Format::Json, None), "[]\n");
        assert_eq!(
            empty(Format::Json, Some("records")),
            "{\"records\":[],\"summary\":null}\n"
        );
        assert_eq!(empty(Format::Jsonl, None), "");
        assert_eq!(empty(Format::Csv, None), "a\n");
    }
}
