"""boto3 against stsd: the web-identity credential provider as a pod uses it, and the explicit call.

Usage: python boto3_checks.py [rotation]  (configuration comes from the environment set by run.sh:
STS_ENDPOINT, TOKEN_DIR, ROLE_ARN, DENIED_ROLE_ARN, AWS_PRINCIPAL_ROLE_ARN, AWS_KEYS_ROLE_ARN, IDP_ISSUER,
CLIENT_ID, USER_SUB, POD_IDENTITY_URI).
Prints one `PASS name` / `FAIL name: reason` line per check and never prints a token or a secret.
"""

import datetime
import os
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET

import boto3
import botocore
import botocore.credentials
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["STS_ENDPOINT"]
TOKEN_DIR = os.environ["TOKEN_DIR"]
ROLE_ARN = os.environ["ROLE_ARN"]
DENIED_ROLE_ARN = os.environ["DENIED_ROLE_ARN"]
AWS_PRINCIPAL_ROLE_ARN = os.environ["AWS_PRINCIPAL_ROLE_ARN"]
AWS_KEYS_ROLE_ARN = os.environ["AWS_KEYS_ROLE_ARN"]
IDP_ISSUER = os.environ["IDP_ISSUER"]
CLIENT_ID = os.environ["CLIENT_ID"]
USER_SUB = os.environ["USER_SUB"]
POD_IDENTITY_URI = os.environ["POD_IDENTITY_URI"]
ROTATION_WAIT_SECS = 45

FAILED = 0


class CheckFailed(Exception):
    pass


def check(name, fn):
    global FAILED
    try:
        fn()
        print(f"PASS {name}", flush=True)
    except Exception as err:  # every failure, whatever its type, is one FAIL line
        FAILED += 1
        reason = str(err).replace("\n", " ")
        print(f"FAIL {name}: {type(err).__name__}: {reason}", flush=True)


def ensure(cond, message):
    if not cond:
        raise CheckFailed(message)


def token_file(name):
    return os.path.join(TOKEN_DIR, f"{name}.jwt")


def web_identity_session(token, role_arn=ROLE_ARN, session_name=None):
    """A fresh session whose default chain finds only the web-identity variables, as in a pod."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ROLE_SESSION_NAME"):
        os.environ.pop(var, None)
    os.environ["AWS_ROLE_ARN"] = role_arn
    os.environ["AWS_WEB_IDENTITY_TOKEN_FILE"] = token_file(token)
    os.environ["AWS_ENDPOINT_URL_STS"] = ENDPOINT
    if session_name:
        os.environ["AWS_ROLE_SESSION_NAME"] = session_name
    return boto3.session.Session(region_name="us-east-1")


def caller_arn(session):
    ident = session.client("sts").get_caller_identity()
    return ident["Arn"]


def expect_caller(token, role="ConformanceRole", role_arn=ROLE_ARN, session_name=None):
    def run():
        session = web_identity_session(token, role_arn, session_name)
        arn = caller_arn(session)
        ensure(f"assumed-role/{role}/" in arn, f"Arn {arn!r} lacks assumed-role/{role}/")
        if session_name:
            ensure(arn.endswith(f"/{session_name}"), f"Arn {arn!r} does not end in the session name")
        creds = session.get_credentials().get_frozen_credentials()
        ensure(creds.access_key.startswith("ASIA"), "access key id does not start with ASIA")

    return run


def expect_error(token, code, role_arn=ROLE_ARN):
    def run():
        session = web_identity_session(token, role_arn)
        try:
            arn = caller_arn(session)
        except ClientError as err:
            got = err.response.get("Error", {}).get("Code")
            ensure(got == code, f"error code {got!r}, expected {code!r}")
            ensure(err.operation_name == "AssumeRoleWithWebIdentity", f"failed in {err.operation_name}")
            return
        raise CheckFailed(f"succeeded as {arn!r}, expected {code}")

    return run


def explicit_call():
    sts = boto3.client(
        "sts", region_name="us-east-1", endpoint_url=ENDPOINT, config=Config(signature_version=UNSIGNED)
    )
    with open(token_file("id"), encoding="utf-8") as f:
        token = f.read().strip()
    started = datetime.datetime.now(datetime.timezone.utc)
    out = sts.assume_role_with_web_identity(
        RoleArn=ROLE_ARN, RoleSessionName="explicit-call", WebIdentityToken=token, DurationSeconds=900
    )
    creds = out["Credentials"]
    ensure(creds["AccessKeyId"].startswith("ASIA"), "AccessKeyId does not start with ASIA")
    ensure(creds["SecretAccessKey"] and creds["SessionToken"], "empty secret or session token")
    lifetime = (creds["Expiration"] - started).total_seconds()
    ensure(850 <= lifetime <= 960, f"Expiration is {lifetime:.0f}s away, expected about 900")
    user = out["AssumedRoleUser"]
    ensure(user["Arn"].endswith("assumed-role/ConformanceRole/explicit-call"), f"Arn {user['Arn']!r}")
    ensure(user["AssumedRoleId"] == "ConformanceRole:explicit-call", f"AssumedRoleId {user['AssumedRoleId']!r}")
    ensure(out.get("SubjectFromWebIdentityToken") == USER_SUB, "SubjectFromWebIdentityToken mismatch")
    ensure(out.get("Provider") == IDP_ISSUER, f"Provider {out.get('Provider')!r}")
    ensure(out.get("Audience") == CLIENT_ID, f"Audience {out.get('Audience')!r}")
    ensure(out["ResponseMetadata"].get("RequestId"), "no RequestId")
    # The issued credentials sign a request that stsd accepts.
    signed = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    ident = signed.get_caller_identity()
    ensure(ident["Arn"] == user["Arn"], f"GetCallerIdentity Arn {ident['Arn']!r} differs from {user['Arn']!r}")


def issued_credentials(session_name):
    sts = boto3.client(
        "sts", region_name="us-east-1", endpoint_url=ENDPOINT, config=Config(signature_version=UNSIGNED)
    )
    with open(token_file("id"), encoding="utf-8") as f:
        token = f.read().strip()
    return sts.assume_role_with_web_identity(
        RoleArn=ROLE_ARN, RoleSessionName=session_name, WebIdentityToken=token
    )["Credentials"]


def presigned_get():
    """A presigned GET of GetCallerIdentity, the way Vault-style verifiers prove an identity."""
    creds = issued_credentials("presigned")
    signed = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    # The signature covers the method: botocore signs POST unless told otherwise.
    url = signed.generate_presigned_url("get_caller_identity", ExpiresIn=300, HttpMethod="GET")
    ensure(url.startswith(ENDPOINT + "/?"), "presigned URL does not point at stsd")
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = resp.read()
    ns = "{https://sts.amazonaws.com/doc/2011-06-15/}"
    arn = ET.fromstring(body).findtext(f"{ns}GetCallerIdentityResult/{ns}Arn")
    ensure(arn and arn.endswith("assumed-role/ConformanceRole/presigned"), f"Arn {arn!r}")


def tampered_signature():
    creds = issued_credentials("wrong-secret")
    signed = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key="A" * 40,
        aws_session_token=creds["SessionToken"],
        config=Config(retries={"max_attempts": 1}),
    )
    try:
        signed.get_caller_identity()
    except ClientError as err:
        got = err.response.get("Error", {}).get("Code")
        ensure(got == "SignatureDoesNotMatch", f"error code {got!r}, expected 'SignatureDoesNotMatch'")
        return
    raise CheckFailed("a request signed with the wrong secret was accepted")


def after_key_rotation():
    """The provider now signs with a key stsd has not cached: stsd refetches the JWKS, at most once
    per refetch interval (30 s), so keep asking for a little longer than that."""
    deadline = time.monotonic() + ROTATION_WAIT_SECS
    while True:
        try:
            expect_caller("id-rotated")()
            return
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code")
            if code != "InvalidIdentityToken" or time.monotonic() >= deadline:
                raise
        time.sleep(2)


# ---- pod identity: the container credentials provider with a ServiceAccount token ----

CONTAINER_VARS = (
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)


def container_session(token_path):
    """A fresh session whose default chain finds only the two container variables (and the STS
    endpoint), as a pod configured for pod identity has them."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_SESSION_NAME",
    ) + CONTAINER_VARS:
        os.environ.pop(var, None)
    os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = POD_IDENTITY_URI
    if token_path is not None:
        os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = token_path
    os.environ["AWS_ENDPOINT_URL_STS"] = ENDPOINT
    return boto3.session.Session(region_name="us-east-1")


def pod_token_file(content):
    """The pod's token file, rewritten in place as the kubelet rotates it."""
    path = os.path.join(TOKEN_DIR, "pod-identity-token")
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)
    return path


def read_token(name):
    with open(token_file(name), encoding="utf-8") as f:
        return f.read()


def container_role_and_rotation():
    path = pod_token_file(read_token("sa-app-1"))
    session = container_session(path)
    creds = session.get_credentials()
    ensure(creds is not None, "no credentials found")
    ensure(creds.method == "container-role", f"credential method {creds.method!r}")
    frozen = creds.get_frozen_credentials()
    ensure(frozen.access_key.startswith("ASIA"), "access key id does not start with ASIA")
    arn = caller_arn(session)
    ensure(arn.endswith("assumed-role/PodRole/app-pod-1"), f"Arn {arn!r}")
    # The kubelet replaces the token; the provider reads the file again on its next fetch.
    pod_token_file(read_token("sa-app-2"))
    provider = botocore.credentials.ContainerProvider()
    again = provider.load()
    ensure(again is not None and again.method == "container-role", "the provider found nothing")
    session2 = boto3.session.Session(
        region_name="us-east-1",
        aws_access_key_id=again.access_key,
        aws_secret_access_key=again.secret_key,
        aws_session_token=again.token,
    )
    arn2 = caller_arn(session2)
    ensure(arn2.endswith("assumed-role/PodRole/app-pod-2"), f"after rotation Arn {arn2!r}")


def container_refusal(token_content, status, code):
    """The provider reports stsd's status and error body; boto3 then finds no credentials."""

    def run():
        path = None if token_content is None else pod_token_file(token_content)
        session = container_session(path)
        try:
            creds = session.get_credentials()
        except botocore.exceptions.CredentialRetrievalError as err:
            text = str(err)
            ensure(f"Received non 200 response {status} " in text, f"expected status {status} in: {text[:300]}")
            ensure(f'"code":"{code}"' in text, f"expected code {code} in: {text[:300]}")
            return
        raise CheckFailed(f"credentials were issued ({creds.method if creds else None}), expected {code}")

    return run


def main():
    if sys.argv[1:] == ["rotation"]:
        check("boto3-idp-key-rotation", after_key_rotation)
        return 1 if FAILED else 0
    print(f"# boto3 {boto3.__version__}, botocore {botocore.__version__}", flush=True)
    check("boto3-web-identity-access-token", expect_caller("access"))
    check("boto3-web-identity-access-token-eddsa", expect_caller("access-eddsa"))
    check("boto3-web-identity-id-token-es256", expect_caller("id"))
    check("boto3-web-identity-no-kid", expect_caller("no-kid"))
    check("boto3-web-identity-array-aud", expect_caller("array-aud"))
    check("boto3-web-identity-session-name", expect_caller("id", session_name="pod-7f9c@ns.example"))
    check(
        "boto3-trust-policy-aws-principal-arn",
        expect_caller("id", role="AwsPrincipalRole", role_arn=AWS_PRINCIPAL_ROLE_ARN),
    )
    check(
        "boto3-trust-policy-aws-condition-keys",
        expect_caller("id", role="AwsConditionKeysRole", role_arn=AWS_KEYS_ROLE_ARN),
    )
    check("boto3-explicit-assume-role-response", explicit_call)
    check("boto3-presigned-get-caller-identity", presigned_get)
    check("boto3-get-caller-identity-wrong-secret", tampered_signature)
    check("boto3-wrong-audience", expect_error("wrong-audience", "InvalidIdentityToken"))
    check("boto3-expired-token", expect_error("expired", "ExpiredTokenException"))
    check("boto3-untrusted-role", expect_error("id", "AccessDenied", role_arn=DENIED_ROLE_ARN))
    for forged in ("unknown-kid", "wrong-key", "alg-none", "hs256"):
        check(f"boto3-forged-{forged}", expect_error(forged, "InvalidIdentityToken"))
    check("boto3-container-role-pod-identity", container_role_and_rotation)
    refusals = [
        ("no-association", read_token("sa-unassociated"), 403, "AccessDenied"),
        ("trust-policy-denial", read_token("sa-denied"), 403, "AccessDenied"),
        ("wrong-audience", read_token("sa-wrong-audience"), 401, "InvalidIdentityToken"),
        ("missing-header", None, 401, "MissingAuthenticationToken"),
        ("garbage", "garbage-not-a-token", 401, "InvalidIdentityToken"),
    ]
    for name, content, status, code in refusals:
        check(f"boto3-container-role-{name}", container_refusal(content, status, code))
    for var in CONTAINER_VARS:
        os.environ.pop(var, None)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
