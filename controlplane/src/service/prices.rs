//! Price overrides: the effective table is the data plane's shipped defaults with these
//! applied (the snapshot carries the overrides only).

use std::sync::Arc;

use sluice_model::{Price, PriceEntry, PriceTable};

use crate::clock::now_ms;
use crate::error::ApiError;
use crate::store::records::PriceRecord;
use crate::store::Store;

/// Highest accepted price, US dollars per million tokens (or per request).
pub const MAX_PRICE_USD: f64 = 1_000_000.0;

/// Where an effective price comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    /// Shipped with Sluice.
    Default,
    /// Set through the admin API (or seeded from a config file).
    Override,
}

impl PriceSource {
    /// API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Override => "override",
        }
    }
}

/// The prices of one model as written.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PriceSpec {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Completion tokens.
    pub output: f64,
    /// Cache reads.
    pub cache_read: Option<f64>,
    /// Cache writes.
    pub cache_write: Option<f64>,
    /// Reasoning tokens.
    pub reasoning: Option<f64>,
    /// Per request.
    pub per_request: Option<f64>,
}

fn check(field: &str, v: f64) -> Result<f64, ApiError> {
    if v.is_finite() && (0.0..=MAX_PRICE_USD).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::field(
            field,
            format!("must be between 0 and {MAX_PRICE_USD}"),
        ))
    }
}

/// Checks a model pattern: a model name, or a prefix followed by one final `*`.
fn check_model(model: &str) -> Result<(), ApiError> {
    let bare = model.strip_suffix('*').unwrap_or(model);
    if bare.contains('*') {
        return Err(ApiError::field(
            "model",
            "`*` is only allowed at the end (a prefix)",
        ));
    }
    sluice_model::validate::model(model).map_err(|p| ApiError::field("model", p.to_string()))
}

/// The effective table: every default (unless overridden) and every override, sorted by
/// model.
pub fn effective(store: &Store) -> Vec<(PriceEntry, PriceSource)> {
    let state = store.state();
    let mut out: Vec<(PriceEntry, PriceSource)> = PriceTable::defaults()
        .entries()
        .iter()
        .filter(|e| !state.prices.contains_key(&e.model))
        .map(|e| (e.clone(), PriceSource::Default))
        .collect();
    out.extend(
        state
            .prices
            .values()
            .map(|p| (entry(p), PriceSource::Override)),
    );
    out.sort_by(|a, b| a.0.model.cmp(&b.0.model));
    out
}

/// The model entry of an override.
pub fn entry(p: &PriceRecord) -> PriceEntry {
    PriceEntry {
        model: p.model.clone(),
        price: Price {
            input: p.input,
            output: p.output,
            cache_read: p.cache_read,
            cache_write: p.cache_write,
            reasoning: p.reasoning,
            per_request: p.per_request,
        },
    }
}

/// Sets the override of `model`.
pub async fn put(
    store: &Arc<Store>,
    model: String,
    spec: PriceSpec,
) -> Result<PriceRecord, ApiError> {
    check_model(&model)?;
    let opt = |field: &str, v: Option<f64>| v.map(|v| check(field, v)).transpose();
    let rec = PriceRecord {
        input: check("input", spec.input)?,
        output: check("output", spec.output)?,
        cache_read: opt("cache_read", spec.cache_read)?,
        cache_write: opt("cache_write", spec.cache_write)?,
        reasoning: opt("reasoning", spec.reasoning)?,
        per_request: check("per_request", spec.per_request.unwrap_or(0.0))?,
        updated_ms: now_ms(),
        model: model.clone(),
    };
    store
        .write(move |s, _| {
            s.prices.insert(model, rec.clone());
            Ok(rec)
        })
        .await
}

/// Removes the override of `model` (the default, if any, applies again).
pub async fn delete(store: &Arc<Store>, model: String) -> Result<PriceRecord, ApiError> {
    store
        .write(move |s, _| {
            s.prices
                .remove(&model)
                .ok_or_else(|| ApiError::not_found(format!("no price override for `{model}`")))
        })
        .await
}
