//! An in-process StatsD server for the tests: UDP or TCP on 127.0.0.1, a
//! strict reader of every line (anything but `name:value|c` or
//! `name:value|g` with a clean name is an error), and the totals a StatsD
//! server would compute.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server received so far.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// Size in bytes of every datagram (UDP).
    pub datagrams: Vec<usize>,
    /// Lines per datagram (UDP).
    pub lines_per_datagram: Vec<usize>,
    /// Connections accepted (TCP).
    pub connections: usize,
    /// Counter name → every value received.
    pub counters: BTreeMap<String, Vec<i64>>,
    /// Gauge name → the value of every update (a relative `-N|g` adjusts
    /// the update that the absolute line before it started).
    pub gauges: BTreeMap<String, Vec<i64>>,
    pub errors: Vec<String>,
}

impl Received {
    /// The total a StatsD server would keep: the sum of the counter's values.
    pub fn counter_total(&self, name: &str) -> Option<i64> {
        self.counters.get(name).map(|v| v.iter().sum())
    }

    /// The sum of a gauge's values over its updates: for a per-interval
    /// gauge, the events of the whole run.
    pub fn gauge_sum(&self, name: &str) -> Option<i64> {
        self.gauges.get(name).map(|v| v.iter().sum())
    }

    /// Every metric name received, counters and gauges.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.counters.keys().chain(self.gauges.keys())
    }

    fn line(&mut self, line: &str) {
        if let Err(why) = self.parse(line) {
            self.errors.push(format!("{why}: {line:?}"));
        }
    }

    fn parse(&mut self, line: &str) -> Result<(), &'static str> {
        let (name, rest) = line.split_once(':').ok_or("no `:`")?;
        let (value, kind) = rest.split_once('|').ok_or("no `|`")?;
        let clean = |word: &str| {
            !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        if !name.split('.').all(clean) {
            return Err("name is not dot-separated words of [A-Za-z0-9_]");
        }
        let number: i64 = value.parse().map_err(|_| "value is not an integer")?;
        match kind {
            "c" if number >= 0 && !value.starts_with('+') => {
                self.counters.entry(name.into()).or_default().push(number);
            }
            "g" => {
                let updates = self.gauges.entry(name.into()).or_default();
                if value.starts_with(['+', '-']) {
                    *updates
                        .last_mut()
                        .ok_or("relative gauge before any value")? += number;
                } else {
                    updates.push(number);
                }
            }
            _ => return Err("not a counter (non-negative) or a gauge"),
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    Tcp,
}

/// The server; stops on drop.
pub struct Server {
    pub protocol: Protocol,
    pub port: u16,
    received: Arc<Mutex<Received>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Listens on a free port.
    pub fn start(protocol: Protocol) -> Server {
        Server::listen(protocol, 0, Arc::default())
    }

    fn listen(protocol: Protocol, port: u16, received: Arc<Mutex<Received>>) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let (port, thread) = match protocol {
            Protocol::Udp => {
                let socket = UdpSocket::bind(("127.0.0.1", port)).expect("bind UDP");
                let port = socket.local_addr().unwrap().port();
                socket
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                let (received, stop) = (received.clone(), stop.clone());
                (
                    port,
                    std::thread::spawn(move || udp(&socket, &received, &stop)),
                )
            }
            Protocol::Tcp => {
                let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind TCP");
                let port = listener.local_addr().unwrap().port();
                listener.set_nonblocking(true).unwrap();
                let (received, stop) = (received.clone(), stop.clone());
                (
                    port,
                    std::thread::spawn(move || tcp(&listener, &received, &stop)),
                )
            }
        };
        Server {
            protocol,
            port,
            received,
            stop,
            threads: vec![thread],
        }
    }

    /// `udp://127.0.0.1:PORT` or `tcp://…`, for `--statsd`.
    pub fn destination(&self) -> String {
        let scheme = match self.protocol {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Received {
        self.received.lock().unwrap().clone()
    }

    /// Polls until `done` holds; false on timeout.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&Received) -> bool) -> bool {
        crate::poll(timeout, Duration::from_millis(50), || {
            done(&self.received.lock().unwrap())
        })
    }

    /// Closes the socket and every connection: the server is gone.
    pub fn close(mut self) -> (u16, Arc<Mutex<Received>>) {
        self.shut();
        (self.port, self.received.clone())
    }

    /// Listens again on the port a closed server had, keeping what it received.
    pub fn reopen(protocol: Protocol, (port, received): (u16, Arc<Mutex<Received>>)) -> Server {
        Server::listen(protocol, port, received)
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            thread.join().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

fn udp(socket: &UdpSocket, received: &Mutex<Received>, stop: &AtomicBool) {
    let mut buffer = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let n = match socket.recv(&mut buffer) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => panic!("UDP receive: {e}"),
        };
        let mut received = received.lock().unwrap();
        received.datagrams.push(n);
        match std::str::from_utf8(&buffer[..n]) {
            Ok(text) if text.ends_with('\n') => {
                received.lines_per_datagram.push(text.lines().count());
                text.lines().for_each(|line| received.line(line));
            }
            _ => received.errors.push(format!(
                "a datagram that is not whole lines: {:?}",
                &buffer[..n]
            )),
        }
    }
}

fn tcp(listener: &TcpListener, received: &Arc<Mutex<Received>>, stop: &Arc<AtomicBool>) {
    let mut connections: Vec<(TcpStream, JoinHandle<()>)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                received.lock().unwrap().connections += 1;
                let reader = stream.try_clone().unwrap();
                let (received, stop) = (received.clone(), stop.clone());
                let thread = std::thread::spawn(move || read_lines(reader, &received, &stop));
                connections.push((stream, thread));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("TCP accept: {e}"),
        }
    }
    for (stream, thread) in connections {
        let _ = stream.shutdown(Shutdown::Both);
        thread.join().unwrap();
    }
}

fn read_lines(stream: TcpStream, received: &Mutex<Received>, stop: &AtomicBool) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        match reader.read_line(&mut line) {
            // End of stream: a line without its newline was cut.
            Ok(0) => break,
            Ok(_) if line.ends_with('\n') => {
                received.lock().unwrap().line(line.trim_end_matches('\n'));
                line.clear();
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // read_line keeps what it read so far in `line`.
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    if !line.is_empty() && !stop.load(Ordering::Relaxed) {
        received
            .lock()
            .unwrap()
            .errors
            .push(format!("connection ended inside a line: {line:?}"));
    }
}
