//! Which strings can be a model (or provider) name: nothing that could escape its place in
//! an upstream URL.

/// Custom methods of the Google-style APIs (`models/{model}:method`) that a model name
/// must never smuggle into an upstream path (matched case-insensitively after a `:`).
const API_METHODS: &[&str] = &[
    "generateContent",
    "streamGenerateContent",
    "batchGenerateContent",
    "countTokens",
    "computeTokens",
    "embedContent",
    "batchEmbedContents",
    "asyncBatchEmbedContent",
    "generateAnswer",
    "generateMessage",
    "countMessageTokens",
    "generateText",
    "countTextTokens",
    "embedText",
    "batchEmbedText",
    "predict",
    "predictLongRunning",
    "rawPredict",
    "streamRawPredict",
    "serverStreamingPredict",
    "fetchPredictOperation",
];

/// Why a string cannot be a model (or provider) name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadName {
    /// Nothing there.
    Empty,
    /// Longer than the configured limit (bytes).
    TooLong {
        /// The configured limit.
        max: usize,
    },
    /// A byte outside `[A-Za-z0-9._:@+/-]` (whitespace, control, `?`, `#`, `%`, `\`, …).
    Char(char),
    /// An empty, `.` or `..` path segment.
    Segment,
    /// `:` followed by an upstream API method (`:countTokens`, `:generateContent`, …).
    ApiMethod(&'static str),
}

impl std::fmt::Display for BadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadName::Empty => f.write_str("must not be empty"),
            BadName::TooLong { max } => write!(f, "is longer than the limit of {max} bytes"),
            BadName::Char(c) => write!(
                f,
                "contains {c:?}; allowed are letters, digits and . _ - : @ + /"
            ),
            BadName::Segment => f.write_str("has an empty, `.` or `..` path segment"),
            BadName::ApiMethod(m) => write!(f, "names the upstream API method `:{m}`"),
        }
    }
}

/// Checks that `name` can be a model name (also used for provider names in pins).
///
/// Real names are accepted: `gpt-4o`, `provider:model`, Ollama tags (`llama3.1:8b`),
/// fine-tunes (`ft:gpt-4o-mini:org:suffix:id`), Bedrock ids (`…-v1:0`), Vertex versions
/// (`claude-3-5-sonnet@20240620`) and the `org/model` names of OpenAI-compatible servers
/// (`meta-llama/Llama-3-8b`, `@cf/meta/llama-3-8b-instruct`). Refused is what could make
/// a name escape its place in an upstream URL: any byte outside `[A-Za-z0-9._:@+/-]`
/// (so no whitespace, control characters, `?`, `#`, `%`, `\` or non-ASCII), an empty
/// segment around a `/`, a `.` or `..` piece between `/`s and `:`s, and a `:` followed
/// by an API method such as `:countTokens`. Linear in the name, which is first bounded by
/// `max_len`.
#[inline]
pub fn check_model_name(name: &str, max_len: usize) -> Result<(), BadName> {
    if name.is_empty() {
        return Err(BadName::Empty);
    }
    if name.len() > max_len {
        return Err(BadName::TooLong { max: max_len });
    }
    let b = name.as_bytes();
    // Most names are letters, digits, `-` and `_` only: nothing more to check.
    if b.iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        return Ok(());
    }
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'@' | b'+' => {}
            b'/' => {
                let sep = |j: Option<usize>| {
                    j.and_then(|j| b.get(j))
                        .is_none_or(|&n| n == b'/' || n == b':')
                };
                if sep(i.checked_sub(1)) || sep(i.checked_add(1)) {
                    return Err(BadName::Segment);
                }
            }
            b':' => {
                let rest = b.get(i + 1..).unwrap_or_default();
                let word = rest
                    .iter()
                    .position(|c| !c.is_ascii_alphabetic())
                    .map_or(rest, |n| rest.get(..n).unwrap_or_default());
                if let Some(m) = API_METHODS
                    .iter()
                    .find(|m| m.as_bytes().eq_ignore_ascii_case(word))
                {
                    return Err(BadName::ApiMethod(m));
                }
            }
            _ => {
                let c = name
                    .get(i..)
                    .and_then(|s| s.chars().next())
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                return Err(BadName::Char(c));
            }
        }
    }
    if name
        .split(['/', ':'])
        .any(|piece| piece == "." || piece == "..")
    {
        return Err(BadName::Segment);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names() {
        let long = format!("echo:{}", "A".repeat(1_000_000));
        let accepted = [
            "gpt-4o",
            "gpt-4o-2024-08-06",
            "openai:gpt-4o",
            "oa2:mixtral",
            "claude-3-5-sonnet@20240620",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "ft:gpt-4o-mini-2024-07-18:my-org:custom:9GHMxK9B",
            "llama3.1:8b-instruct-q4_K_M",
            "ollama:llama3:8b",
            "meta-llama/Llama-3-8b",
            "vllm:meta-llama/Meta-Llama-3.1-8B-Instruct",
            "models/gemini-1.5-pro",
            "accounts/fireworks/models/llama-v3p1-8b-instruct",
            "@cf/meta/llama-3-8b-instruct",
            "meta-llama/llama-3-8b-instruct:free",
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
            "Qwen2.5-7B+lora",
            "openai_official",
            "gemini-2.5-flash",
            "deepseek-chat",
            "x",
        ];
        for name in accepted {
            assert_eq!(check_model_name(name, 256), Ok(()), "{name}");
        }
        let rejected: &[(&str, BadName)] = &[
            ("", BadName::Empty),
            (&long, BadName::TooLong { max: 256 }),
            (
                "mock-gemini:gemini-x:countTokens?",
                BadName::ApiMethod("countTokens"),
            ),
            (
                "mock-gemini:gemini-x:countTokens",
                BadName::ApiMethod("countTokens"),
            ),
            (
                "gemini-x:generateContent",
                BadName::ApiMethod("generateContent"),
            ),
            (
                "g:gemini-x:STREAMGENERATECONTENT",
                BadName::ApiMethod("streamGenerateContent"),
            ),
            (
                "gemini-x:embedContent/x",
                BadName::ApiMethod("embedContent"),
            ),
            (
                "gemini-x:batchEmbedContents",
                BadName::ApiMethod("batchEmbedContents"),
            ),
            ("gemini-x?alt=sse", BadName::Char('?')),
            ("gemini-x#frag", BadName::Char('#')),
            ("gpt%2F4", BadName::Char('%')),
            ("a\\b", BadName::Char('\\')),
            ("gpt 4", BadName::Char(' ')),
            ("gpt-4\t", BadName::Char('\t')),
            ("gpt-4\n", BadName::Char('\n')),
            ("gpt\u{0}4", BadName::Char('\u{0}')),
            ("gpt\u{7f}4", BadName::Char('\u{7f}')),
            ("gpté", BadName::Char('é')),
            ("gpt\u{202e}4", BadName::Char('\u{202e}')),
            ("a=b", BadName::Char('=')),
            ("/gpt-4", BadName::Segment),
            ("gpt-4/", BadName::Segment),
            ("a//b", BadName::Segment),
            ("p:/abs", BadName::Segment),
            ("a/:b", BadName::Segment),
            ("a/../b", BadName::Segment),
            ("a/./b", BadName::Segment),
            ("gemini:..", BadName::Segment),
            ("..", BadName::Segment),
        ];
        for (name, why) in rejected {
            assert_eq!(check_model_name(name, 256).as_ref(), Err(why), "{name:?}");
        }
        assert_eq!(check_model_name("abcd", 4), Ok(()));
        assert_eq!(
            check_model_name("abcde", 4),
            Err(BadName::TooLong { max: 4 })
        );
    }
}
