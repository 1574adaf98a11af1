//! Kernel memory of the socket thread's maps at default settings, with its
//! per-process table off and on (an idle machine: the table holds the
//! processes that used a socket since), against the original's socket
//! maps (spec §3.8) at the sizes it really gives them, created here so
//! that the kernel reports their size, on this machine's possible CPUs.
//!
//! `cargo build --release --workspace && flock /tmp/ebpf-collector-tests.lock
//! cargo bench -p tests --bench socket_memory` (as root). Not a test: it
//! asserts nothing; README.md records its numbers.

use std::collections::BTreeMap;

use tests::maps::{kib, map_memlock, map_memory, possible_cpus, MapType};
use tests::{children, Collector};

/// The original's maps: name, type, key and value sizes, entries. The
/// per-CPU ones are its `maps per core = yes` default; the sizes those it
/// ends up with (B-33: the bandwidth table at its compiled size whatever
/// the configuration says, the connection tables at their compiled size).
const ORIGINAL: [(&str, MapType, u32, u32, u32); 6] = [
    ("tbl_global_sock", MapType::PerCpuArray, 4, 8, 18),
    ("tbl_bandwidth", MapType::PerCpuHash, 4, 104, 65_535),
    ("tbl_conn_ipv4", MapType::PerCpuHash, 36, 56, 65_536),
    ("tbl_conn_ipv6", MapType::PerCpuHash, 36, 56, 65_536),
    ("tbl_lports", MapType::Hash, 4, 16, 1024),
    ("tbl_nv_udp", MapType::Hash, 8, 8, 8192),
];

/// The network viewer's connection table at network.conf's default sizes
/// (16384 IPv4 + 16384 IPv6 connections): key and value sizes, entries.
const CONNECTIONS: (u32, u32, u32) = (16, 88, 32_768);

fn ours(apps: bool, viewer: bool) -> BTreeMap<String, u64> {
    let yes = |on: bool| if on { "yes" } else { "no" };
    let global = format!(
        "[global]\n    apps = {}\n    cgroups = no\n[ebpf programs]\n    network connections = {}\n",
        yes(apps),
        yes(viewer)
    );
    let collector = Collector::start(
        &["--socket", "--update-every", "1"],
        &[("ebpf.d.conf", global.as_str())],
    );
    collector.wait_attached("ip.tcp_functions");
    let maps = map_memory(&children(collector.pid()));
    collector.terminate();
    maps
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("socket_memory: needs root to load BPF programs");
        std::process::exit(1);
    }
    let cpus = possible_cpus();
    let kernel = nix::sys::utsname::uname().unwrap();
    println!(
        "kernel {}, {cpus} possible CPUs; KiB as the kernel accounts them (memlock)\n",
        kernel.release().to_string_lossy()
    );
    let (off, on, viewer) = (ours(false, false), ours(true, false), ours(false, true));
    println!("| ours: map | apps off | apps on | network viewer on, apps off |");
    println!("|---|---:|---:|---:|");
    let names: std::collections::BTreeSet<&String> =
        off.keys().chain(on.keys()).chain(viewer.keys()).collect();
    for name in names {
        let of = |maps: &BTreeMap<String, u64>| maps.get(name).copied().unwrap_or(0);
        println!(
            "| `{name}` | {} | {} | {} |",
            kib(of(&off)),
            kib(of(&on)),
            kib(of(&viewer))
        );
    }
    let (total_off, total_on): (u64, u64) = (off.values().sum(), on.values().sum());
    let total_viewer: u64 = viewer.values().sum();
    println!(
        "| **all** | {} | {} | {} |\n",
        kib(total_off),
        kib(total_on),
        kib(total_viewer)
    );
    let (key, value, entries) = CONNECTIONS;
    println!(
        "the network viewer's connection table full ({entries} connections, as a preallocated hash of its size): {} KiB\n",
        kib(map_memlock(MapType::Hash, key, value, entries))
    );
    println!("| the original's: map | KiB |");
    println!("|---|---:|");
    let mut original = 0;
    for (name, kind, key, value, entries) in ORIGINAL {
        let bytes = map_memlock(kind, key, value, entries);
        original += bytes;
        println!("| `{name}` | {} |", kib(bytes));
    }
    println!("| **all** | {} |\n", kib(original));
    println!(
        "ours / original's: {:.4} apps off, {:.4} apps on",
        total_off as f64 / original as f64,
        total_on as f64 / original as f64
    );
}
