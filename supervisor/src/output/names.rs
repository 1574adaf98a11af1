//! Strings from outside, made safe for each output: one function per
//! output, for every string nobody checked that reaches one — apps group
//! names (`apps_groups.conf`), cgroup and service names, IRQ names
//! (`/proc/interrupts`), disk names (`/proc/partitions`), and the
//! connection and filesystem names of threads to come. Outputs pass every
//! id and name they write through here, so whatever a [`Chart`] holds, the
//! line is valid.
//!
//! - [`id`]: a word of Netdata's plugins.d protocol (a CHART id, a
//!   DIMENSION or SET id). Netdata splits words on blanks and `=`, starts a
//!   quoted word at `'` or `"`, lets `\` escape the next byte and ends a C
//!   string at NUL. libnetdata's `netdata_fix_chart_id()` (which the
//!   cgroups and apps plugins apply to what they make ids from) keeps only
//!   `[a-z0-9_.-]`, but the agent takes any word as an id and the original
//!   `ebpf.plugin` sends its own ids (`0us->1us`) and IRQ names
//!   (`24_ahci[0000:00:17.0]`) as they are; dashboards and alarms know
//!   them. So an id keeps every printable ASCII character but `=`, `'`,
//!   `"` and `\`; any other character (blanks, control bytes, NUL,
//!   non-ASCII) becomes `_`, one per character. Case is kept (the agent
//!   keeps it, and the original sends group names as written). Never
//!   empty (`_`), at most [`MAX_ID`] bytes.
//! - [`name`]: text Netdata shows (titles, families, dimension names),
//!   written between `'`: control bytes and NUL become blanks, `\`
//!   becomes `/` and `"` stays, as the agent itself stores names
//!   (`json_fix_string()`), and `'`, which would end the quoted word,
//!   becomes `"` — which the agent shows as `'` again. At most
//!   [`MAX_NAME`] bytes, so no line exceeds the agent's 15 360.
//! - [`word`]: one dot-separated word of a StatsD metric name: only
//!   `[A-Za-z0-9_]`, each run of other characters one `_`.
//!
//! Each is a pure function: the same input always gives the same output,
//! so a SET always names what its DIMENSION defined. Two different inputs
//! can clean to the same id; [`Ids`] (Netdata) and [`unique`] (StatsD)
//! tell them apart with a numeric suffix (below).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use super::Chart;

/// Longest id: the agent keeps `type.id` in a buffer of 200 bytes
/// (`RRD_ID_LENGTH_MAX`), and a longer chart id would not be found again
/// by BEGIN.
pub const MAX_ID: usize = 199;
/// Longest name: room for the six quoted fields of a CHART line within
/// the agent's 15 360 bytes.
pub const MAX_NAME: usize = 1000;
/// Longest type part of a chart id, so that a suffix never cuts the `.`.
const MAX_TYPE: usize = 100;

fn id_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '=' | '\'' | '"' | '\\')
}

/// A plugins.d id (see the module's text).
pub fn id(text: &str) -> Cow<'_, str> {
    if !text.is_empty() && text.len() <= MAX_ID && text.chars().all(id_char) {
        return Cow::Borrowed(text);
    }
    let mut out: String = text
        .chars()
        .map(|c| if id_char(c) { c } else { '_' })
        .collect();
    // ASCII only by now: any byte is a character boundary.
    out.truncate(MAX_ID);
    if out.is_empty() {
        out.push('_');
    }
    Cow::Owned(out)
}

/// A chart's `type.id`: both parts [`id`]s, split at the first `.`
/// (Netdata's split), neither empty, the type at most 100 bytes.
pub fn chart_id(text: &str) -> Cow<'_, str> {
    let (kind, rest) = text.split_once('.').unwrap_or(("", text));
    let (clean_kind, clean_rest) = (id(kind), id(rest));
    if text.len() <= MAX_ID
        && kind.len() <= MAX_TYPE
        && matches!(clean_kind, Cow::Borrowed(_))
        && matches!(clean_rest, Cow::Borrowed(_))
    {
        return Cow::Borrowed(text);
    }
    let mut out = clean_kind.into_owned();
    out.truncate(MAX_TYPE);
    out.push('.');
    out.push_str(&clean_rest);
    out.truncate(MAX_ID);
    Cow::Owned(out)
}

/// A plugins.d name, to be written between `'` (see the module's text).
pub fn name(text: &str) -> Cow<'_, str> {
    let fits = |c: char| !c.is_control() && c != '\'' && c != '\\';
    if text.len() <= MAX_NAME && text.chars().all(fits) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(MAX_NAME));
    for c in text.chars() {
        let c = match c {
            '\'' => '"',
            '\\' => '/',
            c if c.is_control() => ' ',
            c => c,
        };
        if out.len() + c.len_utf8() > MAX_NAME {
            break;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// A name as one protocol word: bare when Netdata reads it back as it
/// is (the original's dimension lines: `DIMENSION _do_fork process …`),
/// otherwise quoted; `''` when empty (Netdata then shows the id).
pub fn name_word(text: &str) -> Cow<'_, str> {
    let text = name(text);
    let bare = !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '=' | '"' | '\''));
    if bare {
        text
    } else {
        Cow::Owned(format!("'{text}'"))
    }
}

/// One word of a StatsD metric name: `[A-Za-z0-9_]`, every run of other
/// characters one `_` (`0us->1us` → `0us_1us`), so that no server
/// mistakes part of it for syntax (`:`, `|`, `@`, `#`, blanks) or a path
/// (`/`, `.`). Empty when `text` has no such character.
pub fn word(text: &str) -> String {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// `base`, or when `taken` says it is in use, `base_1`, `base_2`, … (the
/// first free), cut so that it stays within `max` bytes: how the agent
/// itself names charts whose names collide (`rrdset_fix_name()`).
/// `base` must be ASCII.
pub fn unique(base: &str, max: usize, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    (1u64..)
        .map(|n| {
            let suffix = format!("_{n}");
            let keep = base.len().min(max.saturating_sub(suffix.len()));
            format!("{}{suffix}", &base[..keep])
        })
        .find(|candidate| !taken(candidate))
        .expect("some suffix is free")
}

/// The dimension ids `raws` get in a chart where they appear in this order
/// (what [`Ids`] hands out): for `check`, which lists the apps groups whose
/// id is not their name.
pub fn ids_in_order<'a>(raws: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut registry = Registry::default();
    raws.into_iter()
        .map(|raw| registry.assign(raw, id).0)
        .collect()
}

/// Ids handed out at one level (the charts of a stream, the dimensions of
/// a chart): each input keeps the id it first got, and no two inputs
/// share one.
#[derive(Debug, Default)]
struct Registry {
    /// Every id in use, and the input it stands for.
    owners: HashMap<String, String>,
    /// The inputs whose id is not themselves.
    renamed: HashMap<String, String>,
}

impl Registry {
    /// `raw`'s id, handed out now if it has none: `clean(raw)`, with a
    /// suffix when another input has that already (then `true`).
    fn assign(&mut self, raw: &str, clean: fn(&str) -> Cow<'_, str>) -> (String, bool) {
        if let Some(sent) = self.renamed.get(raw) {
            return (sent.clone(), false);
        }
        if self.owners.get(raw).is_some_and(|owner| owner == raw) {
            return (raw.to_owned(), false);
        }
        let base = clean(raw);
        let sent = unique(&base, MAX_ID, |c| self.owners.contains_key(c));
        let collided = sent != base;
        self.owners.insert(sent.clone(), raw.to_owned());
        if sent != raw {
            self.renamed.insert(raw.to_owned(), sent.clone());
        }
        (sent, collided)
    }

    /// `raw`'s id; one never handed out is cleaned as it would be.
    fn get<'a>(&'a self, raw: &'a str, clean: fn(&str) -> Cow<'_, str>) -> Cow<'a, str> {
        match self.renamed.get(raw) {
            Some(sent) => Cow::Borrowed(sent),
            None => clean(raw),
        }
    }

    fn remove(&mut self, raw: &str) {
        let sent = self.renamed.remove(raw).unwrap_or_else(|| raw.to_owned());
        if self.owners.get(&sent).is_some_and(|owner| owner == raw) {
            self.owners.remove(&sent);
        }
    }
}

/// The ids a Netdata stream uses, so that a chart or dimension keeps its
/// id while its chart is defined and two different ones never share one.
/// Two inputs that clean to the same id get it in order of appearance: the
/// first keeps it, each later one gets `_1`, `_2`, … (as the agent names
/// colliding charts), and the caller is told, to say so in the log.
#[derive(Debug, Default)]
pub struct Ids {
    charts: Registry,
    /// Per chart (by its own id): its dimensions' ids.
    dims: HashMap<String, Registry>,
}

/// An input that got a suffix because another one had its id first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The chart's own id, for a dimension; `None` for a chart.
    pub chart: Option<String>,
    pub raw: String,
    pub sent: String,
}

impl fmt::Display for Collision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.chart {
            Some(chart) => write!(
                f,
                "dimension `{}` of chart {}",
                name(&self.raw),
                name(chart)
            )?,
            None => write!(f, "chart `{}`", name(&self.raw))?,
        }
        write!(
            f,
            " is sent as `{}`: another one had that id first",
            self.sent
        )
    }
}

impl Ids {
    /// Hands out the ids `chart` and its dimensions do not have yet.
    pub fn define(&mut self, chart: &Chart) -> Vec<Collision> {
        let mut collisions = Vec::new();
        let (sent, collided) = self.charts.assign(&chart.id, chart_id);
        if collided {
            collisions.push(Collision {
                chart: None,
                raw: chart.id.clone(),
                sent,
            });
        }
        let dims = self.dims.entry(chart.id.clone()).or_default();
        for dim in &chart.dims {
            let (sent, collided) = dims.assign(&dim.id, id);
            if collided {
                collisions.push(Collision {
                    chart: Some(chart.id.clone()),
                    raw: dim.id.clone(),
                    sent,
                });
            }
        }
        collisions
    }

    /// The id `chart` (its own id) is sent with.
    pub fn chart<'a>(&'a self, chart: &'a str) -> Cow<'a, str> {
        self.charts.get(chart, chart_id)
    }

    /// The id dimension `dim` of `chart` (their own ids) is sent with.
    pub fn dim<'a>(&'a self, chart: &str, dim: &'a str) -> Cow<'a, str> {
        match self.dims.get(chart) {
            Some(dims) => dims.get(dim, id),
            None => id(dim),
        }
    }

    /// Dimension `dim` of `chart` is obsolete: its id is free again.
    pub fn forget_dim(&mut self, chart: &str, dim: &str) {
        if let Some(dims) = self.dims.get_mut(chart) {
            dims.remove(dim);
        }
    }

    /// `chart` is obsolete: its ids are free again (a chart defined again
    /// later gets them anew; without this, every cgroup that ever existed
    /// would stay here).
    pub fn forget(&mut self, chart: &str) {
        self.charts.remove(chart);
        self.dims.remove(chart);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workers::{registry, DimValue};

    use crate::charts::Dim;

    #[test]
    fn ids_lose_only_what_the_protocol_cannot_carry() {
        for kept in [
            "_do_fork",
            "0us->1us",
            "4s->+Inf",
            "24_ahci[0000:00:17.0]",
            "a.b-c",
        ] {
            assert!(matches!(id(kept), Cow::Borrowed(_)), "{kept}");
        }
        for (raw, want) in [
            ("my group", "my_group"),
            ("it's", "it_s"),
            ("a = b", "a___b"),
            ("x=y", "x_y"),
            ("foo\0bar", "foo_bar"),
            ("\"q\"", "_q_"),
            ("back\\slash", "back_slash"),
            ("tab\tnl\ncr\r", "tab_nl_cr_"),
            ("café", "caf_"),
            ("\u{feff}web", "_web"),
            ("", "_"),
        ] {
            assert_eq!(id(raw), want, "{raw:?}");
        }
        assert_eq!(id(&"x".repeat(500)).len(), MAX_ID);
        assert_eq!(id(&"é".repeat(500)).len(), MAX_ID);
    }

    #[test]
    fn chart_ids_keep_a_type_and_an_id() {
        assert!(matches!(chart_id("apps.process_create"), Cow::Borrowed(_)));
        assert_eq!(chart_id("cgroup_a b.x"), "cgroup_a_b.x");
        assert_eq!(chart_id("noperiod"), "_.noperiod");
        assert_eq!(chart_id(".x"), "_.x");
        assert_eq!(chart_id("x."), "x._");
        assert_eq!(chart_id(""), "_._");
        let long = chart_id(&format!("{}.{}", "t".repeat(300), "i".repeat(300))).into_owned();
        assert_eq!(long.len(), MAX_ID);
        assert_eq!(long.find('.'), Some(MAX_TYPE));
    }

    #[test]
    fn names_never_end_their_quotes_or_their_line() {
        assert!(matches!(name("Start process"), Cow::Borrowed(_)));
        assert!(matches!(name("say \"hi\""), Cow::Borrowed(_)));
        assert_eq!(name("it's"), "it\"s");
        assert_eq!(name("a\\"), "a/");
        assert_eq!(name("a\nb\rc\0d\x1b[2J\u{85}"), "a b c d [2J ");
        let long = name(&"é".repeat(MAX_NAME)).into_owned();
        assert!(long.len() <= MAX_NAME && long.len() >= MAX_NAME - 1);
        assert_eq!(name_word("process"), "process");
        assert_eq!(name_word("0us->1us"), "0us->1us");
        assert_eq!(name_word(""), "''");
        assert_eq!(name_word("my group"), "'my group'");
        assert_eq!(name_word("a=b"), "'a=b'");
        assert_eq!(name_word("it's"), "'it\"s'");
    }

    #[test]
    fn statsd_words() {
        assert_eq!(word("0us->1us"), "0us_1us");
        assert_eq!(word("10.0.0.1:80|x"), "10_0_0_1_80_x");
        assert_eq!(word("->"), "");
        assert_eq!(word("my group"), "my_group");
    }

    #[test]
    fn unique_takes_the_first_free_suffix_within_the_limit() {
        assert_eq!(unique("a", 10, |_| false), "a");
        assert_eq!(unique("a", 10, |c| c == "a"), "a_1");
        assert_eq!(unique("a", 10, |c| c == "a" || c == "a_1"), "a_2");
        assert_eq!(unique("abcdef", 6, |c| c == "abcdef"), "abcd_1");
    }

    #[test]
    fn our_own_chart_and_dimension_ids_pass_unchanged() {
        for thread in registry::all() {
            for def in thread.charts {
                assert!(matches!(chart_id(def.id), Cow::Borrowed(_)), "{}", def.id);
                for dim in def.dims {
                    assert!(matches!(id(dim.id), Cow::Borrowed(_)), "{}", dim.id);
                    assert!(matches!(name(dim.name), Cow::Borrowed(_)), "{}", dim.name);
                }
            }
            for def in thread.per_process.map_or(&[][..], |p| p.charts) {
                let (cgroup, (dim_id, dim_name)) = &def.cgroup;
                for view in [&def.apps, cgroup, &def.services] {
                    let chart = format!("apps.{}", view.id);
                    assert!(matches!(chart_id(&chart), Cow::Borrowed(_)), "{chart}");
                    assert!(matches!(name(view.look.title), Cow::Borrowed(_)));
                }
                assert!(matches!(id(dim_id), Cow::Borrowed(_)), "{dim_id}");
                assert!(matches!(name(dim_name), Cow::Borrowed(_)), "{dim_name}");
            }
        }
    }

    fn chart(id: &str, dims: &[&str]) -> Chart {
        let mut chart = Chart::of(&registry::all()[0].charts[0], 1, |_| false);
        chart.id = id.to_owned();
        chart.dims = dims
            .iter()
            .map(|d| Dim {
                id: (*d).to_owned(),
                name: String::new(),
                value: DimValue::Total(0),
                key: 0,
                multiplier: 1,
                divisor: 1,
                hidden: false,
            })
            .collect();
        chart
    }

    #[test]
    fn ids_in_order_are_what_a_chart_gets() {
        assert_eq!(
            ids_in_order(["a_b", "a b", "ok", "a=b", "ok"]),
            ["a_b", "a_b_1", "ok", "a_b_2", "ok"]
        );
    }

    #[test]
    fn colliding_ids_get_suffixes_in_order_of_appearance_and_keep_them() {
        let mut ids = Ids::default();
        // `a_b` first, then `a b` and `a=b`, which clean to it.
        assert_eq!(ids.define(&chart("apps.x", &["a_b"])), []);
        let collisions = ids.define(&chart("apps.x", &["a b", "a_b", "a=b"]));
        let sent: Vec<(String, String)> = collisions.into_iter().map(|c| (c.raw, c.sent)).collect();
        assert_eq!(
            sent,
            [
                ("a b".to_owned(), "a_b_1".to_owned()),
                ("a=b".to_owned(), "a_b_2".to_owned())
            ]
        );
        // Known ones keep theirs, whatever the order.
        assert_eq!(ids.define(&chart("apps.x", &["a=b", "a b", "a_b"])), []);
        assert_eq!(ids.dim("apps.x", "a_b"), "a_b");
        assert_eq!(ids.dim("apps.x", "a b"), "a_b_1");
        assert_eq!(ids.dim("apps.x", "a=b"), "a_b_2");
        // Another chart has its own dimensions.
        ids.define(&chart("apps.y", &["a b"]));
        assert_eq!(ids.dim("apps.y", "a b"), "a_b");

        // Charts too; an obsolete chart frees its id.
        ids.define(&chart("cgroup_a_b.x", &[]));
        let collisions = ids.define(&chart("cgroup_a b.x", &[]));
        assert_eq!(collisions.len(), 1);
        assert_eq!(collisions[0].sent, "cgroup_a_b.x_1");
        assert_eq!(ids.chart("cgroup_a b.x"), "cgroup_a_b.x_1");
        ids.forget("cgroup_a_b.x");
        ids.forget("cgroup_a b.x");
        assert_eq!(ids.define(&chart("cgroup_a b.x", &[])), []);
        assert_eq!(ids.chart("cgroup_a b.x"), "cgroup_a_b.x");
    }
}
