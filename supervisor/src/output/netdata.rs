//! Netdata's plugins.d text protocol, as the original plugin writes it
//! (spec §1.2).

use std::io::{self, Write};

use super::{Chart, Output};

pub struct Netdata<W: Write> {
    out: W,
}

impl<W: Write> Netdata<W> {
    pub fn new(out: W) -> Self {
        Netdata { out }
    }
}

impl<W: Write> Output for Netdata<W> {
    fn define(&mut self, charts: &[Chart]) -> io::Result<()> {
        for chart in charts {
            let def = chart.def;
            writeln!(
                self.out,
                "CHART {} '' '{}' '{}' '{}' '{}' '{}' {} {} '' 'ebpf.plugin' '{}'",
                def.id,
                def.title,
                def.units,
                def.family,
                def.context,
                def.kind.as_str(),
                def.priority,
                chart.update_every,
                def.module
            )?;
            for dim in &chart.dims {
                writeln!(
                    self.out,
                    "DIMENSION {} {} {} {} 1",
                    dim.id,
                    dim.name,
                    dim.value.algorithm().as_str(),
                    dim.multiplier
                )?;
            }
        }
        Ok(())
    }

    fn update(&mut self, chart: &Chart, values: &[i64]) -> io::Result<()> {
        writeln!(self.out, "BEGIN {}", chart.def.id)?;
        for (dim, value) in chart.dims.iter().zip(values) {
            writeln!(self.out, "SET {} = {value}", dim.id)?;
        }
        writeln!(self.out, "END")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn disable(&mut self) -> io::Result<()> {
        writeln!(self.out, "DISABLE")?;
        self.out.flush()
    }

    fn exit(&mut self) -> io::Result<()> {
        writeln!(self.out, "EXIT")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workers::registry;

    #[test]
    fn writes_the_originals_lines() {
        let process = registry::find(conf::ThreadName::Process).unwrap();
        let def = &process.charts()[0];
        let chart = Chart {
            def,
            dims: def.dims.iter().collect(),
            update_every: 5,
        };
        let mut out = Netdata::new(Vec::new());
        out.define(std::slice::from_ref(&chart)).unwrap();
        out.update(&chart, &[57, 40]).unwrap();
        out.exit().unwrap();
        assert_eq!(
            String::from_utf8(out.out).unwrap(),
            "CHART system.process_thread '' 'Start process' 'calls/s' 'processes' '' 'line' 21002 5 '' 'ebpf.plugin' 'process'\n\
             DIMENSION _do_fork process absolute 1 1\n\
             DIMENSION sys_clone thread absolute 1 1\n\
             BEGIN system.process_thread\n\
             SET _do_fork = 57\n\
             SET sys_clone = 40\n\
             END\n\
             EXIT\n"
        );
    }
}
