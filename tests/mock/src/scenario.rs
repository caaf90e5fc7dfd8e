//! Scenario files: ordered rules that decide how the mock answers each request.
//!
//! The JSON wire format ([`RuleSpec`]) is validated and compiled once into [`Rule`]s
//! (fixtures loaded, generated bodies rendered, error bodies built), so the request path
//! only matches and copies. Per-rule request counters are atomics.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use serde::Deserialize;

use crate::fixture::{self, FixtureRef, FixtureRoots};
use crate::flavor::{default_error_body, Flavor};
use crate::generate::{GenerateSpec, Generated};

/// Behaviour used when a rule leaves a knob unset (from the command line).
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Delay before response headers.
    pub delay: Duration,
    /// Delay before the first body chunk.
    pub ttft: Duration,
    /// Delay between body chunks.
    pub gap: Duration,
    /// Probability that a request fails with `fail_status`.
    pub fail_rate: f64,
    /// Status of injected failures.
    pub fail_status: u16,
    /// Shape of generated answers.
    pub generate: GenerateSpec,
}

/// A connection-level or body-level fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection without any response (RST).
    Reset,
    /// Never send response headers; hold the connection until the client leaves.
    Stall,
    /// Send headers and the first chunk, then hold the connection.
    StallBody,
    /// Send half of the chunks, then close the connection mid-body.
    Cut,
}

impl Fault {
    /// The name used in scenario files and the stats log.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Reset => "reset",
            Fault::Stall => "stall",
            Fault::StallBody => "stall_body",
            Fault::Cut => "cut",
        }
    }
}

/// What a successful answer consists of.
#[derive(Debug)]
pub enum Content {
    /// Synthesized, with the request's model echoed.
    Generated(Arc<Generated>),
    /// Replayed from fixture files: `json` for non-stream requests, `stream` for streams.
    Fixture {
        /// Served to non-stream requests.
        json: FixtureRef,
        /// Served to stream requests.
        stream: FixtureRef,
    },
}

/// A compiled scenario rule.
#[derive(Debug)]
pub struct Rule {
    /// Matches only requests for this model (exact).
    pub model: Option<String>,
    /// Matches only requests of this flavor.
    pub flavor: Option<Flavor>,
    /// Matches only once this many requests were served under the scenario.
    pub after_requests: u64,
    /// Matches only while fewer than this many requests were served under the scenario.
    pub until_requests: u64,
    /// The answer.
    pub content: Content,
    /// Delay before response headers.
    pub delay: Duration,
    /// Delay before the first body chunk.
    pub ttft: Duration,
    /// Delay between body chunks.
    pub gap: Duration,
    /// Forced non-success status, answered with `error_body`.
    pub status: Option<u16>,
    /// Body of error answers; `None` means the flavor's default error body.
    pub error_body: Option<Bytes>,
    /// `Retry-After` seconds on error answers.
    pub retry_after: Option<u64>,
    /// Probability of failing with `fail_status`.
    pub fail_rate: f64,
    /// Status of injected failures (`fail_rate`, `fail_first_n`).
    pub fail_status: u16,
    /// The first this-many requests matching the rule fail with `fail_status`.
    pub fail_first_n: u64,
    /// A connection or body fault applied to every matching request.
    pub fault: Option<Fault>,
    /// Requests that matched this rule since it was loaded or reset.
    pub matched: AtomicU64,
}

/// A compiled scenario: rules tried in order, then the command-line default.
#[derive(Debug)]
pub struct Scenario {
    /// Rules in file order.
    pub rules: Vec<Rule>,
    /// Used when no rule matches.
    pub fallback: Rule,
    /// Requests served under this scenario since it was loaded or reset.
    pub requests: AtomicU64,
    /// The JSON this scenario was compiled from (shown by `GET /_mock/scenario`).
    pub source: Bytes,
    /// Generated bodies for the command-line defaults, shared by rules that use them.
    generated_default: Arc<Generated>,
}

/// One rule as written in a scenario file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    model: Option<String>,
    flavor: Option<Flavor>,
    after_requests: Option<u64>,
    until_requests: Option<u64>,
    fixture: Option<String>,
    fixture_stream: Option<String>,
    fixture_json: Option<String>,
    generate: Option<GenerateWire>,
    delay_ms: Option<u64>,
    ttft_ms: Option<u64>,
    gap_ms: Option<u64>,
    status: Option<u16>,
    error_body: Option<serde_json::Value>,
    retry_after: Option<u64>,
    fail_rate: Option<f64>,
    fail_status: Option<u16>,
    fail_first_n: Option<u64>,
    fault: Option<FaultWire>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum GenerateWire {
    Flag(bool),
    Spec {
        chunks: Option<u32>,
        chunk_text: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FaultWire {
    Name(String),
    FailFirstN { fail_first_n: u64 },
}

impl Scenario {
    /// A scenario without rules: generated answers shaped by `defaults`.
    pub fn empty(defaults: &Defaults) -> anyhow::Result<Self> {
        let generated_default = Arc::new(Generated::new(&defaults.generate));
        Ok(Self {
            rules: Vec::new(),
            fallback: fallback_rule(defaults, &generated_default)?,
            requests: AtomicU64::new(0),
            source: Bytes::from_static(b"{\"rules\":[]}"),
            generated_default,
        })
    }

    /// Parses and compiles a scenario: `{"rules": [...]}` or a bare `[...]` of rules.
    pub fn compile(
        source: Bytes,
        defaults: &Defaults,
        fixtures: &FixtureRoots,
    ) -> anyhow::Result<Self> {
        let doc: serde_json::Value =
            serde_json::from_slice(&source).context("scenario is not valid JSON")?;
        let specs = match doc {
            serde_json::Value::Array(rules) => rules,
            serde_json::Value::Object(mut obj) => {
                if let Some(key) = obj.keys().find(|k| *k != "rules") {
                    bail!("unknown scenario key {key:?} (expected only \"rules\")");
                }
                match obj.remove("rules") {
                    Some(serde_json::Value::Array(rules)) => rules,
                    Some(_) => bail!("\"rules\" must be an array"),
                    None => Vec::new(),
                }
            }
            _ => bail!("scenario must be an object {{\"rules\": [...]}} or an array of rules"),
        };
        let generated_default = Arc::new(Generated::new(&defaults.generate));
        let rules = specs
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                let spec: RuleSpec =
                    serde_json::from_value(value).with_context(|| format!("rule {i}"))?;
                spec.compile(defaults, fixtures, &generated_default)
                    .with_context(|| format!("rule {i}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            rules,
            fallback: fallback_rule(defaults, &generated_default)?,
            requests: AtomicU64::new(0),
            source,
            generated_default,
        })
    }

    /// Compiles one rule given inline (the `x-mock-rule` request header); its match
    /// keys are ignored and its counters start at zero for every request.
    pub fn compile_inline(
        &self,
        json: &[u8],
        defaults: &Defaults,
        fixtures: &FixtureRoots,
    ) -> anyhow::Result<Rule> {
        let spec: RuleSpec = serde_json::from_slice(json).context("x-mock-rule")?;
        spec.compile(defaults, fixtures, &self.generated_default)
    }

    /// Counts a request and returns the rule that answers it.
    pub fn select(&self, flavor: Flavor, model: Option<&str>) -> &Rule {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        self.rules
            .iter()
            .find(|rule| rule.matches(flavor, model, n))
            .unwrap_or(&self.fallback)
    }

    /// Zeroes the scenario's and every rule's request counters.
    pub fn reset_counters(&self) {
        self.requests.store(0, Ordering::Relaxed);
        for rule in self.rules.iter().chain(std::iter::once(&self.fallback)) {
            rule.matched.store(0, Ordering::Relaxed);
        }
    }

    /// Models named by rules (listed by `GET /v1/models`).
    pub fn models(&self) -> Vec<&str> {
        let mut models: Vec<&str> = Vec::new();
        for model in self.rules.iter().filter_map(|r| r.model.as_deref()) {
            if !models.contains(&model) {
                models.push(model);
            }
        }
        models
    }
}

/// The rule used when none matches; fails only on invalid command-line defaults.
fn fallback_rule(defaults: &Defaults, generated: &Arc<Generated>) -> anyhow::Result<Rule> {
    RuleSpec::default()
        .compile_with(defaults, Content::Generated(Arc::clone(generated)))
        .context("invalid default behaviour flags")
}

impl RuleSpec {
    fn compile(
        self,
        defaults: &Defaults,
        fixtures: &FixtureRoots,
        generated_default: &Arc<Generated>,
    ) -> anyhow::Result<Rule> {
        let has_fixture =
            self.fixture.is_some() || self.fixture_stream.is_some() || self.fixture_json.is_some();
        if has_fixture && self.generate.is_some() {
            bail!("a rule has either fixture* or generate, not both");
        }
        let content = if has_fixture {
            let (base_json, base_stream) = match &self.fixture {
                Some(f) => (Some(sibling(f, "json")), Some(sibling(f, "sse"))),
                None => (None, None),
            };
            // A rule naming only one file serves it to both request modes.
            let json = self
                .fixture_json
                .clone()
                .or(base_json)
                .or_else(|| self.fixture_stream.clone());
            let stream = self
                .fixture_stream
                .clone()
                .or(base_stream)
                .or_else(|| self.fixture_json.clone());
            let load = |name: Option<String>| -> anyhow::Result<FixtureRef> {
                let name = name.unwrap_or_default();
                Ok(fixture::load(&fixtures.resolve(&name)?))
            };
            Content::Fixture {
                json: load(json)?,
                stream: load(stream)?,
            }
        } else {
            match &self.generate {
                Some(GenerateWire::Spec { chunks, chunk_text }) => {
                    let spec = GenerateSpec {
                        chunks: chunks.unwrap_or(defaults.generate.chunks),
                        chunk_text: chunk_text
                            .clone()
                            .unwrap_or_else(|| defaults.generate.chunk_text.clone()),
                        id: defaults.generate.id.clone(),
                    };
                    Content::Generated(Arc::new(Generated::new(&spec)))
                }
                Some(GenerateWire::Flag(false)) => {
                    bail!("\"generate\": false; omit it, or name a fixture")
                }
                Some(GenerateWire::Flag(true)) | None => {
                    Content::Generated(Arc::clone(generated_default))
                }
            }
        };
        self.compile_with(defaults, content)
    }

    fn compile_with(self, defaults: &Defaults, content: Content) -> anyhow::Result<Rule> {
        let ms = |v: Option<u64>, d: Duration| v.map(Duration::from_millis).unwrap_or(d);
        let fail_rate = self.fail_rate.unwrap_or(defaults.fail_rate);
        if !(0.0..=1.0).contains(&fail_rate) {
            bail!("fail_rate must be within 0..=1, got {fail_rate}");
        }
        let status = match (self.status, self.retry_after) {
            (Some(s), _) => Some(s),
            (None, Some(_)) => Some(429),
            (None, None) => None,
        };
        for s in status.iter().chain(self.fail_status.iter()) {
            if !(100..=999).contains(s) {
                bail!("status {s} is not an HTTP status code");
            }
        }
        let error_body = self.error_body.map(|v| match v {
            serde_json::Value::String(s) => Bytes::from(s),
            other => Bytes::from(other.to_string()),
        });
        let (fault, fault_first_n) = match self.fault {
            None => (None, None),
            Some(FaultWire::FailFirstN { fail_first_n }) => (None, Some(fail_first_n)),
            Some(FaultWire::Name(name)) => (
                Some(match name.as_str() {
                    "reset" => Fault::Reset,
                    "stall" => Fault::Stall,
                    "stall_body" => Fault::StallBody,
                    "cut" => Fault::Cut,
                    other => bail!(
                        "unknown fault {other:?} (reset, stall, stall_body, cut, {{\"fail_first_n\": N}})"
                    ),
                }),
                None,
            ),
        };
        Ok(Rule {
            model: self.model,
            flavor: self.flavor,
            after_requests: self.after_requests.unwrap_or(0),
            until_requests: self.until_requests.unwrap_or(u64::MAX),
            content,
            delay: ms(self.delay_ms, defaults.delay),
            ttft: ms(self.ttft_ms, defaults.ttft),
            gap: ms(self.gap_ms, defaults.gap),
            status,
            error_body,
            retry_after: self.retry_after,
            fail_rate,
            fail_status: self.fail_status.unwrap_or(defaults.fail_status),
            fail_first_n: self.fail_first_n.or(fault_first_n).unwrap_or(0),
            fault,
            matched: AtomicU64::new(0),
        })
    }
}

/// `name` with its extension replaced by `ext` (or added, when it has none).
fn sibling(name: &str, ext: &str) -> String {
    let path = Path::new(name);
    match path.extension() {
        Some(_) => path.with_extension(ext).to_string_lossy().into_owned(),
        None => format!("{name}.{ext}"),
    }
}

/// How a matched request is to be answered, before content is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A connection fault that sends no response.
    NoResponse(Fault),
    /// An error answer with this status.
    Fail(u16),
    /// The rule's content (possibly with a body fault).
    Serve,
}

impl Rule {
    fn matches(&self, flavor: Flavor, model: Option<&str>, n: u64) -> bool {
        self.flavor.is_none_or(|f| f == flavor)
            && self.model.as_deref().is_none_or(|m| Some(m) == model)
            && n >= self.after_requests
            && n < self.until_requests
    }

    /// Decides the answer for the next request matched by this rule.
    pub fn verdict(&self) -> Verdict {
        let n = self.matched.fetch_add(1, Ordering::Relaxed);
        if let Some(f @ (Fault::Reset | Fault::Stall)) = self.fault {
            return Verdict::NoResponse(f);
        }
        if n < self.fail_first_n {
            return Verdict::Fail(self.fail_status);
        }
        if self.fail_rate > 0.0 && unit_interval(n) < self.fail_rate {
            return Verdict::Fail(self.fail_status);
        }
        match self.status {
            // A fixture is served with the forced status as recorded (e.g. an error
            // fixture); generated content becomes the flavor's error body.
            Some(status)
                if !(200..300).contains(&status)
                    && (self.error_body.is_some()
                        || matches!(self.content, Content::Generated(_))) =>
            {
                Verdict::Fail(status)
            }
            _ => Verdict::Serve,
        }
    }

    /// The error body for `status` in `flavor`'s format (or the rule's inline body).
    pub fn error_body(&self, flavor: Flavor, status: u16) -> Bytes {
        match &self.error_body {
            Some(body) => body.clone(),
            None => default_error_body(flavor, status),
        }
    }
}

/// Deterministic pseudo-random number in `[0, 1)` for the `n`th request (SplitMix64),
/// so a fail rate gives the same pattern on every run.
fn unit_interval(n: u64) -> f64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            delay: Duration::ZERO,
            ttft: Duration::ZERO,
            gap: Duration::ZERO,
            fail_rate: 0.0,
            fail_status: 500,
            generate: GenerateSpec {
                chunks: 2,
                chunk_text: "x".to_owned(),
                id: "mock".to_owned(),
            },
        }
    }

    fn compile(json: &str) -> anyhow::Result<Scenario> {
        Scenario::compile(
            Bytes::copy_from_slice(json.as_bytes()),
            &defaults(),
            &FixtureRoots::new("/nonexistent".into(), []),
        )
    }

    #[test]
    fn rejects_typos_and_bad_values() {
        assert!(compile(r#"[{"modle":"x"}]"#).is_err());
        assert!(compile(r#"[{"fault":"explode"}]"#).is_err());
        assert!(compile(r#"[{"fail_rate":2}]"#).is_err());
        assert!(compile(r#"[{"generate":{"chunk":2}}]"#).is_err());
        assert!(compile(r#"[{"generate":{"chunks":2}}]"#).is_ok());

        assert!(compile(r#"[{"fixture":"../x.sse"}]"#).is_err());
        assert!(compile(r#"{"rules":[],"extra":1}"#).is_err());
    }

    #[test]
    fn matches_in_order_with_phases() {
        let s = compile(
            r#"{"rules":[
                {"model":"a","status":503},
                {"flavor":"gemini","after_requests":2,"fault":"reset"},
                {"retry_after":7}
            ]}"#,
        )
        .unwrap();
        assert_eq!(s.select(Flavor::Openai, Some("a")).status, Some(503));
        assert_eq!(s.select(Flavor::Gemini, Some("g")).status, Some(429));
        assert_eq!(
            s.select(Flavor::Gemini, Some("g")).fault,
            Some(Fault::Reset)
        );
        s.reset_counters();
        assert_eq!(s.select(Flavor::Gemini, None).fault, None);
    }

    #[test]
    fn fail_first_n_then_healthy() {
        let s = compile(r#"[{"fault":{"fail_first_n":2},"fail_status":503}]"#).unwrap();
        let rule = &s.rules[0];
        assert_eq!(rule.verdict(), Verdict::Fail(503));
        assert_eq!(rule.verdict(), Verdict::Fail(503));
        assert_eq!(rule.verdict(), Verdict::Serve);
    }

    #[test]
    fn fail_rate_is_roughly_honoured() {
        let s = compile(r#"[{"fail_rate":0.25}]"#).unwrap();
        let fails = (0..4000)
            .filter(|_| s.rules[0].verdict() != Verdict::Serve)
            .count();
        assert!((800..1200).contains(&fails), "{fails}");
    }

    #[test]
    fn fixture_siblings() {
        assert_eq!(sibling("openai/a.sse", "json"), "openai/a.json");
        assert_eq!(sibling("openai/a", "sse"), "openai/a.sse");
    }
}
