//! The thread that talks to the StatsD server. Only it resolves names,
//! connects and writes, so a server that is slow, down or unreachable
//! blocks this thread at worst, never the supervisor.
//!
//! UDP is fire-and-forget: a non-blocking socket, and a datagram the kernel
//! will not take is dropped and counted. TCP connects when there is
//! something to send, reconnects with a doubling delay after a failure,
//! and drops (and counts) what arrives while it has no connection. A server
//! that stops reading for `WRITE_TIMEOUT` is disconnected.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conf::{StatsdDestination, Transport};
use crossbeam_channel::{Receiver, Sender};
use tracing::{info, warn};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// While metrics are dropped, how often the log says how many.
const DROP_REPORT: Duration = Duration::from_secs(60);
/// Reconnection delays double from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_LAST: Duration = Duration::from_secs(5);

/// Whole metric lines, at most one MTU (unless a single unit is longer).
#[derive(Debug, Default)]
pub struct Datagram {
    pub bytes: Vec<u8>,
    pub lines: u64,
}

/// One flush's datagrams, in order.
pub type Batch = Vec<Datagram>;

/// Metric lines handed to the kernel, and lines given up on.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
}

/// Starts the thread. It ends when the returned sender is dropped and the
/// queue is empty, and then signals the returned receiver.
pub fn spawn(
    destination: StatsdDestination,
    queue: usize,
    stats: Arc<Stats>,
) -> io::Result<(Sender<Batch>, Receiver<()>)> {
    let (batches, incoming) = crossbeam_channel::bounded(queue);
    let (finished, done) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("statsd".into())
        .spawn(move || {
            run(&destination, &incoming, &stats);
            let _ = finished.send(());
        })?;
    Ok((batches, done))
}

fn run(destination: &StatsdDestination, incoming: &Receiver<Batch>, stats: &Stats) {
    let mut link: Option<Link> = None;
    let mut backoff = Backoff::new();
    // The dropped count when the link was lost, for the reconnect message.
    let mut dropped_before: Option<u64> = Some(0);
    let mut report = DropReport::new();
    for batch in incoming.iter() {
        report.due(destination, stats);
        let lines: u64 = batch.iter().map(|d| d.lines).sum();
        if link.as_ref().is_some_and(Link::closed_by_peer) {
            warn!("statsd: {destination} closed the connection; reconnecting");
            link = None;
            dropped_before = Some(stats.dropped.load(Ordering::Relaxed));
            backoff.failed();
        }
        if link.is_none() && backoff.due() {
            match Link::open(destination) {
                Ok(opened) => {
                    if let Some(before) = dropped_before.take() {
                        match stats.dropped.load(Ordering::Relaxed) - before {
                            0 => info!("statsd: sending to {destination}"),
                            dropped => info!(
                                "statsd: sending to {destination} again; \
                                 {dropped} metric lines were dropped meanwhile"
                            ),
                        }
                    }
                    link = Some(opened);
                    backoff.reset();
                }
                Err(e) => {
                    if backoff.failures == 0 {
                        warn!("statsd: cannot reach {destination}: {e}; retrying, dropping metrics meanwhile");
                    }
                    backoff.failed();
                }
            }
        }
        let Some(open) = &mut link else {
            stats.dropped.fetch_add(lines, Ordering::Relaxed);
            continue;
        };
        if let Err(e) = open.send(&batch, stats) {
            warn!("statsd: sending to {destination} failed: {e}; reconnecting");
            link = None;
            dropped_before = Some(stats.dropped.load(Ordering::Relaxed));
            backoff.failed();
        }
    }
}

enum Link {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream),
}

impl Link {
    fn open(destination: &StatsdDestination) -> io::Result<Link> {
        let addresses: Vec<SocketAddr> = (destination.host.as_str(), destination.port)
            .to_socket_addrs()?
            .collect();
        let no_address = || io::Error::new(io::ErrorKind::NotFound, "the name has no address");
        match destination.transport {
            Transport::Udp => {
                let address = *addresses.first().ok_or_else(no_address)?;
                let local: SocketAddr = if address.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let socket = UdpSocket::bind(local)?;
                socket.set_nonblocking(true)?;
                Ok(Link::Udp(socket, address))
            }
            Transport::Tcp => {
                let mut last = no_address();
                for address in addresses {
                    match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
                        Ok(stream) => {
                            stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
                            stream.set_nodelay(true)?;
                            return Ok(Link::Tcp(stream));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// A TCP server that closed its end: writing would only feed a dead
    /// socket (the first write after a close still succeeds).
    fn closed_by_peer(&self) -> bool {
        let Link::Tcp(stream) = self else {
            return false;
        };
        if stream.set_nonblocking(true).is_err() {
            return true;
        }
        let peeked = stream.peek(&mut [0u8; 1]);
        let restored = stream.set_nonblocking(false);
        match peeked {
            Ok(0) => true,
            Ok(_) => restored.is_err(),
            Err(e) => e.kind() != io::ErrorKind::WouldBlock || restored.is_err(),
        }
    }

    /// Sends a batch. UDP drops what the kernel refuses; TCP writes the
    /// batch whole or fails, and the caller reconnects.
    fn send(&mut self, batch: &[Datagram], stats: &Stats) -> io::Result<()> {
        match self {
            Link::Udp(socket, address) => {
                for (i, datagram) in batch.iter().enumerate() {
                    match socket.send_to(&datagram.bytes, *address) {
                        Ok(_) => stats.sent.fetch_add(datagram.lines, Ordering::Relaxed),
                        // The socket buffer is full: fire and forget.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            stats.dropped.fetch_add(datagram.lines, Ordering::Relaxed)
                        }
                        Err(e) => {
                            let rest: u64 = batch[i..].iter().map(|d| d.lines).sum();
                            stats.dropped.fetch_add(rest, Ordering::Relaxed);
                            return Err(e);
                        }
                    };
                }
                Ok(())
            }
            Link::Tcp(stream) => {
                let bytes: Vec<u8> = batch.iter().flat_map(|d| &d.bytes).copied().collect();
                let lines: u64 = batch.iter().map(|d| d.lines).sum();
                match stream.write_all(&bytes) {
                    Ok(()) => {
                        stats.sent.fetch_add(lines, Ordering::Relaxed);
                        Ok(())
                    }
                    Err(e) => {
                        stats.dropped.fetch_add(lines, Ordering::Relaxed);
                        Err(e)
                    }
                }
            }
        }
    }
}

/// Says every [`DROP_REPORT`] how many lines were dropped meanwhile, if any:
/// a server down for long is not one line at its start and one at its end.
struct DropReport {
    next: Instant,
    dropped: u64,
}

impl DropReport {
    fn new() -> DropReport {
        DropReport {
            next: Instant::now() + DROP_REPORT,
            dropped: 0,
        }
    }

    fn due(&mut self, destination: &StatsdDestination, stats: &Stats) {
        if Instant::now() < self.next {
            return;
        }
        let dropped = stats.dropped.load(Ordering::Relaxed);
        if dropped > self.dropped {
            warn!(
                "statsd: {} metric lines to {destination} dropped in the last {} s",
                dropped - self.dropped,
                DROP_REPORT.as_secs()
            );
        }
        *self = DropReport {
            next: Instant::now() + DROP_REPORT,
            dropped,
        };
    }
}

struct Backoff {
    delay: Duration,
    next: Instant,
    failures: u32,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            delay: BACKOFF_FIRST,
            next: Instant::now(),
            failures: 0,
        }
    }

    fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    fn failed(&mut self) {
        self.next = Instant::now() + self.delay;
        self.delay = (self.delay * 2).min(BACKOFF_LAST);
        self.failures += 1;
    }

    fn reset(&mut self) {
        self.delay = BACKOFF_FIRST;
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_limit_and_resets() {
        let mut backoff = Backoff::new();
        assert!(backoff.due());
        let mut delays = Vec::new();
        for _ in 0..7 {
            delays.push(backoff.delay);
            backoff.failed();
        }
        assert!(!backoff.due());
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!((backoff.delay, backoff.failures), (BACKOFF_FIRST, 0));
    }

    #[test]
    fn an_unreachable_server_costs_only_drops() {
        // A port nothing listens on: connecting is refused at once.
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let stats = Arc::new(Stats::default());
        let destination = StatsdDestination {
            transport: Transport::Tcp,
            host: "127.0.0.1".into(),
            port,
        };
        let (queue, done) = spawn(destination, 4, stats.clone()).unwrap();
        for _ in 0..3 {
            let batch = vec![Datagram {
                bytes: b"a:1|c\nb:2|c\n".to_vec(),
                lines: 2,
            }];
            queue.send(batch).unwrap();
        }
        drop(queue);
        done.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(stats.sent.load(Ordering::Relaxed), 0);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 6);
    }
}
