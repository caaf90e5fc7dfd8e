//! Governance: who may spend what. Client keys with their owners (team, user), allowed
//! models, rate limits (requests, tokens and concurrent requests per minute) and budgets,
//! for keys, teams, routes and providers. The data plane enforces them through its rate
//! store; the control plane keeps the spend ledger.
//!
//! Money is counted in nano-US-dollars (`u64`, 1e-9 USD) everywhere inside Sluice so sums
//! are exact and atomic counters are integers; APIs and metrics show US dollars.

use std::collections::HashMap;
use std::sync::Arc;

use crate::price::PriceTable;

/// Nano-US-dollars in one US dollar.
pub const NANOUSD_PER_USD: u64 = 1_000_000_000;

/// US dollars (from config or an API) to nano-US-dollars, rounded; negative or non-finite
/// amounts become 0.
pub fn usd_to_nanousd(usd: f64) -> u64 {
    if usd.is_finite() && usd > 0.0 {
        (usd * NANOUSD_PER_USD as f64).round() as u64
    } else {
        0
    }
}

/// Nano-US-dollars to US dollars (for display and metrics).
pub fn nanousd_to_usd(n: u64) -> f64 {
    n as f64 / NANOUSD_PER_USD as f64
}

/// Which tokens a tokens-per-minute limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TokenCount {
    /// Prompt tokens only.
    Input,
    /// Completion tokens only.
    Output,
    /// Prompt plus completion tokens.
    #[default]
    Total,
}

impl TokenCount {
    /// Config and API spellings.
    pub const NAMES: [&'static str; 3] = ["input", "output", "total"];

    /// Parses `input`, `output` or `total`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "input" => Some(Self::Input),
            "output" => Some(Self::Output),
            "total" => Some(Self::Total),
            _ => None,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
            Self::Total => "total",
        }
    }

    /// The tokens this count takes from `input` prompt and `output` completion tokens.
    pub fn of(self, input: u64, output: u64) -> u64 {
        match self {
            Self::Input => input,
            Self::Output => output,
            Self::Total => input.saturating_add(output),
        }
    }
}

/// Rate limits of one scope (a key, a team, a route or a provider). `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RateLimits {
    /// Requests per minute (sliding 60-second window).
    pub rpm: Option<u32>,
    /// Tokens per minute, counted as `tpm_counts` says.
    pub tpm: Option<u64>,
    /// Which tokens `tpm` counts.
    pub tpm_counts: TokenCount,
    /// Requests in flight at once.
    pub max_concurrent: Option<u32>,
}

impl RateLimits {
    /// Whether no limit is set (the request path then skips the scope entirely).
    pub fn is_unlimited(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.max_concurrent.is_none()
    }
}

/// The period a budget's spend is counted over, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BudgetWindow {
    /// A calendar day (UTC).
    Day,
    /// A calendar month (UTC).
    #[default]
    Month,
    /// Since the budget was set; never resets.
    Total,
}

impl BudgetWindow {
    /// Config and API spellings.
    pub const NAMES: [&'static str; 3] = ["day", "month", "total"];

    /// Parses `day`, `month` or `total`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Self::Day),
            "month" => Some(Self::Month),
            "total" => Some(Self::Total),
            _ => None,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
            Self::Total => "total",
        }
    }

    /// Start (Unix ms) of the window holding `now_ms` (0 for `Total`).
    pub fn start_ms(self, now_ms: u64) -> u64 {
        const DAY: u64 = 86_400_000;
        match self {
            Self::Day => now_ms - now_ms % DAY,
            Self::Month => {
                let (y, m, _) = civil_from_days((now_ms / DAY) as i64);
                days_from_civil(y, m, 1).max(0) as u64 * DAY
            }
            Self::Total => 0,
        }
    }

    /// End (Unix ms, exclusive) of the window holding `now_ms`; `None` for `Total`.
    pub fn end_ms(self, now_ms: u64) -> Option<u64> {
        const DAY: u64 = 86_400_000;
        match self {
            Self::Day => Some(self.start_ms(now_ms) + DAY),
            Self::Month => {
                let (y, m, _) = civil_from_days((now_ms / DAY) as i64);
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                Some(days_from_civil(y, m, 1).max(0) as u64 * DAY)
            }
            Self::Total => None,
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A spending budget: a soft alert and a hard stop over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Budget {
    /// Hard stop: requests are refused once the window's spend reaches it.
    pub limit_nanousd: u64,
    /// Soft alert threshold (a metric and an admin flag), at most `limit_nanousd`; `None`
    /// for no alert.
    pub soft_nanousd: Option<u64>,
    /// The period spend is counted over.
    pub window: BudgetWindow,
}

/// Where a budget stands, as the control plane's ledger last saw it (carried in snapshots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BudgetStatus {
    /// Spend in the current window when the snapshot was built.
    pub spent_nanousd: u64,
    /// Start (Unix ms) of the window `spent_nanousd` belongs to.
    pub window_start_ms: u64,
    /// The ledger saw the hard limit reached: refuse until this time (Unix ms; `u64::MAX`
    /// for a `Total` window). 0 when not exhausted.
    pub exhausted_until_ms: u64,
}

/// What a limit or budget belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    /// A client key.
    Key,
    /// A team of keys.
    Team,
    /// A route (a public model name).
    Route,
    /// An upstream provider.
    Provider,
}

impl ScopeKind {
    /// The spelling used in scope ids (`key:7`), errors and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Team => "team",
            Self::Route => "route",
            Self::Provider => "provider",
        }
    }
}

/// A team: keys that share limits, a budget and a model allow-list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Team {
    /// Unique name.
    pub name: String,
    /// Disabled teams' keys are refused.
    pub enabled: bool,
    /// Models (route names or model names) its keys may use; empty allows every model.
    pub allowed_models: Vec<String>,
    /// The team's shared rate limits.
    pub limits: RateLimits,
    /// The team's shared budget.
    pub budget: Option<Budget>,
    /// The ledger's view of the budget.
    pub budget_status: BudgetStatus,
}

/// A client key's policy (its secret is never here: keys are found by digest).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientKey {
    /// Stable id (the control plane's numeric id, or the config file's key name): usage
    /// records and rate-store scopes name the key by it.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Owning team, if any (must name a team in the same config).
    pub team: Option<String>,
    /// Owning user, if any (free-form; carried into usage records).
    pub user: Option<String>,
    /// Disabled (revoked) keys are refused.
    pub enabled: bool,
    /// Refused from this time on (Unix ms).
    pub expires_at_ms: Option<u64>,
    /// Models (route names or model names) it may use; empty allows every model (its
    /// team's list still applies).
    pub allowed_models: Vec<String>,
    /// The key's own rate limits.
    pub limits: RateLimits,
    /// The key's own budget.
    pub budget: Option<Budget>,
    /// The ledger's view of the budget.
    pub budget_status: BudgetStatus,
}

/// One digest a key is accepted under (a rotated key keeps its old digest until the
/// overlap ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDigest {
    /// HMAC-SHA256 of the key under the config's digest secret.
    pub digest: [u8; 32],
    /// This digest is refused from this time on (Unix ms); `None` follows the key's own
    /// expiry.
    pub expires_at_ms: Option<u64>,
}

/// Where the data plane keeps its rate-limit and spend counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RateStoreBackend {
    /// In the process (one data plane; `sluice up`).
    #[default]
    Local,
    /// A Redis or Valkey server shared by every data plane (`redis://host:port/db`).
    Redis {
        /// The server's URL (`redis://` or `rediss://`).
        url: String,
    },
}

/// What the data plane does when the shared rate store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailureMode {
    /// Keep serving, limited by an in-process store with the same limits per data plane.
    #[default]
    FailOpen,
    /// Refuse requests that have limits or budgets (503 with `Retry-After`).
    FailClosed,
}

impl FailureMode {
    /// Config spellings.
    pub const NAMES: [&'static str; 2] = ["fail_open", "fail_closed"];

    /// Parses `fail_open` or `fail_closed`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fail_open" => Some(Self::FailOpen),
            "fail_closed" => Some(Self::FailClosed),
            _ => None,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FailOpen => "fail_open",
            Self::FailClosed => "fail_closed",
        }
    }
}

/// The data plane's rate-store settings (a deployment setting, not part of snapshots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateStoreSettings {
    /// Where counters live.
    pub backend: RateStoreBackend,
    /// What to do when the shared store is unreachable.
    pub failure_mode: FailureMode,
    /// Time one store call may take before it counts as a failure.
    pub timeout: std::time::Duration,
}

impl Default for RateStoreSettings {
    fn default() -> Self {
        Self {
            backend: RateStoreBackend::Local,
            failure_mode: FailureMode::FailOpen,
            timeout: std::time::Duration::from_millis(250),
        }
    }
}

/// Default completion-token estimate reserved against a tokens-per-minute limit when the
/// request sets no `max_tokens` (settled with the real usage afterwards).
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 1024;

/// Every governance rule of one snapshot.
#[derive(Debug, Clone)]
pub struct Governance {
    /// HMAC-SHA256 secret of key digests (the control plane's, or random per process for
    /// a config file's plaintext keys).
    pub digest_secret: [u8; 32],
    /// Client keys by id.
    pub keys: HashMap<String, Arc<ClientKey>>,
    /// Digest → the key it belongs to and that digest's own expiry (Unix ms; `None`
    /// follows the key's own expiry).
    pub digests: HashMap<[u8; 32], (Arc<ClientKey>, Option<u64>)>,
    /// Teams by name.
    pub teams: HashMap<String, Arc<Team>>,
    /// Prices per model.
    pub prices: PriceTable,
    /// Completion tokens reserved when a request sets no maximum.
    pub default_output_estimate: u64,
}

impl Default for Governance {
    /// No keys or teams, the shipped prices and [`DEFAULT_OUTPUT_ESTIMATE`].
    fn default() -> Self {
        Self {
            digest_secret: [0; 32],
            keys: HashMap::new(),
            digests: HashMap::new(),
            teams: HashMap::new(),
            prices: PriceTable::defaults(),
            default_output_estimate: DEFAULT_OUTPUT_ESTIMATE,
        }
    }
}

/// Whether an allow-list admits `model`: an empty list admits every model; an entry ending
/// in `*` admits every model it prefixes.
pub fn allowed(list: &[String], model: &str) -> bool {
    list.is_empty()
        || list.iter().any(|m| match m.strip_suffix('*') {
            Some(prefix) => model.starts_with(prefix),
            None => m == model,
        })
}

impl Team {
    /// Whether the team's keys may use `model` (a route name or a model name).
    pub fn allows(&self, model: &str) -> bool {
        allowed(&self.allowed_models, model)
    }
}

impl ClientKey {
    /// Whether the key itself may use `model` (a route name or a model name); its team's
    /// list applies too ([`Governance::allows`]).
    pub fn allows(&self, model: &str) -> bool {
        allowed(&self.allowed_models, model)
    }

    /// Whether the key has expired at `now_ms` (Unix ms).
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|t| now_ms >= t)
    }
}

impl Governance {
    /// The team `key` belongs to, if it names one.
    pub fn team_of(&self, key: &ClientKey) -> Option<&Arc<Team>> {
        key.team.as_ref().and_then(|t| self.teams.get(t))
    }

    /// Whether `key` and its team may use a request for route (or model) `requested`
    /// that resolved to upstream model `resolved`: each non-empty allow-list must admit
    /// one of the two.
    pub fn allows(&self, key: &ClientKey, requested: &str, resolved: &str) -> bool {
        let ok = |list: &[String]| allowed(list, requested) || allowed(list, resolved);
        ok(&key.allowed_models) && self.team_of(key).is_none_or(|t| ok(&t.allowed_models))
    }

    /// HMAC-SHA256 of a presented key under [`Governance::digest_secret`].
    pub fn digest(&self, presented: &str) -> [u8; 32] {
        key_digest(&self.digest_secret, presented)
    }

    /// The key presented as `presented`, if it is known and that digest has not expired
    /// (the key's own state — enabled, expiry — is for the caller to check).
    pub fn find_key(&self, presented: &str, now_ms: u64) -> Option<&Arc<ClientKey>> {
        let (key, until) = self.digests.get(&self.digest(presented))?;
        match until {
            Some(t) if now_ms >= *t => None,
            _ => Some(key),
        }
    }

    /// Adds `key` under each of its digests.
    pub fn insert_key(&mut self, key: ClientKey, digests: &[KeyDigest]) {
        let key = Arc::new(key);
        for d in digests {
            self.digests
                .insert(d.digest, (key.clone(), d.expires_at_ms));
        }
        self.keys.insert(key.id.clone(), key);
    }
}

/// HMAC-SHA256 of a client key under `secret`: what snapshots carry and the control plane
/// stores. Without the secret (sealed under the master key at rest) a leaked digest cannot
/// be brute-forced.
pub fn key_digest(secret: &[u8; 32], key: &str) -> [u8; 32] {
    use hmac::Mac;
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for 32 bytes.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return [0; 32];
    };
    mac.update(key.as_bytes());
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_utc_calendar_periods() {
        // 2026-12-02T17:30:00Z
        let now = 1_796_232_600_000;
        assert_eq!(BudgetWindow::Day.start_ms(now), 1_796_169_600_000);
        assert_eq!(BudgetWindow::Day.end_ms(now), Some(1_796_256_000_000));
        // 2026-12-01 and 2027-01-01.
        assert_eq!(BudgetWindow::Month.start_ms(now), 1_796_083_200_000);
        assert_eq!(BudgetWindow::Month.end_ms(now), Some(1_798_761_600_000));
        assert_eq!(BudgetWindow::Total.start_ms(now), 0);
        assert_eq!(BudgetWindow::Total.end_ms(now), None);
    }

    #[test]
    fn money_conversions() {
        assert_eq!(usd_to_nanousd(0.01), 10_000_000);
        assert_eq!(usd_to_nanousd(-1.0), 0);
        assert_eq!(usd_to_nanousd(f64::NAN), 0);
        assert!((nanousd_to_usd(10_000_000) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn digests_find_keys_until_they_expire() {
        let mut g = Governance {
            digest_secret: [7; 32],
            ..Default::default()
        };
        let d = g.digest("sk-a");
        assert_ne!(d, key_digest(&[8; 32], "sk-a"));
        g.insert_key(
            ClientKey {
                id: "1".into(),
                enabled: true,
                ..Default::default()
            },
            &[KeyDigest {
                digest: d,
                expires_at_ms: Some(100),
            }],
        );
        assert_eq!(g.find_key("sk-a", 99).unwrap().id, "1");
        assert!(g.find_key("sk-a", 100).is_none());
        assert!(g.find_key("sk-b", 0).is_none());
    }

    #[test]
    fn allow_lists() {
        let mut g = Governance::default();
        assert!(g.prices.lookup("gpt-4o").is_some());
        assert_eq!(g.default_output_estimate, DEFAULT_OUTPUT_ESTIMATE);
        g.teams.insert(
            "ml".into(),
            Arc::new(Team {
                name: "ml".into(),
                enabled: true,
                allowed_models: vec!["gpt-4o*".into(), "fast".into()],
                ..Default::default()
            }),
        );
        let free = ClientKey {
            id: "k".into(),
            ..Default::default()
        };
        assert!(g.allows(&free, "anything", "anything"));
        let k = ClientKey {
            team: Some("ml".into()),
            allowed_models: vec!["fast".into(), "gpt-4o-mini".into()],
            expires_at_ms: Some(10),
            ..free
        };
        assert!(g.allows(&k, "fast", "claude-3-haiku"));
        assert!(g.allows(&k, "gpt-4o-mini", "gpt-4o-mini"));
        assert!(!g.allows(&k, "gpt-4o", "gpt-4o"), "the key's own list");
        let k = ClientKey {
            allowed_models: Vec::new(),
            ..k
        };
        assert!(g.allows(&k, "gpt-4o-2024-08-06", "x"));
        assert!(!g.allows(&k, "claude", "claude"), "the team's list");
        assert!(k.expired(10) && !k.expired(9));
    }
}
