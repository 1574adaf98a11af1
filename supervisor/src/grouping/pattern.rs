//! Netdata's simple patterns, as `[plugin:cgroups]` uses them: words
//! separated by blanks, `*` matching any text (several per word allowed),
//! `!` before a word making a match exclude; the first word that matches
//! decides, and nothing matching excludes.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    words: Vec<(bool, String)>,
}

impl Patterns {
    pub fn new(text: &str) -> Patterns {
        Patterns {
            words: text
                .split_whitespace()
                .map(|word| match word.strip_prefix('!') {
                    Some(rest) => (false, rest.to_owned()),
                    None => (true, word.to_owned()),
                })
                .filter(|(_, word)| !word.is_empty())
                .collect(),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        self.words
            .iter()
            .find(|(_, word)| glob(word, text))
            .is_some_and(|(include, _)| *include)
    }
}

/// Whether all of `text` matches `pattern`, `*` standing for any text.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the prefix was the whole pattern.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (pattern, text, want) in [
            ("*", "", true),
            ("/a", "/a", true),
            ("/a", "/ab", false),
            ("*.service", "/system.slice/x.service", true),
            ("/system.slice/*.service", "/system.slice/x.service", true),
            (
                "/system.slice/*/*.service",
                "/system.slice/x.service",
                false,
            ),
            ("/kubepods/*/pod*/*", "/kubepods/burst/pod1/c", true),
            ("a*b*a", "aba", true),
            ("a*b*a", "ab", false),
            ("*ab*ab", "abab", true),
        ] {
            assert_eq!(glob(pattern, text), want, "{pattern} {text}");
        }
    }

    #[test]
    fn first_matching_word_decides() {
        let p = Patterns::new(" !/system.slice/*/*.service  /system.slice/*.service ");
        assert!(p.matches("/system.slice/nginx.service"));
        assert!(!p.matches("/system.slice/a/b.service"));
        assert!(!p.matches("/user.slice"));
        let p = Patterns::new("!*.scope *");
        assert!(!p.matches("/a.scope") && p.matches("/a"));
    }
}
