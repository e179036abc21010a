//! The one printer: data to stdout as table, JSON or CSV; status and warnings to stderr.

use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Map, Value};

use super::failure::Failure;

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
            Format::Json => json(record),
            Format::Table => {
                let mut table = new_table();
                for (key, value) in flatten(record) {
                    table.add_row(vec![key, value]);
                }
                format!("{table}\n")
            }
            Format::Csv => {
                let (header, row): (Vec<_>, Vec<_>) = flatten(record).into_iter().unzip();
                csv_text(&header, &[row])
            }
        };
        self.data(&text)
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
                                .map(|(c, v)| (c.to_string(), Value::String(v.clone())))
                                .collect(),
                        )
                    })
                    .collect();
                json(&array)
            }
            Format::Table => {
                let mut table = new_table();
                table.set_header(columns.to_vec());
                for row in rows {
                    table.add_row(row.clone());
                }
                format!("{table}\n")
            }
            Format::Csv => {
                let header: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
                csv_text(&header, rows)
            }
        };
        self.data(&text)
    }

    /// Writes text to stdout as is; a closed pipe ends the program quietly.
    pub fn data(&self, text: &str) -> Result<(), Failure> {
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
            eprintln!("{message}");
        }
    }

    pub fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
    }
}

fn new_table() -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table
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
        .try_for_each(|row| writer.write_record(row));
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
        Value::String(s) => s.clone(),
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
