//! A scratch directory per test, removed on drop; no extra crate for it.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use conf::{
    network, Config, ConfigDirs, Diagnostic, NetworkSelectors, OwnKey, OwnKind, OwnValue,
    ThreadName,
};

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "conf-test-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(path.join("ebpf.d")).expect("create scratch dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `relative` (e.g. `ebpf.d/sync.conf`) and returns its full path.
    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(relative);
        fs::write(&path, contents).expect("write scratch file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn stock_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stock")
}

pub fn dirs(list: &[&Path]) -> ConfigDirs {
    ConfigDirs::new(list.iter().map(|p| p.to_path_buf()).collect())
}

pub fn show(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("{d}\n")).collect::<String>()
}

/// Own keys of the kinds threads declare, as the tests' schema: switches
/// (sync.conf, shm.conf `[syscalls]`), booleans (filesystem.conf), and the
/// original's network.conf keys (numbers, and the selectors and port names
/// `conf::network` declares, read from ebpf.d.conf too). The collector's own schema, from its threads'
/// modules, is tested with the stock files in workers/tests/stock.rs.
pub fn own_keys(thread: ThreadName) -> Option<&'static [OwnKey]> {
    Some(match thread {
        ThreadName::Sync => SYNC,
        ThreadName::Shm => SHM,
        ThreadName::Filesystem => FILESYSTEM,
        ThreadName::Socket => NETWORK,
        _ => &[],
    })
}

const SYNC: &[OwnKey] = &[
    OwnKey::switch("syscalls", "sync", 0),
    OwnKey::switch("syscalls", "msync", 1),
    OwnKey::switch("syscalls", "fsync", 2),
    OwnKey::switch("syscalls", "fdatasync", 3),
    OwnKey::switch("syscalls", "syncfs", 4),
    OwnKey::switch("syscalls", "sync_file_range", 5),
];

const SHM: &[OwnKey] = &[
    OwnKey::switch("syscalls", "shmget", 0),
    OwnKey::switch("syscalls", "shmat", 1),
    OwnKey::switch("syscalls", "shmdt", 2),
    OwnKey::switch("syscalls", "shmctl", 3),
];

const fn flag(section: &'static str, key: &'static str, default: bool) -> OwnKey {
    OwnKey {
        section,
        key,
        kind: OwnKind::Bool { default },
        also_in_main: false,
    }
}

const FILESYSTEM: &[OwnKey] = &[
    flag("filesystem", "ext4dist", true),
    flag("filesystem", "xfsdist", true),
    flag("filesystem", "nfsdist", true),
    flag("filesystem", "zfsdist", true),
    flag("filesystem", "btrfsdist", true),
];

const NETWORK: &[OwnKey] = &[
    network::TABLE_SIZES[0],
    network::TABLE_SIZES[1],
    network::TABLE_SIZES[2],
    network::TABLE_SIZES[3],
    network::MAXIMUM_DIMENSIONS,
    network::RETIRE_DIMENSIONS_AFTER,
    network::RESOLVE_HOSTNAMES,
    network::RESOLVE_SERVICE_NAMES,
    network::PORTS,
    network::IPS,
    network::HOSTNAMES,
    network::SERVICE_NAMES,
];

/// The value of `thread`'s own key `[section] key` under `config`.
pub fn own(config: &Config, thread: ThreadName, section: &str, key: &str) -> OwnValue {
    let declared = own_keys(thread)
        .unwrap()
        .iter()
        .find(|k| k.section == section && k.key == key)
        .unwrap_or_else(|| panic!("no own key [{section}] {key} of {thread}"));
    config.thread(thread).own(declared)
}

pub fn own_bool(config: &Config, thread: ThreadName, section: &str, key: &str) -> bool {
    match own(config, thread, section, key) {
        OwnValue::Bool(value) => value,
        other => panic!("[{section}] {key} is {other:?}"),
    }
}

pub fn own_number(config: &Config, thread: ThreadName, section: &str, key: &str) -> u32 {
    match own(config, thread, section, key) {
        OwnValue::Number(value) => value,
        other => panic!("[{section}] {key} is {other:?}"),
    }
}

/// The socket thread's selectors under `config`, Netdata's port not named.
pub fn selectors(config: &Config) -> NetworkSelectors {
    NetworkSelectors::new(config.thread(ThreadName::Socket), None)
}

pub fn service_names(config: &Config) -> Vec<(u16, String)> {
    match own(config, ThreadName::Socket, "service name", "") {
        OwnValue::PortNames(names) => names.into_iter().collect(),
        other => panic!("[service name] is {other:?}"),
    }
}

/// `conf::load` with the tests' schema.
pub fn load(dirs: &ConfigDirs, default_update_every: u32) -> (Config, Vec<Diagnostic>) {
    conf::load(dirs, default_update_every, own_keys)
}
