//! Test harness: a real control plane on 127.0.0.1 ephemeral ports, a reqwest client,
//! and a tonic client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sluice_controlplane::{App, ControlPlaneOptions};
use sluice_model::MasterKey;
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "admin-secret-token";
pub const DP_TOKEN: &str = "dp-secret-token-0123";
/// A provider key that must never appear at rest.
pub const PLAIN_KEY: &str = "sk-test-PLAINTEXT-0123456789abcdef";

pub struct Server {
    pub app: Arc<App>,
    pub admin: SocketAddr,
    pub grpc: SocketAddr,
    pub data_dir: PathBuf,
    pub key: MasterKey,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub http: reqwest::Client,
}

pub fn options(data_dir: &Path, key: MasterKey) -> ControlPlaneOptions {
    ControlPlaneOptions {
        data_dir: data_dir.to_path_buf(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        grpc_listen: "127.0.0.1:0".parse().unwrap(),
        master_key: key,
        admin_token: Some(ADMIN_TOKEN.into()),
        dataplane_token: Some(DP_TOKEN.into()),
        dev: false,
        client_auth: None,
        allowed_hosts: Vec::new(),
        seed: None,
        grpc_tls: None,
    }
}

impl Server {
    pub async fn start(data_dir: &Path, key: MasterKey) -> Self {
        Self::start_with(options(data_dir, key)).await
    }

    pub async fn start_with(opts: ControlPlaneOptions) -> Self {
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (admin_addr, grpc_addr) = (admin.local_addr().unwrap(), grpc.local_addr().unwrap());
        let app = App::open(&opts).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(sluice_controlplane::serve(
            app.clone(),
            admin,
            grpc,
            async move {
                let _ = rx.await;
            },
        ));
        Self {
            app,
            admin: admin_addr,
            grpc: grpc_addr,
            data_dir: opts.data_dir.clone(),
            key: opts.master_key.clone(),
            stop: Some(tx),
            task: Some(task),
            http: reqwest::Client::new(),
        }
    }

    /// Stops the server and releases the sled database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        let app = self.app.clone();
        drop(self);
        // Wait until every Arc<App> (streams, blocking tasks) is gone: sled holds a lock
        // that a restart on the same data dir needs.
        eventually(|| Arc::strong_count(&app) == 1).await;
        drop(app);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_auth(method, path, body, Some(ADMIN_TOKEN)).await
    }

    pub async fn call_auth(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let m: reqwest::Method = method.parse().unwrap();
        let mut req = self.http.request(m, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }
}

/// How long a test waits for something it expects to happen (a bound on a hang, never
/// a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `f` until it holds; panics after [`PATIENCE`].
pub async fn eventually(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {PATIENCE:?}"
        );
        // Poll interval only: the condition is what the test waits for.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every file under `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Whether `needle` appears in any file under `dir`.
pub fn found_in_dir(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    all_files(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .collect()
}
