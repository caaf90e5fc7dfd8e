//! Idle upstream connections, kept per (address, TLS, server name) for reuse. Taking one
//! checks, without waiting, that the server has not closed it meanwhile; connections idle
//! longer than the idle timeout are dropped. No task per idle connection: a closed one is
//! found and dropped at the next take or put for its key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use pingora::protocols::Stream;
use tokio::io::{AsyncRead, ReadBuf};

/// An open upstream connection with its read buffer.
pub struct Conn {
    /// The transport (TCP or TLS), from pingora-core's connector.
    pub stream: Stream,
    /// Bytes read from `stream` and not consumed yet.
    pub buf: BytesMut,
}

/// Which connections are interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// Resolved address.
    pub addr: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// SNI / certificate name (TLS only; empty otherwise).
    pub sni: String,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// The idle-connection pool.
pub struct Pool {
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
    max_per_key: usize,
    idle_timeout: Duration,
}

/// `true` if the connection shows nothing to read: a closed or misbehaving connection is
/// readable (EOF, an error, or bytes nobody asked for).
fn still_open(conn: &mut Conn) -> bool {
    if !conn.buf.is_empty() {
        return false;
    }
    let mut cx = Context::from_waker(Waker::noop());
    let mut byte = [0u8; 1];
    let mut rb = ReadBuf::new(&mut byte);
    matches!(
        Pin::new(&mut conn.stream).poll_read(&mut cx, &mut rb),
        Poll::Pending
    )
}

impl Pool {
    /// A pool keeping at most `max_per_key` idle connections per key for `idle_timeout`.
    pub fn new(max_per_key: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: Mutex::new(HashMap::new()),
            max_per_key,
            idle_timeout,
        }
    }

    /// The most recently used live idle connection for `key`, if any.
    pub fn take(&self, key: &PoolKey) -> Option<Conn> {
        let now = Instant::now();
        let mut idle = self.idle.lock();
        let list = idle.get_mut(key)?;
        while let Some(mut c) = list.pop() {
            if now.duration_since(c.since) < self.idle_timeout && still_open(&mut c.conn) {
                return Some(c.conn);
            }
        }
        None
    }

    /// Keeps `conn` for reuse (dropping expired ones of the same key, and `conn` itself
    /// when the key is at its limit).
    pub fn put(&self, key: PoolKey, conn: Conn) {
        let now = Instant::now();
        let mut idle = self.idle.lock();
        let list = idle.entry(key).or_default();
        let expired = list
            .iter()
            .take_while(|c| now.duration_since(c.since) >= self.idle_timeout)
            .count();
        list.drain(..expired);
        if list.len() < self.max_per_key {
            list.push(Idle { conn, since: now });
        }
    }

    /// Idle connections held, over all keys.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.idle.lock().values().map(Vec::len).sum()
    }
}
