// The AWS SDK for JavaScript v3 against stsd: fromTokenFile feeding an STS client, as an
// application in a pod does, and the explicit AssumeRoleWithWebIdentity call.
//
// Usage: node js_checks.mjs  (configuration comes from the environment set by run.sh:
// STS_ENDPOINT, TOKEN_DIR, ROLE_ARN, DENIED_ROLE_ARN, IDP_ISSUER, CLIENT_ID, POD_IDENTITY_URI).
// Prints one `PASS name` / `FAIL name: reason` line per check; never prints a token or a secret.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import {
  AssumeRoleWithWebIdentityCommand, GetCallerIdentityCommand, STSClient,
} from '@aws-sdk/client-sts';
import {
  fromContainerMetadata, fromHttp, fromNodeProviderChain, fromTokenFile,
} from '@aws-sdk/credential-providers';

const {
  STS_ENDPOINT, TOKEN_DIR, ROLE_ARN, DENIED_ROLE_ARN, IDP_ISSUER, CLIENT_ID, POD_IDENTITY_URI,
} = process.env;
const region = 'us-east-1';
const tokenFile = (name) => path.join(TOKEN_DIR, `${name}.jwt`);

let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`PASS ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}: ${err.name}: ${String(err.message).replace(/\n/g, ' ')}`);
  }
}
function ensure(cond, message) {
  if (!cond) {
    const err = new Error(message);
    err.name = 'CheckFailed';
    throw err;
  }
}

function callerClient(token, roleArn = ROLE_ARN, roleSessionName = undefined) {
  const credentials = fromTokenFile({
    webIdentityTokenFile: tokenFile(token),
    roleArn,
    roleSessionName,
    clientConfig: { region, endpoint: STS_ENDPOINT },
  });
  return new STSClient({ region, endpoint: STS_ENDPOINT, credentials, maxAttempts: 1 });
}

// Without a session name the SDK makes one up (aws-sdk-js-session-<epoch ms>).
const expectCaller = (token, roleSessionName = undefined) => async () => {
  const out = await callerClient(token, ROLE_ARN, roleSessionName).send(new GetCallerIdentityCommand({}));
  const prefix = `assumed-role/ConformanceRole/${roleSessionName ?? 'aws-sdk-js-session-'}`;
  ensure(out.Arn?.includes(prefix), `Arn ${out.Arn} lacks ${prefix}`);
};

// The SDK names modeled errors after their shape (InvalidIdentityTokenException for the
// InvalidIdentityToken code) and unmodeled ones after the code itself.
const expectError = (token, expectedName, roleArn = ROLE_ARN) => async () => {
  let out;
  try {
    out = await callerClient(token, roleArn).send(new GetCallerIdentityCommand({}));
  } catch (err) {
    ensure(err.name === expectedName, `error ${err.name} (${err.Code ?? err.$metadata?.httpStatusCode}), expected ${expectedName}`);
    return;
  }
  throw new Error(`succeeded as ${out.Arn}, expected ${expectedName}`);
};

async function explicitCall() {
  const sts = new STSClient({ region, endpoint: STS_ENDPOINT, maxAttempts: 1 });
  const started = Date.now();
  const out = await sts.send(new AssumeRoleWithWebIdentityCommand({
    RoleArn: ROLE_ARN,
    RoleSessionName: 'js-explicit',
    WebIdentityToken: readFileSync(tokenFile('access'), 'utf8').trim(),
    DurationSeconds: 1800,
  }));
  const c = out.Credentials;
  ensure(c?.AccessKeyId?.startsWith('ASIA'), 'AccessKeyId does not start with ASIA');
  ensure(c.Expiration instanceof Date, 'Expiration is not a timestamp');
  const lifetime = (c.Expiration.getTime() - started) / 1000;
  ensure(lifetime > 1750 && lifetime < 1860, `Expiration is ${Math.round(lifetime)}s away, expected about 1800`);
  ensure(out.AssumedRoleUser?.AssumedRoleId === 'ConformanceRole:js-explicit', `AssumedRoleId ${out.AssumedRoleUser?.AssumedRoleId}`);
  ensure(out.SubjectFromWebIdentityToken === CLIENT_ID, `SubjectFromWebIdentityToken ${out.SubjectFromWebIdentityToken}`);
  ensure(out.Provider === IDP_ISSUER, `Provider ${out.Provider}`);
  ensure(out.Audience === 'urn:stsd:conformance', `Audience ${out.Audience}`);
  ensure(out.$metadata.requestId, 'no request id');
  const signed = new STSClient({
    region,
    endpoint: STS_ENDPOINT,
    maxAttempts: 1,
    credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
  });
  const ident = await signed.send(new GetCallerIdentityCommand({}));
  ensure(ident.Arn === out.AssumedRoleUser.Arn, `GetCallerIdentity Arn ${ident.Arn}`);
}

// fromTokenFile() with no arguments reads the same variables a pod gets.
async function fromEnvironment() {
  process.env.AWS_ROLE_ARN = ROLE_ARN;
  process.env.AWS_WEB_IDENTITY_TOKEN_FILE = tokenFile('id');
  process.env.AWS_ROLE_SESSION_NAME = 'js-env-session';
  const credentials = fromTokenFile({ clientConfig: { region, endpoint: STS_ENDPOINT } });
  const out = await new STSClient({ region, endpoint: STS_ENDPOINT, credentials, maxAttempts: 1 })
    .send(new GetCallerIdentityCommand({}));
  ensure(out.Arn?.endsWith('assumed-role/ConformanceRole/js-env-session'), `Arn ${out.Arn}`);
}

// ---- pod identity: the container credentials providers with a ServiceAccount token ----

const podTokenFile = path.join(TOKEN_DIR, 'pod-identity-token-js');
const readToken = (name) => readFileSync(tokenFile(name), 'utf8');
const WEB_IDENTITY_VARS = ['AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_SESSION_NAME'];
const CONTAINER_VARS = [
  'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', 'AWS_CONTAINER_AUTHORIZATION_TOKEN',
];

// Only the container variables (and the STS endpoint), as in a pod configured for pod identity.
function podEnvironment({ tokenFileContent, token } = {}) {
  for (const name of [...WEB_IDENTITY_VARS, ...CONTAINER_VARS]) delete process.env[name];
  process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = POD_IDENTITY_URI;
  process.env.AWS_ENDPOINT_URL_STS = STS_ENDPOINT;
  if (tokenFileContent !== undefined) {
    writeFileSync(podTokenFile, tokenFileContent, { mode: 0o600 });
    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = podTokenFile;
  }
  if (token !== undefined) process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = token;
}

async function callerArn(credentials) {
  const out = await new STSClient({ region, endpoint: STS_ENDPOINT, credentials, maxAttempts: 1 })
    .send(new GetCallerIdentityCommand({}));
  return out.Arn;
}

// The default chain (no credentials given): env and profiles are empty, so its remote provider
// answers, through fromHttp with the token file.
async function defaultChain() {
  podEnvironment({ tokenFileContent: readToken('sa-app-1') });
  const credentials = fromNodeProviderChain();
  const creds = await credentials();
  ensure(creds.accessKeyId.startsWith('ASIA'), 'AccessKeyId does not start with ASIA');
  ensure(creds.expiration instanceof Date && creds.expiration > new Date(Date.now() + 3000_000), 'Expiration under 50 minutes away');
  const arn = await new STSClient({ region, maxAttempts: 1 }).send(new GetCallerIdentityCommand({}))
    .then((out) => out.Arn);
  ensure(arn?.endsWith('assumed-role/PodRole/app-pod-1'), `Arn ${arn}`);
}

// fromHttp reads the token file on every fetch: after the kubelet rotates it, the next
// credentials belong to the new pod name.
async function tokenFileRotation() {
  podEnvironment({ tokenFileContent: readToken('sa-app-1') });
  const provider = fromHttp({});
  const first = await callerArn(await provider());
  ensure(first?.endsWith('/app-pod-1'), `first Arn ${first}`);
  writeFileSync(podTokenFile, readToken('sa-app-2'));
  const second = await callerArn(await provider());
  ensure(second?.endsWith('/app-pod-2'), `Arn after rotation ${second}`);
}

// fromContainerMetadata takes the token from AWS_CONTAINER_AUTHORIZATION_TOKEN (it reads no
// file) and a loopback FULL_URI.
async function containerMetadata() {
  podEnvironment({ token: readToken('sa-app-1') });
  const arn = await callerArn(fromContainerMetadata());
  ensure(arn?.endsWith('assumed-role/PodRole/app-pod-1'), `Arn ${arn}`);
}

// The SDK reports the status; the error code is in the body, which is read directly here.
const podRefusal = (tokenName, status, code) => async () => {
  const content = tokenName === null ? undefined : (tokenName === 'garbage' ? 'garbage-not-a-token' : readToken(tokenName));
  podEnvironment({ tokenFileContent: content });
  let creds;
  try {
    creds = await fromHttp({ maxRetries: 1 })();
  } catch (err) {
    ensure(String(err.message).includes(`status: ${status}`), `SDK error ${err.message}`);
    const headers = content === undefined ? {} : { authorization: content };
    const res = await fetch(POD_IDENTITY_URI, { headers, signal: AbortSignal.timeout(10_000) });
    const body = await res.json();
    ensure(res.status === status && body.code === code, `direct call answered ${res.status} ${body.code}`);
    return;
  }
  throw new Error(`credentials ${creds.accessKeyId?.slice(0, 4)}... were issued, expected ${code}`);
};

const sdkVersion = JSON.parse(readFileSync(new URL('./node_modules/@aws-sdk/client-sts/package.json', import.meta.url), 'utf8')).version;
console.log(`# @aws-sdk/client-sts ${sdkVersion}`);
await check('js-fromTokenFile-access-token', expectCaller('access'));
await check('js-fromTokenFile-access-token-eddsa', expectCaller('access-eddsa', 'js-eddsa'));
await check('js-fromTokenFile-id-token-es256', expectCaller('id', 'js-sdk-session'));
await check('js-fromTokenFile-no-kid', expectCaller('no-kid'));
await check('js-fromTokenFile-array-aud', expectCaller('array-aud'));
await check('js-fromTokenFile-environment', fromEnvironment);
await check('js-explicit-assume-role-response', explicitCall);
await check('js-wrong-audience', expectError('wrong-audience', 'InvalidIdentityTokenException'));
await check('js-expired-token', expectError('expired', 'ExpiredTokenException'));
await check('js-untrusted-role', expectError('id', 'AccessDenied', DENIED_ROLE_ARN));
await check('js-pod-identity-default-chain', defaultChain);
await check('js-pod-identity-fromHttp-token-file-rotation', tokenFileRotation);
await check('js-pod-identity-fromContainerMetadata', containerMetadata);
await check('js-pod-identity-no-association', podRefusal('sa-unassociated', 403, 'AccessDenied'));
await check('js-pod-identity-trust-policy-denial', podRefusal('sa-denied', 403, 'AccessDenied'));
await check('js-pod-identity-wrong-audience', podRefusal('sa-wrong-audience', 401, 'InvalidIdentityToken'));
await check('js-pod-identity-missing-header', podRefusal(null, 401, 'MissingAuthenticationToken'));
await check('js-pod-identity-garbage', podRefusal('garbage', 401, 'InvalidIdentityToken'));
process.exit(failed ? 1 : 0);
