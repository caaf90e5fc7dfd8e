//! Recorded Anthropic request bodies (../shared/fixtures/anthropic/*.request.json) parsed
//! by the ingress adapter and built again by the egress adapter: every field both carry
//! comes back JSON-equal.

use std::path::PathBuf;

use serde_json::Value;

use super::{egress, ingress};
use crate::openai::RequestLimits;

/// The fixtures directory, or `None` after a loud SKIPPED line.
fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("SLUICE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    if dir.join("anthropic").is_dir() {
        Some(dir)
    } else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: fixtures absent at {}",
            dir.display()
        );
        None
    }
}

/// Top-level fields the hub does not carry (ignored by the ingress adapter).
const NOT_CARRIED: [&str; 1] = ["output_config"];

#[test]
fn every_request_fixture_round_trips() {
    let Some(dir) = fixtures() else { return };
    let mut seen = 0;
    let mut names: Vec<_> = std::fs::read_dir(dir.join("anthropic"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".request.json"))
        .collect();
    names.sort();
    for path in names {
        seen += 1;
        let body = std::fs::read(&path).unwrap();
        let name = path.display();
        let ingress = ingress::parse(&body, &RequestLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let model = ingress.model.clone().unwrap();
        let built = egress::build(&ingress.hub, &model).unwrap();
        let want: Value = serde_json::from_slice(&body).unwrap();
        let got: Value = serde_json::from_slice(&built).unwrap();
        let (want, got) = (want.as_object().unwrap(), got.as_object().unwrap());
        for (k, v) in got {
            assert_eq!(Some(v), want.get(k), "{name}: field {k}");
        }
        for (k, v) in want {
            if !got.contains_key(k) {
                let default = k == "stream" && v == &Value::Bool(false);
                assert!(
                    default || NOT_CARRIED.contains(&k.as_str()),
                    "{name}: field {k} lost"
                );
            }
        }
    }
    assert_eq!(seen, 9, "every recorded request is covered");
}
