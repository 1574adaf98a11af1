//! Where chart data goes. The supervisor is the only writer; each output
//! gets whole chart definitions and whole updates.

mod fanout;
pub mod names;
mod netdata;
mod statsd;
mod table;
mod tui;

use std::io::{self, BufWriter};
use std::path::Path;

pub use crate::charts::{Chart, Dim, Sample};
use crate::cost::Cost;
use crate::function::Reply;
use conf::{StatsdSettings, ThreadName};
use workers::VariantKind;

use crate::cli::OutputKind;
use crate::supervisor::Event;
use crossbeam_channel::Sender;
pub use fanout::Fanout;
pub use netdata::Netdata;
pub use statsd::Statsd;
pub use table::Table;
pub use tui::Tui;

/// Where a thread stands, as the plugin's own charts show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadState {
    /// Not enabled in the configuration.
    Off,
    /// Its worker is starting, or waits to be restarted.
    Starting,
    /// Its worker is attached and sending data.
    Running,
    /// Enabled but will not run: not implemented, no variant works here,
    /// or it crashed too often.
    Disabled,
}

/// One thread in the supervisor's eyes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadStatus {
    pub thread: ThreadName,
    pub state: ThreadState,
    /// The attach variant of its running worker.
    pub variant: Option<VariantKind>,
    /// Workers that died and were (or will be) replaced.
    pub restarts: u64,
    /// Frames its workers dropped because the ring was full.
    pub dropped_frames: u64,
    /// Milliseconds without an attached worker after deaths: events then
    /// were not counted.
    pub gap_ms: u64,
    /// The per-process table's statistics, in [`ipc::TableStat`] order,
    /// when the thread counts per process.
    pub pid_table: Option<[u64; 3]>,
    /// What its programs have cost the kernel so far, when measured
    /// (`crate::cost`).
    pub kernel_cost: Option<Cost>,
}

/// The supervisor's own state, every thread in [`ThreadName::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub update_every: u32,
    pub threads: Vec<ThreadStatus>,
    /// SIGHUPs whose configuration had an error and was not applied.
    pub rejected_reloads: u64,
    /// What the StatsD output sent and gave up on, when it runs.
    pub statsd: Option<Delivery>,
}

/// Metric lines a network output handed to the kernel, and lines it gave
/// up on (server down or slow, its queue full): running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: u64,
    pub dropped: u64,
}

pub trait Output {
    /// Announces charts before their first update.
    fn define(&mut self, charts: &[Chart]) -> io::Result<()>;
    /// One sample per dimension of `chart`, in order.
    fn update(&mut self, chart: &Chart, samples: &[Sample]) -> io::Result<()>;
    /// These charts will get no more data (their thread was disabled).
    /// Outputs without a chart lifecycle ignore it.
    fn obsolete(&mut self, _charts: &[Chart]) -> io::Result<()> {
        Ok(())
    }
    /// `chart`, just defined again, no longer has `dims`: they will get no
    /// more data. Outputs that take each definition whole ignore it.
    fn retire_dims(&mut self, _chart: &Chart, _dims: &[Dim]) -> io::Result<()> {
        Ok(())
    }
    /// The supervisor's own state, once per global update interval: the
    /// plugin's own charts in Netdata. Outputs without them ignore it.
    fn status(&mut self, _status: &Status) -> io::Result<()> {
        Ok(())
    }
    /// What a network output has sent and dropped so far.
    fn delivery(&self) -> Option<Delivery> {
        None
    }
    /// Offers a Netdata Function (only Netdata has them).
    fn register_function(&mut self, _name: &str, _timeout: u32, _help: &str) -> io::Result<()> {
        Ok(())
    }
    /// Answers a Function's request, whole.
    fn function_result(&mut self, _reply: &Reply) -> io::Result<()> {
        Ok(())
    }
    /// Ends a batch of updates: flush, redraw.
    fn flush(&mut self) -> io::Result<()>;
    /// Nothing can be collected: tell the consumer to stop restarting us.
    fn disable(&mut self) -> io::Result<()>;
    /// Orderly end of the stream.
    fn exit(&mut self) -> io::Result<()>;
}

/// The outputs `kinds` names, fanned out when there are several;
/// `self_charts`: Netdata gets the plugin's own charts; `stop`: how the
/// terminal UI asks the run to stop (its quit keys, its screenshot taken);
/// `screenshot`: the terminal UI draws its screen there instead.
pub fn build(
    kinds: &[OutputKind],
    statsd: &StatsdSettings,
    self_charts: bool,
    stop: &Sender<Event>,
    screenshot: Option<&Path>,
) -> io::Result<Box<dyn Output>> {
    let mut outputs: Vec<Box<dyn Output>> = Vec::new();
    for kind in kinds {
        outputs.push(match kind {
            OutputKind::Netdata => {
                let netdata = Netdata::new(BufWriter::new(io::stdout()));
                if self_charts {
                    Box::new(netdata)
                } else {
                    Box::new(netdata.without_self_charts())
                }
            }
            OutputKind::Table => Box::new(Table::new(BufWriter::new(io::stdout()))),
            OutputKind::Statsd => Box::new(Statsd::new(statsd)?),
            OutputKind::Tui => match screenshot {
                Some(path) => Box::new(Tui::screenshot(path.to_owned(), stop.clone())),
                None => Box::new(Tui::new(stop.clone())?),
            },
        });
    }
    Ok(match outputs.len() {
        1 => outputs.remove(0),
        _ => Box::new(Fanout(outputs)),
    })
}
