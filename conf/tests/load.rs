//! Which value wins: search order, per-thread overrides, aliases, defaults.

mod common;

use std::path::Path;

use common::{
    dirs, load, own_bool, own_number, selectors, service_names, show, stock_dir, TempDir,
};
use conf::{
    network, Config, ConfigDirs, CoreTracing, Diagnostic, Hostnames, Ips, KernelCost, LoadMode,
    Ports, Severity, StatsdDestination, StatsdHost, StatsdSettings, StatsdTags, SupervisorSettings,
    ThreadName, Transport, TypeFormat,
};

fn load_clean(list: &[&Path], default_update_every: u32) -> Config {
    let (config, diags) = load(&dirs(list), default_update_every);
    assert!(diags.is_empty(), "{}", show(&diags));
    config
}

#[test]
fn default_equals_loading_nothing() {
    let empty = TempDir::new();
    let missing = empty.path().join("does-not-exist");
    assert_eq!(load_clean(&[empty.path(), &missing], 1), Config::default());
    assert_eq!(load_clean(&[], 1), Config::default());
}

#[test]
fn built_in_defaults() {
    let c = Config::default();
    assert_eq!(c.threads.len(), 16);
    assert_eq!(c.global.update_every, 1);
    assert_eq!(c.global.mode, LoadMode::Entry);
    assert!(c.global.apps);
    assert!(!c.global.cgroups);
    assert_eq!(c.global.pid_table_size, 32768);
    assert!(c.files.is_empty());
    for t in ThreadName::ALL {
        assert_eq!(c.thread(t).enabled, t.default_enabled(), "{t}");
        assert_eq!(c.thread(t).update_every, 1, "{t}");
    }
    // Own keys take their declared defaults.
    let socket = ThreadName::Socket;
    assert_eq!(
        own_number(&c, socket, "global", "udp connection table size"),
        4096
    );
    assert_eq!(
        own_number(&c, socket, "network connections", "maximum dimensions"),
        50
    );
    let s = selectors(&c);
    assert_eq!(s.ports, Ports::default());
    assert_eq!(s.ips, Ips::parse(network::DEFAULT_IPS).0);
    assert_eq!(s.hostnames, Hostnames::default());
    assert!(service_names(&c).is_empty());
}

#[test]
fn default_update_every_applies_only_when_no_file_sets_it() {
    let d = TempDir::new();
    assert_eq!(
        load_clean(&[d.path()], 7)
            .thread(ThreadName::Fd)
            .update_every,
        7
    );
    // Out-of-range arguments are clamped rather than trusted.
    assert_eq!(load_clean(&[d.path()], 0).global.update_every, 1);
    assert_eq!(load_clean(&[d.path()], 99_999).global.update_every, 3600);
    d.write("ebpf.d.conf", "[global]\nupdate every = 3\n");
    assert_eq!(load_clean(&[d.path()], 7).global.update_every, 3);
}

#[test]
fn per_thread_file_overrides_only_its_thread() {
    let d = TempDir::new();
    d.write(
        "ebpf.d.conf",
        "[global]\nupdate every = 5\napps = yes\nebpf type format = legacy\n",
    );
    d.write(
        "ebpf.d/sync.conf",
        "[global]\nupdate every = 2\napps = no\nebpf load mode = return\n\
         ebpf co-re tracing = tracepoint\ncollect pid = real parent\nmaps per core = no\n\
         lifetime = 300\npid table size = 100\ncgroups = yes\nebpf type format = CO-RE\n",
    );
    let c = load_clean(&[d.path()], 1);
    let sync = c.thread(ThreadName::Sync);
    assert_eq!(sync.update_every, 2);
    assert!(!sync.apps);
    assert!(sync.cgroups);
    assert_eq!(sync.mode, LoadMode::Return);
    assert_eq!(sync.core_tracing, CoreTracing::Tracepoint);
    assert_eq!(sync.pid_table_size, 100);
    assert_eq!(sync.type_format, TypeFormat::CoRe);
    for t in ThreadName::ALL
        .into_iter()
        .filter(|&t| t != ThreadName::Sync)
    {
        let s = c.thread(t);
        assert_eq!(s.update_every, 5, "{t}");
        assert!(s.apps, "{t}");
        assert_eq!(s.type_format, TypeFormat::Legacy, "{t}");
        assert_eq!(s.mode, LoadMode::Entry, "{t}");
    }
    assert_eq!(c.global.update_every, 5);
}

#[test]
fn user_dir_shadows_stock_dir_per_file() {
    let user = TempDir::new();
    user.write(
        "ebpf.d.conf",
        "[global]\nupdate every = 7\n[ebpf programs]\nshm = yes\n",
    );
    user.write("ebpf.d/vfs.conf", "[global]\nupdate every = 9\n");
    let stock = stock_dir();
    let (c, diags) = load(&dirs(&[user.path(), &stock]), 1);
    assert_eq!(show(&diags), "");
    assert_eq!(c.global.update_every, 7);
    // The user ebpf.d.conf replaces the stock one entirely: its absent keys take code defaults.
    assert!(c.thread(ThreadName::Shm).enabled);
    assert!(!c.thread(ThreadName::Socket).enabled);
    assert_eq!(c.thread(ThreadName::Vfs).update_every, 9);
    assert_eq!(c.thread(ThreadName::Fd).update_every, 7);
    assert_eq!(c.files[0], user.path().join("ebpf.d.conf"));
    assert!(c.files.contains(&user.path().join("ebpf.d/vfs.conf")));
    assert!(c.files.contains(&stock.join("ebpf.d/network.conf")));
    assert!(!c.files.contains(&stock.join("ebpf.d.conf")));
    assert!(!c.files.contains(&stock.join("ebpf.d/vfs.conf")));
    // network.conf still comes from stock.
    assert_eq!(service_names(&c), [(19999, "Netdata".to_owned())]);

    let found = dirs(&[user.path(), &stock]);
    assert_eq!(
        found.find("ebpf.d/vfs.conf"),
        Some(user.path().join("ebpf.d/vfs.conf"))
    );
    assert_eq!(
        found.find("ebpf.d/fd.conf"),
        Some(stock.join("ebpf.d/fd.conf"))
    );
    assert_eq!(found.find("ebpf.d/nope.conf"), None);
}

#[test]
fn legacy_main_file_name() {
    let user = TempDir::new();
    let stock = TempDir::new();
    stock.write("ebpf.d.conf", "[global]\nupdate every = 2\n");
    user.write("ebpf.conf", "[global]\nupdate every = 3\n");
    // The old name in the user dir still beats the new name in the stock dir.
    let c = load_clean(&[user.path(), stock.path()], 1);
    assert_eq!(c.global.update_every, 3);
    assert_eq!(c.files, [user.path().join("ebpf.conf")]);
    // In one directory the new name wins.
    user.write("ebpf.d.conf", "[global]\nupdate every = 4\n");
    assert_eq!(
        load_clean(&[user.path(), stock.path()], 1)
            .global
            .update_every,
        4
    );
}

#[test]
fn legacy_aliases() {
    let d = TempDir::new();
    d.write(
        "ebpf.d.conf",
        "[global]\nload = return\nebpf load mode = entry\napps = yes\ndisable apps = yes\n\
         [ebpf programs]\nnetwork viewer = yes\nsocket = no\n",
    );
    let c = load_clean(&[d.path()], 1);
    assert_eq!(c.global.mode, LoadMode::Return);
    assert!(!c.global.apps);
    assert!(c.thread(ThreadName::Socket).enabled);
    assert!(!c.network_connections_enabled);

    d.write(
        "ebpf.d.conf",
        "[global]\ndisable apps = no\napps = yes\n\
         [ebpf programs]\nnetwork connection monitoring = yes\nnetwork connections = no\nsocket = no\n",
    );
    let c = load_clean(&[d.path()], 1);
    assert!(c.global.apps);
    assert!(c.network_connections_enabled);
    // The connection charts live in the socket thread.
    assert!(c.thread(ThreadName::Socket).enabled);

    d.write(
        "ebpf.d.conf",
        "[global]\nebpf load mode = dev\napps = auto\n",
    );
    let c = load_clean(&[d.path()], 1);
    assert_eq!(c.global.mode, LoadMode::Return);
    assert!(c.global.apps);
}

#[test]
fn programs_section_enables_and_disables() {
    let d = TempDir::new();
    let mut text = String::from("[ebpf programs]\n");
    for t in ThreadName::ALL {
        let value = if t.default_enabled() { "no" } else { "yes" };
        text.push_str(&format!("    {} = {value}\n", t.key()));
    }
    d.write("ebpf.d.conf", text);
    let c = load_clean(&[d.path()], 1);
    for t in ThreadName::ALL {
        assert_eq!(c.thread(t).enabled, !t.default_enabled(), "{t}");
    }
}

#[test]
fn network_sections_from_both_files_ebpf_d_conf_wins() {
    let d = TempDir::new();
    d.write(
        "ebpf.d/network.conf",
        "[global]\nbandwidth table size = 100\nudp connection table size = 7\n\
         [network connections]\nmaximum dimensions = 10\nports = 22 80\nhostnames = *\nips = 10.0.0.0/8\n\
         [service name]\n19999 = Netdata\n22 = ssh\n",
    );
    d.write(
        "ebpf.d.conf",
        "[network connections]\nmaximum dimensions = 20\nresolve hostnames = yes\nports = !22\n\
         [service name]\n22 = secure shell\n80 = web\n",
    );
    let c = load_clean(&[d.path()], 1);
    let (socket, global, conn) = (ThreadName::Socket, "global", "network connections");
    assert_eq!(own_number(&c, socket, global, "bandwidth table size"), 100);
    assert_eq!(
        own_number(&c, socket, global, "ipv4 connection table size"),
        16384
    );
    assert_eq!(
        own_number(&c, socket, global, "udp connection table size"),
        7
    );
    assert_eq!(own_number(&c, socket, conn, "maximum dimensions"), 20);
    assert!(own_bool(&c, socket, conn, "resolve hostnames"));
    assert!(!own_bool(&c, socket, conn, "resolve service names"));
    // A list is one value: ebpf.d.conf's `ports` replaces network.conf's whole.
    let s = selectors(&c);
    assert!(s.ports.include.is_empty());
    assert_eq!(s.ports.exclude[0].text, "22");
    assert_eq!(s.hostnames.include, ["*"]);
    assert_eq!(s.ips.include.len(), 1);
    assert_eq!(s.ips.include[0].text, "10.0.0.0/8");
    let names: Vec<(u16, String)> = service_names(&c);
    let names: Vec<(u16, &str)> = names.iter().map(|(p, n)| (*p, n.as_str())).collect();
    // Key by key, not section by section: 19999 of network.conf stays.
    assert_eq!(
        names,
        [(22, "secure shell"), (80, "web"), (19999, "Netdata")]
    );
}

#[test]
fn thread_specific_sections() {
    let d = TempDir::new();
    d.write(
        "ebpf.d/sync.conf",
        "[syscalls]\nmsync = no\nsync_file_range = off\n",
    );
    d.write("ebpf.d/shm.conf", "[syscalls]\nshmdt = no\n");
    d.write("ebpf.d/filesystem.conf", "[filesystem]\nzfsdist = no\n");
    let c = load_clean(&[d.path()], 1);
    let on = |thread, section, keys: &[&str]| -> Vec<bool> {
        keys.iter()
            .map(|k| own_bool(&c, thread, section, k))
            .collect()
    };
    assert_eq!(
        on(
            ThreadName::Sync,
            "syscalls",
            &[
                "sync",
                "msync",
                "fsync",
                "fdatasync",
                "syncfs",
                "sync_file_range"
            ]
        ),
        [true, false, true, true, true, false]
    );
    assert_eq!(
        on(
            ThreadName::Shm,
            "syscalls",
            &["shmget", "shmat", "shmdt", "shmctl"]
        ),
        [true, true, false, true]
    );
    assert_eq!(
        on(
            ThreadName::Filesystem,
            "filesystem",
            &["ext4dist", "xfsdist", "nfsdist", "zfsdist", "btrfsdist"]
        ),
        [true, true, true, false, true]
    );
}

#[test]
fn keys_without_effect_warn_only_when_they_would_change_something() {
    let d = TempDir::new();
    let main = d.write(
        "ebpf.d.conf",
        "[global]\nmaps per core = no\nlifetime = 300\n",
    );
    let sync = d.write(
        "ebpf.d/sync.conf",
        "[global]\ncollect pid = all\nmaps per core = yes\nlifetime = 60\n",
    );
    let (_, diags) = load(&dirs(&[d.path()]), 1);
    let found: Vec<(&Path, Option<usize>, &str)> = diags
        .iter()
        .map(|d| (d.file.as_path(), d.line, d.message.as_str()))
        .collect();
    assert!(diags.iter().all(|d| d.severity == Severity::Warning));
    assert_eq!(found.len(), 3, "{}", show(&diags));
    assert!(found
        .iter()
        .all(|(file, _, _)| *file == sync && *file != main));
    assert!(found[0]
        .2
        .starts_with("[global] `collect pid` = `all` has no effect: "));
    assert!(found[1]
        .2
        .starts_with("[global] `maps per core` = `yes` has no effect: "));
    assert!(found[2]
        .2
        .starts_with("[global] `lifetime` = `60` has no effect: "));
}

#[test]
fn the_own_sections_of_a_thread_not_implemented_are_not_read() {
    let d = TempDir::new();
    d.write("ebpf.d/sync.conf", "[syscalls]\nnonsense = 1\n");
    d.write(
        "ebpf.d/swap.conf",
        "[whatever]\nnonsense = 1\n[global]\nupdate every = 3\nswap table size = 9\n",
    );
    let (c, diags) = conf::load(&dirs(&[d.path()]), 1, |t| {
        (t != ThreadName::Swap).then_some(&[][..])
    });
    // The sync thread declares no key here: its [syscalls] is unknown.
    assert_eq!(diags.len(), 1, "{}", show(&diags));
    assert!(diags.iter().all(|d| d.file.ends_with("sync.conf")));
    assert_eq!(c.thread(ThreadName::Swap).update_every, 3);
}

#[test]
fn statsd_section_is_our_extension_of_ebpf_d_conf() {
    let d = TempDir::new();
    d.write(
        "ebpf.d.conf",
        "[statsd]\ndestination = tcp://[::1]:18125\nprefix = host1.ebpf\nmtu = 512\n",
    );
    let c = load_clean(&[d.path()], 1);
    assert_eq!(
        c.statsd.destination,
        StatsdDestination {
            transport: Transport::Tcp,
            host: "::1".into(),
            port: 18125
        }
    );
    assert_eq!(
        (c.statsd.prefix.as_str(), c.statsd.mtu),
        ("host1.ebpf", 512)
    );
    assert_eq!(
        (c.statsd.host.clone(), c.statsd.tags),
        (StatsdHost::Machine, StatsdTags::No)
    );
    d.write(
        "ebpf.d.conf",
        "[statsd]\nhost name = web-1.example.com\ntags = DogStatsD\n",
    );
    let c = load_clean(&[d.path()], 1);
    assert_eq!(
        (c.statsd.host, c.statsd.tags),
        (
            StatsdHost::Named("web-1.example.com".into()),
            StatsdTags::DogStatsd
        )
    );
    d.write("ebpf.d.conf", "[statsd]\nhost name =\ntags = no\n");
    assert_eq!(load_clean(&[d.path()], 1).statsd.host, StatsdHost::Nowhere);
    // A stock file lacks the section: the defaults apply.
    let (stock, diags) = load(&dirs(&[&stock_dir()]), 1);
    assert_eq!(show(&diags), "");
    assert_eq!(stock.statsd, StatsdSettings::default());
    assert_eq!(stock.statsd.destination.to_string(), "udp://127.0.0.1:8125");
    assert_eq!(
        (stock.statsd.prefix.as_str(), stock.statsd.mtu),
        ("ebpf", 1432)
    );
}

#[test]
fn bad_statsd_values_name_file_line_and_key_and_keep_the_default() {
    let d = TempDir::new();
    let main = d.write(
        "ebpf.d.conf",
        "[statsd]\ndestination = http://x:1\nprefix = a-b\nmtu = 10\nport = 1\ntags = maybe\n",
    );
    // [statsd] belongs to ebpf.d.conf only.
    let sync = d.write("ebpf.d/sync.conf", "[statsd]\nprefix = x\n");
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    assert_eq!(c.statsd, StatsdSettings::default());
    let got: Vec<_> = diags
        .iter()
        .map(|d| (&d.file, d.line, d.severity, d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                &main,
                Some(2),
                Severity::Error,
                "[statsd] `destination` = `http://x:1`: the scheme is not udp:// or tcp://; \
                 using the default udp://127.0.0.1:8125"
            ),
            (
                &main,
                Some(3),
                Severity::Error,
                "[statsd] `prefix` = `a-b`: not dot-separated words of letters, digits and `_`; \
                 using the default `ebpf`"
            ),
            (
                &main,
                Some(4),
                Severity::Error,
                "[statsd] `mtu` = `10`: not a size in bytes in 64..=65507; using the default 1432"
            ),
            (
                &main,
                Some(5),
                Severity::Warning,
                "[statsd] unknown key `port` (ignored)"
            ),
            (
                &main,
                Some(6),
                Severity::Error,
                "[statsd] `tags` = `maybe`: not one of no, dogstatsd; using the default no"
            ),
            (
                &sync,
                Some(1),
                Severity::Warning,
                "unknown section `[statsd]` (ignored)"
            ),
        ]
    );
}

#[test]
fn sections_in_the_wrong_file_are_unknown() {
    let d = TempDir::new();
    let fd = d.write(
        "ebpf.d/fd.conf",
        "[syscalls]\nsync = no\n[global]\nbandwidth table size = 5\n",
    );
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    assert!(own_bool(&c, ThreadName::Sync, "syscalls", "sync"));
    assert_eq!(
        own_number(&c, ThreadName::Socket, "global", "bandwidth table size"),
        16384
    );
    let got: Vec<_> = diags
        .iter()
        .map(|d| (&d.file, d.line, d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (&fd, Some(1), "unknown section `[syscalls]` (ignored)"),
            (
                &fd,
                Some(4),
                "[global] unknown key `bandwidth table size` (ignored)"
            ),
        ]
    );
}

#[test]
fn diagnostic_display() {
    let warning = Diagnostic {
        severity: Severity::Warning,
        file: "/path/ebpf.d.conf".into(),
        line: Some(12),
        message: "[global] unknown key `foo` (ignored)".into(),
    };
    assert_eq!(
        warning.to_string(),
        "warning: /path/ebpf.d.conf:12: [global] unknown key `foo` (ignored)"
    );
    let error = Diagnostic {
        severity: Severity::Error,
        file: "/path/ebpf.d".into(),
        line: None,
        message: "cannot read: is a directory; file skipped".into(),
    };
    assert_eq!(
        error.to_string(),
        "error: /path/ebpf.d: cannot read: is a directory; file skipped"
    );
}

#[test]
fn thread_names() {
    let keys: Vec<&str> = ThreadName::ALL.iter().map(|t| t.key()).collect();
    assert_eq!(
        keys,
        [
            "process",
            "socket",
            "cachestat",
            "sync",
            "dcstat",
            "swap",
            "vfs",
            "filesystem",
            "disk",
            "mount",
            "fd",
            "hardirq",
            "softirq",
            "oomkill",
            "shm",
            "mdflush"
        ]
    );
    let mut sorted = ThreadName::ALL;
    sorted.sort();
    assert_eq!(sorted, ThreadName::ALL);
    for t in ThreadName::ALL {
        assert_eq!(ThreadName::from_key(t.key()), Some(t));
        assert_eq!(t.key().parse::<ThreadName>(), Ok(t));
        assert_eq!(t.to_string(), t.key());
        let want = if t == ThreadName::Socket {
            "network.conf".to_owned()
        } else {
            format!("{}.conf", t.key())
        };
        assert_eq!(t.file_name(), want);
    }
    assert_eq!(
        ThreadName::from_key("network viewer"),
        Some(ThreadName::Socket)
    );
    assert_eq!(ThreadName::from_key("Process"), None);
    assert_eq!(
        "dc".parse::<ThreadName>().unwrap_err().to_string(),
        "unknown eBPF thread `dc`"
    );
}

#[test]
fn config_dirs_new_keeps_order() {
    let c = ConfigDirs::new(vec!["/a".into(), "/b".into()]);
    assert_eq!(c.dirs, [Path::new("/a"), Path::new("/b")]);
}

#[test]
fn supervisor_section_is_our_typed_extension() {
    let settings = |restart_delay_ms,
                    restart_delay_max_ms,
                    crash_limit,
                    crash_window,
                    heartbeat_timeout_ms,
                    kernel_cost| {
        SupervisorSettings {
            restart_delay_ms,
            restart_delay_max_ms,
            crash_limit,
            crash_window,
            heartbeat_timeout_ms,
            kernel_cost,
        }
    };
    assert_eq!(
        Config::default().supervisor,
        settings(200, 30_000, 5, 60, 4000, KernelCost::Sampled)
    );
    let d = TempDir::new();
    d.write(
        "ebpf.d.conf",
        "[supervisor]\nrestart delay ms = 50\nrestart delay max ms = 400\n\
         crash limit = 0\ncrash window = 10\nheartbeat timeout ms = 500\n\
         kernel cost = Continuous\n",
    );
    assert_eq!(
        load_clean(&[d.path()], 1).supervisor,
        settings(50, 400, 0, 10, 500, KernelCost::Continuous)
    );
    d.write("ebpf.d.conf", "[supervisor]\nkernel cost = no\n");
    assert_eq!(
        load_clean(&[d.path()], 1).supervisor.kernel_cost,
        KernelCost::Off
    );
    // A first delay above the default cap raises the cap with it.
    d.write("ebpf.d.conf", "[supervisor]\nrestart delay ms = 60000\n");
    let s = load_clean(&[d.path()], 1).supervisor;
    assert_eq!(
        (s.restart_delay_ms, s.restart_delay_max_ms),
        (60_000, 60_000)
    );
}

#[test]
fn bad_supervisor_values_name_file_and_line() {
    let d = TempDir::new();
    let main = d.write(
        "ebpf.d.conf",
        "[supervisor]\nrestart delay ms = 500\nrestart delay max ms = 100\n\
         heartbeat timeout ms = 10\ncrash window = forever\nrestart = always\n\
         kernel cost = sometimes\n",
    );
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    let got: Vec<_> = diags
        .iter()
        .map(|d| (&d.file, d.line, d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                &main,
                Some(3),
                "[supervisor] `restart delay max ms` = `100` is below `restart delay ms` = `500`; using 500"
            ),
            (
                &main,
                Some(4),
                "[supervisor] `heartbeat timeout ms` = `10`: out of range 200..=600000; using the default 4000"
            ),
            (
                &main,
                Some(5),
                "[supervisor] `crash window` = `forever`: not a positive integer; using the default 60"
            ),
            (&main, Some(6), "[supervisor] unknown key `restart` (ignored)"),
            (
                &main,
                Some(7),
                "[supervisor] `kernel cost` = `sometimes`: not one of sampled, continuous, no, off; using the default sampled"
            ),
        ],
        "{}",
        show(&diags)
    );
    assert_eq!(c.supervisor.restart_delay_max_ms, 500);
    assert_eq!(c.supervisor.heartbeat_timeout_ms, 4000);
}

#[test]
fn a_threads_view_differs_only_in_what_concerns_it() {
    let base = Config::default();
    let mut changed = base.clone();
    changed.thread_mut(ThreadName::Sync).own.insert(
        ("syscalls".into(), "msync".into()),
        conf::OwnValue::Bool(false),
    );
    changed.thread_mut(ThreadName::Fd).update_every = 9;
    changed.supervisor.crash_limit = 1;
    assert_ne!(
        base.for_thread(ThreadName::Sync),
        changed.for_thread(ThreadName::Sync)
    );
    assert_eq!(
        base.for_thread(ThreadName::Process),
        changed.for_thread(ThreadName::Process)
    );
    assert_ne!(
        base.for_thread(ThreadName::Fd),
        changed.for_thread(ThreadName::Fd)
    );
    let view = changed.for_thread(ThreadName::Sync);
    assert_eq!(view.thread(ThreadName::Fd), base.thread(ThreadName::Fd));
    assert!(!common::own_bool(
        &view,
        ThreadName::Sync,
        "syscalls",
        "msync"
    ));
}

#[test]
fn cgroups_section_takes_netdatas_cgroup_keys() {
    let defaults = Config::default().cgroups;
    assert_eq!(defaults.use_unified, None);
    assert_eq!((defaults.check_every, defaults.max_cgroups), (10, 1000));
    assert!(defaults.services.ends_with("/system.slice/*.service"));
    let d = TempDir::new();
    d.write(
        "ebpf.d.conf",
        "[cgroups]\nuse unified cgroups = yes\ncheck for new cgroups every = 2\n\
         max cgroups to allow = 5\ncgroups to match as systemd services = /x/*.service\n",
    );
    let c = load_clean(&[d.path()], 1).cgroups;
    assert_eq!(c.use_unified, Some(true));
    assert_eq!((c.check_every, c.max_cgroups), (2, 5));
    assert_eq!(c.services, "/x/*.service");
    assert_eq!(c.enabled, defaults.enabled);
    d.write("ebpf.d.conf", "[cgroups]\nuse unified cgroups = auto\n");
    assert_eq!(load_clean(&[d.path()], 1).cgroups.use_unified, None);
    d.write(
        "ebpf.d.conf",
        "[cgroups]\nuse unified cgroups = sometimes\n",
    );
    let (c, diags) = load(&dirs(&[d.path()]), 1);
    assert_eq!(c.cgroups.use_unified, None);
    assert_eq!(diags.len(), 1, "{}", show(&diags));
    assert_eq!(diags[0].line, Some(2));
}

#[test]
fn apps_groups_conf_is_searched_like_the_other_files() {
    let (user, stock) = (TempDir::new(), TempDir::new());
    stock.write("apps_groups.conf", "stock: a\n");
    assert_eq!(
        load_clean(&[user.path(), stock.path()], 1)
            .apps_groups
            .groups[0]
            .name,
        "stock"
    );
    user.write("apps_groups.conf", "user: b\nbad: *\n");
    let (c, diags) = load(&dirs(&[user.path(), stock.path()]), 1);
    assert_eq!(c.apps_groups.groups[0].name, "user");
    assert_eq!(
        c.apps_groups.file,
        Some(user.path().join("apps_groups.conf"))
    );
    assert_eq!(diags.len(), 1, "{}", show(&diags));
    assert_eq!(diags[0].line, Some(2));
    assert!(c.files.contains(&user.path().join("apps_groups.conf")));
    // Workers never get the groups.
    assert_eq!(
        c.for_thread(ThreadName::Process).apps_groups,
        Default::default()
    );
}
