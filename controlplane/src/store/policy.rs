//! Governance fields shared by keys, teams, routes and providers: validation of rate
//! limits, budgets, allow-lists and metadata (field-level errors in canonical names), and
//! their snapshot form.

use sluice_model::{usd_to_nanousd, BudgetWindow, TokenCount};

use super::records::{BudgetMark, BudgetRecord, LimitsRecord};
use crate::error::ApiError;

/// Largest requests-per-minute limit.
pub const MAX_RPM: u32 = 1_000_000;
/// Largest tokens-per-minute limit.
pub const MAX_TPM: u64 = 1_000_000_000_000;
/// Largest concurrency limit.
pub const MAX_CONCURRENT: u32 = 1_000_000;
/// Largest budget, US dollars.
pub const MAX_BUDGET_USD: f64 = 1_000_000_000.0;
/// Most entries in an allow-list.
pub const MAX_ALLOWED_MODELS: usize = 1000;
/// Largest metadata object, bytes of JSON.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Checks a limits object (`field` is its path, `limits`); an object without any limit
/// becomes `None` (unlimited).
pub fn limits(field: &str, l: Option<LimitsRecord>) -> Result<Option<LimitsRecord>, ApiError> {
    let Some(l) = l else { return Ok(None) };
    if let Some(rpm) = l.rpm {
        if rpm == 0 || rpm > MAX_RPM {
            return Err(ApiError::field(
                format!("{field}.rpm"),
                format!("must be 1-{MAX_RPM} (omit it for no limit)"),
            ));
        }
    }
    if let Some(tpm) = l.tpm {
        if tpm == 0 || tpm > MAX_TPM {
            return Err(ApiError::field(
                format!("{field}.tpm"),
                format!("must be 1-{MAX_TPM} (omit it for no limit)"),
            ));
        }
    }
    if let Some(c) = l.max_concurrent {
        if c == 0 || c > MAX_CONCURRENT {
            return Err(ApiError::field(
                format!("{field}.max_concurrent"),
                format!("must be 1-{MAX_CONCURRENT} (omit it for no limit)"),
            ));
        }
    }
    if let Some(c) = &l.tpm_counts {
        if TokenCount::parse(c).is_none() {
            return Err(ApiError::field(
                format!("{field}.tpm_counts"),
                format!(
                    "unknown count `{c}` (expected one of {})",
                    TokenCount::NAMES.join(", ")
                ),
            ));
        }
    }
    Ok((!l.is_unlimited()).then_some(l))
}

/// A budget from its API form (US dollars), checked: `limit_usd` in (0, 1e9], the soft
/// limit at most the hard one, a known window (default `month`).
pub fn budget(
    field: &str,
    limit_usd: f64,
    soft_limit_usd: Option<f64>,
    window: Option<&str>,
) -> Result<BudgetRecord, ApiError> {
    if !limit_usd.is_finite() || limit_usd <= 0.0 || limit_usd > MAX_BUDGET_USD {
        return Err(ApiError::field(
            format!("{field}.limit_usd"),
            format!("must be more than 0 and at most {MAX_BUDGET_USD}"),
        ));
    }
    if let Some(soft) = soft_limit_usd {
        if !soft.is_finite() || soft < 0.0 || soft > limit_usd {
            return Err(ApiError::field(
                format!("{field}.soft_limit_usd"),
                "must be between 0 and limit_usd",
            ));
        }
    }
    let window = match window {
        None => BudgetWindow::default(),
        Some(w) => BudgetWindow::parse(w).ok_or_else(|| {
            ApiError::field(
                format!("{field}.window"),
                format!(
                    "unknown window `{w}` (expected one of {})",
                    BudgetWindow::NAMES.join(", ")
                ),
            )
        })?,
    };
    Ok(BudgetRecord {
        limit_nanousd: usd_to_nanousd(limit_usd),
        soft_nanousd: soft_limit_usd.map(usd_to_nanousd),
        window: window.as_str().to_string(),
    })
}

/// Checks an allow-list of models (route or model names).
pub fn allowed_models(field: &str, models: &[String]) -> Result<(), ApiError> {
    if models.len() > MAX_ALLOWED_MODELS {
        return Err(ApiError::field(
            field,
            format!("at most {MAX_ALLOWED_MODELS} entries"),
        ));
    }
    for (i, m) in models.iter().enumerate() {
        sluice_model::validate::model(m)
            .map_err(|p| ApiError::field(format!("{field}[{i}]"), p.to_string()))?;
    }
    Ok(())
}

/// Checks a metadata value: a JSON object of at most [`MAX_METADATA_BYTES`] (null becomes
/// an empty object).
pub fn metadata(field: &str, v: serde_json::Value) -> Result<serde_json::Value, ApiError> {
    let v = match v {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        v @ serde_json::Value::Object(_) => v,
        _ => return Err(ApiError::field(field, "must be a JSON object")),
    };
    let size = serde_json::to_vec(&v)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(ApiError::field(
            field,
            format!("at most {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    Ok(v)
}

/// The snapshot form of limits (0 = unlimited).
pub fn limits_proto(l: Option<&LimitsRecord>) -> Option<sluice_proto::Limits> {
    let l = l.filter(|l| !l.is_unlimited())?;
    Some(sluice_proto::Limits {
        rpm: l.rpm.unwrap_or(0),
        tpm: l.tpm.unwrap_or(0),
        tpm_counts: l.tpm_counts.clone().unwrap_or_default(),
        max_concurrent: l.max_concurrent.unwrap_or(0),
    })
}

/// The limits of a snapshot (seed import).
pub fn limits_from_proto(l: Option<&sluice_proto::Limits>) -> Option<LimitsRecord> {
    let l = l?;
    let rec = LimitsRecord {
        rpm: (l.rpm > 0).then_some(l.rpm),
        tpm: (l.tpm > 0).then_some(l.tpm),
        tpm_counts: (!l.tpm_counts.is_empty()).then(|| l.tpm_counts.clone()),
        max_concurrent: (l.max_concurrent > 0).then_some(l.max_concurrent),
    };
    (!rec.is_unlimited()).then_some(rec)
}

/// The ledger's mark of a budget when it belongs to the window holding `now_ms`.
pub fn current_mark<'a>(
    mark: Option<&'a BudgetMark>,
    budget: &BudgetRecord,
    now_ms: u64,
) -> Option<&'a BudgetMark> {
    mark.filter(|m| m.window_start_ms == budget.window().start_ms(now_ms))
}

/// The snapshot form of a budget with the ledger's mark of the current window.
pub fn budget_proto(
    b: Option<&BudgetRecord>,
    mark: Option<&BudgetMark>,
    now_ms: u64,
) -> Option<sluice_proto::Budget> {
    let b = b?;
    let window = b.window();
    let mark = current_mark(mark, b, now_ms);
    Some(sluice_proto::Budget {
        limit_nanousd: b.limit_nanousd,
        soft_nanousd: b.soft_nanousd.unwrap_or(0),
        window: window.as_str().to_string(),
        spent_nanousd: mark.map_or(0, |m| m.spent_nanousd),
        window_start_ms: window.start_ms(now_ms),
        exhausted_until_ms: mark.map_or(0, |m| m.exhausted_until_ms),
    })
}
