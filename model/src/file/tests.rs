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
