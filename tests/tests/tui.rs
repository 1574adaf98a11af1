//! The terminal UI on a pseudo-terminal of 120x40: `run` with no
//! `--output` on a terminal draws it; the screen, as a terminal emulator
//! shows it, must tell the sync thread's state and variant and the exact
//! calls of a workload, titles without HTML, zero-only charts folded, and
//! follow the filter and search keys; Ctrl-C and SIGTERM end the run with
//! status 0 and the terminal as it was (main screen, cooked mode); a panic
//! in the UI ends it with status 1, the terminal as it was and the panic's
//! message readable.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::pty::{openpty, Winsize};
use nix::sys::signal::{kill, Signal};
use nix::sys::termios::{tcgetattr, LocalFlags};
use nix::unistd::Pid;
use tests::{collector_bin, forced_variant, poll, require_root, scaled, TempDir, Workload};

const N: i64 = 7;
const ROWS: u16 = 40;
const COLS: u16 = 120;

struct Screen {
    child: Child,
    parser: Arc<Mutex<vt100::Parser>>,
    /// Everything the collector wrote to the terminal.
    raw: Arc<Mutex<Vec<u8>>>,
    master: File,
    /// Kept open to read the terminal's modes after the collector is gone.
    slave: OwnedFd,
    _config: TempDir,
}

impl Screen {
    /// `run --sync --update-every 1 --pid <workload> ARGS` on the terminal,
    /// with `env` in its environment.
    fn start(workload: &Workload, args: &[&str], env: &[(&str, &str)]) -> Screen {
        let size = Winsize {
            ws_row: ROWS,
            ws_col: COLS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("openpty");
        let config = TempDir::new("tui");
        let mut command = Command::new(collector_bin());
        command
            .args(["run", "--config-dir"])
            .arg(&config.0)
            .args(
                forced_variant()
                    .map(|v| vec!["--variant".to_string(), v])
                    .unwrap_or_default(),
            )
            .args(["--sync", "--update-every", "1", "--pid"])
            .arg(workload.pid().to_string())
            .args(args)
            .env_remove("NETDATA_USER_CONFIG_DIR")
            .env_remove("NETDATA_STOCK_CONFIG_DIR")
            .env_remove("NETDATA_PLUGINS_DIR")
            .env("TERM", "xterm-256color")
            .envs(env.iter().copied())
            .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
            .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // Its own session, the terminal its controlling one, as a
                // shell would start it.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start ebpf-collector");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let raw: Arc<Mutex<Vec<u8>>> = Arc::default();
        let mut reader = File::from(pty.master.try_clone().unwrap());
        {
            let (parser, raw) = (Arc::clone(&parser), Arc::clone(&raw));
            std::thread::spawn(move || {
                let mut buffer = [0u8; 8192];
                // Ends with EIO once the collector and its workers are gone
                // and the test has dropped its slave end.
                while let Ok(n @ 1..) = reader.read(&mut buffer) {
                    parser.lock().unwrap().process(&buffer[..n]);
                    raw.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
            });
        }
        Screen {
            child,
            parser,
            raw,
            master: File::from(pty.master),
            slave: pty.slave,
            _config: config,
        }
    }

    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until the screen satisfies `done`; panics with the screen.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) {
        let found = poll(
            scaled(Duration::from_secs(30)),
            Duration::from_millis(100),
            || done(&self.text()),
        );
        assert!(found, "the screen never showed {what}:\n{}", self.text());
    }

    fn keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// The collector's exit status, once it has exited, and the screen then.
    fn exited(&mut self) -> (ExitStatus, String) {
        let mut status = None;
        let exited = poll(
            scaled(Duration::from_secs(20)),
            Duration::from_millis(50),
            || {
                status = self.child.try_wait().unwrap();
                status.is_some()
            },
        );
        assert!(exited, "the collector did not exit:\n{}", self.text());
        // Its last bytes are read by now: the reader sees what the terminal saw.
        std::thread::sleep(Duration::from_millis(300));
        (status.unwrap(), self.text())
    }

    /// The collector's exit status; then the terminal must be as before;
    /// with the screen it left.
    fn wait_exit(mut self) -> (ExitStatus, String) {
        let (status, screen) = self.exited();
        let raw = self.raw.lock().unwrap().clone();
        let text = String::from_utf8_lossy(&raw);
        let (entered, left) = (text.rfind("\x1b[?1049h"), text.rfind("\x1b[?1049l"));
        assert!(
            entered.is_some() && left > entered,
            "the alternate screen was not left: entered at {entered:?}, left at {left:?}"
        );
        assert!(!self.parser.lock().unwrap().screen().alternate_screen());
        let modes = tcgetattr(&self.slave).unwrap();
        assert!(
            modes
                .local_flags
                .contains(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG),
            "the terminal was left in raw mode: {:?}",
            modes.local_flags
        );
        (status, screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The line of `screen` that starts (after any border) with `start`.
fn line<'a>(screen: &'a str, start: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with(start))
}

fn thread_running(screen: &str) -> bool {
    let variants = ["trampoline", "tracepoint", "probe"];
    line(screen, "sync ").is_some_and(|l| {
        let words: Vec<&str> = l.trim_matches('│').split_whitespace().collect();
        words.get(1) == Some(&"running")
            && words.get(2).is_some_and(|v| match forced_variant() {
                Some(forced) => *v == forced,
                None => variants.contains(v),
            })
            && words.get(3) == Some(&"0")
    })
}

/// Each sync dimension's total, as shown: `  NAME  RATE UNITS  TOTAL total`.
fn total(screen: &str, dim: &str) -> Option<i64> {
    let l = line(screen, &format!("  {dim} "))?;
    let words: Vec<&str> = l.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "total")?;
    words.get(at - 1)?.parse().ok()
}

#[test]
fn shows_the_sync_thread_and_its_exact_calls_and_ctrl_c_restores_the_terminal() {
    if !require_root("terminal UI") {
        return;
    }
    let workload = Workload::spawn("sync", N as usize);
    let mut screen = Screen::start(&workload, &[], &[]);
    screen.wait_for("the sync thread running with its variant", thread_running);
    screen.wait_for("the four sync charts folded: nothing counted yet", |s| {
        s.contains(
            "4 charts with only zeros so far (folded): \
             mem.file_sync mem.memory_map mem.sync mem.file_segment",
        )
    });
    workload.run();
    let dims = [
        "fsync",
        "fdatasync",
        "msync",
        "sync",
        "syncfs",
        "sync_file_range",
    ];
    screen.wait_for("each sync call of the workload, exactly", |s| {
        dims.iter().all(|d| total(s, d) == Some(N))
    });
    let text = screen.text();
    assert!(!text.contains("folded"), "{text}");
    for title in [
        "mem.file_sync  Monitor calls for fsync(2) and fdatasync(2).  [calls/s]",
        "mem.memory_map  Monitor calls for msync(2).  [calls/s]",
        "mem.sync  Monitor calls for sync(2) and syncfs(2).  [calls/s]",
        "mem.file_segment  Monitor calls for sync_file_range(2).  [calls/s]",
    ] {
        assert!(line(&text, title).is_some(), "no `{title}`:\n{text}");
    }
    assert!(!text.contains("<code>"), "{text}");
    assert!(text.contains("4 of 4 charts, every 1 s"), "{text}");
    assert!(text.contains("q/Ctrl-C quit"), "{text}");

    // The thread filter: sync, then all again.
    screen.keys(b"t");
    screen.wait_for("the thread filter", |s| {
        s.contains("4 of 4 charts, every 1 s  thread: sync")
    });
    screen.keys(b"t");
    screen.wait_for("no thread filter", |s| {
        s.contains("4 of 4 charts, every 1 s") && !s.contains("thread: sync")
    });

    // Search: only the matching chart is left.
    screen.keys(b"/SEGMENT\r");
    screen.wait_for("one chart found", |s| {
        s.contains("1 of 4 charts, every 1 s  search: SEGMENT")
            && line(s, "mem.file_segment ").is_some()
            && line(s, "mem.file_sync ").is_none()
            && total(s, "sync_file_range") == Some(N)
    });
    screen.keys(b"\x1b");
    screen.wait_for("the search cleared", |s| {
        s.contains("4 of 4 charts") && line(s, "mem.file_sync ").is_some()
    });

    // Ctrl-C in raw mode is a key.
    screen.keys(b"\x03");
    let (status, after) = screen.wait_exit();
    assert!(status.success(), "{status}");
    // What was logged while the UI showed is printed once it is gone.
    assert!(after.contains("sync: INFO attached the "), "{after}");
}

#[test]
fn sigterm_restores_the_terminal() {
    if !require_root("terminal UI, SIGTERM") {
        return;
    }
    let workload = Workload::spawn("sync", N as usize);
    let screen = Screen::start(&workload, &[], &[]);
    screen.wait_for("the sync thread running with its variant", thread_running);
    kill(Pid::from_raw(screen.child.id() as i32), Signal::SIGTERM).unwrap();
    let (status, _) = screen.wait_exit();
    assert!(status.success(), "{status}");
    drop(workload);
}

#[test]
fn a_panic_in_the_ui_restores_the_terminal_and_fails_the_run() {
    if !require_root("terminal UI, panic") {
        return;
    }
    let workload = Workload::spawn("sync", N as usize);
    // The debug build's way to a panic in the UI thread, after its first
    // drawing (the suite runs the debug build).
    let screen = Screen::start(&workload, &[], &[("EBPF_COLLECTOR_TUI_PANIC", "1")]);
    let (status, after) = screen.wait_exit();
    assert_eq!(status.code(), Some(1), "{status}\n{after}");
    assert!(after.contains("EBPF_COLLECTOR_TUI_PANIC is set"), "{after}");
    assert!(after.contains("the terminal UI panicked"), "{after}");
    drop(workload);
}

#[test]
fn output_table_keeps_the_plain_text_view_on_a_terminal() {
    if !require_root("--output table on a terminal") {
        return;
    }
    let workload = Workload::spawn("sync", N as usize);
    let mut screen = Screen::start(&workload, &["--output", "table"], &[]);
    screen.wait_for("the table's sync thread", |s| {
        s.starts_with("ebpf-collector — Ctrl-C to stop")
            && s.lines().any(|l| l.starts_with("  sync        running ("))
    });
    kill(Pid::from_raw(screen.child.id() as i32), Signal::SIGTERM).unwrap();
    let (status, _) = screen.exited();
    assert!(status.success(), "{status}");
    let raw = screen.raw.lock().unwrap().clone();
    assert!(
        !String::from_utf8_lossy(&raw).contains("\x1b[?1049h"),
        "the table view used the alternate screen"
    );
}
