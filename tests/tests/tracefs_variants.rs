//! The tracefs-tracepoint variants of disk, hardirq and softirq, for
//! kernels without BTF tracepoints (before 5.5). On newer kernels `auto`
//! and a forced `tracepoint` both pick the BTF variant first, so these
//! attach the fallback directly, as a worker would, and check what it
//! counts: the same exact disk I/Os, the same growing vectors.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use conf::{Config, ThreadName};
use ipc::Message;
use tests::block::LoopDevice;
use tests::kernel::{assert_back_to, snapshot};
use tests::provoke::{interrupt_the_other_cpu, loopback_traffic};
use tests::require_root;
use workers::loader::Collector;
use workers::thread::Hook;
use workers::{VariantKind, WorkerConfig};

/// One test at a time: each checks that it leaves nothing in the kernel.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `check` with the thread's tracefs variant attached, as root, and
/// then asserts that nothing of it stays in the kernel (without root, see
/// [`require_root`]).
fn with_tracefs_variant(name: ThreadName, check: impl FnOnce(&mut dyn FnMut() -> Vec<Message>)) {
    if !require_root(&format!("{name}, tracefs variant")) {
        return;
    }
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let objects = snapshot();
    let mut collector = attach_tracefs_variant(name);
    check(&mut || {
        let mut messages = Vec::new();
        collector.collect(&mut messages).unwrap();
        messages
    });
    drop(collector);
    assert_back_to(&objects);
}

/// The thread's tracefs variant, attached; the collector owns it.
fn attach_tracefs_variant(name: ThreadName) -> Collector {
    // What the supervisor does before starting workers.
    let tracing = Path::new("/sys/kernel/tracing");
    if !tracing.join("events").exists() {
        nix::mount::mount(
            Some("tracefs"),
            tracing,
            Some("tracefs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount tracefs");
    }
    let thread = workers::registry::find(name).unwrap();
    let variant = thread
        .variants
        .iter()
        .find(|v| {
            v.kind == VariantKind::Tracepoint
                && thread
                    .programs(v)
                    .iter()
                    .all(|p| matches!(p.hook, Hook::Tracepoint(..)))
        })
        .unwrap_or_else(|| panic!("{name} has no tracefs variant"));
    let cfg = WorkerConfig {
        thread: name,
        config: Config::default(),
        pid_filter: None,
        supervisor: std::process::id(),
    };
    let btf = workers::loader::kernel_btf(&cfg).unwrap();
    workers::loader::attach(thread, variant, &cfg, &btf)
        .unwrap_or_else(|e| panic!("{name}, tracefs variant: {e}"))
}

fn plain(messages: &[Message], counter: u32) -> u64 {
    messages
        .iter()
        .find_map(|m| match *m {
            Message::Counter { index, total } if index == counter => Some(total),
            _ => None,
        })
        .unwrap_or(0)
}

#[test]
fn disk_counts_each_direct_io_exactly() {
    if !require_root("disk, tracefs variant") {
        return;
    }
    let device = LoopDevice::create(1 << 20);
    device.settle();
    with_tracefs_variant(ThreadName::Disk, |collect| {
        device.direct_io(10, 10);
        // Completion is reported before the call returns. Keys are the
        // map's (dev_t) plus one.
        let dev = ((7u64 << 20) | u64::from(device.number)) + 1;
        let counted: u64 = collect()
            .iter()
            .filter_map(|m| match *m {
                Message::Keyed { key, total, .. } if key == dev => Some(total),
                _ => None,
            })
            .sum();
        assert_eq!(counted, 20);
    });
}

#[test]
fn softirq_times_net_rx() {
    use bpf::softirq::counter::NET_RX;
    with_tracefs_variant(ThreadName::Softirq, |collect| {
        let before = plain(&collect(), NET_RX);
        let took = loopback_traffic(256 << 20);
        let after = plain(&collect(), NET_RX);
        let cpus = std::thread::available_parallelism().unwrap().get() as u128;
        assert!(after > before, "NET_RX stayed at {before} ns");
        assert!(u128::from(after - before) <= took.as_nanos() * cpus);
    });
}

#[test]
fn hardirq_times_call_function_ipis() {
    use bpf::hardirq::counter::{FUNC_CALL, FUNC_CALL_SINGLE};
    with_tracefs_variant(ThreadName::Hardirq, |collect| {
        let ipis =
            |messages: &[Message]| plain(messages, FUNC_CALL) + plain(messages, FUNC_CALL_SINGLE);
        let before = ipis(&collect());
        interrupt_the_other_cpu(Duration::from_secs(1));
        let after = ipis(&collect());
        assert!(
            after > before,
            "the call-function vectors stayed at {before} ns"
        );
    });
}
