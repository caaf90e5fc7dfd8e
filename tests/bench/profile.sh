#!/usr/bin/env bash
# Instruction-count profile of Sluice's hot path under valgrind's callgrind (repeatable:
# instruction counts do not depend on the machine's load, unlike timings).
#
#   tests/bench/profile.sh            # N=2000 requests per path
#   N=500 tests/bench/profile.sh
#
# Runs the release `sluice dataplane` (1 worker thread) under callgrind, warms each path
# up, zeroes the counters, sends exactly N c=1 requests and dumps, for each path:
#   pass  - OpenAI client -> openai_compatible upstream (passthrough)
#   xlat  - OpenAI client -> anthropic upstream (translation)
#   stream - streamed passthrough, 16 chunks
# and prints the top functions (inclusive and self) in instructions per request.
# Output files stay in tests/bench/profile-out/ (callgrind_annotate / kcachegrind them).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
N=${N:-2000}
OUT=$HERE/profile-out
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >&2; }
for b in sluice sluice-mock sluice-loadgen; do [ -x "$BIN/$b" ] || { echo "build first: $BIN/$b" >&2; exit 1; }; done
rm -rf "$OUT"; mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/sluice-prof.XXXXXX); mkdir -p "$TMP/cfg"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

"$BIN/sluice-mock" --listen 127.0.0.1:0 --port-file "$TMP/m.port" --workers 1 >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$TMP/m.port" ] && break; sleep 0.05; done
M=$(sed 's/.*://' "$TMP/m.port")
SL=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
OPS=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
sed -e "s|@LISTEN@|$SL|g" -e "s|@OPS@|$OPS|g" -e "s|@M0@|$M|g" -e "s|@MS@|$M|g" -e "s|@MH@|$M|g" \
  "$HERE/sluice.toml.in" >"$TMP/cfg/sluice.toml"

SLUICE_LOG=warn valgrind --tool=callgrind --dump-instr=no \
  --callgrind-out-file="$OUT/callgrind.out" \
  "$BIN/sluice" dataplane --config "$TMP/cfg/sluice.toml" --threads 1 >"$OUT/sluice.log" 2>&1 &
VG=$!
PIDS+=("$VG")
for _ in $(seq 600); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$SL/ping" && break; sleep 0.2; done

LG=$BIN/sluice-loadgen
URL=http://127.0.0.1:$SL/v1/chat/completions
phase() { # name, loadgen args...
  local name=$1; shift
  "$LG" "$@" >/dev/null # warm-up (not collected)
  callgrind_control -z "$VG" >/dev/null
  "$LG" "$@" >"$OUT/$name.json"
  callgrind_control --dump="$name" "$VG" >/dev/null
  echo "collected $name: $(jq -c '{errors, p50: (.latency.p50_us // .ttfb.p50_us)}' "$OUT/$name.json")" >&2
}
phase pass latency --url "$URL" --model bench-pass --requests "$N" --warmup 0 --max-secs 600 --timeout-ms 60000
phase xlat latency --url "$URL" --model bench-claude --requests "$N" --warmup 0 --max-secs 600 --timeout-ms 60000
phase stream stream --url "$URL" --model bench-stream --streams $((N / 10)) --warmup 0 --max-secs 600 --timeout-ms 60000

kill "$VG"; wait "$VG" 2>/dev/null || true
set +o pipefail # head closes the pipes early
for name in pass xlat stream; do
  f=$(grep -l "^desc: Trigger: .*$name\$" "$OUT"/callgrind.out* | head -1)
  reqs=$N; [ "$name" = stream ] && reqs=$((N / 10))
  total=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1; exit}')
  echo
  unit=request; [ "$name" = stream ] && unit=stream
  echo "### $name: $total instructions for $reqs ${unit}s = $((total / reqs)) per $unit"
  echo "Inclusive (per $unit):"
  callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null |
    awk -v n="$reqs" '/^ *[0-9,]+ .*[(]/ {x=$1; gsub(",","",x); $1=""; printf "%10d  %s\n", x/n, substr($0,1,160)}' | head -45
  echo "Self (per $unit):"
  callgrind_annotate --threshold=100 "$f" 2>/dev/null |
    awk -v n="$reqs" '/^ *[0-9,]+ .*[(]/ {x=$1; gsub(",","",x); $1=""; printf "%10d  %s\n", x/n, substr($0,1,160)}' | head -35
done | sed -E 's#[^ ]*/\.cargo/registry/src/[^/]+/##; s#/rustc/[0-9a-f]+/##' | tee "$OUT/summary.txt"
