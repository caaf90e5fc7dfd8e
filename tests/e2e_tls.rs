//! HTTPS upstreams: the gateway verifies the upstream's certificate, sends the right SNI and
//! Host, and pools the TLS connection. A local nginx terminates TLS (self-signed CA trusted
//! through SSL_CERT_FILE) in front of the mock and reports the SNI and Host it saw.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::process::{Command, Stdio};

use common::*;

#[test]
fn https_upstream_with_sni_host_and_verification() {
    let Ok(nginx_bin) = which("nginx") else {
        eprintln!("\n!!! SKIPPED: nginx not installed (tests/run.sh installs it) !!!\n");
        return;
    };
    let mock = Mock::start("behind-tls", &[]);
    let dir = tempdir();
    let (ca, cert, key) = test_certificates(&dir);
    let ca = ca.to_str().unwrap().to_string();
    // nginx cannot report a port it picked: it gets a free one and is started again on
    // another if that was taken meanwhile (its errors go to stderr, where that shows).
    let nginx = spawn_listening("nginx", 1, Echo::Forward, |ports| {
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "pid {d}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d};\n proxy_temp_path {d};\n fastcgi_temp_path {d};\n uwsgi_temp_path {d};\n scgi_temp_path {d};\n server {{\n  listen 127.0.0.1:{port} ssl;\n  server_name localhost;\n  ssl_certificate {cert};\n  ssl_certificate_key {key};\n  location / {{\n   proxy_pass http://{mock};\n   proxy_set_header Host $http_host;\n   proxy_set_header x-request-id sni=$ssl_server_name;\n  }}\n }}\n}}\n",
                d = dir.display(),
                port = ports[0],
                cert = cert.display(),
                key = key.display(),
                mock = mock.addr
            ),
        )
        .unwrap();
        let mut cmd = Command::new(&nginx_bin);
        cmd.args([
            "-p",
            dir.to_str().unwrap(),
            "-c",
            conf.to_str().unwrap(),
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null());
        cmd
    });
    let port = nginx.ports[0];
    let config = format!(
        "env_providers = false\n[[providers]]\nname = \"tls\"\nkind = \"openai\"\nmodels = [\"gpt-4o\"]\nbase_url = \"https://localhost:{port}/v1\"\napi_key = \"sk-tls\"\n"
    );
    let gw = Gateway::start_with_env(&config, &[("SSL_CERT_FILE", &ca)]);
    for stream in [false, true, false] {
        let r = gw.post("/v1/chat/completions", &format!(r#"{{"model":"gpt-4o","stream":{stream},"messages":[{{"role":"user","content":"x"}}]}}"#));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let log = mock.stats()["log"].clone();
    let first = &log[0]["headers"];
    assert_eq!(
        first["host"],
        format!("localhost:{port}"),
        "Host header names the upstream"
    );
    assert_eq!(
        first["x-request-id"], "sni=localhost",
        "SNI names the upstream"
    );
    assert_eq!(first["authorization"], "Bearer sk-tls");

    // Without trusting the CA the certificate is rejected: no silent downgrade.
    let gw2 = Gateway::start(&config);
    let r = gw2.post(
        "/v1/chat/completions",
        r#"{"model":"gpt-4o","retry_count":0,"messages":[{"role":"user","content":"x"}]}"#,
    );
    assert_eq!(r.status, 502, "{}", r.text());
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = std::path::Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(())
}
