//! The loader on the real kernel: a variant whose programs attach one by
//! one until one fails leaves nothing behind, for each kind of hook this
//! kernel allows (the others fail at their first program: nothing to undo).

use conf::{Config, ThreadName};
use tests::require_root;
use workers::loader::{self, AttachError};
use workers::thread::{Hook, Needed, Thread, Variant, WorkerConfig};
use workers::VariantKind;

/// The BPF objects (programs, links, maps) this process holds a fd of.
fn bpf_fds() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| target.starts_with("anon_inode:bpf") || target.contains("perf_event"))
        .collect()
}

/// The sync thread with only a `kind` variant cut to its fsync program,
/// which attaches, then its fdatasync program aimed at a hook no kernel
/// has.
fn half_broken(sync: &Thread, kind: VariantKind) -> &'static Thread {
    let real = sync
        .variants
        .iter()
        .find(|v| v.kind == kind)
        .expect("sync has every variant");
    let programs = sync.programs(real);
    let named = |prefix: &str| {
        programs
            .iter()
            .find(|p| p.name.starts_with(prefix))
            .unwrap()
            .clone()
    };
    let broken_hook = match kind {
        VariantKind::Tracepoint => Hook::Tracepoint("syscalls", "sys_enter_no_such_syscall"),
        VariantKind::Trampoline => Hook::FEntry(&["no_such_kernel_function"]),
        VariantKind::Probe => Hook::KProbe(&["no_such_kernel_function"]),
    };
    let leak = |name: String| -> &'static str { String::leak(name) };
    let fsync = named("sync_fsync");
    let fdatasync = named("sync_fdatasync");
    let variant = Variant::with(
        kind,
        Vec::leak(vec![
            (leak(fsync.name), fsync.hook, Needed::Always),
            (leak(fdatasync.name), broken_hook, Needed::Always),
        ]),
    );
    Box::leak(Box::new(Thread {
        calls: &[],
        variants: Vec::leak(vec![variant]),
        ..*sync
    }))
}

#[test]
fn a_variant_failing_half_way_leaves_nothing_attached() {
    if !require_root("half-way attach") {
        return;
    }
    let sync = workers::registry::find(ThreadName::Sync).unwrap();
    let cfg = WorkerConfig {
        thread: ThreadName::Sync,
        config: Config::default(),
        pid_filter: None,
        supervisor: std::process::id(),
    };
    let btf = loader::kernel_btf(&cfg).unwrap();
    let mut half_way = Vec::new();
    for kind in [
        VariantKind::Trampoline,
        VariantKind::Tracepoint,
        VariantKind::Probe,
    ] {
        let before = bpf_fds();
        let broken = half_broken(sync, kind);
        let error = match loader::attach(broken, &broken.variants[0], &cfg, &btf) {
            Ok(_) => panic!("{kind:?}: a hook no kernel has attached"),
            Err(e) => e,
        };
        let failed = match &error {
            AttachError::Load { program, .. }
            | AttachError::NoFunction { program, .. }
            | AttachError::Attach { program, .. }
            | AttachError::Probe { program, .. } => program.clone(),
            other => panic!("{kind:?}: {other}"),
        };
        if failed.starts_with("sync_fdatasync") {
            half_way.push(kind);
        }
        assert_eq!(bpf_fds(), before, "{kind:?} left fds behind after: {error}");
    }
    // Tracepoints exist on every kernel the collector supports.
    assert!(half_way.contains(&VariantKind::Tracepoint), "{half_way:?}");
    eprintln!("failed half-way without a trace: {half_way:?}");
}
