//! The command line: Netdata's plugin invocation (`ebpf-collector 1
//! [options]`), `run`, `check`, `worker`, `--help`, `--version`.
//!
//! Options take one or two dashes, as the original's `getopt_long_only`.

use std::path::PathBuf;

use conf::statsd::{parse_mtu, parse_prefix};
use conf::{Config, CoreTracing, LoadMode, StatsdDestination, ThreadName, TypeFormat};

pub const USAGE: &str = "\
ebpf-collector: per-second kernel metrics from eBPF, for Netdata, StatsD or a terminal

Usage:
  ebpf-collector [UPDATE_EVERY] [OPTIONS]      as Netdata starts a plugin
  ebpf-collector run [OPTIONS]                 the same, started by hand
  ebpf-collector check [OPTIONS]               what would run here, and what to do if
                                               something cannot; validates the configuration
                                               (exit status 0: all can, no file has an error)
  ebpf-collector worker THREAD                 internal: one thread's process
  ebpf-collector --help | --version

Options:
  --output LIST            comma-separated, e.g. netdata,statsd:
                           netdata: the plugins.d protocol on stdout (default when
                           stdout is not a terminal or Netdata started us);
                           statsd: metrics to a StatsD server (see --statsd);
                           table: a plain text view (on a terminal the default is
                           the terminal UI: see README.md)
  --screenshot SVG         the terminal UI's screen (120x40) after 6 updates, as an SVG
                           image written to SVG; then exit (scripts/picture-tui)
  --statsd DEST            [udp://|tcp://]HOST[:PORT]: a host name, an IPv4 address or
                           [an IPv6 address] (default udp://127.0.0.1:8125, or
                           ebpf.d.conf [statsd] destination)
  --statsd-prefix PREFIX   metric names are PREFIX.HOST.CHART.DIMENSION (default ebpf;
                           HOST: ebpf.d.conf [statsd] host name, this machine's by default)
  --statsd-mtu BYTES       largest datagram, 64..65507 (default 1432)
  --config-dir DIR         also look for ebpf.d.conf and ebpf.d/*.conf in DIR,
                           after $NETDATA_USER_CONFIG_DIR and $NETDATA_STOCK_CONFIG_DIR
  --update-every N         seconds (1..3600) between updates for every thread; overrides
                           the config files (UPDATE_EVERY is only their default; a bad
                           one is reported and ignored)
  --pid PID                count only PID and the processes it starts from now on
                           (done in the kernel programs)
  --return                 `return` load mode for every thread: adds the error charts
  --THREAD                 run only the named threads (repeatable): --process --sync
                           --fd --vfs --mount --shm --socket (--net) --cachestat
                           --dcstat --swap --filesystem --disk --hardirq --softirq
                           --oomkill --mdflush (--filedescriptor = --fd)
  --all                    apps and cgroup charts on for every thread
  --global                 cgroup charts off
  --variant VARIANT        attach every thread with VARIANT: trampoline (fentry/fexit),
                           tracepoint, probe (kprobes), or auto (the first that works);
                           overrides `ebpf type format` and `ebpf co-re tracing`
  --legacy | --core        force the probe / CO-RE program sets
  --log-level LEVEL        error, warn, info (default), debug, trace

Configuration files are Netdata's, read unchanged: ebpf.d.conf and ebpf.d/<thread>.conf,
searched in $NETDATA_USER_CONFIG_DIR, then $NETDATA_STOCK_CONFIG_DIR, then --config-dir
(when none is given: /etc/netdata, then /usr/lib/netdata/conf.d).
Needs root, or CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH (kernels >= 5.8; CAP_SYS_ADMIN
to mount tracefs when it is not mounted; CAP_SYS_RESOURCE before 5.11). SIGHUP reloads the
configuration.
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Netdata,
    Statsd,
    Table,
    /// The terminal UI: the default on a terminal, not named by `--output`.
    Tui,
}

/// `--statsd*`: over `ebpf.d.conf` `[statsd]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsdArgs {
    pub destination: Option<StatsdDestination>,
    pub prefix: Option<String>,
    pub mtu: Option<u32>,
}

impl StatsdArgs {
    fn any(&self) -> bool {
        self.destination.is_some() || self.prefix.is_some() || self.mtu.is_some()
    }
}

/// Everything `run` (and the plugin invocation) accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunArgs {
    pub update_every_default: Option<u32>,
    /// Why the plugin invocation's `UPDATE_EVERY` was not used: Netdata
    /// expects a plugin to run on, so a bad one is only an error message.
    pub bad_update_every: Option<String>,
    pub update_every: Option<u32>,
    /// Every output to write, in order; `None`: the default for where we run.
    pub output: Option<Vec<OutputKind>>,
    pub statsd: StatsdArgs,
    pub config_dir: Option<PathBuf>,
    pub pid: Option<u32>,
    pub return_mode: bool,
    pub only: Vec<ThreadName>,
    pub all: bool,
    pub global: bool,
    pub type_format: Option<TypeFormat>,
    pub core_tracing: Option<CoreTracing>,
    pub log_level: Option<tracing::Level>,
    /// `--screenshot`: the terminal UI drawn into this SVG file.
    pub screenshot: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(RunArgs),
    /// Takes `run`'s options, to check what `run` would do with them.
    Check(RunArgs),
    Worker(String),
    Help,
    Version,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("unknown option `{0}`")]
    UnknownOption(String),
    #[error("option `{0}` needs a value")]
    MissingValue(String),
    #[error("option `{option}`: `{value}` is not {expected}")]
    BadValue {
        option: String,
        value: String,
        expected: &'static str,
    },
    #[error("option `{option}`: `{value}`: {why}")]
    Invalid {
        option: String,
        value: String,
        why: String,
    },
    #[error("unexpected argument `{0}`")]
    Unexpected(String),
    #[error("`worker` needs exactly one THREAD")]
    Worker,
}

pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, UsageError> {
    let mut args = args.into_iter().peekable();
    let mut run = RunArgs::default();
    let mut check = false;
    match args.peek().map(String::as_str) {
        Some("worker") => {
            args.next();
            return match (args.next(), args.next()) {
                (Some(thread), None) => Ok(Command::Worker(thread)),
                _ => Err(UsageError::Worker),
            };
        }
        Some("run") => {
            args.next();
        }
        Some("check") => {
            args.next();
            check = true;
        }
        Some(first) if !first.starts_with('-') || first.parse::<i64>().is_ok() => {
            // Netdata passes its update interval first, and expects a
            // plugin to run on: a bad one is reported and ignored.
            match seconds(first) {
                Some(seconds) => run.update_every_default = Some(seconds),
                None => {
                    run.bad_update_every = Some(format!(
                        "UPDATE_EVERY (the first argument) `{}` is not {SECONDS}; ignored: \
                         `update every` of the configuration files applies, or 1",
                        shortened(first)
                    ))
                }
            }
            args.next();
        }
        _ => {}
    }
    while let Some(arg) = args.next() {
        let Some(name) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(UsageError::Unexpected(arg));
        };
        let mut value = || {
            args.next()
                .ok_or_else(|| UsageError::MissingValue(arg.clone()))
        };
        match name {
            "help" | "h" => return Ok(Command::Help),
            "version" | "V" => return Ok(Command::Version),
            "output" => run.output = Some(outputs(&arg, &value()?)?),
            "screenshot" => run.screenshot = Some(PathBuf::from(value()?)),
            "statsd" => {
                let text = value()?;
                let destination = text.parse().map_err(|why| UsageError::Invalid {
                    option: arg.clone(),
                    value: text.clone(),
                    why: format!("{why} (expected [udp://|tcp://]HOST[:PORT], IPv6 as [ADDR])"),
                })?;
                run.statsd.destination = Some(destination);
            }
            "statsd-prefix" => {
                let text = value()?;
                let prefix = parse_prefix(&text)
                    .map_err(|_| bad(&arg, &text, "dot-separated words of [A-Za-z0-9_]"))?;
                run.statsd.prefix = Some(prefix);
            }
            "statsd-mtu" => {
                let text = value()?;
                run.statsd.mtu =
                    Some(parse_mtu(&text).map_err(|_| bad(&arg, &text, "a size in 64..=65507"))?);
            }
            "config-dir" => run.config_dir = Some(PathBuf::from(value()?)),
            "update-every" => {
                let text = value()?;
                run.update_every = Some(seconds(&text).ok_or_else(|| bad(&arg, &text, SECONDS))?);
            }
            "pid" => run.pid = Some(positive(&arg, &value()?)?),
            "log-level" => {
                let level = value()?;
                run.log_level = Some(
                    level
                        .parse()
                        .map_err(|_| bad(&arg, &level, "error, warn, info, debug or trace"))?,
                )
            }
            "return" => run.return_mode = true,
            "all" => run.all = true,
            "global" => run.global = true,
            "variant" => {
                let variant = value()?;
                let (format, tracing) = match variant.as_str() {
                    "auto" => (TypeFormat::Auto, None),
                    "trampoline" => (TypeFormat::CoRe, Some(CoreTracing::Trampoline)),
                    "tracepoint" => (TypeFormat::CoRe, Some(CoreTracing::Tracepoint)),
                    "probe" => (TypeFormat::CoRe, Some(CoreTracing::Probe)),
                    other => return Err(bad(&arg, other, "trampoline, tracepoint, probe or auto")),
                };
                run.type_format = Some(format);
                run.core_tracing = tracing;
            }
            "legacy" => run.type_format = Some(TypeFormat::Legacy),
            "core" => run.type_format = Some(TypeFormat::CoRe),
            thread => {
                let thread = match thread {
                    "net" => Some(ThreadName::Socket),
                    "filedescriptor" => Some(ThreadName::Fd),
                    other => ThreadName::from_key(other),
                };
                match thread {
                    Some(t) if !run.only.contains(&t) => run.only.push(t),
                    Some(_) => {}
                    None => return Err(UsageError::UnknownOption(arg)),
                }
            }
        }
    }
    Ok(if check {
        Command::Check(run)
    } else {
        Command::Run(run)
    })
}

/// `netdata,statsd`: each output once; netdata and table both write stdout.
fn outputs(option: &str, text: &str) -> Result<Vec<OutputKind>, UsageError> {
    const EXPECTED: &str =
        "a comma-separated list of netdata, statsd, table (netdata and table both use stdout)";
    let mut kinds = Vec::new();
    for word in text.split(',') {
        let kind = match word.trim() {
            "netdata" => OutputKind::Netdata,
            "statsd" => OutputKind::Statsd,
            "table" => OutputKind::Table,
            _ => return Err(bad(option, text, EXPECTED)),
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.contains(&OutputKind::Netdata) && kinds.contains(&OutputKind::Table) {
        return Err(bad(option, text, EXPECTED));
    }
    Ok(kinds)
}

fn bad(option: &str, value: &str, expected: &'static str) -> UsageError {
    UsageError::BadValue {
        option: option.to_string(),
        value: value.to_string(),
        expected,
    }
}

/// What an update interval may be: as `update every` in the files.
const SECONDS: &str = "a number of seconds in 1..=3600";

fn seconds(value: &str) -> Option<u32> {
    value.parse::<u32>().ok().filter(|s| (1..=3600).contains(s))
}

/// At most 40 characters of `value`, for a message.
fn shortened(value: &str) -> String {
    match value.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

fn positive(option: &str, value: &str) -> Result<u32, UsageError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| bad(option, value, "a positive integer"))
}

impl RunArgs {
    /// Applies what the command line says over what the files said.
    pub fn apply(&self, config: &mut Config) {
        for (name, settings) in config.threads.iter_mut() {
            if !self.only.is_empty() {
                settings.enabled = self.only.contains(name);
            }
            if let Some(seconds) = self.update_every {
                settings.update_every = seconds;
            }
            if self.return_mode {
                settings.mode = LoadMode::Return;
            }
            if self.all {
                settings.apps = true;
                settings.cgroups = true;
            }
            if self.global {
                settings.cgroups = false;
            }
            if let Some(format) = self.type_format {
                settings.type_format = format;
            }
            if let Some(tracing) = self.core_tracing {
                settings.core_tracing = tracing;
            }
        }
        if let Some(seconds) = self.update_every {
            config.global.update_every = seconds;
        }
        if let Some(destination) = &self.statsd.destination {
            config.statsd.destination = destination.clone();
        }
        if let Some(prefix) = &self.statsd.prefix {
            config.statsd.prefix = prefix.clone();
        }
        if let Some(mtu) = self.statsd.mtu {
            config.statsd.mtu = mtu;
        }
    }

    /// `--statsd*` given while no statsd output is selected: surely a mistake.
    pub fn statsd_options_unused(&self) -> bool {
        self.statsd.any()
            && !self
                .output
                .as_ref()
                .is_some_and(|kinds| kinds.contains(&OutputKind::Statsd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command, UsageError> {
        parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn netdata_invocation_takes_the_interval_and_original_options() {
        let Command::Run(run) = parse_str("5 --process -sync --return").unwrap() else {
            panic!("not a run");
        };
        assert_eq!(run.update_every_default, Some(5));
        assert_eq!(run.only, [ThreadName::Process, ThreadName::Sync]);
        assert!(run.return_mode);
    }

    #[test]
    fn a_bad_interval_is_an_error_message_and_the_default() {
        for bad in ["0", "-5", "99999999999", "3601", "abc", "1.5"] {
            let Ok(Command::Run(run)) = parse_str(&format!("{bad} --sync")) else {
                panic!("{bad}: not a run");
            };
            assert_eq!(run.update_every_default, None, "{bad}");
            assert_eq!(run.only, [ThreadName::Sync], "{bad}");
            let message = run.bad_update_every.unwrap();
            assert!(
                message.starts_with(&format!(
                    "UPDATE_EVERY (the first argument) `{bad}` is not a number of seconds in 1..=3600"
                )),
                "{message}"
            );
        }
        let Ok(Command::Run(run)) = parse_str(&"x".repeat(1000)) else {
            panic!("not a run");
        };
        assert!(run
            .bad_update_every
            .unwrap()
            .contains(&format!("`{}…`", "x".repeat(40))));
        let Ok(Command::Run(run)) = parse_str("3600") else {
            panic!("not a run");
        };
        assert_eq!(
            (run.update_every_default, run.bad_update_every),
            (Some(3600), None)
        );
        // --update-every takes the same values, and stops at a bad one.
        for bad in ["0", "-5", "99999999999", "3601", "abc"] {
            assert!(
                matches!(
                    parse_str(&format!("run --update-every {bad}")),
                    Err(UsageError::BadValue {
                        expected: SECONDS,
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn run_options() {
        let Command::Run(run) =
            parse_str("run --output table --pid 42 --update-every 2 --config-dir /x --net")
                .unwrap()
        else {
            panic!("not a run");
        };
        assert_eq!(run.output, Some(vec![OutputKind::Table]));
        assert_eq!(run.pid, Some(42));
        assert_eq!(run.update_every, Some(2));
        assert_eq!(run.config_dir, Some(PathBuf::from("/x")));
        assert_eq!(run.only, [ThreadName::Socket]);
        assert_eq!(run.screenshot, None);
    }

    #[test]
    fn screenshot_takes_a_path() {
        let Command::Run(run) = parse_str("run --screenshot docs/tui.svg --sync").unwrap() else {
            panic!("not a run");
        };
        assert_eq!(run.screenshot, Some(PathBuf::from("docs/tui.svg")));
        assert_eq!(
            parse_str("run --screenshot"),
            Err(UsageError::MissingValue("--screenshot".into()))
        );
        // The terminal UI is the default on a terminal, not an `--output`.
        assert!(matches!(
            parse_str("run --output tui"),
            Err(UsageError::BadValue { .. })
        ));
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert_eq!(
            parse_str("run --pid"),
            Err(UsageError::MissingValue("--pid".into()))
        );
        assert!(matches!(
            parse_str("run --pid -3"),
            Err(UsageError::BadValue { .. })
        ));
        assert!(matches!(
            parse_str("run --pid 0"),
            Err(UsageError::BadValue { .. })
        ));
        assert!(matches!(
            parse_str("run --output xml"),
            Err(UsageError::BadValue { .. })
        ));
        assert_eq!(
            parse_str("run --bogus"),
            Err(UsageError::UnknownOption("--bogus".into()))
        );
        assert_eq!(
            parse_str("run stray"),
            Err(UsageError::Unexpected("stray".into()))
        );
        assert_eq!(parse_str("worker"), Err(UsageError::Worker));
        assert_eq!(parse_str("worker a b"), Err(UsageError::Worker));
    }

    #[test]
    fn variant_forces_one_for_every_thread() {
        let mut config = Config::default();
        let Command::Check(check) = parse_str("check --variant probe --sync").unwrap() else {
            panic!("not a check");
        };
        check.apply(&mut config);
        let sync = config.thread(ThreadName::Sync);
        assert_eq!(
            (sync.type_format, sync.core_tracing),
            (TypeFormat::CoRe, CoreTracing::Probe)
        );
        let Command::Run(auto) = parse_str("run --variant auto").unwrap() else {
            panic!("not a run");
        };
        auto.apply(&mut config);
        assert_eq!(
            config.thread(ThreadName::Sync).type_format,
            TypeFormat::Auto
        );
        assert!(matches!(
            parse_str("run --variant kprobe"),
            Err(UsageError::BadValue { .. })
        ));
    }

    #[test]
    fn several_outputs_and_statsd_options() {
        let Command::Run(run) = parse_str(
            "run --output netdata,statsd,netdata --statsd tcp://[::1]:9125 \
             --statsd-prefix a.b --statsd-mtu 512",
        )
        .unwrap() else {
            panic!("not a run");
        };
        assert_eq!(
            run.output,
            Some(vec![OutputKind::Netdata, OutputKind::Statsd])
        );
        assert!(!run.statsd_options_unused());
        let mut config = Config::default();
        run.apply(&mut config);
        assert_eq!(config.statsd.destination.to_string(), "tcp://[::1]:9125");
        assert_eq!(
            (config.statsd.prefix.as_str(), config.statsd.mtu),
            ("a.b", 512)
        );

        for bad in [
            "run --output netdata,table",
            "run --output statsd,",
            "run --output statsd,xml",
            "run --statsd-prefix a-b",
            "run --statsd-mtu 63",
        ] {
            assert!(
                matches!(parse_str(bad), Err(UsageError::BadValue { .. })),
                "{bad}"
            );
        }
        for bad in ["run --statsd http://x", "run --statsd 999999"] {
            assert!(
                matches!(parse_str(bad), Err(UsageError::Invalid { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            parse_str("run --statsd 999999").unwrap_err().to_string(),
            "option `--statsd`: `999999`: `999999` is neither an IPv4 address (four numbers \
             0..255: 127.0.0.1) nor a host name (its last label is not all digits) \
             (expected [udp://|tcp://]HOST[:PORT], IPv6 as [ADDR])"
        );
        let Command::Run(run) = parse_str("run --statsd h:1").unwrap() else {
            panic!("not a run");
        };
        assert!(run.statsd_options_unused());
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse_str("--help"), Ok(Command::Help));
        assert_eq!(parse_str("run -h"), Ok(Command::Help));
        assert_eq!(parse_str("--version"), Ok(Command::Version));
    }

    #[test]
    fn command_line_overrides_files() {
        let mut config = Config::default();
        let Command::Run(run) = parse_str("run --sync --update-every 3 --return").unwrap() else {
            panic!("not a run");
        };
        run.apply(&mut config);
        assert!(config.thread(ThreadName::Sync).enabled);
        assert!(!config.thread(ThreadName::Process).enabled);
        assert_eq!(config.thread(ThreadName::Sync).update_every, 3);
        assert_eq!(config.thread(ThreadName::Sync).mode, LoadMode::Return);
    }
}
