//! Several outputs at once (`--output netdata,statsd`): each gets every
//! call, in order, and one failing does not starve the others.

use std::io;

use crate::function::Reply;

use super::{Chart, Delivery, Dim, Output, Sample, Status};

pub struct Fanout(pub Vec<Box<dyn Output>>);

impl Fanout {
    /// Calls `f` on every output; the first error is returned.
    fn each(&mut self, mut f: impl FnMut(&mut dyn Output) -> io::Result<()>) -> io::Result<()> {
        let mut first = Ok(());
        for output in &mut self.0 {
            let result = f(output.as_mut());
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

impl Output for Fanout {
    fn define(&mut self, charts: &[Chart]) -> io::Result<()> {
        self.each(|o| o.define(charts))
    }

    fn update(&mut self, chart: &Chart, samples: &[Sample]) -> io::Result<()> {
        self.each(|o| o.update(chart, samples))
    }

    fn obsolete(&mut self, charts: &[Chart]) -> io::Result<()> {
        self.each(|o| o.obsolete(charts))
    }

    fn retire_dims(&mut self, chart: &Chart, dims: &[Dim]) -> io::Result<()> {
        self.each(|o| o.retire_dims(chart, dims))
    }

    fn status(&mut self, status: &Status) -> io::Result<()> {
        self.each(|o| o.status(status))
    }

    fn delivery(&self) -> Option<Delivery> {
        self.0.iter().find_map(|o| o.delivery())
    }

    fn register_function(&mut self, name: &str, timeout: u32, help: &str) -> io::Result<()> {
        self.each(|o| o.register_function(name, timeout, help))
    }

    fn function_result(&mut self, reply: &Reply) -> io::Result<()> {
        self.each(|o| o.function_result(reply))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.each(|o| o.flush())
    }

    fn disable(&mut self) -> io::Result<()> {
        self.each(|o| o.disable())
    }

    fn exit(&mut self) -> io::Result<()> {
        self.each(|o| o.exit())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use workers::registry;

    use super::*;
    use crate::charts::samples;

    /// Records calls; fails every call when `broken`.
    struct Probe {
        calls: Rc<RefCell<Vec<String>>>,
        name: &'static str,
        broken: bool,
    }

    impl Probe {
        fn note(&mut self, call: &str) -> io::Result<()> {
            self.calls
                .borrow_mut()
                .push(format!("{}:{call}", self.name));
            if self.broken {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            } else {
                Ok(())
            }
        }
    }

    impl Output for Probe {
        fn define(&mut self, charts: &[Chart]) -> io::Result<()> {
            self.note(&format!("define {}", charts.len()))
        }
        fn update(&mut self, chart: &Chart, samples: &[Sample]) -> io::Result<()> {
            let values: Vec<i64> = samples.iter().map(|s| s.value).collect();
            self.note(&format!("update {} {values:?}", chart.id))
        }
        fn obsolete(&mut self, charts: &[Chart]) -> io::Result<()> {
            self.note(&format!("obsolete {}", charts.len()))
        }
        fn status(&mut self, status: &Status) -> io::Result<()> {
            self.note(&format!("status {}", status.threads.len()))
        }
        fn flush(&mut self) -> io::Result<()> {
            self.note("flush")
        }
        fn disable(&mut self) -> io::Result<()> {
            self.note("disable")
        }
        fn exit(&mut self) -> io::Result<()> {
            self.note("exit")
        }
    }

    #[test]
    fn every_output_gets_every_call_and_the_first_error_wins() {
        let calls = Rc::new(RefCell::new(Vec::new()));
        let probe = |name, broken| -> Box<dyn Output> {
            Box::new(Probe {
                calls: calls.clone(),
                name,
                broken,
            })
        };
        let mut fanout = Fanout(vec![probe("a", true), probe("b", false)]);
        let chart = Chart::of(&registry::all()[0].charts[0], 1, |_| true);
        let id = chart.id.clone();
        let status = Status {
            update_every: 1,
            threads: Vec::new(),
            rejected_reloads: 0,
            statsd: None,
        };
        assert!(fanout.define(std::slice::from_ref(&chart)).is_err());
        assert!(fanout.update(&chart, &samples([1, 2])).is_err());
        assert!(fanout.obsolete(std::slice::from_ref(&chart)).is_err());
        assert!(fanout.status(&status).is_err());
        assert!(fanout.flush().is_err());
        assert!(fanout.exit().is_err());
        assert_eq!(
            *calls.borrow(),
            [
                "a:define 1".to_owned(),
                "b:define 1".to_owned(),
                format!("a:update {id} [1, 2]"),
                format!("b:update {id} [1, 2]"),
                "a:obsolete 1".to_owned(),
                "b:obsolete 1".to_owned(),
                "a:status 0".to_owned(),
                "b:status 0".to_owned(),
                "a:flush".to_owned(),
                "b:flush".to_owned(),
                "a:exit".to_owned(),
                "b:exit".to_owned(),
            ]
        );
    }
}
