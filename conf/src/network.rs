//! `network.conf` `[network connections]` and `[service name]`: which
//! connections the network viewer charts (spec §4.4, §3.8).
//!
//! `ports`, `ips` and `hostnames` are lists of blank-separated items, each
//! an include or, after a leading `!`, an exclude. They are parsed when the
//! configuration is loaded, so a malformed item is reported with file and
//! line like any bad value; it is skipped and the rest of its list applies,
//! as the original skips it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{OwnKey, OwnKind, OwnValue, Severity, ThreadSettings};

/// The section of the selectors.
pub const SECTION: &str = "network connections";

/// The original's `ips` when the files do not set it: private networks,
/// loopback excluded.
pub const DEFAULT_IPS: &str =
    "!127.0.0.1/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7 !::1/128";

/// `maximum dimensions` when unset, or negative (an error, as the original
/// logs one).
const DEFAULT_MAXIMUM_DIMENSIONS: u32 = 50;

/// Where Netdata listens unless told otherwise; `[service name]` naming it
/// keeps `NETDATA_LISTEN_PORT` from being named.
const NETDATA_PORT: u16 = 19999;

const fn connections(key: &'static str, kind: OwnKind) -> OwnKey {
    OwnKey {
        section: SECTION,
        key,
        kind,
        // The original reads these from network.conf (v1.37) or ebpf.d.conf (v1.38+).
        also_in_main: true,
    }
}

/// A `[global]` size of network.conf: the original's map sizes.
const fn table_size(key: &'static str, default: u32) -> OwnKey {
    OwnKey {
        section: "global",
        key,
        kind: OwnKind::Number {
            min: 1,
            max: u32::MAX,
            default,
        },
        also_in_main: false,
    }
}

/// network.conf's `[global]` sizes of the original's maps: read and
/// checked, so that the stock file loads cleanly (ours are sized as
/// README.md says).
pub const TABLE_SIZES: [OwnKey; 4] = [
    table_size("bandwidth table size", 16384),
    table_size("ipv4 connection table size", 16384),
    table_size("ipv6 connection table size", 16384),
    table_size("udp connection table size", 4096),
];

/// Total dimensions of a connection chart, both directions; 0 is allowed
/// (it still gives one socket per direction).
pub const MAXIMUM_DIMENSIONS: OwnKey = connections(
    "maximum dimensions",
    OwnKind::Number {
        min: 0,
        max: u32::MAX,
        default: DEFAULT_MAXIMUM_DIMENSIONS,
    },
);
/// Ours: seconds a connection name goes without a connection before its
/// dimensions are retired (obsolete in Netdata, their slot under `maximum
/// dimensions` free again, their counts forgotten); 0: never. The
/// original never retired one, so a host whose peers change filled its
/// slots with names long gone and charted every new one as "other".
pub const RETIRE_DIMENSIONS_AFTER: OwnKey = connections(
    "retire dimensions after",
    OwnKind::Number {
        min: 0,
        max: u32::MAX,
        default: DEFAULT_RETIRE_AFTER_SECONDS,
    },
);
const DEFAULT_RETIRE_AFTER_SECONDS: u32 = 300;
pub const RESOLVE_HOSTNAMES: OwnKey =
    connections("resolve hostnames", OwnKind::Bool { default: false });
pub const RESOLVE_SERVICE_NAMES: OwnKey =
    connections("resolve service names", OwnKind::Bool { default: false });
pub const PORTS: OwnKey = connections("ports", OwnKind::Ports);
pub const IPS: OwnKey = connections(
    "ips",
    OwnKind::Ips {
        default: DEFAULT_IPS,
    },
);
pub const HOSTNAMES: OwnKey = connections("hostnames", OwnKind::Hostnames);
/// `[service name]`: `port = name` lines.
pub const SERVICE_NAMES: OwnKey = OwnKey {
    section: "service name",
    key: "",
    kind: OwnKind::PortNames,
    also_in_main: true,
};

/// What is wrong with an item of a list; the item is skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadItem {
    #[error("nothing after `!`")]
    Empty,
    #[error("`!` on the second half of a range (it goes before the first)")]
    ExcludedSecondHalf,
    #[error("nothing after `{0}`")]
    MissingEnd(char),
    #[error("the range ends before it starts")]
    Reversed,
    #[error("a port is 1 to 65535")]
    PortOutOfRange,
    #[error("`{0}` is not a port number")]
    NotAPortNumber(String),
    #[error("not a port, a range of ports, `*` or a service name")]
    NotAPortItem,
    #[error("{} names no service `{name}` for tcp or udp", path.display())]
    UnknownService { name: String, path: PathBuf },
    #[error("service `{name}` cannot be looked up: {}: {reason}", path.display())]
    NoServices {
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error("`{0}` is not an IPv4 address")]
    NotIpv4(String),
    #[error("`{0}` is not an IPv6 address")]
    NotIpv6(String),
    #[error("IPv4 and IPv6 mixed in one item")]
    MixedFamilies,
    #[error("an IPv{version} prefix length is 0 to {max}")]
    PrefixLength { version: u8, max: u8 },
}

/// Something to tell about one item of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The item as written, `!` included.
    pub item: String,
    pub kind: FindingKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    /// Malformed: skipped.
    Bad(BadItem),
    /// A network written with host bits set, read as `network` (the
    /// original clears them too).
    HostBits { network: String },
    /// Inside the earlier item `by` of the same list: skipped, as it would
    /// change nothing.
    Contained { by: String },
}

impl Finding {
    fn bad(item: &str, why: BadItem) -> Finding {
        Finding {
            item: item.to_owned(),
            kind: FindingKind::Bad(why),
        }
    }

    fn contained(item: &str, by: &str) -> Finding {
        Finding {
            item: item.to_owned(),
            kind: FindingKind::Contained { by: by.to_owned() },
        }
    }

    /// A malformed item is an error; one that changes nothing a warning;
    /// host bits nothing worth saying (`None`): the original's own file
    /// writes `!127.0.0.1/8`, and every reader takes it as 127.0.0.0/8.
    pub fn severity(&self) -> Option<Severity> {
        match self.kind {
            FindingKind::Bad(_) => Some(Severity::Error),
            FindingKind::Contained { .. } => Some(Severity::Warning),
            FindingKind::HostBits { .. } => None,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: ", self.item)?;
        match &self.kind {
            FindingKind::Bad(why) => write!(f, "{why}; item ignored"),
            FindingKind::HostBits { network } => write!(f, "host bits set; read as {network}"),
            FindingKind::Contained { by } => write!(f, "inside `{by}` given before; item ignored"),
        }
    }
}

/// Each item of a list: as written, without its leading `!`, and whether
/// it had one.
fn items(text: &str) -> impl Iterator<Item = (&str, &str, bool)> {
    text.split_ascii_whitespace()
        .map(|word| match word.strip_prefix('!') {
            Some(rest) => (word, rest, true),
            None => (word, word, false),
        })
}

/// The original's rule for every list: with no item at all everything
/// passes; otherwise a matching exclude rejects, and only a matching
/// include accepts. So a list of excludes alone (`!22`) lets nothing
/// through, as the original's lists do (spec §4.4: "else allowed only if
/// it matches an include entry").
fn decide<T>(include: &[T], exclude: &[T], matches: impl Fn(&T) -> bool) -> bool {
    if include.is_empty() && exclude.is_empty() {
        return true;
    }
    !exclude.iter().any(&matches) && include.iter().any(matches)
}

/// `/etc/services`: the ports of service names, as `getservbyname` finds
/// them, read by us so that the file can be named in tests and messages.
#[derive(Debug)]
pub struct Services {
    path: PathBuf,
    /// (name or alias, protocol) → port; the first line wins, as in libc.
    ports: HashMap<(String, String), u16>,
    /// (port, protocol) → the first line's name (`getservbyport`).
    names: HashMap<(u16, String), String>,
    /// Why the file could not be read.
    unreadable: Option<String>,
}

impl Services {
    /// Where libc finds services.
    pub const PATH: &'static str = "/etc/services";

    /// Reads `path`; a file that cannot be read is reported only when a
    /// name is looked up in it.
    pub fn read(path: &Path) -> Services {
        match crate::dirs::read_limited(path) {
            Ok(bytes) => Services::parse(path, &String::from_utf8_lossy(&bytes)),
            Err(reason) => Services {
                path: path.to_path_buf(),
                ports: HashMap::new(),
                names: HashMap::new(),
                unreadable: Some(reason),
            },
        }
    }

    /// `text` in the format of `/etc/services`, `path` naming it in messages:
    /// `name port/protocol aliases…`, `#` starting a comment. Lines that do
    /// not fit are skipped, as libc skips them.
    pub fn parse(path: &Path, text: &str) -> Services {
        let (mut ports, mut names) = (HashMap::new(), HashMap::new());
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_ascii_whitespace();
            let (Some(name), Some(port)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((Ok(port), protocol)) = port
                .split_once('/')
                .map(|(port, protocol)| (port.parse::<u16>(), protocol))
            else {
                continue;
            };
            names
                .entry((port, protocol.to_owned()))
                .or_insert_with(|| name.to_owned());
            for name in std::iter::once(name).chain(words) {
                ports
                    .entry((name.to_owned(), protocol.to_owned()))
                    .or_insert(port);
            }
        }
        Services {
            path: path.to_path_buf(),
            ports,
            names,
            unreadable: None,
        }
    }

    /// The name of TCP port `port`, as `getservbyport(port, "tcp")` gives it.
    pub fn tcp_name(&self, port: u16) -> Option<&str> {
        self.names
            .get(&(port, "tcp".to_owned()))
            .map(String::as_str)
    }

    /// The port of service `name`: for tcp, else for udp, as the original asks.
    fn port(&self, name: &str) -> Result<u16, BadItem> {
        if let Some(reason) = &self.unreadable {
            return Err(BadItem::NoServices {
                name: name.to_owned(),
                path: self.path.clone(),
                reason: reason.clone(),
            });
        }
        ["tcp", "udp"]
            .into_iter()
            .find_map(|protocol| {
                self.ports
                    .get(&(name.to_owned(), protocol.to_owned()))
                    .copied()
            })
            .ok_or_else(|| BadItem::UnknownService {
                name: name.to_owned(),
                path: self.path.clone(),
            })
    }
}

/// One item of `ports`: ports `first..=last`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// As written, without `!`.
    pub text: String,
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    fn contains(&self, other: &PortRange) -> bool {
        self.first <= other.first && other.last <= self.last
    }
}

/// `ports`: the destination ports of the connections charted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    pub include: Vec<PortRange>,
    pub exclude: Vec<PortRange>,
}

impl Ports {
    /// Items `N`, `N-M` or `N:M` (1 to 65535, N ≤ M), `*` (1-65535, and
    /// the list so far is dropped), or a service name looked up in
    /// `services`. An item inside one given before in its list is skipped;
    /// one covering earlier ones replaces them.
    pub fn parse(text: &str, services: &Services) -> (Ports, Vec<Finding>) {
        let mut ports = Ports::default();
        let mut found = Vec::new();
        for (item, body, exclude) in items(text) {
            let list = if exclude {
                &mut ports.exclude
            } else {
                &mut ports.include
            };
            let range = match port_item(body, services) {
                Ok(range) => range,
                Err(why) => {
                    found.push(Finding::bad(item, why));
                    continue;
                }
            };
            if body == "*" {
                list.clear();
            }
            if let Some(by) = list.iter().find(|r| r.contains(&range)) {
                found.push(Finding::contained(item, &by.text));
                continue;
            }
            list.retain(|r| !range.contains(r));
            list.push(range);
        }
        (ports, found)
    }

    pub fn allows(&self, port: u16) -> bool {
        decide(&self.include, &self.exclude, |r| {
            (r.first..=r.last).contains(&port)
        })
    }
}

fn port_item(body: &str, services: &Services) -> Result<PortRange, BadItem> {
    let range = |first, last| PortRange {
        text: body.to_owned(),
        first,
        last,
    };
    match body.chars().next() {
        None => Err(BadItem::Empty),
        Some('*') if body == "*" => Ok(range(1, u16::MAX)),
        Some(c) if c.is_ascii_alphabetic() => {
            let port = services.port(body)?;
            Ok(range(port, port))
        }
        Some(c) if c.is_ascii_digit() => {
            let Some((start, separator, end)) = split_range(body, &['-', ':']) else {
                let port = port_number(body)?;
                return Ok(range(port, port));
            };
            if end.starts_with('!') {
                return Err(BadItem::ExcludedSecondHalf);
            }
            if end.is_empty() {
                return Err(BadItem::MissingEnd(separator));
            }
            let (first, last) = (port_number(start)?, port_number(end)?);
            if first > last {
                return Err(BadItem::Reversed);
            }
            Ok(range(first, last))
        }
        Some(_) => Err(BadItem::NotAPortItem),
    }
}

/// `text` cut at its first separator: what is before, the separator, what is after.
fn split_range<'a>(text: &'a str, separators: &[char]) -> Option<(&'a str, char, &'a str)> {
    let at = text.find(separators)?;
    let separator = text[at..].chars().next()?;
    Some((&text[..at], separator, &text[at + separator.len_utf8()..]))
}

fn port_number(text: &str) -> Result<u16, BadItem> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadItem::NotAPortNumber(text.to_owned()));
    }
    // Only digits: parsing fails only beyond u16, which is out of range too.
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(BadItem::PortOutOfRange),
    }
}

/// One item of `ips`: the addresses `first..=last`, both of one family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRange {
    /// As written, without `!`.
    pub text: String,
    pub first: IpAddr,
    pub last: IpAddr,
}

impl IpRange {
    /// `IpAddr` orders every IPv4 address before every IPv6 one, so a
    /// range never holds an address of the other family.
    fn has(&self, ip: IpAddr) -> bool {
        self.first <= ip && ip <= self.last
    }

    fn contains(&self, other: &IpRange) -> bool {
        self.has(other.first) && self.has(other.last)
    }
}

/// `ips`: the destination addresses of the connections charted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ips {
    pub include: Vec<IpRange>,
    pub exclude: Vec<IpRange>,
}

impl Ips {
    /// Items: an IPv4 or IPv6 address (IPv6 when the item holds a `:`),
    /// `A-B`, `A/n` (host bits cleared), or `*` (every
    /// address of both families, and the list so far is dropped). An item
    /// inside one given before in its list is skipped.
    pub fn parse(text: &str) -> (Ips, Vec<Finding>) {
        let mut ips = Ips::default();
        let mut found = Vec::new();
        for (item, body, exclude) in items(text) {
            let list = if exclude {
                &mut ips.exclude
            } else {
                &mut ips.include
            };
            if body == "*" {
                list.clear();
                list.extend([
                    everything(body, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST),
                    everything(body, Ipv6Addr::UNSPECIFIED, Ipv6Addr::from(u128::MAX)),
                ]);
                continue;
            }
            let range = match ip_item(body) {
                Ok((range, None)) => range,
                Ok((range, Some(network))) => {
                    found.push(Finding {
                        item: item.to_owned(),
                        kind: FindingKind::HostBits { network },
                    });
                    range
                }
                Err(why) => {
                    found.push(Finding::bad(item, why));
                    continue;
                }
            };
            match list.iter().find(|r| r.contains(&range)) {
                Some(by) => found.push(Finding::contained(item, &by.text)),
                None => list.push(range),
            }
        }
        (ips, found)
    }

    /// An IPv4 peer of a dual-stack IPv6 socket shows as a v4-mapped
    /// address (`::ffff:10.1.2.3`); it is judged as the IPv4 address it
    /// is, which is what the lists name.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        decide(&self.include, &self.exclude, |r| r.has(ip))
    }
}

fn everything(text: &str, first: impl Into<IpAddr>, last: impl Into<IpAddr>) -> IpRange {
    IpRange {
        text: text.to_owned(),
        first: first.into(),
        last: last.into(),
    }
}

/// The range of one item, and its network when the item had host bits set.
fn ip_item(body: &str) -> Result<(IpRange, Option<String>), BadItem> {
    if body.is_empty() {
        return Err(BadItem::Empty);
    }
    let v6 = body.contains(':');
    let range = |first, last| IpRange {
        text: body.to_owned(),
        first,
        last,
    };
    let Some((start, separator, end)) = split_range(body, &['/', '-']) else {
        let ip = address(body, v6)?;
        return Ok((range(ip, ip), None));
    };
    if end.starts_with('!') {
        return Err(BadItem::ExcludedSecondHalf);
    }
    if end.is_empty() {
        return Err(BadItem::MissingEnd(separator));
    }
    let first = address(start, v6)?;
    if separator == '-' {
        let last = address(end, v6)?;
        if first > last {
            return Err(BadItem::Reversed);
        }
        return Ok((range(first, last), None));
    }
    let (version, max) = if v6 { (6, 128) } else { (4, 32) };
    let prefix = end
        .parse::<u8>()
        .ok()
        .filter(|n| *n <= max && end.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(BadItem::PrefixLength { version, max })?;
    let (network, last) = match first {
        IpAddr::V4(ip) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            let bits = u32::from(ip);
            (
                IpAddr::from(Ipv4Addr::from(bits & mask)),
                IpAddr::from(Ipv4Addr::from(bits | !mask)),
            )
        }
        IpAddr::V6(ip) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            let bits = u128::from(ip);
            (
                IpAddr::from(Ipv6Addr::from(bits & mask)),
                IpAddr::from(Ipv6Addr::from(bits | !mask)),
            )
        }
    };
    let host_bits = (network != first).then(|| format!("{network}/{prefix}"));
    Ok((range(network, last), host_bits))
}

/// `text` as an address of the item's family.
fn address(text: &str, v6: bool) -> Result<IpAddr, BadItem> {
    let parsed = text.parse::<IpAddr>();
    match parsed {
        Ok(ip) if ip.is_ipv6() == v6 => Ok(ip),
        Ok(_) => Err(BadItem::MixedFamilies),
        Err(_) if v6 => Err(BadItem::NotIpv6(text.to_owned())),
        Err(_) => Err(BadItem::NotIpv4(text.to_owned())),
    }
}

/// `hostnames`: Netdata simple patterns on the names connections resolve to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hostnames {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl Hostnames {
    /// Each item is a pattern where `*` stands for any run of characters
    /// (none included), compared case-sensitively as Netdata's simple
    /// patterns are. The original keeps includes and excludes in two lists
    /// and judges them as `ports` and `ips` (spec §4.4: "Hostname: same
    /// logic"), not in order as a simple pattern list would: an exclude
    /// wins wherever it is written.
    pub fn parse(text: &str) -> (Hostnames, Vec<Finding>) {
        let mut names = Hostnames::default();
        let mut found = Vec::new();
        for (item, body, exclude) in items(text) {
            if body.is_empty() {
                found.push(Finding::bad(item, BadItem::Empty));
            } else if exclude {
                names.exclude.push(body.to_owned());
            } else {
                names.include.push(body.to_owned());
            }
        }
        (names, found)
    }

    pub fn allows(&self, name: &str) -> bool {
        decide(&self.include, &self.exclude, |pattern| {
            wildcard(pattern.as_bytes(), name.as_bytes())
        })
    }
}

/// Whether `text` matches `pattern`, `*` matching any run of bytes.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    // Greedy with one backtrack point, the last `*`: linear enough for
    // names, and never recursive.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// `NETDATA_LISTEN_PORT` as the original takes it: a port 1 to 65535, or nothing.
pub fn listen_port(value: &str) -> Option<u16> {
    value.trim().parse::<u16>().ok().filter(|&port| port > 0)
}

/// `retire dimensions after` of a thread's settings holding the keys
/// above; `None`: never.
pub fn retire_after(settings: &ThreadSettings) -> Option<Duration> {
    let seconds = match settings.own(&RETIRE_DIMENSIONS_AFTER) {
        OwnValue::Number(seconds) => seconds,
        _ => DEFAULT_RETIRE_AFTER_SECONDS,
    };
    (seconds > 0).then(|| Duration::from_secs(seconds.into()))
}

/// What `[network connections]` and `[service name]` decide, for the
/// socket thread, from a thread's settings holding the keys above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSelectors {
    /// Sockets charted per direction, the "other" slot included:
    /// `maximum dimensions` / 2, at least 1.
    pub per_direction: u32,
    /// `retire dimensions after`; `None`: never.
    pub retire_after: Option<Duration>,
    pub resolve_hostnames: bool,
    pub resolve_service_names: bool,
    pub ports: Ports,
    pub ips: Ips,
    /// Empty, so every name passes, unless `resolve hostnames`: the
    /// original reads the list only then.
    pub hostnames: Hostnames,
    /// `[service name]`, ports to names.
    pub service_names: BTreeMap<u16, String>,
}

impl NetworkSelectors {
    /// `listen_port` is where Netdata listens ([`listen_port`] of
    /// `NETDATA_LISTEN_PORT`): when `[service name]` does not name 19999,
    /// that port is named `Netdata`, unless a line names it already.
    pub fn new(settings: &ThreadSettings, listen_port: Option<u16>) -> NetworkSelectors {
        // A key declared under the same name with another kind would be a
        // thread's mistake; it then counts as unset.
        let maximum = match settings.own(&MAXIMUM_DIMENSIONS) {
            OwnValue::Number(n) => n,
            _ => DEFAULT_MAXIMUM_DIMENSIONS,
        };
        let flag = |key: &OwnKey| settings.own(key) == OwnValue::Bool(true);
        let resolve_hostnames = flag(&RESOLVE_HOSTNAMES);
        let ports = match settings.own(&PORTS) {
            OwnValue::Ports(ports) => ports,
            _ => Ports::default(),
        };
        let ips = match settings.own(&IPS) {
            OwnValue::Ips(ips) => ips,
            _ => Ips::parse(DEFAULT_IPS).0,
        };
        let hostnames = match settings.own(&HOSTNAMES) {
            OwnValue::Hostnames(names) if resolve_hostnames => names,
            _ => Hostnames::default(),
        };
        let mut service_names = match settings.own(&SERVICE_NAMES) {
            OwnValue::PortNames(names) => names,
            _ => BTreeMap::new(),
        };
        if let Some(port) = listen_port.filter(|_| !service_names.contains_key(&NETDATA_PORT)) {
            service_names
                .entry(port)
                .or_insert_with(|| "Netdata".to_owned());
        }
        NetworkSelectors {
            per_direction: (maximum / 2).max(1),
            retire_after: retire_after(settings),
            resolve_hostnames,
            resolve_service_names: flag(&RESOLVE_SERVICE_NAMES),
            ports,
            ips,
            hostnames,
            service_names,
        }
    }

    /// Whether a connection is charted: its destination port and address
    /// pass, and so does `hostname`, the name its address resolved to, if
    /// it was resolved.
    pub fn allows(&self, port: u16, ip: IpAddr, hostname: Option<&str>) -> bool {
        self.ports.allows(port)
            && self.ips.allows(ip)
            && hostname.is_none_or(|name| self.hostnames.allows(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::ThreadName;

    fn services() -> Services {
        Services::parse(
            Path::new("/test/services"),
            "# name port/protocol aliases\n\
             ssh\t\t22/tcp\n\
             domain\t\t53/udp\n\
             domain\t\t53/tcp\n\
             http\t\t80/tcp\t\twww # WorldWideWeb HTTP\n\
             syslog\t\t514/udp\n\
             myapp\t\t7000/udp\n\
             myapp\t\t7001/tcp\n\
             myapp\t\t7002/tcp\n\
             broken line\n\
             bad\t\t99999/tcp\n",
        )
    }

    fn ports(text: &str) -> Ports {
        let (ports, found) = Ports::parse(text, &services());
        assert!(found.is_empty(), "{text}: {found:?}");
        ports
    }

    fn ranges(list: &[PortRange]) -> Vec<(&str, u16, u16)> {
        list.iter()
            .map(|r| (r.text.as_str(), r.first, r.last))
            .collect()
    }

    fn allowed_ports(ports: &Ports, candidates: &[u16]) -> Vec<u16> {
        candidates
            .iter()
            .copied()
            .filter(|&p| ports.allows(p))
            .collect()
    }

    fn shown(found: &[Finding]) -> Vec<String> {
        found.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn port_forms() {
        let p = ports("22 8000-8080 9000:9100 65535");
        assert_eq!(
            ranges(&p.include),
            [
                ("22", 22, 22),
                ("8000-8080", 8000, 8080),
                ("9000:9100", 9000, 9100),
                ("65535", 65535, 65535)
            ]
        );
        assert!(p.exclude.is_empty());
        assert_eq!(
            allowed_ports(
                &p,
                &[1, 21, 22, 23, 7999, 8000, 8080, 8081, 9000, 9100, 9101, 65535]
            ),
            [22, 8000, 8080, 9000, 9100, 65535]
        );
        let p = ports("1-1");
        assert_eq!(ranges(&p.include), [("1-1", 1, 1)]);
    }

    #[test]
    fn a_star_is_every_port_and_drops_its_list_so_far() {
        let p = ports("22 !25 80 *");
        assert_eq!(ranges(&p.include), [("*", 1, 65535)]);
        assert_eq!(ranges(&p.exclude), [("25", 25, 25)]);
        assert_eq!(
            allowed_ports(&p, &[1, 24, 25, 26, 65535]),
            [1, 24, 26, 65535]
        );
        let p = ports("22 !*");
        assert_eq!(ranges(&p.exclude), [("*", 1, 65535)]);
        assert_eq!(allowed_ports(&p, &[1, 22, 65535]), [] as [u16; 0]);
    }

    #[test]
    fn service_names_are_looked_up_for_tcp_then_udp() {
        let p = ports("ssh www syslog myapp !domain");
        assert_eq!(
            ranges(&p.include),
            [
                ("ssh", 22, 22),
                ("www", 80, 80),
                ("syslog", 514, 514),
                ("myapp", 7001, 7001)
            ]
        );
        assert_eq!(ranges(&p.exclude), [("domain", 53, 53)]);
    }

    /// The example of the original's documentation: ports 1 to 1024 but
    /// 145 and 53.
    #[test]
    fn readme_example() {
        let p = ports("1-1024 !145 !domain");
        assert_eq!(
            allowed_ports(&p, &[1, 52, 53, 54, 144, 145, 146, 1024, 1025]),
            [1, 52, 54, 144, 146, 1024]
        );
    }

    #[test]
    fn port_truth_table() {
        let all = [1, 22, 80, 443, 65535];
        // Nothing given: everything passes.
        assert_eq!(allowed_ports(&ports(""), &all), all);
        assert_eq!(allowed_ports(&ports("  "), &all), all);
        // Includes only.
        assert_eq!(allowed_ports(&ports("22 443"), &all), [22, 443]);
        // Excludes only: nothing is included, so nothing passes.
        assert_eq!(allowed_ports(&ports("!22"), &all), [] as [u16; 0]);
        // An exclude wins over an include, in either order.
        assert_eq!(allowed_ports(&ports("1-1000 !80"), &all), [1, 22, 443]);
        assert_eq!(allowed_ports(&ports("!80 1-1000"), &all), [1, 22, 443]);
        assert_eq!(allowed_ports(&ports("80 !80"), &all), [] as [u16; 0]);
    }

    #[test]
    fn items_inside_earlier_ones_are_skipped_and_covering_ones_replace() {
        let (p, found) = Ports::parse("1-1024 80 1024 ssh !1 !1", &services());
        assert_eq!(ranges(&p.include), [("1-1024", 1, 1024)]);
        assert_eq!(ranges(&p.exclude), [("1", 1, 1)]);
        assert_eq!(
            shown(&found),
            [
                "`80`: inside `1-1024` given before; item ignored",
                "`1024`: inside `1-1024` given before; item ignored",
                "`ssh`: inside `1-1024` given before; item ignored",
                "`!1`: inside `1` given before; item ignored",
            ]
        );
        assert!(found
            .iter()
            .all(|f| f.severity() == Some(Severity::Warning)));
        // A covering item takes the place of every item it covers.
        let p = ports("80 2000 443 1-1024 1500-2500");
        assert_eq!(
            ranges(&p.include),
            [("1-1024", 1, 1024), ("1500-2500", 1500, 2500)]
        );
        // Overlapping without containing: both stay.
        let p = ports("1-100 50-200");
        assert_eq!(ranges(&p.include), [("1-100", 1, 100), ("50-200", 50, 200)]);
        // `*` after anything is inside; anything after `*` too.
        let (_, found) = Ports::parse("* 22", &services());
        assert_eq!(
            shown(&found),
            ["`22`: inside `*` given before; item ignored"]
        );
    }

    #[test]
    fn malformed_ports_are_skipped_and_the_rest_kept() {
        let cases: &[(&str, BadItem)] = &[
            ("!", BadItem::Empty),
            ("0", BadItem::PortOutOfRange),
            ("70000", BadItem::PortOutOfRange),
            ("99999999999999999999", BadItem::PortOutOfRange),
            ("1-70000", BadItem::PortOutOfRange),
            ("0:10", BadItem::PortOutOfRange),
            ("80-!90", BadItem::ExcludedSecondHalf),
            ("!80:!90", BadItem::ExcludedSecondHalf),
            ("80-", BadItem::MissingEnd('-')),
            ("80:", BadItem::MissingEnd(':')),
            ("90-80", BadItem::Reversed),
            ("80x", BadItem::NotAPortNumber("80x".into())),
            ("80-9x", BadItem::NotAPortNumber("9x".into())),
            ("80--90", BadItem::NotAPortNumber("-90".into())),
            ("1-2-3", BadItem::NotAPortNumber("2-3".into())),
            ("-5", BadItem::NotAPortItem),
            ("*80", BadItem::NotAPortItem),
            ("**", BadItem::NotAPortItem),
            ("+80", BadItem::NotAPortItem),
            ("!!80", BadItem::NotAPortItem),
            (
                "gopher",
                BadItem::UnknownService {
                    name: "gopher".into(),
                    path: "/test/services".into(),
                },
            ),
            (
                "bad",
                BadItem::UnknownService {
                    name: "bad".into(),
                    path: "/test/services".into(),
                },
            ),
        ];
        for (item, why) in cases {
            let (p, found) = Ports::parse(&format!("22 {item} 443"), &services());
            assert_eq!(found, [Finding::bad(item, why.clone())], "{item}");
            assert_eq!(found[0].severity(), Some(Severity::Error));
            let kept: Vec<u16> = p.include.iter().map(|r| r.first).collect();
            assert_eq!(kept, [22, 443], "{item}");
        }
        let (_, found) = Ports::parse("70000", &services());
        assert_eq!(
            shown(&found),
            ["`70000`: a port is 1 to 65535; item ignored"]
        );
    }

    #[test]
    fn an_unreadable_services_file_is_reported_with_the_names_it_fails() {
        let missing = Services::read(Path::new("/nonexistent/services"));
        let (p, found) = Ports::parse("22 ssh", &missing);
        assert_eq!(ranges(&p.include), [("22", 22, 22)]);
        assert_eq!(
            shown(&found),
            [
                "`ssh`: service `ssh` cannot be looked up: /nonexistent/services: \
              cannot read: No such file or directory (os error 2); item ignored"
            ]
        );
    }

    fn ips(text: &str) -> Ips {
        let (ips, found) = Ips::parse(text);
        assert!(found.is_empty(), "{text}: {found:?}");
        ips
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn ip_ranges(list: &[IpRange]) -> Vec<(&str, String, String)> {
        list.iter()
            .map(|r| (r.text.as_str(), r.first.to_string(), r.last.to_string()))
            .collect()
    }

    fn allowed_ips<'a>(ips: &Ips, candidates: &[&'a str]) -> Vec<&'a str> {
        candidates
            .iter()
            .copied()
            .filter(|c| ips.allows(ip(c)))
            .collect()
    }

    fn triple(text: &str, first: &str, last: &str) -> (String, String, String) {
        (text.into(), first.into(), last.into())
    }

    fn owned(list: Vec<(&str, String, String)>) -> Vec<(String, String, String)> {
        list.into_iter()
            .map(|(t, f, l)| (t.to_owned(), f, l))
            .collect()
    }

    #[test]
    fn ip_forms() {
        let i = ips(
            "10.1.2.3 2001:db8::1 192.168.0.0/16 fd00::/8 10.2.0.0-10.2.0.255 \
             2001:db8:1::-2001:db8:1::ff 0.0.0.0/0 ::/0",
        );
        assert_eq!(
            owned(ip_ranges(&i.include)),
            [
                triple("10.1.2.3", "10.1.2.3", "10.1.2.3"),
                triple("2001:db8::1", "2001:db8::1", "2001:db8::1"),
                triple("192.168.0.0/16", "192.168.0.0", "192.168.255.255"),
                triple(
                    "fd00::/8",
                    "fd00::",
                    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                ),
                triple("10.2.0.0-10.2.0.255", "10.2.0.0", "10.2.0.255"),
                triple(
                    "2001:db8:1::-2001:db8:1::ff",
                    "2001:db8:1::",
                    "2001:db8:1::ff"
                ),
                triple("0.0.0.0/0", "0.0.0.0", "255.255.255.255"),
                triple("::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ]
        );
        let i = ips("10.0.0.1/32 ::1/128");
        assert_eq!(
            owned(ip_ranges(&i.include)),
            [
                triple("10.0.0.1/32", "10.0.0.1", "10.0.0.1"),
                triple("::1/128", "::1", "::1")
            ]
        );
    }

    #[test]
    fn host_bits_are_cleared_with_a_warning() {
        let (i, found) = Ips::parse("!127.0.0.1/8 2001:db8::1/32 10.0.0.0/8");
        assert_eq!(
            owned(ip_ranges(&i.exclude)),
            [triple("127.0.0.1/8", "127.0.0.0", "127.255.255.255")]
        );
        assert_eq!(
            owned(ip_ranges(&i.include))[0],
            triple(
                "2001:db8::1/32",
                "2001:db8::",
                "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
            )
        );
        assert_eq!(
            shown(&found),
            [
                "`!127.0.0.1/8`: host bits set; read as 127.0.0.0/8",
                "`2001:db8::1/32`: host bits set; read as 2001:db8::/32",
            ]
        );
        assert!(found.iter().all(|f| f.severity().is_none()));
    }

    #[test]
    fn a_star_is_every_address_of_both_families() {
        let i = ips("10.0.0.0/8 *");
        assert_eq!(
            owned(ip_ranges(&i.include)),
            [
                triple("*", "0.0.0.0", "255.255.255.255"),
                triple("*", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
            ]
        );
        assert_eq!(
            allowed_ips(&i, &["0.0.0.0", "8.8.8.8", "::", "2001:db8::1"]),
            ["0.0.0.0", "8.8.8.8", "::", "2001:db8::1"]
        );
        let i = ips("* !10.0.0.0/8");
        assert_eq!(
            allowed_ips(&i, &["8.8.8.8", "10.1.1.1", "::1"]),
            ["8.8.8.8", "::1"]
        );
        let (_, found) = Ips::parse("* 10.0.0.1 ::1");
        assert_eq!(
            shown(&found),
            [
                "`10.0.0.1`: inside `*` given before; item ignored",
                "`::1`: inside `*` given before; item ignored"
            ]
        );
    }

    #[test]
    fn ip_items_inside_earlier_ones_of_their_family_are_skipped() {
        let (i, found) = Ips::parse(
            "10.0.0.0/8 10.1.0.0/16 10.2.3.4 10.0.0.0-10.0.0.9 ::/0 ::ffff:10.1.1.1 \
             !fc00::/7 !fd00::1",
        );
        assert_eq!(
            ip_ranges(&i.include)
                .iter()
                .map(|r| r.0)
                .collect::<Vec<_>>(),
            ["10.0.0.0/8", "::/0"]
        );
        assert_eq!(i.exclude.len(), 1);
        assert_eq!(
            shown(&found),
            [
                "`10.1.0.0/16`: inside `10.0.0.0/8` given before; item ignored",
                "`10.2.3.4`: inside `10.0.0.0/8` given before; item ignored",
                "`10.0.0.0-10.0.0.9`: inside `10.0.0.0/8` given before; item ignored",
                "`::ffff:10.1.1.1`: inside `::/0` given before; item ignored",
                "`!fd00::1`: inside `fc00::/7` given before; item ignored",
            ]
        );
        // The other family is never inside: ::/0 holds no IPv4 address.
        let i = ips("::/0 10.0.0.1");
        assert_eq!(i.include.len(), 2);
        // Nor do ranges covering earlier ones replace them (spec §4.4 says
        // so of ports only); both judge alike.
        let i = ips("10.1.0.0/16 10.0.0.0/8");
        assert_eq!(i.include.len(), 2);
    }

    #[test]
    fn ip_truth_table_of_the_default() {
        let (i, _) = Ips::parse(DEFAULT_IPS);
        assert_eq!(
            allowed_ips(
                &i,
                &[
                    "10.1.2.3",
                    "172.16.0.1",
                    "172.31.255.255",
                    "172.32.0.0",
                    "192.168.1.1",
                    "127.0.0.1",
                    "127.1.2.3",
                    "8.8.8.8",
                    "fd12::1",
                    "fc00::",
                    "fe80::1",
                    "::1",
                    "2001:db8::1",
                    // IPv4 peers of dual-stack sockets: judged as IPv4.
                    "::ffff:10.0.0.1",
                    "::ffff:127.0.0.1",
                    "::ffff:8.8.8.8",
                    // Not v4-mapped: 252.0.0.0/6 is not fc00::/7 (the
                    // original compared the first 32 bits of IPv6 ranges
                    // with IPv4 addresses).
                    "252.0.0.1",
                ]
            ),
            [
                "10.1.2.3",
                "172.16.0.1",
                "172.31.255.255",
                "192.168.1.1",
                "fd12::1",
                "fc00::",
                "::ffff:10.0.0.1"
            ]
        );
    }

    #[test]
    fn ip_lists_judge_as_ports() {
        let all = ["10.0.0.1", "8.8.8.8", "::1"];
        assert_eq!(allowed_ips(&ips(""), &all), all);
        assert_eq!(allowed_ips(&ips("8.8.8.8"), &all), ["8.8.8.8"]);
        assert_eq!(allowed_ips(&ips("!8.8.8.8"), &all), [] as [&str; 0]);
        assert_eq!(allowed_ips(&ips("!8.8.8.8 *"), &all), ["10.0.0.1", "::1"]);
    }

    #[test]
    fn malformed_ips_are_skipped_and_the_rest_kept() {
        let v4 = |max| BadItem::PrefixLength { version: 4, max };
        let v6 = |max| BadItem::PrefixLength { version: 6, max };
        let cases: &[(&str, BadItem)] = &[
            ("!", BadItem::Empty),
            ("10.0.0.256", BadItem::NotIpv4("10.0.0.256".into())),
            ("10.0.0", BadItem::NotIpv4("10.0.0".into())),
            ("010.0.0.1", BadItem::NotIpv4("010.0.0.1".into())),
            ("example.com", BadItem::NotIpv4("example.com".into())),
            ("**", BadItem::NotIpv4("**".into())),
            ("10.0.0.1-10.0.0.x", BadItem::NotIpv4("10.0.0.x".into())),
            ("2001:db8::g", BadItem::NotIpv6("2001:db8::g".into())),
            ("fe80::1%eth0", BadItem::NotIpv6("fe80::1%eth0".into())),
            ("::1-::x", BadItem::NotIpv6("::x".into())),
            ("10.0.0.1-::1", BadItem::MixedFamilies),
            ("::1-10.0.0.1", BadItem::MixedFamilies),
            ("10.0.0.0/33", v4(32)),
            ("10.0.0.0/-1", v4(32)),
            ("10.0.0.0/+8", v4(32)),
            ("10.0.0.0/x", v4(32)),
            ("10.0.0.0/8/9", v4(32)),
            ("::/129", v6(128)),
            ("::/256", v6(128)),
            ("10.0.0.0/!8", BadItem::ExcludedSecondHalf),
            ("10.0.0.1-!10.0.0.9", BadItem::ExcludedSecondHalf),
            ("::1-!::9", BadItem::ExcludedSecondHalf),
            ("10.0.0.0/", BadItem::MissingEnd('/')),
            ("10.0.0.1-", BadItem::MissingEnd('-')),
            ("::/", BadItem::MissingEnd('/')),
            ("10.0.0.9-10.0.0.1", BadItem::Reversed),
            ("::9-::1", BadItem::Reversed),
        ];
        for (item, why) in cases {
            let (i, found) = Ips::parse(&format!("1.1.1.1 {item} ::2"));
            assert_eq!(found, [Finding::bad(item, why.clone())], "{item}");
            assert_eq!(found[0].severity(), Some(Severity::Error));
            assert_eq!(i.include.len(), 2, "{item}");
        }
    }

    fn hostnames(text: &str) -> Hostnames {
        let (names, found) = Hostnames::parse(text);
        assert!(found.is_empty(), "{text}: {found:?}");
        names
    }

    fn allowed_names<'a>(names: &Hostnames, candidates: &[&'a str]) -> Vec<&'a str> {
        candidates
            .iter()
            .copied()
            .filter(|c| names.allows(c))
            .collect()
    }

    #[test]
    fn wildcards_anywhere() {
        for (pattern, yes, no) in [
            (
                "example.com",
                &["example.com"][..],
                &["www.example.com", "Example.com", "example.co"][..],
            ),
            (
                "*.example.com",
                &["a.example.com", "a.b.example.com", ".example.com"],
                &["example.com", "a.example.org"],
            ),
            ("db*", &["db", "db1.local"], &["adb", ""]),
            ("*cache*", &["cache", "memcache01", "cached"], &["cach"]),
            (
                "a*b*c",
                &["abc", "aXbYc", "abbbc", "abcbc"],
                &["ab", "acb", "abcd"],
            ),
            ("*", &["", "anything"], &[]),
            ("**", &["", "x"], &[]),
            ("*a", &["a", "aaa", "ba"], &["ab"]),
        ] {
            let names = hostnames(pattern);
            assert_eq!(allowed_names(&names, yes), yes, "{pattern}");
            assert_eq!(allowed_names(&names, no), [] as [&str; 0], "{pattern}");
        }
    }

    #[test]
    fn hostname_lists_judge_as_ports() {
        let all = ["www.example.com", "db.internal", "example.com"];
        assert_eq!(allowed_names(&hostnames(""), &all), all);
        assert_eq!(allowed_names(&hostnames("*"), &all), all);
        assert_eq!(
            allowed_names(&hostnames("*.internal"), &all),
            ["db.internal"]
        );
        // An exclude wins wherever it is written.
        assert_eq!(
            allowed_names(&hostnames("* !*.internal"), &all),
            ["www.example.com", "example.com"]
        );
        assert_eq!(
            allowed_names(&hostnames("!*.internal *"), &all),
            ["www.example.com", "example.com"]
        );
        // The original's documented example excludes one name and, as it
        // includes none, lets nothing through.
        assert_eq!(
            allowed_names(&hostnames("!example.com"), &all),
            [] as [&str; 0]
        );
        let (names, found) = Hostnames::parse("a ! b");
        assert_eq!(names.include, ["a", "b"]);
        assert_eq!(shown(&found), ["`!`: nothing after `!`; item ignored"]);
    }

    fn socket_settings(values: &[(OwnKey, OwnValue)]) -> ThreadSettings {
        let mut settings = Config::default().thread(ThreadName::Socket).clone();
        for (key, value) in values {
            settings
                .own
                .insert((key.section.into(), key.key.into()), value.clone());
        }
        settings
    }

    #[test]
    fn selectors_by_default() {
        let s = NetworkSelectors::new(&socket_settings(&[]), None);
        assert_eq!(s.per_direction, 25);
        assert_eq!(s.retire_after, Some(Duration::from_secs(300)));
        assert!(!s.resolve_hostnames);
        assert!(!s.resolve_service_names);
        assert_eq!(s.ports, Ports::default());
        assert_eq!(s.ips, Ips::parse(DEFAULT_IPS).0);
        assert_eq!(s.hostnames, Hostnames::default());
        assert!(s.service_names.is_empty());
        assert!(s.allows(443, ip("10.0.0.1"), Some("anything")));
        assert!(!s.allows(443, ip("8.8.8.8"), None));
    }

    #[test]
    fn sockets_per_direction_are_half_the_dimensions_at_least_one() {
        for (maximum, per_direction) in [
            (0, 1),
            (1, 1),
            (2, 1),
            (3, 1),
            (4, 2),
            (101, 50),
            (u32::MAX, u32::MAX / 2),
        ] {
            let settings = socket_settings(&[(MAXIMUM_DIMENSIONS, OwnValue::Number(maximum))]);
            assert_eq!(
                NetworkSelectors::new(&settings, None).per_direction,
                per_direction,
                "{maximum}"
            );
        }
    }

    #[test]
    fn names_are_retired_after_the_seconds_given_or_never_at_zero() {
        for (seconds, retire_after) in [(0, None), (1, Some(Duration::from_secs(1)))] {
            let settings = socket_settings(&[(RETIRE_DIMENSIONS_AFTER, OwnValue::Number(seconds))]);
            assert_eq!(
                NetworkSelectors::new(&settings, None).retire_after,
                retire_after
            );
        }
    }

    #[test]
    fn hostnames_apply_only_when_resolved() {
        let (names, _) = Hostnames::parse("*.example.com");
        let off = socket_settings(&[(HOSTNAMES, OwnValue::Hostnames(names.clone()))]);
        let s = NetworkSelectors::new(&off, None);
        assert_eq!(s.hostnames, Hostnames::default());
        assert!(s.allows(80, ip("10.0.0.1"), Some("db.internal")));
        let on = socket_settings(&[
            (HOSTNAMES, OwnValue::Hostnames(names.clone())),
            (RESOLVE_HOSTNAMES, OwnValue::Bool(true)),
        ]);
        let s = NetworkSelectors::new(&on, None);
        assert_eq!(s.hostnames, names);
        assert!(s.allows(80, ip("10.0.0.1"), Some("www.example.com")));
        assert!(!s.allows(80, ip("10.0.0.1"), Some("db.internal")));
        // A name that did not resolve is not judged.
        assert!(s.allows(80, ip("10.0.0.1"), None));
    }

    #[test]
    fn a_connection_passes_every_selector() {
        let (ports, _) = Ports::parse("80 443", &services());
        let (ips, _) = Ips::parse("10.0.0.0/8 !10.9.0.0/16");
        let s = NetworkSelectors::new(
            &socket_settings(&[(PORTS, OwnValue::Ports(ports)), (IPS, OwnValue::Ips(ips))]),
            None,
        );
        assert!(s.allows(443, ip("10.1.1.1"), None));
        assert!(!s.allows(22, ip("10.1.1.1"), None));
        assert!(!s.allows(443, ip("10.9.1.1"), None));
        assert!(!s.allows(443, ip("192.168.1.1"), None));
    }

    #[test]
    fn netdatas_listen_port_is_named_unless_19999_is() {
        let names = |pairs: &[(u16, &str)]| -> BTreeMap<u16, String> {
            pairs.iter().map(|(p, n)| (*p, (*n).to_owned())).collect()
        };
        let with = |pairs: &[(u16, &str)], listen: Option<u16>| {
            let settings = socket_settings(&[(SERVICE_NAMES, OwnValue::PortNames(names(pairs)))]);
            NetworkSelectors::new(&settings, listen).service_names
        };
        assert_eq!(
            with(&[(22, "ssh")], Some(8080)),
            names(&[(22, "ssh"), (8080, "Netdata")])
        );
        assert_eq!(with(&[(22, "ssh")], None), names(&[(22, "ssh")]));
        assert_eq!(
            with(&[(19999, "Netdata")], Some(8080)),
            names(&[(19999, "Netdata")])
        );
        assert_eq!(
            with(&[(8080, "proxy")], Some(8080)),
            names(&[(8080, "proxy")])
        );
        assert_eq!(with(&[], Some(19999)), names(&[(19999, "Netdata")]));
        assert_eq!(listen_port("19999"), Some(19999));
        assert_eq!(listen_port(" 8080\n"), Some(8080));
        for bad in ["", "0", "65536", "-1", "http", "80x"] {
            assert_eq!(listen_port(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_without_panicking(text in "[ !*:/.0-9a-f-]{0,40}") {
            let (ports, _) = Ports::parse(&text, &services());
            let (ips, _) = Ips::parse(&text);
            let (names, _) = Hostnames::parse(&text);
            for r in ports.include.iter().chain(&ports.exclude) {
                proptest::prop_assert!(1 <= r.first && r.first <= r.last);
            }
            for r in ips.include.iter().chain(&ips.exclude) {
                proptest::prop_assert!(r.first <= r.last && r.first.is_ipv4() == r.last.is_ipv4());
            }
            ports.allows(80);
            ips.allows(ip("10.0.0.1"));
            names.allows(&text);
        }
    }
}
