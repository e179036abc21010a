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
        let text = match self.format(Format::Json) {
            Format::Json => {
                let array: Vec<Value> = rows
                    .iter()
                    .map(|row| {
                        Value::Object(
                            columns
                                .iter()
                                .zip(row)
                                .map(|(c, v)| (c.to_string(), Value::String(scrub::value(v))))
                                .collect(),
                        )
                    })
                    .collect();
                json(&array)
            }
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
    let longest_words: Vec<usize> = (0..table.column_count())
        .map(|index| {
            table
                .column_cells_iter(index)
                .flatten()
                .flat_map(|cell| {
                    cell.content()
                        .split_whitespace()
                        .map(str::len)
                        .collect::<Vec<_>>()
                })
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

fn csv_text(header: &[String], rows: &[Vec<String>]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let written = std::iter::once(header)
        .chain(rows.iter().map(Vec::as_slice))
        .try_for_each(|row| writer.write_record(row.iter().map(|cell| scrub::csv_cell(cell))));
    written.expect("writing CSV to memory cannot fail");
    let bytes = writer.into_inner().expect("flushing to memory cannot fail");
    String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8")
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
    fn csv_quotes_what_needs_quoting() {
        let text = csv_text(&["a".into(), "b".into()], &[vec!["x,y".into(), "z".into()]]);
        assert_eq!(text, "a,b\n\"x,y\",z\n");
    }
}
