# Sourced by the suites under tests/ that drive Python clients: a virtualenv beside the suite,
# rebuilt only when its pinned requirements change. Needs HERE (the suite's folder), VENV and PY.

log() { printf '# %s\n' "$*"; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

install_python_clients() {
  local stamp="$VENV/.requirements.sha256"
  if [[ -x "$PY" && -f "$stamp" && "$(cat "$stamp")" == "$(sha "$HERE/requirements.txt")" ]]; then
    return
  fi
  log "installing Python clients into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-input -r "$HERE/requirements.txt"
  sha "$HERE/requirements.txt" >"$stamp"
}
