//! The supervisor under failure: crash-looping and garbage-writing workers,
//! SIGHUP reloads, least privilege, broken configuration files and command
//! lines. Run one at a time: they count the collector's workers.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{symlink, FileExt};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tests::protocol::Stream;
use tests::{
    assert_netdata_keeps_everything, children, collector_bin, require_root, workers_of, Collector,
    TempDir,
};

static SERIAL: Mutex<()> = Mutex::new(());

/// Only process and sync, every second, from the files alone (so that a
/// reload can change which threads run).
const PROCESS_AND_SYNC: &str = "[global]\nupdate every = 1\n[ebpf programs]\n\
    process = yes\nsync = yes\nmount = no\nfd = no\nhardirq = no\nsoftirq = no\n\
    oomkill = no\nshm = no\n";

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).unwrap();
}

/// The pid of `thread`'s current worker.
fn worker_of(collector: &Collector, thread: &str) -> Option<u32> {
    workers_of(collector.pid(), thread).next()
}

/// The last value `chart` `dim` received.
fn last(stream: &Stream, chart: &str, dim: &str) -> Option<i64> {
    stream.chart(chart)?.dims.get(dim)?.values.last().copied()
}

fn updates(stream: &Stream, chart: &str) -> usize {
    stream.chart(chart).map_or(0, |c| c.updates)
}

fn wait_for_stderr(collector: &Collector, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !collector.stderr().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no `{text}` in stderr:\n{}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for(collector: &Collector, what: &str, done: impl Fn(&Stream) -> bool) {
    assert!(
        collector.wait_until(Duration::from_secs(15), done),
        "{what} never happened; stderr:\n{}",
        collector.stderr()
    );
}

/// The longest time between two updates of `chart` from `since` to now,
/// as the test's reader received them (the first after `since` and now
/// count as ends).
fn longest_pause(collector: &Collector, chart: &str, since: Instant) -> Duration {
    let mut times: Vec<Instant> = collector
        .arrivals(chart)
        .into_iter()
        .filter(|at| *at >= since)
        .collect();
    times.insert(0, since);
    times.push(Instant::now());
    times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default()
}

#[test]
fn a_worker_that_keeps_dying_is_disabled_while_the_others_never_pause() {
    if !require_root("crash loop") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let collector = Collector::start(
        &["--process", "--sync", "--update-every", "1"],
        &[(
            "ebpf.d.conf",
            "[supervisor]\nrestart delay ms = 100\ncrash limit = 3\ncrash window = 60\n",
        )],
    );
    collector.wait_attached("system.exit");
    collector.wait_attached("mem.file_sync");
    let since = Instant::now();
    let mut killed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while killed.len() < 3 {
        assert!(Instant::now() < deadline, "killed only {killed:?}");
        if let Some(pid) = worker_of(&collector, "sync").filter(|p| !killed.contains(p)) {
            signal(pid, Signal::SIGKILL);
            killed.push(pid);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_for_stderr(&collector, "thread disabled until a reload");
    let stderr = collector.stderr();
    assert!(
        stderr.contains("sync: its worker died 3 times within 60s"),
        "{stderr}"
    );
    // The first worker attached before dying: its lines are among the last.
    assert!(
        stderr.contains("last stderr lines:\n  | ")
            && stderr.contains("  | INFO attached the tracepoint variant"),
        "{stderr}"
    );
    // Disabled: on the own charts, and no worker comes back.
    wait_for(&collector, "sync shown disabled", |s| {
        last(s, "netdata.ebpf_disabled_threads", "sync") == Some(1)
            && last(s, "netdata.ebpf_threads", "sync") == Some(0)
            && last(s, "netdata.ebpf_threads", "process") == Some(1)
            && last(s, "netdata.ebpf_restarts", "sync") == Some(3)
            && last(s, "netdata.ebpf_restarts", "process") == Some(0)
    });
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert_eq!(worker_of(&collector, "sync"), None, "sync came back");
        std::thread::sleep(Duration::from_millis(10));
    }
    // One missed update would be a pause of two seconds. Measured from
    // when the reader received each update, not by polling copies of the
    // whole stream, which on a busy machine delayed the reader itself.
    let longest = longest_pause(&collector, "system.exit", since);
    assert!(
        longest < Duration::from_millis(1900),
        "process paused for {longest:?}"
    );
    // SIGHUP gives a disabled thread another chance.
    signal(collector.pid(), Signal::SIGHUP);
    wait_for(&collector, "sync running again", |s| {
        last(s, "netdata.ebpf_threads", "sync") == Some(1)
            && last(s, "netdata.ebpf_disabled_threads", "sync") == Some(0)
    });
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_netdata_keeps_everything(&stream);
    assert_eq!(stream.errors, Vec::<String>::new());
}

#[test]
fn a_worker_that_writes_garbage_is_killed_and_restarted() {
    if !require_root("garbage") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let collector = Collector::start(&["--process", "--sync", "--update-every", "1"], &[]);
    collector.wait_attached("mem.file_sync");
    let sync = worker_of(&collector, "sync").expect("a sync worker");
    // Stopped, the worker cannot notice the damage first; the supervisor
    // must, long before the watchdog would.
    signal(sync, Signal::SIGSTOP);
    // The worker keeps only the mapping of its ring (the memfd's fd is
    // closed once mapped): open the mapped file.
    let maps = fs::read_to_string(format!("/proc/{sync}/maps")).unwrap();
    let range = maps
        .lines()
        .find(|l| l.contains("memfd:ebpf-collector-ring"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the ring's mapping");
    let ring = OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{sync}/map_files/{range}"))
        .unwrap();
    let len = ring.metadata().unwrap().len() as usize;
    ring.write_all_at(&vec![0xa5; len], 0).unwrap();
    let seen = updates(&collector.stream(), "mem.file_sync");
    wait_for_stderr(&collector, "sync: worker wrote garbage");
    wait_for(&collector, "data from a new sync worker", |s| {
        updates(s, "mem.file_sync") >= seen + 2
    });
    assert_ne!(worker_of(&collector, "sync"), Some(sync));
    assert!(!collector.stderr().contains("panicked"));
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_netdata_keeps_everything(&stream);
    assert_eq!(stream.errors, Vec::<String>::new());
}

#[test]
fn sighup_restarts_only_changed_workers_and_obsoletes_disabled_charts() {
    if !require_root("SIGHUP") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let collector = Collector::start(&[], &[("ebpf.d.conf", PROCESS_AND_SYNC)]);
    collector.wait_attached("system.exit");
    collector.wait_attached("mem.memory_map");
    let process = worker_of(&collector, "process").unwrap();
    let sync = worker_of(&collector, "sync").unwrap();
    let config = collector.config_dir().to_path_buf();
    let hup = || signal(collector.pid(), Signal::SIGHUP);

    // Nothing changed: nothing restarts.
    hup();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(worker_of(&collector, "process"), Some(process));
    assert_eq!(worker_of(&collector, "sync"), Some(sync));

    // Only sync's configuration changes: msync's only chart goes obsolete.
    fs::write(config.join("ebpf.d/sync.conf"), "[syscalls]\nmsync = no\n").unwrap();
    hup();
    wait_for(&collector, "mem.memory_map obsolete", |s| {
        s.chart("mem.memory_map").is_some_and(|c| c.obsolete)
    });
    let seen = updates(&collector.stream(), "mem.file_sync");
    wait_for(&collector, "sync data again", |s| {
        updates(s, "mem.file_sync") >= seen + 2
    });
    let restarted = worker_of(&collector, "sync").unwrap();
    assert_ne!(restarted, sync);
    assert_eq!(worker_of(&collector, "process"), Some(process));

    // sync disabled: its worker stops, every chart of it goes obsolete.
    fs::write(
        config.join("ebpf.d.conf"),
        PROCESS_AND_SYNC.replace("sync = yes", "sync = no"),
    )
    .unwrap();
    hup();
    wait_for(&collector, "sync charts obsolete", |s| {
        ["mem.file_sync", "mem.sync", "mem.file_segment"]
            .iter()
            .all(|id| s.chart(id).is_some_and(|c| c.obsolete))
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    while worker_of(&collector, "sync").is_some() {
        assert!(Instant::now() < deadline, "the sync worker did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for(&collector, "sync shown off", |s| {
        last(s, "netdata.ebpf_threads", "sync") == Some(0)
            && last(s, "netdata.ebpf_disabled_threads", "sync") == Some(0)
    });

    // Enabled again: defined again, counting on from its old totals.
    fs::write(config.join("ebpf.d.conf"), PROCESS_AND_SYNC).unwrap();
    hup();
    wait_for(&collector, "sync charts back", |s| {
        ["mem.file_sync", "mem.sync", "mem.file_segment"]
            .iter()
            .all(|id| s.chart(id).is_some_and(|c| !c.obsolete && c.updates > 0))
            && last(s, "netdata.ebpf_threads", "sync") == Some(1)
    });
    assert_eq!(worker_of(&collector, "process"), Some(process));
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_netdata_keeps_everything(&stream);
    assert_eq!(stream.errors, Vec::<String>::new());
}

/// A reload whose files have an error keeps the running configuration
/// whole: the garbage below, applied, would be the original's defaults,
/// with six more threads. The own chart counts the rejected reload; the
/// fixed file is applied by the next SIGHUP.
#[test]
fn a_broken_file_on_sighup_keeps_the_running_configuration() {
    if !require_root("SIGHUP with a broken file") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let collector = Collector::start(&[], &[("ebpf.d.conf", PROCESS_AND_SYNC)]);
    collector.wait_attached("system.exit");
    collector.wait_attached("mem.file_sync");
    let process = worker_of(&collector, "process").unwrap();
    let sync = worker_of(&collector, "sync").unwrap();
    let main = collector.config_dir().join("ebpf.d.conf");
    let rejected = |s: &Stream| last(s, "netdata.ebpf_config_errors", "reload_rejected");
    wait_for(&collector, "the own chart of rejected reloads at 0", |s| {
        rejected(s) == Some(0)
    });
    let chart = collector.stream();
    let chart = chart.chart("netdata.ebpf_config_errors").unwrap();
    assert_eq!(
        (
            chart.title.as_str(),
            chart.units.as_str(),
            chart.family.as_str(),
            chart.priority
        ),
        ("Configuration reloads rejected", "reloads", "ebpf", 140016)
    );
    assert_eq!(
        chart.dimensions(),
        [("reload_rejected", "reload_rejected", "incremental", 1)]
    );

    fs::write(
        &main,
        b"\x00\x01\xff\xfe garbage\n[global]\nupdate every = abc\n[ebpf programs]\n",
    )
    .unwrap();
    signal(collector.pid(), Signal::SIGHUP);
    wait_for_stderr(&collector, "keeping the running configuration");
    wait_for(&collector, "one rejected reload shown", |s| {
        rejected(s) == Some(1)
    });
    let stderr = collector.stderr();
    for expected in [
        format!("{}:1: not valid UTF-8", main.display()),
        format!("{}:3: [global] `update every` = `abc`", main.display()),
        format!(
            "SIGHUP: the configuration has errors (the first: error: {}:1:",
            main.display()
        ),
    ] {
        assert!(stderr.contains(&expected), "no `{expected}` in:\n{stderr}");
    }
    // Nothing changed: the same two workers, no other thread started.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(worker_of(&collector, "process"), Some(process));
    assert_eq!(worker_of(&collector, "sync"), Some(sync));
    assert_eq!(children(collector.pid()).len(), 2);
    let stream = collector.stream();
    for off in ["mount", "fd", "hardirq", "softirq", "oomkill", "shm"] {
        assert_eq!(last(&stream, "netdata.ebpf_threads", off), Some(0), "{off}");
    }

    // Fixed, with sync off: applied by the next SIGHUP.
    fs::write(&main, PROCESS_AND_SYNC.replace("sync = yes", "sync = no")).unwrap();
    signal(collector.pid(), Signal::SIGHUP);
    wait_for(&collector, "sync charts obsolete", |s| {
        s.chart("mem.file_sync").is_some_and(|c| c.obsolete)
    });
    wait_for(&collector, "sync shown off", |s| {
        last(s, "netdata.ebpf_threads", "sync") == Some(0)
    });
    assert_eq!(worker_of(&collector, "process"), Some(process));
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_eq!(rejected(&stream), Some(1));
    assert_netdata_keeps_everything(&stream);
    assert_eq!(stream.errors, Vec::<String>::new());
}

/// Netdata starts a plugin as `PLUGIN UPDATE_EVERY [options]` and expects
/// it to run: a bad interval is an error message and the configuration's
/// applies. A configuration directory that is not there is a warning
/// naming who named it.
#[test]
fn a_bad_update_every_from_netdata_is_an_error_and_the_plugin_runs_on() {
    if !require_root("plugin invocation with a bad UPDATE_EVERY") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for bad in ["0", "-5", "99999999999", "abc"] {
        let config = TempDir::new("config");
        config.write(
            "ebpf.d.conf",
            &PROCESS_AND_SYNC
                .replace("sync = yes", "sync = no")
                .replace("update every = 1", "update every = 2"),
        );
        let mut command = Command::new(collector_bin());
        command
            .args([bad, "--config-dir", "/nonexistent/option"])
            .env("NETDATA_USER_CONFIG_DIR", "/nonexistent/user")
            .env("NETDATA_STOCK_CONFIG_DIR", &config.0)
            .env("NETDATA_PLUGINS_DIR", "/nonexistent/plugins");
        let collector = Collector::spawn(command, config);
        collector.wait_for_data("system.exit");
        let stderr = collector.stderr();
        for expected in [
            format!(
                "UPDATE_EVERY (the first argument) `{bad}` is not a number of seconds in 1..=3600; \
                 ignored"
            ),
            "/nonexistent/user: the configuration directory named by NETDATA_USER_CONFIG_DIR \
             does not exist"
                .to_owned(),
            "/nonexistent/option: the configuration directory named by --config-dir does not \
             exist"
                .to_owned(),
        ] {
            assert!(
                stderr.contains(&expected),
                "{bad}: no `{expected}` in:\n{stderr}"
            );
        }
        let (status, stream) = collector.terminate();
        assert!(status.success(), "{bad}: {status:?}");
        assert_eq!(stream.errors, Vec::<String>::new());
        // The files' interval, not the argument.
        assert_eq!(stream.chart("system.exit").unwrap().update_every, 2);
    }
}

/// `CapEff`, `CapPrm`, `CapBnd` and `NoNewPrivs` of a process.
fn privileges(pid: u32) -> (u64, u64, u64, bool) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            .to_string()
    };
    let caps = |name: &str| u64::from_str_radix(&field(name), 16).unwrap();
    (
        caps("CapEff:"),
        caps("CapPrm:"),
        caps("CapBnd:"),
        field("NoNewPrivs:") == "1",
    )
}

const CAP_DAC_READ_SEARCH: u64 = 1 << 2;
const CAP_PERFMON: u64 = 1 << 38;
const CAP_BPF: u64 = 1 << 39;
/// README, "Privileges": what the collector needs on kernels >= 5.8.
const DOCUMENTED: u64 = CAP_BPF | CAP_PERFMON | CAP_DAC_READ_SEARCH;

/// Workers hold at most CAP_BPF once attached (none where the kernel lets
/// map reads go without it) and can never gain more.
fn assert_workers_dropped_privileges(collector: &Collector) {
    for thread in ["process", "sync"] {
        let pid = worker_of(collector, thread).unwrap();
        let (effective, permitted, _, no_new_privs) = privileges(pid);
        assert_eq!(
            effective & !CAP_BPF,
            0,
            "{thread} worker keeps {effective:#x}"
        );
        assert_eq!(
            permitted & !CAP_BPF,
            0,
            "{thread} worker may {permitted:#x}"
        );
        assert!(no_new_privs, "{thread} worker without no_new_privs");
    }
}

#[test]
fn root_keeps_only_what_starting_workers_needs() {
    if !require_root("capabilities") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let collector = Collector::start(&["--process", "--sync", "--update-every", "1"], &[]);
    collector.wait_attached("system.exit");
    collector.wait_attached("mem.file_sync");
    let (effective, permitted, bounding, _) = privileges(collector.pid());
    // Whatever of the documented set root has here, and nothing else.
    assert_eq!(
        effective & !DOCUMENTED,
        0,
        "supervisor keeps {effective:#x}"
    );
    assert_eq!(permitted, effective);
    assert_eq!(bounding, effective, "workers could regain {bounding:#x}");
    assert_workers_dropped_privileges(&collector);
    let (status, _) = collector.terminate();
    assert!(status.success());
}

#[test]
fn runs_as_an_unprivileged_user_with_only_the_documented_capabilities() {
    if !require_root("setpriv") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Mounting tracefs is the one thing the set lacks (CAP_SYS_ADMIN).
    let mounted = Command::new("sh")
        .args(["-c", "ls /sys/kernel/tracing/events/syscalls >/dev/null 2>&1 || mount -t tracefs tracefs /sys/kernel/tracing"])
        .status()
        .unwrap();
    assert!(mounted.success());
    let caps = "-all,+bpf,+perfmon,+dac_read_search";
    let mut setpriv = Command::new("setpriv");
    setpriv
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(format!("--inh-caps={caps}"))
        .arg(format!("--ambient-caps={caps}"))
        .arg(format!("--bounding-set={caps}"))
        .arg(collector_bin());
    let workload = tests::Workload::spawn("sync", 5);
    let pid = workload.pid().to_string();
    let collector = Collector::start_with(
        setpriv,
        TempDir::new("config"),
        &["--process", "--sync", "--update-every", "1", "--pid", &pid],
    );
    collector.wait_attached("system.exit");
    collector.wait_attached("mem.file_sync");
    let (effective, _, _, _) = privileges(collector.pid());
    assert_eq!(effective, DOCUMENTED, "supervisor of user nobody");
    assert_workers_dropped_privileges(&collector);
    workload.run();
    collector.assert_totals(&[
        ("mem.file_sync", "fsync", 5),
        ("mem.file_sync", "fdatasync", 5),
        ("mem.memory_map", "msync", 5),
        ("mem.sync", "sync", 5),
        ("mem.sync", "syncfs", 5),
        ("mem.file_segment", "sync_file_range", 5),
    ]);
    // Only CAP_SYS_ADMIN turns BPF statistics on: said, and nothing else lost.
    assert!(
        collector.stderr().contains(
            "kernel cost: not measured: BPF_ENABLE_STATS: Operation not permitted (os error 1)"
        ),
        "{}",
        collector.stderr()
    );
    let (status, _) = collector.terminate();
    assert!(status.success());
}

#[test]
fn broken_configuration_files_are_named_and_the_defaults_run() {
    if !require_root("bad config") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = TempDir::new("config");
    let dir = config.0.clone();
    let mut main = b"[global]\nupdate every = abc\n[no such section]\nx = 1\n".to_vec();
    main.extend(b"\x00\x01\xff\xfe binary \x1b[2J garbage\n");
    main.extend(format!("apps = {}\n", "y".repeat(10_000)).as_bytes());
    main.extend(b"[supervisor]\ncrash limit = -1\n");
    fs::write(dir.join("ebpf.d.conf"), main).unwrap();
    symlink(dir.join("ebpf.d/sync.conf"), dir.join("ebpf.d/sync.conf")).unwrap();
    fs::create_dir(dir.join("ebpf.d/process.conf")).unwrap();
    nix::unistd::mkfifo(&dir.join("ebpf.d/fd.conf"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    symlink(dir.join("nowhere"), dir.join("ebpf.d/vfs.conf")).unwrap();
    let mut command = Command::new(collector_bin());
    command.env("NETDATA_INTERNALS_MONITORING", "NO");
    let collector = Collector::start_with(
        command,
        config,
        &["--process", "--sync", "--update-every", "1"],
    );
    collector.wait_attached("system.exit");
    collector.wait_attached("mem.file_sync");
    let stderr = collector.stderr();
    let main = dir.join("ebpf.d.conf");
    let d = dir.join("ebpf.d");
    for expected in [
        format!("{}:2: [global] `update every` = `abc`: not a positive integer", main.display()),
        format!("{}:3: unknown section `[no such section]` (ignored)", main.display()),
        format!("{}:5: not valid UTF-8", main.display()),
        format!("{}:6: line too long (10007 bytes", main.display()),
        format!("{}:8: [supervisor] `crash limit` = `-1`: not a non-negative integer; using the default 5", main.display()),
        format!("{}: cannot read: Too many levels of symbolic links", d.join("sync.conf").display()),
        format!("{}: cannot read: is a directory", d.join("process.conf").display()),
        format!("{}: cannot read: not a regular file", d.join("fd.conf").display()),
        format!("{}: cannot read: No such file or directory", d.join("vfs.conf").display()),
    ] {
        assert!(stderr.contains(&expected), "no `{expected}` in:\n{stderr}");
    }
    // Control characters from the file never reach the log raw.
    assert!(!stderr.contains('\x1b'), "{stderr}");
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_eq!(stream.errors, Vec::<String>::new());
    // NETDATA_INTERNALS_MONITORING=NO: no own charts.
    assert!(
        stream.charts.keys().all(|id| !id.starts_with("netdata.")),
        "{:?}",
        stream.charts.keys()
    );
}

#[test]
fn bad_command_lines_print_the_usage_never_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let long = "x".repeat(100_000);
    let cases: Vec<Vec<std::ffi::OsString>> = [
        vec!["--pid"],
        vec!["run", "--pid", "abc"],
        vec!["--pid", "-1"],
        vec!["--update-every", "0"],
        vec!["--output", "xml"],
        vec!["--bogus"],
        vec!["run", "stray"],
        vec!["1", "2"],
        vec!["--config-dir"],
        vec!["--log-level", "loud"],
        vec!["worker"],
        vec!["run", long.as_str()],
        vec!["run", "--statsd", "999999"],
        vec!["-"],
        vec!["--"],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(Into::into).collect())
    .chain([vec![std::ffi::OsStr::from_bytes(b"--\xff").to_owned()]])
    .collect();
    for args in cases {
        let out = Command::new(collector_bin())
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("Usage:"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    }
    let out = Command::new(collector_bin())
        .args(["run", "--output", "statsd", "--statsd", "999999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "option `--statsd`: `999999`: `999999` is neither an IPv4 address (four numbers \
             0..255: 127.0.0.1) nor a host name"
        ),
        "{stderr}"
    );
    // A worker started by hand with a wrong thread says so.
    let out = Command::new(collector_bin())
        .args(["worker", "nosuch"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown thread `nosuch`"));
}
