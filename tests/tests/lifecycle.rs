//! How the collector ends and survives: SIGTERM, SIGKILL of the supervisor,
//! Netdata closing the pipes, a worker dying. After each, no program or map
//! of ours is left in the kernel. These tests compare the kernel's whole
//! program and map lists, so they run one at a time.

use std::io::{BufRead, BufReader, Write};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tests::kernel::{assert_back_to, snapshot, Snapshot};
use tests::protocol::Stream;
use tests::{
    assert_netdata_keeps_everything, children, gone, require_root, scaled, workers_of, Collector,
};

static SERIAL: Mutex<()> = Mutex::new(());

/// This file's tests one at a time, as root, and the kernel's programs
/// and maps before the test; `None` when it cannot run (`require_root`
/// says why).
fn exclusive(what: &str) -> Option<(MutexGuard<'static, ()>, Snapshot)> {
    if !require_root(what) {
        return None;
    }
    let serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Some((serial, snapshot()))
}

const ALL: &[&str] = &["--process", "--sync", "--return", "--update-every", "1"];

fn running_with_workers(args: &[&str], workers: usize) -> (Collector, Vec<u32>) {
    let collector = Collector::start(args, &[]);
    collector.wait_attached("system.exit");
    collector.wait_attached("mem.file_sync");
    let pids = children(collector.pid());
    assert_eq!(pids.len(), workers, "workers: {pids:?}");
    (collector, pids)
}

#[test]
fn sigterm_ends_every_process_within_a_second_and_leaves_nothing() {
    let Some((_serial, before)) = exclusive("SIGTERM") else {
        return;
    };
    let (collector, workers) = running_with_workers(ALL, 2);
    let supervisor = collector.pid();
    let start = Instant::now();
    kill(Pid::from_raw(supervisor as i32), Signal::SIGTERM).unwrap();
    let (status, stream) = collector.terminate();
    let elapsed = start.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        workers.iter().all(|w| gone(*w)),
        "workers outlived the supervisor"
    );
    assert!(elapsed < scaled(Duration::from_secs(1)), "took {elapsed:?}");
    assert!(stream.exited, "no EXIT line");
    assert_eq!(stream.errors, Vec::<String>::new());
    assert_back_to(&before);
}

#[test]
fn sigkill_of_the_supervisor_takes_the_workers_and_leaves_nothing() {
    let Some((_serial, before)) = exclusive("SIGKILL") else {
        return;
    };
    let (mut collector, workers) = running_with_workers(ALL, 2);
    collector.child().kill().unwrap();
    collector.child().wait().unwrap();
    let deadline = Instant::now() + scaled(Duration::from_secs(1));
    while !workers.iter().all(|w| gone(*w)) {
        assert!(
            Instant::now() < deadline,
            "workers outlived a killed supervisor"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_back_to(&before);
}

#[test]
fn a_closed_stdout_or_stdin_ends_the_collector_cleanly() {
    let Some((_serial, before)) = exclusive("EPIPE") else {
        return;
    };
    for close in ["stdout", "stdin"] {
        let mut child = Command::new(tests::collector_bin())
            .args(["run", "--output", "netdata", "--config-dir", "/nonexistent"])
            .args(ALL)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        match close {
            "stdout" => drop(child.stdout.take()),
            _ => drop(child.stdin.take()),
        }
        let deadline = Instant::now() + scaled(Duration::from_secs(3));
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {close} closed"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "closed {close}: {status}");
    }
    assert_back_to(&before);
}

#[test]
fn a_killed_worker_is_restarted_and_its_counters_never_go_back() {
    let Some((_serial, before)) = exclusive("worker restart") else {
        return;
    };
    let (collector, workers) = running_with_workers(ALL, 2);
    let updates = |s: &Stream| s.chart("mem.file_sync").map_or(0, |c| c.updates);
    for worker in &workers {
        kill(Pid::from_raw(*worker as i32), Signal::SIGKILL).unwrap();
    }
    let seen = updates(&collector.stream());
    assert!(
        collector.wait_until(scaled(Duration::from_secs(10)), |s| updates(s) >= seen + 3),
        "no data after the restart; stderr:\n{}",
        collector.stderr()
    );
    let restarted = children(collector.pid());
    assert_eq!(restarted.len(), 2);
    assert!(restarted.iter().all(|p| !workers.contains(p)));
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_netdata_keeps_everything(&stream);
    assert_eq!(stream.errors, Vec::<String>::new());
    assert_back_to(&before);
}

/// The collector run as Netdata runs it, with a pipe on its stdin: the
/// process, and its stream as parsed so far.
fn spawn_with_stdin(config_dir: &str, args: &[&str]) -> (std::process::Child, Arc<Mutex<Stream>>) {
    let mut child = Command::new(tests::collector_bin())
        .args(["run", "--output", "netdata", "--config-dir", config_dir])
        .args(args)
        .args(["--update-every", "1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stream = Arc::new(Mutex::new(Stream::new()));
    let stdout = child.stdout.take().unwrap();
    let feeding = stream.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            feeding.lock().unwrap().feed(&line.unwrap());
        }
    });
    (child, stream)
}

/// Whether `done` holds of the stream within 20 s (scaled).
fn wait_for(stream: &Mutex<Stream>, done: &dyn Fn(&Stream) -> bool) -> bool {
    tests::poll(
        scaled(Duration::from_secs(20)),
        Duration::from_millis(50),
        || done(&stream.lock().unwrap()),
    )
}

/// What Netdata writes on our stdin: Function requests get their answers
/// (here 503, the network viewer being off, and 404), garbage is logged
/// and skipped, none of it stalls collection, and the end of stdin still
/// ends the collector cleanly.
#[test]
fn lines_on_stdin_are_answered_or_skipped_without_stalling_collection() {
    let Some((_serial, before)) = exclusive("stdin requests") else {
        return;
    };
    let (mut child, stream) = spawn_with_stdin("/nonexistent", &["--sync"]);
    let updates = |s: &Stream| s.chart("mem.file_sync").map_or(0, |c| c.updates);
    let wait = |done: &dyn Fn(&Stream) -> bool| wait_for(&stream, done);
    assert!(wait(&|s| updates(s) >= 1), "no data");
    let mut stdin = child.stdin.take().unwrap();
    let garbage = "x".repeat(100_000);
    write!(
        stdin,
        "HELLO there\n\n\u{1}\u{2}\nFUNCTION\nFUNCTION t0 ten \"network-connections\"\n\
         {garbage}\nFUNCTION t1 10 \"network-connections\"\nFUNCTION t2 10 \"processes\"\n"
    )
    .unwrap();
    stdin.flush().unwrap();
    assert!(
        wait(&|s| s.results.len() >= 3),
        "no answers: {:?}",
        stream.lock().unwrap().results
    );
    let seen = updates(&stream.lock().unwrap());
    assert!(wait(&|s| updates(s) >= seen + 2), "collection stalled");
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    // Its stdout closed with its exit: the stream is whole once read.
    assert!(wait(&|s| s.exited), "no end of stream");
    let stream = stream.lock().unwrap();
    assert_eq!(stream.errors, Vec::<String>::new());
    assert!(stream.exited);
    assert!(stream.functions.is_empty(), "{:?}", stream.functions);
    let answers: Vec<(&str, u16, &str)> = stream
        .results
        .iter()
        .map(|r| (r.transaction.as_str(), r.status, r.content_type.as_str()))
        .collect();
    assert_eq!(
        answers,
        [
            ("t0", 400, "application/json"),
            ("t1", 503, "application/json"),
            ("t2", 404, "application/json"),
        ]
    );
    assert!(
        stream.results[1].body.contains("The network viewer is off"),
        "{}",
        stream.results[1].body
    );
    assert_back_to(&before);
}

/// The network-connections Function when the socket worker cannot answer:
/// 504 when it does not answer in time (stopped), 503 when it is not
/// running (killed, its restart far off); and 200 from a running one.
#[test]
fn a_function_request_its_worker_cannot_answer_gets_504_or_503() {
    let Some((_serial, before)) = exclusive("Function errors") else {
        return;
    };
    let config = tests::TempDir::new("function-errors");
    config.write(
        "ebpf.d.conf",
        "[ebpf programs]\n    network connections = yes\n\
         [supervisor]\n    restart delay ms = 600000\n",
    );
    let (mut child, stream) = spawn_with_stdin(config.0.to_str().unwrap(), &["--socket"]);
    let wait = |done: &dyn Fn(&Stream) -> bool| wait_for(&stream, done);
    assert!(
        wait(&|s| s.functions.contains_key("network-connections")
            && s.chart("ip.tcp_functions").is_some_and(|c| c.updates >= 1)),
        "no Function registered, or no data"
    );
    let worker = workers_of(child.id(), "socket")
        .next()
        .expect("the socket worker");
    let mut stdin = child.stdin.take().unwrap();
    let mut ask = |transaction: &str, timeout: u32| {
        writeln!(
            stdin,
            "FUNCTION {transaction} {timeout} \"network-connections\""
        )
        .unwrap();
        stdin.flush().unwrap();
        let answered = |s: &Stream| s.results.iter().any(|r| r.transaction == transaction);
        assert!(wait(&answered), "no answer to {transaction}");
        let stream = stream.lock().unwrap();
        let result = stream
            .results
            .iter()
            .find(|r| r.transaction == transaction)
            .unwrap();
        (result.status, result.body.clone())
    };
    assert_eq!(ask("running", 10).0, 200);
    kill(Pid::from_raw(worker as i32), Signal::SIGSTOP).unwrap();
    let (status, body) = ask("stopped", 2);
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("did not answer in time"), "{body}");
    kill(Pid::from_raw(worker as i32), Signal::SIGKILL).unwrap();
    // Reaped: the supervisor saw the death (a zombie would still be
    // asked, and time out).
    let reaped = || !std::path::Path::new(&format!("/proc/{worker}")).exists();
    assert!(
        tests::poll(
            scaled(Duration::from_secs(10)),
            Duration::from_millis(20),
            reaped
        ),
        "the worker was not reaped"
    );
    let (status, body) = ask("killed", 10);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("is not running"), "{body}");
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert_back_to(&before);
}
