//! `cachestat` on the real kernel: a workload reads P pages out of the page
//! cache (P misses), reads them again one by one and then in one call
//! longer than the kernel's batch of folios (2P hits), and overwrites them
//! (P pages dirtied); with `--pid` the charts must show exactly that,
//! under every variant.
//!
//! The pages are a loop device's own (backed by a file in tmpfs, whose
//! pages the loop driver reads in its own thread): a block device's page
//! cache is filled, read and dirtied through the same functions and
//! tracepoints as a disk filesystem's files, but writing to it looks up
//! nothing else. A file on ext4 does: a write that changes its mtime also
//! updates the inode (i_version), whose block is looked up in the block
//! device's page cache, which `folio_mark_accessed()` counts (the function
//! variants saw 65 accesses for 64 on 6.12, how many depends on the
//! clock). tmpfs has a page cache of its own, not filled by the hooked
//! functions.

use std::time::Duration;

use tests::block::LoopDevice;
use tests::expected::cachestat_totals;
use tests::{forced_variant, kernel_btf_has, require_root, Collector, Workload};

const PAGES: i64 = 64;
const HITS: &str = "mem.cachestat_hits";

/// With the tracepoint variant forced on a kernel without the page cache
/// access tracepoints (before 6.11), the thread cannot run: the collector
/// must say so and why. True when that is the case (and was asserted).
fn refused_without_access_tracepoints() -> bool {
    if forced_variant().as_deref() != Some("tracepoint")
        || kernel_btf_has("btf_trace_mm_filemap_get_pages")
    {
        return false;
    }
    let collector = Collector::start(&["--cachestat"], &[]);
    let said = tests::poll(Duration::from_secs(60), Duration::from_millis(100), || {
        let stderr = collector.stderr();
        stderr.contains("btf_trace_mm_filemap_get_pages")
            && stderr.contains("cachestat: cannot run on this system")
    });
    assert!(said, "no reason given:\n{}", collector.stderr());
    let (_, stream) = collector.terminate();
    assert!(stream.disabled, "no DISABLE");
    true
}

#[test]
fn counts_pages_read_in_read_again_and_dirtied_exactly() {
    if !require_root("cachestat") || refused_without_access_tracepoints() {
        return;
    }
    let device = LoopDevice::create(PAGES as u64 * 4096);
    let scenario = format!("cachestat={}", device.path().display());
    let mut workload = Workload::spawn(&scenario, PAGES as usize);
    let collector = Collector::watching(&workload, &["--cachestat"], &[], HITS);
    workload.work();
    // Before it exits: unmapping its files at exit marks every page it
    // touched through its page tables accessed (folio_mark_accessed() in
    // zap_pte_range()), which the trampoline and probe variants count.
    collector.assert_totals(&cachestat_totals(PAGES));
    workload.exit();
    let stream = collector.stream();
    // Every interval's ratio is between 0 (all missed) and 100.
    let ratios = &stream.chart("mem.cachestat_ratio").unwrap().dims["ratio"].values;
    assert!(ratios.iter().all(|r| (0..=100).contains(r)), "{ratios:?}");
    for (id, title, units, priority, dim, algorithm) in [
        (
            "mem.cachestat_ratio",
            "Hit ratio",
            "%",
            21100,
            "ratio",
            "absolute",
        ),
        (
            "mem.cachestat_dirties",
            "Number of dirty pages",
            "pages/s",
            21101,
            "dirty",
            "incremental",
        ),
        (
            HITS,
            "Number of accessed files",
            "hits/s",
            21102,
            "hit",
            "absolute",
        ),
        (
            "mem.cachestat_misses",
            "Files out of page cache",
            "misses/s",
            21103,
            "miss",
            "absolute",
        ),
    ] {
        let chart = stream.chart(id).unwrap();
        assert_eq!(
            chart.header(),
            (
                title,
                units,
                "page_cache",
                "",
                "line",
                priority,
                1,
                "ebpf.plugin",
                "cachestat"
            ),
            "{id}"
        );
        assert_eq!(chart.dimensions(), [(dim, dim, algorithm, 1)], "{id}");
    }
    collector.terminate();
}
