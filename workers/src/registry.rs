//! Every implemented thread. Adding a thread adds one line here.

use conf::ThreadName;

use crate::thread::Thread;

static THREADS: &[&dyn Thread] = &[
    &crate::process::Process,
    &crate::sync::Sync,
    &crate::disk::Disk,
    &crate::hardirq::Hardirq,
    &crate::softirq::THREAD,
    &crate::vfs::THREAD,
    &crate::mount::THREAD,
    &crate::fd::THREAD,
    &crate::shm::THREAD,
];

pub fn all() -> &'static [&'static dyn Thread] {
    THREADS
}

pub fn find(name: ThreadName) -> Option<&'static dyn Thread> {
    THREADS.iter().copied().find(|t| t.name() == name)
}
