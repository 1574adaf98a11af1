//! A strict reader of the plugins.d stream: it rejects every line Netdata
//! 1.37 would reject (shared/tools/netdata-host/README.md lists what the
//! agent does with each), plus what we promise never to send (DIMENSION
//! inside BEGIN/END, values Netdata's `strtoll(v, NULL, 0)` would misread),
//! and keeps what the charts received.

use std::collections::BTreeMap;

/// Netdata's parser limits.
const MAX_LINE: usize = 15360;
const MAX_WORDS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimInfo {
    pub name: String,
    pub algorithm: String,
    pub multiplier: i64,
    pub divisor: i64,
    /// Every value SET, in order.
    pub values: Vec<i64>,
    /// Its last DIMENSION line had the `obsolete` option: no more SETs.
    pub obsolete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartInfo {
    pub title: String,
    pub units: String,
    pub family: String,
    pub context: String,
    pub chart_type: String,
    pub priority: i64,
    pub update_every: i64,
    pub plugin: String,
    pub module: String,
    /// Dimension ids in definition order.
    pub dim_order: Vec<String>,
    pub dims: BTreeMap<String, DimInfo>,
    /// Completed BEGIN…END blocks.
    pub updates: usize,
    /// Marked obsolete and not defined again since.
    pub obsolete: bool,
}

impl ChartInfo {
    /// What the CHART line said: title, units, family, context, chart
    /// type, priority, update every, plugin, module.
    #[allow(clippy::type_complexity)]
    pub fn header(&self) -> (&str, &str, &str, &str, &str, i64, i64, &str, &str) {
        (
            &self.title,
            &self.units,
            &self.family,
            &self.context,
            &self.chart_type,
            self.priority,
            self.update_every,
            &self.plugin,
            &self.module,
        )
    }

    /// Every dimension in definition order: id, name, algorithm, multiplier.
    pub fn dimensions(&self) -> Vec<(&str, &str, &str, i64)> {
        self.dim_order
            .iter()
            .map(|id| {
                let dim = &self.dims[id];
                (
                    id.as_str(),
                    dim.name.as_str(),
                    dim.algorithm.as_str(),
                    dim.multiplier,
                )
            })
            .collect()
    }

    /// What Netdata stores of `dim` over the whole stream, summed (its
    /// rules: `../shared` notes, DESIGN.md "Netdata's rules"): a
    /// dimension's first value is never stored (a chart's first collection
    /// is its dimensions' first values; a dimension defined later has its
    /// own first); an incremental dimension stores the increase from one
    /// value to the next, nothing when a value goes back (a counter reset:
    /// the new value is the new base), and an absolute one its values. A
    /// chart redefined or obsolete keeps each dimension's state.
    pub fn total(&self, dim: &str) -> Option<i64> {
        let info = self.dims.get(dim)?;
        let stored = info.values.windows(2);
        Some(match info.algorithm.as_str() {
            "incremental" => stored.map(|pair| (pair[1] - pair[0]).max(0)).sum(),
            _ => stored.map(|pair| pair[1]).sum(),
        })
    }

    /// The last value sent for `dim`.
    pub fn last(&self, dim: &str) -> Option<i64> {
        self.dims.get(dim)?.values.last().copied()
    }
}

/// The stream so far.
#[derive(Debug, Default, Clone)]
pub struct Stream {
    pub charts: BTreeMap<String, ChartInfo>,
    /// Every protocol violation, with its line number and text.
    pub errors: Vec<String>,
    pub lines: usize,
    pub exited: bool,
    pub disabled: bool,
    /// The chart a DIMENSION attaches to.
    current: Option<String>,
    /// The chart of an open BEGIN.
    open: Option<String>,
    /// Functions registered (`FUNCTION [GLOBAL] name timeout help`), with
    /// their timeouts.
    pub functions: BTreeMap<String, u32>,
    /// Every `FUNCTION_RESULT_BEGIN … FUNCTION_RESULT_END`, in order.
    pub results: Vec<FunctionResult>,
    /// A result whose end has not come yet.
    result: Option<FunctionResult>,
}

/// A Function's answer as the plugin sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionResult {
    pub transaction: String,
    pub status: u16,
    pub content_type: String,
    pub expires: u64,
    /// Its lines, as Netdata keeps them (each with its newline).
    pub body: String,
}

/// Netdata stops a plugin whose Function result grows beyond this.
const MAX_RESULT: usize = 10 * 1024 * 1024;

/// Splits like Netdata: blanks and `=` separate words; '…' and "…" quote;
/// `\` takes the next character into the word whatever it is (and stays in
/// the word), so `'a\'` does not end where it seems to.
pub fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == '=') {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return words;
        };
        let mut word = String::new();
        if first == '\'' || first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                if c == first {
                    break;
                }
                word.push(c);
                if c == '\\' {
                    word.extend(chars.next());
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '=' {
                    break;
                }
                word.push(c);
                chars.next();
                if c == '\\' {
                    word.extend(chars.next());
                }
            }
        }
        words.push(word);
    }
}

/// An integer exactly as `strtoll(v, NULL, 0)` would read it: decimal, no
/// leading zeros (octal), no hex, nothing after the digits.
fn strict_integer(value: &str) -> Option<i64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && value != "-0";
    canonical.then(|| value.parse().ok()).flatten()
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn feed(&mut self, line: &str) {
        self.lines += 1;
        if let Err(why) = self.check(line) {
            self.errors
                .push(format!("line {}: {why}: {line:?}", self.lines));
        }
    }

    pub fn chart(&self, id: &str) -> Option<&ChartInfo> {
        self.charts.get(id)
    }

    /// What Netdata stores of `chart`'s `dim` (see [`ChartInfo::total`]).
    pub fn total(&self, chart: &str, dim: &str) -> Option<i64> {
        self.charts.get(chart)?.total(dim)
    }

    /// The last value sent for `chart`'s `dim`.
    pub fn last(&self, chart: &str, dim: &str) -> Option<i64> {
        self.charts.get(chart)?.last(dim)
    }

    fn check(&mut self, line: &str) -> Result<(), String> {
        // Netdata keeps every line of a result, whatever it holds, until
        // the one whose first word ends it.
        if let Some(result) = &mut self.result {
            if words(line).first().map(String::as_str) == Some("FUNCTION_RESULT_END") {
                self.results.extend(self.result.take());
                return Ok(());
            }
            result.body.push_str(line);
            result.body.push('\n');
            if result.body.len() > MAX_RESULT {
                return Err("a Function result beyond 10 MiB (Netdata stops the plugin)".into());
            }
            return Ok(());
        }
        if line.len() > MAX_LINE {
            return Err(format!("longer than {MAX_LINE} bytes"));
        }
        if line.contains('\0') {
            return Err("a NUL byte (Netdata's C strings end there)".into());
        }
        let words = words(line);
        if words.len() > MAX_WORDS {
            return Err(format!("more than {MAX_WORDS} words"));
        }
        let Some(keyword) = words.first() else {
            return Ok(());
        };
        if self.exited || self.disabled {
            return Err("a line after EXIT or DISABLE".into());
        }
        match keyword.as_str() {
            "CHART" => self.chart_line(&words),
            "DIMENSION" => self.dimension_line(&words),
            "BEGIN" => {
                if let Some(open) = &self.open {
                    return Err(format!("BEGIN inside the open block of {open}"));
                }
                let id = words.get(1).ok_or("BEGIN without a chart")?;
                match self.charts.get(id) {
                    None => {
                        return Err(format!(
                            "BEGIN of undefined chart {id} (Netdata disables the plugin)"
                        ))
                    }
                    Some(chart) if chart.obsolete => {
                        return Err(format!("BEGIN of obsolete chart {id}, not defined again"))
                    }
                    Some(_) => {}
                }
                if let Some(us) = words.get(2) {
                    strict_integer(us).ok_or("BEGIN microseconds not an integer")?;
                }
                self.open = Some(id.clone());
                self.current = Some(id.clone());
                Ok(())
            }
            "SET" => {
                let chart = self
                    .open
                    .clone()
                    .ok_or("SET outside BEGIN/END (Netdata disables the plugin)")?;
                let (Some(dim), Some(value)) = (words.get(1), words.get(2)) else {
                    return Err("SET without dimension and value".into());
                };
                let value = strict_integer(value)
                    .ok_or_else(|| format!("value `{value}` is not a plain decimal integer"))?;
                let info = self.charts.get_mut(&chart).expect("open chart exists");
                let dim = info.dims.get_mut(dim).ok_or_else(|| {
                    format!(
                        "SET of unknown dimension `{dim}` of {chart} (Netdata disables the plugin)"
                    )
                })?;
                if dim.obsolete {
                    return Err(format!("SET of obsolete dimension of {chart}"));
                }
                dim.values.push(value);
                Ok(())
            }
            "END" => {
                let chart = self.open.take().ok_or("END without BEGIN")?;
                self.charts
                    .get_mut(&chart)
                    .expect("open chart exists")
                    .updates += 1;
                Ok(())
            }
            "FUNCTION" => {
                self.no_open_block()?;
                let rest = match words.get(1).map(String::as_str) {
                    Some("GLOBAL") => &words[2..],
                    _ => &words[1..],
                };
                let [name, timeout, _help, ..] = rest else {
                    return Err("FUNCTION without name, timeout and help".into());
                };
                let timeout = timeout
                    .parse()
                    .map_err(|_| format!("FUNCTION timeout `{timeout}` is not a number"))?;
                self.functions.insert(name.clone(), timeout);
                Ok(())
            }
            "FUNCTION_RESULT_BEGIN" => {
                self.no_open_block()?;
                let [_, transaction, status, content_type, expires, ..] = &words[..] else {
                    return Err("FUNCTION_RESULT_BEGIN without transaction, status, content type and expiry".into());
                };
                self.result = Some(FunctionResult {
                    transaction: transaction.clone(),
                    status: status.parse().map_err(|_| format!("status `{status}`"))?,
                    content_type: content_type.clone(),
                    expires: expires.parse().map_err(|_| format!("expiry `{expires}`"))?,
                    body: String::new(),
                });
                Ok(())
            }
            "EXIT" => {
                self.no_open_block()?;
                self.exited = true;
                Ok(())
            }
            "DISABLE" => {
                self.no_open_block()?;
                self.disabled = true;
                Ok(())
            }
            other => Err(format!(
                "unknown keyword `{other}` (Netdata drops the plugin)"
            )),
        }
    }

    fn no_open_block(&self) -> Result<(), String> {
        match &self.open {
            Some(open) => Err(format!("inside the open block of {open}")),
            None => Ok(()),
        }
    }

    fn chart_line(&mut self, w: &[String]) -> Result<(), String> {
        self.no_open_block()?;
        let id = w.get(1).ok_or("CHART without id")?;
        let (chart_type, chart_id) = id.split_once('.').ok_or("chart id without `type.`")?;
        if chart_type.is_empty() || chart_id.is_empty() {
            return Err("empty chart type or id".into());
        }
        let field = |i: usize| w.get(i).cloned().unwrap_or_default();
        let kind = field(7);
        if !["line", "area", "stacked", ""].contains(&kind.as_str()) {
            return Err(format!("chart type `{kind}`"));
        }
        let priority = strict_integer(&field(8)).ok_or("priority is not an integer")?;
        let update_every = strict_integer(&field(9)).ok_or("update_every is not an integer")?;
        if update_every < 1 {
            return Err("update_every < 1".into());
        }
        let info = ChartInfo {
            title: field(3),
            units: field(4),
            family: field(5),
            context: field(6),
            chart_type: kind,
            priority,
            update_every,
            plugin: field(11),
            module: field(12),
            dim_order: Vec::new(),
            dims: BTreeMap::new(),
            updates: 0,
            obsolete: false,
        };
        let obsolete = field(10).split_whitespace().any(|o| o == "obsolete");
        match self.charts.get_mut(id) {
            // A redefinition keeps the dimensions and what they received.
            Some(existing) if !obsolete => {
                existing.title = info.title;
                existing.units = info.units;
                existing.update_every = info.update_every;
                existing.obsolete = false;
            }
            Some(existing) => existing.obsolete = true,
            None if obsolete => return Err(format!("obsolete line for undefined chart {id}")),
            None => {
                self.charts.insert(id.clone(), info);
            }
        }
        self.current = Some(id.clone());
        Ok(())
    }

    fn dimension_line(&mut self, w: &[String]) -> Result<(), String> {
        self.no_open_block()?;
        let chart = self
            .current
            .clone()
            .ok_or("DIMENSION before any CHART (Netdata disables the plugin)")?;
        let id = w
            .get(1)
            .filter(|s| !s.is_empty())
            .ok_or("DIMENSION without id")?;
        let name = w.get(2).filter(|s| !s.is_empty()).unwrap_or(id).clone();
        let algorithm = w.get(3).cloned().unwrap_or_else(|| "absolute".into());
        if ![
            "absolute",
            "incremental",
            "percentage-of-absolute-row",
            "percentage-of-incremental-row",
        ]
        .contains(&algorithm.as_str())
        {
            return Err(format!("algorithm `{algorithm}`"));
        }
        let number = |i: usize| match w.get(i) {
            None => Ok(1),
            Some(v) => strict_integer(v)
                .filter(|n| *n != 0)
                .ok_or(format!("`{v}` is not a non-zero integer")),
        };
        let (multiplier, divisor) = (number(4)?, number(5)?);
        let info = self.charts.get_mut(&chart).expect("current chart exists");
        if !info.dims.contains_key(id) {
            info.dim_order.push(id.clone());
        }
        let values = info
            .dims
            .get(id)
            .map(|d| d.values.clone())
            .unwrap_or_default();
        info.dims.insert(
            id.clone(),
            DimInfo {
                name,
                algorithm,
                multiplier,
                divisor,
                values,
                obsolete: w.get(6).is_some_and(|options| options.contains("obsolete")),
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(text: &str) -> Stream {
        let mut s = Stream::new();
        for line in text.lines() {
            s.feed(line);
        }
        s
    }

    const GOOD: &str = "\
CHART system.exit '' 'Exit process' 'calls/s' 'processes' '' 'line' 21003 1 '' 'ebpf.plugin' 'process'
DIMENSION do_exit process absolute 1 1
DIMENSION release_task task incremental 1 1
BEGIN system.exit
SET do_exit = 3
SET release_task = -4
END
BEGIN system.exit
SET do_exit = 5
SET release_task = 10
END
EXIT";

    #[test]
    fn a_good_stream_passes_and_keeps_values() {
        let s = stream(GOOD);
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        let chart = s.chart("system.exit").unwrap();
        assert_eq!(chart.title, "Exit process");
        assert_eq!(chart.priority, 21003);
        assert_eq!(chart.module, "process");
        assert_eq!(chart.dims["do_exit"].name, "process");
        assert_eq!(chart.updates, 2);
        // Netdata keeps neither do_exit's first value (3) nor
        // release_task's (its baseline, -4).
        assert_eq!(s.total("system.exit", "do_exit"), Some(5));
        assert_eq!(s.total("system.exit", "release_task"), Some(14));
        assert!(s.exited);
    }

    /// Functions as Netdata 1.37.1 parses them: a result's lines are kept
    /// whatever they hold (a long JSON line, a keyword) until its end.
    #[test]
    fn functions_and_their_results() {
        let long = format!("{{\"data\":\"{}\"}}", "x".repeat(MAX_LINE));
        let s = stream(&format!(
            "FUNCTION GLOBAL \"network-connections\" 10 \"Live connections\"
FUNCTION_RESULT_BEGIN \"t1\" 200 \"application/json\" 1700000000
{long}
BEGIN x
FUNCTION_RESULT_END
FUNCTION_RESULT_BEGIN \"t2\" 404 \"application/json\" 0
{{}}
FUNCTION_RESULT_END
"
        ));
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!(s.functions["network-connections"], 10);
        assert_eq!(s.results.len(), 2);
        assert_eq!(
            (s.results[0].transaction.as_str(), s.results[0].status),
            ("t1", 200)
        );
        assert_eq!(s.results[0].body, format!("{long}\nBEGIN x\n"));
        assert_eq!(s.results[1].status, 404);
        assert_eq!(s.results[1].expires, 0);
        let bad = stream("FUNCTION x\nFUNCTION_RESULT_BEGIN t1 200\n");
        assert_eq!(bad.errors.len(), 2, "{:?}", bad.errors);
    }

    /// Netdata's rules, as `verify`-ed against 1.37.1: the chart's first
    /// collection is lost, a dimension added later starts from its first
    /// value, a value going back is a reset, a redefined or obsolete chart
    /// keeps its dimensions' state.
    #[test]
    fn totals_are_what_netdata_stores() {
        let s = stream(
            "CHART t.c '' 'T' 'u' 'f' '' 'line' 1 1 '' 'p' 'm'
DIMENSION inc inc incremental 1 1
DIMENSION abs abs absolute 1 1
BEGIN t.c
SET inc = 100
SET abs = 7
END
BEGIN t.c
SET inc = 105
SET abs = 3
END
CHART t.c '' 'T' 'u' 'f' '' 'line' 1 1 '' 'p' 'm'
DIMENSION inc inc incremental 1 1
DIMENSION abs abs absolute 1 1
DIMENSION late late incremental 1 1
BEGIN t.c
SET inc = 106
SET abs = 4
SET late = 50
END
CHART t.c '' 'T' 'u' 'f' '' 'line' 1 1 'obsolete'
CHART t.c '' 'T' 'u' 'f' '' 'line' 1 1 '' 'p' 'm'
BEGIN t.c
SET inc = 2
SET abs = 1
SET late = 58
END
BEGIN t.c
SET inc = 9
SET abs = 0
SET late = 60
END",
        );
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        // 100 is the baseline; 106 -> 2 is a reset, 2 the new base.
        assert_eq!(s.total("t.c", "inc"), Some(5 + 1 + 7));
        // 7 is the first collection's.
        assert_eq!(s.total("t.c", "abs"), Some(3 + 4 + 1));
        // 50, its first value, is its baseline.
        assert_eq!(s.total("t.c", "late"), Some(10));
        assert_eq!(s.last("t.c", "late"), Some(60));
    }

    #[test]
    fn rejects_what_netdata_rejects() {
        let cases = [
            ("SET x = 1", "SET outside"),
            ("FOOBAR x", "unknown keyword"),
            ("# comment", "unknown keyword"),
            ("set x = 1", "unknown keyword"),
            ("DIMENSION a", "before any CHART"),
            ("BEGIN system.nope", "undefined chart"),
        ];
        for (line, why) in cases {
            let s = stream(line);
            assert!(
                s.errors.iter().any(|e| e.contains(why)),
                "{line}: {:?}",
                s.errors
            );
        }
        let after_chart = |lines: &str| {
            stream(&format!(
                "{}\n{lines}",
                GOOD.lines().take(3).collect::<Vec<_>>().join("\n")
            ))
        };
        assert!(!after_chart("BEGIN system.exit\nSET nope = 1\nEND")
            .errors
            .is_empty());
        for bad in ["010", "0x10", "3.7", "12abc", "abc", "", "-0", "1e3"] {
            let s = after_chart(&format!("BEGIN system.exit\nSET do_exit = {bad}\nEND"));
            assert!(!s.errors.is_empty(), "value {bad:?} accepted");
        }
        assert!(!after_chart("BEGIN system.exit\nDIMENSION x\nEND")
            .errors
            .is_empty());
        assert!(!after_chart("END").errors.is_empty());
        assert!(!after_chart("BEGIN system.exit\nBEGIN system.exit")
            .errors
            .is_empty());
        assert!(!after_chart("EXIT\nBEGIN system.exit").errors.is_empty());
        let obsolete = "CHART system.exit '' 'Exit process' 'calls/s' 'processes' '' 'line' 21003 1 'obsolete'";
        let s = after_chart(&format!("{obsolete}\nBEGIN system.exit\nEND"));
        assert!(
            s.errors.iter().any(|e| e.contains("obsolete chart")),
            "{:?}",
            s.errors
        );
        let s = after_chart(&format!(
            "{obsolete}\n{}\nBEGIN system.exit\nEND",
            GOOD.lines().next().unwrap()
        ));
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert!(!s.chart("system.exit").unwrap().obsolete);
        assert!(!stream(&"x ".repeat(8000)).errors.is_empty());
    }

    #[test]
    fn splits_words_like_netdata() {
        assert_eq!(words("SET a = 1"), ["SET", "a", "1"]);
        assert_eq!(words("SET a=1"), ["SET", "a", "1"]);
        assert_eq!(
            words("CHART a.b '' 'x y' \"z\""),
            ["CHART", "a.b", "", "x y", "z"]
        );
        assert_eq!(words("DIMENSION 'a\\' b' c"), ["DIMENSION", "a\\' b", "c"]);
        assert_eq!(words("SET a\\ b = 1"), ["SET", "a\\ b", "1"]);
        assert!(!stream("EXIT\0").errors.is_empty());
    }
}
