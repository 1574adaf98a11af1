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
}

impl NetdataHost {
    /// Starts the agent with `plugins_dir/*.plugin` as its plugins and
    /// `extra_conf` appended to its netdata.conf; free ports of its own.
    pub fn start(plugins_dir: &Path, extra_conf: &str) -> NetdataHost {
        let conf = plugins_dir.with_extension("netdata.conf");
        std::fs::write(&conf, extra_conf).unwrap();
        let out = Command::new("bash")
            .arg(tools().join("start"))
            .arg(plugins_dir)
            .env("NETDATA_HOST_PORT", free_port().to_string())
            .env("NETDATA_HOST_STATSD_PORT", free_port().to_string())
            .env("NETDATA_HOST_EXTRA_CONF", &conf)
            .output()
            .expect("run netdata-host start");
        let _ = std::fs::remove_file(&conf);
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
        NetdataHost {
            workdir: var("NETDATA_HOST_WORKDIR"),
            pid: var("NETDATA_HOST_PID").parse().unwrap(),
            port: var("NETDATA_HOST_PORT").parse().unwrap(),
            statsd_port: var("NETDATA_HOST_STATSD_PORT").parse().unwrap(),
            error_log: PathBuf::from(var("NETDATA_HOST_ERROR_LOG")),
        }
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
        let Some(data) = self.api(&format!(
            "/api/v1/data?chart={chart}&after=-{seconds}&format=json"
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
        self.series(chart, seconds)
            .iter()
            .flat_map(|row| row.values.iter())
            .filter(|(label, _)| label == name)
            .filter_map(|(_, v)| *v)
            .sum()
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
