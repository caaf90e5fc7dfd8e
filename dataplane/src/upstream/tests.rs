//! The client against a local mock upstream: when a request is re-sent, and which
//! connections go back to the pool.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the mock does with one request on a connection.
#[derive(Clone, Copy)]
enum Answer {
    /// Reads a request and writes these bytes.
    Reply(&'static [u8]),
    /// Reads a request and closes without answering.
    Close,
    /// Reads a request and resets the connection (RST) without answering.
    Reset,
    /// Reads a request, writes these bytes and closes.
    Cut(&'static [u8]),
}

const FIRST: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst";
const SECOND: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond";

/// Reads one request head (the tests send GET/HEAD, without a body); `false` at EOF.
async fn read_request(sock: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut b = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut b).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&b[..n]),
        }
    }
    true
}

async fn serve_conn(mut sock: TcpStream, script: Vec<Answer>) {
    for answer in script {
        if !read_request(&mut sock).await {
            return;
        }
        match answer {
            Answer::Reply(bytes) => sock.write_all(bytes).await.unwrap(),
            Answer::Close => return,
            Answer::Reset => {
                sock.set_zero_linger().unwrap();
                return;
            }
            Answer::Cut(bytes) => {
                sock.write_all(bytes).await.unwrap();
                return;
            }
        }
    }
    // Keep the connection open (idle, as a keep-alive server would) until the client goes.
    while read_request(&mut sock).await {}
}

/// A mock upstream: the n-th connection follows `scripts[n]` (the last one repeats).
async fn mock(scripts: Vec<Vec<Answer>>) -> BaseUrl {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let scripts = Arc::new(scripts);
    tokio::spawn(async move {
        for n in 0.. {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let script = scripts.get(n).or(scripts.last()).cloned().unwrap();
            tokio::spawn(serve_conn(sock, script));
        }
    });
    BaseUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap()
}

async fn send(
    client: &UpstreamClient,
    base: &BaseUrl,
    method: &'static str,
) -> Result<InboundResponse, AttemptFailure> {
    let req = OutboundRequest {
        method,
        base,
        path: "/v1/x".into(),
        headers: Vec::new(),
        body: Bytes::new(),
    };
    client.send(req, TIMEOUT).await
}

/// Sends a GET, reads the whole body and hands the connection back.
async fn get(client: &UpstreamClient, base: &BaseUrl) -> Result<Bytes, AttemptFailure> {
    let mut resp = send(client, base, "GET").await?;
    let body = resp.read_all(1 << 20, TIMEOUT).await;
    client.release(resp);
    body
}

#[tokio::test]
async fn request_is_resent_once_when_a_pooled_connection_closes_unanswered() {
    for stale in [Answer::Close, Answer::Reset] {
        let base = mock(vec![
            vec![Answer::Reply(FIRST), stale],
            vec![Answer::Reply(SECOND)],
        ])
        .await;
        let client = UpstreamClient::new();
        assert_eq!(get(&client, &base).await.unwrap(), "first");
        assert_eq!(client.idle_connections(), 1);
        // The pooled connection dies on the next request without a byte of answer: the
        // request goes out again on a new connection, whose answer is the one returned.
        assert_eq!(get(&client, &base).await.unwrap(), "second");
        assert_eq!(client.idle_connections(), 1);
    }
}

#[tokio::test]
async fn no_resend_once_part_of_a_head_arrived() {
    let base = mock(vec![
        vec![
            Answer::Reply(FIRST),
            Answer::Cut(b"HTTP/1.1 200 OK\r\ncontent-le"),
        ],
        vec![Answer::Reply(SECOND)],
    ])
    .await;
    let client = UpstreamClient::new();
    assert_eq!(get(&client, &base).await.unwrap(), "first");
    assert_eq!(client.idle_connections(), 1);
    // A re-send would have reached the second connection and succeeded.
    let err = get(&client, &base).await.unwrap_err();
    assert!(matches!(err, AttemptFailure::Io(_)), "{err}");
    assert_eq!(client.idle_connections(), 0);
}

#[tokio::test]
async fn no_resend_once_a_head_arrived_and_the_body_broke() {
    let base = mock(vec![
        vec![
            Answer::Reply(FIRST),
            Answer::Cut(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"),
        ],
        vec![Answer::Reply(SECOND)],
    ])
    .await;
    let client = UpstreamClient::new();
    assert_eq!(get(&client, &base).await.unwrap(), "first");
    let mut resp = send(&client, &base, "GET").await.unwrap();
    assert_eq!(resp.status, 200);
    let err = resp.read_all(1 << 20, TIMEOUT).await.unwrap_err();
    assert!(matches!(err, AttemptFailure::Io(_)), "{err}");
    client.release(resp);
    assert_eq!(client.idle_connections(), 0);
}

#[tokio::test]
async fn a_fresh_connection_that_closes_unanswered_is_not_resent() {
    let base = mock(vec![vec![Answer::Close], vec![Answer::Reply(SECOND)]]).await;
    let client = UpstreamClient::new();
    let err = get(&client, &base).await.unwrap_err();
    assert!(matches!(err, AttemptFailure::Io(_)), "{err}");
    // The next request is the first to reach the second connection.
    assert_eq!(get(&client, &base).await.unwrap(), "second");
}

#[tokio::test]
async fn interim_heads_are_skipped_and_the_connection_reused() {
    let base = mock(vec![vec![
        Answer::Reply(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst",
        ),
        Answer::Reply(SECOND),
    ]])
    .await;
    let client = UpstreamClient::new();
    assert_eq!(get(&client, &base).await.unwrap(), "first");
    assert_eq!(client.idle_connections(), 1);
    assert_eq!(get(&client, &base).await.unwrap(), "second");
    assert_eq!(client.idle_connections(), 1);
}

#[tokio::test]
async fn switching_protocols_is_an_error() {
    let base = mock(vec![vec![Answer::Reply(
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
    )]])
    .await;
    let client = UpstreamClient::new();
    let err = get(&client, &base).await.unwrap_err();
    assert!(matches!(err, AttemptFailure::Io(_)), "{err}");
    assert_eq!(client.idle_connections(), 0);
}

#[tokio::test]
async fn doubtful_framing_is_read_but_never_pooled() {
    let cases: [(Answer, &[u8]); 3] = [
        (
            Answer::Reply(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
            b"ok",
        ),
        (
            Answer::Cut(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nraw bytes"),
            b"raw bytes",
        ),
        (
            Answer::Reply(b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
            b"ok",
        ),
    ];
    for (answer, body) in cases {
        let base = mock(vec![vec![answer]]).await;
        let client = UpstreamClient::new();
        assert_eq!(get(&client, &base).await.unwrap(), body);
        assert_eq!(client.idle_connections(), 0);
    }
}

#[tokio::test]
async fn head_and_bodiless_answers_keep_the_connection() {
    let base = mock(vec![vec![
        Answer::Reply(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"),
        Answer::Reply(b"HTTP/1.1 204 No Content\r\n\r\n"),
        Answer::Reply(SECOND),
    ]])
    .await;
    let client = UpstreamClient::new();
    let mut resp = send(&client, &base, "HEAD").await.unwrap();
    assert_eq!(resp.read_all(1 << 20, TIMEOUT).await.unwrap(), "");
    client.release(resp);
    assert_eq!(client.idle_connections(), 1);
    assert_eq!(get(&client, &base).await.unwrap(), "");
    assert_eq!(get(&client, &base).await.unwrap(), "second");
    assert_eq!(client.idle_connections(), 1);
}

#[test]
fn fuzz_entry_point_accepts_anything() {
    for input in [
        &b""[..],
        b"\x00",
        b"\x05HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"\x7fHTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc",
        b"\x3fnot http at all\r\n\r\n",
    ] {
        fuzz_decode_response(input).unwrap();
    }
}
