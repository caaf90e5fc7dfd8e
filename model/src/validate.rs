//! The bounds and checks every configuration source shares — the static file loader, the
//! env zero-config, gRPC snapshots and the control plane's drafts — defined once, so a
//! value one plane accepts the other accepts too.

use std::time::Duration;

use crate::base_url::BaseUrl;
use crate::governance::{usd_to_nanousd, Budget, BudgetWindow, RateLimits, TokenCount};
use crate::price::{Price, PriceEntry};
use crate::provider::{Endpoint, HealthCheck, Provider, ProviderKind};
use crate::secret::Secret;

/// Longest provider or route name, in bytes.
pub const MAX_NAME_LEN: usize = 200;
/// Largest weight of a provider or target.
pub const MAX_WEIGHT: u32 = 1_000_000;
/// Largest fractional weight of the `[[models.<name>.backends]]` form (scaled by 100).
pub const MAX_FRACTIONAL_WEIGHT: f64 = 1_000_000.0;
/// Most retries a route (or the server-wide cap) may allow.
pub const MAX_RETRIES: u32 = 10;
/// Provider timeout when none is given.
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Longest provider timeout (one hour).
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// Longest pause between streamed chunks of the `echo` kind (larger values are clamped).
pub const MAX_PACE_MS: u64 = 60_000;
/// Shortest active health check interval.
pub const MIN_HEALTH_CHECK_INTERVAL_MS: u64 = 100;
/// Longest active health check interval.
pub const MAX_HEALTH_CHECK_INTERVAL_MS: u64 = 3_600_000;

/// Largest requests-per-minute limit.
pub const MAX_RPM: u64 = 1_000_000;
/// Largest tokens-per-minute limit.
pub const MAX_TPM: u64 = 1_000_000_000_000;
/// Largest concurrent-requests limit.
pub const MAX_CONCURRENT: u64 = 1_000_000;
/// Largest budget, US dollars (its nano-US-dollars fit a `u64` many times over).
pub const MAX_BUDGET_USD: f64 = 1e9;
/// Largest price, US dollars per million tokens (or per request).
pub const MAX_PRICE_USD: f64 = 1e6;
/// Most entries of an `allowed_models` list.
pub const MAX_ALLOWED_MODELS: usize = 10_000;

/// What is wrong with one value; the field it belongs to is named by [`FieldError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// An empty (or blank) value where one is required.
    #[error("must not be empty")]
    Empty,
    /// A name that is too long or contains whitespace or control characters.
    #[error("`{0}` must be 1-{MAX_NAME_LEN} characters without whitespace")]
    Name(String),
    /// A number above its bound.
    #[error("must be at most {0}")]
    AboveMax(u64),
    /// A number outside its range.
    #[error("must be between {min} and {max}{unit}")]
    OutOfRange {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
        /// Unit, with a leading space (or empty).
        unit: &'static str,
    },
    /// A base URL that does not parse.
    #[error("{0}")]
    Url(String),
    /// Anything else, said in words.
    #[error("{0}")]
    Other(String),
}

/// A validation error naming the field (`providers[0].endpoints[1].base_url`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong with it.
    pub problem: Invalid,
}

impl FieldError {
    /// `problem` at `field`.
    pub fn new(field: impl Into<String>, problem: Invalid) -> Self {
        Self {
            field: field.into(),
            problem,
        }
    }
}

/// A provider or route name: 1-200 characters, no whitespace or control characters.
pub fn name(name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(Invalid::Empty);
    }
    if name.len() > MAX_NAME_LEN || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Invalid::Name(name.to_string()));
    }
    Ok(())
}

/// A provider or target weight.
pub fn weight(weight: u32) -> Result<(), Invalid> {
    if weight > MAX_WEIGHT {
        return Err(Invalid::AboveMax(MAX_WEIGHT.into()));
    }
    Ok(())
}

/// A fractional weight (`weight = 0.7`), scaled by 100 and rounded to the integer weights
/// the balancer uses.
pub fn fractional_weight(weight: f64) -> Result<u32, Invalid> {
    if (0.0..=MAX_FRACTIONAL_WEIGHT).contains(&weight) {
        // In range (checked above, NaN excluded): at most 1e8, which fits in u32.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok((weight * 100.0).round() as u32)
    } else {
        Err(Invalid::Other(format!(
            "{weight} is not a weight between 0 and {MAX_FRACTIONAL_WEIGHT}"
        )))
    }
}

/// A route's retries.
pub fn retries(retries: u32) -> Result<(), Invalid> {
    if retries > MAX_RETRIES {
        return Err(Invalid::AboveMax(MAX_RETRIES.into()));
    }
    Ok(())
}

/// A provider timeout in milliseconds.
pub fn timeout_ms(ms: u64) -> Result<(), Invalid> {
    if ms == 0 || ms > MAX_TIMEOUT_MS {
        return Err(Invalid::OutOfRange {
            min: 1,
            max: MAX_TIMEOUT_MS,
            unit: " milliseconds",
        });
    }
    Ok(())
}

/// A model name in a provider's list or a target.
pub fn model(model: &str) -> Result<(), Invalid> {
    if model.trim().is_empty() {
        return Err(Invalid::Empty);
    }
    Ok(())
}

/// An endpoint's base URL.
pub fn base_url(url: &str) -> Result<BaseUrl, Invalid> {
    BaseUrl::parse(url).map_err(Invalid::Url)
}

/// Whether a provider of `kind` may have no endpoint (only the local echo kind may).
pub fn endpoints_required(kind: ProviderKind) -> bool {
    kind != ProviderKind::Echo
}

/// Builds a validated provider from parts; shared by every config source. `key` prefixes
/// the field names in errors.
#[allow(clippy::too_many_arguments)]
pub fn build_provider(
    name: String,
    kind: ProviderKind,
    models: Vec<String>,
    enabled: bool,
    weight: u32,
    priority: i32,
    timeout_ms: u64,
    endpoints: Vec<(String, Secret)>,
    key: &str,
) -> Result<Provider, FieldError> {
    self::name(&name).map_err(|p| FieldError::new(format!("{key}.name"), p))?;
    self::timeout_ms(timeout_ms).map_err(|p| FieldError::new(format!("{key}.timeout_ms"), p))?;
    self::weight(weight).map_err(|p| FieldError::new(format!("{key}.weight"), p))?;
    if endpoints.is_empty() && endpoints_required(kind) {
        return Err(FieldError::new(
            format!("{key}.endpoints"),
            Invalid::Other("a provider needs at least one endpoint (base_url)".into()),
        ));
    }
    let mut eps = Vec::with_capacity(endpoints.len());
    for (i, (url, api_key)) in endpoints.into_iter().enumerate() {
        let base_url = base_url(&url)
            .map_err(|p| FieldError::new(format!("{key}.endpoints[{i}].base_url"), p))?;
        eps.push(Endpoint {
            health_key: format!("{name}|{}|{i}", base_url.original),
            base_url,
            api_key,
        });
    }
    for (i, m) in models.iter().enumerate() {
        model(m).map_err(|p| FieldError::new(format!("{key}.models[{i}]"), p))?;
    }
    Ok(Provider {
        limits: Default::default(),
        name,
        kind,
        models,
        enabled,
        weight,
        priority,
        timeout: Duration::from_millis(timeout_ms),
        endpoints: eps,
        pace: Duration::ZERO,
        health_check: None,
    })
}

/// The echo kind's pause between streamed chunks, clamped to [`MAX_PACE_MS`].
pub fn pace(pace_ms: u64) -> Duration {
    Duration::from_millis(pace_ms.min(MAX_PACE_MS))
}

/// Validates active health check settings (absent or 0 interval: passive health only).
pub fn health_check(
    kind: ProviderKind,
    interval_ms: Option<u64>,
    path: Option<String>,
    key: &str,
) -> Result<Option<HealthCheck>, FieldError> {
    let interval_ms = match interval_ms {
        None | Some(0) => return Ok(None),
        Some(ms)
            if !(MIN_HEALTH_CHECK_INTERVAL_MS..=MAX_HEALTH_CHECK_INTERVAL_MS).contains(&ms) =>
        {
            return Err(FieldError::new(
                format!("{key}.health_check_interval_ms"),
                Invalid::Other(format!(
                    "must be between {MIN_HEALTH_CHECK_INTERVAL_MS} and \
                     {MAX_HEALTH_CHECK_INTERVAL_MS} (or 0 to disable)"
                )),
            ))
        }
        Some(ms) => ms,
    };
    let path = path.unwrap_or_else(|| kind.default_health_path().to_string());
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Err(FieldError::new(
            format!("{key}.health_check_path"),
            Invalid::Other(format!("`{path}` must start with / and contain no spaces")),
        ));
    }
    Ok(Some(HealthCheck {
        interval: Duration::from_millis(interval_ms),
        path,
    }))
}

/// A key's or team's `allowed_models`: every entry a non-blank model or route name, or a
/// prefix ending in `*`.
pub fn allowed_models(list: &[String], key: &str) -> Result<(), FieldError> {
    if list.len() > MAX_ALLOWED_MODELS {
        return Err(FieldError::new(
            key,
            Invalid::AboveMax(MAX_ALLOWED_MODELS as u64),
        ));
    }
    for (i, m) in list.iter().enumerate() {
        model(m).map_err(|p| FieldError::new(format!("{key}[{i}]"), p))?;
    }
    Ok(())
}

/// Rate limits of one scope; `None` is unlimited, 0 is refused (`key` names the table).
pub fn rate_limits(
    rpm: Option<u64>,
    tpm: Option<u64>,
    tpm_counts: Option<&str>,
    max_concurrent: Option<u64>,
    key: &str,
) -> Result<RateLimits, FieldError> {
    let bounded = |field: &str, v: Option<u64>, max: u64| match v {
        Some(n) if n == 0 || n > max => Err(FieldError::new(
            format!("{key}.{field}"),
            Invalid::OutOfRange {
                min: 1,
                max,
                unit: "",
            },
        )),
        v => Ok(v),
    };
    let small = |field: &str, v: Option<u64>, max: u64| {
        bounded(field, v, max).map(|v| v.and_then(|n| u32::try_from(n).ok()))
    };
    let tpm_counts = match tpm_counts {
        None | Some("") => TokenCount::default(),
        Some(s) => TokenCount::parse(s).ok_or_else(|| {
            FieldError::new(
                format!("{key}.tpm_counts"),
                Invalid::Other(format!(
                    "`{s}` is not one of {}",
                    TokenCount::NAMES.join(", ")
                )),
            )
        })?,
    };
    Ok(RateLimits {
        rpm: small("rpm", rpm, MAX_RPM)?,
        tpm: bounded("tpm", tpm, MAX_TPM)?,
        tpm_counts,
        max_concurrent: small("max_concurrent", max_concurrent, MAX_CONCURRENT)?,
    })
}

/// A budget window name (absent or empty: `month`).
pub fn budget_window(window: Option<&str>, key: &str) -> Result<BudgetWindow, FieldError> {
    match window {
        None | Some("") => Ok(BudgetWindow::default()),
        Some(w) => BudgetWindow::parse(w).ok_or_else(|| {
            FieldError::new(
                format!("{key}.window"),
                Invalid::Other(format!(
                    "`{w}` is not one of {}",
                    BudgetWindow::NAMES.join(", ")
                )),
            )
        }),
    }
}

/// A budget in US dollars: `0 < soft_limit_usd <= limit_usd <= MAX_BUDGET_USD`.
pub fn budget(
    limit_usd: f64,
    soft_limit_usd: Option<f64>,
    window: Option<&str>,
    key: &str,
) -> Result<Budget, FieldError> {
    let usd = |field: &str, v: f64| {
        if v.is_finite() && v > 0.0 && v <= MAX_BUDGET_USD {
            Ok(usd_to_nanousd(v))
        } else {
            Err(FieldError::new(
                format!("{key}.{field}"),
                Invalid::Other(format!(
                    "{v} is not an amount of US dollars above 0 and at most {MAX_BUDGET_USD}"
                )),
            ))
        }
    };
    let limit_nanousd = usd("limit_usd", limit_usd)?;
    let soft_nanousd = soft_limit_usd
        .map(|s| usd("soft_limit_usd", s))
        .transpose()?;
    budget_nanousd(limit_nanousd, soft_nanousd, window, key)
}

/// A budget in nano-US-dollars (snapshots, the control plane): the soft limit, if any, at
/// most the hard one.
pub fn budget_nanousd(
    limit_nanousd: u64,
    soft_nanousd: Option<u64>,
    window: Option<&str>,
    key: &str,
) -> Result<Budget, FieldError> {
    if soft_nanousd.is_some_and(|s| s > limit_nanousd) {
        return Err(FieldError::new(
            format!("{key}.soft_limit_usd"),
            Invalid::Other("must be at most limit_usd".into()),
        ));
    }
    Ok(Budget {
        limit_nanousd,
        soft_nanousd,
        window: budget_window(window, key)?,
    })
}

/// A model name or prefix (`gpt-4o*`) of a price entry: non-blank, `*` only at the end.
pub fn price_model(m: &str) -> Result<(), Invalid> {
    model(m)?;
    match m.find('*') {
        Some(i) if i + 1 != m.len() || i == 0 => Err(Invalid::Other(format!(
            "`{m}` may only end in `*` (a prefix), after at least one character"
        ))),
        _ => Ok(()),
    }
}

/// One price entry (US dollars per million tokens; `per_request` in US dollars): every
/// price finite, 0 or more and at most [`MAX_PRICE_USD`].
pub fn price(entry: PriceEntry, key: &str) -> Result<PriceEntry, FieldError> {
    price_model(&entry.model).map_err(|p| FieldError::new(format!("{key}.model"), p))?;
    let Price {
        input,
        output,
        cache_read,
        cache_write,
        reasoning,
        per_request,
    } = entry.price;
    for (field, v) in [
        ("input", Some(input)),
        ("output", Some(output)),
        ("cache_read", cache_read),
        ("cache_write", cache_write),
        ("reasoning", reasoning),
        ("per_request", Some(per_request)),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && (0.0..=MAX_PRICE_USD).contains(&v)) {
                return Err(FieldError::new(
                    format!("{key}.{field}"),
                    Invalid::Other(format!(
                        "{v} is not a price between 0 and {MAX_PRICE_USD} US dollars"
                    )),
                ));
            }
        }
    }
    Ok(entry)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn governance_bounds() {
        let l = rate_limits(Some(60), Some(1000), Some("input"), Some(4), "k").unwrap();
        assert_eq!(l.rpm, Some(60));
        assert_eq!(l.tpm_counts, TokenCount::Input);
        assert!(rate_limits(None, None, None, None, "k")
            .unwrap()
            .is_unlimited());
        for (rpm, tpm, mc, field) in [
            (Some(0), None, None, "k.rpm"),
            (Some(MAX_RPM + 1), None, None, "k.rpm"),
            (None, Some(MAX_TPM + 1), None, "k.tpm"),
            (None, None, Some(0), "k.max_concurrent"),
        ] {
            assert_eq!(
                rate_limits(rpm, tpm, None, mc, "k").unwrap_err().field,
                field
            );
        }
        assert_eq!(
            rate_limits(None, None, Some("all"), None, "k")
                .unwrap_err()
                .field,
            "k.tpm_counts"
        );
        let b = budget(50.0, Some(40.0), Some("day"), "b").unwrap();
        assert_eq!(b.limit_nanousd, 50_000_000_000);
        assert_eq!(b.soft_nanousd, Some(40_000_000_000));
        assert_eq!(b.window, BudgetWindow::Day);
        assert_eq!(
            budget(1.0, None, None, "b").unwrap().window,
            BudgetWindow::Month
        );
        assert_eq!(
            budget(0.0, None, None, "b").unwrap_err().field,
            "b.limit_usd"
        );
        assert_eq!(
            budget(f64::NAN, None, None, "b").unwrap_err().field,
            "b.limit_usd"
        );
        assert_eq!(
            budget(1.0, Some(2.0), None, "b").unwrap_err().field,
            "b.soft_limit_usd"
        );
        assert_eq!(
            budget(1.0, None, Some("week"), "b").unwrap_err().field,
            "b.window"
        );
        assert!(price_model("gpt-4o*").is_ok() && price_model("gpt").is_ok());
        assert!(price_model("*").is_err() && price_model("g*pt").is_err());
        let entry = |input: f64| PriceEntry {
            model: "m".into(),
            price: Price {
                input,
                ..Default::default()
            },
        };
        assert!(price(entry(1.0), "p").is_ok());
        assert_eq!(price(entry(-1.0), "p").unwrap_err().field, "p.input");
        assert_eq!(
            price(entry(f64::INFINITY), "p").unwrap_err().field,
            "p.input"
        );
        assert!(allowed_models(&["a".into(), "b*".into()], "a").is_ok());
        assert_eq!(
            allowed_models(&["a".into(), " ".into()], "t.allowed_models")
                .unwrap_err()
                .field,
            "t.allowed_models[1]"
        );
    }

    #[test]
    fn names() {
        assert_eq!(name(""), Err(Invalid::Empty));
        assert!(name("a b").is_err());
        assert!(name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(name("openai-primary").is_ok());
    }

    #[test]
    fn bounds() {
        assert!(weight(MAX_WEIGHT).is_ok());
        assert_eq!(weight(MAX_WEIGHT + 1), Err(Invalid::AboveMax(1_000_000)));
        assert!(retries(MAX_RETRIES).is_ok() && retries(MAX_RETRIES + 1).is_err());
        assert!(timeout_ms(0).is_err() && timeout_ms(MAX_TIMEOUT_MS + 1).is_err());
        assert!(timeout_ms(1).is_ok());
        assert_eq!(fractional_weight(0.5), Ok(50));
        assert!(fractional_weight(-1.0).is_err() && fractional_weight(f64::NAN).is_err());
        assert!(model(" ").is_err());
        assert_eq!(pace(u64::MAX), Duration::from_millis(MAX_PACE_MS));
    }

    #[test]
    fn health_checks() {
        assert_eq!(
            health_check(ProviderKind::OpenAi, Some(0), None, "p"),
            Ok(None)
        );
        let hc = health_check(ProviderKind::Anthropic, Some(1000), None, "p")
            .unwrap()
            .unwrap();
        assert_eq!(hc.path, "/v1/models");
        let e = health_check(ProviderKind::OpenAi, Some(5), None, "p").unwrap_err();
        assert_eq!(e.field, "p.health_check_interval_ms");
        let e = health_check(ProviderKind::OpenAi, Some(500), Some("x".into()), "p").unwrap_err();
        assert_eq!(e.field, "p.health_check_path");
    }
}
