//! Netdata 1.37.1's stock files, copied unchanged, must load cleanly: no
//! error and no warning.

mod common;

use std::path::PathBuf;

use common::{dirs, load, own, own_bool, own_number, selectors, service_names, show, stock_dir};
use conf::network::{IpRange, PortRange};
use conf::{
    network, CoreTracing, Hostnames, Ips, LoadMode, OwnValue, Ports, ThreadName, TypeFormat,
};

#[test]
fn stock_files_load_without_errors() {
    let stock = stock_dir();
    let (config, diags) = load(&dirs(&[&stock]), 1);
    assert_eq!(show(&diags), "");

    let mut want_files = vec![stock.join("ebpf.d.conf")];
    want_files.extend(
        ThreadName::ALL
            .iter()
            .map(|t| stock.join("ebpf.d").join(t.file_name())),
    );
    want_files.push(stock.join("apps_groups.conf"));
    assert_eq!(config.files, want_files);

    let g = &config.global;
    assert_eq!(g.update_every, 5);
    assert_eq!(g.mode, LoadMode::Entry);
    assert!(g.apps);
    assert!(!g.cgroups);
    assert_eq!(g.pid_table_size, 32768);
    assert_eq!(g.btf_path, PathBuf::from("/sys/kernel/btf/"));
    assert_eq!(g.type_format, TypeFormat::Auto);
    assert_eq!(g.core_tracing, CoreTracing::Trampoline);

    let enabled: Vec<&str> = ThreadName::ALL
        .iter()
        .filter(|&&t| config.thread(t).enabled)
        .map(|t| t.key())
        .collect();
    assert_eq!(
        enabled,
        ["process", "socket", "sync", "vfs", "mount", "fd", "hardirq", "softirq", "oomkill"]
    );
    assert!(!config.network_connections_enabled);

    for t in ThreadName::ALL {
        let s = config.thread(t);
        assert_eq!(s.update_every, 5, "{t}");
        assert_eq!(s.mode, LoadMode::Entry, "{t}");
        assert!(s.apps, "{t}");
        assert!(!s.cgroups, "{t}");
        assert_eq!(s.pid_table_size, 32768, "{t}");
        assert_eq!(s.type_format, TypeFormat::Auto, "{t}");
        assert_eq!(s.core_tracing, CoreTracing::Trampoline, "{t}");
    }

    let (socket, conn) = (ThreadName::Socket, "network connections");
    for table in [
        "bandwidth table size",
        "ipv4 connection table size",
        "ipv6 connection table size",
    ] {
        assert_eq!(own_number(&config, socket, "global", table), 16384);
    }
    assert_eq!(
        own_number(&config, socket, "global", "udp connection table size"),
        4096
    );
    assert_eq!(own_number(&config, socket, conn, "maximum dimensions"), 50);
    assert!(!own_bool(&config, socket, conn, "resolve hostnames"));
    assert!(!own_bool(&config, socket, conn, "resolve service names"));
    let s = selectors(&config);
    assert_eq!(s.per_direction, 25);
    // `ports = *`: every port.
    let every = PortRange {
        text: "*".into(),
        first: 1,
        last: 65535,
    };
    assert_eq!(
        s.ports,
        Ports {
            include: vec![every],
            exclude: vec![]
        }
    );
    // The original's default `ips`, loopback's host bits cleared.
    let range = |text: &str, first: &str, last: &str| IpRange {
        text: text.into(),
        first: first.parse().unwrap(),
        last: last.parse().unwrap(),
    };
    assert_eq!(
        s.ips,
        Ips {
            include: vec![
                range("10.0.0.0/8", "10.0.0.0", "10.255.255.255"),
                range("172.16.0.0/12", "172.16.0.0", "172.31.255.255"),
                range("192.168.0.0/16", "192.168.0.0", "192.168.255.255"),
                range(
                    "fc00::/7",
                    "fc00::",
                    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                ),
            ],
            exclude: vec![
                range("127.0.0.1/8", "127.0.0.0", "127.255.255.255"),
                range("::1/128", "::1", "::1"),
            ],
        }
    );
    assert_eq!(s.ips, Ips::parse(network::DEFAULT_IPS).0);
    // `hostnames = *` is read only with `resolve hostnames = yes`.
    assert_eq!(s.hostnames, Hostnames::default());
    assert_eq!(
        own(&config, socket, conn, "hostnames"),
        OwnValue::Hostnames(Hostnames {
            include: vec!["*".into()],
            exclude: vec![]
        })
    );
    assert_eq!(service_names(&config), [(19999, "Netdata".to_owned())]);
    for key in [
        "sync",
        "msync",
        "fsync",
        "fdatasync",
        "syncfs",
        "sync_file_range",
    ] {
        assert!(
            own_bool(&config, ThreadName::Sync, "syscalls", key),
            "{key}"
        );
    }
    for key in ["shmget", "shmat", "shmdt", "shmctl"] {
        assert!(own_bool(&config, ThreadName::Shm, "syscalls", key), "{key}");
    }
    for key in ["ext4dist", "xfsdist", "nfsdist", "zfsdist", "btrfsdist"] {
        assert!(
            own_bool(&config, ThreadName::Filesystem, "filesystem", key),
            "{key}"
        );
    }
}

/// Netdata 1.37.1's `apps_groups.conf` (Debian `netdata-core`), unchanged.
#[test]
fn stock_apps_groups_parse_without_warnings() {
    let (config, diags) = load(&dirs(&[&stock_dir()]), 1);
    assert_eq!(show(&diags), "");
    let groups = &config.apps_groups;
    assert_eq!(groups.file, Some(stock_dir().join("apps_groups.conf")));
    let names: Vec<&str> = groups.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names.len(), 167);
    assert_eq!(names[..3], ["netdata", "apps.plugin", "freeipmi.plugin"]);
    assert_eq!(names.last(), Some(&"other"));
    assert_eq!(groups.other, names.len() - 1);
    assert!(groups.groups.iter().all(|g| !g.hidden));
    assert!(groups.needs_cmdline());
    let group = |comm: &str, cmdline: &str| {
        let g = groups.classify(comm, cmdline).unwrap_or(groups.other);
        groups.groups[g].name.as_str()
    };
    assert_eq!(group("nginx", "nginx: master process"), "httpd");
    assert_eq!(group("postgres", "postgres -D /var/lib/db"), "sql");
    assert_eq!(
        group(
            "python3",
            "/usr/bin/python3 /usr/libexec/netdata/plugins.d/python.d.plugin 1"
        ),
        "python.d.plugin"
    );
    assert_eq!(
        group("aws", "aws s3 cp a b"),
        "aws-s3",
        "the quoted pattern with a blank"
    );
    assert_eq!(
        group("cargo", "cargo build"),
        "build",
        "a group given on two lines"
    );
    assert_eq!(group("libvirtd", "libvirtd"), "libvirt");
    assert_eq!(group("bash", "-bash"), "other");
}

#[test]
fn stock_values_differ_from_code_defaults_where_expected() {
    let (stock, _) = load(&dirs(&[&stock_dir()]), 1);
    let (defaults, _) = load(&dirs(&[]), 1);
    // Stock 1.37 enables socket and vfs and disables shm, against the code defaults.
    for t in [ThreadName::Socket, ThreadName::Vfs, ThreadName::Shm] {
        assert_ne!(stock.thread(t).enabled, defaults.thread(t).enabled, "{t}");
        assert_eq!(defaults.thread(t).enabled, t.default_enabled(), "{t}");
    }
}
