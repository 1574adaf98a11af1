//! Where configuration files are searched, and reading them defensively.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::{Diagnostic, Services, Severity};

/// Largest file read; anything bigger is not a hand-written INI file.
const MAX_FILE: u64 = 1024 * 1024;

/// Netdata's compiled-in directories, used when nothing names others.
const DEFAULT_DIRS: [&str; 2] = ["/etc/netdata", "/usr/lib/netdata/conf.d"];

/// Where files are searched, in order; the first directory holding a given file wins, per file.
#[derive(Debug, Clone)]
pub struct ConfigDirs {
    pub dirs: Vec<PathBuf>,
    /// The services database that `ports` items written as names are
    /// looked up in ([`Services::PATH`]); tests point it elsewhere.
    pub services: PathBuf,
    /// The directories someone named, with who: the environment variable
    /// or the option.
    named: Vec<(&'static str, PathBuf)>,
}

const USER_VAR: &str = "NETDATA_USER_CONFIG_DIR";
const STOCK_VAR: &str = "NETDATA_STOCK_CONFIG_DIR";
const OPTION: &str = "--config-dir";

impl ConfigDirs {
    /// Order: `$NETDATA_USER_CONFIG_DIR` (if set and non-empty), then
    /// `$NETDATA_STOCK_CONFIG_DIR` (if set and non-empty), then `config_dir`
    /// (the `--config-dir` option). If none is given: `/etc/netdata` then
    /// `/usr/lib/netdata/conf.d`, the original's defaults.
    pub fn from_env(config_dir: Option<&Path>) -> ConfigDirs {
        from_values(
            std::env::var_os(USER_VAR),
            std::env::var_os(STOCK_VAR),
            config_dir,
        )
    }

    pub fn new(dirs: Vec<PathBuf>) -> ConfigDirs {
        ConfigDirs {
            dirs,
            services: PathBuf::from(Services::PATH),
            named: Vec::new(),
        }
    }

    /// A warning for each directory named by `$NETDATA_USER_CONFIG_DIR`,
    /// `$NETDATA_STOCK_CONFIG_DIR` or `--config-dir` that is not there (or
    /// not a directory): the files are then looked for elsewhere or the
    /// defaults used, which is surely not what was meant. Netdata's own
    /// default directories may be missing without a word.
    pub fn missing(&self) -> Vec<Diagnostic> {
        self.named
            .iter()
            .filter_map(|(who, dir)| {
                let problem = match fs::metadata(dir) {
                    Ok(meta) if meta.is_dir() => return None,
                    Ok(_) => "is not a directory",
                    Err(e) if e.kind() == ErrorKind::NotFound => "does not exist",
                    Err(e) if e.kind() == ErrorKind::NotADirectory => "does not exist",
                    // Unreadable: reading its files reports why.
                    Err(_) => return None,
                };
                Some(Diagnostic {
                    severity: Severity::Warning,
                    file: dir.clone(),
                    line: None,
                    message: format!(
                        "the configuration directory named by {who} {problem}; \
                         its files are looked for in the other directories"
                    ),
                })
            })
            .collect()
    }

    /// The first `<dir>/<relative>` that exists in any form (a dangling
    /// symlink or an unreadable file counts: it shadows later directories).
    pub fn find(&self, relative: &str) -> Option<PathBuf> {
        self.dirs
            .iter()
            .map(|dir| dir.join(relative))
            .find(|path| present(path))
    }

    /// Reads the first readable candidate, trying `names` in each directory
    /// in turn. A present but unreadable file is reported and the search goes
    /// on, as the original falls back to the next location when a file
    /// cannot be opened.
    pub(crate) fn read_first(
        &self,
        names: &[&str],
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(PathBuf, Vec<u8>)> {
        for dir in &self.dirs {
            for name in names {
                let path = dir.join(name);
                if !present(&path) {
                    continue;
                }
                match read_limited(&path) {
                    Ok(bytes) => return Some((path, bytes)),
                    Err(message) => diags.push(Diagnostic {
                        severity: Severity::Error,
                        file: path,
                        line: None,
                        message: format!("{message}; file skipped"),
                    }),
                }
            }
        }
        None
    }
}

/// The search order from the environment's values, kept apart from
/// `from_env` so it can be tested without touching the process environment.
fn from_values(
    user: Option<OsString>,
    stock: Option<OsString>,
    config_dir: Option<&Path>,
) -> ConfigDirs {
    let named: Vec<(&'static str, PathBuf)> = [(USER_VAR, user), (STOCK_VAR, stock)]
        .into_iter()
        .filter_map(|(who, dir)| Some((who, dir.filter(|d| !d.is_empty())?)))
        .map(|(who, dir)| (who, PathBuf::from(dir)))
        .chain(config_dir.map(|dir| (OPTION, dir.to_path_buf())))
        .collect();
    if named.is_empty() {
        ConfigDirs::new(DEFAULT_DIRS.iter().map(PathBuf::from).collect())
    } else {
        ConfigDirs {
            dirs: named.iter().map(|(_, dir)| dir.clone()).collect(),
            services: PathBuf::from(Services::PATH),
            named,
        }
    }
}

/// Whether anything is at `path`. A missing entry or directory is the
/// normal case and stays silent; any other failure to look (e.g. a directory
/// we may not search) counts as present so that reading reports it.
fn present(path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory),
    }
}

pub(crate) fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    // Checked before opening: opening a FIFO would block until a writer appears.
    let meta = fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.is_dir() {
        return Err("cannot read: is a directory".to_owned());
    }
    if !meta.is_file() {
        return Err("cannot read: not a regular file".to_owned());
    }
    let too_large = || format!("larger than {MAX_FILE} bytes");
    if meta.len() > MAX_FILE {
        return Err(too_large());
    }
    let file = File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    // The file may have grown since `metadata`.
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(values: &[&str]) -> Vec<PathBuf> {
        values.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn environment_order_user_stock_then_option() {
        let got = from_values(Some("/u".into()), Some("/s".into()), Some(Path::new("/c")));
        assert_eq!(got.dirs, dirs(&["/u", "/s", "/c"]));
        let got = from_values(None, Some("/s".into()), None);
        assert_eq!(got.dirs, dirs(&["/s"]));
        let got = from_values(Some("/u".into()), None, None);
        assert_eq!(got.dirs, dirs(&["/u"]));
        let got = from_values(None, None, Some(Path::new("/c")));
        assert_eq!(got.dirs, dirs(&["/c"]));
    }

    #[test]
    fn a_named_directory_that_is_not_there_is_a_warning_naming_who_named_it() {
        let here = std::env::temp_dir();
        let file = here.join(format!("conf-dirs-test-{}", std::process::id()));
        fs::write(&file, "").unwrap();
        let got = from_values(
            Some("/no/such/user".into()),
            Some(here.clone().into()),
            Some(&file),
        )
        .missing();
        fs::remove_file(&file).unwrap();
        let got: Vec<(Severity, PathBuf, Option<usize>, String)> = got
            .into_iter()
            .map(|d| (d.severity, d.file, d.line, d.message))
            .collect();
        let tail = "; its files are looked for in the other directories";
        assert_eq!(
            got,
            [
                (
                    Severity::Warning,
                    PathBuf::from("/no/such/user"),
                    None,
                    format!(
                        "the configuration directory named by NETDATA_USER_CONFIG_DIR does not exist{tail}"
                    )
                ),
                (
                    Severity::Warning,
                    file.clone(),
                    None,
                    format!("the configuration directory named by --config-dir is not a directory{tail}")
                ),
            ]
        );
        // Netdata's defaults may be missing.
        assert!(from_values(None, None, None).missing().is_empty());
        assert!(ConfigDirs::new(vec!["/no/such".into()])
            .missing()
            .is_empty());
    }

    #[test]
    fn empty_or_absent_values_fall_back_to_netdata_defaults() {
        let want = dirs(&["/etc/netdata", "/usr/lib/netdata/conf.d"]);
        assert_eq!(from_values(None, None, None).dirs, want);
        assert_eq!(
            from_values(Some("".into()), Some("".into()), None).dirs,
            want
        );
        assert_eq!(
            from_values(Some("".into()), Some("/s".into()), None).dirs,
            dirs(&["/s"])
        );
    }
}
