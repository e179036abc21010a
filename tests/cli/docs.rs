//! The documentation cannot drift from the command line.
//!
//! - Every `wxpay-ops …` command line in the docs' code (README.md, DEVELOPMENT.md, docs/*.md:
//!   fenced blocks and inline code) goes through the real clap parser, and every `--flag` that
//!   inline code names must be a flag of some command.
//! - The man pages under `man/` are what clap_mangen makes of the clap definition. Regenerate
//!   them with `WXPAY_OPS_WRITE_MAN=1 cargo test --locked --test cli docs::man` (DEVELOPMENT.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The documents whose code is checked.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("DEVELOPMENT.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("docs/ is readable").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// A piece of code from a document: its first line, and whether it is a fenced block.
struct Code {
    line: usize,
    text: String,
    block: bool,
}

/// Fenced blocks (one per line, `\` continuations joined) and inline code spans.
fn code_of(markdown: &str) -> Vec<Code> {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    let mut pending: Option<Code> = None;
    for (index, line) in markdown.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_start();
        if let Some(marker) = &fence {
            if trimmed.starts_with(marker.as_str()) {
                fence = None;
                if let Some(code) = pending.take() {
                    out.push(code);
                }
                continue;
            }
            let code = match pending.take() {
                Some(mut code) => {
                    code.text.push(' ');
                    code.text.push_str(line.trim());
                    code
                }
                None => Code {
                    line: number,
                    text: line.trim().to_owned(),
                    block: true,
                },
            };
            match code.text.strip_suffix('\\') {
                Some(head) => {
                    pending = Some(Code {
                        text: head.trim_end().to_owned(),
                        ..code
                    })
                }
                None => out.push(code),
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            let marker: String = trimmed
                .chars()
                .take_while(|c| *c == '`' || *c == '~')
                .collect();
            fence = Some(marker);
            continue;
        }
        // Inline code: `…` spans (double backticks too) within one line.
        let mut rest = line;
        while let Some(start) = rest.find('`') {
            let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
            let after = &rest[start + ticks..];
            let closing = "`".repeat(ticks);
            let Some(end) = after.find(&closing) else {
                break;
            };
            out.push(Code {
                line: number,
                text: after[..end].trim().to_owned(),
                block: false,
            });
            rest = &after[end + ticks..];
        }
    }
    out
}

/// The command lines in a piece of code: what follows each `wxpay-ops ` or `cargo run [-q] -- `,
/// up to the end of the shell word list (a pipe, a redirection, `;`, `&`, `)`, a comment).
fn command_lines(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    loop {
        let program = find_word(rest, "wxpay-ops ");
        let cargo = ["cargo run -- ", "cargo run -q -- "]
            .iter()
            .filter_map(|prefix| find_word(rest, prefix).map(|at| (at, prefix.len())))
            .min();
        let (at, skip) = match (program, cargo) {
            (Some(p), Some((c, len))) if c < p => (c, len),
            (Some(p), _) => (p, "wxpay-ops ".len()),
            (None, Some((c, len))) => (c, len),
            (None, None) => break,
        };
        let tail = &rest[at + skip..];
        let end = shell_end(tail);
        found.push(tail[..end].trim().to_owned());
        rest = &tail[end..];
    }
    found
}

/// Where `needle` starts as a word of its own (not inside a path such as `completions/wxpay-ops`).
fn find_word(haystack: &str, needle: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = haystack[from..].find(needle).map(|i| i + from) {
        let before = haystack[..at].chars().next_back();
        if before.is_none_or(|c| c.is_whitespace() || "`'\"(".contains(c)) {
            return Some(at);
        }
        from = at + needle.len();
    }
    None
}

/// The length of the shell words at the start of `text`, quotes respected.
fn shell_end(text: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (at, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '|' | '>' | '<' | ';' | '&' | ')' | '`' => return at,
                '#' if previous.is_whitespace() => return at,
                _ => {}
            },
        }
        previous = c;
    }
    text.len()
}

/// Shell words, simply: quotes and backslashes.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(next) = chars.next() {
                    word.get_or_insert_default().push(next);
                }
            }
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, '\\') => {
                if let Some(next) = chars.next() {
                    word.get_or_insert_default().push(next);
                }
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// A word that stands for a value rather than being one: `…`, `FILE`, `N`, `$s`, `<date>`.
fn placeholder(word: &str) -> bool {
    word.contains('…')
        || word.contains("...")
        || word.starts_with('$')
        || (word.starts_with('<') && word.ends_with('>'))
        || (!word.is_empty()
            && word.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            && word != "ALL")
}

/// Values tried in turn for a placeholder that its flag does not accept as written.
const SAMPLES: [&str; 7] = [
    "1",
    "2026-11-20",
    "20261120:1000:7",
    "1900000109",
    "1m",
    "SUCCESS",
    "x",
];

/// Parses `wxpay-ops WORDS` with the real clap definition; a placeholder that the parser
/// refuses is replaced by a value its flag accepts. Docs may leave out required flags (`…`).
fn parse(words: &[String]) -> Result<(), String> {
    // A lone `…` elides the rest of a command, or stands for the value of the flag before it.
    let mut words: Vec<String> = words
        .iter()
        .enumerate()
        .filter(|(i, w)| {
            let is_elision = *w == "…" || *w == "...";
            !is_elision
                || (*i > 0 && words[*i - 1].starts_with('-') && !words[*i - 1].contains('='))
        })
        .map(|(_, w)| w.clone())
        .collect();
    let mut tried: BTreeMap<usize, usize> = BTreeMap::new();
    loop {
        let argv = std::iter::once("wxpay-ops".to_owned()).chain(words.iter().cloned());
        let error = match wxpay_ops::cli::command().try_get_matches_from(argv) {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        match error.kind() {
            ErrorKind::MissingRequiredArgument
            | ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion => return Ok(()),
            ErrorKind::InvalidValue | ErrorKind::ValueValidation => {}
            _ => return Err(error.render().to_string()),
        }
        let Some(ContextValue::String(value)) = error.get(ContextKind::InvalidValue) else {
            return Err(error.render().to_string());
        };
        let Some(at) = words
            .iter()
            .position(|w| w == value || w.split_once('=').is_some_and(|(_, v)| v == value))
        else {
            return Err(error.render().to_string());
        };
        let original = words[at].clone();
        let attempt = tried.entry(at).or_default();
        let valid = match error.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(values)) => values.first().cloned(),
            _ => None,
        };
        let replacement = match (valid, *attempt) {
            (Some(valid), 0) => valid,
            (Some(_), _) => return Err(error.render().to_string()),
            (None, n) if n < SAMPLES.len() => SAMPLES[n].to_owned(),
            (None, _) => return Err(error.render().to_string()),
        };
        let is_placeholder = *attempt > 0 || placeholder(value);
        if !is_placeholder {
            return Err(error.render().to_string());
        }
        *attempt += 1;
        words[at] = match original.split_once('=') {
            Some((flag, _)) if flag.starts_with("--") => format!("{flag}={replacement}"),
            _ => replacement,
        };
    }
}

/// Every long flag of every command, `--help` and `--version` included.
fn all_long_flags() -> BTreeSet<String> {
    fn walk(command: &clap::Command, flags: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(long) = arg.get_long() {
                flags.insert(format!("--{long}"));
            }
            for alias in arg.get_all_aliases().unwrap_or_default() {
                flags.insert(format!("--{alias}"));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, flags);
        }
    }
    let mut command = wxpay_ops::cli::command();
    command.build();
    let mut flags = BTreeSet::from(["--help".to_owned(), "--version".to_owned()]);
    walk(&command, &mut flags);
    flags
}

/// Flags of other programs that the docs name in inline code of their own.
const OTHER_PROGRAMS_FLAGS: [&str; 3] = ["--locked", "--release", "--all-targets"];

#[test]
fn docs_name_only_commands_and_flags_that_exist() {
    let flags = all_long_flags();
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in documents() {
        let name = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        let markdown = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        for code in code_of(&markdown) {
            let text = code.text.strip_prefix("$ ").unwrap_or(&code.text);
            for line in command_lines(text) {
                checked += 1;
                if let Err(error) = parse(&split_words(&line)) {
                    let error = error.lines().next().unwrap_or_default().to_owned();
                    problems.push(format!("{name}:{}: `wxpay-ops {line}`: {error}", code.line));
                }
            }
            // A flag named on its own in prose, as `--out DIR` or `--retries`.
            if !code.block && text.starts_with("--") {
                let flag = text
                    .split(|c: char| c.is_whitespace() || c == '=')
                    .next()
                    .unwrap_or_default();
                let flag = flag.trim_end_matches([',', '.', ')', ':']);
                checked += 1;
                if !flags.contains(flag) && !OTHER_PROGRAMS_FLAGS.contains(&flag) {
                    problems.push(format!(
                        "{name}:{}: `{text}`: no command has a flag {flag}",
                        code.line
                    ));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} commands and flags found in the docs"
    );
    assert!(
        problems.is_empty(),
        "the docs name {} commands or flags that do not parse:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The drift test's own reading of a document: what it takes for commands, and what it skips.
#[test]
fn docs_checker_reads_shell_as_a_reader_would() {
    let code = code_of(
        "```sh\nwxpay-ops order query --out-trade-no 1 \\\n    --expect SUCCESS > s.json   # note\n```\n\
         Then `wxpay-ops bill download --date yesterday` or `--retries 3`; see `completions/wxpay-ops.fish`.\n\
         ```sh\nfor s in bash zsh; do cargo run -q -- completions $s > completions/wxpay-ops.$s; done\n\
         echo 'source <(wxpay-ops completions zsh)' >> ~/.zshrc\n```\n",
    );
    let lines: Vec<Vec<String>> = code.iter().map(|c| command_lines(&c.text)).collect();
    assert_eq!(
        lines,
        [
            vec!["order query --out-trade-no 1 --expect SUCCESS".to_owned()],
            vec!["bill download --date yesterday".to_owned()],
            vec![],
            vec![],
            vec!["completions $s".to_owned()],
            vec!["completions zsh".to_owned()],
        ]
    );
    let words = |line: &str| split_words(line);
    assert_eq!(parse(&words("completions $s")), Ok(()));
    assert_eq!(
        parse(&words("order query --out-trade-no … --expect STATE")),
        Ok(())
    );
    assert_eq!(parse(&words("refund create --out-trade-no 1 …")), Ok(()));
    assert_eq!(
        parse(&words("sign appid=wx1 'body=a b' \"attach=c d\"")),
        Ok(())
    );
    assert_eq!(
        parse(&words("sign verify \"my file.xml\" --explain")),
        Ok(())
    );
    assert!(parse(&words("order query --no-such-flag 1")).is_err());
    assert!(parse(&words("order frobnicate")).is_err());
    assert!(parse(&words("sign --sign-type SHA1")).is_err());
}

/// The man pages clap_mangen makes of the clap definition, one per command, by file name.
fn generated_man_pages() -> BTreeMap<String, Vec<u8>> {
    fn render(command: clap::Command, pages: &mut BTreeMap<String, Vec<u8>>) {
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            render(sub.clone(), pages);
        }
        let man = clap_mangen::Man::new(command);
        let mut page = Vec::new();
        man.render(&mut page)
            .expect("rendering to memory cannot fail");
        pages.insert(man.get_filename(), page);
    }
    // As clap_mangen::generate_to does it, in memory.
    let mut command = wxpay_ops::cli::command().disable_help_subcommand(true);
    command.build();
    let mut pages = BTreeMap::new();
    render(command, &mut pages);
    pages
}

#[test]
fn man_pages_are_generated_from_the_cli() {
    let dir = root().join("man");
    let generated = generated_man_pages();
    if std::env::var_os("WXPAY_OPS_WRITE_MAN").is_some() {
        std::fs::create_dir_all(&dir).expect("create man/");
        for entry in std::fs::read_dir(&dir).expect("read man/") {
            let path = entry.expect("read man/").path();
            if path.extension().is_some_and(|e| e == "1") {
                std::fs::remove_file(&path).expect("remove an old page");
            }
        }
        for (name, page) in &generated {
            std::fs::write(dir.join(name), page).expect("write a page");
        }
    }
    let committed: BTreeMap<String, Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|entry| entry.expect("read man/").path())
                .filter(|path| path.extension().is_some_and(|e| e == "1"))
                .map(|path| {
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read(&path).expect("read a page"))
                })
                .collect()
        })
        .unwrap_or_default();
    let names = |pages: &BTreeMap<String, Vec<u8>>| pages.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&generated),
        "man/ has other pages than the CLI makes; regenerate: \
         WXPAY_OPS_WRITE_MAN=1 cargo test --locked --test cli docs::man (DEVELOPMENT.md)"
    );
    for (name, page) in &generated {
        assert!(
            committed[name] == *page,
            "man/{name} differs from what the CLI makes; regenerate: \
             WXPAY_OPS_WRITE_MAN=1 cargo test --locked --test cli docs::man (DEVELOPMENT.md)"
        );
    }
    assert!(
        generated.contains_key("wxpay-ops.1"),
        "{:?}",
        names(&generated)
    );
    assert!(
        generated.contains_key("wxpay-ops-order-query.1"),
        "{:?}",
        names(&generated)
    );
}
