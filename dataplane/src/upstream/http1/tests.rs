use super::*;

/// Feeds `wire` in pieces of `split` bytes, as reads from a socket would deliver it, and
/// returns the head, the concatenated body and whether bytes were left over (or the first
/// error).
fn read_response(wire: &[u8], split: usize) -> Result<(ResponseHead, Vec<u8>, bool), WireError> {
    read_answer(wire, split, false)
}

fn read_answer(
    wire: &[u8],
    split: usize,
    head_request: bool,
) -> Result<(ResponseHead, Vec<u8>, bool), WireError> {
    let mut body = Vec::new();
    let replay = read_pieces(wire.chunks(split.max(1)), head_request, |d| {
        assert!(!d.is_empty());
        body.extend_from_slice(d);
    });
    assert_eq!(replay.body, body.len());
    let head = replay.outcome?;
    Ok((head, body, replay.leftover))
}

/// The final head of `wire` (which must be complete).
fn head_of(wire: &[u8]) -> Result<ResponseHead, WireError> {
    let mut buf = BytesMut::from(wire);
    HeadReader::new(false)
        .poll(&mut buf)
        .map(|h| h.expect("complete head"))
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

#[test]
fn transfer_encoding_whose_final_coding_is_chunked_is_chunked() {
    for te in [
        "transfer-encoding: chunked\r\n",
        "transfer-encoding: gzip, chunked\r\n",
        "Transfer-Encoding: gzip\r\ntransfer-encoding: CHUNKED\r\n",
        "transfer-encoding: gzip,, chunked ,\r\n",
    ] {
        let wire = format!("HTTP/1.1 200 OK\r\n{te}\r\n2\r\nok\r\n0\r\n\r\n");
        for split in 1..=wire.len() {
            let (head, body, leftover) = read_response(wire.as_bytes(), split).unwrap();
            assert_eq!(head.framing, Framing::Chunked, "{te}");
            assert!(head.keep_alive, "{te}");
            assert_eq!(body, b"ok");
            assert!(!leftover);
        }
    }
}

#[test]
fn transfer_encoding_not_ending_in_chunked_runs_until_close_and_is_not_reused() {
    for te in [
        "transfer-encoding: gzip\r\n",
        "transfer-encoding: chunked, gzip\r\n",
        "transfer-encoding: chunked\r\ntransfer-encoding: identity\r\n",
        "transfer-encoding: chunked;x=1\r\n",
        "transfer-encoding: gzip\r\ncontent-length: 2\r\n",
    ] {
        let wire =
            format!("HTTP/1.1 200 OK\r\nconnection: keep-alive\r\n{te}\r\n2\r\nok\r\n0\r\n\r\n");
        let (head, body, _) = read_response(wire.as_bytes(), 7).unwrap();
        assert_eq!(head.framing, Framing::UntilClose, "{te}");
        assert!(!head.keep_alive, "{te}");
        assert_eq!(body, b"2\r\nok\r\n0\r\n\r\n", "{te}");
    }
}

#[test]
fn transfer_encoding_wins_over_content_length_and_is_not_reused() {
    for cl in [
        "content-length: 3",
        "content-length: 1000",
        "content-length: nonsense",
    ] {
        for wire in [
            format!(
                "HTTP/1.1 200 OK\r\n{cl}\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
            ),
            format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{cl}\r\n\r\n2\r\nok\r\n0\r\n\r\n"
            ),
        ] {
            for split in 1..=wire.len() {
                let (head, body, leftover) = read_response(wire.as_bytes(), split).unwrap();
                assert_eq!(head.framing, Framing::Chunked, "{wire:?}");
                assert!(!head.keep_alive, "{wire:?}");
                assert_eq!(body, b"ok");
                assert!(!leftover);
            }
        }
    }
}

#[test]
fn transfer_encoding_in_http10_is_read_then_closed() {
    let wire = b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    let (head, body, _) = read_response(wire, wire.len()).unwrap();
    assert_eq!(head.framing, Framing::Chunked);
    assert!(!head.keep_alive);
    assert_eq!(body, b"ok");
}

#[test]
fn chunked_applied_twice_is_an_error() {
    for te in ["chunked, chunked", "chunked, gzip, chunked"] {
        let wire = format!("HTTP/1.1 200 OK\r\ntransfer-encoding: {te}\r\n\r\n");
        assert!(
            matches!(head_of(wire.as_bytes()), Err(WireError::Head(_))),
            "{te}"
        );
    }
}

#[test]
fn content_length_values() {
    let framing = |cl: &str| {
        head_of(format!("HTTP/1.1 200 OK\r\n{cl}\r\n\r\n").as_bytes()).map(|h| h.framing)
    };
    for (cl, n) in [
        ("content-length: 5", 5),
        ("content-length:  5 ", 5),
        ("content-length: 007", 7),
        ("content-length: 5, 5", 5),
        ("content-length: 5\r\nContent-Length: 5", 5),
        ("content-length: 18446744073709551615", u64::MAX),
    ] {
        assert_eq!(framing(cl), Ok(Framing::Length(n)), "{cl}");
    }
    for cl in [
        "content-length: +5",
        "content-length: -1",
        "content-length: 5 5",
        "content-length: 0x5",
        "content-length: ",
        "content-length: 5,",
        "content-length: 5, 6",
        "content-length: 5\r\ncontent-length: 6",
        "content-length: 5\r\ncontent-length: x",
        "content-length: 18446744073709551616",
        "content-length: 99999999999999999999999999999999",
        "content-length: \u{0661}",
    ] {
        assert!(matches!(framing(cl), Err(WireError::Head(_))), "{cl}");
    }
}

#[test]
fn interim_heads_are_skipped_but_bounded() {
    let hints = "HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n";
    let fine = format!(
        "HTTP/1.1 100 Continue\r\n\r\n{}HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        hints.repeat(3)
    );
    for split in 1..=fine.len() {
        let (head, body, _) = read_response(fine.as_bytes(), split).unwrap();
        assert_eq!((head.status, body.as_slice()), (200, &b"ok"[..]));
    }
    let endless = hints.repeat(usize::from(MAX_INTERIM) + 1);
    assert!(matches!(
        read_response(endless.as_bytes(), 1000),
        Err(WireError::Head(_))
    ));
}

#[test]
fn switching_protocols_and_bad_statuses_are_errors() {
    assert_eq!(
        head_of(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n"),
        Err(WireError::SwitchingProtocols)
    );
    let after_continue = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n";
    assert_eq!(
        read_response(after_continue, 5).unwrap_err(),
        WireError::SwitchingProtocols
    );
    assert!(matches!(
        head_of(b"HTTP/1.1 099 Odd\r\n\r\n"),
        Err(WireError::Head(_))
    ));
    assert!(matches!(
        head_of(b"HTTP/1.1 000 Odd\r\n\r\n"),
        Err(WireError::Head(_))
    ));
}

#[test]
fn bodiless_answers_ignore_framing_headers() {
    for (status, head_request) in [(204, false), (304, false), (200, true), (404, true)] {
        for framing in [
            "content-length: 5\r\n",
            "transfer-encoding: chunked\r\n",
            "",
        ] {
            let wire = format!("HTTP/1.1 {status} X\r\n{framing}\r\n");
            let (head, body, leftover) = read_answer(wire.as_bytes(), 3, head_request).unwrap();
            assert_eq!(head.framing, Framing::Empty, "{wire:?}");
            assert!(body.is_empty() && !leftover);
        }
    }
    // HEAD is answered with the GET's framing headers; the connection stays reusable.
    let wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
    assert!(read_answer(wire, 1, true).unwrap().0.keep_alive);
}

#[test]
fn connection_close_wins_over_keep_alive() {
    let head = head_of(b"HTTP/1.1 200 OK\r\nconnection: keep-alive\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").unwrap();
    assert!(!head.keep_alive);
    let head =
        head_of(b"HTTP/1.0 200 OK\r\nconnection: close, keep-alive\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
    assert!(!head.keep_alive);
}

#[test]
fn head_size_and_header_count_are_bounded() {
    // Trickled one byte per read, never completed: refused at MAX_HEAD_BYTES.
    let mut endless = b"HTTP/1.1 200 OK\r\nx-filler: ".to_vec();
    endless.resize(MAX_HEAD_BYTES + 10, b'a');
    let replay = read_pieces(endless.chunks(1), false, |_| {});
    assert_eq!(replay.outcome.unwrap_err(), WireError::HeadTooLarge);
    assert!(replay.head_waiting < MAX_HEAD_BYTES);
    // Complete but too large.
    endless.extend_from_slice(b"\r\n\r\n");
    assert_eq!(head_of(&endless).unwrap_err(), WireError::HeadTooLarge);
    // Too many headers.
    let many = format!(
        "HTTP/1.1 200 OK\r\n{}\r\n",
        "a: b\r\n".repeat(MAX_HEADERS + 1)
    );
    assert!(matches!(head_of(many.as_bytes()), Err(WireError::Head(_))));
}

#[test]
fn chunk_size_lines() {
    for (line, size) in [
        (&b"5\r\n"[..], 5),
        (b"00A\r\n", 10),
        (b"5 \r\n", 5),
        (b"5 ;ext\r\n", 5),
        (b"5;a=b;c=\"d e\"\r\n", 5),
        (b"ffffffffffffffff\r\n", u64::MAX),
        (b"0000000000000000000001\r\n", 1),
    ] {
        assert_eq!(
            parse_chunk_line(line),
            Ok(Some((line.len(), size))),
            "{line:?}"
        );
    }
    for line in [
        &b"10000000000000000\r\n"[..],
        b"fffffffffffffffff\r\n",
        b"\r\n",
        b" 5\r\n",
        b"-5\r\n",
        b"0x5\r\n",
        b"5 x\r\n",
        b"5\n",
        b"5\r\r\n",
        b"5;\x01\r\n",
        b"5;\x7f\r\n",
    ] {
        assert!(parse_chunk_line(line).is_err(), "{line:?}");
    }
    assert_eq!(parse_chunk_line(b"5;ext"), Ok(None));
    let long = [b"5;".as_slice(), &[b'x'; MAX_LINE]].concat();
    assert!(parse_chunk_line(&long).is_err());
    let long_line = [long.as_slice(), b"\r\n"].concat();
    assert!(parse_chunk_line(&long_line).is_err());
}

#[test]
fn long_chunk_lines_and_trailers_are_refused_at_any_split() {
    let prefix = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".as_slice();
    let ext = vec![b'x'; MAX_LINE];
    let trailer_line = [b"0\r\nx: ".as_slice(), &ext, b"\r\n\r\n"].concat();
    let many_trailers = [
        b"0\r\n".as_slice(),
        &b"x-t: 0123456789\r\n".repeat(MAX_TRAILER_BYTES / 10),
        b"\r\n",
    ]
    .concat();
    for rest in [
        [b"5;".as_slice(), &ext, b"\r\nhello\r\n0\r\n\r\n"].concat(),
        trailer_line,
        many_trailers,
        b"0\r\nbare\nlf\r\n\r\n".to_vec(),
    ] {
        let wire = [prefix, &rest].concat();
        for split in [1, 7, 100, 5000, wire.len()] {
            let replay = read_pieces(wire.chunks(split), false, |_| {});
            assert!(
                matches!(replay.outcome, Err(WireError::Chunk(_))),
                "{:?}",
                replay.outcome
            );
            assert!(replay.body_waiting < MAX_LINE);
        }
    }
    // Many small trailers within the budget are fine.
    let wire = [prefix, b"0\r\n", &b"a: b\r\n".repeat(100), b"\r\n"].concat();
    assert!(read_response(&wire, 3).is_ok());
}

#[test]
fn huge_chunk_sizes_do_not_overflow() {
    let wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffff\r\nabc";
    let (mut n, mut body) = (0, Vec::new());
    let replay = read_pieces(wire.chunks(4), false, |d| {
        n += 1;
        body.extend_from_slice(d);
    });
    assert_eq!(replay.outcome.unwrap_err(), WireError::Truncated);
    assert_eq!(body, b"abc");
    let mut dec = BodyDecoder::new(Framing::Length(u64::MAX));
    let mut buf = BytesMut::from(&b"xyz"[..]);
    assert_eq!(
        dec.decode(&mut buf),
        Ok(Step::Data(Bytes::from_static(b"xyz")))
    );
    assert_eq!(dec.remaining_hint(), Some(u64::MAX - 3));
}

mod fuzz {
    //! Arbitrary bytes and arbitrary splits of valid and broken responses through the head
    //! reader and body decoder: never a panic, never more body than was fed, bounded
    //! buffering, and valid responses decode to their body at any split.

    use proptest::prelude::*;

    use super::super::*;
    use crate::upstream::check_replay;

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 384,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Pieces of `wire` with the given sizes (cycled; at least 1 byte each).
    fn split<'a>(wire: &'a [u8], sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = wire;
        let mut sizes = sizes.iter().cycle();
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let n = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
            let (piece, tail) = rest.split_at(n);
            rest = tail;
            Some(piece)
        })
    }

    #[derive(Debug, Clone)]
    enum Body {
        Length,
        Chunked(Vec<usize>),
        UntilClose,
    }

    /// A valid response: wire bytes and the body a reader must see.
    fn valid() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        (
            prop::sample::select(vec![200u16, 201, 204, 304, 400, 429, 500, 503]),
            prop::collection::vec(any::<u8>(), 0..600),
            prop_oneof![
                Just(Body::Length),
                prop::collection::vec(1usize..200, 1..8).prop_map(Body::Chunked),
                Just(Body::UntilClose),
            ],
            prop::collection::vec((0usize..4, 0u8..4), 0..6),
            any::<bool>(),
        )
            .prop_map(|(status, body, framing, extra, interim)| {
                let mut wire = Vec::new();
                if interim {
                    wire.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n");
                }
                wire.extend_from_slice(format!("HTTP/1.1 {status} Status\r\n").as_bytes());
                for (name, value) in extra {
                    let name = ["x-a", "content-type", "retry-after", "connection"][name];
                    let value = ["1", "text/event-stream", "keep-alive", "v a l u e"]
                        [usize::from(value)];
                    wire.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
                }
                let bodiless = status == 204 || status == 304;
                match &framing {
                    Body::Length => wire.extend_from_slice(
                        format!("content-length: {}\r\n\r\n", body.len()).as_bytes(),
                    ),
                    Body::Chunked(_) => wire.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n"),
                    Body::UntilClose => wire.extend_from_slice(b"\r\n"),
                }
                if bodiless {
                    return (wire, Vec::new());
                }
                match framing {
                    Body::Length | Body::UntilClose => wire.extend_from_slice(&body),
                    Body::Chunked(sizes) => {
                        let mut rest = body.as_slice();
                        for n in sizes.iter().cycle() {
                            if rest.is_empty() {
                                break;
                            }
                            let (chunk, tail) = rest.split_at((*n).min(rest.len()));
                            wire.extend_from_slice(format!("{:x};e=1\r\n", chunk.len()).as_bytes());
                            wire.extend_from_slice(chunk);
                            wire.extend_from_slice(b"\r\n");
                            rest = tail;
                        }
                        wire.extend_from_slice(b"0\r\nx-trailer: t\r\n\r\n");
                    }
                }
                (wire, body)
            })
    }

    /// Bytes that look like chunked framing: hex digits, separators, line ends, noise.
    fn chunky() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(b"0123456789abcdefABCDEF".to_vec()),
                2 => prop::sample::select(b"\r\n;= \t:".to_vec()),
                1 => any::<u8>(),
            ],
            0..1500,
        )
    }

    fn run(wire: &[u8], sizes: &[usize], head_request: bool) -> Replay {
        let replay = read_pieces(split(wire, sizes), head_request, |d| assert!(!d.is_empty()));
        if let Err(e) = check_replay(&replay, wire.len()) {
            panic!("{e}: {:?}", String::from_utf8_lossy(wire));
        }
        replay
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn arbitrary_bytes(
            wire in prop::collection::vec(any::<u8>(), 0..3000),
            sizes in prop::collection::vec(1usize..300, 1..8),
            head_request in any::<bool>(),
        ) {
            run(&wire, &sizes, head_request);
        }

        #[test]
        fn arbitrary_bytes_after_a_head(
            head in prop::sample::select(vec![
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n",
                "HTTP/1.1 200 OK\r\n\r\n",
                "HTTP/1.1 100 Continue\r\n\r\n",
                "HTTP/1.1 200 OK\r\n",
            ]),
            tail in chunky(),
            sizes in prop::collection::vec(1usize..64, 1..8),
        ) {
            let wire = [head.as_bytes(), &tail].concat();
            run(&wire, &sizes, false);
        }

        #[test]
        fn valid_responses_at_any_split(
            (wire, body) in valid(),
            sizes in prop::collection::vec(1usize..80, 1..8),
        ) {
            let mut seen = Vec::new();
            let replay = read_pieces(split(&wire, &sizes), false, |d| seen.extend_from_slice(d));
            check_replay(&replay, wire.len()).unwrap();
            prop_assert!(replay.outcome.is_ok(), "{:?}", replay.outcome);
            prop_assert_eq!(seen, body);
            prop_assert!(!replay.leftover);
        }

        #[test]
        fn broken_responses(
            (wire, _) in valid(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
            sizes in prop::collection::vec(1usize..80, 1..8),
            head_request in any::<bool>(),
        ) {
            let mut wire = wire;
            for (at, byte, op) in edits {
                if wire.is_empty() {
                    break;
                }
                let i = at.index(wire.len());
                match op {
                    0 => wire[i] = byte,
                    1 => wire.insert(i, byte),
                    _ => {
                        wire.remove(i);
                    }
                }
            }
            run(&wire, &sizes, head_request);
            // And cut short anywhere.
            let cut = wire.len() / 2;
            run(&wire[..cut], &sizes, head_request);
        }
    }
}
