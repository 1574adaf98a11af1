//! The network viewer (`[ebpf programs] network connections = yes`): the
//! worker reads socket.bpf.c's `socket_connections`, one entry per TCP
//! connection, and sums each connection's counters into the dimension it
//! is charted as (spec §2.7: `<service>:TCP:<host>` outbound,
//! `<service>:TCP` inbound), under network.conf's selectors.
//!
//! Differences on purpose: connections of one dimension name add up (the
//! original gave each socket a dimension, so two sockets to one service
//! drew two dimensions of the same name); a connection that ends keeps its
//! counts in its dimension (it is read a last time, then removed); the
//! "other" dimension adds up every connection beyond the limit (the
//! original's showed the last one's, B-15); inbound connections are
//! selected by their local port (the service they reached) and the peer's
//! address; `[service name]` names ports (the original read it and never
//! used it, B-16); a retransmission is counted as one, not every receive
//! (B-12).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::CStr;
use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use aya::maps::MapData;
use crossbeam_channel::{Receiver, Sender};
use bpf::connection_counter;
use bpf::socket::connection as layout;
use bytemuck::{Pod, Zeroable};
use conf::network::{self, NetworkSelectors, Services};
use conf::OwnValue;
use ipc::{ConnectionRow, Message};

use crate::keyed::{send_name, KeyReader, Retire};
use crate::loader::CollectError;
use crate::maps::HashReader;
use crate::thread::WorkerConfig;

const MAP: &str = "socket_connections";

/// Keys of outbound dimensions; inbound ones follow.
pub const OUTBOUND_KEYS: (u64, u64) = (1, INBOUND_FIRST - 1);
pub const INBOUND_KEYS: (u64, u64) = (INBOUND_FIRST, ipc::KEY_LIMIT - 1);
const INBOUND_FIRST: u64 = 1 << 32;

const COUNTERS: usize = connection_counter::COUNT as usize;

/// `struct connection` (socket.bpf.c), checked against the object's
/// layout below.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct Connection {
    counters: [u64; COUNTERS],
    born: u64,
    local: [u8; 16],
    remote: [u8; 16],
    local_port: u16,
    remote_port: u16,
    family: u8,
    outbound: u8,
    inbound: u8,
    state: u8,
    tgid: u32,
    unused: u32,
}

/// `struct connection_key`: a live connection's socket (`born` 0), or an
/// ended one's socket and birth.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Pod, Zeroable)]
struct ConnectionKey {
    socket: u64,
    born: u64,
}

const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<Connection>() == layout::SIZE);
    assert!(offset_of!(Connection, counters) == layout::COUNTERS);
    assert!(offset_of!(Connection, born) == layout::BORN);
    assert!(offset_of!(Connection, local) == layout::LOCAL);
    assert!(offset_of!(Connection, remote) == layout::REMOTE);
    assert!(offset_of!(Connection, local_port) == layout::LOCAL_PORT);
    assert!(offset_of!(Connection, remote_port) == layout::REMOTE_PORT);
    assert!(offset_of!(Connection, family) == layout::FAMILY);
    assert!(offset_of!(Connection, outbound) == layout::OUTBOUND);
    assert!(offset_of!(Connection, inbound) == layout::INBOUND);
    assert!(offset_of!(Connection, state) == layout::STATE);
    assert!(offset_of!(Connection, tgid) == layout::TGID);
    assert!(size_of::<ConnectionKey>() == bpf::socket::connection_key::SIZE);
};

impl Connection {
    fn address(&self, bytes: &[u8; 16]) -> IpAddr {
        ipc::address(self.family, bytes)
    }

    /// Whether it was accepted (true) or made (false), as the kernel saw
    /// it or, for one older than the collector, by whether a listener has
    /// its local port (`listening`, read when first needed); `None`: older,
    /// and no listener.
    fn accepted(&self, listening: &mut Option<BTreeSet<u16>>) -> Option<bool> {
        if self.outbound != 0 {
            Some(false)
        } else if self.inbound != 0
            || listening
                .get_or_insert_with(listening_ports)
                .contains(&self.local_port)
        {
            Some(true)
        } else {
            None
        }
    }

    /// Both ends are known (they are from the first send, receive or
    /// retransmission on).
    fn known(&self) -> bool {
        self.local_port != 0 && self.remote_port != 0
    }
}

/// The map's size: network.conf's IPv4 and IPv6 connection table sizes,
/// with the network viewer on; 0 (off) without.
pub fn entries(cfg: &WorkerConfig) -> u32 {
    if !cfg.config.network_connections_enabled {
        return 0;
    }
    let settings = cfg.settings();
    network::TABLE_SIZES[1..3]
        .iter()
        .map(|key| match settings.own(key) {
            OwnValue::Number(n) => n,
            _ => 0,
        })
        .fold(0u32, u32::saturating_add)
        .max(1)
}

/// Names retire after `retire dimensions after` without a connection;
/// "other" never does.
pub fn retirement(cfg: &WorkerConfig) -> Option<Retire> {
    if entries(cfg) == 0 {
        return None;
    }
    Some(Retire {
        after: network::retire_after(cfg.settings())?,
        kept: is_other,
    })
}

/// Whether `key` is a direction's "other" (its last key).
fn is_other(key: u64) -> bool {
    key == OUTBOUND_KEYS.1 || key == INBOUND_KEYS.1
}

pub fn open(map: MapData, cfg: &WorkerConfig) -> Box<dyn KeyReader> {
    let listen_port = std::env::var("NETDATA_LISTEN_PORT")
        .ok()
        .and_then(|value| network::listen_port(&value));
    Box::new(Connections {
        map: HashReader::new(map, layout::SIZE),
        namer: Namer::new(NetworkSelectors::new(cfg.settings(), listen_port)),
        seen: HashMap::new(),
        totals: BTreeMap::new(),
    })
}

/// Where a connection's counts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Its ends are not known yet.
    Unknown,
    /// Not charted (the selectors leave it out).
    Left,
    Key(u64),
}

struct Seen {
    place: Place,
    counters: [u64; COUNTERS],
}

struct Connections {
    map: HashReader<ConnectionKey>,
    namer: Namer,
    /// The connections of the last walk, by socket and birth.
    seen: HashMap<(u64, u64), Seen>,
    /// Each dimension's counters, ended connections' included.
    totals: BTreeMap<u64, [u64; COUNTERS]>,
}

impl KeyReader for Connections {
    fn collect(&mut self, out: &mut Vec<Message>) -> Result<(), CollectError> {
        let now = Instant::now();
        let mut ended = Vec::new();
        let mut connections = self.walk()?;
        // The first made is the first named (the limit of names).
        connections.sort_by_key(|(_, connection)| connection.born);
        let mut listening = None;
        for (key, connection) in connections {
            let id = (key.socket, connection.born);
            let seen = self.seen.entry(id).or_insert(Seen {
                place: Place::Unknown,
                counters: [0; COUNTERS],
            });
            if seen.place == Place::Unknown && connection.known() {
                let inbound = connection.accepted(&mut listening) == Some(true);
                seen.place = self.namer.place(&connection, inbound, out);
            }
            if let Place::Key(key) = seen.place {
                self.namer.direction(key).live.insert(key, now);
                let totals = self.totals.entry(key).or_default();
                let now = connection.counters.iter().zip(&seen.counters);
                for (total, (now, before)) in totals.iter_mut().zip(now) {
                    // A connection's counters only grow.
                    *total += now.saturating_sub(*before);
                }
            }
            // Until it has a place, its counts wait (for its name).
            if seen.place != Place::Unknown {
                seen.counters = connection.counters;
            }
            // An ended connection waiting for its peer's name stays until
            // it is charted; one whose ends were never known never will be.
            if key.born != 0 && (seen.place != Place::Unknown || !connection.known()) {
                ended.push((key, id));
            }
        }
        // After their last counts.
        for (key, id) in ended {
            self.map.remove(key);
            self.seen.remove(&id);
        }
        if let Some(after) = self.namer.selectors.retire_after {
            // A key gone counts from zero if its name comes back.
            for key in self.namer.retire(now.checked_sub(after), out) {
                self.totals.remove(&key);
            }
        }
        for (&key, totals) in &self.totals {
            for (index, &total) in (0u32..).zip(totals).filter(|(_, t)| **t > 0) {
                out.push(Message::Keyed { index, key, total });
            }
        }
        Ok(())
    }

    /// The live connections (ended ones wait for their last reading),
    /// those whose ends are known.
    fn rows(&mut self, out: &mut Vec<ConnectionRow>) -> Result<(), CollectError> {
        let mut listening = None;
        out.extend(
            self.walk()?
                .iter()
                .filter(|(key, connection)| key.born == 0 && connection.known())
                .map(|(_, connection)| row(connection, &mut listening)),
        );
        Ok(())
    }
}

impl Connections {
    fn walk(&mut self) -> Result<Vec<(ConnectionKey, Connection)>, CollectError> {
        let mut connections = Vec::new();
        self.map
            .walk(|key, words| {
                let bytes: &[u8] = bytemuck::cast_slice(words);
                let connection: Connection = bytemuck::pod_read_unaligned(&bytes[..layout::SIZE]);
                connections.push((key, connection));
            })
            .map_err(|source| CollectError::Walk { map: MAP, source })?;
        Ok(connections)
    }
}

/// A live connection as the `network-connections` Function shows it.
fn row(connection: &Connection, listening: &mut Option<BTreeSet<u16>>) -> ConnectionRow {
    let direction = match connection.accepted(listening) {
        Some(false) => ipc::DIRECTION_OUTBOUND,
        Some(true) => ipc::DIRECTION_INBOUND,
        None => 0,
    };
    let counter = |c: u32| connection.counters[c as usize];
    ConnectionRow {
        local: connection.local,
        remote: connection.remote,
        local_port: connection.local_port,
        remote_port: connection.remote_port,
        family: connection.family,
        state: connection.state,
        direction,
        unused: 0,
        tgid: connection.tgid,
        unused2: 0,
        sent_bytes: counter(connection_counter::SENT_BYTES),
        received_bytes: counter(connection_counter::RECEIVED_BYTES),
        sends: counter(connection_counter::SENDS),
        receives: counter(connection_counter::RECEIVES),
        retransmits: counter(connection_counter::RETRANSMITS),
    }
}

/// Ports of TCP listeners in the worker's network namespace
/// (`/proc/net/tcp`, `tcp6`: state `0A`), for connections older than the
/// collector, whose direction the kernel programs did not see.
fn listening_ports() -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) != Some(&"0A") {
                continue;
            }
            let port = fields
                .get(1)
                .and_then(|local| local.rsplit(':').next())
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            ports.extend(port);
        }
    }
    ports
}

/// Names connections' dimensions and gives each name its key.
struct Namer {
    selectors: NetworkSelectors,
    /// `ports` is set: outbound names start with the service.
    port_filter: bool,
    /// `/etc/services`, read once when `resolve service names` asks.
    services: Option<Services>,
    outbound: Direction,
    inbound: Direction,
    /// Reverse-DNS names by address (`resolve hostnames`), once each.
    hostnames: Option<Resolver>,
}

/// One direction's dimensions: at most `limit` names and "other".
///
/// A name's key is made of the name (FNV-1a into the direction's keys,
/// "other" the last): the supervisor carries keyed totals on by key across
/// worker generations, so a restarted worker, which meets names in another
/// order, must give each the key it had.
struct Direction {
    keys: HashMap<String, u64>,
    /// When each key last had a connection (read on a walk): every key
    /// of `keys` has one.
    live: HashMap<u64, Instant>,
    /// The direction's keys, first and last.
    range: (u64, u64),
    other: &'static str,
}

impl Direction {
    fn new(range: (u64, u64), other: &'static str) -> Direction {
        Direction {
            keys: HashMap::new(),
            live: HashMap::new(),
            range,
            other,
        }
    }

    /// Names without a connection since `before` are retired: their keys
    /// are gone (returned, and said in `out`), their slots free; "other"
    /// stays.
    fn retire(&mut self, before: Instant, out: &mut Vec<Message>) -> Vec<u64> {
        let mut gone = Vec::new();
        self.live.retain(|&key, &mut last| {
            let stale = !is_other(key) && last < before;
            if stale {
                gone.push(key);
            }
            !stale
        });
        self.keys.retain(|_, key| !gone.contains(key));
        out.extend(gone.iter().map(|&key| Message::KeyGone { key }));
        gone
    }

    /// The key of `name`, or of "other" when `limit` names have keys: a
    /// key is sent its name when it is made.
    fn key(&mut self, name: String, limit: usize, out: &mut Vec<Message>) -> u64 {
        if let Some(&key) = self.keys.get(&name) {
            return key;
        }
        // "other" takes a slot of `limit` but counts no name.
        let named = self.keys.len() - usize::from(self.keys.contains_key(self.other));
        let name = if named + 1 >= limit {
            self.other.to_owned()
        } else {
            name
        };
        if let Some(&key) = self.keys.get(&name) {
            return key;
        }
        let (first, last) = self.range;
        let key = if name == self.other {
            last
        } else {
            // Two names of one hash (about one chance in ten thousand
            // with 500 names): the later takes the next free key, which
            // a restarted worker may give the other.
            let mut key = first + fnv1a(name.as_bytes()) % (last - first);
            while self.live.contains_key(&key) {
                key = if key + 1 == last { first } else { key + 1 };
            }
            key
        };
        send_name(key, &name, out);
        self.keys.insert(name, key);
        self.live.insert(key, Instant::now());
        key
    }
}

/// The 64-bit FNV-1a hash: the same on every build (std's hashers are not
/// promised to be), for keys that outlive a worker.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Namer {
    fn new(selectors: NetworkSelectors) -> Namer {
        let port_filter = !selectors.ports.include.is_empty() || !selectors.ports.exclude.is_empty();
        Namer {
            selectors,
            port_filter,
            services: None,
            outbound: Direction::new(
                OUTBOUND_KEYS,
                if port_filter { "other:ALL:other" } else { "ALL:other" },
            ),
            inbound: Direction::new(INBOUND_KEYS, "other:ALL"),
            hostnames: None,
        }
    }

    /// The direction of `key`.
    fn direction(&mut self, key: u64) -> &mut Direction {
        if key >= INBOUND_KEYS.0 {
            &mut self.inbound
        } else {
            &mut self.outbound
        }
    }

    /// Retires the names of both directions without a connection since
    /// `before` (`None`: the machine has not been up that long); the keys
    /// gone.
    fn retire(&mut self, before: Option<Instant>, out: &mut Vec<Message>) -> Vec<u64> {
        let Some(before) = before else {
            return Vec::new();
        };
        let mut gone = self.outbound.retire(before, out);
        gone.extend(self.inbound.retire(before, out));
        gone
    }

    fn place(&mut self, connection: &Connection, inbound: bool, out: &mut Vec<Message>) -> Place {
        let remote = connection.address(&connection.remote);
        let port = if inbound {
            connection.local_port
        } else {
            connection.remote_port
        };
        let hostname = if self.selectors.resolve_hostnames {
            // Charted once its name is known: its counts wait in the kernel.
            match self.hostnames.get_or_insert_with(Resolver::start).name(remote) {
                Lookup::Asked => return Place::Unknown,
                Lookup::Done(name) => name,
            }
        } else {
            None
        };
        if !self.selectors.allows(port, remote, hostname.as_deref()) {
            return Place::Left;
        }
        let service = self.service(port, hostname.is_some());
        let limit = self.selectors.per_direction as usize;
        let key = if inbound {
            self.inbound.key(format!("{service}:TCP"), limit, out)
        } else {
            let host = match (&hostname, remote) {
                (Some(name), _) => name.clone(),
                (None, IpAddr::V4(v4)) => v4.to_string(),
                (None, IpAddr::V6(v6)) => format!("[{v6}]"),
            };
            let name = if self.port_filter {
                format!("{service}:TCP:{host}")
            } else {
                format!("TCP:{host}")
            };
            self.outbound.key(name, limit, out)
        };
        Place::Key(key)
    }

    /// `[service name]`'s name of `port`; else, with `resolve service
    /// names` and the host resolved (as the original), the system's name
    /// of the TCP port; else the number.
    fn service(&mut self, port: u16, resolved: bool) -> String {
        if let Some(name) = self.selectors.service_names.get(&port) {
            return name.clone();
        }
        if self.selectors.resolve_service_names && resolved {
            let services = self
                .services
                .get_or_insert_with(|| Services::read(Path::new(Services::PATH)));
            if let Some(name) = services.tcp_name(port) {
                return name.to_owned();
            }
        }
        port.to_string()
    }
}

/// Reverse DNS in a thread of its own: `getnameinfo` may wait seconds for
/// a resolver, and collection must not.
struct Resolver {
    ask: Sender<IpAddr>,
    answers: Receiver<(IpAddr, Option<String>)>,
    names: HashMap<IpAddr, Lookup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Lookup {
    Asked,
    Done(Option<String>),
}

impl Resolver {
    fn start() -> Resolver {
        let (ask, questions) = crossbeam_channel::unbounded::<IpAddr>();
        let (answer, answers) = crossbeam_channel::unbounded();
        // Ends when the worker drops its side.
        let spawned = std::thread::Builder::new()
            .name("resolver".into())
            .spawn(move || {
                for address in questions {
                    if answer.send((address, reverse_dns(address))).is_err() {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("no thread for reverse DNS ({e}): connections are named by address");
        }
        Resolver {
            ask,
            answers,
            names: HashMap::new(),
        }
    }

    /// The name of `address`, asked for the first time it is seen; an
    /// address that cannot be asked (no resolver thread) has none.
    fn name(&mut self, address: IpAddr) -> Lookup {
        for (answered, name) in self.answers.try_iter() {
            self.names.insert(answered, Lookup::Done(name));
        }
        self.names
            .entry(address)
            .or_insert_with(|| match self.ask.send(address) {
                Ok(()) => Lookup::Asked,
                Err(_) => Lookup::Done(None),
            })
            .clone()
    }
}

/// The name `getnameinfo` gives `address`, if it has one (`NI_NAMEREQD`).
fn reverse_dns(address: IpAddr) -> Option<String> {
    // SAFETY: all zeroes is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let length = match address {
        IpAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any
            // socket address.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(v6) => {
            // SAFETY: as above.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = v6.octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    let mut host = [0 as libc::c_char; libc::NI_MAXHOST as usize];
    // SAFETY: `storage` holds a socket address of `length` bytes; `host`
    // is writable for its length; no service buffer is asked for.
    let result = unsafe {
        libc::getnameinfo(
            &storage as *const _ as *const libc::sockaddr,
            length as libc::socklen_t,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    // SAFETY: on success getnameinfo wrote a NUL-terminated name.
    (result == 0).then(|| unsafe { CStr::from_ptr(host.as_ptr()) }.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(direction: &mut Direction, names: &[&str], limit: usize) -> Vec<u64> {
        let mut out = Vec::new();
        names
            .iter()
            .map(|name| direction.key(name.to_string(), limit, &mut out))
            .collect()
    }

    #[test]
    fn a_name_has_its_key_whatever_order_names_come_in() {
        let names = ["80:TCP:10.0.0.1", "443:TCP:10.0.0.2", "22:TCP:[::1]"];
        let mut first = Direction::new(OUTBOUND_KEYS, "other:ALL:other");
        let mut restarted = Direction::new(OUTBOUND_KEYS, "other:ALL:other");
        let before = keys(&mut first, &names, 100);
        let mut after = keys(&mut restarted, &[names[2], names[0], names[1]], 100);
        after.rotate_left(1);
        assert_eq!(before, after);
        for key in before {
            assert!((OUTBOUND_KEYS.0..OUTBOUND_KEYS.1).contains(&key), "{key}");
        }
    }

    #[test]
    fn other_is_the_last_key_and_takes_every_name_beyond_the_limit() {
        let mut inbound = Direction::new(INBOUND_KEYS, "other:ALL");
        let got = keys(&mut inbound, &["80:TCP", "443:TCP", "22:TCP", "80:TCP"], 2);
        assert_eq!(got[1..3], [INBOUND_KEYS.1, INBOUND_KEYS.1]);
        assert_eq!(got[3], got[0]);
        assert_ne!(got[0], INBOUND_KEYS.1);
    }

    #[test]
    fn a_name_without_connections_is_retired_and_frees_its_slot() {
        let mut outbound = Direction::new(OUTBOUND_KEYS, "other:ALL:other");
        let first = keys(&mut outbound, &["80:TCP:10.0.0.1", "443:TCP:10.0.0.2"], 2);
        assert_eq!(first[1], OUTBOUND_KEYS.1, "the limit: one name and other");
        let later = Instant::now() + std::time::Duration::from_secs(1);
        let mut out = Vec::new();
        assert_eq!(outbound.retire(later, &mut out), [first[0]]);
        assert_eq!(out, [Message::KeyGone { key: first[0] }]);
        // Its slot is free: the next name is charted, not "other"; the
        // retired name comes back under its key.
        let next = keys(&mut outbound, &["22:TCP:10.0.0.3"], 2);
        assert_ne!(next[0], OUTBOUND_KEYS.1);
        outbound.retire(later + std::time::Duration::from_secs(1), &mut out);
        assert_eq!(keys(&mut outbound, &["80:TCP:10.0.0.1"], 2), [first[0]]);
    }

    #[test]
    fn names_of_one_hash_get_keys_of_their_own() {
        // A direction of two keys and "other": every name hashes to one.
        let mut tiny = Direction::new((10, 12), "other");
        let got = keys(&mut tiny, &["a", "b"], 10);
        assert_ne!(got[0], got[1]);
        assert!(got.iter().all(|key| (10..12).contains(key)), "{got:?}");
    }
}
