//! A raw HTTP/1.1 client over `TcpStream` for the attack tests: it sends exactly the bytes
//! a test gives it (malformed ones included) and parses whatever comes back strictly, so a
//! test can tell a complete answer from a cut one and a clean close from a reset.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One parsed HTTP response.
#[derive(Debug, Clone)]
pub struct RawResp {
    /// Status code.
    pub status: u16,
    /// Header lines (name, value) in order.
    pub headers: Vec<(String, String)>,
    /// De-chunked body.
    pub body: Vec<u8>,
}

impl RawResp {
    /// Header value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The start of the body as text (for messages: answers under attack can be huge).
    pub fn snippet(&self) -> String {
        let t = String::from_utf8_lossy(&self.body[..self.body.len().min(400)]).into_owned();
        if self.body.len() > 400 {
            format!("{t}... ({} bytes)", self.body.len())
        } else {
            t
        }
    }

    /// Body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                self.snippet()
            )
        })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses one response at the start of `buf`.
/// `Ok(None)`: not complete yet (more bytes needed; with `eof` a body delimited by the
/// close is complete). `Err`: the bytes are not an HTTP response.
pub fn parse_response(
    buf: &[u8],
    eof: bool,
    head_request: bool,
) -> Result<Option<(RawResp, usize)>, String> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
            return Err(format!(
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&buf[..buf.len().min(80)])
            ));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for l in lines {
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| format!("bad header line {l:?}"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let body_start = head_end + 4;
    let mk = |body: Vec<u8>| RawResp {
        status,
        headers: headers.clone(),
        body,
    };
    if (100..200).contains(&status) || status == 204 || status == 304 || head_request {
        return Ok(Some((mk(Vec::new()), body_start)));
    }
    if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        let mut i = body_start;
        let mut body = Vec::new();
        loop {
            let Some(le) = find(&buf[i..], b"\r\n") else {
                return Ok(None);
            };
            let size_txt = std::str::from_utf8(&buf[i..i + le]).map_err(|e| e.to_string())?;
            let size_txt = size_txt.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_txt, 16)
                .map_err(|_| format!("bad chunk size {size_txt:?}"))?;
            i += le + 2;
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                let Some(te) = find(&buf[i..], b"\r\n") else {
                    return Ok(None);
                };
                if te != 0 {
                    let Some(end) = find(&buf[i..], b"\r\n\r\n") else {
                        return Ok(None);
                    };
                    return Ok(Some((mk(body), i + end + 4)));
                }
                return Ok(Some((mk(body), i + 2)));
            }
            if buf.len() < i + size + 2 {
                return Ok(None);
            }
            body.extend_from_slice(&buf[i..i + size]);
            if &buf[i + size..i + size + 2] != b"\r\n" {
                return Err("chunk not followed by CRLF".into());
            }
            i += size + 2;
        }
    }
    if let Some(cl) = get("content-length") {
        let n: usize = cl
            .parse()
            .map_err(|_| format!("bad content-length {cl:?}"))?;
        if buf.len() < body_start + n {
            return Ok(None);
        }
        return Ok(Some((
            mk(buf[body_start..body_start + n].to_vec()),
            body_start + n,
        )));
    }
    // Delimited by the close.
    if eof {
        Ok(Some((mk(buf[body_start..].to_vec()), buf.len())))
    } else {
        Ok(None)
    }
}

/// How a connection ended from the client's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The server closed cleanly (read returned 0).
    Eof,
    /// The connection was reset.
    Reset,
    /// Still open when the client gave up waiting.
    StillOpen,
}

/// Everything a connection received: its complete responses, then what was left.
#[derive(Debug)]
pub struct Exchange {
    /// Complete responses, in order (interim 1xx answers included).
    pub responses: Vec<RawResp>,
    /// Bytes after the last complete response (a cut answer when not empty).
    pub trailing: Vec<u8>,
    /// A parse error of the received bytes, if any.
    pub malformed: Option<String>,
    /// How the connection ended.
    pub ending: Ending,
    /// Whether writing the request failed part way (the server closed first).
    pub write_failed: bool,
    /// Every byte received.
    pub raw: Vec<u8>,
}

impl Exchange {
    /// Final (non-1xx) responses.
    pub fn finals(&self) -> Vec<&RawResp> {
        self.responses.iter().filter(|r| r.status >= 200).collect()
    }
}

/// Splits received bytes into responses (`head`: they answer `HEAD` requests, no bodies).
pub fn split_responses(
    all: &[u8],
    eof: bool,
    head: bool,
) -> (Vec<RawResp>, Vec<u8>, Option<String>) {
    let mut at = 0;
    let mut out = Vec::new();
    loop {
        if at >= all.len() {
            return (out, Vec::new(), None);
        }
        match parse_response(&all[at..], eof, head) {
            Ok(Some((r, used))) => {
                out.push(r);
                at += used;
            }
            Ok(None) => return (out, all[at..].to_vec(), None),
            Err(e) => return (out, all[at..].to_vec(), Some(e)),
        }
    }
}

/// Connects to the proxy port on loopback.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the data plane");
    s.set_nodelay(true).ok();
    s
}

/// Reads until the server closes or `cap` passes; returns (bytes, ending).
pub fn read_to_close(s: &mut TcpStream, cap: Duration, max_bytes: usize) -> (Vec<u8>, Ending) {
    let until = Instant::now() + cap;
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || all.len() >= max_bytes {
            return (all, Ending::StillOpen);
        }
        s.set_read_timeout(Some(left.min(Duration::from_millis(500))))
            .ok();
        match s.read(&mut buf) {
            Ok(0) => return (all, Ending::Eof),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (all, Ending::Reset),
        }
    }
}

/// Sends `bytes` on a new connection, then reads everything until the server closes
/// (bounded by `cap`) and splits it into responses.
pub fn exchange(port: u16, bytes: &[u8], cap: Duration) -> Exchange {
    let mut s = connect(port);
    s.set_write_timeout(Some(Duration::from_secs(10))).ok();
    let write_failed = s.write_all(bytes).and_then(|_| s.flush()).is_err();
    let (all, ending) = read_to_close(&mut s, cap, 64 * 1024 * 1024);
    let head = bytes.starts_with(b"HEAD ");
    let (responses, trailing, malformed) = split_responses(&all, ending != Ending::StillOpen, head);
    Exchange {
        responses,
        trailing,
        malformed,
        ending,
        write_failed,
        raw: all,
    }
}

/// A kept-alive client connection that sends requests and reads one response at a time.
pub struct Client {
    /// The connection.
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects; every read waits at most `timeout`.
    pub fn connect(port: u16, timeout: Duration) -> Client {
        let s = connect(port);
        s.set_read_timeout(Some(timeout)).ok();
        s.set_write_timeout(Some(timeout)).ok();
        Client {
            stream: s,
            buf: Vec::new(),
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads the next final response (skipping 1xx).
    pub fn read_response(&mut self) -> Result<RawResp, String> {
        let mut tmp = vec![0u8; 64 * 1024];
        loop {
            if let Some((r, used)) = parse_response(&self.buf, false, false)? {
                self.buf.drain(..used);
                if r.status >= 200 {
                    return Ok(r);
                }
                continue;
            }
            match self.stream.read(&mut tmp) {
                Ok(0) => {
                    // A close-delimited body ends here.
                    return match parse_response(&self.buf, true, false)? {
                        Some((r, used)) => {
                            self.buf.drain(..used);
                            Ok(r)
                        }
                        None => Err(format!(
                            "connection closed after {} bytes of a response",
                            self.buf.len()
                        )),
                    };
                }
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Reads until a complete response head (for streamed answers); returns its status and
    /// headers without waiting for the body.
    pub fn read_head(&mut self) -> Result<RawResp, String> {
        let mut tmp = vec![0u8; 64 * 1024];
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let status = lines
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad head {head:?}"))?;
                let headers = lines
                    .filter_map(|l| {
                        l.split_once(':')
                            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    })
                    .collect();
                return Ok(RawResp {
                    status,
                    headers,
                    body: self.buf[end + 4..].to_vec(),
                });
            }
            match self.stream.read(&mut tmp) {
                Ok(0) => return Err("closed before a response head".into()),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// POSTs a JSON body to `/v1/chat/completions` and reads the answer.
    pub fn chat(&mut self, body: &[u8], extra_headers: &str) -> Result<RawResp, String> {
        self.send(&chat_request(body, extra_headers, false))
            .map_err(|e| format!("write: {e}"))?;
        self.read_response()
    }
}

/// The bytes of a `POST /v1/chat/completions` with a JSON body.
pub fn chat_request(body: &[u8], extra_headers: &str, close: bool) -> Vec<u8> {
    let mut r = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: sluice.test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}{}\r\n",
        body.len(),
        extra_headers,
        if close { "connection: close\r\n" } else { "" }
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// One request on a fresh connection, answer read in full (each read waits at most 60 s).
pub fn one_shot(port: u16, request: &[u8]) -> Result<RawResp, String> {
    let mut c = Client::connect(port, Duration::from_secs(60));
    c.send(request).map_err(|e| format!("write: {e}"))?;
    c.read_response()
}

/// `POST /v1/chat/completions` on a fresh connection.
pub fn post_chat(port: u16, body: &str, extra_headers: &str) -> Result<RawResp, String> {
    one_shot(port, &chat_request(body.as_bytes(), extra_headers, true))
}

/// `GET path` on a fresh connection.
pub fn get(port: u16, path: &str, extra_headers: &str) -> Result<RawResp, String> {
    one_shot(
        port,
        format!(
            "GET {path} HTTP/1.1\r\nhost: sluice.test\r\n{extra_headers}connection: close\r\n\r\n"
        )
        .as_bytes(),
    )
}
