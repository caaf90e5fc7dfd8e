//! Model prices and the cost of one request's usage. Prices are US dollars per million
//! tokens; costs are nano-US-dollars (see `governance`).

/// Token counts of one answer, as every decoder normalises them: `input` includes cache
/// reads and cache writes, `output` includes reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    /// Prompt tokens, cache reads and writes included.
    pub input: u64,
    /// Completion tokens, reasoning included.
    pub output: u64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write: u64,
    /// Completion tokens spent on reasoning.
    pub reasoning: u64,
}

/// One model's prices, US dollars per million tokens (`per_request` in US dollars).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Price {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Completion tokens.
    pub output: f64,
    /// Prompt tokens read from cache; `None` bills them as `input`.
    pub cache_read: Option<f64>,
    /// Prompt tokens written to cache; `None` bills them as `input`.
    pub cache_write: Option<f64>,
    /// Reasoning tokens; `None` bills them as `output`.
    pub reasoning: Option<f64>,
    /// A fee per request.
    pub per_request: f64,
}

impl Price {
    /// The cost of `u`, nano-US-dollars: every token is billed once, at the price of its
    /// kind (cache reads and writes are taken out of `input`, reasoning out of `output`).
    pub fn cost_nanousd(&self, u: &TokenUsage) -> u64 {
        todo!("price: {u:?}")
    }
}

/// A price entry: a model name, or a prefix ending in `*`.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceEntry {
    /// Exact model name, or a prefix followed by `*` (`gpt-4o-mini*`).
    pub model: String,
    /// Its prices.
    pub price: Price,
}

/// Prices for every model: shipped defaults for the common OpenAI, Anthropic and Gemini
/// models, overridden by configuration.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    entries: Vec<PriceEntry>,
}

impl PriceTable {
    /// The shipped defaults.
    pub fn defaults() -> Self {
        todo!()
    }

    /// The defaults with `overrides` applied (an override of the same `model` replaces the
    /// default entry; others are added).
    pub fn with_overrides(overrides: &[PriceEntry]) -> Self {
        todo!("{overrides:?}")
    }

    /// The price of `model`: an exact entry, else the longest matching prefix entry
    /// (`models/` prefixes of Gemini names ignored).
    pub fn lookup(&self, model: &str) -> Option<&Price> {
        todo!("{model}")
    }

    /// Every entry, defaults and overrides, sorted by model.
    pub fn entries(&self) -> &[PriceEntry] {
        &self.entries
    }
}
