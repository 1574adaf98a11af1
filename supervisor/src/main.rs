//! `ebpf-collector`: the supervisor, and (as `ebpf-collector worker THREAD`)
//! each of its workers. See DESIGN.md.

mod charts;
mod check;
mod cli;
mod cost;
mod function;
mod grouping;
mod output;
mod supervisor;
mod system;
mod totals;
mod worker;

use std::io::{self, BufRead, IsTerminal, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cli::{Command, OutputKind, RunArgs, USAGE};
use conf::{Config, ConfigDirs, Diagnostic, Severity};
use cost::Sampler;
use crossbeam_channel::Sender;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use supervisor::{Event, Supervisor};
use tracing::{error, info, warn, Level};
use workers::privileges;

fn main() -> ExitCode {
    // `env::args` would panic on an argument that is not UTF-8.
    let args: Result<Vec<String>, String> = std::env::args_os()
        .skip(1)
        .map(|arg| {
            arg.into_string()
                .map_err(|bad| format!("argument `{}` is not valid UTF-8", bad.to_string_lossy()))
        })
        .collect();
    let parsed = args.and_then(|args| cli::parse(args).map_err(|e| e.to_string()));
    match parsed {
        Err(e) => {
            eprintln!("ebpf-collector: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("ebpf-collector {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Worker(thread)) => {
            init_logging(Level::INFO);
            ExitCode::from(workers::runtime::run(&thread) as u8)
        }
        Ok(Command::Run(args)) => {
            init_logging(args.log_level.unwrap_or(Level::INFO));
            let _span = tracing::error_span!("ebpf-collector").entered();
            run(&args)
        }
        Ok(Command::Check(args)) => {
            // The report is on stdout; logs would only repeat it.
            init_logging(args.log_level.unwrap_or(Level::ERROR));
            let (config, diagnostics) = configuration(&args);
            check::run(&config, &diagnostics, args.pid)
        }
    }
}

fn init_logging(level: Level) {
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .init();
}

/// The configuration files, then the command line over them, with what
/// was wrong in the files (and with the directories named).
fn configuration(args: &RunArgs) -> (Config, Vec<Diagnostic>) {
    let dirs = ConfigDirs::from_env(args.config_dir.as_deref());
    let (mut config, found) = conf::load(
        &dirs,
        args.update_every_default.unwrap_or(1),
        workers::registry::own_keys,
    );
    args.apply(&mut config);
    let mut diagnostics = dirs.missing();
    diagnostics.extend(found);
    (config, diagnostics)
}

/// The configuration, every finding logged, and the first error if any;
/// at start and again on SIGHUP.
fn load_config(args: &RunArgs) -> (Config, Option<Diagnostic>) {
    let (config, diagnostics) = configuration(args);
    for diagnostic in &diagnostics {
        match diagnostic.severity {
            Severity::Warning => warn!("{diagnostic}"),
            Severity::Error => error!("{diagnostic}"),
        }
    }
    let first_error = diagnostics
        .into_iter()
        .find(|d| d.severity == Severity::Error);
    (config, first_error)
}

/// Reloads whose configuration had an error and was not applied.
static REJECTED_RELOADS: AtomicU64 = AtomicU64::new(0);

/// For the plugin's own chart `netdata.ebpf_config_errors`.
pub fn rejected_reloads() -> u64 {
    REJECTED_RELOADS.load(Ordering::Relaxed)
}

/// SIGHUP: the new configuration, or `None` to keep the running one whole
/// (threads, apps groups, outputs) when the files have an error — as
/// nginx, HAProxy and systemd keep theirs — until a later SIGHUP finds
/// them good.
fn reload_config(args: &RunArgs) -> Option<Config> {
    match load_config(args) {
        (config, None) => Some(config),
        (_, Some(error)) => {
            REJECTED_RELOADS.fetch_add(1, Ordering::Relaxed);
            error!(
                "SIGHUP: the configuration has errors (the first: {error}); keeping the running \
                 configuration until a SIGHUP finds them fixed"
            );
            None
        }
    }
}

fn run(args: &RunArgs) -> ExitCode {
    if let Some(bad) = &args.bad_update_every {
        error!("{bad}");
    }
    let (config, _) = load_config(args);
    if let Some(pid) = args.pid {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            error!("--pid {pid}: no such process");
            return ExitCode::from(2);
        }
    }
    if let Some(missing) = system::missing_privileges() {
        error!("{missing}");
        return ExitCode::from(1);
    }
    match system::ensure_tracefs() {
        Ok(true) => info!("mounted tracefs at /sys/kernel/tracing"),
        Ok(false) => {}
        Err(e) => warn!("{e}; threads that need tracepoints will fail"),
    }
    // Its thread keeps a capability of its own: started before we drop ours.
    let sampler = Sampler::start(
        config.supervisor.kernel_cost,
        Duration::from_secs(config.global.update_every.into()),
    );
    // From here on we only start workers: keep what they need, no more.
    match privileges::keep_only(privileges::attach_set(), true) {
        Ok(kept) => info!("capabilities kept for starting workers: {kept}"),
        Err(e) => {
            error!("cannot drop capabilities: {e}");
            return ExitCode::from(1);
        }
    }

    let (events, receiver) = crossbeam_channel::unbounded();
    if let Err(e) = watch_signals(events.clone()) {
        error!("cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    watch_stdin(events.clone());

    let kinds = match (&args.output, &args.screenshot) {
        (_, Some(_)) => vec![OutputKind::Tui],
        (Some(kinds), None) => kinds.clone(),
        (None, None) => vec![default_output()],
    };
    if args.statsd_options_unused() {
        warn!("--statsd options given, but --output does not include statsd: nothing is sent");
    }
    // Netdata's switch for every plugin's own charts.
    let self_charts = std::env::var("NETDATA_INTERNALS_MONITORING").map_or(true, |v| v != "NO");
    let output = match output::build(
        &kinds,
        &config.statsd,
        self_charts,
        &events,
        args.screenshot.as_deref(),
    ) {
        Ok(output) => output,
        Err(e) => {
            error!("cannot start the outputs: {e}");
            return ExitCode::from(1);
        }
    };
    let mut supervisor = Supervisor::new(&config, args.pid, output, sampler);
    let result = supervisor.run(&receiver, || reload_config(args));
    supervisor.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            info!("the output was closed; stopping");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("the output failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Netdata's protocol when Netdata started us or nobody is watching.
fn default_output() -> OutputKind {
    if std::env::var_os("NETDATA_PLUGINS_DIR").is_some() || !io::stdout().is_terminal() {
        OutputKind::Netdata
    } else {
        OutputKind::Tui
    }
}

fn watch_signals(events: Sender<Event>) -> io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGCHLD])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let event = match signal {
                    SIGHUP => Event::Reload,
                    SIGCHLD => Event::ChildExited,
                    _ => Event::Stop,
                };
                if events.send(event).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

/// The longest line read from stdin at once.
const STDIN_LINE_MAX: u64 = 64 * 1024;

/// Netdata talks to plugins over a pipe on stdin (FUNCTION requests); its
/// end of file means Netdata is gone. A terminal or /dev/null (systemd) is not watched.
fn watch_stdin(events: Sender<Event>) {
    let is_pipe = std::fs::metadata("/proc/self/fd/0")
        .map(|m| m.file_type().is_fifo() || m.file_type().is_socket())
        .unwrap_or(false);
    if !is_pipe {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = io::stdin().lock();
            let mut line = Vec::new();
            loop {
                line.clear();
                // Netdata's lines are at most 15 KiB; a longer one is
                // garbage, read on in pieces and never held whole.
                match (&mut stdin)
                    .take(STDIN_LINE_MAX)
                    .read_until(b'\n', &mut line)
                {
                    Ok(n) if n > 0 => {
                        let line = function::parse(&String::from_utf8_lossy(&line));
                        if events.send(Event::Netdata(line)).is_err() {
                            return;
                        }
                    }
                    _ => break,
                }
            }
            let _ = events.send(Event::Stop);
        });
    if let Err(e) = spawned {
        warn!("cannot watch stdin ({e}); Netdata's exit will be noticed on the next write");
    }
}
