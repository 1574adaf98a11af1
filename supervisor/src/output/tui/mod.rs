//! The terminal UI: `run` on a terminal. The supervisor's calls only update
//! a [`Model`] and nudge the UI's own thread, which reads keys and redraws
//! at most a few times per second: the UI never holds collection up.
//!
//! The terminal is restored on every way out: `exit` (Ctrl-C and `q` ask
//! the supervisor to stop, as SIGTERM does), `Drop` (an output error), and
//! a panic hook. While the UI shows, stderr (ours and the workers') goes
//! to a pipe whose lines are shown on the screen, and printed after.

mod svg;
mod view;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use crossterm::event::{self, Event as Input, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::Terminal;

use super::{Chart, Output, Sample, Status};
use crate::supervisor::Event;
use view::{Model, View};

/// The least time between two redraws for updates (keys redraw at once).
const FRAME: Duration = Duration::from_millis(250);
/// How long the UI thread waits for a key before it looks at its commands.
const KEY_WAIT: Duration = Duration::from_millis(50);
/// Log lines kept for the screen and for printing after.
const LOG_LINES: usize = 200;
/// The screenshot's size and when it is taken: after this many status
/// updates, when every chart of a short run has had a few values.
const SCREENSHOT_SIZE: (u16, u16) = (120, 40);
const SCREENSHOT_AFTER: u64 = 6;

/// The terminal is in raw mode on the alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The real stderr while ours goes to the UI's pipe (-1: not redirected).
static SAVED_STDERR: AtomicI32 = AtomicI32::new(-1);

enum Command {
    Redraw,
    Quit,
}

type Logs = Arc<Mutex<VecDeque<String>>>;

enum Mode {
    /// On the terminal, drawn by the UI thread.
    Screen {
        commands: Sender<Command>,
        ui: Option<JoinHandle<io::Result<()>>>,
        logs: Logs,
    },
    /// Drawn once into an image, then the run stops.
    Screenshot {
        path: PathBuf,
        stop: Sender<Event>,
        taken: bool,
    },
}

pub struct Tui {
    model: Arc<Mutex<Model>>,
    mode: Mode,
}

impl Tui {
    /// Takes the terminal; `stop` asks the supervisor to stop (Ctrl-C, `q`).
    pub fn new(stop: Sender<Event>) -> io::Result<Tui> {
        let model = Arc::new(Mutex::new(Model::default()));
        let logs: Logs = Arc::default();
        install_panic_hook();
        redirect_stderr(Arc::clone(&logs))?;
        ACTIVE.store(true, Ordering::SeqCst);
        if let Err(e) = terminal::enable_raw_mode()
            .and_then(|()| execute!(io::stdout(), EnterAlternateScreen, cursor::Hide))
        {
            restore(&logs);
            return Err(e);
        }
        let (commands, received) = crossbeam_channel::bounded(1);
        let ui = {
            let (model, logs) = (Arc::clone(&model), Arc::clone(&logs));
            std::thread::Builder::new()
                .name("tui".into())
                .spawn(move || {
                    // Whatever ends the UI (an error, a panic) ends the run:
                    // nobody would see it otherwise.
                    let stop = StopOnDrop(stop);
                    ui_loop(&model, &logs, &received, &stop.0)
                })
        };
        let ui = match ui {
            Ok(ui) => ui,
            Err(e) => {
                restore(&logs);
                return Err(e);
            }
        };
        Ok(Tui {
            model,
            mode: Mode::Screen {
                commands,
                ui: Some(ui),
                logs,
            },
        })
    }

    /// No terminal: the screen as it would be drawn after a few updates,
    /// written to `path` as SVG; then `stop`.
    pub fn screenshot(path: PathBuf, stop: Sender<Event>) -> Tui {
        Tui {
            model: Arc::default(),
            mode: Mode::Screenshot {
                path,
                stop,
                taken: false,
            },
        }
    }

    fn model(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the UI and gives the terminal back; how the UI ended: a UI
    /// that failed or panicked makes the run fail.
    fn close(&mut self) -> io::Result<()> {
        let Mode::Screen { commands, ui, logs } = &mut self.mode else {
            return Ok(());
        };
        let _ = commands.send(Command::Quit);
        let ended = match ui.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(io::Error::new(
                e.kind(),
                format!("the terminal UI failed: {e}"),
            )),
            Some(Err(_)) => Err(io::Error::other("the terminal UI panicked")),
        };
        restore(logs);
        ended
    }
}

struct StopOnDrop(Sender<Event>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(Event::Stop);
    }
}

impl Output for Tui {
    fn define(&mut self, charts: &[Chart]) -> io::Result<()> {
        self.model().define(charts);
        Ok(())
    }

    fn update(&mut self, chart: &Chart, samples: &[Sample]) -> io::Result<()> {
        self.model().update(chart, samples);
        Ok(())
    }

    fn obsolete(&mut self, charts: &[Chart]) -> io::Result<()> {
        self.model().obsolete(charts);
        Ok(())
    }

    fn status(&mut self, status: &Status) -> io::Result<()> {
        self.model().status(status);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let statuses = self.model().statuses;
        match &mut self.mode {
            // Full: a redraw is already asked for.
            Mode::Screen { commands, .. } => {
                let _ = commands.try_send(Command::Redraw);
            }
            Mode::Screenshot { path, stop, taken } => {
                if !*taken && statuses >= SCREENSHOT_AFTER {
                    let (width, height) = SCREENSHOT_SIZE;
                    let mut terminal = Terminal::new(TestBackend::new(width, height))?;
                    let model = self.model.lock().unwrap_or_else(|e| e.into_inner());
                    terminal.draw(|frame| view::draw(frame, &model, &View::default(), None))?;
                    std::fs::write(&*path, svg::render(terminal.backend().buffer()))?;
                    *taken = true;
                    let _ = stop.send(Event::Stop);
                }
            }
        }
        Ok(())
    }

    fn disable(&mut self) -> io::Result<()> {
        self.close()?;
        eprintln!("nothing can be collected on this system (see the messages above)");
        Ok(())
    }

    fn exit(&mut self) -> io::Result<()> {
        self.close()
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn ui_loop(
    model: &Mutex<Model>,
    logs: &Logs,
    commands: &Receiver<Command>,
    stop: &Sender<Event>,
) -> io::Result<()> {
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let mut view = View::default();
    let mut last_draw: Option<Instant> = None;
    let (mut dirty, mut urgent) = (true, true);
    loop {
        if dirty && (urgent || last_draw.is_none_or(|at| at.elapsed() >= FRAME)) {
            let log = logs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .back()
                .cloned();
            // Drawn off screen under the model's lock, written out after:
            // a terminal that does not read (paused, a stalled connection)
            // must not hold the supervisor's updates.
            let size = terminal.size()?;
            let mut offscreen = Terminal::new(TestBackend::new(size.width, size.height))?;
            {
                let model = model.lock().unwrap_or_else(|e| e.into_inner());
                offscreen.draw(|frame| view::draw(frame, &model, &view, log.as_deref()))?;
            }
            let screen = offscreen.backend().buffer();
            terminal.draw(|frame| {
                if frame.area() == screen.area {
                    *frame.buffer_mut() = screen.clone();
                }
            })?;
            last_draw = Some(Instant::now());
            (dirty, urgent) = (false, false);
            // The tests' way to a panic in the UI (debug builds only).
            #[cfg(debug_assertions)]
            if std::env::var_os("EBPF_COLLECTOR_TUI_PANIC").is_some() {
                panic!("EBPF_COLLECTOR_TUI_PANIC is set");
            }
        }
        if event::poll(KEY_WAIT)? {
            match event::read()? {
                Input::Key(key) if key.kind != KeyEventKind::Release => {
                    let model = model.lock().unwrap_or_else(|e| e.into_inner());
                    if on_key(&mut view, &model, key.code, key.modifiers) {
                        let _ = stop.send(Event::Stop);
                    }
                    (dirty, urgent) = (true, true);
                }
                Input::Resize(..) => (dirty, urgent) = (true, true),
                _ => {}
            }
        }
        match commands.try_recv() {
            Ok(Command::Redraw) => dirty = true,
            Ok(Command::Quit) | Err(TryRecvError::Disconnected) => return Ok(()),
            Err(TryRecvError::Empty) => {}
        }
    }
}

/// Applies a key to the view; true: quit.
fn on_key(view: &mut View, model: &Model, code: KeyCode, modifiers: KeyModifiers) -> bool {
    if modifiers.contains(KeyModifiers::CONTROL) && code == KeyCode::Char('c') {
        return true;
    }
    if view.typing {
        match code {
            KeyCode::Enter => view.typing = false,
            KeyCode::Esc => {
                view.typing = false;
                view.search.clear();
            }
            KeyCode::Backspace => {
                view.search.pop();
            }
            KeyCode::Char(c) => view.search.push(c),
            _ => {}
        }
        view.scroll = 0;
        return false;
    }
    match code {
        KeyCode::Char('q') => return true,
        KeyCode::Char('/') => {
            view.typing = true;
            view.search.clear();
        }
        KeyCode::Esc => {
            view.search.clear();
            view.thread = None;
        }
        KeyCode::Char('t') | KeyCode::Tab => view.next_thread(model),
        KeyCode::Down => view.scroll = view.scroll.saturating_add(1),
        KeyCode::Up => view.scroll = view.scroll.saturating_sub(1),
        KeyCode::PageDown => view.scroll = view.scroll.saturating_add(20),
        KeyCode::PageUp => view.scroll = view.scroll.saturating_sub(20),
        KeyCode::Home => view.scroll = 0,
        _ => {}
    }
    false
}

fn push_log(logs: &Logs, line: String) {
    let mut logs = logs.lock().unwrap_or_else(|e| e.into_inner());
    if logs.len() == LOG_LINES {
        logs.pop_front();
    }
    logs.push_back(line);
}

/// Our stderr, and so the workers' started from now on, into a pipe whose
/// lines are kept for the screen while the UI shows and go to the real
/// stderr once it is gone.
fn redirect_stderr(logs: Logs) -> io::Result<()> {
    let (read, write) = nix::unistd::pipe()?;
    // SAFETY: plain descriptor calls; their results are checked.
    let saved = unsafe { libc::dup(2) };
    if saved < 0 || unsafe { libc::dup2(write.as_raw_fd(), 2) } < 0 {
        return Err(io::Error::last_os_error());
    }
    drop(write);
    SAVED_STDERR.store(saved, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("tui-stderr".into())
        .spawn(move || {
            // SAFETY: `saved` is ours alone; this thread keeps it open as
            // long as the pipe has a writer, which `restore` needs.
            let mut real = unsafe { File::from_raw_fd(saved) };
            for line in BufReader::new(File::from(read)).lines() {
                let Ok(line) = line else { return };
                if ACTIVE.load(Ordering::SeqCst) {
                    push_log(&logs, line);
                } else {
                    let _ = writeln!(real, "{line}");
                }
            }
        })?;
    Ok(())
}

/// Leaves raw mode and the alternate screen and gives stderr back, once,
/// whichever way out comes first (the panic hook may have); then prints
/// what was logged meanwhile.
fn restore(logs: &Logs) {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        give_terminal_back();
    }
    let logs = std::mem::take(&mut *logs.lock().unwrap_or_else(|e| e.into_inner()));
    let mut stderr = io::stderr().lock();
    for line in logs {
        let _ = writeln!(stderr, "{line}");
    }
}

fn give_terminal_back() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    let saved = SAVED_STDERR.swap(-1, Ordering::SeqCst);
    if saved >= 0 {
        // SAFETY: `saved` stays open (the stderr thread holds it).
        unsafe { libc::dup2(saved, 2) };
    }
}

/// A panic anywhere leaves the terminal usable and its message readable.
fn install_panic_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ACTIVE.swap(false, Ordering::SeqCst) {
                give_terminal_back();
            }
            previous(info);
        }));
    });
}
