//! Cgroups made for a test and removed after it, in the hierarchies the
//! collector reads: the unified one (pure cgroup v2, or forced), or the v1
//! hierarchy it looks at first.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a cgroup2 filesystem is mounted (`/sys/fs/cgroup` on pure v2,
/// `/sys/fs/cgroup/unified` on hybrid hosts).
pub fn unified_mount() -> Option<PathBuf> {
    mounts()
        .into_iter()
        .filter(|(_, fstype, _)| fstype == "cgroup2")
        .map(|(point, ..)| point)
        .min_by_key(|point| point != Path::new("/sys/fs/cgroup"))
}

/// The mount of the v1 hierarchy with this controller.
pub fn v1_mount(controller: &str) -> Option<PathBuf> {
    mounts()
        .into_iter()
        .find(|(_, fstype, options)| {
            fstype == "cgroup" && options.split(',').any(|o| o == controller)
        })
        .map(|(point, ..)| point)
}

/// Whether the host is pure cgroup v2 (the collector then reads only the
/// unified hierarchy).
pub fn pure_v2() -> bool {
    unified_mount().as_deref() == Some(Path::new("/sys/fs/cgroup"))
}

/// The hierarchy the collector takes a process's cgroup from first, as
/// (mount, v1 controller or `None` for the unified one).
pub fn first_hierarchy() -> (PathBuf, Option<&'static str>) {
    if !pure_v2() {
        for controller in ["cpuacct", "cpuset", "blkio", "memory", "devices"] {
            if let Some(mount) = v1_mount(controller) {
                return (mount, Some(controller));
            }
        }
    }
    (
        unified_mount().expect("no cgroup filesystem is mounted"),
        None,
    )
}

/// This process's path in a hierarchy (`/proc/self/cgroup`).
pub fn own_path(controller: Option<&str>) -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    text.lines()
        .find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let wanted = match controller {
                None => controllers.is_empty(),
                Some(c) => controllers.split(',').any(|x| x == c),
            };
            wanted.then(|| path.to_owned())
        })
        .expect("this process in the hierarchy")
}

fn mounts() -> Vec<(PathBuf, String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split_whitespace().nth(4)?;
            let mut right = right.split_whitespace();
            let (fstype, _, options) = (right.next()?, right.next()?, right.next()?);
            Some((PathBuf::from(point), fstype.to_owned(), options.to_owned()))
        })
        .collect()
}

/// Passes the memory controller on to the children of the v2 cgroup `dir`.
fn enable_memory(dir: &Path) {
    let control = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&control)
        .unwrap_or_default()
        .split_whitespace()
        .any(|c| c == "memory");
    if !enabled {
        std::fs::write(&control, "+memory")
            .unwrap_or_else(|e| panic!("enabling memory in {}: {e}", control.display()));
    }
}

/// A cgroup the test made, with the same path in one or more hierarchies;
/// removed (with the parents it made) on drop, once its processes are gone.
pub struct TestCgroup {
    /// Its path in the hierarchies, e.g. `/system.slice/ebpf-test-1.service`.
    pub id: String,
    /// Its directory in each hierarchy.
    pub dirs: Vec<PathBuf>,
    made: Vec<PathBuf>,
}

impl TestCgroup {
    /// Makes `id` (and its missing parents) in the hierarchies mounted at
    /// `roots`.
    pub fn create_in(roots: &[PathBuf], id: &str) -> TestCgroup {
        let mut made = Vec::new();
        let mut dirs = Vec::new();
        for root in roots {
            let dir = root.join(id.trim_start_matches('/'));
            let mut missing = Some(dir.as_path());
            while let Some(path) = missing.filter(|p| !p.exists()) {
                made.push(path.to_path_buf());
                missing = path.parent();
            }
            std::fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("cannot make the cgroup {}: {e}", dir.display()));
            dirs.push(dir);
        }
        TestCgroup {
            id: id.to_owned(),
            dirs,
            made,
        }
    }

    /// Makes `id` as systemd makes a cgroup on this host: in the unified
    /// hierarchy on a pure v2 host; in the first v1 hierarchy the collector
    /// reads and the unified one (same path) on a hybrid host.
    pub fn create(id: &str) -> TestCgroup {
        let unified = unified_mount().expect("a cgroup2 (unified) mount");
        let roots = match first_hierarchy() {
            (root, Some(_)) => vec![root, unified],
            (_, None) => vec![unified],
        };
        TestCgroup::create_in(&roots, id)
    }

    /// A cgroup `name` limited to `bytes` ([`TestCgroup::memory_limited_at`]):
    /// below the root on a pure v2 host, below this process's own memory
    /// cgroup otherwise.
    pub fn memory_limited(name: &str, bytes: u64) -> TestCgroup {
        let parent = match v1_mount("memory") {
            Some(_) if !pure_v2() => own_path(Some("memory")),
            // Below the root: the one cgroup that may both hold processes
            // and pass controllers on (systemd hosts have memory on there).
            _ => "/".to_owned(),
        };
        TestCgroup::memory_limited_at(&format!("{}/{name}", parent.trim_end_matches('/')), bytes)
    }

    /// A cgroup `id` limited to `bytes`, without swap. With a v1 memory
    /// hierarchy (hybrid hosts): `memory.limit_in_bytes` there, and the
    /// same path in the unified hierarchy, as systemd keeps them, so that
    /// the kernel's cgroup id of its processes names it. On a pure v2
    /// host: `memory.max`, memory enabled in every parent.
    pub fn memory_limited_at(id: &str, bytes: u64) -> TestCgroup {
        let unified = unified_mount();
        let v1 = v1_mount("memory").filter(|_| !pure_v2());
        let cgroup = match &v1 {
            Some(memory) => {
                let roots: Vec<PathBuf> = std::iter::once(memory.clone()).chain(unified).collect();
                TestCgroup::create_in(&roots, id)
            }
            None => {
                let root = unified.expect("a cgroup2 (unified) mount");
                let cgroup = TestCgroup::create_in(std::slice::from_ref(&root), id);
                let parents = cgroup.dirs[0].ancestors().skip(1);
                let mut parents: Vec<&Path> =
                    parents.take_while(|p| p.starts_with(&root)).collect();
                parents.reverse();
                for parent in parents {
                    enable_memory(parent);
                }
                cgroup
            }
        };
        if v1.is_some() {
            cgroup.limit_v1(bytes);
        } else {
            cgroup.write("memory.max", &bytes.to_string());
            // Only where the kernel accounts swap.
            if cgroup.dirs[0].join("memory.swap.max").exists() {
                cgroup.write("memory.swap.max", "0");
            }
        }
        cgroup
    }

    /// A cgroup `id` limited to `bytes`, without swap, in the v1
    /// hierarchies only (the memory one first), as Docker's cgroupfs driver
    /// makes a container's on a hybrid host: the unified hierarchy does not
    /// have it. `None` without a v1 memory hierarchy (pure cgroup v2).
    pub fn memory_limited_v1_only(id: &str, bytes: u64) -> Option<TestCgroup> {
        let memory = v1_mount("memory").filter(|_| !pure_v2())?;
        let mut roots = vec![memory];
        // Not cpuset: a cpuset cgroup takes no process before its CPUs and
        // memory nodes are set.
        for controller in ["cpuacct", "blkio", "devices"] {
            if let Some(mount) = v1_mount(controller).filter(|m| !roots.contains(m)) {
                roots.push(mount);
            }
        }
        let cgroup = TestCgroup::create_in(&roots, id);
        cgroup.limit_v1(bytes);
        Some(cgroup)
    }

    fn limit_v1(&self, bytes: u64) {
        self.write("memory.limit_in_bytes", &bytes.to_string());
        self.write("memory.swappiness", "0");
    }

    /// Writes a control file of the first hierarchy.
    pub fn write(&self, file: &str, value: &str) {
        let path = self.dirs[0].join(file);
        std::fs::write(&path, value)
            .unwrap_or_else(|e| panic!("writing {value} to {}: {e}", path.display()));
    }

    /// The type of its charts (`cgroup_<chart id>`), as Netdata names it.
    pub fn chart_type(&self) -> String {
        let chart_id: String = self
            .id
            .trim_start_matches('/')
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9' | '-') => c,
                '.' | ',' => '-',
                _ => '_',
            })
            .collect();
        format!("cgroup_{chart_id}")
    }

    /// Removes the cgroup now (its processes must be gone).
    pub fn remove(&mut self) {
        // A process that just died may hold the cgroup for a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in std::mem::take(&mut self.made) {
            while std::fs::remove_dir(&dir).is_err() && dir.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}
