//! The spend ledger: the cost of every reported request, summed per budget scope
//! (`key:<id>`, `team:<name>`) per budget window in a durable sled tree. When a scope's
//! spend crosses its soft or hard threshold in the current window (or a mark belongs to a
//! window that has rolled over), the ledger updates `State.budget_marks` through the
//! store's normal write path, so the new snapshot version reaches every data plane.

use std::collections::{BTreeMap, BTreeSet};

use sluice_model::BudgetWindow;

use crate::error::ApiError;
use crate::store::records::{BudgetMark, BudgetRecord, State};
use crate::store::Store;
use crate::usage::UsageEntry;

/// Spend counters per scope and window.
#[derive(Debug, Clone)]
pub struct Ledger {
    tree: sled::Tree,
}

/// Where one budget stands in the window holding a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStanding {
    /// Spend in the window (nano-US-dollars).
    pub spent_nanousd: u64,
    /// Start of the window (Unix ms).
    pub window_start_ms: u64,
    /// The soft threshold is reached.
    pub soft_alert: bool,
    /// The hard limit is reached.
    pub exhausted: bool,
}

fn counter_key(scope: &str, window: BudgetWindow, start_ms: u64) -> String {
    format!("{scope}|{}|{start_ms}", window.as_str())
}

fn decode(v: Option<&[u8]>) -> u64 {
    v.and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// The budget and window of `scope` in `state` (scopes without a budget are counted per
/// calendar month, for display).
fn scope_budget<'a>(state: &'a State, scope: &str) -> (Option<&'a BudgetRecord>, bool) {
    let budget = if let Some(id) = scope.strip_prefix("key:") {
        id.parse::<u64>()
            .ok()
            .and_then(|id| state.keys.get(&id))
            .map(|k| k.budget.as_ref())
    } else if let Some(name) = scope.strip_prefix("team:") {
        state.teams.get(name).map(|t| t.budget.as_ref())
    } else {
        None
    };
    (budget.flatten(), budget.is_some())
}

/// The mark a budget should carry at `spent` in the window holding `now_ms` (`None`
/// below every threshold).
pub fn evaluate(budget: &BudgetRecord, spent: u64, now_ms: u64) -> Option<BudgetMark> {
    let window = budget.window();
    let soft = budget.soft_nanousd.is_some_and(|s| spent >= s);
    let exhausted = spent >= budget.limit_nanousd;
    (soft || exhausted).then(|| BudgetMark {
        window_start_ms: window.start_ms(now_ms),
        spent_nanousd: spent,
        soft_alerted: soft,
        exhausted_until_ms: if exhausted {
            window.end_ms(now_ms).unwrap_or(u64::MAX)
        } else {
            0
        },
    })
}

/// Whether two marks say the same thing (spend alone moving does not warrant a new
/// snapshot).
fn same_verdict(a: Option<&BudgetMark>, b: Option<&BudgetMark>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.window_start_ms == b.window_start_ms
                && a.soft_alerted == b.soft_alerted
                && a.exhausted_until_ms == b.exhausted_until_ms
        }
        _ => false,
    }
}

impl Ledger {
    /// Opens the `spend` tree of `db`.
    pub fn open(db: &sled::Db) -> sled::Result<Self> {
        Ok(Self {
            tree: db.open_tree("spend")?,
        })
    }

    /// Spend of `scope` in the `window` holding `at_ms`.
    pub fn spent(&self, scope: &str, window: BudgetWindow, at_ms: u64) -> u64 {
        let key = counter_key(scope, window, window.start_ms(at_ms));
        decode(self.tree.get(key.as_bytes()).ok().flatten().as_deref())
    }

    /// Where `scope` stands against `budget` (month window without one) at `now_ms`.
    pub fn standing(
        &self,
        scope: &str,
        budget: Option<&BudgetRecord>,
        now_ms: u64,
    ) -> BudgetStanding {
        let window = budget.map(BudgetRecord::window).unwrap_or_default();
        let spent = self.spent(scope, window, now_ms);
        BudgetStanding {
            spent_nanousd: spent,
            window_start_ms: window.start_ms(now_ms),
            soft_alert: budget.is_some_and(|b| b.soft_nanousd.is_some_and(|s| spent >= s)),
            exhausted: budget.is_some_and(|b| spent >= b.limit_nanousd),
        }
    }

    /// Adds the cost of `entries` to their key's and team's counters (in the window of
    /// each request's own time), then brings the budget marks up to date with at most one
    /// store write.
    pub fn record(
        &self,
        store: &Store,
        entries: &[UsageEntry],
        now_ms: u64,
    ) -> Result<(), ApiError> {
        let state = store.state();
        let mut sums: BTreeMap<String, u64> = BTreeMap::new();
        let mut touched = BTreeSet::new();
        for e in entries.iter().filter(|e| e.cost_nanousd > 0) {
            let at = if e.unix_ms == 0 { now_ms } else { e.unix_ms };
            let scopes = [
                (!e.key_id.is_empty()).then(|| format!("key:{}", e.key_id)),
                (!e.team.is_empty()).then(|| format!("team:{}", e.team)),
            ];
            for scope in scopes.into_iter().flatten() {
                let window = scope_budget(&state, &scope)
                    .0
                    .map(BudgetRecord::window)
                    .unwrap_or_default();
                let sum = sums
                    .entry(counter_key(&scope, window, window.start_ms(at)))
                    .or_default();
                *sum = sum.saturating_add(e.cost_nanousd);
                touched.insert(scope);
            }
        }
        for (key, add) in &sums {
            self.tree.fetch_and_update(key.as_bytes(), |old| {
                Some(decode(old).saturating_add(*add).to_be_bytes().to_vec())
            })?;
        }
        if !sums.is_empty() {
            self.tree.flush()?;
        }
        let mut scopes: BTreeSet<String> = state.budget_marks.keys().cloned().collect();
        scopes.extend(touched);
        if !self.changes(&state, &scopes, now_ms).is_empty() {
            store.mutate(|s, _| {
                self.reconcile(s, &scopes, now_ms);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The marks of `scopes` whose verdict differs from what the counters say at
    /// `now_ms` (a stale window, a threshold crossed, a budget gone or raised), with the
    /// mark each should carry (`None`: remove it).
    pub fn changes(
        &self,
        state: &State,
        scopes: &BTreeSet<String>,
        now_ms: u64,
    ) -> Vec<(String, Option<BudgetMark>)> {
        let mut out = Vec::new();
        for scope in scopes {
            let (budget, _) = scope_budget(state, scope);
            let desired =
                budget.and_then(|b| evaluate(b, self.spent(scope, b.window(), now_ms), now_ms));
            if !same_verdict(state.budget_marks.get(scope), desired.as_ref()) {
                out.push((scope.clone(), desired));
            }
        }
        out
    }

    /// Brings `state`'s marks of `scopes` up to date; returns whether any changed.
    pub fn reconcile(&self, state: &mut State, scopes: &BTreeSet<String>, now_ms: u64) -> bool {
        let changes = self.changes(state, scopes, now_ms);
        let changed = !changes.is_empty();
        for (scope, mark) in changes {
            match mark {
                Some(m) => {
                    state.budget_marks.insert(scope, m);
                }
                None => {
                    state.budget_marks.remove(&scope);
                }
            }
        }
        changed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn budget(limit: u64, soft: Option<u64>, window: &str) -> BudgetRecord {
        BudgetRecord {
            limit_nanousd: limit,
            soft_nanousd: soft,
            window: window.into(),
        }
    }

    #[test]
    fn marks_follow_thresholds_and_windows() {
        // 2026-12-02T17:30:00Z
        let now = 1_796_232_600_000;
        let b = budget(100, Some(50), "day");
        assert_eq!(evaluate(&b, 49, now), None);
        let soft = evaluate(&b, 50, now).unwrap();
        assert!(soft.soft_alerted);
        assert_eq!(soft.exhausted_until_ms, 0);
        assert_eq!(soft.window_start_ms, 1_796_169_600_000);
        let hard = evaluate(&b, 100, now).unwrap();
        assert_eq!(hard.exhausted_until_ms, 1_796_256_000_000);
        let total = evaluate(&budget(1, None, "total"), 1, now).unwrap();
        assert_eq!(total.exhausted_until_ms, u64::MAX);
        // More spend with the same verdict is no news; a new verdict or window is.
        let later = evaluate(&b, 60, now).unwrap();
        assert!(same_verdict(Some(&soft), Some(&later)));
        assert!(!same_verdict(Some(&soft), Some(&hard)));
        let tomorrow = evaluate(&b, 60, now + 86_400_000).unwrap();
        assert!(!same_verdict(Some(&soft), Some(&tomorrow)));
        assert!(!same_verdict(Some(&soft), None));
    }

    #[test]
    fn spend_is_counted_per_scope_and_window() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let ledger = Ledger::open(&db).unwrap();
        let now = 1_796_232_600_000;
        let add = |scope: &str, window: BudgetWindow, at: u64, n: u64| {
            let key = counter_key(scope, window, window.start_ms(at));
            ledger
                .tree
                .fetch_and_update(key.as_bytes(), |old| {
                    Some(decode(old).saturating_add(n).to_be_bytes().to_vec())
                })
                .unwrap();
        };
        add("key:1", BudgetWindow::Day, now, 5);
        add("key:1", BudgetWindow::Day, now + 1000, 7);
        add("key:1", BudgetWindow::Day, now + 86_400_000, 100);
        add("key:2", BudgetWindow::Day, now, 1);
        assert_eq!(ledger.spent("key:1", BudgetWindow::Day, now), 12);
        assert_eq!(ledger.spent("key:1", BudgetWindow::Month, now), 0);
        assert_eq!(
            ledger.spent("key:1", BudgetWindow::Day, now + 86_400_000),
            100
        );
        let s = ledger.standing("key:1", Some(&budget(10, Some(5), "day")), now);
        assert_eq!(s.spent_nanousd, 12);
        assert!(s.soft_alert && s.exhausted);
    }
}
