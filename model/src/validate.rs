//! The bounds and checks every configuration source shares — the static file loader, the
//! env zero-config, gRPC snapshots and the control plane's drafts — defined once, so a
//! value one plane accepts the other accepts too.

use std::time::Duration;

use crate::base_url::BaseUrl;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
