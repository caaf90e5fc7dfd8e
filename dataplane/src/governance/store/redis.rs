//! The Redis/Valkey rate store, shared by every data plane that names the same server.
//!
//! Keys of a scope (`key:7`, `team:ml`, …) share the hash tag `{<scope id>}`, so one Lua
//! script per scope touches one cluster slot:
//!
//! | key | type | what | TTL |
//! |---|---|---|---|
//! | `sluice:{<scope>}:rpm` | sorted set | requests log: member request id, score admission ms | 60 s |
//! | `sluice:{<scope>}:tpm:<minute>` | counter | tokens reserved in that minute (Unix ms / 60000) | 180 s |
//! | `sluice:{<scope>}:conc` | sorted set | leases: member request id, score expiry ms | lease (10 min) |
//! | `sluice:{<scope>}:spend:<window_start_ms>` | counter | budget spend, nano-USD | window end + 1 day (400 days for `total`) |
//!
//! The clock is the server's (`TIME` inside the scripts). An admission sends one EVALSHA
//! of `admit.lua` per scope in one pipeline (one round trip); when a scope refuses, the
//! scopes that admitted are rolled back with `settle.lua` (a second trip, only then).
//! Settling is one pipeline of `settle.lua`, run in a spawned task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, Script, ServerErrorKind};
use sluice_model::{BudgetWindow, TokenCount, TokenUsage};
use tokio::sync::OnceCell;

use super::{counted, wall_ms, CONCURRENCY_RETRY};
use crate::governance::{Estimate, Exhausted, Refusal, ScopeLimits, Window};

/// Key prefix of every key.
const PREFIX: &str = "sluice:";
/// A lease on an in-flight slot lasts this long unless released (a crashed data plane's
/// slots come back after it).
const LEASE_MS: u64 = 10 * 60_000;
/// Spend counters are kept this long after their window ends.
const SPEND_GRACE_MS: u64 = 86_400_000;
/// Spend counters of a window that never ends are kept this long after the last spend.
const SPEND_TOTAL_TTL_MS: u64 = 400 * 86_400_000;

/// Why a Redis call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The server answered with an error, or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    /// No answer within the configured timeout.
    #[error("redis: no answer within {0:?}")]
    Timeout(Duration),
    /// The server answered something the scripts never return.
    #[error("redis: unexpected answer")]
    Unexpected,
}

/// A connection to one Redis server, opened on first use.
pub(crate) struct RedisStore {
    client: Result<redis::Client, String>,
    conn: OnceCell<ConnectionManager>,
    timeout: Duration,
    admit_script: Script,
    settle_script: Script,
    /// Makes request ids unique across data planes (random per process) …
    nonce: u64,
    /// … and within this one.
    next_id: AtomicU64,
}

/// What one admission holds in Redis.
#[derive(Debug)]
pub(crate) struct Held {
    /// The request's id: its member in requests logs and leases.
    id: String,
    holds: Vec<Hold>,
}

/// What one admission holds in one scope.
#[derive(Debug)]
struct Hold {
    /// `sluice:{<scope>}`.
    prefix: String,
    counts: TokenCount,
    /// The minute its tokens were reserved in (server time).
    minute: u64,
    /// Tokens reserved, when the scope limits tokens.
    tokens: Option<u64>,
    logged: bool,
    lease: bool,
    /// Budget window start and how long its counter is kept.
    spend: Option<(u64, u64)>,
}

/// What Redis said to an admission.
pub(crate) enum Outcome {
    /// Every scope had room.
    Admitted(Held),
    /// The first refusing scope's refusal, and the error of rolling back the others when
    /// that failed (they then keep their reservations: requests and tokens until their
    /// window passes, leases until they expire).
    Refused(Refusal, Option<StoreError>),
}

/// One scope's answer from `admit.lua`.
struct Answer {
    admitted: bool,
    reason: i64,
    minute: u64,
    rpm_remaining: u64,
    rpm_reset_ms: u64,
    tpm_remaining: u64,
    tpm_reset_ms: u64,
}

impl RedisStore {
    /// A store over the server at `url`; nothing connects until the first call.
    pub fn new(url: &str, timeout: Duration) -> Self {
        Self {
            client: redis::Client::open(url).map_err(|e| e.to_string()),
            conn: OnceCell::new(),
            timeout,
            admit_script: Script::new(include_str!("lua/admit.lua")),
            settle_script: Script::new(include_str!("lua/settle.lua")),
            nonce: rand::random(),
            next_id: AtomicU64::new(0),
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let client = self.client.clone().map_err(|e| {
                    StoreError::Redis(RedisError::from((ErrorKind::InvalidClientConfig, "url", e)))
                })?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_lazy_with_config(client, config).map_err(StoreError::from)
            })
            .await?;
        Ok(conn.clone())
    }

    /// Runs `pipe` within the timeout; a server that lost the scripts (restarted) gets them
    /// again and the pipeline is sent once more.
    async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut conn = self.connection().await?;
        let run = async {
            match pipe.query_async::<T>(&mut conn).await {
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    self.admit_script.load_async(&mut conn).await?;
                    self.settle_script.load_async(&mut conn).await?;
                    pipe.query_async::<T>(&mut conn).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    /// Whether the server answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("PING");
        self.query::<(String,)>(&pipe).await.map(|_| ())
    }

    /// Reserves in every limited scope of `scopes`, all or nothing.
    pub async fn admit(
        &self,
        scopes: &[ScopeLimits<'_>],
        estimate: Estimate,
    ) -> Result<Outcome, StoreError> {
        let wall = wall_ms();
        // The ledger's mark needs no round trip.
        if let Some(r) = scopes
            .iter()
            .filter(|s| !s.is_unlimited())
            .find_map(|s| ledger_refusal(s, wall))
        {
            return Ok(Outcome::Refused(r, None));
        }
        let id = format!(
            "{:016x}{:x}",
            self.nonce,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let mut pipe = redis::pipe();
        let mut holds = Vec::with_capacity(scopes.len());
        let mut limited = Vec::with_capacity(scopes.len());
        for scope in scopes.iter().filter(|s| !s.is_unlimited()) {
            let prefix = format!("{PREFIX}{{{}:{}}}", scope.kind.as_str(), scope.name);
            let l = scope.limits;
            let need = l.tpm_counts.of(estimate.input, estimate.output);
            let spend = scope.budget.map(|(b, s)| {
                let start = b.window.start_ms(wall);
                let seen = if s.window_start_ms == start {
                    s.spent_nanousd
                } else {
                    0
                };
                (b.limit_nanousd, seen, start, spend_ttl_ms(b.window, wall))
            });
            pipe.cmd("EVALSHA")
                .arg(self.admit_script.get_hash())
                .arg(3)
                .arg(format!("{prefix}:rpm"))
                .arg(format!("{prefix}:conc"))
                .arg(format!("{prefix}:spend:{}", spend.map_or(0, |s| s.2)))
                .arg(format!("{prefix}:tpm:"))
                .arg(l.rpm.map_or(-1, i64::from))
                .arg(l.tpm.map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX)))
                .arg(need)
                .arg(l.max_concurrent.map_or(-1, i64::from))
                .arg(&id)
                .arg(spend.map_or(-1, |s| i64::try_from(s.0).unwrap_or(i64::MAX)))
                .arg(spend.map_or(0, |s| s.1))
                .arg(LEASE_MS);
            holds.push(Hold {
                prefix,
                counts: l.tpm_counts,
                minute: 0,
                tokens: l.tpm.map(|_| need),
                logged: l.rpm.is_some(),
                lease: l.max_concurrent.is_some(),
                spend: spend.map(|s| (s.2, s.3)),
            });
            limited.push(*scope);
        }
        let answers: Vec<Vec<i64>> = self.query(&pipe).await?;
        if answers.len() != holds.len() {
            return Err(StoreError::Unexpected);
        }
        let mut refusal = None;
        let mut admitted = Vec::with_capacity(holds.len());
        for ((mut hold, answer), scope) in holds.into_iter().zip(answers).zip(limited) {
            let a = Answer::parse(&answer)?;
            hold.minute = a.minute;
            if a.admitted {
                admitted.push(hold);
            } else if refusal.is_none() {
                refusal = Some(a.refusal(&scope, wall));
            }
        }
        let held = Held {
            id,
            holds: admitted,
        };
        let Some(r) = refusal else {
            return Ok(Outcome::Admitted(held));
        };
        if held.holds.is_empty() {
            return Ok(Outcome::Refused(r, None));
        }
        let rolled_back = self
            .query::<Vec<i64>>(&self.roll_back_pipeline(&held))
            .await;
        Ok(Outcome::Refused(r, rolled_back.err()))
    }

    fn roll_back_pipeline(&self, held: &Held) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        for h in &held.holds {
            let delta = -i64::try_from(h.tokens.unwrap_or(0)).unwrap_or(i64::MAX);
            self.settle_cmd(&mut pipe, held, h, delta, 0, true);
        }
        pipe
    }

    fn settle_cmd(
        &self,
        pipe: &mut redis::Pipeline,
        held: &Held,
        h: &Hold,
        delta: i64,
        cost: u64,
        roll_back: bool,
    ) {
        let (start, ttl) = h.spend.unwrap_or((0, 0));
        pipe.cmd("EVALSHA")
            .arg(self.settle_script.get_hash())
            .arg(4)
            .arg(format!("{}:tpm:{}", h.prefix, h.minute))
            .arg(format!("{}:conc", h.prefix))
            .arg(format!("{}:spend:{start}", h.prefix))
            .arg(format!("{}:rpm", h.prefix))
            .arg(if h.tokens.is_some() { delta } else { 0 })
            .arg(if h.lease { held.id.as_str() } else { "" })
            .arg(if h.spend.is_some() { cost } else { 0 })
            .arg(ttl)
            .arg(if roll_back && h.logged {
                held.id.as_str()
            } else {
                ""
            });
    }

    /// Settles `held`: token reservations become `usage`, `cost_nanousd` is added to
    /// budgets, leases end.
    pub async fn settle(
        &self,
        held: &Held,
        usage: Option<&TokenUsage>,
        cost_nanousd: u64,
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        for h in &held.holds {
            let delta = match (h.tokens, usage) {
                (Some(reserved), Some(u)) => {
                    let actual = i64::try_from(counted(h.counts, u)).unwrap_or(i64::MAX);
                    actual.saturating_sub(i64::try_from(reserved).unwrap_or(i64::MAX))
                }
                _ => 0,
            };
            self.settle_cmd(&mut pipe, held, h, delta, cost_nanousd, false);
        }
        self.query::<Vec<i64>>(&pipe).await.map(|_| ())
    }

    /// Ends `held`'s leases (a request that ended without settling).
    pub async fn release(&self, held: &Held) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        for h in held.holds.iter().filter(|h| h.lease) {
            pipe.cmd("ZREM")
                .arg(format!("{}:conc", h.prefix))
                .arg(&held.id);
        }
        self.query::<Vec<i64>>(&pipe).await.map(|_| ())
    }
}

impl Held {
    /// Whether releasing it has anything to do.
    pub fn has_leases(&self) -> bool {
        self.holds.iter().any(|h| h.lease)
    }

    /// Whether settling it with `usage` and `cost_nanousd` changes anything (a scope with
    /// only a requests limit has nothing to settle: no round trip then).
    pub fn needs_settle(&self, usage: Option<&TokenUsage>, cost_nanousd: u64) -> bool {
        self.holds.iter().any(|h| {
            h.lease
                || (h.spend.is_some() && cost_nanousd > 0)
                || matches!((h.tokens, usage), (Some(t), Some(u)) if counted(h.counts, u) != t)
        })
    }
}

impl Answer {
    fn parse(v: &[i64]) -> Result<Self, StoreError> {
        let [admitted, reason, _now, minute, rpm_remaining, rpm_reset, tpm_remaining, tpm_reset] =
            v
        else {
            return Err(StoreError::Unexpected);
        };
        let u = |n: &i64| u64::try_from(*n).unwrap_or(0);
        Ok(Self {
            admitted: *admitted == 1,
            reason: *reason,
            minute: u(minute),
            rpm_remaining: u(rpm_remaining),
            rpm_reset_ms: u(rpm_reset),
            tpm_remaining: u(tpm_remaining),
            tpm_reset_ms: u(tpm_reset),
        })
    }

    fn refusal(&self, scope: &ScopeLimits<'_>, wall: u64) -> Refusal {
        let (reason, retry_after) = match self.reason {
            1 => (
                Exhausted::Requests,
                Some(Duration::from_millis(self.rpm_reset_ms)),
            ),
            2 => (
                Exhausted::Tokens,
                Some(Duration::from_millis(self.tpm_reset_ms)),
            ),
            3 => (Exhausted::Concurrency, Some(CONCURRENCY_RETRY)),
            _ => (
                Exhausted::Budget,
                scope
                    .budget
                    .and_then(|(b, _)| b.window.end_ms(wall))
                    .map(|end| Duration::from_millis(end.saturating_sub(wall))),
            ),
        };
        Refusal {
            kind: scope.kind,
            name: scope.name.to_owned(),
            reason,
            retry_after,
            requests: scope.limits.rpm.map(|r| Window {
                limit: u64::from(r),
                remaining: self.rpm_remaining,
                reset: Duration::from_millis(self.rpm_reset_ms),
            }),
            tokens: scope.limits.tpm.map(|t| Window {
                limit: t,
                remaining: self.tpm_remaining,
                reset: Duration::from_millis(self.tpm_reset_ms),
            }),
        }
    }
}

/// A refusal for a budget the control plane's ledger marked exhausted.
fn ledger_refusal(scope: &ScopeLimits<'_>, wall: u64) -> Option<Refusal> {
    let (_, status) = scope.budget?;
    (status.exhausted_until_ms > wall).then(|| Refusal {
        kind: scope.kind,
        name: scope.name.to_owned(),
        reason: Exhausted::Budget,
        retry_after: (status.exhausted_until_ms != u64::MAX)
            .then(|| Duration::from_millis(status.exhausted_until_ms - wall)),
        requests: None,
        tokens: None,
    })
}

/// How long a spend counter of the window holding `wall` is kept.
fn spend_ttl_ms(window: BudgetWindow, wall: u64) -> u64 {
    window.end_ms(wall).map_or(SPEND_TOTAL_TTL_MS, |end| {
        end.saturating_sub(wall) + SPEND_GRACE_MS
    })
}
