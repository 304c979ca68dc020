"""stsd against real SeaweedFS S3 gateways.

For each pinned gateway release (versions.txt) this starts, on loopback only:
  - a small OpenID Provider (discovery + JWKS, RS256 tokens signed here),
  - stsd with an iam.json,
  - `weed mini` whose S3 gateway reads the same iam.json (-s3.iam.config),
then drives boto3 the way a workload does (web-identity provider with a token file and
AWS_ENDPOINT_URL_STS) and checks what the real gateway accepts and refuses.

Every release is also paired with every derivation mode, and the outcome of that pairing is written
as the compatibility table of docs/seaweedfs.md (--table FILE).

Prints `PASS name` / `FAIL name: reason` per check, then `N passed, M failed`.
"""

import argparse
import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import boto3
import botocore.config
import botocore.exceptions
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ("seaweedfs", "seaweedfs-legacy")
CLIENT_ID = "gateway-tests"
STS_ISSUER = "seaweedfs-sts"
ACCOUNT = "123456789012"
BUCKET_A = "team-a"
BUCKET_B = "team-b"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n distinct free ports (held open together so none is handed out twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for(what, probe, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception as e:  # a server that is still starting refuses or resets
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up in {timeout}s ({last})")


# ---------------------------------------------------------------------------------------------
# A loopback OpenID Provider: discovery, JWKS, RS256 tokens
# ---------------------------------------------------------------------------------------------


class Idp:
    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "gateway-tests-1"
        port = free_port()
        self.issuer = f"http://127.0.0.1:{port}"
        numbers = self.key.public_key().public_numbers()

        def uint(n):
            return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                          "n": uint(numbers.n), "e": uint(numbers.e)}]}
        discovery = {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks",
                     "id_token_signing_alg_values_supported": ["RS256"],
                     "response_types_supported": ["id_token"],
                     "subject_types_supported": ["public"]}
        routes = {"/.well-known/openid-configuration": discovery, "/jwks": jwks}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, sub, **claims):
        now = int(time.time())
        body = {"iss": self.issuer, "sub": sub, "aud": CLIENT_ID, "iat": now, "nbf": now,
                "exp": now + 900, **claims}
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    def close(self):
        self.server.shutdown()


# ---------------------------------------------------------------------------------------------
# The shared iam.json
# ---------------------------------------------------------------------------------------------


def s3_policy(name, actions, resources):
    return {"name": name, "document": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": resources}]}}


def role(name, policies):
    return {
        "roleName": name,
        "roleArn": f"arn:aws:iam::role/{name}",
        "attachedPolicies": policies,
        "trustPolicy": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": "gateway-idp"},
            "Action": "sts:AssumeRoleWithWebIdentity"}]},
    }


def iam_config(idp, signing_key, mode):
    """One file for stsd and the gateway. `mode` is stsd's alone; the gateway ignores it."""
    bucket = lambda b: [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]  # noqa: E731
    return {
        "sts": {
            "tokenDuration": "1h",
            "maxSessionLength": "12h",
            "issuer": STS_ISSUER,
            "signingKey": signing_key,
            # The gateway knows one key; a rotation list must not make it refuse the file.
            "previousSigningKeys": [base64.b64encode(b"a-previous-key-of-at-least-32-bytes").decode()],
            "secretDerivation": mode,
            "providers": [{
                "name": "gateway-idp",
                "type": "oidc",
                "enabled": True,
                "config": {"issuer": idp.issuer, "clientId": CLIENT_ID,
                           "jwksUri": f"{idp.issuer}/jwks", "policyClaim": "s3policies",
                           "allowedPrincipalTagKeys": ["team", "env"],
                           "principalTagClaims": {"unit": "department"}},
            }],
        },
        "policies": [
            s3_policy("TeamAReadWrite", ["s3:*"], bucket(BUCKET_A)),
            s3_policy("TeamAReadOnly", ["s3:GetObject", "s3:ListBucket"], bucket(BUCKET_A)),
            s3_policy("TeamBReadOnly", ["s3:GetObject", "s3:ListBucket"], bucket(BUCKET_B)),
            s3_policy("Admin", ["s3:*"], ["arn:aws:s3:::*"]),
            # Attribute-based access: one policy for every team, the bucket named by a tag.
            s3_policy("TeamBucket", ["s3:*"], bucket("${aws:PrincipalTag/team}")),
            s3_policy("DeptBucket", ["s3:*"], bucket("${aws:PrincipalTag/dept}")),
            s3_policy("UnitBucket", ["s3:*"], bucket("${aws:PrincipalTag/unit}")),
            {"name": "ProdOnly", "document": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{BUCKET_A}/*"],
                "Condition": {"StringEquals": {"aws:PrincipalTag/env": "prod"}}}]}},
        ],
        "roles": [
            role("Admin", ["Admin"]),
            role("TeamAWriter", ["TeamAReadWrite"]),
            role("TeamAReader", ["TeamAReadOnly"]),
            role("TeamMember", ["TeamBucket"]),
            role("DeptMember", ["DeptBucket"]),
            role("UnitMember", ["UnitBucket"]),
            role("ProdReader", ["ProdOnly"]),
        ],
    }


# ---------------------------------------------------------------------------------------------
# Processes: stsd and weed mini
# ---------------------------------------------------------------------------------------------


class Process:
    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; "
                               f"log: {self.log_path}\n{self.tail()}")

    def tail(self, n=30):
        with open(self.log_path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except urllib.error.HTTPError:
        return False


def start_stsd(stsd_bin, config_path, workdir, name):
    port = free_port()
    env = dict(os.environ, RUST_LOG="info")
    p = Process(name, [stsd_bin, "serve", "--config", config_path,
                       "--listen", f"127.0.0.1:{port}"], os.path.join(workdir, f"{name}.log"), env)
    p.url = f"http://127.0.0.1:{port}"

    def ready():
        p.check_alive()
        return http_ok(f"{p.url}/readyz")

    wait_for(name, ready, 30)
    return p


def start_gateway(weed_bin, config_path, workdir, version):
    data = os.path.join(workdir, f"weed-{version}")
    os.makedirs(data, exist_ok=True)
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin,
     admin_grpc, webdav) = free_ports(11)
    argv = [weed_bin, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
            f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}", "-admin.ui=false",
            f"-webdav.port={webdav}", "-webdav=false", "-master.telemetry=false",
            f"-s3.iam.config={config_path}"]
    p = Process(f"weed {version}", argv, os.path.join(workdir, f"weed-{version}.log"))
    p.url = f"http://127.0.0.1:{s3}"

    def ready():
        p.check_alive()
        # Anonymous ListBuckets: the gateway answers (403) once it serves.
        try:
            urllib.request.urlopen(p.url, timeout=2)
        except urllib.error.HTTPError as e:
            return e.code in (200, 403)
        return True

    wait_for(p.name, ready, 90)
    return p


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------

NO_RETRY = botocore.config.Config(retries={"total_max_attempts": 1}, connect_timeout=5,
                                  read_timeout=30, signature_version="s3v4",
                                  s3={"addressing_style": "path"})


def web_identity_session(workdir, stsd, role_arn, token, session_name="gateway-test"):
    """A boto3 session that gets its credentials as a pod does: token file + role + STS endpoint."""
    token_file = os.path.join(workdir, f"token-{uuid.uuid4().hex}")
    with open(token_file, "w") as f:
        f.write(token)
    env = {"AWS_ROLE_ARN": role_arn, "AWS_WEB_IDENTITY_TOKEN_FILE": token_file,
           "AWS_ROLE_SESSION_NAME": session_name, "AWS_ENDPOINT_URL_STS": stsd.url,
           "AWS_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        session = boto3.session.Session()
        credentials = session.get_credentials().get_frozen_credentials()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return credentials


def assume(stsd, role_arn, token, session_name="gateway-test", policy=None):
    sts = boto3.client("sts", endpoint_url=stsd.url, region_name="us-east-1",
                       config=NO_RETRY, aws_access_key_id="unused",
                       aws_secret_access_key="unused")
    kwargs = {"RoleArn": role_arn, "RoleSessionName": session_name, "WebIdentityToken": token}
    if policy is not None:
        kwargs["Policy"] = json.dumps(policy)
    # AssumeRoleWithWebIdentity is unsigned; botocore sends it without credentials.
    c = sts.assume_role_with_web_identity(**kwargs)["Credentials"]
    return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]


def s3(gateway, creds):
    if hasattr(creds, "access_key"):
        creds = (creds.access_key, creds.secret_key, creds.token)
    access, secret, token = creds
    return boto3.client("s3", endpoint_url=gateway.url, region_name="us-east-1", config=NO_RETRY,
                        aws_access_key_id=access, aws_secret_access_key=secret,
                        aws_session_token=token)


def error_code(call):
    """The S3 error code of a call that must fail; AssertionError when it succeeds."""
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("the call succeeded")


def refused(call, codes=("AccessDenied",)):
    code = error_code(call)
    assert code in codes, f"refused with {code}, expected one of {codes}"


def resign(token, key_bytes, mutate=None):
    """The session token's claims, optionally changed, signed HS256 with `key_bytes`."""
    header, payload, _ = token.split(".")
    claims = b64url_json(payload)
    if mutate:
        mutate(claims)
    body = f"{header}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}"
    sig = hmac.new(key_bytes, body.encode(), hashlib.sha256).digest()
    return f"{body}.{b64url(sig)}"


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn):
        try:
            fn()
        except Exception as e:  # every failure is reported, the run goes on
            self.failed += 1
            detail = f"{type(e).__name__}: {e}".replace("\n", " | ")
            print(f"FAIL {name}: {detail[:600]}", flush=True)
            return False
        self.passed += 1
        print(f"PASS {name}", flush=True)
        return True


def matching_mode_checks(r, v, idp, stsd, gateway, signing_key, workdir):
    """The version paired with the mode written for it: everything works, the gateway enforces."""
    writer = f"arn:aws:iam::role/TeamAWriter"
    reader = f"arn:aws:iam::role/TeamAReader"
    token = idp.token("alice")

    def full_object_lifecycle():
        creds = web_identity_session(workdir, stsd, writer, token)
        assert creds.access_key.startswith("ASIA"), creds.access_key
        c = s3(gateway, creds)
        c.put_object(Bucket=BUCKET_A, Key="hello.txt", Body=b"hello from stsd")
        got = c.get_object(Bucket=BUCKET_A, Key="hello.txt")["Body"].read()
        assert got == b"hello from stsd", got
        keys = [o["Key"] for o in c.list_objects_v2(Bucket=BUCKET_A).get("Contents", [])]
        assert "hello.txt" in keys, keys
        # Multipart upload: two parts, the first at S3's 5 MiB minimum.
        mp = c.create_multipart_upload(Bucket=BUCKET_A, Key="big.bin")
        part1, part2 = b"a" * (5 * 1024 * 1024), b"b" * 1024
        etags = []
        for n, body in ((1, part1), (2, part2)):
            etags.append(c.upload_part(Bucket=BUCKET_A, Key="big.bin", PartNumber=n,
                                       UploadId=mp["UploadId"], Body=body)["ETag"])
        c.complete_multipart_upload(
            Bucket=BUCKET_A, Key="big.bin", UploadId=mp["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e}
                                       for i, e in enumerate(etags)]})
        size = c.head_object(Bucket=BUCKET_A, Key="big.bin")["ContentLength"]
        assert size == len(part1) + len(part2), size
        # A presigned GET carries the session token in the query string.
        url = c.generate_presigned_url("get_object", Params={"Bucket": BUCKET_A,
                                                             "Key": "hello.txt"}, ExpiresIn=300)
        assert "X-Amz-Security-Token=" in url
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.read() == b"hello from stsd"
        c.delete_object(Bucket=BUCKET_A, Key="big.bin")
        keys = [o["Key"] for o in c.list_objects_v2(Bucket=BUCKET_A).get("Contents", [])]
        assert "big.bin" not in keys, keys

    r.check(f"{v}: boto3 web-identity credentials put, get, list, multipart, presigned GET, "
            "delete", full_object_lifecycle)

    def read_only_role_is_enforced():
        c = s3(gateway, web_identity_session(workdir, stsd, reader, token, "reader"))
        assert c.get_object(Bucket=BUCKET_A, Key="hello.txt")["Body"].read() == b"hello from stsd"
        refused(lambda: c.put_object(Bucket=BUCKET_A, Key="nope.txt", Body=b"x"))
        refused(lambda: c.list_objects_v2(Bucket=BUCKET_B))
        refused(lambda: c.get_object(Bucket=BUCKET_B, Key="hello.txt"))

    r.check(f"{v}: the role's attached policy is enforced by the gateway",
            read_only_role_is_enforced)

    def session_policy_narrows():
        only_get = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET_A}/*"}]}
        c = s3(gateway, assume(stsd, writer, token, "narrowed", policy=only_get))
        assert c.get_object(Bucket=BUCKET_A, Key="hello.txt")["Body"].read() == b"hello from stsd"
        refused(lambda: c.put_object(Bucket=BUCKET_A, Key="nope.txt", Body=b"x"))
        refused(lambda: c.list_objects_v2(Bucket=BUCKET_A))

    r.check(f"{v}: a session Policy narrows the role at the gateway", session_policy_narrows)

    def claim_based_mode():
        claim_token = idp.token("bob", s3policies=["TeamBReadOnly"])
        c = s3(gateway, assume(stsd, "arn:aws:iam:::role/sts-claim-based", claim_token, "claims"))
        keys = c.list_objects_v2(Bucket=BUCKET_B).get("KeyCount", 0)
        assert keys == 0, keys
        refused(lambda: c.put_object(Bucket=BUCKET_B, Key="nope.txt", Body=b"x"))
        refused(lambda: c.get_object(Bucket=BUCKET_A, Key="hello.txt"))

    r.check(f"{v}: claim-based (policyClaim) credentials are enforced by the gateway",
            claim_based_mode)

    creds = assume(stsd, writer, token, "forgeries")
    access, secret, session_token = creds
    key_bytes = base64.b64decode(signing_key)

    def tampered_session_token():
        header, payload, sig = session_token.split(".")
        claims = b64url_json(payload)
        claims["principal"] = claims["principal"].replace("TeamAWriter", "Admin")
        forged = f"{header}.{b64url(json.dumps(claims).encode())}.{sig}"
        code = error_code(lambda: s3(gateway, (access, secret, forged)).list_objects_v2(
            Bucket=BUCKET_B))
        assert code in ("InvalidAccessKeyId", "AccessDenied", "InvalidToken"), code

    r.check(f"{v}: a tampered session token is refused", tampered_session_token)

    def wrong_secret():
        wrong = base64.b64encode(hashlib.sha256(b"not-the-secret").digest()).decode()
        code = error_code(lambda: s3(gateway, (access, wrong, session_token)).list_objects_v2(
            Bucket=BUCKET_A))
        assert code == "SignatureDoesNotMatch", code

    r.check(f"{v}: a wrong secret is SignatureDoesNotMatch", wrong_secret)

    def other_signing_key():
        forged = resign(session_token, b"another-key-of-at-least-32-bytes!!")
        code = error_code(lambda: s3(gateway, (access, secret, forged)).list_objects_v2(
            Bucket=BUCKET_A))
        assert code in ("InvalidAccessKeyId", "AccessDenied", "InvalidToken"), code
        # Control: the same claims re-signed with the shared key are accepted, so the refusal
        # above is the key's doing.
        same = resign(session_token, key_bytes)
        s3(gateway, (access, secret, same)).list_objects_v2(Bucket=BUCKET_A)

    r.check(f"{v}: a session token signed with another key is refused", other_signing_key)


def create_buckets(idp, stsd, gateway):
    """Both buckets, created with the Admin role's session: the gateway must treat a session
    whose role allows s3:* on every bucket as allowed to create buckets."""
    admin = s3(gateway, assume(stsd, "arn:aws:iam::role/Admin", idp.token("root"), "setup"))
    for bucket in (BUCKET_A, BUCKET_B):
        deadline = time.monotonic() + 30
        while True:
            try:
                admin.create_bucket(Bucket=bucket)
                break
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    break
                # The filer may still be starting.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


TAGS = "https://aws.amazon.com/tags"


def tags_claim(**tags):
    return {TAGS: {"principal_tags": {k: [v] for k, v in tags.items()},
                   "transitive_tag_keys": []}}


def session_tag_checks(r, v, idp, stsd, gateway):
    """Principal tags the gateway enforces, and claim names that must not forge them."""
    member = "arn:aws:iam::role/TeamMember"

    def lists(creds, bucket):
        try:
            s3(gateway, creds).list_objects_v2(Bucket=bucket)
            return True
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] != "AccessDenied":
                raise
            return False

    def each_team_gets_its_own_bucket():
        for team, other in ((BUCKET_A, BUCKET_B), (BUCKET_B, BUCKET_A)):
            creds = assume(stsd, member, idp.token(f"user-{team}", **tags_claim(team=team)))
            assert lists(creds, team), f"{team} cannot list its own bucket"
            assert not lists(creds, other), f"{team} can list {other}"
            s3(gateway, creds).put_object(Bucket=team, Key=f"by-{team}", Body=b"t")

    r.check(f"{v}: a ${{aws:PrincipalTag/team}} policy lets each team into its own bucket only",
            each_team_gets_its_own_bucket)

    def condition_on_a_tag():
        s3(gateway, assume(stsd, "arn:aws:iam::role/TeamAWriter", idp.token("w"))).put_object(
            Bucket=BUCKET_A, Key="prod.txt", Body=b"p")
        prod = s3(gateway, assume(stsd, "arn:aws:iam::role/ProdReader",
                                  idp.token("p", **tags_claim(env="prod"))))
        assert prod.get_object(Bucket=BUCKET_A, Key="prod.txt")["Body"].read() == b"p"
        dev = s3(gateway, assume(stsd, "arn:aws:iam::role/ProdReader",
                                 idp.token("d", **tags_claim(env="dev"))))
        refused(lambda: dev.get_object(Bucket=BUCKET_A, Key="prod.txt"))

    r.check(f"{v}: a condition on aws:PrincipalTag/env is enforced", condition_on_a_tag)

    def mapped_claim_is_a_tag():
        creds = assume(stsd, "arn:aws:iam::role/UnitMember",
                       idp.token("u", department=BUCKET_B))
        assert lists(creds, BUCKET_B)
        assert not lists(creds, BUCKET_A)

    r.check(f"{v}: principalTagClaims turns an ordinary claim into a tag the gateway enforces",
            mapped_claim_is_a_tag)

    def unlisted_keys_grant_nothing():
        creds = assume(stsd, "arn:aws:iam::role/DeptMember",
                       idp.token("x", **tags_claim(dept=BUCKET_B)))
        assert not lists(creds, BUCKET_B)

    r.check(f"{v}: a tag key outside allowedPrincipalTagKeys grants nothing",
            unlisted_keys_grant_nothing)

    def forged_claim_names_grant_nothing():
        # A user who can shape claim names (custom attributes, mappers) tries the names the
        # gateway interprets: the principal tag itself, and is_admin as string and boolean.
        for forged in ({"aws:PrincipalTag/team": BUCKET_B},
                       {"aws:PrincipalTag/team": BUCKET_B, **tags_claim(env="dev")}):
            creds = assume(stsd, member, idp.token("mallory", **forged))
            assert not lists(creds, BUCKET_B), f"forged {list(forged)} reached {BUCKET_B}"
        for is_admin in (True, "true"):
            creds = assume(stsd, "arn:aws:iam::role/TeamAReader",
                           idp.token("mallory", is_admin=is_admin))
            refused(lambda: s3(gateway, creds).put_object(Bucket=BUCKET_A, Key="x", Body=b"x"))
            assert not lists(creds, BUCKET_B)
        creds = assume(stsd, member, idp.token("mallory", **{"jwt:team": BUCKET_B,
                                                              "team": BUCKET_B}))
        assert not lists(creds, BUCKET_B), "a plain or jwt:-shaped claim acted as a tag"

    r.check(f"{v}: claims named aws:PrincipalTag/*, is_admin or jwt:* grant nothing",
            forged_claim_names_grant_nothing)


def pairing_outcome(idp, stsd, gateway, workdir):
    """What an S3 call with fresh credentials from `stsd` gets at `gateway`: "works" or a code."""
    creds = assume(stsd, "arn:aws:iam::role/TeamAWriter", idp.token("carol"), "pairing")
    try:
        s3(gateway, creds).list_objects_v2(Bucket=BUCKET_A)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "works"


ROLE_REFUSAL = re.compile(r"(?i)(invalid action for trust policy|failed to (load|create|store) role"
                          r"|invalid trust policy|error loading role)")


def gateway_role_refusals(gateway):
    return [line for line in gateway.text().splitlines() if ROLE_REFUSAL.search(line)]


def refused_role_is_recognised(r, v, weed, stsd_bin, idp, signing_key, mode, workdir):
    """Control for the "every role loaded" check: a trust policy naming sts:TagSession (valid
    for AWS and for stsd) makes the gateway drop that role, and the check must see it."""
    config = iam_config(idp, signing_key, mode)
    tagged = role("TaggedWriter", ["TeamAReadWrite"])
    tagged["trustPolicy"]["Statement"][0]["Action"] = ["sts:AssumeRoleWithWebIdentity",
                                                        "sts:TagSession"]
    config["roles"].append(tagged)
    path = os.path.join(workdir, f"iam-{v}-tagged.json")
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    gateway = start_gateway(weed, path, workdir, f"{v}-tagged")
    stsd = start_stsd(stsd_bin, path, workdir, f"stsd-{v}-tagged")
    try:
        def control():
            refusals = gateway_role_refusals(gateway)
            assert any("TaggedWriter" in line for line in refusals), refusals
            create_buckets(idp, stsd, gateway)
            creds = assume(stsd, "arn:aws:iam::role/TaggedWriter", idp.token("dave"), "tagged")
            refused(lambda: s3(gateway, creds).put_object(Bucket=BUCKET_A, Key="t", Body=b"x"))

        r.check(f"weed {v}: a role the gateway refuses is seen in its log and denied at the "
                "gateway", control)
    finally:
        stsd.stop()
        gateway.stop()


def run(args):
    versions = []
    with open(os.path.join(HERE, "versions.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line:
                versions.append((line[0], line[1]))
    r = Report()
    table = {}
    workdir = tempfile.mkdtemp(prefix="stsd-gateways-")
    idp = Idp()
    signing_key = base64.b64encode(os.urandom(32)).decode()
    try:
        for version, expected_mode in versions:
            weed = os.path.join(args.weed_dir, version, "weed")
            configs = {}
            for mode in MODES:
                path = os.path.join(workdir, f"iam-{version}-{mode}.json")
                with open(path, "w") as f:
                    json.dump(iam_config(idp, signing_key, mode), f, indent=2)
                configs[mode] = path
            gateway = start_gateway(weed, configs[expected_mode], workdir, version)
            stsds = {}
            try:
                for mode in MODES:
                    stsds[mode] = start_stsd(args.stsd, configs[mode], workdir,
                                             f"stsd-{version}-{mode}")
                create_buckets(idp, stsds[expected_mode], gateway)
                matching_mode_checks(r, f"weed {version} + {expected_mode}", idp,
                                     stsds[expected_mode], gateway, signing_key, workdir)
                session_tag_checks(r, f"weed {version} + {expected_mode}", idp,
                                   stsds[expected_mode], gateway)
                for mode in MODES:
                    outcome = pairing_outcome(idp, stsds[mode], gateway, workdir)
                    table[(version, mode)] = outcome
                    want = "works" if mode == expected_mode else "SignatureDoesNotMatch"

                    def pairing(outcome=outcome, want=want):
                        assert outcome == want, f"got {outcome}"

                    r.check(f"weed {version} + stsd {mode}: {want}", pairing)

                def every_role_loaded():
                    refusals = gateway_role_refusals(gateway)
                    assert not refusals, "; ".join(refusals[:3])

                r.check(f"weed {version}: the gateway loaded every role of the shared file",
                        every_role_loaded)
            finally:
                for p in stsds.values():
                    p.stop()
                gateway.stop()
            refused_role_is_recognised(r, version, weed, args.stsd, idp, signing_key,
                                       expected_mode, workdir)
        if args.table:
            write_table(args.table, versions, table)
    finally:
        idp.close()
        if os.environ.get("GATEWAY_KEEP_STATE") == "1":
            print(f"# state kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


def write_table(path, versions, table):
    lines = ["| SeaweedFS | `seaweedfs` (default) | `seaweedfs-legacy` |", "|---|---|---|"]
    for version, _ in versions:
        cells = []
        for mode in MODES:
            outcome = table.get((version, mode), "not run")
            cells.append("works" if outcome == "works" else f"refused: `{outcome}`")
        lines.append(f"| {version} | {cells[0]} | {cells[1]} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stsd", required=True, help="the stsd binary")
    parser.add_argument("--weed-dir", required=True, help="holds <version>/weed")
    parser.add_argument("--table", help="write the compatibility table (markdown) here")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
