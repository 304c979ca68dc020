#!/usr/bin/env bash
# Load test of stsd against a loopback IdP, with the physical references measured in the same run.
#
#   bench/load.sh            release build, full run (about two and a half minutes plus token
#                            generation): AssumeRoleWithWebIdentity and pod identity, cold and warm
#   PROFILE=debug bench/load.sh   debug build (for working on the scripts; figures meaningless)
#   BULK=1000000 bench/load.sh    also drive a million distinct tokens through the cache
#   FEATURES=vendored-openssl bench/load.sh   build against the OpenSSL the release image ships
#                                 (the server and the verify-rate reference alike)
#   PERF_DIR=dir bench/load.sh    also record the cold and warm runs with `perf record` (DWARF
#                                 call graphs) into dir/cold.data and dir/warm.data
#
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit.
# Needs wrk (apt-get install wrk). Prints a results table; RESULTS=path also writes it there.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-release}
DURATION=${DURATION:-10}          # seconds per measured run
THREADS=${THREADS:-2}             # wrk threads
CONNECTIONS=${CONNECTIONS:-32}    # wrk connections at full load
COLD=${COLD:-400000}              # distinct RS256 tokens for the cold runs (query API and pod identity)
WARM=${WARM:-16}                  # tokens repeated in the warm run
BULK=${BULK:-0}                   # distinct EdDSA tokens for the memory run (0: skip)
IDP_PORT=${IDP_PORT:-18091}
STS_PORT=${STS_PORT:-18090}
HELLO_PORT=${HELLO_PORT:-18092}
RESULTS=${RESULTS:-}
PERF_DIR=${PERF_DIR:-}
FEATURES=${FEATURES:-}

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

TARGET_DIR=${CARGO_TARGET_DIR:-target}
BUILD=(--bin stsd --example bench_idp --example hello ${FEATURES:+--features "$FEATURES"})
if [[ $PROFILE == release ]]; then
  cargo build --release "${BUILD[@]}"
  BIN=$TARGET_DIR/release
else
  cargo build "${BUILD[@]}"
  BIN=$TARGET_DIR/debug
fi
STSD=$BIN/stsd
IDP=$BIN/examples/bench_idp
HELLO=$BIN/examples/hello

WORK=$(mktemp -d -t stsd-load.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ISSUER="http://127.0.0.1:$IDP_PORT"
AUDIENCE="sts.example.com"
HZ=$(getconf CLK_TCK)

log() { echo "-- $*" >&2; }

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# A field of /proc/<pid>/status in KiB (VmRSS, VmHWM).
mem_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# wrk output → "requests rps p50_ms p99_ms non2xx wraps served-per-thread"
parse_wrk() {
  awk '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v }
      if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
      return v
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    / requests in / { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    /^lua_token_wraps/ { wraps = $2 }
    /^lua_thread_served/ { served = $2 }
    END { printf "%d %.0f %.3f %.3f %d %d %s\n", requests, rps, p50, p99, bad + 0, wraps + 0, (served == "" ? "-" : served) }
  ' "$1"
}

# run_load NAME PID URL CONNECTIONS LUA_ARGS... → sets R_* for the run
run_load() {
  local name=$1 pid=$2 url=$3 conns=$4
  shift 4
  local before after out=$WORK/wrk-$name.txt
  local perf_pid=
  if [[ -n $PERF_DIR && ($name == cold || $name == warm) ]]; then
    mkdir -p "$PERF_DIR"
    perf record -q -F 499 --call-graph dwarf,16384 -p "$pid" -o "$PERF_DIR/$name.data" 2>/dev/null &
    perf_pid=$!
    sleep 0.5
  fi
  before=$(cpu_ticks "$pid")
  wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency -s bench/rotate.lua "$url" -- "$@" >"$out" 2>&1
  after=$(cpu_ticks "$pid")
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid" && wait "$perf_pid" || true
  fi
  read -r R_REQ R_RPS R_P50 R_P99 R_BAD R_WRAPS R_SERVED < <(parse_wrk "$out")
  R_CPU=$(awk -v t=$((after - before)) -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')
  R_PER_CPU=$(awk -v r="$R_REQ" -v c="$R_CPU" 'BEGIN { printf "%.0f", (c > 0 ? r / c : 0) }')
  log "$name: $R_RPS req/s, p50 ${R_P50} ms, p99 ${R_P99} ms, $R_PER_CPU req/CPU-s (cpu ${R_CPU}s), non-2xx $R_BAD, wraps $R_WRAPS"
  if [[ $R_BAD != 0 ]]; then
    log "$name: $R_BAD error responses; first lines of the wrk output:"
    head -20 "$out" >&2
  fi
}

wait_port() { # URL
  "$IDP" wait-ready --url "$1" --since-ns "$(date +%s%N)" --timeout-ms 20000 >/dev/null
}

# --- tokens and IdP ------------------------------------------------------------------------------
log "generating tokens ($COLD cold, $WARM warm, $BULK bulk)"
"$IDP" gen --dir "$WORK" --issuer "$ISSUER" --audience "$AUDIENCE" --threads "$THREADS" \
  --cold "$COLD" --warm "$WARM" --bulk "$BULK" >&2
"$IDP" serve --dir "$WORK" --listen "127.0.0.1:$IDP_PORT" >"$WORK/idp.log" 2>&1 &
PIDS+=($!)
wait_port "$ISSUER/jwks"

SIGNING_KEY=$(head -c 32 /dev/urandom | base64)
cat >"$WORK/iam.json" <<EOF
{
  "sts": { "tokenDuration": "1h", "maxSessionLength": "12h", "issuer": "seaweedfs-sts",
           "signingKey": "$SIGNING_KEY" },
  "providers": [{
    "name": "k8s", "type": "oidc", "enabled": true,
    "config": { "issuer": "$ISSUER", "clientId": "$AUDIENCE", "jwksUri": "$ISSUER/jwks" }
  }],
  "policies": [{ "name": "S3Read", "document": { "Version": "2012-10-17",
    "Statement": [{ "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::*"] }] } }],
  "roles": [{
    "roleName": "Builder", "roleArn": "arn:aws:iam::role/Builder", "attachedPolicies": ["S3Read"],
    "trustPolicy": { "Version": "2012-10-17", "Statement": [{
      "Effect": "Allow", "Principal": { "Federated": "k8s" },
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringEquals": { "oidc:aud": "$AUDIENCE", "oidc:kubernetes.io/namespace": "apps" },
        "StringLike": { "oidc:sub": "system:serviceaccount:apps:*" } } }] }
  }],
  "podIdentityAssociations": [
    { "namespace": "apps", "serviceAccount": "builder", "roleArn": "arn:aws:iam::role/Builder" }
  ]
}
EOF

# --- stsd ----------------------------------------------------------------------------------------
START_NS=$(date +%s%N)
"$STSD" serve --config "$WORK/iam.json" --listen "127.0.0.1:$STS_PORT" --admin-listen off >"$WORK/stsd.log" 2>&1 &
STSD_PID=$!
PIDS+=($STSD_PID)
READY_MS=$("$IDP" wait-ready --url "http://127.0.0.1:$STS_PORT/readyz" --since-ns "$START_NS")
log "stsd ready after $READY_MS ms"
sleep 1
RSS_IDLE=$(mem_kib "$STSD_PID" VmRSS)

# One request fetches the JWKS, so the measured runs start with keys in place; its size sets
# the body of the second hello-world reference.
RESPONSE_BYTES=$(curl -sf -o /dev/null -w '%{size_download}' -X POST "http://127.0.0.1:$STS_PORT/" \
  --data "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3Arole%2FBuilder&RoleSessionName=probe&WebIdentityToken=$(head -1 "$WORK/warm.txt")" \
  ) || { log "the probe request failed; stsd log:"; tail -20 "$WORK/stsd.log" >&2; exit 1; }

URL="http://127.0.0.1:$STS_PORT/"
run_load cold "$STSD_PID" "$URL" "$CONNECTIONS" stream "$WORK/cold" 0
COLD_RPS=$R_RPS COLD_P50=$R_P50 COLD_P99=$R_P99 COLD_CPU=$R_PER_CPU COLD_BAD=$R_BAD COLD_WRAPS=$R_WRAPS
# Tokens each load thread presented so far; later cold runs start after them, so they stay cold.
COLD_USED=$R_SERVED
add_served() { # USED SERVED → element-wise sum of two comma lists
  awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, ","); split(b, y, ",");
    for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? "," : ""), x[i] + y[i]; print "" }'
}
run_load warm "$STSD_PID" "$URL" "$CONNECTIONS" repeat "$WORK/warm.txt"
WARM_RPS=$R_RPS WARM_P50=$R_P50 WARM_P99=$R_P99 WARM_CPU=$R_PER_CPU WARM_BAD=$R_BAD

# Half of peak: each connection waits HALF_DELAY ms before each request, with enough connections
# to offer half the measured rate; one corrective rerun when the achieved rate falls short (the
# wait and the response time add up).
HALF_DELAY=10
run_half() { # NAME PEAK MODE PATH
  local name=$1 target conns
  target=$(awk -v r="$2" 'BEGIN { print r / 2 }')
  conns=$(awk -v r="$target" -v d=$HALF_DELAY 'BEGIN { c = int(r * d / 1000 + 0.5); print (c < 1 ? 1 : c) }')
  run_load "$name" "$STSD_PID" "$URL" "$conns" "$3" "$4" "$HALF_DELAY" "$COLD_USED"
  [[ $3 == stream ]] && COLD_USED=$(add_served "$COLD_USED" "$R_SERVED")
  if awk -v a="$R_RPS" -v t="$target" 'BEGIN { exit !(a < 0.9 * t && a > 0) }'; then
    conns=$(awk -v c="$conns" -v a="$R_RPS" -v t="$target" 'BEGIN { print int(c * t / a + 0.5) }')
    run_load "$name" "$STSD_PID" "$URL" "$conns" "$3" "$4" "$HALF_DELAY" "$COLD_USED"
    [[ $3 == stream ]] && COLD_USED=$(add_served "$COLD_USED" "$R_SERVED")
  fi
  return 0
}
run_half cold-half "$COLD_RPS" stream "$WORK/cold"
CHALF_RPS=$R_RPS CHALF_P50=$R_P50 CHALF_P99=$R_P99 CHALF_BAD=$R_BAD
COLD_WRAPS=$((COLD_WRAPS + R_WRAPS))
run_half warm-half "$WARM_RPS" repeat "$WORK/warm.txt"
WHALF_RPS=$R_RPS WHALF_P50=$R_P50 WHALF_P99=$R_P99 WHALF_BAD=$R_BAD
# Pod identity (GET /v1/credentials): the same tokens and role through the association, cold on
# tokens no earlier run presented, warm on the cached ones.
run_load pod-cold "$STSD_PID" "$URL" "$CONNECTIONS" stream "$WORK/cold" 0 "$COLD_USED" pod-identity
PCOLD_RPS=$R_RPS PCOLD_P50=$R_P50 PCOLD_P99=$R_P99 PCOLD_CPU=$R_PER_CPU PCOLD_BAD=$R_BAD
COLD_USED=$(add_served "$COLD_USED" "$R_SERVED")
COLD_WRAPS=$((COLD_WRAPS + R_WRAPS))
run_load pod-warm "$STSD_PID" "$URL" "$CONNECTIONS" repeat "$WORK/warm.txt" 0 "" pod-identity
PWARM_RPS=$R_RPS PWARM_P50=$R_P50 PWARM_P99=$R_P99 PWARM_CPU=$R_PER_CPU PWARM_BAD=$R_BAD
RSS_LOADED=$(mem_kib "$STSD_PID" VmRSS)
HWM_LOADED=$(mem_kib "$STSD_PID" VmHWM)

BULK_RSS="-" BULK_HWM="-" BULK_SERVED="-"
if [[ $BULK -gt 0 ]]; then
  # Long enough for every bulk token at the cold rate (EdDSA verifies at a similar rate to RS256);
  # wrapping around afterwards only repeats cached tokens.
  BULK_SECS=$(awk -v n="$BULK" -v r="$COLD_RPS" 'BEGIN { s = int(n / (r > 0 ? r : 1000) * 1.3) + 5; print s }')
  log "bulk run: $BULK distinct tokens, ${BULK_SECS}s"
  DURATION=$BULK_SECS run_load bulk "$STSD_PID" "$URL" "$CONNECTIONS" stream "$WORK/bulk"
  BULK_SERVED=$(( R_REQ < BULK ? R_REQ : BULK ))
  BULK_RSS=$(mem_kib "$STSD_PID" VmRSS)
  BULK_HWM=$(mem_kib "$STSD_PID" VmHWM)
fi
kill "$STSD_PID"; wait "$STSD_PID" 2>/dev/null || true

# --- references ----------------------------------------------------------------------------------
"$HELLO" "127.0.0.1:$HELLO_PORT" >"$WORK/hello.log" 2>&1 &
HELLO_PID=$!
PIDS+=($HELLO_PID)
wait_port "http://127.0.0.1:$HELLO_PORT/"
run_load hello "$HELLO_PID" "http://127.0.0.1:$HELLO_PORT/" "$CONNECTIONS" repeat "$WORK/warm.txt"
HELLO_RPS=$R_RPS HELLO_CPU=$R_PER_CPU HELLO_P99=$R_P99
kill "$HELLO_PID"; wait "$HELLO_PID" 2>/dev/null || true
"$HELLO" "127.0.0.1:$HELLO_PORT" "$RESPONSE_BYTES" >"$WORK/hello-sized.log" 2>&1 &
HELLO_PID=$!
PIDS+=($HELLO_PID)
wait_port "http://127.0.0.1:$HELLO_PORT/"
run_load hello-sized "$HELLO_PID" "http://127.0.0.1:$HELLO_PORT/" "$CONNECTIONS" repeat "$WORK/warm.txt"
SIZED_RPS=$R_RPS SIZED_CPU=$R_PER_CPU SIZED_P99=$R_P99
kill "$HELLO_PID"; wait "$HELLO_PID" 2>/dev/null || true

VERIFY=$("$IDP" verify-rate --dir "$WORK" --seconds 3)
RS256=$(awk '$1 == "rs256_verify_per_cpu_s" { print $2 }' <<<"$VERIFY")
RS256_PARSE=$(awk '$1 == "rs256_parse_verify_per_cpu_s" { print $2 }' <<<"$VERIFY")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
us() { awk -v r="$1" 'BEGIN { printf "%.1f", (r > 0 ? 1e6 / r : 0) }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.1f", k / 1024 }'; }

{
  echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), profile $PROFILE${FEATURES:+, features $FEATURES}"
  echo "wrk: $THREADS threads, $CONNECTIONS connections, ${DURATION}s per run, on the same machine"
  echo
  echo "| run | req/s | p50 ms | p99 ms | req per CPU-s | non-2xx |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| cold (every token new, RS256) | $COLD_RPS | $COLD_P50 | $COLD_P99 | $COLD_CPU | $COLD_BAD |"
  echo "| warm ($WARM tokens repeated) | $WARM_RPS | $WARM_P50 | $WARM_P99 | $WARM_CPU | $WARM_BAD |"
  echo "| cold at half of peak ($(awk -v r="$COLD_RPS" 'BEGIN { print int(r / 2) }') offered) | $CHALF_RPS | $CHALF_P50 | $CHALF_P99 | | $CHALF_BAD |"
  echo "| warm at half of peak ($(awk -v r="$WARM_RPS" 'BEGIN { print int(r / 2) }') offered) | $WHALF_RPS | $WHALF_P50 | $WHALF_P99 | | $WHALF_BAD |"
  echo "| pod identity cold (GET /v1/credentials, every token new) | $PCOLD_RPS | $PCOLD_P50 | $PCOLD_P99 | $PCOLD_CPU | $PCOLD_BAD |"
  echo "| pod identity warm ($WARM tokens repeated) | $PWARM_RPS | $PWARM_P50 | $PWARM_P99 | $PWARM_CPU | $PWARM_BAD |"
  echo "| actix-web hello world | $HELLO_RPS | | $HELLO_P99 | $HELLO_CPU | |"
  echo "| the same, answering $RESPONSE_BYTES bytes like stsd | $SIZED_RPS | | $SIZED_P99 | $SIZED_CPU | |"
  echo
  echo "| reference / figure | value |"
  echo "|---|---:|"
  echo "| RS256 verifies per CPU-s (josekit/OpenSSL, one thread) | $RS256 |"
  echo "| RS256 parse + verify per CPU-s | $RS256_PARSE |"
  echo "| cold req per CPU-s / RS256 verifies per CPU-s | $(ratio "$COLD_CPU" "$RS256") (target ≥ 0.70) |"
  echo "| warm req per CPU-s / hello-world req per CPU-s | $(ratio "$WARM_CPU" "$HELLO_CPU") (target ≥ 0.50) |"
  echo "| warm req per CPU-s / same-size hello-world req per CPU-s | $(ratio "$WARM_CPU" "$SIZED_CPU") |"
  echo "| CPU per request: cold / warm / hello / same-size hello | $(us "$COLD_CPU") / $(us "$WARM_CPU") / $(us "$HELLO_CPU") / $(us "$SIZED_CPU") µs |"
  echo "| start to ready | $READY_MS ms (target ≤ 200) |"
  echo "| RSS idle | $(mib "$RSS_IDLE") MiB (target ≤ 30) |"
  echo "| RSS after the runs above / peak | $(mib "$RSS_LOADED") / $(mib "$HWM_LOADED") MiB |"
  echo "| RSS after $BULK_SERVED distinct tokens / peak | $(mib "$BULK_RSS") / $(mib "$BULK_HWM") MiB (target ≤ 256) |"
  if [[ $COLD_WRAPS != 0 ]]; then
    echo
    echo "note: the cold runs used every token and started over ($COLD_WRAPS wraps); raise COLD."
  fi
} | tee ${RESULTS:+"$RESULTS"}
