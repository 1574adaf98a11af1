//! Where chart data goes. The supervisor is the only writer; each output
//! gets whole chart definitions and whole updates.

mod fanout;
mod netdata;
mod statsd;
mod table;

use std::io::{self, BufWriter};

use conf::StatsdSettings;
use workers::{ChartDef, DimDef};

use crate::cli::OutputKind;
pub use fanout::Fanout;
pub use netdata::Netdata;
pub use statsd::Statsd;
pub use table::Table;

/// A chart as this run draws it: the table entry, the dimensions the
/// configuration collects, and the thread's update interval.
#[derive(Debug, Clone)]
pub struct Chart {
    pub def: &'static ChartDef,
    pub dims: Vec<&'static DimDef>,
    pub update_every: u32,
}

pub trait Output {
    /// Announces charts before their first update.
    fn define(&mut self, charts: &[Chart]) -> io::Result<()>;
    /// One value per dimension of `chart`, in order.
    fn update(&mut self, chart: &Chart, values: &[i64]) -> io::Result<()>;
    /// Ends a batch of updates: flush, redraw.
    fn flush(&mut self) -> io::Result<()>;
    /// Nothing can be collected: tell the consumer to stop restarting us.
    fn disable(&mut self) -> io::Result<()>;
    /// Orderly end of the stream.
    fn exit(&mut self) -> io::Result<()>;
}

/// The outputs `kinds` names, fanned out when there are several.
pub fn build(kinds: &[OutputKind], statsd: &StatsdSettings) -> io::Result<Box<dyn Output>> {
    let mut outputs: Vec<Box<dyn Output>> = Vec::new();
    for kind in kinds {
        outputs.push(match kind {
            OutputKind::Netdata => Box::new(Netdata::new(BufWriter::new(io::stdout()))),
            OutputKind::Table => Box::new(Table::new(BufWriter::new(io::stdout()))),
            OutputKind::Statsd => Box::new(Statsd::new(statsd)?),
        });
    }
    Ok(match outputs.len() {
        1 => outputs.remove(0),
        _ => Box::new(Fanout(outputs)),
    })
}
