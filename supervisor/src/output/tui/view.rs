//! What the terminal UI shows, apart from any terminal: the charts and
//! threads as the supervisor last gave them ([`Model`]), what the person
//! chose to see ([`View`]), and the drawing of both ([`draw`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;
use workers::Algorithm;

use super::super::{Chart, Sample, Status, ThreadState};

/// Values kept per dimension for its sparkline.
const HISTORY: usize = 30;

struct Shown {
    chart: Chart,
    title: String,
    /// Per dimension, its last values as shown (rates for incremental ones).
    history: Vec<VecDeque<f64>>,
    /// Per incremental dimension, its total since the start.
    totals: Vec<Option<f64>>,
}

impl Shown {
    /// Nothing but zeros so far: folded into one line at the end.
    fn zero_only(&self) -> bool {
        self.history.iter().flatten().all(|&v| v == 0.0)
    }
}

/// One thread's line in the threads pane.
struct ThreadLine {
    thread: &'static str,
    state: ThreadState,
    variant: Option<&'static str>,
    restarts: u64,
    gap_ms: u64,
    /// Kernel nanoseconds per second in its programs, over the last status
    /// interval.
    cost_ns_per_s: Option<f64>,
}

#[derive(Default)]
pub struct Model {
    charts: BTreeMap<(u32, String), Shown>,
    threads: Vec<ThreadLine>,
    /// Each thread's kernel nanoseconds at the last status, for its rate.
    last_cost: BTreeMap<&'static str, u64>,
    update_every: u32,
    pub statuses: u64,
}

impl Model {
    pub fn define(&mut self, charts: &[Chart]) {
        for chart in charts {
            self.charts.insert(
                (chart.priority, chart.id.clone()),
                Shown {
                    title: strip_html(&chart.title),
                    history: vec![VecDeque::new(); chart.dims.len()],
                    totals: vec![None; chart.dims.len()],
                    chart: chart.clone(),
                },
            );
        }
    }

    pub fn update(&mut self, chart: &Chart, samples: &[Sample]) {
        let Some(shown) = self.charts.get_mut(&(chart.priority, chart.id.clone())) else {
            return;
        };
        let dims = chart.dims.iter().zip(samples);
        for ((dim, sample), (history, total)) in
            dims.zip(shown.history.iter_mut().zip(&mut shown.totals))
        {
            let scale = dim.multiplier as f64 / dim.divisor as f64;
            // Incremental dimensions as rates, with their totals; absolute
            // ones as they are.
            let value = match dim.algorithm() {
                Algorithm::Incremental => {
                    *total = Some(sample.value as f64 * scale);
                    sample.events as f64 * scale / chart.update_every.max(1) as f64
                }
                Algorithm::Absolute => sample.value as f64 * scale,
            };
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(value);
        }
    }

    pub fn obsolete(&mut self, charts: &[Chart]) {
        for chart in charts {
            self.charts.remove(&(chart.priority, chart.id.clone()));
        }
    }

    pub fn status(&mut self, status: &Status) {
        self.statuses += 1;
        self.update_every = status.update_every;
        let seconds = status.update_every.max(1) as f64;
        self.threads = status
            .threads
            .iter()
            .filter(|t| t.state != ThreadState::Off)
            .map(|t| {
                let key = t.thread.key();
                let cost_ns_per_s = t.kernel_cost.and_then(|cost| {
                    let last = self.last_cost.insert(key, cost.nanoseconds)?;
                    Some(cost.nanoseconds.saturating_sub(last) as f64 / seconds)
                });
                ThreadLine {
                    thread: key,
                    state: t.state,
                    variant: t.variant.map(|v| v.as_str()),
                    restarts: t.restarts,
                    gap_ms: t.gap_ms,
                    cost_ns_per_s,
                }
            })
            .collect();
    }

    /// The modules of the charts, which the thread filter cycles through.
    fn modules(&self) -> Vec<&'static str> {
        let modules: BTreeSet<&'static str> =
            self.charts.values().map(|s| s.chart.module).collect();
        modules.into_iter().collect()
    }
}

/// What the person chose to see.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct View {
    /// Only the charts of this module (a thread's).
    pub thread: Option<&'static str>,
    /// Only the charts whose id or title contains this, case-insensitively.
    pub search: String,
    /// Typing a search.
    pub typing: bool,
    /// Lines scrolled down in the charts pane.
    pub scroll: u16,
}

impl View {
    /// `t`/Tab: all threads, then each in turn, then all again.
    pub fn next_thread(&mut self, model: &Model) {
        let modules = model.modules();
        self.thread = match self.thread {
            None => modules.first().copied(),
            Some(current) => modules
                .iter()
                .position(|&m| m == current)
                .and_then(|i| modules.get(i + 1))
                .copied(),
        };
        self.scroll = 0;
    }

    fn shows(&self, shown: &Shown) -> bool {
        let search = self.search.to_lowercase();
        self.thread.is_none_or(|t| shown.chart.module == t)
            && (search.is_empty()
                || shown.chart.id.to_lowercase().contains(&search)
                || shown.title.to_lowercase().contains(&search))
    }
}

/// A title as text: tags dropped, the entities Netdata's titles use decoded.
pub fn strip_html(title: &str) -> String {
    let mut text = String::with_capacity(title.len());
    let mut in_tag = false;
    for c in title.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    for (entity, c) in [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&nbsp;", " "),
        ("&amp;", "&"),
    ] {
        text = text.replace(entity, c);
    }
    text
}

/// A value in at most a few characters: 1234567 → 1.23M.
fn compact(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 {
        "0".into()
    } else if magnitude >= 1e9 {
        format!("{:.2}G", value / 1e9)
    } else if magnitude >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn sparkline(history: &VecDeque<f64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    // By magnitude: some dimensions are drawn negative (writes).
    let max = history.iter().map(|v| v.abs()).fold(0.0, f64::max);
    history
        .iter()
        .map(|&v| {
            if max <= 0.0 || v == 0.0 {
                ' '
            } else {
                BARS[((v.abs() / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// The charts pane's lines: each shown chart that had data, then the
/// zero-only ones folded into one line.
fn chart_lines<'a>(model: &'a Model, view: &View) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    let mut folded = Vec::new();
    for shown in model.charts.values().filter(|s| view.shows(s)) {
        if shown.zero_only() {
            folded.push(shown.chart.id.as_str());
            continue;
        }
        let chart = &shown.chart;
        lines.push(Line::from(vec![
            Span::styled(
                chart.id.clone(),
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("  {}  ", shown.title)),
            Span::styled(format!("[{}]", chart.units), Style::new().fg(Color::Yellow)),
        ]));
        let dims = chart.dims.iter().zip(&shown.history).zip(&shown.totals);
        for ((dim, history), total) in dims {
            // As Netdata: hidden ones not drawn, an empty name is the id.
            if dim.hidden {
                continue;
            }
            let name = if dim.name.is_empty() {
                &dim.id
            } else {
                &dim.name
            };
            let last = history.back().copied().unwrap_or(0.0);
            lines.push(Line::from(vec![
                Span::raw(format!("  {name:<28}")),
                Span::styled(
                    format!("{:>12} ", compact(last)),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!("{:<10}", chart.units),
                    Style::new().fg(Color::DarkGray),
                ),
                Span::styled(
                    total.map_or(" ".repeat(17), |t| format!("{:>10} total ", compact(t))),
                    Style::new().fg(Color::DarkGray),
                ),
                Span::styled(sparkline(history), Style::new().fg(Color::Green)),
            ]));
        }
    }
    if !folded.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(
                "{} charts with only zeros so far (folded): {}",
                folded.len(),
                folded.join(" ")
            ),
            Style::new().fg(Color::DarkGray),
        )));
    }
    lines
}

fn thread_rows(model: &Model, view: &View) -> Vec<Row<'static>> {
    model
        .threads
        .iter()
        .map(|t| {
            let (state, color) = match t.state {
                ThreadState::Running => ("running", Color::Green),
                ThreadState::Starting => ("starting", Color::Yellow),
                ThreadState::Disabled => ("disabled", Color::Red),
                ThreadState::Off => ("off", Color::DarkGray),
            };
            let cost = t.cost_ns_per_s.map_or("-".to_string(), |ns| {
                format!("{} µs/s", compact(ns / 1000.0))
            });
            let selected = view.thread.is_some_and(|m| m == t.thread);
            let style = if selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            Row::new(vec![
                Cell::from(t.thread),
                Cell::from(state).style(Style::new().fg(color)),
                Cell::from(t.variant.unwrap_or("-")),
                Cell::from(t.restarts.to_string()),
                Cell::from(format!("{} ms", t.gap_ms)),
                Cell::from(cost),
            ])
            .style(style)
        })
        .collect()
}

/// The whole screen; `log`: the last line logged, if any.
pub fn draw(frame: &mut Frame, model: &Model, view: &View, log: Option<&str>) {
    let threads_height = (model.threads.len() as u16 + 3).min(frame.area().height / 3);
    let [header, threads, charts, log_line, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(threads_height),
        Constraint::Min(3),
        Constraint::Length(log.is_some() as u16),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    let shown = model.charts.values().filter(|s| view.shows(s)).count();
    let mut title = vec![
        Span::styled(
            " ebpf-collector ",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            " {shown} of {} charts, every {} s",
            model.charts.len(),
            model.update_every
        )),
    ];
    if let Some(thread) = view.thread {
        title.push(Span::styled(
            format!("  thread: {thread}"),
            Style::new().fg(Color::Yellow),
        ));
    }
    if !view.search.is_empty() || view.typing {
        title.push(Span::styled(
            format!("  search: {}", view.search),
            Style::new().fg(Color::Yellow),
        ));
    }
    frame.render_widget(Line::from(title), header);

    let table = Table::new(
        thread_rows(model, view),
        [
            Constraint::Length(14),
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Length(12),
            Constraint::Min(12),
        ],
    )
    .header(
        Row::new([
            "thread",
            "state",
            "variant",
            "restarts",
            "gap",
            "kernel cost",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::new().borders(Borders::ALL).title(" threads "));
    frame.render_widget(table, threads);

    let lines = chart_lines(model, view);
    let pane = Rect {
        height: charts.height.saturating_sub(2),
        ..charts
    };
    let scroll = view
        .scroll
        .min((lines.len() as u16).saturating_sub(pane.height));
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(Block::new().borders(Borders::ALL).title(" charts ")),
        charts,
    );

    if let Some(log) = log {
        frame.render_widget(
            Line::from(Span::styled(
                log.to_string(),
                Style::new().fg(Color::DarkGray),
            )),
            log_line,
        );
    }
    let keys = if view.typing {
        format!(" search: {}▏  Enter: keep  Esc: clear", view.search)
    } else {
        " q/Ctrl-C quit   / search charts   t/Tab filter by thread   ↑↓ PgUp PgDn scroll".into()
    };
    frame.render_widget(
        Line::from(Span::styled(
            keys,
            Style::new().fg(Color::Black).bg(Color::Gray),
        )),
        footer,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::samples;
    use workers::chart::{DimValue, Look};

    #[test]
    fn titles_lose_their_tags_and_entities() {
        assert_eq!(
            strip_html("Monitor calls for <code>fsync(2)</code> &amp; <b>fdatasync</b>."),
            "Monitor calls for fsync(2) & fdatasync."
        );
        assert_eq!(strip_html("a &lt;b&gt; c"), "a <b> c");
        assert_eq!(strip_html("plain"), "plain");
    }

    fn chart(id: &str) -> Chart {
        let look = Look {
            title: "Calls to <code>x</code>",
            units: "calls/s",
            family: "f",
            context: "c",
            kind: workers::chart::ChartKind::Line,
            priority: 1,
            module: "sync",
        };
        let dim = crate::charts::Dim {
            id: "a".into(),
            name: "a".into(),
            value: DimValue::Delta(0),
            key: 0,
            multiplier: 1,
            divisor: 1,
            hidden: false,
        };
        Chart::new(id.into(), &look, "f".into(), 1, vec![dim])
    }

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn charts_with_only_zeros_are_folded_until_they_have_data() {
        let mut model = Model::default();
        let (busy, idle) = (chart("m.busy"), chart("m.idle"));
        model.define(&[busy.clone(), idle.clone()]);
        model.update(&busy, &samples([0]));
        model.update(&idle, &samples([0]));
        model.update(&busy, &samples([3]));
        let lines = text(&chart_lines(&model, &View::default()));
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0], "m.busy  Calls to x  [calls/s]");
        assert!(lines[1].starts_with("  a ") && lines[1].contains(" 3 calls/s"));
        assert_eq!(lines[2], "1 charts with only zeros so far (folded): m.idle");
        model.update(&idle, &samples([1]));
        let lines = text(&chart_lines(&model, &View::default()));
        assert!(!lines.iter().any(|l| l.contains("folded")), "{lines:?}");
    }

    #[test]
    fn sparklines_scale_by_magnitude() {
        let history = VecDeque::from([0.0, 1.0, -2.0, 4.0]);
        assert_eq!(sparkline(&history), " ▃▅█");
        assert_eq!(sparkline(&VecDeque::from([0.0, 0.0])), "  ");
    }

    #[test]
    fn search_and_thread_filter_choose_the_charts() {
        let mut model = Model::default();
        let (busy, idle) = (chart("m.busy"), chart("m.idle"));
        model.define(&[busy, idle]);
        let view = View {
            search: "BUSY".into(),
            ..View::default()
        };
        let lines = text(&chart_lines(&model, &view));
        assert_eq!(lines, ["1 charts with only zeros so far (folded): m.busy"]);
        let mut view = View::default();
        view.next_thread(&model);
        assert_eq!(view.thread, Some("sync"));
        view.next_thread(&model);
        assert_eq!(view.thread, None);
    }
}
