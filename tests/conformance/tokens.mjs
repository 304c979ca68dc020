// Obtains the suite's web identity tokens from the local OpenID Provider and checks what it
// serves. Tokens the provider will not issue (no `kid`, an array `aud`, already expired) are
// signed here with the provider's own key, so stsd sees them as coming from that issuer.
//
// Usage: node tokens.mjs ISSUER STATE_DIR [rotated]
// (`rotated`: only fetch a fresh ID token, as tokens/id-rotated.jwt, after the provider changed keys)
// Writes STATE_DIR/tokens/NAME.jwt (ending in a newline, as many tools write token files; the
// ServiceAccount tokens sa-*.jwt without one, as the kubelet writes them)
// and prints one `PASS name` / `FAIL name: reason` line per check; never prints a token.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import {
  SignJWT, createRemoteJWKSet, decodeProtectedHeader, exportSPKI, generateKeyPair, importJWK, jwtVerify,
} from 'jose';

import {
  CLIENT_ID, CLIENT_SECRET, OTHER_RESOURCE, REDIRECT_URI, STS_RESOURCE, USER_SUB,
} from './idp-clients.mjs';

const [issuer, stateDir, mode] = process.argv.slice(2);
if (!issuer || !stateDir || (mode && mode !== 'rotated')) {
  console.error('usage: node tokens.mjs ISSUER STATE_DIR [rotated]');
  process.exit(2);
}
const tokenDir = path.join(stateDir, 'tokens');
mkdirSync(tokenDir, { recursive: true, mode: 0o700 });

let failed = 0;
const pass = (name) => console.log(`PASS ${name}`);
const fail = (name, reason) => {
  failed += 1;
  console.log(`FAIL ${name}: ${reason}`);
};
async function check(name, fn) {
  try {
    await fn();
    pass(name);
  } catch (err) {
    fail(name, err.message);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}
const save = (name, token) => writeFileSync(path.join(tokenDir, `${name}.jwt`), `${token}\n`, { mode: 0o600 });
const b64url = (buf) => buf.toString('base64url');

async function getJson(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  assert(res.ok, `GET ${url} answered ${res.status}`);
  return res.json();
}

async function postForm(url, form) {
  const res = await fetch(url, {
    method: 'POST',
    body: new URLSearchParams(form),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.json();
  assert(res.ok, `POST ${url} answered ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
  return body;
}

let discovery;
if (mode === 'rotated') {
  discovery = await getJson(`${issuer}/.well-known/openid-configuration`);
} else {
  await check('idp-discovery', async () => {
    discovery = await getJson(`${issuer}/.well-known/openid-configuration`);
    assert(discovery.issuer === issuer, `issuer ${discovery.issuer} is not ${issuer}`);
    assert(discovery.jwks_uri?.startsWith(issuer), 'jwks_uri missing or outside the issuer');
    assert(discovery.grant_types_supported?.includes('client_credentials'), 'client_credentials not advertised');
  });
  if (!discovery) {
    process.exit(1);
  }
  await check('idp-jwks', async () => {
    const jwks = await getJson(discovery.jwks_uri);
    const types = (jwks.keys ?? []).map((k) => `${k.kty}${k.crv ? `/${k.crv}` : ''}`).sort().join(',');
    assert(types === 'EC/P-256,OKP/Ed25519,RSA', `key types ${types}`);
    assert(jwks.keys.every((k) => k.kid && !k.d), 'every key public and with a kid');
  });
}
const remoteKeys = createRemoteJWKSet(new URL(discovery.jwks_uri));
const kidOf = (name) => decodeProtectedHeader(readFileSync(path.join(tokenDir, `${name}.jwt`), 'utf8').trim()).kid;

// Authorization code flow with PKCE; sign-in is answered by the provider's /interaction route.
async function idTokenFor(sub) {
  const cookies = new Map();
  const go = async (url) => {
    const res = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      signal: AbortSignal.timeout(10_000),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  };
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const auth = new URL(discovery.authorization_endpoint);
  auth.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    scope: 'openid email groups',
    redirect_uri: REDIRECT_URI,
    state,
    nonce: b64url(randomBytes(16)),
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    login_hint: sub,
  }).toString();
  let url = auth.href;
  for (let hop = 0; hop < 6; hop += 1) {
    const res = await go(url);
    const location = res.headers.get('location');
    assert(res.status >= 300 && res.status < 400 && location, `authorization flow stopped with ${res.status}`);
    const next = new URL(location, url);
    if (next.href.startsWith(REDIRECT_URI)) {
      const code = next.searchParams.get('code');
      assert(code, `no code: ${next.searchParams.get('error')} ${next.searchParams.get('error_description')}`);
      assert(next.searchParams.get('state') === state, 'state mismatch');
      const body = await postForm(discovery.token_endpoint, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        code_verifier: verifier,
      });
      assert(body.id_token, 'token response has no id_token');
      return body.id_token;
    }
    url = next.href;
  }
  throw new Error('too many redirects in the authorization flow');
}

async function clientCredentials(resource) {
  const body = await postForm(discovery.token_endpoint, {
    grant_type: 'client_credentials',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    resource,
    scope: 'sts',
  });
  return body.access_token;
}

if (mode === 'rotated') {
  await check('idp-rotated-id-token', async () => {
    const token = await idTokenFor(USER_SUB);
    await jwtVerify(token, remoteKeys, { issuer, audience: CLIENT_ID });
    save('id-rotated', token);
    assert(kidOf('id-rotated') !== kidOf('id'), 'the provider still signs with its old key');
  });
  process.exit(failed ? 1 : 0);
}

await check('idp-client-credentials-at+jwt', async () => {
  const token = await clientCredentials(STS_RESOURCE);
  const header = decodeProtectedHeader(token);
  assert(header.typ === 'at+jwt', `typ is ${header.typ}`);
  const { payload } = await jwtVerify(token, remoteKeys, { issuer, audience: STS_RESOURCE, typ: 'at+jwt' });
  assert(payload.sub === CLIENT_ID, `sub is ${payload.sub}`);
  save('access', token);
});

await check('idp-client-credentials-eddsa', async () => {
  const token = await clientCredentials(`${STS_RESOURCE}:eddsa`);
  const header = decodeProtectedHeader(token);
  assert(header.alg === 'EdDSA' || header.alg === 'Ed25519', `alg is ${header.alg}`);
  await jwtVerify(token, remoteKeys, { issuer, audience: STS_RESOURCE, typ: 'at+jwt' });
  save('access-eddsa', token);
});

await check('idp-client-credentials-other-audience', async () => {
  const token = await clientCredentials(OTHER_RESOURCE);
  await jwtVerify(token, remoteKeys, { issuer, audience: OTHER_RESOURCE });
  save('wrong-audience', token);
});

await check('idp-id-token', async () => {
  const token = await idTokenFor(USER_SUB);
  assert(decodeProtectedHeader(token).alg === 'ES256', 'ID token is not ES256');
  const { payload } = await jwtVerify(token, remoteKeys, { issuer, audience: CLIENT_ID });
  assert(payload.sub === USER_SUB, `sub is ${payload.sub}`);
  save('id', token);
});

// Shapes the provider does not issue, signed with its key.
await check('minted-tokens', async () => {
  const jwk = JSON.parse(readFileSync(path.join(stateDir, 'idp-signing-key.json'), 'utf8'));
  const key = await importJWK(jwk, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  const base = (claims) => new SignJWT({ email: `${USER_SUB}@conformance.test`, ...claims })
    .setIssuer(issuer)
    .setSubject(USER_SUB)
    .setJti(b64url(randomBytes(12)));
  save('no-kid', await base({}).setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setAudience(CLIENT_ID).setIssuedAt(now).setExpirationTime(now + 600).sign(key));
  save('array-aud', await base({}).setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
    .setAudience(['urn:some:other-service', CLIENT_ID]).setIssuedAt(now).setExpirationTime(now + 600).sign(key));
  save('expired', await base({}).setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
    .setAudience(CLIENT_ID).setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(key));
  // Sanity: the provider's published key verifies what was signed here.
  await jwtVerify(readFileSync(path.join(tokenDir, 'array-aud.jwt'), 'utf8').trim(), remoteKeys, { issuer, audience: CLIENT_ID });
  assert(decodeProtectedHeader(readFileSync(path.join(tokenDir, 'no-kid.jwt'), 'utf8').trim()).kid === undefined, 'kid present');
});

// Projected ServiceAccount tokens as a Kubernetes API server issues them (audience = the
// client id, the `kubernetes.io` claim naming namespace, ServiceAccount and pod), signed with
// the provider's key. Written without a trailing newline, as the kubelet writes them: SDKs send
// the file's content as a header value and refuse a newline in it.
await check('service-account-tokens', async () => {
  const jwk = JSON.parse(readFileSync(path.join(stateDir, 'idp-signing-key.json'), 'utf8'));
  const key = await importJWK(jwk, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  const serviceAccountToken = (namespace, account, pod, audience = [CLIENT_ID]) => new SignJWT({
    'kubernetes.io': {
      namespace,
      serviceaccount: { name: account, uid: randomUUID() },
      pod: { name: pod, uid: randomUUID() },
    },
  })
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid })
    .setIssuer(issuer)
    .setSubject(`system:serviceaccount:${namespace}:${account}`)
    .setAudience(audience)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 600)
    .sign(key);
  const saveRaw = (name, token) => writeFileSync(path.join(tokenDir, `${name}.jwt`), token, { mode: 0o600 });
  saveRaw('sa-app-1', await serviceAccountToken('team-a', 'app', 'app-pod-1'));
  saveRaw('sa-app-2', await serviceAccountToken('team-a', 'app', 'app-pod-2'));
  saveRaw('sa-denied', await serviceAccountToken('team-z', 'app', 'app-pod-z'));
  saveRaw('sa-unassociated', await serviceAccountToken('team-b', 'app', 'app-pod-b'));
  saveRaw('sa-wrong-audience', await serviceAccountToken('team-a', 'app', 'app-pod-1', ['https://kubernetes.default.svc']));
  await jwtVerify(readFileSync(path.join(tokenDir, 'sa-app-1.jwt'), 'utf8'), remoteKeys, { issuer, audience: CLIENT_ID });
});

// Forgeries stsd must refuse: a key the provider never published (under a new kid and under the
// provider's kid), no signature at all, and HS256 keyed with the provider's public key.
await check('forged-tokens', async () => {
  const jwk = JSON.parse(readFileSync(path.join(stateDir, 'idp-signing-key.json'), 'utf8'));
  const { privateKey: strangerKey } = await generateKeyPair('RS256');
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: issuer, sub: USER_SUB, aud: CLIENT_ID, iat: now, exp: now + 600 };
  const forge = (header, key) => new SignJWT(claims).setProtectedHeader(header).sign(key);
  save('unknown-kid', await forge({ alg: 'RS256', kid: b64url(randomBytes(8)) }, strangerKey));
  save('wrong-key', await forge({ alg: 'RS256', kid: jwk.kid }, strangerKey));
  const enc = (obj) => b64url(Buffer.from(JSON.stringify(obj)));
  save('alg-none', `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`);
  const publicPem = await exportSPKI(await importJWK({ kty: jwk.kty, n: jwk.n, e: jwk.e }, 'RS256'));
  save('hs256', await forge({ alg: 'HS256', kid: jwk.kid }, new TextEncoder().encode(publicPem)));
});

process.exit(failed ? 1 : 0);
