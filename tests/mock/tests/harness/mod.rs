//! Starts `sluice-mock` on an ephemeral port and talks HTTP/1.1 to it over a plain
//! `TcpStream`, with a timeout on every read.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Upper bound for any single read in these tests.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A running mock, killed on drop.
pub struct Mock {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Mock {
    /// Spawns the binary with `args` plus `--listen 127.0.0.1:0` and waits for its
    /// `LISTENING` line.
    pub fn start(args: &[&str]) -> Mock {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice-mock"))
            .args(["--listen", "127.0.0.1:0", "--workers", "2"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sluice-mock");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("sluice-mock did not print LISTENING in time");
            }
        };
        let addr = line
            .strip_prefix("LISTENING ")
            .and_then(|a| a.trim_end().parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("unexpected first line {line:?}")
            });
        Mock { child, addr }
    }

    /// One request on a fresh connection (`Connection: close`).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Exchange {
        exchange(self.addr, method, path, headers, body, READ_TIMEOUT)
    }

    /// POST a JSON body.
    pub fn post(&self, path: &str, body: &str) -> Exchange {
        self.call("POST", path, &[], body.as_bytes())
    }

    /// GET.
    pub fn get(&self, path: &str) -> Exchange {
        self.call("GET", path, &[], b"")
    }

    /// Installs a scenario at runtime.
    pub fn set_scenario(&self, json: &str) {
        let r = self.post("/_mock/scenario", json);
        assert_eq!(r.status(), 200, "{}", r.body_str());
    }

    /// `/_mock/stats` parsed.
    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_slice(&self.get("/_mock/stats").body).expect("stats JSON")
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixtures directory, or `None` (tests that need it then skip).
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SLUICE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    if dir.join("openai").is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: fixtures not found at {}", dir.display());
        None
    }
}

/// How the server side ended the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Orderly close after the response.
    Eof,
    /// Connection reset.
    Reset,
    /// Nothing arrived within the timeout.
    TimedOut,
}

/// Raw bytes received, how the connection ended, and the parsed response.
#[derive(Debug)]
pub struct Exchange {
    /// Everything received.
    pub raw: Vec<u8>,
    /// How reading stopped.
    pub ending: Ending,
    /// Status, or 0 if no status line arrived.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Decoded body (chunked decoded), possibly partial.
    pub body: Vec<u8>,
    /// Transfer-encoding chunk sizes, in order (empty for length-delimited bodies).
    pub chunks: Vec<usize>,
    /// Whether the body was complete (terminal chunk or full content-length).
    pub complete: bool,
}

impl Exchange {
    /// Status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Body as UTF-8 (lossy).
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body_str()))
    }
}

/// Sends one request and reads until the server closes, resets, or `timeout` passes
/// without data.
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Exchange {
    let mut stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    stream
        .set_write_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let ending = loop {
        match stream.read(&mut buf) {
            Ok(0) => break Ending::Eof,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break Ending::TimedOut
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break Ending::Reset,
        }
    };
    parse(raw, ending)
}

fn parse(raw: Vec<u8>, ending: Ending) -> Exchange {
    let mut ex = Exchange {
        raw,
        ending,
        status: 0,
        headers: Vec::new(),
        body: Vec::new(),
        chunks: Vec::new(),
        complete: false,
    };
    let Some(head_end) = find(&ex.raw, b"\r\n\r\n") else {
        return ex;
    };
    let head = String::from_utf8_lossy(&ex.raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    ex.status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for line in lines {
        if let Some((n, v)) = line.split_once(':') {
            ex.headers
                .push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let rest = ex.raw[head_end + 4..].to_vec();
    if ex.header("transfer-encoding") == Some("chunked") {
        let mut pos = 0;
        while let Some(line_end) = find(&rest[pos..], b"\r\n") {
            let size_str = String::from_utf8_lossy(&rest[pos..pos + line_end]).into_owned();
            let Ok(size) = usize::from_str_radix(size_str.trim(), 16) else {
                break;
            };
            let start = pos + line_end + 2;
            if size == 0 {
                ex.complete = true;
                break;
            }
            let end = (start + size).min(rest.len());
            ex.body.extend_from_slice(&rest[start..end]);
            ex.chunks.push(end - start);
            if start + size + 2 > rest.len() {
                break;
            }
            pos = start + size + 2;
        }
    } else {
        let len: Option<usize> = ex.header("content-length").and_then(|v| v.parse().ok());
        ex.body = rest;
        ex.complete = len.is_none_or(|l| ex.body.len() == l);
    }
    ex
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Splits an SSE body into events (after each blank line, `\n\n` or `\r\n\r\n`).
pub fn sse_events(body: &str) -> Vec<&str> {
    let mut events = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let lf = rest.find("\n\n").map(|i| i + 2);
        let crlf = rest.find("\r\n\r\n").map(|i| i + 4);
        let end = match (lf, crlf) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => rest.len(),
        };
        events.push(&rest[..end]);
        rest = &rest[end..];
    }
    events
}
