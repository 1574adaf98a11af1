//! StatsD: every dimension of every chart as one metric, sent by a thread of
//! its own so that a slow or dead server never holds up the supervisor.
//!
//! The mapping (README "Running as a StatsD emitter"):
//! - name `<prefix>.<host>.<chart id>.<dimension name>`, e.g.
//!   `ebpf.web1.mem.file_sync.fsync` (the host: `[statsd] host name`, by
//!   default this machine's, so that one server tells many collectors
//!   apart; none when it is set empty), or the dimension's id when its name
//!   is empty (the `apps.*` charts' groups). With `tags = dogstatsd` the
//!   host is not in the name but in DogStatsD tags after each line,
//!   `ebpf.mem.file_sync.fsync:3|c|#host:web1,thread:sync`. Each word keeps only
//!   `[A-Za-z0-9_]`, every run of other characters becomes one `_`
//!   (`0us->1us` → `0us_1us`, [`names::word`]), so no server mistakes a
//!   part of the name for syntax (`:`, `|`, `@`, `#`, blanks) or a path
//!   (`/`). Two dimensions of a chart whose names clean to the same metric
//!   get `_1`, `_2`, … in order of appearance, kept while the collector
//!   runs.
//! - `incremental` dimensions (cumulative counters) are StatsD counters of
//!   the events since the previous update: `name:5|c`. Summed by the
//!   server, they give exactly the kernel's count.
//! - `absolute` dimensions (per-interval values, differences) are gauges of
//!   the value: `name:3|g`. A negative value is sent as `name:0|g` then
//!   `name:-1|g` in the same datagram, because a leading sign makes a
//!   StatsD gauge relative.
//! - Histograms (the disk and filesystem latency charts) are charts of
//!   `incremental` bucket dimensions, so each bucket is a counter of the
//!   events that fell into it since the previous update:
//!   `ebpf.disk_latency_io.sda.1ms_2ms:4|c`. A StatsD `h`/`ms` metric would
//!   want every single latency, which the kernel side never has.
//! - Netdata's `multiplier` (-1 to draw a dimension below the axis) is a
//!   drawing convention and is not applied: StatsD gets the real count.
//!
//! Every dimension is sent on every update, zeros included, so a server
//! sees the metric from the first update on.

mod sender;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use conf::{StatsdHost, StatsdSettings, StatsdTags};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use tracing::{info, warn};
use workers::Algorithm;

use super::names;
use super::{Chart, Delivery, Output, Sample};
use sender::{Batch, Datagram, Stats};

/// Batches waiting for the sender thread; when it is this far behind, new
/// ones are dropped (and counted) instead of waiting.
const QUEUE: usize = 64;
/// How long `exit` waits for the sender to hand over what is queued.
const EXIT_GRACE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

struct Metric {
    /// The dimension's own id.
    dim: String,
    name: String,
    kind: Kind,
    /// DogStatsD tags (`|#host:..,thread:..`), or nothing.
    tags: String,
}

pub struct Statsd {
    prefix: String,
    /// The host as a metric word, when metrics carry it.
    host: Option<String>,
    tags: StatsdTags,
    /// Chart id → one metric per dimension, in the chart's order.
    metrics: HashMap<String, Vec<Metric>>,
    batcher: Batcher,
    queue: Option<Sender<Batch>>,
    finished: Receiver<()>,
    stats: Arc<Stats>,
    /// The queue was full at the last flush (logged once per episode).
    behind: bool,
}

impl Statsd {
    /// Starts the sender thread; nothing is resolved or connected yet, so
    /// this never waits for the network.
    pub fn new(settings: &StatsdSettings) -> io::Result<Statsd> {
        let stats = Arc::new(Stats::default());
        let (queue, finished) = sender::spawn(settings.destination.clone(), QUEUE, stats.clone())?;
        let host = match &settings.host {
            StatsdHost::Machine => Some(host_word(
                &nix::sys::utsname::uname()?.nodename().to_string_lossy(),
            )),
            StatsdHost::Named(name) => Some(host_word(name)),
            StatsdHost::Nowhere => None,
        };
        let shown = metric_name(
            &settings.prefix,
            host.as_deref().filter(|_| settings.tags == StatsdTags::No),
            "<chart>",
            "<dimension>",
        );
        let tagged = match (&host, settings.tags) {
            (Some(host), StatsdTags::DogStatsd) => format!("|#host:{host},thread:<thread>"),
            (None, StatsdTags::DogStatsd) => "|#thread:<thread>".to_owned(),
            (_, StatsdTags::No) => String::new(),
        };
        info!(
            "statsd: sending to {} as {shown}{tagged}, datagrams up to {} bytes",
            settings.destination, settings.mtu
        );
        Ok(Statsd {
            prefix: settings.prefix.clone(),
            host,
            tags: settings.tags,
            metrics: HashMap::new(),
            batcher: Batcher::new(settings.mtu as usize),
            queue: Some(queue),
            finished,
            stats,
            behind: false,
        })
    }

    /// The DogStatsD tags of `chart`'s metrics, when tags are on.
    fn tags_of(&self, chart: &Chart) -> String {
        if self.tags == StatsdTags::No {
            return String::new();
        }
        let thread = names::word(chart.module);
        match &self.host {
            Some(host) => format!("|#host:{host},thread:{thread}"),
            None => format!("|#thread:{thread}"),
        }
    }

    /// Hands what is queued to the sender and waits a little for it.
    fn finish(&mut self) {
        self.flush_batch();
        if self.queue.take().is_none() {
            return;
        }
        let _ = self.finished.recv_timeout(EXIT_GRACE);
        info!(
            "statsd: {} metric lines sent, {} dropped",
            self.stats.sent.load(Ordering::Relaxed),
            self.stats.dropped.load(Ordering::Relaxed)
        );
    }

    fn flush_batch(&mut self) {
        let batch = self.batcher.take();
        if batch.is_empty() {
            return;
        }
        let Some(queue) = &self.queue else {
            return;
        };
        match queue.try_send(batch) {
            Ok(()) => self.behind = false,
            Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => {
                let lines: u64 = batch.iter().map(|d| d.lines).sum();
                self.stats.dropped.fetch_add(lines, Ordering::Relaxed);
                if !self.behind {
                    warn!("statsd: the sender is {QUEUE} updates behind; dropping updates");
                    self.behind = true;
                }
            }
        }
    }
}

impl Output for Statsd {
    fn define(&mut self, charts: &[Chart]) -> io::Result<()> {
        for chart in charts {
            let old = self.metrics.remove(&chart.id).unwrap_or_default();
            let mut metrics: Vec<Metric> = Vec::with_capacity(chart.dims.len());
            for dim in &chart.dims {
                // A redefined chart keeps its metrics' names.
                let known = old.iter().find(|m| m.dim == dim.id);
                let name = match known {
                    Some(m) => m.name.clone(),
                    None => {
                        let shown = if dim.name.is_empty() {
                            &dim.id
                        } else {
                            &dim.name
                        };
                        let host = self.host.as_deref().filter(|_| self.tags == StatsdTags::No);
                        let base = metric_name(&self.prefix, host, &chart.id, shown);
                        let taken = |name: &str| metrics.iter().chain(&old).any(|m| m.name == name);
                        let name = names::unique(&base, usize::MAX, taken);
                        if name != base {
                            warn!(
                                "statsd: dimension `{}` of {} is sent as {name}: another \
                                 dimension of the chart has {base}",
                                names::name(&dim.id),
                                names::name(&chart.id)
                            );
                        }
                        name
                    }
                };
                metrics.push(Metric {
                    dim: dim.id.clone(),
                    name,
                    kind: match dim.value.algorithm() {
                        Algorithm::Incremental => Kind::Counter,
                        Algorithm::Absolute => Kind::Gauge,
                    },
                    tags: self.tags_of(chart),
                });
            }
            self.metrics.insert(chart.id.clone(), metrics);
        }
        Ok(())
    }

    fn update(&mut self, chart: &Chart, samples: &[Sample]) -> io::Result<()> {
        let Some(metrics) = self.metrics.get(&chart.id) else {
            return Ok(());
        };
        let mut unit = String::new();
        for (metric, sample) in metrics.iter().zip(samples) {
            unit.clear();
            let lines = metric.format(*sample, &mut unit);
            self.batcher.push(&unit, lines);
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_batch();
        Ok(())
    }

    fn delivery(&self) -> Option<Delivery> {
        Some(Delivery {
            sent: self.stats.sent.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
        })
    }

    fn disable(&mut self) -> io::Result<()> {
        self.finish();
        Ok(())
    }

    fn exit(&mut self) -> io::Result<()> {
        self.finish();
        Ok(())
    }
}

impl Metric {
    /// Appends this update's line(s) to `out`; returns how many: a counter
    /// of the interval's events, a gauge of the value.
    fn format(&self, sample: Sample, out: &mut String) -> u64 {
        let (name, tags) = (&self.name, &self.tags);
        let value = sample.value;
        match self.kind {
            Kind::Counter => {
                let _ = writeln!(out, "{name}:{}|c{tags}", sample.events);
                1
            }
            Kind::Gauge if value < 0 => {
                let _ = writeln!(out, "{name}:0|g{tags}\n{name}:{value}|g{tags}");
                2
            }
            Kind::Gauge => {
                let _ = writeln!(out, "{name}:{value}|g{tags}");
                1
            }
        }
    }
}

/// A host name as one metric word (`web-1.example.com`: `web_1_example_com`).
fn host_word(name: &str) -> String {
    match names::word(name) {
        word if word.is_empty() => "_".to_owned(),
        word => word,
    }
}

/// `<prefix>.<host>.<chart id>.<dimension>`, each word reduced to
/// `[A-Za-z0-9_]`; `host` already a word.
fn metric_name(prefix: &str, host: Option<&str>, chart: &str, dimension: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    if !prefix.is_empty() {
        // Checked when read: already only words and dots.
        words.push(prefix.to_owned());
    }
    words.extend(host.map(str::to_owned));
    words.extend(chart.split('.').map(names::word).filter(|w| !w.is_empty()));
    let dimension = names::word(dimension);
    words.push(if dimension.is_empty() {
        "_".to_owned()
    } else {
        dimension
    });
    words.join(".")
}

/// Packs metric lines into datagrams of at most `mtu` bytes, greedily and
/// in order. A unit (one metric's lines) is never split; a unit longer
/// than the MTU travels alone.
struct Batcher {
    mtu: usize,
    full: Vec<Datagram>,
    open: Datagram,
}

impl Batcher {
    fn new(mtu: usize) -> Batcher {
        Batcher {
            mtu,
            full: Vec::new(),
            open: Datagram::default(),
        }
    }

    fn push(&mut self, unit: &str, lines: u64) {
        if !self.open.bytes.is_empty() && self.open.bytes.len() + unit.len() > self.mtu {
            self.full.push(std::mem::take(&mut self.open));
        }
        self.open.bytes.extend_from_slice(unit.as_bytes());
        self.open.lines += lines;
    }

    fn take(&mut self) -> Batch {
        if !self.open.bytes.is_empty() {
            self.full.push(std::mem::take(&mut self.open));
        }
        std::mem::take(&mut self.full)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::{BufRead, BufReader};
    use std::net::{TcpListener, UdpSocket};
    use std::time::Instant;

    use conf::{StatsdDestination, Transport};
    use workers::registry;

    use super::*;
    use crate::charts::samples;

    fn every_chart() -> Vec<Chart> {
        registry::all()
            .iter()
            .flat_map(|thread| thread.charts)
            .map(|def| Chart::of(def, 1, |_| true))
            .collect()
    }

    fn settings(transport: Transport, port: u16, mtu: u32) -> StatsdSettings {
        StatsdSettings {
            destination: StatsdDestination {
                transport,
                host: "127.0.0.1".into(),
                port,
            },
            prefix: "ebpf".into(),
            mtu,
            host: StatsdHost::Nowhere,
            tags: StatsdTags::No,
        }
    }

    #[test]
    fn names_keep_only_what_every_server_accepts() {
        assert_eq!(
            metric_name("ebpf", None, "mem.file_sync", "fsync"),
            "ebpf.mem.file_sync.fsync"
        );
        assert_eq!(
            metric_name(
                "ebpf",
                Some(&host_word("web-1.example.com")),
                "mem.file_sync",
                "fsync"
            ),
            "ebpf.web_1_example_com.mem.file_sync.fsync"
        );
        assert_eq!(
            metric_name("a.b", None, "disk_latency_io.dm-0", "0us->1us"),
            "a.b.disk_latency_io.dm_0.0us_1us"
        );
        assert_eq!(metric_name("", None, "x.y", "4s->+Inf"), "x.y.4s_Inf");
        assert_eq!(
            metric_name("ebpf", None, "ip.conn", "10.0.0.1:80|x"),
            "ebpf.ip.conn.10_0_0_1_80_x"
        );
        assert_eq!(metric_name("p", None, "c.d", "->"), "p.c.d._");
        assert_eq!(host_word("#"), "_");
    }

    #[test]
    fn every_metric_of_every_thread_has_its_own_name() {
        let mut seen = HashSet::new();
        for chart in every_chart() {
            for dim in &chart.dims {
                let name = metric_name("ebpf", Some("h"), &chart.id, &dim.name);
                assert!(seen.insert(name.clone()), "{name} twice");
            }
        }
    }

    /// An `apps.*` chart as the supervisor draws it: a dimension per
    /// group, its id the group's name, its name empty.
    fn apps_chart(groups: &[&str]) -> Chart {
        let mut chart = every_chart().remove(0);
        chart.id = "apps.process_create".into();
        let dim = chart.dims[0].clone();
        chart.dims = groups
            .iter()
            .map(|group| crate::charts::Dim {
                id: (*group).into(),
                name: String::new(),
                ..dim.clone()
            })
            .collect();
        chart
    }

    fn names_of(out: &Statsd, chart: &str) -> Vec<String> {
        out.metrics[chart].iter().map(|m| m.name.clone()).collect()
    }

    #[test]
    fn a_dimension_without_a_name_is_its_id_and_no_two_share_a_metric() {
        let mut out = Statsd::new(&settings(Transport::Udp, 9, 1432)).unwrap();
        out.prefix = "pre.fix".into();
        out.define(&[apps_chart(&["ssh", "web", "other"])]).unwrap();
        assert_eq!(
            names_of(&out, "apps.process_create"),
            [
                "pre.fix.apps.process_create.ssh",
                "pre.fix.apps.process_create.web",
                "pre.fix.apps.process_create.other"
            ]
        );
        // `a b` and `a.b` both clean to `a_b`; a group shown later in the
        // middle keeps nobody else's name, and every one keeps its own
        // across redefinitions.
        out.define(&[apps_chart(&["a_b", "other"])]).unwrap();
        out.define(&[apps_chart(&["a b", "a_b", "a.b", "other"])])
            .unwrap();
        let want = [
            "pre.fix.apps.process_create.a_b_1",
            "pre.fix.apps.process_create.a_b",
            "pre.fix.apps.process_create.a_b_2",
            "pre.fix.apps.process_create.other",
        ];
        assert_eq!(names_of(&out, "apps.process_create"), want);
        out.define(&[apps_chart(&["a b", "a_b", "a.b", "other"])])
            .unwrap();
        assert_eq!(names_of(&out, "apps.process_create"), want);
        out.exit().unwrap();
    }

    #[test]
    fn counters_send_the_intervals_events_gauges_values_negative_gauges_from_zero() {
        let counter = Metric {
            dim: "c".into(),
            name: "c".into(),
            kind: Kind::Counter,
            tags: String::new(),
        };
        let gauge = Metric {
            dim: "g".into(),
            name: "g".into(),
            kind: Kind::Gauge,
            tags: String::new(),
        };
        let mut out = String::new();
        for (value, events) in [(5, 5), (5, 0), (12, 7)] {
            assert_eq!(counter.format(Sample { value, events }, &mut out), 1);
        }
        for sample in samples([3, 0, -2]) {
            gauge.format(sample, &mut out);
        }
        assert_eq!(out, "c:5|c\nc:0|c\nc:7|c\ng:3|g\ng:0|g\ng:0|g\ng:-2|g\n");
    }

    #[test]
    fn the_host_is_a_part_of_each_name_or_a_dogstatsd_tag() {
        let sync = every_chart()
            .into_iter()
            .find(|c| c.id == "mem.file_sync")
            .unwrap();
        let mut named = settings(Transport::Udp, 9, 1432);
        named.host = StatsdHost::Named("web-1".into());
        let mut out = Statsd::new(&named).unwrap();
        out.define(std::slice::from_ref(&sync)).unwrap();
        assert_eq!(
            out.metrics["mem.file_sync"][0].name,
            "ebpf.web_1.mem.file_sync.fsync"
        );
        out.exit().unwrap();
        named.tags = StatsdTags::DogStatsd;
        let mut out = Statsd::new(&named).unwrap();
        out.define(std::slice::from_ref(&sync)).unwrap();
        let mut line = String::new();
        out.metrics["mem.file_sync"][0].format(
            Sample {
                value: 3,
                events: 3,
            },
            &mut line,
        );
        assert_eq!(
            line,
            "ebpf.mem.file_sync.fsync:3|c|#host:web_1,thread:sync\n"
        );
        out.exit().unwrap();
    }

    #[test]
    fn batches_fill_datagrams_greedily_and_never_split_a_unit() {
        let mut batcher = Batcher::new(20);
        for unit in [
            "aaaaaaa:1|c\n",
            "bbbbbbb:2|c\n",
            "c:3|c\n",
            "d:0|g\nd:-1|g\n",
        ] {
            batcher.push(unit, unit.matches('\n').count() as u64);
        }
        // 22 bytes alone: longer than the MTU, so on its own.
        batcher.push("eeeeeeeeeeeeeeee:1|c\n", 1);
        batcher.push("f:1|c\n", 1);
        let got: Vec<(String, u64)> = batcher
            .take()
            .into_iter()
            .map(|d| (String::from_utf8(d.bytes).unwrap(), d.lines))
            .collect();
        let want = [
            ("aaaaaaa:1|c\n", 1),
            ("bbbbbbb:2|c\nc:3|c\n", 2),
            ("d:0|g\nd:-1|g\n", 2),
            ("eeeeeeeeeeeeeeee:1|c\n", 1),
            ("f:1|c\n", 1),
        ];
        let want: Vec<(String, u64)> = want.iter().map(|(s, n)| (s.to_string(), *n)).collect();
        assert_eq!(got, want);
        assert!(batcher.take().is_empty());
    }

    #[test]
    fn sends_over_udp_in_datagrams_within_the_mtu() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let port = server.local_addr().unwrap().port();
        let mut out = Statsd::new(&settings(Transport::Udp, port, 100)).unwrap();
        let charts = every_chart();
        out.define(&charts).unwrap();
        let mut lines = 0;
        for chart in &charts {
            out.update(chart, &samples(1..=chart.dims.len() as i64))
                .unwrap();
            lines += chart.dims.len();
        }
        out.flush().unwrap();
        let mut got = Vec::new();
        let mut buffer = [0u8; 2048];
        while got.len() < lines {
            let n = server.recv(&mut buffer).expect("a datagram");
            assert!(n <= 100, "{n} bytes");
            let text = std::str::from_utf8(&buffer[..n]).unwrap();
            assert!(text.ends_with('\n'));
            got.extend(text.lines().map(str::to_owned));
        }
        assert_eq!(got.len(), lines);
        assert!(got.contains(&"ebpf.system.process_thread.thread:2|g".to_owned()));
        assert!(got.contains(&"ebpf.mem.file_sync.fdatasync:2|c".to_owned()));
        out.exit().unwrap();
        assert_eq!(out.stats.sent.load(Ordering::Relaxed), lines as u64);
    }

    #[test]
    fn a_server_that_stops_reading_never_blocks_a_flush() {
        // Accepts, then never reads: the socket buffers fill, the sender
        // blocks, the queue fills, and flushes must drop instead of wait.
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let mut out = Statsd::new(&settings(Transport::Tcp, port, 65_000)).unwrap();
        let chart = &every_chart()[0];
        out.define(std::slice::from_ref(chart)).unwrap();
        let values = samples(vec![-1; chart.dims.len()]);
        // The sender connects on its first batch.
        out.update(chart, &values).unwrap();
        out.flush().unwrap();
        let (_connection, _) = server.accept().unwrap();
        let mut slowest = Duration::ZERO;
        let start = Instant::now();
        while out.stats.dropped.load(Ordering::Relaxed) == 0 {
            assert!(start.elapsed() < Duration::from_secs(20), "nothing dropped");
            for _ in 0..2000 {
                out.update(chart, &values).unwrap();
            }
            let before = Instant::now();
            out.flush().unwrap();
            slowest = slowest.max(before.elapsed());
        }
        assert!(
            slowest < Duration::from_millis(50),
            "a flush took {slowest:?}"
        );
        let before = Instant::now();
        out.exit().unwrap();
        assert!(before.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn a_closed_server_is_reconnected_and_nothing_is_split() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let mut out = Statsd::new(&settings(Transport::Tcp, port, 1432)).unwrap();
        let charts = every_chart();
        out.define(&charts).unwrap();
        let mut tick = 0;
        let mut send = |out: &mut Statsd| {
            tick += 1;
            for chart in &charts {
                out.update(chart, &samples(vec![tick; chart.dims.len()]))
                    .unwrap();
            }
            out.flush().unwrap();
        };
        send(&mut out);
        let (first, _) = server.accept().unwrap();
        let mut reader = BufReader::new(first);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("ebpf."), "{line:?}");
        // The server goes away entirely.
        drop(reader);
        drop(server);
        for _ in 0..5 {
            send(&mut out);
            std::thread::sleep(Duration::from_millis(100));
        }
        let server = TcpListener::bind(("127.0.0.1", port)).unwrap();
        server.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let second = loop {
            send(&mut out);
            match server.accept() {
                Ok((stream, _)) => break stream,
                Err(_) => {
                    assert!(Instant::now() < deadline, "never reconnected");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        second.set_nonblocking(false).unwrap();
        second
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        send(&mut out);
        // Whole lines only: the first one on the new connection is not the
        // rest of a line cut when the old one died.
        let reader = BufReader::new(second);
        let lines: Vec<String> = reader.lines().take(20).map(Result::unwrap).collect();
        for line in &lines {
            let (name, rest) = line.split_once(':').unwrap();
            assert!(name.starts_with("ebpf.") && !name.contains('|'), "{line}");
            let (value, kind) = rest.split_once('|').unwrap();
            assert!(
                value.parse::<i64>().is_ok() && (kind == "c" || kind == "g"),
                "{line}"
            );
        }
        assert!(out.stats.dropped.load(Ordering::Relaxed) > 0);
        out.exit().unwrap();
    }
}
