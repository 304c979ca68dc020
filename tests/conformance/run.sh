#!/usr/bin/env bash
# Real-client conformance suite: a local OpenID Provider (oidc-provider), stsd, and the AWS
# clients people use against it (boto3, the AWS CLI, the AWS SDK for JavaScript v3).
#
#   tests/conformance/run.sh
#
# Environment:
#   STSD_BIN                 stsd binary (default: <target dir>/release/stsd, built or brought up to date by cargo)
#   CONFORMANCE_WAIT_SECS    how long to wait for a server to come up (default 30)
#   CONFORMANCE_KEEP_STATE=1 keep the run's temporary directory (configs, logs, tokens)
#
# Prints `PASS name` / `FAIL name: reason` per check and ends with one line `N passed, M failed`;
# exits non-zero when anything failed. Only 127.0.0.1 is contacted, apart from the package
# registries while installing the clients.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WAIT_SECS=${CONFORMANCE_WAIT_SECS:-30}
# Upper bound for one client program (each makes a handful of local calls).
PROGRAM_SECS=180
VENV="$HERE/.venv"
PY="$VENV/bin/python"

# shellcheck source=../venv.sh
source "$HERE/../venv.sh"

install_node_clients() {
  local stamp="$HERE/node_modules/.package-lock.sha256"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$(sha "$HERE/package-lock.json")" ]]; then
    return
  fi
  log "installing Node.js packages into $HERE/node_modules"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
  sha "$HERE/package-lock.json" >"$stamp"
}

resolve_stsd() {
  if [[ -n "${STSD_BIN:-}" ]]; then
    [[ -x "$STSD_BIN" ]] || { echo "STSD_BIN=$STSD_BIN is not an executable file" >&2; exit 2; }
    return
  fi
  local target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
  STSD_BIN="$target_dir/release/stsd"
  # cargo is quick when the binary is current, and a stale binary would test old code.
  if command -v cargo >/dev/null; then
    log "building stsd (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet --bin stsd)
  elif [[ ! -x "$STSD_BIN" ]]; then
    echo "no stsd binary at $STSD_BIN and no cargo to build one; set STSD_BIN" >&2
    exit 2
  fi
}

preflight() {
  local missing=() cmd
  for cmd in python3 node npm timeout sha256sum mktemp; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  if ((${#missing[@]})); then
    echo "missing commands: ${missing[*]}" >&2
    exit 2
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if ((major < 20)); then
    echo "Node.js 20 or later is needed (found $(node --version))" >&2
    exit 2
  fi
}

preflight
install_python_clients
install_node_clients
resolve_stsd

umask 077
STATE=$(mktemp -d "${TMPDIR:-/tmp}/stsd-conformance.XXXXXX")
RESULTS="$STATE/results"
: >"$RESULTS"
IDP_PID=""
STSD_PID=""

# shellcheck disable=SC2317  # stop_pid and cleanup run from the EXIT trap
stop_pid() {
  local pid=$1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317
cleanup() {
  stop_pid "$STSD_PID"
  stop_pid "$IDP_PID"
  wait 2>/dev/null || true
  if [[ "${CONFORMANCE_KEEP_STATE:-}" == 1 ]]; then
    echo "# state kept in $STATE" >&2
  else
    rm -rf "$STATE"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { echo "PASS $1" | tee -a "$RESULTS"; }
fail() { echo "FAIL $1: $2" | tee -a "$RESULTS"; }

tail_log() {
  local name=$1 file=$2
  [[ -s "$file" ]] || return 0
  echo "# ---- last lines of the $name log ----"
  tail -n 40 "$file" | sed 's/^/#   /'
}

finish() {
  local passed failed
  passed=$(grep -c '^PASS ' "$RESULTS" || true)
  failed=$(grep -c '^FAIL ' "$RESULTS" || true)
  if ((failed > 0)); then
    tail_log stsd "$STATE/stsd.log"
    tail_log "OpenID Provider" "$STATE/idp.log"
  fi
  echo "$passed passed, $failed failed"
  if ((failed > 0)); then
    exit 1
  fi
  exit 0
}

# Runs a program that prints PASS/FAIL lines; a crash or a hang is one more FAIL.
run_program() {
  local name=$1
  shift
  local out="$STATE/$name.out" rc=0
  timeout "$PROGRAM_SECS" "$@" >"$out" 2>"$STATE/$name.err" || rc=$?
  grep -E '^(PASS|FAIL|#) ' "$out" || true
  grep -E '^(PASS|FAIL) ' "$out" >>"$RESULTS" || true
  if ((rc != 0 && rc != 1)) || ! grep -qE '^(PASS|FAIL) ' "$out"; then
    fail "$name" "exited with status $rc; stderr: $(tail -n 5 "$STATE/$name.err" | tr '\n' ' ')"
  fi
}

exit_status() {
  local rc=0
  wait "$1" || rc=$?
  echo "$rc"
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

http_status() {
  "$PY" - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
EOF
}

# Variables the clients would otherwise pick up from this machine; nothing may reach beyond 127.0.0.1.
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ROLE_ARN \
  AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_SESSION_NAME AWS_ENDPOINT_URL AWS_ENDPOINT_URL_STS \
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CA_BUNDLE
export AWS_CONFIG_FILE="$STATE/aws-config" AWS_SHARED_CREDENTIALS_FILE="$STATE/aws-credentials"
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

# ---- OpenID Provider ----
node "$HERE/idp.mjs" "$STATE" >"$STATE/idp.log" 2>&1 &
IDP_PID=$!
deadline=$((SECONDS + WAIT_SECS))
until [[ -s "$STATE/idp.port" ]]; do
  if ! kill -0 "$IDP_PID" 2>/dev/null; then
    fail idp-start "the OpenID Provider exited with status $(exit_status "$IDP_PID")"
    finish
  elif ((SECONDS >= deadline)); then
    fail idp-start "the OpenID Provider did not start within ${WAIT_SECS}s"
    finish
  fi
  sleep 0.2
done
IDP_PORT=$(cat "$STATE/idp.port")
IDP_ISSUER="http://127.0.0.1:$IDP_PORT/idp"
log "OpenID Provider (oidc-provider) at $IDP_ISSUER"
run_program tokens node "$HERE/tokens.mjs" "$IDP_ISSUER" "$STATE"
TOKEN_DIR="$STATE/tokens"
for t in access access-eddsa id no-kid array-aud wrong-audience expired sa-app-1 sa-app-2 sa-denied \
  sa-unassociated sa-wrong-audience; do
  [[ -s "$TOKEN_DIR/$t.jwt" ]] || { fail idp-tokens "token '$t' was not obtained"; finish; }
done

# ---- stsd ----
CLIENT_ID=conformance-client
USER_SUB=alice
ROLE_ARN="arn:aws:iam::role/ConformanceRole"
AWS_PRINCIPAL_ROLE_ARN="arn:aws:iam::role/AwsPrincipalRole"
AWS_KEYS_ROLE_ARN="arn:aws:iam::role/AwsConditionKeysRole"
DENIED_ROLE_ARN="arn:aws:iam::role/DeniedRole"
"$PY" - "$STATE/iam.json" "$IDP_ISSUER" "$CLIENT_ID" "$USER_SUB" <<'EOF'
import base64, json, os, sys
from urllib.parse import urlsplit

path, issuer, client_id, user_sub = sys.argv[1:]
# How an AWS trust policy names this provider: the issuer without its scheme.
issuer_key = urlsplit(issuer).netloc + urlsplit(issuer).path
s3_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def trust(principal, condition):
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": principal},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }],
    }


config = {
    "sts": {
        "issuer": "stsd-conformance",
        "signingKey": base64.b64encode(os.urandom(32)).decode(),
        "tokenDuration": "1h",
        "maxSessionLength": "12h",
    },
    "providers": [{
        "name": "idp",
        "type": "oidc",
        "enabled": True,
        # ID tokens carry the client id as audience; client-credentials access tokens the resource.
        "config": {"issuer": issuer, "clientIds": [client_id, "urn:stsd:conformance"]},
    }],
    "policies": [{"name": "S3All", "document": s3_all}],
    "roles": [
        {
            "roleName": "ConformanceRole",
            "attachedPolicies": ["S3All"],
            "trustPolicy": trust("idp", {"StringEquals": {"oidc:sub": [user_sub, client_id]}}),
        },
        # A trust policy as written for AWS: the provider named by its IAM ARN ...
        {
            "roleName": "AwsPrincipalRole",
            "attachedPolicies": ["S3All"],
            "trustPolicy": trust(
                f"arn:aws:iam::123456789012:oidc-provider/{issuer_key}", {"StringEquals": {"oidc:sub": user_sub}}
            ),
        },
        # ... and conditions keyed by the issuer (host:port/path here, as the issuer has a port).
        {
            "roleName": "AwsConditionKeysRole",
            "attachedPolicies": ["S3All"],
            "trustPolicy": trust(
                "idp", {"StringEquals": {f"{issuer_key}:aud": client_id, f"{issuer_key}:sub": user_sub}}
            ),
        },
        {
            "roleName": "DeniedRole",
            "attachedPolicies": ["S3All"],
            "trustPolicy": trust("idp", {"StringEquals": {"oidc:sub": "someone-else"}}),
        },
        # Pod identity: the role the associations below name; its trust policy still decides,
        # and admits the team-a namespace only.
        {
            "roleName": "PodRole",
            "attachedPolicies": ["S3All"],
            "trustPolicy": trust("idp", {"StringEquals": {"oidc:kubernetes.io/namespace": "team-a"}}),
        },
    ],
    "podIdentityAssociations": [
        {"namespace": "team-a", "serviceAccount": "app", "roleArn": "arn:aws:iam::role/PodRole"},
        {"namespace": "team-z", "serviceAccount": "app", "roleArn": "arn:aws:iam::role/PodRole"},
    ],
}
with open(path, "w", encoding="utf-8") as f:
    json.dump(config, f, indent=2)
EOF

# The port is free when chosen but may be taken before stsd binds it: then try another.
start_stsd() {
  STS_PORT=$(free_port)
  STS_ENDPOINT="http://127.0.0.1:$STS_PORT"
  log "stsd $STSD_BIN at $STS_ENDPOINT"
  "$STSD_BIN" serve --config "$STATE/iam.json" --listen "127.0.0.1:$STS_PORT" --admin-listen off >"$STATE/stsd.log" 2>&1 &
  STSD_PID=$!
  local deadline=$((SECONDS + WAIT_SECS))
  until [[ "$(http_status "$STS_ENDPOINT/healthz")" == 200 ]]; do
    if ! kill -0 "$STSD_PID" 2>/dev/null; then
      STSD_EXIT=$(exit_status "$STSD_PID")
      return 1
    elif ((SECONDS >= deadline)); then
      fail stsd-start "stsd did not answer /healthz with 200 within ${WAIT_SECS}s"
      finish
    fi
    sleep 0.2
  done
}
for attempt in 1 2 3; do
  start_stsd && break
  if ((attempt == 3)) || ! grep -qi 'address already in use' "$STATE/stsd.log"; then
    fail stsd-start "stsd exited with status $STSD_EXIT"
    finish
  fi
done
pass stsd-healthz

# A malformed call gets the AWS XML error document.
if "$PY" - "$STS_ENDPOINT" >"$STATE/xml-error.out" 2>&1 <<'EOF'
import sys, urllib.request, urllib.error
import xml.etree.ElementTree as ET

req = urllib.request.Request(sys.argv[1] + "/", data=b"Action=NoSuchAction&Version=2011-06-15", method="POST",
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
try:
    urllib.request.urlopen(req, timeout=10)
    sys.exit("an unknown Action was accepted")
except urllib.error.HTTPError as e:
    body, status, headers = e.read(), e.code, e.headers
ns = "{https://sts.amazonaws.com/doc/2011-06-15/}"
root = ET.fromstring(body)
assert root.tag == ns + "ErrorResponse", f"root element {root.tag}"
code = root.findtext(f"{ns}Error/{ns}Code")
assert status == 400 and code == "InvalidAction", f"status {status}, code {code}"
assert root.findtext(f"{ns}Error/{ns}Type") == "Sender", "Type is not Sender"
assert root.findtext(f"{ns}RequestId"), "no RequestId"
assert headers.get("x-amzn-RequestId") == root.findtext(f"{ns}RequestId"), "x-amzn-RequestId header differs"
assert headers.get_content_type() == "text/xml", f"content type {headers.get_content_type()}"
EOF
then
  pass stsd-xml-error
else
  fail stsd-xml-error "$(tail -n 1 "$STATE/xml-error.out")"
fi

POD_IDENTITY_URI="$STS_ENDPOINT/v1/credentials"
export STS_ENDPOINT TOKEN_DIR ROLE_ARN AWS_PRINCIPAL_ROLE_ARN AWS_KEYS_ROLE_ARN DENIED_ROLE_ARN IDP_ISSUER CLIENT_ID USER_SUB \
  POD_IDENTITY_URI

# ---- boto3 ----
run_program boto3 "$PY" "$HERE/boto3_checks.py"

# ---- AWS CLI ----
AWS="$VENV/bin/aws"
log "$("$AWS" --version 2>&1)"
token() { tr -d '\n' <"$TOKEN_DIR/$1.jwt"; }

# aws sts assume-role-with-web-identity; JSON to $STATE/cli-<session>.json, stderr to .err
cli_assume() {
  local tok=$1 role=$2 session=$3
  shift 3
  timeout 60 "$AWS" sts assume-role-with-web-identity --endpoint-url "$STS_ENDPOINT" --output json \
    --role-arn "$role" --role-session-name "$session" --web-identity-token "$(token "$tok")" "$@" \
    >"$STATE/cli-$session.json" 2>"$STATE/cli-$session.err"
}

json_field() {
  "$PY" -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}

cli_success() {
  local name=$1 tok=$2 session=$3
  if ! cli_assume "$tok" "$ROLE_ARN" "$session" --duration-seconds 900; then
    fail "$name" "assume-role-with-web-identity failed: $(tail -n 2 "$STATE/cli-$session.err" | tr '\n' ' ')"
    return
  fi
  local out="$STATE/cli-$session.json" arn
  arn=$(json_field "$out" AssumedRoleUser.Arn)
  [[ "$arn" == *"assumed-role/ConformanceRole/$session" ]] || { fail "$name" "Arn $arn"; return; }
  [[ "$(json_field "$out" Credentials.AccessKeyId)" == ASIA* ]] || { fail "$name" "AccessKeyId lacks ASIA"; return; }
  local ident
  if ! ident=$(AWS_ACCESS_KEY_ID=$(json_field "$out" Credentials.AccessKeyId) \
    AWS_SECRET_ACCESS_KEY=$(json_field "$out" Credentials.SecretAccessKey) \
    AWS_SESSION_TOKEN=$(json_field "$out" Credentials.SessionToken) \
    timeout 60 "$AWS" sts get-caller-identity --endpoint-url "$STS_ENDPOINT" --output json \
    --query Arn 2>"$STATE/cli-$session-gci.err"); then
    fail "$name" "get-caller-identity failed: $(tail -n 2 "$STATE/cli-$session-gci.err" | tr '\n' ' ')"
    return
  fi
  [[ "$ident" == "\"$arn\"" ]] || { fail "$name" "get-caller-identity Arn $ident, expected $arn"; return; }
  pass "$name"
}

cli_error() {
  local name=$1 tok=$2 role=$3 code=$4 session="cli-${1#cli-}"
  if cli_assume "$tok" "$role" "$session"; then
    fail "$name" "succeeded, expected $code"
  elif grep -q "($code)" "$STATE/cli-$session.err"; then
    pass "$name"
  else
    fail "$name" "expected ($code) in: $(tail -n 2 "$STATE/cli-$session.err" | tr '\n' ' ')"
  fi
}

cli_success cli-assume-role-id-token-es256 id cli-id-session
cli_success cli-assume-role-access-token access cli-access-session
cli_success cli-assume-role-no-kid no-kid cli-no-kid-session
cli_success cli-assume-role-array-aud array-aud cli-array-aud-session
if ident=$(AWS_ROLE_ARN="$ROLE_ARN" AWS_WEB_IDENTITY_TOKEN_FILE="$TOKEN_DIR/id.jwt" \
  AWS_ROLE_SESSION_NAME=cli-env-session AWS_ENDPOINT_URL_STS="$STS_ENDPOINT" \
  timeout 60 "$AWS" sts get-caller-identity --output text --query Arn 2>"$STATE/cli-env.err"); then
  if [[ "$ident" == *"assumed-role/ConformanceRole/cli-env-session" ]]; then
    pass cli-web-identity-environment
  else
    fail cli-web-identity-environment "Arn $ident"
  fi
else
  fail cli-web-identity-environment "$(tail -n 2 "$STATE/cli-env.err" | tr '\n' ' ')"
fi
cli_error cli-wrong-audience wrong-audience "$ROLE_ARN" InvalidIdentityToken
cli_error cli-expired-token expired "$ROLE_ARN" ExpiredTokenException
cli_error cli-untrusted-role id "$DENIED_ROLE_ARN" AccessDenied

# Pod identity: nothing but the two container variables and the STS endpoint.
cli_pod_identity() {
  local name=$1 tok=$2
  AWS_CONTAINER_CREDENTIALS_FULL_URI="$POD_IDENTITY_URI" AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$TOKEN_DIR/$tok.jwt" \
    AWS_ENDPOINT_URL_STS="$STS_ENDPOINT" timeout 60 "$AWS" sts get-caller-identity --output text --query Arn \
    2>"$STATE/$name.err"
}
if ident=$(cli_pod_identity cli-pod-identity sa-app-1); then
  if [[ "$ident" == *"assumed-role/PodRole/app-pod-1" ]]; then
    pass cli-pod-identity
  else
    fail cli-pod-identity "Arn $ident"
  fi
else
  fail cli-pod-identity "$(tail -n 2 "$STATE/cli-pod-identity.err" | tr '\n' ' ')"
fi
if ident=$(cli_pod_identity cli-pod-identity-no-association sa-unassociated); then
  fail cli-pod-identity-no-association "succeeded as $ident"
elif grep -q 'non 200 response 403' "$STATE/cli-pod-identity-no-association.err" &&
  grep -q '"code":"AccessDenied"' "$STATE/cli-pod-identity-no-association.err"; then
  pass cli-pod-identity-no-association
else
  fail cli-pod-identity-no-association "$(tail -n 2 "$STATE/cli-pod-identity-no-association.err" | tr '\n' ' ')"
fi

# ---- AWS SDK for JavaScript v3 ----
run_program js node "$HERE/js_checks.mjs"

# ---- the OpenID Provider rotates its keys (restarted at the same issuer with new ones) ----
stop_pid "$IDP_PID"
rm -f "$STATE/idp.port"
node "$HERE/idp.mjs" "$STATE" "$IDP_PORT" >>"$STATE/idp.log" 2>&1 &
IDP_PID=$!
deadline=$((SECONDS + WAIT_SECS))
while [[ ! -s "$STATE/idp.port" ]] && kill -0 "$IDP_PID" 2>/dev/null && ((SECONDS < deadline)); do
  sleep 0.2
done
if [[ -s "$STATE/idp.port" ]]; then
  run_program tokens-rotated node "$HERE/tokens.mjs" "$IDP_ISSUER" "$STATE" rotated
  if [[ -s "$TOKEN_DIR/id-rotated.jwt" ]]; then
    run_program boto3-rotation "$PY" "$HERE/boto3_checks.py" rotation
  fi
else
  fail idp-restart "the OpenID Provider did not come back on its port"
fi

# After all that traffic, the stsd log holds no web identity token, session token or secret key.
if leaks=$("$PY" - "$STATE/stsd.log" "$TOKEN_DIR" "$STATE" <<'EOF'
import glob, json, os, sys

log = open(sys.argv[1], encoding="utf-8", errors="replace").read()
secrets = {}
for path in glob.glob(os.path.join(sys.argv[2], "*.jwt")):
    name = os.path.basename(path)
    # Payload and signature segments: either one in a log line gives the token away.
    for part in open(path, encoding="utf-8").read().strip().split(".")[1:]:
        if len(part) >= 16:
            secrets[part] = name
for path in glob.glob(os.path.join(sys.argv[3], "cli-*.json")):
    try:
        creds = json.load(open(path, encoding="utf-8"))["Credentials"]
    except (ValueError, KeyError):
        continue
    for key in ("SecretAccessKey", "SessionToken"):
        secrets[creds[key]] = f"{key} from {os.path.basename(path)}"
found = sorted({what for value, what in secrets.items() if value in log})
print(", ".join(found))
sys.exit(1 if found else 0)
EOF
); then
  pass stsd-log-holds-no-secrets
else
  fail stsd-log-holds-no-secrets "found in the stsd log: $leaks"
fi

finish
