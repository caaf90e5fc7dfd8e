//! Usage records reported by data planes (no prompt text), kept in a sled tree ordered by
//! time with retention (newest [`MAX_RECORDS`], at most [`MAX_AGE_MS`] old); the source of
//! the orchestrator API's `/admin/stats` and `/admin/logs`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;

/// Records kept at most.
pub const MAX_RECORDS: u64 = 100_000;
/// Oldest record kept.
pub const MAX_AGE_MS: u64 = 7 * 24 * 3600 * 1000;

/// One stored request record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEntry {
    /// Key sequence (stable id for `/admin/logs`).
    #[serde(default)]
    pub id: u64,
    /// Reporting data plane.
    pub node_id: String,
    /// Request time.
    pub unix_ms: u64,
    /// Request id.
    pub request_id: String,
    /// Route (public model name).
    pub route: String,
    /// Provider name.
    pub provider: String,
    /// Upstream model.
    pub model: String,
    /// HTTP status answered.
    pub status: u32,
    /// Total latency.
    pub latency_ms: u64,
    /// Time to first token.
    pub ttft_ms: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Upstream attempts.
    pub attempts: u32,
    /// Streamed.
    pub stream: bool,
    /// The client key's id (empty without keys).
    #[serde(default)]
    pub key_id: String,
    /// The key's team.
    #[serde(default)]
    pub team: String,
    /// The key's user.
    #[serde(default)]
    pub user: String,
    /// Prompt tokens read from the provider's cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Completion tokens spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Cost from the price table (nano-US-dollars).
    #[serde(default)]
    pub cost_nanousd: u64,
    /// The surface the client called.
    #[serde(default)]
    pub surface: String,
}

/// The usage tree with its retention bookkeeping.
#[derive(Debug)]
pub struct UsageLog {
    tree: sled::Tree,
    count: AtomicU64,
}

fn key(unix_ms: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&unix_ms.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

impl UsageLog {
    /// Opens the `usage` tree of `db`.
    pub fn open(db: &sled::Db) -> sled::Result<Self> {
        let tree = db.open_tree("usage")?;
        let count = tree.len() as u64;
        Ok(Self {
            tree,
            count: AtomicU64::new(count),
        })
    }

    /// Stores a batch and applies retention; returns how many were accepted.
    pub fn append(&self, db: &sled::Db, entries: Vec<UsageEntry>) -> sled::Result<u32> {
        let mut batch = sled::Batch::default();
        let mut n = 0u32;
        let now = now_ms();
        for mut e in entries {
            if e.unix_ms == 0 {
                e.unix_ms = now;
            }
            let seq = db.generate_id()?;
            e.id = seq;
            let Ok(v) = serde_json::to_vec(&e) else {
                continue;
            };
            batch.insert(&key(e.unix_ms, seq)[..], v);
            n += 1;
        }
        self.tree.apply_batch(batch)?;
        self.count.fetch_add(u64::from(n), Ordering::Relaxed);
        self.retain(now)?;
        Ok(n)
    }

    fn retain(&self, now: u64) -> sled::Result<()> {
        let cutoff = now.saturating_sub(MAX_AGE_MS);
        while let Some((k, _)) = self.tree.first()? {
            let ts = k
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if ts >= cutoff && self.count.load(Ordering::Relaxed) <= MAX_RECORDS {
                break;
            }
            if self.tree.remove(&k)?.is_some() {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Records at or after `since_ms`, oldest first.
    pub fn since(&self, since_ms: u64) -> Vec<UsageEntry> {
        self.tree
            .range(key(since_ms, 0)..)
            .filter_map(|item| item.ok())
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect()
    }

    /// Number of stored records.
    pub fn len(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(unix_ms: u64) -> UsageEntry {
        UsageEntry {
            id: 0,
            node_id: "n".into(),
            unix_ms,
            request_id: String::new(),
            route: "r".into(),
            provider: "p".into(),
            model: "m".into(),
            status: 200,
            latency_ms: 1,
            ttft_ms: 1,
            prompt_tokens: 0,
            completion_tokens: 0,
            attempts: 1,
            stream: false,
            ..Default::default()
        }
    }

    #[test]
    fn retention_drops_records_older_than_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let log = UsageLog::open(&db).unwrap();
        let now = now_ms();
        let old = now - MAX_AGE_MS - 60_000;
        assert_eq!(
            log.append(&db, vec![entry(old), entry(old + 1)]).unwrap(),
            2
        );
        // The old ones are already past retention when appended.
        assert_eq!(log.len(), 0);
        log.append(&db, vec![entry(now - 1000), entry(now)])
            .unwrap();
        assert_eq!(log.len(), 2);
        let all = log.since(0);
        assert_eq!(all.len(), 2);
        assert!(all[0].unix_ms <= all[1].unix_ms);
        assert_eq!(log.since(now).len(), 1);
        drop(log);
        // The count survives a reopen.
        assert_eq!(UsageLog::open(&db).unwrap().len(), 2);
    }
}
