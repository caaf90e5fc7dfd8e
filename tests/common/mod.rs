//! Shared harness for the end-to-end tests: real `sluice` and `sluice-mock` processes on
//! loopback ports, driven with `curl` and the `openai` Python SDK.
// Every test binary includes this module and uses a different part of it.
#![allow(dead_code, unused_imports)]

mod listening;
mod redis;
mod wait;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub use listening::{
    free_ports, listens_on, spawn_listening, spawn_listening_on, Echo, Listening, Log,
};
pub use redis::{RedisServer, Reply};
pub use wait::{poll_for, poll_until, wait_for, wait_until, PATIENCE};

/// Directory holding the built binaries (`sluice`, `sluice-mock`).
pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sluice"))
        .parent()
        .expect("binary dir")
        .to_path_buf()
}

/// Path to a workspace binary; panics with the command that builds it.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` (same profile) first",
        p.display()
    );
    p
}

/// The recorded provider traffic, or `None` (after a loud notice) when absent.
pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("SLUICE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    if dir.join("openai").is_dir() {
        Some(dir.canonicalize().unwrap_or(dir))
    } else {
        eprintln!(
            "\n!!! SKIPPED: fixtures not found at {} (set SLUICE_FIXTURES) !!!\n",
            dir.display()
        );
        None
    }
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    /// Whether the process is still running (`try_wait` needs `&mut`; /proc tells the same
    /// without reaping).
    pub fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .map(|s| {
                !s.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            })
            .unwrap_or(false)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running mock upstream. It binds its own port (`--listen 127.0.0.1:0` unless told
/// otherwise) and announces the address on stdout, so there is no port to race for.
pub struct Mock {
    pub proc: Proc,
    pub addr: String,
    /// Kept open for a mock started with `--closed` (a line opens it).
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Mock {
    /// Starts `sluice-mock` with extra args; waits for its `LISTENING` line.
    pub fn start(name: &str, args: &[&str]) -> Mock {
        Self::spawn(name, args, false)
    }

    /// Starts `sluice-mock --closed`: it holds its port (nobody else can take it) but
    /// refuses connections, like an endpoint that is down, until [`Mock::open`].
    pub fn start_closed(name: &str) -> Mock {
        Self::spawn(name, &["--closed"], true)
    }

    fn spawn(name: &str, args: &[&str], closed: bool) -> Mock {
        let mut cmd = Command::new(bin("sluice-mock"));
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(["--name", name]).args(args);
        if let Some(f) = fixtures() {
            cmd.arg("--fixtures").arg(f);
        }
        let mut child = cmd
            .stdin(if closed {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sluice-mock");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut proc = Proc {
            child,
            name: name.to_string(),
        };
        let announcement = if closed { "BOUND " } else { "LISTENING " };
        let addr = read_announcement(&mut stdout, announcement, &mut proc);
        Mock {
            proc,
            addr,
            stdin,
            stdout,
        }
    }

    /// Opens a mock started with [`Mock::start_closed`]; returns once it listens.
    pub fn open(&mut self) {
        let mut stdin = self.stdin.take().expect("a mock started closed");
        stdin
            .write_all(b"open\n")
            .expect("write to the mock's stdin");
        drop(stdin);
        let addr = read_announcement(&mut self.stdout, "LISTENING ", &mut self.proc);
        assert_eq!(addr, self.addr, "the mock opened the port it held");
    }

    /// Starts a mock with a scenario (JSON text).
    pub fn with_scenario(name: &str, scenario: &str) -> Mock {
        let dir = tempdir();
        let path = dir.join(format!("{name}-scenario.json"));
        std::fs::write(&path, scenario).expect("write scenario");
        Mock::start(name, &["--scenario", path.to_str().expect("utf8 path")])
    }

    /// `http://addr`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `GET /_mock/stats` as JSON.
    pub fn stats(&self) -> serde_json::Value {
        let r = curl(&["-s", &format!("{}/_mock/stats", self.url())], None);
        serde_json::from_slice(&r.body).expect("stats json")
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.stats()["requests"].as_u64().unwrap_or(0)
    }

    /// The last body received.
    pub fn last_body(&self) -> Vec<u8> {
        curl(&["-s", &format!("{}/_mock/last_body", self.url())], None).body
    }

    /// Replaces the scenario at runtime.
    pub fn set_scenario(&self, json: &str) {
        let r = curl(
            &[
                "-s",
                "-X",
                "POST",
                "--data-binary",
                "@-",
                &format!("{}/_mock/scenario", self.url()),
            ],
            Some(json.as_bytes()),
        );
        assert_eq!(
            r.status,
            200,
            "set scenario: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// A fresh temporary directory (leaked for the test's life).
pub fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "sluice-test-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).expect("tempdir");
    d
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ N
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The address after `prefix` on the mock's next stdout line; panics (killing the mock)
/// on anything else.
fn read_announcement(stdout: &mut impl BufRead, prefix: &str, proc: &mut Proc) -> String {
    let mut line = String::new();
    let _ = stdout.read_line(&mut line);
    match line.trim().strip_prefix(prefix) {
        Some(addr) => addr.to_string(),
        None => {
            let _ = proc.child.kill();
            panic!("{}: expected `{prefix}<addr>`, got {line:?}", proc.name)
        }
    }
}

/// A running gateway.
pub struct Gateway {
    pub proc: Proc,
    pub port: u16,
    pub ops_port: u16,
    pub config_path: PathBuf,
    /// Its stderr.
    pub log: Log,
}

/// How to start a `sluice dataplane` on a config file.
pub struct GatewayOptions<'a> {
    /// Config file text.
    pub config: &'a str,
    /// Host of the proxy listener passed with `--listen`.
    pub listen_host: &'a str,
    /// Extra environment.
    pub env: &'a [(&'a str, &'a str)],
    /// Whether its stderr also goes to the test's output.
    pub echo: Echo,
}

impl<'a> GatewayOptions<'a> {
    /// Loopback, no extra environment, stderr forwarded.
    pub fn config(config: &'a str) -> Self {
        GatewayOptions {
            config,
            listen_host: "127.0.0.1",
            env: &[],
            echo: Echo::Forward,
        }
    }
}

impl Gateway {
    /// Starts `sluice dataplane --config <file with `text`>` and waits until it is ready.
    pub fn start(config_text: &str) -> Gateway {
        Self::start_with_env(config_text, &[])
    }

    /// Same, with extra environment variables.
    pub fn start_with_env(config_text: &str, env: &[(&str, &str)]) -> Gateway {
        let gw = Self::spawn(GatewayOptions {
            env,
            ..GatewayOptions::config(config_text)
        });
        gw.wait_ready();
        gw
    }

    /// Starts a data plane and returns once it listens on its proxy and ops ports (not
    /// necessarily ready: see [`Gateway::wait_ready`]).
    pub fn spawn(opts: GatewayOptions) -> Gateway {
        let dir = tempdir();
        let config_path = dir.join("sluice.toml");
        std::fs::write(&config_path, opts.config).expect("write config");
        let started = spawn_listening("sluice", 2, opts.echo, |ports| {
            Self::command(&config_path, &opts, ports)
        });
        Gateway {
            proc: started.proc,
            port: started.ports[0],
            ops_port: started.ports[1],
            config_path,
            log: started.log,
        }
    }

    /// The `sluice dataplane` command for a config file and its (proxy, ops) ports.
    pub fn command(config_path: &Path, opts: &GatewayOptions, ports: &[u16]) -> Command {
        let mut cmd = Command::new(bin("sluice"));
        cmd.arg("dataplane")
            .arg("--config")
            .arg(config_path)
            .args([
                "--listen",
                &format!("{}:{}", opts.listen_host, ports[0]),
                "--ops-listen",
                &format!("127.0.0.1:{}", ports[1]),
            ])
            .args(["--threads", "2"])
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("GEMINI_API_KEY")
            .env_remove("DEEPSEEK_API_KEY")
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::null());
        for (k, v) in opts.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Waits until `/readyz` answers 200; panics with its stderr if it exits first.
    pub fn wait_ready(&self) {
        let ops = self.ops_port;
        match poll_for(PATIENCE, || {
            if ready(ops) {
                Some(true)
            } else {
                (!self.proc.alive()).then_some(false)
            }
        }) {
            Some(true) => {}
            Some(false) => panic!("gateway exited before ready; stderr:\n{}", self.log.text()),
            None => panic!(
                "gateway did not become ready on port {ops}; stderr:\n{}",
                self.log.text()
            ),
        }
    }

    /// `/metrics` text of the ops listener.
    pub fn metrics(&self) -> String {
        metrics(self.ops_port)
    }

    /// Base URL of the proxy (`http://127.0.0.1:port`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// POSTs JSON to `path`.
    pub fn post(&self, path: &str, body: &str) -> Resp {
        self.post_bytes(path, body.as_bytes(), &[])
    }

    /// POSTs bytes to `path` with extra headers.
    pub fn post_bytes(&self, path: &str, body: &[u8], headers: &[&str]) -> Resp {
        let url = format!("{}{path}", self.url());
        let mut args = vec![
            "-s",
            "-N",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "--data-binary",
            "@-",
        ];
        for h in headers {
            args.push("-H");
            args.push(h);
        }
        args.push(&url);
        curl(&args, Some(body))
    }

    /// GETs `path`.
    pub fn get(&self, path: &str) -> Resp {
        curl(&["-s", &format!("{}{path}", self.url())], None)
    }

    /// Rewrites the config file in place (as an editor would).
    pub fn rewrite_config(&self, text: &str) {
        let tmp = self.config_path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, &self.config_path).expect("rename");
    }
}

/// A curl response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// Header value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs curl, capturing status, headers and body. `--max-time 60` bounds every call.
pub fn curl(args: &[&str], stdin: Option<&[u8]>) -> Resp {
    let dir = tempdir();
    let hdr = dir.join("headers");
    let mut cmd = Command::new("curl");
    cmd.args(["--max-time", "60", "-D"]).arg(&hdr).args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .expect("curl is required (apt-get install curl)");
    if let Some(data) = stdin {
        let mut si = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = si.write_all(&data);
        });
    }
    let out = child.wait_with_output().expect("curl output");
    let raw = std::fs::read_to_string(&hdr).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    // With redirects/100-continue there may be several header blocks: keep the last.
    let block = raw
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .last()
        .unwrap_or("");
    let mut lines = block.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Resp {
        status,
        headers,
        body: out.stdout,
    }
}

/// Splits an SSE body into its `data:` payloads.
pub fn sse_data(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter_map(|ev| {
            ev.lines()
                .find_map(|l| l.strip_prefix("data:").map(|d| d.trim().to_string()))
        })
        .collect()
}

/// The Python interpreter with the `openai` SDK (`SLUICE_PYTHON`, else `.venv/bin/python`).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Runs `tests/sdk/<script>` with the SDK pointed at `base_url`; panics with its output on failure.
pub fn run_sdk_script(script: &str, base_url: &str, env: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let mut cmd = Command::new(python());
    cmd.arg(&path).env("SLUICE_BASE_URL", base_url);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("run python (set SLUICE_PYTHON or create .venv: see README)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed:\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Whether an ops listener reports ready.
pub fn ready(ops_port: u16) -> bool {
    curl(
        &[
            "-s",
            "--max-time",
            "1",
            &format!("http://127.0.0.1:{ops_port}/readyz"),
        ],
        None,
    )
    .status
        == 200
}

/// `/metrics` text of an ops listener.
pub fn metrics(ops_port: u16) -> String {
    curl(
        &["-s", &format!("http://127.0.0.1:{ops_port}/metrics")],
        None,
    )
    .text()
}

/// The sum of every sample of the Prometheus series `name` (all label sets) in `text`.
pub fn metric_total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.trim().parse::<f64>().ok()
        })
        .sum()
}

/// The sum of the samples of the Prometheus series `name` in `text` whose label set holds
/// every `(label, value)` of `labels` (other labels are free); `None` when no sample
/// matches (a series not exported yet).
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for l in text.lines() {
        let Some(rest) = l.strip_prefix(name) else {
            continue;
        };
        let (set, value) = match rest.strip_prefix('{') {
            Some(labelled) => match labelled.split_once("} ") {
                Some(parts) => parts,
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(v) => ("", v),
                None => continue,
            },
        };
        if !labels
            .iter()
            .all(|(k, v)| set.split(',').any(|pair| pair == format!("{k}=\"{v}\"")))
        {
            continue;
        }
        if let Ok(v) = value.trim().parse::<f64>() {
            found = Some(found.unwrap_or(0.0) + v);
        }
    }
    found
}

/// POSTs a chat body to a proxy port.
pub fn chat(port: u16, body: &str) -> Resp {
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    curl(
        &[
            "-s",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "--data-binary",
            "@-",
            &url,
        ],
        Some(body.as_bytes()),
    )
}

fn openssl(args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is required");
    assert!(st.success(), "openssl {args:?}");
}

/// A test CA and a leaf certificate for `localhost` signed by it, written to `dir`:
/// returns (CA certificate, leaf certificate, leaf key) paths (PEM).
pub fn test_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name).to_str().expect("utf8 path").to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=sluice-test-ca",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("leaf.csr"),
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write ext.cnf");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("leaf.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("cert.pem"),
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}
