use std::time::Duration;

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<RuntimeConfig, ConfigError> {
    parse_config("test.toml", text, &no_env)
}

#[test]
fn canonical_form() {
    let cfg = parse(
        r#"
[server]
listen = "127.0.0.1:8000"
max_body_bytes = 1024

[[providers]]
name = "openai-primary"
kind = "openai"
models = ["gpt-4o", "gpt-4o-mini"]
weight = 3
priority = 1
timeout_ms = 5000
  [[providers.endpoints]]
  base_url = "https://api.openai.com/v1"
  api_key_env = "TEST_KEY"
  [[providers.endpoints]]
  base_url = "http://127.0.0.1:9999/v1"
  api_key = "sk-local"

[[routes]]
name = "llm-auto-route"
strategy = "weighted"
retries = 1
  [[routes.targets]]
  provider = "openai-primary"
  model = "gpt-4o"
  weight = 2
"#,
    )
    .unwrap();
    assert_eq!(cfg.server.max_body_bytes, 1024);
    let (_, p) = cfg.provider("openai-primary").unwrap();
    assert_eq!(p.kind, ProviderKind::OpenAi);
    assert_eq!(p.endpoints.len(), 2);
    assert_eq!(p.endpoints[1].api_key.expose(), "sk-local");
    assert_eq!(p.endpoints[0].api_key.expose(), "");
    assert_eq!(p.weight, 3);
    assert_eq!(p.timeout, Duration::from_millis(5000));
    let r = cfg.route("llm-auto-route").unwrap();
    assert_eq!(r.strategy, Strategy::Weighted);
    assert_eq!(r.retries, 1);
    assert_eq!(r.targets[0].model, "gpt-4o");
    assert_eq!(r.targets[0].weight, 2);
}

#[test]
fn table_form() {
    let cfg = parse(
        r#"
[providers.openai_official]
name = "OpenAI Official"
base_url = "https://api.openai.com/v1"
api_key = "sk-..."
models = ["gpt-4o", "gpt-4o-mini"]
enabled = true

[providers.anthropic_claude]
name = "Anthropic Claude"
base_url = "https://api.anthropic.com/v1"
api_key = "sk-ant-..."
models = ["claude-sonnet-4"]
enabled = true

[[models.gpt_4o.backends]]
provider = "openai_official"
model = "gpt-4o"
weight = 1.0
enabled = true

[[models.claude_sonnet_4.backends]]
provider = "anthropic_claude"
model = "claude-3-5-sonnet-20241022"
weight = 0.5
enabled = true
"#,
    )
    .unwrap();
    let (_, p) = cfg.provider("anthropic_claude").unwrap();
    assert_eq!(p.kind, ProviderKind::Anthropic);
    let (_, p) = cfg.provider("openai_official").unwrap();
    assert_eq!(p.kind, ProviderKind::OpenAi);
    let r = cfg.route("claude_sonnet_4").unwrap();
    assert_eq!(r.targets[0].model, "claude-3-5-sonnet-20241022");
    assert_eq!(r.targets[0].weight, 50);
    assert!(cfg.route("gpt_4o").is_some());
}

#[test]
fn errors_name_key_and_problem() {
    let cases: &[(&str, &str)] = &[
        ("[[providers]]\nname='a'\nkind='openai'\nbase_url='http://x'\nbogus=1\n", "unknown field `bogus`"),
        ("[[providers]]\nname='a'\nkind='martian'\nbase_url='http://x'\n", "providers[0].kind"),
        ("[[providers]]\nname='a'\nkind='openai'\nbase_url='ftp://x'\n", "providers[0].endpoints[0].base_url"),
        ("[[providers]]\nname='a'\nkind='openai'\n", "providers[0].endpoints"),
        ("[[providers]]\nname='a'\nkind='openai'\nbase_url='http://x'\n[[providers]]\nname='a'\nkind='openai'\nbase_url='http://y'\n", "duplicate provider"),
        ("[[routes]]\nname='r'\n[[routes.targets]]\nprovider='nope'\n", "routes[0].targets[0].provider"),
        ("[[providers]]\nname='a'\nkind='openai'\nbase_url='http://x'\n[[routes]]\nname='r'\nstrategy='random'\n[[routes.targets]]\nprovider='a'\n", "routes[0].strategy"),
        ("[server]\nmax_body_bytes=0\n", "server.max_body_bytes"),
        ("[server]\nlisten='nowhere'\n", "server.listen"),
        ("[sever]\n", "unknown field `sever`"),
        ("providers = 3\n", "providers"),
        ("this is not toml", "line 1"),
        ("[providers.x]\nbase_url='http://x'\nmodels='gpt'\n", "providers.x"),
        ("[[models.m.backends]]\nprovider='ghost'\n", "models.m.backends[0].provider"),
    ];
    for (text, want) in cases {
        let e = parse(text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"));
        let s = e.to_string();
        assert!(s.starts_with("test.toml: "), "{s}");
        assert!(s.contains(want), "`{s}` should mention `{want}`");
    }
}

#[test]
fn env_zero_config() {
    let env = |k: &str| match k {
        "OPENAI_API_KEY" => Some("sk-env".to_string()),
        "OPENAI_API_BASE" => Some("http://127.0.0.1:1234/v1".to_string()),
        "DEEPSEEK_API_KEY" => Some("ds".to_string()),
        _ => None,
    };
    let cfg = parse_config("t", "", &env).unwrap();
    let (_, p) = cfg.provider("openai").unwrap();
    assert_eq!(p.endpoints[0].base_url.port, 1234);
    assert_eq!(p.endpoints[0].api_key.expose(), "sk-env");
    assert_eq!(
        cfg.provider("deepseek").unwrap().1.endpoints[0]
            .base_url
            .host,
        "api.deepseek.com"
    );
    assert!(cfg.provider("anthropic").is_none());
    let cfg = parse_config("t", "env_providers = false", &env).unwrap();
    assert!(cfg.providers.is_empty());
}

#[test]
fn example_configs_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("toml")
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("sluice"))
        {
            let text = std::fs::read_to_string(&path).unwrap();
            parse_config(&path.display().to_string(), &text, &no_env).unwrap();
            n += 1;
        }
    }
    assert!(n >= 1, "no example configs found in {}", dir.display());
}

fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k: &str| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_string())
    }
}

const GOVERNANCE_ENV: &[(&str, &str)] = &[
    ("ML_ALICE_KEY", "sk-alice-0123456789"),
    ("ML_BATCH_KEY", "sk-batch-0123456789"),
    ("OPS_KEY", "sk-ops-0123456789"),
];

#[test]
fn governance_example_loads() {
    use crate::governance::{BudgetWindow, RateStoreBackend, TokenCount};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/governance.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let env = env_of(GOVERNANCE_ENV);
    let cfg = parse_config("governance.toml", &text, &env).unwrap();
    let g = &cfg.governance;
    assert_eq!(cfg.server.auth, crate::auth::AuthMode::Keys);
    assert_eq!(cfg.server.rate_store.backend, RateStoreBackend::Local);
    assert_eq!(g.default_output_estimate, 1024);
    assert_ne!(g.digest_secret, [0; 32]);
    assert_eq!(g.keys.len(), 3);
    assert_eq!(g.digests.len(), 3);
    let alice = g.find_key("sk-alice-0123456789", 0).unwrap();
    assert_eq!(alice.id, "ml-alice");
    assert_eq!(alice.team.as_deref(), Some("ml"));
    assert_eq!(alice.user.as_deref(), Some("alice"));
    assert_eq!(alice.expires_at_ms, Some(1_798_761_600_000));
    assert_eq!(alice.limits.rpm, Some(60));
    let b = alice.budget.unwrap();
    assert_eq!(
        (b.limit_nanousd, b.window),
        (5_000_000_000, BudgetWindow::Day)
    );
    let batch = g.find_key("sk-batch-0123456789", 0).unwrap();
    assert_eq!(batch.limits.tpm_counts, TokenCount::Output);
    let ml = g.teams.get("ml").unwrap();
    assert!(ml.enabled);
    assert_eq!(ml.limits.max_concurrent, Some(8));
    assert_eq!(ml.budget.unwrap().soft_nanousd, Some(40_000_000_000));
    assert!(g.allows(alice, "llm-auto-route", "echo-1"));
    assert!(!g.allows(alice, "claude-3-haiku", "claude-3-haiku"));
    let ops = g.find_key("sk-ops-0123456789", 0).unwrap();
    assert!(!g.allows(ops, "gpt-4o", "gpt-4o"));
    assert_eq!(cfg.providers[0].limits.rpm, Some(3000));
    assert_eq!(cfg.routes[0].limits.max_concurrent, Some(64));
    assert_eq!(
        g.prices
            .lookup("echo-1")
            .unwrap()
            .cost_nanousd(&Default::default()),
        100_000
    );
    assert!(g.prices.is_override("gpt-4o-mini*"));
    assert!(g.prices.lookup("claude-sonnet-4-5").is_some());
    // Two loads digest under different secrets: no plaintext and no stable digest kept.
    let again = parse_config("governance.toml", &text, &env).unwrap();
    assert_ne!(again.governance.digest_secret, g.digest_secret);
    // A missing key variable is an error naming the field.
    let e = parse_config("governance.toml", &text, &no_env).unwrap_err();
    assert_eq!(e.key, "keys[0].key_env");
}

#[test]
fn governance_in_the_table_form_and_server_settings() {
    use crate::governance::{FailureMode, RateStoreBackend};
    let cfg = parse(
        r#"
[server]
rate_store = "rediss://user:pw@redis.internal:6380/2"
rate_store_failure_mode = "fail_closed"
rate_store_timeout_ms = 100
default_output_estimate = 256

[providers.openai]
base_url = "https://api.openai.com/v1"
  [providers.openai.limits]
  tpm = 30000000

[models.fast]
  [[models.fast.backends]]
  provider = "openai"
  model = "gpt-4o-mini"
  [models.fast.limits]
  rpm = 100

[[teams]]
name = "t"
enabled = false

[[keys]]
name = "k"
key = "sk-inline"
team = "t"
expires_at = 2027-01-01T01:00:00+01:00

[[prices]]
model = "gpt-4o-mini*"
input = 1.0
output = 2.0
"#,
    )
    .unwrap();
    assert_eq!(
        cfg.server.rate_store.backend,
        RateStoreBackend::Redis {
            url: "rediss://user:pw@redis.internal:6380/2".into()
        }
    );
    assert_eq!(cfg.server.rate_store.failure_mode, FailureMode::FailClosed);
    assert_eq!(cfg.server.rate_store.timeout, Duration::from_millis(100));
    assert_eq!(cfg.governance.default_output_estimate, 256);
    assert_eq!(
        cfg.provider("openai").unwrap().1.limits.tpm,
        Some(30_000_000)
    );
    assert_eq!(cfg.route("fast").unwrap().limits.rpm, Some(100));
    assert!(!cfg.governance.teams.get("t").unwrap().enabled);
    let k = cfg.governance.find_key("sk-inline", 0).unwrap();
    assert_eq!(k.expires_at_ms, Some(1_798_761_600_000));
    assert_eq!(
        cfg.governance.prices.lookup("gpt-4o-mini").unwrap().input,
        1.0
    );
    assert_eq!(cfg.server.auth, crate::auth::AuthMode::Keys);
}

#[test]
fn legacy_api_keys_become_keys() {
    let env = env_of(&[("MORE_KEYS", "ck-2, ck-3")]);
    let cfg = parse_config(
        "t",
        "[server]\napi_keys = ['ck-1']\napi_keys_env = 'MORE_KEYS'\n",
        &env,
    )
    .unwrap();
    let g = &cfg.governance;
    assert_eq!(cfg.server.auth, crate::auth::AuthMode::Keys);
    for (i, k) in ["ck-1", "ck-2", "ck-3"].iter().enumerate() {
        let key = g.find_key(k, 0).unwrap();
        assert_eq!(key.id, format!("api_keys[{i}]"));
        assert!(key.enabled && key.limits.is_unlimited() && key.budget.is_none());
    }
    // Still hashed for seeding a control plane (`client_key_sha256`).
    assert_eq!(cfg.server.client_key_hashes.len(), 3);
    // No keys at all: no secret needed, auth stays off, default prices and estimate.
    let cfg = parse("").unwrap();
    assert!(cfg.governance.keys.is_empty());
    assert_eq!(cfg.server.auth, crate::auth::AuthMode::None);
    assert_eq!(
        cfg.governance.default_output_estimate,
        crate::governance::DEFAULT_OUTPUT_ESTIMATE
    );
    assert!(cfg.governance.prices.lookup("gpt-4o").is_some());
    // Explicit `auth` still wins.
    let cfg = parse("[server]\nauth = 'none'\n[[keys]]\nname = 'a'\nkey = 'sk-a'\n").unwrap();
    assert_eq!(cfg.server.auth, crate::auth::AuthMode::None);
}

#[test]
fn governance_errors_name_the_field() {
    let team = "[[teams]]\nname = 'ml'\n";
    let cases: Vec<(String, &str)> = vec![
        ("[[keys]]\nname='a'\nkey='x'\nteam='x'\n".into(), "keys[0].team: unknown team \"x\""),
        ("[[keys]]\nname='a'\n".into(), "keys[0].key: give key or key_env"),
        ("[[keys]]\nname='a'\nkey='x'\nkey_env='X'\n".into(), "keys[0].key: give key or key_env, not both"),
        ("[[keys]]\nname='a'\nkey=''\n".into(), "keys[0].key: must not be empty"),
        ("[[keys]]\nname='a'\nkey='x'\n[[keys]]\nname='a'\nkey='y'\n".into(), "keys[1].name: duplicate key name `a`"),
        ("[[keys]]\nname='a'\nkey='x'\n[[keys]]\nname='b'\nkey='x'\n".into(), "keys[1].key: the same key as keys[0].key"),
        ("[server]\napi_keys=['x']\n[[keys]]\nname='b'\nkey='x'\n".into(), "server.api_keys[0]: the same key as keys[0].key"),
        ("[[keys]]\nname=''\nkey='x'\n".into(), "keys[0].name: must not be empty"),
        (format!("[[keys]]\nname='{}'\nkey='x'\n", "n".repeat(201)), "keys[0].name"),
        ("[[keys]]\nname='a'\nkey='x'\nexpires_at='tomorrow'\n".into(), "keys[0].expires_at: `tomorrow` is not an RFC 3339 time"),
        ("[[keys]]\nname='a'\nkey='x'\nexpires_at=2027-01-01T00:00:00\n".into(), "keys[0].expires_at"),
        ("[[keys]]\nname='a'\nkey='x'\nsecret='y'\n".into(), "unknown field `secret`"),
        ("[[keys]]\nname='a'\nkey='x'\n[keys.limits]\nrpm=0\n".into(), "keys[0].limits.rpm: must be between 1 and 1000000"),
        ("[[keys]]\nname='a'\nkey='x'\n[keys.limits]\nrpm=1000001\n".into(), "keys[0].limits.rpm"),
        ("[[keys]]\nname='a'\nkey='x'\n[keys.limits]\nburst=1\n".into(), "unknown field `burst`"),
        ("[[keys]]\nname='a'\nkey='x'\nallowed_models=['']\n".into(), "keys[0].allowed_models[0]"),
        (format!("{team}[teams.limits]\ntpm=1000000000001\n"), "teams[0].limits.tpm"),
        (format!("{team}[teams.limits]\nmax_concurrent=1000001\n"), "teams[0].limits.max_concurrent"),
        (format!("{team}[teams.limits]\ntpm_counts='both'\n"), "teams[0].limits.tpm_counts"),
        (format!("{team}[teams.budget]\nlimit_usd=10.0\nsoft_limit_usd=20.0\n"), "teams[0].budget.soft_limit_usd: must be at most limit_usd"),
        (format!("{team}[teams.budget]\nlimit_usd=-1.0\n"), "teams[0].budget.limit_usd"),
        (format!("{team}[teams.budget]\nlimit_usd=1.0\nwindow='week'\n"), "teams[0].budget.window"),
        (format!("{team}{team}"), "teams[1].name: duplicate team `ml`"),
        ("[[teams]]\nname='a b'\n".into(), "teams[0].name"),
        ("[[prices]]\nmodel='m'\ninput=-1.0\noutput=1.0\n".into(), "prices[0].input"),
        ("[[prices]]\nmodel='*'\ninput=1.0\noutput=1.0\n".into(), "prices[0].model"),
        ("[[prices]]\nmodel='m'\ninput=1.0\noutput=1.0\n[[prices]]\nmodel='m'\ninput=1.0\noutput=1.0\n".into(), "prices[1].model: duplicate price"),
        ("[[prices]]\nmodel='m'\ninput=1.0\n".into(), "missing field `output`"),
        ("[server]\nrate_store='memcached://x'\n".into(), "server.rate_store"),
        ("[server]\nrate_store='redis://'\n".into(), "server.rate_store"),
        ("[server]\nrate_store_failure_mode='maybe'\n".into(), "server.rate_store_failure_mode"),
        ("[server]\nrate_store_timeout_ms=0\n".into(), "server.rate_store_timeout_ms"),
        ("[server]\ndefault_output_estimate=0\n".into(), "server.default_output_estimate"),
        ("[[providers]]\nname='a'\nkind='openai'\nbase_url='http://x'\n[providers.limits]\nrpm=0\n".into(), "providers[0].limits.rpm"),
        ("[[providers]]\nname='a'\nkind='openai'\nbase_url='http://x'\n[[routes]]\nname='r'\n[[routes.targets]]\nprovider='a'\n[routes.limits]\nmax_concurrent=0\n".into(), "routes[0].limits.max_concurrent"),
        ("[providers.a]\nbase_url='http://x'\n[providers.a.limits]\ntpm=0\n".into(), "providers.a.limits.tpm"),
        ("[providers.a]\nbase_url='http://x'\n[[models.m.backends]]\nprovider='a'\n[models.m.limits]\nrpm=0\n".into(), "models.m.limits.rpm"),
    ];
    for (text, want) in &cases {
        let e = parse(text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"));
        let s = e.to_string();
        assert!(s.contains(want), "`{s}` should mention `{want}`");
        assert!(!s.contains("sk-"), "{s}");
    }
}
