//! Test harness: the real `ebpf-collector` binary on the real kernel, a
//! workload with known event counts, and a strict reader of the stream.

pub mod block;
pub mod expected;
pub mod hooks;
pub mod maps;
pub mod netdata_host;
pub mod no_tracepoints;
pub mod protocol;
pub mod provoke;
pub mod statsd;
pub mod swap;
pub mod systemd;

/// What of ours the kernel holds: programs and maps, as `bpftool` lists them.
pub mod kernel {
    use std::collections::BTreeSet;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// The ids `bpftool {prog|map} show` lists.
    pub fn kernel_objects(kind: &str) -> BTreeSet<u64> {
        let out = Command::new("bpftool")
            .args([kind, "show", "--json"])
            .output()
            .expect("bpftool is needed (apt-get install bpftool)");
        assert!(out.status.success(), "bpftool {kind} show failed");
        let text = String::from_utf8(out.stdout).unwrap();
        text.match_indices("\"id\":")
            .filter_map(|(at, key)| {
                let rest = &text[at + key.len()..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect()
    }

    /// The ids of the kernel's programs and of its maps.
    pub type Snapshot = (BTreeSet<u64>, BTreeSet<u64>);

    pub fn snapshot() -> Snapshot {
        (kernel_objects("prog"), kernel_objects("map"))
    }

    /// The kernel frees programs and maps asynchronously: poll. Objects
    /// that were there before and went meanwhile are not ours (an earlier
    /// test's, freed late): only new ones that stay count.
    pub fn assert_back_to(before: &Snapshot) {
        let deadline = Instant::now() + super::scaled(Duration::from_secs(10));
        loop {
            let now = snapshot();
            if now.0.is_subset(&before.0) && now.1.is_subset(&before.1) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "left in the kernel: programs {:?}, maps {:?}",
                now.0.difference(&before.0).collect::<Vec<_>>(),
                now.1.difference(&before.1).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use protocol::Stream;

pub mod cgroup;

/// Under CI a test that cannot run fails; elsewhere it says so and skips.
pub fn require_root(test: &str) -> bool {
    nix::unistd::geteuid().is_root()
        || cannot_run(&format!("{test}: needs root to load BPF programs"))
}

/// A test that cannot run: a failure under CI, a loud skip (false) elsewhere.
pub fn cannot_run(message: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("{message} (CI is set: not skipping)");
    }
    eprintln!("SKIPPED {message}");
    // libtest shows a passing test's output only with --show-output: the
    // skip also goes to `$EBPF_COLLECTOR_SKIPPED`, a file scripts/test
    // names in its summary.
    if let Some(path) = std::env::var_os("EBPF_COLLECTOR_SKIPPED") {
        use std::io::Write;
        let line = format!("{}\n", message.replace('\n', " "));
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
    }
    false
}

/// How many times slower than a real machine this one runs the tests:
/// `$EBPF_COLLECTOR_TEST_SLOWDOWN` (the kernel matrix sets it for its
/// emulated VMs), else 1. Tests that hold the collector to a deadline
/// scale it with [`scaled`].
pub fn slowdown() -> u32 {
    std::env::var("EBPF_COLLECTOR_TEST_SLOWDOWN")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(1)
}

/// `deadline` on this machine.
pub fn scaled(deadline: Duration) -> Duration {
    deadline * slowdown()
}

/// Calls `done` every `every` until it holds (true) or `timeout` passes.
pub fn poll(timeout: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(every);
    }
    false
}

/// The binaries the test command built next to this test executable
/// (`target/<profile>/`), or `$EBPF_COLLECTOR_BIN_DIR` (inside a VM).
fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("EBPF_COLLECTOR_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("test executable path");
            // target/<profile>/deps/<test> → target/<profile>
            exe.parent()
                .and_then(Path::parent)
                .expect("target dir")
                .to_path_buf()
        });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`, as scripts/test does)",
        path.display()
    );
    path
}

pub fn collector_bin() -> PathBuf {
    binary("ebpf-collector")
}

/// A chart definition as a test expects it: the spec's table row.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedChart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub units: &'a str,
    pub family: &'a str,
    pub priority: i64,
    pub module: &'a str,
    /// `(id, name, multiplier)`, in order.
    pub dims: &'a [(&'a str, &'a str, i64)],
}

impl ExpectedChart<'_> {
    /// Asserts that `stream` defines the chart exactly so, as a `line`
    /// chart with no context and `incremental` dimensions.
    pub fn assert_defined(&self, stream: &Stream, update_every: i64) {
        let id = self.id;
        let chart = stream
            .chart(id)
            .unwrap_or_else(|| panic!("{id} not defined"));
        assert_eq!(
            chart.header(),
            (
                self.title,
                self.units,
                self.family,
                "",
                "line",
                self.priority,
                update_every,
                "ebpf.plugin",
                self.module
            ),
            "{id}"
        );
        let want: Vec<(&str, &str, &str, i64)> = self
            .dims
            .iter()
            .map(|(d, n, m)| (*d, *n, "incremental", *m))
            .collect();
        assert_eq!(chart.dimensions(), want, "{id}");
    }
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir::new_in(&std::env::temp_dir(), tag)
    }

    /// In `parent` instead of the temporary directory (which a test may
    /// hide, e.g. [`systemd::Systemd`]'s private /tmp).
    pub fn new_in(parent: &Path, tag: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = parent.join(format!("ebpf-collector-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(path.join("ebpf.d")).unwrap();
        TempDir(path)
    }

    pub fn write(&self, relative: &str, text: &str) {
        std::fs::write(self.0.join(relative), text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The attach variant every collector a test starts must use:
/// `$EBPF_COLLECTOR_VARIANT` (trampoline, tracepoint or probe; the kernel
/// matrix sets it), passed as `--variant` before the test's own arguments.
pub fn forced_variant() -> Option<String> {
    std::env::var("EBPF_COLLECTOR_VARIANT")
        .ok()
        .filter(|v| !v.is_empty())
}

/// The implemented threads that can run on this kernel (with the forced
/// variant, if any), as `ebpf-collector check` says: dcstat, for one,
/// has no tracepoint variant and cannot run on a kernel without kprobes
/// that refuses trampolines.
pub fn runnable_threads() -> Vec<&'static workers::Thread> {
    let all = workers::registry::all();
    let forced: Vec<String> = forced_variant()
        .map(|v| vec!["--variant".to_string(), v])
        .unwrap_or_default();
    let out = Command::new(collector_bin())
        .args(["check", "--config-dir", "/nonexistent"])
        .args(forced)
        .args(all.iter().map(|t| format!("--{}", t.name.key())))
        .env_remove("NETDATA_USER_CONFIG_DIR")
        .env_remove("NETDATA_STOCK_CONFIG_DIR")
        .output()
        .expect("run ebpf-collector check");
    let report = String::from_utf8_lossy(&out.stdout);
    all.iter()
        .copied()
        .filter(|t| report.contains(&format!("thread {}: uses ", t.name)))
        .collect()
}

/// On-CPU time of all of a process's threads (schedstat: ns).
pub fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The median of `samples` (the upper one of an even count), which it
/// leaves sorted.
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The benchmarks' collector: `ebpf-collector run --output netdata
/// --update-every 1 --config-dir DIR ARGS`, Netdata's configuration
/// directories unset, stdin closed, stdout piped; its stderr `stderr`.
pub fn bench_collector(config: &TempDir, args: &[String], stderr: Stdio) -> Child {
    Command::new(collector_bin())
        .args([
            "run",
            "--output",
            "netdata",
            "--update-every",
            "1",
            "--config-dir",
        ])
        .arg(&config.0)
        .args(args)
        .env_remove("NETDATA_USER_CONFIG_DIR")
        .env_remove("NETDATA_STOCK_CONFIG_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start ebpf-collector (cargo build --release --workspace first)")
}

/// Whether the running kernel's BTF has a type named `name` (a BTF
/// tracepoint `x` is the type `btf_trace_x`).
pub fn kernel_btf_has(name: &str) -> bool {
    let btf = std::fs::read("/sys/kernel/btf/vmlinux").expect("/sys/kernel/btf/vmlinux");
    // Each name of BTF's string section is between NULs.
    let needle = [&[0], name.as_bytes(), &[0]].concat();
    btf.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// A running collector whose stdout is read and checked line by line.
pub struct Collector {
    child: Child,
    stream: Arc<Mutex<Stream>>,
    /// When each chart's updates arrived, by chart id.
    arrivals: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    _config: TempDir,
}

impl Collector {
    /// `ebpf-collector run --output netdata --config-dir <empty dir> ARGS`,
    /// with `files` (relative path, text) written into that directory.
    pub fn start(args: &[&str], files: &[(&str, &str)]) -> Collector {
        let config = TempDir::new("config");
        for (relative, text) in files {
            config.write(relative, text);
        }
        Collector::start_with(Command::new(collector_bin()), config, args)
    }

    /// `command` (the collector, or a wrapper such as `setpriv` whose last
    /// argument is the collector) gets `run --output netdata --config-dir
    /// <config> [--variant FORCED] ARGS`.
    pub fn start_with(mut command: Command, config: TempDir, args: &[&str]) -> Collector {
        let forced: Vec<String> = forced_variant()
            .map(|v| vec!["--variant".to_string(), v])
            .unwrap_or_default();
        command
            .args(["run", "--output", "netdata", "--config-dir"])
            .arg(&config.0)
            .args(forced)
            .args(args)
            .env_remove("NETDATA_USER_CONFIG_DIR")
            .env_remove("NETDATA_STOCK_CONFIG_DIR")
            .env_remove("NETDATA_PLUGINS_DIR");
        Collector::spawn(command, config)
    }

    /// `command` as it is (e.g. the plugin invocation `ebpf-collector 1
    /// ...`), its stdout read as the stream; `config` lives as long as it.
    pub fn spawn(mut command: Command, config: TempDir) -> Collector {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ebpf-collector");
        let stream = Arc::new(Mutex::new(Stream::new()));
        let arrivals: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let readers = vec![
            {
                let (stream, arrivals) = (Arc::clone(&stream), Arc::clone(&arrivals));
                std::thread::spawn(move || {
                    let mut open: Option<String> = None;
                    for line in BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        if let Some(chart) = line.strip_prefix("BEGIN ") {
                            open = chart.split_whitespace().next().map(str::to_owned);
                        } else if line == "END" {
                            if let Some(chart) = open.take() {
                                let mut arrivals = arrivals.lock().unwrap();
                                arrivals.entry(chart).or_default().push(Instant::now());
                            }
                        }
                        stream.lock().unwrap().feed(&line);
                    }
                })
            },
            {
                let stderr = Arc::clone(&stderr);
                std::thread::spawn(move || {
                    let mut err = BufReader::new(err);
                    let mut line = String::new();
                    while matches!(err.read_line(&mut line), Ok(n) if n > 0) {
                        eprint!("collector: {line}");
                        stderr.lock().unwrap().push_str(&line);
                        line.clear();
                    }
                })
            },
        ];
        Collector {
            child,
            stream,
            arrivals,
            stderr,
            readers,
            _config: config,
        }
    }

    /// [`Collector::start`] with `--update-every 1 --pid <workload>` and
    /// `args`; returns once `chart` has data: the thread is attached.
    pub fn watching(
        workload: &Workload,
        args: &[&str],
        files: &[(&str, &str)],
        chart: &str,
    ) -> Collector {
        let pid = workload.pid().to_string();
        let mut all = vec!["--update-every", "1", "--pid", &pid];
        all.extend_from_slice(args);
        let collector = Collector::start(&all, files);
        collector.wait_attached(chart);
        collector
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The attach variant a worker said it uses (`tracepoint`,
    /// `trampoline`, `probe`): tests of one thread use it where the
    /// variants count differently.
    pub fn variant(&self) -> Option<String> {
        let stderr = self.stderr();
        let (_, rest) = stderr.split_once("attached the ")?;
        Some(rest.split_whitespace().next()?.to_owned())
    }

    /// The directory given as `--config-dir`.
    pub fn config_dir(&self) -> &Path {
        &self._config.0
    }

    /// When `chart`'s updates arrived, oldest first.
    pub fn arrivals(&self, chart: &str) -> Vec<Instant> {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals.get(chart).cloned().unwrap_or_default()
    }

    pub fn stream(&self) -> Stream {
        self.stream.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Polls the stream until `done` holds; false on timeout.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&Stream) -> bool) -> bool {
        poll(timeout, Duration::from_millis(50), || {
            done(&self.stream.lock().unwrap())
        })
    }

    /// Waits until the plugin's own chart shows `thread` running: its
    /// worker attached and sent data (for threads without a chart until
    /// something happens, such as disk). With a [`forced_variant`], proves
    /// it as [`Collector::wait_attached`] does.
    pub fn wait_running(&self, thread: &str) {
        self.wait_shown_running(thread);
        if let Some(variant) = forced_variant() {
            self.assert_variant(&variant);
        }
    }

    fn wait_shown_running(&self, thread: &str) {
        // Attaching many kprobes under emulation takes minutes.
        let running = self.wait_until(scaled(Duration::from_secs(60)), |s| {
            s.chart("netdata.ebpf_threads")
                .and_then(|c| c.dims.get(thread))
                .is_some_and(|d| d.values.last() == Some(&1))
        });
        assert!(
            running,
            "{thread} never shown running; stderr:\n{}",
            self.stderr()
        );
    }

    /// [`Collector::wait_running`] for a thread that lacks the variant
    /// `lacking`: forced to it, the thread must say so and run one of its
    /// own. The variant it runs.
    pub fn wait_running_lacking(&self, thread: &str, lacking: &str) -> Option<String> {
        if forced_variant().as_deref() != Some(lacking) {
            self.wait_running(thread);
            return self.variant();
        }
        let said = poll(Duration::from_secs(60), Duration::from_millis(100), || {
            self.variant().is_some()
        });
        let stderr = self.stderr();
        assert!(said, "never attached:\n{stderr}");
        assert!(
            stderr.contains(&format!(
                "forces the {lacking} variant, which {thread} does not have"
            )),
            "{stderr}"
        );
        self.wait_shown_running(thread);
        self.variant()
    }

    /// Waits until `chart` has had an update: its thread is attached. With
    /// a [`forced_variant`], also proves that the kernel holds only hooks
    /// of that variant for every worker.
    pub fn wait_attached(&self, chart: &str) {
        self.wait_for_data(chart);
        if let Some(variant) = forced_variant() {
            self.assert_variant(&variant);
        }
    }

    /// Waits until `chart` has had an update.
    pub fn wait_for_data(&self, chart: &str) {
        let attached = self.wait_until(Duration::from_secs(60), |s| {
            s.chart(chart).is_some_and(|c| c.updates > 0)
        });
        assert!(
            attached,
            "{chart} never received data; stderr:\n{}",
            self.stderr()
        );
    }

    /// The hooks each worker holds in the kernel, by worker PID.
    pub fn worker_hooks(&self) -> Vec<(u32, Vec<hooks::HookKind>)> {
        children(self.pid())
            .into_iter()
            .map(|worker| (worker, hooks::links(worker)))
            .collect()
    }

    /// Every BPF link of every worker is a hook its thread declares for
    /// `variant`, some of them of `variant`'s own kind; and the plugin's own
    /// chart, fed by the workers' frames, says `variant` for every attached
    /// thread.
    pub fn assert_variant(&self, variant: &str) {
        let workers = self.worker_hooks();
        let mut own_kind = false;
        for (worker, links) in &workers {
            let Some(thread) = hooks::worker_thread(*worker) else {
                continue;
            };
            let declared = hooks::declared(&thread, variant);
            assert!(
                links.iter().all(|link| declared.contains(link)),
                "{thread}: expected hooks of its {variant} variant ({declared:?}), \
                 the worker holds {links:?}; stderr:\n{}",
                self.stderr()
            );
            own_kind |= links.iter().any(|link| link.variant() == Some(variant));
        }
        assert!(
            own_kind,
            "no worker holds a {variant} hook: {workers:?}; stderr:\n{}",
            self.stderr()
        );
        // netdata.ebpf_attach_variant: 0 not attached, 1 tracepoint, 2 trampoline, 3 probe.
        let code = ["tracepoint", "trampoline", "probe"]
            .iter()
            .position(|v| *v == variant)
            .expect("a variant name") as i64
            + 1;
        let reported = |s: &Stream| {
            s.chart("netdata.ebpf_attach_variant").is_some_and(|chart| {
                let attached: Vec<i64> = chart
                    .dims
                    .values()
                    .filter_map(|dim| dim.values.last().copied())
                    .filter(|&v| v != 0)
                    .collect();
                !attached.is_empty() && attached.iter().all(|&v| v == code)
            })
        };
        assert!(
            self.wait_until(scaled(Duration::from_secs(10)), reported),
            "netdata.ebpf_attach_variant does not say {variant} ({code}): {:?}",
            self.stream().chart("netdata.ebpf_attach_variant")
        );
    }

    /// Asserts that every `(chart, dimension, total)` reaches exactly its
    /// total, and is still exactly it two updates later (nothing counted
    /// twice, nothing late), and that the stream broke no protocol rule.
    pub fn assert_totals(&self, expected: &[(&str, &str, i64)]) {
        let matches = |s: &Stream| expected.iter().all(|(c, d, v)| s.total(c, d) == Some(*v));
        let reached = self.wait_until(Duration::from_secs(30), matches);
        if reached {
            std::thread::sleep(Duration::from_millis(2500));
        }
        let stream = self.stream();
        let report: Vec<String> = expected
            .iter()
            .map(|(c, d, v)| format!("{c} {d}: expected {v}, got {:?}", stream.total(c, d)))
            .collect();
        assert!(
            reached && matches(&stream),
            "totals differ:\n{}\nstderr:\n{}",
            report.join("\n"),
            self.stderr()
        );
        assert_eq!(stream.errors, Vec::<String>::new(), "protocol errors");
    }

    /// SIGTERM, then waits; returns the exit status and the whole stream.
    pub fn terminate(mut self) -> (ExitStatus, Stream) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = self.child.wait().unwrap();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        (status, self.stream())
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `workload SCENARIO N`, held before its scenario until [`Workload::work`].
pub struct Workload {
    child: Child,
    /// Holds the link the workload was started as, when named.
    _name: Option<TempDir>,
}

impl Workload {
    pub fn spawn(scenario: &str, n: usize) -> Workload {
        Workload::spawn_in(scenario, n, None, &[])
    }

    /// With `comm`, the workload is started through a link of that name,
    /// so that the kernel gives it that process name at exec (and its
    /// children inherit it), as an `apps_groups.conf` pattern sees it.
    pub fn spawn_named(scenario: &str, n: usize, comm: Option<&str>) -> Workload {
        Workload::spawn_in(scenario, n, comm, &[])
    }

    /// [`Workload::spawn_named`], joining the cgroups whose directories are
    /// `cgroups` before the exec: it is in them from its first event on.
    pub fn spawn_in(scenario: &str, n: usize, comm: Option<&str>, cgroups: &[PathBuf]) -> Workload {
        let name = comm.map(|comm| {
            let dir = TempDir::new("workload");
            std::os::unix::fs::symlink(binary("workload"), dir.0.join(comm)).unwrap();
            dir
        });
        let program = match (&name, comm) {
            (Some(dir), Some(comm)) => dir.0.join(comm),
            _ => binary("workload"),
        };
        let mut command = Command::new(program);
        let procs: Vec<std::ffi::CString> = cgroups
            .iter()
            .map(|dir| {
                let path = dir.join("cgroup.procs");
                std::ffi::CString::new(path.into_os_string().into_encoded_bytes()).unwrap()
            })
            .collect();
        // SAFETY: between fork and exec only open, write and close, which
        // are async-signal-safe; nothing allocates.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                for path in &procs {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
                    if fd < 0 || libc::write(fd, c"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(fd);
                }
                Ok(())
            });
        }
        let mut child = command
            .args([scenario, &n.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start workload");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready, "ready\n", "workload {scenario} did not start");
        Workload { child, _name: name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `spawn` again until the workload it starts gets `pid` (free, e.g.
    /// the TGID of a process just ended): the kernel hands out the PID after
    /// `ns_last_pid` next, unless another process takes it first.
    pub fn spawn_as(pid: u32, spawn: impl Fn() -> Workload) -> Workload {
        for _ in 0..200 {
            std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
                .expect("setting /proc/sys/kernel/ns_last_pid");
            let workload = spawn();
            if workload.pid() == pid {
                return workload;
            }
        }
        panic!("PID {pid} never came back");
    }

    /// Lets the workload do its scenario and waits until it has: it then
    /// stops itself before exiting, so its per-process state is still there.
    pub fn work(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        kill(pid, Signal::SIGUSR1).unwrap();
        let status = waitpid(pid, Some(WaitPidFlag::WUNTRACED)).unwrap();
        assert_eq!(
            status,
            WaitStatus::Stopped(pid, Signal::SIGSTOP),
            "the workload failed"
        );
    }

    /// Lets a workload stopped by its `pause` scenario go on, and waits
    /// until it stops again (its next `pause`, or the end of its work).
    pub fn resume(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        kill(pid, Signal::SIGCONT).unwrap();
        let status = waitpid(pid, Some(WaitPidFlag::WUNTRACED)).unwrap();
        assert_eq!(
            status,
            WaitStatus::Stopped(pid, Signal::SIGSTOP),
            "the workload failed"
        );
    }

    /// Lets a workload that has done its work exit, and waits for it.
    pub fn exit(mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGCONT).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "workload failed: {status}");
    }

    /// [`Workload::work`], then [`Workload::exit`].
    pub fn run(mut self) {
        self.work();
        self.exit();
    }

    /// Lets the workload run and waits for it to be killed by SIGKILL.
    pub fn run_until_killed(mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGUSR1).unwrap();
        let status = self.child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "workload was not killed: {status}"
        );
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The workers of `thread` among the children of `supervisor` (the dead
/// not yet reaped included).
pub fn workers_of(supervisor: u32, thread: &str) -> impl Iterator<Item = u32> {
    let wanted = format!("worker\0{thread}\0");
    children(supervisor).into_iter().filter(move |pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| cmdline.ends_with(wanted.as_bytes()))
    })
}

/// The direct children of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, rest)| rest.split_whitespace().nth(1) == Some(&pid.to_string()))
                })
                .unwrap_or(false)
        })
        .collect()
}

pub fn gone(pid: u32) -> bool {
    // A zombie still has /proc/<pid>; its state says it is dead.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Netdata stores every event of the stream: each dimension was born at
/// zero (its first value is never stored: an incremental one's is its
/// baseline, an absolute one's is lost), and no incremental one went back
/// (Netdata would take it for a counter reset and lose the increase).
pub fn assert_netdata_keeps_everything(stream: &Stream) {
    for (id, chart) in &stream.charts {
        for (dim, info) in &chart.dims {
            assert_eq!(
                info.values.first().copied().unwrap_or(0),
                0,
                "{id} {dim} was not born at zero: {:?}",
                info.values
            );
            if info.algorithm == "incremental" {
                assert!(
                    info.values.windows(2).all(|w| w[0] <= w[1]),
                    "{id} {dim} went back: {:?}",
                    info.values
                );
            }
        }
    }
}
