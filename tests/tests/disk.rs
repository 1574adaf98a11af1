//! `disk` on the real kernel: direct I/Os of a known number on a loop
//! device of our own (backed by tmpfs: no real disk is touched) must land
//! in that device's latency histogram, exactly that many, in buckets no
//! slower than the calls took; the chart is the original's, and it is
//! marked obsolete once the device is gone.

use std::time::Duration;

use tests::block::LoopDevice;
use tests::expected::HISTOGRAM_LABELS;
use tests::kernel::{assert_back_to, snapshot};
use tests::protocol::Stream;
use tests::{require_root, Collector};

const WRITES: u64 = 12;
const READS: u64 = 12;

/// The last value of every bucket of `chart`, in label order.
fn buckets(stream: &Stream, chart: &str) -> Option<Vec<i64>> {
    let chart = stream.chart(chart)?;
    HISTOGRAM_LABELS
        .iter()
        .map(|label| chart.total(label))
        .collect::<Option<Vec<i64>>>()
}

#[test]
fn direct_ios_on_a_loop_device_land_in_its_histogram_exactly() {
    if !require_root("disk") {
        return;
    }
    let objects = snapshot();
    let mut device = LoopDevice::create(1 << 20);
    device.settle();
    let collector = Collector::start(&["--disk", "--update-every", "1"], &[]);
    collector.wait_running("disk");
    let before = device.completed();
    let longest = device.direct_io(WRITES, READS);
    let id = format!("disk_latency_io.{}", device.name());
    let expected = (WRITES + READS) as i64;
    let total = |s: &Stream| buckets(s, &id).map(|b| b.iter().sum::<i64>());
    let reached = collector.wait_until(Duration::from_secs(30), |s| total(s) == Some(expected));
    if reached {
        // Nothing late, nothing twice.
        std::thread::sleep(Duration::from_millis(2500));
    }
    let stream = collector.stream();
    assert_eq!(
        total(&stream),
        Some(expected),
        "{id}: buckets {:?}; the device completed {} requests meanwhile; stderr:\n{}",
        buckets(&stream, &id),
        device.completed() - before,
        collector.stderr()
    );
    // A bucket k > 0 starts at 2^(k-1) µs: none can be slower than the
    // slowest call was, seen from user space.
    let counts = buckets(&stream, &id).unwrap();
    let slowest = counts.iter().rposition(|&n| n > 0).unwrap();
    let floor_us = if slowest == 0 {
        0
    } else {
        1u128 << (slowest - 1)
    };
    assert!(
        floor_us <= longest.as_micros(),
        "bucket {} ({}) is slower than the slowest call ({longest:?}): {counts:?}",
        slowest,
        HISTOGRAM_LABELS[slowest]
    );

    let chart = stream.chart(&id).unwrap();
    let name = device.name();
    assert_eq!(
        chart.header(),
        (
            "Disk latency",
            "calls/s",
            name.as_str(),
            "disk.latency_io",
            "stacked",
            2095,
            1,
            "ebpf.plugin",
            "disk"
        )
    );
    let dims: Vec<_> = HISTOGRAM_LABELS
        .iter()
        .map(|l| (*l, *l, "incremental", 1))
        .collect();
    assert_eq!(chart.dimensions(), dims);

    // Gone from /proc/partitions: obsolete within ten updates.
    device.detach();
    let obsolete = collector.wait_until(Duration::from_secs(20), |s| {
        s.chart(&id).is_some_and(|c| c.obsolete)
    });
    assert!(
        obsolete,
        "{id} not marked obsolete after its device went away"
    );
    let (_, stream) = collector.terminate();
    assert_eq!(stream.errors, Vec::<String>::new());
    tests::assert_netdata_keeps_everything(&stream);
    assert_back_to(&objects);
}
