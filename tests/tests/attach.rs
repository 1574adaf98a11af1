//! The loader on the real kernel: a variant whose programs attach one by
//! one until one fails leaves nothing behind, for each kind of hook this
//! kernel allows (the others fail at their first program: nothing to undo).

use std::sync::Mutex;

use conf::{Config, ThreadName};
use tests::require_root;
use workers::loader::{self, AttachError};
use workers::thread::{Hook, Needed, ProgramSpec, Thread, Variant, WorkerConfig};
use workers::VariantKind;

/// One test at a time: each loads BPF objects in this process, and the
/// first counts the BPF descriptors this process holds.
static SERIAL: Mutex<()> = Mutex::new(());

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
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
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

/// A static function the compiler specialised is in kallsyms only as its
/// clone (`cpu_show_common.constprop.0` on Debian's 6.1 and 6.12, as
/// `lookup_fast.constprop.0` on some kernels): a kprobe given the plain
/// name attaches to the clone. Where the kernel has no kprobes, the
/// attach must fail for that reason.
#[test]
fn a_kprobe_attaches_to_the_clone_kallsyms_has_of_its_function() {
    if !require_root("kprobe on a clone") {
        return;
    }
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let btf = aya::Btf::from_sys_fs().unwrap();
    let symbols = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let names: std::collections::BTreeSet<&str> = symbols
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .collect();
    // Clones whose plain name is no symbol, cpu_show_common's first.
    let mut plain: Vec<&str> = names
        .iter()
        .filter_map(|name| name.strip_suffix(".constprop.0"))
        .filter(|plain| !names.contains(plain) && !plain.starts_with("__pfx_"))
        .collect();
    plain.sort_by_key(|name| *name != "cpu_show_common");
    assert!(!plain.is_empty(), "no cloned function in kallsyms");
    let kprobes = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists();
    let mut attached = None;
    for function in plain.iter().take(20) {
        let mut ebpf = aya::EbpfLoader::new()
            .load(bpf::check::OBJECT.bytes)
            .unwrap();
        let name: &'static str = String::leak(function.to_string());
        let spec = ProgramSpec::new(
            "check_kprobe",
            Hook::KProbe(Vec::leak(vec![name])),
            Needed::Always,
        );
        match loader::attach_program(&mut ebpf, &spec, &btf) {
            Ok(()) => {
                attached = Some(name);
                break;
            }
            Err(e) if !kprobes => {
                assert!(format!("{e:?}").contains("kprobe/type"), "{e:?}");
                return;
            }
            // Some functions refuse probes (the kprobe blacklist).
            Err(e) => eprintln!("{function}: {e}"),
        }
    }
    let function = attached.expect("no clone attached");
    // The plain name alone does not attach: the clone did.
    let mut ebpf = aya::EbpfLoader::new()
        .load(bpf::check::OBJECT.bytes)
        .unwrap();
    let program: &mut aya::programs::KProbe = ebpf
        .program_mut("check_kprobe")
        .unwrap()
        .try_into()
        .unwrap();
    program.load().unwrap();
    assert!(
        program.attach(function, 0).is_err(),
        "{function} is a symbol"
    );
    eprintln!("attached to {function}.constprop.0 by the name {function}");
}
