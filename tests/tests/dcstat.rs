//! `dcstat` on the real kernel: a workload looks names up in a directory
//! of its own (N of a cached file and N of a missing name in path walks, N
//! of each through `d_lookup()`, `tests/src/bin/workload.rs`); with
//! `--pid` each dimension must show exactly that, per process too.
//!
//! The thread hooks kernel functions only (no tracepoint is there): on a
//! kernel without kprobes that refuses trampolines (the development
//! machine) every test asserts the refusal instead, with its reasons; the
//! kernel matrix runs the counts in 6.1 and 6.12 under each variant.

use tests::expected::dcstat_totals;
use tests::no_tracepoints::{refused_here, wait_attached};
use tests::protocol::Stream;
use tests::{require_root, Collector, Workload};

const N: i64 = 7;
const RATIO: &str = "filesystem.dc_hit_ratio";
const REFERENCE: &str = "filesystem.dc_reference";

/// Each update's ratio is the percentage of its references that were not
/// misses (0 without references), and some update had references.
fn assert_ratios(ratio: &[i64], references: &[i64], misses: &[i64]) {
    assert_eq!(
        (ratio.len(), misses.len()),
        (references.len(), references.len()),
        "one value per update"
    );
    for ((&ratio, &references), &misses) in ratio.iter().zip(references).zip(misses) {
        let want = if references > 0 {
            (references - misses).clamp(0, references) * 100 / references
        } else {
            0
        };
        assert_eq!(ratio, want, "{references} references, {misses} misses");
    }
    assert!(
        references.iter().any(|&r| r > 0),
        "no update had references"
    );
}

/// `dim`'s values on `chart`.
fn values<'a>(stream: &'a Stream, chart: &str, dim: &str) -> &'a [i64] {
    let chart = stream
        .chart(chart)
        .unwrap_or_else(|| panic!("{chart} not defined"));
    &chart.dims[dim].values
}

#[test]
fn counts_lookups_of_cached_and_missing_names_exactly() {
    if !require_root("dcstat") {
        return;
    }
    if refused_here("dcstat", &["--dcstat"]) {
        return;
    }
    let workload = Workload::spawn("dcstat", N as usize);
    let pid = workload.pid().to_string();
    let collector = Collector::start(&["--dcstat", "--update-every", "1", "--pid", &pid], &[]);
    wait_attached(&collector, "dcstat", REFERENCE);
    workload.run();
    collector.assert_totals(&dcstat_totals(N));
    let stream = collector.stream();
    assert_ratios(
        values(&stream, RATIO, "ratio"),
        values(&stream, REFERENCE, "reference"),
        values(&stream, REFERENCE, "miss"),
    );
    for (id, title, units, priority, dims) in [
        (
            RATIO,
            "Percentage of files inside directory cache",
            "%",
            21200,
            &["ratio"][..],
        ),
        (
            REFERENCE,
            "Variables used to calculate hit ratio.",
            "files",
            21201,
            &["reference", "slow", "miss"][..],
        ),
    ] {
        let defined = stream.chart(id).expect(id);
        assert_eq!(
            defined.header(),
            (
                title,
                units,
                "directory cache (eBPF)",
                "",
                "line",
                priority,
                1,
                "ebpf.plugin",
                "dcstat"
            ),
            "{id}"
        );
        let want: Vec<(&str, &str, &str, i64)> =
            dims.iter().map(|d| (*d, *d, "absolute", 1)).collect();
        assert_eq!(defined.dimensions(), want, "{id}");
    }
    collector.terminate();
}

/// The workload's own apps group (apps on, a group naming only it) counts
/// exactly its look-ups, as the system-wide charts do.
#[test]
fn counts_the_workloads_lookups_in_its_apps_group() {
    if !require_root("dcstat per process") {
        return;
    }
    if refused_here("dcstat", &["--dcstat"]) {
        return;
    }
    let comm = format!("dc{}", std::process::id());
    let workload = Workload::spawn_named("dcstat", N as usize, Some(&comm));
    let pid = workload.pid().to_string();
    let files = [
        ("ebpf.d.conf", "[global]\n    apps = yes\n".to_owned()),
        ("apps_groups.conf", format!("lookups: {comm}\n")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let args = ["--dcstat", "--update-every", "1", "--pid", &pid];
    let collector = Collector::start(&args, &files);
    wait_attached(&collector, "dcstat", REFERENCE);
    workload.run();
    let mut expected = dcstat_totals(N);
    expected.extend([
        ("apps.dc_reference", "lookups", 2 * N),
        ("apps.dc_not_cache", "lookups", 2 * N),
        ("apps.dc_not_found", "lookups", N),
    ]);
    collector.assert_totals(&expected);
    let stream = collector.stream();
    let ratio = stream
        .chart("apps.dc_hit_ratio")
        .expect("apps.dc_hit_ratio");
    assert_eq!(
        ratio.header(),
        (
            "Percentage of files inside directory cache",
            "%",
            "directory cache (eBPF)",
            "",
            "line",
            20100,
            1,
            "ebpf.plugin",
            "dcstat"
        )
    );
    assert_ratios(
        values(&stream, "apps.dc_hit_ratio", "lookups"),
        values(&stream, "apps.dc_reference", "lookups"),
        values(&stream, "apps.dc_not_found", "lookups"),
    );
    collector.terminate();
}
