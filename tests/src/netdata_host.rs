//! A real Netdata agent (1.37.1) for the tests, through the `netdata-host`
//! tool (`../shared/tools/netdata-host` from the project root, or
//! `$NETDATA_HOST_TOOLS`): a private instance that runs the plugins of a
//! directory and serves StatsD, read back through its HTTP API.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

/// The tool's folder.
pub fn tools() -> PathBuf {
    std::env::var_os("NETDATA_HOST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tools/netdata-host")
        })
}

/// Under CI a missing agent or tool fails the test; elsewhere it skips,
/// loudly. `scripts/deps` installs the agent (`netdata-core`).
pub fn require_netdata(test: &str) -> bool {
    let missing = if !tools().join("start").is_file() {
        Some(format!(
            "the netdata-host tool is not at {} (set NETDATA_HOST_TOOLS)",
            tools().display()
        ))
    } else if !Path::new("/usr/sbin/netdata").is_file() {
        Some("netdata is not installed (scripts/deps installs netdata-core)".to_owned())
    } else {
        None
    };
    match missing {
        None => true,
        Some(missing) => crate::cannot_run(&format!("{test}: {missing}")),
    }
}

/// A port free for TCP and UDP on 127.0.0.1 right now.
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// One point in time of a chart.
#[derive(Debug, Clone)]
pub struct Row {
    /// Unix seconds.
    pub time: i64,
    /// Dimension name and value, `None` for a gap, in the chart's order.
    pub values: Vec<(String, Option<f64>)>,
}

/// One private agent, stopped on drop (also when a test panics).
pub struct NetdataHost {
    pub workdir: String,
    pub pid: u32,
    pub port: u16,
    pub statsd_port: u16,
    pub error_log: PathBuf,
    /// `NETDATA_HOST_INSTANCE`: also the agent's hostname, under which a
    /// parent serves it (`/host/<instance>/api/v1/...`).
    pub instance: String,
    /// The tool's state file as `start` wrote it, for [`NetdataHost::restart`].
    state: String,
}

impl NetdataHost {
    /// Starts the agent with `plugins_dir/*.plugin` as its plugins and
    /// `extra_conf` appended to its netdata.conf; free ports of its own.
    pub fn start(plugins_dir: &Path, extra_conf: &str) -> NetdataHost {
        NetdataHost::launch(plugins_dir, extra_conf, None)
    }

    /// [`NetdataHost::start`] with `stream_conf` as the agent's stream.conf:
    /// a parent's (an `[API key]` section) or a child's (`[stream]`).
    pub fn start_streaming(plugins_dir: &Path, extra_conf: &str, stream_conf: &str) -> NetdataHost {
        NetdataHost::launch(plugins_dir, extra_conf, Some(stream_conf))
    }

    fn launch(plugins_dir: &Path, extra_conf: &str, stream_conf: Option<&str>) -> NetdataHost {
        let conf = plugins_dir.with_extension("netdata.conf");
        std::fs::write(&conf, extra_conf).unwrap();
        let stream = plugins_dir.with_extension("stream.conf");
        let mut command = Command::new("bash");
        command
            .arg(tools().join("start"))
            .arg(plugins_dir)
            .env("NETDATA_HOST_PORT", free_port().to_string())
            .env("NETDATA_HOST_STATSD_PORT", free_port().to_string())
            .env("NETDATA_HOST_EXTRA_CONF", &conf);
        if let Some(text) = stream_conf {
            std::fs::write(&stream, text).unwrap();
            command.env("NETDATA_HOST_STREAM_CONF", &stream);
        }
        let out = command.output().expect("run netdata-host start");
        let _ = std::fs::remove_file(&conf);
        let _ = std::fs::remove_file(&stream);
        assert!(
            out.status.success(),
            "netdata-host start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let var = |key: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {key}=")))
                .map(|v| v.trim_matches('\'').to_owned())
                .unwrap_or_else(|| panic!("start printed no {key}:\n{stdout}"))
        };
        let workdir = var("NETDATA_HOST_WORKDIR");
        NetdataHost {
            state: std::fs::read_to_string(Path::new(&workdir).join("state")).unwrap(),
            workdir,
            pid: var("NETDATA_HOST_PID").parse().unwrap(),
            port: var("NETDATA_HOST_PORT").parse().unwrap(),
            statsd_port: var("NETDATA_HOST_STATSD_PORT").parse().unwrap(),
            error_log: PathBuf::from(var("NETDATA_HOST_ERROR_LOG")),
            instance: var("NETDATA_HOST_INSTANCE"),
        }
    }

    /// Stops the agent and starts it again as the same machine, as a
    /// service restart does: the same work dir (its config, stream.conf,
    /// hostname, machine GUID and database files), the same ports. The
    /// tool's `start` would make a new machine, with a new work dir.
    pub fn restart(&mut self) {
        let out = Command::new("bash")
            .arg(tools().join("stop"))
            .arg(&self.workdir)
            .env("NETDATA_HOST_KEEP", "1")
            .output()
            .expect("run netdata-host stop");
        assert!(
            out.status.success(),
            "netdata-host stop failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // As `start` runs it: its own session (the tool's `stop` reaps its
        // process group), the instance tag in its environment, and no
        // parent of ours (a shell that exits at once), so that `stop` never
        // waits on a zombie.
        let work = Path::new(&self.workdir);
        let out = Command::new("bash")
            .arg("-c")
            .arg(r#"setsid /usr/sbin/netdata -D -c "$1/netdata.conf" -P "$1/netdata.pid" </dev/null >>"$1/log/stdout.log" 2>&1 & echo $!"#)
            .arg("restart")
            .arg(work)
            .env("NETDATA_HOST_INSTANCE", &self.instance)
            .output()
            .expect("run netdata");
        self.pid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        // `stop` removed the state file; the tool's scripts read it.
        let state: String = self
            .state
            .lines()
            .map(|line| match line.strip_prefix("NETDATA_HOST_PID=") {
                Some(_) => format!("NETDATA_HOST_PID={}\n", self.pid),
                None => format!("{line}\n"),
            })
            .collect();
        std::fs::write(work.join("state"), &state).unwrap();
        self.state = state;
        let up = self.wait_until(Duration::from_secs(30), |nd| {
            nd.api("/api/v1/info")
                .is_some_and(|info| info.to_string().contains(&nd.instance))
        });
        assert!(up, "netdata did not come back; its log:\n{}", self.log());
    }

    /// Runs one of the tool's scripts against this instance.
    pub fn run(&self, script: &str, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(tools().join(script))
            .args(args)
            .env("NETDATA_HOST_WORKDIR", &self.workdir)
            .output()
            .expect("run a netdata-host script")
    }

    /// GET `path` of the API as JSON; `None` on an HTTP error (404: no such chart).
    pub fn api(&self, path: &str) -> Option<Value> {
        let out = self.run("api", &[path]);
        if !out.status.success() {
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{path}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        }))
    }

    /// `/api/v1/chart?chart=ID`.
    pub fn chart(&self, id: &str) -> Option<Value> {
        self.api(&format!("/api/v1/chart?chart={id}"))
    }

    /// Waits until `chart` exists and has a value in its last 10 s.
    pub fn wait_chart(&self, chart: &str, timeout: Duration) -> bool {
        self.run("wait-chart", &[chart, &timeout.as_secs().to_string()])
            .status
            .success()
    }

    /// The last `seconds` of `chart`, oldest first, one row per second.
    pub fn series(&self, chart: &str, seconds: u32) -> Vec<Row> {
        self.series_at("", chart, seconds)
    }

    /// [`NetdataHost::series`] of a child this parent receives, by its
    /// hostname.
    pub fn child_series(&self, child: &str, chart: &str, seconds: u32) -> Vec<Row> {
        self.series_at(&format!("/host/{child}"), chart, seconds)
    }

    fn series_at(&self, host: &str, chart: &str, seconds: u32) -> Vec<Row> {
        let Some(data) = self.api(&format!(
            "{host}/api/v1/data?chart={chart}&after=-{seconds}&format=json"
        )) else {
            return Vec::new();
        };
        let labels: Vec<String> = data["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect();
        let mut rows: Vec<Row> = data["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|row| {
                let row = row.as_array().unwrap();
                let time = row[0].as_i64().unwrap();
                let values = labels[1..]
                    .iter()
                    .zip(&row[1..])
                    .map(|(label, v)| (label.clone(), v.as_f64()))
                    .collect();
                Row { time, values }
            })
            .collect();
        rows.reverse();
        rows
    }

    /// The sum of dimension `name` of `chart` over the last `seconds`:
    /// events, for a per-second rate or a per-interval count.
    pub fn sum(&self, chart: &str, name: &str, seconds: u32) -> f64 {
        sum_of(&self.series(chart, seconds), name)
    }

    /// [`NetdataHost::sum`] of a child this parent receives.
    pub fn child_sum(&self, child: &str, chart: &str, name: &str, seconds: u32) -> f64 {
        sum_of(&self.child_series(child, chart, seconds), name)
    }

    /// Polls until `done` holds; false on timeout.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&NetdataHost) -> bool) -> bool {
        crate::poll(timeout, Duration::from_millis(500), || done(self))
    }

    /// Netdata's log, which also holds the plugins' stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.error_log).unwrap_or_default()
    }
}

impl Drop for NetdataHost {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(tools().join("stop"))
            .arg(&self.workdir)
            .output();
    }
}

/// The sum of dimension `name` over `rows`, gaps left out.
pub fn sum_of(rows: &[Row], name: &str) -> f64 {
    rows.iter()
        .flat_map(|row| row.values.iter())
        .filter(|(label, _)| label == name)
        .filter_map(|(_, v)| *v)
        .sum()
}

/// Netdata's name for a StatsD metric's chart (its README; verified by
/// the tool's `verify-facts`): `statsd_` + the name up to its first `.` or
/// `_` + `.` + the rest + `_` + the type (`counter`, `gauge`, …).
pub fn statsd_chart(metric: &str, kind: &str) -> String {
    match metric.find(['.', '_']) {
        Some(cut) => format!("statsd_{}.{}_{kind}", &metric[..cut], &metric[cut + 1..]),
        None => format!("statsd_{metric}.{kind}"),
    }
}

/// `got` is `want` as far as Netdata's storage allows: it keeps about 7
/// significant digits per point, and spreads each value over whole-second
/// points by interpolation, which keeps the sum (measured: 50 events read
/// back as 49.999994 to 50.000001). Far tighter than one event.
pub fn close_enough(got: f64, want: f64) -> bool {
    (got - want).abs() <= (want.abs() * 1e-4).max(0.01)
}
