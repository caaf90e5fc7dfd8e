#!/usr/bin/env bash
# Sluice benchmark harness: ONE command, end to end, on loopback.
#
#   tests/bench/run.sh            # full run (~5 min on 2 cores plus the build)
#   QUICK=1 tests/bench/run.sh    # smoke run (~2.5 min, smaller counts; numbers are rough)
#
# Measures side by side, in one run, against the same fast mock upstream (sluice-mock):
#   direct   client -> mock                            (the floor)
#   nginx    client -> nginx proxy_pass -> mock        (one plain proxy hop)
#   sluice   client -> sluice (openai_compatible) -> mock /v1/chat/completions
#   sl-xlat  client -> sluice (anthropic) -> mock /v1/messages (OpenAI->Anthropic translation)
#   litellm  client -> LiteLLM proxy -> mock           (skipped loudly if it cannot be installed)
#   sluice_limits_local  as sluice, with a client key whose RPM/TPM limits are checked and
#                        settled on every request (in-process rate store)
#   sluice_limits_redis  the same on a Redis rate store (redis-server started here; skipped
#                        loudly if it cannot be installed)
# Writes tests/bench/results.md and prints the same Markdown.
#
# Knobs (environment): QUICK=1, SKIP_BUILD=1, SKIP_LITELLM=1, SKIP_REDIS=1, PIN=0 (no taskset),
# LAT_RUNS (default 5), LAT_N (measured requests per latency run, default 5000),
# STEP_SECS (seconds per rate step, default 3), RATE_SEARCHES (default 2; best is reported),
# HOLD_STREAMS (default 5000),
# CARGO_TARGET_DIR (default <repo>/target), KEEP_TMP=1 (keep logs and configs).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
QUICK=${QUICK:-0}
PIN=${PIN:-1}
if [ "$QUICK" = 1 ]; then
  LAT_RUNS=${LAT_RUNS:-3}; LAT_N=${LAT_N:-1000}; STEP_SECS=${STEP_SECS:-1.5}
  HOLD_STREAMS=${HOLD_STREAMS:-1000}; STREAMS=${STREAMS:-10}; BISECT=${BISECT:-2}
  RATE_SEARCHES=${RATE_SEARCHES:-1}
else
  LAT_RUNS=${LAT_RUNS:-5}; LAT_N=${LAT_N:-5000}; STEP_SECS=${STEP_SECS:-3}
  HOLD_STREAMS=${HOLD_STREAMS:-5000}; STREAMS=${STREAMS:-30}; BISECT=${BISECT:-4}
  RATE_SEARCHES=${RATE_SEARCHES:-2}
fi
LITELLM_LAT_N=${LITELLM_LAT_N:-100}
RATE_START=${RATE_START:-2000}
RATE_MAX=${RATE_MAX:-64000}
P99_LIMIT_US=10000

say() { printf '\n== %s\n' "$*" >&2; }
loud() { printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! %s\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' "$*" >&2; }

TMP=$(mktemp -d /tmp/sluice-bench.XXXXXX)
RES=$TMP/results
mkdir -p "$RES"
PIDS=()
cleanup() {
  local p i
  # nginx: graceful stop of the master, which stops its workers; then make sure.
  if [ -n "${NGINX_PID:-}" ]; then
    # nginx runs in its own process group (setsid): stop the master, then the whole group.
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 -- "-$NGINX_PID" 2>/dev/null || true
  fi
  if [ -n "${LITELLM_PID:-}" ]; then kill -- "-$LITELLM_PID" 2>/dev/null || true; fi
  # PIDS holds redis-server too (stopped below with the rest).
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for ((i = 0; i < 30; i++)); do
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
need_apt=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v jq >/dev/null || need_apt+=(jq)
command -v taskset >/dev/null || need_apt+=(util-linux)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]} with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# redis-server for the sluice_limits_redis column: installed if missing; a failed install
# only drops that column (loudly).
REDIS_OK=0
redis_bin() { command -v redis-server 2>/dev/null || { [ -x /usr/bin/redis-server ] && echo /usr/bin/redis-server; }; }
if [ "${SKIP_REDIS:-0}" != 1 ]; then
  if [ -z "$(redis_bin)" ]; then
    say "installing redis-server with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >&2 \
      || loud "redis-server INSTALL FAILED: continuing WITHOUT the sluice_limits_redis column"
  fi
  [ -n "$(redis_bin)" ] && REDIS_OK=1
else
  loud "SKIP_REDIS=1: no sluice_limits_redis column"
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building release binaries (target dir $TARGET_DIR)"
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p sluice-gateway -p sluice-mock -p sluice-loadgen >&2)
fi
for b in sluice sluice-mock sluice-loadgen; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b (build failed?)" >&2; exit 1; }
done

LITELLM_OK=0
VENV=$HERE/.venv-litellm
if [ "${SKIP_LITELLM:-0}" != 1 ]; then
  if [ ! -x "$VENV/bin/litellm" ]; then
    say "installing LiteLLM proxy into $VENV (pip install 'litellm[proxy]')"
    if python3 -m venv "$VENV" >&2 && "$VENV/bin/pip" install -q 'litellm[proxy]' >&2; then :; else
      loud "LiteLLM INSTALL FAILED: continuing WITHOUT the LiteLLM column"
    fi
  fi
  [ -x "$VENV/bin/litellm" ] && LITELLM_OK=1
else
  loud "SKIP_LITELLM=1: no LiteLLM column"
fi

# ---------------------------------------------------------------- pinning
# Two placements (PIN=1, default, on >= 2 cores), switched between phases with taskset:
#  same:  everything (load generator, mock, proxy) on CPU 1. Used for c=1 latency and streaming:
#         on this VM a cross-CPU wakeup (IPI) costs tens of µs and a request crosses CPUs four
#         times when client and proxy sit on different CPUs, which would swamp the proxy's own cost.
#  split: the proxy under test on CPU 1, mock + load generator on CPU 0. Used for the rate search
#         and held streams, so the proxy never competes with the client for its core.
# PIN=0 leaves placement to the scheduler.
NCPU=$(nproc)
if [ "$PIN" = 1 ] && [ "$NCPU" -ge 2 ]; then
  PIN_DESC="c=1 latency and streaming with client, mock and proxy all on CPU 1; rate and held streams with the proxy on CPU 1 and mock + client on CPU 0 (taskset)"
else
  PIN=0; PIN_DESC="no pinning"
fi
MOCK_PIDS=(); PROXY_PIDS=()
LG_CPU=""
place() { # same | split | free
  [ "$PIN" = 1 ] || return 0
  local p c t
  if [ "$1" = free ]; then # back to the scheduler: every process may run on every CPU
    local all="0-$((NCPU - 1))"
    for p in "${MOCK_PIDS[@]}"; do taskset -a -p -c "$all" "$p" >/dev/null 2>&1 || true; done
    for p in "${PROXY_PIDS[@]}"; do
      for c in "$p" $(pgrep -P "$p" || true); do taskset -a -p -c "$all" "$c" >/dev/null 2>&1 || true; done
    done
    LG_CPU=""
    return 0
  fi
  local mock_cpu=1; [ "$1" = split ] && mock_cpu=0
  for p in "${MOCK_PIDS[@]}"; do taskset -a -p -c "$mock_cpu" "$p" >/dev/null 2>&1 || true; done
  for p in "${PROXY_PIDS[@]}"; do
    for c in "$p" $(pgrep -P "$p" || true); do taskset -a -p -c 1 "$c" >/dev/null 2>&1 || true; done
  done
  LG_CPU="taskset -c $mock_cpu"
}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { # url, seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  return 1
}

start_mock() { # name, extra flags... -> sets MOCK_PORT (no subshell: its pid must reach PIDS)
  local name=$1; shift
  "$BIN/sluice-mock" --listen 127.0.0.1:0 --port-file "$TMP/$name.port" --workers 1 --name "$name" "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PIDS+=($!); MOCK_PIDS+=($!)
  local i
  for ((i = 0; i < 100; i++)); do [ -s "$TMP/$name.port" ] && break; sleep 0.05; done
  MOCK_PORT=$(awk '{print $2}' "$TMP/$name.port" | sed 's/.*://')
  [ -n "$MOCK_PORT" ] || { cat "$TMP/$name.err" >&2; echo "mock $name did not start" >&2; exit 1; }
}

say "starting mocks"
start_mock mock0; M0=$MOCK_PORT                              # zero delay: latency and rate
start_mock mockS --chunks 64 --gap-ms 20; MS=$MOCK_PORT      # streaming: 64 chunks, 20 ms apart
start_mock mockH --chunks 600 --gap-ms 1000; MH=$MOCK_PORT   # held streams: open for minutes
echo "mock0=$M0 mockS=$MS mockH=$MH" >&2

# ---------------------------------------------------------------- nginx
NG=$(free_port)
mkdir -p "$TMP/nginx/logs"
sed -e "s|@PREFIX@|$TMP/nginx|g" -e "s|@LISTEN@|$NG|g" -e "s|@M0@|$M0|g" -e "s|@MS@|$MS|g" \
  -e "s|@MH@|$MH|g" "$HERE/nginx.conf.in" >"$TMP/nginx/nginx.conf"
say "starting nginx on $NG ($($NGINX -v 2>&1))"
setsid "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
  >"$TMP/nginx.out" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID"); PROXY_PIDS+=("$NGINX_PID")

# ---------------------------------------------------------------- sluice
SL=$(free_port); SLOPS=$(free_port)
# Own directory: the data plane watches its config's directory, and nothing else is written there.
mkdir -p "$TMP/sluice"
sed -e "s|@LISTEN@|$SL|g" -e "s|@OPS@|$SLOPS|g" -e "s|@M0@|$M0|g" -e "s|@MS@|$MS|g" \
  -e "s|@MH@|$MH|g" "$HERE/sluice.toml.in" >"$TMP/sluice/sluice.toml"
# One worker thread: every phase gives the proxy under test one CPU (nginx: one worker).
say "starting sluice data plane on $SL (threads=1)"
SLUICE_LOG=warn "$BIN/sluice" dataplane --config "$TMP/sluice/sluice.toml" --threads 1 \
  >"$TMP/sluice.out" 2>"$TMP/sluice.err" &
SLUICE_PID=$!
PIDS+=("$SLUICE_PID"); PROXY_PIDS+=("$SLUICE_PID")

# ---------------------------------------------------------------- sluice with limits
# The same data plane config plus one client key (the bench's bearer token, from the
# environment) with RPM/TPM limits no run reaches (limits.toml.in): every request is
# admitted through the key's counters and settled with its usage, none is refused.
redis_ping() { # port -> 0 when PONG (a subshell: the descriptor and its errors stay inside)
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 1 line <&3 || exit 1
    [ "${line%$'\r'}" = "+PONG" ]
  ) 2>/dev/null
}
start_limited_sluice() { # name, extra flags... -> sets LIM_PORT, LIM_OPS, LIM_PID
  local name=$1; shift
  LIM_PORT=$(free_port); LIM_OPS=$(free_port)
  mkdir -p "$TMP/$name"
  { sed -e "s|@LISTEN@|$LIM_PORT|g" -e "s|@OPS@|$LIM_OPS|g" -e "s|@M0@|$M0|g" -e "s|@MS@|$MS|g" \
      -e "s|@MH@|$MH|g" "$HERE/sluice.toml.in"; cat "$HERE/limits.toml.in"; } >"$TMP/$name/sluice.toml"
  say "starting $name data plane on $LIM_PORT (threads=1) $*"
  SLUICE_LOG=warn SLUICE_BENCH_KEY=$BENCH_KEY "$BIN/sluice" dataplane --config "$TMP/$name/sluice.toml" \
    --threads 1 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  LIM_PID=$!
  PIDS+=("$LIM_PID"); PROXY_PIDS+=("$LIM_PID")
}
# The bearer token every target gets (LiteLLM refuses to start without a master key; the
# limited data planes know it as their client key).
BENCH_KEY=sk-bench-$(python3 -c 'import secrets;print(secrets.token_hex(16))')
start_limited_sluice sluice_limits_local --rate-store local
SLL=$LIM_PORT; SLL_OPS=$LIM_OPS
if [ "$REDIS_OK" = 1 ]; then
  RP=$(free_port)
  say "starting redis-server on $RP ($("$(redis_bin)" --version | awk '{print $3}' | sed 's/^v=//'))"
  # Persistence off; a dependency like the upstream, so it is placed with the mocks.
  "$(redis_bin)" --port "$RP" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$TMP" >"$TMP/redis.out" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID"); MOCK_PIDS+=("$REDIS_PID")
  for ((i = 0; i < 100; i++)); do redis_ping "$RP" && break; sleep 0.05; done
  if redis_ping "$RP"; then
    # fail_closed: a Redis problem shows as errors instead of silently measuring the
    # in-process fallback.
    start_limited_sluice sluice_limits_redis --rate-store "redis://127.0.0.1:$RP/0" \
      --rate-store-failure-mode fail_closed
    SLR=$LIM_PORT; SLR_OPS=$LIM_OPS
  else
    cat "$TMP/redis.out" >&2
    loud "redis-server DID NOT START: continuing WITHOUT the sluice_limits_redis column"
    REDIS_OK=0
  fi
fi

# ---------------------------------------------------------------- litellm
LL=$(free_port)
if [ "$LITELLM_OK" = 1 ]; then
  sed -e "s|@M0@|$M0|g" -e "s|@MS@|$MS|g" "$HERE/litellm.yaml.in" >"$TMP/litellm.yaml"
  say "starting LiteLLM proxy on $LL ($("$VENV/bin/pip" show litellm 2>/dev/null | awk '/^Version/{print $2}'))"
  LITELLM_MASTER_KEY=$BENCH_KEY LITELLM_LOG=ERROR LITELLM_TELEMETRY=False DISABLE_ADMIN_UI=True \
    setsid "$VENV/bin/litellm" --config "$TMP/litellm.yaml" --host 127.0.0.1 --port "$LL" --num_workers 1 \
    >"$TMP/litellm.out" 2>&1 &
  LITELLM_PID=$!
  PIDS+=("$LITELLM_PID"); PROXY_PIDS+=("$LITELLM_PID")
fi

wait_http "http://127.0.0.1:$NG/nginx-ping" 20 || { cat "$TMP/nginx/logs/error.log" >&2; echo "nginx did not start" >&2; exit 1; }
wait_http "http://127.0.0.1:$SL/ping" 30 || { cat "$TMP/sluice.err" >&2; echo "sluice did not start" >&2; exit 1; }
wait_http "http://127.0.0.1:$SLL/ping" 30 || { cat "$TMP/sluice_limits_local.err" >&2; echo "sluice_limits_local did not start" >&2; exit 1; }
if [ "$REDIS_OK" = 1 ]; then
  wait_http "http://127.0.0.1:$SLR/ping" 30 || { cat "$TMP/sluice_limits_redis.err" >&2; echo "sluice_limits_redis did not start" >&2; exit 1; }
fi
sleep 0.5
rss_of() { awk '/^VmRSS/{s+=$2} END{print s+0}' $(for p in "$@"; do echo "/proc/$p/status"; done) 2>/dev/null || echo 0; }
nginx_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); }
echo "{\"sluice_kib\": $(rss_of "$SLUICE_PID"), \"nginx_kib\": $(rss_of $(nginx_pids))}" >"$RES/rss_idle_fresh.json"

if [ "$LITELLM_OK" = 1 ]; then
  if ! wait_http "http://127.0.0.1:$LL/health/liveliness" 120; then
    tail -30 "$TMP/litellm.out" >&2
    loud "LiteLLM PROXY DID NOT START: continuing WITHOUT the LiteLLM column"
    LITELLM_OK=0
  fi
fi

# ---------------------------------------------------------------- targets
# name|url prefix|model (latency/rate)|model (stream)|model (hold)
TARGETS=(
  "direct|http://127.0.0.1:$M0/v1/chat/completions|bench-pass"
  "nginx|http://127.0.0.1:$NG/lat/v1/chat/completions|bench-pass"
  "sluice|http://127.0.0.1:$SL/v1/chat/completions|bench-pass"
  "sluice_xlat|http://127.0.0.1:$SL/v1/chat/completions|bench-claude"
)
[ "$LITELLM_OK" = 1 ] && TARGETS+=("litellm|http://127.0.0.1:$LL/v1/chat/completions|bench-pass")
TARGETS+=("sluice_limits_local|http://127.0.0.1:$SLL/v1/chat/completions|bench-pass")
[ "$REDIS_OK" = 1 ] && TARGETS+=("sluice_limits_redis|http://127.0.0.1:$SLR/v1/chat/completions|bench-pass")
STREAM_TARGETS=(
  "direct|http://127.0.0.1:$MS/v1/chat/completions|bench-stream"
  "nginx|http://127.0.0.1:$NG/stream/v1/chat/completions|bench-stream"
  "sluice|http://127.0.0.1:$SL/v1/chat/completions|bench-stream"
  "sluice_xlat|http://127.0.0.1:$SL/v1/chat/completions|bench-stream-claude"
)
[ "$LITELLM_OK" = 1 ] && STREAM_TARGETS+=("litellm|http://127.0.0.1:$LL/v1/chat/completions|bench-stream")

HDR=(-H "authorization: Bearer $BENCH_KEY")
lg() { $LG_CPU "$BIN/sluice-loadgen" "$@"; }

# Smoke: every target answers once before anything is measured.
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name url model <<<"$t"
  if ! lg latency --url "$url" --model "$model" "${HDR[@]}" --requests 5 --warmup 1 >"$TMP/smoke.json" 2>&1 \
    || [ "$(jq -r .errors "$TMP/smoke.json")" != 0 ]; then
    cat "$TMP/smoke.json" >&2
    echo "target $name does not answer correctly" >&2; exit 1
  fi
done

# ---------------------------------------------------------------- 1. latency at c=1
place same
say "latency at concurrency 1: $LAT_RUNS rounds x $LAT_N requests (targets interleaved per round)"
for ((r = 1; r <= LAT_RUNS; r++)); do
  for t in "${TARGETS[@]}"; do
    IFS='|' read -r name url model <<<"$t"
    n=$LAT_N; w=$((LAT_N / 10)); [ "$name" = litellm ] && { n=$LITELLM_LAT_N; w=20; }
    lg latency --url "$url" --model "$model" "${HDR[@]}" --requests "$n" --warmup "$w" --max-secs 60 \
      >"$RES/lat_${name}_$r.json"
    printf '  round %d %-12s p50 %6s us  p99 %6s us\n' "$r" "$name" \
      "$(jq .latency.p50_us "$RES/lat_${name}_$r.json")" "$(jq .latency.p99_us "$RES/lat_${name}_$r.json")" >&2
  done
done

# ---------------------------------------------------------------- 2. max rate with p99 < 10 ms
rate_step() { # name url model rate -> 0 if sustained
  local f=$RES/rate_${1}_$4.json
  lg rate --url "$2" --model "$3" "${HDR[@]}" --rate "$4" --duration-secs "$STEP_SECS" \
    --warmup-secs 0.5 --connections "${RATE_CONNS:-32}" --timeout-ms 5000 >"$f" 2>/dev/null || return 1
  local ok
  ok=$(jq --argjson lim "$P99_LIMIT_US" --argjson r "$4" \
    '(.errors == 0) and (.missed == 0) and (.latency.p99_us < $lim) and (.achieved_rps >= 0.95 * $r)' "$f")
  printf '  %-12s %7s rps: achieved %8.0f p50 %6s p99 %6s err %s -> %s\n' "$1" "$4" "$(jq .achieved_rps "$f")" \
    "$(jq .latency.p50_us "$f")" "$(jq .latency.p99_us "$f")" "$(jq .errors "$f")" "$ok" >&2
  [ "$ok" = true ]
}
search_rate() { # name url model start -> writes rate_<name>.json {max_rps}
  local name=$1 url=$2 model=$3 r=$4 lo=0 hi=0 i
  while [ "$r" -le "$RATE_MAX" ]; do
    if rate_step "$name" "$url" "$model" "$r"; then lo=$r; r=$((r * 2)); else hi=$r; break; fi
  done
  [ "$hi" = 0 ] && hi=$r
  if [ "$lo" = 0 ]; then # not even the start rate: go down once to find a floor
    for r in $(($4 / 10)) $(($4 / 100)); do
      [ "$r" -ge 1 ] || break
      if rate_step "$name" "$url" "$model" "$r"; then lo=$r; hi=$((r * 10)); break; else hi=$r; fi
    done
  fi
  if [ "$lo" != 0 ]; then
    for ((i = 0; i < BISECT; i++)); do
      local mid=$(((lo + hi) / 2))
      [ $((hi - lo)) -le $((lo / 20 + 1)) ] && break
      if rate_step "$name" "$url" "$model" "$mid"; then lo=$mid; else hi=$mid; fi
    done
  fi
  echo "{\"max_rps\": $lo, \"first_failing_rps\": $hi}" >"$RES/rate_${name}_search$SEARCH.json"
}
place split
say "maximum sustained rate with p99 < 10 ms (open loop, ${STEP_SECS}s steps, doubling then bisecting)"
# Background load only ever makes a step fail, never pass: the best of RATE_SEARCHES searches
# is reported (each search's result is kept in results-raw/).
for ((SEARCH = 1; SEARCH <= RATE_SEARCHES; SEARCH++)); do
  for t in "${TARGETS[@]}"; do
    IFS='|' read -r name url model <<<"$t"
    start=$RATE_START; [ "$name" = litellm ] && start=${LITELLM_RATE_START:-100}
    [ "$name" = litellm ] && [ "$SEARCH" -gt 1 ] && continue
    search_rate "$name" "$url" "$model" "$start"
  done
done
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name _ _ <<<"$t"
  jq -s 'max_by(.max_rps) + {searches: [.[].max_rps]}' "$RES"/rate_"${name}"_search*.json >"$RES/rate_$name.json"
done

# ---------------------------------------------------------------- 3. streaming
# Twice: everything on one CPU (as the c=1 latency), then placed by the scheduler. On one
# CPU every separate write of the proxy wakes the client before the proxy's next write;
# the second pass shows the cost without that artefact (README explains the difference).
stream_phase() { # placement, result prefix
  place "$1"
  say "streaming ($1 placement): $STREAMS streams of 64 chunks 20 ms apart per target (5 at a time)"
  for t in "${STREAM_TARGETS[@]}"; do
    IFS='|' read -r name url model <<<"$t"
    n=$STREAMS; [ "$name" = litellm ] && n=$((STREAMS / 3 + 1))
    local f=$RES/${2}_$name.json
    lg stream --url "$url" --model "$model" "${HDR[@]}" --streams "$n" --concurrency 5 --warmup 1 \
      --timeout-ms 20000 --max-secs 90 >"$f"
    printf '  %-12s ttfb p50 %6s p99 %6s us  gap p50 %6s p99 %6s us  events %s..%s\n' "$name" \
      "$(jq .ttfb.p50_us "$f")" "$(jq .ttfb.p99_us "$f")" "$(jq .gap.p50_us "$f")" \
      "$(jq .gap.p99_us "$f")" "$(jq .events_min "$f")" "$(jq .events_max "$f")" >&2
  done
}
stream_phase same stream
[ "$PIN" = 1 ] && stream_phase free stream_free

# ---------------------------------------------------------------- 4. memory with open streams
place split
say "RSS with $HOLD_STREAMS concurrently open streams"
echo "{\"sluice_kib\": $(rss_of "$SLUICE_PID"), \"nginx_kib\": $(rss_of $(nginx_pids))}" >"$RES/rss_idle_after.json"
lg hold --url "http://127.0.0.1:$SL/v1/chat/completions" --model bench-hold "${HDR[@]}" \
  --streams "$HOLD_STREAMS" --ramp 200 --open-secs 90 --hold-secs 5 --timeout-ms 30000 --threads 1 \
  --rss-pid "$SLUICE_PID" >"$RES/hold_sluice.json"
jq -c . "$RES/hold_sluice.json" >&2
sleep 2
lg hold --url "http://127.0.0.1:$NG/hold/v1/chat/completions" --model bench-hold "${HDR[@]}" \
  --streams "$HOLD_STREAMS" --ramp 200 --open-secs 90 --hold-secs 5 --timeout-ms 30000 --threads 1 \
  $(for p in $(nginx_pids); do echo --rss-pid "$p"; done) >"$RES/hold_nginx.json"
jq -c . "$RES/hold_nginx.json" >&2

# ---------------------------------------------------------------- limits: nothing refused
# The limited columns measure admitted requests only: their data planes must not have
# refused one, nor lost the store.
limits_check() { # name ops-port
  local text refused up
  text=$(curl -s --max-time 5 "http://127.0.0.1:$2/metrics" || true)
  refused=$(awk '/^sluice_rate_limited_total/{s+=$NF} END{print s+0}' <<<"$text")
  up=$(awk '/^sluice_rate_store_up/{print $NF; exit}' <<<"$text")
  echo "{\"refused\": $refused, \"store_up\": ${up:-null}}" >"$RES/limits_$1.json"
  [ "$refused" = 0 ] || loud "$1 REFUSED $refused REQUESTS: its numbers include refusals"
}
limits_check sluice_limits_local "$SLL_OPS"
[ "$REDIS_OK" = 1 ] && limits_check sluice_limits_redis "$SLR_OPS"

# ---------------------------------------------------------------- report
cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
jq -n --arg nproc "$NCPU" --arg cpu "$cpu" --arg kernel "$(uname -r)" --arg pin "$PIN_DESC" \
  --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --arg nginx "$($NGINX -v 2>&1 | sed 's/.*: //')" \
  --arg litellm "$([ "$LITELLM_OK" = 1 ] && "$VENV/bin/pip" show litellm 2>/dev/null | awk '/^Version/{print $2}' || echo 'not run')" \
  --arg redis "$([ "$REDIS_OK" = 1 ] && "$(redis_bin)" --version | awk '{print $3}' | sed 's/^v=//' || echo 'not run')" \
  --arg quick "$QUICK" --arg lat_runs "$LAT_RUNS" --arg lat_n "$LAT_N" --arg step "$STEP_SECS" \
  --arg hold "$HOLD_STREAMS" \
  '{nproc:$nproc, cpu:$cpu, kernel:$kernel, pin:$pin, loadavg:$load, date:$date, nginx:$nginx,
    litellm:$litellm, redis:$redis, quick:$quick, lat_runs:$lat_runs, lat_n:$lat_n, step_secs:$step, hold:$hold}' \
  >"$RES/machine.json"
python3 "$HERE/report.py" "$RES" >"$HERE/results.md"
cp -r "$RES" "$HERE/results-raw.tmp" 2>/dev/null && rm -rf "$HERE/results-raw" && mv "$HERE/results-raw.tmp" "$HERE/results-raw"
cat "$HERE/results.md"
