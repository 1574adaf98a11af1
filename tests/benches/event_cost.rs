//! What the disk, hardirq, softirq, oomkill, socket, cachestat, dcstat,
//! swap, mdflush and filesystem programs cost per event (socket, cachestat, dcstat and
//! swap: with their per-process table off and on; socket also with the
//! network viewer's connection table on), against an empty
//! program of the same kind on the same hooks, measured in one run by the
//! kernel itself (`BPF_ENABLE_STATS`: every program's run time and run
//! count). An event is one pair of runs (entry and exit, or issue and
//! completion, or a message's send and receive, or a page's swap-out and
//! swap-in, or a syscall's enter and exit), or for oomkill, cachestat, dcstat and mdflush one run (a
//! kill, a read's look-up of the page cache, a path look-up, an md flush).
//! Only tracepoint variants are measured, but for a thread that has none
//! (dcstat, swap, mdflush): its first variant this kernel attaches (none on
//! the development machine, whose kernel has no kprobes and refuses
//! trampolines; the row then says so). swap needs the zram module (a swap
//! device of its own), mdflush md_mod and raid1.
//! Both sets run on every event, so they see the same events; their attach
//! order alternates between rounds. What the tracepoint costs before any
//! program runs (the same for both) is not in these numbers, nor are the
//! programs keeping the per-process table or the `--pid` set current: they
//! run on every process's exec and exit, not on the thread's events.
//!
//! Run as root with `scripts/bench-events [THREAD...]` (it takes the shared
//! test lock). Prints a Markdown table of medians over the rounds.

use std::cell::LazyCell;
use std::collections::BTreeSet;
use std::time::Duration;

use aya::programs::{
    loaded_programs, BtfTracePoint, FEntry, FExit, KProbe, ProgramError, TracePoint,
};
use aya::{Btf, Ebpf, EbpfLoader};
use conf::{Config, ThreadName};
use tests::block::{LoopDevice, MdArray};
use tests::median;
use tests::provoke::{interrupt_the_other_cpu, loopback_traffic, oom_cgroup, oom_kill};
use workers::loader::Collector;
use workers::thread::{Hook, Needed, ProgramSpec, Thread, Variant};
use workers::{VariantKind, WorkerConfig};

const ROUNDS: usize = 6;

/// OOM kills per round: each is a process started and killed, and a
/// kernel log report; a few are enough for a program run once per kill.
const OOM_KILLS: usize = 20;

struct Case {
    thread: ThreadName,
    /// What makes the events.
    workload: &'static str,
    /// Program runs per event: a pair, or one.
    runs_per_event: u64,
    /// Also measured with the apps charts (the per-process table) on.
    per_process: bool,
    /// Also measured with the network viewer (its connection table) on.
    viewer: bool,
}

/// What a thread is measured with besides its counters.
#[derive(Clone, Copy)]
enum Mode {
    Plain,
    /// The per-process table (the apps charts) on.
    Apps,
    /// The network viewer's connection table on.
    Viewer,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Plain => "off",
            Mode::Apps => "on",
            Mode::Viewer => "off, viewer on",
        }
    }
}

const CASES: &[Case] = &[
    Case {
        thread: ThreadName::Disk,
        workload: "4 KiB direct I/O on a loop device",
        runs_per_event: 2,
        per_process: false,
        viewer: false,
    },
    Case {
        thread: ThreadName::Hardirq,
        workload: "membarrier IPIs and timer ticks",
        runs_per_event: 2,
        per_process: false,
        viewer: false,
    },
    Case {
        thread: ThreadName::Softirq,
        workload: "loopback TCP traffic",
        runs_per_event: 2,
        per_process: false,
        viewer: false,
    },
    Case {
        thread: ThreadName::Oomkill,
        workload: "OOM kills in a 32 MiB memory cgroup",
        runs_per_event: 1,
        per_process: false,
        viewer: false,
    },
    Case {
        thread: ThreadName::Socket,
        workload: "100-byte TCP messages on loopback",
        runs_per_event: 2,
        per_process: true,
        viewer: true,
    },
    Case {
        thread: ThreadName::Cachestat,
        workload: "4 KiB reads of a cached file",
        runs_per_event: 1,
        per_process: true,
        viewer: false,
    },
    Case {
        thread: ThreadName::Dcstat,
        workload: "fstatat and mkdirat (EEXIST) of a cached name",
        runs_per_event: 1,
        per_process: true,
        viewer: false,
    },
    Case {
        thread: ThreadName::Swap,
        workload: "pages out with MADV_PAGEOUT and back, zram",
        runs_per_event: 2,
        per_process: true,
        viewer: false,
    },
    Case {
        thread: ThreadName::Filesystem,
        workload: "4 KiB preads of a cached file on ext4",
        runs_per_event: 2,
        per_process: false,
        viewer: false,
    },
    Case {
        thread: ThreadName::Mdflush,
        workload: "fdatasync of an md RAID1 array of two loop devices",
        runs_per_event: 1,
        per_process: false,
        viewer: false,
    },
];

fn program_ids() -> BTreeSet<u32> {
    loaded_programs()
        .filter_map(Result::ok)
        .map(|p| p.id())
        .collect()
}

/// Nanoseconds per event of the programs `ids`, and events.
fn per_event(ids: &BTreeSet<u32>, runs_per_event: u64) -> (f64, u64) {
    let (mut ns, mut runs) = (0u128, 0u64);
    for program in loaded_programs().filter_map(Result::ok) {
        if ids.contains(&program.id()) {
            ns += program.run_time().as_nanos();
            runs += program.run_count();
        }
    }
    let events = runs / runs_per_event;
    (ns as f64 / events.max(1) as f64, events)
}

/// The programs of `variant` that run on the thread's events.
fn event_programs(thread: &Thread, variant: &Variant) -> Vec<ProgramSpec> {
    thread
        .programs(variant)
        .into_iter()
        .filter(|spec| !matches!(spec.needed, Needed::PerProcess | Needed::PidFilter))
        .collect()
}

/// Of the programs `ids`, those running on `variant`'s events, known by
/// their names (which the kernel keeps to 15 bytes).
fn on_events(ids: BTreeSet<u32>, thread: &Thread, variant: &Variant) -> BTreeSet<u32> {
    let programs = event_programs(thread, variant);
    let names: Vec<&[u8]> = programs
        .iter()
        .map(|spec| &spec.name.as_bytes()[..spec.name.len().min(15)])
        .collect();
    loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| ids.contains(&p.id()) && names.contains(&p.name()))
        .map(|p| p.id())
        .collect()
}

/// An empty program on every event hook of `variant` the kernel has.
fn attach_empty(thread: &Thread, variant: &Variant, btf: &Btf) -> Vec<Ebpf> {
    let mut attached = Vec::new();
    let mut tracefs: Option<Ebpf> = None;
    for spec in event_programs(thread, variant) {
        match spec.hook {
            Hook::BtfTracepoint(name) => {
                // A BTF tracepoint program is bound to its tracepoint at load.
                let mut ebpf = EbpfLoader::new()
                    .btf(Some(btf))
                    .load(bpf::empty::OBJECT.bytes)
                    .unwrap();
                let program: &mut BtfTracePoint =
                    ebpf.program_mut("empty_btf").unwrap().try_into().unwrap();
                match program.load(name, btf) {
                    Err(ProgramError::Btf(_)) => continue,
                    loaded => loaded.unwrap(),
                }
                program.attach().unwrap();
                attached.push(ebpf);
            }
            Hook::Tracepoint(..) | Hook::Syscalls { .. } => {
                let ebpf = tracefs.get_or_insert_with(|| {
                    let mut ebpf = Ebpf::load(bpf::empty::OBJECT.bytes).unwrap();
                    let program: &mut TracePoint =
                        ebpf.program_mut("empty").unwrap().try_into().unwrap();
                    program.load().unwrap();
                    ebpf
                });
                let program: &mut TracePoint =
                    ebpf.program_mut("empty").unwrap().try_into().unwrap();
                // Tracepoints this kernel lacks are skipped by the thread too.
                match spec.hook {
                    Hook::Syscalls { exit, names } => {
                        let side = if exit { "sys_exit_" } else { "sys_enter_" };
                        for syscall in names {
                            let _ = program.attach("syscalls", &format!("{side}{syscall}"));
                        }
                    }
                    Hook::Tracepoint(category, name) => {
                        let _ = program.attach(category, name);
                    }
                    _ => unreachable!(),
                }
            }
            Hook::FEntry(names) | Hook::FExit(names) => {
                let mut ebpf = EbpfLoader::new()
                    .btf(Some(btf))
                    .load(bpf::empty::OBJECT.bytes)
                    .unwrap();
                // The first name the kernel's BTF has, as the loader takes.
                let loads = |load: &mut dyn FnMut(&str) -> Result<(), ProgramError>| {
                    names.iter().any(|function| load(function).is_ok())
                };
                let loaded = if matches!(spec.hook, Hook::FEntry(_)) {
                    let program: &mut FEntry = ebpf
                        .program_mut("empty_fentry")
                        .unwrap()
                        .try_into()
                        .unwrap();
                    loads(&mut |function| program.load(function, btf)) && program.attach().is_ok()
                } else {
                    let program: &mut FExit =
                        ebpf.program_mut("empty_fexit").unwrap().try_into().unwrap();
                    loads(&mut |function| program.load(function, btf)) && program.attach().is_ok()
                };
                assert!(loaded, "{names:?}");
                attached.push(ebpf);
            }
            Hook::KProbe(names) => {
                let mut ebpf = Ebpf::load(bpf::empty::OBJECT.bytes).unwrap();
                let section = thread
                    .object
                    .programs
                    .iter()
                    .find(|p| p.name == spec.name)
                    .expect("the thread's program")
                    .section;
                let name = match section {
                    bpf::Section::KRetProbe => "empty_kretprobe",
                    _ => "empty_kprobe",
                };
                let program: &mut KProbe = ebpf.program_mut(name).unwrap().try_into().unwrap();
                program.load().unwrap();
                // The name the thread attached to (the first that attaches).
                assert!(
                    names
                        .iter()
                        .any(|function| program.attach(function, 0).is_ok()),
                    "{names:?}"
                );
                attached.push(ebpf);
            }
        }
    }
    attached.extend(tracefs);
    attached
}

/// Messages of the socket case per round.
const MESSAGES: usize = 200_000;

fn attach_thread(
    thread: ThreadName,
    variant: &Variant,
    btf: &Btf,
    mode: Mode,
) -> Result<Collector, workers::loader::AttachError> {
    let mut config = Config::default();
    config.thread_mut(thread).apps = matches!(mode, Mode::Apps);
    config.network_connections_enabled = matches!(mode, Mode::Viewer);
    let cfg = WorkerConfig {
        thread,
        config,
        pid_filter: None,
        supervisor: std::process::id(),
    };
    let implementation = workers::registry::find(thread).unwrap();
    workers::loader::attach(implementation, variant, &cfg, btf)
}

/// Attaches `attach` and returns the programs it loaded and what it holds.
fn with_ids<T>(attach: impl FnOnce() -> T) -> (T, BTreeSet<u32>) {
    let before = program_ids();
    let held = attach();
    let ids = program_ids().difference(&before).copied().collect();
    (held, ids)
}

fn provoke(thread: ThreadName, device: &LazyCell<LoopDevice>) {
    match thread {
        ThreadName::Disk => {
            device.direct_io(5000, 5000);
        }
        ThreadName::Hardirq => {
            interrupt_the_other_cpu(Duration::from_secs(2));
        }
        ThreadName::Softirq => {
            loopback_traffic(1 << 30);
        }
        ThreadName::Oomkill => {
            let cgroup = oom_cgroup(&format!("ebpf-bench-{}", std::process::id()));
            for _ in 0..OOM_KILLS {
                oom_kill(&cgroup, None);
            }
        }
        ThreadName::Socket => small_messages(MESSAGES),
        ThreadName::Cachestat | ThreadName::Filesystem => cached_reads(READS),
        ThreadName::Dcstat => lookups(LOOKUPS),
        ThreadName::Swap => swapped_pages(SWAPPED),
        ThreadName::Mdflush => md_flushes(FLUSHES),
        other => unreachable!("{other}"),
    }
}

/// `count` messages of 100 bytes over a loopback TCP connection, each sent
/// in one call and received in one before the next is sent.
fn small_messages(count: usize) {
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut receiver, _) = listener.accept().unwrap();
    let (message, mut buffer) = ([7u8; 100], [0u8; 100]);
    for _ in 0..count {
        sender.write_all(&message).unwrap();
        receiver.read_exact(&mut buffer).unwrap();
    }
}

/// Reads of the cachestat case per round.
const READS: usize = 500_000;

/// `count` one-page reads of a file in the page cache (of the temporary
/// directory: a real filesystem's, not tmpfs), each one look-up (for
/// filesystem: one pread64 timed, where the temporary directory is on
/// ext4).
fn cached_reads(count: usize) {
    use std::os::unix::fs::FileExt as _;

    const PAGE: usize = 4096;
    const PAGES: usize = 64;
    let path = std::env::temp_dir().join(format!("ebpf-bench-cachestat-{}", std::process::id()));
    std::fs::write(&path, vec![7u8; PAGES * PAGE]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let mut buffer = [0u8; PAGE];
    for i in 0..count {
        file.read_exact_at(&mut buffer, ((i % PAGES) * PAGE) as u64)
            .unwrap();
    }
    std::fs::remove_file(&path).unwrap();
}

/// Look-ups of the dcstat case per round (each of two kinds).
const LOOKUPS: usize = 50_000;

/// `count` `fstatat` of a cached file (one `lookup_fast()` each) and
/// `count` `mkdirat` of its name (one `d_lookup()` each, EEXIST), relative
/// to its directory.
fn lookups(count: usize) {
    use std::os::fd::AsRawFd;

    let dir = tests::TempDir::new("dcstat-bench");
    std::fs::write(dir.0.join("cached"), b"").unwrap();
    let fd = std::fs::File::open(&dir.0).unwrap();
    let name = std::ffi::CString::new("cached").unwrap();
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    for _ in 0..count {
        // SAFETY: plain syscalls on our own directory; `stat` is written only.
        unsafe {
            let flags = libc::AT_SYMLINK_NOFOLLOW;
            assert_eq!(
                libc::fstatat(fd.as_raw_fd(), name.as_ptr(), stat.as_mut_ptr(), flags),
                0
            );
            assert_eq!(libc::mkdirat(fd.as_raw_fd(), name.as_ptr(), 0o700), -1);
        }
    }
}

/// Pages of the swap case per round.
const SWAPPED: usize = 20_000;

/// `count` pages pushed out to swap and read back, 256 at a time (as
/// tests/swap.rs: small pages, filled with non-zero bytes, on a zram
/// device of its own, without readahead).
fn swapped_pages(count: usize) {
    const PAGE: usize = 4096;
    const PAGES: usize = 256;
    let _swap = tests::swap::Swap::zram(2 * PAGES as u32).expect("swap on zram");
    let bytes = PAGES * PAGE;
    // SAFETY: a new private anonymous mapping of our own, advised whole;
    // MADV_PAGEOUT keeps its contents.
    unsafe {
        let at = libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(at, libc::MAP_FAILED);
        assert_eq!(libc::madvise(at, bytes, libc::MADV_NOHUGEPAGE), 0);
        let pages = at.cast::<u8>();
        std::ptr::write_bytes(pages, 7, bytes);
        for _ in 0..count / PAGES {
            assert_eq!(libc::madvise(at, bytes, libc::MADV_PAGEOUT), 0);
            for page in 0..PAGES {
                std::ptr::read_volatile(pages.add(page * PAGE));
            }
        }
        libc::munmap(at, bytes);
    }
}

/// Flushes of the mdflush case per round.
const FLUSHES: usize = 5000;

/// `count` `fdatasync` of a RAID1 md array's block device (md_mod and
/// raid1 loaded): each sends md one flush.
fn md_flushes(count: usize) {
    use std::os::fd::AsRawFd;

    let array = MdArray::raid1(1 << 20);
    let device = std::fs::OpenOptions::new()
        .write(true)
        .open(array.path())
        .unwrap();
    for _ in 0..count {
        // SAFETY: a plain syscall on our own descriptor.
        assert_eq!(unsafe { libc::fdatasync(device.as_raw_fd()) }, 0);
    }
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("event_cost: needs root to load BPF programs (run scripts/bench-events)");
        std::process::exit(1);
    }
    if !std::path::Path::new("/sys/kernel/tracing/events/irq").exists() {
        eprintln!(
            "event_cost: tracefs is not mounted: mount -t tracefs tracefs /sys/kernel/tracing"
        );
        std::process::exit(1);
    }
    let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).expect("BPF_ENABLE_STATS");
    let btf = Btf::from_sys_fs().expect("kernel BTF");
    // Made only when the disk case runs.
    let device: LazyCell<LoopDevice> = LazyCell::new(|| LoopDevice::create(64 << 20));
    let kernel = nix::sys::utsname::uname().unwrap();
    println!(
        "kernel {}, {} CPUs, {ROUNDS} rounds, median ns per event \
         (a pair of runs; oomkill, cachestat, dcstat and mdflush: one run)\n",
        kernel.release().to_string_lossy(),
        std::thread::available_parallelism().unwrap()
    );
    println!(
        "| thread | variant | apps | workload | events per round | empty | thread's | added |"
    );
    println!("|---|---|---|---|---:|---:|---:|---:|");
    // Cargo passes `--bench`; thread names choose cases.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for case in CASES
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| o == c.thread.key()))
    {
        let thread = workers::registry::find(case.thread).unwrap();
        let modes: Vec<Mode> = [
            Some(Mode::Plain),
            case.per_process.then_some(Mode::Apps),
            case.viewer.then_some(Mode::Viewer),
        ]
        .into_iter()
        .flatten()
        .collect();
        let tracepoints: Vec<&Variant> = thread
            .variants
            .iter()
            .filter(|variant| variant.kind == VariantKind::Tracepoint)
            .collect();
        let variants = if tracepoints.is_empty() {
            // Its first variant this kernel takes, if any.
            let usable = thread
                .variants
                .iter()
                .find(|variant| attach_thread(case.thread, variant, &btf, Mode::Plain).is_ok());
            if usable.is_none() {
                println!(
                    "| {} | none can run here | | {} | | | | |",
                    case.thread, case.workload
                );
            }
            usable.into_iter().collect()
        } else {
            tracepoints
        };
        for (variant, &mode) in variants
            .into_iter()
            .flat_map(|v| modes.iter().map(move |m| (v, m)))
        {
            let kind = match variant.programs[0].1 {
                Hook::BtfTracepoint(_) => "tp_btf",
                Hook::FEntry(_) | Hook::FExit(_) => "trampoline",
                Hook::KProbe(_) => "probe",
                _ => "tracefs",
            };
            let (mut empty, mut real, mut events) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                let attach_real = || {
                    with_ids(|| {
                        attach_thread(case.thread, variant, &btf, mode)
                            .unwrap_or_else(|e| panic!("attach {}: {e}", case.thread))
                    })
                };
                let attach_empty = || with_ids(|| attach_empty(thread, variant, &btf));
                let ((held_real, real_ids), (held_empty, empty_ids)) = if round % 2 == 0 {
                    let r = attach_real();
                    (r, attach_empty())
                } else {
                    let e = attach_empty();
                    (attach_real(), e)
                };
                provoke(case.thread, &device);
                let real_ids = on_events(real_ids, thread, variant);
                let (real_ns, real_events) = per_event(&real_ids, case.runs_per_event);
                let (empty_ns, _) = per_event(&empty_ids, case.runs_per_event);
                drop((held_real, held_empty));
                real.push(real_ns);
                empty.push(empty_ns);
                events.push(real_events as f64);
            }
            let (empty, real) = (median(&mut empty), median(&mut real));
            println!(
                "| {} | {kind} | {} | {} | {:.0} | {empty:.0} | {real:.0} | {:.0} |",
                case.thread,
                mode.label(),
                case.workload,
                median(&mut events),
                real - empty
            );
        }
    }
}
