//! `apps_groups.conf`: which processes form which application group, read
//! unchanged with the original's rules (spec §5), and the matching of one
//! process against them.
//!
//! A line is `group: pattern pattern ...`; words are separated by blanks
//! and `:`, `'` or `"` quote a word with blanks, a word starting with `#`
//! ends the line. A pattern is matched against the process name (`comm`):
//! `name` exactly, `name*` as a prefix, `*name` as a suffix; `*name*` is a
//! substring of the whole command line. The first pattern in file order
//! that matches wins. A group named again on a later line gets that line's
//! patterns too; a pattern given twice keeps its first group, and a line
//! whose first pattern was already given joins that pattern's group (the
//! original's lookup does both). `-` before a group name hides the group's
//! dimensions; `+` (debug) is accepted and ignored. Processes no pattern
//! matches belong to `other` (also the name of a group the file defines).
//!
//! As in the INI files, a UTF-8 byte order mark at the start is skipped and
//! a line with a NUL byte (but a comment) is an error and skipped; a quote
//! left open (the rest of the line is then one word, as the original reads
//! it) is a warning.

use std::path::{Path, PathBuf};

use crate::{Diagnostic, Severity};

/// The original truncates names and patterns here (`MAX_NAME`).
const MAX_NAME: usize = 100;
/// The kernel truncates a process name (`comm`) to this many bytes.
pub const COMM_LEN: usize = 15;
/// The catch-all group.
pub const OTHER: &str = "other";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// Its dimensions are sent with Netdata's `hidden` option.
    pub hidden: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// `name`: the process name is exactly this.
    Exact,
    /// `name*`: the process name starts with this.
    Prefix,
    /// `*name`: the process name ends with this.
    Suffix,
    /// `*name*`: the command line contains this.
    Substring,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
    pub kind: Match,
    /// Index into [`AppsGroups::groups`].
    pub group: usize,
}

/// The parsed file: groups in the order they first appear (`other` last,
/// unless the file names it), patterns in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppsGroups {
    pub groups: Vec<Group>,
    pub patterns: Vec<Pattern>,
    /// Index of the catch-all group.
    pub other: usize,
    /// The file read, if any.
    pub file: Option<PathBuf>,
}

impl Default for AppsGroups {
    /// No file: every process belongs to `other`.
    fn default() -> AppsGroups {
        AppsGroups {
            groups: vec![Group {
                name: OTHER.to_owned(),
                hidden: false,
            }],
            patterns: Vec::new(),
            other: 0,
            file: None,
        }
    }
}

impl AppsGroups {
    /// Whether some pattern needs the command line (only then is it read).
    pub fn needs_cmdline(&self) -> bool {
        self.patterns.iter().any(|p| p.kind == Match::Substring)
    }

    /// The group of the first pattern matching a process, if any. `comm`
    /// is the name from `/proc/PID/stat` (at most [`COMM_LEN`] bytes: a
    /// name the kernel cut there still matches the longer pattern it
    /// starts, which the original missed); `cmdline` is the command line
    /// with NULs as blanks, or the name when it cannot be read.
    pub fn classify(&self, comm: &str, cmdline: &str) -> Option<usize> {
        let truncated = comm.len() >= COMM_LEN;
        self.patterns
            .iter()
            .find(|p| match p.kind {
                Match::Exact => comm == p.text || (truncated && p.text.starts_with(comm)),
                Match::Prefix => {
                    comm.starts_with(&p.text) || (truncated && p.text.starts_with(comm))
                }
                Match::Suffix => comm.ends_with(&p.text),
                Match::Substring => cmdline.contains(&p.text),
            })
            .map(|p| p.group)
    }

    /// Parses the file's bytes. Never fails: a problem costs only its word
    /// or line and is reported.
    pub fn parse(file: &Path, bytes: &[u8]) -> (AppsGroups, Vec<Diagnostic>) {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut parsed = AppsGroups {
            groups: Vec::new(),
            patterns: Vec::new(),
            other: 0,
            file: Some(file.to_path_buf()),
        };
        let mut diags = Vec::new();
        let mut report = |severity, line: usize, message: String| {
            diags.push(Diagnostic {
                severity,
                file: file.to_path_buf(),
                line: Some(line),
                message: crate::ini::printable(message),
            })
        };
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            if raw.contains(&0) && !raw.trim_ascii_start().starts_with(b"#") {
                let text = String::from_utf8_lossy(raw);
                let message = format!("a NUL byte in `{}`; line skipped", text.trim());
                report(Severity::Error, line, message);
                continue;
            }
            let text = String::from_utf8_lossy(raw);
            let (words, open) = words(&text);
            let Some((name, patterns)) = words.split_first() else {
                continue;
            };
            if name.starts_with('#') {
                continue;
            }
            if let Some(quote) = open {
                report(
                    Severity::Warning,
                    line,
                    format!(
                        "`{}` has an unbalanced `{quote}`: the rest of the line after it is one word",
                        text.trim()
                    ),
                );
            }
            let mut group = None;
            for word in patterns {
                if word.starts_with('#') {
                    break;
                }
                match parsed.add(name, word, group) {
                    Ok(g) => group = Some(g),
                    Err(message) => report(Severity::Warning, line, message),
                }
            }
        }
        parsed.other = parsed.group_named(OTHER, false);
        (parsed, diags)
    }

    /// Adds one pattern word of group `name`'s line; `group` is the group
    /// the line's earlier words went to. Returns the group it joined.
    fn add(&mut self, name: &str, word: &str, group: Option<usize>) -> Result<usize, String> {
        let flags = word.len() - word.trim_start_matches(['-', '+', '*']).len();
        let (prefix, rest) = word.split_at(flags);
        let suffix_mode = prefix.contains('*');
        let hidden = prefix.contains('-');
        let (text, prefix_mode) = match rest.strip_suffix('*') {
            Some(text) => (text, true),
            None => (rest, false),
        };
        let kind = match (suffix_mode, prefix_mode) {
            (false, false) => Match::Exact,
            (false, true) => Match::Prefix,
            (true, false) => Match::Suffix,
            (true, true) => Match::Substring,
        };
        if text.is_empty() {
            return Err(format!(
                "group `{name}`: pattern `{word}` matches nothing; ignored"
            ));
        }
        if text.len() > MAX_NAME {
            return Err(format!(
                "group `{name}`: pattern `{word}` is longer than {MAX_NAME} bytes; ignored"
            ));
        }
        if let Some(existing) = self
            .patterns
            .iter()
            .find(|p| p.text == text && p.kind == kind)
        {
            return Ok(existing.group);
        }
        let group = match group {
            Some(group) => group,
            None => self.group_named(name, hidden),
        };
        self.patterns.push(Pattern {
            text: text.to_owned(),
            kind,
            group,
        });
        Ok(group)
    }

    /// The group called `name` (a leading `-` hides it), created if new.
    fn group_named(&mut self, name: &str, hidden: bool) -> usize {
        let bare = name.trim_start_matches('-');
        let hidden = hidden || bare.len() != name.len();
        let bare: String = bare.chars().take(MAX_NAME).collect();
        if let Some(found) = self.groups.iter().position(|g| g.name == bare) {
            return found;
        }
        self.groups.push(Group { name: bare, hidden });
        self.groups.len() - 1
    }
}

/// Splits a line like the original's reader: blanks, TABs and `:` separate
/// words; `'` and `"` quote (the quotes are dropped). Also returns the
/// quote left open at the end of the line, if any.
fn words(line: &str) -> (Vec<String>, Option<char>) {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut quote = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                started = true;
            }
            None if c == ' ' || c == '\t' || c == ':' || c == '\r' => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            None => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words.retain(|w| !w.is_empty());
    (words, quote)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (AppsGroups, Vec<Diagnostic>) {
        AppsGroups::parse(Path::new("/apps_groups.conf"), text.as_bytes())
    }

    fn group_of(groups: &AppsGroups, comm: &str, cmdline: &str) -> String {
        let g = groups.classify(comm, cmdline).unwrap_or(groups.other);
        groups.groups[g].name.clone()
    }

    #[test]
    fn words_split_on_blanks_and_colons_and_keep_quoted_blanks() {
        assert_eq!(
            words("a: b\tc  'd e' \"f ' g\""),
            (
                ["a", "b", "c", "d e", "f ' g"].map(String::from).to_vec(),
                None
            )
        );
        assert_eq!(
            words("aws-s3: '*aws s3*' s3cmd").0,
            ["aws-s3", "*aws s3*", "s3cmd"]
        );
        assert!(words("   ").0.is_empty());
        assert_eq!(words("a: 'b c: d").0, ["a", "b c: d"]);
        assert_eq!(words("a: 'b c: d").1, Some('\''));
    }

    #[test]
    fn the_four_match_kinds_and_first_match_wins() {
        let (g, diags) =
            parse("web: nginx* *httpd\nsql: mysqld\nscripts: *backup.sh*\nall: nginx-debug\n");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(group_of(&g, "nginx-debug", ""), "web");
        assert_eq!(group_of(&g, "lighthttpd", ""), "web");
        assert_eq!(group_of(&g, "mysqld", ""), "sql");
        assert_eq!(group_of(&g, "mysqld_safe", ""), "other");
        assert_eq!(
            group_of(&g, "sh", "/bin/sh /opt/backup.sh --full"),
            "scripts"
        );
        assert_eq!(group_of(&g, "sh", "/bin/sh"), "other");
        assert!(g.needs_cmdline());
        assert_eq!(g.groups.last().unwrap().name, "other");
    }

    #[test]
    fn groups_named_again_gather_patterns_and_duplicates_keep_their_first_group() {
        let (g, _) = parse("build: cc1 make\nnet: curl\nbuild: cargo\nnet2: make wget\n");
        assert_eq!(group_of(&g, "cargo", ""), "build");
        // `make` is build's; net2's line started with it, so wget joins build too.
        assert_eq!(group_of(&g, "wget", ""), "build");
        let names: Vec<&str> = g.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["build", "net", "other"]);
    }

    #[test]
    fn hidden_groups_comments_and_a_file_named_other() {
        let (g, diags) = parse("# header\n-secret: +gpg-agent # trailing\nother: leftover\nx: *\n");
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(diags[0].message.contains("matches nothing"));
        assert_eq!(diags[0].line, Some(4));
        assert_eq!(group_of(&g, "gpg-agent", ""), "secret");
        assert!(g.groups[0].hidden);
        assert_eq!(group_of(&g, "leftover", ""), "other");
        assert_eq!(g.groups[g.other].name, "other");
        assert_eq!(g.groups.len(), 2, "other is the file's own group");
        assert!(g.patterns.iter().all(|p| p.text != "trailing"));
    }

    #[test]
    fn names_cut_by_the_kernel_still_match() {
        let (g, _) = parse("db: clickhouse-server* postgres-exporter\n");
        assert_eq!(group_of(&g, "clickhouse-serv", ""), "db");
        assert_eq!(group_of(&g, "postgres-export", ""), "db");
        assert_eq!(group_of(&g, "postgres", ""), "other");
    }
}
