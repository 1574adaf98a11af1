//! A live view for a terminal: every chart with its dimensions, incremental
//! ones as rates per second.

use std::collections::BTreeMap;
use std::io::{self, Write};

use workers::Algorithm;

use super::{Chart, Output, Sample, Status, ThreadState};

struct Row {
    chart: Chart,
    samples: Vec<Sample>,
}

pub struct Table<W: Write> {
    out: W,
    rows: BTreeMap<(u32, String), Row>,
    /// One line per enabled thread: state, attach variant, restarts.
    threads: Vec<String>,
}

impl<W: Write> Table<W> {
    pub fn new(out: W) -> Self {
        Table {
            out,
            rows: BTreeMap::new(),
            threads: Vec::new(),
        }
    }
}

impl<W: Write> Output for Table<W> {
    fn define(&mut self, charts: &[Chart]) -> io::Result<()> {
        for chart in charts {
            self.rows.insert(
                (chart.priority, chart.id.clone()),
                Row {
                    chart: chart.clone(),
                    samples: Vec::new(),
                },
            );
        }
        Ok(())
    }

    fn update(&mut self, chart: &Chart, samples: &[Sample]) -> io::Result<()> {
        if let Some(row) = self.rows.get_mut(&(chart.priority, chart.id.clone())) {
            row.samples = samples.to_vec();
        }
        Ok(())
    }

    fn obsolete(&mut self, charts: &[Chart]) -> io::Result<()> {
        for chart in charts {
            self.rows.remove(&(chart.priority, chart.id.clone()));
        }
        Ok(())
    }

    fn status(&mut self, status: &Status) -> io::Result<()> {
        self.threads = status
            .threads
            .iter()
            .filter(|t| t.state != ThreadState::Off)
            .map(|t| {
                let state = match (t.state, t.variant) {
                    (ThreadState::Running, Some(variant)) => {
                        format!("running ({} variant)", variant.as_str())
                    }
                    (ThreadState::Running, None) => "running".into(),
                    (ThreadState::Starting, _) => "starting".into(),
                    (ThreadState::Disabled, _) => "disabled".into(),
                    (ThreadState::Off, _) => "off".into(),
                };
                format!(
                    "  {:<12}{state:<30}{:>6} restarts{:>8} ms without data",
                    t.thread.key(),
                    t.restarts,
                    t.gap_ms
                )
            })
            .collect();
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Home, clear screen: redraw in place.
        write!(self.out, "\x1b[H\x1b[2J")?;
        writeln!(self.out, "ebpf-collector — Ctrl-C to stop")?;
        for line in &self.threads {
            writeln!(self.out, "{line}")?;
        }
        for row in self.rows.values() {
            let chart = &row.chart;
            writeln!(
                self.out,
                "\n{} — {} [{}]",
                chart.id, chart.title, chart.units
            )?;
            for (dim, sample) in row.chart.dims.iter().zip(&row.samples) {
                // Incremental dimensions as rates, absolute ones as they are.
                let shown = match dim.algorithm() {
                    Algorithm::Incremental => format!(
                        "{:>14.1}",
                        sample.events as f64 * dim.multiplier as f64
                            / (dim.divisor as f64 * chart.update_every as f64)
                    ),
                    Algorithm::Absolute => format!(
                        "{:>14}",
                        sample.value as f64 * dim.multiplier as f64 / dim.divisor as f64
                    ),
                };
                writeln!(self.out, "  {:<24}{shown}", dim.name)?;
            }
        }
        self.out.flush()
    }

    fn disable(&mut self) -> io::Result<()> {
        writeln!(
            self.out,
            "nothing can be collected on this system (see the messages above)"
        )?;
        self.out.flush()
    }

    fn exit(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
