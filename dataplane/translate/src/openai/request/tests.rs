//! Tests of the boundary parse, its limits and the passthrough rewrite.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::shape::{check_shape, quote_or_backslash};
use super::*;

fn parse(s: &str) -> Result<ChatRequest, TranslateError> {
    ChatRequest::parse(
        Bytes::copy_from_slice(s.as_bytes()),
        RequestLimits::default(),
    )
}

#[test]
fn rewrite_keeps_messages_bytes_and_drops_gateway_fields() {
    let body = r#"{"model":"route-a","messages":[{"role":"user","content":"h\u00e9llo  \"x\""}],"provider":"p1","fallback_providers":["p2"],"timeout":5,"retry_count":1,"temperature":0.5}"#;
    let r = parse(body).unwrap();
    assert_eq!(r.model, "route-a");
    assert_eq!(r.pin, Some(("p1".into(), "provider")));
    assert_eq!(r.fallback_providers, vec!["p2".to_string()]);
    assert_eq!(r.timeout, Some(Duration::from_secs(5)));
    assert_eq!(r.retry_count, Some(1));
    let out = r.passthrough_body("gpt-4o");
    let s = std::str::from_utf8(&out).unwrap();
    assert_eq!(
        s,
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"h\u00e9llo  \"x\""}],"temperature":0.5}"#
    );
}

#[test]
fn stream_forces_usage_and_merges_options() {
    let r =
        parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}"#).unwrap();
    assert!(r.stream && !r.include_usage);
    let v: serde_json::Value = serde_json::from_slice(&r.passthrough_body("m")).unwrap();
    assert_eq!(v["stream_options"]["include_usage"], true);
    let r = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":false,"x":1}}"#).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.passthrough_body("m")).unwrap();
    assert_eq!(v["stream_options"]["include_usage"], true);
    assert_eq!(v["stream_options"]["x"], 1);
    let body = r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}"#;
    let r = parse(body).unwrap();
    assert!(r.include_usage);
    assert_eq!(&r.passthrough_body("m")[..], body.as_bytes());
}

#[test]
fn bad_inputs_are_400_with_param() {
    let cases: &[(&str, &str)] = &[
        ("", "body"),
        ("[]", "body"),
        ("{", "body"),
        (r#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (r#"{"model":"m"}"#, "messages"),
        (r#"{"model":5,"messages":[]}"#, "model"),
        (r#"{"model":"","messages":[{"role":"user"}]}"#, "model"),
        (r#"{"model":"m","messages":"hi"}"#, "messages"),
        (r#"{"model":"m","messages":[]}"#, "messages"),
        (
            r#"{"model":"m","messages":[{"content":"x"}]}"#,
            "messages[0].role",
        ),
        (
            r#"{"model":"m","messages":[{"role":"wizard"}]}"#,
            "messages[0].role",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user"}],"stream":"yes"}"#,
            "stream",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user"}],"temperature":3}"#,
            "temperature",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user"}],"temperature":"hot"}"#,
            "temperature",
        ),
        (r#"{"model":"m","messages":[{"role":"user"}],"n":0}"#, "n"),
        (
            r#"{"model":"m","messages":[{"role":"user"}],"max_tokens":-1}"#,
            "max_tokens",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user"}],"timeout":-1}"#,
            "timeout",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user"}],"retry_count":"x"}"#,
            "retry_count",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user"}],"provider":"a","backend":"b"}"#,
            "backend",
        ),
        (
            r#"{"model":"m","model":"n","messages":[{"role":"user"}]}"#,
            "model",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user"}],"fallback_providers":"p"}"#,
            "fallback_providers",
        ),
    ];
    for (body, param) in cases {
        match parse(body) {
            Err(TranslateError { param: p, message }) => {
                let p = p.unwrap_or_else(|| "body".into());
                assert_eq!(&p, param, "{body}: {message}");
            }
            other => panic!("{body}: expected 400, got {other:?}"),
        }
    }
    assert!(ChatRequest::parse(Bytes::from_static(b"\xff\xfe"), RequestLimits::default()).is_err());
}

#[test]
fn messages_span_is_exact_wherever_it_sits() {
    let msgs =
        r#"[ {"role":"user","content":"a, ] } \"b\""} , {"role":"assistant","content":[]} ]"#;
    for body in [
        format!(r#"{{"model":"m","messages":{msgs}}}"#),
        format!("{{ \"messages\" :\n {msgs} \n, \"model\": \"m\" }}\n"),
        format!(r#"{{"model":"m","messages":{msgs},"t\u0065mperature":1}}"#),
        format!(r#"{{"model":"m","m\u0065ssages":{msgs}}}"#),
        format!("{{\"messages\":{msgs}\t ,\"model\":\"m\",\"user\":\"u\"}}"),
    ] {
        let r = parse(&body).unwrap_or_else(|e| panic!("{body}: {e:?}"));
        assert_eq!(r.raw_field("messages"), Some(msgs.as_bytes()), "{body}");
        let out: serde_json::Value = serde_json::from_slice(&r.passthrough_body("x")).unwrap();
        let want: serde_json::Value = serde_json::from_str(msgs).unwrap();
        assert_eq!(out["messages"], want, "{body}");
        assert_eq!(out["model"], "x");
    }
}

#[test]
fn message_shapes_are_checked_in_one_pass() {
    let param = |body: &str| match parse(body) {
        Err(TranslateError { param, .. }) => param,
        other => panic!("{body}: expected 400, got {other:?}"),
    };
    for (msgs, want) in [
        (r#"[1]"#, "messages"),
        (r#"[["user"]]"#, "messages"),
        (r#"[{"role":5}]"#, "messages"),
        (r#"[{"role":"user","role":"user"}]"#, "messages"),
        (r#"[{"role":"wizard"},{"role":7}]"#, "messages"),
        (r#"{"role":"user"}"#, "messages"),
        (r#"null"#, "messages"),
        (r#"[{"role":null}]"#, "messages[0].role"),
        (r#"[{"role":"user"},{"role":"wizard"}]"#, "messages[1].role"),
        (r#"[{"role":"user"},{"content":"x"}]"#, "messages[1].role"),
    ] {
        let body = format!(r#"{{"model":"m","messages":{msgs}}}"#);
        assert_eq!(param(&body).as_deref(), Some(want), "{body}");
    }
    // Earlier fields are still checked first.
    assert_eq!(
        param(r#"{"model":5,"messages":[1]}"#).as_deref(),
        Some("model")
    );
}

/// Bodies for the parse timing loop (the translate benches' SMALL and LARGE, and a
/// 1 MiB prompt).
fn timing_bodies() -> Vec<(&'static str, Bytes)> {
    const SMALL: &str = r#"{"model":"bench-claude","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in five words, please."}],"temperature":0.7,"max_tokens":64,"user":"bench"}"#;
    const LARGE: &str = r#"{"model":"bench-claude","messages":[{"role":"system","content":"You are a helpful assistant that uses tools when useful."},{"role":"user","content":[{"type":"text","text":"What is the weather in Paris and in Berlin? Here is a map."},{"type":"image_url","image_url":{"url":"https://example.test/map.png"}},{"type":"text","text":"Answer in one sentence."}]},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"celsius\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"{\"temp\":21,\"sky\":\"clear\"}"},{"role":"user","content":"And Berlin?"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}},{"type":"function","function":{"name":"get_time","description":"Local time in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"tool_choice":"auto","temperature":0.2,"top_p":0.9,"max_tokens":256,"stop":["\n\n"],"user":"bench","stream":true}"#;
    let prompt = "lorem ipsum dolor sit amet ".repeat(1 << 15);
    let mib = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{prompt}"}}]}}"#);
    vec![
        ("small", Bytes::from_static(SMALL.as_bytes())),
        ("large", Bytes::from_static(LARGE.as_bytes())),
        ("1mib", Bytes::from(mib)),
    ]
}

/// A timing loop, not a test: `cargo test --release -p sluice-translate --lib
/// parse_timing -- --ignored --nocapture` (or under callgrind with `SLUICE_PARSE_ITERS=1`).
#[test]
#[ignore]
fn parse_timing() {
    let iters: u32 = std::env::var("SLUICE_PARSE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let only = std::env::var("SLUICE_PARSE_BODY").ok();
    for (name, body) in timing_bodies() {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let n = if iters > 0 {
            iters
        } else if body.len() > 100_000 {
            200
        } else {
            200_000
        };
        let shape_only = std::env::var("SLUICE_PARSE_WHAT").is_ok_and(|w| w == "shape");
        let limits = RequestLimits::default();
        let t = std::time::Instant::now();
        for _ in 0..n {
            if shape_only {
                check_shape(std::hint::black_box(&body), &limits).unwrap();
                continue;
            }
            std::hint::black_box(
                ChatRequest::parse(std::hint::black_box(body.clone()), limits).unwrap(),
            );
        }
        let per = t.elapsed() / n;
        println!("parse {name} ({} B): {per:?}/iter", body.len());
    }
}

fn param_of(body: &str, limits: &RequestLimits) -> Option<String> {
    match ChatRequest::parse(Bytes::copy_from_slice(body.as_bytes()), limits) {
        Err(TranslateError { param, message }) => {
            Some(param.unwrap_or_else(|| format!("body: {message}")))
        }
        Ok(_) => None,
    }
}

#[test]
fn nesting_depth_is_bounded() {
    let limits = RequestLimits {
        max_json_depth: 5,
        ..RequestLimits::default()
    };
    // Depth 5: body, messages, a message, its content, a part; brackets in strings and
    // escaped quotes do not count.
    let msgs = r#"[{"role":"user","content":[{"type":"text","text":"x"}]}]"#;
    let ok = format!(
        r#"{{"model":"m","messages":{msgs},"user":"[[[[{{{{\"[[[[\\","x":{{"y":[[[]]]}}}}"#
    );
    assert_eq!(param_of(&ok, &limits), None, "{ok}");
    let deep = format!(r#"{{"model":"m","messages":{msgs},"x":{{"y":[[[[]]]]}}}}"#);
    assert_eq!(param_of(&deep, &limits).as_deref(), Some("x"));
    let deep = r#"{"model":"m","messages":[{"role":"user","content":[{"text":{}}]}]}"#;
    assert_eq!(param_of(deep, &limits).as_deref(), Some("messages"));
    // The default (64) is enforced below serde_json's own 128.
    let body = |n: usize| {
        format!(
            r#"{{"model":"m","messages":[{{"role":"user"}}],"metadata":{}{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let limits = RequestLimits::default();
    assert_eq!(param_of(&body(63), &limits), None);
    assert_eq!(param_of(&body(64), &limits).as_deref(), Some("metadata"));
    let e = parse(&body(100_000)).unwrap_err();
    assert!(e.to_string().contains("deeper than the limit of 64"), "{e}");
    // At the top level the whole body is named.
    let e = ChatRequest::parse(
        Bytes::from_static(b"[[[]]]"),
        RequestLimits {
            max_json_depth: 2,
            ..RequestLimits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, TranslateError { param: None, .. }));
}

#[test]
fn counts_are_bounded() {
    let limits = RequestLimits {
        max_messages: 2,
        max_tools: 1,
        max_object_keys: 4,
        ..RequestLimits::default()
    };
    let m = r#"{"role":"user","content":"a:b:c:d:e"}"#;
    let t = r#"{"type":"function","function":{"name":"f"}}"#;
    for (body, want) in [
        (format!(r#"{{"model":"m","messages":[{m},{m}]}}"#), None),
        (
            format!(r#"{{"model":"m","messages":[{m},{m},{m}]}}"#),
            Some("messages"),
        ),
        (
            format!(r#"{{"model":"m","m\u0065ssages":[{m},{m},{m}]}}"#),
            Some("messages"),
        ),
        (
            format!(r#"{{"model":"m","messages":[{m}],"tools":[{t}]}}"#),
            None,
        ),
        (
            format!(r#"{{"model":"m","messages":[{m}],"tools":[{t},{t}]}}"#),
            Some("tools"),
        ),
        (
            format!(r#"{{"model":"m","messages":[{m}],"t\u006fols":[{t},{t}]}}"#),
            Some("tools"),
        ),
        (
            format!(r#"{{"model":"m","messages":[{m}],"functions":[{t},{t}]}}"#),
            Some("functions"),
        ),
        // Four members anywhere are fine, five are not.
        (
            format!(r#"{{"model":"m","messages":[{m}],"x":{{"a":1,"b":2,"c":3,"d":4}}}}"#),
            None,
        ),
        (
            format!(r#"{{"model":"m","messages":[{m}],"x":[{{"a":1,"b":2,"c":3,"d":4,"e":5}}]}}"#),
            Some("x"),
        ),
        (
            format!(r#"{{"model":"m","messages":[{m}],"a":1,"b":2,"c":3}}"#),
            Some("body"),
        ),
    ] {
        let got = param_of(&body, &limits);
        let got = got.as_deref().map(|p| p.split(':').next().unwrap_or(p));
        assert_eq!(got, want, "{body}");
    }
}

#[test]
fn names_are_validated() {
    let long = format!("echo:{}", "A".repeat(1_000_000));
    let body = format!(r#"{{"model":"{long}","messages":[{{"role":"user"}}],"stream":true}}"#);
    let e = parse(&body).unwrap_err();
    assert!(matches!(&e, TranslateError { param: Some(p), .. } if p == "model"));
    assert!(
        e.to_string().len() < 200,
        "the message does not repeat the name"
    );
    for (body, want) in [
        (
            r#"{"model":"mock-gemini:gemini-x:countTokens?","messages":[{"role":"user"}]}"#,
            Some("model"),
        ),
        (
            r#"{"model":"a b","messages":[{"role":"user"}]}"#,
            Some("model"),
        ),
        (
            r#"{"model":" ","messages":[{"role":"user"}]}"#,
            Some("model"),
        ),
        (
            r#"{"model":"openai:gpt-4o","messages":[{"role":"user"}]}"#,
            None,
        ),
        (
            r#"{"model":"vllm:meta-llama/Llama-3-8b","messages":[{"role":"user"}]}"#,
            None,
        ),
        (
            r#"{"model":"m","provider":"p/../x","messages":[{"role":"user"}]}"#,
            Some("provider"),
        ),
        (
            r#"{"model":"m","backend":"b\n","messages":[{"role":"user"}]}"#,
            Some("backend"),
        ),
        (
            r#"{"model":"m","provider":"openai-primary","messages":[{"role":"user"}]}"#,
            None,
        ),
        (
            r#"{"model":"m","fallback_providers":["ok","x#y"],"messages":[{"role":"user"}]}"#,
            Some("fallback_providers"),
        ),
        (
            r#"{"model":"m","fallback_providers":["ok","o_k"],"messages":[{"role":"user"}]}"#,
            None,
        ),
    ] {
        assert_eq!(
            param_of(body, &RequestLimits::default()).as_deref(),
            want,
            "{body}"
        );
    }
    let limits = RequestLimits {
        max_model_name_bytes: 8,
        ..RequestLimits::default()
    };
    assert_eq!(
        param_of(
            r#"{"model":"12345678","messages":[{"role":"user"}]}"#,
            &limits
        ),
        None
    );
    assert_eq!(
        param_of(
            r#"{"model":"123456789","messages":[{"role":"user"}]}"#,
            &limits
        )
        .as_deref(),
        Some("model")
    );
}

/// 150,000 distinct top-level keys (1.9 MiB): refused by `max_object_keys` in the shape
/// scan, and, with that limit lifted, parsed with a linear duplicate check. Times are
/// printed (`--nocapture`), not asserted.
#[test]
fn many_top_level_keys_are_linear() {
    let mut body = String::from(r#"{"model":"m","messages":[{"role":"user"}]"#);
    for i in 0..150_000 {
        body.push_str(&format!(r#","k{i:07}":0"#));
    }
    body.push('}');
    let t = std::time::Instant::now();
    assert_eq!(
        param_of(&body, &RequestLimits::default()).as_deref(),
        Some("body: an object in the request body has more than the limit of 4096 members")
    );
    let refused = t.elapsed();
    let open = RequestLimits {
        max_object_keys: usize::MAX,
        ..RequestLimits::default()
    };
    let t = std::time::Instant::now();
    let r = ChatRequest::parse(Bytes::from(body.clone()), open).unwrap();
    let parsed = t.elapsed();
    assert_eq!(r.raw_field("k0149999"), Some(&b"0"[..]));
    body.truncate(body.len() - 1);
    body.push_str(r#","k0000000":1}"#);
    let t = std::time::Instant::now();
    assert_eq!(param_of(&body, &open).as_deref(), Some("k0000000"));
    let duplicate = t.elapsed();
    println!(
        "150k keys ({} B): refused in {refused:?}, parsed in {parsed:?}, duplicate found in {duplicate:?}",
        body.len()
    );
}

#[test]
fn string_ends_are_found_at_every_offset() {
    for len in 0..200 {
        for special in [b'"', b'\\'] {
            for at in 0..=len {
                let mut s = vec![b'a'; len];
                s.insert(at, special);
                s.extend_from_slice(b"\"\\");
                assert_eq!(quote_or_backslash(&s), Some(at), "{len} {at}");
            }
        }
        assert_eq!(quote_or_backslash(&vec![0xff; len]), None);
    }
    // High bytes (UTF-8) next to the match do not confuse the word test.
    let s = "é\u{22}".as_bytes();
    assert_eq!(quote_or_backslash(s), Some(2));
}

#[test]
fn json_string_escaping() {
    let mut b = BytesMut::new();
    write_json_str(&mut b, "a\"b\\c\n\u{1}é");
    assert_eq!(&b[..], r#""a\"b\\c\n\u0001é""#.as_bytes());
    let back: String = serde_json::from_slice(&b).unwrap();
    assert_eq!(back, "a\"b\\c\n\u{1}é");
}
