//! What `/proc` says about one process, read only when a process is first
//! seen or calls exec (never a full scan).

use std::io::Read;

/// At most this much of a command line is read (the original's limit).
const MAX_CMDLINE: u64 = 16384;

/// Name (`comm`) and parent of a live process, from `/proc/PID/stat`.
pub fn stat(pid: u32) -> Option<(String, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// The name sits in parentheses and may itself hold blanks and `)`.
fn parse_stat(text: &str) -> Option<(String, u32)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let ppid = text
        .get(close + 1..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((comm, ppid))
}

/// The command line with NULs as blanks; `None` when it cannot be read or
/// is empty (a kernel thread, a zombie).
pub fn cmdline(pid: u32) -> Option<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(format!("/proc/{pid}/cmdline"))
        .ok()?
        .take(MAX_CMDLINE)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.is_empty() {
        return None;
    }
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c == '\0' { ' ' } else { c })
        .collect();
    Some(text.trim_end().to_owned())
}

/// `/proc/PID/cgroup`: (controllers, path) per hierarchy; the unified
/// hierarchy's line has no controllers.
pub fn cgroups(pid: u32) -> Option<Vec<(String, String)>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    Some(
        text.lines()
            .filter_map(|line| {
                let mut fields = line.splitn(3, ':');
                let (_id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
                Some((controllers.to_owned(), path.to_owned()))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_names_may_hold_blanks_and_parentheses() {
        assert_eq!(
            parse_stat("42 (a) b)) S 7 42 42 0"),
            Some(("a) b)".to_owned(), 7))
        );
        assert_eq!(parse_stat("garbage"), None);
        let (comm, ppid) = stat(std::process::id()).unwrap();
        assert!(!comm.is_empty());
        assert_eq!(ppid, std::os::unix::process::parent_id());
    }

    #[test]
    fn this_process_has_a_command_line_and_cgroups() {
        assert!(cmdline(std::process::id())
            .unwrap()
            .contains("ebpf_collector"));
        let lines = cgroups(std::process::id()).unwrap();
        assert!(
            lines.iter().all(|(_, path)| path.starts_with('/')),
            "{lines:?}"
        );
    }
}
