#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine, builds the
# workspace once (release), and runs every test from that build.
#
#   bash tests/run.sh            # everything
#   bash tests/run.sh -E 'test(sdk)'   # extra args go to cargo nextest
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "installing $* needs root (or sudo)" >&2; exit 1
  fi
}

# System packages: cmake (Pingora's zlib-ng), curl (test client), python3-venv, nginx and
# openssl (TLS upstream test), redis-server (the shared rate store of the governance tests).
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
command -v cc >/dev/null || missing+=(build-essential)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
[ -x /usr/bin/redis-server ] || command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The real client SDKs of every ingress protocol (openai: Chat, Responses, embeddings;
# anthropic: Messages; google-genai: Gemini), in a venv the tests find at
# .venv/bin/python; PyYAML and kubernetes-validate for the Kubernetes manifest check.
if ! .venv/bin/python -c 'import openai, anthropic, google.genai, yaml, kubernetes_validate' 2>/dev/null; then
  echo "== creating .venv with the openai, anthropic and google-genai SDKs and the manifest checker's packages"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q openai anthropic google-genai pyyaml kubernetes-validate
fi
export SLUICE_PYTHON="$PWD/.venv/bin/python"

# Recorded provider traffic lives beside the repo (../shared/fixtures); tests that need it
# say SKIPPED loudly when it is absent.
export SLUICE_FIXTURES="${SLUICE_FIXTURES:-$PWD/../shared/fixtures}"
[ -d "$SLUICE_FIXTURES" ] || echo "!!! fixtures not found at $SLUICE_FIXTURES: fixture tests will be SKIPPED"

echo "== checking the Kubernetes manifests"
.venv/bin/python tests/deploy/check_manifests.py deploy/k8s --require-schema | tail -3

echo "== building (release, whole workspace)"
cargo build --release --workspace --all-targets

echo "== running tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --release --workspace --no-fail-fast "$@"
else
  cargo test --release --workspace --no-fail-fast
fi
