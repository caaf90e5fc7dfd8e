//! Active health checks: for providers that configure `health_check_interval_ms`, every
//! endpoint is asked `GET {base}{path}` with its credentials on that interval. A 2xx answer
//! readmits an endpoint ejected for failures; anything else counts as a failure, so an
//! endpoint that went away is ejected before client traffic finds out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::{provider, AppState};

const TICK: Duration = Duration::from_millis(100);
const IDLE_TICK: Duration = Duration::from_secs(1);

/// Background service running the active checks of the live config.
pub struct ActiveHealthChecks {
    state: Arc<AppState>,
}

impl ActiveHealthChecks {
    /// Checks the endpoints of `state`'s config.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Runs one check; `true` when the endpoint answered 2xx in time.
    async fn check(state: &AppState, provider: usize, endpoint: usize) -> bool {
        let cfg = state.config.load();
        let Some(p) = cfg.providers.get(provider) else {
            return false;
        };
        let (Some(hc), Some(ep)) = (&p.health_check, p.endpoints.get(endpoint)) else {
            return false;
        };
        let req = provider::for_kind(p.kind).health_check_request(p, ep, &hc.path);
        match state
            .upstream
            .send(req, p.timeout.min(Duration::from_secs(10)))
            .await
        {
            Ok(mut resp) => {
                let ok = (200..300).contains(&resp.status);
                let _ = resp.read_all(1 << 20, Duration::from_secs(5)).await;
                state.upstream.release(resp);
                ok
            }
            Err(_) => false,
        }
    }
}

#[async_trait]
impl BackgroundService for ActiveHealthChecks {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        // Next due time per endpoint health key (survives config swaps).
        let mut due: HashMap<String, Instant> = HashMap::new();
        loop {
            // Idle configs (no checks) only look again once a second.
            let any = self
                .state
                .config
                .load()
                .providers
                .iter()
                .any(|p| p.health_check.is_some());
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(if any { TICK } else { IDLE_TICK }) => {}
            }
            let cfg = self.state.config.load();
            let now = Instant::now();
            for (pi, p) in cfg.providers.iter().enumerate() {
                let Some(hc) = &p.health_check else { continue };
                if !p.enabled {
                    continue;
                }
                for (ei, ep) in p.endpoints.iter().enumerate() {
                    let next = due.entry(ep.health_key.clone()).or_insert(now);
                    if *next > now {
                        continue;
                    }
                    *next = now + hc.interval;
                    let state = self.state.clone();
                    let version = cfg.clone();
                    tokio::spawn(async move {
                        let healthy = Self::check(&state, pi, ei).await;
                        state.router.record_probe(&version, pi, ei, healthy);
                    });
                }
            }
        }
    }
}
