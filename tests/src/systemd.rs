//! A real systemd (the machine's own `/lib/systemd/systemd`) as PID 1 of
//! fresh PID, mount, network, UTS, IPC and cgroup namespaces, for running a
//! unit exactly as a booted system would, also where systemd is not PID 1.
//!
//! It sees the host's file systems (so packages installed with `dpkg` are
//! there) but has its own `/run`, `/tmp`, `/var/tmp`, a cgroup2 tree below
//! a cgroup made for it, and its own loopback: `127.0.0.1` inside is not the
//! host's. Its unit path is only the directory given to [`Systemd::boot`]:
//! stub targets and links to the units under test, so nothing of the host's
//! boot (sysctl, udev, mounts, getty) runs. It believes it is in a container
//! (`container=` in its environment), as under `systemd-nspawn`. Dropping it
//! kills every process in it and removes its cgroups.
//!
//! Its private `/run`, `/tmp` and `/var/tmp` hide whatever the host has
//! there, a checkout under `/tmp` included: a file of the host that a
//! command inside needs goes in with [`Systemd::copy_in`], never by its
//! host path.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The targets a service's default dependencies name, empty.
const STUB_TARGETS: &[&str] = &["sysinit", "basic", "network", "multi-user", "shutdown"];

/// Runs inside the namespaces: private /run, /tmp, /var/tmp, and a cgroup2
/// mounted again so that its root is the namespace's (the host's mount,
/// v2 or a hybrid's tmpfs, shows the host's root), the unit directory
/// copied into /run, then systemd, whose own log goes nowhere (its console
/// would be the machine's). $1: the unit directory, entered before the
/// mounts, which would hide it wherever it is below /run, /tmp or /var/tmp
/// (a checkout there). A policy-rc.d that forbids service actions
/// (container images have one) is replaced by one that allows them, as on
/// a booted system.
const INIT: &str = r#"set -e
cd "$1"
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/test-units /run/test-generators /run/test-files
cp -a ./. /run/test-units/
cd /
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
umount -R /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
if [ -e /usr/sbin/policy-rc.d ]; then mount --bind /bin/true /usr/sbin/policy-rc.d; fi
exec env -i container=ebpf-collector-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    SYSTEMD_UNIT_PATH=/run/test-units SYSTEMD_GENERATOR_PATH=/run/test-generators \
    SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/test-generators \
    /lib/systemd/systemd --system --unit=multi-user.target --log-target=null"#;

/// Whether this machine can run it: systemd, unshare and nsenter.
pub fn missing_tools() -> Option<String> {
    let tools = [
        "/lib/systemd/systemd",
        "/usr/bin/unshare",
        "/usr/bin/nsenter",
    ];
    let missing: Vec<&str> = tools
        .into_iter()
        .filter(|t| !Path::new(t).exists())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "missing {} (apt-get install systemd util-linux)",
            missing.join(", ")
        )
    })
}

pub struct Systemd {
    unshare: Child,
    /// PID 1 of the namespaces, as the host sees it.
    pub pid: u32,
    cgroup: PathBuf,
}

impl Systemd {
    /// Boots systemd with `units` (a directory of unit files, links and
    /// drop-ins) and the stub targets, and waits until it is running.
    pub fn boot(units: &Path) -> Systemd {
        for target in STUB_TARGETS {
            let path = units.join(format!("{target}.target"));
            if !path.exists() {
                fs::write(path, format!("[Unit]\nDescription=stub {target}.target\n")).unwrap();
            }
        }
        let cgroup = cgroup2_mount().join(format!("ebpf-collector-test-{}", std::process::id()));
        fs::create_dir(&cgroup)
            .unwrap_or_else(|e| panic!("cannot create the cgroup {}: {e}", cgroup.display()));
        // The shell moves itself into the cgroup before unshare makes it
        // the root of the new cgroup namespace.
        let unshare = Command::new("sh")
            .args([
                "-c",
                r#"echo $$ > "$1/cgroup.procs" && shift && exec "$@""#,
                "sh",
            ])
            .arg(&cgroup)
            .args([
                "unshare",
                "--pid",
                "--fork",
                "--mount-proc",
                "--mount",
                "--net",
            ])
            .args(["--uts", "--ipc", "--cgroup", "--propagation", "private"])
            .args(["sh", "-c", INIT, "init"])
            .arg(units)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start unshare");
        let unshare_pid = unshare.id();
        let mut systemd = Systemd {
            unshare,
            pid: 0,
            cgroup,
        };
        let started = crate::poll(Duration::from_secs(10), Duration::from_millis(20), || {
            let init = crate::children(unshare_pid).first().copied();
            match init {
                Some(pid) if exe(pid).is_some_and(|e| e.ends_with("systemd/systemd")) => {
                    systemd.pid = pid;
                    true
                }
                _ => false,
            }
        });
        assert!(started, "systemd did not start in the namespaces");
        let running = crate::poll(Duration::from_secs(30), Duration::from_millis(50), || {
            let state = systemd.systemctl(&["is-system-running"]);
            matches!(stdout(&state).trim(), "running" | "degraded")
        });
        assert!(
            running,
            "systemd is not running: {}",
            stdout(&systemd.systemctl(&["list-units", "--all", "--no-pager"]))
        );
        systemd
    }

    /// `program args` inside the namespaces.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["--target", &self.pid.to_string(), "--all", "--"])
            .arg(program);
        command
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("nsenter {program}: {e}"))
    }

    pub fn systemctl(&self, args: &[&str]) -> Output {
        self.run("systemctl", args)
    }

    /// `systemctl show UNIT -p PROPERTY`'s value.
    pub fn property(&self, unit: &str, property: &str) -> String {
        let out = self.systemctl(&["show", unit, "-p", property, "--value"]);
        stdout(&out).trim().to_string()
    }

    /// A path as the processes inside see it (their /run, /tmp, /proc).
    pub fn path(&self, inside: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{inside}", self.pid))
    }

    /// Copies the host's file `host` into the namespaces' own
    /// `/run/test-files` and returns its path there, for a command inside
    /// (`dpkg -i`): the host's path may be hidden inside, as a checkout
    /// under /tmp or /var/tmp is.
    pub fn copy_in(&self, host: &Path) -> String {
        let name = host
            .file_name()
            .unwrap_or_else(|| panic!("{} names no file", host.display()))
            .to_string_lossy();
        let inside = format!("/run/test-files/{name}");
        fs::copy(host, self.path(&inside)).unwrap_or_else(|e| {
            panic!(
                "cannot copy {} into the systemd namespaces: {e}",
                host.display()
            )
        });
        inside
    }

    /// Runs `work` in a thread inside the network namespace: sockets it
    /// opens there stay there.
    pub fn in_network<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        let netns = fs::File::open(format!("/proc/{}/ns/net", self.pid)).unwrap();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
                        .expect("setns into the network namespace");
                    work()
                })
                .join()
                .unwrap()
        })
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        // PID 1's death kills every process of its PID namespace.
        if self.pid != 0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        // Cgroups go once their processes are reaped: children first.
        let removed = crate::poll(Duration::from_secs(10), Duration::from_millis(50), || {
            remove_cgroups(&self.cgroup);
            !self.cgroup.exists()
        });
        if !removed {
            eprintln!("could not remove the cgroup {}", self.cgroup.display());
        }
    }
}

fn remove_cgroups(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroups(&entry.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

/// Where the cgroup2 hierarchy is mounted (/sys/fs/cgroup on a unified
/// system, /sys/fs/cgroup/unified on a hybrid one), joined with our own
/// cgroup in it, so that the systemd under test lives below us.
fn cgroup2_mount() -> PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mount = mountinfo
        .lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split_whitespace().next() == Some("cgroup2"))
                .then(|| left.split_whitespace().nth(4).map(PathBuf::from))?
        })
        .expect("no cgroup2 hierarchy is mounted");
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("not in a cgroup2 cgroup");
    mount.join(path.trim_start_matches('/'))
}

fn exe(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/exe")).ok()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
