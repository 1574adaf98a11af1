//! Threads without a tracepoint variant (dcstat, swap): they hook kernel
//! functions only, so on a kernel without kprobes that refuses trampolines
//! (the development machine) they cannot run, and a forced tracepoint
//! variant makes them say so and attach their own.

use std::process::Command;
use std::time::Duration;

use crate::{collector_bin, forced_variant, Collector};

/// What `ebpf-collector check` says of a kind of hook (`fentry/fexit`,
/// `kprobes`): whether an empty program of it attached.
fn hook_kind_works(report: &str, label: &str) -> bool {
    report
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .is_some_and(|rest| rest.trim_start().starts_with("ok"))
}

/// When neither kind of hook `thread` has can run here (or the forced one
/// cannot), the collector and `check` must say why, and the collector,
/// started with `args`, must stop only that thread, once, asking Netdata
/// not to restart it. True when that is the case (and was asserted).
pub fn refused_here(thread: &str, args: &[&str]) -> bool {
    let out = Command::new(collector_bin())
        .args([
            "check",
            "--config-dir",
            "/nonexistent",
            &format!("--{thread}"),
        ])
        .env_remove("NETDATA_USER_CONFIG_DIR")
        .env_remove("NETDATA_STOCK_CONFIG_DIR")
        .output()
        .expect("run ebpf-collector check");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let (fentry, kprobes) = (
        hook_kind_works(&report, "fentry/fexit"),
        hook_kind_works(&report, "kprobes"),
    );
    let runnable = match forced_variant().as_deref() {
        Some("trampoline") => fentry,
        Some("probe") => kprobes,
        _ => fentry || kprobes,
    };
    if runnable {
        return false;
    }
    assert!(
        report.contains(&format!("thread {thread}: cannot run")),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "tracepoint   none: {thread} has no tracepoint variant"
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!("{thread}: no variant can run on this kernel")),
        "{report}"
    );
    let collector = Collector::start(args, &[]);
    let cannot = format!("{thread}: cannot run on this system");
    let said = crate::poll(Duration::from_secs(60), Duration::from_millis(100), || {
        collector.stderr().contains(&cannot)
    });
    let stderr = collector.stderr();
    assert!(said, "no reason given:\n{stderr}");
    assert!(
        stderr.contains("it has no tracepoint variant"),
        "no word of the missing tracepoint variant:\n{stderr}"
    );
    // Tried once, not in a loop.
    std::thread::sleep(Duration::from_secs(2));
    let stderr = collector.stderr();
    assert_eq!(stderr.matches(&cannot).count(), 1, "{stderr}");
    let (_, stream) = collector.terminate();
    assert!(stream.disabled, "no DISABLE");
    true
}

/// Waits for `thread`'s `chart` attached. A forced tracepoint variant,
/// which it does not have: it says so and attaches its own (the harness's
/// check of the forced variant does not apply).
pub fn wait_attached(collector: &Collector, thread: &str, chart: &str) {
    if forced_variant().as_deref() == Some("tracepoint") {
        collector.wait_for_data(chart);
        let stderr = collector.stderr();
        assert!(
            stderr.contains(&format!(
                "forces the tracepoint variant, which {thread} does not have"
            )),
            "{stderr}"
        );
        let variant = collector.variant();
        assert!(
            matches!(variant.as_deref(), Some("trampoline" | "probe")),
            "{variant:?}"
        );
    } else {
        collector.wait_attached(chart);
    }
}
