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

/// A cgroup the test made; removed (with the parents it made) on drop,
/// once its processes are gone.
pub struct TestCgroup {
    /// Its path in the hierarchy, e.g. `/system.slice/ebpf-test-1.service`.
    pub id: String,
    pub dir: PathBuf,
    made: Vec<PathBuf>,
}

impl TestCgroup {
    /// Makes `id` (and its missing parents) in the hierarchy mounted at `root`.
    pub fn create(root: &Path, id: &str) -> TestCgroup {
        let dir = root.join(id.trim_start_matches('/'));
        let mut made = Vec::new();
        let mut missing = Some(dir.as_path());
        while let Some(path) = missing.filter(|p| !p.exists()) {
            made.push(path.to_path_buf());
            missing = path.parent();
        }
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot make the cgroup {}: {e}", dir.display()));
        TestCgroup {
            id: id.to_owned(),
            dir,
            made,
        }
    }

    /// Moves a process into the cgroup.
    pub fn add(&self, pid: u32) {
        self.write("cgroup.procs", &pid.to_string());
    }

    pub fn write(&self, file: &str, value: &str) {
        std::fs::write(self.dir.join(file), value)
            .unwrap_or_else(|e| panic!("writing {value} to {}/{file}: {e}", self.dir.display()));
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
