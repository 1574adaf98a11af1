//! A small reader for Netdata's INI dialect.
//!
//! `[section]` headers, `key = value` lines split at the first `=` (keys may
//! contain spaces, e.g. `ebpf load mode`), `#` or `;` comment lines, blank
//! lines. Keys and section names are case-sensitive, as in Netdata. Inline
//! comments do not exist: `# ...` after a value is part of the value.
//!
//! Line numbers are kept so every later finding can point at its line.
//! Damaged input (invalid UTF-8, over-long lines, lines without `=`) costs
//! only the damaged line.

use std::path::Path;

use crate::{Diagnostic, Severity};

/// Longest line accepted, in bytes: Netdata's reader buffer
/// (`CONFIG_FILE_LINE_MAX`) would split a longer line into garbage.
const MAX_LINE: usize = 4096;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// 1-based.
    pub line: usize,
}

/// One `[name]` header and the entries under it, up to the next header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// 1-based line of the header.
    pub line: usize,
    pub entries: Vec<Entry>,
}

/// A parsed document; a section name may occur in several [`Section`]s when
/// its header is repeated, and they merge as in Netdata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    pub sections: Vec<Section>,
}

impl Document {
    /// The entry that applies for `key` in `section`: the last one, as a later
    /// duplicate overrides an earlier one.
    pub fn get(&self, section: &str, key: &str) -> Option<&Entry> {
        self.sections
            .iter()
            .filter(|s| s.name == section)
            .flat_map(|s| &s.entries)
            .rfind(|e| e.key == key)
    }

    /// Every entry of `section`, in file order, across repeated headers.
    pub fn entries<'a>(&'a self, section: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.sections
            .iter()
            .filter(move |s| s.name == section)
            .flat_map(|s| s.entries.iter())
    }
}

/// Parses one document. `file` only labels the diagnostics.
pub fn parse(file: &Path, bytes: &[u8]) -> (Document, Vec<Diagnostic>) {
    let mut doc = Document::default();
    let mut diags = Vec::new();
    let mut report = |severity, line, message: String| {
        diags.push(Diagnostic {
            severity,
            file: file.to_path_buf(),
            line: Some(line),
            message: printable(message),
        })
    };

    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // A final newline does not start another line.
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.is_empty() {
        return (doc, diags);
    }
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > MAX_LINE {
            report(
                Severity::Error,
                line,
                format!(
                    "line too long ({} bytes, limit {MAX_LINE}); line skipped",
                    raw.len()
                ),
            );
            continue;
        }
        let trimmed = raw.trim_ascii();
        // Comments may hold any bytes (e.g. a Latin-1 note): they never matter.
        if trimmed.is_empty() || trimmed[0] == b'#' || trimmed[0] == b';' {
            continue;
        }
        let Ok(text) = std::str::from_utf8(trimmed) else {
            report(
                Severity::Error,
                line,
                format!(
                    "not valid UTF-8 (`{}`); line skipped",
                    String::from_utf8_lossy(trimmed)
                ),
            );
            continue;
        };

        if let Some(header) = text.strip_prefix('[') {
            // Netdata accepts a header without `]`; so do we, but say so.
            let name = match header.strip_suffix(']') {
                Some(name) => name,
                None => {
                    report(
                        Severity::Warning,
                        line,
                        format!("section header `{text}` lacks the closing `]`"),
                    );
                    header
                }
            };
            doc.sections.push(Section {
                name: name.trim().to_owned(),
                line,
                entries: Vec::new(),
            });
            continue;
        }

        let Some((key, value)) = text.split_once('=') else {
            report(
                Severity::Error,
                line,
                format!("`{text}` is neither `[section]` nor `key = value`; line skipped"),
            );
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            report(
                Severity::Error,
                line,
                format!("`{text}` has no key before `=`; line skipped"),
            );
            continue;
        }
        let Some(name) = doc.sections.last().map(|s| s.name.clone()) else {
            report(
                Severity::Warning,
                line,
                format!("`{key}` is outside any [section] (ignored)"),
            );
            continue;
        };
        if let Some(earlier) = doc.get(&name, key) {
            report(
                Severity::Warning,
                line,
                format!(
                    "[{name}] `{key}` repeats line {}; this later value wins",
                    earlier.line
                ),
            );
        }
        if let Some(section) = doc.sections.last_mut() {
            section.entries.push(Entry {
                key: key.to_owned(),
                value: value.to_owned(),
                line,
            });
        }
    }
    (doc, diags)
}

/// `message` with control characters escaped: messages quote file text, and
/// a stray escape sequence or NUL must not reach a log or a terminal.
pub(crate) fn printable(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (Document, Vec<Diagnostic>) {
        parse(Path::new("/x.conf"), text.as_bytes())
    }

    #[test]
    fn keys_with_spaces_split_at_first_equals() {
        let (doc, diags) = parse_str("[global]\n  ebpf load mode =  entry \n ips = a=b\n");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(doc.get("global", "ebpf load mode").unwrap().value, "entry");
        let ips = doc.get("global", "ips").unwrap();
        assert_eq!((ips.value.as_str(), ips.line), ("a=b", 3));
    }

    #[test]
    fn comments_blank_lines_crlf_and_bom() {
        let (doc, diags) = parse_str("\u{feff}# c\r\n; c\r\n\r\n[ s ]\r\nk = v\r\n  # k = w\r\n");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].name, "s");
        assert_eq!(doc.sections[0].line, 4);
        assert_eq!(doc.get("s", "k").unwrap().value, "v");
    }

    #[test]
    fn keys_are_case_sensitive() {
        let (doc, _) = parse_str("[g]\nApps = no\n");
        assert!(doc.get("g", "apps").is_none());
        assert!(doc.get("g", "Apps").is_some());
    }

    #[test]
    fn repeated_sections_merge_and_later_duplicate_wins() {
        let (doc, diags) = parse_str("[g]\na = 1\n[h]\n[g]\na = 2\n");
        assert_eq!(doc.get("g", "a").unwrap().value, "2");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].severity, Severity::Warning);
        assert_eq!(diags[0].line, Some(5));
        assert!(diags[0].message.contains("line 2"), "{}", diags[0].message);
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let long = format!("[g]\nk = {}\nok = 1\n", "x".repeat(MAX_LINE));
        let (doc, diags) = parse_str(&long);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].line, Some(2));
        assert!(diags[0].message.contains("line too long"));
        assert_eq!(doc.get("g", "ok").unwrap().value, "1");

        let (doc, diags) = parse(
            Path::new("/x"),
            b"[g]\nk = \xff\xfe\n# \xe9t\xe9\nnothing\n= v\nj = 2",
        );
        let lines: Vec<_> = diags.iter().map(|d| (d.severity, d.line)).collect();
        assert_eq!(
            lines,
            [
                (Severity::Error, Some(2)),
                (Severity::Error, Some(4)),
                (Severity::Error, Some(5))
            ]
        );
        assert!(doc.get("g", "k").is_none());
        assert_eq!(doc.get("g", "j").unwrap().value, "2");

        let (_, diags) = parse(Path::new("/x"), b"\x1b[2J\0\x07");
        assert_eq!(
            diags[0].message,
            "`\\u{1b}[2J\\u{0}\\u{7}` is neither `[section]` nor `key = value`; line skipped"
        );
        assert_eq!(printable("a\tb\u{1b}".to_owned()), "a\\tb\\u{1b}");
    }

    #[test]
    fn entries_outside_sections_and_open_headers_warn() {
        let (doc, diags) = parse_str("k = v\n[g\nx = 1\n");
        assert_eq!(diags.len(), 2);
        assert!(diags.iter().all(|d| d.severity == Severity::Warning));
        assert_eq!(doc.get("g", "x").unwrap().value, "1");
    }

    #[test]
    fn empty_values_are_kept() {
        let (doc, diags) = parse_str("[g]\nk =\n");
        assert!(diags.is_empty());
        assert_eq!(doc.get("g", "k").unwrap().value, "");
    }
}
