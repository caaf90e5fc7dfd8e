//! A real `redis-server` on a loopback port for the tests of the shared rate store: no
//! persistence (`--save "" --appendonly no`), its log on stderr, killed on drop. It can be
//! killed and restarted on the same port mid-test (the data planes keep its address), and
//! spoken to with a minimal RESP client (`PING`, `FLUSHALL`, `KEYS`, `TTL`, ...).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::listening::{spawn_listening, spawn_listening_on, Echo, Listening};
use super::tempdir;
use super::wait::wait_until;

/// Where the Debian package puts the server.
const DEBIAN_PATH: &str = "/usr/bin/redis-server";

/// A running (or, between [`RedisServer::kill`] and [`RedisServer::restart`], stopped)
/// `redis-server` on `127.0.0.1:port`.
pub struct RedisServer {
    /// The process while it runs (killed on drop).
    proc: Option<Listening>,
    /// Its port; kept across a restart.
    pub port: u16,
    /// Its working directory (nothing is written there: persistence is off).
    dir: PathBuf,
    /// The binary.
    binary: PathBuf,
}

/// A RESP reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR ...`
    Error(String),
    /// `:1`
    Int(i64),
    /// `$n ...` (`None`: the null bulk string)
    Bulk(Option<String>),
    /// `*n ...`
    Array(Vec<Reply>),
}

impl RedisServer {
    /// The `redis-server` binary (`/usr/bin/redis-server`, else the one on `PATH`).
    pub fn binary() -> Option<PathBuf> {
        if std::path::Path::new(DEBIAN_PATH).is_file() {
            return Some(PathBuf::from(DEBIAN_PATH));
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("redis-server"))
                .find(|p| p.is_file())
        })
    }

    /// Starts a server on a free port and waits until it answers `PING`; `None` (after a
    /// loud notice) when `redis-server` is not installed.
    pub fn start() -> Option<RedisServer> {
        let Some(binary) = Self::binary() else {
            assert!(
                std::env::var_os("SLUICE_REQUIRE_REDIS").is_none_or(|v| v != "1"),
                "redis-server not found and SLUICE_REQUIRE_REDIS=1 (CI): apt-get install redis-server"
            );
            eprintln!(
                "\n!!! SKIPPED: redis-server not found (apt-get install redis-server; tests/run.sh installs it) !!!\n"
            );
            return None;
        };
        let dir = tempdir();
        let proc = spawn_listening("redis", 1, Echo::Keep, |ports| {
            Self::command(&binary, &dir, ports[0])
        });
        let port = proc.ports[0];
        let server = RedisServer {
            proc: Some(proc),
            port,
            dir,
            binary,
        };
        server.wait_pong();
        Some(server)
    }

    fn command(binary: &std::path::Path, dir: &std::path::Path, port: u16) -> Command {
        let mut cmd = Command::new(binary);
        cmd.args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            // Its log goes to stderr, where the harness looks for "Address already in use".
            .args(["--logfile", "/dev/stderr"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null());
        cmd
    }

    /// `redis://127.0.0.1:<port>/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Whether the server runs.
    pub fn running(&self) -> bool {
        self.proc.as_ref().is_some_and(|p| p.proc.alive())
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits until the port
    /// refuses connections.
    pub fn kill(&mut self) {
        drop(self.proc.take());
        let port = self.port;
        wait_until(
            || TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the killed redis-server's port to refuse connections",
        );
    }

    /// Starts the server again on the same port (empty: nothing was persisted) and waits
    /// for `PING`.
    pub fn restart(&mut self) {
        if self.proc.is_some() {
            self.kill();
        }
        let (binary, dir, port) = (self.binary.clone(), self.dir.clone(), self.port);
        let proc = spawn_listening_on(
            "redis",
            Echo::Keep,
            || vec![port],
            |ports| Self::command(&binary, &dir, ports[0]),
        );
        self.proc = Some(proc);
        self.wait_pong();
    }

    fn wait_pong(&self) {
        wait_until(
            || matches!(self.try_command(&["PING"]), Ok(Reply::Status(s)) if s == "PONG"),
            "redis-server to answer PING",
        );
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.proc.as_ref().map(|p| p.log.text()).unwrap_or_default()
    }

    /// Sends one command; panics on a connection or protocol error.
    pub fn command_reply(&self, args: &[&str]) -> Reply {
        self.try_command(args)
            .unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    /// Every key matching `pattern` (`KEYS`: fine for a test's tiny database).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        match self.command_reply(&["KEYS", pattern]) {
            Reply::Array(items) => items
                .into_iter()
                .filter_map(|r| match r {
                    Reply::Bulk(Some(s)) => Some(s),
                    _ => None,
                })
                .collect(),
            other => panic!("KEYS {pattern}: {other:?}"),
        }
    }

    /// `TTL key` in seconds (-1: no expiry; -2: no such key).
    pub fn ttl(&self, key: &str) -> i64 {
        match self.command_reply(&["TTL", key]) {
            Reply::Int(n) => n,
            other => panic!("TTL {key}: {other:?}"),
        }
    }

    /// `FLUSHALL`: forgets every counter.
    pub fn flushall(&self) {
        assert_eq!(
            self.command_reply(&["FLUSHALL"]),
            Reply::Status("OK".into())
        );
    }

    /// One command over a fresh connection (bounded by a 5 s timeout).
    pub fn try_command(&self, args: &[&str]) -> std::io::Result<Reply> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        stream.write_all(&req)?;
        read_reply(&mut BufReader::new(stream))
    }
}

fn protocol(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

fn read_reply(r: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']);
    let mut chars = line.chars();
    let kind = chars.next().ok_or_else(|| protocol("empty reply".into()))?;
    let rest: String = chars.collect();
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|e| protocol(format!("bad number {s:?}: {e}")))
    };
    Ok(match kind {
        '+' => Reply::Status(rest),
        '-' => Reply::Error(rest),
        ':' => Reply::Int(num(&rest)?),
        '$' => {
            let n = num(&rest)?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let mut buf = vec![0u8; n as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n as usize);
                Reply::Bulk(Some(String::from_utf8_lossy(&buf).into_owned()))
            }
        }
        '*' => {
            let n = num(&rest)?;
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                items.push(read_reply(r)?);
            }
            Reply::Array(items)
        }
        other => return Err(protocol(format!("unknown reply type {other:?}: {line}"))),
    })
}
