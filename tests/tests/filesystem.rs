//! `filesystem` on the real kernel: ext4, xfs and btrfs made on loop
//! devices of our own (tmpfs-backed: no real disk is touched) and mounted
//! in a temporary directory; the workload opens a file of each N times,
//! then writes, reads and fsyncs it N times each. With `--pid`, each
//! filesystem's four histograms must hold exactly N calls, in buckets no
//! slower than the whole run took, and no other filesystem gets a chart.
//! Unmounted, a filesystem's charts become obsolete; switched off in
//! `filesystem.conf`, it gets none.
//!
//! Every variant counts the same calls: the tracepoint variant the
//! syscalls, the trampoline and probe variants the filesystems' functions
//! they end in. A trampoline only attaches to functions in the kernel's
//! own BTF (the loader looks nowhere else): where xfs or btrfs is a module
//! (the kernel matrix's 6.1 and 6.12), forced to trampoline, it gets no
//! chart, and the test asserts that. A probe attaches to the modules
//! loaded when the thread starts (the test mounts first): it counts them
//! all.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tests::block::LoopDevice;
use tests::expected::{filesystem_totals, HISTOGRAM_LABELS};
use tests::kernel::{assert_back_to, snapshot};
use tests::protocol::Stream;
use tests::{
    cannot_run, forced_variant, kernel_btf_has, require_root, Collector, TempDir, Workload,
};

const N: usize = 9;

/// The filesystems made here, with their charts' priority base (the
/// original's order: ext4, xfs, nfs, zfs, btrfs; four charts each).
const MADE: [(&str, i64); 3] = [("ext4", 2160), ("xfs", 2164), ("btrfs", 2176)];

/// The smallest size each mkfs takes (xfs: 300 MiB); sparse.
fn bytes(kind: &str) -> u64 {
    match kind {
        "xfs" => 320 << 20,
        "btrfs" => 128 << 20,
        _ => 32 << 20,
    }
}

/// Running, with the variant forced if one is.
fn wait_running(collector: &Collector) {
    collector.wait_running("filesystem");
}

/// Whether the forced variant counts calls on `kind`: a trampoline only
/// where its read function is in the kernel's BTF (built in).
fn counted(kind: &str) -> bool {
    forced_variant().as_deref() != Some("trampoline")
        || kernel_btf_has(&format!("{kind}_file_read_iter"))
}

/// A filesystem of type `kind` on a loop device of our own, mounted on a
/// temporary directory; unmounted and detached when dropped.
struct Mounted {
    kind: &'static str,
    dir: TempDir,
    mounted: bool,
    _device: LoopDevice,
}

impl Mounted {
    /// None (after [`cannot_run`]) when `mkfs.<kind>` is missing.
    fn make(kind: &'static str) -> Option<Mounted> {
        let device = LoopDevice::create(bytes(kind));
        let mkfs = format!("mkfs.{kind}");
        let force = if kind == "ext4" { "-F" } else { "-f" };
        let made = Command::new(&mkfs)
            .args([force, "-q"])
            .arg(device.path())
            .output();
        match made {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!("{mkfs}: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => {
                cannot_run(&format!(
                    "filesystem: {mkfs}: {e} (scripts/deps installs e2fsprogs, xfsprogs, btrfs-progs)"
                ));
                return None;
            }
        }
        let dir = TempDir::new(&format!("fs-{kind}"));
        let out = Command::new("mount")
            .args(["-t", kind])
            .arg(device.path())
            .arg(&dir.0)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t {kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Mounted {
            kind,
            dir,
            mounted: true,
            _device: device,
        })
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }

    fn unmount(&mut self) {
        if std::mem::take(&mut self.mounted) {
            let out = Command::new("umount").arg(&self.dir.0).output().unwrap();
            assert!(
                out.status.success(),
                "umount {}: {}",
                self.dir.0.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.dir.0).output();
        }
    }
}

/// Every filesystem of `kinds` made and mounted, or None.
fn make_all(kinds: &[&'static str]) -> Option<Vec<Mounted>> {
    kinds.iter().map(|kind| Mounted::make(kind)).collect()
}

/// The workload's scenario on every mounted filesystem.
fn scenario(mounted: &[Mounted]) -> String {
    mounted
        .iter()
        .map(|m| format!("filesystem={}", m.path().display()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The bucket counts of `chart`, in label order.
fn buckets(stream: &Stream, chart: &str) -> Option<Vec<i64>> {
    let chart = stream.chart(chart)?;
    HISTOGRAM_LABELS
        .iter()
        .map(|label| chart.total(label))
        .collect()
}

/// Each chart's calls, summed over its buckets.
fn sums(stream: &Stream, charts: &[(String, i64)]) -> Vec<Option<i64>> {
    charts
        .iter()
        .map(|(id, _)| buckets(stream, id).map(|b| b.iter().sum()))
        .collect()
}

/// Waits until every chart of `expected` holds exactly its calls, and
/// still does two updates later.
fn assert_calls(collector: &Collector, expected: &[(String, i64)]) {
    let want: Vec<Option<i64>> = expected.iter().map(|(_, n)| Some(*n)).collect();
    let reached = collector.wait_until(Duration::from_secs(30), |s| sums(s, expected) == want);
    if reached {
        std::thread::sleep(Duration::from_millis(2500));
    }
    let stream = collector.stream();
    let report: Vec<String> = expected
        .iter()
        .map(|(id, n)| format!("{id}: expected {n}, buckets {:?}", buckets(&stream, id)))
        .collect();
    assert!(
        reached && sums(&stream, expected) == want,
        "calls differ:\n{}\nstderr:\n{}",
        report.join("\n"),
        collector.stderr()
    );
    assert_eq!(stream.errors, Vec::<String>::new(), "protocol errors");
}

/// Ours: per filesystem, the calls that could not be timed.
const UNTIMED: &str = "filesystem.untimed_calls";

/// The filesystems' histogram charts the stream has, not obsolete.
fn live_charts(stream: &Stream) -> Vec<String> {
    let mut ids: Vec<String> = stream
        .charts
        .iter()
        .filter(|(id, chart)| id.starts_with("filesystem.") && *id != UNTIMED && !chart.obsolete)
        .map(|(id, _)| id.clone())
        .collect();
    ids.sort();
    ids
}

#[test]
fn each_call_on_each_filesystem_lands_in_its_histogram_exactly() {
    if !require_root("filesystem") {
        return;
    }
    let objects = snapshot();
    let Some(mut mounted) = make_all(&["ext4", "xfs", "btrfs"]) else {
        return;
    };
    let workload = Workload::spawn(&scenario(&mounted), N);
    let pid = workload.pid().to_string();
    let collector = Collector::start(&["--filesystem", "--update-every", "1", "--pid", &pid], &[]);
    wait_running(&collector);
    let started = Instant::now();
    workload.run();
    let took = started.elapsed();
    let kinds: Vec<&str> = mounted
        .iter()
        .map(|m| m.kind)
        .filter(|k| counted(k))
        .collect();
    let expected = filesystem_totals(&kinds, N as i64);
    assert_calls(&collector, &expected);

    let stream = collector.stream();
    let mut ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    assert_eq!(live_charts(&stream), ids, "charts of other filesystems");
    // Each call had room to be timed: none untimed, on the thread's one
    // chart of all filesystems (the five, none switched off).
    let untimed = stream.chart(UNTIMED).expect(UNTIMED);
    assert_eq!(
        untimed.header(),
        (
            "Calls not timed: no room for the call in flight",
            "calls/s",
            "untimed calls",
            "",
            "line",
            2180,
            1,
            "ebpf.plugin",
            "filesystem"
        )
    );
    let names: Vec<&str> = untimed.dimensions().iter().map(|d| d.1).collect();
    assert_eq!(names, ["ext4", "xfs", "nfs", "zfs", "btrfs"]);
    for kind in &kinds {
        assert_eq!(untimed.total(kind), Some(0), "{UNTIMED} {kind}");
    }
    for (id, _) in &expected {
        // A bucket k > 0 starts at 2^(k-1) µs: none can be slower than
        // the whole run.
        let counts = buckets(&stream, id).unwrap();
        let slowest = counts.iter().rposition(|&n| n > 0).unwrap();
        let floor_us = if slowest == 0 {
            0
        } else {
            1u128 << (slowest - 1)
        };
        assert!(
            floor_us <= took.as_micros(),
            "{id}: bucket {} slower than the run ({took:?}): {counts:?}",
            HISTOGRAM_LABELS[slowest]
        );
    }
    for (kind, base) in MADE.into_iter().filter(|(kind, _)| counted(kind)) {
        for (n, op) in ["read", "write", "open", "sync"].iter().enumerate() {
            let id = format!("filesystem.{kind}_{op}_latency");
            let chart = stream.chart(&id).unwrap();
            let title = format!("{kind} latency for each {op} request.");
            let family = format!("{kind}_latency");
            let context = format!("filesystem.{op}_latency");
            assert_eq!(
                chart.header(),
                (
                    title.as_str(),
                    "calls/s",
                    family.as_str(),
                    context.as_str(),
                    "stacked",
                    base + n as i64,
                    1,
                    "ebpf.plugin",
                    "filesystem"
                ),
                "{id}"
            );
            let dims: Vec<_> = HISTOGRAM_LABELS
                .iter()
                .map(|l| (*l, *l, "incremental", 1))
                .collect();
            assert_eq!(chart.dimensions(), dims, "{id}");
        }
    }

    // xfs and btrfs unmounted (none other is mounted here): their charts
    // become obsolete within ten updates; ext4's stay if ext4 is still
    // mounted elsewhere (the root), which this test does not assume.
    for m in mounted.iter_mut().filter(|m| m.kind != "ext4") {
        m.unmount();
    }
    let gone: Vec<String> = expected
        .iter()
        .map(|(id, _)| id.clone())
        .filter(|id| !id.starts_with("filesystem.ext4_"))
        .collect();
    let obsolete = collector.wait_until(Duration::from_secs(30), |s| {
        gone.iter()
            .all(|id| s.chart(id).is_some_and(|c| c.obsolete))
    });
    assert!(
        obsolete,
        "not obsolete after unmounting: {:?}",
        live_charts(&collector.stream())
    );
    let (_, stream) = collector.terminate();
    assert_eq!(stream.errors, Vec::<String>::new());
    tests::assert_netdata_keeps_everything(&stream);
    drop(mounted);
    assert_back_to(&objects);
}

/// `filesystem.conf` as the original ships it, with xfs switched off: xfs
/// gets no chart, ext4 is counted.
#[test]
fn a_filesystem_switched_off_in_filesystem_conf_gets_no_chart() {
    if !require_root("filesystem.conf") {
        return;
    }
    let Some(mounted) = make_all(&["ext4", "xfs"]) else {
        return;
    };
    let stock = include_str!("../../conf/tests/fixtures/stock/ebpf.d/filesystem.conf");
    let conf = stock.replace("xfsdist = yes", "xfsdist = no");
    assert_ne!(conf, stock);
    let workload = Workload::spawn(&scenario(&mounted), N);
    let pid = workload.pid().to_string();
    let collector = Collector::start(
        &["--filesystem", "--update-every", "1", "--pid", &pid],
        &[("ebpf.d/filesystem.conf", &conf)],
    );
    wait_running(&collector);
    workload.run();
    let expected = filesystem_totals(&["ext4"], N as i64);
    assert_calls(&collector, &expected);
    let mut ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    let stream = collector.stream();
    assert_eq!(live_charts(&stream), ids);
    // Nor a dimension of the untimed calls.
    let untimed = stream.chart(UNTIMED).expect(UNTIMED);
    let names: Vec<&str> = untimed.dimensions().iter().map(|d| d.1).collect();
    assert_eq!(names, ["ext4", "nfs", "zfs", "btrfs"]);
    collector.terminate();
    drop(mounted);
}
