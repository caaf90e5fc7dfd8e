//! Shared harness for the end-to-end tests: real `sluice` and `sluice-mock` processes on
//! loopback ports, driven with `curl` and the `openai` Python SDK.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running mock upstream.
pub struct Mock {
    pub proc: Proc,
    pub addr: String,
}

impl Mock {
    /// Starts `sluice-mock` with extra args; waits for its `LISTENING` line.
    pub fn start(name: &str, args: &[&str]) -> Mock {
        let mut cmd = Command::new(bin("sluice-mock"));
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(["--name", name]).args(args);
        if let Some(f) = fixtures() {
            cmd.arg("--fixtures").arg(f);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sluice-mock");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read LISTENING line");
        let addr = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("unexpected mock output {line:?}"))
            .to_string();
        Mock {
            proc: Proc {
                child,
                name: name.to_string(),
            },
            addr,
        }
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

/// A running gateway.
pub struct Gateway {
    pub proc: Proc,
    pub port: u16,
    pub ops_port: u16,
    pub config_path: PathBuf,
}

impl Gateway {
    /// Starts `sluice dataplane --config <file with `text`>` on free ports.
    pub fn start(config_text: &str) -> Gateway {
        Self::start_with_env(config_text, &[])
    }

    /// Same, with extra environment variables.
    pub fn start_with_env(config_text: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = tempdir();
        let config_path = dir.join("sluice.toml");
        std::fs::write(&config_path, config_text).expect("write config");
        let port = free_port();
        let ops_port = free_port();
        let mut cmd = Command::new(bin("sluice"));
        cmd.arg("dataplane")
            .arg("--config")
            .arg(&config_path)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--ops-listen",
                &format!("127.0.0.1:{ops_port}"),
            ])
            .args(["--threads", "2"])
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("GEMINI_API_KEY")
            .env_remove("DEEPSEEK_API_KEY")
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn sluice");
        let gw = Gateway {
            proc: Proc {
                child,
                name: "sluice".into(),
            },
            port,
            ops_port,
            config_path,
        };
        gw.wait_ready();
        gw
    }

    /// Waits (bounded) until `/readyz` answers 200.
    pub fn wait_ready(&self) {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            let r = curl(
                &[
                    "-s",
                    "--max-time",
                    "1",
                    &format!("http://127.0.0.1:{}/readyz", self.ops_port),
                ],
                None,
            );
            if r.status == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("gateway did not become ready on port {}", self.ops_port);
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

/// Polls `f` until it holds, for up to 20 s (readiness, not a timing assertion).
pub fn wait_until(f: impl Fn() -> bool, what: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
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
