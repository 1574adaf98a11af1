//! Bad input: every problem is a diagnostic naming file and line, the
//! default is used, and nothing panics.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{dirs, load, show, stock_dir, TempDir};
use common::{own_bool, own_number, selectors, service_names};
use conf::{Config, Diagnostic, LoadMode, Severity, ThreadName};
use proptest::prelude::*;

/// (severity, file, line, message) of each diagnostic, for whole-list comparisons.
fn summary(diags: &[Diagnostic]) -> Vec<(Severity, PathBuf, Option<usize>, String)> {
    diags
        .iter()
        .map(|d| (d.severity, d.file.clone(), d.line, d.message.clone()))
        .collect()
}

fn error(
    file: &Path,
    line: Option<usize>,
    message: &str,
) -> (Severity, PathBuf, Option<usize>, String) {
    (
        Severity::Error,
        file.to_path_buf(),
        line,
        message.to_owned(),
    )
}

fn warning(file: &Path, line: usize, message: &str) -> (Severity, PathBuf, Option<usize>, String) {
    (
        Severity::Warning,
        file.to_path_buf(),
        Some(line),
        message.to_owned(),
    )
}

#[test]
fn bad_values_use_the_default_and_name_file_line_section_key() {
    let d = TempDir::new();
    let main = d.write(
        "ebpf.d.conf",
        "[global]\n\
         update every = 5\n\
         pid table size = 4194305\n\
         apps = maybe\n\
         ebpf load mode = exit\n\
         lifetime = -1\n\
         btf path =\n\
         [ebpf programs]\n\
         sync = sometimes\n",
    );
    let sync = d.write(
        "ebpf.d/sync.conf",
        "[global]\n\
         # comment\n\
         ebpf type format = new\n\
         collect pid = grandparent\n\
         update every = abc\n\
         [syscalls]\n\
         msync = 2\n",
    );
    let network = d.write(
        "ebpf.d/network.conf",
        "[global]\nudp connection table size = 0\n\
         [network connections]\nmaximum dimensions = lots\n\
         [service name]\n0 = zero\nhttp = 80\n443 =\n22 = ssh\n",
    );
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    assert_eq!(
        summary(&diags),
        [
            error(&main, Some(3), "[global] `pid table size` = `4194305`: out of range 1..=4194304; using the default 32768"),
            error(&main, Some(4), "[global] `apps` = `maybe`: not a boolean (yes/no/true/false/on/off/1/0/auto); using the default yes"),
            error(&main, Some(5), "[global] `ebpf load mode` = `exit`: not one of entry, return, dev; using the default entry"),
            warning(&main, 6, "[global] `lifetime` = `-1` has no effect: threads run until the collector stops (the original's lifetime is for threads a Netdata Function starts)"),
            error(&main, Some(7), "[global] `btf path` is empty; using the default /sys/kernel/btf"),
            error(&main, Some(9), "[ebpf programs] `sync` = `sometimes`: not a boolean (yes/no/true/false/on/off/1/0/auto); using the default yes"),
            error(&network, Some(2), "[global] `udp connection table size` = `0`: out of range 1..=4294967295; using the default 4096"),
            error(&network, Some(4), "[network connections] `maximum dimensions` = `lots`: not a non-negative integer; using the default 50"),
            error(&network, Some(6), "[service name] `0` = `zero`: the key is out of range 1..=65535; entry ignored"),
            error(&network, Some(7), "[service name] `http` = `80`: the key is not a positive integer; entry ignored"),
            error(&network, Some(8), "[service name] `443` has an empty name; entry ignored"),
            error(&sync, Some(3), "[global] `ebpf type format` = `new`: not one of auto, legacy, co-re; using the default auto"),
            warning(&sync, 4, "[global] `collect pid` = `grandparent` has no effect: per-process values are kept per process (TGID) and grouped by the supervisor"),
            error(&sync, Some(5), "[global] `update every` = `abc`: not a positive integer; using the default 5"),
            error(&sync, Some(7), "[syscalls] `msync` = `2`: not a boolean (yes/no/true/false/on/off/1/0/auto); using the default yes"),
        ],
        "{}",
        show(&diags)
    );
    assert_eq!(
        diags[13].to_string(),
        format!(
            "error: {}:5: [global] `update every` = `abc`: not a positive integer; using the default 5",
            sync.display()
        )
    );
    assert_eq!(c.global.update_every, 5);
    assert_eq!(c.global.pid_table_size, 32768);
    assert!(c.global.apps);
    assert_eq!(c.global.mode, LoadMode::Entry);
    assert_eq!(c.thread(ThreadName::Sync).update_every, 5);
    assert!(c.thread(ThreadName::Sync).enabled);
    assert!(own_bool(&c, ThreadName::Sync, "syscalls", "msync"));
    let socket = ThreadName::Socket;
    assert_eq!(
        own_number(&c, socket, "global", "udp connection table size"),
        4096
    );
    assert_eq!(
        own_number(&c, socket, "network connections", "maximum dimensions"),
        50
    );
    assert_eq!(service_names(&c), [(22, "ssh".to_owned())]);
}

#[test]
fn unknown_keys_sections_and_duplicates_warn() {
    let d = TempDir::new();
    let main = d.write(
        "ebpf.d.conf",
        "orphan = 1\n\
         [global]\n\
         foo = bar\n\
         update every = 2\n\
         Update Every = 3\n\
         [outputs]\n\
         statsd = yes\n\
         [global]\n\
         update every = 4\n\
         [ebpf programs]\n\
         dc = yes\n\
         functions = yes\n",
    );
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    assert_eq!(
        summary(&diags),
        [
            warning(&main, 1, "`orphan` is outside any [section] (ignored)"),
            warning(&main, 3, "[global] unknown key `foo` (ignored)"),
            warning(&main, 5, "[global] unknown key `Update Every` (ignored)"),
            warning(&main, 6, "unknown section `[outputs]` (ignored)"),
            warning(
                &main,
                9,
                "[global] `update every` repeats line 4; this later value wins"
            ),
            warning(&main, 11, "[ebpf programs] unknown key `dc` (ignored)"),
            warning(
                &main,
                12,
                "[ebpf programs] unknown key `functions` (ignored)"
            ),
        ],
        "{}",
        show(&diags)
    );
    assert_eq!(c.global.update_every, 4);
    assert!(!c.thread(ThreadName::Dcstat).enabled);
}

#[test]
fn damaged_lines_cost_only_themselves() {
    let d = TempDir::new();
    let mut text = b"[global]\nupdate every = 3\n".to_vec();
    text.extend(format!("apps = {}\n", "x".repeat(5000)).as_bytes());
    text.extend(b"cgroups = \xff\xfe yes\n");
    text.extend(b"\x00\x01\x02 binary junk\n");
    text.extend(b"just some words\n");
    text.extend(b"# caf\xe9 in Latin-1 is a harmless comment\n");
    text.extend(b"=\n");
    text.extend(b"pid table size = 100");
    let main = d.write("ebpf.d.conf", &text);
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    let got: Vec<_> = diags.iter().map(|d| (d.severity, d.line)).collect();
    assert_eq!(
        got,
        [
            (Severity::Error, Some(3)),
            (Severity::Error, Some(4)),
            (Severity::Error, Some(5)),
            (Severity::Error, Some(6)),
            (Severity::Error, Some(8)),
        ],
        "{}",
        show(&diags)
    );
    assert!(diags.iter().all(|d| d.file == main));
    assert!(
        diags[0].message.starts_with("line too long (5007 bytes"),
        "{}",
        diags[0]
    );
    assert!(diags[1].message.contains("not valid UTF-8"), "{}", diags[1]);
    assert!(diags[3].message.contains("just some words"), "{}", diags[3]);
    assert_eq!(c.global.update_every, 3);
    assert_eq!(c.global.pid_table_size, 100);
    assert!(c.global.apps);
    assert!(!c.global.cgroups);
}

fn only_file_error(diags: &[Diagnostic], file: &Path, contains: &str) {
    assert_eq!(diags.len(), 1, "{}", show(diags));
    assert_eq!(diags[0].severity, Severity::Error);
    assert_eq!(diags[0].file, file);
    assert_eq!(diags[0].line, None);
    assert!(diags[0].message.contains(contains), "{}", diags[0]);
}

#[test]
fn a_directory_in_place_of_a_file() {
    let d = TempDir::new();
    let path = d.path().join("ebpf.d.conf");
    fs::create_dir(&path).unwrap();
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    only_file_error(&diags, &path, "is a directory");
    assert_eq!(c, Config::default());
}

#[test]
fn symlink_loop_and_dangling_symlink() {
    let d = TempDir::new();
    let looped = d.path().join("ebpf.d/sync.conf");
    symlink(&looped, &looped).unwrap();
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    only_file_error(&diags, &looped, "cannot read");
    assert_eq!(c, Config::default());

    fs::remove_file(&looped).unwrap();
    symlink(d.path().join("nowhere"), &looped).unwrap();
    let (_, diags) = load(&dirs(&[d.path()]), 1);
    only_file_error(&diags, &looped, "cannot read");
}

/// Runs `f` on a thread of its own without the capabilities that let root
/// read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): capabilities
/// are per thread, so the rest of the test process keeps them.
fn obeying_file_modes<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                #[repr(C)]
                struct Header {
                    version: u32,
                    pid: i32,
                }
                #[repr(C)]
                #[derive(Clone, Copy, Default)]
                struct Data {
                    effective: u32,
                    permitted: u32,
                    inheritable: u32,
                }
                const VERSION_3: u32 = 0x2008_0522;
                // CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2).
                const DAC: u32 = (1 << 1) | (1 << 2);
                let mut header = Header {
                    version: VERSION_3,
                    pid: 0,
                };
                let mut data = [Data::default(); 2];
                // SAFETY: capget/capset with a v3 header and its two data
                // words, on this thread only (pid 0).
                unsafe {
                    assert_eq!(
                        libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()),
                        0
                    );
                    data[0].effective &= !DAC;
                    assert_eq!(libc::syscall(libc::SYS_capset, &header, data.as_ptr()), 0);
                }
                f()
            })
            .join()
            .unwrap()
    })
}

#[test]
fn permission_denied() {
    let d = TempDir::new();
    let path = d.write("ebpf.d.conf", "[global]\nupdate every = 3\n");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
    let (c, diags) = obeying_file_modes(|| {
        assert!(fs::read(&path).is_err(), "the mode is obeyed");
        load(&dirs(&[d.path()]), 1)
    });
    only_file_error(&diags, &path, "ermission denied");
    assert_eq!(c.global.update_every, 1);
}

#[test]
fn too_large_file_is_skipped() {
    let d = TempDir::new();
    let mut text = String::from("[global]\nupdate every = 3\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    let path = d.write("ebpf.d.conf", text);
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    only_file_error(&diags, &path, "larger than 1048576 bytes");
    assert_eq!(c.global.update_every, 1);
    assert!(c.files.is_empty());
}

#[test]
fn unreadable_user_file_falls_back_to_the_next_directory() {
    let user = TempDir::new();
    let bad = user.path().join("ebpf.d.conf");
    fs::create_dir(&bad).unwrap();
    let stock = stock_dir();
    let (c, diags) = load(&dirs(&[user.path(), &stock]), 1);
    only_file_error(&diags[..1], &bad, "is a directory");
    assert_eq!(show(&diags[1..]), "");
    assert_eq!(c.global.update_every, 5);
    assert_eq!(c.files[0], stock.join("ebpf.d.conf"));
}

#[test]
fn diagnostics_come_in_file_order() {
    let d = TempDir::new();
    let main = d.write(
        "ebpf.d.conf",
        "[global]\nx = 1\n[network connections]\nports\n",
    );
    let fd = d.write("ebpf.d/fd.conf", "[global]\ny = 1\n");
    let (_, diags) = load(&dirs(&[d.path()]), 1);
    let got: Vec<_> = diags.iter().map(|d| (d.file.clone(), d.line)).collect();
    assert_eq!(
        got,
        [(main.clone(), Some(2)), (main, Some(4)), (fd, Some(2))]
    );
}

#[test]
fn apps_groups_bom_nul_and_open_quotes() {
    let d = TempDir::new();
    let mut text = b"\xEF\xBB\xBFweb: nginx\n".to_vec();
    text.extend(b"foo\0bar: bash\n");
    text.extend(b"# a comment may hold \0\n");
    text.extend(b"db: 'mysqld postgres\n");
    text.extend(b"\"my group\": my-app\n");
    let path = d.write("apps_groups.conf", &text);
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    assert_eq!(
        summary(&diags),
        [
            error(
                &path,
                Some(2),
                "a NUL byte in `foo\\u{0}bar: bash`; line skipped"
            ),
            warning(
                &path,
                4,
                "`db: 'mysqld postgres` has an unbalanced `'`: the rest of the line after it is one word"
            ),
        ],
        "{}",
        show(&diags)
    );
    // Every message names its file and line.
    assert!(diags[0]
        .to_string()
        .starts_with(&format!("error: {}:2: ", path.display())));
    let names: Vec<&str> = c
        .apps_groups
        .groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    // The BOM is not part of the first group's name; the NUL line is gone.
    assert_eq!(names, ["web", "db", "my group", "other"]);
    assert_eq!(c.apps_groups.patterns[1].text, "mysqld postgres");
}

fn check_invariants(config: &Config) {
    assert_eq!(config.threads.len(), 16);
    assert!((1..=3600).contains(&config.global.update_every));
    assert!(config.global.pid_table_size >= 1);
    for t in ThreadName::ALL {
        let s = config.thread(t);
        assert!((1..=3600).contains(&s.update_every), "{t}");
        assert!((1..=4_194_304).contains(&s.pid_table_size), "{t}");
    }
    assert!(selectors(config).per_direction >= 1);
}

/// Lines made of real keys and sections, so values get exercised, not just the tokenizer.
fn plausible_line() -> impl Strategy<Value = String> {
    let section = prop::sample::select(vec![
        "[global]",
        "[ebpf programs]",
        "[syscalls]",
        "[network connections]",
        "[service name]",
        "[filesystem]",
        "[bogus]",
    ])
    .prop_map(str::to_owned);
    let key = prop::sample::select(vec![
        "update every",
        "pid table size",
        "apps",
        "disable apps",
        "load",
        "ebpf load mode",
        "collect pid",
        "lifetime",
        "socket",
        "network viewer",
        "network connections",
        "maximum dimensions",
        "bandwidth table size",
        "sync",
        "19999",
        "ext4dist",
        "ports",
        "ips",
        "hostnames",
        "resolve hostnames",
    ]);
    let value = prop_oneof![
        prop::sample::select(vec![
            "0",
            "1",
            "yes",
            "no",
            "auto",
            "return",
            "all",
            "",
            "-5",
            "*",
            "!22 1-1024 ssh",
            "!127.0.0.1/8 ::1/128 10.0.0.0-10.0.0.9",
            "!*.example.com *"
        ])
        .prop_map(str::to_owned),
        any::<u64>().prop_map(|n| n.to_string()),
        ".{0,20}",
    ];
    prop_oneof![
        section,
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        ".{0,30}"
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(main in prop::collection::vec(any::<u8>(), 0..2048),
                                   thread in prop::collection::vec(any::<u8>(), 0..2048)) {
        let d = TempDir::new();
        d.write("ebpf.d.conf", &main);
        d.write("ebpf.d/network.conf", &thread);
        let (config, diags) = load(&dirs(&[d.path()]), 1);
        check_invariants(&config);
        for diag in &diags {
            prop_assert!(!diag.to_string().is_empty());
        }
    }

    #[test]
    fn plausible_files_never_panic(main in prop::collection::vec(plausible_line(), 0..40),
                                   sync in prop::collection::vec(plausible_line(), 0..40),
                                   update_every in any::<u32>()) {
        let d = TempDir::new();
        d.write("ebpf.d.conf", main.join("\n"));
        d.write("ebpf.d/sync.conf", sync.join("\r\n"));
        let (config, diags) = load(&dirs(&[d.path()]), update_every);
        check_invariants(&config);
        for diag in &diags {
            let lines = if diag.file.ends_with("ebpf.d.conf") { main.len() } else { sync.len() };
            prop_assert!(diag.line.is_some_and(|l| (1..=lines.max(1)).contains(&l)), "{}", diag);
        }
    }
}
