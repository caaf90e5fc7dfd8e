#!/usr/bin/env bash
# Quickstart: installs what building Sluice needs on a fresh Debian machine (as root, or
# through sudo where it exists), then runs `sluice up` on its embedded defaults.
#
#   bash deploy/up.sh                 # the gateway on 127.0.0.1:8000, admin API on 127.0.0.1:8001
#   bash deploy/up.sh --config FILE   # extra args go to `sluice up`
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "installing $* needs root (or sudo)" >&2; exit 1
  fi
}

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(build-essential)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "Sluice builds with Rust's cargo (https://rustup.rs)" >&2; exit 1; }
exec cargo run --release --bin sluice -- up "$@"
