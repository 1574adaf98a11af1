//! Draws the benchmarks' plots from the `RESULT` lines their runs print,
//! as the scripts collect them:
//!
//! - `plot kernel-memory RESULTS OUT.png` (scripts/bench-kernel-memory):
//!   kernel memory of all maps, ours and the original's, against possible
//!   CPUs;
//! - `plot apps-scale RESULTS OUT.png` (scripts/bench-apps): CPU per tick
//!   and memory against live processes, apps off and on.
//!
//! The text is drawn with Debian's DejaVu Sans (fonts-dejavu-core, which
//! scripts/deps installs), rasterised in Rust: no fontconfig.

use std::collections::BTreeMap;
use std::error::Error;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const MIB: f64 = 1024.0 * 1024.0;
const OURS: RGBColor = RGBColor(31, 119, 180);
const ORIGINAL: RGBColor = RGBColor(214, 39, 40);
const OURS_LIGHT: RGBColor = RGBColor(140, 190, 225);
const OURS_2: RGBColor = RGBColor(148, 103, 189);
const OURS_2_LIGHT: RGBColor = RGBColor(200, 180, 225);
const PSS: RGBColor = RGBColor(44, 160, 44);
const PSS_LIGHT: RGBColor = RGBColor(150, 215, 150);

type Failure = Box<dyn Error>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
/// One `RESULT` line's `key=value` fields.
type Fields = BTreeMap<String, String>;

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Triangle,
}

struct Series {
    label: String,
    color: RGBColor,
    marker: Marker,
    points: Vec<(f64, f64)>,
}

struct Panel {
    caption: String,
    x_desc: &'static str,
    y_desc: &'static str,
    series: Vec<Series>,
}

/// The `RESULT KIND key=value...` lines of `kind` in the file.
fn results(path: &str, kind: &str) -> Result<Vec<Fields>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let rows: Vec<Fields> = text
        .lines()
        .filter_map(|line| {
            line.strip_prefix("RESULT ")?
                .strip_prefix(kind)?
                .strip_prefix(' ')
        })
        .map(|fields| {
            fields
                .split_whitespace()
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    if rows.is_empty() {
        return Err(format!("{path}: no `RESULT {kind}` line").into());
    }
    Ok(rows)
}

fn text<'a>(fields: &'a Fields, key: &str) -> Result<&'a str, Failure> {
    fields
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("a RESULT line without {key}=").into())
}

fn number(fields: &Fields, key: &str) -> Result<f64, Failure> {
    let value = text(fields, key)?;
    value
        .parse()
        .map_err(|_| format!("{key}={value} is not a number").into())
}

/// Draws a panel's series (lines through their points) on `area`, with
/// axes, a grid and a legend.
fn draw<X, Y>(area: &Area, panel: &Panel, x: X, y: Y) -> Result<(), Failure>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(panel.x_desc)
        .y_desc(panel.y_desc)
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&label)
        .y_label_formatter(&label)
        .draw()?;
    for series in &panel.series {
        let style = series.color.stroke_width(2);
        let marker = series.marker;
        let legend = move |(x, y): (i32, i32)| {
            EmptyElement::at((x + 12, y))
                + PathElement::new(vec![(-12, 0), (12, 0)], style)
                + marker_at(marker, style)
        };
        chart
            .draw_series(LineSeries::new(series.points.iter().copied(), style))?
            .label(series.label.as_str())
            .legend(legend);
        chart.draw_series(
            series
                .points
                .iter()
                .map(|&p| EmptyElement::at(p) + marker_at(marker, style)),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// A tick's label: no trailing zeros, no float noise.
fn label(value: &f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A marker centred on its element's point.
fn marker_at<DB: DrawingBackend>(
    marker: Marker,
    style: ShapeStyle,
) -> DynElement<'static, DB, (i32, i32)> {
    match marker {
        Marker::Circle => Circle::new((0, 0), 4, style.filled()).into_dyn(),
        Marker::Triangle => TriangleMarker::new((0, 0), 7, style.filled()).into_dyn(),
    }
}

/// The range that holds every point of the panel on each axis.
fn bounds(panel: &Panel) -> ((f64, f64), (f64, f64)) {
    let points = panel.series.iter().flat_map(|s| s.points.iter());
    points.fold(
        ((f64::MAX, f64::MIN), (f64::MAX, f64::MIN)),
        |((x0, x1), (y0, y1)), &(x, y)| ((x0.min(x), x1.max(x)), (y0.min(y), y1.max(y))),
    )
}

fn kernel_memory(path: &str, out: &str) -> Result<(), Failure> {
    let rows = results(path, "kernel-memory")?;
    // One pair of series per kernel (and so per set of threads that run).
    let mut runs: BTreeMap<(String, String), Vec<&Fields>> = BTreeMap::new();
    for row in &rows {
        // Its version, without Debian's suffix.
        let release = text(row, "kernel")?;
        let key = (
            release
                .split(['-', '+'])
                .next()
                .unwrap_or(release)
                .to_string(),
            text(row, "threads")?.to_string(),
        );
        runs.entry(key).or_default().push(row);
    }
    // The kernel with the most runs (the VMs') draws lines with circles,
    // any other (this machine's) triangles.
    let most = runs.values().map(Vec::len).max().unwrap_or(0);
    let mut panel = Panel {
        caption: "Kernel memory of all maps, apps and cgroups on".into(),
        x_desc: "possible CPUs",
        y_desc: "kernel memory (memlock), MiB",
        series: Vec::new(),
    };
    for ((kernel, threads), mut runs) in runs {
        let marker = if runs.len() == most {
            Marker::Circle
        } else {
            Marker::Triangle
        };
        runs.sort_by_key(|row| number(row, "cpus").unwrap_or(0.0) as u64);
        for (who, key, color) in [
            ("ours", "ours_bytes", OURS),
            ("the original's", "original_bytes", ORIGINAL),
        ] {
            let points = runs
                .iter()
                .map(|row| Ok((number(row, "cpus")?, number(row, key)? / MIB)))
                .collect::<Result<_, Failure>>()?;
            panel.series.push(Series {
                label: format!("{who}, kernel {kernel}, {threads} threads"),
                color,
                marker,
                points,
            });
        }
    }
    let ((x0, x1), (y0, y1)) = bounds(&panel);
    let area = BitMapBackend::new(out, (960, 620)).into_drawing_area();
    area.fill(&WHITE)?;
    let cpus = (x0 / 1.4..x1 * 1.4).log_scale().base(2.0);
    draw(&area, &panel, cpus, (y0 / 2.0..y1 * 4.0).log_scale())?;
    area.present()?;
    Ok(())
}

fn apps_scale(path: &str, out: &str) -> Result<(), Failure> {
    let rows = results(path, "apps-scale")?;
    // The default table size only; the largest is one point, in the table.
    let table = rows
        .iter()
        .map(|row| number(row, "table"))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .fold(f64::MAX, f64::min);
    let cpus = text(&rows[0], "cpus")?;
    let series =
        |label: &str, color, apps: &str, value: &dyn Fn(&Fields) -> Result<f64, Failure>| {
            let mut points = Vec::new();
            for row in &rows {
                if number(row, "table")? == table && text(row, "apps")? == apps {
                    points.push((number(row, "processes")?, value(row)?));
                }
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Ok::<_, Failure>(Series {
                label: label.to_string(),
                color,
                marker: Marker::Circle,
                points,
            })
        };
    let field = |key: &'static str, scale: f64| move |row: &Fields| Ok(number(row, key)? / scale);
    let cost = Panel {
        caption: "CPU time per tick (update every 1 s)".into(),
        x_desc: "live processes",
        y_desc: "CPU ms per tick",
        series: vec![
            series(
                "workers (all), apps on",
                OURS_2,
                "on",
                &field("workers_ms", 1.0),
            )?,
            series(
                "workers (all), apps off",
                OURS_2_LIGHT,
                "off",
                &field("workers_ms", 1.0),
            )?,
            series(
                "supervisor, apps on",
                OURS,
                "on",
                &field("supervisor_ms", 1.0),
            )?,
            series(
                "supervisor, apps off",
                OURS_LIGHT,
                "off",
                &field("supervisor_ms", 1.0),
            )?,
        ],
    };
    let memory = Panel {
        caption: format!("Memory (pid table size = {table})"),
        x_desc: "live processes",
        y_desc: "kernel memory (memlock) or PSS, MiB",
        series: vec![
            series(
                &format!("per-process tables, the original's layout ({cpus} CPUs)"),
                ORIGINAL,
                "on",
                &field("original_tables_bytes", MIB),
            )?,
            series(
                "per-process tables, ours",
                OURS,
                "on",
                &field("tables_bytes", MIB),
            )?,
            series(
                "PSS of all collector processes, apps on",
                PSS,
                "on",
                &field("pss_bytes", MIB),
            )?,
            series(
                "PSS of all collector processes, apps off",
                PSS_LIGHT,
                "off",
                &field("pss_bytes", MIB),
            )?,
        ],
    };
    let area = BitMapBackend::new(out, (1400, 620)).into_drawing_area();
    area.fill(&WHITE)?;
    let (left, right) = area.split_horizontally(700);
    for (area, panel) in [(left, cost), (right, memory)] {
        let ((_, x1), (_, y1)) = bounds(&panel);
        draw(&area, &panel, 0.0..x1 * 1.08, 0.0..y1 * 1.45)?;
    }
    area.present()?;
    Ok(())
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [plot, results, out] = args.as_slice() else {
        return Err("usage: plot kernel-memory|apps-scale RESULTS OUT.png".into());
    };
    let font = std::fs::read(FONT).map_err(|e| {
        format!("{FONT}: {e} (Debian's fonts-dejavu-core; scripts/deps installs it)")
    })?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| format!("{FONT}: not a font"))?;
    match plot.as_str() {
        "kernel-memory" => kernel_memory(results, out),
        "apps-scale" => apps_scale(results, out),
        other => Err(format!("no plot {other}: kernel-memory or apps-scale").into()),
    }
}
