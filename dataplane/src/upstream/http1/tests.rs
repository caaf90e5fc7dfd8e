use super::*;

/// Feeds `wire` in pieces of `split` bytes, as reads from a socket would deliver it, and
/// returns the head and the concatenated body (or the first error).
fn read_response(wire: &[u8], split: usize) -> Result<(ResponseHead, Vec<u8>, bool), WireError> {
    let mut buf = BytesMut::new();
    let mut pieces = wire.chunks(split.max(1));
    let mut head = None;
    while head.is_none() {
        match parse_response_head(&buf, false)? {
            Some((h, n)) => {
                buf.advance(n);
                if h.is_interim() {
                    continue;
                }
                head = Some(h);
            }
            None => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => return Err(WireError::Truncated),
            },
        }
    }
    let head = head.expect("loop ends with a head");
    let mut dec = BodyDecoder::new(head.framing);
    let mut body = Vec::new();
    loop {
        match dec.decode(&mut buf)? {
            Step::Data(d) => {
                assert!(!d.is_empty());
                body.extend_from_slice(&d);
            }
            Step::Done => break,
            Step::NeedMore => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => {
                    dec.eof()?;
                }
            },
        }
    }
    let leftover = !buf.is_empty() || pieces.next().is_some();
    Ok((head, body, leftover))
}

#[test]
fn request_head_is_one_buffer_with_length() {
    let mut out = BytesMut::new();
    encode_request_head(
        &mut out,
        "POST",
        "/v1/chat/completions",
        "api.example.com:8443",
        &[
            ("authorization", "Bearer k"),
            ("content-type", "application/json"),
        ],
        Some(42),
    )
    .unwrap();
    assert_eq!(
        &out[..],
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: api.example.com:8443\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n"
    );
}

#[test]
fn request_head_rejects_header_injection() {
    let mut out = BytesMut::new();
    for (k, v) in [("x-api-key", "a\r\nx: y"), ("x\n", "v"), ("k", "nul\0")] {
        assert!(matches!(
            encode_request_head(&mut out, "GET", "/", "h", &[(k, v)], None),
            Err(WireError::Request(_))
        ));
    }
    assert!(encode_request_head(&mut out, "GET", "/a b", "h", &[], None).is_err());
    assert!(encode_request_head(&mut out, "GET", "/", "h\r\n", &[], None).is_err());
}

const CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
19\r\ndata: {\"a\":1}\n\ndata: [DON\r\n4;ext=1\r\nE]\n\n\r\n0\r\nx-trailer: t\r\n\r\n";

#[test]
fn chunked_body_at_every_split() {
    for split in 1..=CHUNKED.len() {
        let (head, body, leftover) = read_response(CHUNKED, split).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.framing, Framing::Chunked);
        assert_eq!(head.content_type, "text/event-stream");
        assert!(head.keep_alive);
        assert_eq!(
            body, b"data: {\"a\":1}\n\ndata: [DONE]\n\n",
            "split {split}"
        );
        assert!(!leftover, "split {split}");
    }
}

#[test]
fn content_length_body_at_every_split_and_interim_heads_are_skipped() {
    let wire: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world";
    for split in 1..=wire.len() {
        let (head, body, leftover) = read_response(wire, split).unwrap();
        assert_eq!(head.status, 429);
        assert_eq!(head.retry_after.as_deref(), Some("7"));
        assert_eq!(head.framing, Framing::Length(11));
        assert!(!head.keep_alive);
        assert_eq!(body, b"hello world");
        assert!(!leftover);
    }
}

#[test]
fn bytes_after_the_body_are_left_in_the_buffer() {
    let wire: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA";
    let (_, body, leftover) = read_response(wire, wire.len()).unwrap();
    assert_eq!(body, b"ok");
    assert!(
        leftover,
        "unexpected bytes must make the connection unusable"
    );
}

#[test]
fn until_close_body_ends_at_eof_and_is_not_reusable() {
    let wire: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nsome body";
    for split in 1..=wire.len() {
        let (head, body, _) = read_response(wire, split).unwrap();
        assert_eq!(head.framing, Framing::UntilClose);
        assert!(!head.keep_alive);
        assert_eq!(body, b"some body");
    }
}

#[test]
fn truncated_bodies_are_errors() {
    for wire in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"[..],
        &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nabc"[..],
        &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n"[..],
    ] {
        for split in 1..=wire.len() {
            assert_eq!(
                read_response(wire, split).unwrap_err(),
                WireError::Truncated
            );
        }
    }
}

#[test]
fn malformed_messages_are_errors_not_panics() {
    let bad: [&[u8]; 5] = [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ];
    for wire in bad {
        assert!(
            read_response(wire, wire.len()).is_err(),
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
    let huge = [
        b"HTTP/1.1 200 OK\r\nx: ".as_slice(),
        &vec![b'a'; MAX_HEAD_BYTES],
    ]
    .concat();
    assert_eq!(
        parse_response_head(&huge, false),
        Err(WireError::HeadTooLarge)
    );
}

#[test]
fn bodiless_statuses_and_head_requests() {
    let (h, _) = parse_response_head(
        b"HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n",
        false,
    )
    .unwrap()
    .unwrap();
    assert_eq!(h.framing, Framing::Empty);
    let (h, _) = parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", true)
        .unwrap()
        .unwrap();
    assert_eq!(h.framing, Framing::Empty);
    assert!(h.keep_alive);
    assert!(BodyDecoder::new(Framing::Length(0)).is_done());
}

#[test]
fn keep_alive_rules() {
    let ka = |wire: &[u8]| {
        parse_response_head(wire, false)
            .unwrap()
            .unwrap()
            .0
            .keep_alive
    };
    assert!(ka(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
    assert!(!ka(
        b"HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n"
    ));
    assert!(!ka(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"));
    assert!(ka(
        b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"
    ));
    assert!(!ka(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n"));
}
