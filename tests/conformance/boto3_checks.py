"""boto3 against stsd: the web-identity credential provider as a pod uses it, and the explicit call.

Usage: python boto3_checks.py [rotation]  (configuration comes from the environment set by run.sh:
STS_ENDPOINT, TOKEN_DIR, ROLE_ARN, DENIED_ROLE_ARN, AWS_PRINCIPAL_ROLE_ARN, AWS_KEYS_ROLE_ARN, IDP_ISSUER,
CLIENT_ID, USER_SUB).
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
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
