//! The packages `packaging/build` makes (target/packages/): the .deb
//! installed with dpkg on this machine, its files checked, its plugin run as
//! user netdata, its service run by a real systemd ([`tests::systemd`]),
//! upgraded and removed; the .rpm inspected with `rpm -qp`. Each test purges
//! the package when it ends, also when it fails: the machine is left as it
//! was. One at a time: they share dpkg and the kernel's program list.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Group, Uid, User};
use tests::statsd::{Protocol, Received, Server};
use tests::systemd::{stdout, Systemd};
use tests::{cannot_run, kernel, poll, require_root, Collector, TempDir, Workload};

static SERIAL: Mutex<()> = Mutex::new(());

const PACKAGE: &str = "ebpf-collector";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const BINARY: &str = "/usr/sbin/ebpf-collector";
const PLUGIN: &str = "/usr/libexec/netdata/plugins.d/ebpf-collector.plugin";
/// Where Debian's own netdata-core looks for plugins: a link to PLUGIN.
const DEBIAN_PLUGIN: &str = "/usr/lib/netdata/plugins.d/ebpf-collector.plugin";
const HELPER: &str = "/usr/libexec/ebpf-collector/package-helper";
const UNIT: &str = "/usr/lib/systemd/system/ebpf-collector.service";
const CONFIG: &str = "/etc/ebpf-collector/ebpf.d.conf";
const DOC: &str = "/usr/share/doc/ebpf-collector";
/// What `dpkg -r` leaves so that the service cannot start until a purge.
const MASK: &str = "/etc/systemd/system/ebpf-collector.service";
/// The directories the package may create, which a purge must leave as
/// they were before.
const DIRECTORIES: &[&str] = &[
    "/etc/ebpf-collector",
    "/usr/libexec/ebpf-collector",
    "/usr/libexec/netdata/plugins.d",
    "/usr/libexec/netdata",
    "/usr/lib/netdata/plugins.d",
    "/usr/lib/netdata",
    DOC,
];

// Capabilities, by number.
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

fn bits(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |set, cap| set | 1 << cap)
}

// ---- the packages and what they must hold ----

fn packages_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("packages")
}

/// The package `packaging/build` made with this extension.
fn built(test: &str, extension: &str) -> Option<PathBuf> {
    let found = fs::read_dir(packages_dir()).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == extension))
    });
    if found.is_none() {
        cannot_run(&format!(
            "{test}: no .{extension} in {}: run packaging/build (scripts/test does)",
            packages_dir().display()
        ));
    }
    found
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Mode bits (with setuid), owner, group.
    File(u32, &'static str, &'static str),
    Symlink(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    path: String,
    kind: Kind,
    config: bool,
}

fn file(path: &str, mode: u32) -> Expected {
    Expected {
        path: path.into(),
        kind: Kind::File(mode, "root", "root"),
        config: false,
    }
}

/// Netdata's stock per-thread files, as shipped in /etc/ebpf-collector/ebpf.d.
fn stock_thread_files() -> Vec<String> {
    let stock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/tests/fixtures/stock/ebpf.d");
    let mut names: Vec<String> = fs::read_dir(stock)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    assert!(names.len() > 10, "stock files: {names:?}");
    names
}

/// The plugin: setuid root for the netdata group, or root's alone while
/// that group does not exist.
fn plugin_file(netdata_group: bool) -> Expected {
    let kind = if netdata_group {
        Kind::File(0o4750, "root", "netdata")
    } else {
        Kind::File(0o750, "root", "root")
    };
    Expected {
        path: PLUGIN.into(),
        kind,
        config: false,
    }
}

/// What both packages install.
fn common_files(netdata_group: bool) -> Vec<Expected> {
    let mut files = vec![
        file(BINARY, 0o755),
        plugin_file(netdata_group),
        file(HELPER, 0o755),
        file(UNIT, 0o644),
        file("/usr/share/man/man8/ebpf-collector.8.gz", 0o644),
        file(&format!("{DOC}/README.md"), 0o644),
    ];
    let configs = std::iter::once(CONFIG.to_string()).chain(
        stock_thread_files()
            .into_iter()
            .map(|name| format!("/etc/ebpf-collector/ebpf.d/{name}")),
    );
    files.extend(configs.map(|path| Expected {
        config: true,
        ..file(&path, 0o644)
    }));
    files
}

fn deb_files(netdata_group: bool) -> BTreeSet<Expected> {
    let mut files = common_files(netdata_group);
    files.push(Expected {
        path: DEBIAN_PLUGIN.into(),
        kind: Kind::Symlink("../../../libexec/netdata/plugins.d/ebpf-collector.plugin"),
        config: false,
    });
    files.push(file(&format!("{DOC}/copyright"), 0o644));
    files.push(file(&format!("{DOC}/changelog.Debian.gz"), 0o644));
    files.into_iter().collect()
}

fn rpm_files() -> BTreeSet<Expected> {
    // The header names the group; rpm falls back to root without it.
    let mut files = common_files(true);
    files.push(file(&format!("{DOC}/changelog"), 0o644));
    files.push(file("/usr/share/licenses/ebpf-collector/LICENSE", 0o644));
    files.into_iter().collect()
}

fn netdata_group() -> bool {
    Group::from_name("netdata").ok().flatten().is_some()
}

// ---- running things ----

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// `dpkg-query`'s status of the package ("install ok installed", …), or
/// None when dpkg does not know it.
fn package_status() -> Option<String> {
    let out = run("dpkg-query", &["-W", "-f=${Status} ${Version}", PACKAGE]);
    let status = stdout(&out);
    (out.status.success() && !status.starts_with("unknown")).then_some(status)
}

/// Purges the package when the test ends, passed or failed (the purge also
/// ends whatever still runs the package's binaries: its prerm).
struct Purge;

impl Purge {
    /// None (and a skip, or a failure under CI) when the package is on this
    /// machine already: the test would replace it.
    fn arm(test: &str) -> Option<Purge> {
        match package_status() {
            None => Some(Purge),
            Some(status) => {
                cannot_run(&format!(
                    "{test}: {PACKAGE} is on this machine ({status}); the test would replace it"
                ));
                None
            }
        }
    }
}

impl Drop for Purge {
    fn drop(&mut self) {
        if package_status().is_some() {
            let out = run("dpkg", &["--purge", PACKAGE]);
            if !out.status.success() {
                eprintln!(
                    "dpkg --purge {PACKAGE}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

/// Which of DIRECTORIES exist.
fn existing_directories() -> Vec<&'static str> {
    DIRECTORIES
        .iter()
        .copied()
        .filter(|d| Path::new(d).exists())
        .collect()
}

/// The package again as version VERSION-2, same files: an upgrade.
fn upgrade_of(deb: &Path, scratch: &Path) -> PathBuf {
    let root = scratch.join("upgrade-root");
    ok(
        run(
            "dpkg-deb",
            &["-R", deb.to_str().unwrap(), root.to_str().unwrap()],
        ),
        "dpkg-deb -R",
    );
    let control = root.join("DEBIAN/control");
    let text = fs::read_to_string(&control).unwrap();
    let from = format!("Version: {VERSION}-1\n");
    assert!(text.contains(&from), "{text}");
    fs::write(
        &control,
        text.replace(&from, &format!("Version: {VERSION}-2\n")),
    )
    .unwrap();
    let upgrade = scratch.join("upgrade.deb");
    ok(
        run(
            "dpkg-deb",
            &[
                "--root-owner-group",
                "-Zgzip",
                "-b",
                root.to_str().unwrap(),
                upgrade.to_str().unwrap(),
            ],
        ),
        "dpkg-deb -b",
    );
    upgrade
}

/// The supervisors and workers running the package's binaries (their
/// files, or replaced ones), anywhere on the machine.
fn processes_of_the_package() -> Vec<(u32, PathBuf)> {
    let ours = |exe: &Path| {
        let exe = exe.to_string_lossy();
        let exe = exe.trim_end_matches(" (deleted)");
        exe == BINARY || exe == PLUGIN
    };
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, fs::read_link(format!("/proc/{pid}/exe")).ok()?)))
        .filter(|(_, exe)| ours(exe))
        .collect()
}

fn assert_nothing_of_ours_runs() {
    let gone = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        processes_of_the_package().is_empty()
    });
    assert!(gone, "still running: {:?}", processes_of_the_package());
}

// ---- checking files ----

fn user_name(uid: u32) -> String {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or(uid.to_string(), |u| u.name)
}

fn group_name(gid: u32) -> String {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map_or(gid.to_string(), |g| g.name)
}

fn assert_installed(expected: &Expected) {
    let path = &expected.path;
    let meta = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match expected.kind {
        Kind::Symlink(target) => {
            assert!(meta.file_type().is_symlink(), "{path} is not a symlink");
            assert_eq!(fs::read_link(path).unwrap(), Path::new(target), "{path}");
            assert!(fs::metadata(path).is_ok(), "{path} points nowhere");
        }
        Kind::File(mode, owner, group) => {
            assert!(meta.file_type().is_file(), "{path} is not a file");
            let got = (
                meta.mode() & 0o7777,
                user_name(meta.uid()),
                group_name(meta.gid()),
            );
            assert_eq!(
                got,
                (mode, owner.into(), group.into()),
                "{path}: mode, owner, group"
            );
        }
    }
}

/// The files `dpkg -L` lists (not its directories).
fn dpkg_listed_files() -> BTreeSet<String> {
    ok(run("dpkg", &["-L", PACKAGE]), "dpkg -L")
        .lines()
        .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| !m.is_dir()))
        .map(String::from)
        .collect()
}

fn dpkg_conffiles() -> BTreeSet<String> {
    let out = run("dpkg-query", &["-W", "-f=${Conffiles}\n", PACKAGE]);
    ok(out, "dpkg-query Conffiles")
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

fn config_paths(files: &BTreeSet<Expected>) -> BTreeSet<String> {
    files
        .iter()
        .filter(|f| f.config)
        .map(|f| f.path.clone())
        .collect()
}

/// `systemd-analyze security`'s overall exposure of the installed unit.
fn exposure() -> f64 {
    let out = run(
        "systemd-analyze",
        &["security", "--offline=true", "--no-pager", UNIT],
    );
    let text = ok(out, "systemd-analyze security");
    text.lines()
        .find_map(|l| l.split_once("Overall exposure level for ebpf-collector.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{text}"))
}

#[test]
fn deb_installs_its_files_its_binary_runs_and_purge_removes_everything() {
    let test = "deb install and purge";
    if !require_root(test) {
        return;
    }
    let Some(deb) = built(test, "deb") else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_purge) = Purge::arm(test) else {
        return;
    };
    let directories_before = existing_directories();

    ok(run("dpkg", &["-i", deb.to_str().unwrap()]), "dpkg -i");
    assert_eq!(
        package_status(),
        Some(format!("install ok installed {VERSION}-1"))
    );
    let expected = deb_files(netdata_group());
    for file in &expected {
        assert_installed(file);
    }
    let paths: BTreeSet<String> = expected.iter().map(|f| f.path.clone()).collect();
    assert_eq!(dpkg_listed_files(), paths, "the package's files");
    assert_eq!(dpkg_conffiles(), config_paths(&expected), "conffiles");
    let config = fs::read_to_string(CONFIG).unwrap();
    assert!(
        config.contains("[statsd]\n    destination = udp://127.0.0.1:8125\n"),
        "{config}"
    );

    // The installed binary, its man page, its unit.
    assert_eq!(
        ok(run(BINARY, &["--version"]), "--version"),
        format!("ebpf-collector {VERSION}\n")
    );
    let help = ok(run(BINARY, &["--help"]), "--help");
    assert!(
        help.contains("Usage:") && help.contains("--statsd DEST"),
        "{help}"
    );
    // With the installed configuration, as the service runs: every thread
    // it enables can run on this kernel.
    let check = ok(
        run(BINARY, &["check", "--config-dir", "/etc/ebpf-collector"]),
        "ebpf-collector check",
    );
    assert!(
        check.contains("thread sync: uses ") && check.contains("thread process: uses "),
        "{check}"
    );
    let man = ok(
        run("zcat", &["/usr/share/man/man8/ebpf-collector.8.gz"]),
        "zcat",
    );
    assert!(
        man.contains(".TH EBPF-COLLECTOR \"8\"")
            && man.contains("\\-\\-statsd")
            && man.contains("THE SERVICE"),
        "{man}"
    );
    let verify = run("systemd-analyze", &["verify", UNIT]);
    let complaints = String::from_utf8_lossy(&verify.stderr).into_owned();
    assert!(
        verify.status.success() && complaints.is_empty(),
        "systemd-analyze verify: {complaints}"
    );
    let exposure = exposure();
    assert!(
        exposure <= 3.0,
        "systemd-analyze security rates the unit {exposure} (README: 2.5)"
    );

    // Removed: only the configuration stays, and the mask that keeps the
    // service from starting until a purge.
    ok(run("dpkg", &["-r", PACKAGE]), "dpkg -r");
    for file in &expected {
        assert_eq!(
            Path::new(&file.path).exists(),
            file.config,
            "{} after dpkg -r",
            file.path
        );
    }
    assert_eq!(
        fs::read_link(MASK).ok(),
        Some(PathBuf::from("/dev/null")),
        "mask"
    );
    // Purged: nothing.
    ok(run("dpkg", &["--purge", PACKAGE]), "dpkg --purge");
    assert_eq!(package_status(), None);
    for file in &expected {
        assert!(
            fs::symlink_metadata(&file.path).is_err(),
            "{} after purge",
            file.path
        );
    }
    assert!(fs::symlink_metadata(MASK).is_err(), "{MASK} after purge");
    assert_eq!(
        existing_directories(),
        directories_before,
        "directories after purge"
    );
    for state in ["enabled", "masked"] {
        let dir = format!("/var/lib/systemd/deb-systemd-helper-{state}");
        let left: Vec<_> = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(PACKAGE))
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "left in {dir}: {left:?}");
    }
}

#[test]
fn plugin_runs_for_netdata_only_and_upgrade_and_removal_end_it() {
    let test = "plugin permissions, trigger, upgrade and removal";
    if !require_root(test) {
        return;
    }
    let Some(deb) = built(test, "deb") else {
        return;
    };
    if !netdata_group() {
        cannot_run(&format!(
            "{test}: no netdata group (scripts/deps installs netdata-core)"
        ));
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_purge) = Purge::arm(test) else {
        return;
    };
    let scratch = TempDir::new_in(Path::new(env!("CARGO_TARGET_TMPDIR")), "plugin");
    let before = kernel::snapshot();
    ok(run("dpkg", &["-i", deb.to_str().unwrap()]), "dpkg -i");

    // Only root and the netdata group may run it.
    let denied = run("runuser", &["-u", "nobody", "--", PLUGIN, "--version"]);
    assert!(
        !denied.status.success()
            && String::from_utf8_lossy(&denied.stderr).contains("Permission denied"),
        "nobody ran the plugin: {denied:?}"
    );
    // Netdata's user starts it (through Debian's plugins directory) and,
    // setuid root, it loads and attaches its programs.
    let start_plugin = || {
        let mut as_netdata = Command::new("runuser");
        as_netdata.args(["-u", "netdata", "--", DEBIAN_PLUGIN]);
        let plugin = Collector::start_with(
            as_netdata,
            TempDir::new("plugin-config"),
            &["--process", "--update-every", "1"],
        );
        plugin.wait_attached("system.process_thread");
        plugin
    };
    let mut plugin = start_plugin();
    let netdata_uid = User::from_name("netdata").unwrap().unwrap().uid.as_raw();
    let supervisor = tests::children(plugin.pid())[0];
    let status = fs::read_to_string(format!("/proc/{supervisor}/status")).unwrap();
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    assert_eq!(
        uids.split_whitespace().next(),
        Some(netdata_uid.to_string().as_str()),
        "the plugin's real user: {uids}"
    );

    // A Netdata package installing its plugins (the trigger) puts back the
    // permissions lost, e.g. to a chown.
    nix::unistd::chown(PLUGIN, Some(Uid::from_raw(0)), Some(Gid::from_raw(0))).unwrap();
    ok(run("chmod", &["0750", PLUGIN]), "chmod");
    ok(
        run(
            "dpkg-trigger",
            &["--no-await", "/usr/lib/netdata/plugins.d"],
        ),
        "dpkg-trigger",
    );
    ok(
        run("dpkg", &["--triggers-only", "--pending"]),
        "dpkg --triggers-only",
    );
    assert_installed(&plugin_file(true));

    // An upgrade keeps an edited and a deleted configuration file, and ends
    // the plugin running the replaced binary (Netdata starts the new one).
    let edited = format!(
        "{}# edited by the test\n",
        fs::read_to_string(CONFIG).unwrap()
    );
    fs::write(CONFIG, &edited).unwrap();
    let deleted = "/etc/ebpf-collector/ebpf.d/swap.conf";
    fs::remove_file(deleted).unwrap();
    let upgrade = upgrade_of(&deb, &scratch.0);
    ok(
        run("dpkg", &["-i", upgrade.to_str().unwrap()]),
        "dpkg -i (upgrade)",
    );
    assert_eq!(
        package_status(),
        Some(format!("install ok installed {VERSION}-2"))
    );
    assert_eq!(
        fs::read_to_string(CONFIG).unwrap(),
        edited,
        "edited conffile"
    );
    assert!(!Path::new(deleted).exists(), "{deleted} came back");
    let ended = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        matches!(plugin.child().try_wait(), Ok(Some(_)))
    });
    assert!(ended, "the plugin running the replaced binary still runs");
    assert!(
        plugin.child().wait().unwrap().success(),
        "{}",
        plugin.stderr()
    );
    kernel::assert_back_to(&before);

    // Removal ends the plugin of the new version.
    let mut plugin = start_plugin();
    ok(run("dpkg", &["-r", PACKAGE]), "dpkg -r");
    assert!(
        matches!(plugin.child().try_wait(), Ok(Some(status)) if status.success()),
        "the plugin survived the removal: {}",
        plugin.stderr()
    );
    assert_nothing_of_ours_runs();
    kernel::assert_back_to(&before);
}

/// The metrics both threads send, as the stock configuration runs them:
/// `ebpf.<host>.<chart>.<dimension>`, the host the service's own.
const SYNC: &str = "mem.sync.sync";
const PROCESSES: &str = "system.process_thread.process";

/// The name of `metric` from the one host that sends here, when it came.
fn from_host<'a>(mut names: impl Iterator<Item = &'a String>, metric: &str) -> Option<&'a String> {
    names.find(|name| {
        name.strip_prefix("ebpf.")
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(_, rest)| rest == metric)
    })
}

fn sync_total(received: &Received) -> i64 {
    from_host(received.counters.keys(), SYNC)
        .and_then(|name| received.counter_total(name))
        .unwrap_or(0)
}

/// `/proc/PID/status` fields of a process of the service.
struct Credentials {
    uid: u32,
    effective: u64,
    bounding: u64,
    no_new_privs: bool,
    seccomp: bool,
}

/// `None` once the process is gone.
fn credentials(systemd: &Systemd, pid: &str) -> Option<Credentials> {
    let status = fs::read_to_string(systemd.path(&format!("/proc/{pid}/status"))).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            .trim()
            .to_string()
    };
    let caps = |name: &str| u64::from_str_radix(&field(name), 16).unwrap();
    Some(Credentials {
        uid: field("Uid:")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap(),
        effective: caps("CapEff:"),
        bounding: caps("CapBnd:"),
        no_new_privs: field("NoNewPrivs:") == "1",
        seccomp: field("Seccomp:") == "2",
    })
}

fn service_log(systemd: &Systemd) -> String {
    fs::read_to_string(systemd.path("/run/ebpf-collector.log")).unwrap_or_default()
}

#[test]
fn service_runs_sandboxed_under_systemd_sends_statsd_restarts_and_stops_on_removal() {
    let test = "the service under systemd";
    if !require_root(test) {
        return;
    }
    let Some(deb) = built(test, "deb") else {
        return;
    };
    if let Some(missing) = tests::systemd::missing_tools() {
        cannot_run(&format!("{test}: {missing}"));
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_purge) = Purge::arm(test) else {
        return;
    };
    let scratch = TempDir::new_in(Path::new(env!("CARGO_TARGET_TMPDIR")), "service");
    // The unit as installed, tracefs' mount unit it wants, and its output
    // into a file (no journald runs here): the only addition to the unit.
    let units = scratch.0.join("units");
    fs::create_dir_all(units.join("ebpf-collector.service.d")).unwrap();
    symlink(UNIT, units.join("ebpf-collector.service")).unwrap();
    let tracefs_unit = Path::new("/lib/systemd/system/sys-kernel-tracing.mount");
    if tracefs_unit.exists() {
        symlink(tracefs_unit, units.join("sys-kernel-tracing.mount")).unwrap();
    }
    fs::write(
        units.join("ebpf-collector.service.d/log.conf"),
        "[Service]\nStandardOutput=append:/run/ebpf-collector.log\n\
         StandardError=append:/run/ebpf-collector.log\n",
    )
    .unwrap();
    let before = kernel::snapshot();
    let systemd = Systemd::boot(&units);
    let in_systemd =
        |program: &str, args: &[&str], what: &str| ok(systemd.run(program, args), what);

    // Installed while systemd runs (postinst reloads it), not enabled, and
    // started by hand: the default destination, on its own loopback. The
    // package is copied in: its private /tmp and /var/tmp hide a checkout
    // there.
    in_systemd("dpkg", &["-i", &systemd.copy_in(&deb)], "dpkg -i");
    let udp = systemd.in_network(|| Server::reopen(Protocol::Udp, (8125, Arc::default())));
    in_systemd("systemctl", &["start", "ebpf-collector"], "systemctl start");
    let both_threads = |r: &Received| {
        from_host(r.counters.keys(), SYNC).is_some()
            && from_host(r.gauges.keys(), PROCESSES).is_some()
    };
    assert!(
        udp.wait_until(Duration::from_secs(20), both_threads),
        "no StatsD from both threads on 127.0.0.1:8125: {:?}\nlog:\n{}",
        udp.received().names().collect::<Vec<_>>(),
        service_log(&systemd)
    );
    let log = service_log(&systemd);
    assert!(
        log.contains("process: INFO attached") && log.contains("sync: INFO attached"),
        "{log}"
    );
    assert_eq!(udp.received().errors, Vec::<String>::new());

    // The sandbox: a dynamic user, the unit's bounding set, no new
    // privileges, a seccomp filter; the supervisor keeps what starting
    // workers needs (CAP_SYS_ADMIN only where perf_event_paranoid is 3),
    // workers at most CAP_BPF.
    let main = systemd.property("ebpf-collector", "MainPID");
    let unit_set = bits(&[CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN]);
    let paranoid: i32 = fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let supervisor_may = bits(&[CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH])
        | if paranoid >= 3 {
            bits(&[CAP_SYS_ADMIN])
        } else {
            0
        };
    let allowed = |pid: &str| {
        if pid == main {
            supervisor_may
        } else {
            bits(&[CAP_BPF])
        }
    };
    // Read inside: cgroup.procs names processes in the reader's PID namespace.
    let cgroup = "/sys/fs/cgroup/system.slice/ebpf-collector.service/cgroup.procs";
    let pids = || in_systemd("cat", &[cgroup], "cat cgroup.procs");
    // A worker keeps what attaching takes until it has attached, and the
    // default threads other than process and sync may still be attaching.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && pids()
            .lines()
            .any(|pid| credentials(&systemd, pid).is_some_and(|c| c.effective & !allowed(pid) != 0))
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let pids = pids();
    assert!(
        pids.lines().count() >= 3,
        "supervisor and two workers: {pids}"
    );
    for pid in pids.lines() {
        let c = credentials(&systemd, pid).unwrap_or_else(|| panic!("{pid} ended meanwhile"));
        let allowed = allowed(pid);
        assert!(
            (61184..=65519).contains(&c.uid),
            "{pid}: uid {} is not a dynamic user",
            c.uid
        );
        assert_eq!(
            c.bounding & !unit_set,
            0,
            "{pid}: bounding set {:x}",
            c.bounding
        );
        assert_eq!(
            c.effective & !allowed,
            0,
            "{pid}: effective set {:x}",
            c.effective
        );
        assert!(
            c.no_new_privs && c.seccomp,
            "{pid}: no_new_privs and seccomp"
        );
    }

    // It counts: N calls of sync(2) by a workload are among the events it
    // sends (system-wide, so at least N).
    const N: usize = 20;
    let sync_before = sync_total(&udp.received());
    Workload::spawn("sync", N).run();
    assert!(
        udp.wait_until(Duration::from_secs(20), |r| sync_total(r) - sync_before
            >= N as i64),
        "sync counted {} of {N}",
        sync_total(&udp.received()) - sync_before
    );

    // Configurable in its file: another destination (TCP) and interval,
    // taken on a restart.
    let config = fs::read_to_string(CONFIG).unwrap();
    let config = config
        .replace(
            "destination = udp://127.0.0.1:8125",
            "destination = tcp://127.0.0.1:18125",
        )
        .replace("update every = 5", "update every = 1");
    fs::write(CONFIG, &config).unwrap();
    let tcp = systemd.in_network(|| Server::reopen(Protocol::Tcp, (18125, Arc::default())));
    in_systemd(
        "systemctl",
        &["restart", "ebpf-collector"],
        "systemctl restart",
    );
    let tcp_lines = |r: &Received| {
        from_host(r.counters.keys(), SYNC)
            .and_then(|name| r.counters.get(name))
            .map_or(0, Vec::len)
    };
    let arrives_after = |seen: usize, why: &str| {
        assert!(
            tcp.wait_until(Duration::from_secs(20), |r| tcp_lines(r) > seen + 1),
            "{why}: nothing more over TCP after {seen} updates\nlog:\n{}",
            service_log(&systemd)
        );
    };
    arrives_after(0, "restart with a TCP destination");

    // An upgrade restarts the running service, and keeps the edited file.
    let upgrade = upgrade_of(&deb, &scratch.0);
    let main = systemd.property("ebpf-collector", "MainPID");
    in_systemd(
        "dpkg",
        &["-i", &systemd.copy_in(&upgrade)],
        "dpkg -i (upgrade)",
    );
    assert_eq!(
        fs::read_to_string(CONFIG).unwrap(),
        config,
        "edited conffile"
    );
    assert_eq!(systemd.property("ebpf-collector", "ActiveState"), "active");
    assert_ne!(
        systemd.property("ebpf-collector", "MainPID"),
        main,
        "not restarted by the upgrade"
    );
    arrives_after(tcp_lines(&tcp.received()), "upgrade");

    // Restarted after a crash (5 s later).
    let main = systemd.property("ebpf-collector", "MainPID");
    in_systemd("kill", &["-KILL", &main], "kill -KILL");
    let restarted = poll(Duration::from_secs(15), Duration::from_millis(100), || {
        systemd.property("ebpf-collector", "NRestarts") == "1"
            && systemd.property("ebpf-collector", "ActiveState") == "active"
    });
    assert!(
        restarted,
        "not restarted after SIGKILL:\n{}",
        service_log(&systemd)
    );
    arrives_after(tcp_lines(&tcp.received()), "restart after SIGKILL");
    assert_eq!(tcp.received().errors, Vec::<String>::new());

    // Removal stops it; nothing of it is left running or in the kernel.
    in_systemd("dpkg", &["-r", PACKAGE], "dpkg -r");
    assert_eq!(
        systemd.property("ebpf-collector", "ActiveState"),
        "inactive"
    );
    assert_nothing_of_ours_runs();
    kernel::assert_back_to(&before);
    let log = service_log(&systemd);
    assert!(!log.contains("ERROR"), "{log}");
}

/// `rpm -qp --scripts`' output, one (header, body) per scriptlet.
fn scriptlets(listing: &str) -> Vec<(String, String)> {
    let mut scripts: Vec<(String, String)> = Vec::new();
    for line in listing.lines() {
        if line.contains("scriptlet") && line.ends_with(':') {
            scripts.push((line.into(), String::new()));
        } else if let Some((_, body)) = scripts.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    assert_eq!(scripts.len(), 3, "{listing}");
    scripts
}

#[test]
fn rpm_holds_the_same_files_config_noreplace_and_the_scripts() {
    let Some(rpm) = built("rpm inspection", "rpm") else {
        return;
    };
    let rpm = rpm.to_str().unwrap();
    let query = |format: &str| ok(run("rpm", &["-qp", "--qf", format, rpm]), "rpm -qp");
    assert_eq!(
        query("%{NAME} %{VERSION} %{RELEASE} %{LICENSE}"),
        format!("{PACKAGE} {VERSION} 1 GPL-3.0-or-later")
    );
    let listed = query("[%{FILENAMES}\t%{FILEMODES:octal}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\n]");
    let files: BTreeSet<Expected> = listed
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [path, mode, owner, group, flags] = fields[..] else {
                panic!("{line}")
            };
            let mode = u32::from_str_radix(mode, 8).unwrap();
            assert_eq!(mode & 0o170000, 0o100000, "{path} is not a regular file");
            let owner = if owner == "root" {
                "root"
            } else {
                panic!("{line}")
            };
            let group = match group {
                "root" => "root",
                "netdata" => "netdata",
                _ => panic!("{line}"),
            };
            assert!(
                matches!(flags, "" | "d" | "cn"),
                "{path}: flags {flags:?} (config files must be %config(noreplace))"
            );
            Expected {
                path: path.into(),
                kind: Kind::File(mode & 0o7777, owner, group),
                config: flags == "cn",
            }
        })
        .collect();
    assert_eq!(files, rpm_files());
    // The same files as the .deb, but for each one's copyright and changelog
    // conventions and Debian's link to the plugin.
    let common: BTreeSet<Expected> = common_files(true).into_iter().collect();
    assert!(common.is_subset(&deb_files(true)) && common.is_subset(&files));

    let scripts = ok(run("rpm", &["-qp", "--scripts", rpm]), "rpm -qp --scripts");
    for expected in [
        "postinstall scriptlet",
        "package-helper plugin-permissions",
        "preuninstall scriptlet",
        "systemctl --no-reload disable --now ebpf-collector.service",
        "package-helper stop ||",
        "postuninstall scriptlet",
        "systemctl try-restart ebpf-collector.service",
        "package-helper stop-stale",
    ] {
        assert!(scripts.contains(expected), "no `{expected}` in:\n{scripts}");
    }
    for (name, body) in scriptlets(&scripts) {
        let mut sh = Command::new("sh")
            .arg("-n")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut sh.stdin.take().unwrap(), body.as_bytes()).unwrap();
        assert!(
            sh.wait().unwrap().success(),
            "{name} is not valid sh:\n{body}"
        );
    }
    let requires = ok(run("rpm", &["-qpR", rpm]), "rpm -qpR");
    assert!(
        requires.contains("/bin/sh") && requires.contains("libc.so.6"),
        "{requires}"
    );
}
