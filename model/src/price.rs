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
    ///
    /// Exact for prices with up to six decimals (per million tokens): the sum is kept in
    /// 1e-12 US dollars and rounded to the nearest nano-US-dollar once; it saturates at
    /// `u64::MAX` and is never negative (cache and reasoning counts larger than the totals
    /// they are part of bill the remainder as 0).
    pub fn cost_nanousd(&self, u: &TokenUsage) -> u64 {
        let cached = u.cache_read.saturating_add(u.cache_write);
        let plain_input = u.input.saturating_sub(cached);
        let plain_output = u.output.saturating_sub(u.reasoning);
        let parts = [
            (plain_input, self.input),
            (u.cache_read, self.cache_read.unwrap_or(self.input)),
            (u.cache_write, self.cache_write.unwrap_or(self.input)),
            (plain_output, self.output),
            (u.reasoning, self.reasoning.unwrap_or(self.output)),
        ];
        // USD per 1e6 tokens = 1e-12 USD (pico) per token times 1e6: `per_token_pico`.
        let mut pico: u128 = picos(self.per_request, 1e12);
        for (tokens, price) in parts {
            pico = pico.saturating_add(u128::from(tokens).saturating_mul(picos(price, 1e6)));
        }
        // 1 nano-US-dollar = 1000 pico-US-dollars, rounded half up.
        u64::try_from(pico.saturating_add(500) / 1000).unwrap_or(u64::MAX)
    }
}

/// `usd` × `scale`, rounded, as an unsigned integer (negative or non-finite prices are 0).
fn picos(usd: f64, scale: f64) -> u128 {
    let v = (usd * scale).round();
    if v.is_finite() && v > 0.0 {
        // Saturating float-to-int cast; prices are validated far below u128's range.
        v as u128
    } else {
        0
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

impl PriceEntry {
    /// Whether this entry prices `model` (exact, or by prefix for a `*` entry).
    pub fn matches(&self, model: &str) -> bool {
        match self.model.strip_suffix('*') {
            Some(prefix) => model.starts_with(prefix),
            None => self.model == model,
        }
    }
}

/// Prices for every model: shipped defaults for the common OpenAI, Anthropic and Gemini
/// models, overridden by configuration.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    entries: Vec<PriceEntry>,
    /// The configured overrides, as given (what snapshots and the admin API carry).
    overrides: Vec<PriceEntry>,
    /// Exact model name → index into `entries` (looked up on every answered request).
    exact: std::collections::HashMap<String, usize, crate::config::BuildFnv>,
    /// Indexes of the `*` entries, longest prefix first: the first match is the longest.
    prefixes: Vec<usize>,
}

/// `(model, input, output, cache_read, cache_write)`, US dollars per million tokens.
type Row = (&'static str, f64, f64, Option<f64>, Option<f64>);

/// The shipped list prices, US dollars per million tokens, from the providers' public
/// pricing pages (openai.com/api/pricing, anthropic.com/pricing — 5-minute cache writes —
/// and ai.google.dev/gemini-api/docs/pricing, prompts up to 200k tokens), as of late 2025.
/// Prices change: every entry can be overridden with `[[prices]]` in the config file or
/// `PUT /v1/admin/prices/{model}` on the control plane. Reasoning tokens are billed as
/// output by every provider listed here (no separate reasoning price); OpenAI and Gemini
/// do not bill cache writes separately (they cost plain input).
const DEFAULTS: &[Row] = &[
    // OpenAI: cached input is a discount on input; no cache-write fee.
    ("gpt-4o*", 2.50, 10.00, Some(1.25), None),
    ("gpt-4o-2024-05-13", 5.00, 15.00, None, None),
    ("gpt-4o-mini*", 0.15, 0.60, Some(0.075), None),
    ("gpt-4.1*", 2.00, 8.00, Some(0.50), None),
    ("gpt-4.1-mini*", 0.40, 1.60, Some(0.10), None),
    ("gpt-4.1-nano*", 0.10, 0.40, Some(0.025), None),
    ("gpt-5*", 1.25, 10.00, Some(0.125), None),
    ("gpt-5-mini*", 0.25, 2.00, Some(0.025), None),
    ("gpt-5-nano*", 0.05, 0.40, Some(0.005), None),
    ("gpt-5-pro*", 15.00, 120.00, None, None),
    ("o1*", 15.00, 60.00, Some(7.50), None),
    ("o1-mini*", 1.10, 4.40, Some(0.55), None),
    ("o1-pro*", 150.00, 600.00, None, None),
    ("o3*", 2.00, 8.00, Some(0.50), None),
    ("o3-mini*", 1.10, 4.40, Some(0.55), None),
    ("o3-pro*", 20.00, 80.00, None, None),
    ("o4-mini*", 1.10, 4.40, Some(0.275), None),
    ("text-embedding-3-small*", 0.02, 0.0, None, None),
    ("text-embedding-3-large*", 0.13, 0.0, None, None),
    // Anthropic: cache writes 1.25x input, cache reads 0.1x input.
    ("claude-opus-4*", 15.00, 75.00, Some(1.50), Some(18.75)),
    ("claude-opus-4-5*", 5.00, 25.00, Some(0.50), Some(6.25)),
    ("claude-opus-4-6*", 5.00, 25.00, Some(0.50), Some(6.25)),
    ("claude-sonnet-4*", 3.00, 15.00, Some(0.30), Some(3.75)),
    ("claude-3-7-sonnet*", 3.00, 15.00, Some(0.30), Some(3.75)),
    ("claude-3-5-sonnet*", 3.00, 15.00, Some(0.30), Some(3.75)),
    ("claude-haiku-4-5*", 1.00, 5.00, Some(0.10), Some(1.25)),
    ("claude-3-5-haiku*", 0.80, 4.00, Some(0.08), Some(1.00)),
    // Anthropic lists Claude 3 Haiku's cache prices rounded: $0.30 write, $0.03 read.
    ("claude-3-haiku*", 0.25, 1.25, Some(0.03), Some(0.30)),
    ("claude-3-opus*", 15.00, 75.00, Some(1.50), Some(18.75)),
    // Gemini: cached input is 25% of input; thinking tokens are billed as output.
    ("gemini-2.5-pro*", 1.25, 10.00, Some(0.3125), None),
    ("gemini-2.5-flash*", 0.30, 2.50, Some(0.075), None),
    ("gemini-2.5-flash-lite*", 0.10, 0.40, Some(0.025), None),
    ("gemini-2.0-flash*", 0.10, 0.40, Some(0.025), None),
    ("gemini-2.0-flash-lite*", 0.075, 0.30, Some(0.01875), None),
    ("gemini-1.5-flash*", 0.075, 0.30, Some(0.01875), None),
    ("gemini-1.5-pro*", 1.25, 5.00, Some(0.3125), None),
    ("gemini-3-pro*", 2.00, 12.00, Some(0.20), None),
    ("gemini-3-flash*", 0.50, 3.00, Some(0.05), None),
    // Other Gemini 3 names (previews, newer point releases) at the Pro price: a budget
    // overestimates rather than lets spend through unpriced.
    ("gemini-3*", 2.00, 12.00, Some(0.20), None),
];

impl PriceTable {
    /// The shipped defaults.
    pub fn defaults() -> Self {
        let mut entries: Vec<PriceEntry> = DEFAULTS
            .iter()
            .map(
                |&(model, input, output, cache_read, cache_write)| PriceEntry {
                    model: model.to_string(),
                    price: Price {
                        input,
                        output,
                        cache_read,
                        cache_write,
                        reasoning: None,
                        per_request: 0.0,
                    },
                },
            )
            .collect();
        entries.sort_by(|a, b| a.model.cmp(&b.model));
        let mut table = Self {
            entries,
            ..Self::default()
        };
        table.reindex();
        table
    }

    /// Rebuilds the lookup indexes after `entries` changed.
    fn reindex(&mut self) {
        self.exact = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.model.ends_with('*'))
            .map(|(i, e)| (e.model.clone(), i))
            .collect();
        self.prefixes = (0..self.entries.len())
            .filter(|&i| self.entries.get(i).is_some_and(|e| e.model.ends_with('*')))
            .collect();
        let entries = &self.entries;
        self.prefixes
            .sort_by_key(|&i| std::cmp::Reverse(entries.get(i).map_or(0, |e| e.model.len())));
    }

    /// The defaults with `overrides` applied (an override of the same `model` replaces the
    /// default entry; others are added).
    pub fn with_overrides(overrides: &[PriceEntry]) -> Self {
        let mut table = Self::defaults();
        for o in overrides {
            match table.entries.iter_mut().find(|e| e.model == o.model) {
                Some(e) => e.price = o.price,
                None => table.entries.push(o.clone()),
            }
            match table.overrides.iter_mut().find(|e| e.model == o.model) {
                Some(e) => e.price = o.price,
                None => table.overrides.push(o.clone()),
            }
        }
        table.entries.sort_by(|a, b| a.model.cmp(&b.model));
        table.reindex();
        table
    }

    /// The price of `model`: an exact entry, else the longest matching prefix entry
    /// (`models/` prefixes of Gemini names ignored).
    pub fn lookup(&self, model: &str) -> Option<&Price> {
        let model = model.strip_prefix("models/").unwrap_or(model);
        if let Some(e) = self.exact.get(model).and_then(|&i| self.entries.get(i)) {
            return Some(&e.price);
        }
        self.prefixes
            .iter()
            .filter_map(|&i| self.entries.get(i))
            .find(|e| e.matches(model))
            .map(|e| &e.price)
    }

    /// Every entry, defaults and overrides, sorted by model.
    pub fn entries(&self) -> &[PriceEntry] {
        &self.entries
    }

    /// The configured overrides, in the order given (what a snapshot carries).
    pub fn overrides(&self) -> &[PriceEntry] {
        &self.overrides
    }

    /// Whether the entry for exactly `model` (as written, `*` included) is an override.
    pub fn is_override(&self, model: &str) -> bool {
        self.overrides.iter().any(|e| e.model == model)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64) -> TokenUsage {
        TokenUsage {
            input,
            output,
            ..Default::default()
        }
    }

    #[test]
    fn plain_costs_are_exact() {
        let t = PriceTable::defaults();
        let p = t.lookup("gpt-4o-mini").unwrap();
        // 1000 × $0.15/1M + 500 × $0.60/1M = $0.00015 + $0.0003 = 450_000 nano.
        assert_eq!(p.cost_nanousd(&usage(1000, 500)), 450_000);
        // One token of gpt-4.1-nano input is $1e-7 = 100 nano.
        let p = t.lookup("gpt-4.1-nano").unwrap();
        assert_eq!(p.cost_nanousd(&usage(1, 0)), 100);
        // A million tokens of gpt-4o output are exactly $10.
        let p = t.lookup("gpt-4o").unwrap();
        assert_eq!(p.cost_nanousd(&usage(0, 1_000_000)), 10_000_000_000);
        assert_eq!(p.cost_nanousd(&TokenUsage::default()), 0);
    }

    #[test]
    fn cache_and_reasoning_are_billed_once_at_their_own_price() {
        let t = PriceTable::defaults();
        // Claude Sonnet 4: input $3, cache write $3.75, cache read $0.30, output $15.
        let p = t.lookup("claude-sonnet-4-5-20250929").unwrap();
        let u = TokenUsage {
            input: 10_000,
            output: 2_000,
            cache_read: 6_000,
            cache_write: 3_000,
            reasoning: 0,
        };
        // $X per million tokens is 1000·X nano-US-dollars per token. Plain input is
        // 10_000 − 6_000 − 3_000 = 1_000 tokens.
        let want = 1000 * 3000 + 6000 * 300 + 3000 * 3750 + 2000 * 15_000;
        assert_eq!(p.cost_nanousd(&u), want);
        assert_eq!(want, 46_050_000);

        // Reasoning priced separately (an override), taken out of output, not added.
        let custom = Price {
            input: 1.0,
            output: 2.0,
            cache_read: None,
            cache_write: None,
            reasoning: Some(5.0),
            per_request: 0.001,
        };
        let u = TokenUsage {
            input: 100,
            output: 50,
            reasoning: 20,
            ..Default::default()
        };
        // 100·1000 + 30·2000 + 20·5000 + $0.001 = 100_000 + 60_000 + 100_000 + 1_000_000.
        assert_eq!(custom.cost_nanousd(&u), 1_260_000);
        // Without a reasoning price, reasoning costs output: same as plain output.
        let plain = Price {
            reasoning: None,
            per_request: 0.0,
            ..custom
        };
        assert_eq!(plain.cost_nanousd(&u), plain.cost_nanousd(&usage(100, 50)));
        // Cached tokens without cache prices cost plain input: no double counting.
        let u = TokenUsage {
            input: 100,
            cache_read: 40,
            cache_write: 10,
            ..Default::default()
        };
        assert_eq!(plain.cost_nanousd(&u), plain.cost_nanousd(&usage(100, 0)));
    }

    #[test]
    fn gemini_cache_and_sub_nano_prices_round_once() {
        let t = PriceTable::defaults();
        // gemini-2.5-pro: input $1.25, cached $0.3125 (312.5 nano per token).
        let p = t.lookup("models/gemini-2.5-pro").unwrap();
        let u = TokenUsage {
            input: 3,
            output: 0,
            cache_read: 3,
            ..Default::default()
        };
        // 3 × 312.5 = 937.5 → 938 (rounded once, not per token).
        assert_eq!(p.cost_nanousd(&u), 938);
        let u = TokenUsage {
            input: 1000,
            output: 100,
            cache_read: 400,
            reasoning: 60,
            ..Default::default()
        };
        // 600·1250 + 400·312.5 + 100·10000 = 750_000 + 125_000 + 1_000_000.
        assert_eq!(p.cost_nanousd(&u), 1_875_000);
    }

    #[test]
    fn nonsense_counts_saturate_instead_of_going_negative() {
        let p = PriceTable::defaults().lookup("gpt-4o").copied().unwrap();
        let u = TokenUsage {
            input: 10,
            output: 5,
            cache_read: 20,
            cache_write: 0,
            reasoning: 9,
        };
        // Plain input and plain output floor at 0: 20 cached × 1250 + 9 × 10_000.
        assert_eq!(p.cost_nanousd(&u), 20 * 1250 + 9 * 10_000);
        let u = TokenUsage {
            input: u64::MAX,
            output: u64::MAX,
            ..Default::default()
        };
        assert_eq!(p.cost_nanousd(&u), u64::MAX);
        let negative = Price {
            input: -1.0,
            output: f64::NAN,
            ..Default::default()
        };
        assert_eq!(negative.cost_nanousd(&usage(1000, 1000)), 0);
    }

    #[test]
    fn longest_prefix_wins_and_exact_beats_prefix() {
        let t = PriceTable::defaults();
        let input = |m: &str| t.lookup(m).map(|p| p.input);
        assert_eq!(input("gpt-4o-mini-2024-07-18"), Some(0.15));
        assert_eq!(input("gpt-4o-2024-08-06"), Some(2.50));
        assert_eq!(input("gpt-4o-2024-05-13"), Some(5.00));
        assert_eq!(input("gpt-4.1-mini"), Some(0.40));
        assert_eq!(input("gpt-4.1"), Some(2.00));
        assert_eq!(input("o3-mini-2025-01-31"), Some(1.10));
        assert_eq!(input("o3"), Some(2.00));
        assert_eq!(input("o3-pro-2025-06-10"), Some(20.00));
        assert_eq!(input("gpt-5-nano"), Some(0.05));
        assert_eq!(input("claude-opus-4-1-20250805"), Some(15.00));
        assert_eq!(input("claude-opus-4-6"), Some(5.00));
        assert_eq!(input("gemini-2.5-flash-lite"), Some(0.10));
        assert_eq!(input("models/gemini-2.5-flash"), Some(0.30));
        assert_eq!(input("unknown-model"), None);
        assert_eq!(input("gpt-4"), None);
        let sorted = t.entries().windows(2).all(|w| match w {
            [a, b] => a.model < b.model,
            _ => true,
        });
        assert!(sorted);
    }

    #[test]
    fn overrides_replace_or_add() {
        let cheap = Price {
            input: 0.01,
            output: 0.02,
            ..Default::default()
        };
        let t = PriceTable::with_overrides(&[
            PriceEntry {
                model: "gpt-4o-mini*".into(),
                price: cheap,
            },
            PriceEntry {
                model: "my-local-model".into(),
                price: cheap,
            },
            PriceEntry {
                model: "gpt-4o-mini-2024-07-18".into(),
                price: Price {
                    input: 9.0,
                    ..cheap
                },
            },
        ]);
        assert_eq!(t.lookup("gpt-4o-mini").unwrap().input, 0.01);
        assert_eq!(t.lookup("gpt-4o-mini-2024-07-18").unwrap().input, 9.0);
        assert_eq!(t.lookup("my-local-model").unwrap().output, 0.02);
        assert_eq!(t.lookup("gpt-4o").unwrap().input, 2.50);
        assert_eq!(
            t.entries()
                .iter()
                .filter(|e| e.model == "gpt-4o-mini*")
                .count(),
            1
        );
        assert!(t.is_override("gpt-4o-mini*") && !t.is_override("gpt-4o*"));
        assert_eq!(t.overrides().len(), 3);
        assert!(PriceTable::defaults().overrides().is_empty());
    }

    /// Every model the recorded provider traffic names has a price.
    #[test]
    fn recorded_models_have_prices() {
        let t = PriceTable::defaults();
        for m in [
            "gpt-4o-2024-08-06",
            "claude-haiku-4-5-20251001",
            "claude-haiku-4-5",
            "claude-sonnet-4-5-20250929",
            "claude-sonnet-4-5",
            "claude-sonnet-4-20250514",
            "claude-sonnet-4-0",
            "claude-opus-4-6",
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.0-flash",
            "gemini-2.0-flash-exp",
            "gemini-1.5-flash",
            "gemini-3-pro-preview",
            "gemini-3.7-flash",
        ] {
            assert!(t.lookup(m).is_some(), "{m} has no price");
        }
    }
}
