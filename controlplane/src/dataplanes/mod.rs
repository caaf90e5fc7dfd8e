//! Registry of data planes: who is connected, which version each applied (ACK), the last
//! NACK, and the passive health each reports. Node records are also persisted in the
//! `dataplanes` sled tree so the admin API still lists nodes after a restart.

use std::collections::HashMap;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::clock::now_ms;

/// A rejected snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NackInfo {
    /// The version refused.
    pub version: u64,
    /// The data plane's error.
    pub error: String,
    /// When (Unix ms).
    pub at_ms: u64,
}

/// One endpoint's health as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndpointHealthInfo {
    /// Provider name.
    pub provider: String,
    /// Endpoint base URL.
    pub base_url: String,
    /// Not ejected.
    pub healthy: bool,
    /// Latency EWMA.
    pub latency_ewma_ms: f64,
    /// Success rate in percent.
    pub success_rate: f64,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Requests seen.
    pub total_requests: u64,
}

/// What the control plane knows about one data plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Node id from Hello.
    pub node_id: String,
    /// A stream is open now.
    pub connected: bool,
    /// When the current (or last) stream opened (Unix ms).
    pub connected_since_ms: u64,
    /// Last message (Unix ms).
    pub last_seen_ms: u64,
    /// Version in its Hello.
    pub hello_version: u64,
    /// Last version sent to it.
    pub sent_version: u64,
    /// Last version it acknowledged (applied).
    pub applied_version: u64,
    /// When it last acknowledged.
    pub last_ack_ms: Option<u64>,
    /// Its last rejection, cleared by a later ACK of a newer version.
    pub last_nack: Option<NackInfo>,
    /// Latest health report.
    #[serde(default)]
    pub health: Vec<EndpointHealthInfo>,
    /// Stream generation (a reconnect replaces an older stream of the same node).
    #[serde(skip)]
    pub generation: u64,
}

/// Aggregated health of one provider over every connected data plane.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderHealth {
    /// Some endpoint is healthy somewhere.
    pub healthy: bool,
    /// Mean latency EWMA.
    pub response_time_ms: f64,
    /// Smallest run of failures among its endpoints.
    pub consecutive_failures: u32,
    /// Mean success rate (percent).
    pub success_rate: f64,
}

/// The registry.
#[derive(Debug)]
pub struct Registry {
    nodes: RwLock<HashMap<String, NodeInfo>>,
    tree: sled::Tree,
    generations: std::sync::atomic::AtomicU64,
}

impl Registry {
    /// Opens the registry, loading known nodes as disconnected.
    pub fn open(db: &sled::Db) -> sled::Result<Self> {
        let tree = db.open_tree("dataplanes")?;
        let mut nodes = HashMap::new();
        for (_, v) in tree.iter().flatten() {
            if let Ok(mut n) = serde_json::from_slice::<NodeInfo>(&v) {
                n.connected = false;
                n.health.clear();
                nodes.insert(n.node_id.clone(), n);
            }
        }
        Ok(Self {
            nodes: RwLock::new(nodes),
            tree,
            generations: Default::default(),
        })
    }

    fn persist(&self, n: &NodeInfo) {
        if let Ok(v) = serde_json::to_vec(n) {
            if let Err(e) = self.tree.insert(n.node_id.as_bytes(), v) {
                tracing::warn!(error = %e, "cannot persist data-plane record");
            }
        }
    }

    /// A stream opened with Hello; returns its generation.
    pub fn connect(&self, node_id: &str, hello_version: u64) -> u64 {
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let now = now_ms();
        let mut nodes = self.nodes.write();
        let n = nodes
            .entry(node_id.to_string())
            .or_insert_with(|| NodeInfo {
                node_id: node_id.to_string(),
                connected: true,
                connected_since_ms: now,
                last_seen_ms: now,
                hello_version,
                sent_version: 0,
                applied_version: hello_version,
                last_ack_ms: None,
                last_nack: None,
                health: Vec::new(),
                generation,
            });
        n.connected = true;
        n.connected_since_ms = now;
        n.last_seen_ms = now;
        n.hello_version = hello_version;
        n.applied_version = hello_version;
        n.generation = generation;
        self.persist(n);
        generation
    }

    fn with_node(&self, node_id: &str, generation: u64, f: impl FnOnce(&mut NodeInfo)) {
        let mut nodes = self.nodes.write();
        if let Some(n) = nodes.get_mut(node_id) {
            if n.generation == generation {
                n.last_seen_ms = now_ms();
                f(n);
            }
        }
    }

    /// A snapshot was sent.
    pub fn sent(&self, node_id: &str, generation: u64, version: u64) {
        self.with_node(node_id, generation, |n| n.sent_version = version);
    }

    /// ACK of `version`.
    pub fn ack(&self, node_id: &str, generation: u64, version: u64) {
        let mut persisted = None;
        self.with_node(node_id, generation, |n| {
            n.applied_version = version;
            n.last_ack_ms = Some(now_ms());
            if n.last_nack.as_ref().is_some_and(|x| x.version <= version) {
                n.last_nack = None;
            }
            persisted = Some(n.clone());
        });
        if let Some(n) = persisted {
            self.persist(&n);
        }
    }

    /// NACK of `version`.
    pub fn nack(&self, node_id: &str, generation: u64, version: u64, error: String) {
        let mut persisted = None;
        self.with_node(node_id, generation, |n| {
            n.last_nack = Some(NackInfo {
                version,
                error,
                at_ms: now_ms(),
            });
            persisted = Some(n.clone());
        });
        if let Some(n) = persisted {
            self.persist(&n);
        }
    }

    /// A health report.
    pub fn health(&self, node_id: &str, generation: u64, report: Vec<EndpointHealthInfo>) {
        self.with_node(node_id, generation, |n| n.health = report);
    }

    /// The stream of `generation` closed.
    pub fn disconnect(&self, node_id: &str, generation: u64) {
        let mut persisted = None;
        self.with_node(node_id, generation, |n| {
            n.connected = false;
            n.health.clear();
            persisted = Some(n.clone());
        });
        if let Some(n) = persisted {
            self.persist(&n);
        }
    }

    /// Every known node, by id.
    pub fn list(&self) -> Vec<NodeInfo> {
        let mut v: Vec<NodeInfo> = self.nodes.read().values().cloned().collect();
        v.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        v
    }

    /// Connected nodes.
    pub fn connected(&self) -> usize {
        self.nodes.read().values().filter(|n| n.connected).count()
    }

    /// Health of every provider named in a connected node's last report.
    pub fn provider_health(&self) -> HashMap<String, ProviderHealth> {
        let mut acc: HashMap<String, (bool, f64, u32, f64, usize)> = HashMap::new();
        for n in self.nodes.read().values().filter(|n| n.connected) {
            for e in &n.health {
                let a = acc
                    .entry(e.provider.clone())
                    .or_insert((false, 0.0, u32::MAX, 0.0, 0));
                a.0 |= e.healthy;
                a.1 += e.latency_ewma_ms;
                a.2 = a.2.min(e.consecutive_failures);
                a.3 += e.success_rate;
                a.4 += 1;
            }
        }
        acc.into_iter()
            .map(|(k, (healthy, lat, cf, sr, count))| {
                let c = count.max(1) as f64;
                (
                    k,
                    ProviderHealth {
                        healthy,
                        response_time_ms: lat / c,
                        consecutive_failures: if cf == u32::MAX { 0 } else { cf },
                        success_rate: sr / c,
                    },
                )
            })
            .collect()
    }
}
