//! `ebpf-collector check` on the real kernel: its exit status, its key
//! lines, and that what it predicts is what `run` does: the variant it says
//! a thread uses is the one the kernel then holds for that thread's worker
//! (read from the worker's fdinfo), and a variant it says cannot run makes
//! that thread's worker give up.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use tests::hooks::worker_thread;
use tests::{children, collector_bin, require_root, Collector, TempDir};

const VARIANTS: [&str; 3] = ["trampoline", "tracepoint", "probe"];

/// `ebpf-collector check ARGS` with `files` (relative path, text) as its
/// only configuration: its exit status and stdout. These tests choose their
/// variants themselves, whatever `$EBPF_COLLECTOR_VARIANT` says.
fn check(args: &[&str], files: &[(&str, &str)]) -> (i32, String) {
    let config = TempDir::new("check");
    for (relative, text) in files {
        config.write(relative, text);
    }
    let out = Command::new(collector_bin())
        .args(["check", "--config-dir"])
        .arg(&config.0)
        .args(args)
        .env_remove("NETDATA_USER_CONFIG_DIR")
        .env_remove("NETDATA_STOCK_CONFIG_DIR")
        .output()
        .expect("run ebpf-collector check");
    let stdout = String::from_utf8(out.stdout).unwrap();
    eprintln!(
        "check {args:?}:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("check exited by a signal"), stdout)
}

/// The value of the report line `label`.
fn value<'a>(report: &'a str, label: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(label)?;
            rest.starts_with("  ").then(|| rest.trim())
        })
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{report}"))
}

/// `thread NAME: uses VARIANT` lines.
fn used_variants(report: &str) -> BTreeMap<String, String> {
    report
        .lines()
        .filter_map(|l| {
            let (thread, variant) = l.strip_prefix("thread ")?.split_once(": uses ")?;
            Some((thread.to_string(), variant.to_string()))
        })
        .collect()
}

/// The verdict on `variant` in thread `thread`'s block.
fn verdict<'a>(report: &'a str, thread: &str, variant: &str) -> &'a str {
    report
        .lines()
        .skip_while(|l| !l.starts_with(&format!("thread {thread}:")))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .find_map(|l| l.trim().strip_prefix(variant))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {variant} line for {thread} in:\n{report}"))
}

/// Which thread each worker of a collector runs (`worker THREAD` in its
/// command line), with the variants of the hooks it holds.
fn variants_by_thread(collector: &Collector) -> BTreeMap<String, Vec<&'static str>> {
    let found = collector
        .worker_hooks()
        .into_iter()
        .map(|(pid, links)| {
            let mut variants: Vec<&str> =
                links.iter().map(|l| l.variant().unwrap_or("?")).collect();
            variants.dedup();
            (worker_thread(pid).unwrap_or_default(), variants)
        })
        .collect();
    assert_eq!(children(collector.pid()).len(), 2, "workers: {found:?}");
    found
}

#[test]
fn reports_the_host_and_predicts_the_variant_run_attaches() {
    if !require_root("check") {
        return;
    }
    let (status, report) = check(&["--process", "--sync"], &[]);
    assert_eq!(status, 0, "{report}");
    let release = nix::sys::utsname::uname().unwrap();
    assert!(value(&report, "kernel").starts_with(&*release.release().to_string_lossy()));
    for label in [
        "privileges",
        "btf",
        "tracefs",
        "memory",
        "tracepoints",
        "BTF tracepoints",
    ] {
        assert!(
            value(&report, label).starts_with("ok"),
            "{label}:\n{report}"
        );
    }
    assert!(value(&report, "result").starts_with("ok: every enabled thread can run"));
    // A kind of hook the kernel refuses fails every variant built on it.
    for (feature, variant) in [("fentry/fexit", "trampoline"), ("kprobes", "probe")] {
        if value(&report, feature).starts_with("no:") {
            for thread in ["process", "sync"] {
                assert!(verdict(&report, thread, variant).starts_with("no:"));
            }
        }
    }

    let predicted = used_variants(&report);
    assert_eq!(predicted.len(), 2, "{report}");
    let collector = Collector::start(&["--process", "--sync", "--variant", "auto"], &[]);
    collector.wait_for_data("system.exit");
    collector.wait_for_data("mem.file_sync");
    let attached: BTreeMap<String, String> = variants_by_thread(&collector)
        .into_iter()
        .map(|(thread, variants)| (thread, variants.join("+")))
        .collect();
    assert_eq!(attached, predicted, "run attached what check did not say");
    collector.terminate();
}

#[test]
fn a_forced_variant_runs_exactly_where_check_says_it_can() {
    if !require_root("check --variant") {
        return;
    }
    for variant in VARIANTS {
        let (status, report) = check(&["--sync", "--variant", variant], &[]);
        let collector = Collector::start(&["--sync", "--variant", variant], &[]);
        if status == 0 {
            assert_eq!(
                value(&report, "result"),
                "ok: every enabled thread can run (1)"
            );
            assert_eq!(verdict(&report, "sync", variant), "ok (used)");
            collector.wait_for_data("mem.file_sync");
            collector.assert_variant(variant);
        } else {
            assert_eq!(status, 1, "{report}");
            assert!(report.contains("\nthread sync: cannot run\n"), "{report}");
            assert!(verdict(&report, "sync", variant).starts_with("no: "));
            assert_eq!(
                value(&report, "result"),
                "1 of 1 enabled threads cannot run: sync"
            );
            assert!(
                value(&report, "what to do").starts_with("- sync: "),
                "{report}"
            );
            // The worker tries the one allowed variant and gives up; the
            // collector then asks Netdata not to restart it.
            let gave_up = collector.wait_until(Duration::from_secs(60), |s| s.disabled);
            assert!(gave_up, "no DISABLE; stderr:\n{}", collector.stderr());
            assert!(
                collector
                    .stderr()
                    .contains(&format!("{variant} variant rejected")),
                "{}",
                collector.stderr()
            );
        }
        collector.terminate();
    }
}

#[test]
fn a_threads_own_file_forces_its_variant_and_only_that_thread_fails() {
    if !require_root("check with ebpf.d/sync.conf") {
        return;
    }
    let sync_conf = "[global]\n    ebpf type format = co-re\n    ebpf co-re tracing = probe\n";
    let (status, report) = check(&["--process", "--sync"], &[("ebpf.d/sync.conf", sync_conf)]);
    let process = used_variants(&report).remove("process");
    assert!(
        process.is_some(),
        "process is not forced and runs:\n{report}"
    );
    for other in ["trampoline", "tracepoint"] {
        let verdict = verdict(&report, "sync", other);
        assert!(
            verdict.starts_with("no:") || verdict == "ok, but the configuration does not allow it",
            "{report}"
        );
    }
    if value(&report, "kprobes").starts_with("ok") {
        assert_eq!(status, 0, "{report}");
        assert_eq!(verdict(&report, "sync", "probe"), "ok (used)");
    } else {
        assert_eq!(status, 1, "{report}");
        assert!(report.contains("\nthread sync: cannot run\n"), "{report}");
        assert_eq!(
            value(&report, "result"),
            "1 of 2 enabled threads cannot run: sync"
        );
        let todo = value(&report, "what to do");
        assert!(
            todo.contains("set `ebpf type format = auto` in ebpf.d.conf and ebpf.d/sync.conf"),
            "{report}"
        );
    }
}

/// The original's keys choose only among the program sets a thread has:
/// forcing trampolines leaves hardirq (tracepoints only) on its own, which
/// `check` and the worker's log both say, and it collects.
#[test]
fn a_forced_kind_a_thread_lacks_leaves_it_on_its_own_variants() {
    if !require_root("check --hardirq --variant trampoline") {
        return;
    }
    let (status, report) = check(&["--hardirq", "--variant", "trampoline"], &[]);
    assert_eq!(status, 0, "{report}");
    assert_eq!(
        used_variants(&report).get("hardirq").map(String::as_str),
        Some("tracepoint"),
        "{report}"
    );
    let why =
        "forces the trampoline variant, which hardirq does not have: trying its own (tracepoint)";
    assert!(report.contains(why), "{report}");
    let collector = Collector::start(&["--hardirq", "--variant", "trampoline"], &[]);
    collector.wait_for_data("system.hardirq_latency");
    assert!(collector.stderr().contains(why), "{}", collector.stderr());
    collector.assert_variant("tracepoint");
    collector.terminate();
}

/// Like `nginx -t`: every error and warning of the files with its file and
/// line, every apps group Netdata gets under another name, and a failing
/// exit status for an error, while the kernel report goes on.
#[test]
fn broken_files_are_listed_with_file_and_line_and_fail_the_check() {
    if !require_root("check with broken files") {
        return;
    }
    let apps = "\u{feff}web: nginx\n\"my group\": foo\na_b: x\n\"a b\": y\ndb: 'mysql\nbad\0: q\n";
    let (status, report) = check(
        &["--sync"],
        &[
            ("ebpf.d.conf", "[global]\nupdate every = abc\n[bogus]\n"),
            ("apps_groups.conf", apps),
        ],
    );
    assert_eq!(status, 1, "{report}");
    assert!(
        value(&report, "configuration").ends_with("apps_groups.conf (2 errors, 2 warnings)"),
        "{report}"
    );
    for expected in [
        "ebpf.d.conf:2: [global] `update every` = `abc`: not a positive integer",
        "ebpf.d.conf:3: unknown section `[bogus]` (ignored)",
        "apps_groups.conf:5: `db: 'mysql` has an unbalanced `'`",
        "apps_groups.conf:6: a NUL byte in `bad\\u{0}: q`; line skipped",
        "apps group `my group` is sent to Netdata as `my_group`",
        "apps group `a b` is sent to Netdata as `a_b_1` (`a_b` is another group's)",
    ] {
        assert!(report.contains(expected), "no `{expected}` in:\n{report}");
    }
    assert!(!report.contains("apps group `web`"), "{report}");
    // The kernel part is still there.
    assert!(used_variants(&report).contains_key("sync"), "{report}");
    assert_eq!(
        value(&report, "result"),
        "the configuration has 2 errors; every enabled thread can run (1)"
    );
    assert!(
        value(&report, "what to do").starts_with("- fix the configuration errors"),
        "{report}"
    );
}

/// A directory named on the command line that is not there is a warning,
/// not an error: the check passes and says so.
#[test]
fn a_missing_config_dir_is_a_warning() {
    if !require_root("check --config-dir /nonexistent") {
        return;
    }
    let (status, report) = check(&["--config-dir", "/nonexistent/check", "--sync"], &[]);
    assert_eq!(status, 0, "{report}");
    assert!(
        report.contains(
            "warning: /nonexistent/check: the configuration directory named by --config-dir \
             does not exist"
        ),
        "{report}"
    );
    assert!(value(&report, "result").starts_with("ok: every enabled thread can run"));
}
