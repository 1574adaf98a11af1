//! Which cgroups get charts, what they are called, and which processes are
//! in them: read from the cgroup filesystems, as Netdata's cgroups
//! collector does (no dependency on it).
//!
//! Layouts: pure cgroup v2 (`/sys/fs/cgroup` is cgroup2), and v1 (legacy,
//! or the hybrid v1 + unified layout, where Netdata uses v1 too). A cgroup
//! is a directory path in a hierarchy (its *id*, `/system.slice/x.service`);
//! under v1 the ids of the cpuacct, cpuset, blkio, memory and devices
//! hierarchies are merged. Netdata's patterns decide which ids are cgroups
//! with charts of their own and which are systemd services.
//!
//! A process belongs to at most one cgroup: under v1, the first of those
//! hierarchies (in that order) whose path for it is a monitored cgroup.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use conf::CgroupSettings;
use tracing::{info, warn};

use super::pattern::Patterns;
use super::procfs;

/// The v1 hierarchies searched, in order (Netdata's, cpuacct first).
const V1_CONTROLLERS: [&str; 5] = ["cpuacct", "cpuset", "blkio", "memory", "devices"];
/// A cgroup the processes name but the last scan did not know triggers a
/// new scan, at most this often.
const RESCAN_MIN: Duration = Duration::from_secs(1);

/// The hierarchies whose kernel cgroup ids a worker passes on.
#[derive(Debug, Clone, Copy)]
enum Hierarchy {
    Unified,
    /// A v1 hierarchy, by the kernel's id of it.
    V1(u32),
}

/// A process's cgroup in the first v1 hierarchy Netdata reads, as the
/// kernel passed it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V1Cgroup {
    /// The kernel's id of the hierarchy (`/proc/cgroups`).
    pub hierarchy: u32,
    /// The cgroup's directory inode there.
    pub id: u64,
}

/// A monitored cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    /// Stable while the cgroup exists; never reused.
    pub serial: u32,
    /// Its path in the hierarchy.
    pub id: String,
    /// `cgroup_<chart_id>` is its charts' type (Netdata's cgroups collector
    /// names its own charts the same way).
    pub chart_id: String,
    /// A systemd service's name: it is a dimension of the `services.*`
    /// charts instead of having charts of its own.
    pub service: Option<String>,
    /// Directories, by hierarchy index.
    dirs: Vec<(usize, PathBuf)>,
}

/// Where the hierarchies are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Pure cgroup v2 (or forced with `use unified cgroups = yes`).
    Unified(PathBuf),
    /// v1 hierarchies in [`V1_CONTROLLERS`] order (controller, mount), and
    /// the unified mount of a hybrid layout, whose kernel cgroup ids are
    /// mapped by path.
    V1 {
        hierarchies: Vec<(&'static str, PathBuf)>,
        unified: Option<PathBuf>,
    },
}

pub struct Cgroups {
    layout: Layout,
    enabled: Patterns,
    search: Patterns,
    services: Patterns,
    max: usize,
    check_every: Duration,
    /// Monitored cgroups in discovery order.
    cgroups: Vec<Cgroup>,
    /// Unified-hierarchy cgroup id (directory inode) → serial, `None` for a
    /// cgroup that is not monitored.
    by_inode: HashMap<u64, Option<u32>>,
    /// The same for the v1 hierarchies, by (kernel hierarchy id, inode).
    by_v1_inode: HashMap<(u32, u64), Option<u32>>,
    /// The kernel's ids of the v1 hierarchies in the layout, with their
    /// position there.
    v1_ids: Vec<(u32, usize)>,
    /// Process → serial, from the `cgroup.procs` files at the last scan.
    members: HashMap<u32, u32>,
    next_serial: u32,
    next_scan: Instant,
    last_scan: Option<Instant>,
    /// Bumped when the set of cgroups changes.
    pub version: u64,
    warned_max: bool,
}

impl Cgroups {
    pub fn new(settings: &CgroupSettings) -> Option<Cgroups> {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let layout = layout(&mounts, settings.use_unified)?;
        info!("cgroups: {layout:?}");
        let mut cgroups = Cgroups::with_layout(layout, settings);
        if let Layout::V1 { hierarchies, .. } = &cgroups.layout {
            let table = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
            cgroups.v1_ids = hierarchy_ids(&table, hierarchies);
        }
        Some(cgroups)
    }

    pub fn with_layout(layout: Layout, settings: &CgroupSettings) -> Cgroups {
        Cgroups {
            layout,
            enabled: Patterns::new(&settings.enabled),
            search: Patterns::new(&settings.search),
            services: Patterns::new(&settings.services),
            max: settings.max_cgroups as usize,
            check_every: Duration::from_secs(settings.check_every.into()),
            cgroups: Vec::new(),
            by_inode: HashMap::new(),
            by_v1_inode: HashMap::new(),
            v1_ids: Vec::new(),
            members: HashMap::new(),
            next_serial: 1,
            next_scan: Instant::now(),
            last_scan: None,
            version: 0,
            warned_max: false,
        }
    }

    pub fn all(&self) -> &[Cgroup] {
        &self.cgroups
    }

    /// Scans when due; true when it scanned.
    pub fn refresh(&mut self, now: Instant) -> bool {
        if now < self.next_scan {
            return false;
        }
        self.scan();
        self.last_scan = Some(now);
        self.next_scan = now + self.check_every;
        true
    }

    /// Asks for a scan soon: a process named a cgroup we do not know.
    fn rescan_soon(&mut self) {
        let earliest = self
            .last_scan
            .map_or_else(Instant::now, |at| at + RESCAN_MIN);
        self.next_scan = self.next_scan.min(earliest);
    }

    /// The monitored cgroup of a process (`Some(None)`: its cgroup is known
    /// and not monitored; `None`: unknown, e.g. a process already gone):
    /// by the kernel's cgroup ids (its cgroup in the first v1 hierarchy,
    /// then its unified one), by the last scan's `cgroup.procs`, or by
    /// `/proc/PID/cgroup`.
    pub fn of_process(
        &mut self,
        pid: u32,
        unified: u64,
        v1: Option<V1Cgroup>,
    ) -> Option<Option<u32>> {
        if let Some(v1) = v1 {
            if let Some(Some(serial)) = self.by_id(Hierarchy::V1(v1.hierarchy), v1.id) {
                return Some(Some(serial));
            }
        }
        if let Some(found) = self.by_id(Hierarchy::Unified, unified) {
            return Some(found);
        }
        if let Some(&serial) = self.members.get(&pid) {
            return Some(Some(serial));
        }
        let lines = procfs::cgroups(pid)?;
        let found = self.of_lines(&lines);
        if found.is_none() && lines.iter().any(|(_, path)| self.unknown(path)) {
            self.rescan_soon();
        }
        Some(found)
    }

    /// The cgroup a kernel id (a directory inode of `hierarchy`) names, if
    /// it settles it.
    fn by_id(&mut self, hierarchy: Hierarchy, id: u64) -> Option<Option<u32>> {
        if id == 0 {
            return None;
        }
        let known = match hierarchy {
            Hierarchy::Unified => self.by_inode.get(&id),
            Hierarchy::V1(hierarchy) => self.by_v1_inode.get(&(hierarchy, id)),
        };
        match (known.copied(), &self.layout) {
            (Some(Some(serial)), _) => Some(Some(serial)),
            (Some(None), Layout::Unified(_)) => Some(None),
            // Hybrid: a cgroup only in the v1 hierarchies (Docker's
            // cgroupfs driver makes those) is found another way.
            (Some(None), Layout::V1 { .. }) => None,
            (None, _) => {
                // A cgroup made since the last scan: found by its id at
                // once, so that a burst in it before the next scan counts.
                if self.discover(hierarchy, id) {
                    self.by_id(hierarchy, id)
                } else {
                    self.rescan_soon();
                    None
                }
            }
        }
    }

    /// Learns the cgroup whose kernel id in `hierarchy` is `id`, made since
    /// the last scan, as a scan would (monitored or not); false when it
    /// cannot be found (e.g. it is gone already). The kernel opens a cgroup
    /// directory by its id as a file handle: no walk is needed.
    fn discover(&mut self, hierarchy: Hierarchy, id: u64) -> bool {
        let (root, v1) = match (&self.layout, hierarchy) {
            (Layout::Unified(root), Hierarchy::Unified) => (root, None),
            (
                Layout::V1 {
                    unified: Some(root),
                    hierarchies,
                },
                Hierarchy::Unified,
            ) => (root, Some(hierarchies)),
            (Layout::V1 { hierarchies, .. }, Hierarchy::V1(hierarchy)) => {
                let index = self.v1_ids.iter().find(|(id, _)| *id == hierarchy);
                match index.and_then(|(_, index)| hierarchies.get(*index)) {
                    Some((_, root)) => (root, Some(hierarchies)),
                    None => return false,
                }
            }
            _ => return false,
        };
        let Some(dir) = open_by_id(root, id) else {
            return false;
        };
        let Some(relative) = dir.strip_prefix(root).ok().and_then(|r| r.to_str()) else {
            return false;
        };
        let relative = Path::new(relative);
        let path = format!("/{}", relative.display());
        let reachable = relative.ancestors().skip(1).all(|parent| {
            self.search
                .matches(&format!("/{}", parent.to_str().unwrap_or("")))
        });
        let dirs: Vec<(usize, PathBuf)> = match v1 {
            None => vec![(0, dir.clone())],
            // The v1 hierarchies are the ones scanned there.
            Some(hierarchies) => hierarchies
                .iter()
                .enumerate()
                .map(|(index, (_, mount))| (index, mount.join(relative)))
                .filter(|(_, dir)| dir.is_dir())
                .collect(),
        };
        let known = self.cgroups.iter().find(|c| c.id == path).map(|c| c.serial);
        let serial = match (known, self.classify(&path).filter(|_| reachable)) {
            (Some(serial), _) => Some(serial),
            (None, Some(service)) if !dirs.is_empty() && self.cgroups.len() < self.max => {
                let serial = self.next_serial;
                self.next_serial += 1;
                info!("cgroups: {path} appeared");
                self.cgroups.push(Cgroup {
                    serial,
                    chart_id: chart_id(&path),
                    service,
                    id: path,
                    dirs,
                });
                self.version += 1;
                Some(serial)
            }
            _ => None,
        };
        match hierarchy {
            Hierarchy::Unified => self.by_inode.insert(id, serial),
            Hierarchy::V1(hierarchy) => self.by_v1_inode.insert((hierarchy, id), serial),
        };
        true
    }

    /// Where the last scan found the process, if anywhere.
    pub fn member(&self, pid: u32) -> Option<u32> {
        self.members.get(&pid).copied()
    }

    /// A path that would be monitored but the last scan did not see.
    fn unknown(&self, id: &str) -> bool {
        self.classify(id).is_some() && !self.cgroups.iter().any(|c| c.id == id)
    }

    fn of_lines(&self, lines: &[(String, String)]) -> Option<u32> {
        let serial_of = |id: &str| self.cgroups.iter().find(|c| c.id == id).map(|c| c.serial);
        match &self.layout {
            Layout::Unified(_) => lines
                .iter()
                .find(|(controllers, _)| controllers.is_empty())
                .and_then(|(_, path)| serial_of(path)),
            Layout::V1 { hierarchies, .. } => hierarchies.iter().find_map(|(controller, _)| {
                lines
                    .iter()
                    .find(|(controllers, _)| controllers.split(',').any(|c| c == *controller))
                    .and_then(|(_, path)| serial_of(path))
            }),
        }
    }

    /// Walks the hierarchies: cgroups that appeared get a serial, vanished
    /// ones are dropped, and membership is read again.
    fn scan(&mut self) {
        let mut found: Vec<Cgroup> = Vec::new();
        let before = self.cgroups.len();
        let hierarchies: Vec<PathBuf> = match &self.layout {
            Layout::Unified(root) => vec![root.clone()],
            Layout::V1 { hierarchies, .. } => hierarchies.iter().map(|(_, p)| p.clone()).collect(),
        };
        let mut inodes: Vec<Vec<(u64, String)>> = Vec::new();
        for (index, root) in hierarchies.iter().enumerate() {
            let mut ids = Vec::new();
            self.walk(root, "/", &mut ids);
            inodes.push(
                ids.iter()
                    .filter_map(|(id, dir)| Some((std::fs::metadata(dir).ok()?.ino(), id.clone())))
                    .collect(),
            );
            for (id, dir) in ids {
                if let Some(known) = found.iter_mut().find(|c| c.id == id) {
                    known.dirs.push((index, dir));
                    continue;
                }
                let Some(service) = self.classify(&id) else {
                    continue;
                };
                if found.len() >= self.max {
                    if !self.warned_max {
                        warn!("cgroups: more than {} to monitor (`max cgroups to allow`); `{id}` and later ones get no charts", self.max);
                        self.warned_max = true;
                    }
                    continue;
                }
                let serial = match self.cgroups.iter().find(|c| c.id == id) {
                    Some(old) => old.serial,
                    None => {
                        self.next_serial += 1;
                        self.next_serial - 1
                    }
                };
                found.push(Cgroup {
                    serial,
                    chart_id: chart_id(&id),
                    service,
                    id,
                    dirs: vec![(index, dir)],
                });
            }
        }
        let changed = found.len() != self.cgroups.len()
            || found
                .iter()
                .zip(&self.cgroups)
                .any(|(a, b)| (a.serial, &a.service) != (b.serial, &b.service));
        if changed {
            self.version += 1;
            info!("cgroups: {} monitored (were {before})", found.len());
        }
        self.cgroups = found;
        let serial = |id: &str| self.cgroups.iter().find(|c| c.id == id).map(|c| c.serial);
        let map = |dirs: &[(u64, String)]| -> HashMap<u64, Option<u32>> {
            dirs.iter()
                .map(|(inode, id)| (*inode, serial(id)))
                .collect()
        };
        let by_inode = match &self.layout {
            Layout::Unified(_) => map(&inodes[0]),
            Layout::V1 { unified, .. } => {
                let mut mirror = Vec::new();
                if let Some(root) = unified {
                    self.walk(root, "/", &mut mirror);
                }
                let mirror: Vec<(u64, String)> = mirror
                    .into_iter()
                    .filter_map(|(id, dir)| Some((std::fs::metadata(dir).ok()?.ino(), id)))
                    .collect();
                map(&mirror)
            }
        };
        let by_v1_inode = self
            .v1_ids
            .iter()
            .flat_map(|&(hierarchy, index)| {
                map(&inodes[index])
                    .into_iter()
                    .map(move |(inode, serial)| ((hierarchy, inode), serial))
            })
            .collect();
        self.by_inode = by_inode;
        self.by_v1_inode = by_v1_inode;
        self.members = self.read_members(hierarchies.len());
    }

    /// `Some(service name)` for a systemd service, `Some(None)` for a
    /// cgroup with charts of its own, `None` when not monitored.
    fn classify(&self, id: &str) -> Option<Option<String>> {
        if self.services.matches(id) {
            return Some(Some(service_name(id)));
        }
        self.enabled.matches(id).then_some(None)
    }

    /// Every directory below `dir` (its id `id` included) that the search
    /// patterns let us descend into, as (id, directory).
    fn walk(&self, dir: &Path, id: &str, out: &mut Vec<(String, PathBuf)>) {
        out.push((id.to_owned(), dir.to_path_buf()));
        if !self.search.matches(id) {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut subdirs: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let child = if id == "/" {
                    format!("/{name}")
                } else {
                    format!("{id}/{name}")
                };
                Some((child, e.path()))
            })
            .collect();
        subdirs.sort();
        for (child, path) in subdirs {
            self.walk(&path, &child, out);
        }
    }

    /// Process → cgroup from every `cgroup.procs`; in hierarchy order, so
    /// the first hierarchy that has a process in a monitored cgroup wins.
    fn read_members(&self, hierarchies: usize) -> HashMap<u32, u32> {
        let mut members = HashMap::new();
        for index in 0..hierarchies {
            for cgroup in &self.cgroups {
                for (_, dir) in cgroup.dirs.iter().filter(|(h, _)| *h == index) {
                    let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
                        continue;
                    };
                    for pid in text.lines().filter_map(|l| l.trim().parse().ok()) {
                        members.entry(pid).or_insert(cgroup.serial);
                    }
                }
            }
        }
        members
    }
}

/// The layout to use, from `/proc/self/mountinfo`.
fn layout(mountinfo: &str, use_unified: Option<bool>) -> Option<Layout> {
    // (mount point, filesystem type, super options)
    let mounts: Vec<(PathBuf, &str, &str)> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split_whitespace().nth(4)?;
            let mut right = right.split_whitespace();
            let (fstype, _source, options) = (right.next()?, right.next()?, right.next()?);
            Some((PathBuf::from(unescape(point)), fstype, options))
        })
        .collect();
    let unified = mounts
        .iter()
        .filter(|(_, fstype, _)| *fstype == "cgroup2")
        .map(|(point, ..)| point.clone())
        .min_by_key(|point| point != Path::new("/sys/fs/cgroup"));
    let mut hierarchies: Vec<(&'static str, PathBuf)> = Vec::new();
    for controller in V1_CONTROLLERS {
        let mount = mounts.iter().find(|(_, fstype, options)| {
            *fstype == "cgroup" && options.split(',').any(|o| o == controller)
        });
        if let Some((point, ..)) = mount {
            hierarchies.push((controller, point.clone()));
        }
    }
    let pure_v2 = unified.as_deref() == Some(Path::new("/sys/fs/cgroup"));
    match use_unified.unwrap_or(pure_v2 || hierarchies.is_empty()) {
        true => unified.map(Layout::Unified),
        false if hierarchies.is_empty() => None,
        false => Some(Layout::V1 {
            hierarchies,
            unified,
        }),
    }
}

/// The path of the cgroup directory whose kernel id is `id`, in the
/// hierarchy mounted at `mount`: cgroup file systems export their
/// directories by id (a kernfs file handle), as `name_to_handle_at` shows.
fn open_by_id(mount: &Path, id: u64) -> Option<PathBuf> {
    /// `struct file_handle` with the 8 bytes of a kernfs handle.
    #[repr(C)]
    struct KernfsHandle {
        handle_bytes: u32,
        handle_type: i32,
        id: u64,
    }
    /// `FILEID_KERNFS` of `include/linux/exportfs.h`.
    const FILEID_KERNFS: i32 = 0xfe;
    let mount = std::fs::File::open(mount).ok()?;
    let mut handle = KernfsHandle {
        handle_bytes: 8,
        handle_type: FILEID_KERNFS,
        id,
    };
    // SAFETY: `handle` is a `struct file_handle` followed by its
    // `handle_bytes` bytes; the returned descriptor is owned at once.
    let fd = unsafe {
        libc::open_by_handle_at(
            std::os::fd::AsRawFd::as_raw_fd(&mount),
            (&raw mut handle).cast(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: a descriptor just opened, owned by nobody else.
    let dir = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

/// The kernel's id of each v1 hierarchy in `hierarchies` (`/proc/cgroups`:
/// controller, hierarchy id, cgroups, enabled), with its position there.
fn hierarchy_ids(table: &str, hierarchies: &[(&str, PathBuf)]) -> Vec<(u32, usize)> {
    table
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (controller, id) = (fields.next()?, fields.next()?.parse().ok()?);
            let index = hierarchies.iter().position(|(c, _)| *c == controller)?;
            (id != 0).then_some((id, index))
        })
        .collect()
}

/// mountinfo escapes blanks and backslashes as octal.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest
            .get(at + 1..at + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(byte) => {
                out.push(byte as char);
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Netdata's chart id of a cgroup: the path without its leading `/`,
/// lower-cased, characters other than letters, digits, `-` and `_` made
/// `_`, and dots (which would split `type.id`) made `-`.
fn chart_id(id: &str) -> String {
    id.strip_prefix('/')
        .filter(|rest| !rest.is_empty())
        .unwrap_or(id)
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            '.' | ',' => '-',
            _ => '_',
        })
        .collect()
}

/// A systemd service's name as Netdata shows it: the last path component
/// without its extension (`/system.slice/nginx.service` → `nginx`).
fn service_name(id: &str) -> String {
    let last = id.rsplit('/').next().unwrap_or(id);
    let stem = last.rsplit_once('.').map_or(last, |(stem, _)| stem);
    stem.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd";
    const PURE: &str = "30 25 0:26 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate";

    #[test]
    fn layouts_as_netdata_picks_them() {
        let v1 = Layout::V1 {
            hierarchies: vec![
                ("cpuacct", PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")),
                ("memory", PathBuf::from("/sys/fs/cgroup/memory")),
            ],
            unified: Some(PathBuf::from("/sys/fs/cgroup/unified")),
        };
        assert_eq!(layout(HYBRID, None), Some(v1));
        assert_eq!(
            layout(HYBRID, Some(true)),
            Some(Layout::Unified(PathBuf::from("/sys/fs/cgroup/unified")))
        );
        assert_eq!(
            layout(PURE, None),
            Some(Layout::Unified(PathBuf::from("/sys/fs/cgroup")))
        );
        assert_eq!(layout(PURE, Some(false)), None);
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        let table = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\ncpu\t3\t9\t1\ncpuacct\t3\t9\t1\nmemory\t5\t80\t1\n";
        let Some(Layout::V1 { hierarchies, .. }) = layout(HYBRID, None) else {
            unreachable!()
        };
        assert_eq!(hierarchy_ids(table, &hierarchies), [(3, 0), (5, 1)]);
    }

    #[test]
    fn names_as_netdatas_cgroups_collector_gives_them() {
        assert_eq!(chart_id("/ebpf-test-1"), "ebpf-test-1");
        assert_eq!(
            chart_id("/machine.slice/VM 1.scope"),
            "machine-slice_vm_1-scope"
        );
        assert_eq!(service_name("/system.slice/nginx.service"), "nginx");
        assert_eq!(service_name("/system.slice/Foo@1.service"), "foo_1");
    }

    fn settings() -> CgroupSettings {
        conf::Config::default().cgroups
    }

    /// A scan of a directory tree made to look like a hierarchy.
    #[test]
    fn scans_classify_name_and_obsolete() {
        let root = std::env::temp_dir().join(format!("cgroups-test-{}", std::process::id()));
        for dir in [
            "system.slice/a.service",
            "system.slice/b.service/child.service",
            "user.slice/user-1.slice",
            "docker/abc",
            "mine",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("mine/cgroup.procs"), "7\n8\n").unwrap();
        std::fs::write(root.join("system.slice/a.service/cgroup.procs"), "9\n").unwrap();
        let mut cgroups = Cgroups::with_layout(Layout::Unified(root.clone()), &settings());
        assert!(cgroups.refresh(Instant::now()));
        let seen: Vec<(&str, &str, Option<&str>)> = cgroups
            .all()
            .iter()
            .map(|c| (c.id.as_str(), c.chart_id.as_str(), c.service.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("/docker/abc", "docker_abc", None),
                ("/mine", "mine", None),
                (
                    "/system.slice/a.service",
                    "system-slice_a-service",
                    Some("a")
                ),
                (
                    "/system.slice/b.service",
                    "system-slice_b-service",
                    Some("b")
                ),
            ]
        );
        let mine = cgroups.all()[1].serial;
        assert_eq!(cgroups.member(8), Some(mine));
        let inode = |dir: &str| std::fs::metadata(root.join(dir)).unwrap().ino();
        assert_eq!(
            cgroups.of_process(9, 0, None),
            Some(Some(cgroups.all()[2].serial))
        );
        assert_eq!(
            cgroups.of_process(1234567, inode("mine"), None),
            Some(Some(mine))
        );
        assert_eq!(
            cgroups.of_process(1234567, inode("user.slice"), None),
            Some(None)
        );
        assert_eq!(cgroups.of_process(1234567, 0, None), None);
        let version = cgroups.version;
        std::fs::remove_dir_all(root.join("docker")).unwrap();
        assert!(!cgroups.refresh(Instant::now()), "not due yet");
        assert!(cgroups.refresh(Instant::now() + Duration::from_secs(10)));
        assert_eq!(cgroups.version, version + 1);
        assert_eq!(cgroups.all().len(), 3);
        assert_eq!(cgroups.all()[0].serial, mine, "serials stay");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
