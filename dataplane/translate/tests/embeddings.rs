//! OpenAI `/v1/embeddings` ⇄ Gemini `batchEmbedContents`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

use base64::Engine as _;
use serde_json::{json, Value};
use sluice_translate::embeddings::{self, EmbeddingsRequest};
use sluice_translate::openai::RequestLimits;

fn parse(body: &str) -> Result<EmbeddingsRequest, sluice_translate::TranslateError> {
    embeddings::parse(body.as_bytes(), &RequestLimits::default())
}

/// A `batchEmbedContents` answer shaped like the one in Gemini's API reference
/// (`embeddings[].values`, no usage), vectors shortened to three values.
const GEMINI_ANSWER: &str = r#"{
  "embeddings": [
    {
      "values": [
        -0.0026168018,
        0.0064289765,
        -0.07203327
      ]
    },
    {
      "values": [
        0.01542837,
        -0.00913426,
        0.0411256
      ]
    }
  ]
}
"#;

#[test]
fn requests_parse_and_become_a_gemini_batch() {
    let r = parse(r#"{"model":"text-embedding-3-small","input":["What is the meaning of life?","How much wood would a woodchuck chuck?"],"dimensions":768,"user":"u1"}"#).unwrap();
    assert_eq!(r.inputs.len(), 2);
    assert_eq!(
        (r.dimensions, r.base64, r.user.as_deref()),
        (Some(768), false, Some("u1"))
    );
    r.require_text().unwrap();
    let body: Value =
        serde_json::from_slice(&embeddings::gemini_body(&r, "gemini-embedding-001")).unwrap();
    assert_eq!(
        body,
        json!({"requests":[
            {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"What is the meaning of life?"}]},"outputDimensionality":768},
            {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"How much wood would a woodchuck chuck?"}]},"outputDimensionality":768}
        ]})
    );
    assert_eq!(
        embeddings::gemini_path("gemini-embedding-001"),
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(
        embeddings::gemini_path("x:countTokens?"),
        "/v1beta/models/x%3AcountTokens%3F:batchEmbedContents"
    );

    let one = parse(r#"{"model":"m","input":"say \"hi\"","encoding_format":"base64"}"#).unwrap();
    assert_eq!(
        (one.inputs.as_slice(), one.base64),
        (&["say \"hi\"".to_owned()][..], true)
    );
    let body: Value = serde_json::from_slice(&embeddings::gemini_body(&one, "g")).unwrap();
    assert_eq!(
        body["requests"][0]["content"]["parts"][0]["text"],
        "say \"hi\""
    );
    assert!(body["requests"][0].get("outputDimensionality").is_none());

    for tokens in [r#"[1,2,3]"#, r#"[[1,2],[3]]"#] {
        let r = parse(&format!(r#"{{"model":"m","input":{tokens}}}"#)).unwrap();
        assert!(r.token_input && r.inputs.is_empty());
        assert_eq!(
            r.require_text().unwrap_err().param.as_deref(),
            Some("input")
        );
    }
}

#[test]
fn bad_requests_name_the_field() {
    for (body, param) in [
        (r#"{"input":"x"}"#, "model"),
        (r#"{"model":"a b","input":"x"}"#, "model"),
        (r#"{"model":"m"}"#, "input"),
        (r#"{"model":"m","input":[]}"#, "input"),
        (r#"{"model":"m","input":""}"#, "input"),
        (r#"{"model":"m","input":["a",""]}"#, "input[1]"),
        (r#"{"model":"m","input":["a",1]}"#, "input[1]"),
        (r#"{"model":"m","input":{}}"#, "input"),
        (
            r#"{"model":"m","input":"x","encoding_format":"int8"}"#,
            "encoding_format",
        ),
        (r#"{"model":"m","input":"x","dimensions":0}"#, "dimensions"),
        (
            r#"{"model":"m","input":"x","dimensions":"8"}"#,
            "dimensions",
        ),
        (r#"{"model":"m","input":"x","user":5}"#, "user"),
    ] {
        assert_eq!(
            parse(body).unwrap_err().param.as_deref(),
            Some(param),
            "{body}"
        );
    }
    assert!(parse("[]").unwrap_err().param.is_none());
    let many = format!(
        r#"{{"model":"m","input":[{}]}}"#,
        vec!["\"x\""; 2049].join(",")
    );
    assert_eq!(parse(&many).unwrap_err().param.as_deref(), Some("input"));
}

#[test]
fn gemini_answer_becomes_an_openai_list() {
    let req = parse(r#"{"model":"m","input":["What is the meaning of life?","How much wood would a woodchuck chuck?"]}"#).unwrap();
    let (out, usage) =
        embeddings::openai_from_gemini(GEMINI_ANSWER.as_bytes(), &req, "my-embedder").unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "my-embedder");
    assert_eq!(v["data"][1]["object"], "embedding");
    assert_eq!(v["data"][1]["index"], 1);
    let first: Vec<f32> = serde_json::from_value(v["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(first, [-0.0026168018f32, 0.0064289765, -0.07203327]);
    // Estimated: ceil(28 / 4) + ceil(38 / 4) = 7 + 10.
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.total_tokens,
            usage.completion_tokens
        ),
        (17, 17, 0)
    );
    assert_eq!(v["usage"], json!({"prompt_tokens":17,"total_tokens":17}));

    let req = EmbeddingsRequest {
        base64: true,
        ..req
    };
    let (out, _) = embeddings::openai_from_gemini(GEMINI_ANSWER.as_bytes(), &req, "e").unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["data"][1]["embedding"].as_str().unwrap())
        .unwrap();
    let floats: Vec<f32> = raw
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(floats, [0.01542837f32, -0.00913426, 0.0411256]);

    // Usage from usageMetadata when Gemini sends it.
    let with_usage = r#"{"embeddings":[{"values":[1]},{"values":[2]}],"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}}"#;
    let (_, u) = embeddings::openai_from_gemini(with_usage.as_bytes(), &req, "e").unwrap();
    assert_eq!(u.prompt_tokens, 9);
}

#[test]
fn gemini_failures_are_errors() {
    let req = parse(r#"{"model":"m","input":["a","b"]}"#).unwrap();
    let e = embeddings::openai_from_gemini(
        br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#,
        &req,
        "e",
    )
    .unwrap_err();
    assert_eq!(e.status, 429);
    for body in [
        &br#"{"embeddings":[{"values":[1]}]}"#[..],
        b"{}",
        b"nope",
        br#"{"embeddings":[{"values":["x"]},{"values":[1]}]}"#,
    ] {
        assert_eq!(
            embeddings::openai_from_gemini(body, &req, "e")
                .unwrap_err()
                .status,
            502
        );
    }
}

#[test]
fn passthrough_usage_scan() {
    let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    let u = embeddings::scan_openai_usage(body).unwrap();
    assert_eq!((u.prompt_tokens, u.total_tokens), (8, 8));
    assert!(embeddings::scan_openai_usage(b"{}").is_none());
    assert!(embeddings::scan_openai_usage(b"not json").is_none());
}
