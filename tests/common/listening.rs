//! Child processes that listen on loopback ports, without a port race.
//!
//! `sluice` (Pingora, axum, tonic) and nginx cannot report a port they picked themselves,
//! so the harness picks currently free ports and hands them over. Another process may take
//! one between the pick and the child's bind; the harness notices (the child says "address
//! already in use", or exits) and starts again on fresh ports. A child counts as started
//! only once `/proc` shows it — not some other process — listening on every port it was
//! given, so a test never talks to a stranger that holds one of its ports.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::wait::{poll_for, PATIENCE};
use super::Proc;

/// How many times a start is retried on fresh ports before the test gives up.
const ATTEMPTS: usize = 5;

/// Whether a child's stderr is also forwarded to the test's output as it arrives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Forward every line (prefixed with the process name).
    Forward,
    /// Only keep it (for tests that read it, e.g. to look for panics).
    Keep,
}

/// Everything a child wrote to stderr so far.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<String>>);

impl Log {
    /// The text so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the text so far contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(needle)
    }

    /// Whether the child reported a port taken by someone else: Rust's io error and nginx
    /// say "Address already in use"; Pingora warns "<addr> is in use, will try again"
    /// (and keeps the process alive) and finally fails "... still in use".
    fn port_taken(&self) -> bool {
        let text = self.text().to_ascii_lowercase();
        ["already in use", "is in use", "still in use"]
            .iter()
            .any(|phrase| text.contains(phrase))
    }

    /// Collects `stderr` line by line on a thread that ends at EOF (the child's exit).
    fn collect(stderr: ChildStderr, name: &str, echo: Echo) -> (Log, JoinHandle<()>) {
        let log = Log::default();
        let sink = log.clone();
        let name = name.to_string();
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr);
            let mut raw = Vec::new();
            while matches!(lines.read_until(b'\n', &mut raw), Ok(n) if n > 0) {
                let line = String::from_utf8_lossy(&raw);
                if echo == Echo::Forward {
                    eprint!("[{name}] {line}");
                }
                sink.0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&line);
                raw.clear();
            }
        });
        (log, reader)
    }
}

/// A child process listening on the ports it was given.
pub struct Listening {
    /// The process (killed on drop).
    pub proc: Proc,
    /// Its ports, in the order the command builder received them.
    pub ports: Vec<u16>,
    /// Its stderr.
    pub log: Log,
    /// Stderr of the earlier attempts that found a port taken (what they printed before
    /// binding, e.g. a generated key, is only there).
    pub earlier: Vec<Log>,
}

/// Starts the command `command` builds for `ports` fresh loopback ports and waits until
/// the child listens on all of them; starts again on new ports when one was taken. Panics
/// with the child's stderr when it fails for any other reason.
pub fn spawn_listening(
    name: &str,
    ports: usize,
    echo: Echo,
    command: impl FnMut(&[u16]) -> Command,
) -> Listening {
    spawn_listening_on(name, echo, || free_ports(ports), command)
}

/// [`spawn_listening`] with the ports of each attempt from `pick` (a test of the harness
/// hands it a taken port).
pub fn spawn_listening_on(
    name: &str,
    echo: Echo,
    mut pick: impl FnMut() -> Vec<u16>,
    mut command: impl FnMut(&[u16]) -> Command,
) -> Listening {
    let mut earlier = Vec::new();
    for _ in 0..ATTEMPTS {
        let picked = pick();
        let mut cmd = command(&picked);
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let (log, reader) = Log::collect(stderr, name, echo);
        let mut proc = Proc {
            child,
            name: name.to_string(),
        };
        let pid = proc.child.id();
        let outcome = poll_for(PATIENCE, || {
            if log.port_taken() {
                return Some(Start::PortTaken);
            }
            if let Ok(Some(status)) = proc.child.try_wait() {
                return Some(Start::Exited(status));
            }
            listens_on(pid, &picked).then_some(Start::Listening)
        });
        match outcome {
            Some(Start::Listening) => {
                return Listening {
                    proc,
                    ports: picked,
                    log,
                    earlier,
                }
            }
            Some(Start::PortTaken) => {
                eprintln!("[{name}] a port of {picked:?} was taken meanwhile: starting again on fresh ports");
                earlier.push(log);
                continue;
            }
            Some(Start::Exited(status)) => {
                // The whole of stderr is in once the pipe closed (bounded: a grandchild
                // may still hold it).
                poll_for(PATIENCE, || reader.is_finished().then_some(()));
                if log.port_taken() {
                    eprintln!("[{name}] a port of {picked:?} was taken meanwhile: starting again on fresh ports");
                    earlier.push(log);
                    continue;
                }
                drop(proc);
                panic!("{name} exited at start ({status}); stderr:\n{}", log.text());
            }
            None => {
                drop(proc);
                panic!(
                    "{name} did not listen on {picked:?} within {PATIENCE:?}; stderr:\n{}",
                    log.text()
                );
            }
        }
    }
    panic!("{name}: every one of {ATTEMPTS} starts found a port taken");
}

/// How a start attempt ended.
enum Start {
    Listening,
    PortTaken,
    Exited(std::process::ExitStatus),
}

/// `n` distinct loopback ports that are free right now (all bound at once, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// Whether process `pid` itself holds a listening TCP socket on each of `ports` (any
/// address): its socket inodes from `/proc/<pid>/fd`, matched against LISTEN entries of
/// `/proc/<pid>/net/tcp{,6}`.
pub fn listens_on(pid: u32, ports: &[u16]) -> bool {
    let listening = listening_ports(pid);
    ports.iter().all(|p| listening.contains(p))
}

fn listening_ports(pid: u32) -> HashSet<u16> {
    let mut owned = HashSet::new();
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let target = target.to_string_lossy();
                if let Some(inode) = target
                    .strip_prefix("socket:[")
                    .and_then(|t| t.strip_suffix(']'))
                {
                    owned.insert(inode.to_string());
                }
            }
        }
    }
    let mut ports = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if *state != "0A" || !owned.contains(*inode) {
                continue;
            }
            if let Some(port) = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
            {
                ports.insert(port);
            }
        }
    }
    ports
}
