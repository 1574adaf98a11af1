//! `ebpf.d.conf` `[statsd]`: where the `statsd` output sends metrics. Our
//! extension: the original has no such section, so a stock file simply
//! lacks it and the defaults apply.
//!
//! ```ini
//! [statsd]
//!     destination = udp://127.0.0.1:8125   # or HOST:PORT (UDP), tcp://HOST:PORT
//!     prefix = ebpf                        # metric names: <prefix>.<host>.<chart>.<dimension>
//!     mtu = 1432                           # largest datagram (TCP: largest write), bytes
//!     host name = web1                     # default: this machine's; empty: no host part
//!     tags = no                            # dogstatsd: host and thread as |#host:..,thread:..
//! ```
//!
//! The command line (`--statsd`, `--statsd-prefix`, `--statsd-mtu`) uses the
//! same parsers, so both accept exactly the same values.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::load::Source;

pub(crate) const SECTION: &str = "statsd";
pub(crate) const KEYS: &[&str] = &["destination", "prefix", "mtu", "host name", "tags"];

/// Datagram size bounds: one metric line must fit in the smallest, and the
/// largest is what a UDP datagram over IPv4 can carry.
pub const MTU_RANGE: (u32, u32) = (64, 65_507);
/// Ethernet's 1500 bytes minus IPv6 and UDP headers, with room for tunnels:
/// what StatsD clients commonly use so a datagram is never fragmented.
pub const DEFAULT_MTU: u32 = 1432;
pub const DEFAULT_PREFIX: &str = "ebpf";
/// The port StatsD servers (Netdata's too) listen on.
pub const DEFAULT_PORT: u16 = 8125;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    Udp,
    Tcp,
}

/// `[udp://|tcp://]HOST[:PORT]`; an IPv6 address goes in brackets. HOST
/// is a host name (RFC 1123 labels), an IPv4 address or a bracketed IPv6
/// address (with a `%zone` for a link-local one); PORT is 1..=65535, 8125
/// when left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsdDestination {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
}

impl Default for StatsdDestination {
    fn default() -> Self {
        StatsdDestination {
            transport: Transport::Udp,
            host: "127.0.0.1".to_owned(),
            port: DEFAULT_PORT,
        }
    }
}

impl FromStr for StatsdDestination {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (transport, rest) = if let Some(rest) = text.strip_prefix("udp://") {
            (Transport::Udp, rest)
        } else if let Some(rest) = text.strip_prefix("tcp://") {
            (Transport::Tcp, rest)
        } else if text.contains("://") {
            return Err("the scheme is not udp:// or tcp://".to_owned());
        } else {
            (Transport::Udp, text)
        };
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or("an IPv6 address lacks its closing `]`")?;
            ipv6(host)?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("`{after}` after `]` is not `:PORT`")),
                },
            }
        } else if rest.matches(':').count() > 1 {
            return Err("an IPv6 address must be written in brackets: [::1]:8125".to_owned());
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err("the host is missing".to_owned());
        }
        if !rest.starts_with('[') {
            host_name_or_ipv4(host)?;
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{port}` is not a port (1..=65535)"))?,
        };
        Ok(StatsdDestination {
            transport,
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for StatsdDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// An IPv6 address, with a `%zone` (interface name or index) or not.
fn ipv6(text: &str) -> Result<(), String> {
    let (address, zone) = match text.split_once('%') {
        Some((address, zone)) => (address, Some(zone)),
        None => (text, None),
    };
    let zone_ok = zone.is_none_or(|z| {
        !z.is_empty()
            && z.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    });
    if address.parse::<Ipv6Addr>().is_ok() && zone_ok {
        Ok(())
    } else {
        Err(format!("`{text}` in brackets is not an IPv6 address"))
    }
}

/// An IPv4 address in dotted-quad form, or a host name of RFC 1123 labels
/// (letters, digits and `-` inside, at most 63 bytes each, 253 in all, a
/// final `.` allowed) whose last label is not all digits (RFC 3696: that
/// would be a number, which the resolver reads as an address: `999999` is
/// 0.15.66.63).
fn host_name_or_ipv4(host: &str) -> Result<(), String> {
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return match host.parse::<Ipv4Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(format!(
                "`{host}` is neither an IPv4 address (four numbers 0..255: 127.0.0.1) nor a \
                 host name (its last label is not all digits)"
            )),
        };
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let last_numeric = name
        .rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()));
    if name.len() <= 253 && name.split('.').all(label_ok) && !last_numeric {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a host name (labels of letters, digits and `-`, not at either end of \
             a label, separated by dots), an IPv4 address, or an IPv6 address in brackets",
            host.escape_debug()
        ))
    }
}

/// A metric name prefix: dot-separated words of ASCII letters, digits and
/// `_`, the characters every StatsD server keeps as they are; or empty (no
/// prefix).
pub fn parse_prefix(text: &str) -> Result<String, String> {
    let word_ok =
        |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if text.is_empty() || text.split('.').all(word_ok) {
        Ok(text.to_owned())
    } else {
        Err("not dot-separated words of letters, digits and `_`".to_owned())
    }
}

pub fn parse_mtu(text: &str) -> Result<u32, String> {
    let (min, max) = MTU_RANGE;
    text.parse::<u32>()
        .ok()
        .filter(|m| (min..=max).contains(m))
        .ok_or_else(|| format!("not a size in bytes in {min}..={max}"))
}

/// Which host the metrics say they are from, so that one server tells
/// many collectors apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatsdHost {
    /// This machine's host name, as the kernel has it when the output starts.
    Machine,
    /// `host name = NAME`.
    Named(String),
    /// `host name =` (empty): metrics carry no host.
    Nowhere,
}

/// `tags`: where the host (and the thread) go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatsdTags {
    /// `no`: the host is a part of each name, `<prefix>.<host>.<chart>.<dimension>`.
    No,
    /// `dogstatsd`: names without the host, and `|#host:NAME,thread:THREAD`
    /// after each line (the DogStatsD extension, which Netdata's StatsD
    /// server also reads).
    DogStatsd,
}

/// The `statsd` output's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsdSettings {
    pub destination: StatsdDestination,
    pub prefix: String,
    pub mtu: u32,
    pub host: StatsdHost,
    pub tags: StatsdTags,
}

impl Default for StatsdSettings {
    fn default() -> Self {
        StatsdSettings {
            destination: StatsdDestination::default(),
            prefix: DEFAULT_PREFIX.to_owned(),
            mtu: DEFAULT_MTU,
            host: StatsdHost::Machine,
            tags: StatsdTags::No,
        }
    }
}

/// `host name`: any text (cleaned to a metric word when sent); empty for none.
pub fn parse_host(text: &str) -> Result<StatsdHost, String> {
    if text.chars().any(char::is_control) {
        return Err("a host name has no control characters".to_owned());
    }
    Ok(match text.trim() {
        "" => StatsdHost::Nowhere,
        name => StatsdHost::Named(name.to_owned()),
    })
}

pub fn parse_tags(text: &str) -> Result<StatsdTags, String> {
    match text.to_ascii_lowercase().as_str() {
        "no" => Ok(StatsdTags::No),
        "dogstatsd" => Ok(StatsdTags::DogStatsd),
        _ => Err("not one of no, dogstatsd".to_owned()),
    }
}

/// Reads `[statsd]`; a bad value is reported and the default kept.
pub(crate) fn read(src: &mut Source, s: &mut StatsdSettings) {
    s.destination = src.value(
        SECTION,
        "destination",
        s.destination.clone(),
        |t| t.parse().map(Some),
        |d| d.to_string(),
    );
    s.prefix = src.value(
        SECTION,
        "prefix",
        s.prefix.clone(),
        |t| parse_prefix(t).map(Some),
        |p| format!("`{p}`"),
    );
    s.mtu = src.value(
        SECTION,
        "mtu",
        s.mtu,
        |t| parse_mtu(t).map(Some),
        u32::to_string,
    );
    s.host = src.value(
        SECTION,
        "host name",
        s.host.clone(),
        |t| parse_host(t).map(Some),
        |h| match h {
            StatsdHost::Machine => "(this machine's)".to_owned(),
            StatsdHost::Named(name) => format!("`{name}`"),
            StatsdHost::Nowhere => "(none)".to_owned(),
        },
    );
    s.tags = src.value(
        SECTION,
        "tags",
        s.tags,
        |t| parse_tags(t).map(Some),
        |t| match t {
            StatsdTags::No => "no".to_owned(),
            StatsdTags::DogStatsd => "dogstatsd".to_owned(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(transport: Transport, host: &str, port: u16) -> StatsdDestination {
        StatsdDestination {
            transport,
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn destinations() {
        use Transport::*;
        for (text, want) in [
            ("localhost:8126", dest(Udp, "localhost", 8126)),
            ("udp://10.1.2.3:9125", dest(Udp, "10.1.2.3", 9125)),
            ("tcp://stats.example:8125", dest(Tcp, "stats.example", 8125)),
            ("tcp://[::1]:18125", dest(Tcp, "::1", 18125)),
            ("[fe80::1]", dest(Udp, "fe80::1", 8125)),
            ("[fe80::1%eth0]:1", dest(Udp, "fe80::1%eth0", 1)),
            ("statsd", dest(Udp, "statsd", 8125)),
            (
                "Stats-1.example.com.:65535",
                dest(Udp, "Stats-1.example.com.", 65535),
            ),
            ("0.0.0.0", dest(Udp, "0.0.0.0", 8125)),
            ("udp://1.2.3.4:1", dest(Udp, "1.2.3.4", 1)),
            ("tcp://3com.com", dest(Tcp, "3com.com", 8125)),
        ] {
            assert_eq!(
                text.parse::<StatsdDestination>(),
                Ok(want.clone()),
                "{text}"
            );
            // Display gives back something that parses to the same.
            assert_eq!(want.to_string().parse::<StatsdDestination>(), Ok(want));
        }
        for bad in [
            "",
            ":8125",
            "http://x:1",
            "x:0",
            "x:65536",
            "x:port",
            "::1:8125",
            "[::1",
            "[::1]8125",
            "tcp://",
            "a b:1",
            "999999",
            "999999:8125",
            "1.2.3",
            "1.2.3.256",
            "01.2.3.4.5",
            "a.123",
            "-a.b",
            "a-.b",
            "a..b",
            "under_score",
            "é.example",
            "a/b",
            "a\u{0}b",
            "[::1%]",
            "[::1%a b]",
            "[1.2.3.4]",
            "[example.com]",
            "tcp://[::g]:1",
            "x:-1",
            "x:99999999999",
        ] {
            assert!(bad.parse::<StatsdDestination>().is_err(), "{bad}");
        }
        let label = "a".repeat(63);
        let longest = [label.as_str(); 4].join(".");
        assert!(longest[..253].parse::<StatsdDestination>().is_ok());
        assert!(format!("{longest}a").parse::<StatsdDestination>().is_err());
        assert!(format!("{label}a.b").parse::<StatsdDestination>().is_err());
        let message = "999999".parse::<StatsdDestination>().unwrap_err();
        assert!(message.contains("neither an IPv4 address"), "{message}");
    }

    #[test]
    fn prefixes() {
        for good in ["", "ebpf", "netdata.ebpf", "host_1.ebpf"] {
            assert_eq!(parse_prefix(good).as_deref(), Ok(good));
        }
        for bad in [".", "a.", ".a", "a..b", "a-b", "a b", "a:b", "a|b", "é"] {
            assert!(parse_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mtus() {
        assert_eq!(parse_mtu("1432"), Ok(1432));
        assert_eq!(parse_mtu("64"), Ok(64));
        assert_eq!(parse_mtu("65507"), Ok(65507));
        for bad in ["63", "65508", "", "-1", "1k"] {
            assert!(parse_mtu(bad).is_err(), "{bad}");
        }
    }
}
