//! `mdflush` on the real kernel: a RAID1 md array of two loop devices of
//! our own (tmpfs-backed, `tests::block::MdArray`), N page writes each
//! followed by `fdatasync` on the array's block device: each fdatasync
//! sends md one flush, so the array's dimension must be exactly N. The
//! block layer says the same: md passes each flush to every member, whose
//! own flush counts (`/sys/block/loopN/stat`) must each grow by N.
//!
//! The thread hooks `md_flush_request()` (no tracepoint is there): on a
//! kernel without kprobes that refuses trampolines (the development
//! machine) the test asserts the refusal instead, with its reasons; where
//! md is a module (the kernel matrix's 6.1 and 6.12) the trampoline
//! variant is refused too, as the function is in md_mod's BTF, not the
//! kernel's, and the counts are tested with the probe variant.

use std::process::Command;
use std::time::Duration;

use tests::block::MdArray;
use tests::kernel::{assert_back_to, snapshot};
use tests::{collector_bin, forced_variant, require_root, Collector, Workload};

const N: u64 = 7;
const CHART: &str = "mdstat.mdstat_flush";
const CANNOT_RUN: &str = "mdflush: cannot run on this system";

/// What `ebpf-collector check --mdflush` says of variant `kind`: its
/// verdict, after the kind's name.
fn verdict<'a>(report: &'a str, kind: &str) -> &'a str {
    report
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(kind))
        .map_or("", str::trim_start)
}

/// Whether a variant that cannot attach was refused for a reason of the
/// kernel's: kprobes missing, trampolines refused, or `md_flush_request`
/// not in the kernel's own BTF (md is a module, or not built). md not
/// loaded while the kernel could probe it is no such reason: the test must
/// fail, not pass as a refusal.
fn refused_by_the_kernel(kind: &str, verdict: &str) -> bool {
    match kind {
        "trampoline" => {
            verdict.contains("none of md_flush_request is in the kernel's BTF")
                || verdict.contains("Operation not permitted")
        }
        _ => verdict.contains("/sys/bus/event_source/devices/kprobe/type"),
    }
}

/// When the variant forced (or, unforced, every variant) cannot run here,
/// the collector and `check` must say why, and the collector must stop
/// only that thread, once, asking Netdata not to restart it. True when
/// that is the case (and was asserted).
fn refused_here() -> bool {
    let out = Command::new(collector_bin())
        .args(["check", "--config-dir", "/nonexistent", "--mdflush"])
        .env_remove("NETDATA_USER_CONFIG_DIR")
        .env_remove("NETDATA_STOCK_CONFIG_DIR")
        .output()
        .expect("run ebpf-collector check");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let kinds: &[&str] = match forced_variant().as_deref() {
        Some("trampoline") => &["trampoline"],
        Some("probe") => &["probe"],
        _ => &["trampoline", "probe"],
    };
    if kinds
        .iter()
        .any(|kind| verdict(&report, kind).starts_with("ok"))
    {
        return false;
    }
    for kind in kinds {
        assert!(
            refused_by_the_kernel(kind, verdict(&report, kind)),
            "mdflush's {kind} variant cannot run, for no reason of the kernel's \
             (is md_mod loaded?):\n{report}"
        );
    }
    assert!(
        report.contains("tracepoint   none: mdflush has no tracepoint variant"),
        "{report}"
    );
    if kinds.len() == 2 {
        assert!(report.contains("thread mdflush: cannot run"), "{report}");
        assert!(
            report.contains("mdflush: no variant can run on this kernel"),
            "{report}"
        );
    }
    let collector = Collector::start(&["--mdflush"], &[]);
    let said = tests::poll(Duration::from_secs(60), Duration::from_millis(100), || {
        collector.stderr().contains(CANNOT_RUN)
    });
    let stderr = collector.stderr();
    assert!(said, "no reason given:\n{stderr}");
    eprintln!("refused, as it should be:\n{stderr}");
    assert!(
        stderr.contains("md_flush_request"),
        "no word of the function it could not hook:\n{stderr}"
    );
    // Tried once, not in a loop.
    std::thread::sleep(Duration::from_secs(2));
    let stderr = collector.stderr();
    assert_eq!(stderr.matches(CANNOT_RUN).count(), 1, "{stderr}");
    let (_, stream) = collector.terminate();
    assert!(stream.disabled, "no DISABLE");
    true
}

/// Running, with the variant forced if it has it; forced to tracepoint,
/// which it has not, it says so and attaches its own.
fn wait_running(collector: &Collector) {
    let variant = collector.wait_running_lacking("mdflush", "tracepoint");
    assert!(
        matches!(variant.as_deref(), Some("trampoline" | "probe")),
        "{variant:?}"
    );
}

#[test]
fn counts_each_flush_of_a_raid1_array_exactly() {
    if !require_root("mdflush") {
        return;
    }
    if refused_here() {
        return;
    }
    let objects = snapshot();
    let array = MdArray::raid1(1 << 20);
    for member in &array.members {
        member.settle();
    }
    let workload = Workload::spawn(&format!("mdflush={}", array.path().display()), N as usize);
    let collector = Collector::start(&["--mdflush", "--update-every", "1"], &[]);
    wait_running(&collector);
    let before = array.members.each_ref().map(|m| m.flushes());
    workload.run();
    let dim = array.name();
    collector.assert_totals(&[(CHART, &dim, N as i64)]);
    let grown: Vec<u64> = array
        .members
        .iter()
        .zip(before)
        .map(|(member, before)| member.flushes() - before)
        .collect();
    eprintln!(
        "{dim}: {N} flushes counted; its members' own flush counts grew by {grown:?}; variant {:?}",
        collector.variant()
    );
    assert_eq!(
        grown,
        [N, N],
        "the members' own flush counts grew by {grown:?} for {N} flushes of {dim}"
    );

    let (_, stream) = collector.terminate();
    let chart = stream.chart(CHART).expect(CHART);
    assert_eq!(
        chart.header(),
        (
            "MD flushes",
            "flushes",
            "flush (eBPF)",
            "md.flush",
            "stacked",
            2101,
            1,
            "ebpf.plugin",
            "mdflush"
        )
    );
    assert_eq!(
        chart.dimensions(),
        [(dim.as_str(), dim.as_str(), "incremental", 1)]
    );
    assert_eq!(stream.errors, Vec::<String>::new());
    tests::assert_netdata_keeps_everything(&stream);
    drop(array);
    assert_back_to(&objects);
}
