// The AWS SDK for JavaScript v3 against stsd: fromTokenFile feeding an STS client, as an
// application in a pod does, and the explicit AssumeRoleWithWebIdentity call.
//
// Usage: node js_checks.mjs  (configuration comes from the environment set by run.sh:
// STS_ENDPOINT, TOKEN_DIR, ROLE_ARN, DENIED_ROLE_ARN, IDP_ISSUER, CLIENT_ID).
// Prints one `PASS name` / `FAIL name: reason` line per check; never prints a token or a secret.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import {
  AssumeRoleWithWebIdentityCommand, GetCallerIdentityCommand, STSClient,
} from '@aws-sdk/client-sts';
import { fromTokenFile } from '@aws-sdk/credential-providers';

const {
  STS_ENDPOINT, TOKEN_DIR, ROLE_ARN, DENIED_ROLE_ARN, IDP_ISSUER, CLIENT_ID,
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
process.exit(failed ? 1 : 0);
